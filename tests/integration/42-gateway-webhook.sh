#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 42-gateway-webhook.sh - alerts to the webhook channel (docs/gateway.md,
# "Webhook channel") over HTTPS with a self-signed CA: every POST signed and
# verified by tests/tools/webhook_server.py, 500 retried (Retry-After),
# 400 failed without a retry, an unreachable endpoint retried until it is
# back, the payload sealed at rest and cleared once delivered, nothing
# secret in the log, and the verifier itself refusing tampered requests.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"

need_cmd openssl
GW_MAX_ATTEMPTS=1000 # the unreachable case must not go dead before the server is back
SECRET=webhook-test-secret-0123456789
WH_DIR=$TEST_TMP/webhook
WH_LOG=$WH_DIR/requests.jsonl

## a CA and a server certificate for 127.0.0.1 (openssl CLI)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mqttsec test CA" \
	-keyout "$TEST_TMP/ca.key" -out "$TEST_TMP/ca.pem" >/dev/null 2>&1 || bail_out "no CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$TEST_TMP/srv.key" \
	-out "$TEST_TMP/srv.csr" >/dev/null 2>&1 || bail_out "no server key"
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$TEST_TMP/srv.ext"
openssl x509 -req -in "$TEST_TMP/srv.csr" -CA "$TEST_TMP/ca.pem" -CAkey "$TEST_TMP/ca.key" \
	-CAcreateserial -days 2 -extfile "$TEST_TMP/srv.ext" -out "$TEST_TMP/srv.pem" \
	>/dev/null 2>&1 || bail_out "no server certificate"

WH_PORT=$(free_port)
wh_start() {
	rm -f "$TEST_TMP/wh.port"
	start_bg webhook "$PYTHON" "$TOOLS/webhook_server.py" --secret "$SECRET" --dir "$WH_DIR" \
		--port "$WH_PORT" --port-file "$TEST_TMP/wh.port" --tls-cert "$TEST_TMP/srv.pem" \
		--tls-key "$TEST_TMP/srv.key" "$@"
	wait_for "$WAIT_TIMEOUT" _file_nonempty "$TEST_TMP/wh.port"
}

start_mosquitto "allow_anonymous true" || bail_out "no broker"
wh_start --fail-500 1 --fail-400-id w-bad || bail_out "no webhook server"
gw_config "[channel webhook]
url = https://127.0.0.1:$WH_PORT/ingest
secret = $SECRET
cafile = $TEST_TMP/ca.pem
timeout = 5"
gw group add ops >/dev/null
gw_start || bail_out "gateway did not start"

# reqs ID: requests logged for ID; wh EXPR ID: EXPR (python, on j) of the
# last request of ID
reqs() {
	"$PYTHON" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["id"] == sys.argv[2]))' \
		"$WH_LOG" "$1" 2>/dev/null || echo 0
}
wh() {
	"$PYTHON" -c 'import json, sys
j = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["id"] == sys.argv[3]][-1]
print(eval(sys.argv[2]))' "$WH_LOG" "$@"
}
state() {
	sql "SELECT o.state || ' ' || o.attempts FROM outbox o JOIN messages m ON m.id = o.message
	     WHERE m.msg_id = '$1' AND o.channel = 'webhook'"
}
q_state() {
	sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
	     WHERE m.msg_id = '$1' AND o.channel = 'webhook'"
}

## one signed POST per alert, 500 first then 2xx
pub alerts/a '{"id": "w-1", "group": "ops", "title": "Webhook title", "body": "b1",
 "channels": ["webhook"]}'
wait_sql "SELECT state FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 'w-1'" \
	sent 20
is "$(state w-1)" "sent 2" "500 then 200: sent on the second attempt"
is "$(reqs w-1)" 2 "two POSTs"
is "$(sql "SELECT count(*) FROM outbox")" 1 "one outbox row for the alert (no recipient)"
is "$(wh 'str(j["verified"]) + " " + j["kind"] + " " + j["topic"] + " " + j["content_type"]' w-1)" \
	"True alert alerts/a application/json" "signed POST verified; kind, topic, content type"
