#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 85-plugin-key-revoke-expiry.sh - revoking rotates, without an admin
# command (docs/payload-encryption.md, "Revoking rotates"): with the allow
# list on, a device let in only by an allow entry with a TTL holds the key
# of a protected filter; when the entry expires the plugin notices it on
# its tick and rotates the filter (audited by mqttsec-plugin with the
# holder); a holder still let in keeps its grant.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"

q() {
	python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute(sys.argv[2], sys.argv[3:]).fetchone()[0])' "$MQTTSEC_DB" "$@"
}
active() {
	q "SELECT max(id) FROM keys WHERE purpose = 'topic' AND owner = 'sec/#' AND state = 'active'"
}

acl topic protect 'sec/#' >/dev/null || bail_out "topic protect failed"
pdevice holder
pdevice stays
acl acl add allow read holder 'sec/#' >/dev/null
acl acl add allow read stays 'sec/#' >/dev/null
acl list add allow username stays >/dev/null
TTL=30 # usually long enough for the setup below on a busy machine
T0=$(date +%s)
acl list add allow username holder --ttl "$TTL" >/dev/null
for d in holder stays; do
	acl key export 'sec/#' --for "$d" --keys-only --out "$TEST_TMP/$d-keys.json" >/dev/null ||
		bail_out "key export for $d failed"
done
K0=$(active)
start_plugin_broker "plugin_opt_allowlist on"
is "$(q "SELECT value FROM settings WHERE name = 'allowlist'")" on \
	"the plugin records the allowlist setting"
# rotated already: a failure while the entry lasts, else the machine was too slow
if [ "$(active)" = "$K0" ]; then
	pass "while the allow entry lasts, nothing rotates"
elif [ $(($(date +%s) - T0)) -lt "$TTL" ]; then
	fail "while the allow entry lasts, nothing rotates" "rotated $(($(date +%s) - T0)) s after the entry"
else
	skip "while the allow entry lasts, nothing rotates" "the entry ($TTL s) expired before the check"
fi
rotated() {
	[ "$(active)" != "$K0" ]
}
ok "the entry expires: the plugin rotates sec/# by itself" wait_for $((TTL + 10)) rotated
ok "... and logs it" wait_for 5 logged \
	'rotated the topic keys of 1 filters: holders lost their read right (an allow entry expired)'
is "$(q "SELECT count(*) FROM audit WHERE action = 'key rotate' AND who = 'mqttsec-plugin' \
AND detail LIKE '%reason=revoke holder=holder'")" 1 "audited by mqttsec-plugin with the holder"
is "$(q "SELECT count(*) FROM key_grants WHERE username = 'holder'")" 0 "holder's grants are gone"
ok "stays keeps its grant" test "$(q "SELECT count(*) FROM key_grants WHERE username = 'stays'")" -gt 0
K1=$(active)
sleep 2
is "$(active)" "$K1" "nothing rotates again"
stop_bg mosquitto
done_testing
