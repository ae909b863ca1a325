#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-campaign.sh - one approved marketing campaign to N recipients by
# email into Postfix smtp-sink, next to Postfix's smtp-source with as many
# SMTP sessions as the gateway's max_inflight, in the same run; the alert
# latency while idle and while the campaign drains (figures go to
# docs/PERFORMANCE.md, "Marketing campaigns (issue 13)").
#
#   bench/bench-campaign.sh [-n RECIPIENTS] [-s SESSIONS] [-r ALERTS_PER_S] [-d SECONDS]
#                           [-w WARMUP]
#
#   -n  recipients (default 100000), all with email and consent
#   -s  [channel email] max_inflight and smtp-source sessions (default 4)
#   -r  alerts per second for the latency probes (default 50)
#   -d  seconds of each latency probe (default 10: 500 probes a phase)
#   -w  warm-up alerts before each phase, not counted (default 3)
#
# Prints: fan-out time, deliveries/s of the campaign (first fan-out to last
# delivery, gateway clock) and of smtp-source (same message count),
# their ratio, gateway peak RSS (VmHWM), alert latency publish -> outcome
# recorded (SMTP transaction done, outcome committed; microseconds, from
# the gateway's trace, docs/gateway.md "Test hooks") p50/p90/p99 idle and
# while draining (warm: without the warm-up alerts, whose first one sets up the alert
# connection; draining: only alerts published before the campaign's last
# delivery), the "cold" p99 with the warm-up alerts counted (the figure
# before 2026-12-07 s26), the ratio draining / idle of both, and the p99 of
# each part (publish -> start, the SMTP transaction, the commit).
# Everything on 127.0.0.1; run from a build directory (or set BUILD).
# BENCH_EMAIL_RATE=2000/s sets [channel email] rate (marketing's limit).
# BENCH_PIPELINING=off sets [channel email] pipelining (off: libcurl only).
# BENCH_PERF=FILE records a perf profile of the gateway during the drain.
# BENCH_RAW=FILE appends each counted alert's latency ("idle MS" or
# "draining MS", one a line) to FILE, to pool the probes of several runs:
#   bench/campaign_pool.py FILE  prints the pooled p50/p90/p99 and ratio.
# BENCH_RT_IDLE=1 (diagnostic, root only) runs the probe, the broker, the
# gateway (every thread) and smtp-sink at SCHED_FIFO priority 10 (chrt)
# during the idle phase only, so that no other process of the machine can
# delay them: the idle figure without the machine's interference.
# BENCH_RT=1 (root only) does the same for both phases, idle and draining:
# the ratio of the gateway's own behaviour, without the machine's other
# processes in either figure (the throughput against smtp-source, measured
# before at normal priority, is not affected).
# Also prints the load average at the start and the end, the draining
# figures split at the end of the fan-out, the gateway's own loop-turn
# histogram ("loop stalls", logged when it stops), and for each phase what
# the rest of the machine did meanwhile: the CPU time of every process but
# the four under test (probe, broker, gateway, smtp-sink), and how long
# those four waited for a CPU while runnable (/proc/PID/schedstat).  On a
# shared 2-core machine that wait, not the gateway, made the idle phase's
# slow alerts (docs/PERFORMANCE.md, "s29: the idle-phase spikes"); while
# draining, the harness's own wait (a grep every 0.2 s) counts as other.
# The probes publish with the time of their send() (see probe below); the
# waits for the campaign read the gateway's log, so the harness takes
# almost no CPU from the drain.

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$PWD}
GATEWAY=${GATEWAY:-$BUILD/gateway/mqttsec-gateway}
MKDB=${MKDB:-$BUILD/bench/bench-campaign-mkdb}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PY=/usr/bin/python3
PATH=$PATH:/usr/sbin:/usr/lib/postfix/sbin

