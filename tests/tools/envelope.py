#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Independent implementation of envelope v1 (docs/envelope.md) for interop tests.

Written from the specification only, with the `cryptography` package (AESGCM):

    offset  size  field
    0       1     version = 0x01
    1       1     L = origin length (0..255)
    2       4     key id (uint32, big-endian)
    6       8     timestamp, Unix milliseconds (uint64, big-endian)
    14      12    nonce
    26      L     origin (UTF-8)
    26+L    n     ciphertext
    26+L+n  16    GCM tag
    AAD = bytes 0..26+L-1 followed by the topic (UTF-8, no terminator)

Usage:
    envelope.py seal --key-b64 K --key-id N --topic T [--origin O]
                     [--nonce-hex N] [--ts-ms T] < plain > envelope
    envelope.py open --key-b64 K --topic T [--key-id N] < envelope > plain
                     (prints "origin: NAME" and "key-id: N" / "ts-ms: T" on stderr)

Exit status: 0 on success, 1 when an envelope does not open, 2 on usage errors.
Nothing is written to stdout unless the envelope authenticates.
"""

import argparse
import base64
import binascii
import os
import struct
import sys
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
HEADER = struct.Struct(">BBIQ12s")  # version, L, key id, timestamp, nonce
HEADER_LEN = HEADER.size  # 26
TAG_LEN = 16
NONCE_LEN = 12
KEY_LEN = 32


class EnvelopeError(Exception):
    """An envelope that cannot be opened."""


def decode_key(text):
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SystemExit(f"envelope.py: key is not base64: {exc}") from None
    if len(key) != KEY_LEN:
        raise SystemExit(f"envelope.py: key must be {KEY_LEN} bytes, got {len(key)}")
    return key


def seal(key, key_id, topic, plain, origin=b"", nonce=None, ts_ms=None):
    """Return the envelope of plain for topic."""
    if len(origin) > 255:
        raise ValueError("origin longer than 255 bytes")
    if nonce is None:
        nonce = os.urandom(NONCE_LEN)
    if len(nonce) != NONCE_LEN:
        raise ValueError("nonce must be 12 bytes")
    if ts_ms is None:
        ts_ms = time.time_ns() // 1_000_000
    header = HEADER.pack(VERSION, len(origin), key_id, ts_ms, nonce) + origin
    sealed = AESGCM(key).encrypt(nonce, plain, header + topic)  # ciphertext || tag
    return header + sealed


def parse(env):
    """Return (key_id, ts_ms, nonce, origin, header, sealed) or raise EnvelopeError."""
    if len(env) < HEADER_LEN + TAG_LEN:
        raise EnvelopeError("envelope truncated")
    version, origin_len, key_id, ts_ms, nonce = HEADER.unpack_from(env)
    if version != VERSION:
        raise EnvelopeError(f"unsupported envelope version {version}")
    if len(env) < HEADER_LEN + origin_len + TAG_LEN:
        raise EnvelopeError("envelope truncated")
    header = env[: HEADER_LEN + origin_len]
    origin = env[HEADER_LEN : HEADER_LEN + origin_len]
    return key_id, ts_ms, nonce, origin, header, env[HEADER_LEN + origin_len :]


def open_envelope(key, topic, env, key_id=None):
    """Return (plain, key_id, ts_ms, origin) or raise EnvelopeError."""
    kid, ts_ms, nonce, origin, header, sealed = parse(env)
    if key_id is not None and kid != key_id:
        raise EnvelopeError(f"envelope key id {kid} is not {key_id}")
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, header + topic)
    except InvalidTag:
        raise EnvelopeError("authentication failed") from None
    return plain, kid, ts_ms, origin


def main(argv):
    ap = argparse.ArgumentParser(prog="envelope.py", description="envelope v1 seal/open")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seal")
    s.add_argument("--key-b64", required=True)
    s.add_argument("--key-id", required=True, type=int)
    s.add_argument("--topic", required=True)
    s.add_argument("--origin", default="")
    s.add_argument("--nonce-hex")
    s.add_argument("--ts-ms", type=int)
    o = sub.add_parser("open")
    o.add_argument("--key-b64", required=True)
    o.add_argument("--topic", required=True)
    o.add_argument("--key-id", type=int)
    args = ap.parse_args(argv)

    key = decode_key(args.key_b64)
    topic = args.topic.encode("utf-8")
    data = sys.stdin.buffer.read()
    if args.cmd == "seal":
        if not 0 <= args.key_id <= 0xFFFFFFFF:
            ap.error("--key-id must be 0..4294967295")
        if args.ts_ms is not None and not 0 <= args.ts_ms <= 0xFFFFFFFFFFFFFFFF:
            ap.error("--ts-ms must be a uint64")
        nonce = bytes.fromhex(args.nonce_hex) if args.nonce_hex else None
        try:
            env = seal(key, args.key_id, topic, data, args.origin.encode("utf-8"), nonce,
                       args.ts_ms)
        except ValueError as exc:
            ap.error(str(exc))
        sys.stdout.buffer.write(env)
        return 0
    try:
        plain, kid, ts_ms, origin = open_envelope(key, topic, data, args.key_id)
    except EnvelopeError as exc:
        print(f"envelope.py: cannot open envelope: {exc}", file=sys.stderr)
        return 1
    if origin:
        print(f"origin: {origin.decode('utf-8', 'backslashreplace')}", file=sys.stderr)
    print(f"key-id: {kid}", file=sys.stderr)
    print(f"ts-ms: {ts_ms}", file=sys.stderr)
    sys.stdout.buffer.write(plain)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
