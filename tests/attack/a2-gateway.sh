#!/bin/bash
# a2-gateway.sh - second outside review: devA (allowed to publish alerts and
# acks, not to acknowledge) floods the gateway with sealed refused acks and
# oversize / malformed alerts; checks the loop is not stalled, nothing is
# held, and a real critical alert is still delivered and escalates.
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
RAWMQTT=$top_srcdir/tests/tools/rawmqtt.py
devkey() {
	python3 -c 'import json, sys
k = [k for k in json.load(open(sys.argv[1]))["keys"] if k["use"] == "device"][0]
print(k["id"], k["key"])' "$TEST_TMP/$1.json"
}
code() {
	python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))["totp"]
print(t["secret"], t["period"], t["digits"])' "$TEST_TMP/$1.json" | {
		read -r s p d
		oathtool --totp -b -d "$d" -s "${p}s" "$s"
	}
}
# seal NAME TOPIC PLAINFILE OUT
seal() {
	local id key
	read -r id key < <(devkey "$1")
	python3 "$ENVELOPE_PY" seal --key-b64 "$key" --key-id "$id" --topic "$2" <"$3" >"$4"
}

dpub devB alerts/b --seal -m '{"id": "c-9", "severity": "critical", "group": "ops",
 "title": "Gas"}'
wait_for 15 _delivered "Gas"
is "$(esc c-9 devB)" waiting "c-9 escalates"

# 300 sealed acks of c-9 by devA (not allowed), one connection
steps=()
printf '{"by":"alice"}' >"$TEST_TMP/ack.txt"
for i in $(seq 1 300); do
	seal devA mqttsec/status/c-9/ack "$TEST_TMP/ack.txt" "$TEST_TMP/ack$i.env"
	steps+=("pub:1:$i:0:mqttsec/status/c-9/ack:$TEST_TMP/ack$i.env")
done
# oversize alert (70 000 bytes), deep JSON, bad UTF-8 id, id with $ and /
python3 -c 'import json; print(json.dumps({"id":"big","group":"ops","title":"x"*70000}))' >"$TEST_TMP/big.txt"
python3 -c 'print("["*20000 + "]"*20000)' >"$TEST_TMP/deep.txt"
printf '{"id":"\xff\xfe-\xc0\xaf","group":"ops","title":"badutf"}' >"$TEST_TMP/utf.txt"
printf '{"id":"$gateway/../x","group":"ops","title":"dollar","severity":"critical"}' >"$TEST_TMP/dollar.txt"
for f in big deep utf dollar; do
	seal devA alerts/a "$TEST_TMP/$f.txt" "$TEST_TMP/$f.env"
	steps+=("pub:1:$((1000 + ${#steps[@]})):0:alerts/a:$TEST_TMP/$f.env")
done
_wait_step() { sleep 2.1; }
_wait_step
t0=$(date +%s.%N)
out=$(python3 "$RAWMQTT" session "$MOSQ_PORT" devA "$(code devA)" devA-x 1 5 "${steps[@]}")
t1=$(date +%s.%N)
diag "flood took $(echo "$t1 - $t0" | bc) s; pubacks: $(tr ' ' '\n' <<<"$out" | sort | uniq -c | tr '\n' ' ')"
_refused300() { [ "$(grep -c 'refused acknowledgement of c-9' "$TEST_TMP/gateway.log")" -ge 300 ]; }
wait_for 60 _refused300
diag "refused acks logged: $(grep -c 'refused acknowledgement of c-9' "$TEST_TMP/gateway.log")"
diag "gateway log lines: $(grep -v 'refused ack' "$TEST_TMP/gateway.log" | tail -8)"
is "$(esc c-9 devB)" waiting "c-9 still escalates after the flood"
nok "nothing held" grep -q 'holding' "$TEST_TMP/gateway.log"
is "$(sql "SELECT count(*) FROM messages WHERE title = 'dollar'")" 0 "an id with \$ and / is refused"
diag "dollar row: $(sql "SELECT msg_id, publisher, route FROM messages WHERE title = 'dollar'")"
diag "spool: $(ls "$TEST_TMP" | grep -i spool; find "$TEST_TMP" -name '*gateway*' -newer "$TEST_TMP/ack.txt" | head)"
dpub devB alerts/b --seal -m '{"id": "c-10", "severity": "critical", "group": "ops",
 "title": "After"}'
wait_for 15 _delivered "After"
is "$(delivered After)" 1 "a real alert after the flood is delivered"
dpub alicephone mqttsec/status/c-9/ack --seal -m '{"by": "alice"}'
wait_for 15 _esc_is c-9 devB acked
is "$(esc c-9 devB)" acked "alice's ack still works"
stop_bg gateway
diag "loop: $(grep -i 'loop\|turn' "$TEST_TMP/gateway.log" | tail -4)"
done_testing
