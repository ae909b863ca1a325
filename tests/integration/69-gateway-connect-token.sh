#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 69-gateway-connect-token.sh - the gateway as a device of a broker whose
# plugin accepts connect tokens (docs/broker-plugin.md, "Connect tokens"):
# its credentials say "connect_tokens": true, it logs in with a fresh token
# per attempt and so reconnects at once after each of three broker restarts
# in a row (a TOTP code of a 30 s step could log in once per step); every
# token's nonce is in token_seen, and nothing was refused.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$PLUGIN_SO" "$ACL_BIN"
. "$top_srcdir/tests/integration/gateway-lib.sh"

export MQTTSEC_DB=$TEST_TMP/mqttsec.db
export MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/master.key
acl() {
	"$ACL_BIN" "$@" >/dev/null
}
acl init || bail_out "mqttsec-acl init failed"
start_mosquitto "plugin $PLUGIN_SO" "plugin_opt_db_file $MQTTSEC_DB" \
	"plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE" || bail_out "no broker"
# enrolled while the plugin runs: it recorded that it accepts tokens
acl device add gateway --out "$GW_CREDS" || bail_out "device add failed"
acl acl add allow sub gateway 'alerts/#'
acl acl add allow read gateway 'alerts/#'
acl acl add allow all gateway 'mqttsec/status/#'
# the gateway must not log in before the plugin loaded it ("unknown device")
_gw_loaded() {
	grep -q 'mqttsec: reloaded [1-9][0-9]* devices, 3 acl rules' "$MOSQ_LOG"
}
wait_for 10 _gw_loaded || bail_out "the broker did not load the gateway device"
ok "the gateway's credentials say connect_tokens" "$PYTHON" -c 'import json, sys
sys.exit(0 if json.load(open(sys.argv[1])).get("connect_tokens") is True else 1)' "$GW_CREDS"
GW_RECONNECT_MIN=100ms
gw_config
connected() {
	grep -c "connected to broker" "$TEST_TMP/gateway.log"
}
_connected_n() {
	[ "$(connected)" -ge "$1" ]
}
tokens() {
	sqlite3 "$MQTTSEC_DB" "SELECT count(*) FROM token_seen WHERE username = 'gateway'"
}
gw_start || bail_out "gateway did not start"
is "$(tokens)" 1 "the first login used a connect token"
for i in 2 3 4; do
	gw_restart_broker || bail_out "broker did not restart"
	ok "reconnected after broker restart $((i - 1)) without waiting for a time step" \
		wait_for 10 _connected_n "$i"
done
is "$(tokens)" 4 "four logins, four token nonces recorded"
ok "no login of the gateway was refused" eval "! grep -q 'refused gateway' '$MOSQ_LOG'"
ok "no token appears in the gateway log" eval "! grep -q 'mqs1\.' '$TEST_TMP/gateway.log'"
stop_bg gateway
stop_bg mosquitto
done_testing
