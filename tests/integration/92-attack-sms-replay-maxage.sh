#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 92-attack-sms-replay-maxage.sh - an M1 body opened with --max-age 7200,
# then dropped from the replay file by an open with --max-age 60, is still
# refused when replayed to an open with --max-age 7200 (the drop raised the
# floor; before the fix it opened twice).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
M1_PY=$top_srcdir/tests/tools/m1.py
need_file "$DEVICE_BIN" "$M1_PY"
need_python_module cryptography
D=$DEVICE_BIN
K4=$(random_key)
KF=$TEST_TMP/phone.json
printf '{"keys":[{"id":4,"key":"%s","use":"sms"}],"sms":{"phone":"+15551234567"}}\n' "$K4" >"$KF"
chmod 600 "$KF"
NOW=$(date +%s)
printf 'old alert' | python3 "$M1_PY" seal --key-b64 "$K4" --key-id 4 --to +15551234567 --ts $((NOW - 3600)) >"$TEST_TMP/old"
printf 'new alert' | python3 "$M1_PY" seal --key-b64 "$K4" --key-id 4 --to +15551234567 --ts "$NOW" >"$TEST_TMP/new"
"$D" -c "$KF" sms-open --max-age 7200 <"$TEST_TMP/old" >/dev/null 2>&1
is "$?" 0 "old body opened once (--max-age 7200)"
"$D" -c "$KF" sms-open --max-age 7200 <"$TEST_TMP/old" >/dev/null 2>&1
is "$?" 65 "opened again at once: refused as a repeat"
"$D" -c "$KF" sms-open --max-age 60 <"$TEST_TMP/new" >/dev/null 2>&1
is "$?" 0 "a new body opened with --max-age 60"
"$D" -c "$KF" sms-open --max-age 7200 <"$TEST_TMP/old" >"$TEST_TMP/out" 2>&1
is "$?" 65 "the old body replayed (--max-age 7200): refused as a repeat"
done_testing
