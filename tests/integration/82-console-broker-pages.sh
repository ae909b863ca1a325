#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 82-console-broker-pages.sh - the console's broker pages (docs/console.md
# "Broker pages") with curl against a running broker (mosquitto with the
# plugin): each page as admin; an operator and a reviewer refused every
# admin URL and POST; a POST without CSRF refused; HTML/JS in device names,
# list patterns and reasons, search fields and filters rendered inert; a
# device added in the console gets its credentials once and connects; a
# deny entry added in the console kicks a connected device and refuses a
# new connect; bans listed and lifted; rules added, tested and removed;
# topics protected and rotated; every change audited as console:alice.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh"
need_file "$CONSOLE_BIN"
need_cmd curl oathtool sqlite3

# since_ms T0: milliseconds since T0 (from date +%s%N).
since_ms() {
	echo $((($(date +%s%N) - $1) / 1000000))
}
# has TEXT: the last body holds TEXT (fixed string)
has() {
	grep -qF -- "$1" "$CONSOLE_BODY"
}
# hasnt TEXT: the last body does not hold TEXT
hasnt() {
	! grep -qF -- "$1" "$CONSOLE_BODY"
}
# follow: GET the page the last redirect went to (it shows the flash)
follow() {
	local loc
	loc=$(sed -n 's/^Location: \([^[:space:]]*\).*/\1/ip' "$CONSOLE_HEADERS" | tr -d '\r')
	console_get "${loc:-/}"
}
# subscriber NAME CLIENTID FILTER: keep device NAME subscribed in the
# background and wait for its SUBACK.
subscriber() {
	start_bg "$2" timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u "$1" \
		-P "$(fresh "$1")" -i "$2" -v -t "$3"
	wait_for 5 grep -q "Sending SUBACK to $2\$" "$MOSQ_LOG"
}
# kicked CLIENTID: the broker disconnected the client on the plugin's behalf.
kicked() {
	grep -q "disconnecting client $1: no longer allowed" "$MOSQ_LOG"
}
# dbq SQL: one value from the broker database
dbq() {
	sqlite3 "$MQTTSEC_DB" "$1"
}
# creds_from_page NAME: write the credentials offered in the last body to
# $TEST_TMP/NAME.json (the data: URL of the download link)
creds_from_page() {
	sed -n 's/.*id="creds-download"[^>]*href="data:application\/json;base64,\([^"]*\)".*/\1/p' \
		"$CONSOLE_BODY" | head -n 1 | base64 -d >"$TEST_TMP/$1.json" 2>/dev/null &&
		python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(d["username"] != sys.argv[2])' \
			"$TEST_TMP/$1.json" "$1"
}

XSS1='<script>alert(1)</script>'
XSS2='"><img src=x onerror=alert(2)>'

device k1 --period 2
device k2 --period 2
acl acl add allow all k1 'k/#' >/dev/null || bail_out "cannot add k1's rule"
start_plugin_broker "plugin_opt_max_ip_failures 0" "plugin_opt_max_auth_failures 0"
console_setup "[broker]" "db = $MQTTSEC_DB" "master_key_file = $MQTTSEC_MASTER_KEY_FILE"
ok "admin added" console_user_add alice admin
ok "operator added" console_user_add oscar operator
ok "reviewer added" console_user_add rita reviewer L1
console_start || bail_out "console did not start"
ok "alice signs in" console_signin alice
ALICE_SID=$CONSOLE_SID ALICE_CSRF=$CONSOLE_CSRF

GETS=(/devices /lists /bans /acl "/acl/test?topic=a/b" /topics /audit)
POSTS=(/devices/add /devices/enable /devices/disable /devices/rekey /devices/retotp
	/devices/remove /lists/add /lists/remove /bans/lift /acl/add /acl/remove
	/topics/protect /topics/rotate /topics/unprotect)

# every page as admin
for p in "${GETS[@]}"; do
	is "$(console_get "$p")" 200 "admin: GET $p"
done
console_get /devices >/dev/null
ok "devices page lists k1 and k2" grep -q '<td class="name">k2</td>' "$CONSOLE_BODY"
ok "navigation has the broker pages" grep -q 'href="/acl"' "$CONSOLE_BODY"
console_get /bans >/dev/null
ok "bans page says pair bans are not listed" grep -q 'id="pair-bans"' "$CONSOLE_BODY"

# an operator and a reviewer: 403 on every admin URL and POST
for who in oscar rita; do
	ok "$who signs in" console_signin "$who"
	for p in "${GETS[@]}"; do
		is "$(console_get "$p")" 403 "$who: GET $p refused"
	done
	for p in "${POSTS[@]}"; do
		is "$(console_post "$p" name=k1 id=1 filter='a/#' kind=deny match=username pattern=k1)" 403 \
			"$who: POST $p refused"
	done
	console_get / >/dev/null
	ok "$who: no broker page in the navigation" bash -c "! grep -qE 'href=\"/(devices|acl|lists|bans|topics|audit)\"' '$CONSOLE_BODY'"
