#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 52-attack-forged-origin.sh - issue 10 item 3: no client can make a
# subscriber believe a message came from someone else, on any topic.
# A holder of a topic key (every subscriber of the filter) seals its own
# "broker-style" envelope with origin "bob":
#   - on a protected topic, on a never-protected topic, and on the topics of
#     a filter just unprotected (its key still in grace): dropped ("forged");
#   - as a retained message while unprotected: never stored, so it cannot
#     open after the filter is protected again;
#   - after protecting again, the export holds no key that was live while
#     the filter was unprotected;
#   - as a Last Will: never sent;
# while random binary payloads, and payloads that look like an envelope
# header with a known key id but do not verify, pass unchanged.  The
# subscriber (mqttsec-device) prints a (key id, nonce) it already printed
# only once.
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
start_bg raw timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -i raw -u raw \
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
forged_n() {
	[ "$(drops forged)" -ge "$1" ]
}

ok "happy path: alice's sealed message opens with origin alice" \
	devrun alice publish -t sec/a -m 'from alice' -q 1
ok "... the subscriber prints it" wait_for 5 grep -qxF 'sec/a alice from alice' "$SLOG"

# --- a protected topic
forge "$SKEY" "$SKID" sec/a 'forged on a protected topic' "$TEST_TMP/f1.env"
rawpub mallory -q 1 -t sec/a -f "$TEST_TMP/f1.env"
ok "protected topic: a topic-key envelope with origin bob is dropped as forged" wait_for 5 forged_n 1

# --- a never-protected topic: the topic key of sec/#, and mallory's own
# device key with an origin
forge "$SKEY" "$SKID" plain/x 'forged on a plain topic' "$TEST_TMP/f2.env"
rawpub mallory -q 1 -t plain/x -f "$TEST_TMP/f2.env"
ok "never-protected topic: a topic-key envelope is dropped" wait_for 5 forged_n 2
forge "$MKEY" "$MKID" plain/y 'device key, origin bob' "$TEST_TMP/f3.env"
rawpub mallory -q 1 -t plain/y -f "$TEST_TMP/f3.env"
ok "never-protected topic: an origin under a device key is dropped" wait_for 5 forged_n 3
ok "the drop is logged with the unprotected topic" \
	logged 'dropped publish or will from client .* on unprotected topic plain/y: forged'

# --- ordinary payloads on plain topics pass byte for byte
head -c 300 /dev/urandom >"$TEST_TMP/bin"
# an envelope-like header with sec/#'s key id and origin "bob", tag garbage
python3 - "$SKID" "$TEST_TMP/hdr" <<'PY'
import os, struct, sys
kid, path = int(sys.argv[1]), sys.argv[2]
open(path, "wb").write(bytes([1, 3]) + struct.pack(">IQ", kid, 0) + os.urandom(12) + b"bob"
                       + b"not really ciphertext" + os.urandom(16))
PY
forge "$SKEY" "$SKID" plain/other 'sealed for another topic' "$TEST_TMP/other.env"
ok "random binary on a plain topic" rawpub mallory -q 1 -t plain/bin -f "$TEST_TMP/bin"
ok "a header with a known key id but no valid tag" rawpub mallory -q 1 -t plain/hdr -f "$TEST_TMP/hdr"
ok "a topic-key envelope sealed for another topic" rawpub mallory -q 1 -t plain/moved -f "$TEST_TMP/other.env"
ok "marker 1" marker 1
for t in bin hdr; do
	is "$(awk -v t="plain/$t" '$1 == t { print $2; exit }' "$XLOG")" \
		"$(xxd -p "$TEST_TMP/$t" | tr -d '\n')" "plain/$t delivered unchanged"
done
is "$(awk '$1 == "plain/moved" { print $2; exit }' "$XLOG")" \
	"$(xxd -p "$TEST_TMP/other.env" | tr -d '\n')" \
	"an envelope no subscriber would accept on that topic passes (its tag does not verify there)"
is "$(grep -c '^sec/a ' "$XLOG")" 1 "sec/a: only alice's message reached the raw subscriber"
nok "no forged message on plain/ reached the raw subscriber" grep -qE '^plain/(x|y) ' "$XLOG"
nok "the subscriber never printed bob" grep -q ' bob ' "$SLOG"

