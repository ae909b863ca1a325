#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 41-gateway-medical-send.sh - the sending side of medical records
# (docs/medical.md, "Sending") over three real Mosquitto brokers with the
# mqttsec plugin: a gateway with [broker] (a), [broker b] and [broker c]
# and a kind = medical route whose channels are spread over the three.
# A clinic device publishes sealed records; on each broker a reader sees
# exactly its channel's shares (sealed by the broker for the channel topic,
# origin = the gateway, share number = the channel's).  Broker c stopped:
# records still go to a and b, c's rows wait in the gateway's publish
# queue, survive a gateway restart, and drain to c's reader once c is
# back.  An unprotected channel topic or a missing record key makes the
# gateway refuse to start; an unsealed record and a record too big to
# split are dropped and counted;
# no record bytes in the gateway's log.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/brokers-lib.sh"
need_file "$DEVICE_BIN" "$GATEWAY_BIN"
need_cmd mosquitto_pub mosquitto_sub sqlite3
need_python_module cryptography
WAIT=${MED_WAIT:-40}
MARK=MEDSEND$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
CHANS=("medical/ch/0" "medical/ch/1" "medical/ch/2")
BRK=(a b c)

########################################################################
## three brokers, one operator each

mb_init a b c
for i in 0 1 2; do
	b=${BRK[$i]}
	t=${CHANS[$i]}
	mb_device "$b" gw --period 2
	mb_device "$b" reader
	mb_allow "$b" all gw 'mqttsec/status/#'
	mb_protect "$b" "$t"
	mb_allow "$b" all gw "$t"
	mb_allow "$b" sub reader "$t"
	mb_allow "$b" read reader "$t"
	mb_key "$b" "$t" gw
	mb_key "$b" "$t" reader
done
# an unprotected topic on b, for the refusal
mb_allow b pub gw medical/open/1
# the records on a: protected clinic/+/record, and an unprotected twin
mb_device a clinic1
mb_protect a 'clinic/+/record'
mb_allow a pub clinic1 clinic/1/record
mb_allow a pub clinic1 clinic/1/open
mb_allow a sub gw 'clinic/+/record'
mb_allow a read gw 'clinic/+/record'
mb_allow a sub gw 'clinic/+/open'
mb_allow a read gw 'clinic/+/open'
mb_key a 'clinic/+/record' gw || bail_out "broker setup failed"
for b in a b c; do
	mb_start "$b" || bail_out "broker $b did not start"
done
pass "three brokers with the plugin are up"

########################################################################
## the gateway

GW_DB=$TEST_TMP/gw.db
# gw_conf ROUTES: the configuration with the three brokers and ROUTES.
gw_conf() {
	cat <<EOF
[broker]
host = 127.0.0.1
port = $(mb_port a)
credentials = $(mb_creds a gw)
reconnect_min = 200ms
reconnect_max = 1s

[broker b]
port = $(mb_port b)
credentials = $(mb_creds b gw)
reconnect_min = 200ms
reconnect_max = 1s

[broker c]
port = $(mb_port c)
credentials = $(mb_creds c gw)
reconnect_min = 200ms
reconnect_max = 1s

[store]
db = $GW_DB
master_key_file = $TEST_TMP/gw.key
spool_dir = $TEST_TMP/spool

$1
EOF
}
ROUTES="[route vitals]
topic = clinic/+/record
kind = medical
channels = medical/ch/0, medical/ch/1@b, medical/ch/2@c
threshold = 2
record_key = vitals

[route open]
topic = clinic/+/open
kind = medical
channels = medical/ch/0, medical/ch/1@b
threshold = 2
record_key = vitals"
gw_conf "$ROUTES" >"$TEST_TMP/gw.conf"
gwc() {
	"$GATEWAY_BIN" -q -c "$TEST_TMP/gw.conf" "$@"
}
sql() {
	sqlite3 -cmd ".timeout 5000" "$GW_DB" "$1"
}
queued() {
	sql "SELECT count(*) FROM pubq WHERE broker = '$1'"
}
_queued_is() {
	[ "$(queued "$1")" = "$2" ]
}

# refuses NAME ROUTES PATTERN: the gateway with ROUTES exits at start with
# a configuration error whose log matches PATTERN.
refuses() {
	local name=$1 rc=0
	gw_conf "$2" >"$TEST_TMP/$name.conf"
	timeout 30 "$GATEWAY_BIN" -c "$TEST_TMP/$name.conf" run >"$TEST_TMP/$name.log" 2>&1 || rc=$?
	[ "$rc" = 78 ] && grep -q -- "$3" "$TEST_TMP/$name.log" || {
		echo "exit status $rc" >&2
		tail -5 "$TEST_TMP/$name.log" >&2
		return 1
	}
}
ok "without the record key in the store the gateway refuses to start" \
	refuses nokey "$ROUTES" "record_key vitals: no such record key"
ok "key add vitals" gwc key add vitals
ok "a channel topic not protected on its broker: refused at start" \
	refuses unprotected "[route bad]
