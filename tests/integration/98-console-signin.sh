#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 98-console-signin.sh - the web console's sign-in and its refusals
# (docs/console.md "Sign-in", "Security"), with curl: wrong password, wrong
# code, reused code, disabled user, lock-out, missing/wrong CSRF, cookie
# attributes, security headers, an operator calling an admin URL, traversal
# in asset URLs, a body over 64 KiB, a slow client, plain HTTP on a
# non-loopback address.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$CONSOLE_BIN"
need_cmd curl oathtool

console_setup "[console]" "max_failures = 5" "failure_window = 600" "ban_seconds = 600" \
	"max_failures_per_address = 1000" "[http]" "request_timeout = 2"
ok "admin added" console_user_add alice admin
ok "operator added" console_user_add oscar operator
ok "reviewer added" console_user_add rita reviewer L1
ok "user for the lock-out added" console_user_add lock operator
ok "user to disable added" console_user_add dis operator
"$CONSOLE_BIN" -c "$CONSOLE_CONF" user list >"$TEST_TMP/list"
is "$(wc -l <"$TEST_TMP/list")" 5 "user list shows 5 users"
is "$(stat -c %a "$TEST_TMP/console/console.db")" 600 "console db is 0600"
is "$(stat -c %a "$TEST_TMP/console/console.key")" 600 "console key is 0600"
console_start || bail_out "console did not start"

# headers and cookies
console_login_form
ok "sign-in form served" test -n "$_CONSOLE_LOGIN_CSRF"
for h in "Content-Security-Policy: default-src 'self'" "X-Frame-Options: DENY" \
	"Referrer-Policy: no-referrer" "X-Content-Type-Options: nosniff" "Cache-Control: no-store"; do
	ok "header $h" grep -qiF "$h" "$CONSOLE_HEADERS"
done
ok "login cookie is __Host-, Secure, HttpOnly, SameSite=Strict, Path=/" \
	grep -qE '^Set-Cookie: __Host-mqs_login=[^;]+; Path=/; Secure; HttpOnly; SameSite=Strict' "$CONSOLE_HEADERS"

# a good sign-in
ok "alice signs in" console_signin alice
is "$(console_get /)" 200 "dashboard with the session"
ok "dashboard names the user" grep -q 'id="whoami"' "$CONSOLE_BODY"
ok "security headers on the dashboard" grep -qiF "Content-Security-Policy: default-src 'self'" "$CONSOLE_HEADERS"
is "$(console_get /users)" 200 "admin sees the users page"
ALICE_SID=$CONSOLE_SID ALICE_CSRF=$CONSOLE_CSRF

# without a session
SAVE=$CONSOLE_SID
CONSOLE_SID=x
is "$(console_get /)" 303 "no session: redirected to sign-in"
ok "to /signin" grep -qi '^Location: /signin' "$CONSOLE_HEADERS"
is "$(console_post /users/disable name=oscar)" 403 "no session: a POST refused"
CONSOLE_SID=$SAVE

# _signin_status NAME PASSWORD CODE: the status of one sign-in attempt
_signin_status() {
	console_login_form || return 1
	_console_curl -D "$CONSOLE_HEADERS" -o "$CONSOLE_BODY" -w '%{http_code}' \
		-H "Cookie: __Host-mqs_login=$_CONSOLE_LOGIN" \
		--data-urlencode "csrf=$_CONSOLE_LOGIN_CSRF" --data-urlencode "name=$1" \
		--data-urlencode "password=$2" --data-urlencode "code=$3" "$CONSOLE_URL/signin"
}
is "$(_signin_status oscar wrong-password-123 "$(console_code oscar)")" 403 "wrong password refused"
ok "generic message" grep -q 'sign-in failed: wrong name, password or code' "$CONSOLE_BODY"
cp "$CONSOLE_BODY" "$TEST_TMP/wrongpw.html"
is "$(_signin_status nobody "$(console_password oscar)" 123456)" 403 "unknown user refused"
sed 's/name="csrf" value="[^"]*"//' "$CONSOLE_BODY" >"$TEST_TMP/a"
sed 's/name="csrf" value="[^"]*"//' "$TEST_TMP/wrongpw.html" >"$TEST_TMP/b"
ok "unknown user and wrong password give the same page" cmp -s "$TEST_TMP/a" "$TEST_TMP/b"
is "$(_signin_status oscar "$(console_password oscar)" 000000)" 403 "wrong code refused"
CODE=$(console_code oscar)
is "$(_signin_status oscar "$(console_password oscar)" "$CODE")" 303 "oscar signs in"
ok "session cookie is __Host-, Secure, HttpOnly, SameSite=Strict, Path=/" \
	grep -qE '^Set-Cookie: __Host-mqs_session=[^;]+; Path=/; Secure; HttpOnly; SameSite=Strict' "$CONSOLE_HEADERS"