# --- unprotect gone/#: its key stays in grace; forge with it (retained)
ok "topic unprotect gone/# (keys in grace)" change topic unprotect 'gone/#'
forge "$GKEY" "$GKID" gone/x 'forged while unprotected' "$TEST_TMP/f4.env"
rawpub mallory -q 1 -r -t gone/x -f "$TEST_TMP/f4.env"
ok "formerly protected topic: dropped as forged" wait_for 5 forged_n 4
ok "a plaintext message on gone/x now passes" rawpub alice -q 1 -t gone/plain -m 'plain now'
forge "$GKEY" "$GKID" gone/will 'forged will' "$TEST_TMP/will.env"
ok "a client with a forged Last Will connects and vanishes" \
	python3 "$RAWMQTT" will "$MOSQ_PORT" mallory "$(fresh mallory)" mallory-will gone/will \
	"$TEST_TMP/will.env"
ok "the forged will is refused" wait_for 5 forged_n 5
ok "marker 2" marker 2
ok "the plaintext message was delivered" \
	wait_for 5 grep -qxF "gone/plain $(printf 'plain now' | xxd -p)" "$XLOG"
nok "the subscriber never printed bob" grep -q ' bob ' "$SLOG"
nok "no forged payload on gone/ reached the raw subscriber" grep -qE '^gone/(x|will) ' "$XLOG"

# --- protect gone/# again
ok "topic protect gone/# again" change topic protect 'gone/#'
OUT=$(devrun sub subscribe -t 'gone/#' -v -W 3 2>&1)
nok "no forged retained message opens after re-protect (old key holder)" grep -q bob <<<"$OUT"
ok "key export gone/# --for late" acl key export 'gone/#' --for late --out "$TEST_TMP/late.json"
nok "the export holds no key that was live while gone/# was unprotected" \
	grep -qw "$GKID" <(topickeys late 'gone/#')
is "$(topickeys late 'gone/#' | grep -c .)" 1 "only the new key is exported"
ok "audit names the keys whose grace ended" \
	test "$(acl audit --json | python3 -c 'import json, sys; print([r["detail"] for r in json.load(sys.stdin) if r["action"] == "topic protect"][-1])' | grep -c "grace_ended=$GKID")" = 1
forge "$GKEY" "$GKID" plain/again 'old key, plain topic' "$TEST_TMP/f5.env"
ok "the dead key stays known to the broker: forging with it elsewhere" \
	rawpub mallory -q 1 -t plain/again -f "$TEST_TMP/f5.env"
ok "... dropped" wait_for 5 forged_n 6

# --- the subscriber drops a repeated (key id, nonce): the same broker
# output twice (a QoS 1 resend on one connection is delivered twice)
seal_as alice sec/dup 'only once on screen' "$TEST_TMP/dup.env"
RES=$(python3 "$RAWMQTT" session "$MOSQ_PORT" alice "$(fresh alice)" alice-dup 1 4 \
	"pub:1:5:0:sec/dup:$TEST_TMP/dup.env" "pub:1:5:1:sec/dup:$TEST_TMP/dup.env")
is "$RES" "session-present:0 40:00 40:00" "a QoS 1 resend on the same connection is acknowledged"
ok "the raw subscriber gets both copies" wait_for 5 test "$(grep -c '^sec/dup ' "$XLOG")" -ge 2
is "$(awk '$1 == "sec/dup" { print $2 }' "$XLOG" | sort -u | grep -c .)" 1 "identical bytes"
ok "marker 3" marker 3
is "$(grep -c '^sec/dup alice only once on screen$' "$SLOG")" 1 "mqttsec-device prints it once"
ok "... and says it dropped the repeat" grep -q 'dropped a repeated message on sec/dup' "$SLOG"

# --- $SYS
_sys_forged() {
	SYS=$(timeout "$CLIENT_TIMEOUT" mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u admin \
		-P "$(fresh admin)" -t '$SYS/broker/mqttsec/messages/dropped/forged' -C 1 2>/dev/null)
	[ "${SYS:-0}" -ge 6 ]
}
ok "\$SYS/broker/mqttsec/messages/dropped/forged counts the forged drops" wait_for 10 _sys_forged

done_testing
