#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 78-gateway-key-fetch.sh - the gateway fetches its topic keys online at
# connect (docs/payload-encryption.md, "Online keys"): enrolled before
# `topic protect`, with no key in its credentials file, it opens sealed
# alerts and records their publisher; after a rotation the broker pushes the
# new key and the next alert is opened too.
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
acl acl add allow pub sensor1 'alerts/#'
acl topic protect 'alerts/#' || bail_out "topic protect failed"
ok "the gateway's file holds no topic key" "$PYTHON" -c 'import json, sys
c = json.load(open(sys.argv[1]))
assert not any(k["use"] == "topic" for k in c["keys"])' "$GW_CREDS"

start_mosquitto "plugin $PLUGIN_SO" "plugin_opt_db_file $MQTTSEC_DB" \
	"plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE" || bail_out "no broker"
gw_config
gw group add ops >/dev/null
gw recipient add alice --email alice@example.com --group ops >/dev/null
gw_start || bail_out "gateway did not connect"
GLOG=$TEST_TMP/gateway.log
ok "the gateway fetched the key of alerts/# at connect" \
	wait_for 10 grep -q 'fetched 1 topic keys of 1 filters from the broker' "$GLOG"
ok "the broker answered it" grep -q 'mqttsec: sent 1 topic keys of 1 filters to client mqttsec-gateway-gateway of gateway' "$MOSQ_LOG"

ok "a sealed alert" dpub sensor1 alerts/x --seal -m '{"id": "t-1", "group": "ops", "title": "Sealed hello"}'
ok "is opened and queued" wait_sql "SELECT count(*) FROM messages WHERE msg_id = 't-1'" 1 10
is "$(sql "SELECT origin FROM messages WHERE msg_id = 't-1'")" sensor1 "with its publisher"

acl key rotate 'alerts/#' || bail_out "key rotate failed"
_fetched2() {
	[ "$(grep -c 'fetched [0-9]* topic keys' "$GLOG")" -ge 2 ]
}
ok "the rotated key is pushed to the gateway" wait_for 10 _fetched2
ok "an alert under the new key" dpub sensor1 alerts/y --seal -m '{"id": "t-2", "group": "ops", "title": "After rotation"}'
ok "is opened and queued" wait_sql "SELECT count(*) FROM messages WHERE msg_id = 't-2'" 1 10
nok "nothing was dropped" grep -q 'dropped message on alerts/' "$GLOG"

done_testing
