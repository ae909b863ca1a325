#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 45-gateway-medical-refused.sh - a share the broker refuses stays queued
# (docs/medical.md, "Sending"): the gateway talks MQTT v5, so a PUBACK
# with a reason code >= 0x80 (here 0x87, not authorised: broker b denies
# the gateway's publish on medical/ch/1) keeps the pubq row, the log says
# the broker refused the share on that topic (no payload), the refused rows
# do not hold back the other channel on the same broker, and once the ACL
# grants the publish the rows drain.  max_queued: with broker b down, its
# queue stops at the cap and further records are dropped ("queue-full").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/brokers-lib.sh"
need_file "$DEVICE_BIN" "$GATEWAY_BIN"
need_cmd mosquitto_pub mosquitto_sub sqlite3
WAIT=${MED_WAIT:-40}
MARK=MEDREF$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')

mb_init a b
mb_device a gw --period 2
mb_device b gw --period 2
mb_device b reader
mb_allow a all gw 'mqttsec/status/#'
mb_allow b all gw 'mqttsec/status/#'
mb_protect a medical/ch/0
mb_allow a all gw medical/ch/0
mb_key a medical/ch/0 gw
for t in medical/ch/1 medical/ch/2; do
	mb_protect b "$t"
	mb_allow b sub gw "$t"
	mb_allow b read gw "$t"
	mb_allow b sub reader "$t"
	mb_allow b read reader "$t"
	mb_key b "$t" gw
	mb_key b "$t" reader
done
# the gateway may publish on medical/ch/2 of b, not on medical/ch/1
mb_allow b pub gw medical/ch/2
mb_device a clinic1
mb_protect a 'clinic/+/record'
mb_allow a pub clinic1 clinic/1/record
mb_allow a sub gw 'clinic/+/record'
mb_allow a read gw 'clinic/+/record'
mb_key a 'clinic/+/record' gw || bail_out "broker setup failed"
# route vitals2: two channels on a, one on b (a full queue on b leaves k = 2)
for t in medical/p/0 medical/p/1; do
	mb_protect a "$t"
	mb_allow a all gw "$t"
	mb_key a "$t" gw
done
mb_protect b medical/p/2
mb_allow b all gw medical/p/2
mb_key b medical/p/2 gw
mb_protect a 'clinic/+/rec2'
mb_allow a pub clinic1 clinic/1/rec2
mb_allow a sub gw 'clinic/+/rec2'
mb_allow a read gw 'clinic/+/rec2'
mb_key a 'clinic/+/rec2' gw || bail_out "broker setup failed"
for b in a b; do
	mb_start "$b" || bail_out "broker $b did not start"
done
pass "two brokers with the plugin are up"

GW_DB=$TEST_TMP/gw.db
cat >"$TEST_TMP/gw.conf" <<EOF
[broker]
host = 127.0.0.1
port = $(mb_port a)
credentials = $(mb_creds a gw)
reconnect_min = 200ms
reconnect_max = 1s

[broker b]
port = $(mb_port b)
credentials = $(mb_creds b gw)
reconnect_min = 200ms
reconnect_max = 1s

[store]
db = $GW_DB
master_key_file = $TEST_TMP/gw.key
spool_dir = $TEST_TMP/spool

[route vitals]
topic = clinic/+/record
kind = medical
channels = medical/ch/0, medical/ch/1@b, medical/ch/2@b
threshold = 2
record_key = vitals

[route vitals2]
topic = clinic/+/rec2
kind = medical
channels = medical/p/0, medical/p/1, medical/p/2@b
threshold = 2
record_key = vitals
EOF
sql() {
	sqlite3 -cmd ".timeout 5000" "$GW_DB" "$1"
}
queued() {
	sql "SELECT count(*) FROM pubq WHERE broker = 'b' AND topic = '$1'"
}
_queued_is() {
	[ "$(queued "$1")" = "$2" ]
}
ok "key add vitals" "$GATEWAY_BIN" -q -c "$TEST_TMP/gw.conf" key add vitals

start_bg rd "$(command -v mosquitto_sub)" -h 127.0.0.1 -p "$(mb_port b)" -u reader \
	-P "$(mb_code b reader)" -i reader-b -c -q 1 -t medical/ch/2 -F '%x'
_reader_subscribed() {
	grep -q "Received SUBSCRIBE from reader-b" "$(mb_log b)"
}
wait_for "$WAIT_TIMEOUT" _reader_subscribed || bail_out "reader on b did not subscribe"
_connected() {
	[ "$(grep -c 'connected to broker' "$TEST_TMP/gw.log")" -ge 2 ]
}
start_bg gw "$GATEWAY_BIN" -c "$TEST_TMP/gw.conf" run
wait_for "$WAIT" _connected || {
	show_log gw
	bail_out "the gateway did not connect to the two brokers"
}
sleep 1 # the SUBACKs follow the CONNACKs

printf '%s record %s\n' "$MARK" 1 "$MARK" 2 >"$TEST_TMP/records.txt"
mb_dev a clinic1 publish -t clinic/1/record -q 1 --seal -l <"$TEST_TMP/records.txt" ||
	diag "publish failed"
