#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 37-gateway-totp.sh - the gateway as a device of a broker running the
# mqttsec plugin: it connects with a fresh TOTP code (also after a broker
# restart and after its own quick restart, never reusing an accepted time
# step), opens payloads sealed on protected topics with the topic keys of
# its credentials, and records the publisher (envelope origin).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$PLUGIN_SO" "$ACL_BIN" "$DEVICE_BIN"
. "$top_srcdir/tests/integration/gateway-lib.sh"

export MQTTSEC_DB=$TEST_TMP/mqttsec.db
export MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/master.key
need_python_module cryptography
acl() {
	"$ACL_BIN" "$@" >/dev/null
}
acl init || bail_out "mqttsec-acl init failed"
acl device add gateway --period 2 --out "$GW_CREDS"
acl device add sensor1 --period 2 --out "$TEST_TMP/sensor1.json"
acl device add op --period 2 --out "$TEST_TMP/op.json"
acl topic protect 'alerts/#'
acl topic protect 'mqttsec/status/#'
acl device add watcher --period 2 --out "$TEST_TMP/watcher.json"
acl acl add allow sub watcher 'mqttsec/status/#'
acl acl add allow read watcher 'mqttsec/status/#'
acl acl add allow sub gateway 'alerts/#'
acl acl add allow read gateway 'alerts/#'
acl acl add allow sub gateway 'plain/#'
acl acl add allow read gateway 'plain/#'
acl acl add allow all gateway 'mqttsec/status/#'
acl acl add allow pub sensor1 'alerts/#'
acl acl add allow pub sensor1 'plain/#'
acl acl add allow pub op 'mqttsec/status/+/ack'
acl key export 'alerts/#' --for gateway --out "$GW_CREDS" || bail_out "key export failed"
acl key export 'mqttsec/status/#' --for gateway --out "$GW_CREDS" || bail_out "key export failed"
acl key export 'mqttsec/status/#' --for watcher --out "$TEST_TMP/watcher.json" ||
	bail_out "key export failed"
ok "the gateway's credentials hold TOTP and the topic key" \
	"$PYTHON" -c 'import json, sys
c = json.load(open(sys.argv[1]))
assert c["totp"]["secret"] and any(k["use"] == "topic" for k in c["keys"])' "$GW_CREDS"
# one more topic key, as if the broker re-sealed plain/# with it
PLAIN_KEY=$(random_key)
"$PYTHON" - "$GW_CREDS" "$PLAIN_KEY" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1]))
c["keys"].append({"id": 4000000001, "key": sys.argv[2], "use": "topic", "topic": "plain/#"})
fd = os.open(sys.argv[1] + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(c).encode())
os.close(fd)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
PY

start_mosquitto "plugin $PLUGIN_SO" "plugin_opt_db_file $MQTTSEC_DB" \
	"plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE" || bail_out "no broker"
GW_DELIVERY="ack_timeout = 10m
escalation = email"
gw_config "[route plain]
topic = plain/#
kind = alert
ack_from = op"
gw group add ops >/dev/null
gw recipient add alice --email alice@example.com --group ops >/dev/null
gw_start || bail_out "gateway did not connect with its TOTP code"
ok "the broker accepted the gateway's TOTP code" \
	grep -q "New client connected .* as mqttsec-gateway-gateway .*u'gateway'" "$MOSQ_LOG"

spooled() {
	ls "$TEST_TMP/spool" 2>/dev/null | grep -c "^$1-" || true
}
_spooled() {
	[ "$(spooled "$1")" -ge 1 ]
}
seal() {
	"$PYTHON" "$ENVELOPE_PY" seal --key-b64 "$PLAIN_KEY" --key-id 4000000001 --topic "$1" \
		--origin sensor1
}

# a device watching the (protected) status topic
start_bg watcher "$DEVICE_BIN" -c "$TEST_TMP/watcher.json" subscribe -h 127.0.0.1 \
	-p "$MOSQ_PORT" -t 'mqttsec/status/#' -q 1
sleep 0.5

