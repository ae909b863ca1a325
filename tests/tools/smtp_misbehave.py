#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""smtp_misbehave.py - a small SMTP server on 127.0.0.1 that announces
PIPELINING and misbehaves on request, for the pipelining client's tests.

  smtp_misbehave.py --port-file F --log FILE [--drop-after-dot N]
                    [--drop-after-rcpt N] [--long-reply N]

Every message whose final dot is answered with 250 is logged as one JSON
line {"rcpt": "...", "acked": true}; a message whose dot was received but
not answered (dropped) as {"rcpt": "...", "acked": false}.

  --drop-after-dot N    close the connection, without a reply, after the
                        final dot of the Nth message received
  --drop-after-rcpt N   close the connection right after reading the Nth
                        RCPT (pipelined DATA unanswered)
  --long-reply N        answer the first N RCPT with a 600-byte line
"""

import argparse
import asyncio
import json
import os
import sys


class State:
    def __init__(self, args):
        self.args = args
        self.dots = 0
        self.rcpts = 0
        self.long = 0
        self.log = open(args.log, "a", encoding="utf-8")

    def record(self, rcpt, acked):
        self.log.write(json.dumps({"rcpt": rcpt, "acked": acked}) + "\n")
        self.log.flush()


async def session(st, reader, writer):
    def send(s):
        writer.write(s.encode())

    send("220 misbehave.test ESMTP\r\n")
    rcpt = None
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            up = cmd.upper()
            if up.startswith("EHLO"):
                send("250-misbehave.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif up.startswith("HELO"):
                send("250 misbehave.test\r\n")
            elif up.startswith("MAIL FROM:"):
                rcpt = None
                send("250 2.1.0 Ok\r\n")
            elif up.startswith("RCPT TO:"):
                st.rcpts += 1
                if st.rcpts == st.args.drop_after_rcpt:
                    break
                if st.long < st.args.long_reply:
                    st.long += 1
                    send("250 " + "x" * 600 + "\r\n")
                    continue
                rcpt = cmd[8:].strip().strip("<>")
                send("250 2.1.5 Ok\r\n")
            elif up == "DATA":
                if rcpt is None:
                    send("503 5.5.1 no valid recipients\r\n")
                    continue
                send("354 go ahead\r\n")
                while True:
                    dl = await reader.readline()
                    if not dl:
                        return
                    if dl in (b".\r\n", b".\n"):
                        break
                st.dots += 1
                if st.dots == st.args.drop_after_dot:
                    st.record(rcpt, False)
                    break
                st.record(rcpt, True)
                send("250 2.0.0 Ok: queued as M%d\r\n" % st.dots)
                rcpt = None
            elif up == "RSET":
                rcpt = None
                send("250 2.0.0 Ok\r\n")
            elif up == "QUIT":
                send("221 2.0.0 Bye\r\n")
                break
            else:
                send("502 5.5.2 unknown command\r\n")
            await writer.drain()
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(args):
    st = State(args)
    server = await asyncio.start_server(lambda r, w: session(st, r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, args.port_file)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--drop-after-dot", type=int, default=0)
    ap.add_argument("--drop-after-rcpt", type=int, default=0)
    ap.add_argument("--long-reply", type=int, default=0)
    args = ap.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
