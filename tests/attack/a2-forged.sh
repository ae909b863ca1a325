#!/bin/bash
# a2-forged.sh - second review: forged origins on odd UTF-8 topics, retained, QoS 2, and a re-publish of a broker-sealed envelope captured by a subscriber (what an ack replay after a gateway restart would need).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN" "$ENVELOPE_PY"
need_python_module cryptography
RAWMQTT=$top_srcdir/tests/tools/rawmqtt.py

acl topic protect 'sec/#' >/dev/null || bail_out "topic protect failed"
acl topic protect 'gone/#' >/dev/null || bail_out "topic protect failed"
for d in alice mallory sub late raw bob admin; do
	pdevice "$d"
done
acl acl add allow all admin '$SYS/broker/mqttsec/#' >/dev/null
for f in 'sec/#' 'gone/#' 'plain/#'; do
	acl acl add allow all mallory "$f" >/dev/null
	acl acl add allow all alice "$f" >/dev/null
	acl acl add allow all late "$f" >/dev/null
done
acl acl add allow all sub '#' >/dev/null
acl acl add allow all raw '#' >/dev/null
for d in mallory sub; do
	acl key export 'sec/#' --for "$d" --out "$TEST_TMP/$d.json" >/dev/null ||
		bail_out "key export failed"
	acl key export 'gone/#' --for "$d" --out "$TEST_TMP/$d.json" >/dev/null ||
		bail_out "key export failed"
done
read -r SKID SKEY < <(topickeys mallory 'sec/#')
read -r GKID GKEY < <(topickeys mallory 'gone/#')
read -r MKID MKEY < <(devkey mallory)

start_plugin_broker "plugin_opt_stats_interval 1"
start_bg sub "$DEVICE_BIN" -c "$TEST_TMP/sub.json" subscribe -h 127.0.0.1 -p "$MOSQ_PORT" \
	-t '#' -v -q 1
start_bg raw timeout 300 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -i raw -u raw \
	-P "$(fresh raw)" -t '#' -q 1 -F '%t %x'
_subscribed() {
	[ "$(grep -c 'Sending SUBACK to' "$MOSQ_LOG")" -ge 2 ]
}
wait_for 5 _subscribed || bail_out "subscribers did not subscribe"
_step sub >"$TEST_TMP/sub.step" # the next devrun sub waits for a later step
SLOG=$TEST_TMP/sub.log
XLOG=$TEST_TMP/raw.log

# forge KEY_B64 KEY_ID TOPIC TEXT OUT [ORIGIN]: a broker-style envelope.
forge() {
	printf '%s' "$4" | python3 "$ENVELOPE_PY" seal --key-b64 "$1" --key-id "$2" --topic "$3" \
		--origin "${6-bob}" >"$5"
}
# marker N: a sealed message from alice on sec/marker, seen by both
# subscribers: whatever was published before it has been handled by then.
_markers() {
	[ "$(grep -c '^sec/marker ' "$XLOG")" -ge "$1" ]
}
marker() {
	devrun alice publish -t sec/marker -m "marker-$1" -q 1 &&
		wait_for 5 grep -qxF -- "sec/marker alice marker-$1" "$SLOG" &&
		wait_for 5 _markers "$1"
}
forge "$SKEY" "$SKID" "plain/é/ü" 'utf8 bob' "$TEST_TMP/u1.env"
rawpub mallory -q 1 -t "plain/é/ü" -f "$TEST_TMP/u1.env"
forge "$SKEY" "$SKID" "plain/🔥" 'retained bob' "$TEST_TMP/u2.env"
rawpub mallory -q 1 -r -t "plain/🔥" -f "$TEST_TMP/u2.env"
forge "$SKEY" "$SKID" "sec/zz" 'qos2 bob' "$TEST_TMP/u3.env"
rawpub mallory -q 2 -t "sec/zz" -f "$TEST_TMP/u3.env"
forge "$GKEY" "$GKID" "plain/x" 'wrong-topic bob' "$TEST_TMP/u4.env"
rawpub mallory -q 1 -t "plain/y" -f "$TEST_TMP/u4.env"
ok "marker 1" marker 1
# capture alice's broker-sealed marker and publish it again, on its topic and elsewhere
hex=$(grep '^sec/marker ' "$XLOG" | head -1 | cut -d' ' -f2)
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$hex" >"$TEST_TMP/cap.env"
rawpub mallory -q 1 -t sec/marker -f "$TEST_TMP/cap.env"
rawpub mallory -q 1 -t plain/marker -f "$TEST_TMP/cap.env"
rawpub mallory -q 1 -r -t plain/marker2 -f "$TEST_TMP/cap.env"
ok "marker 2" marker 2
nok "subscriber never shows origin bob" grep -q "^[^ ]* bob " "$SLOG"
nok "nothing on plain/ opens with an origin" grep -q "^plain/[^ ]* [a-z]" "$SLOG"
is "$(grep -c 'marker-1' "$SLOG")" 1 "the captured marker printed once"
diag "drops: $(grep -o 'mqttsec: dropped .*' "$MOSQ_LOG" | sed 's/.*: //' | sort | uniq -c | tr '\n' ' ')"
diag "raw saw: $(cut -d' ' -f1 "$XLOG" | sort | uniq -c | tr '\n' ' ')"
is "$(timeout 5 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u raw -P "$(fresh raw)" -t 'plain/#' -W 2 -F '%t' 2>/dev/null | wc -l)" 1 "one retained message on plain/ (the captured envelope, delivered as an opaque plain payload, origin -)"
done_testing
