#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""fake_provider.py - a local stand-in for the Twilio and LINE REST APIs.

Listens on 127.0.0.1, records every request as one JSON line, and answers
with statuses scripted per path.  Standard library only.

  fake_provider.py --log REQS.jsonl [--port N | --port-file F] [--script S]

--port 0 (the default) picks a free port; the port is printed on stdout as
"port N" and written to --port-file (atomically) when given.

Request log: one JSON object per line, written and flushed before the reply
is sent:
  {"n": 1, "method": "POST", "path": "/v2/bot/message/push",
   "headers": {"authorization": "...", ...},   (names lowercased)
   "body": "...", "form": {"To": "+1555..."}, "json": {...} or null,
   "status": 200}

Script file (re-read whenever it changes; counters restart then): one rule
per line, "#" comments allowed,
  PATH_SUBSTRING  STATUS[;ra=SECS][;code=N][;delay=SECS],STATUS...
The first rule whose substring occurs in the request path answers ("*"
matches every path).  Each request takes the next status of its rule; the
last one repeats.  ra= adds "Retry-After: SECS", code= puts a Twilio error
code into the error body, delay= waits before answering (for timeouts).
Without a matching rule Twilio paths get 201 and other paths 200.

Bodies: Twilio paths (containing /Accounts/) answer {"sid": "SM..."} (or
"CA..." for Calls.json) on success and {"code": N, "message": ..., "status":
S} on error.  LINE paths answer {"sentMessages": [{"id": ...}]} with an
x-line-request-id header.  Like the real LINE API, a request whose
X-Line-Retry-Key was already accepted (2xx) gets 409 with
x-line-accepted-request-id, whatever the script says (--no-line-dedupe
turns that off).
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


class Script:
    """Scripted statuses per path substring, reloaded when the file changes."""

    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.rules = []  # [substring, [steps], counter]
        self.lock = threading.Lock()

    def _load(self):
        if self.path is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.rules, self.mtime = [], None
            return
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if key == self.mtime:
            return
        self.mtime = key
        rules = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                sub, _, spec = line.partition(" ")
                steps = [parse_step(s) for s in spec.strip().split(",") if s.strip()]
                if steps:
                    rules.append([sub, steps, 0])
        self.rules = rules

    def next(self, path):
        with self.lock:
            self._load()
            for rule in self.rules:
                if rule[0] == "*" or rule[0] in path:
                    steps = rule[1]
                    step = steps[min(rule[2], len(steps) - 1)]
                    rule[2] += 1
                    return step
        return None


def parse_step(text):
    parts = text.strip().split(";")
    step = {"status": int(parts[0])}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        k = k.strip()
        if k == "ra":
            step["retry_after"] = v.strip()
        elif k == "code":
            step["code"] = int(v)
        elif k == "delay":
            step["delay"] = float(v)
        else:
            raise ValueError("unknown step option " + k)
    return step


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-provider/1"

    def log_message(self, fmt, *args):  # keep stderr quiet
        pass

    def _answer(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(n, MAX_BODY)) if n > 0 else b""
        body = raw.decode("utf-8", errors="replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = urllib.parse.urlsplit(self.path).path
        ctype = headers.get("content-type", "")
        form = None
        js = None
        if ctype.startswith("application/x-www-form-urlencoded"):
            form = {k: v[0] if len(v) == 1 else v
                    for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}
        elif ctype.startswith("application/json"):
            try:
                js = json.loads(body)
            except ValueError:
                js = None
        twilio = "/Accounts/" in path
        line = "/v2/bot/" in path
        retry_key = headers.get("x-line-retry-key")

        step = srv.script.next(path) or {"status": 201 if twilio else 200}
        status = step["status"]
        extra = {}
        with srv.lock:
            srv.count += 1
            seq = srv.count
            if line and retry_key and srv.line_dedupe and retry_key in srv.accepted:
                status = 409
                extra["x-line-accepted-request-id"] = srv.accepted[retry_key]
                step = {"status": 409}
        if "retry_after" in step:
            extra["Retry-After"] = step["retry_after"]

        if twilio:
            if 200 <= status < 300:
                prefix = "CA" if path.endswith("Calls.json") else "SM"
                out = {"sid": prefix + uuid.uuid4().hex, "status": "queued"}
            else:
                out = {"code": step.get("code", 20001 if status < 500 else 20500),
                       "message": "scripted error", "status": status}
        elif line:
            reqid = str(uuid.uuid4())
            extra.setdefault("x-line-request-id", reqid)
            if 200 <= status < 300:
                out = {"sentMessages": [{"id": str(int(time.time() * 1000) * 1000 + seq),
                                         "quoteToken": "q" + uuid.uuid4().hex}]}
                if retry_key:
                    with srv.lock:
                        srv.accepted[retry_key] = reqid
            elif status == 409:
                out = {"message": "The retry key is already accepted"}
            else:
                out = {"message": "scripted error"}
        else:
            out = {}

        rec = {"n": seq, "time": time.time(), "method": self.command, "path": path,
               "query": urllib.parse.urlsplit(self.path).query, "headers": headers,
               "body": body, "form": form, "json": js, "status": status}
        with srv.lock:
            srv.log.write(json.dumps(rec, ensure_ascii=False) + "\n")
            srv.log.flush()

        if step.get("delay"):
            time.sleep(step["delay"])
        data = json.dumps(out).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    do_POST = _answer
    do_GET = _answer
    do_PUT = _answer
    do_DELETE = _answer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log", required=True, help="request log (JSON lines)")
    ap.add_argument("--script", default=os.environ.get("FAKE_PROVIDER_SCRIPT"))
    ap.add_argument("--no-line-dedupe", action="store_true")
    args = ap.parse_args()

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.script = Script(args.script)
    srv.lock = threading.Lock()
    srv.count = 0
    srv.accepted = {}
    srv.line_dedupe = not args.no_line_dedupe
    srv.log = open(args.log, "a", encoding="utf-8")
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print("port %d" % port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
