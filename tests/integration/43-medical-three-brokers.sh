#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 43-medical-three-brokers.sh - medical records split 2-of-3 over three real
# Mosquitto brokers with the mqttsec plugin (docs/medical.md):
#   clinic device -> broker a -> sender gateway (kind = medical, channels
#   medical/ch/0 on a, medical/ch/1@b, medical/ch/2@c) -> receiver gateway
#   (kind = medical-join, deliver = webhook) -> tests/tools/webhook_server.py
#   over HTTPS with a self-signed CA.
# A second sender route puts the same records on three channels of broker a,
# where `mqttsec-device join` rebuilds them.
# Cases: exact bytes and valid signatures at the webhook; broker c stopped
# while records are published (they complete with 2 of 3, and c's shares
# leave the sender's queue after it returns); one channel ACL-blocked for
# the sender (records still complete); a 3-of-3 route (clinic/+/full on
# medical/all/0, medical/all/1@b, medical/all/2@c) with broker c stopped:
# its records wait (not delivered, c's shares queued at the sender) and
# complete once c returns; `join` rebuilds the same records; no record
# content in any log.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$PLUGIN_SO" "$ACL_BIN" "$DEVICE_BIN" "$GATEWAY_BIN"
need_cmd mosquitto_pub sqlite3 timeout openssl
need_python_module cryptography
WEBHOOK_PY=$top_srcdir/tests/tools/webhook_server.py
need_file "$WEBHOOK_PY"
WAIT=${MED_WAIT:-60} # records cross three brokers and two gateways: be generous

NREC=6 # records per phase
MARK=MEDREC$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
. "$top_srcdir/tests/integration/brokers-lib.sh"

########################################################################
## three brokers, each with its own plugin database (three operators)

# macl B ARGS...: mqttsec-acl on broker B, quiet; errors to acl.err
macl() {
	mb_acl "$@" >/dev/null 2>>"$TEST_TMP/acl.err"
}
mb_init a b c
for b in a b c; do
	# the gateways are devices on every broker (their own credentials there)
	mb_device "$b" gw-send --period 2
	mb_device "$b" gw-recv --period 2
	macl "$b" acl add allow all gw-send 'mqttsec/status/#'
	macl "$b" acl add allow all gw-recv 'mqttsec/status/#'
done
# channel i on its broker: protected; the sender publishes, the receiver reads
chan_setup() {
	local b=$1 t=$2
	mb_protect "$b" "$t" &&
		mb_allow "$b" all gw-send "$t" &&
		mb_allow "$b" sub gw-recv "$t" &&
		mb_allow "$b" read gw-recv "$t" &&
		mb_key "$b" "$t" gw-send &&
		mb_key "$b" "$t" gw-recv
}
if ! { chan_setup a medical/ch/0 && chan_setup b medical/ch/1 && chan_setup c medical/ch/2 &&
	chan_setup a medical/all/0 && chan_setup b medical/all/1 && chan_setup c medical/all/2; }; then
	bail_out "channel setup failed: $(cat "$TEST_TMP/mb-acl.err" "$TEST_TMP/acl.err" 2>/dev/null)"
fi
# broker a: the clinic's records, and three channels read by a joining device
mb_device a clinic1
mb_device a ehr1
mb_protect a 'clinic/+/record'
mb_protect a 'clinic/+/full'
mb_protect a 'medical/one/#'
mb_allow a pub clinic1 'clinic/1/record'
mb_allow a sub gw-send 'clinic/+/record'
mb_allow a read gw-send 'clinic/+/record'
mb_allow a pub clinic1 'clinic/1/full'
mb_allow a sub gw-send 'clinic/+/full'
mb_allow a read gw-send 'clinic/+/full'
mb_allow a all gw-send 'medical/one/#'
mb_allow a sub ehr1 'medical/one/#'
mb_allow a read ehr1 'medical/one/#'
if ! { mb_key a 'clinic/+/record' gw-send && mb_key a 'clinic/+/full' gw-send &&
	mb_key a 'medical/one/#' gw-send &&
	mb_key a 'medical/one/#' ehr1; }; then
	bail_out "key export failed: $(cat "$TEST_TMP/mb-acl.err")"
fi
for b in a b c; do
	mb_start "$b" || bail_out "broker $b did not start"
done
pass "three brokers with the plugin are up"

