# SPDX-License-Identifier: BSD-3-Clause
# lib.sh - sourced (bash) by every integration test in tests/integration/.
#
# Gives a test:
#   TAP output     plan N | done_testing, ok DESC CMD..., nok DESC CMD...,
#                  is GOT WANT DESC, pass DESC, fail DESC [DIAG...], skip DESC WHY,
#                  diag MSG..., skip_all WHY, bail_out WHY
#   a temp dir     $TEST_TMP (mode 0700), removed at exit (kept with KEEP_TMP=1)
#   processes      start_bg NAME CMD... (output in $TEST_TMP/NAME.log, pid in
#                  BG_PID[NAME]); every started process and its children are
#                  killed on EXIT/INT/TERM; stop_bg NAME stops one early
#   waiting        free_port, wait_port PORT [TIMEOUT], wait_for TIMEOUT CMD...
#                  (every wait is bounded; default timeout $WAIT_TIMEOUT = 10 s,
#                  stretched by $WAIT_SCALE, see wait_for), settle SECONDS CMD...
#                  (a negative check: CMD stays false for SECONDS)
#   binaries       $DEVICE_BIN $ACL_BIN $GATEWAY_BIN $PLUGIN_SO, $ENVELOPE_PY,
#                  need_file PATH..., need_cmd CMD... (skip_all when missing)
#   a broker       start_mosquitto [CONF_LINE...] -> $MOSQ_PORT $MOSQ_CONF $MOSQ_LOG
#
# Run by automake's TAP driver with top_srcdir and top_builddir exported; run
# by hand from a build dir with e.g.
#   top_srcdir=.. top_builddir=. bash ../tests/integration/01-device-offline.sh
# Only loopback addresses are used.  No timing assertions.

set -u
export LC_ALL=C

# Debian's python3 has the packages the tests need (python3-cryptography,
# python3-aiosmtpd); a python3 earlier on PATH (pyenv, venv) may not.
if [ -x /usr/bin/python3 ]; then
	python3() { /usr/bin/python3 "$@"; }
	PYTHON=/usr/bin/python3
else
	PYTHON=python3
fi
export PYTHON

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/_build}"
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" 2>/dev/null && pwd || echo "$top_builddir")
export top_srcdir top_builddir

# shellcheck disable=SC2034 # used by the tests that source this file
DEVICE_BIN=$top_builddir/device/mqttsec-device
# shellcheck disable=SC2034
ACL_BIN=$top_builddir/acl/mqttsec-acl
# shellcheck disable=SC2034
GATEWAY_BIN=$top_builddir/gateway/mqttsec-gateway
PLUGIN_SO=$top_builddir/broker-plugin/.libs/mqttsec_plugin.so
# shellcheck disable=SC2034
ENVELOPE_PY=$top_srcdir/tests/tools/envelope.py
if [ -z "${MOSQUITTO_BIN:-}" ]; then
	MOSQUITTO_BIN=/usr/sbin/mosquitto
fi
WAIT_TIMEOUT=${WAIT_TIMEOUT:-10}
# Every wait_for bound is multiplied by WAIT_SCALE (at most up to 300 s): a
# wait polls for its event, so a generous bound costs nothing when the event
# comes, and the suite runs under make -j8 check on a busy 2-core machine
# where a process can take many seconds to start.  WAIT_SCALE=1 gives the
# bounds as written.
WAIT_SCALE=${WAIT_SCALE:-6}
export WAIT_TIMEOUT WAIT_SCALE

# Sanitizer runs: report every error, fail hard (set by .ci/run too).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

########################################################################
## TAP

_tap_n=0
_tap_failed=0
_tap_planned=

# plan N: announce N tests (or use done_testing at the end).
plan() {
	_tap_planned=$1
	echo "1..$1"
}

# diag MSG...: a TAP comment line per line of MSG.
diag() {
	local line
	printf '%s\n' "$*" | while IFS= read -r line; do
		printf '# %s\n' "$line"
	done
}

