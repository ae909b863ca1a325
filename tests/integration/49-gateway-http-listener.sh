#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 49-gateway-http-listener.sh - the gateway's HTTP listener (docs/marketing.md,
# "HTTP listener") with real signatures computed by the test
# (tests/tools/inbound_client.py): Twilio STOP opts out, a bad signature is
# refused (403) and changes nothing, LINE unfollow opts out, a LINE link code
# binds the sender's user id, STOP and unfollow opt out every recipient with
# that number / LINE id, a redelivered unfollow is acted on whatever its age,
# a stale link code and replayed LINE events change nothing, the unsubscribe
# link's GET changes nothing and its POST turns consent off, bodies over
# 64 KiB are refused (413), an idle client is cut after the timeout without
# blocking others, slow-header clients are cut at the request timeout (also a
# keep-alive connection's second request), control characters in the method
# are not logged, connections over per_ip and over max_connections are closed
# at once (a request is refused while they are open) and later requests
# succeed, and the same over TLS (a key file readable by others is refused).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"

need_cmd curl openssl
CLIENT=$TOOLS/inbound_client.py
TOKEN=twilio-auth-token-for-tests
SECRET=line-channel-secret-for-tests
ALICE_PHONE=+15550001234
BOB_LINE=U0123456789abcdef0123456789abcdef
CAROL_LINE=Ufedcba9876543210fedcba9876543210
HTTP_PORT=$(free_port)
BASE=http://127.0.0.1:$HTTP_PORT

# conf HTTP_SECTION: the gateway configuration with that [http] section
conf() {
	gw_config "[channel sms]
url = http://127.0.0.1:9
account_sid = ACtest
auth_token = $TOKEN
from = +15550000000

[channel line]
url = http://127.0.0.1:9
token = linetoken
channel_secret = $SECRET

[channel email]
url = smtp://127.0.0.1:9
from = gw@example.org" "$1"
}

_listening() {
	grep -q "http listener on $1" "$TEST_TMP/gateway.log"
}

start_mosquitto "allow_anonymous true" || bail_out "no broker"
conf "[http]
listen = 127.0.0.1:$HTTP_PORT
public_url = $BASE
max_connections = 8
per_ip = 4
timeout = 5s"
gw group add ops >/dev/null
gw recipient add alice --phone "$ALICE_PHONE" --email alice@example.org --group ops >/dev/null
gw recipient add bob --line "$BOB_LINE" --group ops >/dev/null
gw recipient add carol --email carol@example.org --group ops >/dev/null
gw recipient add kid --phone "$ALICE_PHONE" --line "$BOB_LINE" >/dev/null 2>&1
gw recipient consent alice sms on >/dev/null
gw recipient consent kid sms on >/dev/null
gw recipient consent carol email on >/dev/null
gw_start || bail_out "gateway did not start"
wait_for "$WAIT_TIMEOUT" _listening "127.0.0.1:$HTTP_PORT" || bail_out "no listener"

twilio() { "$PYTHON" "$CLIENT" twilio "$BASE/twilio/sms" "$TOKEN" "$@"; }
line() { "$PYTHON" "$CLIENT" line "$BASE/line/webhook" "$SECRET" "$@"; }
now_ms() { echo $(($(_now_us) / 1000)); }
optouts() { sql "SELECT count(*) FROM optouts o JOIN recipients r ON r.id = o.recipient_id WHERE r.name = '$1' AND o.channel = '$2'"; }

## Twilio
is "$(twilio AccountSid=ACtest MessageSid=SM0001 From="$ALICE_PHONE" Body=stop --bad-sig)" 403 \
	"twilio: a bad signature is refused (403)"
is "$(optouts alice sms)" 0 "twilio: ... and changes nothing"
is "$(twilio AccountSid=ACother MessageSid=SM0002 From="$ALICE_PHONE" Body=STOP)" 403 \
	"twilio: another account is refused (403)"
is "$(optouts alice sms)" 0 "twilio: ... and changes nothing"
is "$(twilio AccountSid=ACtest MessageSid=SM0003 From="$ALICE_PHONE" Body=" Stop ")" 200 \
	"twilio: STOP answered 200"
is "$(optouts alice sms)" 1 "twilio: STOP opted alice out of sms"
is "$(optouts kid sms)" 1 "twilio: ... and kid, who shares her number"
has() { grep -q -- "$2" <<<"$1"; }
ok "history shows the opt-out with its source" has "$(gw recipient history alice)" "optout.*twilio-stop"
ok "recipient list shows the opt-out" has "$(gw recipient list | grep '^alice')" " sms "
is "$(sql "SELECT state FROM consents c JOIN recipients r ON r.id = c.recipient_id WHERE r.name = 'alice' AND channel = 'sms'")" 0 \
	"twilio: the opt-out turned the sms consent off"