########################################################################
## the webhook endpoint: HTTPS with a self-signed CA

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=mqttsec-test-ca -keyout "$TEST_TMP/ca.key" -out "$TEST_TMP/ca.pem" \
	>/dev/null 2>&1 &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj /CN=127.0.0.1 -keyout "$TEST_TMP/srv.key" -out "$TEST_TMP/srv.csr" \
		>/dev/null 2>&1 &&
	printf 'subjectAltName=IP:127.0.0.1\n' >"$TEST_TMP/srv.ext" &&
	openssl x509 -req -in "$TEST_TMP/srv.csr" -CA "$TEST_TMP/ca.pem" \
		-CAkey "$TEST_TMP/ca.key" -CAcreateserial -days 2 -extfile "$TEST_TMP/srv.ext" \
		-out "$TEST_TMP/srv.pem" >/dev/null 2>&1 || bail_out "cannot make test certificates"

WH_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
WH_DIR=$TEST_TMP/ehr
WH_LOG=$WH_DIR/requests.jsonl
_file_nonempty() {
	[ -s "$1" ]
}
start_bg webhook "$PYTHON" "$WEBHOOK_PY" --secret "$WH_SECRET" --dir "$WH_DIR" \
	--port-file "$TEST_TMP/webhook.port" --tls-cert "$TEST_TMP/srv.pem" \
	--tls-key "$TEST_TMP/srv.key"
wait_for "$WAIT_TIMEOUT" _file_nonempty "$TEST_TMP/webhook.port" ||
	bail_out "webhook server did not start"
WH_PORT=$(cat "$TEST_TMP/webhook.port")

########################################################################
## the two gateways

# brokers_conf ROLE: [broker] (a) and [broker b], [broker c] for ROLE (send|recv).
brokers_conf() {
	local role=$1 b
	cat <<EOF
[broker]
host = 127.0.0.1
port = $(mb_port a)
credentials = $(mb_creds a "gw-$role")
status_topic = mqttsec/status
reconnect_min = 200ms
reconnect_max = 1s
EOF
	for b in b c; do
		cat <<EOF

[broker $b]
host = 127.0.0.1
port = $(mb_port "$b")
credentials = $(mb_creds "$b" "gw-$role")
reconnect_min = 200ms
reconnect_max = 1s
EOF
	done
}

# store_conf ROLE
store_conf() {
	cat <<EOF

[store]
db = $TEST_TMP/$1.db
master_key_file = $TEST_TMP/$1.gwkey
spool_dir = $TEST_TMP/$1-spool

[delivery]
max_attempts = 20
backoff_base = 100ms
backoff_max = 500ms
EOF
}

{
	brokers_conf send
	store_conf send
	cat <<EOF

[route vitals]
topic = clinic/+/record
kind = medical
channels = medical/ch/0, medical/ch/1@b, medical/ch/2@c
threshold = 2
record_key = vitals

[route vitals-local]
topic = clinic/+/record
kind = medical
channels = medical/one/0, medical/one/1, medical/one/2
threshold = 2
record_key = vitals

[route vitals-full]
topic = clinic/+/full
kind = medical
channels = medical/all/0, medical/all/1@b, medical/all/2@c
threshold = 3
record_key = vitals
EOF
} >"$TEST_TMP/send.conf"
{
	brokers_conf recv
	store_conf recv
	cat <<EOF

[route vitals-in]
kind = medical-join
channels = medical/ch/0, medical/ch/1@b, medical/ch/2@c
threshold = 2
record_key = vitals
deliver = webhook
join_timeout = 120s

# every share needed; shares wait for a stopped broker (phase 4)
[route full-in]
kind = medical-join
channels = medical/all/0, medical/all/1@b, medical/all/2@c
threshold = 3
record_key = vitals
deliver = webhook
join_timeout = 600s

[channel webhook]
url = https://127.0.0.1:$WH_PORT/ingest
secret = $WH_SECRET
ca_file = $TEST_TMP/ca.pem
EOF
} >"$TEST_TMP/recv.conf"

gws() {
	"$GATEWAY_BIN" -q -c "$TEST_TMP/send.conf" "$@"
}
gwr() {
	"$GATEWAY_BIN" -q -c "$TEST_TMP/recv.conf" "$@"
}

ok "key add on the sender" gws key add vitals
ok "key export writes a 0600 key file" \
	eval 'gws key export vitals --out "$TEST_TMP/vitals.key" &&
	[ "$(stat -c %a "$TEST_TMP/vitals.key")" = 600 ]'
ok "key import on the receiver" gwr key import "$TEST_TMP/vitals.key"
ok "key list shows the sender, never the key" \
	eval 'gwr key list | grep -q vitals &&
	! gwr key list | grep -qF "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\"keys\"][0][\"key\"])" "$TEST_TMP/vitals.key")"'

