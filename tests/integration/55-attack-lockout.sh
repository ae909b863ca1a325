#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 55-attack-lockout.sh - an outsider who knows a device name must not be
# able to keep it offline (docs/broker-plugin.md, "Failed logins and
# automatic bans"):
#   - wrong codes for alice from 127.0.0.2 ban the pair (alice, 127.0.0.2)
#     only: alice still connects from 127.0.0.1, and her client there stays
#     connected; a right code from 127.0.0.2 is refused while the pair is
#     banned;
#   - failures for one username from several addresses lead to a shorter
#     username-wide ban that grows on repeat;
#   - devices behind one address (NAT) each failing a little do not ban the
#     address; one address spraying usernames is banned.
# Source addresses 127.0.0.N are bound with mosquitto_pub/sub -A.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

# from ADDR NAME CODE: true when the broker accepts NAME's CONNECT from ADDR.
from() {
	local addr=$1
	shift
	connects "$1" "$2" -A "$addr"
}

# subscriber NAME CLIENTID ADDR CODE: keep NAME subscribed from ADDR in the
# background and wait for its SUBACK.
subscriber() {
	start_bg "$2" timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -A "$3" -u "$1" \
		-P "$4" -i "$2" -t "probe/$2"
	wait_for 5 grep -q "Sending SUBACK to $2\$" "$MOSQ_LOG"
}

# kicked CLIENTID: the plugin had the broker disconnect the client.
kicked() {
	grep -q "disconnecting client $1: no longer allowed" "$MOSQ_LOG"
}

device alice
device bob
device carol
for i in 1 2 3 4 5; do
	device "nat$i"
done
device spray1
device good
for d in alice bob; do
	acl acl add allow all "$d" 'probe/#' >/dev/null
done

# --- the attack: wrong codes for alice from another address ---
# (only the option names that existed before fair lockout: this part shows
# the old behaviour, where alice was banned everywhere)
start_plugin_broker "plugin_opt_max_auth_failures 3" "plugin_opt_max_ip_failures 1000" \
	"plugin_opt_failure_window 600" "plugin_opt_ban_seconds 600" "plugin_opt_totp_window 3"
ok "alice subscribed from 127.0.0.1" subscriber alice alice-home 127.0.0.1 "$(code alice 0)"
ok "alice also subscribed from 127.0.0.2" subscriber alice alice-away 127.0.0.2 "$(code alice 1)"
ok "bob subscribed from 127.0.0.2" subscriber bob bob-away 127.0.0.2 "$(code bob 0)"
for i in 1 2 3; do
	nok "attacker at 127.0.0.2: wrong code $i for alice" from 127.0.0.2 alice "$(wrong_code alice)"
done
ok "the pair is banned" logged "banned username alice from address 127.0.0.2 for 600 s after 3 failed logins"
nok "no username-wide ban" logged "banned username alice for"
ok "alice's client at 127.0.0.2 is disconnected" wait_for 5 kicked alice-away
nok "alice's client at 127.0.0.1 stays connected" kicked alice-home
nok "bob's client at 127.0.0.2 stays connected" kicked bob-away
ok "alice's subscriber at 127.0.0.1 still runs" bg_alive alice-home
C=$(code alice 2)
nok "a right code from the banned pair is refused" from 127.0.0.2 alice "$C"
ok "refused as banned" logged "refused alice .* from 127.0.0.2: banned after failed logins"
ok "the same right code from 127.0.0.1 is accepted" from 127.0.0.1 alice "$C"
ok "bob still connects from 127.0.0.2" from 127.0.0.2 bob "$(code bob 1)"
_ban_listed() {
	acl list show --all | grep "auth-failures" | grep -q alice
}
ok "the pair ban is not a deny list entry (memory only)" settle 1 _ban_listed
stop_bg alice-home
stop_bg bob-away
stop_bg mosquitto

