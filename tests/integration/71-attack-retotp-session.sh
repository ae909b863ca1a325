#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 71-attack-retotp-session.sh - outside attacker holding a stolen TOTP
# secret (docs/security.md, "Connect tokens"; docs/acl.md, "Devices"):
# after mqttsec-acl device retotp, the session the thief opened with the
# old secret is disconnected (retotp draws a new identity generation), the
# old secret logs in neither with a code nor with a connect token, and the
# new credentials work.  A rekey (new device key) keeps connected clients.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh"

TOOL="$top_srcdir/tests/tools/conntoken.py"
device dev1
device dev2
acl acl add allow all dev1 'x/#' >/dev/null
acl acl add allow all dev2 'x/#' >/dev/null
cp "$TEST_TMP/dev1.json" "$TEST_TMP/old.json"

token() {
	python3 "$TOOL" make --creds "$TEST_TMP/$1.json" --cid "$2"
}
subscribed() {
	[ "$(grep -c "Sending SUBACK to $1" "$MOSQ_LOG")" -ge "${2:-1}" ]
}

start_plugin_broker
# the thief (old secret) and the device itself (dev2: another device)
start_bg thief timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u dev1 \
	-P "$(token old thief)" -i thief -t 'x/#' -k 60
start_bg other timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u dev2 \
	-P "$(token dev2 other)" -i other -t 'x/#' -k 60
ok "the thief is connected with the old secret" wait_for 15 subscribed thief
ok "another device is connected" wait_for 15 subscribed other

# a rekey keeps connected clients (documented)
ok "device rekey dev1" change device rekey dev1 --grace 60 --out "$TEST_TMP/rekeyed.json"
sleep 1
nok "a rekey disconnects nobody" logged "disconnecting client thief"

ok "device retotp dev1" change device retotp dev1 --out "$TEST_TMP/dev1.json" --force
ok "the thief's session is disconnected" \
	wait_for 10 logged "disconnecting client thief: no longer allowed"
nok "the other device stays connected" logged "disconnecting client other"
nok "the old secret's token is refused" connects dev1 "$(token old thief2)" -i thief2
ok "the new secret's token works" connects dev1 "$(token dev1 dev1-new)" -i dev1-new
stop_bg thief
stop_bg other
stop_bg mosquitto
done_testing
