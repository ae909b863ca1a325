#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 104-plugin-key-revoke-lists.sh - revoking rotates, by client id and ip
# (docs/payload-encryption.md, "Revoking rotates") on a real broker: the
# plugin records the client id and peer address of every online key fetch;
# a deny entry for the client id one holder fetched with rotates the filter
# and forgets that holder's grants only; an ip deny entry rotates for every
# holder seen fetching from an address it covers (here all of them come from
# 127.0.0.1, like devices behind one NAT address), not for a holder that got
# its key by export; an automatic ban rotates nothing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN"

q() {
	python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute(sys.argv[2], sys.argv[3:]).fetchone()[0])' "$MQTTSEC_DB" "$@"
}
active() {
	q "SELECT max(id) FROM keys WHERE purpose = 'topic' AND owner = 'sec/#' AND state = 'active'"
}
grants() {
	q "SELECT count(*) FROM key_grants WHERE username = ?" "$1"
}

for d in ha hb hc; do
	pdevice "$d"
	acl acl add allow read "$d" 'sec/#' >/dev/null
done
acl topic protect 'sec/#' >/dev/null || bail_out "topic protect failed"
acl key export 'sec/#' --for hc --keys-only --out "$TEST_TMP/hc-keys.json" >/dev/null ||
	bail_out "key export for hc failed"
start_plugin_broker

ok "ha fetches the key as client cam-a" devrun ha keys fetch -i cam-a 'sec/#'
ok "hb fetches the key as client cam-b" devrun hb keys fetch -i cam-b 'sec/#'
is "$(q "SELECT clientid || ' ' || address FROM key_grants WHERE username = 'ha'")" \
	"cam-a 127.0.0.1" "the grant records the client id and address of the fetch"
is "$(q "SELECT count(*) FROM key_grants WHERE username = 'hc' AND clientid IS NULL AND \
address IS NULL")" 1 "an exported grant records neither"
K0=$(active)

# a deny entry for another client id: nothing
acl list add deny clientid cam-z >/dev/null || bail_out "list add failed"
is "$(active)" "$K0" "a deny entry for a client id no holder fetched with rotates nothing"
# an automatic ban (as the plugin writes it) of the address: nothing
python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO list_entries (kind, match, pattern, expires_at, reason, created_at, "
          "created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
          ("deny", "ip", "127.0.0.2", 4000000000, "auth-failures", 0, "mqttsec-plugin"))
c.commit()' "$MQTTSEC_DB"
acl group add unrelated >/dev/null
is "$(active)" "$K0" "an automatic ban rotates nothing"

# the client id ha fetched with
acl list add deny clientid cam-a --reason stolen >/dev/null || bail_out "list add failed"
K1=$(active)
ok "a deny entry for ha's client id rotates sec/#" test "$K1" != "$K0"
is "$(q "SELECT count(*) FROM audit WHERE action = 'key rotate' AND detail LIKE \
'%lost=1 reason=revoke holder=ha'")" 1 "audited with the holder"
is "$(grants ha)" 0 "ha's grants are gone"
ok "hb keeps its grant" test "$(grants hb)" -gt 0
ok "hc keeps its grant" test "$(grants hc)" -gt 0

# hb fetches the new key; then every address of 127.0.0.0/8 is denied
ok "hb fetches the new key" devrun hb keys fetch -i cam-b 'sec/#'
acl list add deny ip 127.0.0.0/8 >/dev/null || bail_out "list add failed"
K2=$(active)
ok "an ip deny entry covering the address hb fetched from rotates sec/#" test "$K2" != "$K1"
is "$(q "SELECT count(*) FROM audit WHERE action = 'key rotate' AND detail LIKE \
'%lost=1 reason=revoke holder=hb'")" 1 "audited with the holder"
is "$(grants hb)" 0 "hb's grants are gone"
ok "hc (export: no address) keeps its grant" test "$(grants hc)" -gt 0
stop_bg mosquitto
done_testing
