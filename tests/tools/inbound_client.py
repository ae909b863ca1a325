#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""inbound_client.py - what a provider sends to the gateway's HTTP listener
(docs/marketing.md, "HTTP listener"), computed independently of the C code:

  twilio URL TOKEN NAME=VALUE...   POST a signed Twilio inbound-SMS form
         [--bad-sig]               (X-Twilio-Signature, HMAC-SHA1)
  line URL SECRET JSON [--bad-sig] POST a signed LINE webhook body
                                   (X-Line-Signature, HMAC-SHA256)
  token KEYFILE RID CREATED CHANNEL
                                   print an unsubscribe token (gw_unsub.h)
  hold HOST PORT SECONDS SRC:N...  open N connections from each local source
                                   address SRC (127.0.0.x), send nothing,
                                   print how many the server closed (waiting
                                   until --expect N are), keep the rest
                                   SECONDS
  trickle HOST PORT PATH           POST a 1000-byte body one byte every 0.5 s,
                                   print the seconds until the server closes
                                   the connection (60 when it never does)
  idle HOST PORT                   open one connection, send nothing, print
                                   the seconds until the server closes it
  slowhdr HOST PORT N              open N connections, send a request line
                                   then one header byte every 0.5 s
                                   (slowloris), print the seconds until the
                                   server closed the last (60 when never)
  keepslow HOST PORT PATH          one keep-alive connection: GET PATH (an
                                   HTML page) answered, then the next one's header
                                   trickled (a byte every 0.5 s); print the
                                   seconds from the second request until the
                                   server closes (60 when never)
  raw HOST PORT HEX                send the bytes HEX, print the answer's
                                   first line

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
    expect = int(opt(args, "--expect", True) or 1)
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
        body = bytes([2]) + int(args[1]).to_bytes(8, "big") + \
            int(args[2]).to_bytes(8, "big") + \
            bytes([chans[args[3]]]) + (0).to_bytes(8, "big")
        k = hmac.new(mk, b"mqttsec-gateway unsubscribe v1", hashlib.sha256).digest()
        tag = hmac.new(k, body, hashlib.sha256).digest()[:16]
        print(base64.urlsafe_b64encode(body + tag).decode().rstrip("="))
    elif cmd == "hold":
        host, port, secs = args[0], int(args[1]), float(args[2])
        socks = []
        for spec in args[3:]:
            src, n = spec.split(":")
            for _ in range(int(n)):
                s = socket.socket()
                s.settimeout(5)
                s.bind((src, 0))
                s.connect((host, port))
                socks.append(s)
                time.sleep(0.02)
        # count the connections the server closed, waiting (at most 10 s) until
        # there are at least --expect of them, then 0.3 s more for stragglers
        gone = set()
        deadline = time.monotonic() + 10
        settle = None
        for s in socks:
            s.setblocking(False)
        while time.monotonic() < deadline:
            for i, s in enumerate(socks):
                if i in gone:
                    continue
                try:
                    if s.recv(1) == b"":
                        gone.add(i)
                except BlockingIOError:
                    pass
                except OSError:
                    gone.add(i)
            if settle is None and len(gone) >= expect:
                settle = time.monotonic() + 0.3
            if settle is not None and time.monotonic() >= settle:
                break
            time.sleep(0.05)
        print(len(gone))
        sys.stdout.flush()
        time.sleep(secs)
        for s in socks:
            s.close()
    elif cmd == "trickle":
        host, port, path = args[0], int(args[1]), args[2]
        s = socket.create_connection((host, port), timeout=5)
        t0 = time.monotonic()
        s.sendall(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n"
                   "Content-Type: application/json\r\n\r\n" % (path, host)).encode())
        gone = None
        while time.monotonic() - t0 < 60 and gone is None:
            try:
                s.sendall(b"x")
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        gone = time.monotonic() - t0
                except BlockingIOError:
                    pass
                s.setblocking(True)
            except OSError:
                gone = time.monotonic() - t0
            time.sleep(0.5)
        print("%.1f" % (gone if gone is not None else 60))
    elif cmd == "slowhdr":
        host, port, n = args[0], int(args[1]), int(args[2])
        socks = []
        t0 = time.monotonic()
        for _ in range(n):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(("POST /line/webhook HTTP/1.1\r\nHost: %s\r\nX-A: " %
                       host).encode())
            socks.append(s)
        gone = {}
        last_send = time.monotonic()
        while time.monotonic() - t0 < 60 and len(gone) < n:
            for i, s in enumerate(socks):
                if i in gone:
                    continue
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        gone[i] = time.monotonic() - t0
                except BlockingIOError:
                    pass
                except OSError:
                    gone[i] = time.monotonic() - t0
            if time.monotonic() - last_send >= 0.5:
                last_send = time.monotonic()
                for i, s in enumerate(socks):
                    if i in gone:
                        continue
                    try:
                        s.sendall(b"a")
                    except BlockingIOError:
                        pass
                    except OSError:
                        gone[i] = time.monotonic() - t0
            time.sleep(0.05)
        print("%.1f" % (max(gone.values()) if len(gone) == n else 60))
    elif cmd == "keepslow":
        host, port, path = args[0], int(args[1]), args[2]
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())
        ans = b""
        while b"</html>" not in ans:
            chunk = s.recv(4096)
            if not chunk:
                sys.exit("closed after the first request")
            ans += chunk
        t0 = time.monotonic()
        s.sendall(("POST /line/webhook HTTP/1.1\r\nHost: %s\r\nX-A: " % host).encode())
        s.setblocking(False)
        gone = None
        while time.monotonic() - t0 < 60 and gone is None:
            try:
                if s.recv(1) == b"":
                    gone = time.monotonic() - t0
                    break
            except BlockingIOError:
                pass
            except OSError:
                gone = time.monotonic() - t0
                break
            try:
                s.sendall(b"a")
            except BlockingIOError:
                pass
            except OSError:
                gone = time.monotonic() - t0
            time.sleep(0.5)
        print("%.1f" % (gone if gone is not None else 60))
    elif cmd == "raw":
        host, port, data = args[0], int(args[1]), bytes.fromhex(args[2])
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(data)
        ans = b""
        try:
            while b"\n" not in ans:
                chunk = s.recv(4096)
                if not chunk:
                    break
                ans += chunk
        except OSError:
            pass
        print(ans.split(b"\n")[0].decode("latin-1").strip())
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
