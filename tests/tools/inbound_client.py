#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""inbound_client.py - what a provider sends to the gateway's HTTP listener
(docs/marketing.md, "HTTP listener"), computed independently of the C code:

  twilio URL TOKEN NAME=VALUE...   POST a signed Twilio inbound-SMS form
         [--bad-sig]               (X-Twilio-Signature, HMAC-SHA1)
  line URL SECRET JSON [--bad-sig] POST a signed LINE webhook body
                                   (X-Line-Signature, HMAC-SHA256)
  token KEYFILE RID CHANNEL        print an unsubscribe token (gw_unsub.h)
  hold HOST PORT N SECONDS         open N connections, send nothing, print
                                   how many the server closed at once (in
                                   0.5 s) and, after SECONDS, how many are
                                   still open
  idle HOST PORT                   open one connection, send nothing, print
                                   the seconds until the server closes it

Prints the HTTP status (and the body after a newline for -v).  Options:
--cacert FILE for https.
"""
import base64
import hashlib
import hmac
import json
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def post(url, body, headers, cacert, verbose):
    ctx = None
    if url.startswith("https:"):
        ctx = ssl.create_default_context(cafile=cacert)
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20, context=ctx) as r:
            status, text = r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode("utf-8", "replace")
    print(status)
    if verbose:
        print(text)


def opt(args, name, has_value):
    if name not in args:
        return None
    i = args.index(name)
    v = args[i + 1] if has_value else True
    del args[i:i + 1 + (1 if has_value else 0)]
    return v


def main():
    args = sys.argv[1:]
    cacert = opt(args, "--cacert", True)
    bad = opt(args, "--bad-sig", False)
    verbose = opt(args, "-v", False)
    cmd = args.pop(0)
    if cmd == "twilio":
        url, token = args[0], args[1]
        params = [tuple(a.split("=", 1)) for a in args[2:]]
        data = url + "".join(k + v for k, v in sorted(params))
        sig = base64.b64encode(hmac.new(token.encode(), data.encode(),
                                        hashlib.sha1).digest()).decode()
        if bad:
            sig = base64.b64encode(b"\0" * 20).decode()
        body = urllib.parse.urlencode(params).encode()
        post(url, body, {"X-Twilio-Signature": sig,
                         "Content-Type": "application/x-www-form-urlencoded"},
             cacert, verbose)
    elif cmd == "line":
        url, secret, body = args[0], args[1], args[2].encode()
        sig = base64.b64encode(hmac.new(secret.encode(), body,
                                        hashlib.sha256).digest()).decode()
        if bad:
            sig = base64.b64encode(b"\1" * 32).decode()
        post(url, body, {"X-Line-Signature": sig,
                         "Content-Type": "application/json"}, cacert, verbose)
    elif cmd == "token":
        raw = open(args[0], "rb").read()
        mk = raw if len(raw) == 32 else bytes.fromhex(raw.strip().decode())
        chans = {"email": 0, "sms": 1, "phone": 2, "line": 3}
        body = bytes([1]) + int(args[1]).to_bytes(8, "big") + \
            bytes([chans[args[2]]]) + (0).to_bytes(8, "big")
        k = hmac.new(mk, b"mqttsec-gateway unsubscribe v1", hashlib.sha256).digest()
        tag = hmac.new(k, body, hashlib.sha256).digest()[:16]
        print(base64.urlsafe_b64encode(body + tag).decode().rstrip("="))
    elif cmd == "hold":
        host, port, n, secs = args[0], int(args[1]), int(args[2]), float(args[3])
        socks = []
        for _ in range(n):
            s = socket.create_connection((host, port), timeout=5)
            socks.append(s)
            time.sleep(0.02)
        time.sleep(0.5)
        closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        print(closed)
        sys.stdout.flush()
        time.sleep(secs)
        for s in socks:
            s.close()
    elif cmd == "idle":
        host, port = args[0], int(args[1])
        s = socket.create_connection((host, port), timeout=60)
        t0 = time.monotonic()
        try:
            s.recv(1)
        except OSError:
            pass
        print("%.1f" % (time.monotonic() - t0))
    else:
        sys.exit("unknown command")


if __name__ == "__main__":
    main()
