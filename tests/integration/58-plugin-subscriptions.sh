#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 58-plugin-subscriptions.sh - subscriptions as MQTT clients expect them
# (issue 10): a subscription is refused only when no topic it can match is
# allowed; otherwise it is granted and each delivered message is checked
# against both the sub and the read rules of its topic, retained messages
# included.  "$share/GROUP/FILTER" is checked as FILTER.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

need_cmd stdbuf

# suback NAME FILTER [ARGS...]: the SUBACK reason code (MQTT 5) of one
# subscription of device NAME: 0 granted, 135 not authorised.
suback() {
	local name=$1 filter=$2
	shift 2
	timeout "$CLIENT_TIMEOUT" mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u "$name" \
		-P "$(fresh "$name")" -t "$filter" -V 5 -d -W 2 "$@" 2>&1 |
		sed -n 's/^Subscribed (mid: [0-9]*): \([0-9]*\).*/\1/p' | head -n 1
}

# subscriber NAME CLIENTID FILTER: keep device NAME subscribed in the
# background (log in $TEST_TMP/CLIENTID.log) and wait for its SUBACK; true
# when the subscription was granted (stdbuf: mosquitto_sub flushes its
# output only after a message otherwise).
subscriber() {
	start_bg "$2" timeout 900 stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u "$1" \
		-P "$(fresh "$1")" -i "$2" -V 5 -d -v -t "$3"
	wait_for 5 grep -q "^Subscribed (mid: [0-9]*): " "$TEST_TMP/$2.log" &&
		grep -q "^Subscribed (mid: [0-9]*): 0$" "$TEST_TMP/$2.log"
}

NEXT_PUB=0
# send TOPIC MESSAGE [ARGS...]: publish (QoS 1) as the next unused publisher
# device (each device can connect once per time step).
send() {
	local t=$1 m=$2
	shift 2
	NEXT_PUB=$((NEXT_PUB + 1))
	pub "p$NEXT_PUB" "$(code "p$NEXT_PUB")" -q 1 -t "$t" -m "$m" "$@"
}

# got CLIENTID TOPIC MESSAGE: wait until the subscriber printed the message.
got() {
	wait_for 5 grep -qxF -- "$2 $3" "$TEST_TMP/$1.log"
}

# never CLIENTID TEXT: the subscriber never printed TEXT.
never() {
	! grep -qF -- "$2" "$TEST_TMP/$1.log"
}

acl group add pubs >/dev/null
for i in $(seq 1 16); do
	device "p$i"
	acl group member add pubs "p$i" >/dev/null
done
acl acl add allow pub @pubs '#' >/dev/null
for d in mon mon2 sh1 sh2 pp u1; do
	device "$d" --period 2
done
# mon: everything but secret/ (deny all); mon2: everything, but may not
# subscribe under secret/ (deny sub only: delivery checks sub rules too)
acl acl add allow all mon '#' >/dev/null
acl acl add deny all mon 'secret/#' >/dev/null
acl acl add allow all mon2 '#' >/dev/null
acl acl add deny sub mon2 'secret/#' >/dev/null
acl acl add allow all sh1 'sensors/#' >/dev/null
acl acl add allow all sh2 'other/#' >/dev/null
acl acl add allow all pp 'a/+' >/dev/null
acl acl add allow all u1 'users/%u/#' >/dev/null
start_plugin_broker

# retained messages published before anyone subscribes
send a/r keep-a -r
send secret/r keep-secret -r

# --- '#' with a deny on secret/# ---
ok "mon: the wildcard-only filter is granted despite the deny on secret/" subscriber mon mon '#'
ok "mon receives the retained a/r" got mon a/r keep-a
send secret/x hidden-1
send a/b open-1
ok "mon receives a/b" got mon a/b open-1
ok "mon never receives secret/x" never mon hidden-1
ok "mon never receives the retained secret/r" never mon keep-secret
ok "mon2: the wildcard-only filter is granted (deny sub secret/(all) only)" subscriber mon2 mon2 '#'
ok "mon2 receives the retained a/r" got mon2 a/r keep-a
send secret/y hidden-2
send a/c open-2
ok "mon2 receives a/c" got mon2 a/c open-2
ok "mon2 never receives secret/y: delivery checks the sub rules too" never mon2 hidden-2
ok "mon2 never receives the retained secret/r" never mon2 keep-secret
is "$(suback mon 'secret/#')" 135 "a filter wholly inside the deny is refused"
is "$(suback mon 'secret/+')" 135 "secret/+ is refused"

# --- '+/+' ---
ok "mon: '+/+' is granted" subscriber mon mon-pp '+/+'
send secret/z hidden-3
send a/d open-3
ok "mon '+/+' receives a/d" got mon-pp a/d open-3
ok "mon '+/+' never receives secret/z" never mon-pp hidden-3
is "$(suback pp '+/+')" 0 "pp (allow a/+): '+/+' is granted"
is "$(suback pp '+/+/+')" 135 "pp (allow a/+): '+/+/+' is refused (no allowed topic has 3 levels)"
is "$(suback pp '#')" 0 "pp (allow a/+): the wildcard-only filter is granted"
is "$(suback pp '$SYS/#')" 135 "pp: '\$SYS/(all)' is refused (a/+ never matches \$-topics)"

# --- shared subscriptions: $share/GROUP/FILTER is checked as FILTER ---
ok "sh1: '\$share/g/sensors/(all)' is granted" subscriber sh1 sh1 '$share/g/sensors/#'
send sensors/t 21.5
ok "sh1 receives sensors/t through the shared subscription" got sh1 sensors/t 21.5
is "$(suback sh2 '$share/g/sensors/#')" 135 "sh2 (no rule for sensors/): refused"
is "$(suback mon '$share/g/secret/#')" 135 "mon: a shared subscription inside its deny: refused"
is "$(suback sh1 '$share/g/+/x')" 0 "sh1: '\$share/g/+/x' is granted (sensors/x is allowed)"

# --- %u ---
ok "u1: 'users/+/t' is granted (its own users/u1/t)" subscriber u1 u1 'users/+/t'
send users/u2/t not-yours
send users/u1/t yours
ok "u1 receives users/u1/t" got u1 users/u1/t yours
ok "u1 never receives users/u2/t" never u1 not-yours
is "$(suback u1 'users/u2/#')" 135 "u1: another device's subtree is refused"

done_testing
