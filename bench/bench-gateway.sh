#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-gateway.sh - benchmarks of mqttsec-gateway (figures go to
# docs/PERFORMANCE.md).  Run from a build directory (or set BUILD=...).
#
#   bench/bench-gateway.sh email [-n MESSAGES]     deliveries/s into Postfix smtp-sink,
#                                                  next to smtp-source (bench-smtp.sh)
#   bench/bench-gateway.sh latency [-r RATE] [-d SECONDS]
#                                                  publish -> SMTP DATA received,
#                                                  p50/p90/p99/max at RATE alerts/s
#   bench/bench-gateway.sh rss [-n ROWS]           gateway RSS with ROWS outbox rows
#
# Everything runs on 127.0.0.1 with a private mosquitto (anonymous, no
# plugin), a private gateway database and the Debian python3 (aiosmtpd).
# The gateway runs with its defaults ([store] synchronous = full, info log
# to a file) except where a line below says otherwise.  BENCH_PIPELINING=off
# sets [channel email] pipelining = off (libcurl only; docs/channels.md).

set -u
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=${BUILD:-$PWD}
GATEWAY=${GATEWAY:-$BUILD/gateway/mqttsec-gateway}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PY=/usr/bin/python3

if [ ! -x "$GATEWAY" ]; then
	echo "bench-gateway: $GATEWAY not built (run from the build dir or set BUILD)" >&2
	exit 66
fi

TMP=$(mktemp -d /tmp/bench-gateway.XXXXXX)
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

wait_for() { # TIMEOUT CMD...
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.05
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

# broker: anonymous mosquitto without queue limits
start_broker() {
	MQTT_PORT=$(free_port)
	cat >"$TMP/mosquitto.conf" <<EOF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
${BROKER_EXTRA:-}
log_dest none
$( [ "$(id -u)" -eq 0 ] && echo "user root")
EOF
	bg mosquitto "$MOSQUITTO" -c "$TMP/mosquitto.conf"
	wait_for 10 port_open "$MQTT_PORT" || { echo "bench-gateway: no broker" >&2; exit 70; }
}

# gw_conf EXTRA: a gateway config with the alerts route, plus EXTRA
gw_conf() {
	echo '{"username": "bench", "keys": []}' >"$TMP/creds.json"
	chmod 600 "$TMP/creds.json"
	cat >"$TMP/gw.conf" <<EOF
[broker]
port = $MQTT_PORT
credentials = $TMP/creds.json
[store]
db = $TMP/gw.db
master_key_file = $TMP/gw.key
${GW_STORE_EXTRA:-}
[route alerts]
topic = alerts/#
kind = alert
$1
EOF
}

start_gateway() {
	bg gateway ${GW_WRAP:-} "$GATEWAY" -c "$TMP/gw.conf" run
	GW_PID=$LAST_PID
	wait_for 10 grep -q "connected to broker" "$TMP/gateway.log" ||
		{ echo "bench-gateway: gateway did not start" >&2; tail "$TMP/gateway.log" >&2; exit 70; }
	sleep 0.3 # SUBACK
}

# received N: the latency sink got N messages
received() {
	[ "$(wc -l <"$TMP/recv.txt" 2>/dev/null || echo 0)" -ge "$1" ]
}

# more_sent ROWS: the 2000 alerts published after ROWS rows were delivered
more_sent() {
	[ "$(sqlite3 "$TMP/gw.db" "SELECT count(*) FROM outbox WHERE state = 'sent' AND message > $1")" -ge 2000 ]
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }

########################################################################
## email: the hook run by bench-smtp.sh against a fresh smtp-sink

email_hook() {
	start_broker
	gw_conf "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = bench@example.com
${BENCH_PIPELINING:+pipelining = $BENCH_PIPELINING}"
	"$GATEWAY" -q -c "$TMP/gw.conf" group add ops >/dev/null
	"$GATEWAY" -q -c "$TMP/gw.conf" recipient add sink --email sink@example.com --group ops \
		>/dev/null
	start_gateway
	$PY -c 'import sys
n = int(sys.argv[1])
body = "x" * 400
for i in range(n):
    print("{\"id\": \"b-%d\", \"group\": \"ops\", \"title\": \"Bench %d\", \"body\": \"%s\"}"
          % (i, i, body))' "$BENCH_MESSAGES" >"$TMP/alerts.txt"
	touch "$BENCH_GO_FILE"
	mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t alerts/bench -l <"$TMP/alerts.txt"
	sleep 3600
}

cmd_email() {
	local n=5000
	while getopts "n:" o; do
		case $o in
		n) n=$OPTARG ;;
		*) exit 64 ;;
		esac
	done
	GATEWAY_BENCH="BUILD='$BUILD' GATEWAY='$GATEWAY' '$HERE/bench-gateway.sh' _email_hook" \
		"$HERE/bench-smtp.sh" -n "$n"
}

########################################################################
## latency: publish -> SMTP DATA received at a steady rate

cmd_latency() {
	local rate=100 secs=20 smtp_port n
	while getopts "r:d:" o; do
		case $o in
		r) rate=$OPTARG ;;
		d) secs=$OPTARG ;;
		*) exit 64 ;;
		esac
	done
	n=$((rate * secs))
	start_broker
	smtp_port=$(free_port)
	bg sink $PY "$HERE/gw_latency_sink.py" "$smtp_port" "$TMP/recv.txt"
	wait_for 10 port_open "$smtp_port" || { echo "bench-gateway: no sink" >&2; exit 70; }
	gw_conf "[channel email]