# --- failures from several addresses: a shorter, growing username-wide ban ---
start_plugin_broker "plugin_opt_max_auth_failures 3" "plugin_opt_user_ban_addresses 3" \
	"plugin_opt_user_ban_seconds 30" "plugin_opt_ban_seconds 600" \
	"plugin_opt_user_ban_max_seconds 600" "plugin_opt_max_ip_failures 1000" \
	"plugin_opt_failure_window 600" "plugin_opt_totp_window 3"
nok "carol: wrong code from 127.0.0.2" from 127.0.0.2 carol "$(wrong_code carol)"
nok "carol: wrong code from 127.0.0.3" from 127.0.0.3 carol "$(wrong_code carol)"
nok "no ban after 2 failures from 2 addresses" logged "banned username carol"
nok "carol: wrong code from 127.0.0.4" from 127.0.0.4 carol "$(wrong_code carol)"
ok "username-wide ban after failures from 3 addresses, shorter than a pair ban" \
	logged "banned username carol for 30 s after 3 failed logins from 3 addresses (ban 1 of this username)"
C=$(code carol 0)
nok "carol refused everywhere while banned" from 127.0.0.1 carol "$C"
_carol_id() {
	acl --json list show --all | python3 -c 'import json, sys
ids = [e["id"] for e in json.load(sys.stdin) if e.get("pattern") == "carol"]
print(ids[-1] if ids else "")'
}
_carol_listed() {
	[ -n "$(_carol_id)" ]
}
ok "the username-wide ban is a deny list entry" wait_for 5 _carol_listed
# lift it by hand (rather than wait): the plugin still remembers the repeat
ok "ban lifted with mqttsec-acl list rm" change list rm "$(_carol_id)"
_carol_in() {
	from 127.0.0.1 carol "$C"
}
ok "carol accepted once the ban is lifted" wait_for 5 _carol_in
for a in 5 6 7; do
	nok "carol: wrong code from 127.0.0.$a" from "127.0.0.$a" carol "$(wrong_code carol)"
done
ok "the next username-wide ban is twice as long" \
	logged "banned username carol for 60 s after 3 failed logins from 3 addresses (ban 2 of this username)"
stop_bg mosquitto

# --- NAT against spraying ---
start_plugin_broker "plugin_opt_max_auth_failures 3" "plugin_opt_max_ip_failures 12" \
	"plugin_opt_max_ip_usernames 5" "plugin_opt_failure_window 600" \
	"plugin_opt_ban_seconds 600" "plugin_opt_totp_window 3"
# four devices behind 127.0.0.3 fail twice each; one of them keeps failing
for i in 1 2 3 4; do
	nok "nat$i: wrong code 1" from 127.0.0.3 "nat$i" "$(wrong_code "nat$i")"
	nok "nat$i: wrong code 2" from 127.0.0.3 "nat$i" "$(wrong_code "nat$i")"
done
for i in 1 2 3 4 5 6; do
	nok "nat1 keeps failing ($i)" from 127.0.0.3 nat1 "$(wrong_code nat1)"
done
ok "the failing device's pair is banned" logged "banned username nat1 from address 127.0.0.3"
nok "the NAT address is not banned" logged "banned address 127.0.0.3"
ok "a device behind the NAT connects" from 127.0.0.3 nat5 "$(code nat5)"
ok "another device behind the NAT connects" from 127.0.0.3 nat2 "$(code nat2)"
ok "the failing device connects from elsewhere" from 127.0.0.1 nat1 "$(code nat1)"
# one address sprays usernames (one known, four unknown)
nok "spray: spray1" from 127.0.0.4 spray1 "$(wrong_code spray1)"
for n in admin root sensor-1 gateway; do
	nok "spray: $n" from 127.0.0.4 "$n" 123456
done
ok "the spraying address is banned" \
	logged "banned address 127.0.0.4 for 600 s after 5 failed logins for 5 usernames"
C=$(code good 0)
nok "a good device is refused from the spraying address" from 127.0.0.4 good "$C"
ok "the same code works from another address" from 127.0.0.1 good "$C"

done_testing