done
is "$(dbq "SELECT count(*) FROM devices WHERE enabled = 0")" 0 "nothing changed by them"
CONSOLE_SID=$ALICE_SID CONSOLE_CSRF=$ALICE_CSRF

# a POST without or with a wrong CSRF token
is "$(_console_curl -o /dev/null -w '%{http_code}' -H "Cookie: __Host-mqs_session=$CONSOLE_SID" \
	--data-urlencode "name=k1" "$CONSOLE_URL/devices/disable")" 403 "POST without CSRF refused"
SAVE=$CONSOLE_CSRF
CONSOLE_CSRF=AAAA$SAVE
is "$(console_post /devices/disable name=k1)" 403 "POST with a wrong CSRF token refused"
CONSOLE_CSRF=$SAVE
is "$(dbq "SELECT enabled FROM devices WHERE name = 'k1'")" 1 "k1 still enabled"

# add a device: credentials once, QR code once, then it connects
is "$(console_post /devices/add name=web1 digits=6 period=2)" 200 "device web1 added"
ok "the credentials are offered as a download" creds_from_page web1
ok "the QR code is inline SVG" grep -q '<svg id="qr"' "$CONSOLE_BODY"
ok "the page says shown once" grep -q 'id="once"' "$CONSOLE_BODY"
ok "not cached" grep -qi '^Cache-Control: no-store' "$CONSOLE_HEADERS"
SECRET=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["totp"]["secret"])' "$TEST_TMP/web1.json")
console_get /devices >/dev/null
ok "the device list shows web1" grep -q '<td class="name">web1</td>' "$CONSOLE_BODY"
ok "the device list holds no secret" hasnt "$SECRET"
ok "web1 connects with the downloaded credentials" wait_for 5 connects web1 "$(fresh web1)"
is "$(dbq "SELECT count(*) FROM audit WHERE who = 'console:alice' AND action = 'device add'")" 1 \
	"device add audited as console:alice"

# HTML/JS rendered inert
is "$(console_post /devices/add "name=$XSS1")" 303 "a device name with <script> refused"
follow >/dev/null
ok "the refusal names it escaped" has '&lt;script&gt;alert(1)&lt;/script&gt;'
ok "no raw <script> in the page" hasnt "$XSS1"
is "$(console_post /lists/add kind=deny match=clientid "pattern=$XSS2" "reason=$XSS1" ttl=1h)" 303 \
	"a deny entry with HTML in pattern and reason added"
console_get /lists >/dev/null
ok "the pattern is escaped" has '&quot;&gt;&lt;img src=x onerror=alert(2)&gt;'
ok "the reason is escaped" has '&lt;script&gt;alert(1)&lt;/script&gt;'
ok "no raw HTML from the entry" bash -c "! grep -qF -- '<img src=x' '$CONSOLE_BODY' && ! grep -qF -- '$XSS1' '$CONSOLE_BODY'"
is "$(console_get "/devices" --get --data-urlencode "q=$XSS2")" 200 "search with HTML"
ok "the search value is escaped" has 'value="&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"'
ok "no raw HTML from the search" hasnt '<img src=x'
is "$(console_get "/audit" --get --data-urlencode "who=$XSS2" --data-urlencode "action=$XSS1")" 200 "audit filters with HTML"
ok "audit filters are escaped" bash -c "! grep -qF -- '<img src=x' '$CONSOLE_BODY' && ! grep -qF -- '$XSS1' '$CONSOLE_BODY'"
is "$(console_get "/acl/test" --get --data-urlencode "topic=$XSS2" --data-urlencode "device=$XSS1")" 200 "the tester with HTML"
ok "the tester's values and its error are escaped" bash -c "! grep -qF -- '<img src=x' '$CONSOLE_BODY' && ! grep -qF -- '$XSS1' '$CONSOLE_BODY'"
is "$(console_post /acl/add effect=allow access=pub "subject=k1" "filter=$XSS2")" 303 "a rule with HTML in its filter"
console_get /acl >/dev/null
ok "the rule's filter is escaped" has '&quot;&gt;&lt;img src=x onerror=alert(2)&gt;'
ok "no raw HTML from the rule" hasnt '<img src=x'

# a deny entry added in the console reaches the running broker
ok "k1 subscribed" subscriber k1 k1-live 'k/#'
T0=$(date +%s%N)
is "$(console_post /lists/add kind=deny match=username pattern=k1 "reason=stolen device")" 303 \
	"deny username k1 added in the console"
ok "the connected k1 is kicked" wait_for 10 kicked k1-live
diag "console list add deny -> kick: $(since_ms "$T0") ms"
nok "a new connect of k1 is refused" connects k1 "$(fresh k1)"
ok "refused as on the deny list" logged "refused k1 .*on the deny list"
ID=$(dbq "SELECT id FROM list_entries WHERE match = 'username' AND pattern = 'k1'")
is "$(console_post /lists/remove "id=$ID")" 303 "the entry removed in the console"
ok "k1 connects again" wait_for 10 connects k1 "$(fresh k1)"