is "$(twilio AccountSid=ACtest MessageSid=SM0004 From="$ALICE_PHONE" Body=START)" 200 \
	"twilio: START answered 200"
is "$(optouts alice sms)" 0 "twilio: START lifted the opt-out"
is "$(optouts kid sms)" 0 "twilio: ... kid's too"
is "$(twilio AccountSid=ACtest MessageSid=SM0003 From="$ALICE_PHONE" Body=STOP)" 200 \
	"twilio: a replayed MessageSid is answered 200"
is "$(optouts alice sms)" 0 "twilio: ... and changes nothing"
ok "twilio: STOP from an unknown number answered with TwiML" \
	has "$(twilio -v AccountSid=ACtest MessageSid=SM0005 From=+15559999999 Body=STOP)" "<Response/>"

## LINE
is "$(line '{"events":[]}' --bad-sig)" 403 "line: a bad signature is refused (403)"
is "$(line '{"destination":"x","events":[]}')" 200 "line: the verify request (no events) is 200"
T=$(now_ms)
is "$(line '{"events":[{"type":"unfollow","timestamp":'$((T - 11 * 60 * 1000))',"webhookEventId":"EVSTALE","deliveryContext":{"isRedelivery":true},"source":{"type":"user","userId":"'$BOB_LINE'"}}]}')" 200 \
	"line: a redelivered unfollow 11 minutes old is answered 200"
is "$(optouts bob line)" 1 "line: ... and opts bob out all the same"
is "$(optouts kid line)" 1 "line: ... and kid, who has the same LINE user id"
gw recipient optout bob line --lift >/dev/null
gw recipient optout kid line --lift >/dev/null
is "$(line '{"events":[{"type":"unfollow","timestamp":'"$(now_ms)"',"webhookEventId":"EV0001","source":{"type":"user","userId":"'$BOB_LINE'"}}]}')" 200 \
	"line: unfollow answered 200"
is "$(optouts bob line)" 1 "line: unfollow opted bob out of line"
gw recipient optout bob line --lift >/dev/null
is "$(line '{"events":[{"type":"unfollow","timestamp":'"$(now_ms)"',"webhookEventId":"EV0001","source":{"type":"user","userId":"'$BOB_LINE'"}}]}')" 200 \
	"line: a replayed webhookEventId is answered 200"
is "$(optouts bob line)" 0 "line: ... and changes nothing"
ok "history shows the lift by the cli" has "$(gw recipient history bob)" "optout-lifted.*cli"

CODE=$(gw recipient link carol --line 2>/dev/null)
is "${#CODE}" 10 "recipient link prints a 10-character code"
is "$(line '{"events":[{"type":"message","timestamp":'"$(now_ms)"',"webhookEventId":"EV0002","source":{"type":"user","userId":"'$CAROL_LINE'"},"message":{"type":"text","id":"1","text":"AAAAAAAAAA"}}]}')" 200 \
	"line: a wrong code is answered 200"
nok "line: ... and binds nothing" gw recipient find --line "$CAROL_LINE"
is "$(line '{"events":[{"type":"message","timestamp":'$(($(now_ms) - 11 * 60 * 1000))',"webhookEventId":"EV0003s","source":{"type":"user","userId":"'$CAROL_LINE'"},"message":{"type":"text","id":"2","text":"'"$CODE"'"}}]}')" 200 \
	"line: a link code message 11 minutes old is answered 200"
nok "line: ... and binds nothing (the window applies to messages)" gw recipient find --line "$CAROL_LINE"
is "$(line '{"events":[{"type":"message","timestamp":'"$(now_ms)"',"webhookEventId":"EV0003","source":{"type":"user","userId":"'$CAROL_LINE'"},"message":{"type":"text","id":"2","text":" '"${CODE,,}"' "}}]}')" 200 \
	"line: the link code is answered 200"
is "$(gw recipient find --line "$CAROL_LINE")" carol "line: the code bound carol's LINE user id"
nok "the code is not in the log" grep -qi "$CODE" "$TEST_TMP/gateway.log"
nok "the LINE user id is not in the log" grep -q "$CAROL_LINE" "$TEST_TMP/gateway.log"

## unsubscribe links
CID=$(sql "SELECT id FROM recipients WHERE name = 'carol'")
CCREATED=$(sql "SELECT created_at FROM recipients WHERE name = 'carol'")
UTOK=$("$PYTHON" "$CLIENT" token "$GW_KEY" "$CID" "$CCREATED" email)
is "$(gw recipient unsubscribe-link carol email)" "$BASE/u/$UTOK" \
	"recipient unsubscribe-link prints the link (token as computed by the test)"
