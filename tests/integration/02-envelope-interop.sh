#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 02-envelope-interop.sh - envelope v1 (docs/envelope.md) interoperability between
# mqttsec-device and an independent Python implementation
# (tests/tools/envelope.py, cryptography's AESGCM), both directions, with and
# without origin, and refusals for the wrong topic either way.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_file "$DEVICE_BIN" "$ENVELOPE_PY"
need_cmd python3 cmp
need_python_module cryptography

D=$DEVICE_BIN
PY() { python3 "$ENVELOPE_PY" "$@"; }
DEVKEY=$(random_key)
TOPKEY=$(random_key)
C=$TEST_TMP/creds.json
make_creds "$C" dev1 JBSWY3DPEHPK3PXP 6 30 SHA1 "device:17:$DEVKEY" \
	"topic:42:$TOPKEY:alerts/#"
T=sensors/dev1/temp
head -c 1000 /dev/urandom >"$TEST_TMP/plain"

# run_open CMD...: run an open command reading $TEST_TMP/env, writing
# $TEST_TMP/out and $TEST_TMP/err; sets rc.
run_open() {
	rc=0
	"$@" <"$TEST_TMP/env" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
}

## Python seals, mqttsec-device opens
PY seal --key-b64 "$DEVKEY" --key-id 17 --topic "$T" <"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open "$D" -c "$C" open "$T"
is "$rc" 0 "python seal (device key, no origin) -> device open"
ok "... gives the plaintext" cmp "$TEST_TMP/plain" "$TEST_TMP/out"
is "$(cat "$TEST_TMP/err")" "" "... and prints no origin"

PY seal --key-b64 "$TOPKEY" --key-id 42 --topic alerts/room3 --origin dev2 \
	<"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open "$D" -c "$C" open alerts/room3
is "$rc" 0 "python seal (topic key, origin dev2) -> device open"
ok "... gives the plaintext" cmp "$TEST_TMP/plain" "$TEST_TMP/out"
is "$(cat "$TEST_TMP/err")" "origin: dev2" "... and prints the origin on stderr"

PY seal --key-b64 "$TOPKEY" --key-id 42 --topic alerts/x --origin "$(printf 'ev\033[31mil\001')" \
	</dev/null >"$TEST_TMP/env"
run_open "$D" -c "$C" open alerts/x
is "$rc" 0 "python seal (empty plaintext, hostile origin) -> device open"
is "$(stat -c %s "$TEST_TMP/out")" 0 "... gives the empty plaintext"
is "$(cat "$TEST_TMP/err")" 'origin: ev\x1b[31mil\x01' "... and escapes control bytes in the origin"

PY seal --key-b64 "$TOPKEY" --key-id 42 --topic alerts/x --origin "capteur-é" \
	<"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open "$D" -c "$C" open alerts/x
is "$(cat "$TEST_TMP/err")" "origin: capteur-é" "a UTF-8 origin is printed as is"

PY seal --key-b64 "$DEVKEY" --key-id 17 --topic "$T" --nonce-hex 000102030405060708090a0b \
	--ts-ms 0 <"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open "$D" -c "$C" open "$T"
ok "python seal with a fixed nonce and timestamp 0 -> device open" cmp "$TEST_TMP/plain" \
	"$TEST_TMP/out"

UT="capteurs/température/salle-é"
PY seal --key-b64 "$DEVKEY" --key-id 17 --topic "$UT" <"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open "$D" -c "$C" open "$UT"
ok "python seal -> device open with a non-ASCII UTF-8 topic" cmp "$TEST_TMP/plain" \
	"$TEST_TMP/out"

## mqttsec-device seals, Python opens
"$D" -c "$C" seal "$T" <"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open PY open --key-b64 "$DEVKEY" --topic "$T"
is "$rc" 0 "device seal -> python open"
ok "... gives the plaintext" cmp "$TEST_TMP/plain" "$TEST_TMP/out"
ok "... with key id 17" grep -qx 'key-id: 17' "$TEST_TMP/err"
ok "... and no origin" bash -c "! grep -q '^origin:' '$TEST_TMP/err'"
ts=$(sed -n 's/^ts-ms: //p' "$TEST_TMP/err")
now=$(($(date +%s) * 1000))
ok "... stamped with the current time in ms (within a day)" \
	test "$ts" -gt $((now - 86400000)) -a "$ts" -lt $((now + 86400000))

"$D" -c "$C" seal "$T" </dev/null >"$TEST_TMP/env"
run_open PY open --key-b64 "$DEVKEY" --topic "$T"
ok "device seal of 0 bytes -> python open" test "$rc" -eq 0 -a ! -s "$TEST_TMP/out"

"$D" -c "$C" seal "$UT" <"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open PY open --key-b64 "$DEVKEY" --topic "$UT"
ok "device seal -> python open with a non-ASCII UTF-8 topic" cmp "$TEST_TMP/plain" \
	"$TEST_TMP/out"

## wrong topic, both ways
PY seal --key-b64 "$DEVKEY" --key-id 17 --topic "$T" <"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open "$D" -c "$C" open sensors/dev1/humidity
ok "python seal for one topic, device open for another: refused" \
	test "$rc" -ne 0 -a ! -s "$TEST_TMP/out"
ok "... with 'cannot open envelope'" grep -q 'cannot open envelope: ' "$TEST_TMP/err"

"$D" -c "$C" seal "$T" <"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open PY open --key-b64 "$DEVKEY" --topic sensors/dev1/humidity
ok "device seal for one topic, python open for another: refused" \
	test "$rc" -ne 0 -a ! -s "$TEST_TMP/out"

## a topic key outside its filter, and the wrong key bytes
PY seal --key-b64 "$TOPKEY" --key-id 42 --topic medical/x <"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open "$D" -c "$C" open medical/x
ok "a topic key is not used outside its topic filter" test "$rc" -ne 0 -a ! -s "$TEST_TMP/out"

PY seal --key-b64 "$(random_key)" --key-id 17 --topic "$T" <"$TEST_TMP/plain" >"$TEST_TMP/env"
run_open "$D" -c "$C" open "$T"
ok "same key id, other key bytes: refused" test "$rc" -ne 0 -a ! -s "$TEST_TMP/out"
ok "... as an authentication failure" grep -q 'authentication failed' "$TEST_TMP/err"

done_testing
