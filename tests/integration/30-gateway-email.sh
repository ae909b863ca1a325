#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 30-gateway-email.sh - mqttsec-gateway end to end over SMTP: one alert
# gives one email per group member with the right subject, sender and
# recipient; the same id twice is delivered once; bad alerts are dropped
# with a reason; the database holds no plaintext address, title or body
# (nor its WAL); listings are
# masked; configuration errors name file:line.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"
need_python_module aiosmtpd

start_mosquitto "allow_anonymous true" || bail_out "no broker"
smtp_start || bail_out "no smtp recorder"
gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = alerts@example.com"

## configuration checks
ok "config is valid" gw check
sed 's/^master_key_file = .*//' "$GW_CONF" >"$TEST_TMP/bad.conf"
"$GATEWAY_BIN" -c "$TEST_TMP/bad.conf" check >/dev/null 2>"$TEST_TMP/bad.err"
is "$?" 78 "missing required key exits EX_CONFIG"
ok "missing key is reported with file:line" \
	grep -q "bad.conf:[0-9]*: \[store\] missing required key master_key_file" "$TEST_TMP/bad.err"
cat "$GW_CONF" >"$TEST_TMP/warn.conf"
printf 'colour = blue\n' >>"$TEST_TMP/warn.conf"
"$GATEWAY_BIN" -c "$TEST_TMP/warn.conf" check >/dev/null 2>"$TEST_TMP/warn.err"
ok "unknown key is warned with file:line" \
	grep -q "warn.conf:[0-9]*: unknown key colour in \[channel email\]" "$TEST_TMP/warn.err"

## recipients
ok "group add" gw group add ops
ok "recipient add alice" gw recipient add alice --email alice@example.com \
	--phone "+1 555 000 1234" --group ops
ok "recipient add bob" gw recipient add bob --email bob@example.net --group ops
ok "recipient add carol (phone only)" gw recipient add carol --phone +15550009999 --group ops
nok "recipient add with a bad email is refused" gw recipient add dave --email nobody
nok "recipient add to a missing group is refused" gw recipient add erin --email e@x.org \
	--group nope
list=$(gw recipient list)
ok "recipient list shows masked email" grep -q 'a\*\*\*@e\*\*\*\.com' <<<"$list"
ok "recipient list shows masked phone" grep -q '+1\*\*\*\*\*\*1234' <<<"$list"
nok "recipient list shows no full address" grep -Eq 'alice@|bob@|5550001234|5550009999' <<<"$list"
is "$(gw recipient find --email ALICE@example.com)" alice "lookup by email (HMAC column)"

## one alert -> one email per member with an email address
gw_start || bail_out "gateway did not start"
N=$(suback_count)
start_bg status mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -q 1 -v -t "$GW_STATUS/#"
wait_suback $((N + 1)) || bail_out "the status subscriber did not subscribe"
pub alerts/room3 '{"id": "a-1001", "severity": "warning", "group": "ops",
 "title": "Server room temperature", "body": "41.5 C in room 3"}'
wait_lines "$SMTP_LOG" 2 || fail "two emails arrive" "$(cat "$SMTP_LOG" 2>/dev/null)"
is "$(lines "$SMTP_LOG")" 2 "two emails (alice, bob; carol has no email)"
rcpts=$("$PYTHON" -c 'import json, sys
print(" ".join(sorted(r for l in open(sys.argv[1]) for r in json.loads(l)["rcpt_tos"])))' "$SMTP_LOG")
is "$rcpts" "alice@example.com bob@example.net" "one transaction per recipient, right recipients"
is "$(jfield "$SMTP_LOG" 1 'j["subject"]')" "Server room temperature" "subject = title"
is "$(jfield "$SMTP_LOG" 1 'j["mail_from"]')" "alerts@example.com" "MAIL FROM = from"
ok "body carries the alert body" grep -q "41.5 C in room 3" "$SMTP_LOG"
is "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")" 2 "outbox: two rows sent"
wait_for 5 grep -q '"state":"sent"' "$TEST_TMP/status.log"
is "$(grep -c "^$GW_STATUS/a-1001 .*\"state\":\"sent\"" "$TEST_TMP/status.log")" 2 \
	"status: two 'sent' messages on $GW_STATUS/a-1001"
ok "status: 'queued' and 'sending' were published too" \
	grep -q '"state":"queued".*' "$TEST_TMP/status.log"

## same id twice -> delivered once
pub alerts/room3 '{"id": "a-1001", "group": "ops", "title": "Again"}'
wait_for 5 grep -q "a-1001: duplicate id" "$TEST_TMP/gateway.log"
ok "duplicate id is recognised" grep -q "a-1001: duplicate id" "$TEST_TMP/gateway.log"
pub alerts/room3 '{"id": "a-1002", "group": "ops", "title": "Marker", "channels": ["email"]}'
wait_lines "$SMTP_LOG" 4
is "$(grep -c '"Again"' "$SMTP_LOG")" 0 "the duplicate sent nothing"
is "$(lines "$SMTP_LOG")" 4 "the next alert is delivered (2 more emails)"

## invalid alerts are dropped with a reason
pub alerts/x '{"id": "a-2", "group": "ops"}'
pub alerts/x 'not json'
pub alerts/x '{"id": "a-3", "group": "ops", "title": "t", "severity": "urgent"}'
pub alerts/x '{"id": "a/4", "group": "ops", "title": "t"}'
wait_for 5 grep -q 'severity' "$TEST_TMP/gateway.log"
ok "missing title is refused" grep -q 'dropped alert on alerts/x: missing "title"' \
	"$TEST_TMP/gateway.log"
ok "non-JSON is refused" grep -q 'dropped alert on alerts/x: payload is not a JSON object' \
	"$TEST_TMP/gateway.log"
ok "bad severity is refused" grep -q '"severity" must be info, warning or critical' \
	"$TEST_TMP/gateway.log"
ok "an id with / is refused" grep -q '"id" missing or not' "$TEST_TMP/gateway.log"

## nothing in the database reveals an address, an alert's title or body
ok "sanity: grep finds stored message ids in the database files" \
	grep -aq "a-1001" "$GW_DB" "$GW_DB-wal"
for f in "$GW_DB" "$GW_DB-wal" "$GW_DB-shm"; do
	[ -f "$f" ] || continue
	nok "no plaintext address in $(basename "$f")" \
		grep -aEq 'alice@example\.com|bob@example\.net|5550001234|5550009999' "$f"
	nok "no alert title or body in $(basename "$f") after delivery" \
		grep -aEq 'Server room temperature|41\.5 C in room 3|Marker' "$f"
done
sqlite3 "$GW_DB" .dump >"$TEST_TMP/dump.sql"
nok "no plaintext address in a dump of the database" \
	grep -aEq 'alice@example\.com|bob@example\.net|5550001234|5550009999' "$TEST_TMP/dump.sql"
nok "no alert title or body in a dump of the database" \
	grep -aEq 'Server room temperature|41\.5 C in room 3|Marker' "$TEST_TMP/dump.sql"
nok "no address in the gateway log" grep -Eq 'alice@|bob@|555000' "$TEST_TMP/gateway.log"
out=$(gw outbox --status sent)
ok "outbox --status sent lists deliveries" grep -q "a-1001" <<<"$out"
nok "outbox shows no address" grep -Eq 'alice@|bob@' <<<"$out"

done_testing
