#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 40-device-split-join.sh - medical records split k-of-n by mqttsec-device
# (docs/medical.md) on a real broker with the plugin: three protected channel
# topics, k = 2.  Device A publishes split records (text, -l lines, a 64 KiB
# binary record); device B joins them back byte for byte with the right
# topic, sender and origin; a publisher denied one channel still gets its
# records through (k of n); a join with the wrong record key drops the
# shares as unknown-key; -o DIR writes 0600 files.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN" "$GATEWAY_BIN"

CH=med/ch/0,med/ch/1,med/ch/2
RT=clinic/a/record

acl topic protect 'med/ch/#' >/dev/null || bail_out "topic protect failed"
for d in devA devB devC devD; do
	pdevice "$d"
done
acl acl add allow all devA 'med/ch/#' >/dev/null
acl acl add allow all devB 'med/ch/#' >/dev/null
# devC may publish on two channels only: the third is refused by the ACL
acl acl add allow pub devC med/ch/0 >/dev/null
acl acl add allow pub devC med/ch/1 >/dev/null
# devD may publish on one channel only: below the threshold
acl acl add allow pub devD med/ch/0 >/dev/null
ok "topic keys for the joiner" acl key export 'med/ch/#' --for devB \
	--out "$TEST_TMP/devB.json"

# record keys from a gateway store (key add / key export), one per sender
(umask 077 && echo '{"username": "gateway", "keys": []}' >"$TEST_TMP/gw.json")
cat >"$TEST_TMP/gw.conf" <<EOF
[broker]
host = 127.0.0.1
port = 1
credentials = $TEST_TMP/gw.json

[store]
db = $TEST_TMP/gw.db
master_key_file = $TEST_TMP/gw.key
spool_dir = $TEST_TMP/spool

[route alerts]
topic = alerts/#
kind = alert
EOF
gwk() { "$GATEWAY_BIN" -q -c "$TEST_TMP/gw.conf" key "$@"; }
ok "record key clinicA" gwk add clinicA
ok "record key other" gwk add other
ok "export clinicA" gwk export clinicA --out "$TEST_TMP/clinicA.key.json"
ok "export other" gwk export other --out "$TEST_TMP/other.key.json"
KA=$TEST_TMP/clinicA.key.json
KO=$TEST_TMP/other.key.json

start_plugin_broker

# subacks: SUBACKs the broker sent so far.
subacks() {
	grep -c 'Sending SUBACK to' "$MOSQ_LOG"
}
_subacks_ge() {
	[ "$(subacks)" -ge "$1" ]
}
# join_bg NAME KEYFILE ARGS...: devB joins in the background; stdout to
# $TEST_TMP/NAME.out, stderr to $TEST_TMP/NAME.err; waits for its 3 SUBACKs.
join_bg() {
	local name=$1 key=$2 before
	shift 2
	before=$(subacks)
	start_bg "$name" sh -c 'out=$1 err=$2; shift 2; exec "$@" >"$out" 2>"$err"' sh \
		"$TEST_TMP/$name.out" "$TEST_TMP/$name.err" \
		timeout 90 "$DEVICE_BIN" -c "$TEST_TMP/devB.json" -K "$key" join \
		-h 127.0.0.1 -p "$MOSQ_PORT" --channels "$CH" --threshold 2 "$@"
	wait_for 20 _subacks_ge $((before + 3))
}
# split NAME ARGS...: device NAME publishes split records with key clinicA.
split() {
	local name=$1
	shift
	timeout 60 "$DEVICE_BIN" -c "$TEST_TMP/$name.json" -K "$KA" publish \
		-h 127.0.0.1 -p "$MOSQ_PORT" --split "$CH" --threshold 2 -t "$RT" "$@"
}
_exited() {
	! bg_alive "$1"
}

# --- text records to stdout
ok "join 1 subscribed to the three channels" join_bg j1 "$KA" -C 3 -W 80
ok "devA publishes one record split over three channels" split devA -m 'first record'
ok "devA publishes two records with -l" \
	sh -c "printf 'line two\nline three\n' | \"\$@\"" sh \
	timeout 60 "$DEVICE_BIN" -c "$TEST_TMP/devA.json" -K "$KA" publish \
	-h 127.0.0.1 -p "$MOSQ_PORT" --split "$CH" --threshold 2 -t "$RT" -l
ok "join 1 ends after 3 records" wait_for 60 _exited j1
is "$(cat "$TEST_TMP/j1.out")" "first recordline twoline three" \
	"the records' bytes on stdout, in order"
is "$(grep -c "^record [0-9a-f]\{32\} topic $RT sender clinicA origin devA\$" \
	"$TEST_TMP/j1.err")" 3 "stderr: record id, topic, sender and origin of each"
