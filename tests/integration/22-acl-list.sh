#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 22-acl-list.sh - mqttsec-acl list add|rm|show|purge: canonical CIDR text,
# IPv4-mapped normalisation, TTLs, expired entries, and bad input (CIDR,
# TTL, kind, match, unknown device, duplicates) failing with one line and
# no change to the database.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/acl-lib.sh"
# pattern_of ID
pattern_of() { q "SELECT pattern FROM list_entries WHERE id = $1"; }
# add_id ARGS...: list add, print the new id
add_id() { acl list add "$@" | sed -n 's/^list entry \([0-9]*\) added.*/\1/p'; }

ok "init" acl init
ok "device add" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' device add dev1 >/dev/null 2>&1"

# canonical patterns
id=$(add_id deny ip 10.1.2.3/8)
is "$(pattern_of "$id")" 10.0.0.0/8 "host bits are cleared"
id=$(add_id deny ip ::ffff:192.0.2.7)
is "$(pattern_of "$id")" 192.0.2.7 "an IPv4-mapped address is stored as IPv4"
id=$(add_id deny ip ::ffff:198.51.100.0/120)
is "$(pattern_of "$id")" 198.51.100.0/24 "an IPv4-mapped network is stored as IPv4"
id=$(add_id allow ip 2001:DB8:0:0::1/64)
is "$(pattern_of "$id")" 2001:db8::/64 "IPv6 is canonical"
id=$(add_id allow ip 203.0.113.9/32)
is "$(pattern_of "$id")" 203.0.113.9 "a full-length prefix is written without /p"
id=$(add_id deny clientid 'sensor 7' --reason 'lost device')
is "$(pattern_of "$id")" 'sensor 7' "client ids are exact strings"
is "$(q "SELECT reason || '|' || created_by FROM list_entries WHERE id = $id")" "lost device|$(id -un)" \
	"reason and creator stored"
id=$(add_id allow username dev1)
is "$(pattern_of "$id")" dev1 "username entry"

# TTL
now=$(date +%s)
id=$(add_id deny ip 192.0.2.99 --ttl 2h)
exp=$(q "SELECT expires_at FROM list_entries WHERE id = $id")
ok "ttl 2h sets expires_at about now + 7200" test "$exp" -ge $((now + 7200)) -a "$exp" -le $((now + 7200 + 60))
id=$(add_id deny ip 192.0.2.98 --ttl 600)
is "$(q "SELECT expires_at - created_at FROM list_entries WHERE id = $id")" 600 "ttl in seconds"
is "$(q "SELECT expires_at FROM list_entries WHERE pattern = '10.0.0.0/8'")" 0 "no ttl = never (0)"

# bad input: one line, non-zero, nothing changed
unchanged "bad address" acl list add deny ip 300.1.2.3
unchanged "bad prefix" acl list add deny ip 10.0.0.0/33
unchanged "bad IPv6 prefix" acl list add deny ip 2001:db8::/129
unchanged "garbage ip" acl list add deny ip not-an-ip
unchanged "empty ip" acl list add deny ip ''
unchanged "ttl 0" acl list add deny ip 192.0.2.1 --ttl 0
unchanged "negative ttl" acl list add deny ip 192.0.2.1 --ttl -5
unchanged "non-numeric ttl" acl list add deny ip 192.0.2.1 --ttl soon
unchanged "ttl with a bad unit" acl list add deny ip 192.0.2.1 --ttl 5w
unchanged "ttl above ten years" acl list add deny ip 192.0.2.1 --ttl 3660d
unchanged "bad kind" acl list add block ip 192.0.2.1
unchanged "bad match" acl list add deny mac 192.0.2.1
unchanged "unknown device" acl list add deny username nosuch
unchanged "duplicate entry" acl list add deny ip 10.9.9.9/8
unchanged "duplicate via mapped form" acl list add deny ip ::ffff:192.0.2.7
unchanged "reason too long" acl list add deny ip 192.0.2.1 --reason "$(printf 'r%.0s' $(seq 201))"
unchanged "control character in reason" acl list add deny ip 192.0.2.1 --reason "$(printf 'a\033b')"
unchanged "rm unknown id" acl list rm 9999
unchanged "rm bad id" acl list rm abc
rc=0
acl list add deny ip >/dev/null 2>&1 || rc=$?
is "$rc" 64 "missing operand is a usage error"

# show
ok "list show --json" sh -c "'$ACL_BIN' -d '$DB' list show --json >'$TEST_TMP/show.json'"
is "$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(len(d), sorted(d[0]))' "$TEST_TMP/show.json")" \
	"9 ['created_at', 'created_by', 'expired', 'expires', 'expires_at', 'id', 'kind', 'match', 'pattern', 'reason']" \
	"json rows and fields"
is "$(python3 -c 'import json, sys; print([r["expires"] for r in json.load(open(sys.argv[1])) if r["pattern"] == "10.0.0.0/8"])' "$TEST_TMP/show.json")" \
	"['never']" "never expiring entry shows never"
ok "expiry shown as ISO 8601 UTC" sh -c "'$ACL_BIN' -d '$DB' list show | grep '192.0.2.99' | grep -Eq '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z'"

# expired entries (made by hand: no waiting)
q "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, created_at, created_by) VALUES ('deny', 'ip', '192.0.2.200', 1000, 'old', 900, 'test')"
nok "expired entry hidden by list show" sh -c "'$ACL_BIN' -d '$DB' list show | grep -q 192.0.2.200"
ok "list show --all flags it" sh -c "'$ACL_BIN' -d '$DB' list show --all | grep 192.0.2.200 | grep -q expired"
is "$(acl list show --all --json | python3 -c 'import json, sys; print([r["expired"] for r in json.load(sys.stdin) if r["pattern"] == "192.0.2.200"])')" \
	"[True]" "json marks it expired"
ok "an expired entry does not block a new one" acl list add deny ip 192.0.2.200 --ttl 60
ok "purge" acl list purge
is "$(q "SELECT count(*) FROM list_entries WHERE expires_at != 0 AND expires_at <= strftime('%s', 'now')")" 0 \
	"purge removed the expired entry"

# --bans: only the plugin's automatic bans, the newest first
q "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, created_at, created_by) VALUES ('deny', 'ip', '198.51.100.1', 4102444800, 'auth-failures', 1, 'mqttsec-plugin')"
q "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, created_at, created_by) VALUES ('deny', 'ip', '198.51.100.2', 4102444800, 'key-flood', 1, 'mqttsec-plugin')"
is "$(acl list show --bans --json | python3 -c 'import json, sys; print([r["pattern"] for r in json.load(sys.stdin)])')" \
	"['198.51.100.2', '198.51.100.1']" "list show --bans: the two bans, the newest first"
ok "list show without --bans lists them too" sh -c "'$ACL_BIN' -d '$DB' list show | grep -q 198.51.100.1"

# rm
id=$(q "SELECT id FROM list_entries WHERE pattern = 'sensor 7'")
ok "list rm" acl list rm "$id"
is "$(q "SELECT count(*) FROM list_entries WHERE id = $id")" 0 "entry gone"
is "$(q "SELECT count(*) FROM audit WHERE action = 'list rm' AND detail LIKE 'id=$id %'")" 1 "rm audited"

done_testing