## envelopes for a key in the credentials are opened, bound to their topic
printf '%s' '{"id": "t-1", "group": "ops", "title": "Sealed hello"}' | seal plain/x \
	>"$TEST_TMP/t1.env"
ok "publish an envelope (as the broker would re-seal it)" \
	dpub sensor1 plain/x -f "$TEST_TMP/t1.env" --no-seal
wait_for 10 _spooled t-1
is "$(spooled t-1)" 1 "the gateway opened and delivered it"
is "$(sql "SELECT origin FROM messages WHERE msg_id = 't-1'")" sensor1 \
	"the publisher (envelope origin) is recorded"
printf '%s' '{"id": "t-x", "group": "ops", "title": "Moved"}' | seal plain/y >"$TEST_TMP/tx.env"
dpub sensor1 plain/x -f "$TEST_TMP/tx.env" --no-seal
wait_for 5 grep -q "cannot open envelope" "$TEST_TMP/gateway.log"
ok "an envelope sealed for another topic is dropped" \
	grep -q "dropped message on plain/x: cannot open envelope" "$TEST_TMP/gateway.log"
is "$(sql "SELECT count(*) FROM messages WHERE msg_id = 't-x'")" 0 "and nothing is queued"
wait_for 10 grep -q '"id":"t-1".*"state":"sent"' "$TEST_TMP/watcher.log"
ok "status messages on a protected topic are sealed by the gateway and reach a subscriber" \
	grep -q '"id":"t-1".*"state":"sent"' "$TEST_TMP/watcher.log"
nok "the broker dropped no status message of the gateway" \
	grep -qi "mqttsec-gateway-gateway.*\(dropped\|refused\)" "$MOSQ_LOG"

## end to end through the plugin's re-sealing (when the plugin does it)
dpub sensor1 alerts/room1 -m '{"id": "t-2", "group": "ops", "title": "Via plugin"}' --seal
wait_for 5 _spooled t-2
if [ "$(spooled t-2)" -ge 1 ]; then
	is "$(sql "SELECT origin FROM messages WHERE msg_id = 't-2'")" sensor1 \
		"protected topic: re-sealed by the broker, opened by the gateway"
else
	skip "protected topic end to end" "the broker plugin does not re-seal protected topics yet"
fi

## broker restart: reconnect with a fresh code
gw_restart_broker || bail_out "broker did not restart"
_reconnected() {
	[ "$(grep -c "connected to broker" "$TEST_TMP/gateway.log")" -ge 2 ]
}
wait_for 15 _reconnected
ok "reconnected after a broker restart" _reconnected
printf '%s' '{"id": "t-3", "group": "ops", "title": "After restart"}' | seal plain/x \
	>"$TEST_TMP/t3.env"
ok "publish after the restart" dpub sensor1 plain/x -f "$TEST_TMP/t3.env" --no-seal
wait_for 10 _spooled t-3
is "$(spooled t-3)" 1 "delivered after the reconnect"

## a quick gateway restart does not reuse the accepted time step
stop_bg gateway
gw_start gateway2 || bail_out "gateway did not reconnect after its restart"
nok "no refused connect (replayed code) on a quick restart" \
	grep -qi "not authori" "$TEST_TMP/gateway2.log"
nok "the broker logged no refusal for the gateway" grep -q "refused gateway" "$MOSQ_LOG"

## acknowledgements from a device allowed to acknowledge (ack_from) stop escalation
printf '%s' '{"id": "t-4", "severity": "critical", "group": "ops", "title": "Critical"}' |
	seal plain/x >"$TEST_TMP/t4.env"
ok "critical alert" dpub sensor1 plain/x -f "$TEST_TMP/t4.env" --no-seal
wait_for 10 _spooled t-4
ok "op acknowledges (sealed: the status tree is protected)" \
	dpub op mqttsec/status/t-4/ack -m ok --seal
wait_sql "SELECT state FROM escalations" acked
is "$(sql "SELECT state FROM escalations")" acked "the ack reached the gateway"

done_testing
