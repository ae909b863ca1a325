#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-soak.sh - a soak of the whole system on loopback (issue 17 item 8;
# figures and plot in docs/PERFORMANCE.md, "Soak"): mosquitto with
# mqttsec_plugin.so, NDEV devices enrolled with mqttsec-acl, the gateway
# delivering alerts by email to an SMTP sink (aiosmtpd, gw_latency_sink.py),
# and bench-soak-load driving it.
#
#   phase 1  the maximum message rate, MAXSECS (20) seconds: the devices
#            cycle as fast as CONCURRENCY sessions in flight allow (no
#            alerts); skipped with -r RATE
#   phase 2  DURATION (600) seconds at half of it (or RATE): each device
#            session connects with a fresh connect token, publishes 4 QoS 1
#            messages (soak/sec/NAME, protected: sealed by the device and
#            re-sealed by the broker; soak/plain/NAME, plaintext), every
#            ALERT_EVERY-th (25) session one alert on alerts/NAME that the
#            gateway routes to the SMTP sink, then disconnects; one
#            subscriber checks every message (opened, origin, plaintext,
#            lost, duplicated)
#
# Every 10 s a row (broker and gateway RSS, connects ok/refused, messages
# sent/received/lost/duplicated, publish->subscriber p50/p99, alerts and
# alert->SMTP p99, errors) on standard output and in OUTDIR/soak.csv; at
# the end a summary (errors, RSS slope over the second half) and, with
# gnuplot, OUTDIR/soak.png.  Exit 0 when no error was counted.
#
# Run from a build dir after "make bench-soak":
#   ../bench/bench-soak.sh [-d DURATION] [-n NDEV] [-r RATE] [-m MAXSECS]
#                          [-c CONCURRENCY] [-a ALERT_EVERY] [-o OUTDIR]
#                          [-L LOSS_S] [-P [-t TRIALS]] [-C CACHE_SIZE]
#                          [-i INTERVAL] [-Z AT:SECS[,...]] [-X] [-T]
# A message not at the subscriber LOSS_S (5) seconds after its publish is
# lost.  -P: phase 1 also against plain mosquitto (anonymous, the same
# cycle in plaintext), TRIALS (3) trials each, alternating; the maximum is
# the median of the plugin's, with the ratio.
# -C: the gateway's [store] cache_size (default 2M; docs/gateway.md,
# "Memory").  The gateway reports its memory every 10 s of phase 2
# (SIGUSR1): OUTDIR/gw-mem.csv.
# The broker's memory (docs/PERFORMANCE.md, "The broker's memory"): every
# row also has the broker's $SYS heap/current and heap/maximum, stored
# messages, connected clients, the plugin's replay entries and the messages
# not yet at the subscriber (a monitor device, soak-mon, reads $SYS; the
# broker publishes every INTERVAL seconds).
# -i: seconds between rows and the broker's sys_interval (default 10).
# -Z: phase 2's subscriber stops reading at AT s for SECS s (< 60): a
# backlog in the broker on purpose; give -L more than SECS.
# -X: phase 2 against plain mosquitto (no plugin, no gateway: anonymous,
# plaintext, no alerts; needs -r), for comparison.
# -T: after phase 2 (drained), the broker's RSS before and after glibc's
# malloc_trim(0), called in it with gdb, and glibc's malloc_stats (in the
# kept work dir's broker.out or plain.out): how much of the RSS is freed
# heap that glibc kept.
# SOAK_BROKER_ENV="VAR=VALUE ..." sets environment variables of the broker
# only (e.g. MALLOC_ARENA_MAX=1, MALLOC_TRIM_THRESHOLD_=0);
# SOAK_BROKER_CONF="LINE" adds configuration lines to the plugin's broker
# (e.g. plugin_opt_replay_window 60: the replay set fills in 60 s).
# SOAK_GATEWAY=PATH runs another gateway binary (a sanitizer build for a
# leak check at its stop, in the kept work dir's gateway.out);
# SOAK_PLUGIN=PATH another plugin (with SOAK_BROKER_ENV="LD_PRELOAD=..."
# naming the sanitizer runtimes for a sanitizer build: its report at the
# broker's stop is in the kept work dir's broker.out).
# BENCH_KEEP=1 keeps the work dir.
set -eu
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${top_builddir:-$PWD}
LOAD=$BUILD/bench/bench-soak-load
ACL=$BUILD/acl/mqttsec-acl
GATEWAY=${SOAK_GATEWAY:-$BUILD/gateway/mqttsec-gateway}
PLUGIN=${SOAK_PLUGIN:-$BUILD/broker-plugin/.libs/mqttsec_plugin.so}
MOSQUITTO=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}
PY=/usr/bin/python3
DURATION=600
NDEV=1000
RATE=
MAXSECS=20
CONC=64
ALERT_EVERY=25
OUTDIR=
LOSS=5
REFERENCE=0
TRIALS=3
GW_CACHE=
INTERVAL=10
PAUSES=
PLAIN_SOAK=0
GW_MEM=
TRIM=0