nok "no drop reported" grep -q "dropped" "$TEST_TMP/j1.err"
nok "no record content on stderr" grep -q "first record" "$TEST_TMP/j1.err"
nok "no record content in the broker log" grep -q "first record" "$MOSQ_LOG"

# --- a 64 KiB binary record, written with -o DIR
mkdir -m 700 "$TEST_TMP/out2"
head -c 65536 /dev/urandom >"$TEST_TMP/big.bin"
ok "join 2 subscribed" join_bg j2 "$KA" -C 1 -o "$TEST_TMP/out2" -W 80
ok "devA publishes a 64 KiB record" sh -c '"$@" 2>"$0"' "$TEST_TMP/big.err" \
	timeout 60 "$DEVICE_BIN" -c "$TEST_TMP/devA.json" -K "$KA" publish \
	-h 127.0.0.1 -p "$MOSQ_PORT" --split "$CH" --threshold 2 -t "$RT" -f "$TEST_TMP/big.bin"
ok "join 2 ends after the record" wait_for 60 _exited j2
# shellcheck disable=SC2012
F=$(ls "$TEST_TMP/out2" | head -n 1)
is "$(ls "$TEST_TMP/out2" | wc -l)" 1 "one file in the output folder"
ok "named by the 32 hex digits of the record id" test "${#F}" -eq 32
ok "identical bytes" cmp -s "$TEST_TMP/big.bin" "$TEST_TMP/out2/$F"
is "$(stat -c %a "$TEST_TMP/out2/$F")" 600 "record file is 0600"
is "$(wc -c <"$TEST_TMP/j2.out")" 0 "nothing on stdout with -o"
ok "stderr names it" grep -q "^record $F topic $RT sender clinicA origin devA\$" \
	"$TEST_TMP/j2.err"
ok "the publisher reported the same record id" \
	grep -q "^record $F split into 3 shares (threshold 2)\$" "$TEST_TMP/big.err"

