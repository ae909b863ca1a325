#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 44-gateway-medical-join.sh - the receiving gateway (kind = medical-join,
# docs/medical.md, "Receiving") on one real broker with the mqttsec plugin:
# shares from `mqttsec-device publish --split` are rebuilt and delivered
# to the webhook (exact bytes, signed, origin sender/device) or to the
# spool (one 0600 file per record, exact bytes); garbage shares and a split
# under another sender's key are counted in `status` and never delivered;
# a flood of one-share records stays within max_pending_bytes (pending-full
# counted) while an alert on another route is still delivered.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$PLUGIN_SO" "$ACL_BIN" "$DEVICE_BIN" "$GATEWAY_BIN"
need_cmd sqlite3 timeout mosquitto_pub
WEBHOOK_PY=$top_srcdir/tests/tools/webhook_server.py
need_file "$WEBHOOK_PY"
WAIT=${MED_WAIT:-60}
. "$top_srcdir/tests/integration/brokers-lib.sh"

MARK=JOINREC$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
CH=medical/ch/0,medical/ch/1,medical/ch/2
SP=medical/sp/0,medical/sp/1,medical/sp/2

########################################################################
## one broker with the plugin
mb_init a
mb_device a gw-recv --period 2
for d in devA devF devP; do
	mb_device a "$d"
done
mb_acl a acl add allow all gw-recv 'mqttsec/status/#' >/dev/null
for f in 'medical/ch/#' 'medical/sp/#'; do
	mb_protect a "$f"
	mb_allow a sub gw-recv "$f"
	mb_allow a read gw-recv "$f"
	mb_allow a all devA "$f"
	mb_allow a all devF "$f"
done
# devP holds the keys but the broker refuses its shares 2 and 3: each of
# its records stays one share short
mb_allow a all devP 'medical/ch/#'
mb_acl a acl add deny pub devP medical/ch/1 --priority 100 >/dev/null
mb_acl a acl add deny pub devP medical/ch/2 --priority 100 >/dev/null
mb_allow a sub gw-recv 'alerts/#'
mb_allow a read gw-recv 'alerts/#'
mb_allow a pub devA 'alerts/#'
for d in gw-recv devA devF devP; do
	mb_key a 'medical/ch/#' "$d" && { [ "$d" = devP ] || mb_key a 'medical/sp/#' "$d"; } ||
		bail_out "key export failed: $(cat "$TEST_TMP/mb-acl.err")"
done
# an unprotected channel set: what arrives there is not sealed by the broker
mb_allow a sub gw-recv 'medical/op/#'
mb_allow a read gw-recv 'medical/op/#'
mb_allow a pub devA 'medical/op/#'
mb_start a || bail_out "broker did not start"

########################################################################
## record keys: clinicA (imported by the receiver) and other (not imported)
(umask 077 && echo '{"username": "keys", "keys": []}' >"$TEST_TMP/keys.json")
cat >"$TEST_TMP/keys.conf" <<EOF
[broker]
host = 127.0.0.1
port = 1
credentials = $TEST_TMP/keys.json

[store]
db = $TEST_TMP/keys.db
master_key_file = $TEST_TMP/keys.gwkey
spool_dir = $TEST_TMP/keys-spool

[route alerts]
topic = alerts/#
kind = alert
EOF
gwk() { "$GATEWAY_BIN" -q -c "$TEST_TMP/keys.conf" key "$@"; }
gwk add clinicA && gwk add other && gwk export clinicA --out "$TEST_TMP/clinicA.key" &&
	gwk export other --out "$TEST_TMP/other.key" || bail_out "record keys"

########################################################################
## the webhook endpoint (plain HTTP on loopback here; 42 and 43 use HTTPS)
WH_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
WH_DIR=$TEST_TMP/ehr
WH_LOG=$WH_DIR/requests.jsonl
_file_nonempty() {
	[ -s "$1" ]
}
start_bg webhook "$PYTHON" "$WEBHOOK_PY" --secret "$WH_SECRET" --dir "$WH_DIR" \
	--port-file "$TEST_TMP/webhook.port"
