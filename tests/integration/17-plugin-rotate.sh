#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 17-plugin-rotate.sh - protected topics over time: key rotation with a
# grace period (retained messages stay readable for key holders, new
# messages use the new key at once), and QoS 1/2 retransmissions that
# re-seal to identical bytes (Mosquitto's QoS 2 duplicate check holds).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN" "$ENVELOPE_PY"
need_python_module cryptography

acl topic protect 'rot/#' >/dev/null || bail_out "topic protect failed"
acl group add pubs >/dev/null
for d in p1 p2 p3 p4; do
	pdevice "$d"
	acl group member add pubs "$d" >/dev/null
done
for d in sold snew raw; do
	pdevice "$d"
	acl acl add allow all "$d" 'rot/#' >/dev/null
done
acl acl add allow pub @pubs 'rot/#' >/dev/null
ok "export before the rotation" acl key export 'rot/#' --for sold --out "$TEST_TMP/sold.json"
read -r K1 _ < <(topickeys sold 'rot/#')

start_plugin_broker
start_bg raw timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -i raw -u raw \
	-P "$(fresh raw)" -t 'rot/#' -q 2 -F '%t %x'
wait_for 5 grep -q 'Sending SUBACK to raw' "$MOSQ_LOG" || bail_out "raw did not subscribe"
XLOG=$TEST_TMP/raw.log

# key_of HEX: the key id of an envelope given in hex.
key_of() {
	echo $((16#${1:4:8}))
}

ok "retained sealed publish" devrun p1 publish -t rot/r -m 'retained before' -r -q 1
ok "delivered under key $K1" wait_for 5 grep -q '^rot/r ' "$XLOG"
is "$(key_of "$(awk '$1 == "rot/r" { print $2; exit }' "$XLOG")")" "$K1" \
	"the retained message is sealed with the first key"

ok "key rotate (applies to the running broker)" change key rotate 'rot/#'
ok "export after the rotation" acl key export 'rot/#' --for snew --out "$TEST_TMP/snew.json"
KEYS=$(topickeys snew 'rot/#' | awk '{ print $1 }' | sort -n | tr '\n' ' ')
K2=$(topickeys snew 'rot/#' | awk '{ print $1 }' | sort -n | tail -n 1)
is "$KEYS" "$K1 $K2 " "the new export holds the new key and the old one in grace"

OUT=$(devrun snew subscribe -t 'rot/#' -v -C 1 -W 60 2>&1)
is "$OUT" "rot/r p1 retained before" "a new subscriber opens the retained message (old key, in grace)"
OUT=$(devrun sold subscribe -t 'rot/#' -v -C 1 -W 60 2>&1)
is "$OUT" "rot/r p1 retained before" "an old subscriber still opens the retained message"

for d in sold snew; do
	_wait_step "$d"
	start_bg "$d" "$DEVICE_BIN" -c "$TEST_TMP/$d.json" subscribe -h 127.0.0.1 \
		-p "$MOSQ_PORT" -t 'rot/#' -v --no-fetch
done
_both_subscribed() {
	[ "$(grep -c 'Sending SUBACK to' "$MOSQ_LOG")" -ge 4 ]
}
wait_for 5 _both_subscribed || bail_out "subscribers did not subscribe"
ok "a message after the rotation" devrun p2 publish -t rot/n -m 'after rotation' -q 1
ok "delivered" wait_for 5 grep -q '^rot/n ' "$XLOG"
is "$(key_of "$(awk '$1 == "rot/n" { print $2; exit }' "$XLOG")")" "$K2" \
	"new messages are sealed with the new key"
ok "the new export opens it" wait_for 5 grep -qxF 'rot/n p2 after rotation' "$TEST_TMP/snew.log"
ok "the old export cannot" wait_for 5 grep -q 'cannot open message on rot/n' "$TEST_TMP/sold.log"
nok "... and prints nothing of it" grep -q 'after rotation' "$TEST_TMP/sold.log"

# --- retransmissions: a raw client sends the same PUBLISH twice
seal_as p3 rot/q2 'exactly once' "$TEST_TMP/q2.env"
seal_as p3 rot/q1 'at least once' "$TEST_TMP/q1.env"
# QoS 2, mid 7: PUBLISH, PUBREC, the same PUBLISH with DUP, PUBREC, PUBREL,
# PUBCOMP; QoS 1, mid 8: PUBLISH, PUBACK, the same PUBLISH with DUP, PUBACK
RES=$("$PYTHON" "$top_srcdir/tests/tools/rawmqtt.py" session "$MOSQ_PORT" p3 "$(fresh p3)" \
	p3-retx 1 4 "pub:2:7:0:rot/q2:$TEST_TMP/q2.env" "pub:2:7:1:rot/q2:$TEST_TMP/q2.env" \
	rel:7 "pub:1:8:0:rot/q1:$TEST_TMP/q1.env" "pub:1:8:1:rot/q1:$TEST_TMP/q1.env")
is "$RES" "session-present:0 50:00 50:00 70:00 40:00 40:00" "QoS 2 and QoS 1 retransmissions acknowledged (PUBREC x2, PUBCOMP, PUBACK x2)"
ok "QoS 1: both copies delivered" wait_for 5 test "$(grep -c '^rot/q1 ' "$XLOG")" -ge 2
ok "marker" devrun p4 publish -t rot/marker -m m -q 1
ok "marker delivered" wait_for 5 grep -q '^rot/marker ' "$XLOG"
is "$(grep -c '^rot/q2 ' "$XLOG")" 1 "QoS 2: the retransmission was recognised as a duplicate (one delivery)"
nok "no 'reused message id' from the broker (the re-sealed bytes were identical)" \
	grep -q 'Reused message ID' "$MOSQ_LOG"
is "$(awk '$1 == "rot/q1" { print $2 }' "$XLOG" | sort -u | grep -c .)" 1 \
	"QoS 1: the two deliveries are byte for byte identical"
is "$(drops replay)" 0 "no retransmission was taken for a replay"
ok "the QoS 2 message opens for the subscriber" \
	wait_for 5 grep -qxF 'rot/q2 p3 exactly once' "$TEST_TMP/snew.log"

done_testing
