# SPDX-License-Identifier: BSD-3-Clause
# protect-lib.sh - sourced (bash) by the protected-topic tests (16- and
# 17-plugin-*.sh) after lib.sh: the shared plugin helpers (plugin-lib.sh:
# test database, acl, device, fresh, pub, start_plugin_broker, change,
# logged, ...) plus helpers to seal envelopes by hand and to run
# mqttsec-device as an enrolled device.
#
# Devices are enrolled with a 2-second TOTP period: each one can connect
# once per time step (replay rule), so helpers that connect wait for a new
# step of that device first (at most 2 s).  With start_plugin_broker's
# plugin_opt_totp_window 10 a code stays valid for about 20 s however busy
# the machine is.

. "$top_srcdir/tests/integration/plugin-lib.sh"

# pdevice NAME: enrol NAME with a 2 s TOTP period (credentials in $TEST_TMP/NAME.json).
pdevice() {
	device "$1" --period 2
}

# _step NAME: NAME's current TOTP time step.
_step() {
	local secret period digits
	read -r secret period digits < <(creds "$1")
	echo $(($(date +%s) / period))
}

# _wait_step NAME: wait until a step later than NAME's last connection.
_wait_step() {
	local last
	last=$(cat "$TEST_TMP/$1.step" 2>/dev/null || echo -1)
	while [ "$(_step "$1")" -le "$last" ]; do
		sleep 0.1
	done
}

# devrun NAME ARGS...: mqttsec-device -c NAME.json ARGS (-h/-p set) in a
# fresh TOTP step of NAME; records the step it ends in.
devrun() {
	local name=$1 sub=$2 rc=0
	shift 2
	_wait_step "$name"
	timeout "$CLIENT_TIMEOUT" "$DEVICE_BIN" -c "$TEST_TMP/$name.json" "$sub" \
		-h 127.0.0.1 -p "$MOSQ_PORT" "$@" || rc=$?
	_step "$name" >"$TEST_TMP/$name.step"
	return "$rc"
}

# devkey NAME: print "ID KEY_BASE64" of NAME's device key.
devkey() {
	python3 -c 'import json, sys
k = [k for k in json.load(open(sys.argv[1]))["keys"] if k["use"] == "device"][0]
print(k["id"], k["key"])' "$TEST_TMP/$1.json"
}

# topickeys NAME FILTER: print "ID KEY_BASE64" lines of NAME's keys for FILTER.
topickeys() {
	python3 -c 'import json, sys
for k in json.load(open(sys.argv[1]))["keys"]:
    if k["use"] == "topic" and k.get("topic") == sys.argv[2]:
        print(k["id"], k["key"])' "$TEST_TMP/$1.json" "$2"
}

# now_ms: Unix time in milliseconds.
now_ms() {
	date +%s%3N
}

# seal_as NAME TOPIC PLAIN OUT [ENVELOPE.PY ARGS...]: seal PLAIN for TOPIC
# with NAME's device key into file OUT (tests/tools/envelope.py).
seal_as() {
	local name=$1 topic=$2 plain=$3 out=$4 id key
	shift 4
	read -r id key < <(devkey "$name")
	printf '%s' "$plain" | python3 "$ENVELOPE_PY" seal --key-b64 "$key" --key-id "$id" \
		--topic "$topic" "$@" >"$out"
}

# rawpub NAME ARGS...: mosquitto_pub as NAME with a fresh code.
rawpub() {
	local name=$1
	shift
	pub "$name" "$(fresh "$name")" "$@"
}

# dropped REASON [N]: wait until the broker logged N (default 1) drops
# with REASON on protected topics.
_dropped_n() {
	[ "$(grep -c "mqttsec: dropped .*: $1\$" "$MOSQ_LOG")" -ge "$2" ]
}
dropped() {
	wait_for 5 _dropped_n "$1" "${2:-1}"
}

# drops REASON: how many drops with REASON were logged so far.
drops() {
	grep -c "mqttsec: dropped .*: $1\$" "$MOSQ_LOG"
}