wait_for "$WAIT_TIMEOUT" _file_nonempty "$TEST_TMP/webhook.port" || bail_out "no webhook server"
WH_PORT=$(cat "$TEST_TMP/webhook.port")

########################################################################
## the receiving gateway
GW_DB=$TEST_TMP/recv.db
cat >"$TEST_TMP/recv.conf" <<EOF
[broker]
host = 127.0.0.1
port = $(mb_port a)
credentials = $(mb_creds a gw-recv)
status_topic = mqttsec/status
reconnect_min = 200ms
reconnect_max = 1s

[store]
db = $GW_DB
master_key_file = $TEST_TMP/recv.gwkey
spool_dir = $TEST_TMP/spool

[delivery]
max_attempts = 20
backoff_base = 100ms
backoff_max = 500ms

[route alerts]
topic = alerts/#
kind = alert

[route vitals-in]
kind = medical-join
channels = medical/ch/0, medical/ch/1, medical/ch/2
threshold = 2
record_key = clinicA
deliver = webhook
join_timeout = 20s
max_record = 4096
max_pending_bytes = 12288

[route vitals-spool]
kind = medical-join
channels = medical/sp/0, medical/sp/1, medical/sp/2
threshold = 2
deliver = spool

[route vitals-open]
kind = medical-join
channels = medical/op/0, medical/op/1, medical/op/2
threshold = 2
record_key = clinicA

[channel webhook]
url = http://127.0.0.1:$WH_PORT/ingest
secret = $WH_SECRET
EOF
gwr() {
	"$GATEWAY_BIN" -q -c "$TEST_TMP/recv.conf" "$@"
}
ok "key import on the receiver" gwr key import "$TEST_TMP/clinicA.key"
ok "a group for the alerts" gwr group add ops
start_bg gw-recv "$GATEWAY_BIN" -c "$TEST_TMP/recv.conf" run
_connected() {
	grep -q 'connected to broker' "$TEST_TMP/gw-recv.log"
}
wait_for "$WAIT" _connected || {
	show_log gw-recv
	bail_out "gateway did not connect"
}
sleep 1 # SUBACK

sql() {
	sqlite3 -cmd ".timeout 5000" "$GW_DB" "$1"
}
# dev NAME KEYFILE ARGS...: mqttsec-device -c NAME -K KEYFILE publish ARGS
dev() {
	local name=$1 key=$2
	shift 2
	mb_wait_step a "$name"
	timeout "$MB_CLIENT_TIMEOUT" "$DEVICE_BIN" -c "$(mb_creds a "$name")" -K "$key" publish \
		-h 127.0.0.1 -p "$(mb_port a)" -q 1 "$@"
}
posted() {
	if [ -f "$WH_LOG" ]; then wc -l <"$WH_LOG" | tr -d ' '; else echo 0; fi
}
_posted_ge() {
	[ "$(posted)" -ge "$1" ]
}
# counter ROUTE REASON: from `status --json`
counter() {
	gwr status --json | "$PYTHON" -c 'import json, sys
j = json.load(sys.stdin)
print(j["medical"].get(sys.argv[1], {}).get(sys.argv[2], 0))' "$1" "$2"
}
_counter_ge() {
	[ "$(counter "$1" "$2")" -ge "$3" ]
}

########################################################################
## records to the webhook
printf '%s one\n%s two %s\n' "$MARK" "$MARK" "$(head -c 600 /dev/urandom | base64 -w0)" \
	>"$TEST_TMP/recs.txt"
ok "devA publishes two records split 2-of-3" \
	dev devA "$TEST_TMP/clinicA.key" --split "$CH" --threshold 2 -t clinic/a/record \
	-l <"$TEST_TMP/recs.txt"
if wait_for "$WAIT" _posted_ge 2; then
	pass "two records reached the webhook"
else
	fail "two records reached the webhook" "posted: $(posted)"
	show_log gw-recv
fi
ok "exact bytes, verified signatures, headers of a record" \
	"$PYTHON" - "$WH_DIR" "$TEST_TMP/recs.txt" <<'PY'
