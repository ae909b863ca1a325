#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""smtp_recorder.py - an SMTP server (aiosmtpd) on 127.0.0.1 that records
every message it accepts, for the gateway tests.

  smtp_recorder.py [--port N | --port-file F] [--dir D] [--jsonl FILE]
                   [--fail-rcpt N] [--reject-rcpt SUBSTR] [--fail-data N]
                   [--tls-cert C --tls-key K [--require-starttls | --implicit-tls]]
                   [--auth USER:PASS] [--pipelining] [--reject-mail N]
                   [--stall-rcpt SUBSTR:SECONDS [--stall-release FILE]]

Needs Debian's python3-aiosmtpd: run it with /usr/bin/python3.  --port 0
(the default) picks a free port; the port is printed as "port N" and written
atomically to --port-file.

Each accepted message is recorded as JSON
  {"n": 1, "mail_from": "a@x", "rcpt_tos": ["b@y"], "subject": "decoded",
   "message_id": "<...>", "body": "decoded text/plain", "data": "raw message",
   "queue_id": "Q...", "tls": false, "auth": "user" or null}
as <dir>/<n>.json (written atomically) and/or one line of --jsonl.

Scripted trouble: --fail-rcpt N answers the first N RCPT commands with
"451 4.3.0 try again later"; --reject-rcpt SUBSTR answers RCPT for
addresses containing SUBSTR with "550 5.1.1 user unknown"; --fail-data N
answers the first N end-of-DATA with 451; --reject-mail N answers the
first N MAIL commands with "550 5.7.1 sender refused"; --stall-rcpt
SUBSTR:SECONDS waits SECONDS before it answers the end of DATA of a message
to an address containing SUBSTR (other sessions go on meanwhile), or until
--stall-release FILE exists, and prints "stalling" when the wait begins.
--pipelining
announces PIPELINING (RFC 2920) in the EHLO reply (aiosmtpd reads
pipelined commands in order anyway).
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import uuid

from aiosmtpd.smtp import SMTP, AuthResult


class Recorder:
    def __init__(self, args):
        self.args = args
        self.rcpt_count = 0
        self.mail_count = 0
        self.data_count = 0
        self.n = 0
        self.jsonl = open(args.jsonl, "a", encoding="utf-8") if args.jsonl else None

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.args.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mail_count += 1
        if self.mail_count <= self.args.reject_mail:
            return "550 5.7.1 sender refused"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_count += 1
        if self.rcpt_count <= self.args.fail_rcpt:
            return "451 4.3.0 try again later"
        if self.args.reject_rcpt and self.args.reject_rcpt in address:
            return "550 5.1.1 user unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.args.stall_rcpt:
            sub, _, secs = self.args.stall_rcpt.rpartition(":")
            if any(sub in r for r in envelope.rcpt_tos):
                print("stalling", flush=True)
                end = asyncio.get_running_loop().time() + float(secs)
                while asyncio.get_running_loop().time() < end and not (
                        self.args.stall_release and os.path.exists(self.args.stall_release)):
                    await asyncio.sleep(0.05)
        self.data_count += 1
        if self.data_count <= self.args.fail_data:
            return "451 4.3.0 try again later"
        self.n += 1
        raw = envelope.content if isinstance(envelope.content, bytes) else \
            envelope.content.encode("utf-8", "surrogateescape")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = None
        try:
            part = msg.get_body(preferencelist=("plain",))
            if part is not None:
                body = part.get_content()
        except (LookupError, ValueError):
            body = None
        queue_id = "Q" + uuid.uuid4().hex[:12].upper()
        rec = {
            "n": self.n,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(msg["subject"]) if msg["subject"] is not None else None,
            "message_id": str(msg["message-id"]) if msg["message-id"] is not None else None,
            "body": body,
            "data": raw.decode("utf-8", "replace"),
            "queue_id": queue_id,
            "tls": session.ssl is not None or
            server.transport.get_extra_info("ssl_object") is not None,
            "auth": session.auth_data.login.decode() if session.authenticated and
            session.auth_data is not None else None,
        }
        line = json.dumps(rec, ensure_ascii=False)
        if self.args.dir:
            path = os.path.join(self.args.dir, "%06d.json" % self.n)
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(line + "\n")
            os.replace(tmp, path)
        if self.jsonl:
            self.jsonl.write(line + "\n")
            self.jsonl.flush()
        return "250 2.0.0 Ok: queued as " + queue_id


def make_authenticator(userpass):
    user, _, password = userpass.partition(":")

    def check(server, session, envelope, mechanism, auth_data):
        ok = (getattr(auth_data, "login", None) == user.encode() and
              getattr(auth_data, "password", None) == password.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


async def serve(args):
    handler = Recorder(args)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    kw = {"hostname": "recorder.test", "decode_data": False}
    if args.auth:
        kw["authenticator"] = make_authenticator(args.auth)
        kw["auth_required"] = True
        kw["auth_require_tls"] = tls is not None
    if tls is not None and not args.implicit_tls:
        kw["tls_context"] = tls
        kw["require_starttls"] = args.require_starttls
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, loop=loop, **kw), "127.0.0.1", args.port,
        ssl=tls if args.implicit_tls else None)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print("port %d" % port, flush=True)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--dir")
    ap.add_argument("--jsonl")
    ap.add_argument("--fail-rcpt", type=int, default=0)
    ap.add_argument("--reject-rcpt")
    ap.add_argument("--fail-data", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--require-starttls", action="store_true")
    ap.add_argument("--implicit-tls", action="store_true")
    ap.add_argument("--auth", help="USER:PASS; AUTH becomes required")
    ap.add_argument("--pipelining", action="store_true")
    ap.add_argument("--reject-mail", type=int, default=0)
    ap.add_argument("--stall-rcpt")
    ap.add_argument("--stall-release")
    args = ap.parse_args()
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
