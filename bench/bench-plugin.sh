#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-plugin.sh - mqttsec_plugin.so against plain mosquitto and the
# dynamic-security plugin, in one run, on loopback:
#   - connect rate: N clients (TOTP auth / anonymous / dynsec passwords;
#     TOTP auth again with plugin_opt_totp_step_commit database)
#   - QoS 0 publish throughput, 256-byte payloads, 1 subscriber, with the
#     plugin holding 100,000 ACL rules and 10,000 list entries
#   - broker RSS with 10,000 devices + 100,000 rules
#   - reload time of that view, and the broker's PINGRESP latency meanwhile
# Run from a build dir after "make bench-plugin" (see bench/README-plugin.md):
#   ../bench/bench-plugin.sh
# Knobs (environment): BENCH_CLIENTS (10000), BENCH_RULES (100000),
# BENCH_ENTRIES (10000), BENCH_MESSAGES (200000), BENCH_TRIALS (5),
# BENCH_KEEP=1 keeps the work dir (configs, logs, databases).
set -eu
export LC_ALL=C

BUILD=${top_builddir:-$PWD}
LOAD=$BUILD/bench/bench-plugin-load
MKDB=$BUILD/bench/bench-plugin-mkdb
PLUGIN=$BUILD/broker-plugin/.libs/mqttsec_plugin.so
DYNSEC=${DYNSEC_SO:-/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so}
MOSQUITTO=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}
N=${BENCH_CLIENTS:-10000}
RULES=${BENCH_RULES:-100000}
ENTRIES=${BENCH_ENTRIES:-10000}
MSGS=${BENCH_MESSAGES:-200000}
TRIALS=${BENCH_TRIALS:-5}
CONC=64

for f in "$LOAD" "$MKDB" "$PLUGIN" "$MOSQUITTO"; do
	[ -x "$f" ] || [ -f "$f" ] || {
		echo "bench-plugin: $f missing: run 'make bench-plugin' in the build dir" >&2
		exit 1
	}
done

