#!/bin/bash
# 61-attack-ack-namespace.sh - a device allowed to publish alerts (devA)
# publishes a decoy with the id of devB's real critical alert, in its own
# namespace.  The recipient acknowledges the decoy; the acknowledgement
# names the namespace it is for (the "route" and "publisher" of the status
# message), so the real alert keeps escalating; one naming no namespace
# while the id waits in two is refused (the alerts go on escalating).  Before, an ack named the id
# only and stopped the escalation of every namespace, the real alert's too.
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
acl topic protect 'mqttsec/status/#'
acl key export 'mqttsec/status/#' --for gateway --out "$GW_CREDS" || bail_out "key export failed"
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

dpub devB alerts/b --seal -m '{"id": "f-1", "severity": "critical", "group": "ops",
 "title": "Real fire"}'
wait_for 15 _delivered "Real fire"
dpub devA alerts/a --seal -m '{"id": "f-1", "severity": "critical", "group": "ops",
 "title": "Test, please acknowledge"}'
wait_for 15 _delivered "Test, please acknowledge"
is "$(esc f-1 devB)" waiting "the real alert escalates"
is "$(esc f-1 devA)" waiting "the decoy escalates"

dpub alicephone mqttsec/status/f-1/ack --seal -m '{"by": "alice"}'
wait_for 15 _gwlog gateway "refused acknowledgement of f-1 by device alicephone: the id is waiting in several namespaces"
ok "an ack naming no namespace while the id waits in two is refused" \
	_gwlog gateway "refused acknowledgement of f-1 by device alicephone: the id is waiting in several namespaces"
is "$(esc f-1 devB)/$(esc f-1 devA)" waiting/waiting "... and stops neither"

dpub alicephone mqttsec/status/f-1/ack --seal \
	-m '{"by": "alice", "route": "alerts", "publisher": "devA"}'
wait_for 15 _esc_is f-1 devA acked
is "$(esc f-1 devA)" acked "the ack naming devA's namespace stops the decoy"
is "$(esc f-1 devB)" waiting "... and not the real alert of the same id"

dpub alicephone mqttsec/status/f-1/ack --seal -m '{"by": "alice", "publisher": "devB"}'
wait_for 15 _esc_is f-1 devB acked
is "$(esc f-1 devB)" acked "an ack naming devB's namespace stops the real alert"

dpub devB alerts/b --seal -m '{"id": "f-2", "severity": "critical", "group": "ops",
 "title": "Second"}'
wait_for 15 _delivered "Second"
dpub alicephone mqttsec/status/f-2/ack --seal -m '{"by": "alice", "publisher": "devA"}'
# marker: a refused ack, logged once the one before it was handled
dpub devA mqttsec/status/f-2/ack --seal -m '{"by": "alice"}'
ok "marker: devA's ack refused" wait_for 15 _gwlog gateway "refused acknowledgement of f-2 by device devA"
is "$(esc f-2 devB)" waiting "an ack naming another namespace stops nothing"
dpub alicephone mqttsec/status/f-2/ack --seal -m '{"by": "alice"}'
wait_for 15 _esc_is f-2 devB acked
is "$(esc f-2 devB)" acked "an ack naming no namespace still acknowledges the id"

done_testing
