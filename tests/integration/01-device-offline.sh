#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 01-device-offline.sh - mqttsec-device totp/seal/open without a broker:
# codes agree with oathtool, seal|open round trips, size caps, and refusals
# of missing, unsafe and malformed credentials files.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_file "$DEVICE_BIN"
need_cmd oathtool cmp

D=$DEVICE_BIN
SECRET=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ # RFC 6238's "12345678901234567890"
DEVKEY=$(random_key)
C=$TEST_TMP/creds.json
make_creds "$C" dev1 "$SECRET" 6 30 SHA1 "device:17:$DEVKEY"

# same_code DESC CREDS OATHTOOL_ARGS...: mqttsec-device totp equals oathtool;
# retried once in case a time step boundary passed between the two.
same_code() {
	local desc=$1 creds=$2 got want
	shift 2
	for _ in 1 2; do
		if [ -n "$creds" ]; then
			got=$("$D" -c "$creds" totp 2>&1)
		else
			got=$("$D" totp 2>&1)
		fi
		want=$(oathtool "$@" "$SECRET")
		[ "$got" = "$want" ] && break
	done
	is "$got" "$want" "$desc"
}

## totp
same_code "totp: 6 digits SHA1 equals oathtool" "$C" --totp -b
is "$("$D" -c "$C" totp | tr -d '0-9')" "" "totp prints only digits"
is "$("$D" -c "$C" totp | wc -c)" 7 "totp prints 6 digits and a newline"

C8=$TEST_TMP/creds8.json
make_creds "$C8" dev8 "$SECRET" 8 30 SHA256 "device:18:$DEVKEY"
same_code "totp: 8 digits SHA256 equals oathtool" "$C8" --totp=sha256 -d 8 -b

C512=$TEST_TMP/creds512.json
make_creds "$C512" dev9 "$SECRET" 6 60 SHA512
same_code "totp: SHA512 with a 60 s period equals oathtool" "$C512" --totp=sha512 -s 60 -b

MQTTSEC_CREDS=$C same_code "totp: credentials from \$MQTTSEC_CREDS" "" --totp -b

## seal | open round trips
T=sensors/dev1/temp
for size in 0 1 255 262144 1048576; do
	head -c "$size" /dev/urandom >"$TEST_TMP/plain.$size"
	rc=0
	"$D" -c "$C" seal "$T" <"$TEST_TMP/plain.$size" >"$TEST_TMP/env.$size" || rc=$?
	is "$rc" 0 "seal $size bytes"
	is "$(stat -c %s "$TEST_TMP/env.$size")" $((26 + size + 16)) \
		"envelope of $size bytes is 26 + $size + 16 bytes"
	rc=0
	"$D" -c "$C" open "$T" <"$TEST_TMP/env.$size" >"$TEST_TMP/back.$size" || rc=$?
	is "$rc" 0 "open $size bytes"
	ok "round trip of $size bytes is byte-exact" cmp "$TEST_TMP/plain.$size" "$TEST_TMP/back.$size"
done
env0=$(od -An -tx1 -N14 "$TEST_TMP/env.1" | tr -d ' \n')
is "${env0:0:12}" "010000000011" "header: version 1, no origin, key id 17"

## caps
head -c $((1024 * 1024 + 1)) /dev/zero >"$TEST_TMP/big"
rc=0
"$D" -c "$C" seal "$T" <"$TEST_TMP/big" >"$TEST_TMP/big.out" 2>"$TEST_TMP/big.err" || rc=$?
ok "seal of 1 MiB + 1 byte exits non-zero" test "$rc" -ne 0
is "$(stat -c %s "$TEST_TMP/big.out")" 0 "seal of 1 MiB + 1 byte writes nothing"
ok "seal of 1 MiB + 1 byte says why" grep -q 'larger than 1048576 bytes' "$TEST_TMP/big.err"

head -c $((26 + 255 + 1048576 + 16 + 1)) /dev/zero >"$TEST_TMP/bigenv"
rc=0
"$D" -c "$C" open "$T" <"$TEST_TMP/bigenv" >"$TEST_TMP/bigenv.out" 2>"$TEST_TMP/bigenv.err" ||
	rc=$?
ok "open of an oversize envelope exits non-zero" test "$rc" -ne 0
is "$(stat -c %s "$TEST_TMP/bigenv.out")" 0 "open of an oversize envelope writes nothing"

