#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 76-example-token-reconnect.sh - the reconnect examples of
# docs/broker-plugin.md ("Connect tokens", "Other clients") run against
# Mosquitto with the plugin: examples/token-reconnect (the libmosquitto
# loop: a fresh token set in the disconnect callback, then
# mosquitto_loop_forever() reconnects) connects with a token, a proxy
# (tests/tools/dropproxy.py) drops its connection 3 times, and it comes
# back each time with a fresh token (no refusal, 4 nonces recorded) and
# publishes after every connect.  The Paho (Python) example runs the same
# way when paho-mqtt is installed, and the MQTT.js one when node finds the
# mqtt package (Debian's node-mqtt, or MQTTJS_NODE_PATH; skipped otherwise).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

need_cmd sqlite3
EXAMPLE=$top_builddir/examples/token-reconnect
need_file "$EXAMPLE"
DROPS=3

start_plugin_broker
device sensor
device reader
change acl add allow all sensor 'site/#' || bail_out "cannot add a rule"
change acl add allow all reader 'site/#' || bail_out "cannot add a rule"
_nonces() {
	[ "$(sqlite3 "$MQTTSEC_DB" "SELECT count(*) FROM token_seen WHERE username = 'sensor'" 2>/dev/null)" -ge "$1" ]
}

# the subscriber that sees what the example publishes
start_bg sub mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u reader -P "$(fresh reader)" \
	-i reader-sub -t 'site/#'
ok "a subscriber is connected" wait_for 10 logged "New client connected .* as reader-sub"

PROXY_PORT=$(free_port)
start_bg proxy python3 "$top_srcdir/tests/tools/dropproxy.py" "$PROXY_PORT" "$MOSQ_PORT" \
	"$DROPS" 300 "$TEST_TMP/reconnects.txt"
wait_port "$PROXY_PORT" || bail_out "the proxy did not start"
run_example() {
	timeout 60 "$EXAMPLE" "$TEST_TMP/sensor.json" 127.0.0.1 "$PROXY_PORT" site/ex "$1" \
		>"$TEST_TMP/example.out"
}
ok "the C example connects, is dropped $DROPS times and reconnects each time" \
	run_example $((DROPS + 1))
ok "it printed $((DROPS + 1)) accepted connections" \
	grep -qx "connected $((DROPS + 1))" "$TEST_TMP/example.out"
ok "no connection of the example was refused" eval "! grep -q 'refused sensor' '$MOSQ_LOG'"
ok "every connection used its own token (4 nonces)" wait_for 15 _nonces $((DROPS + 1))
ok "the subscriber got the publish of the last connection" \
	wait_for 10 grep -qx "connect $((DROPS + 1))" "$TEST_TMP/sub.log"
stop_bg proxy

# Paho (Python): the docs' loop, when paho-mqtt is installed
if python3 -c 'import paho.mqtt.client' 2>/dev/null; then
	PROXY_PORT=$(free_port)
	start_bg proxy2 python3 "$top_srcdir/tests/tools/dropproxy.py" "$PROXY_PORT" "$MOSQ_PORT" \
		"$DROPS" 300 "$TEST_TMP/reconnects2.txt"
	wait_port "$PROXY_PORT" || bail_out "the proxy did not start"
	BEFORE=$(sqlite3 "$MQTTSEC_DB" "SELECT count(*) FROM token_seen WHERE username = 'sensor'")
	ok "the Paho example reconnects after each of $DROPS drops" \
		timeout 60 "$PYTHON" "$top_srcdir/examples/token_reconnect_paho.py" \
		"$TEST_TMP/sensor.json" 127.0.0.1 "$PROXY_PORT" site/paho $((DROPS + 1))
	ok "no connection of it was refused" eval "! grep -q 'refused sensor' '$MOSQ_LOG'"
	ok "each of its connections used its own token" \
		wait_for 15 _nonces $((BEFORE + DROPS + 1))
	stop_bg proxy2
else
	for t in "the Paho example reconnects" "no connection of it was refused" \
		"each of its connections used its own token"; do
		skip "$t" "python3 paho-mqtt is not installed (scripts/deps.sh)"
	done
fi

# MQTT.js: the docs' loop, when node and the mqtt package are found (never
# installed by the test: make check needs no network): Debian's node-mqtt
# (scripts/deps.sh) in /usr/share/nodejs, or npm install mqtt in a directory
# and MQTTJS_NODE_PATH=that/node_modules
export NODE_PATH=${MQTTJS_NODE_PATH:-${NODE_PATH:-/usr/share/nodejs}}
if command -v node >/dev/null && node -e 'require("mqtt")' 2>/dev/null; then
	PROXY_PORT=$(free_port)
	start_bg proxy3 python3 "$top_srcdir/tests/tools/dropproxy.py" "$PROXY_PORT" "$MOSQ_PORT" \
		"$DROPS" 300 "$TEST_TMP/reconnects3.txt"
	wait_port "$PROXY_PORT" || bail_out "the proxy did not start"
	BEFORE=$(sqlite3 "$MQTTSEC_DB" "SELECT count(*) FROM token_seen WHERE username = 'sensor'")
	ok "the MQTT.js example reconnects after each of $DROPS drops" \
		timeout 60 node "$top_srcdir/examples/token_reconnect_mqttjs.js" \
		"$TEST_TMP/sensor.json" 127.0.0.1 "$PROXY_PORT" site/js $((DROPS + 1))
	ok "no connection of it was refused" eval "! grep -q 'refused sensor' '$MOSQ_LOG'"
	ok "each of its connections used its own token" \
		wait_for 15 _nonces $((BEFORE + DROPS + 1))
	stop_bg proxy3
else
	for t in "the MQTT.js example reconnects" "no connection of it was refused" \
		"each of its connections used its own token"; do
		skip "$t" "node or its mqtt package not found (MQTTJS_NODE_PATH)"
	done
fi
stop_bg sub
stop_bg mosquitto
done_testing
