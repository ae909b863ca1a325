#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""keyfetch_many.py - one device opens N connections at once (connect
tokens, client ids NAME-1..NAME-N), and each asks for the keys of FILTER
online (docs/payload-encryption.md, "Online keys"), paced to stay under the
per-device request rate; all connections stay open until every answer came.

    keyfetch_many.py PORT CREDS.json FILTER N

Prints "answered K of N" and exits 0 when K == N.
"""
import asyncio
import base64
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import conntoken  # noqa: E402
import envelope  # noqa: E402
from rawmqtt import pkt, s  # noqa: E402  (the packet builders of the attack tests)

BURST = 8       # below the per-device burst of key requests
EVERY_S = 2.3   # then one request a little slower than the refill


async def read_pkt(r):
    h = (await r.readexactly(1))[0]
    mult, n = 1, 0
    while True:
        b = (await r.readexactly(1))[0]
        n += (b & 127) * mult
        mult *= 128
        if not b & 128:
            break
    return h, await r.readexactly(n)


async def main():
    port, creds, filt, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    c = json.load(open(creds))
    user = c["username"]
    dk = [k for k in c["keys"] if k["use"] == "device"][0]
    sec = c["totp"]["secret"]
    secret = base64.b32decode(sec + "=" * (-len(sec) % 8))
    conns = []
    for i in range(1, n + 1):
        cid = "%s-%d" % (user, i)
        r, w = await asyncio.open_connection("127.0.0.1", port)
        pw = conntoken.make(secret, user, cid, int(time.time() * 1000), os.urandom(12))
        body = s("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 300) + s(cid) + s(user) + s(pw)
        w.write(pkt(0x10, body))
        h, b = await read_pkt(r)
        if h != 0x20 or b[1] != 0:
            print("connack refused for %s" % cid, flush=True)
            return 1
        conns.append((r, w))
    answered = 0
    for i, (r, w) in enumerate(conns):
        if i >= BURST:
            await asyncio.sleep(EVERY_S)
        req = json.dumps({"filters": [filt],
                          "nonce": base64.b64encode(os.urandom(16)).decode()}).encode()
        env = envelope.seal(base64.b64decode(dk["key"]), dk["id"], b"mqttsec/keys/req", req)
        w.write(pkt(0x30, s("mqttsec/keys/req") + env))
        await w.drain()
        try:
            while True:
                h, b = await asyncio.wait_for(read_pkt(r), 30)
                if h >> 4 == 3:
                    answered += 1
                    break
        except (asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
    print("answered %d of %d" % (answered, n), flush=True)
    for r, w in conns:
        w.close()
    return 0 if answered == n else 1


sys.exit(asyncio.run(main()))
