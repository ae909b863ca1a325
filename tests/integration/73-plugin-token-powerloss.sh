#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 73-plugin-token-powerloss.sh - connect tokens and a power loss
# (docs/broker-plugin.md, "Connect tokens", "Power loss and clean stops"):
# a clean stop ends the token journal with a clean-stop record and the next
# start accepts tokens made before it; after an unclean stop whose newest
# nonces were lost (simulated: SIGKILL, then the journal emptied and the
# nonces deleted from token_seen, as a power loss before the kernel wrote
# them back could) the start raises token_floor, so the lost token cannot
# be replayed, such refusals do not count toward bans, and tokens made
# after the floor (or over a second ahead, fsynced) work.  In database
# mode every start raises the floor, and a peer broker on the same
# database takes up the floor the other one raised.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

need_cmd sqlite3
TOOL="$top_srcdir/tests/tools/conntoken.py"

device dev1

token() {
	python3 "$TOOL" make --creds "$TEST_TMP/$1.json" --cid "$2" ${3:+--ts-ms "$3"}
}
now_ms() {
	python3 -c 'import time; print(int(time.time() * 1000))'
}
floor() {
	sqlite3 "$MQTTSEC_DB" "SELECT value FROM settings WHERE name = 'token_floor'"
}
count() {
	grep -c -- "$1" "$MOSQ_LOG" 2>/dev/null
}
_past_floor() {
	[ "$(($(now_ms) / 1000))" -ge "$(floor)" ]
}
JOURNAL=$MQTTSEC_DB-tokens

start_plugin_broker "plugin_opt_max_auth_failures 3" "plugin_opt_max_ip_failures 0"
is "$(count 'did not stop cleanly')" 0 "a first start (no journal yet) is clean"
ok "a token connects" connects dev1 "$(token dev1 dev1-a)" -i dev1-a
TP=$(token dev1 dev1-a)
stop_bg mosquitto
ok "a clean stop ends the journal with a clean-stop record" \
	eval "tail -n 1 '$JOURNAL' | grep -q ' clean-stop '"
start_plugin_broker "plugin_opt_max_auth_failures 3" "plugin_opt_max_ip_failures 0"
is "$(count 'did not stop cleanly')" 0 "the start after a clean stop is clean"
ok "a token made before a clean restart is accepted" connects dev1 "$TP" -i dev1-a

T2=$(token dev1 dev1-a)
ok "a token connects" connects dev1 "$T2" -i dev1-a
kill -KILL "$MOSQ_PID"
wait "$MOSQ_PID" 2>/dev/null
# the power loss: what was not written back is gone
: >"$JOURNAL"
sqlite3 "$MQTTSEC_DB" "DELETE FROM token_seen"
T_START=$(($(now_ms) / 1000))
start_plugin_broker "plugin_opt_max_auth_failures 3" "plugin_opt_max_ip_failures 0"
is "$(count 'the last run did not stop cleanly')" 1 "the start after the crash is unclean"
ok "token_floor is past the start" test "$(floor)" -gt "$T_START"
for i in 1 2 3 4; do
	nok "the token whose nonce was lost is refused ($i)" connects dev1 "$T2" -i dev1-a
done
ok "logged as made before the unclean start" \
	logged "refused dev1 (client id dev1-a).*made before the broker's unclean start"
AHEAD=$(token dev1 dev1-a $(($(now_ms) + 5000)))
ok "a token 5 s ahead (fsynced) is accepted at once" connects dev1 "$AHEAD" -i dev1-a
nok "and not twice" connects dev1 "$AHEAD" -i dev1-a
ok "the clock passes the floor" wait_for 10 _past_floor
ok "a token made now connects (the refusals did not ban dev1)" \
	connects dev1 "$(token dev1 dev1-a)" -i dev1-a
is "$(count 'banned username dev1')" 0 "no ban (only the replay of a used token counted)"
stop_bg mosquitto

# database mode: every start raises the floor; a peer takes it up
start_plugin_broker "plugin_opt_totp_step_commit database"
is "$(count 'database mode start')" 1 "a database-mode start raises the floor"
ok "the clock passes the floor" wait_for 10 _past_floor
ok "a token connects in database mode" connects dev1 "$(token dev1 dev1-b)" -i dev1-b
TB=$(token dev1 dev1-b)
PEER_PORT=$(free_port)
sed -e "s/^listener .*/listener $PEER_PORT 127.0.0.1/" \
	-e "s#^log_dest file .*#log_dest file $TEST_TMP/peer.log#" "$MOSQ_CONF" >"$TEST_TMP/peer.conf"
PEER_PRELOAD=$(_san_preload "$PLUGIN_SO")
if [ -n "$PEER_PRELOAD" ]; then
	# a sanitizer build: the plugin needs its runtimes preloaded, as lib.sh does
	start_bg peer env LD_PRELOAD="$PEER_PRELOAD" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
		"$MOSQUITTO_BIN" -c "$TEST_TMP/peer.conf"
else
	start_bg peer "$MOSQUITTO_BIN" -c "$TEST_TMP/peer.conf"
fi
ok "the peer broker on the same database starts" wait_port "$PEER_PORT"
ok "the first broker takes up the peer's floor" \
	wait_for 10 logged "token_floor raised to .* by another broker"
nok "a token made before the peer's start is refused by the first broker" \
	connects dev1 "$TB" -i dev1-b
ok "logged" logged "refused dev1 (client id dev1-b).*made before the broker's unclean start"
stop_bg peer
stop_bg mosquitto
done_testing
