#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""keypush_clients.py - N devices connected at once, each fetches the keys of
one filter online (docs/payload-encryption.md, "Online keys"), then waits for
the broker's push after a rotation; for bench/bench-keypush.sh.

    keypush_clients.py PORT FILTER READY_FILE CREDS.json...

Prints "fetched N" once every device has its answer (and creates READY_FILE),
then "pushed N in S s" when every device got the push (S from READY_FILE's
removal by the caller, i.e. from the rotation), or "timeout".
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "tools"))
import envelope  # noqa: E402


def totp(secret_b32, period, digits, t):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(t) // period), hashlib.sha1).digest()
    off = mac[-1] & 15
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10 ** digits
    return str(code).zfill(digits)


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


async def client(port, creds, filt, fetched, pushed, t_rot):
    c = json.load(open(creds))
    user = c["username"]
    dk = [k for k in c["keys"] if k["use"] == "device"][0]
    t = c["totp"]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    pw = totp(t["secret"], t["period"], t["digits"], time.time())
    body = s("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 300) + s(user) + s(user) + s(pw)
    w.write(pkt(0x10, body))
    h, b = await read_pkt(r)
    if h != 0x20 or b[1] != 0:
        raise RuntimeError("connack refused for %s" % user)
    req = json.dumps({"filters": [filt],
                      "nonce": base64.b64encode(os.urandom(16)).decode()}).encode()
    env = envelope.seal(base64.b64decode(dk["key"]), dk["id"], b"mqttsec/keys/req", req)
    w.write(pkt(0x30, s("mqttsec/keys/req") + env))
    await w.drain()
    got = 0
    while True:
        h, b = await read_pkt(r)
        if h >> 4 != 3:
            continue
        tl = struct.unpack(">H", b[:2])[0]
        if (h >> 1) & 3:
            mid = b[2 + tl:4 + tl]
            w.write(pkt(0x40, mid))
        got += 1
        if got == 1:
            fetched.append(user)
        else:
            pushed.append(time.monotonic())
            break
    w.close()


async def main():
    port, filt, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    files = sys.argv[4:]
    fetched, pushed = [], []
    tasks = []
    for f in files:
        tasks.append(asyncio.create_task(client(port, f, filt, fetched, pushed, None)))
        await asyncio.sleep(0.002)
    t_end = time.monotonic() + 120
    while len(fetched) < len(files) and time.monotonic() < t_end:
        await asyncio.sleep(0.05)
    print("fetched %d" % len(fetched), flush=True)
    open(ready, "w").close()
    while os.path.exists(ready) and time.monotonic() < t_end:
        await asyncio.sleep(0.005)
    t0 = time.monotonic()
    while len(pushed) < len(files) and time.monotonic() < t_end:
        await asyncio.sleep(0.005)
    if len(pushed) < len(files):
        print("timeout: pushed %d" % len(pushed), flush=True)
    else:
        print("pushed %d in %.3f s" % (len(pushed), max(pushed) - t0), flush=True)
    for t in tasks:
        t.cancel()


asyncio.run(main())