consent() { sql "SELECT state FROM consents c JOIN recipients r ON r.id = c.recipient_id WHERE r.name = '$1' AND channel = '$2'"; }
PAGE=$(curl -s "$BASE/u/$UTOK")
is "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/u/$UTOK")" 200 "unsubscribe: GET answers 200"
ok "unsubscribe: GET shows a form that POSTs" has "$PAGE" 'method="post"'
nok "unsubscribe: ... to its own URL (no action: works under a path prefix)" has "$PAGE" 'action='
nok "unsubscribe: the page shows no name" has "$PAGE" carol
is "$(consent carol email)" 1 "unsubscribe: GET changes nothing"
C20=${UTOK:20:1}
[ "$C20" = A ] && C20=B || C20=A
FORGED=${UTOK:0:20}$C20${UTOK:21}
is "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/u/$FORGED")" 404 "unsubscribe: a forged token is 404"
is "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/u/$FORGED")" 404 "unsubscribe: a forged token's POST is 404"
is "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/u/short")" 404 "unsubscribe: a truncated token is 404"
is "$(consent carol email)" 1 "unsubscribe: ... nothing changed"
HDRS=$(curl -s -D - -o /dev/null -X POST -d List-Unsubscribe=One-Click "$BASE/u/$UTOK")
ok "unsubscribe: POST (RFC 8058 body) answers 200" has "$HDRS" "^HTTP/1.1 200"
ok "answers carry Cache-Control: no-store" has "$HDRS" "^Cache-Control: no-store"
ok "HTML answers carry a Content-Security-Policy" has "$HDRS" "^Content-Security-Policy: default-src 'none'"
is "$(consent carol email)" 0 "unsubscribe: POST turned carol's email consent off"
ok "history shows the unsubscribe link" has "$(gw recipient history carol)" "consent-off.*unsubscribe-link"
is "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/u/$UTOK")" 200 \
	"unsubscribe: a POST without a body is accepted too"

## methods, paths, sizes
is "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/nothing")" 404 "an unknown path is 404"
is "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/twilio/sms")" 405 "GET on a webhook is 405"
head -c 70000 /dev/zero | tr '\0' a >"$TEST_TMP/big"
is "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Line-Signature: x' --data-binary @"$TEST_TMP/big" "$BASE/line/webhook")" 413 \
	"a body over 64 KiB is refused (413)"
CHUNKED=$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -H 'X-Line-Signature: x' --data-binary @"$TEST_TMP/big" "$BASE/line/webhook")
ok "a chunked body over 64 KiB is not accepted ($CHUNKED)" test "$CHUNKED" != 200 -a "$CHUNKED" != 403

## slow and too many clients
"$PYTHON" "$CLIENT" idle 127.0.0.1 "$HTTP_PORT" >"$TEST_TMP/idle.out" &
IDLE=$!
sleep 0.3
is "$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$BASE/u/$UTOK")" 200 "an idle client does not block others"
wait "$IDLE"
IDLE_S=$(cat "$TEST_TMP/idle.out")
ok "an idle client is cut after the timeout (${IDLE_S}s)" awk -v s="$IDLE_S" 'BEGIN { exit !(s >= 4.5 && s < 59) }'
# slowloris: a header byte every 0.5 s resets libmicrohttpd's idle timeout,
# the request deadline cuts it all the same
"$PYTHON" "$CLIENT" slowhdr 127.0.0.1 "$HTTP_PORT" 3 >"$TEST_TMP/slowhdr.out" &
SLOW=$!
sleep 0.3
is "$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$BASE/u/$UTOK")" 200 "slow-header clients do not block others"
wait "$SLOW"
SLOW_S=$(cat "$TEST_TMP/slowhdr.out")
ok "slow-header clients are cut at the request timeout (${SLOW_S}s)" awk -v s="$SLOW_S" 'BEGIN { exit !(s >= 4.5 && s < 59) }'
ok "... and that is logged" grep -q "not complete within the timeout: connection closed" "$TEST_TMP/gateway.log"
KEEP_S=$("$PYTHON" "$CLIENT" keepslow 127.0.0.1 "$HTTP_PORT" "/u/$UTOK")
ok "keep-alive: a slow second request is cut at the request timeout (${KEEP_S}s)" \
	awk -v s="$KEEP_S" 'BEGIN { exit !(s >= 4.5 && s < 59) }'
TRICKLE_S=$("$PYTHON" "$CLIENT" trickle 127.0.0.1 "$HTTP_PORT" /line/webhook)
ok "a body trickling in is cut after the request timeout (${TRICKLE_S}s)" \
	awk -v s="$TRICKLE_S" 'BEGIN { exit !(s >= 4.5 && s < 59) }'
