#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 26-acl-export.sh - mqttsec-acl export / import: a round trip into a fresh
# database gives the same export; a bad line N is reported as FILE:N and
# changes nothing; merge, --replace, --dry-run, stdin, escapes.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$ACL_BIN"
need_cmd sqlite3
unset SUDO_USER MQTTSEC_DB MQTTSEC_MASTER_KEY_FILE

KEY=$TEST_TMP/master.key
A=$TEST_TMP/a.db
B=$TEST_TMP/b.db
acl() { "$ACL_BIN" -k "$KEY" "$@"; }
dump() { sqlite3 "$1" .dump; }
setup() {
	acl -d "$1" init >/dev/null || return 1
	for d in dev1 dev2; do
		acl -d "$1" device add "$d" >/dev/null 2>&1 || return 1
	done
}

ok "source db" setup "$A"
acl -d "$A" group add ops >/dev/null
acl -d "$A" group add empty >/dev/null
acl -d "$A" group member add ops dev1 >/dev/null
acl -d "$A" group member add ops dev2 >/dev/null
acl -d "$A" acl add allow pub @ops 'alerts/#' --priority 10 >/dev/null
acl -d "$A" acl add deny pub dev1 'alerts/secret' --priority 10 >/dev/null
acl -d "$A" acl add allow all dev1 'devices/%u/#' >/dev/null
acl -d "$A" acl add allow sub dev2 'odd topic/with\back=slash/+' --priority -2 >/dev/null
acl -d "$A" list add deny ip 10.0.0.0/8 --ttl 1d --reason 'too many tries \o/' >/dev/null
acl -d "$A" list add allow ip 2001:db8::/32 >/dev/null
acl -d "$A" list add deny clientid 'client #1' >/dev/null
acl -d "$A" list add allow username dev2 >/dev/null
sqlite3 "$A" "INSERT INTO list_entries (kind, match, pattern, expires_at, created_at) VALUES ('deny', 'ip', '192.0.2.1', 1000, 900)"

ok "export" sh -c "'$ACL_BIN' -d '$A' export >'$TEST_TMP/a.txt'"
nok "expired entries are not exported" grep -q 192.0.2.1 "$TEST_TMP/a.txt"
nok "devices are not exported" grep -q '^device' "$TEST_TMP/a.txt"
ok "spaces and backslashes are escaped" grep -q 'odd\\x20topic/with\\x5cback=slash/+' "$TEST_TMP/a.txt"
ok "reason is escaped" grep -q 'reason=too\\x20many\\x20tries\\x20\\x5co/' "$TEST_TMP/a.txt"

ok "fresh db with the same devices" setup "$B"
ok "import into the fresh db" acl -d "$B" import "$TEST_TMP/a.txt"
acl -d "$B" export >"$TEST_TMP/b.txt"
ok "export of the import is identical" cmp "$TEST_TMP/a.txt" "$TEST_TMP/b.txt"
is "$(sqlite3 "$B" "SELECT filter FROM acl_rules WHERE subject = 'dev2'")" 'odd topic/with\back=slash/+' \
	"escaped filter restored byte for byte"
is "$(sqlite3 "$B" "SELECT reason FROM list_entries WHERE pattern = '10.0.0.0/8'")" 'too many tries \o/' \
	"escaped reason restored byte for byte"
is "$(sqlite3 "$B" "SELECT count(*) FROM audit WHERE action = 'import'")" 1 "import is one audit row"

# merging the same file again changes nothing that export shows
ok "import again (merge)" acl -d "$B" import "$TEST_TMP/a.txt"
acl -d "$B" export >"$TEST_TMP/b2.txt"
ok "merge is idempotent" cmp "$TEST_TMP/a.txt" "$TEST_TMP/b2.txt"

# a bad line: FILE:N, nothing changed
for bad in 'acl allow pub nosuch x' 'list deny ip 10.0.0.0/99' 'member ops nosuch' \
	'list deny ip 10.1.0.0/16 expires=soon' 'acl allow pub dev1 a/#/b' 'frob x' \
	'group a\zb' 'list deny ip 10.2.0.0/16 colour=red'; do
	{ head -n 6 "$TEST_TMP/a.txt"; echo "$bad"; tail -n +7 "$TEST_TMP/a.txt"; } >"$TEST_TMP/bad.txt"
	before=$(dump "$B")
	rc=0
	acl -d "$B" import --replace "$TEST_TMP/bad.txt" >/dev/null 2>"$TEST_TMP/err" || rc=$?
	if [ "$rc" -ne 0 ] && [ "$(cat "$TEST_TMP/err")" != "${TEST_TMP}/bad.txt:7: " ] &&
		grep -q "^$TEST_TMP/bad.txt:7: " "$TEST_TMP/err" && [ "$(wc -l <"$TEST_TMP/err")" -eq 1 ] &&
		[ "$(dump "$B")" = "$before" ]; then
		pass "bad line 7 ($bad) reported as FILE:7, nothing changed"
	else
		fail "bad line 7 ($bad) reported as FILE:7, nothing changed" "rc=$rc" "$(cat "$TEST_TMP/err")"
	fi
done

# --replace and stdin
printf '# new policy\n\ngroup g2\r\nmember g2 dev1\nacl allow read @g2 x/+ priority=5\n' >"$TEST_TMP/new.txt"
ok "dry run" acl -d "$B" import --replace --dry-run "$TEST_TMP/new.txt"
ok "dry run changed nothing" sh -c "'$ACL_BIN' -d '$B' export | cmp -s - '$TEST_TMP/a.txt'"
ok "import --replace from stdin" sh -c "'$ACL_BIN' -d '$B' import --replace - <'$TEST_TMP/new.txt'"
is "$(acl -d "$B" export | grep -v '^#')" "$(printf 'group g2\nmember g2 dev1\nacl allow read @g2 x/+ priority=5')" \
	"--replace leaves only the imported policy"
is "$(sqlite3 "$B" "SELECT count(*) FROM devices")" 2 "--replace keeps devices"

# expired on import: skipped
printf 'list deny ip 192.0.2.5 expires=1000\n' >"$TEST_TMP/old.txt"
ok "expired entry in the file is skipped" acl -d "$B" import "$TEST_TMP/old.txt"
is "$(sqlite3 "$B" "SELECT count(*) FROM list_entries WHERE pattern = '192.0.2.5'")" 0 "not inserted"

done_testing
