# SPDX-License-Identifier: BSD-3-Clause
# gateway-lib.sh - helpers for the 3x-gateway-*.sh tests, sourced after
# lib.sh.  A broker (plain mosquitto allowing anonymous clients unless the
# test starts its own), a gateway configuration in $GW_CONF with fast
# retries, an SMTP recorder and a fake HTTP provider.
#
#   gw_config [SECTION_TEXT...]     write $GW_CONF ([broker] [store] [delivery]
#                                   and one alert route, plus the given text);
#                                   GW_DELIVERY holds extra [delivery] lines
#   gw NAME ARGS...                 mqttsec-gateway -c $GW_CONF ARGS...
#   gw_start [NAME]                 start the daemon (background NAME, default
#                                   "gateway") and wait until it subscribed
#   gw_kill9 [NAME]                 SIGKILL the daemon
#   smtp_start [ARGS...]            aiosmtpd recorder -> $SMTP_PORT, $SMTP_LOG
#   provider_start                  fake_provider.py -> $PROV_PORT, $PROV_LOG,
#                                   script in $PROV_SCRIPT
#   pub TOPIC PAYLOAD               mosquitto_pub at QoS 1
#   lines FILE                      number of lines (0 when absent)
#   wait_lines FILE N [TIMEOUT]     until FILE has at least N lines
#   sql QUERY                       sqlite3 on the gateway database
#   gw_restart_broker               restart the broker on the same port
#   wait_sql QUERY WANT [TIMEOUT]   until QUERY prints WANT
#   gw_status_key                   give the gateway a topic key for
#                                   $GW_STATUS/# (before gw_start)
#   gw_marketing_key, gw_device_key a topic key for marketing/# and a
#                                   device key; a device key only
#   dpub NAME TOPIC ARGS...         mqttsec-device publish as NAME (QoS 1,
#                                   credentials $TEST_TMP/NAME.json, TOTP
#                                   period 2: waits for a fresh step)
#   seal_ack ID DEVICE, pub_ack ID DEVICE
#                                   an acknowledgement of ID sealed with that
#                                   key and origin DEVICE, as the broker
#                                   plugin re-seals it on a protected topic

need_file "$GATEWAY_BIN"
need_cmd mosquitto_pub sqlite3 timeout

GW_CONF=$TEST_TMP/gateway.conf
GW_DB=$TEST_TMP/gateway.db
GW_KEY=$TEST_TMP/gateway.key
GW_CREDS=$TEST_TMP/gateway.json
GW_STATUS=mqttsec/status
GW_DELIVERY=${GW_DELIVERY:-}
TOOLS=$top_srcdir/tests/tools

# gw_creds_plain: credentials without TOTP (anonymous broker).
gw_creds_plain() {
	(umask 077 && echo '{"username": "gateway", "keys": []}' >"$GW_CREDS")
}

gw_config() {
	local extra
	[ -f "$GW_CREDS" ] || gw_creds_plain
	{
		cat <<EOF
[broker]
host = 127.0.0.1
port = $MOSQ_PORT
credentials = $GW_CREDS
status_topic = $GW_STATUS
reconnect_min = ${GW_RECONNECT_MIN:-200ms}
reconnect_max = 1s

[store]
db = $GW_DB
master_key_file = $GW_KEY
spool_dir = $TEST_TMP/spool

[delivery]
max_attempts = ${GW_MAX_ATTEMPTS:-5}
backoff_base = 100ms
backoff_max = 500ms
$GW_DELIVERY

[route alerts]
topic = alerts/#
kind = alert
EOF
		for extra in "$@"; do
			printf '\n%s\n' "$extra"
		done
	} >"$GW_CONF"
}

gw() {
	"$GATEWAY_BIN" -q -c "$GW_CONF" "$@"
}

_gw_subscribed() {
	grep -q "connected to broker" "$TEST_TMP/$1.log"
}

