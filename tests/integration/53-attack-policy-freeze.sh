#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 53-attack-policy-freeze.sh - attack: one rule freezes all policy changes
# (issue 10, item 4).  mqttsec-acl used to accept a deny filter of 1001
# levels that the plugin cannot load; the plugin then kept its old view
# forever (disabling a device or adding a deny rule no longer applied), and
# after a restart the broker did not start at all.
#
# Now: mqttsec-acl refuses such a rule (acl add and import, with the plugin's
# own check), and a rule the plugin cannot use anyway (written by hand or by
# an older CLI) denies its subject everything while the rest of the policy
# applies, reloads go on, and the broker starts.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

need_cmd sqlite3 md5sum

# since_ms T0: milliseconds since T0 (from date +%s%N).
since_ms() {
	echo $((($(date +%s%N) - $1) / 1000000))
}

# sql STATEMENTS: run SQL on the test database (prints results).
sql() {
	sqlite3 -cmd ".timeout 5000" "$MQTTSEC_DB" "$1"
}

# dbsum: a digest of the whole database content.
dbsum() {
	sqlite3 -cmd ".timeout 5000" "$MQTTSEC_DB" .dump | md5sum
}

# subscriber NAME CLIENTID FILTER: keep device NAME subscribed in the
# background (log in $TEST_TMP/CLIENTID.log) and wait for its SUBACK.
subscriber() {
	start_bg "$2" timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u "$1" \
		-P "$(fresh "$1")" -i "$2" -v -t "$3"
	wait_for 5 grep -q "Sending SUBACK to $2\$" "$MOSQ_LOG"
}

# kicked CLIENTID: the broker disconnected the client on the plugin's behalf.
kicked() {
	grep -q "disconnecting client $1: no longer allowed" "$MOSQ_LOG"
}

# suback NAME FILTER: the MQTT 5 SUBACK reason code for one subscription of
# device NAME (0 granted, 135 not authorised).
suback() {
	timeout "$CLIENT_TIMEOUT" mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u "$1" \
		-P "$(fresh "$1")" -t "$2" -V 5 -d -W 2 2>&1 |
		sed -n 's/^Subscribed (mid: [0-9]*): \([0-9]*\).*/\1/p' | head -n 1
}

NEXT_PUB=0
# publisher: set P to the next unused publisher device (each device can
# connect once per time step).
publisher() {
	NEXT_PUB=$((NEXT_PUB + 1))
	P=p$NEXT_PUB
}

# send TOPIC MESSAGE: publish (QoS 1) as the next publisher device.
send() {
	publisher
	pub "$P" "$(code "$P")" -q 1 -t "$1" -m "$2"
}

# received CLIENTID LINE: wait until the subscriber CLIENTID printed LINE.
received() {
	wait_for 5 grep -qxF -- "$2" "$TEST_TMP/$1.log"
}

acl group add pubs >/dev/null
for i in $(seq 1 12); do
	device "p$i"
	acl group member add pubs "p$i" >/dev/null
done
acl acl add allow pub @pubs '#' >/dev/null
device watcher
acl acl add allow sub watcher '#' >/dev/null
acl acl add allow read watcher '#' >/dev/null
for d in victim other gm kd; do
	device "$d" --period 2
done
acl acl add allow all victim 'v/#' >/dev/null
acl acl add allow all other 'o/#' >/dev/null
acl acl add allow all kd 'o/#' >/dev/null
acl group add grp >/dev/null
acl group member add grp gm >/dev/null
acl acl add allow all @grp 'g/#' >/dev/null

DEEP1001=$(python3 -c 'print("a/" * 1000 + "#")')
DEEP1000=$(python3 -c 'print("a/" * 999 + "#")')

# --- the CLI refuses what the plugin cannot use ---
SUM=$(dbsum)
OUT=$(acl acl add deny all victim "$DEEP1001" 2>&1)
RC=$?
ok "acl add of a 1001-level deny filter exits non-zero" [ "$RC" -ne 0 ]
ok "with a clear message" grep -q "invalid rule: topic filter deeper than 1000 levels" <<<"$OUT"
diag "acl add: $(head -c 200 <<<"$OUT")"
is "$(dbsum)" "$SUM" "acl add wrote nothing"
printf 'acl allow sub other o/extra\nacl deny all victim %s\n' "$DEEP1001" >"$TEST_TMP/deep.txt"
OUT=$(acl import "$TEST_TMP/deep.txt" 2>&1)
RC=$?
ok "import of a file holding one exits non-zero" [ "$RC" -ne 0 ]
ok "naming the line and the reason" grep -q "deep.txt:2: .*deeper than 1000 levels" <<<"$OUT"
is "$(dbsum)" "$SUM" "import wrote nothing (not even the good line)"
ok "1000 levels, the plugin's limit, are accepted" acl acl add deny all victim "$DEEP1000"

