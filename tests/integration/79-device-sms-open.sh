#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 79-device-sms-open.sh - the secure SMS envelope M1 (docs/sms-envelope.md)
# between the independent Python implementation (tests/tools/m1.py) and
# mqttsec-device sms-open: the published vectors, python seals -> device
# opens (action and component on stderr), and every refusal of the bad-input
# list exits 65 with nothing on stdout: unknown key id, a body altered by
# one character, the wrong To, a stale or future timestamp, a repeated
# (key id, nonce), an expired grace key; the replay file is 0600.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

M1_PY=$top_srcdir/tests/tools/m1.py
need_file "$DEVICE_BIN" "$M1_PY"
need_cmd python3
need_python_module cryptography

D=$DEVICE_BIN
PY() { python3 "$M1_PY" "$@"; }
K3=$(random_key)
K4=$(random_key)
KF=$TEST_TMP/phone.json
NOW=$(date +%s)
printf '{"keys":[{"id":3,"key":"%s","use":"sms","expires":%d},{"id":4,"key":"%s","use":"sms"},{"id":9,"key":"%s","use":"topic","topic":"x"}],"sms":{"phone":"+15551234567"}}\n' \
	"$K3" $((NOW + 3600)) "$K4" "$(random_key)" >"$KF"
chmod 600 "$KF"

# sms_open ARGS...: run sms-open on $TEST_TMP/body; sets rc, out, err.
sms_open() {
	rc=0
	"$D" -c "$KF" sms-open "$@" <"$TEST_TMP/body" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
}
# refused DESC ARGS...: sms-open exits 65 and prints nothing on stdout.
refused() {
	local desc=$1
	shift
	sms_open "$@"
	ok "$desc: exit 65 ($(head -c 120 "$TEST_TMP/err"))" test "$rc" -eq 65 -a ! -s "$TEST_TMP/out"
}

ok "python reproduces the published vectors" PY check-vectors

## python seals, the device opens
printf 'Server room 41.5 C' | PY seal --keyfile "$KF" --action 1 --component alerts >"$TEST_TMP/body"
ok "the body is #M1 and base64url only" grep -qE '^#M1[A-Za-z0-9_-]+$' "$TEST_TMP/body"
sms_open
is "$rc" 0 "python seal (key 4) -> sms-open"
is "$(cat "$TEST_TMP/out")" "Server room 41.5 C" "... gives the text"
is "$(cat "$TEST_TMP/err")" "$(printf 'action: 1\ncomponent: alerts')" "... action and component on stderr"
is "$(stat -c %a "$KF.replay")" 600 "the replay file is 0600"
refused "the same body again (repeated key id, nonce)"

printf 'code 123456' | PY seal --key-b64 "$K3" --key-id 3 --to +15551234567 --action 3 \
	--component login >"$TEST_TMP/body"
sms_open
is "$rc" 0 "a body under the older key 3 (in its grace) opens"
is "$(cat "$TEST_TMP/out")" "code 123456" "... gives the text"

printf 'x' | PY seal --key-b64 "$K4" --key-id 4 --to +15559999999 >"$TEST_TMP/body"
refused "sealed for another number (default To from the export)"
sms_open --to +15559999999
is "$rc" 0 "... opens with --to that number"

## the bad-input list
printf 'hello' | PY seal --key-b64 "$K4" --key-id 4 --to +15551234567 >"$TEST_TMP/good"
for pos in 3 10 30 $(($(wc -c <"$TEST_TMP/good") - 1)); do
	python3 -c 'import sys
b = open(sys.argv[1]).read(); i = int(sys.argv[2])
c = "A" if b[i] != "A" else "B"
sys.stdout.write(b[:i] + c + b[i + 1:])' "$TEST_TMP/good" "$pos" >"$TEST_TMP/body"
	refused "altered at character $pos"
done
cp "$TEST_TMP/good" "$TEST_TMP/body"
refused "wrong --to" --to +15551234568
printf 'hello' | PY seal --key-b64 "$K4" --key-id 5 --to +15551234567 >"$TEST_TMP/body"
refused "unknown key id 5"
printf 'hello' | PY seal --key-b64 "$K4" --key-id 9 --to +15551234567 >"$TEST_TMP/body"
refused "key id 9 of a topic key is not an sms key"
printf 'hello' | PY seal --key-b64 "$(random_key)" --key-id 4 --to +15551234567 >"$TEST_TMP/body"
refused "key id 4 with other key bytes"
printf 'hello' | PY seal --key-b64 "$K4" --key-id 4 --to +15551234567 --ts $((NOW - 90000)) \
	>"$TEST_TMP/body"
refused "stale (25 h old, default --max-age 86400)"
sms_open --max-age 100000
is "$rc" 0 "... opens with --max-age 100000"
printf 'hello' | PY seal --key-b64 "$K4" --key-id 4 --to +15551234567 --ts $((NOW - 120)) \
	>"$TEST_TMP/body"
refused "2 minutes old with --max-age 60" --max-age 60
printf 'hello' | PY seal --key-b64 "$K4" --key-id 4 --to +15551234567 --ts $((NOW + 3600)) \
	>"$TEST_TMP/body"
refused "an hour in the future"
printf 'not an sms' >"$TEST_TMP/body"
refused "a plaintext body"
head -c 1700 /dev/zero | tr '\0' A | sed 's/^/#M1/' >"$TEST_TMP/body"
refused "longer than 1600 characters"

## an expired grace key
printf '{"keys":[{"id":3,"key":"%s","use":"sms","expires":%d}],"sms":{"phone":"+15551234567"}}\n' \
	"$K3" $((NOW - 10)) >"$KF"
printf 'late' | PY seal --key-b64 "$K3" --key-id 3 --to +15551234567 >"$TEST_TMP/body"
refused "key 3 after its grace ended"
chmod 644 "$KF"
sms_open
is "$rc" 77 "a key export readable by others is refused (EX_NOPERM)"

done_testing