ok "the login cookie is expired at sign-in" grep -qE '^Set-Cookie: __Host-mqs_login=; .*Max-Age=0' "$CONSOLE_HEADERS"
is "$(_signin_status oscar "$(console_password oscar)" "$CODE")" 403 "the same code again refused"

# CSRF on the sign-in form
console_login_form
is "$(_console_curl -o /dev/null -w '%{http_code}' -H "Cookie: __Host-mqs_login=$_CONSOLE_LOGIN" \
	--data-urlencode "name=oscar" --data-urlencode "password=$(console_password oscar)" \
	--data-urlencode "code=123456" "$CONSOLE_URL/signin")" 403 "sign-in without CSRF token refused"
is "$(_console_curl -o /dev/null -w '%{http_code}' \
	--data-urlencode "csrf=$_CONSOLE_LOGIN_CSRF" --data-urlencode "name=oscar" \
	--data-urlencode "password=$(console_password oscar)" \
	--data-urlencode "code=123456" "$CONSOLE_URL/signin")" 403 "sign-in without the login cookie refused"

# an empty password is malformed for every name: a known name answers with
# no Argon2id work for an unknown one either (no timing oracle)
is "$(_signin_status dis '' 123456)" 403 "empty password refused"
is "$(sqlite3 "$TEST_TMP/console/console.db" "SELECT what FROM audit ORDER BY id DESC LIMIT 1")" \
	"sign-in failed (dis): malformed" "empty password for a known name: malformed, as for an unknown one"

# disabled user
CONSOLE_SID=$ALICE_SID CONSOLE_CSRF=$ALICE_CSRF
is "$(console_post /users/disable name=dis)" 303 "admin disables dis"
is "$(_signin_status dis "$(console_password dis)" "$(console_code dis)")" 403 "a disabled user is refused"
ok "with the generic message" grep -q 'sign-in failed: wrong name, password or code' "$CONSOLE_BODY"

# CSRF on a signed-in form
CONSOLE_SID=$ALICE_SID
CONSOLE_CSRF=
is "$(console_post /users/enable name=dis)" 403 "POST without CSRF token refused"
CONSOLE_CSRF=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
is "$(console_post /users/enable name=dis)" 403 "POST with a wrong CSRF token refused"
CONSOLE_CSRF=$ALICE_CSRF
is "$(console_get /users)" 200 "users page"
ok "dis still disabled" grep -q '<td>dis</td><td>operator</td><td></td><td>disabled' "$CONSOLE_BODY"

# an operator calling admin URLs
ok "oscar signs in" console_signin oscar || sqlite3 "$TEST_TMP/console/console.db" "SELECT what FROM audit" >&2
is "$(console_get /users)" 403 "operator: GET /users refused"
is "$(console_post /users/add name=evil role=admin password=0123456789abc)" 403 "operator: POST /users/add refused"
ok "no admin link in the operator's navigation" bash -c "! grep -q 'href=\"/users\"' '$CONSOLE_BODY'"
is "$(console_get /)" 200 "operator dashboard"
ok "no admin link in the operator's navigation" bash -c "! grep -q 'href=\"/users\"' '$CONSOLE_BODY'"
ok "reviewer signs in" console_signin rita
is "$(console_get /users)" 403 "reviewer: GET /users refused"

# lock-out: 5 failures ban the user, even with the right password and code
for i in 1 2 3 4 5; do
	_signin_status lock wrong-password-123 000000 >/dev/null
done
is "$(_signin_status lock "$(console_password lock)" "$(console_code lock)")" 403 "locked out after 5 failures"
is "$(sqlite3 "$TEST_TMP/console/console.db" "SELECT count(*) FROM audit WHERE what LIKE 'ban: user lock%'")" 1 "lock-out audited"

# assets and traversal
is "$(_console_curl -o /dev/null -w '%{http_code}' "$CONSOLE_URL/assets/console.css")" 200 "stylesheet served"
for p in "/assets/../console.db" "/assets/%2e%2e/console.db" "/assets/..%2fconsole.db" \
	"/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd" "/assets//etc/passwd" "/assets/console.css/.." ; do
	is "$(_console_curl --path-as-is -o "$TEST_TMP/t" -w '%{http_code}' "$CONSOLE_URL$p")" 404 "traversal $p: 404"
	ok "nothing leaked ($p)" bash -c "! grep -q 'SQLite\|root:' '$TEST_TMP/t'"
done

# body over 64 KiB
head -c 70000 /dev/zero | tr '\0' a >"$TEST_TMP/big"
is "$(_console_curl -o /dev/null -w '%{http_code}' -H "Cookie: __Host-mqs_session=$ALICE_SID" \
	--data-binary "@$TEST_TMP/big" "$CONSOLE_URL/users/add")" 413 "body over 64 KiB: 413"