W=$(mktemp -d "${TMPDIR:-/tmp}/mqttsec-bench.XXXXXX")
BROKER_PID=
cleanup() {
	[ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
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
# A port taken between free_port and bind is worth another try.
start_broker() {
	local name=$1 attempt i
	shift
	for attempt in 1 2 3; do
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
			echo "max_queued_messages 0"
			printf '%s\n' "$@"
		} >"$W/$name.conf"
		"$MOSQUITTO" -c "$W/$name.conf" >"$W/$name.out" 2>&1 &
		BROKER_PID=$!
		for i in $(seq 100); do
			kill -0 "$BROKER_PID" 2>/dev/null || break
			if grep -q "running" "$LOG" 2>/dev/null &&
				(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
				sleep 0.2
				kill -0 "$BROKER_PID" 2>/dev/null && return 0
				break
			fi
			sleep 0.1
		done
		kill "$BROKER_PID" 2>/dev/null
		wait "$BROKER_PID" 2>/dev/null
		BROKER_PID=
		echo "bench-plugin: broker $name did not start (attempt $attempt)" >&2
		tail -n 5 "$W/$name.out" "$LOG" >&2 2>/dev/null
	done
	exit 1
}

stop_broker() {
	kill "$BROKER_PID" 2>/dev/null || true
	wait "$BROKER_PID" 2>/dev/null || true
	BROKER_PID=
}

# cpu_ms: user+system CPU time the broker used so far, in milliseconds.
cpu_ms() {
	[ -r "/proc/$BROKER_PID/stat" ] || {
		echo "bench-plugin: the broker (pid $BROKER_PID) is gone" >&2
		tail -n 20 "$LOG" >&2
		exit 1
	}
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' \
		"/proc/$BROKER_PID/stat"
}

rss_kb() {
	awk '/^VmRSS/ { print $2 }' "/proc/$BROKER_PID/status"
}

# field KEY LINE: the value of KEY=... in a bench-plugin-load output line.
field() {
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

# trial_ok OUTPUT: a trial without a rate (refused, timed out) would count
# as the lowest value of its medians: stop instead.
trial_ok() {
	[ -n "$(field rate "$1")" ] || {
		echo "bench-plugin: a trial failed: ${1:-no output}" >&2
		exit 1
	}
}

# best: the largest value (other load on the machine only ever lowers a rate).
best() {
	sort -n | tail -n 1
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}

echo "# mqttsec broker plugin benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
	"mosquitto $("$MOSQUITTO" -h 2>/dev/null | awk '/version/ { print $3; exit }'))"
echo "# clients=$N rules=$RULES entries=$ENTRIES messages=$MSGS x 256 B trials=$TRIALS"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other load lowers the rates;" \
	"the broker CPU figures are steadier)"

# --- data ---
T0=$(date +%s%N)
# 2 s TOTP steps: every trial can log the same 10,000 devices in again
"$MKDB" "$W/mqttsec.db" "$W/master.key" "$W/creds" "$N" "$RULES" "$ENTRIES" 2 >/dev/null
echo "mkdb_ms=$((($(date +%s%N) - T0) / 1000000))"
grep '^dev' "$W/creds" | head -n "$N" >"$W/creds-devices"
python3 - "$N" "$W/dynsec.json" "$W/creds-dynsec" <<'EOF'
import base64, hashlib, json, os, sys
n, path, creds = int(sys.argv[1]), sys.argv[2], sys.argv[3]
clients = []
with open(creds, "w") as out:
    for i in range(n):
        name, pw = "dev%05d" % i, "pw-%05d" % i
        salt = os.urandom(12)
        h = hashlib.pbkdf2_hmac("sha512", pw.encode(), salt, 101, 64)
        clients.append({"username": name, "password": base64.b64encode(h).decode(),
                        "salt": base64.b64encode(salt).decode(), "iterations": 101,
                        "roles": [{"rolename": "all"}]})
        out.write("%s %s\n" % (name, pw))
json.dump({"clients": clients,
           "roles": [{"rolename": "all", "acls": [
               {"acltype": "publishClientSend", "topic": "#", "allow": True},
               {"acltype": "publishClientReceive", "topic": "#", "allow": True},
               {"acltype": "subscribePattern", "topic": "#", "allow": True}]}],
           "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": False,
                                "subscribe": False, "unsubscribe": True}},
          open(path, "w"))
EOF
chmod 600 "$W/dynsec.json"

PLUGIN_CONF=("plugin $PLUGIN" "plugin_opt_db_file $W/mqttsec.db"
	"plugin_opt_master_key_file $W/master.key" "plugin_opt_max_ip_failures 0")

# --- memory and load time ---
start_broker plain "allow_anonymous true"
sleep 0.5
RSS_PLAIN=$(rss_kb)
stop_broker
start_broker plugin "${PLUGIN_CONF[@]}"
sleep 0.5
RSS_PLUGIN=$(rss_kb)
LOAD_MS=$(sed -n 's/.*mqttsec: loaded .* in \([0-9.]*\) ms.*/\1/p' "$LOG" | head -n 1)
stop_broker
echo "rss_plain_kb=$RSS_PLAIN rss_plugin_kb=$RSS_PLUGIN" \
	"plugin_view_kb=$((RSS_PLUGIN - RSS_PLAIN)) load_ms=$LOAD_MS"

# --- connect rate, alternating plain / plugin / dynsec ---
connect_run() { # NAME CREDS CONF_LINE...
	local name=$1 creds=$2 out c0 c1
	shift 2
	start_broker "$name" "$@"
	c0=$(cpu_ms)
	out=$(timeout 120 "$LOAD" connect "$PORT" "$creds" "$N" "$CONC") || true
	c1=$(cpu_ms)
	stop_broker
	trial_ok "$out"
	echo "$out broker_cpu_us_per_connect=$(((c1 - c0) * 1000 / N))" >&2
	echo "$(field rate "$out") $(((c1 - c0) * 1000 / N))"
}
: >"$W/c-plain"
: >"$W/c-plugin"
: >"$W/c-dynsec"
: >"$W/c-plugindb"
for t in $(seq 0 $((TRIALS - 1))); do
	connect_run "c-plain-$t" - "allow_anonymous true" >>"$W/c-plain"
	sleep 2 # a later TOTP step than the previous plugin trial
	connect_run "c-plugin-$t" "$W/creds-devices" "${PLUGIN_CONF[@]}" >>"$W/c-plugin"
	connect_run "c-dynsec-$t" "$W/creds-dynsec" "plugin $DYNSEC" \
		"plugin_opt_config_file $W/dynsec.json" >>"$W/c-dynsec"
	sleep 2
	# the same plugin committing each step to SQLite before its CONNACK
	connect_run "c-plugindb-$t" "$W/creds-devices" "${PLUGIN_CONF[@]}" \
		"plugin_opt_totp_step_commit database" >>"$W/c-plugindb"
done
C_PLAIN=$(cut -d' ' -f1 "$W/c-plain" | median)
C_PLUGIN=$(cut -d' ' -f1 "$W/c-plugin" | median)
C_DYNSEC=$(cut -d' ' -f1 "$W/c-dynsec" | median)
U_PLAIN=$(cut -d' ' -f2 "$W/c-plain" | median)
U_PLUGIN=$(cut -d' ' -f2 "$W/c-plugin" | median)
U_DYNSEC=$(cut -d' ' -f2 "$W/c-dynsec" | median)
echo "connect_per_s plain=$C_PLAIN plugin_totp=$C_PLUGIN dynsec=$C_DYNSEC (median of $TRIALS)" \
	"ratio_plugin_vs_plain=$(ratio "$C_PLUGIN" "$C_PLAIN")" \
	"ratio_plugin_vs_dynsec=$(ratio "$C_PLUGIN" "$C_DYNSEC")"
B_PLAIN=$(cut -d' ' -f1 "$W/c-plain" | best)
B_PLUGIN=$(cut -d' ' -f1 "$W/c-plugin" | best)
B_DYNSEC=$(cut -d' ' -f1 "$W/c-dynsec" | best)
echo "connect_per_s_best plain=$B_PLAIN plugin_totp=$B_PLUGIN dynsec=$B_DYNSEC" \
	"ratio_plugin_vs_plain=$(ratio "$B_PLUGIN" "$B_PLAIN")"
echo "connect_broker_cpu_us plain=$U_PLAIN plugin_totp=$U_PLUGIN dynsec=$U_DYNSEC" \
	"(broker CPU per connection; less sensitive to other load on the machine)" \
	"cost_ratio_plain_vs_plugin=$(ratio "$U_PLAIN" "$U_PLUGIN")"
C_PLUGINDB=$(cut -d' ' -f1 "$W/c-plugindb" | median)
U_PLUGINDB=$(cut -d' ' -f2 "$W/c-plugindb" | median)
echo "connect_step_commit_database per_s=$C_PLUGINDB broker_cpu_us=$U_PLUGINDB" \
	"(plugin_opt_totp_step_commit database, median of $TRIALS)" \
	"ratio_vs_plain=$(ratio "$C_PLUGINDB" "$C_PLAIN")"

# --- publish throughput, alternating plain and plugin ---
secret_of() {
	awk -v n="$1" '$1 == n { print $2 }' "$W/creds"
}
: >"$W/pub-plain"
: >"$W/pub-plugin"
for t in $(seq 0 $((TRIALS - 1))); do
	start_broker "p-plain-$t" "allow_anonymous true"
	c0=$(cpu_ms)
	out=$(timeout 120 "$LOAD" pubsub "$PORT" - - - - bench/site7/dev00107/data "$MSGS" 256) || true
	c1=$(cpu_ms)
	stop_broker
	trial_ok "$out"
	echo "$out broker_cpu_ns_per_msg=$(((c1 - c0) * 1000000 / MSGS))" >&2
	echo "$(field rate "$out") $(((c1 - c0) * 1000000 / MSGS))" >>"$W/pub-plain"
	start_broker "p-plugin-$t" "${PLUGIN_CONF[@]}"
	# bench-plugin-mkdb makes 8 sub/pub devices; past 8 trials they log in
	# again (a later TOTP step, the id they already own)
	c0=$(cpu_ms)
	out=$(timeout 120 "$LOAD" pubsub "$PORT" "bench-sub$((t % 8))" \
		"$(secret_of "bench-sub$((t % 8))")" "bench-pub$((t % 8))" \
		"$(secret_of "bench-pub$((t % 8))")" bench/site7/dev00107/data "$MSGS" 256) || true
	c1=$(cpu_ms)
	stop_broker
	trial_ok "$out"
	echo "$out broker_cpu_ns_per_msg=$(((c1 - c0) * 1000000 / MSGS))" >&2
	echo "$(field rate "$out") $(((c1 - c0) * 1000000 / MSGS))" >>"$W/pub-plugin"
done
P_PLAIN=$(cut -d' ' -f1 "$W/pub-plain" | median)
P_PLUGIN=$(cut -d' ' -f1 "$W/pub-plugin" | median)
N_PLAIN=$(cut -d' ' -f2 "$W/pub-plain" | median)
N_PLUGIN=$(cut -d' ' -f2 "$W/pub-plugin" | median)
echo "publish_msgs_per_s plain=$P_PLAIN plugin=$P_PLUGIN (median of $TRIALS)" \
	"ratio_plugin_vs_plain=$(ratio "$P_PLUGIN" "$P_PLAIN")"
B_PLAIN=$(cut -d' ' -f1 "$W/pub-plain" | best)
B_PLUGIN=$(cut -d' ' -f1 "$W/pub-plugin" | best)
echo "publish_msgs_per_s_best plain=$B_PLAIN plugin=$B_PLUGIN" \
	"ratio_plugin_vs_plain=$(ratio "$B_PLUGIN" "$B_PLAIN")"
echo "publish_broker_cpu_ns_per_msg plain=$N_PLAIN plugin=$N_PLUGIN" \
	"cost_ratio_plain_vs_plugin=$(ratio "$N_PLAIN" "$N_PLUGIN")"

# --- reload with the full view, and the broker's latency meanwhile ---
start_broker reload "${PLUGIN_CONF[@]}"
base=$(timeout 30 "$LOAD" ping "$PORT" bench-aux0 "$(secret_of bench-aux0)" 2)
echo "$base" >&2
(
	for i in 1 2 3; do
		sleep 0.6
		sqlite3 "$W/mqttsec.db" "INSERT INTO acl_rules (effect, access, subject, filter,
			created_at) VALUES ('allow', 'read', 'bench-aux1', 'reload/$i', 0)"
	done
) &
WRITER=$!
during=$(timeout 30 "$LOAD" ping "$PORT" bench-aux1 "$(secret_of bench-aux1)" 3)
wait "$WRITER"
echo "$during" >&2
sleep 1
stop_broker
# "reloaded ... in X ms (Y ms of broker time, longest slice Z ms, swap W ms)"
sed -n 's/.*mqttsec: reloaded .* in \([0-9.]*\) ms (\([0-9.]*\) ms of broker time, longest slice \([0-9.]*\) ms, swap \([0-9.]*\) ms).*/reload_ms=\1 broker_time_ms=\2 longest_slice_ms=\3 swap_ms=\4/p' "$LOG"
echo "ping_max_ms idle=$(field max_ms "$base") during_reloads=$(field max_ms "$during")" \
	"ping_mean_us idle=$(field mean_us "$base") during_reloads=$(field mean_us "$during")"
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