# --- a record of 1,000,000 bytes (near the 1 MiB cap); a 1 MiB one is refused
mkdir -m 700 "$TEST_TMP/outm"
head -c 1000000 /dev/urandom >"$TEST_TMP/m.bin"
head -c 1048576 /dev/urandom >"$TEST_TMP/toobig.bin"
ok "join M subscribed" join_bg jm "$KA" -C 1 -o "$TEST_TMP/outm" -W 80
ok "devA publishes a 1,000,000-byte record" split devA -f "$TEST_TMP/m.bin"
ok "join M ends after the record" wait_for 60 _exited jm
ok "identical bytes" cmp -s "$TEST_TMP/m.bin" "$TEST_TMP"/outm/*
split devA -f "$TEST_TMP/toobig.bin" 2>"$TEST_TMP/toobig.err"
is "$?" 65 "a 1 MiB record is refused (EX_DATAERR)"
ok "as too large" grep -q "too large" "$TEST_TMP/toobig.err"

# --- one channel refused to the publisher: k of n still completes
mkdir -m 700 "$TEST_TMP/out3"
ok "join 3 subscribed" join_bg j3 "$KA" -C 1 -o "$TEST_TMP/out3" -W 80
split devC -m 'two of three' 2>"$TEST_TMP/devC.err"
is "$?" 0 "devC's split publish succeeds with two channels of three"
ok "join 3 rebuilds it from two shares" wait_for 60 _exited j3
is "$(cat "$TEST_TMP"/out3/* 2>/dev/null)" "two of three" "the record from k shares"
ok "origin devC" grep -q "sender clinicA origin devC\$" "$TEST_TMP/j3.err"

# --- a record whose file exists already (a replay) is "delivered before":
# reported, not fatal.  Two joiners write into the same folder: for each
# record one of them finds the file there.
mkdir -m 700 "$TEST_TMP/out6"
ok "join 6a subscribed" join_bg j6a "$KA" -C 2 -o "$TEST_TMP/out6" -W 25
ok "join 6b subscribed" join_bg j6b "$KA" -C 2 -o "$TEST_TMP/out6" -W 25
ok "devA publishes two records for both joiners" \
	sh -c "printf 'six one\nsix two\n' | \"\$@\"" sh \
	timeout 60 "$DEVICE_BIN" -c "$TEST_TMP/devA.json" -K "$KA" publish \
	-h 127.0.0.1 -p "$MOSQ_PORT" --split "$CH" --threshold 2 -t "$RT" -l
_before2() {
	[ "$(cat "$TEST_TMP/j6a.err" "$TEST_TMP/j6b.err" | grep -c "delivered before")" -ge 2 ]
}
ok "the joiner that finds the file says \"delivered before\"" wait_for 60 _before2
is "$(ls "$TEST_TMP/out6" | wc -l)" 2 "two record files"
nok "no joiner stopped on an existing file" \
	grep -q "cannot write record" "$TEST_TMP/j6a.err" "$TEST_TMP/j6b.err"
ok "delivered before names the record id" \
	grep -qh "^record [0-9a-f]\{32\}: delivered before (.*out6/[0-9a-f]\{32\} exists), ignored\$" \
	"$TEST_TMP/j6a.err" "$TEST_TMP/j6b.err"
stop_bg j6a
stop_bg j6b

# --- two channels refused: k - 1 shares, the group expires as incomplete
ok "join 5 subscribed (join timeout 2 s)" join_bg j5 "$KA" -C 1 -W 30 --join-timeout 2
split devD -m 'one of three' 2>"$TEST_TMP/devD.err"
is "$?" 77 "devD's split publish fails: two channels of three refused (EX_NOPERM)"
ok "the publisher says why" grep -q "records cannot be rebuilt (threshold 2)" \
	"$TEST_TMP/devD.err"
ok "the joiner drops the record as incomplete, with have/need" \
	wait_for 20 grep -q "^dropped record [0-9a-f]\{32\}: incomplete (have 1, need 2)\$" \
	"$TEST_TMP/j5.err"
stop_bg j5
is "$(wc -c <"$TEST_TMP/j5.out")" 0 "nothing printed"

# --- a receiver without the sender's record key
ok "join 4 (wrong record key) subscribed" join_bg j4 "$KO" -C 1 -W 80
ok "devA publishes" split devA -m 'not for you'
ok "the shares are dropped as unknown-key" \
	wait_for 30 grep -q "dropped share: unknown-key" "$TEST_TMP/j4.err"
stop_bg j4
is "$(wc -c <"$TEST_TMP/j4.out")" 0 "nothing printed"
ok "the drops are counted at exit" grep -q "^shares dropped: unknown-key 3\$" "$TEST_TMP/j4.err"
ok "the open record is not reported as incomplete (no group was opened)" \
	sh -c "! grep -q 'still incomplete' '$TEST_TMP/j4.err'"
nok "no content on stderr" grep -q "not for you" "$TEST_TMP/j4.err"

# --- usage errors
nok "threshold above n" split devA -m x --threshold 4
nok "one channel only" "$DEVICE_BIN" -c "$TEST_TMP/devA.json" -K "$KA" publish \
	-p "$MOSQ_PORT" --split med/ch/0 --threshold 2 -t "$RT" -m x
nok "a wildcard channel" "$DEVICE_BIN" -c "$TEST_TMP/devA.json" -K "$KA" publish \
	-p "$MOSQ_PORT" --split 'med/ch/0,med/#' --threshold 2 -t "$RT" -m x
nok "a channel listed twice" "$DEVICE_BIN" -c "$TEST_TMP/devA.json" -K "$KA" publish \
	-p "$MOSQ_PORT" --split 'med/ch/0,med/ch/0' --threshold 2 -t "$RT" -m x
nok "no record key" "$DEVICE_BIN" -c "$TEST_TMP/devA.json" publish \
	-p "$MOSQ_PORT" --split "$CH" --threshold 2 -t "$RT" -m x
nok "two record keys and no --record-key" "$DEVICE_BIN" -c "$TEST_TMP/devA.json" -K "$KA" \
	-K "$KO" publish -p "$MOSQ_PORT" --split "$CH" --threshold 2 -t "$RT" -m x
ok "two record keys, --record-key NAME picks one" "$DEVICE_BIN" -c "$TEST_TMP/devA.json" \
	-K "$KA" -K "$KO" publish -p "$MOSQ_PORT" --split "$CH" --threshold 2 -t "$RT" -m x \
	--record-key other
KOID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"][0]["id"])' "$KO")
ok "--record-key ID picks one" "$DEVICE_BIN" -c "$TEST_TMP/devA.json" -K "$KA" -K "$KO" \
	publish -p "$MOSQ_PORT" --split "$CH" --threshold 2 -t "$RT" -m x --record-key "$KOID"
nok "--record-key of an unknown key" "$DEVICE_BIN" -c "$TEST_TMP/devA.json" -K "$KA" \
	publish -p "$MOSQ_PORT" --split "$CH" --threshold 2 -t "$RT" -m x --record-key nobody
nok "the same key file twice (same id) is refused" "$DEVICE_BIN" -c "$TEST_TMP/devA.json" \
	-K "$KA" -K "$KA" publish -p "$MOSQ_PORT" --split "$CH" --threshold 2 -t "$RT" -m x
chmod 644 "$KO"
nok "a world-readable key file is refused" "$DEVICE_BIN" -c "$TEST_TMP/devA.json" \
	-K "$KO" join -p "$MOSQ_PORT" --channels "$CH" --threshold 2 -C 1 -W 1

done_testing
