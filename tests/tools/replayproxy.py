#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""replayproxy.py - an on-path attacker between one MQTT client and the
broker (tests/integration/75-attack-keypush-replay.sh): it forwards both
ways, records every PUBLISH the broker sends on mqttsec/keys/... (key
answers and pushes), and when the file TRIGGER appears, holding an index
N, sends the N-th recorded one (0-based) to the client again, as QoS 0 (its
packet identifier removed, so that the client's PUBACK cannot confuse the
broker), then removes TRIGGER and writes "injected N" to TRIGGER.done.

    replayproxy.py LISTEN_PORT BROKER_PORT TRIGGER

Loopback only; one client connection at a time.  The record count is kept
in TRIGGER.count (one line, rewritten after each record)."""
import os
import selectors
import socket
import sys


def packets(buf):
    """Split buf into whole MQTT packets; return (packets, rest)."""
    out = []
    while len(buf) >= 2:
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(buf):
                return out, buf
            b = buf[i]
            n += (b & 127) * mult
            mult *= 128
            i += 1
            if not b & 128:
                break
        if len(buf) < i + n:
            return out, buf
        out.append(buf[: i + n])
        buf = buf[i + n:]
    return out, buf


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (128 if n else 0))
        if not n:
            return bytes(out)


def as_qos0(pkt):
    """A QoS 1/2 PUBLISH re-encoded as QoS 0 (packet identifier dropped)."""
    i = 1
    while pkt[i] & 128:
        i += 1
    body = pkt[i + 1:]
    qos = (pkt[0] >> 1) & 3
    tlen = int.from_bytes(body[:2], "big")
    head = body[: 2 + tlen]
    rest = body[2 + tlen + (2 if qos else 0):]
    nb = head + rest
    return bytes([0x30 | (pkt[0] & 1)]) + varint(len(nb)) + nb


def main():
    listen_port, broker_port, trigger = sys.argv[1:4]
    sel = selectors.DefaultSelector()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(listen_port)))
    ls.listen(4)
    sel.register(ls, selectors.EVENT_READ, None)
    pairs = {}
    recorded = []
    cur = {"client": None, "buf": b""}
    while True:
        for key, _ in sel.select(0.1):
            if key.data is None:
                c, _ = ls.accept()
                b = socket.create_connection(("127.0.0.1", int(broker_port)))
                pairs[c] = (b, "c")
                pairs[b] = (c, "b")
                sel.register(c, selectors.EVENT_READ, "x")
                sel.register(b, selectors.EVENT_READ, "x")
                cur["client"], cur["buf"] = c, b""
                continue
            s = key.fileobj
            if s not in pairs:
                continue
            peer, role = pairs[s]
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                for x in (s, peer):
                    try:
                        sel.unregister(x)
                    except Exception:
                        pass
                    x.close()
                    pairs.pop(x, None)
                continue
            if role == "b":
                pk, cur["buf"] = packets(cur["buf"] + data)
                for p in pk:
                    if p[0] >> 4 == 3:
                        i = 1
                        while p[i] & 128:
                            i += 1
                        tlen = int.from_bytes(p[i + 1: i + 3], "big")
                        topic = p[i + 3: i + 3 + tlen]
                        if topic.startswith(b"mqttsec/keys/") and topic != b"mqttsec/keys/req":
                            recorded.append(p)
                            with open(trigger + ".count.tmp", "w") as f:
                                f.write("%d\n" % len(recorded))
                            os.rename(trigger + ".count.tmp", trigger + ".count")
            try:
                peer.sendall(data)
            except OSError:
                pass
        if os.path.exists(trigger) and cur["client"] in pairs:
            try:
                n = int(open(trigger).read().strip())
            except ValueError:
                continue
            os.unlink(trigger)
            cur["client"].sendall(as_qos0(recorded[n]))
            with open(trigger + ".done", "w") as f:
                f.write("injected %d\n" % n)


if __name__ == "__main__":
    main()
