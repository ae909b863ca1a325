#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-medical.sh - latency of a medical record from the device's publish to
# the webhook POST, split 2-of-3 over three brokers and joined back
# (docs/medical.md), against the same bytes published whole as an alert
# through one gateway to the same webhook, in the same run.  Figures go to
# docs/PERFORMANCE.md.  Run from a build directory (or set BUILD=...).
#
#   bench/bench-medical.sh [-n RECORDS] [-r RATE] [-s SIZES]
#       RECORDS per case (default 200), RATE records/s (default 10),
#       SIZES in bytes, comma separated (default 1024,65536)
#
# Path (a): mqttsec-device publish (sealed, protected topic) -> broker a
#   -> sender gateway (kind = medical: seal with the record key, split,
#   queue) -> shares on brokers a, b, c -> receiver gateway (kind =
#   medical-join) -> [channel webhook] HTTPS POST to a local sink.
# Path (b): the same device publishes an alert of the same size on a
#   protected topic of broker a -> the receiver gateway (kind = alert) ->
#   the same webhook.  Alerts carry at most 4000 bytes of body: sizes above
#   that run path (a) only.
# Three mosquitto brokers with the mqttsec plugin (each its own database),
# set_tcp_nodelay on, TOTP-authenticated gateways, everything on 127.0.0.1.
# Latency = time the sink received the whole request - time the record
# line was handed to the publisher (both wall clock, same host).

set -u
export LC_ALL=C
BUILD=${BUILD:-$PWD}
GATEWAY=${GATEWAY:-$BUILD/gateway/mqttsec-gateway}
DEVICE=${DEVICE:-$BUILD/device/mqttsec-device}
ACL=${ACL:-$BUILD/acl/mqttsec-acl}
PLUGIN=${PLUGIN:-$BUILD/broker-plugin/.libs/mqttsec_plugin.so}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PY=/usr/bin/python3

N=200
RATE=10
SIZES=1024,65536
while getopts "n:r:s:" o; do
	case $o in
	n) N=$OPTARG ;;
	r) RATE=$OPTARG ;;
	s) SIZES=$OPTARG ;;
	*)
		echo "usage: bench-medical.sh [-n RECORDS] [-r RATE] [-s SIZES]" >&2
		exit 64
		;;
	esac
done

for f in "$GATEWAY" "$DEVICE" "$ACL" "$PLUGIN"; do
	if [ ! -e "$f" ]; then
		echo "bench-medical: $f not built (run from the build dir or set BUILD)" >&2
		exit 66
	fi
done

TMP=$(mktemp -d /tmp/bench-medical.XXXXXX)
chmod 700 "$TMP"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "bench-medical: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench-medical: $*" >&2
	exit 70
}
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
}

########################################################################
## brokers

declare -A BPORT=()
bacl() { # BROKER ARGS...
	local b=$1
	shift
	MQTTSEC_DB=$TMP/broker-$b.db MQTTSEC_MASTER_KEY_FILE=$TMP/broker-$b.key \
		"$ACL" "$@" >/dev/null 2>>"$TMP/acl.err"
}
start_broker() { # B
	local b=$1
	BPORT[$b]=$(free_port)
	cat >"$TMP/broker-$b.conf" <<EOF
per_listener_settings false
listener ${BPORT[$b]} 127.0.0.1
allow_anonymous false
persistence false
max_queued_messages 0
max_inflight_messages 0
set_tcp_nodelay true
log_dest none
plugin $PLUGIN
plugin_opt_db_file $TMP/broker-$b.db
plugin_opt_master_key_file $TMP/broker-$b.key
$([ "$(id -u)" -eq 0 ] && echo "user root")
EOF
	bg "broker-$b" "$MOSQUITTO" -c "$TMP/broker-$b.conf"
	wait_for 10 port_open "${BPORT[$b]}" || die "broker $b did not start"
}

for b in a b c; do
	bacl "$b" init || die "acl init failed"
	bacl "$b" device add gw-send --period 2 --out "$TMP/send-$b.json"
	bacl "$b" device add gw-recv --period 2 --out "$TMP/recv-$b.json"
	bacl "$b" acl add allow all gw-send 'mqttsec/status/#'
	bacl "$b" acl add allow all gw-recv 'mqttsec/status/#'
