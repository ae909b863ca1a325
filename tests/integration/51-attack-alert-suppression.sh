#!/bin/bash
# 51-attack-alert-suppression.sh - a device allowed to publish on an alert
# route tries to silence other alerts (issue 10, item 2), against a broker
# running the mqttsec plugin and the gateway:
#
#   - it pre-claims the id the gateway gives its next sensor alert (the old
#     predictable sensor-<route>-r<n>-<hash(topic)>-<seq>): the critical
#     sensor alert is still delivered;
#   - it publishes first the id device B will use: B's critical alert is
#     still delivered (ids live in a namespace: route + publisher);
#   - an alert for an unknown group is refused and consumes nothing: a
#     later valid alert with that id is delivered;
#   - acknowledgements: an unsealed ack (status topic not protected yet) and
#     a sealed ack from a device not allowed to acknowledge do not stop the
#     escalation; an ack sealed by the recipient's device does.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$PLUGIN_SO" "$ACL_BIN" "$DEVICE_BIN"
. "$top_srcdir/tests/integration/gateway-lib.sh"

export MQTTSEC_DB=$TEST_TMP/mqttsec.db
export MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/master.key
acl() {
	"$ACL_BIN" "$@" >/dev/null
}
acl init || bail_out "mqttsec-acl init failed"
acl device add gateway --period 2 --out "$GW_CREDS"
for d in devA devB alicephone; do
	acl device add "$d" --period 2 --out "$TEST_TMP/$d.json"
done
acl topic protect 'alerts/#'
acl acl add allow sub gateway 'alerts/#'
acl acl add allow read gateway 'alerts/#'
acl acl add allow sub gateway 'sensors/#'
acl acl add allow read gateway 'sensors/#'
acl acl add allow all gateway 'mqttsec/status/#'
acl acl add allow pub devA 'alerts/#'
acl acl add allow pub devB 'alerts/#'
acl acl add allow pub devB 'sensors/#'
# the attacker may publish acknowledgements (a console device would)
acl acl add allow pub devA 'mqttsec/status/+/ack'
acl acl add allow pub alicephone 'mqttsec/status/+/ack'
acl key export 'alerts/#' --for gateway --out "$GW_CREDS" || bail_out "key export failed"

start_mosquitto "plugin $PLUGIN_SO" "plugin_opt_db_file $MQTTSEC_DB" \
	"plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE" || bail_out "no broker"
GW_DELIVERY="ack_timeout = 120s
escalation = email, sms"
gw_config '[route room]
topic = sensors/+/temp
kind = sensor
group = ops
rule = value > 40 => alert severity=critical title="Room hot"'
gw group add ops >/dev/null
gw recipient add alice --email alice@example.com --phone +15550001234 --group ops \
	--device alicephone >/dev/null 2>&1 ||
	gw recipient add alice --email alice@example.com --phone +15550001234 --group ops \
		>/dev/null
gw_start || bail_out "gateway did not start"

# next_step NAME: wait until NAME's last used TOTP step (period 2) is over.
next_step() {
	local last now
	last=$(cat "$TEST_TMP/$1.step" 2>/dev/null || echo -1)
	while :; do
		now=$(($(date +%s) / 2))
		[ "$now" -gt "$last" ] && break
		sleep 0.2
	done
	echo "$now" >"$TEST_TMP/$1.step"
}
# dpub NAME TOPIC ARGS...: mqttsec-device publish as NAME (QoS 1)
dpub() {
	local name=$1 topic=$2
	shift 2
	next_step "$name"
	timeout 10 "$DEVICE_BIN" -c "$TEST_TMP/$name.json" publish -h 127.0.0.1 \
		-p "$MOSQ_PORT" -t "$topic" -q 1 "$@"
}
# delivered TITLE: deliveries queued for messages titled TITLE
delivered() {
	sql "SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message
	     WHERE m.title = '$1'"
}
_delivered() {
	[ "$(delivered "$1")" -ge 1 ]
}
# esc ID PUBLISHER: escalation state of message ID from PUBLISHER
esc() {
	sql "SELECT e.state FROM escalations e JOIN messages m ON m.id = e.message
	     WHERE m.msg_id = '$1' AND m.origin = '$2'"
}
_esc_is() {
	[ "$(esc "$1" "$2")" = "$3" ]
}
_gwlog() {
	grep -q -- "$2" "$TEST_TMP/$1.log"
}