# disable in the console: the broker refuses, enable: accepted
is "$(console_post /devices/disable name=k2)" 303 "k2 disabled"
_k2_refused() {
	! connects k2 "$(fresh k2)"
}
ok "disabled k2 refused" wait_for 10 _k2_refused
is "$(console_post /devices/enable name=k2)" 303 "k2 enabled"
ok "k2 accepted again" wait_for 10 connects k2 "$(fresh k2)"

# bans: written by the plugin, listed with time left, lifted
NOW=$(date +%s)
dbq "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, created_at, created_by)
     VALUES ('deny', 'ip', '192.0.2.7', $((NOW + 600)), 'auth-failures', $NOW, 'mqttsec-plugin')"
console_get /bans >/dev/null
ok "the ban is listed" grep -q '<td class="pattern">192.0.2.7</td>' "$CONSOLE_BODY"
ok "with its time left" grep -qE '<td class="left">(9|10)m [0-9]+s</td>' "$CONSOLE_BODY"
console_get /lists >/dev/null
ok "the ban is not among the administrators' entries" hasnt '192.0.2.7'
BAN=$(dbq "SELECT id FROM list_entries WHERE pattern = '192.0.2.7'")
is "$(console_post /bans/lift "id=$BAN")" 303 "ban lifted"
is "$(dbq "SELECT count(*) FROM list_entries WHERE pattern = '192.0.2.7'")" 0 "its entry is gone"

# rules and the tester
is "$(console_post /acl/add effect=allow access=pub subject=web1 'filter=w/#' priority=5)" 303 "rule added"
is "$(console_get "/acl/test?topic=w/x&device=web1")" 200 "tester for web1"
ok "web1 may publish w/x" grep -q '<td class="name">web1</td><td>enabled</td><td class="yes">yes</td>' "$CONSOLE_BODY"
is "$(console_get "/acl/test?topic=w/x")" 200 "tester for every device"
ok "k1 may not" grep -q '<td class="name">k1</td><td>enabled</td><td class="no">no</td>' "$CONSOLE_BODY"
is "$(console_get "/acl?subject=web1")" 200 "rules of web1"
ok "listed" grep -q '<td class="filter">w/#</td>' "$CONSOLE_BODY"
RULE=$(dbq "SELECT id FROM acl_rules WHERE filter = 'w/#'")
is "$(console_post /acl/remove "id=$RULE")" 303 "rule removed"
is "$(dbq "SELECT count(*) FROM acl_rules WHERE filter = 'w/#'")" 0 "gone"
is "$(console_post /acl/add effect=allow access=pub subject=nosuch 'filter=w/#')" 303 "a rule for an unknown device"
follow >/dev/null
ok "refused with the library's reason" has 'unknown device nosuch'

# protected topics and keys
is "$(console_post /topics/protect 'filter=sec/#')" 303 "sec/# protected"
console_get /topics >/dev/null
ok "listed with its key id" grep -qE '<td class="filter">sec/#</td><td>[0-9]+</td>' "$CONSOLE_BODY"
is "$(console_post /topics/rotate 'filter=sec/#' grace=1h)" 303 "key rotated"
console_get /topics >/dev/null
ok "the old key is in grace" grep -q '<td>grace</td>' "$CONSOLE_BODY"
is "$(dbq "SELECT count(*) FROM audit WHERE who = 'console:alice' AND action IN ('topic protect', 'key rotate')")" 2 \
	"protect and rotate audited as console:alice"

# rekey, retotp, remove
is "$(console_post /devices/rekey name=web1 grace=0)" 200 "web1 rekeyed"
ok "the new credentials are offered" creds_from_page web1
is "$(console_post /devices/retotp name=web1)" 200 "web1 retotp"
ok "new credentials offered" creds_from_page web1
NEW=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["totp"]["secret"])' "$TEST_TMP/web1.json")
ok "the TOTP secret changed" test "$NEW" != "$SECRET"
ok "and the QR code is shown" grep -q '<svg id="qr"' "$CONSOLE_BODY"
rm -f "$TEST_TMP/web1.step"
ok "web1 connects with the new secret" wait_for 10 connects web1 "$(fresh web1)"
is "$(console_post /devices/remove name=web1)" 303 "web1 removed"
is "$(dbq "SELECT count(*) FROM devices WHERE name = 'web1'")" 0 "gone from the database"

# the audit page with filters
is "$(console_get "/audit?who=console:alice&action=device")" 200 "audit: alice's device changes"
ok "device rm shown" grep -q '<td>device rm</td>' "$CONSOLE_BODY"
ok "no list rows under action=device" hasnt '<td>list add</td>'
is "$(console_get "/audit?from=2000-01-01&until=2000-01-02")" 200 "audit: an old range"
ok "nothing in it" grep -q '<p class="count">0 rows</p>' "$CONSOLE_BODY"
is "$(console_get "/audit?from=yesterday")" 200 "audit: a bad time"
ok "says so" has 'invalid time'

done_testing
