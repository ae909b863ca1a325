#!/bin/bash
# 14-plugin-reload.sh - changes made with mqttsec-acl reach the running
# broker without a restart (the plugin polls PRAGMA data_version on its
# tick), and connected clients that the new state refuses are disconnected.
# Latencies are printed; the bounds (3 s) are generous, the target is 1 s.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

########################################################################
## plugin test helpers (the same block in every 1x-plugin-*.sh)

need_file "$PLUGIN_SO" "$ACL_BIN"
need_cmd oathtool mosquitto_pub mosquitto_sub python3 timeout
export MQTTSEC_DB=$TEST_TMP/mqttsec.db
export MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/master.key
CLIENT_TIMEOUT=10

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
start_plugin_broker() {
	start_mosquitto "plugin $PLUGIN_SO" \
		"plugin_opt_db_file $MQTTSEC_DB" \
		"plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE" "$@" ||
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
	wait_for 5 _reloaded_since "$before"
}

# logged PATTERN: true when the broker log has a line matching PATTERN.
logged() {
	grep -q -- "$1" "$MOSQ_LOG"
}

acl init >/dev/null 2>&1 || bail_out "mqttsec-acl init failed"
########################################################################

need_cmd mkfifo

# since_ms T0: milliseconds since T0 (from date +%s%N).
since_ms() {
	echo $((($(date +%s%N) - $1) / 1000000))
}

# subscriber NAME CLIENTID FILTER: keep device NAME subscribed in the
# background (log in $TEST_TMP/CLIENTID.log) and wait for its SUBACK.
subscriber() {
	start_bg "$2" timeout 120 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u "$1" \
		-P "$(code "$1")" -i "$2" -v -t "$3"
	wait_for 5 grep -q "Sending SUBACK to $2\$" "$MOSQ_LOG"
}

# kicked CLIENTID: the broker disconnected the client on the plugin's behalf.
kicked() {
	grep -q "disconnecting client $1: no longer allowed" "$MOSQ_LOG"
}

device watcher
device feeder
device k1
device k2
device k3
acl acl add allow sub watcher 'live/#' >/dev/null
acl acl add allow read watcher 'live/a' >/dev/null
acl acl add allow pub feeder 'live/#' >/dev/null
for d in k1 k2 k3; do
	acl acl add allow sub "$d" 'k/#' >/dev/null
done
start_plugin_broker "plugin_opt_max_ip_failures 0" "plugin_opt_max_auth_failures 0"

# a device added while the broker runs can connect
T0=$(date +%s%N)
device late
_late_connects() {
	connects late "$(code late)"
}
ok "device added with mqttsec-acl connects within 3 s" wait_for 3 _late_connects
diag "device add -> first accepted CONNECT: $(since_ms "$T0") ms (100 ms polling)"

# an ACL change applies to a live subscription
ok "watcher subscribed" subscriber watcher watcher 'live/#'
start_bg feeder bash -c 'i=0; while [ $i -lt 2000 ]; do echo "m$i"; i=$((i + 1)); sleep 0.02; done |
	timeout 120 mosquitto_pub -h 127.0.0.1 -p "$1" -u feeder -P "$2" -l -t live/b' \
	feeder "$MOSQ_PORT" "$(code feeder)"
wait_for 5 grep -q "Received PUBLISH from .*'live/b'" "$MOSQ_LOG"
nok "before the change: live/b is not delivered" grep -q "^live/b" "$TEST_TMP/watcher.log"
T0=$(date +%s%N)
acl acl add allow read watcher 'live/b' >/dev/null
_delivered() {
	grep -q "^live/b" "$TEST_TMP/watcher.log"
}
ok "after acl add, live/b is delivered within 3 s" wait_for 3 _delivered
diag "acl add -> first delivery under the new rule: $(since_ms "$T0") ms"
stop_bg feeder

# a connected client denied by a new list entry is disconnected
ok "k1 subscribed" subscriber k1 kick-me 'k/#'
T0=$(date +%s%N)
acl list add deny clientid kick-me >/dev/null
ok "deny clientid disconnects the connected client within 3 s" wait_for 3 kicked kick-me
diag "list add deny -> kick: $(since_ms "$T0") ms"
_gone() {
	! bg_alive kick-me || grep -q "Connection Refused" "$TEST_TMP/kick-me.log"
}
ok "its reconnect is refused" wait_for 5 _gone

# disabling or removing a connected device disconnects it
ok "k2 subscribed" subscriber k2 k2-sub 'k/#'
T0=$(date +%s%N)
acl device disable k2 >/dev/null
ok "device disable disconnects the device within 3 s" wait_for 3 kicked k2-sub
diag "device disable -> kick: $(since_ms "$T0") ms"
ok "k3 subscribed" subscriber k3 k3-sub 'k/#'
T0=$(date +%s%N)
acl device rm k3 >/dev/null
ok "device rm disconnects the device within 3 s" wait_for 3 kicked k3-sub
diag "device rm -> kick: $(since_ms "$T0") ms"

# allow-list mode: an allow entry that expires lets go of its clients
stop_bg mosquitto
device ka
acl acl add allow sub ka 'k/#' >/dev/null
acl list add allow username ka --ttl 3 >/dev/null
start_plugin_broker "plugin_opt_allowlist on" "plugin_opt_max_ip_failures 0"
ok "ka subscribed under a 3 s allow entry" subscriber ka ka-sub 'k/#'
ok "disconnected when the allow entry expired" wait_for 8 kicked ka-sub

done_testing
