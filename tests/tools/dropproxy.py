#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""dropproxy.py - a TCP proxy in front of an MQTT broker that drops each
client connection a while after the broker accepted it, to measure how fast
a client reconnects (tests/integration/63-device-reconnect-token.sh).

    dropproxy.py LISTEN_PORT BROKER_PORT DROPS HOLD_MS OUT_FILE

Every connection is piped to 127.0.0.1:BROKER_PORT.  When the broker's
CONNACK with reason 0 passes to the client, the proxy notes the time; the
first DROPS such connections are closed (both sides) HOLD_MS later.  The
reconnect time is from a drop to the next accepted CONNACK.  After the last
one the proxy keeps forwarding, and writes to OUT_FILE one line:

    reconnects N p50 MS p95 MS max MS

Only one client connection at a time is expected.  Loopback only.
"""
import selectors
import socket
import sys
import time


def main():
    listen_port, broker_port, drops, hold_ms, out = sys.argv[1:6]
    broker_port, drops, hold = int(broker_port), int(drops), int(hold_ms) / 1000.0
    sel = selectors.DefaultSelector()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(listen_port)))
    ls.listen(16)
    sel.register(ls, selectors.EVENT_READ, None)
    pairs = {}  # socket -> (peer, role, state)
    state = {"accepted": 0, "dropped_at": None, "drop_due": None, "cur": None, "times": []}

    def close_pair(st):
        for s in (st["client"], st["broker"]):
            try:
                sel.unregister(s)
            except Exception:
                pass
            s.close()
            pairs.pop(s, None)

    while True:
        timeout = None
        if state["drop_due"] is not None:
            timeout = max(0.0, state["drop_due"] - time.monotonic())
        for key, _ in sel.select(timeout):
            if key.data is None:
                c, _ = ls.accept()
                b = socket.create_connection(("127.0.0.1", broker_port))
                for s in (c, b):
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                st = {"client": c, "broker": b, "buf": b"", "acked": False}
                pairs[c] = (b, "c", st)
                pairs[b] = (c, "b", st)
                sel.register(c, selectors.EVENT_READ, "x")
                sel.register(b, selectors.EVENT_READ, "x")
                continue
            s = key.fileobj
            if s not in pairs:
                continue
            peer, role, st = pairs[s]
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                close_pair(st)
                continue
            if role == "b" and not st["acked"]:
                st["buf"] += data
                # CONNACK: 0x20, remaining length, flags, reason code
                if len(st["buf"]) >= 4 and st["buf"][0] == 0x20:
                    st["acked"] = True
                    if st["buf"][3] == 0:
                        now = time.monotonic()
                        if state["dropped_at"] is not None:
                            state["times"].append((now - state["dropped_at"]) * 1000.0)
                            state["dropped_at"] = None
                        state["accepted"] += 1
                        if state["accepted"] <= drops:
                            state["drop_due"] = now + hold
                            state["cur"] = st
                        elif len(state["times"]) == drops:
                            t = sorted(state["times"])
                            p = lambda q: t[min(len(t) - 1, int(q * len(t) + 0.999999) - 1)]
                            with open(out + ".tmp", "w") as f:
                                f.write("reconnects %d p50 %.1f p95 %.1f max %.1f\n"
                                        % (len(t), p(0.5), p(0.95), t[-1]))
                            import os
                            os.rename(out + ".tmp", out)
            try:
                peer.sendall(data)
            except OSError:
                close_pair(st)
        if state["drop_due"] is not None and time.monotonic() >= state["drop_due"]:
            state["drop_due"] = None
            st, state["cur"] = state["cur"], None
            if st is not None and st["client"] in pairs:
                state["dropped_at"] = time.monotonic()
                close_pair(st)


if __name__ == "__main__":
    main()