done
chan_setup() { # BROKER TOPIC
	bacl "$1" topic protect "$2" &&
		bacl "$1" acl add allow all gw-send "$2" &&
		bacl "$1" acl add allow sub gw-recv "$2" &&
		bacl "$1" acl add allow read gw-recv "$2" &&
		bacl "$1" key export "$2" --for gw-send --out "$TMP/send-$1.json" &&
		bacl "$1" key export "$2" --for gw-recv --out "$TMP/recv-$1.json"
}
chan_setup a medical/ch/0 || die "setup: $(cat "$TMP/acl.err")"
chan_setup b medical/ch/1 || die "setup: $(cat "$TMP/acl.err")"
chan_setup c medical/ch/2 || die "setup: $(cat "$TMP/acl.err")"
bacl a device add clinic1 --period 1 --out "$TMP/clinic1.json"
bacl a topic protect 'clinic/+/record'
bacl a topic protect 'alerts/#'
bacl a acl add allow pub clinic1 'clinic/1/record'
bacl a acl add allow pub clinic1 'alerts/bench'
bacl a acl add allow sub gw-send 'clinic/+/record'
bacl a acl add allow read gw-send 'clinic/+/record'
bacl a acl add allow sub gw-recv 'alerts/#'
bacl a acl add allow read gw-recv 'alerts/#'
bacl a key export 'clinic/+/record' --for gw-send --out "$TMP/send-a.json" &&
	bacl a key export 'alerts/#' --for gw-recv --out "$TMP/recv-a.json" ||
	die "setup: $(cat "$TMP/acl.err")"
for b in a b c; do
	start_broker "$b"
done

########################################################################
## the webhook sink: HTTPS, records the arrival time of each request

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=bench-ca -keyout "$TMP/ca.key" -out "$TMP/ca.pem" >/dev/null 2>&1 &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
		-keyout "$TMP/srv.key" -out "$TMP/srv.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/srv.ext" &&
	openssl x509 -req -in "$TMP/srv.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" \
		-CAcreateserial -days 2 -extfile "$TMP/srv.ext" -out "$TMP/srv.pem" \
		>/dev/null 2>&1 || die "cannot make certificates"
cat >"$TMP/sink.py" <<'PY'
import http.server, re, ssl, sys, time
port_file, out, cert, key = sys.argv[1:]
T = re.compile(rb"\bt (\d{19})\b")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.time_ns()
        m = T.search(body)
        if m:
            with open(out, "a") as f:
                f.write("%s %.3f\n" % (self.headers.get("X-Mqttsec-Kind", "?"),
                                       (now - int(m.group(1))) / 1e6))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(port_file, "w").write(str(srv.server_address[1]))
srv.serve_forever()
PY
bg sink $PY "$TMP/sink.py" "$TMP/sink.port" "$TMP/lat.txt" "$TMP/srv.pem" "$TMP/srv.key"
wait_for 10 test -s "$TMP/sink.port" || die "no sink"
SINK_PORT=$(cat "$TMP/sink.port")

########################################################################
## gateways

brokers_conf() { # ROLE
	local b
	printf '[broker]\nhost = 127.0.0.1\nport = %s\ncredentials = %s\n' \
		"${BPORT[a]}" "$TMP/$1-a.json"
	for b in b c; do
		printf '\n[broker %s]\nhost = 127.0.0.1\nport = %s\ncredentials = %s\n' \
			"$b" "${BPORT[$b]}" "$TMP/$1-$b.json"
	done
}
{
	brokers_conf send
	cat <<EOF

[store]
db = $TMP/send.db
master_key_file = $TMP/send.gwkey

[route vitals]
topic = clinic/+/record
kind = medical
channels = medical/ch/0, medical/ch/1@b, medical/ch/2@c
threshold = 2
record_key = vitals
EOF
} >"$TMP/send.conf"
{
	brokers_conf recv
	cat <<EOF

[store]
db = $TMP/recv.db
master_key_file = $TMP/recv.gwkey

[route vitals-in]
kind = medical-join
channels = medical/ch/0, medical/ch/1@b, medical/ch/2@c
threshold = 2
record_key = vitals
deliver = webhook

[route alerts]
topic = alerts/#
kind = alert

[channel webhook]
url = https://127.0.0.1:$SINK_PORT/ingest
secret = bench-secret-0123456789abcdef
ca_file = $TMP/ca.pem
EOF
} >"$TMP/recv.conf"

