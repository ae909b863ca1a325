#!/bin/bash
# 11-plugin-ban.sh - repeated failed logins lead to a timed deny entry
# (reason auth-failures) for the username or the client address; the
# offender is refused even with a right code until the entry expires.
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

device victim
device bystander
device other
device lifted

# --- per username ---
start_plugin_broker "plugin_opt_max_auth_failures 3" "plugin_opt_max_ip_failures 1000" \
	"plugin_opt_failure_window 60" "plugin_opt_ban_seconds 2"
for i in 1 2 3; do
	nok "wrong code $i refused" connects victim "$(wrong_code victim)"
done
ok "ban logged" logged "banned username victim for 2 s after 3 failed logins"
C=$(code victim)
nok "banned username refused with the right code" connects victim "$C"
ok "refusal says banned" logged "refused victim .*banned"
ok "other devices still accepted" connects bystander "$(code bystander)"

_ban_listed() {
	acl list show | grep -q "auth-failures" &&
		acl list show | grep "auth-failures" | grep -q victim
}
ok "ban visible in mqttsec-acl list show" wait_for 5 _ban_listed
ok "ban recorded in the audit log by the plugin" sh -c "\"$ACL_BIN\" audit | grep -q mqttsec-plugin"

# the same right code works once the ban expired (it was never accepted)
T0=$(date +%s%N)
_accepted() {
	connects victim "$C" || connects victim "$(code victim)"
}
ok "accepted again after the ban expired" wait_for 8 _accepted
diag "ban lifted after $((($(date +%s%N) - T0) / 1000000)) ms (ban_seconds 2)"

# --- per address ---
stop_bg mosquitto
start_plugin_broker "plugin_opt_max_auth_failures 1000" "plugin_opt_max_ip_failures 4" \
	"plugin_opt_failure_window 60" "plugin_opt_ban_seconds 2"
for i in 1 2 3 4; do
	nok "unknown device $i refused" connects "intruder$i" 123456
done
ok "address ban logged" logged "banned address 127.0.0.1 for 2 s after 4 failed logins"
C=$(code other)
nok "banned address: a good device is refused too" connects other "$C"
_ip_ban_listed() {
	acl list show | grep "auth-failures" | grep -q "127.0.0.1"
}
ok "address ban visible in mqttsec-acl list show" wait_for 5 _ip_ban_listed
_accepted_other() {
	connects other "$C" || connects other "$(code other)"
}
ok "good device accepted after the address ban expired" wait_for 8 _accepted_other

# --- lifting a ban by hand ---
stop_bg mosquitto
start_plugin_broker "plugin_opt_max_auth_failures 2" "plugin_opt_max_ip_failures 1000" \
	"plugin_opt_ban_seconds 600"
nok "failure 1" connects lifted "$(wrong_code lifted)"
nok "failure 2" connects lifted "$(wrong_code lifted)"
C=$(code lifted)
nok "banned for 600 s" connects lifted "$C"
_ban_id() {
	acl --json list show | python3 -c 'import json, sys
ids = [e["id"] for e in json.load(sys.stdin) if e.get("pattern") == "lifted"]
print(ids[0] if ids else "")'
}
_ban_written() {
	[ -n "$(_ban_id)" ]
}
ok "the plugin wrote the ban to the database" wait_for 5 _ban_written
ID=$(_ban_id)
ok "ban removed with mqttsec-acl list rm" change list rm "$ID"
_accepted_lifted() {
	connects lifted "$C" || connects lifted "$(code lifted)"
}
ok "accepted at once after the ban was removed" wait_for 3 _accepted_lifted

done_testing