# connected NAME N: the gateway's log shows at least N broker connections.
_connected() {
	[ "$(grep -c 'connected to broker' "$TEST_TMP/$1.log")" -ge "$2" ]
}
start_bg gw-send "$GATEWAY_BIN" -c "$TEST_TMP/send.conf" run
start_bg gw-recv "$GATEWAY_BIN" -c "$TEST_TMP/recv.conf" run
if wait_for "$WAIT" _connected gw-send 3 && wait_for "$WAIT" _connected gw-recv 3; then
	pass "both gateways connected to the three brokers"
else
	show_log gw-send
	show_log gw-recv
	bail_out "the gateways did not connect to the three brokers"
fi
sleep 1 # SUBACKs follow the CONNACKs

# a device rebuilding the records of the all-on-broker-a route
mkdir -m 700 "$TEST_TMP/joined"
mb_wait_step a ehr1
start_bg join timeout 600 "$DEVICE_BIN" -c "$(mb_creds a ehr1)" -K "$TEST_TMP/vitals.key" \
	join -h 127.0.0.1 -p "$(mb_port a)" --channels medical/one/0,medical/one/1,medical/one/2 \
	--threshold 2 -C $((3 * NREC)) -o "$TEST_TMP/joined"
sleep 1

########################################################################
## records

ALL_RECORDS=$TEST_TMP/records.txt
: >"$ALL_RECORDS"
# publish_records PHASE [TOPIC [ALL]]: NREC records (one line each) from
# clinic1 on TOPIC (clinic/1/record), sealed, appended to ALL
# ($ALL_RECORDS).
publish_records() {
	local phase=$1 topic=${2:-clinic/1/record} all=${3:-$ALL_RECORDS} i
	local f=$TEST_TMP/records-$1.txt
	: >"$f"
	for i in $(seq "$NREC"); do
		# text with the marker, then random printable bytes of varying length
		printf '%s phase %s record %s %s\n' "$MARK" "$phase" "$i" \
			"$(head -c $((100 + i * 300)) /dev/urandom | base64 -w0)" >>"$f"
	done
	cat "$f" >>"$all"
	mb_dev a clinic1 publish -t "$topic" -q 1 --seal -l <"$f"
}

# webhook_check N [TOPIC [RECORDS]]: the webhook received on TOPIC
# (clinic/1/record) exactly the records of RECORDS ($ALL_RECORDS, N of
# them), each once, byte for byte, every request with a valid signature
# and timestamp (webhook_server.py verifies them as docs/medical.md,
# "Verifying it at the endpoint", says) and the headers of a medical
# record; no request on a topic no route sends.
webhook_check() {
	"$PYTHON" - "$WH_DIR" "${3:-$ALL_RECORDS}" "$1" "${2:-clinic/1/record}" <<'PY'
import collections, json, os, sys
d, records, n, topic = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
want = [l.rstrip(b"\n") for l in open(records, "rb")] if os.path.exists(records) else []
ids = collections.Counter()
for line in open(os.path.join(d, "requests.jsonl")):
    r = json.loads(line)
    assert r["verified"] and r["status"] == 200, r
    assert r["kind"] == "medical-join", r["kind"]
    assert r["topic"] in ("clinic/1/record", "clinic/1/full"), r["topic"]
    if r["topic"] != topic:
        continue
    assert r["origin"] == "vitals/clinic1", r["origin"]  # sender/device
    assert r["content_type"] == "application/octet-stream", r["content_type"]
    assert len(r["id"]) == 32, r["id"]
    ids[r["id"]] += 1
got = [open(os.path.join(d, "bodies", i), "rb").read() for i in ids]
assert len(want) == n, (len(want), n)
assert sorted(got) == sorted(want), "records differ: %d got, %d wanted" % (len(got), len(want))
dups = [i for i, c in ids.items() if c > 1]
assert not dups, "posted more than once: %s" % dups
PY
}

# posted: requests the webhook logged so far.
posted() {
	if [ -f "$WH_LOG" ]; then
		wc -l <"$WH_LOG" | tr -d ' '
	else
		echo 0
	fi
}
_posted_ge() {
	[ "$(posted)" -ge "$1" ]
}
sql_send() {
	sqlite3 -cmd ".timeout 5000" "$TEST_TMP/send.db" "$1"
}
queued_for() {
	sql_send "SELECT count(*) FROM pubq WHERE broker = '$1'"
}
_queued_is() {
	[ "$(queued_for "$1")" = "$2" ]
}
_queued_gt0() {
	[ "$(queued_for "$1")" -gt 0 ]
}

