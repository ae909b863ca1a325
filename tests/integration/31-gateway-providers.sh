#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 31-gateway-providers.sh - mqttsec-gateway end to end to SMS, phone and
# LINE against a local fake provider: request shapes (docs/channels.md), retries on
# 500/500/200, Retry-After on 429, no retry on 400, LINE 409 = sent, dead
# after max_attempts, the retry key kept across retries.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"

LINE_ID=U0123456789abcdef0123456789abcdef
start_mosquitto "allow_anonymous true" || bail_out "no broker"
provider_start || bail_out "no fake provider"
URL=http://127.0.0.1:$PROV_PORT
gw_config "[channel sms]
url = $URL
account_sid = ACtest
auth_token = sekrit
from = +15550000000

[channel phone]
url = $URL
account_sid = ACtest
auth_token = sekrit
from = +15550000000

[channel line]
url = $URL
token = linetoken"
gw group add ops >/dev/null
gw recipient add alice --phone +15550001234 --line "$LINE_ID" --group ops >/dev/null
gw_start || bail_out "gateway did not start"
N=$(suback_count)
start_bg status mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -q 1 -v -t "$GW_STATUS/#"
wait_suback $((N + 1)) || bail_out "the status subscriber did not subscribe"

# reqs TEXT: requests whose body mentions TEXT
reqs() {
	"$PYTHON" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if sys.argv[2] in json.loads(l)["body"]))' \
		"$PROV_LOG" "$1" 2>/dev/null || echo 0
}
_reqs_ge() {
	[ "$(reqs "$1")" -ge "$2" ]
}
# req_of PATH_PART TEXT EXPR: EXPR (python, on j) of the first request to a
# path containing PATH_PART whose body mentions TEXT
req_of() {
	"$PYTHON" -c 'import json, sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if sys.argv[2] in j["path"] and sys.argv[3] in j["body"]:
        print(eval(sys.argv[4]))
        break' "$PROV_LOG" "$@"
}
state() {
	sql "SELECT o.state || ' ' || o.attempts FROM outbox o JOIN messages m ON m.id = o.message
	     WHERE m.msg_id = '$1' AND o.channel = '$2'"
}

## request shapes
pub alerts/a '{"id": "p-1", "group": "ops", "title": "Shape check", "body": "x < y & z",
 "channels": ["sms", "phone", "line"]}'
wait_for 10 _reqs_ge "Shape" 3
auth="Basic $(printf 'ACtest:sekrit' | base64 -w0)"
is "$(req_of Messages.json Shape 'j["method"] + " " + j["path"]')" \
	"POST /2010-04-01/Accounts/ACtest/Messages.json" "sms: POST .../Accounts/{sid}/Messages.json"
is "$(req_of Messages.json Shape 'j["headers"]["authorization"]')" "$auth" \
	"sms: HTTP Basic sid:token"
is "$(req_of Messages.json Shape 'j["form"]["To"] + " " + j["form"]["From"]')" \
	"+15550001234 +15550000000" "sms: form To and From"
ok "sms: Body carries the title" grep -q "Shape check" \
	<<<"$(req_of Messages.json Shape 'j["form"]["Body"]')"
is "$(req_of Calls.json Shape 'j["method"] + " " + j["headers"]["authorization"]')" \
	"POST $auth" "phone: POST .../Calls.json with the same auth"
ok "phone: Twiml is <Response><Say> with XML-escaped text" \
	grep -q '^<Response><Say>.*x &lt; y &amp; z.*</Say></Response>$' \
	<<<"$(req_of Calls.json Shape 'j["form"]["Twiml"]')"
is "$(req_of /v2/bot/ Shape 'j["path"] + " " + j["headers"]["authorization"]')" \
	"/v2/bot/message/push Bearer linetoken" "line: push with Bearer token"
is "$(req_of /v2/bot/ Shape 'j["json"]["to"] + " " + j["json"]["messages"][0]["type"]')" \
	"$LINE_ID text" "line: JSON to and a text message"
