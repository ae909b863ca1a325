#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Independent implementation of the secure SMS envelope M1
(docs/sms-envelope.md) for interop tests, written from the specification
only with python3-cryptography (HKDF, AESGCM):

    body  = "#M1" + base64url_nopad(key id (u16 BE) | timestamp (u32 BE)
                                    | nonce (12) | ciphertext | tag (16))
    K_msg = HKDF-SHA256(IKM = key, salt = nonce,
                        info = "mqttsec-sms-v1" | key id | timestamp)
    AAD   = "#M1" | key id | timestamp | nonce | to
    plain = action (u8) | component length (u8, <= 32) | component | text

Usage:
    m1.py seal (--key-b64 K --key-id N | --keyfile F) [--to TO] [--ts T]
               [--nonce-hex N] [--action A] [--component C] < text > body
    m1.py open (--key-b64 K | --keyfile F) [--to TO] < body > text
               (prints "action: A" and "component: C" on stderr)
    m1.py vectors          prints the published test vectors
    m1.py check-vectors    exit 0 when this implementation reproduces them

--keyfile reads a key export ({"keys": [{"id", "key", "use": "sms"}],
"sms": {"phone": ...}}): seal uses its newest key, open the key of the
body's id; --to defaults to the export's phone.

Exit status: 0 on success, 1 when a body is refused, 2 on usage errors.
"""

import argparse
import base64
import json
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BODY_MAX = 1600
COMPONENT_MAX = 32

# Published test vectors (docs/sms-envelope.md): key bytes 0x00..0x1f,
# nonce 0xa0..0xab.
VEC_KEY = bytes(range(32))
VEC_NONCE = bytes(range(0xA0, 0xAC))
VECTORS = [
    # (key id, timestamp, to, action, component, text)
    (1, 1767225600, "+15551234567", 1, "alerts", "Server room 41.5 C"),
    (2, 1767225600, "+15551234567", 0, "", ""),
    (513, 4102444800, "+819012345678", 2, "shop/\u00e9t\u00e9", "Soldes: -20% \u20ac \u00e0 tout"),
    (65535, 0, "+1", 3, "login", "123456"),
]


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text):
    if len(text) % 4 == 1:
        raise ValueError("bad base64url length")
    for c in text:
        if not (c.isascii() and (c.isalnum() or c in "-_")):
            raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(raw) != text:
        raise ValueError("non-canonical base64url")
    return raw


def k_msg(key, key_id, ts, nonce):
    info = b"mqttsec-sms-v1" + struct.pack(">HI", key_id, ts)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=info).derive(key)


def check_to(to):
    if not (to.startswith("+") and 2 <= len(to) <= 16 and to[1:].isdigit() and to[1:].isascii()):
        raise ValueError("not an E.164 number")


def seal(key, key_id, ts, nonce, to, action, component, text):
    check_to(to)
    comp = component.encode()
    if len(comp) > COMPONENT_MAX or not 0 <= action <= 3:
        raise ValueError("component too long or bad action")
    hdr = struct.pack(">HI", key_id, ts) + nonce
    plain = bytes([action, len(comp)]) + comp + text.encode()
    ct = AESGCM(k_msg(key, key_id, ts, nonce)).encrypt(nonce, plain, b"#M1" + hdr + to.encode())
    body = "#M1" + b64url(hdr + ct)
    if len(body) > BODY_MAX:
        raise ValueError("too long")
    return body


def parse(body):
    if len(body) > BODY_MAX or not body.startswith("#M1"):
        raise ValueError("not an M1 body")
    raw = unb64url(body[3:])
    if len(raw) < 18 + 2 + 16:
        raise ValueError("too short")
    key_id, ts = struct.unpack(">HI", raw[:6])
    return key_id, ts, raw[6:18], raw


def open_body(key, body, to):
    check_to(to)
    key_id, ts, nonce, raw = parse(body)
    plain = AESGCM(k_msg(key, key_id, ts, nonce)).decrypt(nonce, raw[18:], b"#M1" + raw[:18] + to.encode())
    action, clen = plain[0], plain[1]
    if action > 3 or clen > COMPONENT_MAX or clen > len(plain) - 2:
        raise ValueError("bad plaintext")
    return key_id, ts, action, plain[2:2 + clen].decode(), plain[2 + clen:].decode()


def vectors():
    out = []
    for key_id, ts, to, action, comp, text in VECTORS:
        out.append((key_id, ts, to, action, comp, text, seal(VEC_KEY, key_id, ts, VEC_NONCE, to, action, comp, text)))
    return out


def load_keyfile(path):
    with open(path) as f:
        doc = json.load(f)
    keys = {int(k["id"]): base64.b64decode(k["key"]) for k in doc.get("keys", []) if k.get("use") == "sms"}
    phone = (doc.get("sms") or {}).get("phone")
    return keys, phone


def main():
    ap = argparse.ArgumentParser(description="M1 secure SMS envelope (tests)")
    ap.add_argument("cmd", choices=["seal", "open", "vectors", "check-vectors"])
    ap.add_argument("--key-b64")
    ap.add_argument("--key-id", type=int)
    ap.add_argument("--keyfile")
    ap.add_argument("--to")
    ap.add_argument("--ts", type=int)
    ap.add_argument("--nonce-hex")
    ap.add_argument("--action", type=int, default=0)
    ap.add_argument("--component", default="")
    a = ap.parse_args()

    if a.cmd == "vectors":
        for v in vectors():
            print(json.dumps({"key_id": v[0], "timestamp": v[1], "to": v[2], "action": v[3],
                              "component": v[4], "text": v[5], "body": v[6]}, ensure_ascii=False))
        return 0
    if a.cmd == "check-vectors":
        for v in vectors():
            got = open_body(VEC_KEY, v[6], v[2])
            if got != (v[0], v[1], v[3], v[4], v[5]):
                print("vector does not round-trip: %r" % (v,), file=sys.stderr)
                return 1
        return 0

    keys, phone = {}, None
    if a.keyfile:
        keys, phone = load_keyfile(a.keyfile)
    elif a.key_b64 and a.key_id is not None:
        keys = {a.key_id: base64.b64decode(a.key_b64)}
    elif a.key_b64 and a.cmd == "open":
        keys = {None: base64.b64decode(a.key_b64)}
    to = a.to or phone
    if not keys or not to:
        ap.error("a key and a number are needed")

    if a.cmd == "seal":
        import os
        import time
        key_id = max(k for k in keys)
        ts = a.ts if a.ts is not None else int(time.time())
        nonce = bytes.fromhex(a.nonce_hex) if a.nonce_hex else os.urandom(12)
        text = sys.stdin.buffer.read().decode()
        sys.stdout.write(seal(keys[key_id], key_id, ts, nonce, to, a.action, a.component, text))
        return 0

    body = sys.stdin.read().strip()
    try:
        key_id = parse(body)[0]
        key = keys.get(key_id, keys.get(None))
        if key is None:
            raise ValueError("unknown key id")
        _, _, action, comp, text = open_body(key, body, to)
    except (ValueError, InvalidTag, UnicodeDecodeError) as e:
        print("refused: %s" % (e or "authentication failed"), file=sys.stderr)
        return 1
    print("action: %d" % action, file=sys.stderr)
    print("component: %s" % comp, file=sys.stderr)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
