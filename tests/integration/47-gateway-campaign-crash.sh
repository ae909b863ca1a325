#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 47-gateway-campaign-crash.sh - a crash between the last approval of a
# campaign and its scheduling (docs/marketing.md, "Review"; test hook
# MQTTSEC_GW_TEST_KILL=after-approval, docs/gateway.md "Test hooks"): the
# gateway is killed (SIGKILL) right after it commits the final approval
# that arrived over MQTT.  Restarted without the hook, it schedules the
# campaign and sends it exactly once (one delivery, still one after one
# more restart).  A campaign killed after level 1 of 2 is never sent,
# even when its row is then forged to say "approved": the audit does not
# prove its second level.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/brokers-lib.sh"
need_file "$DEVICE_BIN" "$GATEWAY_BIN"
need_cmd sqlite3 sha256sum
WAIT=${CAMPAIGN_WAIT:-40}
ST=mqttsec/status

## one broker: the gateway, an author, an editor and a manager
mb_init a
mb_device a gw --period 2
for d in author ed1 mgr1; do
	mb_device a "$d"
done
mb_protect a 'marketing/#'
mb_protect a "$ST/+/content"
mb_protect a "$ST/+/review"
mb_allow a all gw "$ST/#"
mb_allow a sub gw 'marketing/#'
mb_allow a read gw 'marketing/#'
mb_allow a pub author 'marketing/#'
for d in ed1 mgr1; do
	mb_allow a pub "$d" "$ST/+/review"
done
for f in 'marketing/#' "$ST/+/review" "$ST/+/content"; do
	mb_key a "$f" gw || bail_out "key export failed: $(cat "$TEST_TMP/mb-acl.err")"
done
mb_start a || bail_out "broker did not start"

GW_DB=$TEST_TMP/gw.db
cat >"$TEST_TMP/gw.conf" <<EOF
[broker]
host = 127.0.0.1
port = $(mb_port a)
credentials = $(mb_creds a gw)
reconnect_min = 200ms
reconnect_max = 1s

[store]
db = $GW_DB
master_key_file = $TEST_TMP/gw.key
spool_dir = $TEST_TMP/spool

[http]
listen = 127.0.0.1:0
public_url = http://127.0.0.1:8080

[marketing]
quiet_hours = 00:00-00:00

[route promo]
topic = marketing/#
kind = marketing
review_levels = editors, managers
review_timeout = 72h
EOF
gwc() {
	"$GATEWAY_BIN" -q -c "$TEST_TMP/gw.conf" "$@"
}
sql() {
	sqlite3 -cmd ".timeout 5000" "$GW_DB" "$1"
}
state() {
	sql "SELECT state FROM campaigns WHERE cid = '$1'"
}
ok "group, recipient with LINE consent" eval 'gwc group add customers &&
	gwc recipient add ann --line U0123456789abcdef0123456789abcdef --group customers &&
	gwc recipient consent ann line on'
ok "reviewers" eval 'gwc reviewer add mqtt:ed1 --level editors --person alice >/dev/null &&
	gwc reviewer add mqtt:mgr1 --level managers --person bob >/dev/null'
ok "the author device submits for carol" gwc author add mqtt:author --person carol

_connected() {
	[ "$(grep -c 'connected to broker' "$TEST_TMP/$1.log")" -ge 1 ]
}
# gw_start NAME [ENV...]: the gateway, log NAME.log, connected.
gw_start() {
	local name=$1
	shift
	start_bg "$name" env "$@" "$GATEWAY_BIN" -c "$TEST_TMP/gw.conf" run
	wait_for "$WAIT" _connected "$name" || {
		show_log "$name"
		bail_out "the gateway did not connect"
	}
	# the SUBACKs follow the CONNACK
	wait_for "$WAIT" subacked "$(mb_log a)" mqttsec-gateway-gw || diag "no SUBACK to the gateway seen"
}
campaign() {
	printf '{"id": "%s", "group": "customers", "channels": ["line"], "text": "Hello {{name}}, %s"}' \
		"$1" "$2" >"$TEST_TMP/$1.json"
}
sha_of() {
	sha256sum "$TEST_TMP/$1.json" | cut -d' ' -f1
}
review() {
	mb_dev a "$1" publish -t "$ST/$2/review" -q 1 --seal \
		-m "{\"decision\": \"approve\", \"level\": \"$3\", \"sha256\": \"$(sha_of "$2")\"}"
}
logged() {
	wait_for "$WAIT" grep -q -- "$2" "$TEST_TMP/$1.log"
}
# deliveries CID: outbox rows of campaign CID's message.
deliveries() {
	sql "SELECT count(*) FROM outbox o JOIN campaigns c ON c.message = o.message
		WHERE c.cid = '$1'"
}

