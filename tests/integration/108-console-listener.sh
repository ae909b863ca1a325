#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 108-console-listener.sh - the console's listener (docs/console.md
# "Security", "Limits"): without [http] host a loopback console answers
# only Host 127.0.0.1, localhost, [::1] (421 for a DNS-rebinding name, 400
# without a Host); host = ::1 (no brackets) matches the Host [::1]; the
# connection cap per client counts an IPv6 /64 as one client (in a network
# namespace of its own with addresses of 2001:db8::/32 on lo, when the test
# runs as root; skipped otherwise); one client's flood of log lines leaves
# out its own lines, not another client's; idle_timeout below
# request_timeout closes an idle kept-alive connection.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# a network namespace of our own for the IPv6 addresses (loopback only)
if [ -z "${MQS_IN_NETNS:-}" ] && [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
	exec env MQS_IN_NETNS=1 unshare -n bash "$0" "$@"
fi
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$CONSOLE_BIN"
need_cmd curl oathtool
V6=0
if [ -n "${MQS_IN_NETNS:-}" ]; then
	ip link set lo up || bail_out "cannot bring lo up in the namespace"
	V6=1
	for a in 2001:db8:0:1::2 2001:db8:0:1::3 2001:db8:0:1::4 2001:db8:0:1::5 2001:db8:0:1::6 \
		2001:db8:0:1::7 2001:db8:0:1::8 2001:db8:0:1::9 2001:db8:0:1::a 2001:db8:0:2::2; do
		ip -6 addr add "$a/64" dev lo nodad 2>/dev/null || V6=0
	done
fi

# code HOST-HEADER...: the status of GET /signin with these curl -H arguments
code() {
	_console_curl -o /dev/null -w '%{http_code}' "$@" "$CONSOLE_URL/signin"
}

## DNS rebinding: [http] host unset, loopback listener
console_setup
console_start || bail_out "console did not start"
is "$(code)" 200 "Host 127.0.0.1:PORT: served"
is "$(code -H "Host: localhost:$CONSOLE_PORT")" 200 "Host localhost:PORT: served"
is "$(code -H 'Host: LOCALHOST')" 200 "Host LOCALHOST: served"
is "$(code -H "Host: [::1]:$CONSOLE_PORT")" 200 "Host [::1]:PORT: served"
is "$(code -H "Host: attacker.example:$CONSOLE_PORT")" 421 "a rebinding name with the port: 421"
is "$(code -H 'Host: attacker.example')" 421 "a rebinding name: 421"
is "$(code -H 'Host: localhost.attacker.example')" 421 "localhost as a prefix: 421"
is "$(code -H "Host: 127.0.0.1:$CONSOLE_PORT@evil")" 421 "junk after the port: 421"
is "$(code --http1.0 -H 'Host:')" 400 "HTTP/1.0 without a Host: 400"
stop_bg console

## host = ::1 without brackets
console_setup "host = ::1"
console_start || bail_out "console did not start with host = ::1"
is "$(code -H "Host: [::1]:$CONSOLE_PORT")" 200 "host = ::1 matches the Host [::1]:PORT"
is "$(code -H 'Host: [::1]')" 200 "and without the port"
is "$(code)" 421 "the Host 127.0.0.1 is refused when host names [::1]"
stop_bg console

## one client's flood leaves out its own log lines only
console_setup "request_timeout = 4" "idle_timeout = 60"
console_start || bail_out "console did not start"
"$PYTHON" - "$CONSOLE_PORT" "$TEST_TMP/flood.ready" >"$TEST_TMP/flood.log" 2>&1 <<'PY' &
import os, socket, sys, time
port, ready = int(sys.argv[1]), sys.argv[2]
req = b"GET /signin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
def answer(s):
    data = b""
    while b"</html>" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed")
        data += chunk
held = []
for i in range(8):  # the cap: kept alive, a complete request every 0.5 s
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0))
    s.sendall(req); answer(s); held.append(s)