## phase 1: everything up
publish_records 1 || diag "publish of phase 1 failed"
if wait_for "$WAIT" _posted_ge "$NREC"; then
	pass "phase 1: $NREC records reached the webhook"
else
	fail "phase 1: $NREC records reached the webhook" "posted: $(posted)"
	show_log gw-send
	show_log gw-recv
fi
ok "phase 1: exact bytes, valid signatures, headers, each once" webhook_check "$NREC"

## phase 2: broker c stopped while records are published
mb_stop c
publish_records 2 || diag "publish of phase 2 failed"
if wait_for "$WAIT" _posted_ge $((2 * NREC)); then
	pass "phase 2: with broker c down, records completed from 2 of 3 channels"
else
	fail "phase 2: with broker c down, records completed from 2 of 3 channels" \
		"posted: $(posted)"
fi
ok "phase 2: exact bytes and signatures" webhook_check $((2 * NREC))
ok "phase 2: the shares for broker c wait in the sender's queue" _queued_gt0 c
ok "phase 2: the other brokers' queues are empty" eval '_queued_is "" 0 && _queued_is b 0'
mb_start c || bail_out "broker c did not restart"
if wait_for "$WAIT" _queued_is c 0; then
	pass "phase 2: broker c back, its shares were published (queue empty)"
else
	fail "phase 2: broker c back, its shares were published (queue empty)" \
		"queued for c: $(queued_for c)"
fi

## phase 3: channel 1 ACL-blocked for the sender on broker b
mb_change b acl add deny pub gw-send medical/ch/1 --priority 100 ||
	diag "broker b did not reload"
denied_before=$(grep -c 'Denied PUBLISH.*medical/ch/1' "$(mb_log b)")
publish_records 3 || diag "publish of phase 3 failed"
if wait_for "$WAIT" _posted_ge $((3 * NREC)); then
	pass "phase 3: with channel 1 blocked, records still complete"
else
	fail "phase 3: with channel 1 blocked, records still complete" "posted: $(posted)"
fi
ok "phase 3: exact bytes and signatures" webhook_check $((3 * NREC))
_denied_more() {
	[ "$(grep -c 'Denied PUBLISH.*medical/ch/1' "$(mb_log b)")" -gt "$denied_before" ]
}
ok "phase 3: broker b refused the shares of channel 1" wait_for 10 _denied_more
# MQTT v5: a refused PUBACK keeps the row (retried later), the rest drains
ok "phase 3: the refused shares of channel 1 stay queued, the rest drained" wait_for "$WAIT" eval \
	'[ "$(sql_send "SELECT count(*) FROM pubq WHERE topic = '"'medical/ch/1'"'")" = '"$NREC"' ] &&
	 [ "$(sql_send "SELECT count(*) FROM pubq WHERE topic <> '"'medical/ch/1'"'")" = 0 ]'
ok "phase 3: the sender logged the refusal" \
	grep -q "broker b (.*) refused share on medical/ch/1: " "$TEST_TMP/gw-send.log"
mb_change b acl add allow pub gw-send medical/ch/1 --priority 200 ||
	diag "broker b did not reload"
ok "phase 3: once allowed again, the sender's queues drained" wait_for "$WAIT" eval \
	'[ "$(sql_send "SELECT count(*) FROM pubq")" = 0 ]'

## phase 4: a 3-of-3 route (every share needed) with broker c stopped:
## its records wait and complete after c returns
FULL_RECORDS=$TEST_TMP/records-full.txt
: >"$FULL_RECORDS"
posted_before=$(posted)
# sent_to B TOPIC: PUBLISHes on TOPIC broker B sent to a subscriber (on the
# medical/all channels only the receiver subscribes)
sent_to() {
	grep -c "Sending PUBLISH to .*'$2'" "$(mb_log "$1")"
}
_sent_ge() {
	[ "$(sent_to "$1" "$2")" -ge "$3" ]
}
queued_topic() {
	sql_send "SELECT count(*) FROM pubq WHERE topic = '$1'"
}
_only_c_queued() {
	[ "$(queued_topic medical/all/2)" = "$NREC" ] &&
		[ "$(sql_send "SELECT count(*) FROM pubq WHERE topic <> 'medical/all/2'")" = 0 ]
}
mb_stop c
publish_records 4 clinic/1/full "$FULL_RECORDS" || diag "publish of phase 4 failed"
ok "phase 4: with broker c down, its $NREC shares wait in the sender's queue, the rest drained" \
	wait_for "$WAIT" _only_c_queued