## pre-claiming the predictable id of the next sensor alert
HASH=$("$PYTHON" -c 'h = 2166136261
for c in b"sensors/1/temp":
    h = ((h ^ c) * 16777619) & 0xffffffff
print("%08x" % h)')
for seq in 1 2; do
	dpub devA alerts/x --seal -m "{\"id\": \"sensor-room-r1-$HASH-$seq\", \"group\": \"ops\",
 \"title\": \"decoy $seq\"}"
done
wait_sql "SELECT count(*) FROM messages WHERE title LIKE 'decoy %'" 2 ||
	diag "the decoys did not arrive"
ok "sensor reading over the limit" dpub devB sensors/1/temp --no-seal -m 45
wait_for 15 _delivered "Room hot"
is "$(delivered "Room hot")" 1 "the critical sensor alert is delivered despite the pre-claimed ids"
nok "its id is not the predictable one" grep -q "message sensor-room-r1-$HASH-1 already exists" \
	"$TEST_TMP/gateway.log"
is "$(sql "SELECT count(*) FROM messages WHERE title = 'Room hot'
           AND msg_id GLOB 'sensor-room-[0-9a-f]*' AND length(msg_id) = 44")" 1 \
	"sensor alert id: sensor-<route>-<32 random hex digits>"
is "$(sql "SELECT e.state FROM escalations e JOIN messages m ON m.id = e.message
           WHERE m.title = 'Room hot'")" waiting "and its escalation clock runs"

## publishing first the id device B will use
dpub devA alerts/a --seal -m '{"id": "b-1001", "group": "ops", "title": "decoy b"}'
wait_sql "SELECT count(*) FROM messages WHERE msg_id = 'b-1001'" 1 || diag "decoy b did not arrive"
dpub devB alerts/b --seal -m '{"id": "b-1001", "severity": "critical", "group": "ops",
 "title": "Real fire"}'
wait_for 15 _delivered "Real fire"
is "$(delivered "Real fire")" 1 "B's critical alert is delivered although A used its id first"
is "$(esc b-1001 devB)" waiting "B's alert escalates if nobody acknowledges"
out=$(gw outbox)
ok "outbox tells the two b-1001 apart (route:publisher)" \
	bash -c 'grep -q "b-1001 *alerts:devA " <<<"$1" && grep -q "b-1001 *alerts:devB " <<<"$1"' \
	_ "$out"

## an alert for an unknown group consumes nothing
dpub devB alerts/b --seal -m '{"id": "g-1", "group": "nosuchgroup", "title": "Lost"}'
wait_for 10 _gwlog gateway "refused alert g-1"
ok "refused: no such group" _gwlog gateway "refused alert g-1 .*no group nosuchgroup"
is "$(sql "SELECT count(*) FROM messages WHERE msg_id = 'g-1'")" 0 "nothing recorded"
dpub devB alerts/b --seal -m '{"id": "g-1", "group": "ops", "title": "Found"}'
wait_for 15 _delivered "Found"
is "$(delivered "Found")" 1 "a later valid alert with that id is delivered"

## an unsealed acknowledgement (status topic not protected) is refused
dpub devB alerts/b --seal -m '{"id": "c-1", "severity": "critical", "group": "ops",
 "title": "Flood"}'
wait_for 15 _delivered "Flood"
dpub devA mqttsec/status/c-1/ack --no-seal -m '{"by": "alice"}'
wait_for 10 _gwlog gateway "refused acknowledgement of c-1"
ok "refused and logged: not sealed" _gwlog gateway "refused acknowledgement of c-1: not sealed"
is "$(esc c-1 devB)" waiting "the unsealed ack did not stop the escalation"

## protect the status tree: acks are sealed, the broker stamps the origin
before=$(grep -c 'mqttsec: reloaded' "$MOSQ_LOG")
acl topic protect 'mqttsec/status/#'
_reloaded() {
	[ "$(grep -c 'mqttsec: reloaded' "$MOSQ_LOG")" -gt "$before" ]
}
wait_for 10 _reloaded || diag "the broker did not reload"
acl key export 'mqttsec/status/#' --for gateway --out "$GW_CREDS" || bail_out "key export failed"
stop_bg gateway
gw_start gateway2 || bail_out "gateway did not restart"

dpub devB alerts/b --seal -m '{"id": "c-2", "severity": "critical", "group": "ops",
 "title": "Smoke"}'
wait_for 15 _delivered "Smoke"
dpub devA mqttsec/status/c-2/ack --seal -m '{"by": "alice"}'
wait_for 10 _gwlog gateway2 "refused acknowledgement of c-2"
ok "a sealed ack from a device not allowed to acknowledge is refused and logged" \
	_gwlog gateway2 "refused acknowledgement of c-2 by device devA: not allowed"
is "$(esc c-2 devB)" waiting "it did not stop the escalation"

dpub alicephone mqttsec/status/c-2/ack --seal -m '{"by": "alice"}'
wait_for 15 _esc_is c-2 devB acked
is "$(esc c-2 devB)" acked "an ack sealed by the recipient's device stops the escalation"
ok "logged with the device" _gwlog gateway2 "message c-2 acknowledged by device alicephone"
nok "no address in the gateway logs" grep -q "alice@example.com\|5550001234" \
	"$TEST_TMP/gateway.log" "$TEST_TMP/gateway2.log"

done_testing
