#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 60-attack-log-flood.sh - an unauthenticated client sends a 64 KiB username
# and client id (docs/broker-plugin.md, "Failed logins and automatic bans").
#
# Each refused CONNECT is logged.  Before the cap, the line held the whole
# username and client id, cut only by Mosquitto's own 1000-byte line limit:
# anyone able to reach the port wrote ~1 KiB of log per CONNECT.  Now at
# most 64 bytes of each are logged (lines of ~200 bytes).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh"

device victim --period 1
start_plugin_broker "plugin_opt_max_ip_failures 0" "plugin_opt_max_auth_failures 0"

long=$(python3 -c 'print("u" * 65000)')
nok "a 65000-byte username with a 65000-byte client id is refused" \
	timeout "$CLIENT_TIMEOUT" mosquitto_pub -h 127.0.0.1 -p "$MOSQ_PORT" -u "$long" -P 123456 \
	-i "$long" -t t -n
ok "the refusal is logged" wait_for 10 logged "mqttsec: refused uuu"
_longest() {
	awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$MOSQ_LOG"
}
n=$(_longest)
ok "no broker log line is longer than 400 bytes (longest: $n)" test "$n" -le 400
ok "the cut is marked" logged "mqttsec: refused u\{64\}\.\.\. (client id u\{64\}\.\.\.)"
nok "a long client id of a known device is refused too" \
	connects victim "$(fresh victim)" -i "$long"
n=$(_longest)
ok "still no line longer than 400 bytes (longest: $n)" test "$n" -le 400

done_testing
