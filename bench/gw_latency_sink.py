#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""gw_latency_sink.py - an SMTP sink (aiosmtpd) for bench-gateway.sh latency.

  gw_latency_sink.py PORT OUTFILE

For every message whose Subject is "t <publish time in ns>", appends one
line "<latency ms> <subject>" to OUTFILE, the latency measured when the end
of DATA arrives.
"""

import asyncio
import email
import email.policy
import sys
import time

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        now = time.time_ns()
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        subject = str(msg.get("Subject", ""))
        parts = subject.split()
        if len(parts) == 2 and parts[0] == "t" and parts[1].isdigit():
            self.out.write("%.3f %s\n" % ((now - int(parts[1])) / 1e6, subject))
            self.out.flush()
        return "250 OK"


async def main():
    port = int(sys.argv[1])
    out = open(sys.argv[2], "a", encoding="utf-8")
    handler = Handler(out)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="sink"), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
