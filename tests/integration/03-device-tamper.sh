#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 03-device-tamper.sh - mqttsec-device open refuses every damaged envelope:
# one flipped bit at every byte position, every truncation, an extra byte,
# the wrong topic, and credentials without the key id.  A refusal is a
# non-zero exit (EX_DATAERR) with nothing at all on stdout.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_file "$DEVICE_BIN"
need_cmd python3

D=$DEVICE_BIN
DEVKEY=$(random_key)
TOPKEY=$(random_key)
C=$TEST_TMP/creds.json
make_creds "$C" dev1 JBSWY3DPEHPK3PXP 6 30 SHA1 "device:17:$DEVKEY" \
	"topic:42:$TOPKEY:alerts/#"
T=alerts/room3
printf 'secret reading 41.5' >"$TEST_TMP/plain"

# mutate ENV DIR: write DIR/flip.N (bit N%8 of byte N flipped) for every
# byte, DIR/trunc.N (first N bytes) for N in 0..len-1, and DIR/extra.
mutate() {
	mkdir -p "$2"
	python3 - "$1" "$2" <<'EOF'
import sys
env = open(sys.argv[1], "rb").read()
d = sys.argv[2]
for i in range(len(env)):
    b = bytearray(env)
    b[i] ^= 1 << (i % 8)
    open(f"{d}/flip.{i}", "wb").write(b)
    open(f"{d}/trunc.{i}", "wb").write(env[:i])
open(f"{d}/extra", "wb").write(env + b"\0")
EOF
}

# all_refused DESC CREDS TOPIC FILE...: open every FILE; each must exit 65
# (EX_DATAERR) with "cannot open envelope" and write 0 bytes to stdout.
all_refused() {
	local desc=$1 creds=$2 topic=$3 f rc bad_rc='' bad_out='' n=0
	shift 3
	for f in "$@"; do
		n=$((n + 1))
		rc=0
		"$D" -c "$creds" open "$topic" <"$f" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
		if [ "$rc" -ne 65 ] || ! grep -q '^mqttsec-device: cannot open envelope: ' "$TEST_TMP/err"; then
			bad_rc="$bad_rc ${f##*/}(exit $rc)"
		fi
		if [ -s "$TEST_TMP/out" ]; then
			bad_out="$bad_out ${f##*/}($(stat -c %s "$TEST_TMP/out") bytes)"
		fi
	done
	if [ -z "$bad_rc" ]; then
		pass "$desc: all $n refused with EX_DATAERR"
	else
		fail "$desc: all $n refused with EX_DATAERR" "not refused:$bad_rc"
	fi
	if [ -z "$bad_out" ]; then
		pass "$desc: nothing written to stdout"
	else
		fail "$desc: nothing written to stdout" "wrote plaintext:$bad_out"
	fi
}

# check_envelope NAME CREDS TOPIC: the untouched envelope opens; then all
# of its mutations are refused.
check_envelope() {
	local name=$1 creds=$2 topic=$3 env=$TEST_TMP/$1.env dir=$TEST_TMP/$1.d len
	len=$(stat -c %s "$env")
	ok "$name: the intact envelope ($len bytes) opens" "$D" -c "$creds" open "$topic" <"$env"
	mutate "$env" "$dir"
	all_refused "$name: one bit flipped at each of $len positions" "$creds" "$topic" \
		"$dir"/flip.*
	all_refused "$name: truncated to each length 0..$((len - 1))" "$creds" "$topic" \
		"$dir"/trunc.*
	all_refused "$name: one byte appended" "$creds" "$topic" "$dir/extra"
}

# an envelope sealed by the device (device key, no origin)
"$D" -c "$C" seal "$T" <"$TEST_TMP/plain" >"$TEST_TMP/device.env"
check_envelope device "$C" "$T"

# an envelope as the broker re-seals it (topic key, with origin), made by
# the independent implementation when available
if [ -f "$ENVELOPE_PY" ] && python3 -c 'import cryptography' 2>/dev/null; then
	python3 "$ENVELOPE_PY" seal --key-b64 "$TOPKEY" --key-id 42 --topic "$T" --origin dev2 \
		<"$TEST_TMP/plain" >"$TEST_TMP/origin.env"
	check_envelope origin "$C" "$T"
else
	for _ in 1 2 3 4 5 6 7; do
		skip "tamper an envelope with origin" "python3 cryptography not installed"
	done
fi

# the wrong topic
all_refused "opened for another topic" "$C" alerts/room4 "$TEST_TMP/device.env"
# credentials without the key id
NOKEY=$TEST_TMP/nokey.json
make_creds "$NOKEY" dev1 JBSWY3DPEHPK3PXP 6 30 SHA1 "device:18:$DEVKEY" \
	"topic:43:$TOPKEY:alerts/#"
all_refused "credentials without the key id" "$NOKEY" "$T" "$TEST_TMP/device.env"
"$D" -c "$NOKEY" open "$T" <"$TEST_TMP/device.env" >/dev/null 2>"$TEST_TMP/err"
ok "... says the envelope was sealed with another key" grep -q 'sealed with another key' \
	"$TEST_TMP/err"
# the same key id with other key bytes
OTHER=$TEST_TMP/other.json
make_creds "$OTHER" dev1 JBSWY3DPEHPK3PXP 6 30 SHA1 "device:17:$(random_key)"
all_refused "the same key id with other key bytes" "$OTHER" "$T" "$TEST_TMP/device.env"

done_testing
