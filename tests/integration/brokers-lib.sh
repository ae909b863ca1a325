# SPDX-License-Identifier: BSD-3-Clause
# brokers-lib.sh - sourced (bash) after lib.sh by tests that need several
# real Mosquitto brokers with the mqttsec plugin (docs/medical.md: channels
# on different brokers).  Each broker B has its own plugin database and
# master key ($TEST_TMP/mb-B.db, mb-B.key: one operator each), its own free
# loopback port (kept across restarts), persistence on (sessions survive a
# restart) and its own log ($TEST_TMP/mb-B.mqlog).  Every process started
# here goes through start_bg, so lib.sh's cleanup trap stops it; on a
# failure the brokers' logs are shown.
#
#   mb_init B...             create the databases (mqttsec-acl init)
#   mb_acl B ARGS...         mqttsec-acl on broker B's database
#   mb_change B ARGS...      mb_acl, then wait until a running B reloaded
#   mb_device B NAME [ARGS]  enrol NAME on B (1 s TOTP period unless ARGS
#                            give --period); credentials in $(mb_creds B NAME)
#   mb_creds B NAME          the credentials file of NAME on B
#   mb_protect B FILTER      protect FILTER on B
#   mb_allow B ACCESS NAME FILTER   an allow rule (ACCESS: pub|sub|read|all)
#   mb_key B FILTER NAME     export FILTER's topic key into NAME's credentials on B
#   mb_start B               start B (first time: a free port) and wait for it
#   mb_stop B                stop B; its database and port are kept
#   mb_port B                B's port
#   mb_log B                 B's mosquitto log
#   mb_wait_step B NAME      wait for a TOTP step of NAME not used yet
#   mb_dev B NAME ARGS...    mqttsec-device -c NAME's credentials on B: ARGS
#                            is "SUBCOMMAND [options]", -h/-p of B added,
#                            in a fresh TOTP step of NAME
#   mb_code B NAME           a TOTP code of NAME on B, of a step not used yet
#                            (for mosquitto_pub/sub -u NAME -P CODE)

need_file "$PLUGIN_SO" "$ACL_BIN"
need_cmd timeout python3 oathtool
MB_CLIENT_TIMEOUT=${MB_CLIENT_TIMEOUT:-60}
declare -A MB_PORT=()
MB_NAMES=()

# mb_acl B ARGS...: mqttsec-acl on broker B's database.
mb_acl() {
	local b=$1
	shift
	MQTTSEC_DB=$TEST_TMP/mb-$b.db MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/mb-$b.key \
		"$ACL_BIN" "$@"
}

# mb_init B...: a database and master key for each broker.
mb_init() {
	local b
	for b in "$@"; do
		mb_acl "$b" init >/dev/null 2>&1 || bail_out "mqttsec-acl init failed for broker $b"
		MB_NAMES+=("$b")
	done
}

# mb_creds B NAME: the credentials file of NAME on broker B.
mb_creds() {
	echo "$TEST_TMP/mb-$1-$2.json"
}

# mb_device B NAME [ARGS...]: enrol NAME on B.
mb_device() {
	local b=$1 name=$2
	shift 2
	case " $* " in
	*" --period "*) ;;
	*) set -- --period 1 "$@" ;;
	esac
	mb_acl "$b" device add "$name" --out "$(mb_creds "$b" "$name")" "$@" >/dev/null
}

# mb_protect B FILTER
mb_protect() {
	mb_acl "$1" topic protect "$2" >/dev/null
}

# mb_allow B ACCESS NAME FILTER
mb_allow() {
	mb_acl "$1" acl add allow "$2" "$3" "$4" >/dev/null
}

# mb_key B FILTER NAME: FILTER's topic key into NAME's credentials on B.
mb_key() {
	mb_acl "$1" key export "$2" --for "$3" --out "$(mb_creds "$1" "$3")" >/dev/null \
		2>>"$TEST_TMP/mb-acl.err"
}

# mb_port B / mb_log B
mb_port() {
	echo "${MB_PORT[$1]}"
}
mb_log() {
	echo "$TEST_TMP/mb-$1.mqlog"
}

# _mb_reloads B: reloads of B's plugin so far.
_mb_reloads() {
	grep -c 'mqttsec: reloaded' "$(mb_log "$1")" 2>/dev/null
}
_mb_reloaded_since() {
	[ "$(_mb_reloads "$1")" -gt "$2" ]
}

# mb_change B ARGS...: mqttsec-acl ARGS on B, then wait until B (when it
# runs) reloaded.
mb_change() {
	local b=$1 before
	shift
	before=$(_mb_reloads "$b")
	mb_acl "$b" "$@" >/dev/null || return 1
	bg_alive "mb-$b" || return 0
	wait_for 10 _mb_reloaded_since "$b" "$before"
}