## bad arguments
rc=0
"$D" -c "$C" seal 'sensors/+/temp' </dev/null >/dev/null 2>"$TEST_TMP/err" || rc=$?
is "$rc" 64 "seal to a wildcard topic is a usage error (EX_USAGE)"
ok "... and says so" grep -q 'invalid topic' "$TEST_TMP/err"
rc=0
"$D" -c "$C" seal </dev/null >/dev/null 2>"$TEST_TMP/err" || rc=$?
is "$rc" 64 "seal without a topic is a usage error"
ok "... and prints the usage line" grep -q '^usage: mqttsec-device .*seal TOPIC' "$TEST_TMP/err"
rc=0
"$D" -c "$C" frobnicate >/dev/null 2>"$TEST_TMP/err" || rc=$?
is "$rc" 64 "an unknown command is a usage error"
rc=0
env -u MQTTSEC_CREDS "$D" totp >/dev/null 2>"$TEST_TMP/err" || rc=$?
is "$rc" 64 "no credentials given is a usage error"
ok "... and names -c and MQTTSEC_CREDS" grep -q 'MQTTSEC_CREDS' "$TEST_TMP/err"

## unusable credentials files
# refused CREDS PATTERN DESC: every command refuses CREDS, with a message
# matching PATTERN and nothing on stdout.
refused() {
	local creds=$1 pattern=$2 desc=$3 cmd rc bad=
	for cmd in totp "seal $T" "open $T"; do
		rc=0
		# shellcheck disable=SC2086
		"$D" -c "$creds" $cmd <"$TEST_TMP/env.1" >"$TEST_TMP/ref.out" 2>"$TEST_TMP/ref.err" ||
			rc=$?
		if [ "$rc" -eq 0 ] || [ -s "$TEST_TMP/ref.out" ] ||
			! grep -q "$pattern" "$TEST_TMP/ref.err" ||
			[ "$(wc -l <"$TEST_TMP/ref.err")" -ne 1 ]; then
			bad="$bad $cmd (exit $rc: $(cat "$TEST_TMP/ref.err"))"
		fi
	done
	if [ -z "$bad" ]; then
		pass "$desc"
	else
		fail "$desc" "not refused with /$pattern/ on one line:$bad"
	fi
}

refused "$TEST_TMP/nonexistent.json" "cannot read credentials .*no such file" \
	"a missing credentials file is refused"
cp "$C" "$TEST_TMP/open.json"
chmod 644 "$TEST_TMP/open.json"
refused "$TEST_TMP/open.json" "readable by group or others" \
	"a credentials file with mode 0644 is refused"
printf '{"username": "dev1", "totp": {' >"$TEST_TMP/broken.json"
chmod 600 "$TEST_TMP/broken.json"
refused "$TEST_TMP/broken.json" "cannot parse credentials" "malformed json is refused"
printf '{"username": "dev1", "keys": [{"id": 17, "key": "c2hvcnQ=", "use": "device"}]}' \
	>"$TEST_TMP/shortkey.json"
chmod 600 "$TEST_TMP/shortkey.json"
refused "$TEST_TMP/shortkey.json" "key must be base64 of 32 bytes" "a short key is refused"

make_creds "$TEST_TMP/nokey.json" dev1 "$SECRET" 6 30 SHA1
rc=0
"$D" -c "$TEST_TMP/nokey.json" seal "$T" <"$TEST_TMP/plain.1" >"$TEST_TMP/out" 2>"$TEST_TMP/err" ||
	rc=$?
ok "seal without a device key is refused" test "$rc" -ne 0 -a ! -s "$TEST_TMP/out"
ok "... and says so" grep -q 'no device key' "$TEST_TMP/err"
printf '{"username": "dev1"}' >"$TEST_TMP/nototp.json"
chmod 600 "$TEST_TMP/nototp.json"
rc=0
"$D" -c "$TEST_TMP/nototp.json" totp >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
ok "totp without a totp secret is refused" test "$rc" -ne 0 -a ! -s "$TEST_TMP/out"
ok "... and says so" grep -q 'no totp secret' "$TEST_TMP/err"

## a record key opens medical records only (docs/medical.md, Record keys)
RKEY=$(random_key)
cat >"$TEST_TMP/rk.json" <<EOF2
{"keys": [{"id": 4242, "key": "$RKEY", "use": "record", "name": "clinic"}]}
EOF2
chmod 600 "$TEST_TMP/rk.json"
printf 'record' | python3 "$top_srcdir/tests/tools/envelope.py" seal --key-b64 "$RKEY" \
	--key-id 4242 --topic "$T" >"$TEST_TMP/rkenv"
rc=0
"$D" -c "$C" -K "$TEST_TMP/rk.json" open "$T" <"$TEST_TMP/rkenv" >"$TEST_TMP/out" \
	2>"$TEST_TMP/err" || rc=$?
ok "open with a record key is refused" test "$rc" -ne 0 -a ! -s "$TEST_TMP/out"
ok "... and says so" grep -q 'is a record key' "$TEST_TMP/err"

done_testing
