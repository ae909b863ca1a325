#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 54-attack-reissued-credentials.sh - a device removed and added again at
# once (mqttsec-acl device rm X && mqttsec-acl device add X) is a new
# identity (docs/broker-plugin.md, "Identity"): the connection made with
# the old credentials is disconnected within a second, however fast the
# two commands follow each other, and it receives none of the messages
# meant for the new X.  Before identity generations, both commits could
# fall in one poll interval: the plugin saw the same device name with the
# same rules and left the old holder connected, reading the new X's topics.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh"

# since_ms T0: milliseconds since T0 (from date +%s%N).
since_ms() {
	echo $((($(date +%s%N) - $1) / 1000000))
}

suback() {
	grep -q "Sending SUBACK to $1\$" "$MOSQ_LOG"
}

in_log() {
	grep -q -- "$2" "$TEST_TMP/$1.log"
}

kicked() {
	grep -q "disconnecting client $1: no longer allowed" "$MOSQ_LOG"
}

device x --period 1
device feeder --period 1
acl acl add allow all x 'x/#' >/dev/null
acl acl add allow pub feeder 'x/#' >/dev/null
start_plugin_broker "plugin_opt_max_ip_failures 0" "plugin_opt_max_auth_failures 0"

start_bg old timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u x -P "$(fresh x)" \
	-i x-old -q 1 -t 'x/#' -v
ok "x (old credentials) subscribed" wait_for 10 suback x-old
pub feeder "$(fresh feeder)" -q 1 -t x/data -m before
ok "it receives x's messages" wait_for 10 in_log old '^x/data before$'

rm -f "$TEST_TMP/x.step"
# the broker is stopped while both commands commit, so its next reload
# surely sees them together: the device x exists before and after, and only
# its generation tells the old identity from the new one
kill -STOP "$MOSQ_PID"
T0=$(date +%s%N)
ok "device rm x && device add x, back to back" \
	bash -c '"$1" device rm x >/dev/null && "$1" device add x --period 1 --out "$2" --force >/dev/null' \
	_ "$ACL_BIN" "$TEST_TMP/x.json"
kill -CONT "$MOSQ_PID"
ok "the old connection is disconnected (bound: 5 s)" wait_for 5 kicked x-old
diag "device rm && device add -> old connection kicked: $(since_ms "$T0") ms (promise: 1 s)"
# the new x gets its rules back and reads its topics
acl acl add allow all x 'x/#' >/dev/null
# the kick may come with a reload that saw the rm but not yet the add
_new_x_known() {
	connects x "$(fresh x)" -i x-probe
}
ok "the broker knows the new x (bound: 10 s)" wait_for 10 _new_x_known
start_bg new timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u x -P "$(fresh x)" \
	-i x-new -q 1 -t 'x/#' -v
ok "the new x subscribes with its new credentials" wait_for 10 suback x-new
for i in 1 2 3; do
	pub feeder "$(fresh feeder)" -q 1 -t x/data -m "after-$i"
done
_new_got3() {
	[ "$(grep -c '^x/data after-' "$TEST_TMP/new.log")" -eq 3 ]
}
ok "the new x receives its messages" wait_for 10 _new_got3
nok "the old connection received none of them" in_log old 'after-'
_old_refused() {
	! bg_alive old || in_log old "Connection Refused"
}
ok "the old credentials no longer connect" wait_for 10 _old_refused

done_testing
