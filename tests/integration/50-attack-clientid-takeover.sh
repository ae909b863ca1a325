#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 50-attack-clientid-takeover.sh - an authenticated device connects with
# another device's client id (docs/broker-plugin.md, "Client ids").
#
# Before owned client ids, Mosquitto handed the attacker the victim's id:
# it disconnected the victim, fired the victim's Last Will (on a topic the
# attacker may not publish to) and discarded the victim's persistent
# session with its queued messages.  Now the CONNECT is refused inside the
# authentication callback, before Mosquitto touches any session: the
# victim stays connected, its will does not fire, its queued messages wait
# for it.  Also: random ids keep working, the prefix and any policies, the
# ttl frees an unused id, mqttsec-acl clientid release frees it at once,
# and a client-id allow entry now admits only the device that owns the id.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh"

# since_ms T0: milliseconds since T0 (from date +%s%N).
since_ms() {
	echo $((($(date +%s%N) - $1) / 1000000))
}

# sub NAME LOG ARGS...: mosquitto_sub as device NAME with a fresh code in
# the background (log $TEST_TMP/LOG.log).
sub() {
	local name=$1 log=$2
	shift 2
	start_bg "$log" timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u "$name" \
		-P "$(fresh "$name")" -v "$@"
}

# suback CLIENTID: the broker answered the client's SUBSCRIBE.
suback() {
	grep -q "Sending SUBACK to $1\$" "$MOSQ_LOG"
}

# in_log LOG PATTERN: a background process printed a line matching PATTERN.
in_log() {
	grep -q -- "$2" "$TEST_TMP/$1.log"
}

# marker N: feeder publishes will/marker-N; true once the watcher got it
# (everything published before it has been delivered to the watcher).
marker() {
	pub feeder "$(fresh feeder)" -q 1 -t will/marker -m "marker-$1" &&
		wait_for 10 in_log watcher "^will/marker marker-$1\$"
}

# restart_broker CONF_LINE...: a new broker (new log) with these options.
restart_broker() {
	stop_bg mosquitto
	[ -f "$MOSQ_LOG" ] && mv "$MOSQ_LOG" "$MOSQ_LOG.$(date +%s%N)"
	start_plugin_broker "plugin_opt_max_ip_failures 0" "plugin_opt_max_auth_failures 0" "$@"
}

for d in victim attacker watcher feeder; do
	device "$d" --period 2
done
acl acl add allow all victim 'v/#' >/dev/null
acl acl add allow pub victim 'will/v' >/dev/null
acl acl add allow all attacker 'a/#' >/dev/null
acl acl add allow all watcher 'will/#' >/dev/null
acl acl add allow pub feeder 'v/#' >/dev/null
acl acl add allow pub feeder 'will/marker' >/dev/null
start_plugin_broker "plugin_opt_max_ip_failures 0" "plugin_opt_max_auth_failures 0"

sub watcher watcher -i watcher -t 'will/#'
ok "watcher subscribed to the will topic" wait_for 10 suback watcher

# --- the victim is connected: the attacker does not disconnect it
sub victim victim1 -i vic-id -c -q 1 -t v/in --will-topic will/v --will-payload "will of victim" --will-qos 1
ok "victim subscribed (QoS 1, clean session off, Last Will on will/v)" wait_for 10 suback vic-id
nok "attacker connecting with the victim's client id is refused" \
	connects attacker "$(fresh attacker)" -i vic-id
ok "refused in the authentication callback: id owned by another device" \
	logged "refused attacker (client id vic-id) .*client id owned by another device"
pub feeder "$(fresh feeder)" -q 1 -t v/in -m live-1
ok "the victim is still connected and receives" wait_for 10 in_log victim1 '^v/in live-1$'
ok "marker 1 reached the watcher" marker 1
nok "the victim's Last Will did not fire" in_log watcher "will of victim"
ok "the victim's process still runs" bg_alive victim1

# --- the victim is offline: its persistent session and queue are kept
stop_bg victim1
ok "victim disconnected" wait_for 10 logged "Client vic-id disconnected"
for i in 1 2 3; do
	pub feeder "$(fresh feeder)" -q 1 -t v/in -m "queued-$i"