is "$(wh 'j["path"]' w-1)" "/ingest" "POST to the configured url"
is "$("$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1]))
print(j["id"], j["group"], j["title"], j["body"], j["channels"])' "$WH_DIR/bodies/w-1")" \
	"w-1 ops Webhook title b1 ['webhook']" "the body is the alert JSON"
is "$(sql "SELECT count(*) FROM messages WHERE msg_id = 'w-1' AND body_sealed IS NULL")" 1 \
	"delivered payload cleared from the store"

## 400: failed, never retried
pub alerts/a '{"id": "w-bad", "group": "ops", "title": "Refused", "channels": ["webhook"]}'
wait_sql "SELECT state FROM outbox o JOIN messages m ON m.id = o.message
	  WHERE m.msg_id = 'w-bad'" failed 20
sleep 1
is "$(state w-bad) $(reqs w-bad)" "failed 1 1" "400: failed after one POST"

## unreachable endpoint: retried (queued, sealed at rest) until it is back
stop_bg webhook
pub alerts/a '{"id": "w-3", "group": "ops", "title": "WhileDown", "body": "secret-text-42",
 "channels": ["webhook"]}'
_retried() {
	[ "$(sql "SELECT o.attempts >= 2 AND o.state = 'queued' FROM outbox o JOIN messages m
	          ON m.id = o.message WHERE m.msg_id = 'w-3'")" = 1 ]
}
ok "unreachable: retried, still queued" wait_for 20 _retried
plain=$(printf 'secret-text-42' | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
is "$(sql "SELECT body_sealed IS NOT NULL AND instr(hex(body_sealed), '$plain') = 0
           FROM messages WHERE msg_id = 'w-3'")" 1 "payload sealed at rest, not plaintext"
ok "the error names the transfer" grep -q curl <<<"$(sql "SELECT o.last_error FROM outbox o
	JOIN messages m ON m.id = o.message WHERE m.msg_id = 'w-3'")"
wh_start || bail_out "webhook server did not restart"
wait_sql "SELECT state FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 'w-3'" \
	sent 30
is "$(q_state w-3) $(wh 'j["verified"]' w-3)" "sent True" "back up: delivered and verified"

## the log holds neither the secret nor a body nor a signature
nok "no secret in the gateway log" grep -q "$SECRET" "$TEST_TMP/gateway.log"
nok "no body in the gateway log" grep -q "secret-text-42" "$TEST_TMP/gateway.log"
nok "no signature in the gateway log" grep -q "v1=" "$TEST_TMP/gateway.log"
nok "the server never saw a bad signature" grep -q '"verified": false' "$WH_LOG"

## the verifier refuses tampered requests (unit level) ...
ok "verifier self-test: tampered body, topic, signature, old timestamp refused" \
	"$PYTHON" "$TOOLS/webhook_server.py" --self-test
## ... and the live server answers 403 to a forged POST
code=$("$PYTHON" - "$WH_PORT" "$TEST_TMP/ca.pem" <<'PY'
import ssl, sys, time, urllib.request, urllib.error
ctx = ssl.create_default_context(cafile=sys.argv[2])
req = urllib.request.Request("https://127.0.0.1:%s/ingest" % sys.argv[1], data=b"{}",
    headers={"X-Mqttsec-Id": "forged", "X-Mqttsec-Kind": "alert", "X-Mqttsec-Topic": "t",
             "X-Mqttsec-Origin": "", "X-Mqttsec-Timestamp": str(int(time.time())),
             "X-Mqttsec-Signature": "v1=" + "0" * 64})
try:
    print(urllib.request.urlopen(req, context=ctx, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
)
is "$code" 403 "a forged signature is refused (403)"
ok "status shows the outbox" grep -q "^sent  *2" <<<"$(gw status)"

done_testing
