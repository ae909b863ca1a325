#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 111-plugin-key-rotate-online.sh - rotation under traffic loses no message
# for an online subscriber (docs/payload-encryption.md, "Online keys" and
# "Keys that do not wear out"): sub1 was enrolled before `topic protect`
# and has no key in its file; `mqttsec-device subscribe` fetches at start
# and from then on only learns keys online (pushes, or asking when it meets
# an unknown key id).  A publisher sends 300 messages at QoS 1 while the
# plugin rotates the key every 30 seals (plugin_opt_key_max_seals 40, no
# announce period, so a message under a new key can reach the subscriber
# before the push of that key) and mqttsec-acl rotates it by hand twice: the
# subscriber prints every one of the 300 exactly once, each opened.  A
# second online subscriber, sub2, then loses its read right: that rotates
# the key ("Revoking rotates"), and the push of the new key reaches sub1
# but not sub2 (no grant recorded, no key in its file).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN"

N=300
pdevice sub1
pdevice sub2
pdevice p1
acl acl add allow all sub1 'ro/#' >/dev/null
acl acl add allow all sub2 'ro/#' >/dev/null
acl acl add allow pub p1 'ro/#' >/dev/null
acl topic protect 'ro/#' >/dev/null || bail_out "topic protect failed"
is "$(topickeys sub1 'ro/#' | wc -l)" 0 "sub1's file holds no topic key"

# nkeys: how many topic keys ro/# has had.
nkeys() {
	sqlite3 "$MQTTSEC_DB" "SELECT count(*) FROM keys WHERE purpose = 'topic' AND owner = 'ro/#'"
}

start_plugin_broker "plugin_opt_key_max_seals 40" "plugin_opt_key_announce 0"
start_bg sub1 "$DEVICE_BIN" -c "$TEST_TMP/sub1.json" subscribe -h 127.0.0.1 -p "$MOSQ_PORT" \
	-t 'ro/#' -v -q 1 -i sub1
start_bg sub2 "$DEVICE_BIN" -c "$TEST_TMP/sub2.json" subscribe -h 127.0.0.1 -p "$MOSQ_PORT" \
	-t 'ro/#' -v -q 1 -i sub2
SLOG=$TEST_TMP/sub1.log
for s in sub1 sub2; do
	ok "$s fetches the key at start" \
		wait_for 10 logged "mqttsec: sent 1 topic keys of 1 filters to client $s "
	ok "$s subscribed" wait_for 10 grep -q "Sending SUBACK to $s" "$MOSQ_LOG"
done

# three batches of 100; mqttsec-acl rotates by hand between them (not
# during one: with a bound of 40 seals, a seal-count rotation that finds
# mqttsec-acl holding the lock would let the key reach its bound, and
# messages would be refused as key-worn-out, as documented)
rc=0
for b in 0 1 2; do
	if [ "$b" -gt 0 ]; then
		acl key rotate 'ro/#' --grace 600 >/dev/null || rc=1
	fi
	seq $((b * 100 + 1)) $((b * 100 + 100)) |
		devrun p1 publish -t ro/t -q 1 -l --seal || rc=$?
done
is "$rc" 0 "the publisher sent $N messages, each acknowledged (2 rotations by hand between)"
_all() {
	[ "$(grep -c '^ro/t p1 [0-9]*$' "$SLOG")" -ge "$N" ]
}
ok "sub1 printed $N messages" wait_for 60 _all
is "$(grep '^ro/t p1 [0-9]*$' "$SLOG" | awk '{ print $3 }' | sort -n | uniq | wc -l)" "$N" \
	"each of them once"
is "$(grep '^ro/t p1 [0-9]*$' "$SLOG" | awk '{ print $3 }' | sort -n | tr '\n' ' ')" \
	"$(seq 1 "$N" | tr '\n' ' ')" "1..$N, none lost"
NK=$(nkeys)
ok "the key rotated under the traffic ($NK keys: by seal count and by hand)" test "$NK" -ge 12
is "$(drops key-worn-out)" 0 "no message refused at the hard bound"
nok "sub1 could open everything and dropped nothing" \
	grep -q 'cannot open message\|dropped' "$SLOG"
_all2() {
	[ "$(grep -c '^ro/t p1 [0-9]*$' "$TEST_TMP/sub2.log")" -ge "$N" ]
}
ok "sub2 printed $N messages too" wait_for 60 _all2
is "$(grep '^ro/t p1 [0-9]*$' "$TEST_TMP/sub2.log" | awk '{ print $3 }' | sort -n | uniq |
	tr '\n' ' ')" "$(seq 1 "$N" | tr '\n' ' ')" "sub2: 1..$N, each once"

# --- sub2 loses its read right: the filter rotates, the push skips sub2
grants() {
	sqlite3 "$MQTTSEC_DB" "SELECT count(*) FROM key_grants WHERE username = '$1' AND key_id = $2"
}
has_key() {
	topickeys "$1" 'ro/#' | grep -q "^$2 "
}
K=$(sqlite3 "$MQTTSEC_DB" "SELECT max(id) FROM keys WHERE purpose = 'topic' AND owner = 'ro/#'")
ok "sub2 holds the newest key $K" has_key sub2 "$K"
RUNS=$(grep -c 'mqttsec: pushed new topic keys' "$MOSQ_LOG")
RID=$(acl acl show | awk '$5 == "sub2" { print $1 }')
ok "sub2's rule removed" acl acl rm "$RID"
NEW=$(sqlite3 "$MQTTSEC_DB" "SELECT max(id) FROM keys WHERE purpose = 'topic' AND owner = 'ro/#'")
ok "the removal rotated the key ($K -> $NEW)" test "$NEW" -gt "$K"
ok "sub1 gets the new key pushed" wait_for 20 has_key sub1 "$NEW"
_run_done() {
	[ "$(grep -c 'mqttsec: pushed new topic keys' "$MOSQ_LOG")" -gt "$RUNS" ]
}
ok "the run of pushes ended" wait_for 20 _run_done
is "$(grants sub1 "$NEW")" 1 "sub1's grant of the new key is on record"
is "$(grants sub2 "$NEW")" 0 "sub2 got no grant of it"
nok "and no new key in sub2's file" has_key sub2 "$NEW"
diag "key pushes: $(grep -c 'mqttsec: pushed new topic keys' "$MOSQ_LOG") runs;" \
	"requests answered: $(grep -c 'mqttsec: sent .* to client sub1' "$MOSQ_LOG")"
stop_bg sub1
stop_bg sub2
stop_bg mosquitto
done_testing
