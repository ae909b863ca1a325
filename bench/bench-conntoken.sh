#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-conntoken.sh - connect rate with connect tokens against TOTP codes
# and plain mosquitto (anonymous), in one run, alternating, on loopback
# (docs/broker-plugin.md, "Connect tokens"; figures in docs/PERFORMANCE.md).
# Each token CONNECT costs the plugin an HMAC check and one line in its
# token journal (folded into token_seen once a second, as accepted TOTP
# steps are); each TOTP CONNECT a step journal line.
# Run from a build dir after "make bench-plugin":
#   ../bench/bench-conntoken.sh
# Knobs (environment): BENCH_CLIENTS (5000), BENCH_TRIALS (5),
# BENCH_KEEP=1 keeps the work dir.
set -eu
export LC_ALL=C

BUILD=${top_builddir:-$PWD}
LOAD=$BUILD/bench/bench-plugin-load
MKDB=$BUILD/bench/bench-plugin-mkdb
PLUGIN=$BUILD/broker-plugin/.libs/mqttsec_plugin.so
MOSQUITTO=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}
N=${BENCH_CLIENTS:-5000}
TRIALS=${BENCH_TRIALS:-5}
CONC=64

for f in "$LOAD" "$MKDB" "$PLUGIN" "$MOSQUITTO"; do
	[ -x "$f" ] || [ -f "$f" ] || {
		echo "bench-conntoken: $f missing: run 'make bench-plugin' in the build dir" >&2
		exit 1
	}
done

W=$(mktemp -d "${TMPDIR:-/tmp}/mqttsec-bench.XXXXXX")
BROKER_PID=
cleanup() {
	if [ -n "$BROKER_PID" ]; then
		kill "$BROKER_PID" 2>/dev/null || true
		wait "$BROKER_PID" 2>/dev/null || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "# kept $W" >&2
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_broker NAME CONF_LINE...: start mosquitto; sets PORT, BROKER_PID, LOG.
start_broker() {
	local name=$1 i
	shift
	PORT=$(free_port)
	LOG=$W/$name.log
	{
		[ "$(id -u)" -eq 0 ] && echo "user root"
		echo "listener $PORT 127.0.0.1"
		echo "persistence false"
		echo "connection_messages false"
		echo "log_dest file $LOG"
		echo "log_type error"
		echo "log_type warning"
		echo "log_type information"
		printf '%s\n' "$@"
	} >"$W/$name.conf"
	"$MOSQUITTO" -c "$W/$name.conf" >"$W/$name.out" 2>&1 &
	BROKER_PID=$!
	for i in $(seq 100); do
		kill -0 "$BROKER_PID" 2>/dev/null || break
		if grep -q "running" "$LOG" 2>/dev/null &&
			(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
			sleep 0.2
			return 0
		fi
		sleep 0.1
	done
	echo "bench-conntoken: broker $name did not start" >&2
	tail -n 5 "$W/$name.out" "$LOG" >&2 2>/dev/null
	exit 1
}

stop_broker() {
	kill "$BROKER_PID" 2>/dev/null || true
	wait "$BROKER_PID" 2>/dev/null || true
	BROKER_PID=
}

cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' \
		"/proc/$BROKER_PID/stat"
}

field() {
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

echo "# connect tokens vs TOTP vs plain ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
	"mosquitto $("$MOSQUITTO" -h 2>/dev/null | awk '/version/ { print $3; exit }'))"
echo "# clients=$N trials=$TRIALS concurrency=$CONC load average at start:" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"

# 2 s TOTP steps: every TOTP trial can log the same devices in again
"$MKDB" "$W/mqttsec.db" "$W/master.key" "$W/creds" "$N" 0 0 2 >/dev/null
grep '^dev' "$W/creds" | head -n "$N" >"$W/creds-totp"
sed 's/ totp:/ token:/' "$W/creds-totp" >"$W/creds-token"

PLUGIN_CONF=("plugin $PLUGIN" "plugin_opt_db_file $W/mqttsec.db"
	"plugin_opt_master_key_file $W/master.key" "plugin_opt_max_ip_failures 0"
	"plugin_opt_clientid_policy any")

connect_run() { # NAME CREDS CONF_LINE...
	local name=$1 creds=$2 out c0 c1
	shift 2
	start_broker "$name" "$@"
	c0=$(cpu_ms)
	out=$(timeout 120 "$LOAD" connect "$PORT" "$creds" "$N" "$CONC") || true
	c1=$(cpu_ms)
	stop_broker
	[ -n "$(field rate "$out")" ] && [ "$(field refused "$out")" = 0 ] || {
		echo "bench-conntoken: trial $name failed: ${out:-no output}" >&2
		exit 1
	}
	echo "$name $out broker_cpu_us_per_connect=$(((c1 - c0) * 1000 / N))" >&2
	echo "$(field rate "$out") $(((c1 - c0) * 1000 / N))"
}
: >"$W/plain"
: >"$W/totp"
: >"$W/token"
for t in $(seq 0 $((TRIALS - 1))); do
	connect_run "plain-$t" - "allow_anonymous true" >>"$W/plain"
	sleep 2 # a later TOTP step than the previous TOTP trial
	connect_run "totp-$t" "$W/creds-totp" "${PLUGIN_CONF[@]}" >>"$W/totp"
	connect_run "token-$t" "$W/creds-token" "${PLUGIN_CONF[@]}" >>"$W/token"
done
for k in plain totp token; do
	eval "R_$k=\$(cut -d' ' -f1 \"\$W/$k\" | median)"
	eval "U_$k=\$(cut -d' ' -f2 \"\$W/$k\" | median)"
done
echo "connect_per_s plain=$R_plain totp=$R_totp token=$R_token (median of $TRIALS)" \
	"ratio_token_vs_plain=$(ratio "$R_token" "$R_plain")" \
	"ratio_totp_vs_plain=$(ratio "$R_totp" "$R_plain")"
echo "connect_broker_cpu_us plain=$U_plain totp=$U_totp token=$U_token" \
	"cost_ratio_plain_vs_token=$(ratio "$U_plain" "$U_token")" \
	"cost_ratio_plain_vs_totp=$(ratio "$U_plain" "$U_totp")"