done
nok "attacker (clean session) with the victim's id while it is offline is refused" \
	connects attacker "$(fresh attacker)" -i vic-id
nok "attacker with clean session off is refused too" \
	connects attacker "$(fresh attacker)" -i vic-id -c
ok "marker 2 reached the watcher" marker 2
nok "no Last Will fired" in_log watcher "will of victim"
start_bg victim2 timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u victim \
	-P "$(fresh victim)" -i vic-id -c -q 1 -t v/in -v -C 3
_got3() {
	[ "$(grep -c '^v/in queued-' "$TEST_TMP/victim2.log")" -eq 3 ]
}
ok "the victim reconnects and receives the 3 queued messages (session kept)" wait_for 20 _got3
ok "the victim's session was resumed (CONNACK session present)" \
	grep -q "Sending CONNACK to vic-id (1, 0)" "$MOSQ_LOG"
stop_bg victim2

# --- random ids (mosquitto_pub without -i) keep working
ok "random client id 1" connects attacker "$(fresh attacker)"
ok "random client id 2" connects attacker "$(fresh attacker)"
ok "the attacker's own fixed id" connects attacker "$(fresh attacker)" -i attacker-id

# --- mqttsec-acl clientid release frees the id within a second
ok "clientid list shows the victim's binding" \
	bash -c '"$1" clientid list | grep -q "^vic-id  *victim "' _ "$ACL_BIN"
T0=$(date +%s%N)
ok "clientid release" acl clientid release vic-id
ok "the broker applies the release (bound: 5 s)" wait_for 5 logged "mqttsec: released 1 client ids"
diag "clientid release -> applied by the broker: $(since_ms "$T0") ms (promise: 1 s)"
ok "after the release another device may bind the id" \
	connects attacker "$(fresh attacker)" -i vic-id
nok "... and then the id is the attacker's: the victim is refused" \
	connects victim "$(fresh victim)" -i vic-id
acl clientid release vic-id >/dev/null

# --- prefix policy
restart_broker "plugin_opt_clientid_policy prefix"
ok "prefix: the username itself" connects attacker "$(fresh attacker)" -i attacker
ok "prefix: username-suffix" connects attacker "$(fresh attacker)" -i attacker-7
nok "prefix: another device's prefix is refused" connects attacker "$(fresh attacker)" -i victim-1
nok "prefix: username without a dash is refused" connects attacker "$(fresh attacker)" -i attackerX
nok "prefix: a random id is refused" connects attacker "$(fresh attacker)"

# --- any policy: no binding (the old behaviour, documented as unsafe)
restart_broker "plugin_opt_clientid_policy any"
ok "victim binds nothing under any" connects victim "$(fresh victim)" -i any-id
ok "any: another device may use the same id" connects attacker "$(fresh attacker)" -i any-id

# --- ttl: an id unused for the ttl is free again; an allow entry for a
# client id admits only the device that owns the id.  The ttl (40 s) only
# has to outlast three CONNECTs on a busy machine; the expiry is awaited.
acl list add allow username victim >/dev/null
acl list add allow clientid pinned-id >/dev/null
restart_broker "plugin_opt_clientid_ttl 40s" "plugin_opt_allowlist on"
ok "victim binds pinned-id" connects victim "$(fresh victim)" -i pinned-id
T0=$(date +%s%N)
nok "attacker with the allow-listed client id of another device is refused" \
	connects attacker "$(fresh attacker)" -i pinned-id
ok "... because the id is owned" \
	logged "refused attacker (client id pinned-id) .*client id owned by another device"
nok "attacker with an id on no allow entry is refused" \
	connects attacker "$(fresh attacker)" -i other-id
_id_expired() {
	connects attacker "$(fresh attacker)" -i pinned-id
}
ok "after the ttl (40 s) unused, the id is free" wait_for 60 _id_expired
diag "pinned-id free again $(since_ms "$T0") ms after its last use (ttl 40 s)"
nok "... and now the attacker owns it: the victim is refused" \
	connects victim "$(fresh victim)" -i pinned-id

done_testing
