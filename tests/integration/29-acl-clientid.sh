#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 29-acl-clientid.sh - mqttsec-acl clientid list|release (docs/acl.md):
# list shows the bindings the broker plugin wrote (table and --json),
# release deletes one and records it for the running plugin, device rm
# releases every id of the device, each change is one audit row, device
# add draws a fresh generation, bad input changes nothing.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/acl-lib.sh"

acl init >/dev/null
acl device add dev1 --out "$TEST_TMP/dev1.json" >/dev/null
acl device add dev2 --out "$TEST_TMP/dev2.json" >/dev/null
# what the broker plugin writes on its tick
q "INSERT INTO clientids (clientid, username, created_at, last_seen) VALUES
	('sensor-1', 'dev1', 1700000000, 1700000100),
	('sensor-2', 'dev1', 1700000000, 1700000200),
	('gw-1', 'dev2', 1700000000, 1700000300)"

ok "clientid list" bash -c '"$@" >"$0"' "$TEST_TMP/list.out" "$ACL_BIN" -d "$DB" -k "$KEY" clientid list
is "$(head -n 1 "$TEST_TMP/list.out" | tr -s ' ')" "CLIENTID DEVICE BOUND LAST_SEEN" "table header"
is "$(awk 'NR > 1 { print $1 ":" $2 }' "$TEST_TMP/list.out" | tr '\n' ' ')" \
	"sensor-1:dev1 sensor-2:dev1 gw-1:dev2 " "rows by device, then client id"
ok "clientid list --json" bash -c '"$@" >"$0"' "$TEST_TMP/list.json" "$ACL_BIN" -d "$DB" -k "$KEY" clientid list --json
is "$(json_get "$TEST_TMP/list.json" '[(r["clientid"], r["username"], r["last_seen_at"], r["last_seen"]) for r in d][0]')" \
	"('sensor-1', 'dev1', 1700000100, '2023-11-14T22:15:00Z')" "json fields"
is "$(acl clientid list --json --help >/dev/null 2>&1; echo $?)" "0" "--help"

# release one id
is "$(acl clientid release sensor-2)" "client id sensor-2 released (was bound to dev1)" "release prints the owner"
is "$(q "SELECT count(*) FROM clientids WHERE clientid = 'sensor-2'")" "0" "binding deleted"
is "$(q "SELECT coalesce(clientid, '-') || ':' || coalesce(username, '-') FROM clientid_releases ORDER BY seq DESC LIMIT 1")" \
	"sensor-2:-" "the release is recorded for the running plugin"
is "$(q "SELECT who || '|' || action || '|' || detail FROM audit ORDER BY id DESC LIMIT 1")" \
	"$(id -un)|clientid release|clientid=sensor-2 owner=dev1" "release audited"
is "$(acl clientid release not-bound)" "client id not-bound released (no binding stored)" \
	"an id without a stored binding is released too (the plugin may not have written it yet)"
is "$(q "SELECT count(*) FROM audit WHERE action = 'clientid release'")" "2" "both audited"

# device rm releases the device's ids
ok "device rm dev1" acl device rm dev1
is "$(q "SELECT count(*) FROM clientids WHERE username = 'dev1'")" "0" "dev1's ids released"
is "$(q "SELECT count(*) FROM clientids WHERE username = 'dev2'")" "1" "dev2's kept"
is "$(q "SELECT coalesce(clientid, '-') || ':' || username FROM clientid_releases ORDER BY seq DESC LIMIT 1")" \
	"-:dev1" "recorded as every id of dev1"
is "$(q "SELECT detail FROM audit WHERE action = 'device rm'")" \
	"name=dev1 groups=0 rules=0 list_entries=0 clientids=1" "device rm audit counts the ids"

# generations: every device add draws a new one
g1=$(q "SELECT generation FROM devices WHERE name = 'dev2'")
acl device rm dev2 >/dev/null
acl device add dev2 --out "$TEST_TMP/dev2.json" --force >/dev/null
g2=$(q "SELECT generation FROM devices WHERE name = 'dev2'")
ok "a generation is positive" test "$g1" -gt 0 -a "$g2" -gt 0
ok "device rm + device add: another generation" test "$g1" != "$g2"

# bad input
nok "release without an id is a usage error" acl clientid release
unchanged "release of an empty id" acl clientid release ''
unchanged "release of an id over 256 bytes" acl clientid release "$(printf 'x%.0s' $(seq 300))"
unchanged "release of an id with a control character" acl clientid release "$(printf 'a\tb')"
nok "unknown subcommand" acl clientid grab x

done_testing