open(ready, "w").close()
refused = 0
end = time.time() + 14
last = 0
while time.time() < end:
    if time.time() - last > 0.5:
        for i, s in enumerate(held):
            try:
                s.sendall(req); answer(s)
            except OSError:  # closed on a very slow machine: take the slot again
                s.close()
                try:
                    held[i] = socket.create_connection(("127.0.0.1", port), timeout=5,
                                                       source_address=("127.0.0.2", 0))
                except OSError:
                    pass
        last = time.time()
    try:  # over the cap: refused, one log line each
        x = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=("127.0.0.2", 0))
        x.sendall(req)
        if not x.recv(100):
            refused += 1
        x.close()
    except OSError:
        refused += 1
    time.sleep(0.02)
print("refused", refused)
PY
FLOOD=$!
wait_for "$WAIT_TIMEOUT" test -e "$TEST_TMP/flood.ready" || bail_out "flooder did not start"
# another client (127.0.0.2 holds its cap) leaves a request half-sent: cut
"$PYTHON" - "$CONSOLE_PORT" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30, source_address=("127.0.0.3", 0))
s.sendall(b"GET /signin HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
s.settimeout(30)
try:
    s.recv(100)
except OSError:
    pass
PY
VICTIM=$!
wait "$VICTIM"
wait "$FLOOD"
diag "$(cat "$TEST_TMP/flood.log")"
ok "the other client's line is written during the flood" \
	grep -q '^http: a request not complete within the timeout: closed' "$TEST_TMP/console.log"
ok "the flooder's own lines are left out (a count)" \
	wait_for $((WAIT_TIMEOUT + 15)) grep -q 'log line(s) left out' "$TEST_TMP/console.log"
n=$(grep -c '^http: connection refused' "$TEST_TMP/console.log")
refused=$(sed -n 's/^refused //p' "$TEST_TMP/flood.log")
ok "few refusal lines ($n) for ${refused:-?} refused connections" test "$n" -lt "${refused:-0}"
stop_bg console

## idle_timeout below request_timeout closes an idle kept-alive connection
console_setup "request_timeout = 30" "idle_timeout = 2"
console_start || bail_out "console did not start"
out=$("$PYTHON" - "$CONSOLE_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /signin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
data = b""
while b"</html>" not in data:
    data += s.recv(65536)
t0 = time.time()
s.settimeout(25)
try:
    closed = s.recv(100) == b""
except OSError:
    closed = True
print("closed" if closed else "data", int(time.time() - t0))
PY
)
diag "idle connection: $out"
ok "closed after idle_timeout, long before request_timeout (30 s)" \
	eval '[ "${out%% *}" = closed ] && [ "${out##* }" -lt 20 ]'
stop_bg console

## the per-client cap counts an IPv6 /64 as one client
if [ "$V6" = 1 ]; then
	console_setup "request_timeout = 60"
	sed -i "s/^listen = 127.0.0.1:.*$/listen = [::1]:$CONSOLE_PORT/" "$CONSOLE_CONF"
	start_bg console "$CONSOLE_BIN" -c "$CONSOLE_CONF" run
	wait_for "$WAIT_TIMEOUT" port_open "$CONSOLE_PORT" ::1 || bail_out "console did not start on [::1]"
	out=$("$PYTHON" - "$CONSOLE_PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
def conn(src):
    s = socket.socket(socket.AF_INET6)
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("::1", port))
    return s
def served(src):
    try:
        s = conn(src)
        s.sendall(b"GET /signin HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n")
        return s.recv(12).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
held = []
for i in range(2, 10):  # 8 addresses of one /64, one half-sent request each
    s = conn("2001:db8:0:1::%x" % i)
    s.sendall(b"GET /signin HTTP/1.1\r\nHost: [::1]\r\n")
    held.append(s)
print("same64", "served" if served("2001:db8:0:1::a") else "refused")
print("other64", "served" if served("2001:db8:0:2::2") else "refused")
print("loopback", "served" if served("::1") else "refused")
PY
)
	diag "$out"
	ok "a ninth connection from another address of the same /64: refused" \
		grep -q '^same64 refused' <<<"$out"
	ok "another /64: served" grep -q '^other64 served' <<<"$out"
	ok "::1: served" grep -q '^loopback served' <<<"$out"
	stop_bg console
else
	skip "IPv6 /64 connection cap: needs root and a network namespace (unshare -n)"
	skip "IPv6 /64: another /64"
	skip "IPv6 /64: ::1"
fi
done_testing
