#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 72-attack-keyreq-clientids.sh - outside attacker holding one device's
# credentials (docs/payload-encryption.md, "Online keys", rate limit):
# with connect tokens the device opens connections under fresh client ids
# at once, each of which would start with a full per-client-id bucket; the
# limit also holds per username, so 45 requests from 15 client ids in a
# few seconds are not all answered (each answer is a database transaction
# and an audit row), and a flood over many client ids bans the username.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN"

acl topic protect 'site1/#' >/dev/null || bail_out "topic protect failed"
start_plugin_broker "plugin_opt_max_auth_failures 0" "plugin_opt_max_ip_failures 0"
# enrolled while the broker runs: the credentials say connect_tokens
device multi
acl acl add allow all multi 'site1/#' >/dev/null
ok "the credentials allow connect tokens" python3 -c \
	'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get("connect_tokens") is True else 1)' \
	"$TEST_TMP/multi.json"

for i in 1 2 3; do
	echo '{"filters":["site1/#"],"nonce":"AAECAwQFBgcICQoLDA0ODw=="}'
done >"$TEST_TMP/req.lines"
START=$(date +%s)
for i in $(seq 15); do
	timeout "$CLIENT_TIMEOUT" "$DEVICE_BIN" -c "$TEST_TMP/multi.json" publish -h 127.0.0.1 \
		-p "$MOSQ_PORT" -i "multi-$i" -t mqttsec/keys/req -q 0 --seal -l \
		<"$TEST_TMP/req.lines" >/dev/null 2>&1
done
ELAPSED=$(($(date +%s) - START))
answered() {
	grep -c 'mqttsec: sent [0-9]* topic keys of [0-9]* filters to client multi-' "$MOSQ_LOG"
}
ok "requests beyond the per-device limit are refused" wait_for 10 logged \
	'refused key request from client multi-[0-9]*: rate limit: all clients of the device'
ok "20 refused in a row over several client ids are a flood: the username is banned" \
	wait_for 10 logged 'banned username multi for [0-9]* s: key request flood'
N=$(answered)
diag "answered $N of 45 requests from 15 client ids in $ELAPSED s"
ok "at most 10 + one every 2 s are answered" test "$N" -le $((10 + ELAPSED / 2 + 1))
stop_bg mosquitto
done_testing
