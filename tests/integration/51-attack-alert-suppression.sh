#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
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

. "$top_srcdir/tests/integration/alert-attack-lib.sh"
alert_attack_start

## pre-claiming the predictable id of the next sensor alert
HASH=$("$PYTHON" -c 'h = 2166136261
for c in b"sensors/1/temp":
    h = ((h ^ c) * 16777619) & 0xffffffff
print("%08x" % h)')
for seq in 1 2; do
	dpub devA alerts/x --seal -m "{\"id\": \"sensor-room-r1-$HASH-$seq\", \"group\": \"ops\",
 \"title\": \"decoy $seq\"}"
done
wait_sql "SELECT count(*) FROM messages WHERE msg_id LIKE 'sensor-room-r1-$HASH-%'" 2 ||
	diag "the decoys did not arrive"
ok "sensor reading over the limit" dpub devB sensors/1/temp --no-seal -m 45
wait_for 15 _delivered "Room hot"
is "$(delivered "Room hot")" 1 "the critical sensor alert is delivered despite the pre-claimed ids"
nok "its id is not the predictable one" grep -q "message sensor-room-r1-$HASH-1 already exists" \
	"$TEST_TMP/gateway.log"
is "$(sql "SELECT count(*) FROM messages WHERE kind = 'sensor'
           AND msg_id GLOB 'sensor-room-[0-9a-f]*' AND length(msg_id) = 44")" 1 \
	"sensor alert id: sensor-<route>-<32 random hex digits>"
is "$(sql "SELECT e.state FROM escalations e JOIN messages m ON m.id = e.message
           WHERE m.kind = 'sensor'")" waiting "and its escalation clock runs"

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
