#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 72-attack-keyreq-clientids.sh - outside attacker holding one device's
# credentials (docs/payload-encryption.md, "Online keys", rate limit):
# with connect tokens the device opens connections under fresh client ids
# at once, each of which would start with a full per-client-id bucket; the
# limit also holds per username, so 45 requests from 15 client ids in a
# few seconds are not all answered (each answer is a database transaction
# and an audit row).
# Sealed messages with unknown key ids on a plain topic make no subscriber
# ask for keys (mqttsec-device subscribe fetches for protected topics only).
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
N=$(answered)
diag "answered $N of 45 requests from 15 client ids in $ELAPSED s"
ok "at most 10 + one every 2 s are answered" test "$N" -le $((10 + ELAPSED / 2 + 1))

# a device that may publish to a plain topic others read sends sealed
# messages there (key ids its readers lack): the readers must not answer
# each with a key request (one publish would make every subscriber ask)
BEFORE=$(reloads)
device pubx
device subx
acl acl add allow pub pubx 'plain/#' >/dev/null
acl acl add allow all subx 'plain/#' >/dev/null
wait_for 10 _reloaded_since "$BEFORE" || bail_out "the broker did not load pubx and subx"
wait_for 10 logged "mqttsec: reloaded .* [2-9] acl rules" || bail_out "no reload with the rules"
start_bg subx timeout 900 "$DEVICE_BIN" -c "$TEST_TMP/subx.json" subscribe -h 127.0.0.1 \
	-p "$MOSQ_PORT" -i subx -t 'plain/#' -v
subx_asked() {
	grep -c 'key request from client subx\|topic keys of [0-9]* filters to client subx' \
		"$MOSQ_LOG"
}
subx_asked_more() {
	[ "$(subx_asked)" -gt "$1" ]
}
ok "subx subscribed" wait_for 15 grep -q 'Sending SUBACK to subx' "$MOSQ_LOG"
ok "subx's start request is answered" wait_for 10 subx_asked_more 0
ASKED=$(subx_asked)
delivered() {
	[ "$(grep -c 'Sending PUBLISH to subx .*plain/x' "$MOSQ_LOG")" -ge 2 ]
}
for m in one two; do
	timeout "$CLIENT_TIMEOUT" "$DEVICE_BIN" -c "$TEST_TMP/pubx.json" publish -h 127.0.0.1 \
		-p "$MOSQ_PORT" -t plain/x -m "$m" --seal >/dev/null 2>&1
done
ok "both sealed messages reach subx" wait_for 10 delivered
ok "subx sends no key request for them" settle 5 subx_asked_more "$ASKED"
stop_bg subx
stop_bg mosquitto
done_testing