topic = clinic/+/record
kind = medical
channels = medical/ch/0, medical/open/1@b
threshold = 2
record_key = vitals" "channel medical/open/1@b is not protected on its broker"

# readers: one per broker, persistent session, payloads in hex
# reader_start B N: mosquitto_sub as reader on B (log $TEST_TMP/rd-B-N.log).
reader_start() {
	local b=$1 n=$2 i
	for i in 0 1 2; do
		[ "${BRK[$i]}" = "$b" ] && break
	done
	start_bg "rd-$b-$n" mosquitto_sub -h 127.0.0.1 -p "$(mb_port "$b")" -u reader \
		-P "$(mb_code "$b" reader)" -i "reader-$b" -c -q 1 -t "${CHANS[$i]}" -F '%x'
}
_reader_subscribed() {
	[ "$(grep -c "Received SUBSCRIBE from reader-$1" "$(mb_log "$1")")" -ge "$2" ]
}
for b in a b c; do
	reader_start "$b" 1
	wait_for "$WAIT_TIMEOUT" _reader_subscribed "$b" 1 || bail_out "reader on $b did not subscribe"
done
# shares B: lines the readers of B received so far
shares() {
	cat "$TEST_TMP"/rd-"$1"-*.log 2>/dev/null | grep -c .
}
_shares_ge() {
	[ "$(shares "$1")" -ge "$2" ]
}

_connected() {
	[ "$(grep -c 'connected to broker' "$TEST_TMP/$1.log")" -ge "$2" ]
}
start_bg gw "$GATEWAY_BIN" -c "$TEST_TMP/gw.conf" run
if wait_for "$WAIT" _connected gw 3; then
	pass "the gateway connected to the three brokers"
else
	show_log gw
	bail_out "the gateway did not connect to the three brokers"
fi
sleep 1 # the SUBACKs follow the CONNACKs

# publish_records PHASE N: N records from clinic1, sealed, one per line.
publish_records() {
	local f=$TEST_TMP/records-$1.txt i
	: >"$f"
	for i in $(seq "$2"); do
		printf '%s phase %s record %s %s\n' "$MARK" "$1" "$i" \
			"$(head -c $((50 + i * 200)) /dev/urandom | base64 -w0)" >>"$f"
	done
	mb_dev a clinic1 publish -t clinic/1/record -q 1 --seal -l <"$f"
}

# check_shares B X N: reader B's lines are N shares, each sealed by broker
# B for its channel topic with origin gw, with share number X of 3, k 2,
# and distinct record ids; prints the record ids.
check_shares() {
	local b=$1 i
	for i in 0 1 2; do
		[ "${BRK[$i]}" = "$b" ] && break
	done
	python3 - "$(mb_creds "$b" reader)" "${CHANS[$i]}" "$2" "$3" "$TEST_TMP"/rd-"$b"-*.log <<'PY'
import base64, json, sys
creds, topic, x, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
keys = {k["id"]: base64.b64decode(k["key"]) for k in json.load(open(creds))["keys"]}
ids = []
lines = [l.strip() for f in sys.argv[5:] for l in open(f) if l.strip()]
assert len(lines) == n, "%d shares, %d wanted" % (len(lines), n)
for l in lines:
    env = bytes.fromhex(l)
    assert env[0] == 1, "not an envelope"
    olen = env[1]
    kid = int.from_bytes(env[2:6], "big")
    hdr = env[:26 + olen]
    origin = env[26:26 + olen].decode()
    assert origin == "gw", "origin %r" % origin
    plain = AESGCM(keys[kid]).decrypt(env[14:26], env[26 + olen:], hdr + topic.encode())
    assert plain[0] == 1 and plain[1] == 3 and plain[2] == 2, "header %r" % plain[:4]
    assert plain[3] == x, "share number %d, want %d" % (plain[3], x)
    s = int.from_bytes(plain[20:24], "big")
    assert len(plain) == 28 + s + 16, "length"
    ids.append(plain[4:20].hex())
assert len(set(ids)) == n, "record ids not distinct"
print("\n".join(sorted(ids)))
PY
}

## phase 1: everything up
publish_records 1 4 || diag "publish of phase 1 failed"
for b in a b c; do
	if wait_for "$WAIT" _shares_ge "$b" 4; then
		pass "phase 1: the reader on $b got 4 shares"
	else
		fail "phase 1: the reader on $b got 4 shares" "got $(shares "$b")"
	fi
done
sleep 1 # nothing more than those
ids_a= ids_b= ids_c=
ids_a=$(check_shares a 1 4) && ids_b=$(check_shares b 2 4) && ids_c=$(check_shares c 3 4)
ok "phase 1: each reader saw exactly its channel's shares, sealed for it by its broker" \
	test -n "$ids_a"
is "$ids_b" "$ids_a" "phase 1: broker b carried the same records as a"
is "$ids_c" "$ids_a" "phase 1: broker c carried the same records as a"
ok "phase 1: the publish queue is empty" wait_for "$WAIT" eval \
	'[ "$(sql "SELECT count(*) FROM pubq")" = 0 ]'

