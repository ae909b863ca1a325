#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 110-plugin-keypush-filter-cap.sh - the filters remembered per client for
# key pushes (docs/payload-encryption.md, "Online keys";
# MQSP_KEYSVC_FILTERS_MAX, 1024): 1,030 protected filters fc/1/# ..
# fc/1030/#; one connection of d1 fetches all of them online, 64 a request
# (the request's cap), so its remembered filters grow past 64 up to 1,024;
# the last 6 are answered but not remembered, and that is logged once.  d2
# fetched them all too; disabling d2 rotates all 1,030 keys in one
# transaction ("Revoking rotates"), and d1 gets pushes for every one of its
# 1,024 remembered filters, in answers of at most 64 filters, with the new
# keys; none for the 6 past the cap, which it still gets by asking again.
# (17 paced requests per device: the test takes a minute or more; no
# timing assertion.)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_python_module cryptography

N=1030
CAP=1024
TOOL=$top_srcdir/tests/tools/keyfetch_filters.py
# enrolled first: a credentials file lists at most 1,024 protected filters
# (MQS_CREDS_KEYS_MAX: device add fails past that)
for d in d1 d2; do
	pdevice "$d"
	acl acl add allow read "$d" 'fc/#' >/dev/null
done
# mqsa_topic_protect, as mqttsec-acl topic protect, N times in one process
need_file "$top_builddir/tests/tools/protect-many"
t0=$(date +%s)
"$top_builddir/tests/tools/protect-many" "$MQTTSEC_DB" "$MQTTSEC_MASTER_KEY_FILE" fc "$N" ||
	bail_out "protect-many failed"
diag "$N filters protected in $(($(date +%s) - t0)) s"
is "$(acl topic list | grep -c '^fc/')" "$N" "$N filters protected"
acl topic protect extra/one >/dev/null 2>"$TEST_TMP/protect-extra.err"
ok "past 1,024 protected filters topic protect warns that credentials files cannot list them" \
	grep -q "warning: $((N + 1)) topic filters are protected; a credentials file lists 1024" \
	"$TEST_TMP/protect-extra.err"
acl topic unprotect extra/one --grace 0 >/dev/null || bail_out "cannot unprotect extra/one"
start_plugin_broker

start_bg d2fetch python3 "$TOOL" "$MOSQ_PORT" "$TEST_TMP/d2.json" d2-a fc "$N" \
	"$TEST_TMP/d2.ready"
start_bg d1fetch python3 "$TOOL" "$MOSQ_PORT" "$TEST_TMP/d1.json" d1-a fc "$N" \
	"$TEST_TMP/d1.ready" "$CAP" "$(scaled 60)"
_ready() {
	[ -e "$TEST_TMP/d1.ready" ] && [ -e "$TEST_TMP/d2.ready" ]
}
ok "d1 and d2 fetched (17 paced requests each)" wait_for 120 _ready
ok "d1 got the keys of all $N filters" grep -qx "fetched $N of $N" "$TEST_TMP/d1fetch.log"
ok "d2 got the keys of all $N filters" grep -qx "fetched $N of $N" "$TEST_TMP/d2fetch.log"
CAPPED="not remembering more filters of client d1-a of d1 for key pushes (cap $CAP"
ok "the filters past $CAP are not remembered, and that is logged" wait_for 10 logged "$CAPPED"
is "$(grep -c "not remembering more filters of client d2-a of d2" "$MOSQ_LOG")" 1 \
	"and once for d2"
is "$(grep -c 'refused key request' "$MOSQ_LOG")" 0 "no request was refused"

# d2 loses its read right: every filter it held gets a new key at once
acl device disable d2 >/dev/null || bail_out "device disable d2 failed"
ok "the rotation is pushed" wait_for 60 logged 'mqttsec: pushed new topic keys in'
ok "d1's client ends" wait_for 120 sh -c "! kill -0 ${BG_PID[d1fetch]} 2>/dev/null"
L=$TEST_TMP/d1fetch.log
ok "each of the $CAP remembered filters was pushed with its new key" \
	grep -qx "pushed $CAP of $CAP filters with a new key" "$L"
ok "none of the filters past the cap was pushed" grep -qx "filters past $CAP pushed: 0" "$L"
ok "in answers of at most 64 filters" \
	grep -qx "push answers: $((CAP / 64)), largest: 64 filters" "$L"
ok "the filters past the cap are still answered, with their new keys" \
	grep -qx "answered after the pushes: $((N - CAP + 1)) of $((N - CAP + 1))" "$L"
ok "the broker logged one run of $((CAP / 64)) answers" \
	logged "mqttsec: pushed new topic keys in $((CAP / 64)) answers"
is "$(grep -c "not remembering more filters of client d1-a" "$MOSQ_LOG")" 1 \
	"the cap was logged once for d1, after its request past the cap too"
stop_bg mosquitto
done_testing
