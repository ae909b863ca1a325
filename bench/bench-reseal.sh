#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-reseal.sh - protected topics: publish/subscribe throughput through
# mosquitto with mqttsec_plugin.so re-sealing every message, against plain
# mosquitto with the same payloads, in one run, on loopback.
#
#   cases   QoS 0 and QoS 1, 256-byte and 16 KiB payloads
#   plain   mosquitto without plugin, anonymous, plaintext payloads
#   open    with the plugin, an unprotected topic (TOTP login, ACL checks)
#   sealed  with the plugin, a protected topic: every message sealed by the
#           publishing device (before the clock starts), opened and re-sealed
#           by the broker; the subscriber opens the first and last one
#   downlink  as sealed, on a per-device filter (topic protect
#           'bench/down/+' --per-device 3): re-sealed with the subscribing
#           device's downlink key, HKDF(device key, topic), derived per message
#
# Figures: messages/s received (median of BENCH_TRIALS), the broker's CPU
# time per message, and the sealed/plain ratio.  With BENCH_PERF=1 the broker
# is profiled with perf during the sealed 256-byte QoS 0 case.
# Run from a build dir after "make bench-reseal":  ../bench/bench-reseal.sh
# Knobs: BENCH_TRIALS (3), BENCH_N_SMALL (100000), BENCH_N_LARGE (10000),
# BENCH_KEEP=1 keeps the work dir.
set -eu
export LC_ALL=C

BUILD=${top_builddir:-$PWD}
LOAD=$BUILD/bench/bench-reseal-load
ACL=$BUILD/acl/mqttsec-acl
PLUGIN=$BUILD/broker-plugin/.libs/mqttsec_plugin.so
MOSQUITTO=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}
TRIALS=${BENCH_TRIALS:-3}
N_SMALL=${BENCH_N_SMALL:-100000}
N_LARGE=${BENCH_N_LARGE:-10000}

for f in "$LOAD" "$ACL" "$PLUGIN" "$MOSQUITTO"; do
	[ -e "$f" ] || {
		echo "bench-reseal: $f missing: run 'make bench-reseal' in the build dir" >&2
		exit 1
	}
done

W=$(mktemp -d "${TMPDIR:-/tmp}/mqttsec-bench-reseal.XXXXXX")
declare -A PID=() PORT=()
cleanup() {
	for b in "${!PID[@]}"; do
		kill "${PID[$b]}" 2>/dev/null && wait "${PID[$b]}" 2>/dev/null
	done
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

# start_broker NAME CONF_LINE...: start mosquitto; sets PID[NAME], PORT[NAME].
start_broker() {
	local name=$1 port i
	shift
	port=$(free_port)
	{
		[ "$(id -u)" -eq 0 ] && echo "user root"
		echo "listener $port 127.0.0.1"
		echo "persistence false"
		echo "connection_messages false"
		echo "log_dest file $W/$name.log"
		echo "log_type error"
		echo "log_type warning"
		echo "max_inflight_messages 0"
		echo "max_queued_messages 0"
		printf '%s\n' "$@"
	} >"$W/$name.conf"
	"$MOSQUITTO" -c "$W/$name.conf" >"$W/$name.out" 2>&1 &
	PID[$name]=$!
	PORT[$name]=$port
	for i in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		kill -0 "${PID[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench-reseal: broker $name did not start" >&2
	tail -n 5 "$W/$name.out" "$W/$name.log" >&2 2>/dev/null
	exit 1
}

# cpu_ms NAME: CPU time (user + system) the broker used so far.
cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' \
		"/proc/${PID[$1]}/stat"
}

field() {
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# Each device may log in once per TOTP step (1 s here): wait for a new second.
LAST_LOGIN=0
new_step() {
	while [ "$(date +%s)" -le "$LAST_LOGIN" ]; do
		sleep 0.05
	done
}

# run BROKER KIND QOS SIZE N: one measurement; sets R_RATE and R_CPU (us/msg).
run() {
	local b=$1 kind=$2 qos=$3 size=$4 n=$5 c0 c1 out args=()
	case $kind in
	plain) args=(-t bench/plain) ;;
	open) args=(-t bench/open --pub "$W/bpub.json" --sub "$W/bsub.json") ;;
	sealed) args=(-t bench/sealed/x --pub "$W/bpub.json" --sub "$W/bsub.json" --seal --check) ;;
	downlink) args=(-t bench/down/bsub --pub "$W/bpub.json" --sub "$W/bsub.json" --seal --check) ;;
	esac
	[ "$kind" = plain ] || new_step
	c0=$(cpu_ms "$b")
	if ! out=$("$LOAD" -p "${PORT[$b]}" -q "$qos" -s "$size" -n "$n" "${args[@]}"); then
		echo "bench-reseal: $kind q$qos ${size}B failed: $out" >&2
		tail -n 5 "$W/$b.log" >&2
		exit 1
	fi
	c1=$(cpu_ms "$b")
	[ "$kind" = plain ] || LAST_LOGIN=$(date +%s)
	R_RATE=$(field rate "$out")
	R_CPU=$(awk -v c="$((c1 - c0))" -v n="$n" 'BEGIN { printf "%.2f", c * 1000 / n }')
}