"$PYTHON" "$CLIENT" hold --expect 3 127.0.0.1 "$HTTP_PORT" 0.1 127.0.0.1:7 >"$TEST_TMP/hold.out"
ok "connections over per_ip (4) are closed at once ($(head -1 "$TEST_TMP/hold.out") of 7)" \
	test "$(head -1 "$TEST_TMP/hold.out")" -ge 3
is "$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$BASE/u/$UTOK")" 200 "requests succeed again afterwards"
# 11 connections from three other addresses (4 each at most): over max_connections (8)
# (held for up to 120 s, ended by the test once the refusal was seen; the
# gateway cuts them when idle for the 5 s timeout: a request later than that
# cannot be checked, skipped, never failed)
T_HOLD=$(date +%s%N)
"$PYTHON" "$CLIENT" hold --expect 3 127.0.0.1 "$HTTP_PORT" 120 127.0.0.2:4 127.0.0.3:4 127.0.0.4:3 \
	>"$TEST_TMP/hold2.out" 2>&1 &
HOLD=$!
wait_lines "$TEST_TMP/hold2.out" 1
ok "connections over max_connections (8) are closed at once ($(head -1 "$TEST_TMP/hold2.out") of 11)" \
	test "$(head -1 "$TEST_TMP/hold2.out")" -ge 3
CODE=$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$BASE/u/$UTOK")
if [ "$CODE" != 200 ]; then
	pass "... a request from yet another address is refused while they are open"
elif [ $((($(date +%s%N) - T_HOLD) / 1000000)) -lt 5000 ]; then
	fail "... a request from yet another address is refused while they are open" "got $CODE"
else
	skip "... a request from yet another address is refused while they are open" \
		"the request came after the idle timeout may have closed them"
fi
kill "$HOLD" 2>/dev/null
wait "$HOLD"
_served() {
	[ "$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$BASE/u/$UTOK")" = 200 ]
}
ok "requests succeed again once they are closed" wait_for 10 _served
ok "the refusals are logged" grep -q "max_connections (8) reached" "$TEST_TMP/gateway.log"
ok "the access log names requests" grep -q "http: POST /u/" "$TEST_TMP/gateway.log"
nok "the access log does not hold the token" grep -q "$UTOK" "$TEST_TMP/gateway.log"
# control characters in the method (ESC [2J, BEL) do not reach the log
"$PYTHON" "$CLIENT" raw 127.0.0.1 "$HTTP_PORT" 1b5b324a0758202f752f7820485454502f312e310d0a486f73743a20780d0a436f6e6e656374696f6e3a20636c6f73650d0a0d0a >/dev/null
wait_for "$WAIT_TIMEOUT" grep -q "http: ?\[2J?X " "$TEST_TMP/gateway.log"
ok "a method with control characters is logged sanitised" grep -q "http: ?\[2J?X " "$TEST_TMP/gateway.log"
nok "... no control character reaches the log" grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$TEST_TMP/gateway.log"

## TLS
stop_bg gateway
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$TEST_TMP/tls.key" -out "$TEST_TMP/tls.pem" \
	>/dev/null 2>&1 || bail_out "no certificate"
chmod 644 "$TEST_TMP/tls.key"
TLS_PORT=$(free_port)
conf "[http]
listen = 127.0.0.1:$TLS_PORT
cert = $TEST_TMP/tls.pem
key = $TEST_TMP/tls.key
public_url = https://127.0.0.1:$TLS_PORT"
start_bg gateway "$GATEWAY_BIN" -c "$GW_CONF" run
_exited() { ! bg_alive gateway; }
ok "a TLS key readable by others is refused at start" wait_for "$WAIT_TIMEOUT" _exited
ok "... with a clear reason" grep -q "readable by group or others" "$TEST_TMP/gateway.log"
chmod 600 "$TEST_TMP/tls.key"
gw_start || bail_out "gateway did not start with TLS"
wait_for "$WAIT_TIMEOUT" _listening "127.0.0.1:$TLS_PORT" || bail_out "no TLS listener"
is "$(curl -s --cacert "$TEST_TMP/tls.pem" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$TLS_PORT/u/$UTOK")" 200 \
	"TLS: the unsubscribe page over https"
is "$("$PYTHON" "$CLIENT" --cacert "$TEST_TMP/tls.pem" twilio "https://127.0.0.1:$TLS_PORT/twilio/sms" "$TOKEN" AccountSid=ACtest MessageSid=SM0100 From="$ALICE_PHONE" Body=STOP)" 200 \
	"TLS: a signed Twilio STOP over https"
is "$(optouts alice sms)" 1 "TLS: ... opted alice out"
nok "TLS: plain HTTP is not served" curl -s -m 60 -f -o /dev/null "http://127.0.0.1:$TLS_PORT/u/$UTOK"

done_testing
