#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 63-device-reconnect-token.sh - with credentials that say the broker accepts
# connect tokens ("connect_tokens": true, written by mqttsec-acl once the
# plugin recorded the setting), mqttsec-device subscribe reconnects at once
# with a fresh token per attempt: a proxy in front of the broker
# (tests/tools/dropproxy.py) drops its TCP connection 20 times in a row, it
# comes back every time and still receives messages.  The reconnect times
# (drop to accepted CONNACK) are reported as a diagnostic (p50, p95, max;
# docs/PERFORMANCE.md); the test itself only bounds each reconnect at 5 s,
# far below the TOTP step (30 s) a code-based reconnect could wait for.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

DROPS=20
start_plugin_broker "plugin_opt_clientid_policy prefix"
device sensor
device reader
ok "the running plugin's credentials say connect_tokens" \
	python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get("connect_tokens") is True else 1)' \
	"$TEST_TMP/sensor.json"
change acl add allow all sensor 'site/#' || bail_out "cannot add a rule"
change acl add allow all reader 'site/#' || bail_out "cannot add a rule"

PROXY_PORT=$(free_port)
start_bg proxy python3 "$top_srcdir/tests/tools/dropproxy.py" "$PROXY_PORT" "$MOSQ_PORT" \
	"$DROPS" 300 "$TEST_TMP/reconnects.txt"
wait_port "$PROXY_PORT" || bail_out "the proxy did not start"
start_bg sub "$DEVICE_BIN" -c "$TEST_TMP/sensor.json" subscribe -p "$PROXY_PORT" -t 'site/#' \
	-C 1 -W 120
ok "20 drops, 20 reconnects" wait_for $((DROPS * 5)) test -s "$TEST_TMP/reconnects.txt"
R=$(cat "$TEST_TMP/reconnects.txt" 2>/dev/null)
diag "reconnect times (drop to accepted CONNACK, ms): $R"
read -r _ n _ p50 _ p95 _ max <<<"$R"
is "${n:-0}" "$DROPS" "every drop was followed by a reconnect"
ok "each reconnect took less than 5 s (no wait for a TOTP step)" \
	awk -v m="${max:-99999}" 'BEGIN { exit !(m < 5000) }'
ok "no connection of the device was refused" eval "[ \$(grep -c 'refused sensor' '$MOSQ_LOG') -eq 0 ]"
# each accepted token leaves its nonce in token_seen (folded from the token
# journal once a second): 21 connections, 21 nonces
_nonces() {
	[ "$(sqlite3 "$MQTTSEC_DB" "SELECT count(*) FROM token_seen WHERE username = 'sensor'" 2>/dev/null)" -ge $((DROPS + 1)) ]
}
ok "every connection used a token (a nonce recorded per connection)" wait_for 15 _nonces
# still subscribed after the last reconnect: a message gets through
ok "subscribed again after the last drop" wait_for 10 eval \
	"[ \$(grep -c 'Received SUBSCRIBE from sensor' '$MOSQ_LOG') -ge $((DROPS + 1)) ]"
ok "a message published afterwards arrives" \
	"$DEVICE_BIN" -c "$TEST_TMP/reader.json" publish -p "$MOSQ_PORT" -t site/t -m hello
ok "the subscriber printed it and ended" wait_for 15 eval '! bg_alive sub'
ok "its output is the message" grep -qx hello "$TEST_TMP/sub.log"
stop_bg proxy
stop_bg mosquitto
done_testing