echo "# mqttsec protected-topic benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
	"mosquitto $("$MOSQUITTO" -h 2>/dev/null | awk '/version/ { print $3; exit }'))"
echo "# messages: ${N_SMALL} x 256 B, ${N_LARGE} x 16 KiB; trials=$TRIALS (median)"
echo

export MQTTSEC_DB=$W/mqttsec.db MQTTSEC_MASTER_KEY_FILE=$W/master.key
"$ACL" init >/dev/null
"$ACL" topic protect 'bench/sealed/#' >/dev/null
"$ACL" topic protect 'bench/down/+' --per-device 3 >/dev/null
"$ACL" device add bpub --period 1 --out "$W/bpub.json" >/dev/null
"$ACL" device add bsub --period 1 --out "$W/bsub.json" >/dev/null
"$ACL" acl add allow pub bpub 'bench/#' >/dev/null
"$ACL" acl add allow all bsub 'bench/#' >/dev/null
"$ACL" key export 'bench/sealed/#' --for bsub --out "$W/bsub.json" >/dev/null

start_broker plain "allow_anonymous true"
start_broker plugin "allow_anonymous false" "plugin $PLUGIN" \
	"plugin_opt_db_file $MQTTSEC_DB" "plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE" \
	"plugin_opt_replay_cache_max 10000000"

declare -A RATE=() CPU=()
KINDS=${BENCH_KINDS:-plain open sealed downlink}
for t in $(seq "$TRIALS"); do
	for qos in 0 1; do
		for size in 256 16384; do
			n=$N_SMALL
			[ "$size" -gt 256 ] && n=$N_LARGE
			for kind in $KINDS; do
				b=plugin
				[ "$kind" = plain ] && b=plain
				run "$b" "$kind" "$qos" "$size" "$n"
				RATE[$kind,$qos,$size]+="$R_RATE "
				CPU[$kind,$qos,$size]+="$R_CPU "
			done
		done
	done
done

printf '\n%-5s %-7s %12s %12s %12s %12s %8s %8s %8s   %s\n' qos size "plain msg/s" \
	"open msg/s" "sealed msg/s" "downl msg/s" open/pl sealed/pl downl/pl \
	"broker CPU us/msg (plain/open/sealed/downlink)"
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'
}
for qos in 0 1; do
	for size in 256 16384; do
		declare -A M=() C=()
		for kind in plain open sealed downlink; do
			M[$kind]=$(tr ' ' '\n' <<<"${RATE[$kind,$qos,$size]:-}" | grep . | median)
			C[$kind]=$(tr ' ' '\n' <<<"${CPU[$kind,$qos,$size]:-}" | grep . | median)
		done
		printf '%-5s %-7s %12s %12s %12s %12s %8s %8s %8s   %s / %s / %s / %s\n' "$qos" "$size" \
			"${M[plain]:--}" "${M[open]:--}" "${M[sealed]:--}" "${M[downlink]:--}" \
			"$(ratio "${M[open]}" "${M[plain]}")" "$(ratio "${M[sealed]}" "${M[plain]}")" \
			"$(ratio "${M[downlink]}" "${M[plain]}")" \
			"${C[plain]:--}" "${C[open]:--}" "${C[sealed]:--}" "${C[downlink]:--}"
	done
done

if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
	echo
	echo "# perf: share of the broker's CPU time (inclusive) during the sealed 256-byte QoS 0 case"
	new_step
	perf record -q --call-graph dwarf -F 1000 -o "$W/perf.data" -p "${PID[plugin]}" \
		2>/dev/null &
	PERF=$!
	sleep 0.3
	"$LOAD" -p "${PORT[plugin]}" -q 0 -s 256 -n "$N_SMALL" -t bench/sealed/x \
		--pub "$W/bpub.json" --sub "$W/bsub.json" --seal >/dev/null
	kill -INT "$PERF"
	wait "$PERF" 2>/dev/null || true
	perf report -i "$W/perf.data" --children --sort symbol -g none --stdio 2>/dev/null |
		grep -E 'handle__publish|sub__messages_queue|plugin__handle_message|mqsp_|mqs_|gcm|EVP_CipherInit|HMAC_Final|mosquitto__malloc|OPENSSL_cleanse' |
		head -n 20
fi