N=100000
SESSIONS=4
RATE=50
SECS=10
WARM=3
while getopts "n:s:r:d:w:h" o; do
	case $o in
	n) N=$OPTARG ;;
	s) SESSIONS=$OPTARG ;;
	r) RATE=$OPTARG ;;
	d) SECS=$OPTARG ;;
	w) WARM=$OPTARG ;;
	*)
		sed -n '2,28s/^# \{0,1\}//p' "$0"
		exit 64
		;;
	esac
done
for b in "$GATEWAY" "$MKDB"; do
	[ -x "$b" ] || { echo "bench-campaign: $b not built (make check builds it)" >&2; exit 66; }
done
for c in smtp-sink smtp-source oathtool sqlite3 mosquitto_pub; do
	command -v "$c" >/dev/null || { echo "bench-campaign: $c missing" >&2; exit 69; }
done

TMP=$(mktemp -d /tmp/bench-campaign.XXXXXX)
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
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_for TIMEOUT CMD...: CMD every WAIT_STEP s (0.05) until it succeeds
wait_for() {
	local deadline=$((EPOCHSECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$EPOCHSECONDS" -ge "$deadline" ] && return 1
		sleep "${WAIT_STEP:-0.05}"
	done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
bg() { # NAME CMD...
	local name=$1
	shift
	setsid "$@" >"$TMP/$name.log" 2>&1 </dev/null &
	PIDS+=("$!")
	LAST_PID=$!
}
q() { sqlite3 -cmd ".timeout 10000" "$TMP/gw.db" "$1"; }
now() { date +%s.%N; }
gw() { "$GATEWAY" -q -c "$TMP/gw.conf" "$@"; }
sink_user=()
[ "$(id -u)" -eq 0 ] && sink_user=(-u nobody)

load0=$(cut -d' ' -f1-3 /proc/loadavg)

## 1. smtp-source, N messages, SESSIONS sessions, connection kept
port=$(free_port)
setsid smtp-sink "${sink_user[@]}" -M "$N" "127.0.0.1:$port" 1024 >"$TMP/sink0.log" 2>&1 &
sink0=$!
PIDS+=("$sink0")
wait_for 10 port_open "$port" || { echo "bench-campaign: no smtp-sink" >&2; exit 70; }
t0=$(now)
smtp-source -d -s "$SESSIONS" -m "$N" -l 512 -M localhost -f shop@example.com \
	-t sink@example.com "127.0.0.1:$port" >"$TMP/source.log" 2>&1
wait "$sink0" 2>/dev/null
t1=$(now)
src_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
src_rate=$(awk -v n="$N" -v t="$src_s" 'BEGIN { printf "%.0f", n / t }')

## 2. broker, sink, gateway configuration, audience
MQTT_PORT=$(free_port)
cat >"$TMP/mosquitto.conf" <<EOF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
set_tcp_nodelay true
log_dest none
$([ "$(id -u)" -eq 0 ] && echo "user root")
EOF
bg mosquitto "$MOSQUITTO" -c "$TMP/mosquitto.conf"
BROKER_PID=$LAST_PID
wait_for 10 port_open "$MQTT_PORT" || { echo "bench-campaign: no broker" >&2; exit 70; }
SMTP_PORT=$(free_port)
bg sink smtp-sink "${sink_user[@]}" "127.0.0.1:$SMTP_PORT" 1024
SINK_PID=$LAST_PID
wait_for 10 port_open "$SMTP_PORT" || { echo "bench-campaign: no smtp-sink" >&2; exit 70; }
k1=$(head -c 32 /dev/urandom | base64 -w0)
k2=$(head -c 32 /dev/urandom | base64 -w0)
k3=$(head -c 32 /dev/urandom | base64 -w0)
# the device key seals the campaign's content for its reviewers (a marketing
# route needs one, docs/marketing.md "Setting it up") and the status messages
cat >"$TMP/creds.json" <<EOF
{"username": "bench", "keys": [
 {"id": 4000000009, "key": "$k3", "use": "device"},
 {"id": 4000000002, "key": "$k1", "use": "topic", "topic": "mqttsec/status/#"},
 {"id": 4000000003, "key": "$k2", "use": "topic", "topic": "marketing/#"}]}
EOF
chmod 600 "$TMP/creds.json"
cat >"$TMP/gw.conf" <<EOF
[broker]
port = $MQTT_PORT
credentials = $TMP/creds.json
status_topic = mqttsec/status
[store]
db = $TMP/gw.db
master_key_file = $TMP/gw.key
[delivery]
max_inflight = $SESSIONS
[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = shop@example.com
${BENCH_EMAIL_RATE:+rate = $BENCH_EMAIL_RATE}
${BENCH_PIPELINING:+pipelining = $BENCH_PIPELINING}
[marketing]
quiet_hours = 00:00-00:00
[http]
listen = 127.0.0.1:0
public_url = http://127.0.0.1:9
[route alerts]
topic = alerts/#
kind = alert
[route promo]
topic = marketing/submit
kind = marketing
review_levels = legal
EOF
t0=$(now)
"$MKDB" "$TMP/gw.conf" "$N" customers || { echo "bench-campaign: mkdb failed" >&2; exit 70; }
t1=$(now)
mk_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
gw group add ops >/dev/null
gw recipient add ops1 --email ops1@example.com --group ops >/dev/null
secret=$(gw reviewer add console:alice --level legal --person alice | sed -n 3p)
asecret=$(gw author add console:carol --person carol | sed -n 3p)
cat >"$TMP/c.json" <<'EOF'
{"id": "c-bench", "group": "customers", "channels": ["email"], "subject": "Winter sale",
 "text": "Hello {{name}}, 20% off everything until Sunday. See you soon!",
 "html": "<p>Hello <b>{{name}}</b>, 20% off everything until Sunday.</p>"}
EOF
gw campaign submit "$TMP/c.json" --author console:carol --route promo \
	--code "$(oathtool --totp -b "$asecret")" >/dev/null ||
	{ echo "bench-campaign: submit refused" >&2; exit 70; }
sha=$(sha256sum "$TMP/c.json" | cut -d' ' -f1)

# the gateway writes each alert's times (microseconds) to $TMP/trace
# (docs/gateway.md, "Test hooks"): the latency figures below come from it
MQTTSEC_GW_TRACE_ALERTS=$TMP/trace bg gateway "$GATEWAY" -c "$TMP/gw.conf" run
GW_PID=$LAST_PID
wait_for 20 grep -q "connected to broker" "$TMP/gateway.log" ||
	{ echo "bench-campaign: gateway did not start" >&2; tail "$TMP/gateway.log" >&2; exit 70; }
# without the trace every latency figure would be empty (n=0), not an error
grep -q "test hook: tracing" "$TMP/gateway.log" ||
	{ echo "bench-campaign: the gateway has no alert trace" >&2; grep "alert trace" "$TMP/gateway.log" >&2; exit 70; }
sleep 0.5

# probe PREFIX: WARM warm-up alerts (id wPREFIX-<publish time ns>, not
# counted: the first one sets up the gateway's alert connection), then RATE
# alerts/s for SECS s, id PREFIX-<publish time ns>, QoS 1 on alerts/lat.
# The probe speaks MQTT itself and reads the clock right before the send()
# of each PUBLISH.  Until 2026-12-07 it wrote lines to `mosquitto_pub -l`:
# the time stamp was then taken before a pipe and a second process's
# wake-up, which on a busy 2-core machine took up to 6.5 ms (p99 3.4 ms,
# tcpdump on the loopback), none of it the broker's or the gateway's.
probe() {
	"${PROBE_RT[@]}" $PY -c 'import socket, struct, sys, time
n, rate, pre, warm, port = (int(sys.argv[1]), float(sys.argv[2]), sys.argv[3],
                            int(sys.argv[4]), int(sys.argv[5]))
def varlen(x):
    out = b""
    while True:
        b, x = x % 128, x // 128
        out += bytes([b | (0x80 if x else 0)])
        if not x:
            return out
def packet(kind, body):
    return bytes([kind]) + varlen(len(body)) + body
def utf8(b):
    return struct.pack(">H", len(b)) + b
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
# CONNECT (MQTT 3.1.1, clean session, keep-alive 60 s), then its CONNACK
s.sendall(packet(0x10, utf8(b"MQTT") + bytes([4, 2]) + struct.pack(">H", 60) +
                 utf8(b"bench-probe-" + pre.encode())))
ack = b""
while len(ack) < 4:
    got = s.recv(4 - len(ack))
    if not got:
        sys.exit("probe: broker closed the connection")
    ack += got
if ack[0] != 0x20 or ack[3] != 0:
    sys.exit("probe: connection refused")
s.setblocking(False)
sent = acked = acked_bytes = 0
def drain():  # PUBACKs (4 bytes each; a read may end inside one)
    global acked, acked_bytes
    try:
        while True:
            got = s.recv(65536)
            if not got:
                sys.exit("probe: broker closed the connection")
            acked_bytes += len(got)
            acked = acked_bytes // 4
    except BlockingIOError:
        pass
def send(i):
    global sent
    sent += 1
    body = ("{\"id\": \"%s-%d\", \"group\": \"ops\", \"title\": \"t\"}"
            % (i, time.time_ns())).encode()
    s.sendall(packet(0x32, utf8(b"alerts/lat") + struct.pack(">H", (sent - 1) % 65535 + 1) +
                     body))
    drain()
for i in range(warm):
    send("w" + pre)
    time.sleep(1 / rate)
if warm > 0:
    time.sleep(0.5)  # the warm-up deliveries end before the counted ones
t0 = time.monotonic()
for i in range(n):
    d = t0 + i / rate - time.monotonic()
    if d > 0:
        time.sleep(d)
    send(pre)
end = time.monotonic() + 10
while acked < sent and time.monotonic() < end:
    time.sleep(0.01)
    drain()
s.sendall(bytes([0xE0, 0]))  # DISCONNECT
s.close()
# the probe'"'"'s own CPU time and run-queue wait (ns), for machine_phase
with open("/proc/self/schedstat") as f:
    st = f.read().split()
with open(sys.argv[6], "w") as f:
    f.write("%s %s\n" % (st[0], st[1]))' "$((RATE * SECS))" "$RATE" "$1" "$WARM" "$MQTT_PORT" \
		"$TMP/probe.$1"
}
# machine_snap: "TIME BUSY_TICKS ONCPU_NS WAIT_NS": the clock, the whole
# machine's busy time (/proc/stat: user, nice, system, irq, softirq, steal),
# and the on-CPU time and run-queue wait of the broker, the gateway and
# smtp-sink (every thread; /proc/PID/task/*/schedstat)
machine_snap() {
	local busy sched
	busy=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat)
	sched=$(cat /proc/"$BROKER_PID"/task/*/schedstat /proc/"$GW_PID"/task/*/schedstat \
		/proc/"$SINK_PID"/task/*/schedstat 2>/dev/null |
		awk '{ c += $1; w += $2 } END { printf "%.0f %.0f", c, w }')
	echo "$(now) $busy $sched"
}
# machine_phase NAME PREFIX "SNAP0" "SNAP1": what the machine did during a
# phase, besides the probe PREFIX, the broker, the gateway and smtp-sink:
# their CPU time subtracted from the machine's busy time is "other
# processes" (kernel work on their behalf, e.g. the loopback, counts as
# other); the four's run-queue wait is the time they were runnable but
# another task had the CPU.  Also to BENCH_RAW as "machine NAME OTHER_PCT
# WAIT_MS" (campaign_pool.py reads only the 2-field lines).
machine_phase() {
	local p=(0 0)
	[ -r "$TMP/probe.$2" ] && read -r -a p <"$TMP/probe.$2"
	awk -v name="$1" -v s0="$3" -v s1="$4" -v pc="${p[0]}" -v pw="${p[1]}" \
		-v tck="$(getconf CLK_TCK)" -v ncpu="$(nproc)" -v raw="${BENCH_RAW:-}" 'BEGIN {
		split(s0, a, " "); split(s1, b, " ")
		wall = b[1] - a[1]
		busy = (b[2] - a[2]) / tck
		mine = (b[3] - a[3] + pc) / 1e9
		other = busy - mine; if (other < 0) other = 0
		wait = (b[4] - a[4] + pw) / 1e6
		pct = 100 * other / (wall * ncpu)
		printf "machine, %s: %.1f s; other processes %.2f CPU-s (%.0f %% of %d CPUs); " \
		       "run-queue wait of probe, broker, gateway, smtp-sink %.0f ms (%.1f ms/s)\n",
		       name, wall, other, pct, ncpu, wait, wait / wall
		if (raw != "")
			printf "machine %s %.1f %.1f\n", name, pct, wait >> raw
	}'
}
# latency PREFIX [BEFORE_MS]: p50/p90/p99 of publish -> outcome recorded
# (committed), in microseconds from the gateway's trace, of the alerts
# PREFIX-* (warm) published before BEFORE_MS (Unix ms; all when absent);
# the p99 with the warm-up alerts wPREFIX-* counted too (cold, the figure
# before s26); then the p99 of each part: publish -> the gateway starts the
# delivery (broker, MQTT read, the message's commit, the claim), start ->
# the server's last reply read (the SMTP transaction), reply -> the outcome
# committed; and the old figure from the outbox's whole-millisecond
# updated_at (before s30, it read up to 1 ms short).  The two p99 go to
# $TMP/p99.PREFIX ("warm cold").
latency() {
	q "SELECT m.msg_id, o.id, o.updated_at FROM outbox o JOIN messages m
	   ON m.id = o.message WHERE (m.msg_id LIKE '$1-%' OR m.msg_id LIKE 'w$1-%')
	   AND o.state = 'sent' ORDER BY m.id" |
		$PY -c 'import sys
pre, before, out, raw, trace = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
times = {}
for l in open(trace):
    f = l.split()
    if len(f) == 5 and f[1] == "sent":
        times[f[0]] = [int(x) / 1e3 for x in f[2:]]  # ms
rows = []
for l in sys.stdin:
    i, oid, upd = l.strip().split("|")
    pub = int(i.split("-", 1)[1]) / 1e6
    if pub >= before or oid not in times:
        continue
    st, end, rec = times[oid]
    rows.append((i, rec - pub, st - pub, end - st, rec - end, int(upd) - pub))
warm = [r for r in rows if r[0].startswith(pre + "-")]
wup = [r[1] for r in rows if not r[0].startswith(pre + "-")]
def col(v, k):
    return sorted(r[k] for r in v)
def p(v, x):
    return v[min(len(v) - 1, int(x * len(v)))] if v else float("nan")
lat, cold = col(warm, 1), col(rows, 1)
print("n=%d p50=%.2f p90=%.2f p99=%.2f max=%.2f ms (warm-up %s ms; cold p99=%.2f ms)"
      % (len(lat), p(lat, .5), p(lat, .9), p(lat, .99), lat[-1] if lat else 0,
         "/".join("%.1f" % x for x in wup) or "none", p(cold, .99)))
print("        p99 of publish -> start %.2f, start -> last reply %.2f, reply -> committed %.2f ms;"
      " outbox ms clock p99 %.1f ms"
      % (p(col(warm, 2), .99), p(col(warm, 3), .99), p(col(warm, 4), .99),
         p(col(warm, 5), .99)))
open(out, "w").write("%.3f %.3f\n" % (p(lat, .99), p(cold, .99)))
if raw:
    with open(raw, "a") as f:
        f.write("".join("%s %.3f\n" % ("idle" if pre == "li" else "draining", x) for x in lat))' \
		"$1" "${2:-1e18}" "$TMP/p99.$1" "${BENCH_RAW:-}" "$TMP/trace"
}

## 3. idle alert latency
# rt_idle POLICY PRIORITY: BENCH_RT_IDLE's scheduling of the broker, the
# gateway and smtp-sink (-f 10, or -o 0), every thread
rt_idle() {
	local p
	for p in "$BROKER_PID" "$GW_PID" "$SINK_PID"; do
		chrt -a "$1" -p "$2" "$p" >/dev/null ||
			{ echo "bench-campaign: chrt $1 $2 of $p failed" >&2; exit 70; }
	done
}
PROBE_RT=()
if [ -n "${BENCH_RT:-}" ]; then
	echo "BENCH_RT set: both alert phases run at SCHED_FIFO 10"
	rt_idle -f 10
	PROBE_RT=(chrt -f 10)
elif [ -n "${BENCH_RT_IDLE:-}" ]; then
	echo "diagnostic: BENCH_RT_IDLE set, the idle phase runs at SCHED_FIFO 10"
	rt_idle -f 10
	PROBE_RT=(chrt -f 10)
fi
m_idle0=$(machine_snap)
probe li
m_idle1=$(machine_snap)
if [ -n "${BENCH_RT_IDLE:-}" ] && [ -z "${BENCH_RT:-}" ]; then
	rt_idle -o 0
	PROBE_RT=()
fi
sleep 1

## 4. approve; the campaign drains while alerts keep coming
# gateway CPU time (user + system, clock ticks) from here to the end of the drain
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$GW_PID/stat"; }
cpu0=$(cpu_ticks)
gw campaign approve c-bench --reviewer console:alice --sha256 "$sha" \
	--code "$(oathtool --totp -b "$secret")" >/dev/null ||
	{ echo "bench-campaign: approval refused" >&2; exit 70; }
# the waits below read the gateway's log, not the database: a sqlite3
# process counting 100,000 outbox rows every 50 ms took about 30 % of a
# core from the machine under test (perf sched, 2026-12-07), and the idle
# phase had no such load beside it
sending() { grep -q "campaign c-bench: sending" "$TMP/gateway.log"; }
WAIT_STEP=0.2 wait_for 30 sending || { echo "bench-campaign: not sending" >&2; exit 70; }
# BENCH_PERF=FILE: perf record -g of the gateway for BENCH_PERF_S (4) s of the drain
if [ -n "${BENCH_PERF:-}" ]; then
	perf record -q -F 2000 -g -p "$GW_PID" -o "$BENCH_PERF" -- sleep "${BENCH_PERF_S:-4}" \
		>/dev/null 2>&1 &
fi
m_drain0=$(machine_snap)
probe ld &
probe_pid=$!
# "done": fanned out and no row queued or sending (checked once a second)
drained() { grep -q "campaign c-bench: done" "$TMP/gateway.log"; }
WAIT_STEP=0.2 wait_for 1200 drained || echo "bench-campaign: not drained in 20 min" >&2
cpu1=$(cpu_ticks)
wait "$probe_pid"
m_drain1=$(machine_snap)
sleep 1
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$GW_PID/status")
t_send=$(q "SELECT at FROM campaign_audit WHERE campaign = 'c-bench' AND event = 'sending'")
t_fan=$(q "SELECT max(created_at) FROM outbox WHERE prio = 1")
t_last=$(q "SELECT max(updated_at) FROM outbox WHERE prio = 1 AND state = 'sent'")
nsent=$(q "SELECT count(*) FROM outbox WHERE prio = 1 AND state = 'sent'")
gw_rate=$(awk -v n="$nsent" -v a="$t_send" -v b="$t_last" 'BEGIN { printf "%.0f", n * 1000 / (b - a) }')

echo "load average at start / end: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
echo "audience: $N recipients with email and consent (database filled in ${mk_s} s)"
echo "fan-out: $(awk -v a="$t_send" -v b="$t_fan" 'BEGIN { printf "%.2f", (b - a) / 1000 }') s"
echo "smtp-source: $N messages, $SESSIONS sessions (connection kept), ${src_s} s, $src_rate deliveries/s"
echo "gateway campaign: $nsent sent, $(awk -v a="$t_send" -v b="$t_last" 'BEGIN { printf "%.3f", (b - a) / 1000 }') s, $gw_rate deliveries/s"
awk -v g="$gw_rate" -v s="$src_rate" 'BEGIN { printf "ratio gateway/smtp-source: %.2f\n", g / s }'
echo "gateway peak RSS (VmHWM): $hwm kB"
awk -v c="$((cpu1 - cpu0))" -v t="$(getconf CLK_TCK)" -v n="$nsent" \
	'BEGIN { printf "gateway CPU during the drain: %.1f s, %.0f us per delivery\n", c / t, c / t * 1e6 / n }'
echo "alert latency idle:     $(latency li)"
echo "alert latency draining: $(latency ld "$t_last")"
read -r idle_w idle_c <"$TMP/p99.li"
read -r drain_w drain_c <"$TMP/p99.ld"
awk -v a="$drain_w" -v b="$idle_w" -v c="$drain_c" -v d="$idle_c" 'BEGIN {
	printf "alert p99 draining / idle: %.2f warm (the figure), %.2f cold (warm-up counted)\n",
	       a / b, c / d }'
machine_phase idle li "$m_idle0" "$m_idle1"
machine_phase draining ld "$m_drain0" "$m_drain1"
# where the time of the slow ones goes (the gateway's trace, us): publish ->
# start -> last reply -> committed
q "SELECT m.msg_id, o.id FROM outbox o JOIN messages m ON m.id = o.message
   WHERE m.msg_id LIKE 'ld-%' AND o.state = 'sent'" | $PY -c 'import sys
times = {}
for l in open(sys.argv[3]):
    f = l.split()
    if len(f) == 5 and f[1] == "sent":
        times[f[0]] = [int(x) / 1e3 for x in f[2:]]
r = []
for l in sys.stdin:
    i, oid = l.strip().split("|")
    pub = int(i.split("-", 1)[1]) / 1e6
    if pub >= float(sys.argv[1]) or oid not in times:
        continue  # published after the drain
    st, end, rec = times[oid]
    r.append((rec - pub, st - pub, end - st, rec - end, pub))
r.sort()
print("  draining, slowest 3 (total / publish->start / start->reply / reply->committed, ms):",
      " ".join("%.2f/%.2f/%.2f/%.2f" % x[:4] for x in r[-3:]))
# the same alerts split at the end of the fan-out (its batches hold the loop)
for name, part in (("during fan-out", [x for x in r if x[4] < float(sys.argv[2])]),
                   ("after fan-out", [x for x in r if x[4] >= float(sys.argv[2])])):
    v = sorted(x[0] for x in part)
    def p(q):
        return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")
    print("  draining %s: n=%d p50=%.2f p90=%.2f p99=%.2f max=%.2f ms"
          % (name, len(v), p(.5), p(.9), p(.99), v[-1] if v else 0))' "$t_last" "$t_fan" \
	"$TMP/trace"

gw campaign report c-bench | sed 's/^/  /'

# the gateway's own loop-turn histogram (how long it worked between two
# polls, nothing else served meanwhile), logged when it stops
kill -TERM "$GW_PID" 2>/dev/null
wait_for 15 grep -q "loop stalls since the start" "$TMP/gateway.log" &&
	grep -o "loop stalls.*" "$TMP/gateway.log" | sed 's/^/gateway /'
