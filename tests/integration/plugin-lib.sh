# SPDX-License-Identifier: BSD-3-Clause
# plugin-lib.sh - sourced (bash) by the broker plugin tests (1x-plugin-*.sh)
# after lib.sh: the test database and master key in $TEST_TMP (created with
# mqttsec-acl init), and helpers to enrol devices, compute their TOTP codes,
# start mosquitto with the plugin, connect as a device and wait for reloads.
#
#   acl ARGS...            mqttsec-acl on the test database
#   device NAME [ARGS...]  enrol NAME; credentials in $TEST_TMP/NAME.json
#   creds NAME             "SECRET PERIOD DIGITS" of NAME
#   code NAME [STEPS]      NAME's code now (or STEPS steps from now)
#   code_at NAME STEP      NAME's code of time step STEP
#   fresh NAME             a code of a step later than the last fresh one
#   wrong_code NAME        a well-formed code that is not NAME's current one
#   start_plugin_broker [CONF_LINE...]
#   pub NAME CODE ARGS...  mosquitto_pub as NAME
#   connects NAME CODE [ARGS...]
#   reloads, change ARGS..., logged PATTERN
#
# protect-lib.sh (the protected-topic tests) sources this file too.

need_file "$PLUGIN_SO" "$ACL_BIN"
need_cmd oathtool mosquitto_pub mosquitto_sub python3 timeout
export MQTTSEC_DB=$TEST_TMP/mqttsec.db
export MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/master.key
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-60}

# acl ARGS...: mqttsec-acl on the test database.
acl() {
	"$ACL_BIN" "$@"
}

# device NAME [ARGS...]: enrol a device; credentials in $TEST_TMP/NAME.json.
device() {
	local name=$1
	shift
	acl device add "$name" --out "$TEST_TMP/$name.json" "$@" >/dev/null
}

# creds NAME: print "SECRET PERIOD DIGITS" from the credentials file.
creds() {
	python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))["totp"]
print(t["secret"], t["period"], t["digits"])' "$TEST_TMP/$1.json"
}

# code NAME [STEPS]: oathtool's code for NAME now (or STEPS steps from now).
code() {
	local secret period digits
	read -r secret period digits < <(creds "$1")
	oathtool --totp -b -d "$digits" --time-step-size="${period}s" \
		-N "@$(($(date +%s) + ${2:-0} * period))" "$secret"
}

# code_at NAME STEP: NAME's code of time step STEP.
code_at() {
	local secret period digits
	read -r secret period digits < <(creds "$1")
	oathtool --totp -b -d "$digits" --time-step-size="${period}s" -N "@$(($2 * period))" "$secret"
}

# fresh NAME: a code of a time step later than the last one fresh gave for
# NAME (waits for the next step when needed; use short --period devices).
fresh() {
	local secret period digits now step last
	read -r secret period digits < <(creds "$1")
	last=$(cat "$TEST_TMP/$1.step" 2>/dev/null || echo -1)
	while :; do
		now=$(date +%s)
		step=$((now / period))
		[ "$step" -gt "$last" ] && break
		sleep 0.2
	done
	echo "$step" >"$TEST_TMP/$1.step"
	oathtool --totp -b -d "$digits" --time-step-size="${period}s" -N "@$now" "$secret"
}

# wrong_code NAME: a well-formed code that is not NAME's current one.
wrong_code() {
	local c
	c=$(code "$1")
	printf '%0*d\n' "${#c}" $(((10#$c + 1) % 10 ** ${#c}))
}

# start_plugin_broker [CONF_LINE...]: mosquitto with the plugin loaded.
# The tests enrol devices with 1 or 2 s TOTP periods (to get fresh steps
# quickly); plugin_opt_totp_window $PLUGIN_TOTP_WINDOW (default 10, the
# maximum) keeps such a code valid for about as long as a 30 s device's code
# with the default window, however long a loaded machine takes between
# computing the code and the broker checking it.  A test's own
# plugin_opt_totp_window line comes later and wins.
PLUGIN_TOTP_WINDOW=${PLUGIN_TOTP_WINDOW:-10}
start_plugin_broker() {
	start_mosquitto "plugin $PLUGIN_SO" \
		"plugin_opt_db_file $MQTTSEC_DB" \
		"plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE" \
		"plugin_opt_totp_window $PLUGIN_TOTP_WINDOW" "$@" ||
		bail_out "mosquitto with the plugin did not start"
}

# pub NAME CODE ARGS...: mosquitto_pub as device NAME with password CODE.
pub() {
	local name=$1 pass=$2
	shift 2
	timeout "$CLIENT_TIMEOUT" mosquitto_pub -h 127.0.0.1 -p "$MOSQ_PORT" -u "$name" \
		-P "$pass" "$@"
}

# connects NAME CODE [ARGS...]: true when the broker accepts the CONNECT.
connects() {
	local name=$1 pass=$2
	shift 2
	pub "$name" "$pass" -t mqttsec/probe -n "$@"
}

# reloads: how many times the plugin reloaded so far.
reloads() {
	grep -c 'mqttsec: reloaded' "$MOSQ_LOG" 2>/dev/null
}

_reloaded_since() {
	[ "$(reloads)" -gt "$1" ]
}

# change ARGS...: run mqttsec-acl ARGS, then wait until the broker reloaded.
change() {
	local before
	before=$(reloads)
	acl "$@" >/dev/null || return 1
	wait_for 10 _reloaded_since "$before"
}

# logged PATTERN: true when the broker log has a line matching PATTERN.
logged() {
	grep -q -- "$1" "$MOSQ_LOG"
}

acl init >/dev/null 2>&1 || bail_out "mqttsec-acl init failed"