while getopts "d:n:r:m:c:a:o:L:Pt:C:i:Z:XT" opt; do
	case $opt in
	d) DURATION=$OPTARG ;;
	n) NDEV=$OPTARG ;;
	r) RATE=$OPTARG ;;
	m) MAXSECS=$OPTARG ;;
	c) CONC=$OPTARG ;;
	a) ALERT_EVERY=$OPTARG ;;
	o) OUTDIR=$OPTARG ;;
	L) LOSS=$OPTARG ;;
	P) REFERENCE=1 ;;
	t) TRIALS=$OPTARG ;;
	C) GW_CACHE=$OPTARG ;;
	i) INTERVAL=$OPTARG ;;
	Z) PAUSES=$OPTARG ;;
	X) PLAIN_SOAK=1 ;;
	T) TRIM=1 ;;
	*)
		sed -n '2,65s/^# \{0,1\}//p' "$0" >&2
		exit 64
		;;
	esac
done

if [ "$TRIM" = 1 ] && ! command -v gdb >/dev/null; then
	echo "bench-soak: -T needs gdb" >&2
	exit 69
fi
if [ "$PLAIN_SOAK" = 1 ] && [ -z "$RATE" ]; then
	echo "bench-soak: -X needs -r RATE" >&2
	exit 64
fi

for f in "$LOAD" "$ACL" "$GATEWAY" "$PLUGIN" "$MOSQUITTO" "$PY"; do
	[ -e "$f" ] || {
		echo "bench-soak: $f missing: run 'make bench-soak' in the build dir" >&2
		exit 66
	}
done

W=$(mktemp -d "${TMPDIR:-/tmp}/mqttsec-soak.XXXXXX")
[ -n "$OUTDIR" ] || OUTDIR=$W
mkdir -p "$OUTDIR"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$OUTDIR" = "$W" ]; then
		echo "# kept $W" >&2
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	$PY -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # TIMEOUT CMD...
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

