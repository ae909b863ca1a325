#!/bin/bash
# 10-plugin-totp.sh - mqttsec_plugin.so stage 1 on a real mosquitto: TOTP
# codes from oathtool are accepted once, replayed or older codes and wrong
# codes are refused, the accepted step survives a broker restart, and the
# TOTP secret is stored wrapped.
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

need_cmd sqlite3

device dev1
device dev2 --period 2
device dev8 --digits 8
device devoff
acl device disable devoff >/dev/null
start_plugin_broker

# right code
C1=$(code dev1)
ok "right code accepted" connects dev1 "$C1"

# the same code again: its step is not later than the accepted one
nok "same code twice: refused" connects dev1 "$C1"
ok "refusal logged as replay" logged "refused dev1 .*time step already used"

# wrong code
nok "wrong code refused" connects dev2 "$(wrong_code dev2)"
ok "refusal logged as wrong code" logged "refused dev2 .*wrong code"
nok "no password refused" pub dev2 "" -t mqttsec/probe -n

# an older step inside the window is refused once a later one was used
C2=$(fresh dev2)
ok "fresh code of a 2 s device accepted" connects dev2 "$C2"
nok "code of the previous step refused after a later one" connects dev2 "$(code dev2 -1)"
C2=$(fresh dev2)
ok "code of the next step accepted" connects dev2 "$C2"

# 8 digits
ok "8-digit device accepted" connects dev8 "$(code dev8)"

# identities
nok "unknown username refused" connects nosuchdevice "$(code dev1)"
nok "no username refused" timeout "$CLIENT_TIMEOUT" mosquitto_pub -h 127.0.0.1 \
	-p "$MOSQ_PORT" -t mqttsec/probe -n
nok "disabled device refused" connects devoff "$(code devoff)"
C2=$(fresh dev2)
nok "client id holding / refused" connects dev2 "$C2" -i "a/b"
nok "client id holding + refused" connects dev2 "$C2" -i "a+b"
ok "the refused attempts did not use the code up" connects dev2 "$C2" -i "plain-id"

# the accepted step is persisted (written by the plugin's database thread)
_step_saved() {
	[ "$(sqlite3 "$MQTTSEC_DB" "SELECT last_step FROM devices WHERE name = 'dev1'")" -ge 0 ]
}
ok "accepted step written to the database" wait_for 5 _step_saved
stop_bg mosquitto
start_plugin_broker
nok "after a restart the same code is still refused" connects dev1 "$C1"

# secrets: wrapped in the database, never in the log
read -r SECRET _ _ < <(creds dev1)
_secret_absent() {
	python3 - "$SECRET" "$@" <<'PY'
import base64, sys
secret = base64.b32decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 8))
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    if secret in data or sys.argv[1].encode() in data:
        sys.exit(1)
PY
}
ok "raw TOTP secret not in the database files" _secret_absent "$MQTTSEC_DB" \
	$(ls "$MQTTSEC_DB"-wal 2>/dev/null)
ok "secret and codes not in the broker log" _secret_absent "$MOSQ_LOG"
nok "accepted code not in the broker log" grep -qw "$C1" "$MOSQ_LOG"

done_testing
