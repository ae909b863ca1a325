#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Independent implementation of medical k-of-n shares (docs/medical.md,
"Wire format") for interop tests.

Written from the specification only.  The `cryptography` package is used for
HKDF-SHA256 and HMAC-SHA256 (and, through envelope.py, AES-GCM); the
Shamir part (GF(2^8) with reduction polynomial x^8+x^4+x^3+x^2+1 = 0x11D,
random polynomials of degree k-1 with f(0) = secret byte, Lagrange
interpolation at 0) is written here.

One share:
    0 version 0x01 | 1 n | 2 k | 3 x (1..n) | 4 record id (16) |
    20 S (uint32 BE) | 24 reserved (4 zero bytes) | 28 share bytes (S) |
    28+S tag = HMAC-SHA256(tag key, bytes 0..27)[:16]
    tag key = HKDF-SHA256(record key, salt empty, info "mqttsec-share-v1", 32)
The secret: topic length (uint16 BE) | topic | envelope v1 of the record
sealed with the record key for that topic, its nonce bound to the record id:
    nonce = HMAC-SHA256(nonce key, "mqttsec-share-nonce-v1" | record id)[:12]
    nonce key = HKDF-SHA256(record key, salt empty,
                            info "mqttsec-share-nonce-v1", 32)
A record is opened as the record of an id: another nonce is refused.

Usage (keys and shares in hex, one share per line):
    shamir.py tag-key RKHEX
    shamir.py split N K TAGKEYHEX [IDHEX] < secret > N lines
    shamir.py combine TAGKEYHEX < lines > secret   (tags checked first)
    shamir.py record-seal RKHEX KEYID IDHEX TOPIC [ORIGIN] < record > secret
    shamir.py record-open RKHEX KEYID IDHEX < secret > record
                (prints "topic: T" and "origin: O" on stderr)

Exit status: 0 on success, 1 when shares or a record are refused, 2 on
usage errors.
"""

import os
import struct
import sys
from hmac import compare_digest

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import envelope  # noqa: E402  (tests/tools/envelope.py)

HDR = struct.Struct(">BBBB16sI4s")
HDR_LEN = 28
TAG_LEN = 16
S_MAX = 1024 * 1024
INFO = b"mqttsec-share-v1"
NONCE_INFO = b"mqttsec-share-nonce-v1"
NONCE_OFF = 14  # envelope: version, origin length, key id, time, nonce


def _tables():
    """exp and log tables of GF(2^8) mod 0x11D, generator 2."""
    exp = [0] * 510
    log = [0] * 256
    v = 1
    for i in range(255):
        exp[i] = v
        log[v] = i
        v <<= 1
        if v & 0x100:
            v ^= 0x11D
    for i in range(255, 510):
        exp[i] = exp[i - 255]
    return exp, log


EXP, LOG = _tables()


def gf_mul(a, b):
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


def gf_div(a, b):
    if b == 0:
        raise ZeroDivisionError("division by 0 in GF(2^8)")
    if a == 0:
        return 0
    return EXP[(LOG[a] - LOG[b]) % 255]


def tag_key(rk):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(rk)


def tag(tk, hdr):
    h = hmac.HMAC(tk, hashes.SHA256())
    h.update(hdr)
    return h.finalize()[:TAG_LEN]


def split(secret, n, k, tk, rid=None):
    """n shares of secret, any k of which rebuild it."""
    if not 2 <= k <= n <= 8 or not 1 <= len(secret) <= S_MAX:
        raise ValueError("bad n, k or secret length")
    if rid is None:
        rid = os.urandom(16)
    s = len(secret)
    # coefficients a_1..a_{k-1} for every byte, from the OS CSPRNG
    coeffs = [os.urandom(s) for _ in range(k - 1)]
    shares = []
    for x in range(1, n + 1):
        body = bytearray(s)
        for i in range(s):
            # Horner: f(x) = s + a1 x + ... + a_{k-1} x^{k-1}
            acc = 0
            for c in reversed(coeffs):
                acc = gf_mul(acc, x) ^ c[i]
            body[i] = gf_mul(acc, x) ^ secret[i]
        hdr = HDR.pack(1, n, k, x, rid, s, b"\0\0\0\0")
        shares.append(hdr + bytes(body) + tag(tk, hdr))
    return shares


class ShareError(Exception):
    """A share or set of shares that is refused."""


def parse(p):
    if len(p) < HDR_LEN + TAG_LEN:
        raise ShareError("share truncated")
    ver, n, k, x, rid, s, res = HDR.unpack_from(p)
    if ver != 1 or not 2 <= n <= 8 or not 2 <= k <= n or not 1 <= x <= n or res != b"\0" * 4:
        raise ShareError("bad header")
    if s == 0 or s > S_MAX:
        raise ShareError("bad secret length")
    if len(p) != HDR_LEN + s + TAG_LEN:
        raise ShareError("length does not match S")
    return n, k, x, rid, s


def combine(shares, tk):
    """Check tags and consistency, then Lagrange at 0 over k distinct shares."""
    parsed = []
    for p in shares:
        h = parse(p)
        if not compare_digest(tag(tk, p[:HDR_LEN]), p[-TAG_LEN:]):
            raise ShareError("header tag does not verify")
        parsed.append((h, p))
    if not parsed:
        raise ShareError("no shares")
    n, k, _, rid, s = parsed[0][0]
    pts = {}
    for (pn, pk, px, prid, ps), p in parsed:
        if (pn, pk, prid, ps) != (n, k, rid, s):
            raise ShareError("inconsistent shares")
        pts.setdefault(px, p[HDR_LEN : HDR_LEN + s])
    if len(pts) < k:
        raise ShareError(f"{len(pts)} distinct shares, {k} needed")
    xs = sorted(pts)[:k]
    out = bytearray(s)
    for xi in xs:
        # L_i(0) = prod_{j != i} x_j / (x_j - x_i); minus is xor here
        num, den = 1, 1
        for xj in xs:
            if xj != xi:
                num = gf_mul(num, xj)
                den = gf_mul(den, xj ^ xi)
        li = gf_div(num, den)
        body = pts[xi]
        for b in range(s):
            out[b] ^= gf_mul(li, body[b])
    return bytes(out)


def record_nonce(rk, rid):
    """The record envelope's nonce for record id rid."""
    nk = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=NONCE_INFO).derive(rk)
    h = hmac.HMAC(nk, hashes.SHA256())
    h.update(NONCE_INFO + rid)
    return h.finalize()[: envelope.NONCE_LEN]


