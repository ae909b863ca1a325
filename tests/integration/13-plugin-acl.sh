#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 13-plugin-acl.sh - topic ACLs on a real broker: default deny; pub rules
# decide what is forwarded, sub rules decide SUBACK, read rules decide what
# a subscriber receives; group rules; %u and %c.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

device watcher
device sonly
acl group add pubs >/dev/null
acl group add own >/dev/null
for d in p1 p2 p3 p4 p5 p6 p7 p8 p9 p10; do
	device "$d"
	acl group member add pubs "$d" >/dev/null
done
for d in o1 o2 o3 o4 o5; do
	device "$d"
	acl group member add own "$d" >/dev/null
done
acl acl add allow sub watcher 't/#' >/dev/null
acl acl add allow read watcher 't/#' >/dev/null
acl acl add deny read watcher 't/secret' >/dev/null
acl acl add allow sub watcher 'users/#' >/dev/null
acl acl add allow read watcher 'users/#' >/dev/null
acl acl add allow sub watcher 'clients/#' >/dev/null
acl acl add allow read watcher 'clients/#' >/dev/null
acl acl add allow pub @pubs 't/#' >/dev/null
acl acl add deny pub @pubs 't/nopub' >/dev/null
acl acl add allow all @own 'users/%u/#' >/dev/null
acl acl add allow all @own 'clients/%c/#' >/dev/null
acl acl add allow sub sonly 'allowed/#' >/dev/null
start_plugin_broker

# the watcher stays subscribed; everything it receives lands in its log
start_bg watcher timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -V 5 -i watcher \
	-u watcher -P "$(code watcher)" -v -t 't/#' -t 'users/#' -t 'clients/#'
_subscribed() {
	grep -q "Sending SUBACK to watcher" "$MOSQ_LOG"
}
wait_for 5 _subscribed || bail_out "watcher did not subscribe"
WLOG=$TEST_TMP/watcher.log

NEXT_PUB=0
# publisher: set P to the next unused publisher device (each device can
# connect once per time step).
publisher() {
	NEXT_PUB=$((NEXT_PUB + 1))
	P=p$NEXT_PUB
}

# received LINE: wait until the watcher printed LINE.
received() {
	wait_for 5 grep -qxF -- "$1" "$WLOG"
}

# marker N: publish a marker and wait for it (everything published before
# it was delivered or dropped by then).
marker() {
	publisher
	pub "$P" "$(code "$P")" -t "t/marker" -m "marker-$1" && received "t/marker marker-$1"
}

# publish allowed / denied
publisher
ok "allowed publish accepted" pub "$P" "$(code "$P")" -t t/ok -m hello
ok "subscriber receives an allowed publish" received "t/ok hello"
publisher
pub "$P" "$(code "$P")" -t t/nopub -m forbidden
ok "marker 1 received" marker 1
nok "a publish denied by a deny pub rule is not forwarded" grep -q "t/nopub" "$WLOG"

# receive (read)
publisher
pub "$P" "$(code "$P")" -t t/secret -m hidden
ok "marker 2 received" marker 2
nok "a message the subscriber may not read is not delivered" grep -q "t/secret" "$WLOG"

# QoS 1 over MQTT 5: the publisher learns about the refusal
publisher
OUT=$(pub "$P" "$(code "$P")" -V 5 -q 1 -t t/nopub -m x 2>&1)
ok "v5 QoS 1 publish denied is reported to the publisher" grep -qi 'not authori' <<<"$OUT"

# %u
ok "%u: own subtree publish accepted" pub o1 "$(code o1)" -t users/o1/temp -m 21
ok "%u: delivered" received "users/o1/temp 21"
pub o2 "$(code o2)" -t users/o1/temp -m spoofed
ok "marker 3 received" marker 3
nok "%u: publishing into another device's subtree is dropped" grep -q "spoofed" "$WLOG"

# %c
ok "%c: own client id subtree publish" pub o3 "$(code o3)" -i c-o3 -t clients/c-o3/x -m mine
ok "%c: delivered" received "clients/c-o3/x mine"
pub o4 "$(code o4)" -i c-o4 -t clients/c-o3/x -m notmine
ok "marker 4 received" marker 4
nok "%c: publishing under another client id is dropped" grep -q "notmine" "$WLOG"

# subscribe
# subscribe_denied NAME CODE FILTER [ARGS...]: true when the SUBACK refuses.
subscribe_denied() {
	local name=$1 pass=$2 filter=$3 out
	shift 3
	out=$(timeout "$CLIENT_TIMEOUT" mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u "$name" \
		-P "$pass" -t "$filter" -W 1 "$@" 2>&1)
	case $out in *"subscription requests were denied"*) return 0 ;; esac
	return 1
}
device s2
device s3
device s4
acl acl add allow sub s2 'allowed/#' >/dev/null
acl acl add allow sub s3 'allowed/#' >/dev/null
device s5
acl acl add allow sub s5 'allowed/+/x' >/dev/null
ok "rules for new devices applied" change acl add allow sub s4 'allowed/+/x'
ok "v5 subscribe without a rule: SUBACK refuses" subscribe_denied sonly "$(code sonly)" \
	'nope/#' -V 5
nok "v5 subscribe covered by a rule: SUBACK grants" subscribe_denied s2 "$(code s2)" \
	'allowed/a/#' -V 5
ok "v3.1.1 subscribe without a rule: SUBACK refuses" subscribe_denied s3 "$(code s3)" \
	'nope' -V 311
nok "a filter wider than the rule is granted: some topic it matches is allowed (rule allowed/+/x, filter allowed/#)" \
	subscribe_denied s4 "$(code s4)" 'allowed/#' -V 5
ok "a filter no allowed topic can match is refused (rule allowed/+/x, filter allowed/+/y)" \
	subscribe_denied s5 "$(code s5)" 'allowed/+/y' -V 5
ok "%u: subscribing to another device's subtree refused" subscribe_denied o5 "$(code o5)" \
	'users/o1/#' -V 5

done_testing
