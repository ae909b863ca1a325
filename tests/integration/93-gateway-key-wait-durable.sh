#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 93-gateway-key-wait-durable.sh - a sealed alert waiting for a topic key
# the gateway does not have yet survives a SIGKILL of the gateway
# (docs/payload-encryption.md, "Online keys"): it is stored, still sealed,
# while it waits; the restarted gateway takes it back, asks for its filter
# at connect, and once the broker hands out the key the alert is delivered
# exactly once.
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
# the gateway may read alerts/x but not the whole protected alerts/#: the
# broker delivers the message and withholds the key of alerts/#
acl acl add allow sub gateway 'alerts/#'
acl acl add allow read gateway 'alerts/x'
acl acl add allow pub sensor1 'alerts/#'
acl topic protect 'alerts/#' || bail_out "topic protect failed"

start_mosquitto "plugin $PLUGIN_SO" "plugin_opt_db_file $MQTTSEC_DB" \
	"plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE" || bail_out "no broker"
provider_start || bail_out "no fake provider"
gw_config "[channel sms]
url = http://127.0.0.1:$PROV_PORT
account_sid = ACtest
auth_token = sekrit
from = +15550000000"
gw group add ops --channels sms >/dev/null
gw recipient add alice --phone +15550001234 --group ops >/dev/null
gw_start || bail_out "gateway did not connect"
GLOG=$TEST_TMP/gateway.log

ok "a sealed alert under a key the gateway is not given" \
	dpub sensor1 alerts/x --seal -m '{"id": "w-1", "group": "ops", "title": "Waited."}'
ok "waits for its key, stored" wait_sql "SELECT count(*) FROM key_waits" 1 10
ok "the gateway asked for its filter" \
	wait_for 10 grep -q 'asking the broker again for the topic keys of alerts/#' "$GLOG"
ok "still sealed at rest" \
	test "$(sql "SELECT count(*) FROM key_waits WHERE instr(payload, 'Waited.') > 0")" = 0
gw_kill9
is "$(sql "SELECT count(*) FROM messages WHERE msg_id = 'w-1'")" 0 "not queued at the kill"
is "$(sql "SELECT count(*) FROM key_waits")" 1 "the stored copy is there after the kill"

_reloads() {
	grep -c 'mqttsec: reloaded' "$MOSQ_LOG" 2>/dev/null
}
_reloaded_since() {
	[ "$(_reloads)" -gt "$1" ]
}
R=$(_reloads)
acl acl add allow read gateway 'alerts/#'
ok "the key becomes available (read on the whole filter)" wait_for 10 _reloaded_since "$R"

gw_start gateway2 || bail_out "gateway did not restart"
GLOG2=$TEST_TMP/gateway2.log
ok "the restart takes the waiting message back" \
	grep -q 'restored 1 messages waiting for their topic keys' "$GLOG2"
ok "the alert is opened and queued" wait_sql "SELECT count(*) FROM messages WHERE msg_id = 'w-1'" 1 20
ok "and delivered" wait_lines "$PROV_LOG" 1 20
ok "the stored copy is gone" wait_sql "SELECT count(*) FROM key_waits" 0 10
is "$(sql "SELECT origin FROM messages WHERE msg_id = 'w-1'")" sensor1 "with its publisher"
nok "nothing was dropped" grep -q 'dropped message on\|dropped .* stored messages' "$GLOG2"

# a clean stop and a third start deliver nothing again
stop_bg gateway2
gw_start gateway3 || bail_out "gateway did not start a third time"
nok "nothing is restored the third time" grep -q 'restored' "$TEST_TMP/gateway3.log"
is "$(sql "SELECT count(*) FROM messages WHERE msg_id = 'w-1'")" 1 "queued exactly once"
is "$(lines "$PROV_LOG")" 1 "delivered exactly once"
done_testing