import json, os, sys
d, recs = sys.argv[1], sys.argv[2]
want = sorted(l.rstrip(b"\n") for l in open(recs, "rb"))
got = []
for line in open(os.path.join(d, "requests.jsonl")):
    r = json.loads(line)
    assert r["verified"] and r["status"] == 200, r
    assert r["kind"] == "medical-join", r
    assert r["topic"] == "clinic/a/record", r
    assert r["origin"] == "clinicA/devA", r
    assert r["content_type"] == "application/octet-stream", r
    assert len(r["id"]) == 32 and all(c in "0123456789abcdef" for c in r["id"]), r
    got.append(open(os.path.join(d, "bodies", r["id"]), "rb").read())
assert sorted(got) == want, (len(got), len(want))
PY
_sent2() {
	[ "$(sql "SELECT count(*) FROM outbox WHERE channel = 'webhook' AND recipient = ''
	          AND state = 'sent'")" = 2 ]
}
ok "one webhook row per record, sent" wait_for 10 _sent2
ok "records counted" wait_for 10 _counter_ge vitals-in record 2

########################################################################
## records to the spool
head -c 3000 /dev/urandom >"$TEST_TMP/bin.rec"
ok "devA publishes a binary record on the spool route" \
	dev devA "$TEST_TMP/clinicA.key" --split "$SP" --threshold 2 -t clinic/a/scan \
	-f "$TEST_TMP/bin.rec"
_spooled() {
	[ "$(find "$TEST_TMP/spool" -name '*.rec' 2>/dev/null | wc -l)" -ge 1 ]
}
ok "a spool file appears" wait_for "$WAIT" _spooled
F=$(find "$TEST_TMP/spool" -name '*.rec' | head -n 1)
ok "spool file holds the record bytes exactly" cmp -s "$TEST_TMP/bin.rec" "$F"
is "$(stat -c %a "$F")" 600 "spool file is 0600"

########################################################################
## forged shares: counted, never delivered
before=$(posted)
ok "devF publishes garbage on channel 0" dev devF "$TEST_TMP/clinicA.key" -t medical/ch/0 \
	-m "garbage that is no share at all"
ok "devF splits under another sender's key" dev devF "$TEST_TMP/other.key" --split "$CH" \
	--threshold 2 -t clinic/a/record -m "$MARK forged"
ok "bad-header counted" wait_for "$WAIT" _counter_ge vitals-in bad-header 1
ok "unknown-key counted" wait_for "$WAIT" _counter_ge vitals-in unknown-key 2
sleep 1
is "$(posted)" "$before" "nothing forged reached the webhook"

########################################################################
## a flood of records that never complete: bounded, other routes served
for i in $(seq 60); do
	printf '%s flood %03d %s\n' "$MARK" "$i" "$(head -c 150 /dev/urandom | base64 -w0)"
done >"$TEST_TMP/flood.txt"
rc=0
dev devP "$TEST_TMP/clinicA.key" --split "$CH" --threshold 2 -t clinic/p/record \
	-l <"$TEST_TMP/flood.txt" >"$TEST_TMP/flood.out" 2>&1 || rc=$?
# the device says the broker refused shares (exit 77, EX_NOPERM) and goes on
is "$rc $(grep -c 'split into 3 shares' "$TEST_TMP/flood.out")" "77 60" \
	"devP floods 60 records whose shares 2 and 3 the broker refuses"
ok "pending-full counted" wait_for "$WAIT" _counter_ge vitals-in pending-full 1
ok "an alert is still delivered during the flood" \
	dev devA "$TEST_TMP/clinicA.key" -t alerts/x \
	-m '{"id": "al-1", "group": "ops", "title": "still here", "channels": ["webhook"]}'
_alert_sent() {
	[ "$(sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
	          WHERE m.msg_id = 'al-1'")" = sent ]
}
ok "the alert reached the webhook" wait_for "$WAIT" _alert_sent
ok "incomplete groups expire and are counted" wait_for "$WAIT" _counter_ge vitals-in incomplete 1
ok "gateway still running" bg_alive gw-recv
status_out=$(gwr status)
diag "$status_out"
ok "status lists the routes and outbox states" \
	eval 'grep -q vitals-in <<<"$status_out" && grep -q "^sent" <<<"$status_out"'