_refused_logged() {
	grep -q "broker b (127.0.0.1:[0-9]*) refused share on medical/ch/1: " "$TEST_TMP/gw.log"
}
ok "the refusal is logged with the broker and the topic" wait_for "$WAIT" _refused_logged
_denied_seen() {
	grep -q "Denied PUBLISH from mqttsec-gateway-gw.*medical/ch/1" "$(mb_log b)"
}
ok "broker b denied the publish" wait_for "$WAIT" _denied_seen
_reader_got() {
	[ "$(grep -c . "$TEST_TMP/rd.log")" -ge "$1" ]
}
ok "the other channel on the same broker is not held back" wait_for "$WAIT" _reader_got 2
ok "medical/ch/2 drained" wait_for "$WAIT" _queued_is medical/ch/2 0
sleep 2
is "$(queued medical/ch/1)" 2 "the refused shares stay in the publish queue"
is "$(grep -c "refused share on medical/ch/1" "$TEST_TMP/gw.log")" 1 \
	"the refusal is logged once a minute, not per retry"

mb_change b acl add allow pub gw medical/ch/1 || diag "acl change failed"
ok "once granted, the refused rows drain" wait_for 60 _queued_is medical/ch/1 0
stop_bg gw
mv "$TEST_TMP/gw.log" "$TEST_TMP/gw-1.log"

## max_queued: with b down, its queue stops at the cap; records beyond are
## dropped and counted ("queue-full")
mb_stop b
sed -i 's/^record_key = vitals$/record_key = vitals\nmax_queued = 2/' "$TEST_TMP/gw.conf"
start_bg gw "$GATEWAY_BIN" -c "$TEST_TMP/gw.conf" run
_connected_a() {
	grep -q 'connected to broker' "$TEST_TMP/gw.log"
}
wait_for "$WAIT" _connected_a || diag "the gateway did not connect to a"
sleep 1
_queued_b() {
	[ "$(sql "SELECT count(*) FROM pubq WHERE broker = 'b'")" = "$1" ]
}
printf '%s record 3\n' "$MARK" | mb_dev a clinic1 publish -t clinic/1/record -q 1 --seal -l ||
	diag "publish failed"
ok "max_queued: the first record is queued for b" wait_for "$WAIT" _queued_b 2
sleep 2 # the queue is counted at most once a second
printf '%s record 4\n' "$MARK" | mb_dev a clinic1 publish -t clinic/1/record -q 1 --seal -l ||
	diag "publish failed"
_queue_full() {
	grep -q "route vitals: the publish queue of broker b holds 2 shares" "$TEST_TMP/gw.log" &&
		grep -q "route vitals: dropped a record on clinic/1/record: only 1 of 3 channels have room" \
			"$TEST_TMP/gw.log"
}
ok "max_queued: the next record is dropped with a clear line" wait_for "$WAIT" _queue_full
# vitals2 still has k = 2 channels with room (both on a): its record goes
# out on them, only the share for b is left out
printf '%s record 5\n' "$MARK" | mb_dev a clinic1 publish -t clinic/1/rec2 -q 1 --seal -l ||
	diag "publish failed"
_p_published() {
	grep -q "Received PUBLISH from mqttsec-gateway-gw .*'medical/p/0'" "$(mb_log a)" &&
		grep -q "Received PUBLISH from mqttsec-gateway-gw .*'medical/p/1'" "$(mb_log a)"
}
ok "max_queued: a record with k channels left goes out on them" wait_for "$WAIT" _p_published
ok "... and the share for the full broker is left out, with a line" \
	grep -q "route vitals2: the publish queue of broker b holds 2 shares.*shares on medical/p/2 not queued" \
	"$TEST_TMP/gw.log"
stop_bg gw
is "$(sql "SELECT count(*) FROM pubq WHERE broker = 'b'")" 2 "max_queued: nothing more queued for b"
is "$(sql "SELECT count FROM medical_counters WHERE route = 'vitals' AND reason = 'queue-full'")" \
	1 "max_queued: the drop is counted (queue-full)"
## a retained record is not split again at every subscription: dropped,
## counted ("retained")
# published while the gateway runs (its live copy is not flagged retained);
# after a restart (an empty replay cache) the broker sends the retained copy
mv "$TEST_TMP/gw.log" "$TEST_TMP/gw-2.log"
start_bg gw "$GATEWAY_BIN" -c "$TEST_TMP/gw.conf" run
wait_for "$WAIT" _connected_a || diag "the gateway did not connect to a"
sleep 1
printf '%s retained record\n' "$MARK" |
	mb_dev a clinic1 publish -t clinic/1/record -q 1 --seal -r -l || diag "publish failed"
_live_seen() {
	grep -q "dropped a record on clinic/1/record: only" "$TEST_TMP/gw.log"
}
wait_for "$WAIT" _live_seen || diag "the live copy was not seen"
stop_bg gw
mv "$TEST_TMP/gw.log" "$TEST_TMP/gw-3.log"
start_bg gw "$GATEWAY_BIN" -c "$TEST_TMP/gw.conf" run
_retained_dropped() {
	grep -q "route vitals: dropped a retained record on clinic/1/record" "$TEST_TMP/gw.log"
}
ok "a retained record is dropped with a warning" wait_for "$WAIT" _retained_dropped
stop_bg gw
is "$(sql "SELECT count FROM medical_counters WHERE route = 'vitals' AND reason = 'retained'")" \
	1 "the retained drop is counted"
leaks=$(grep -l -a -F "$MARK" "$TEST_TMP"/gw*.log 2>/dev/null)
is "$leaks" "" "no record bytes in the gateway's log"
ok "the gateway stopped cleanly" eval '! grep -qi "sanitizer\|assert" "$TEST_TMP"/gw*.log'
done_testing