url = smtp://127.0.0.1:$smtp_port
from = bench@example.com
${BENCH_PIPELINING:+pipelining = $BENCH_PIPELINING}"
	"$GATEWAY" -q -c "$TMP/gw.conf" group add ops >/dev/null
	"$GATEWAY" -q -c "$TMP/gw.conf" recipient add sink --email sink@example.com --group ops \
		>/dev/null
	start_gateway
	bg status mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t 'mqttsec/status/#'
	sleep 0.3
	# one alert every 1/rate s; its title carries the publish time (ns)
	$PY -c 'import sys, time
n, rate = int(sys.argv[1]), float(sys.argv[2])
t0 = time.monotonic()
for i in range(n):
    delay = t0 + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    ns = time.time_ns()
    sys.stdout.write("{\"id\": \"l-%d\", \"group\": \"ops\", \"title\": \"t %d\"}\n"
                     % (ns, ns))
    sys.stdout.flush()' "$n" "$rate" |
		mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t alerts/lat -l
	wait_for 60 received "$n" ||
		echo "bench-gateway: only $(wc -l <"$TMP/recv.txt") of $n received" >&2
	echo "latency: $n alerts at $rate/s, publish -> SMTP DATA received (ms):"
	$PY -c 'import sys
lat = sorted(float(l.split()[0]) for l in open(sys.argv[1]))
def q(p):
    return lat[min(len(lat) - 1, int(p * len(lat)))]
print("  n=%d p50=%.1f p90=%.1f p99=%.1f max=%.1f" % (len(lat), q(.5), q(.9), q(.99), lat[-1]))' \
		"$TMP/recv.txt"
	sleep 0.5
	# where the time goes, from the gateway's status messages (ts, Unix ms)
	$PY - "$TMP/status.log" "$TMP/recv.txt" <<'PY'
import json, sys
st = {}
for l in open(sys.argv[1]):
    try:
        j = json.loads(l)
    except ValueError:
        continue
    if "state" in j:
        st.setdefault(j["id"], {})[j["state"]] = j["ts"]
p2q, q2s, s2d = [], [], []
for i, d in st.items():
    if "queued" in d and "sending" in d and "sent" in d:
        p2q.append(d["queued"] - int(i[2:]) / 1e6)
        q2s.append(d["sending"] - d["queued"])
        s2d.append(d["sent"] - d["sending"])
def p(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")
print("  publish -> queued (committed) p50=%.1f p99=%.1f ms" % (p(p2q, .5), p(p2q, .99)))
print("  queued -> sending p50=%.0f p99=%.0f ms; sending -> sent p50=%.0f p99=%.0f ms"
      % (p(q2s, .5), p(q2s, .99), p(s2d, .5), p(s2d, .99)))
PY
	echo "gateway RSS after the run: $(rss_kb "$GW_PID") kB (peak $(hwm_kb "$GW_PID") kB)"
}

########################################################################
## rss: memory with many outbox rows

cmd_rss() {
	local rows=100000
	while getopts "n:" o; do
		case $o in
		n) rows=$OPTARG ;;
		*) exit 64 ;;
		esac
	done
	start_broker
	gw_conf ""
	"$GATEWAY" -q -c "$TMP/gw.conf" group add ops >/dev/null
	"$GATEWAY" -q -c "$TMP/gw.conf" recipient add r1 --email r1@example.com --group ops >/dev/null
	start_gateway
	echo "gateway RSS, empty outbox: $(rss_kb "$GW_PID") kB"
	# rows the way the gateway writes them, many at a time: half delivered
	# history, half queued for later (next attempt in an hour)
	sqlite3 "$TMP/gw.db" <<EOF
.timeout 10000
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO messages(msg_id, route, topic, kind, severity, grp, title, body, received_at)
SELECT 'r-' || i, 'alerts', 'alerts/x', 'alert', 'info', 'ops', 'Title ' || i,
       'Body of message ' || i, CAST(strftime('%s','now') AS INTEGER) * 1000 FROM n;
INSERT INTO outbox(message, recipient, channel, state, attempts, next_attempt_at, retry_key,
                   step, created_at, updated_at)
SELECT id, 'r1', 'email', CASE WHEN id % 2 = 0 THEN 'sent' ELSE 'queued' END, 0,
       CAST(strftime('%s','now') AS INTEGER) * 1000 + 3600000, lower(hex(randomblob(16))), 0,
       received_at, received_at FROM messages;
COMMIT;
EOF
	echo "outbox rows: $(sqlite3 "$TMP/gw.db" 'SELECT count(*) FROM outbox'), db $(du -k "$TMP/gw.db" | cut -f1) kB"
	# the gateway keeps running against the grown database: publish more
	# alerts through it so every path (insert, claim, next-due) touches it
	$PY -c 'import sys
for i in range(2000):
    print("{\"id\": \"x-%d\", \"group\": \"ops\", \"title\": \"More %d\"}" % (i, i))' |
		mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t alerts/rss -l
	wait_for 60 more_sent "$rows" || echo "bench-gateway: the 2000 more were not all delivered" >&2
	echo "gateway RSS with $rows rows (+2000 delivered to the spool meanwhile): $(rss_kb "$GW_PID") kB (peak $(hwm_kb "$GW_PID") kB)"
	# a restart against the big database (startup requeue, sensor load)
	kill "$GW_PID"
	wait "$GW_PID" 2>/dev/null
	: >"$TMP/gateway.log"
	start_gateway
	echo "gateway RSS after a restart on it: $(rss_kb "$GW_PID") kB"
}

case ${1:-} in
email)
	shift
	cmd_email "$@"
	;;
_email_hook)
	email_hook
	;;
latency)
	shift
	cmd_latency "$@"
	;;
rss)
	shift
	cmd_rss "$@"
	;;
*)
	sed -n '2,16s/^# \{0,1\}//p' "$0"
	exit 64
	;;
esac
