#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""keyfetch_filters.py - one connection of a device fetches the topic keys of
N protected filters PREFIX/1/# .. PREFIX/N/# online (docs/payload-encryption.md,
"Online keys"), 64 filters a request (the request's cap), paced under the
key request rate, then optionally waits for the key pushes after a rotation.

    keyfetch_filters.py PORT CREDS.json CLIENTID PREFIX N READY [EXPECT TIMEOUT]

Every answer is opened with the answers key (HKDF-SHA256(device key, "",
"mqttsec-keys-v1")) and must echo its request's nonce.  Once all N filters
are fetched it prints "fetched K of N" and creates the file READY.

With EXPECT and TIMEOUT it then waits (at most TIMEOUT seconds) for pushes
(answers with an all-zero nonce) until each of the filters 1..EXPECT was
pushed with a key id higher than the one it fetched, and asks once more for
the filters EXPECT+1..N and filter 1 (an answer to a request comes after the
pushes queued before it).  It prints

    pushed K of EXPECT filters with a new key
    filters past EXPECT pushed: X
    push answers: P, largest: M filters
    answered after the pushes: K of L

Exit 0 when every step went as expected (K == N, K == EXPECT, X == 0,
M <= 64, every filter of the last request granted with a new key).
"""
import base64
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import conntoken  # noqa: E402
import envelope  # noqa: E402
from rawmqtt import pkt, s  # noqa: E402

PER_REQUEST = 64  # the request's cap of filters
BURST = 8         # below the burst of key requests (per client id and per device)
EVERY_S = 2.3     # then one request a little slower than the refill
PING_S = 30
ZERO_NONCE = base64.b64encode(bytes(16)).decode()


class Conn:
    def __init__(self, port, creds, cid):
        c = json.load(open(creds))
        self.user = c["username"]
        dk = [k for k in c["keys"] if k["use"] == "device"][0]
        self.dk_id = dk["id"]
        self.dk = base64.b64decode(dk["key"])
        self.ak = conntoken.hkdf_sha256(self.dk, b"", b"mqttsec-keys-v1", 32)
        sec = c["totp"]["secret"]
        secret = base64.b32decode(sec + "=" * (-len(sec) % 8))
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        pw = conntoken.make(secret, self.user, cid, int(time.time() * 1000), os.urandom(12))
        body = s("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 120) + s(cid) + s(self.user) + s(pw)
        self.send(pkt(0x10, body))
        h, b = self.packet(time.monotonic() + 60)
        if h != 0x20 or b[1] != 0:
            raise SystemExit("connack refused for %s" % cid)
        self.sent_at = []

    def send(self, data):
        self.sock.sendall(data)
        self.last_send = time.monotonic()

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if time.monotonic() - self.last_send > PING_S:
                self.send(b"\xc0\x00")  # PINGREQ
            self.sock.settimeout(min(left, 5))
            try:
                r = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not r:
                raise SystemExit("connection closed by the broker")
            self.buf += r
        return True

    def packet(self, deadline):
        """(header, body) of the next packet, or (None, None) at deadline."""
        if not self._fill(2, deadline):
            return None, None
        n, mul, i = 0, 1, 1
        while True:
            if not self._fill(i + 1, deadline):
                return None, None
            d = self.buf[i]
            n += (d & 0x7F) * mul
            mul *= 128
            i += 1
            if not d & 0x80:
                break
        if not self._fill(i + n, deadline):
            return None, None
        h, body = self.buf[0], self.buf[i:i + n]
        self.buf = self.buf[i + n:]
        return h, body

    def answer(self, deadline):
        """The next key answer (decoded JSON), or None at deadline."""
        topic = ("mqttsec/keys/" + self.user).encode()
        while True:
            h, b = self.packet(deadline)
            if h is None:
                return None
            if h >> 4 != 3:
                continue
            qos = (h >> 1) & 3
            tl = struct.unpack(">H", b[:2])[0]
            t, rest = b[2:2 + tl], b[2 + tl:]
            if qos > 0:
                self.send(pkt(0x40, rest[:2]))  # PUBACK
                rest = rest[2:]
            if t != topic:
                continue
            plain, kid, _, _ = envelope.open_envelope(self.ak, topic, rest, self.dk_id)
            return json.loads(plain)

    def request(self, filters):
        """Send a key request for filters (paced); return its nonce."""
        if len(self.sent_at) >= BURST:
            wait = self.sent_at[-1] + EVERY_S - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        nonce = base64.b64encode(os.urandom(16)).decode()
        req = json.dumps({"filters": filters, "nonce": nonce}).encode()
        env = envelope.seal(self.dk, self.dk_id, b"mqttsec/keys/req", req)
        self.send(pkt(0x30, s("mqttsec/keys/req") + env))
        self.sent_at.append(time.monotonic())
        return nonce

    def ask(self, filters, deadline, on_push=None):
        """Ask for filters; the answer (pushes before it go to on_push)."""
        nonce = self.request(filters)
        while True:
            a = self.answer(deadline)
            if a is None:
                return None
            if a.get("nonce") == nonce:
                return a
            if a.get("nonce") == ZERO_NONCE and on_push is not None:
                on_push(a)


def newest(a):
    """{filter: highest key id} of an answer."""
    out = {}
    for k in a.get("keys", []):
        if k.get("use") == "topic":
            out[k["topic"]] = max(out.get(k["topic"], 0), k["id"])
    return out


def main(argv):
    port, creds, cid, prefix, n, ready = int(argv[1]), argv[2], argv[3], argv[4], int(argv[5]), argv[6]
    expect = int(argv[7]) if len(argv) > 7 else 0
    timeout = float(argv[8]) if len(argv) > 8 else 0
    name = ["%s/%d/#" % (prefix, i) for i in range(1, n + 1)]
    c = Conn(port, creds, cid)
    fetched = {}
    for i in range(0, n, PER_REQUEST):
        a = c.ask(name[i:i + PER_REQUEST], time.monotonic() + 120)
        if a is None:
            print("no answer to request %d" % (i // PER_REQUEST + 1), flush=True)
            return 1
        fetched.update(newest(a))
    got = sum(1 for f in name if f in fetched)
    print("fetched %d of %d" % (got, n), flush=True)
    open(ready, "w").close()
    if got != n:
        return 1
    if expect == 0:
        c.sock.close()
        return 0
    pushed, past, sizes = set(), set(), []

    def on_push(a):
        sizes.append(len(a.get("protected", [])))
        for f, kid in newest(a).items():
            if f not in fetched:
                continue
            if name.index(f) >= expect:
                past.add(f)
            elif kid > fetched[f]:
                pushed.add(f)

    deadline = time.monotonic() + timeout
    while len(pushed) < expect:
        a = c.answer(deadline)
        if a is None:
            break
        if a.get("nonce") == ZERO_NONCE:
            on_push(a)
    last = name[expect:] + [name[0]]
    a = c.ask(last, time.monotonic() + 120, on_push)
    fresh = newest(a) if a is not None else {}
    answered = sum(1 for f in last if fresh.get(f, 0) > fetched[f])
    print("pushed %d of %d filters with a new key" % (len(pushed), expect), flush=True)
    print("filters past %d pushed: %d" % (expect, len(past)), flush=True)
    print("push answers: %d, largest: %d filters" % (len(sizes), max(sizes or [0])), flush=True)
    print("answered after the pushes: %d of %d" % (answered, len(last)), flush=True)
    c.send(b"\xe0\x00")  # DISCONNECT
    c.sock.close()
    ok = len(pushed) == expect and not past and max(sizes or [0]) <= PER_REQUEST
    return 0 if ok and answered == len(last) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
