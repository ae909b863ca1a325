#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Independent implementation of the connect token (docs/broker-plugin.md,
"Connect tokens") for interop tests, written from the specification only
with the Python standard library (hmac, hashlib):

    password = "mqs1." + base64url_nopad(ts ms (uint64 BE) | nonce (12) | tag (16))
    tag      = HMAC-SHA256(K_conn, "mqs1" | username | 0x00 | client id | 0x00
                           | ts (8 bytes BE) | nonce)[0..16]
    K_conn   = HKDF-SHA256(IKM = decoded TOTP secret, salt = "",
                           info = "mqttsec-connect-v1"), 32 bytes (RFC 5869)

Usage:
    conntoken.py make   (--creds FILE | --secret-b32 S --user U) --cid C
                        [--ts-ms T] [--nonce-hex N]              prints a token
    conntoken.py verify (--creds FILE | --secret-b32 S --user U) --cid C
                        --token T [--now-ms T] [--window S]      exit 0 when valid

Exit status: 0 on success, 1 when a token does not verify, 2 on usage errors.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import struct
import sys
import time


def hkdf_sha256(ikm, salt, info, length):
    """RFC 5869 extract-then-expand."""
    prk = hmac.new(salt if salt else b"\x00" * 32, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def k_conn(secret):
    return hkdf_sha256(secret, b"", b"mqttsec-connect-v1", 32)


def tag_of(key, user, cid, ts_ms, nonce):
    msg = b"mqs1" + user.encode() + b"\x00" + cid.encode() + b"\x00" + struct.pack(">Q", ts_ms) + nonce
    return hmac.new(key, msg, hashlib.sha256).digest()[:16]


def make(secret, user, cid, ts_ms, nonce):
    if not user or not cid:
        raise ValueError("empty username or client id")
    raw = struct.pack(">Q", ts_ms) + nonce + tag_of(k_conn(secret), user, cid, ts_ms, nonce)
    return "mqs1." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def verify(secret, user, cid, token, now_ms, window_s):
    if not token.startswith("mqs1.") or len(token) != 53 or not cid:
        return False
    body = token[5:]
    if any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in body):
        return False
    raw = base64.urlsafe_b64decode(body)
    ts_ms = struct.unpack(">Q", raw[:8])[0]
    nonce, tag = raw[8:20], raw[20:36]
    if abs(now_ms - ts_ms) > window_s * 1000:
        return False
    return hmac.compare_digest(tag, tag_of(k_conn(secret), user, cid, ts_ms, nonce))


def b32decode(s):
    s = s.replace(" ", "").upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=["make", "verify"])
    ap.add_argument("--creds")
    ap.add_argument("--secret-b32")
    ap.add_argument("--user")
    ap.add_argument("--cid", required=True)
    ap.add_argument("--ts-ms", type=int)
    ap.add_argument("--nonce-hex")
    ap.add_argument("--token")
    ap.add_argument("--now-ms", type=int)
    ap.add_argument("--window", type=int, default=300)
    a = ap.parse_args()
    if a.creds:
        with open(a.creds) as f:
            c = json.load(f)
        secret, user = b32decode(c["totp"]["secret"]), a.user or c["username"]
    elif a.secret_b32 and a.user:
        secret, user = b32decode(a.secret_b32), a.user
    else:
        ap.error("want --creds, or --secret-b32 and --user")
    now = int(time.time() * 1000)
    if a.op == "make":
        nonce = bytes.fromhex(a.nonce_hex) if a.nonce_hex else os.urandom(12)
        if len(nonce) != 12:
            ap.error("nonce must be 12 bytes")
        print(make(secret, user, a.cid, a.ts_ms if a.ts_ms is not None else now, nonce))
        return 0
    if a.token is None:
        ap.error("verify wants --token")
    ok = verify(secret, user, a.cid, a.token, a.now_ms if a.now_ms is not None else now, a.window)
    print("valid" if ok else "invalid")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