def record_seal(rk, key_id, rid, topic, plain, origin=b""):
    t = topic.encode("utf-8")
    env = envelope.seal(rk, key_id, t, plain, origin, nonce=record_nonce(rk, rid))
    return struct.pack(">H", len(t)) + t + env


def record_open(rk, key_id, rid, secret):
    if len(secret) < 2:
        raise ShareError("secret truncated")
    (tl,) = struct.unpack_from(">H", secret)
    if tl == 0 or len(secret) < 2 + tl:
        raise ShareError("bad topic framing")
    t = secret[2 : 2 + tl]
    nonce = secret[2 + tl + NONCE_OFF : 2 + tl + NONCE_OFF + envelope.NONCE_LEN]
    if not compare_digest(nonce, record_nonce(rk, rid)):
        raise ShareError("the record is not the one of this record id")
    try:
        plain, _, _, origin = envelope.open_envelope(rk, t, secret[2 + tl :], key_id)
    except envelope.EnvelopeError as exc:
        raise ShareError(str(exc)) from None
    return t.decode("utf-8"), origin.decode("utf-8"), plain


def _rid(h):
    rid = bytes.fromhex(h)
    if len(rid) != 16:
        raise ValueError("a record id is 16 bytes")
    return rid


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "tag-key" and len(args) == 1:
            print(tag_key(bytes.fromhex(args[0])).hex())
            return 0
        if cmd == "split" and len(args) in (3, 4):
            rid = bytes.fromhex(args[3]) if len(args) == 4 else None
            secret = sys.stdin.buffer.read()
            for sh in split(secret, int(args[0]), int(args[1]), bytes.fromhex(args[2]), rid):
                print(sh.hex())
            return 0
        if cmd == "combine" and len(args) == 1:
            lines = [bytes.fromhex(ln.strip()) for ln in sys.stdin if ln.strip()]
            sys.stdout.buffer.write(combine(lines, bytes.fromhex(args[0])))
            return 0
        if cmd == "record-seal" and len(args) in (4, 5):
            origin = args[4].encode("utf-8") if len(args) == 5 else b""
            plain = sys.stdin.buffer.read()
            sys.stdout.buffer.write(
                record_seal(bytes.fromhex(args[0]), int(args[1]), _rid(args[2]), args[3],
                            plain, origin))
            return 0
        if cmd == "record-open" and len(args) == 3:
            topic, origin, plain = record_open(bytes.fromhex(args[0]), int(args[1]),
                                               _rid(args[2]), sys.stdin.buffer.read())
            print(f"topic: {topic}", file=sys.stderr)
            print(f"origin: {origin}", file=sys.stderr)
            sys.stdout.buffer.write(plain)
            return 0
    except ShareError as exc:
        print(f"shamir.py: refused: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"shamir.py: {exc}", file=sys.stderr)
        return 2
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