########################################################################
## the first run, with the hook

gw_start gw1 MQTTSEC_GW_TEST_KILL=after-approval
campaign c-k1 "crash sale"
campaign c-k2 "half sale"
ok "c-k1 published" mb_dev a author publish -t marketing/new -q 1 --seal -f "$TEST_TMP/c-k1.json"
ok "c-k2 published" mb_dev a author publish -t marketing/new -q 1 --seal -f "$TEST_TMP/c-k2.json"
ok "both stored" eval 'logged gw1 "campaign c-k1 from mqtt:author stored" &&
	logged gw1 "campaign c-k2 from mqtt:author stored"'
ok "c-k2: level 1 of 2 approved" review ed1 c-k2 editors
ok "(logged)" logged gw1 "campaign c-k2: approved a level by mqtt:ed1"
ok "c-k1: level 1 of 2 approved (the hook waits for a final approval)" review ed1 c-k1 editors
ok "(logged)" logged gw1 "campaign c-k1: approved a level by mqtt:ed1"
ok "the gateway still runs" bg_alive gw1
ok "c-k1: the last level approved over MQTT" review mgr1 c-k1 managers
ok "the hook kills the gateway right after the commit" \
	logged gw1 "test hook: killed after the approval of campaign c-k1"
rc=0
wait "${BG_PID[gw1]}" 2>/dev/null || rc=$?
is "$rc" 137 "killed by SIGKILL"
is "$(state c-k1)" approved "c-k1 committed as approved, not scheduled"
is "$(deliveries c-k1)" 0 "nothing queued for c-k1 yet"
is "$(state c-k2)" pending_review "c-k2 pending at level 2"
# a torn or forged row: c-k2 says approved, its audit lacks level 2
sql "UPDATE campaigns SET state = 'approved', level_idx = 2 WHERE cid = 'c-k2'"

########################################################################
## restarted without the hook

# report_sent CID: the sent count of campaign CID's report.
report_sent() {
	gwc campaign report "$1" --json 2>/dev/null |
		python3 -c 'import json, sys; print(sum(c["sent"] for c in json.load(sys.stdin)["channels"]))' \
			2>/dev/null
}
gw_start gw2
ok "c-k1 is scheduled and sent" wait_for "$WAIT" eval '[ "$(state c-k1)" = done ]'
ok "its report counts one delivery sent" wait_for "$WAIT" eval '[ "$(report_sent c-k1)" = 1 ]'
is "$(deliveries c-k1)" 1 "exactly one delivery"
ok "c-k2 is not scheduled: its audit does not prove level 2" \
	logged gw2 "campaign c-k2 is approved but its audit does not prove every level"
stop_bg gw2
gw_start gw3
sleep 2 # a few ticks: nothing may be queued again
is "$(deliveries c-k1)" 1 "still exactly one delivery after one more restart"
is "$(state c-k1)" done "c-k1 done"
stop_bg gw3
is "$(deliveries c-k2)" 0 "c-k2 never sent"
nok "c-k2 never started" eval '[ "$(state c-k2)" = sending ] || [ "$(state c-k2)" = done ]'
ok "the audit records the scheduling of c-k1 only" \
	eval '[ "$(sql "SELECT count(*) FROM campaign_audit WHERE event = '"'"'scheduled'"'"'")" -le 1 ]'
ok "no campaign text in the gateway's logs" eval '! grep -q "crash sale\|half sale" "$TEST_TMP"/gw*.log'
done_testing