bg() { # NAME CMD...: sets LAST_PID
	local name=$1
	shift
	"$@" >"$W/$name.out" 2>&1 </dev/null &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

fail() {
	echo "bench-soak: $*" >&2
	exit 1
}

rss_of() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# -T: RSS before and after malloc_trim(0) in the broker (PID)
trim_report() {
	local before after
	[ "$TRIM" = 1 ] || return 0
	before=$(rss_of "$1")
	timeout 60 gdb -p "$1" -batch -ex 'call (void)malloc_stats()' \
		-ex 'call (int)malloc_trim(0)' -ex 'call (void)malloc_stats()' >"$W/gdb.out" 2>&1 ||
		fail "gdb could not call malloc_trim in the broker: $(tail -n 3 "$W/gdb.out")"
	after=$(rss_of "$1")
	echo "# broker RSS before malloc_trim(0) $before kB, after $after kB" \
		"(glibc's malloc_stats before and after: the broker's stderr in $W)"
}

echo "# soak ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
	"mosquitto $("$MOSQUITTO" -h 2>/dev/null | awk '/version/ { print $3; exit }'))"
echo "# devices=$NDEV concurrency=$CONC duration=${DURATION}s alert every $ALERT_EVERY sessions;" \
	"load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

export MQTTSEC_DB=$W/mqttsec.db MQTTSEC_MASTER_KEY_FILE=$W/master.key
"$ACL" init >/dev/null
"$ACL" topic protect 'soak/sec/#' >/dev/null

# the broker first: it records that it accepts connect tokens, so the
# credentials files of the devices enrolled next say so (the gateway's too)
PORT=$(free_port)
{
	[ "$(id -u)" -eq 0 ] && echo "user root"
	echo "listener $PORT 127.0.0.1"
	echo "persistence false"
	echo "connection_messages ${SOAK_CONNECTION_MESSAGES:-false}"
	echo "log_dest file $W/broker.log"
	echo "log_type error"
	echo "log_type warning"
	echo "log_type notice"
	echo "log_type information"
	# room for the subscriber's backlog on a busy machine; not 0 (unlimited):
	# mosquitto 2.0.11 then drops MQTT 5 clients (the gateway) at once with
	# "bad socket read/write"
	echo "max_queued_messages 100000"
	echo "max_inflight_messages 100"
	echo "plugin $PLUGIN"
	echo "plugin_opt_db_file $MQTTSEC_DB"
	echo "plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE"
	echo "plugin_opt_max_ip_failures 0"
	echo "sys_interval $INTERVAL"
	echo "plugin_opt_stats_interval $INTERVAL"
	# SOAK_BROKER_CONF: more lines (e.g. "plugin_opt_replay_window 60")
	[ -z "${SOAK_BROKER_CONF:-}" ] || printf '%s\n' "$SOAK_BROKER_CONF"
} >"$W/broker.conf"
# shellcheck disable=SC2086 # SOAK_BROKER_ENV: words on purpose
bg broker env ${SOAK_BROKER_ENV:-} "$MOSQUITTO" -c "$W/broker.conf"
BROKER_PID=$LAST_PID
wait_for 20 port_open "$PORT" || fail "broker did not start: $(tail -n 5 "$W/broker.log")"

t=$(date +%s.%N)
"$ACL" device add soak-sub >/dev/null 2>&1
"$ACL" device add soak-gw --out "$W/gw.json" >/dev/null
"$ACL" device add soak-mon --out "$W/mon.json" >/dev/null
mkdir -p "$W/creds"
# eight at a time: each is a short process that waits mostly for its turn
# on the CPU of a busy machine and for its commit
seq -f 'dev%04g' 0 $((NDEV - 1)) |
	xargs -P 8 -I{} "$ACL" device add {} --out "$W/creds/{}.json" >/dev/null
[ "$(ls "$W/creds" | wc -l)" = "$NDEV" ] || fail "enrolment failed"
{
	echo "group fleet"
	for i in $(seq 0 $((NDEV - 1))); do
		printf 'member fleet dev%04d\n' "$i"
	done
	echo "acl allow pub @fleet soak/#"
	echo "acl allow pub @fleet alerts/#"
	echo "acl allow sub soak-sub soak/#"
	echo "acl allow read soak-sub soak/#"
	echo "acl allow sub soak-gw alerts/#"
	echo "acl allow read soak-gw alerts/#"
	echo "acl allow all soak-gw mqttsec/status/#"
	echo "acl allow sub soak-mon \$SYS/broker/#"
	echo "acl allow read soak-mon \$SYS/broker/#"
} >"$W/policy.txt"
"$ACL" import "$W/policy.txt" >/dev/null
"$ACL" key export 'soak/sec/#' --for soak-sub --out "$W/sub.json" >/dev/null 2>&1
echo "# enrolled $NDEV devices (mqttsec-acl device add, import) in" \
	"$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
grep -Eq '"connect_tokens":[[:space:]]*true' "$W/gw.json" ||
	fail "the credentials do not say connect_tokens (the plugin did not record it)"
loaded() {
	grep -Eq "mqttsec: reloaded $((NDEV + 3)) devices, 9 acl rules" "$W/broker.log"
}
wait_for 30 loaded || fail "the broker did not load the devices: $(tail -n 3 "$W/broker.log")"

# -X: phase 2 against plain mosquitto instead (anonymous, plaintext, no
# gateway); the plugin's broker was only needed for the enrolment
plain_conf() { # PORT LOG
	[ "$(id -u)" -eq 0 ] && echo "user root"
	echo "listener $1 127.0.0.1"
	echo "persistence false"
	echo "connection_messages false"
	echo "log_dest file $2"
	echo "max_queued_messages 100000"
	echo "max_inflight_messages 100"
	echo "allow_anonymous true"
	echo "sys_interval $INTERVAL"
}
if [ "$PLAIN_SOAK" = 1 ]; then
	kill "$BROKER_PID"
	wait "$BROKER_PID" 2>/dev/null || true
	PORT=$(free_port)
	plain_conf "$PORT" "$W/plain.log" >"$W/plain.conf"
	# shellcheck disable=SC2086 # SOAK_BROKER_ENV: words on purpose
	bg plain env ${SOAK_BROKER_ENV:-} "$MOSQUITTO" -c "$W/plain.conf"
	BROKER_PID=$LAST_PID
	wait_for 20 port_open "$PORT" || fail "plain broker did not start"
	echo "# phase 2 against plain mosquitto (-X): anonymous, plaintext, no alerts"
	rc=0
	"$LOAD" -p "$PORT" -D "$W/creds" -n "$NDEV" -u "$W/sub.json" -r "$RATE" -d "$DURATION" \
		-c "$CONC" -B "$BROKER_PID" -L "$LOSS" -i "$INTERVAL" -M "$W/mon.json" \
		${PAUSES:+-Z "$PAUSES"} -R -o "$OUTDIR/soak.csv" | tee "$W/phase2.out" || rc=1
	kill -0 "$BROKER_PID" 2>/dev/null || fail "the broker died"
	trim_report "$BROKER_PID"
	GW_PID=
fi

if [ "$PLAIN_SOAK" = 0 ]; then
# the SMTP sink and the gateway
SMTP_PORT=$(free_port)
bg sink $PY "$HERE/gw_latency_sink.py" "$SMTP_PORT" "$W/alerts.txt"
wait_for 20 port_open "$SMTP_PORT" || fail "the SMTP sink did not start"
cat >"$W/gw.conf" <<EOF
[broker]
host = 127.0.0.1
port = $PORT
credentials = $W/gw.json
[store]
db = $W/gw.db
master_key_file = $W/gw.key
spool_dir = $W/spool
${GW_CACHE:+cache_size = $GW_CACHE}
[route alerts]
topic = alerts/#
kind = alert
[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = soak@example.com
EOF
"$GATEWAY" -q -c "$W/gw.conf" group add ops >/dev/null
"$GATEWAY" -q -c "$W/gw.conf" recipient add sink --email sink@example.com --group ops >/dev/null
bg gateway "$GATEWAY" -c "$W/gw.conf" run
GW_PID=$LAST_PID
wait_for 30 grep -q "connected to broker" "$W/gateway.out" ||
	fail "the gateway did not connect: $(tail -n 5 "$W/gateway.out")"
sleep 0.5 # its SUBSCRIBE

field() {
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# max_run PORT [-R]: one phase-1 trial; prints its rate
max_run() {
	local port=$1 out
	shift
	out=$("$LOAD" -p "$port" -D "$W/creds" -n "$NDEV" -u "$W/sub.json" -r 0 -d "$MAXSECS" \
		-c "$CONC" -i "$MAXSECS" -L "$LOSS" "$@") || fail "phase 1 failed: $out"
	echo "# phase 1${1:+ (plain mosquitto)}: $(tail -n 1 <<<"$out")" >&2
	field rate "$out"
}

if [ -z "$RATE" ]; then
	if [ "$REFERENCE" = 1 ]; then
		# plain mosquitto, anonymous, the same limits; the same cycle in
		# plaintext, alternating with the plugin's trials
		PLAIN_PORT=$(free_port)
		plain_conf "$PLAIN_PORT" "$W/plain.log" >"$W/plain.conf"
		bg plain "$MOSQUITTO" -c "$W/plain.conf"
		PLAIN_PID=$LAST_PID
		wait_for 20 port_open "$PLAIN_PORT" || fail "plain broker did not start"
		: >"$W/max-plugin"
		: >"$W/max-plain"
		for _ in $(seq "$TRIALS"); do
			max_run "$PORT" >>"$W/max-plugin"
			max_run "$PLAIN_PORT" -R >>"$W/max-plain"
		done
		kill "$PLAIN_PID" 2>/dev/null || true
		MAX=$(median <"$W/max-plugin")
		MAXP=$(median <"$W/max-plain")
		echo "# maximum, median of $TRIALS alternating trials: plugin $MAX messages/s, plain" \
			"mosquitto $MAXP messages/s, ratio $(awk -v a="$MAX" -v b="$MAXP" \
				'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
	else
		MAX=$(max_run "$PORT")
	fi
	RATE=$((MAX / 2))
	echo "# maximum ${MAX} messages/s (${MAXSECS} s, $CONC sessions in flight); phase 2 at $RATE/s"
	sleep 5 # the broker settles; the subscriber of phase 1 is gone
fi

# the gateway's memory every 10 s (its SIGUSR1 report, docs/gateway.md,
# "Memory"): OUTDIR/gw-mem.csv at the end
(
	while kill -0 "$GW_PID" 2>/dev/null; do
		sleep 10
		kill -USR1 "$GW_PID" 2>/dev/null || true
	done
) &
MEM_PID=$!
PIDS+=("$MEM_PID")

rc=0
"$LOAD" -p "$PORT" -D "$W/creds" -n "$NDEV" -u "$W/sub.json" -r "$RATE" -d "$DURATION" \
	-c "$CONC" -a "$ALERT_EVERY" -A "$W/alerts.txt" -B "$BROKER_PID" -G "$GW_PID" \
	-L "$LOSS" -i "$INTERVAL" -M "$W/mon.json" ${PAUSES:+-Z "$PAUSES"} \
	-o "$OUTDIR/soak.csv" | tee "$W/phase2.out" || rc=1
kill -0 "$BROKER_PID" 2>/dev/null || fail "the broker died"
kill -0 "$GW_PID" 2>/dev/null || fail "the gateway died"
trim_report "$BROKER_PID"
kill "$MEM_PID" 2>/dev/null || true
# t_s counts from the first report (10 s into phase 2)
awk 'BEGIN { print "t_s,rss_kb,heap_used_kb,heap_free_kb,heap_mmap_kb,sqlite_kb,sqlite_peak_kb,cache_loop_kb,cache_ckpt_kb" }
/memory: rss/ {
	n++
	out = n * 10
	for (i = 1; i < NF; i++)
		if ($i ~ /^-?[0-9]+$/ && $(i + 1) ~ /^kB/)
			out = out "," $i
	print out
}' "$W/gateway.out" >"$OUTDIR/gw-mem.csv"
GW_MEM=$OUTDIR/gw-mem.csv
fi

# summary: RSS slope (least squares) over the second half of the rows
$PY - "$OUTDIR/soak.csv" "$OUTDIR/gw-mem.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if not rows:
    sys.exit(0)
def slope(key, part):
    xs = [float(r["t_s"]) for r in part]
    ys = [float(r[key]) for r in part]
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx * 60 if sxx else 0.0
half = rows[len(rows) // 2:]
third = rows[len(rows) * 2 // 3:]
for key, name in (("broker_rss_kb", "broker RSS"), ("heap_current_kb", "broker heap/current"),
                  ("gateway_rss_kb", "gateway RSS")):
    if any(int(r[key]) < 0 for r in rows):
        continue
    v = [int(r[key]) for r in rows]
    print("# %s: first %d kB, last %d kB, max %d kB; slope over the second half %+.1f kB/min,"
          " over the last third %+.1f kB/min"
          % (name, v[0], v[-1], max(v), slope(key, half), slope(key, third)))
p99 = sorted(float(r["p99_ms"]) for r in rows if float(r["p99_ms"]) >= 0)
a99 = sorted(float(r["alert_p99_ms"]) for r in rows if float(r["alert_p99_ms"]) >= 0)
if p99:
    print("# publish->subscriber p99 per row: median %.1f ms, max %.1f ms" % (p99[len(p99) // 2], p99[-1]))
if a99:
    print("# alert->SMTP p99 per row: median %.1f ms, max %.1f ms" % (a99[len(a99) // 2], a99[-1]))
print("# errors in the rows: %d" % sum(int(r["errors"]) for r in rows))
v = [int(r["store_messages"]) for r in rows]
print("# broker stored messages: first %d, last %d, max %d; outstanding at the subscriber max %d"
      % (v[0], v[-1], max(v), max(int(r["outstanding"]) for r in rows)))
try:
    mem = list(csv.DictReader(open(sys.argv[2])))
except OSError:
    mem = []
if len(mem) >= 4:
    half = mem[len(mem) // 2:]
    for key in ("rss_kb", "heap_used_kb", "sqlite_kb", "cache_loop_kb"):
        v = [int(r[key]) for r in mem]
        print("# gateway %s: first %d, last %d, max %d; slope over the second half %+.1f kB/min"
              % (key, v[0], v[-1], max(v), slope(key, half)))
PY
echo "# broker log: $(grep -c 'dropped message' "$W/broker.log" || true) drop lines," \
	"$(grep -ci 'refused' "$W/broker.log" || true) refusal lines"
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if command -v gnuplot >/dev/null; then
	gnuplot -e "csv='$OUTDIR/soak.csv'; png='$OUTDIR/soak.png'; rate='$RATE'; devs='$NDEV'; mem='$GW_MEM'; every='$INTERVAL'; heap='1'" \
		"$HERE/soak-plot.gp" 2> >(grep -v 'empty y2 range' >&2) && echo "# plot: $OUTDIR/soak.png"
else
	echo "# no gnuplot: no plot (scripts/deps.sh --bench)"
fi
echo "# csv: $OUTDIR/soak.csv"
exit $rc