gw_start() {
	local name=${1:-gateway}
	start_bg "$name" "$GATEWAY_BIN" -c "$GW_CONF" run
	if ! wait_for "$WAIT_TIMEOUT" _gw_subscribed "$name"; then
		show_log "$name"
		return 1
	fi
	# the subscriptions follow the CONNACK: wait for their SUBACKs
	if ! wait_for "$WAIT_TIMEOUT" _gw_subacked; then
		diag "the gateway's subscriptions were not acknowledged"
		return 1
	fi
}

# _gw_subacked: since the gateway's last connection the broker acknowledged
# every SUBSCRIBE of it (at least one)
_gw_subacked() {
	subacked "$MOSQ_LOG" "mqttsec-gateway-[^ ]*"
}

# wait_suback N: wait until the broker sent N SUBACKs in all (a subscriber
# started with start_bg is subscribed once its SUBACK is counted)
suback_count() {
	grep -c 'Sending SUBACK to' "$MOSQ_LOG" 2>/dev/null
}
_suback_ge() {
	[ "$(suback_count)" -ge "$1" ]
}
wait_suback() {
	wait_for "$WAIT_TIMEOUT" _suback_ge "$1"
}

gw_kill9() {
	local pid=${BG_PID[${1:-gateway}]}
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	return 0
}

_file_nonempty() {
	[ -s "$1" ]
}

smtp_start() {
	local pf=$TEST_TMP/smtp.port
	rm -f "$pf"
	SMTP_LOG=${SMTP_LOG:-$TEST_TMP/smtp.jsonl}
	# SMTP_PIPELINING=1: the recorder announces PIPELINING, so the gateway
	# uses its pipelining client (gw_smtp.h) instead of libcurl
	start_bg smtp "$PYTHON" "$TOOLS/smtp_recorder.py" --port "${SMTP_PORT:-0}" \
		--port-file "$pf" --jsonl "$SMTP_LOG" ${SMTP_PIPELINING:+--pipelining} "$@"
	wait_for "$WAIT_TIMEOUT" _file_nonempty "$pf" || return 1
	SMTP_PORT=$(cat "$pf")
}

provider_start() {
	local pf=$TEST_TMP/provider.port
	rm -f "$pf"
	PROV_LOG=$TEST_TMP/provider.jsonl
	PROV_SCRIPT=$TEST_TMP/provider.script
	touch "$PROV_SCRIPT"
	start_bg provider "$PYTHON" "$TOOLS/fake_provider.py" --port-file "$pf" \
		--log "$PROV_LOG" --script "$PROV_SCRIPT"
	wait_for "$WAIT_TIMEOUT" _file_nonempty "$pf" || return 1
	PROV_PORT=$(cat "$pf")
}

pub() {
	mosquitto_pub -h 127.0.0.1 -p "$MOSQ_PORT" -q 1 -t "$1" -m "$2"
}

lines() {
	if [ -f "$1" ]; then
		wc -l <"$1" | tr -d ' '
	else
		echo 0
	fi
}

_has_lines() {
	[ "$(lines "$1")" -ge "$2" ]
}

wait_lines() {
	wait_for "${3:-$WAIT_TIMEOUT}" _has_lines "$1" "$2"
}

sql() {
	sqlite3 -cmd ".timeout 5000" "$GW_DB" "$1"
}

_sql_is() {
	[ "$(sql "$1")" = "$2" ]
}

wait_sql() {
	wait_for "${3:-$WAIT_TIMEOUT}" _sql_is "$1" "$2"
}

# jq-less JSON field access: jfield FILE LINE_NO EXPR (python expression on j)
jfield() {
	"$PYTHON" -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()
j = json.loads(lines[int(sys.argv[2]) - 1])
print(eval(sys.argv[3]))' "$@"
}

# gw_restart_broker: stop the broker of start_mosquitto and start it again
# with the same configuration (same port), as lib.sh starts it.
gw_restart_broker() {
	local preload=
	stop_bg mosquitto
	if declare -F _san_preload >/dev/null; then
		preload=$(_san_preload "$PLUGIN_SO")
	fi
	if [ -n "$preload" ]; then
		start_bg mosquitto env LD_PRELOAD="$preload" \
			ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0" "$MOSQUITTO_BIN" -c "$MOSQ_CONF"
	else
		start_bg mosquitto "$MOSQUITTO_BIN" -c "$MOSQ_CONF"
	fi
	MOSQ_PID=$BG_LAST
	wait_port "$MOSQ_PORT"
}

