#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""rawmqtt.py - MQTT 3.1.1 / 5 packets by hand, for the attack tests.

    rawmqtt.py will PORT USER PASS CLIENTID TOPIC FILE
        connect with a Last Will (payload = FILE's bytes, QoS 0) and drop the
        socket without DISCONNECT, so the broker sends the will.
    rawmqtt.py session PORT USER PASS CLIENTID CLEAN VERSION STEP...
        one connection (CLEAN 1|0, VERSION 4|5, or 5p: MQTT 5 with a session
        expiry interval of 0xFFFFFFFF, so the session outlives it); each STEP is
        pub:QOS:MID:DUP:TOPIC:FILE (send a PUBLISH, read its ack) or
        rel:MID (send PUBREL, read PUBCOMP).  Prints one word per ack:
        "<type hex>:<reason hex>" (reason 00 when MQTT 3.1.1), then
        "session-present:<0|1>" first.  Ends with DISCONNECT.
"""
import socket
import struct
import sys


def s(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack(">H", len(x)) + x


def pkt(t, body):
    n, rl = len(body), b""
    while True:
        d, n = n % 128, n // 128
        rl += bytes([d | (0x80 if n else 0)])
        if not n:
            break
    return bytes([t]) + rl + body


def read(c, n):
    b = b""
    while len(b) < n:
        r = c.recv(n - len(b))
        if not r:
            raise SystemExit("connection closed")
        b += r
    return b


def packet(c):
    h = read(c, 1)[0]
    n, mul = 0, 1
    while True:
        d = read(c, 1)[0]
        n += (d & 0x7F) * mul
        mul *= 128
        if not d & 0x80:
            break
    return h, read(c, n)


def connect(port, user, pw, cid, flags, version=4, will=None, persist=False):
    c = socket.create_connection(("127.0.0.1", int(port)), timeout=60)
    props = b""
    if version == 5:
        props = b"\x05\x11\xff\xff\xff\xff" if persist else b"\x00"
    body = s("MQTT") + bytes([version, flags | 0xC0, 0, 60]) + props + s(cid)
    if will is not None:
        body += (b"\x00" if version == 5 else b"") + s(will[0]) + s(will[1])
    body += s(user) + s(pw)
    c.sendall(pkt(0x10, body))
    h, b = packet(c)
    if h != 0x20 or b[1] != 0:
        raise SystemExit("connect refused: %r" % b)
    return c, b[0] & 1


def main(argv):
    if argv[0] == "will":
        port, user, pw, cid, topic, path = argv[1:7]
        c, _ = connect(port, user, pw, cid, 0x02 | 0x04, will=(topic, open(path, "rb").read()))
        c.close()  # no DISCONNECT: the will is sent
        return 0
    if argv[0] == "session":
        port, user, pw, cid, clean, version = argv[1:7]
        persist = version == "5p"
        version = int(version[0])
        c, present = connect(port, user, pw, cid, 0x02 if clean == "1" else 0, version,
                             persist=persist)
        out = ["session-present:%d" % present]
        for step in argv[7:]:
            f = step.split(":", 5)
            if f[0] == "pub":
                qos, mid, dup, topic, path = int(f[1]), int(f[2]), int(f[3]), f[4], f[5]
                body = s(topic) + (struct.pack(">H", mid) if qos else b"")
                body += (b"\x00" if version == 5 else b"") + open(path, "rb").read()
                c.sendall(pkt(0x30 | (qos << 1) | (0x08 if dup else 0), body))
                if qos:
                    h, b = packet(c)
                    out.append("%02x:%02x" % (h, b[2] if len(b) > 2 else 0))
            elif f[0] == "rel":
                c.sendall(pkt(0x62, struct.pack(">H", int(f[1]))))
                h, b = packet(c)
                out.append("%02x:%02x" % (h, b[2] if len(b) > 2 else 0))
        c.sendall(pkt(0xE0, b"\x00\x00" if version == 5 else b""))
        c.close()
        print(" ".join(out))
        return 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