rk=$(req_of /v2/bot/ Shape 'j["headers"]["x-line-retry-key"]')
is "$rk" "$(sql "SELECT retry_key FROM outbox WHERE channel = 'line'")" \
	"line: X-Line-Retry-Key is the key stored with the delivery"
wait_sql "SELECT count(*) FROM outbox WHERE state = 'sent'" 3
is "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")" 3 "all three sent"

## 500, 500, then 201 -> sent on the third attempt
echo "Messages.json 500,500,201" >"$PROV_SCRIPT"
pub alerts/a '{"id": "p-2", "group": "ops", "title": "Flaky provider", "channels": ["sms"]}'
wait_sql "SELECT state FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 'p-2'" sent
is "$(state p-2 sms)" "sent 3" "500/500/201: sent after three attempts"
is "$(reqs 'Flaky')" 3 "500/500/201: three requests"

## 429 with Retry-After: 2 -> the retry waits at least 2 s
echo "Messages.json 429;ra=2,201" >"$PROV_SCRIPT"
pub alerts/a '{"id": "p-3", "group": "ops", "title": "Rate limited", "channels": ["sms"]}'
wait_sql "SELECT state FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 'p-3'" sent
is "$(state p-3 sms)" "sent 2" "429 then 201: sent on the second attempt"
gap=$(grep '^mqttsec/status/p-3 .*"state":"queued","attempts":1' "$TEST_TMP/status.log" |
	head -n 1 | "$PYTHON" -c 'import json, sys
j = json.loads(sys.stdin.read().split(" ", 1)[1]); print(j["next_attempt_at"] - j["ts"])')
ok "429: retry scheduled no sooner than Retry-After (${gap} ms)" test "${gap:-0}" -ge 1900

## 400 -> failed, never retried
echo "Messages.json 400;code=21211" >"$PROV_SCRIPT"
pub alerts/a '{"id": "p-4", "group": "ops", "title": "BadNumber", "channels": ["sms"]}'
wait_sql "SELECT state FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 'p-4'" failed
sleep 0.5 # several backoff periods
is "$(state p-4 sms)" "failed 1" "400: failed after one attempt"
is "$(reqs 'BadNumber')" 1 "400: one request only"
ok "400: the error is recorded" test -n "$(sql "SELECT last_error FROM outbox WHERE state = 'failed'")"

## LINE 409 = already accepted = sent
echo "push 409" >"$PROV_SCRIPT"
pub alerts/a '{"id": "p-5", "group": "ops", "title": "Line dup", "channels": ["line"]}'
wait_sql "SELECT state FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 'p-5'" sent
is "$(state p-5 line)" "sent 1" "line 409: sent"

## LINE 500 then 200: the retry carries the same X-Line-Retry-Key
echo "push 500,200" >"$PROV_SCRIPT"
pub alerts/a '{"id": "p-6", "group": "ops", "title": "LineRetry", "channels": ["line"]}'
wait_sql "SELECT state FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 'p-6'" sent
keys=$("$PYTHON" -c 'import json, sys
print(len({json.loads(l)["headers"]["x-line-retry-key"] for l in open(sys.argv[1])
           if "LineRetry" in json.loads(l)["body"]}))' "$PROV_LOG")
is "$(reqs 'LineRetry') $keys" "2 1" "line retry: two requests, one retry key"

## always 503 -> dead after max_attempts (5)
echo "Calls.json 503" >"$PROV_SCRIPT"
pub alerts/a '{"id": "p-7", "group": "ops", "title": "NeverAnswers", "channels": ["phone"]}'
wait_sql "SELECT state FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 'p-7'" dead
is "$(state p-7 phone)" "dead 5" "503 forever: dead after 5 attempts"
is "$(reqs 'NeverAnswers')" 5 "503 forever: five requests"
ok "dead is published" grep -q '^mqttsec/status/p-7 .*"state":"dead"' "$TEST_TMP/status.log"
ok "outbox --status dead lists it" grep -q p-7 <<<"$(gw outbox --status dead)"

done_testing