# _mb_conf B: write B's mosquitto.conf.
_mb_conf() {
	local b=$1
	mkdir -p "$TEST_TMP/mb-$b-persist"
	{
		echo "# written by tests/integration/brokers-lib.sh"
		[ "$(id -u)" -eq 0 ] && echo "user root"
		echo "per_listener_settings false"
		echo "listener ${MB_PORT[$b]} 127.0.0.1"
		echo "persistence true"
		echo "persistence_location $TEST_TMP/mb-$b-persist/"
		echo "log_dest file $(mb_log "$b")"
		echo "log_type all"
		echo "log_timestamp_format %Y-%m-%dT%H:%M:%S"
		echo "connection_messages true"
		echo "allow_anonymous false"
		echo "set_tcp_nodelay true"
		echo "plugin $PLUGIN_SO"
		echo "plugin_opt_db_file $TEST_TMP/mb-$b.db"
		echo "plugin_opt_master_key_file $TEST_TMP/mb-$b.key"
		# short TOTP periods (1-2 s) stay valid on a busy machine (see
		# plugin-lib.sh, start_plugin_broker)
		echo "plugin_opt_totp_window 10"
	} >"$TEST_TMP/mb-$b.conf"
}

_mb_up() {
	bg_alive "mb-$1" && port_open "${MB_PORT[$1]}"
}

# mb_start B: start broker B and wait until it accepts connections.
mb_start() {
	local b=$1 preload tries=1
	[ -n "${MB_PORT[$b]:-}" ] || {
		MB_PORT[$b]=$(free_port)
		tries=3
	}
	preload=$(_san_preload "$PLUGIN_SO")
	while [ "$tries" -gt 0 ]; do
		_mb_conf "$b"
		if [ -n "$preload" ]; then
			start_bg "mb-$b" env LD_PRELOAD="$preload" \
				ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0" \
				"$MOSQUITTO_BIN" -c "$TEST_TMP/mb-$b.conf"
		else
			start_bg "mb-$b" "$MOSQUITTO_BIN" -c "$TEST_TMP/mb-$b.conf"
		fi
		if wait_for "$WAIT_TIMEOUT" _mb_up "$b"; then
			return 0
		fi
		stop_bg "mb-$b"
		tries=$((tries - 1))
		# a port taken between free_port and bind: another one (first start only)
		if [ "$tries" -gt 0 ] && grep -qi 'address already in use' "$(mb_log "$b")" \
			"$TEST_TMP/mb-$b.log" 2>/dev/null; then
			MB_PORT[$b]=$(free_port)
		else
			break
		fi
	done
	diag "broker $b did not start (port ${MB_PORT[$b]})"
	show_log "mb-$b"
	return 1
}

# mb_stop B: stop broker B (database, persistence and port kept).
mb_stop() {
	stop_bg "mb-$1"
}

# _mb_step B NAME: NAME's current TOTP step on B.
_mb_step() {
	python3 -c 'import json, sys, time
t = json.load(open(sys.argv[1]))["totp"]
print(int(time.time()) // int(t["period"]))' "$(mb_creds "$1" "$2")"
}

# mb_wait_step B NAME: wait for a step of NAME later than its last use
# here (the broker refuses a code's step twice).
mb_wait_step() {
	local f=$TEST_TMP/mb-$1-$2.step last
	last=$(cat "$f" 2>/dev/null || echo -1)
	while [ "$(_mb_step "$1" "$2")" -le "$last" ]; do
		sleep 0.1
	done
	_mb_step "$1" "$2" >"$f"
}

# mb_dev B NAME SUBCOMMAND [ARGS...]: mqttsec-device as NAME on broker B.
mb_dev() {
	local b=$1 name=$2 sub=$3
	shift 3
	mb_wait_step "$b" "$name"
	timeout "$MB_CLIENT_TIMEOUT" "$DEVICE_BIN" -c "$(mb_creds "$b" "$name")" "$sub" \
		-h 127.0.0.1 -p "${MB_PORT[$b]}" "$@"
}

# mb_code B NAME: a code of a fresh step of NAME on B (oathtool).
mb_code() {
	mb_wait_step "$1" "$2"
	python3 -c 'import json, sys, time
t = json.load(open(sys.argv[1]))["totp"]
print(t["secret"], t["period"], t["digits"])' "$(mb_creds "$1" "$2")" | {
		read -r secret period digits
		oathtool --totp -b -d "$digits" --time-step-size="${period}s" \
			-N "@$(date +%s)" "$secret"
	}
}

# On a failure: the brokers' own logs too, then lib.sh's cleanup.
_mb_exit() {
	local rc=$? b
	if [ "$_tap_failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
		for b in "${MB_NAMES[@]}"; do
			if [ -f "$(mb_log "$b")" ]; then
				diag "--- last lines of broker $b's log ---"
				diag "$(tail -n 20 "$(mb_log "$b")")"
			fi
		done
	fi
	(exit "$rc")
	_cleanup
}
trap _mb_exit EXIT