## a record the store refuses (another process holds the write lock) is
## kept in memory and stored once the lock goes
"$PYTHON" -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").write("locked\n")
time.sleep(float(sys.argv[3]))
c.execute("COMMIT")' "$GW_DB" "$TEST_TMP/locked" 6 &
LOCKER=$!
wait_for 30 test -s "$TEST_TMP/locked" || diag "cannot take the write lock"
spooled_before=$(find "$TEST_TMP/spool" -name '*.rec' | wc -l)
head -c 2000 /dev/urandom >"$TEST_TMP/bin2.rec"
ok "devA publishes a record while the database is locked" \
	dev devA "$TEST_TMP/clinicA.key" --split "$SP" --threshold 2 -t clinic/a/scan \
	-f "$TEST_TMP/bin2.rec"
_kept() {
	grep -q "route vitals-spool\] record [0-9a-f]* from clinicA: cannot store: .*kept in memory" \
		"$TEST_TMP/gw-recv.log"
}
if bg_alive gw-recv && kill -0 "$LOCKER" 2>/dev/null; then
	ok "store refused: the rebuilt record is kept in memory" wait_for 30 _kept
else
	skip "store refused: the rebuilt record is kept in memory" "the lock expired already"
fi
wait "$LOCKER"
_stored_retry() {
	[ "$(find "$TEST_TMP/spool" -name '*.rec' | wc -l)" -gt "$spooled_before" ]
}
ok "once the lock is gone the record is stored and spooled" wait_for "$WAIT" _stored_retry
is "$(counter vitals-spool store-failed)" 0 "no record lost (store-failed 0)"

## a share that did not arrive sealed by the broker is dropped ("unsealed")
mb_wait_step a devA
ok "devA publishes a plaintext message on an unprotected channel topic" \
	mosquitto_pub -h 127.0.0.1 -p "$(mb_port a)" -u devA -P "$(mb_code a devA)" -q 1 \
	-t medical/op/0 -m "not sealed"
ok "the unsealed share is dropped and counted" wait_for "$WAIT" _counter_ge vitals-open unsealed 1

## a retained share on a channel topic is dropped ("retained"): the broker
## sends it again at every subscription
ok "devA publishes a retained message on a channel topic" \
	dev devA "$TEST_TMP/clinicA.key" -t medical/ch/0 -r -m "retained thing"
stop_bg gw-recv
mv "$TEST_TMP/gw-recv.log" "$TEST_TMP/gw-recv-1.log"
start_bg gw-recv "$GATEWAY_BIN" -c "$TEST_TMP/recv.conf" run
ok "the restarted gateway reconnected" wait_for "$WAIT" _connected
ok "the retained share is dropped and counted" wait_for "$WAIT" _counter_ge vitals-in retained 1
ok "the drop names the route and the channel topic" \
	grep -q "\[route vitals-in\] dropped a retained share on channel 1 (medical/ch/0)" \
	"$TEST_TMP/gw-recv.log"

########################################################################
## nothing of a record in the logs or in clear in the store
leaks=$(grep -l -a -F "$MARK" "$TEST_TMP"/*.log "$TEST_TMP"/*.mqlog 2>/dev/null)
is "$leaks" "" "no record content in any gateway, device or broker log"
is "$("$PYTHON" - "$GW_DB" "$MARK" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
mark = sys.argv[2].encode()
n = 0
for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
    for row in db.execute('SELECT * FROM "%s"' % t):
        for v in row:
            v = v.encode() if isinstance(v, str) else v
            if isinstance(v, bytes) and mark in v:
                n += 1
print(n)
PY
)" 0 "no record content in clear in the receiver's database"
is "$(sql "SELECT count(*) FROM messages WHERE kind = 'medical-join' AND body_sealed IS NOT NULL")" \
	0 "delivered records cleared from the store"

stop_bg gw-recv
done_testing
