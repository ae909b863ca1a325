#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 57-attack-retransmit.sh - issue 10 item 8 (retransmission rule): the
# plugin sees neither the DUP flag nor the packet id, so a repeated
# envelope is accepted only as the same bytes, from the same client id, at
# the same QoS >= 1, in the same session (the same connection, or a
# persistent session the new connection resumed).  Anything else is a
# replay:
#   - the same envelope at QoS 1 on a new clean-session connection with the
#     same client id: dropped (PUBACK 0x87 for MQTT 5);
#   - the same at QoS 2: refused, never delivered twice;
#   - QoS 0 first, then the same bytes at QoS 1 on the same connection: a replay;
# while
#   - a QoS 2 retransmission within one connection completes exactly once;
#   - a resumed persistent session (clean session off) may resend, and its
#     QoS 2 flow completes exactly once (MQTT 3.1.1 and MQTT 5).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$ENVELOPE_PY"
need_python_module cryptography
RAWMQTT=$top_srcdir/tests/tools/rawmqtt.py

acl topic protect 'rt/#' >/dev/null || bail_out "topic protect failed"
for d in dev raw mk; do
	pdevice "$d"
	acl acl add allow all "$d" 'rt/#' >/dev/null
done

start_plugin_broker
start_bg raw timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -i raw -u raw \
	-P "$(fresh raw)" -t 'rt/#' -q 2 -F '%t %x'
wait_for 5 grep -q 'Sending SUBACK to raw' "$MOSQ_LOG" || bail_out "raw did not subscribe"
XLOG=$TEST_TMP/raw.log

# session CLIENTID CLEAN VERSION STEP...: one raw connection as dev.
session() {
	local cid=$1 clean=$2 version=$3
	shift 3
	python3 "$RAWMQTT" session "$MOSQ_PORT" dev "$(fresh dev)" "$cid" "$clean" "$version" "$@"
}
delivered() {
	grep -c "^$1 " "$XLOG"
}
_markers() {
	[ "$(grep -c '^rt/marker ' "$XLOG")" -ge "$1" ]
}
# marker N: what was published before it has been delivered or dropped.
marker() {
	seal_as mk rt/marker "m$1" "$TEST_TMP/m$1.env"
	rawpub mk -q 1 -t rt/marker -f "$TEST_TMP/m$1.env" && wait_for 5 _markers "$1"
}

# --- a new clean-session connection with the same client id: a replay
seal_as dev rt/a 'qos 1 once' "$TEST_TMP/a.env"
is "$(session dev-a 1 5 "pub:1:1:0:rt/a:$TEST_TMP/a.env")" "session-present:0 40:00" \
	"QoS 1 publish accepted"
is "$(session dev-a 1 5 "pub:1:1:1:rt/a:$TEST_TMP/a.env")" "session-present:0 40:87" \
	"the same envelope at QoS 1 on a new connection, same client id: refused (0x87)"
ok "... logged as a replay" dropped replay 1
seal_as dev rt/b 'qos 2 once' "$TEST_TMP/b.env"
is "$(session dev-b 1 5 "pub:2:3:0:rt/b:$TEST_TMP/b.env" rel:3)" "session-present:0 50:00 70:00" \
	"QoS 2 publish completes"
is "$(session dev-b 1 5 "pub:2:3:1:rt/b:$TEST_TMP/b.env")" "session-present:0 50:87" \
	"the same envelope at QoS 2 on a new clean session: refused"
ok "... logged as a replay" dropped replay 2
seal_as dev rt/c 'qos 0 then 1' "$TEST_TMP/c.env"
is "$(session dev-c 1 5 "pub:0:0:0:rt/c:$TEST_TMP/c.env" "pub:1:4:1:rt/c:$TEST_TMP/c.env")" \
	"session-present:0 40:87" "QoS 0 then the same bytes at QoS 1 on one connection: a replay"
ok "... logged" dropped replay 3

# --- a QoS 2 retransmission within one connection completes exactly once
seal_as dev rt/d 'exactly once' "$TEST_TMP/d.env"
is "$(session dev-d 1 5 "pub:2:7:0:rt/d:$TEST_TMP/d.env" "pub:2:7:1:rt/d:$TEST_TMP/d.env" rel:7)" \
	"session-present:0 50:00 50:00 70:00" "QoS 2 resend on the same connection: PUBREC, PUBREC, PUBCOMP"

# --- a resumed persistent session may resend (MQTT 5 and 3.1.1)
seal_as dev rt/e 'resumed v5' "$TEST_TMP/e.env"
is "$(session dev-e 0 5p "pub:2:9:0:rt/e:$TEST_TMP/e.env")" "session-present:0 50:00" \
	"MQTT 5 persistent session: QoS 2 PUBLISH, PUBREC, then the connection ends"
is "$(session dev-e 0 5p "pub:2:9:1:rt/e:$TEST_TMP/e.env" rel:9)" "session-present:1 50:00 70:00" \
	"the resumed session resends it: accepted, PUBREL completes the flow"
seal_as dev rt/f 'resumed v311' "$TEST_TMP/f.env"
is "$(session dev-f 0 4 "pub:1:11:0:rt/f:$TEST_TMP/f.env")" "session-present:0 40:00" \
	"MQTT 3.1.1 persistent session: QoS 1 PUBLISH"
is "$(session dev-f 0 4 "pub:1:11:1:rt/f:$TEST_TMP/f.env")" "session-present:1 40:00" \
	"the resumed session resends it"
is "$(session dev-f 1 4 "pub:1:11:1:rt/f:$TEST_TMP/f.env")" "session-present:0 40:00" \
	"a clean session of the same client id resends it (3.1.1 has no reason codes) ..."
ok "... and it is dropped as a replay" dropped replay 4

ok "marker" marker 1
is "$(delivered rt/a)" 1 "rt/a delivered once"
is "$(delivered rt/b)" 1 "rt/b delivered once"
is "$(delivered rt/c)" 1 "rt/c delivered once (the QoS 0 copy)"
is "$(delivered rt/d)" 1 "rt/d: the same-connection QoS 2 resend delivered exactly once"
is "$(delivered rt/e)" 1 "rt/e: the resumed QoS 2 flow delivered exactly once"
is "$(delivered rt/f)" 2 "rt/f: the resumed QoS 1 resend delivered again (at least once), the clean one not"
is "$(drops replay)" 4 "exactly four replays"
nok "no 'reused message id' from the broker" grep -q 'Reused message ID' "$MOSQ_LOG"

done_testing
