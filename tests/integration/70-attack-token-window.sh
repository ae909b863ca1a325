#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 70-attack-token-window.sh - outside attacker, connect tokens
# (docs/broker-plugin.md, "Connect tokens"): a token captured on the wire
# and used once stays refused after its token_seen row was pruned, when the
# broker restarts with a wider plugin_opt_replay_window (which would put the
# old token back inside the window).  The plugin keeps the time below which
# it pruned (settings token_floor) and refuses tokens older than that.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh"

need_cmd sqlite3
TOOL="$top_srcdir/tests/tools/conntoken.py"

device dev1

token() {
	python3 "$TOOL" make --creds "$TEST_TMP/$1.json" --cid "$2" ${3:+--ts-ms "$3"}
}
seen_rows() {
	sqlite3 "$MQTTSEC_DB" "SELECT count(*) FROM token_seen WHERE username = 'dev1'"
}
no_seen_rows() {
	[ "$(seen_rows)" = 0 ]
}
floor() {
	sqlite3 "$MQTTSEC_DB" "SELECT value FROM settings WHERE name = 'token_floor'"
}

# a narrow window: the row of a used token is pruned within ~12 s
start_plugin_broker "plugin_opt_replay_window 1"
TK=$(token dev1 dev1-a)
ok "the device logs in with a token" connects dev1 "$TK" -i dev1-a
is "$(seen_rows)" 1 "its nonce is in token_seen"
ok "the row is pruned once the window has passed" wait_for 40 no_seen_rows
ok "the prune floor is recorded" test -n "$(floor)"
stop_bg mosquitto

# the operator widens the window; the attacker replays the captured token
start_plugin_broker "plugin_opt_replay_window 300"
nok "the captured token is refused after the restart with a wider window" \
	connects dev1 "$TK" -i dev1-a
ok "refused as older than the replay state" \
	logged "refused dev1 (client id dev1-a).*connect token older than the replay state"
ok "a fresh token still works" connects dev1 "$(token dev1 dev1-a)" -i dev1-a
stop_bg mosquitto
done_testing