"$GATEWAY" -q -c "$TMP/send.conf" key add vitals || die "key add failed"
"$GATEWAY" -q -c "$TMP/send.conf" key export vitals --out "$TMP/vitals.key" ||
	die "key export failed"
"$GATEWAY" -q -c "$TMP/recv.conf" key import "$TMP/vitals.key" >/dev/null ||
	die "key import failed"
# alerts to the webhook ("channels": ["webhook"]): the group must exist
"$GATEWAY" -q -c "$TMP/recv.conf" group add ops >/dev/null || die "group add failed"

connected() { # NAME N
	[ "$(grep -c 'connected to broker' "$TMP/$1.log")" -ge "$2" ]
}
bg gw-send "$GATEWAY" -c "$TMP/send.conf" run
bg gw-recv "$GATEWAY" -c "$TMP/recv.conf" run
wait_for 30 connected gw-send 3 || die "sender did not connect: $(tail -5 "$TMP/gw-send.log")"
wait_for 30 connected gw-recv 3 || die "receiver did not connect: $(tail -5 "$TMP/gw-recv.log")"
sleep 1

########################################################################
## runs

# gen KIND SIZE: N lines at RATE/s, each with its send time in ns, SIZE bytes
gen() {
	$PY - "$1" "$2" "$N" "$RATE" <<'PY'
import base64, os, sys, time
kind, size, n, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
t0 = time.monotonic()
for i in range(n):
    delay = t0 + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    ns = time.time_ns()
    head = "t %d " % ns
    if kind == "alert":
        # the title carries the time; the body fills up to SIZE bytes of JSON
        pre = ('{"id": "l-%d", "group": "ops", "channels": ["webhook"], "title": "%s", '
               '"body": "' % (ns, head.strip()))
        fill = max(0, size - len(pre) - 2)
        line = pre + ("x" * fill) + '"}'
    else:
        fill = max(0, size - len(head))
        line = head + base64.b64encode(os.urandom(fill))[:fill].decode()
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
PY
}

# run KIND SIZE: publish N records, wait for them, print the statistics
run() {
	local kind=$1 size=$2 topic
	[ "$kind" = alert ] && topic=alerts/bench || topic=clinic/1/record
	: >"$TMP/lat.txt"
	sleep 1 # a fresh TOTP step for clinic1
	gen "$kind" "$size" | "$DEVICE" -c "$TMP/clinic1.json" publish -h 127.0.0.1 \
		-p "${BPORT[a]}" -t "$topic" -q 1 --seal -l ||
		echo "bench-medical: publisher failed" >&2
	wait_for 120 eval "[ \"\$(wc -l <'$TMP/lat.txt')\" -ge $N ]" ||
		echo "bench-medical: only $(wc -l <"$TMP/lat.txt") of $N arrived ($kind $size)" >&2
	$PY - "$TMP/lat.txt" "$kind" "$size" <<'PY'
import statistics, sys
v = sorted(float(l.split()[1]) for l in open(sys.argv[1]) if l.strip())
if not v:
    print("%-8s %7s B  no data" % (sys.argv[2], sys.argv[3]))
    sys.exit(0)
p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
print("%-8s %7s B  n=%d  p50 %.1f ms  p95 %.1f ms  max %.1f ms"
      % (sys.argv[2], sys.argv[3], len(v), statistics.median(v), p(0.95), v[-1]))
PY
}

echo "bench-medical: $N records per case at $RATE/s; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
IFS=, read -r -a sizes <<<"$SIZES"
for size in "${sizes[@]}"; do
	run medical "$size"
	if [ "$size" -le 4000 ]; then
		run alert "$size"
	else
		echo "alert    $size B  (an alert body holds at most 4000 bytes: not run)"
	fi
done
if [ -x "$BUILD/bench/bench-share" ]; then
	echo "--- bench/bench-share"
	"$BUILD/bench/bench-share"
fi
