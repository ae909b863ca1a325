#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 77-gateway-key-refetch.sh - the gateway's online keys beyond one request
# and for key ids it does not hold (docs/payload-encryption.md, "Online
# keys"): with 71 subscriptions it asks in two requests (64 filters a
# request), so the key of the 71st filter is fetched at connect; a filter
# protected after the gateway connected (no push: it never fetched it) is
# asked for again when the first sealed message under an unknown key id
# arrives, and that message waits and is opened, not dropped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$PLUGIN_SO" "$ACL_BIN" "$DEVICE_BIN"
. "$top_srcdir/tests/integration/gateway-lib.sh"

export MQTTSEC_DB=$TEST_TMP/mqttsec.db
export MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/master.key
acl() {
	"$ACL_BIN" "$@" >/dev/null
}
acl init || bail_out "mqttsec-acl init failed"
acl device add gateway --period 2 --out "$GW_CREDS"
acl device add sensor1 --period 2 --out "$TEST_TMP/sensor1.json"
acl acl add allow sub gateway 'alerts/#'
acl acl add allow read gateway 'alerts/#'
acl acl add allow sub gateway 'extra/#'
acl acl add allow read gateway 'extra/#'
acl acl add allow pub sensor1 'alerts/#'
acl acl add allow pub sensor1 'extra/#'
acl topic protect 'extra/70/#' || bail_out "topic protect failed"

start_mosquitto "plugin $PLUGIN_SO" "plugin_opt_db_file $MQTTSEC_DB" \
	"plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE" || bail_out "no broker"
ROUTES=()
for i in $(seq 70); do
	ROUTES+=("[route extra$i]
topic = extra/$i/#
kind = alert")
done
gw_config "${ROUTES[@]}"
gw group add ops >/dev/null
gw recipient add alice --email alice@example.com --group ops >/dev/null
gw_start || bail_out "gateway did not connect"
GLOG=$TEST_TMP/gateway.log
ok "the key of the 71st filter is fetched at connect (second request)" \
	wait_for 10 grep -q 'fetched 1 topic keys of 1 filters from the broker' "$GLOG"
ok "no filter was left out" eval "! grep -q 'not asking the broker' '$GLOG'"
ok "a sealed alert on the 71st filter" \
	dpub sensor1 extra/70/x --seal -m '{"id": "e-1", "group": "ops", "title": "Far filter"}'
ok "is opened and queued" wait_sql "SELECT count(*) FROM messages WHERE msg_id = 'e-1'" 1 10

_reloads() {
	grep -c 'mqttsec: reloaded' "$MOSQ_LOG" 2>/dev/null
}
_reloaded_since() {
	[ "$(_reloads)" -gt "$1" ]
}
R=$(_reloads)
acl topic protect 'alerts/#' || bail_out "topic protect failed"
ok "the broker took up the protection" wait_for 10 _reloaded_since "$R"
ok "a sealed alert under a key the gateway never fetched" \
	dpub sensor1 alerts/x --seal -m '{"id": "t-1", "group": "ops", "title": "Sealed late"}'
ok "the gateway asks again for its filter" \
	wait_for 10 grep -q 'asking the broker again for the topic keys of alerts/# (unknown key id)' "$GLOG"
ok "the message waited and is opened and queued" \
	wait_sql "SELECT count(*) FROM messages WHERE msg_id = 't-1'" 1 10
is "$(sql "SELECT origin FROM messages WHERE msg_id = 't-1'")" sensor1 "with its publisher"
ok "a second one opens with the fetched key" \
	dpub sensor1 alerts/y --seal -m '{"id": "t-2", "group": "ops", "title": "Sealed again"}'
ok "is queued" wait_sql "SELECT count(*) FROM messages WHERE msg_id = 't-2'" 1 10
is "$(grep -c 'asking the broker again' "$GLOG")" 1 "asked once"
nok "nothing was dropped" grep -q 'dropped message on' "$GLOG"
done_testing
