#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 39-medical-share-interop.sh - medical k-of-n shares (docs/medical.md, "Wire
# format") between lib/mqs_share.c (through tests/tools/share-tool) and an
# independent Python implementation (tests/tools/shamir.py: GF(2^8) mod 0x11D
# and Lagrange written in Python, HKDF/HMAC from cryptography), both
# directions: tag keys, split/combine for several n and k and subsets,
# records sealed on one side and opened on the other (the envelope nonce
# derived from the record id the same way on both sides), and refusals of
# tampered headers, too few shares and a record opened as another record
# id, either way.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

SHARE_TOOL=$top_builddir/tests/tools/share-tool
SHAMIR_PY=$top_srcdir/tests/tools/shamir.py
need_file "$SHARE_TOOL" "$SHAMIR_PY"
need_cmd python3 cmp od head sed tr
need_python_module cryptography

C() { "$SHARE_TOOL" "$@"; }
PY() { python3 "$SHAMIR_PY" "$@"; }
hexkey() { head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n'; }
hexid() { head -c 16 /dev/urandom | od -An -tx1 -v | tr -d ' \n'; }

RK=$(hexkey)
RK2=$(hexkey)

## tag keys: HKDF-SHA256(record key, salt empty, info "mqttsec-share-v1")
TK=$(C tag-key "$RK")
is "$TK" "$(PY tag-key "$RK")" "tag key: C and Python agree"
TK2=$(C tag-key "$RK2")
ok "another record key gives another tag key" test "$TK" != "$TK2"

head -c 1000 /dev/urandom >"$TEST_TMP/secret"
printf '\000' >"$TEST_TMP/one"

# pick LINES FILE: the lines of FILE whose numbers are in LINES (e.g. "1 3")
pick() {
	local f=$2 n
	for n in $1; do sed -n "${n}p" "$f"; done
}

## C splits, Python combines; Python splits, C combines
for nk in "2 2:1 2" "3 2:3 1" "5 3:2 4 5" "5 3:1 2 3" "8 4:8 1 6 3" "8 8:1 2 3 4 5 6 7 8"; do
	n=${nk%%:*}
	lines=${nk#*:}
	for src in secret one; do
		# shellcheck disable=SC2086 # n is "N K"
		C split $n "$TK" <"$TEST_TMP/$src" >"$TEST_TMP/c.shares"
		pick "$lines" "$TEST_TMP/c.shares" | PY combine "$TK" >"$TEST_TMP/out"
		ok "C split ($n, $src), Python combines shares $lines" cmp "$TEST_TMP/$src" \
			"$TEST_TMP/out"
		# shellcheck disable=SC2086
		PY split $n "$TK" <"$TEST_TMP/$src" >"$TEST_TMP/py.shares"
		pick "$lines" "$TEST_TMP/py.shares" | C combine "$TK" >"$TEST_TMP/out"
		ok "Python split ($n, $src), C combines shares $lines" cmp "$TEST_TMP/$src" \
			"$TEST_TMP/out"
	done
done

## too few shares, tampered headers, another key: refused both ways
C split 5 3 "$TK" <"$TEST_TMP/secret" >"$TEST_TMP/c.shares"
PY split 5 3 "$TK" <"$TEST_TMP/secret" >"$TEST_TMP/py.shares"
rc=0
pick "1 4" "$TEST_TMP/c.shares" | PY combine "$TK" >"$TEST_TMP/out" 2>/dev/null || rc=$?
ok "Python refuses k-1 of C's shares" test "$rc" -eq 1 -a ! -s "$TEST_TMP/out"
rc=0
pick "2 5" "$TEST_TMP/py.shares" | C combine "$TK" >"$TEST_TMP/out" 2>/dev/null || rc=$?
ok "C refuses k-1 of Python's shares" test "$rc" -eq 1 -a ! -s "$TEST_TMP/out"

# flip one hex digit of the record id (header byte 4) of the first line
tamper() {
	local l r
	{
		read -r l
		r=0
		[ "${l:8:1}" != 0 ] || r=1
		printf '%s%s%s\n' "${l:0:8}" "$r" "${l:9}"
		cat
	} <"$1"
}
tamper "$TEST_TMP/c.shares" | head -3 >"$TEST_TMP/t.shares"
ok "(the tampered line differs)" bash -c "! cmp -s <(head -1 '$TEST_TMP/t.shares') <(head -1 '$TEST_TMP/c.shares')"
rc=0
PY combine "$TK" <"$TEST_TMP/t.shares" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
ok "Python refuses C's share with a tampered header" test "$rc" -eq 1 -a ! -s "$TEST_TMP/out"
ok "... because the tag does not verify" grep -q 'tag does not verify' "$TEST_TMP/err"
tamper "$TEST_TMP/py.shares" | head -3 >"$TEST_TMP/t.shares"
rc=0
C combine "$TK" <"$TEST_TMP/t.shares" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
ok "C refuses Python's share with a tampered header" test "$rc" -eq 1 -a ! -s "$TEST_TMP/out"
ok "... because the tag does not verify" grep -q 'tag does not verify' "$TEST_TMP/err"
rc=0
head -3 "$TEST_TMP/py.shares" | C combine "$TK2" >"$TEST_TMP/out" 2>/dev/null || rc=$?
ok "C refuses Python's shares under another record key" test "$rc" -eq 1
rc=0
head -3 "$TEST_TMP/c.shares" | PY combine "$TK2" >"$TEST_TMP/out" 2>/dev/null || rc=$?
ok "Python refuses C's shares under another record key" test "$rc" -eq 1

## whole records: sealed and split on one side, combined and opened on the other
head -c 3000 /dev/urandom >"$TEST_TMP/record"
ID=$(hexid)
ID2=$(hexid)
C record-seal "$RK" 41 "$ID" clinic/7/record gw-hospital-a <"$TEST_TMP/record" >"$TEST_TMP/sec"
C split 3 2 "$TK" "$ID" <"$TEST_TMP/sec" >"$TEST_TMP/c.shares"
ok "the shares carry the record id" grep -q "^01030201$ID" "$TEST_TMP/c.shares"
pick "3 2" "$TEST_TMP/c.shares" | PY combine "$TK" >"$TEST_TMP/sec2"
rc=0
PY record-open "$RK" 41 "$ID" <"$TEST_TMP/sec2" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
is "$rc" 0 "C record (sealed, split) -> Python combine and open"
ok "... gives the record" cmp "$TEST_TMP/record" "$TEST_TMP/out"
ok "... for its topic" grep -qx 'topic: clinic/7/record' "$TEST_TMP/err"
ok "... with its origin" grep -qx 'origin: gw-hospital-a' "$TEST_TMP/err"
rc=0
PY record-open "$RK2" 41 "$ID" <"$TEST_TMP/sec2" >"$TEST_TMP/out" 2>/dev/null || rc=$?
ok "... and Python refuses it under another record key" test "$rc" -eq 1 -a ! -s "$TEST_TMP/out"
rc=0
PY record-open "$RK" 41 "$ID2" <"$TEST_TMP/sec2" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
ok "... or as another record id" test "$rc" -eq 1 -a ! -s "$TEST_TMP/out"
ok "... because the nonce is not the one of that id" grep -q 'not the one of this record id' \
	"$TEST_TMP/err"

PY record-seal "$RK" 42 "$ID" "capteurs/salle-é/record" <"$TEST_TMP/record" >"$TEST_TMP/sec"
C record-seal "$RK" 42 "$ID" "capteurs/salle-é/record" <"$TEST_TMP/record" >"$TEST_TMP/csec"
# the framed topic is 2 + 24 bytes; the envelope nonce is at 14..25 of the envelope
is "$(od -An -tx1 -v -j 40 -N 12 "$TEST_TMP/sec" | tr -d ' \n')" \
	"$(od -An -tx1 -v -j 40 -N 12 "$TEST_TMP/csec" | tr -d ' \n')" \
	"the nonce of a record id: C and Python agree"
PY split 4 3 "$TK" "$ID" <"$TEST_TMP/sec" >"$TEST_TMP/py.shares"
pick "4 1 2" "$TEST_TMP/py.shares" | C combine "$TK" >"$TEST_TMP/sec2"
rc=0
C record-open "$RK" 42 "$ID" <"$TEST_TMP/sec2" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
is "$rc" 0 "Python record (sealed, split) -> C combine and open"
ok "... gives the record" cmp "$TEST_TMP/record" "$TEST_TMP/out"
ok "... for its UTF-8 topic" grep -qx 'topic: capteurs/salle-é/record' "$TEST_TMP/err"
ok "... with no origin" grep -qx 'origin: ' "$TEST_TMP/err"
rc=0
C record-open "$RK2" 42 "$ID" <"$TEST_TMP/sec2" >"$TEST_TMP/out" 2>/dev/null || rc=$?
ok "... and C refuses it under another record key" test "$rc" -eq 1 -a ! -s "$TEST_TMP/out"
rc=0
C record-open "$RK" 43 "$ID" <"$TEST_TMP/sec2" >"$TEST_TMP/out" 2>/dev/null || rc=$?
ok "... or another key id" test "$rc" -eq 1 -a ! -s "$TEST_TMP/out"
rc=0
C record-open "$RK" 42 "$ID2" <"$TEST_TMP/sec2" >"$TEST_TMP/out" 2>/dev/null || rc=$?
ok "... or as another record id" test "$rc" -eq 1 -a ! -s "$TEST_TMP/out"

done_testing
