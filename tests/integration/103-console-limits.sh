#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 103-console-limits.sh - the web console's limits (docs/console.md
# "Security", "Passwords"): a few addresses holding half-sent requests do not
# take every connection slot (4 addresses took all 64 with the old limits),
# the HTTP layer's log lines are rate-limited, headers over 32 KiB get the
# console's own 431 with the security headers, a password hashed with
# older Argon2id parameters is re-hashed with today's at sign-in, and
# resetting one's own TOTP ends one's other sessions; with [http] host set,
# another Host header gets 421.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$CONSOLE_BIN"
need_cmd curl oathtool sqlite3

console_setup
ok "admin added (argon2 t=1)" console_user_add alice admin
is "$(sqlite3 "$TEST_TMP/console/console.db" "SELECT substr(pw_hash, 1, 30) FROM users WHERE name = 'alice'")" \
	'$argon2id$v=19$m=1024,t=1,p=1$' "hash made with t=1"
# the operator raises the time cost: alice's hash is now stale
sed -i 's/^argon2_time = 1$/argon2_time = 2/' "$CONSOLE_CONF"
console_start || bail_out "console did not start"

## F5: re-hash at sign-in
ok "alice signs in with the old hash" console_signin alice
is "$(sqlite3 "$TEST_TMP/console/console.db" "SELECT substr(pw_hash, 1, 30) FROM users WHERE name = 'alice'")" \
	'$argon2id$v=19$m=1024,t=2,p=1$' "re-hashed with today's t=2"
is "$(sqlite3 "$TEST_TMP/console/console.db" "SELECT count(*) FROM audit WHERE what LIKE 'password of alice re-hashed%' AND ok = 1")" \
	1 "the re-hash is audited"
ok "alice signs in with the new hash" console_signin alice
is "$(sqlite3 "$TEST_TMP/console/console.db" "SELECT count(*) FROM audit WHERE what LIKE 'password of alice re-hashed%'")" \
	1 "no second re-hash"

## F6: oversized headers answered by the console itself
big=$(head -c 40000 /dev/zero | tr '\0' a)
code=$(_console_curl -D "$TEST_TMP/h431" -o /dev/null -w '%{http_code}' -H "X-Big: $big" \
	"$CONSOLE_URL/signin")
is "$code" 431 "headers over 32 KiB: 431"
ok "431 carries nosniff" grep -qi '^x-content-type-options: nosniff' "$TEST_TMP/h431"
ok "431 carries the CSP" grep -qi "^content-security-policy: default-src 'self'" "$TEST_TMP/h431"
ok "431 carries X-Frame-Options" grep -qi '^x-frame-options: DENY' "$TEST_TMP/h431"
big=$(head -c 100000 /dev/zero | tr '\0' a)
is "$(_console_curl -o /dev/null -w '%{http_code}' "$CONSOLE_URL/signin?q=$big")" 431 \
	"a query over 32 KiB: 431"
mid=$(head -c 16000 /dev/zero | tr '\0' a)
is "$(_console_curl -o /dev/null -w '%{http_code}' -H "X-Mid: $mid" "$CONSOLE_URL/signin")" 200 \
	"16 KiB of headers: served"

## F3: 4 addresses holding half-sent requests (the attacker's proof)
"$PYTHON" - "$CONSOLE_PORT" "$TEST_TMP/hold.ready" "$TEST_TMP/hold.stop" \
	>"$TEST_TMP/hold.log" 2>&1 <<'PY' &
import os, socket, sys, time
port, ready, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socks, tries = [], 0
deadline = time.time() + 120
while time.time() < deadline and not os.path.exists(stop):
    for a in range(2, 6):
        for i in range(16):
            tries += 1
            try:
                s = socket.socket(); s.bind(("127.0.0.%d" % a, 0))
                s.settimeout(0.2); s.connect(("127.0.0.1", port))
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
                socks.append(s)
            except OSError:
                pass
    if not os.path.exists(ready):
        open(ready, "w").close()
    time.sleep(0.3)
print("tries", tries)
PY
HOLD=$!
wait_for "$WAIT_TIMEOUT" test -e "$TEST_TMP/hold.ready" || bail_out "holder did not start"
fails=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	code=$(_console_curl -o /dev/null -w '%{http_code}' "$CONSOLE_URL/signin")
	[ "$code" = 200 ] || fails=$((fails + 1))
done
is "$fails" 0 "during the hold every real request is served"
ok "a signed-in page too" test "$(console_get /)" = 200
ok "the HTTP log lines are rate-limited (a 'left out' count)" \
	wait_for $((WAIT_TIMEOUT + 15)) grep -q 'log line(s) left out' "$TEST_TMP/console.log"
touch "$TEST_TMP/hold.stop"
wait "$HOLD"
diag "$(cat "$TEST_TMP/hold.log")"
n=$(grep -c '^http: ' "$TEST_TMP/console.log")
tries=$(sed -n 's/^tries //p' "$TEST_TMP/hold.log")
ok "far fewer log lines ($n) than refused connections (tries $tries)" test "$n" -lt $((tries / 4))
ok "console still running" bg_alive console

## F9: [http] host: any other Host header is refused (DNS rebinding)
stop_bg console
printf 'host = Console.Test\n' >>"$CONSOLE_CONF"
console_start || bail_out "console did not restart"
is "$(_console_curl -o /dev/null -w '%{http_code}' -H 'Host: console.test' "$CONSOLE_URL/signin")" \
	200 "Host = [http] host: served"
is "$(_console_curl -o /dev/null -w '%{http_code}' -H "Host: console.test:$CONSOLE_PORT" "$CONSOLE_URL/signin")" \
	200 "with a port: served"
is "$(_console_curl -D "$TEST_TMP/h421" -o /dev/null -w '%{http_code}' -H 'Host: evil.example' "$CONSOLE_URL/signin")" \
	421 "another Host: 421"
ok "421 carries nosniff" grep -qi '^x-content-type-options: nosniff' "$TEST_TMP/h421"
is "$(_console_curl -o /dev/null -w '%{http_code}' -H 'Host: console.test.evil' "$CONSOLE_URL/signin")" \
	421 "a longer name: 421"
sed -i '/^host = Console.Test$/d' "$CONSOLE_CONF"
stop_bg console
console_start || bail_out "console did not restart"

## resetting one's own TOTP from a session is refused (a stolen session
## must not enrol a new second factor); another admin's reset works
SID1=$CONSOLE_SID # from the sign-in above
ok "alice: second session" console_signin alice
is "$(console_post /users/reset-totp name=alice)" 303 "alice's own reset: redirected"
ok "with the reason" grep -qi '^location:' "$CONSOLE_HEADERS"
is "$(console_get /users)" 200 "the session she tried it from stays"
ok "the page says why" grep -q 'cannot reset your own TOTP here' "$CONSOLE_BODY"
CONSOLE_SID=$SID1
is "$(console_get /)" 200 "her other session stays too"
done_testing