# --- a rule the plugin cannot use, written behind mqttsec-acl's back ---
ID=$(sql "INSERT INTO acl_rules (effect, access, subject, filter, priority, created_at)
VALUES ('deny', 'all', 'victim', '$DEEP1001', 0, 0); SELECT last_insert_rowid();")
start_plugin_broker "plugin_opt_max_ip_failures 0" "plugin_opt_max_auth_failures 0"
pass "the broker starts with a rule it cannot use"
ok "the rule is logged with its id, subject and reason" logged \
	"deny acl rule id $ID (subject victim) cannot be used: topic filter deeper than 1000 levels"
nok "its filter is never logged" grep -q "a/a/a/a/a/a/a/a" "$MOSQ_LOG"

ok "watcher subscribed to everything" subscriber watcher watcher '#'
is "$(suback victim 'v/#')" 135 "the rule's subject is denied everything: subscribe refused"
pub victim "$(fresh victim)" -q 1 -t v/x -m from-victim
send o/x from-p
ok "another device's message is delivered" received watcher "o/x from-p"
nok "the subject's publish was dropped" grep -q from-victim "$TEST_TMP/watcher.log"
is "$(suback other 'o/#')" 0 "other devices are unaffected: subscribe granted"
pub other "$(fresh other)" -q 1 -t o/y -m from-other
ok "other devices are unaffected: publish delivered" received watcher "o/y from-other"

# --- a group rule the plugin cannot use, added while the broker runs ---
ok "gm subscribed to g/ (multi-level)" subscriber gm gm-sub 'g/#'
send g/x before
ok "gm receives g/x" received gm-sub "g/x before"
BEFORE=$(reloads)
GID=$(sql "PRAGMA ignore_check_constraints = ON;
INSERT INTO acl_rules (effect, access, subject, filter, priority, created_at)
VALUES ('deny', 'publish', '@grp', 'g/#', 0, 0); SELECT last_insert_rowid();")
ok "the reload with the group's bad rule is applied" wait_for 5 _reloaded_since "$BEFORE"
ok "and logged" logged "deny acl rule id $GID (subject @grp) cannot be used: unknown access"
send g/x after
ok "the watcher receives g/x after" received watcher "g/x after"
is "$(suback gm 'g/#')" 135 "every member of the group is denied everything"
nok "the member no longer receives g/x" grep -q "g/x after" "$TEST_TMP/gm-sub.log"

# --- later changes still take effect (bounded waits; the target is 1 s) ---
ok "kd subscribed" subscriber kd kd-sub 'o/#'
T0=$(date +%s%N)
acl device disable kd >/dev/null
ok "device disable still disconnects the device" wait_for 5 kicked kd-sub
diag "device disable -> kick: $(since_ms "$T0") ms"
ok "other subscribed" subscriber other o-sub 'o/#'
T0=$(date +%s%N)
acl list add deny clientid o-sub >/dev/null
ok "a new deny list entry still disconnects its client" wait_for 5 kicked o-sub
diag "list add deny -> kick: $(since_ms "$T0") ms"
T0=$(date +%s%N)
BEFORE=$(reloads)
acl acl add deny read watcher 'o/secret' >/dev/null
ok "a new deny rule is loaded" wait_for 5 _reloaded_since "$BEFORE"
diag "acl add deny -> reload: $(since_ms "$T0") ms"
send o/secret hidden
send o/marker m1
ok "marker received" received watcher "o/marker m1"
nok "a new deny rule still takes effect" grep -q "o/secret" "$TEST_TMP/watcher.log"

# --- and the broker restarts with both rules in the database ---
stop_bg watcher
stop_bg gm-sub
stop_bg mosquitto
start_plugin_broker "plugin_opt_max_ip_failures 0" "plugin_opt_max_auth_failures 0"
pass "the broker restarts"
ok "logging both rules once for the load" logged "2 rows cannot be used (2 acl rules, 0 list entries); 2 subjects are denied everything"
is "$(suback other 'o/#')" 0 "other devices still work after the restart"

done_testing
