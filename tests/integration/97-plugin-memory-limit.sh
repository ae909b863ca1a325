#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 97-plugin-memory-limit.sh - the plugin's own structures count toward the
# broker's memory_limit (docs/broker-plugin.md, "Memory"): under a 1 MB
# limit a small policy serves; a big policy imported while the broker runs
# does not fit, so the new view is refused and the old one keeps serving;
# a storm of connections is refused or served, never a crash; and a start
# with the big policy under the same limit is refused cleanly (an exit,
# not a signal).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$PLUGIN_SO" "$ACL_BIN"
SAN_PRELOAD=$(_san_preload "$PLUGIN_SO") # a broker started here directly needs the sanitizer runtime
need_cmd oathtool mosquitto_pub
. "$top_srcdir/tests/integration/plugin-lib.sh"

LIMIT=1000000
device dev1 --period 2
for i in $(seq 100); do
	echo "acl allow all dev1 p/$i/#"
done >"$TEST_TMP/small.txt"
acl import "$TEST_TMP/small.txt" >/dev/null || bail_out "import failed"
start_plugin_broker "memory_limit $LIMIT"
ok "a small policy serves under memory_limit $LIMIT" connects dev1 "$(fresh dev1)"

# 5,000 rules: a view of several MB, over the limit
for i in $(seq 101 5100); do
	echo "acl allow all dev1 q/$i/#"
done >"$TEST_TMP/big.txt"
acl import "$TEST_TMP/big.txt" >/dev/null || bail_out "import failed"
ok "the view of the big policy is refused" \
	wait_for 60 logged 'reload failed, keeping the rules in use'
ok "the broker runs" kill -0 "$MOSQ_PID"
ok "the old view keeps serving" pub dev1 "$(fresh dev1)" -q 1 -t p/1/x -m hi

# a storm of connections (without a username: refused, not counted toward
# bans): refused by the plugin or the broker's allocator, never a crash
STORM=()
for i in $(seq 200); do
	timeout 10 mosquitto_pub -h 127.0.0.1 -p "$MOSQ_PORT" -i "s$i" \
		-t p/1/x -m x >/dev/null 2>&1 &
	STORM+=($!)
done
wait "${STORM[@]}"
ok "the broker survives the storm" kill -0 "$MOSQ_PID"
ok "and still serves" pub dev1 "$(fresh dev1)" -q 1 -t p/1/x -m again
nok "no crash in the log" grep -qi 'segmentation\|abort\|out of memory, exiting' "$MOSQ_LOG"

# a start with the big policy under the same limit is refused, cleanly
stop_bg mosquitto
wait "$MOSQ_PID" 2>/dev/null
: >"$MOSQ_LOG"
timeout 60 env ${SAN_PRELOAD:+LD_PRELOAD="$SAN_PRELOAD"} "$MOSQUITTO_BIN" -c "$MOSQ_CONF" >"$TEST_TMP/start2.out" 2>&1
rc=$?
ok "a start with a view over the limit ends with an error, not a signal ($rc)" \
	test "$rc" -ne 0 -a "$rc" -lt 124
ok "the plugin says so" logged 'mqttsec: plugin not started'
done_testing
