#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-smtp.sh - email deliveries/s into Postfix smtp-sink: Postfix's own
# load generator smtp-source first, then (optionally) the gateway, against a
# fresh sink on the same loopback address in the same run.
#
#   bench/bench-smtp.sh [-n MESSAGES] [-s SESSIONS] [-l BYTES] [-k]
#
#   -n  messages per run (default 5000)
#   -s  parallel SMTP sessions of smtp-source (default 4, the gateway's
#       default max_inflight for [channel email])
#   -l  payload bytes per message (default 512)
#   -k  smtp-source opens a new connection per message (default: it keeps
#       the connection like the gateway's curl multi handle does)
#
# Gateway side: set GATEWAY_BENCH to a command.  It runs after smtp-source,
# with a fresh sink that exits after BENCH_MESSAGES messages, and gets
#   SMTP_PORT       the sink's port on 127.0.0.1 (use url = smtp://127.0.0.1:$SMTP_PORT)
#   BENCH_MESSAGES  how many deliveries to cause (one email each)
#   BENCH_GO_FILE   touch it when the first alert is published (after the
#                   gateway is up); the clock starts then (or at the command's
#                   start when it never does)
# The clock stops when the sink has received BENCH_MESSAGES messages.  The
# command may keep running (it is killed afterwards).
#
# Output, one line per run, then the ratio:
#   smtp-source: 5000 messages, 4 sessions, 1.234 s, 4052 deliveries/s
#   gateway: 5000 messages, 2.345 s, 2132 deliveries/s
#   ratio gateway/smtp-source: 0.53
# Needs postfix (smtp-sink, smtp-source); installs it (no configuration,
# nothing started) when missing and run as root.  Only 127.0.0.1.

set -u
export LC_ALL=C

MESSAGES=5000
SESSIONS=4
BYTES=512
REUSE=-d
WAIT_MAX=${BENCH_WAIT_MAX:-600}

while getopts "n:s:l:kh" opt; do
	case $opt in
	n) MESSAGES=$OPTARG ;;
	s) SESSIONS=$OPTARG ;;
	l) BYTES=$OPTARG ;;
	k) REUSE= ;;
	*)
		sed -n '2,32s/^# \{0,1\}//p' "$0"
		exit 64
		;;
	esac
done

PATH=$PATH:/usr/sbin:/usr/lib/postfix/sbin
if ! command -v smtp-sink >/dev/null || ! command -v smtp-source >/dev/null; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench-smtp: smtp-sink/smtp-source missing: apt-get install postfix" >&2
		exit 69
	fi
	echo "bench-smtp: installing postfix (no configuration)" >&2
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null || exit 69
fi

TMP=$(mktemp -d /tmp/bench-smtp.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something listens (10 s at most)
wait_port() {
	local i
	for i in $(seq 1 500); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.02
	done
	return 1
}

now() { date +%s.%N; }

# start_sink: a sink that exits after $MESSAGES messages; sets SINK_PID, SMTP_PORT
start_sink() {
	local user=()
	[ "$(id -u)" -eq 0 ] && user=(-u nobody)
	SMTP_PORT=$(free_port)
	setsid smtp-sink "${user[@]}" -M "$MESSAGES" "127.0.0.1:$SMTP_PORT" 1024 \
		>"$TMP/sink.log" 2>&1 &
	SINK_PID=$!
	PIDS+=("$SINK_PID")
	if ! wait_port "$SMTP_PORT"; then
		echo "bench-smtp: smtp-sink did not start:" >&2
		cat "$TMP/sink.log" >&2
		exit 70
	fi
}

# wait_sink: until the sink exits (all messages in); 1 on timeout
wait_sink() {
	local deadline=$(($(date +%s) + WAIT_MAX))
	while kill -0 "$SINK_PID" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.01
	done
	wait "$SINK_PID" 2>/dev/null
	SINK_RC=$?
	return 0
}

rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }'; }

# 1. smtp-source
start_sink
t0=$(now)
smtp-source $REUSE -s "$SESSIONS" -m "$MESSAGES" -l "$BYTES" -M localhost \
	-f bench@example.com -t sink@example.com "127.0.0.1:$SMTP_PORT" >"$TMP/source.log" 2>&1
src_rc=$?
if ! wait_sink; then
	echo "bench-smtp: smtp-source run did not finish in ${WAIT_MAX}s" >&2
	exit 70
fi
t1=$(now)
# the sink leaves after the last message, so smtp-source may report a lost
# connection at QUIT: only a sink that did not get every message is a failure
if [ "$SINK_RC" -ne 0 ]; then
	echo "bench-smtp: smtp-sink failed (smtp-source exit $src_rc):" >&2
	cat "$TMP/sink.log" >&2
	cat "$TMP/source.log" >&2
	exit 70
fi
src_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
src_rate=$(rate "$MESSAGES" "$src_s")
echo "smtp-source: $MESSAGES messages, $SESSIONS sessions${REUSE:+ (connection kept)}, ${src_s} s, $src_rate deliveries/s"

# 2. gateway (optional)
if [ -n "${GATEWAY_BENCH:-}" ]; then
	start_sink
	BENCH_GO_FILE=$TMP/go
	export SMTP_PORT BENCH_MESSAGES=$MESSAGES BENCH_GO_FILE
	t0=$(now)
	setsid bash -c "$GATEWAY_BENCH" >"$TMP/gateway.log" 2>&1 &
	PIDS+=("$!")
	gw_pid=$!
	# the clock starts when the hook says the first alert goes out
	while [ ! -e "$BENCH_GO_FILE" ] && kill -0 "$gw_pid" 2>/dev/null &&
		kill -0 "$SINK_PID" 2>/dev/null; do
		sleep 0.01
	done
	[ -e "$BENCH_GO_FILE" ] && t0=$(now)
	if ! wait_sink; then
		echo "bench-smtp: gateway run did not deliver $MESSAGES messages in ${WAIT_MAX}s" >&2
		tail -20 "$TMP/gateway.log" >&2
		exit 70
	fi
	t1=$(now)
	gw_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	gw_rate=$(rate "$MESSAGES" "$gw_s")
	echo "gateway: $MESSAGES messages, ${gw_s} s, $gw_rate deliveries/s"
	awk -v g="$gw_rate" -v s="$src_rate" \
		'BEGIN { printf "ratio gateway/smtp-source: %.2f\n", (s > 0 ? g / s : 0) }'
fi
exit 0