# pass DESC
pass() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - ${1//#/ }"
}

# fail DESC [DIAG...]: a failing test, with optional diagnostics.
fail() {
	_tap_n=$((_tap_n + 1))
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_n - ${1//#/ }"
	shift
	if [ $# -gt 0 ]; then
		diag "$@"
	fi
}

# ok DESC CMD...: passes when CMD exits 0 (its stderr is shown on failure).
ok() {
	local desc=$1 rc=0
	shift
	"$@" >"$TEST_TMP/.ok.out" 2>"$TEST_TMP/.ok.err" || rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "$desc"
	else
		fail "$desc" "command: $*" "exit status: $rc" "$(head -c 2000 "$TEST_TMP/.ok.err")"
	fi
	return "$rc"
}

# nok DESC CMD...: passes when CMD exits non-zero.
nok() {
	local desc=$1 rc=0
	shift
	"$@" >"$TEST_TMP/.ok.out" 2>"$TEST_TMP/.ok.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		pass "$desc"
		return 0
	fi
	fail "$desc" "command: $*" "unexpectedly exited 0"
	return 1
}

# is GOT WANT DESC: string equality.
is() {
	if [ "$1" = "$2" ]; then
		pass "$3"
		return 0
	fi
	fail "$3" "     got: '$1'" "    want: '$2'"
	return 1
}

# skip DESC WHY: one skipped test.
skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - ${1//#/ } # SKIP ${2:-}"
}

# skip_all WHY: skip the whole test file (only before any test ran).
skip_all() {
	echo "1..0 # SKIP $*"
	_tap_planned=0
	exit 0
}

# bail_out WHY: abort the whole test file.
bail_out() {
	echo "Bail out! $*"
	exit 1
}

# done_testing: print the plan if plan was not called; exit 1 on failures.
done_testing() {
	if [ -z "$_tap_planned" ]; then
		plan "$_tap_n"
	elif [ "$_tap_planned" -ne "$_tap_n" ]; then
		diag "planned $_tap_planned tests but ran $_tap_n"
	fi
	if [ "$_tap_failed" -gt 0 ]; then
		diag "failed $_tap_failed of $_tap_n tests"
		exit 1
	fi
	exit 0
}

########################################################################
## temp dir and processes

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mqttsec-test.XXXXXX") || bail_out "cannot create a temp dir"
chmod 700 "$TEST_TMP"
declare -A BG_PID=()
_bg_pids=()

# start_bg NAME CMD...: run CMD in the background in its own process group,
# stdout+stderr to $TEST_TMP/NAME.log; sets BG_PID[NAME] and $BG_LAST.
start_bg() {
	local name=$1
	shift
	# setsid makes the child a process group leader (it does not fork: a
	# background child of a shell is never a group leader already), so
	# stop_bg can signal the process and all of its children at once.
	setsid "$@" >"$TEST_TMP/$name.log" 2>&1 </dev/null &
	BG_LAST=$!
	BG_PID[$name]=$BG_LAST
	_bg_pids+=("$BG_LAST")
}

# _kill_tree PID: TERM the process group of PID, wait up to 5 s, then KILL.
_kill_tree() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# stop_bg NAME: stop one background process (and its children) now.
stop_bg() {
	local pid=${BG_PID[$1]:-}
	if [ -n "$pid" ]; then
		_kill_tree "$pid"
	fi
}

# bg_alive NAME: true while the process runs.
bg_alive() {
	local pid=${BG_PID[$1]:-}
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# show_log NAME [LINES]: the last lines of a background process' log as diag.
show_log() {
	if [ -f "$TEST_TMP/$1.log" ]; then
		diag "--- last lines of $1.log ---"
		diag "$(tail -n "${2:-30}" "$TEST_TMP/$1.log")"
	fi
}

_cleanup() {
	local rc=$? pid name
	trap - EXIT INT TERM
	for pid in "${_bg_pids[@]}"; do
		_kill_tree "$pid"
	done
	# also a broker's own log when something failed
	if [ "$_tap_failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
		for name in "${!BG_PID[@]}"; do
			show_log "$name" 20
		done
		if [ -n "${MOSQ_LOG:-}" ] && [ -f "$MOSQ_LOG" ]; then
			diag "--- last lines of $MOSQ_LOG ---"
			diag "$(tail -n 30 "$MOSQ_LOG")"
		fi
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		diag "temp dir kept: $TEST_TMP"
	else
		rm -rf "$TEST_TMP"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

########################################################################
## waiting and ports

# _now_us: microseconds since the epoch.
_now_us() {
	local t=${EPOCHREALTIME//[!0-9]/}
	echo "$t"
}

# _poll_until TIMEOUT CMD...: run CMD every 0.1 s until it succeeds (return
# 0) or TIMEOUT seconds (may be fractional) pass (return 1).
_poll_until() {
	local timeout=$1 deadline
	shift
	deadline=$(($(_now_us) + $(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000000 }')))
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if [ "$(_now_us)" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.1
	done
}

# scaled SECONDS: print SECONDS stretched by WAIT_SCALE, capped at
# max(SECONDS, 300).
scaled() {
	awk -v t="$1" -v k="$WAIT_SCALE" 'BEGIN { s = t * k; c = t > 300 ? t : 300;
		if (s > c) s = c; if (s < t) s = t; printf "%g", s }'
}

# wait_for TIMEOUT CMD...: wait until CMD succeeds (return 0), polling every
# 0.1 s, for at most TIMEOUT x WAIT_SCALE seconds (return 1).  For a check
# that something does NOT happen use settle.
wait_for() {
	local timeout
	timeout=$(scaled "$1")
	shift
	_poll_until "$timeout" "$@"
}

# settle SECONDS CMD...: true when CMD stays false for SECONDS (unscaled): a
# negative check ("no second delivery within SECONDS").
settle() {
	local timeout=$1
	shift
	! _poll_until "$timeout" "$@"
}

# port_open PORT [HOST]: true when something accepts TCP connections there.
port_open() {
	(exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

# wait_port PORT [TIMEOUT]: wait until 127.0.0.1:PORT accepts connections.
wait_port() {
	wait_for "${2:-$WAIT_TIMEOUT}" port_open "$1"
}

# subacked LOG CLIENTID: in broker log LOG (log_type all), since CLIENTID's
# last connection every SUBSCRIBE of it was answered (at least one): a
# client that subscribes on connecting (the gateway: mqttsec-gateway-USER)
# is subscribed once this is true.
subacked() {
	awk -v c="$2" '$0 ~ ("New client connected .* as " c " ") { s = 0; a = 0 }
		$0 ~ ("Received SUBSCRIBE from " c "$") { s++ }
		$0 ~ ("Sending SUBACK to " c "$") { a++ }
		END { exit !(a >= 1 && a == s) }' "$1" 2>/dev/null
}

# free_port: print a TCP port that is free on 127.0.0.1 right now.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

########################################################################
## requirements

# need_cmd CMD...: skip the whole test when a command is missing.
need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "$c not installed"
	done
}

# need_file PATH...: skip the whole test when a built file is missing.
need_file() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || skip_all "$f not built"
	done
}

# need_python_module MOD...: skip when python3 cannot import a module.
need_python_module() {
	local m
	for m in "$@"; do
		python3 -c "import $m" 2>/dev/null || skip_all "python3 module $m not installed"
	done
}

########################################################################
## mosquitto

# _san_preload FILE: print an LD_PRELOAD value for the sanitizer runtimes
# FILE links (mosquitto itself is not built with them), or nothing.
_san_preload() {
	local libs
	[ -e "$1" ] || return 0
	libs=$(ldd "$1" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ { print $3 }' | tr '\n' ':')
	printf '%s' "${libs%:}"
}

# start_mosquitto [CONF_LINE...]: write $TEST_TMP/mosquitto.conf with a
# listener on a free 127.0.0.1 port, persistence off, logging everything to
# $MOSQ_LOG ($TEST_TMP/broker.log), plus the given lines (allow_anonymous false unless
# one of them sets it); start mosquitto in the foreground as background
# process "mosquitto" and wait for its port.  Sets MOSQ_PORT, MOSQ_CONF,
# MOSQ_LOG.  Returns 1 (with diagnostics) when the broker does not come up.
start_mosquitto() {
	local line anon=1 preload
	MOSQ_CONF=$TEST_TMP/mosquitto.conf
	MOSQ_LOG=$TEST_TMP/broker.log
	for line in "$@"; do
		case $line in allow_anonymous*) anon=0 ;; esac
	done
	preload=$(_san_preload "$PLUGIN_SO")
	for _ in 1 2 3; do
		MOSQ_PORT=$(free_port)
		{
			echo "# written by tests/integration/lib.sh"
			if [ "$(id -u)" -eq 0 ]; then
				# stay root so the broker can use the test's temp files
				echo "user root"
			fi
			echo "per_listener_settings false"
			echo "listener $MOSQ_PORT 127.0.0.1"
			echo "persistence false"
			echo "log_dest file $MOSQ_LOG"
			echo "log_type all"
			echo "log_timestamp_format %Y-%m-%dT%H:%M:%S"
			echo "connection_messages true"
			if [ "$anon" = 1 ]; then
				echo "allow_anonymous false"
			fi
			for line in "$@"; do
				echo "$line"
			done
		} >"$MOSQ_CONF"
		if [ -n "$preload" ]; then
			start_bg mosquitto env LD_PRELOAD="$preload" \
				ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0" \
				"$MOSQUITTO_BIN" -c "$MOSQ_CONF"
		else
			start_bg mosquitto "$MOSQUITTO_BIN" -c "$MOSQ_CONF"
		fi
		MOSQ_PID=$BG_LAST
		if wait_for "$WAIT_TIMEOUT" _mosq_up; then
			return 0
		fi
		stop_bg mosquitto
		# a port taken between free_port and bind is worth another try
		if ! grep -qi 'address already in use' "$MOSQ_LOG" "$TEST_TMP/mosquitto.log" \
			2>/dev/null; then
			break
		fi
	done
	diag "mosquitto did not start (port $MOSQ_PORT)"
	show_log mosquitto
	[ -f "$MOSQ_LOG" ] && diag "$(tail -n 30 "$MOSQ_LOG")"
	return 1
}

# _mosq_up: the broker runs and its port accepts connections.
_mosq_up() {
	kill -0 "$MOSQ_PID" 2>/dev/null || return 2
	port_open "$MOSQ_PORT"
}

########################################################################
## credentials (docs/acl.md, "Devices") written by hand for device-only tests

# make_creds FILE USERNAME TOTP_SECRET_B32 [DIGITS [PERIOD [ALG]]] [KEYSPEC...]
# KEYSPEC is device:ID:KEYB64 or topic:ID:KEYB64:FILTER.  Writes mode 0600.
make_creds() {
	local file=$1 user=$2 secret=$3 digits=${4:-6} period=${5:-30} alg=${6:-SHA1}
	shift 6 2>/dev/null || shift $#
	(umask 077 && python3 - "$user" "$secret" "$digits" "$period" "$alg" "$@" >"$file") <<'EOF'
import json, sys
user, secret, digits, period, alg, *specs = sys.argv[1:]
keys = []
for s in specs:
    use, kid, key, *rest = s.split(":", 3)
    k = {"id": int(kid), "key": key, "use": use}
    if use == "topic":
        k["topic"] = rest[0]
    keys.append(k)
print(json.dumps({"username": user,
                  "totp": {"secret": secret, "digits": int(digits),
                           "period": int(period), "algorithm": alg},
                  "keys": keys}))
EOF
	chmod 600 "$file"
}

# random_key: print base64 of 32 random bytes.
random_key() {
	head -c 32 /dev/urandom | base64 -w0
}

########################################################################
## the web console (docs/console.md): config, users, sign-in with curl
#
#   console_setup [LINE...]    write $CONSOLE_CONF ([console] db and key in
#                              $TEST_TMP/console, fast Argon2 for tests,
#                              [http] listen 127.0.0.1:$CONSOLE_PORT); LINEs
#                              are appended (e.g. "[broker]" "db = ...",
#                              "[http]" "request_timeout = 2")
#   console_tls                make a self-signed cert/key and serve HTTPS
#                              (call before console_setup)
#   console_user_add NAME ROLE [LEVEL]   password $(console_password NAME),
#                              TOTP secret kept in CONSOLE_SECRET[NAME]
#   console_start              start_bg console, wait for the port
#   console_code NAME          print a TOTP code for NAME never used before
#                              (each code once: waits for the next step
#                              when the current and next are used)
#   console_signin NAME [PASSWORD [CODE]]   sign in: sets CONSOLE_SID (the
#                              session cookie value) and CONSOLE_CSRF;
#                              returns 0 on success
#   console_get PATH [CURL_ARG...]          GET with the session; body in
#                              $CONSOLE_BODY, headers in $CONSOLE_HEADERS,
#                              prints the status
#   console_post PATH [NAME=VALUE...]       POST a form with the session's
#                              CSRF token added; as console_get
# shellcheck disable=SC2034
CONSOLE_BIN=$top_builddir/console/mqttsec-console
CONSOLE_SCHEME=http
declare -A CONSOLE_SECRET=()
CONSOLE_SID=
CONSOLE_CSRF=

console_tls() {
	CONSOLE_SCHEME=https
	mkdir -p "$TEST_TMP/console"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		-keyout "$TEST_TMP/console/tls.key" -out "$TEST_TMP/console/tls.crt" >/dev/null 2>&1 ||
		bail_out "openssl cannot make a certificate"
	chmod 600 "$TEST_TMP/console/tls.key"
}

console_setup() {
	local line
	mkdir -p "$TEST_TMP/console"
	CONSOLE_PORT=$(free_port)
	CONSOLE_URL=$CONSOLE_SCHEME://127.0.0.1:$CONSOLE_PORT
	CONSOLE_CONF=$TEST_TMP/console/console.conf
	CONSOLE_BODY=$TEST_TMP/console/body
	CONSOLE_HEADERS=$TEST_TMP/console/headers
	{
		echo "[console]"
		echo "db = $TEST_TMP/console/console.db"
		echo "key_file = $TEST_TMP/console/console.key"
		echo "argon2_time = 1"
		echo "argon2_memory_kib = 1024"
		echo "[http]"
		echo "listen = 127.0.0.1:$CONSOLE_PORT"
		if [ "$CONSOLE_SCHEME" = https ]; then
			echo "cert = $TEST_TMP/console/tls.crt"
			echo "key = $TEST_TMP/console/tls.key"
		fi
		for line in "$@"; do
			echo "$line"
		done
	} >"$CONSOLE_CONF"
	export CONSOLE_URL CONSOLE_CONF
}

console_password() {
	echo "pw-$1-0123456789"
}

console_user_add() {
	local name=$1 role=$2 level=${3:-} out
	console_password "$name" >"$TEST_TMP/console/pw.$name"
	if [ -n "$level" ]; then
		out=$("$CONSOLE_BIN" -c "$CONSOLE_CONF" user add "$name" --role "$role" \
			--level "$level" --password-file "$TEST_TMP/console/pw.$name") || return 1
	else
		out=$("$CONSOLE_BIN" -c "$CONSOLE_CONF" user add "$name" --role "$role" \
			--password-file "$TEST_TMP/console/pw.$name") || return 1
	fi
	CONSOLE_SECRET[$name]=$(printf '%s\n' "$out" | sed -n 's/^otpauth:.*[?&]secret=\([A-Z2-7]*\).*/\1/p')
	[ -n "${CONSOLE_SECRET[$name]}" ]
}

console_start() {
	start_bg console "$CONSOLE_BIN" -c "$CONSOLE_CONF" run
	wait_port "$CONSOLE_PORT"
}

console_code() {
	local name=$1 now step last=-1
	# kept in a file: the code is usually read in a $(...) subshell
	[ -f "$TEST_TMP/console/step.$name" ] && last=$(cat "$TEST_TMP/console/step.$name")
	now=$(($(date +%s) / 30))
	if [ "$now" -gt "$last" ]; then
		step=$now
	elif [ $((now + 1)) -gt "$last" ]; then
		step=$((now + 1))
	else
		# both used: wait (bounded, at most one step) for the next step
		while [ $(($(date +%s) / 30)) -le "$now" ]; do sleep 0.2; done
		step=$((now + 2))
	fi
	echo "$step" >"$TEST_TMP/console/step.$name"
	oathtool --totp -b -N "@$((step * 30))" "${CONSOLE_SECRET[$name]}"
}

# _console_curl ARGS...: curl against the console (TLS not verified: the
# test's own self-signed certificate)
_console_curl() {
	curl -s -k --max-time "$(scaled "$WAIT_TIMEOUT")" "$@"
}

# console_login_form: GET /signin; sets _CONSOLE_LOGIN (cookie) and
# _CONSOLE_LOGIN_CSRF.
console_login_form() {
	_console_curl -D "$CONSOLE_HEADERS" -o "$CONSOLE_BODY" "$CONSOLE_URL/signin" || return 1
	_CONSOLE_LOGIN=$(sed -n 's/^Set-Cookie: __Host-mqs_login=\([^;]*\);.*/\1/p' "$CONSOLE_HEADERS" | tr -d '\r')
	_CONSOLE_LOGIN_CSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$CONSOLE_BODY")
	[ -n "$_CONSOLE_LOGIN" ] && [ -n "$_CONSOLE_LOGIN_CSRF" ]
}

console_signin() {
	local name=$1 password=${2:-} code=${3:-} status
	[ -n "$password" ] || password=$(console_password "$name")
	[ -n "$code" ] || code=$(console_code "$name")
	CONSOLE_SID=
	CONSOLE_CSRF=
	console_login_form || return 1
	status=$(_console_curl -D "$CONSOLE_HEADERS" -o "$CONSOLE_BODY" -w '%{http_code}' \
		-H "Cookie: __Host-mqs_login=$_CONSOLE_LOGIN" \
		--data-urlencode "csrf=$_CONSOLE_LOGIN_CSRF" --data-urlencode "name=$name" \
		--data-urlencode "password=$password" --data-urlencode "code=$code" \
		"$CONSOLE_URL/signin")
	[ "$status" = 303 ] || return 1
	CONSOLE_SID=$(sed -n 's/^Set-Cookie: __Host-mqs_session=\([^;]*\);.*/\1/p' "$CONSOLE_HEADERS" | tr -d '\r')
	[ -n "$CONSOLE_SID" ] || return 1
	[ "$(console_get /)" = 200 ] || return 1
	CONSOLE_CSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$CONSOLE_BODY" | head -n 1)
	[ -n "$CONSOLE_CSRF" ]
}

console_get() {
	local path=$1
	shift
	_console_curl -D "$CONSOLE_HEADERS" -o "$CONSOLE_BODY" -w '%{http_code}' \
		-H "Cookie: __Host-mqs_session=$CONSOLE_SID" "$@" "$CONSOLE_URL$path"
}

console_post() {
	local path=$1 kv args=()
	shift
	for kv in "$@"; do
		args+=(--data-urlencode "$kv")
	done
	_console_curl -D "$CONSOLE_HEADERS" -o "$CONSOLE_BODY" -w '%{http_code}' \
		-H "Cookie: __Host-mqs_session=$CONSOLE_SID" \
		--data-urlencode "csrf=$CONSOLE_CSRF" "${args[@]}" "$CONSOLE_URL$path"
}
