#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 04-device-pubsub.sh - mqttsec-device publish/subscribe against a plain
# Debian mosquitto (no plugin): sealing on protected topics, opening on
# receipt, -l line mode, raw payloads on unprotected topics, refusals.
# The TOTP path against the real plugin is covered by the plugin tests.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_file "$DEVICE_BIN"
need_cmd mosquitto_sub mosquitto_pub timeout

D=$DEVICE_BIN
SECRET=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ
KEY=$(random_key)
C=$TEST_TMP/creds.json
# the device key doubles as the topic key for sealed/#: without the plugin
# nobody re-seals, so the subscriber opens what the publisher sealed.  No TOTP
# in these credentials: the plain broker needs no password, and every run may
# connect at once (with TOTP, runs share the last step used, see below).
(umask 077 && python3 - "$KEY" >"$C") <<'PY'
import json, sys
key = sys.argv[1]
print(json.dumps({"username": "dev1",
                  "keys": [{"id": 17, "key": key, "use": "device"},
                           {"id": 17, "key": key, "use": "topic", "topic": "sealed/#"}]}))
PY

start_mosquitto "allow_anonymous true" || bail_out "mosquitto did not start"
P=$MOSQ_PORT
# subscribed N: the broker sent N SUBACKs in all
_subacks_ge() {
	[ "$(grep -c 'Sending SUBACK to' "$MOSQ_LOG")" -ge "$1" ]
}
subscribed() {
	wait_for 10 _subacks_ge "$1" || bail_out "the subscribers did not subscribe"
}

## sealed round trip through the broker
OUT=$TEST_TMP/sub.out
start_bg sub "$D" -c "$C" subscribe -p "$P" -t 'sealed/#' -C 2 -v -W 120
start_bg raw timeout 900 mosquitto_sub -p "$P" -t 'sealed/a' -C 1 -N
subscribed 2
ok "publish -m on a protected topic" "$D" -c "$C" publish -p "$P" -t sealed/a -m hello -q 1
ok "publish -f FILE" sh -c "printf 'from file' >'$TEST_TMP/msg' && '$D' -c '$C' publish -p '$P' -t sealed/b -f '$TEST_TMP/msg' -q 1"
wait_for 20 sh -c "! kill -0 ${BG_PID[sub]} 2>/dev/null"
is "$(cat "$TEST_TMP/sub.log")" "sealed/a - hello
sealed/b - from file" "subscribe opens both envelopes and prints topic, origin, payload"
wait_for 20 sh -c "! kill -0 ${BG_PID[raw]} 2>/dev/null"
RAW=$TEST_TMP/raw.log
is "$(head -c1 "$RAW" | od -An -tx1 | tr -d ' ')" "01" "on the wire the payload is an envelope (version 1)"
nok "on the wire the plaintext does not appear" grep -q hello "$RAW"
is "$(wc -c <"$RAW")" "$((26 + 5 + 16))" "envelope size is header + plaintext + tag"

## unprotected topics pass as they are; an unopenable payload is reported
start_bg sub2 "$D" -c "$C" subscribe -p "$P" -t '#' -C 1 -W 120
subscribed 3
ok "publish --no-seal on a protected topic" "$D" -c "$C" publish -p "$P" -t sealed/c -m plain --no-seal
ok "publish on an unprotected topic" "$D" -c "$C" publish -p "$P" -t plain/x -m 'as is'
wait_for 20 sh -c "! kill -0 ${BG_PID[sub2]} 2>/dev/null"
is "$(grep -v '^mqttsec-device' "$TEST_TMP/sub2.log")" "as is" "unprotected payload printed unchanged"
ok "plaintext on a protected topic reported, not printed" grep -q "cannot open message on sealed/c" "$TEST_TMP/sub2.log"

## -l publishes one message per line
start_bg sub3 "$D" -c "$C" subscribe -p "$P" -t 'sealed/l' -C 3 -W 120
subscribed 4
ok "publish -l" sh -c "printf 'one\ntwo\nthree\n' | '$D' -c '$C' publish -p '$P' -t sealed/l -l -q 1"
wait_for 20 sh -c "! kill -0 ${BG_PID[sub3]} 2>/dev/null"
is "$(cat "$TEST_TMP/sub3.log")" "one
two
three" "three lines, three sealed messages, in order"

## refusals
"$D" -c "$C" publish -p "$P" -m x >/dev/null 2>&1
is "$?" 64 "publish without -t: usage error"
"$D" -c "$C" publish -p "$P" -t 'a/+' -m x >/dev/null 2>&1
is "$?" 64 "publish to a wildcard topic refused"
"$D" -c "$C" publish -p "$P" -t a -m x -q 3 >/dev/null 2>&1
is "$?" 64 "qos 3 refused"
CLOSED=$(free_port)
ERR=$("$D" -c "$C" publish -p "$CLOSED" -t a -m x 2>&1)
is "$?" 69 "unreachable broker: EX_UNAVAILABLE"
is "$(printf '%s\n' "$ERR" | wc -l)" 1 "one-line message"
ok "message names the broker" sh -c "printf '%s' '$ERR' | grep -q 'cannot connect to 127.0.0.1:$CLOSED'"
head -c $((1024 * 1024 + 1)) /dev/zero >"$TEST_TMP/big"
"$D" -c "$C" publish -p "$P" -t sealed/big -f "$TEST_TMP/big" >/dev/null 2>&1
is "$?" 65 "a file over 1 MiB is refused"

## with TOTP, two runs within one time step: the second waits for a fresh
## code (the broker refuses a replayed step) instead of failing
C2=$TEST_TMP/totp.json
make_creds "$C2" dev2 "$SECRET" 6 5 SHA1 "device:18:$KEY"
# start just after a step boundary: the second run then falls in the same
# 5 s step even on a busy machine
python3 -c 'import time; time.sleep(5 - time.time() % 5 + 0.2)'
ok "first run with TOTP credentials" "$D" -c "$C2" publish -p "$P" -t plain/t -m one
is "$(stat -c %a "$C2.step")" 600 "the last step used is kept in CREDS.step, mode 0600"
ERR=$("$D" -c "$C2" publish -p "$P" -t plain/t -m two 2>&1)
is "$?" 0 "second run succeeds"
ok "second run waited for the next step" sh -c "printf '%s' '$ERR' | grep -q 'waiting .* for a fresh one-time code'"
STEP1=$(cat "$C2.step")
ok "the step file moved on" test "$STEP1" -gt 0

done_testing
