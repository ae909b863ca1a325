#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 102-plugin-keypush-client-cap.sh - the per-device cap of clients
# remembered for key pushes (docs/payload-encryption.md, "Online keys";
# MQSP_KEYSVC_CLIENTS_PER_USER, 64): one device opens 65 connections at once
# with connect tokens under client ids d1-1..d1-65 and each fetches the key
# of a protected filter; every one gets its answer, the 65th is not
# remembered for pushes and that is logged once.  (The requests are paced
# under the per-device key request rate: the test takes about 2 minutes.)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"

N=65
acl topic protect 'cap/#' >/dev/null || bail_out "topic protect failed"
pdevice d1
acl acl add allow read d1 'cap/#' >/dev/null
start_plugin_broker "plugin_opt_clientid_policy any"
out=$(timeout 400 python3 "$top_srcdir/tests/tools/keyfetch_many.py" "$MOSQ_PORT" \
	"$TEST_TMP/d1.json" 'cap/#' "$N")
is "$out" "answered $N of $N" "all $N connections of d1 get their answer"
_capped() {
	grep -q "not remembering client d1-$N of d1 for key pushes: 64 clients of that device" \
		"$MOSQ_LOG"
}
ok "the 65th client is not remembered, and that is logged" wait_for 10 _capped
is "$(grep -c 'clients of that device remembered (cap)' "$MOSQ_LOG")" 1 "logged once"
stop_bg mosquitto
done_testing
