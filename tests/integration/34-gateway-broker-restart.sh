#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 34-gateway-broker-restart.sh - persistent session: what is published while
# the gateway is down, or while the broker restarts and the gateway has not
# reconnected yet, is received after the (re)connect.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"

mkdir -p "$TEST_TMP/persist"
start_mosquitto "allow_anonymous true" "persistence true" \
	"persistence_location $TEST_TMP/persist/" || bail_out "no broker"
GW_RECONNECT_MIN=2s
gw_config
gw group add ops >/dev/null
gw recipient add alice --email alice@example.com --group ops >/dev/null
spooled() {
	ls "$TEST_TMP/spool" 2>/dev/null | grep -c "^$1-" || true
}
_spooled() {
	[ "$(spooled "$1")" -ge 1 ]
}

gw_start || bail_out "gateway did not start"
pub alerts/x '{"id": "b-1", "group": "ops", "title": "First"}'
wait_for 10 _spooled b-1
is "$(spooled b-1)" 1 "delivered while connected (spool)"

## gateway down, message published, gateway up again
stop_bg gateway
pub alerts/x '{"id": "b-2", "group": "ops", "title": "While the gateway was down"}'
gw_start gateway2 || bail_out "gateway did not restart"
ok "the session was resumed" grep -q "session resumed" "$TEST_TMP/gateway2.log"
wait_for 10 _spooled b-2
is "$(spooled b-2)" 1 "received what was published while the gateway was down"

## broker restarts; a message is published before the gateway reconnects
gw_restart_broker || bail_out "broker did not restart"
pub alerts/x '{"id": "b-3", "group": "ops", "title": "While the broker restarted"}'
wait_for 15 _spooled b-3
is "$(spooled b-3)" 1 "received what was published during the broker restart"
is "$(grep -c "connected to broker" "$TEST_TMP/gateway2.log")" 2 "the gateway reconnected by itself"
ok "the reconnect resumed the session" test "$(grep -c "session resumed" "$TEST_TMP/gateway2.log")" -ge 2
is "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")" 3 "three deliveries, none twice"

done_testing
