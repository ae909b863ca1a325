#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 59-attack-clientid-reserved.sh - an authenticated device binds the fixed
# client id of a device that has not connected yet (docs/broker-plugin.md,
# "Client ids").
#
# Under owned client ids the first CONNECT binds an id.  Before the
# reservation, a device could bind another device's name, NAME-..., or the
# gateway's id mqttsec-gateway-NAME before that device's first CONNECT (a
# new installation, or right after device rm NAME && device add NAME, which
# releases NAME's ids): the device was then refused for the whole ttl (30
# days) and the attacker held its session.  Now such an id is reserved for
# the enrolled device NAME whether or not it is bound, under owned and
# prefix, and NAME takes it back from a binding made before.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh"

for d in victim victim-2 attacker gw; do
	device "$d" --period 2
done
start_plugin_broker "plugin_opt_max_ip_failures 0" "plugin_opt_max_auth_failures 0"

nok "attacker cannot bind the name of a device that never connected" \
	connects attacker "$(fresh attacker)" -i victim
ok "... refused as reserved" \
	logged "refused attacker (client id victim) .*client id reserved for another enrolled device"
nok "attacker cannot bind NAME-suffix of that device" \
	connects attacker "$(fresh attacker)" -i victim-sensor
nok "attacker cannot bind the gateway's fixed id" \
	connects attacker "$(fresh attacker)" -i mqttsec-gateway-gw
nok "victim cannot bind victim-2's name (longest enrolled name wins)" \
	connects victim "$(fresh victim)" -i victim-2
ok "victim binds its own name" connects victim "$(fresh victim)" -i victim
ok "victim binds victim-sensor" connects victim "$(fresh victim)" -i victim-sensor
ok "victim-2 binds its own name" connects victim-2 "$(fresh victim-2)" -i victim-2
ok "gw binds mqttsec-gateway-gw" connects gw "$(fresh gw)" -i mqttsec-gateway-gw
ok "attacker binds its own name" connects attacker "$(fresh attacker)" -i attacker
ok "random ids keep working" connects attacker "$(fresh attacker)"

# a binding made while the name was not enrolled (device rm X, then add X)
ok "device rm victim" change device rm victim
ok "attacker binds the free name while no device has it" \
	connects attacker "$(fresh attacker)" -i victim
rm -f "$TEST_TMP/victim.step"
ok "device add victim again" change device add victim --out "$TEST_TMP/victim.json" --period 2 --force
nok "the attacker's binding no longer lets it in" \
	connects attacker "$(fresh attacker)" -i victim
ok "the new victim takes its name back" connects victim "$(fresh victim)" -i victim

# prefix: victim-2 is victim-... but is its own device's name
stop_bg mosquitto
mv "$MOSQ_LOG" "$MOSQ_LOG.1"
start_plugin_broker "plugin_opt_clientid_policy prefix" "plugin_opt_max_ip_failures 0" \
	"plugin_opt_max_auth_failures 0"
nok "prefix: victim cannot use victim-2 (another device's name)" \
	connects victim "$(fresh victim)" -i victim-2
ok "prefix: victim-2 can" connects victim-2 "$(fresh victim-2)" -i victim-2
ok "prefix: victim-x still victim's" connects victim "$(fresh victim)" -i victim-x

done_testing