# gw_topic_key ID TOPIC KEY_B64: add topic key ID for TOPIC to the
# gateway's credentials (written 0600), as `mqttsec-acl key export` gives it
# once the topic is protected.
gw_topic_key() {
	[ -f "$GW_CREDS" ] || gw_creds_plain
	"$PYTHON" - "$GW_CREDS" "$3" "$1" "$2" <<'PY'
import json, os, sys
path, key, kid, topic = sys.argv[1:]
c = json.load(open(path))
c["keys"].append({"id": int(kid), "key": key, "use": "topic", "topic": topic})
fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(c).encode())
os.close(fd)
os.rename(path + ".tmp", path)
PY
}

# gw_status_key: add a topic key for $GW_STATUS/# to the gateway's
# credentials, as `mqttsec-acl key export` does once the status tree is
# protected; without the mqttsec plugin the tests seal acknowledgements
# themselves (pub_ack), origin included, as the plugin would.
GW_ACK_KEY_ID=4000000002
gw_status_key() {
	GW_ACK_KEY=$(head -c 32 /dev/urandom | base64 -w0)
	gw_topic_key "$GW_ACK_KEY_ID" "$GW_STATUS/#" "$GW_ACK_KEY"
}

# gw_marketing_key: a topic key for marketing/# (campaigns and reviews
# travel sealed only) and a device key, which seals the content for
# reviewers (docs/marketing.md, "Setting it up"; without the plugin nobody
# opens it).
gw_marketing_key() {
	gw_topic_key 4000000003 "marketing/#" "$(head -c 32 /dev/urandom | base64 -w0)"
	gw_device_key
}

# gw_device_key: add a device key to the gateway's credentials (once), as
# `mqttsec-acl device add` writes it.
gw_device_key() {
	[ -f "$GW_CREDS" ] || gw_creds_plain
	"$PYTHON" - "$GW_CREDS" "$(head -c 32 /dev/urandom | base64 -w0)" <<'PY'
import json, os, sys
path, key = sys.argv[1:]
c = json.load(open(path))
if not any(k.get("use") == "device" for k in c["keys"]):
    c["keys"].append({"id": 4000000009, "key": key, "use": "device"})
fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(c).encode())
os.close(fd)
os.rename(path + ".tmp", path)
PY
}

# seal_ack ID DEVICE: prepare the acknowledgement of ID by DEVICE (sealed,
# with origin) in a file; pub_ack ID DEVICE publishes it (sealing it first
# when seal_ack was not called).
seal_ack() {
	printf '{"by": "%s"}' "$2" | "$PYTHON" "$ENVELOPE_PY" seal --key-b64 "$GW_ACK_KEY" \
		--key-id "$GW_ACK_KEY_ID" --topic "$GW_STATUS/$1/ack" --origin "$2" \
		>"$TEST_TMP/ack-$1-$2.env"
}
pub_ack() {
	[ -s "$TEST_TMP/ack-$1-$2.env" ] || seal_ack "$1" "$2" || return 1
	mosquitto_pub -h 127.0.0.1 -p "$MOSQ_PORT" -q 1 -t "$GW_STATUS/$1/ack" \
		-f "$TEST_TMP/ack-$1-$2.env"
}

# next_step NAME: wait until NAME's last used TOTP step (period 2) is over.
next_step() {
	local last now
	last=$(cat "$TEST_TMP/$1.step" 2>/dev/null || echo -1)
	while :; do
		now=$(($(date +%s) / 2))
		[ "$now" -gt "$last" ] && break
		sleep 0.2
	done
	echo "$now" >"$TEST_TMP/$1.step"
}
# dpub NAME TOPIC ARGS...: mqttsec-device publish as NAME (QoS 1)
dpub() {
	local name=$1 topic=$2
	shift 2
	next_step "$name"
	timeout 60 "$DEVICE_BIN" -c "$TEST_TMP/$name.json" publish -h 127.0.0.1 \
		-p "$MOSQ_PORT" -t "$topic" -q 1 "$@"
}