# a slow client: headers never finished, cut after [http] request_timeout
python3 - "$CONSOLE_PORT" >"$TEST_TMP/slow" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
s.settimeout(20)
try:
    data = s.recv(4096)
    print("closed" if data == b"" else "answered")
except (socket.timeout, ConnectionResetError) as e:
    print("reset" if isinstance(e, ConnectionResetError) else "still open")
PY
ok "a slow client is cut (headers never finished)" grep -qE '^(closed|reset)$' "$TEST_TMP/slow"

# plain HTTP on a non-loopback address refused
sed 's/^listen = .*/listen = 0.0.0.0:1/' "$CONSOLE_CONF" >"$TEST_TMP/public.conf"
"$CONSOLE_BIN" -c "$TEST_TMP/public.conf" run >"$TEST_TMP/public.log" 2>&1
is "$?" 78 "plain HTTP on 0.0.0.0 refused (exit 78)"
ok "with a clear error" grep -q 'not a loopback address' "$TEST_TMP/public.log"

# sign-out
CONSOLE_SID=$ALICE_SID CONSOLE_CSRF=$ALICE_CSRF
is "$(console_post /signout)" 303 "sign-out"
is "$(console_get /)" 303 "the old session no longer works"

# per address: failures under many names ban the address (last: the ban
# holds for every name from 127.0.0.1 afterwards)
stop_bg console
sed -i 's/^max_failures_per_address = .*/max_failures_per_address = 4/' "$CONSOLE_CONF"
console_start || bail_out "console did not restart"
for n in x1 x2 x3 x4; do
	_signin_status "$n" wrong-password-123 000000 >/dev/null
done
is "$(_signin_status rita "$(console_password rita)" "$(console_code rita)")" 403 "address banned after 4 failures under other names"
is "$(sqlite3 "$TEST_TMP/console/console.db" "SELECT count(*) FROM audit WHERE what LIKE 'ban: address 127.0.0.1%'")" 1 "address ban audited"

# refusals before any sign-in (a wrong sign-in token, a POST without a
# session) count against the address; a banned address adds no audit rows
_bad_token() {
	_console_curl -o /dev/null -w '%{http_code}' --data-urlencode "csrf=x" \
		--data-urlencode "name=x" "$CONSOLE_URL/signin"
}
_audit_rows() {
	sqlite3 "$TEST_TMP/console/console.db" "SELECT count(*) FROM audit"
}
ROWS=$(_audit_rows)
for i in 1 2 3 4 5 6; do
	_bad_token >/dev/null
	_console_curl -o /dev/null --data-urlencode "name=x" "$CONSOLE_URL/users/add"
done
is "$(_audit_rows)" "$ROWS" "banned address: refusals before sign-in add no audit rows"
stop_bg console
sqlite3 "$TEST_TMP/console/console.db" "DELETE FROM bans; DELETE FROM failures"
console_start || bail_out "console did not restart"
for i in 1 2; do
	_bad_token >/dev/null
	_console_curl -o /dev/null --data-urlencode "name=x" "$CONSOLE_URL/users/add"
done
is "$(sqlite3 "$TEST_TMP/console/console.db" "SELECT count(*) FROM audit WHERE what LIKE 'ban: address 127.0.0.1%'")" 2 "wrong sign-in tokens and POSTs without a session ban the address"
ROWS=$(_audit_rows)
for i in $(seq 1 20); do _bad_token >/dev/null; done
is "$(_audit_rows)" "$ROWS" "then 20 more wrong tokens add no audit rows"
# a POST the browser marks as from another site is refused before it is
# counted: a page elsewhere cannot get the admin's address banned
stop_bg console
sqlite3 "$TEST_TMP/console/console.db" "DELETE FROM bans; DELETE FROM failures"
console_start || bail_out "console did not restart"
is "$(_console_curl -o /dev/null -w '%{http_code}' -H 'Sec-Fetch-Site: cross-site' \
	--data-urlencode "csrf=x" --data-urlencode "name=x" "$CONSOLE_URL/signin")" 403 \
	"a cross-site POST: 403"
for i in $(seq 1 10); do
	_console_curl -o /dev/null -H 'Sec-Fetch-Site: cross-site' --data-urlencode "csrf=x" \
		--data-urlencode "name=x" "$CONSOLE_URL/signin"
done
is "$(sqlite3 "$TEST_TMP/console/console.db" "SELECT count(*) FROM failures")" 0 \
	"cross-site POSTs count no failure"
is "$(_signin_status rita "$(console_password rita)" "$(console_code rita)")" 303 \
	"and the address can still sign in"
done_testing