ok "phase 4: brokers a and b passed their shares to the receiver" \
	wait_for "$WAIT" eval '_sent_ge a medical/all/0 "$NREC" && _sent_ge b medical/all/1 "$NREC"'
# the receiver holds 2 of 3 shares of each record: nothing to deliver yet
ok "phase 4: not delivered while broker c is down" \
	eval '[ "$(posted)" = "$posted_before" ] && webhook_check 0 clinic/1/full "$FULL_RECORDS.none" &&
	! grep -q "\[route full-in\] record" "$TEST_TMP/gw-recv.log"'
ok "phase 4: the c shares are still queued" _only_c_queued
mb_start c || bail_out "broker c did not restart"
if wait_for "$WAIT" _posted_ge $((posted_before + NREC)); then
	pass "phase 4: broker c back, the records reached the webhook"
else
	fail "phase 4: broker c back, the records reached the webhook" \
		"posted: $(posted), queued for c: $(queued_for c)"
	show_log gw-send
	show_log gw-recv
fi
ok "phase 4: exact bytes, valid signatures, headers, each once" \
	webhook_check "$NREC" clinic/1/full "$FULL_RECORDS"
ok "phase 4: the records of the 2-of-3 route unchanged" webhook_check $((3 * NREC))
ok "phase 4: the sender's queue drained" wait_for "$WAIT" eval \
	'[ "$(sql_send "SELECT count(*) FROM pubq")" = 0 ]'

## the receiver's counters
# counters reach the database within about a second
# _status_records ROUTE N
_status_records() {
	gwr status --json | "$PYTHON" -c 'import json, sys
j = json.load(sys.stdin)
sys.exit(0 if j["medical"][sys.argv[1]].get("record") == int(sys.argv[2]) else 1)' "$1" "$2"
}
ok "status: the receiver counted every record" wait_for 10 _status_records vitals-in $((3 * NREC))
ok "status: the 3-of-3 route counted its records" wait_for 10 _status_records full-in "$NREC"
status_out=$(gwr status 2>&1)
diag "$status_out"
ok "status: late shares counted (n > k), nothing waits" \
	eval 'grep -q "vitals-in  *late" <<<"$status_out" && grep -q "^(empty)" <<<"$status_out"'
ok "status shows no record content" eval '! grep -qF "$MARK" <<<"$status_out"'

## mqttsec-device join rebuilt the same records
_joined_all() {
	[ "$(find "$TEST_TMP/joined" -type f | wc -l)" -ge $((3 * NREC)) ]
}
ok "join rebuilt every record" wait_for "$WAIT" _joined_all
ok "join rebuilt exactly the records published (files 0600)" \
	"$PYTHON" - "$TEST_TMP/joined" "$ALL_RECORDS" <<'PY'
import os, stat, sys
d, records = sys.argv[1], sys.argv[2]
want = sorted(l.rstrip(b"\n") for l in open(records, "rb"))
got = []
for f in os.listdir(d):
    p = os.path.join(d, f)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
    got.append(open(p, "rb").read())
assert sorted(got) == want, "%d files, %d records" % (len(got), len(want))
PY
_join_done() {
	! bg_alive join
}
wait_for 10 _join_done || diag "join still runs after its records"
ok "join said which sender and topic on stderr" \
	eval 'grep -q vitals "$TEST_TMP/join.log" && grep -q clinic/1/record "$TEST_TMP/join.log"'

## nothing of a record in any log (the endpoint's own log aside)
leaks=$(grep -l -a -F "$MARK" "$TEST_TMP"/*.log "$TEST_TMP"/*.mqlog 2>/dev/null)
is "$leaks" "" "no record content in any gateway, device or broker log"
# db_leaks DB: cells of DB holding the marker in clear (text or blob)
db_leaks() {
	"$PYTHON" - "$1" "$MARK" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
mark = sys.argv[2].encode()
n = 0
for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
    for row in db.execute('SELECT * FROM "%s"' % t):
        for v in row:
            if isinstance(v, str):
                v = v.encode()
            if isinstance(v, bytes) and mark in v:
                n += 1
print(n)
PY
}
is "$(db_leaks "$TEST_TMP/send.db")" 0 "no record content in clear in the sender's database"
is "$(db_leaks "$TEST_TMP/recv.db")" 0 "no record content in clear in the receiver's database"

stop_bg gw-send
stop_bg gw-recv
ok "the sender stopped cleanly" eval '! grep -qi "sanitizer\|assert" "$TEST_TMP/gw-send.log"'
ok "the receiver stopped cleanly" eval '! grep -qi "sanitizer\|assert" "$TEST_TMP/gw-recv.log"'
done_testing