## phase 2: broker c down
stop_bg rd-c-1
mb_stop c
publish_records 2 3 || diag "publish of phase 2 failed"
ok "phase 2: with c down, the reader on a got its shares" wait_for "$WAIT" _shares_ge a 7
ok "phase 2: with c down, the reader on b got its shares" wait_for "$WAIT" _shares_ge b 7
ok "phase 2: c's 3 shares wait in the publish queue" wait_for "$WAIT" _queued_is c 3
ok "phase 2: nothing waits for a and b" eval '_queued_is "" 0 && _queued_is b 0'

## the gateway restarts while c is down
stop_bg gw
mv "$TEST_TMP/gw.log" "$TEST_TMP/gw-1.log"
is "$(queued c)" 3 "phase 2: the rows survive the gateway's stop"
start_bg gw "$GATEWAY_BIN" -c "$TEST_TMP/gw.conf" run
wait_for "$WAIT" _connected gw 2 || diag "the gateway did not reconnect to a and b"
ok "phase 2: the restarted gateway says what waits" \
	grep -q "3 shares wait in the publish queue for broker .* c" "$TEST_TMP/gw.log"
sleep 1
is "$(queued c)" 3 "phase 2: the rows are still queued after the restart"

## c returns
mb_start c || bail_out "broker c did not restart"
reader_start c 2
ok "phase 2: c back: its queue drains to 0" wait_for "$WAIT" _queued_is c 0
ok "phase 2: c's reader got the shares it missed" wait_for "$WAIT" _shares_ge c 7
sleep 1
ids_a= ids_c=
ids_a=$(check_shares a 1 7) && ids_c=$(check_shares c 3 7)
ok "phase 2: c's reader has exactly its channel's 7 shares" test -n "$ids_c"
is "$ids_c" "$ids_a" "phase 2: the same records on a and c"

## an unsealed record
before=$(shares a)
mosquitto_pub -h 127.0.0.1 -p "$(mb_port a)" -u clinic1 -P "$(mb_code a clinic1)" -q 1 \
	-t clinic/1/open -m "$MARK unsealed record"
_dropped_unsealed() {
	grep -q "route open: dropped a record on clinic/1/open: not sealed" "$TEST_TMP/gw.log"
}
ok "an unsealed record is dropped with a warning" wait_for "$WAIT" _dropped_unsealed
sleep 1
is "$(shares a)" "$before" "an unsealed record gives no share"

## a record too big to split: it fits the device's envelope (1 MiB), but
## framed and sealed again with the record key its secret would not fit
## one channel envelope
prefix="$MARK big record "
{
	printf '%s' "$prefix"
	head -c $((1048540 - ${#prefix})) /dev/zero | tr '\0' 'x'
} >"$TEST_TMP/big.txt"
mb_dev a clinic1 publish -t clinic/1/record -q 1 --seal -f "$TEST_TMP/big.txt" ||
	diag "publish of the big record failed"
_dropped_big() {
	grep -q "route vitals: dropped a record of [0-9]* bytes on clinic/1/record from clinic1: too big to split" \
		"$TEST_TMP/gw.log"
}
ok "a record too big to split is dropped with a clear line" wait_for "$WAIT" _dropped_big
is "$(sql "SELECT count(*) FROM pubq")" 0 "nothing queued for it"

stop_bg gw
# counter COUNTER ROUTE REASON
counter() {
	sql "SELECT count FROM medical_counters WHERE route = '$1' AND reason = '$2'"
}
is "$(counter open unsealed)" 1 "the unsealed drop is counted (medical_counters)"
is "$(counter vitals too-big)" 1 "the too-big drop is counted (medical_counters)"
# rows of a broker the configuration no longer names: kept, and said at the start
sql "INSERT INTO pubq (broker, topic, payload, route, created_at)
	VALUES ('gone', 'medical/ch/9', x'01', 'vitals', 0)"
mv "$TEST_TMP/gw.log" "$TEST_TMP/gw-2.log"
start_bg gw "$GATEWAY_BIN" -c "$TEST_TMP/gw.conf" run
_gone_said() {
	grep -q "1 shares are queued for broker gone, which is not configured" "$TEST_TMP/gw.log"
}
ok "rows for a broker no longer configured are named at the start" wait_for "$WAIT" _gone_said
stop_bg gw
is "$(queued gone)" 1 "and kept"
ok "the records' split was logged by record id" \
	eval '[ "$(grep -c "route vitals: record [0-9a-f]\{32\} split into 3 shares" "$TEST_TMP/gw-1.log")" -ge 7 ]'
leaks=$(grep -l -a -F "$MARK" "$TEST_TMP"/gw*.log "$TEST_TMP"/nokey.log \
	"$TEST_TMP"/unprotected.log 2>/dev/null)
is "$leaks" "" "no record bytes in the gateway's log"
ok "the gateway stopped cleanly" eval '! grep -qi "sanitizer\|assert" "$TEST_TMP"/gw*.log'
done_testing
