#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""webhook_server.py - a receiver for the gateway's webhook channel
(docs/gateway.md, "Webhook channel"), for the tests.

Every POST's X-Mqttsec-Signature is checked with the shared secret over
    "v1\\n" ts "\\n" id "\\n" kind "\\n" topic "\\n" origin "\\n" hex(sha256(body))
(the header values as received) and the timestamp must lie within --window
seconds.  A bad signature or timestamp gets 403.  An accepted body is
written to DIR/bodies/<id> and one JSON line per request goes to
DIR/requests.jsonl (headers, length, sha256 of the body, verdict, status).

Behaviour for the tests: --fail-500 N answers 500 (Retry-After: 1) to the
first N otherwise valid requests; --fail-400-id ID answers 400 to that id.
--tls-cert/--tls-key serve HTTPS.  --port-file gets the port once listening.
--self-test checks the verifier itself (tampered body, topic, signature and
an old timestamp are refused) and exits.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import re
import ssl
import sys
import threading
import time

BODY_MAX = 4 * 1024 * 1024


def signature(secret, ts, ident, kind, topic, origin, body):
    msg = "v1\n%s\n%s\n%s\n%s\n%s\n%s" % (ts, ident, kind, topic, origin,
                                          hashlib.sha256(body).hexdigest())
    return "v1=" + hmac.new(secret, msg.encode(), hashlib.sha256).hexdigest()


def verify(secret, headers, body, window, now=None):
    """(ok, reason) for one request's headers (a dict-like) and body."""
    need = ["X-Mqttsec-Id", "X-Mqttsec-Kind", "X-Mqttsec-Topic",
            "X-Mqttsec-Origin", "X-Mqttsec-Timestamp", "X-Mqttsec-Signature"]
    for h in need:
        if headers.get(h) is None:
            return False, "missing " + h
    ts = headers.get("X-Mqttsec-Timestamp")
    if not re.fullmatch(r"[0-9]{1,12}", ts):
        return False, "bad timestamp"
    now = time.time() if now is None else now
    if abs(now - int(ts)) > window:
        return False, "timestamp outside the window"
    want = signature(secret, ts, headers["X-Mqttsec-Id"],
                     headers["X-Mqttsec-Kind"], headers["X-Mqttsec-Topic"],
                     headers["X-Mqttsec-Origin"], body)
    if not hmac.compare_digest(want, headers["X-Mqttsec-Signature"]):
        return False, "bad signature"
    return True, ""


def self_test():
    secret = b"0123456789abcdef-secret"
    body = b'{"id":"a-1"}'
    now = 1700000000
    h = {"X-Mqttsec-Id": "a-1", "X-Mqttsec-Kind": "alert",
         "X-Mqttsec-Topic": "alerts/room%203", "X-Mqttsec-Origin": "sensor-7",
         "X-Mqttsec-Timestamp": str(now)}
    h["X-Mqttsec-Signature"] = signature(secret, str(now), "a-1", "alert",
                                         "alerts/room%203", "sensor-7", body)
    fails = 0
    checks = [
        ("genuine accepted", verify(secret, h, body, 300, now)[0]),
        ("tampered body refused", not verify(secret, h, body + b" ", 300, now)[0]),
        ("tampered topic refused",
         not verify(secret, dict(h, **{"X-Mqttsec-Topic": "alerts/x"}), body, 300, now)[0]),
        ("tampered signature refused",
         not verify(secret, dict(h, **{"X-Mqttsec-Signature": h["X-Mqttsec-Signature"][:-1] + "0"
                                       if not h["X-Mqttsec-Signature"].endswith("0") else
                                       h["X-Mqttsec-Signature"][:-1] + "1"}), body, 300, now)[0]),
        ("old timestamp refused", not verify(secret, h, body, 300, now + 301)[0]),
        ("wrong secret refused", not verify(b"another-secret-0123", h, body, 300, now)[0]),
        ("fixed vector", h["X-Mqttsec-Signature"] ==
         "v1=9a80c5429012f079bb5af510bdaa3bfef7f5a08ad4484b0d2f91548177710e22"),
    ]
    for i, (name, ok) in enumerate(checks, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
        fails += 0 if ok else 1
    return 1 if fails else 0


class State:
    def __init__(self, args):
        self.secret = args.secret.encode()
        self.dir = args.dir
        self.window = args.window
        self.fail500 = args.fail_500
        self.fail400 = set(args.fail_400_id or [])
        self.seen = set()
        self.lock = threading.Lock()
        os.makedirs(os.path.join(self.dir, "bodies"), exist_ok=True)

    def log(self, entry):
        with open(os.path.join(self.dir, "requests.jsonl"), "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")


def make_handler(st):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def answer(self, code, extra=None):
            self.send_response(code)
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n < 0 or n > BODY_MAX:
                self.answer(413)
                return
            body = self.rfile.read(n)
            ok, why = verify(st.secret, self.headers, body, st.window)
            ident = self.headers.get("X-Mqttsec-Id") or ""
            entry = {"id": ident,
                     "kind": self.headers.get("X-Mqttsec-Kind"),
                     "topic": self.headers.get("X-Mqttsec-Topic"),
                     "origin": self.headers.get("X-Mqttsec-Origin"),
                     "timestamp": self.headers.get("X-Mqttsec-Timestamp"),
                     "content_type": self.headers.get("Content-Type"),
                     "path": self.path, "len": len(body),
                     "sha256": hashlib.sha256(body).hexdigest(),
                     "verified": ok, "reason": why, "dup": False}
            with st.lock:
                if not ok:
                    code = 403
                elif ident in st.fail400:
                    code = 400
                elif st.fail500 > 0:
                    st.fail500 -= 1
                    code = 500
                else:
                    code = 200
                    entry["dup"] = ident in st.seen
                    st.seen.add(ident)
                    safe = re.sub(r"[^A-Za-z0-9._-]", "_", ident) or "_"
                    path = os.path.join(st.dir, "bodies", safe)
                    tmp = path + ".tmp"
                    with open(tmp, "wb") as f:
                        f.write(body)
                    os.chmod(tmp, 0o600)
                    os.replace(tmp, path)
                entry["status"] = code
                st.log(entry)
            self.answer(code, {"Retry-After": "1"} if code == 500 else None)

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secret")
    ap.add_argument("--dir")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--window", type=int, default=300)
    ap.add_argument("--fail-500", type=int, default=0)
    ap.add_argument("--fail-400-id", action="append")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        sys.exit(self_test())
    if not args.secret or not args.dir:
        ap.error("--secret and --dir are required")
    st = State(args)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(st))
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
