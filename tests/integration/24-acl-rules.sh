#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 24-acl-rules.sh - mqttsec-acl acl add|rm|show|test: evaluation order (priority
# descending, deny before allow), %u/%c filters, bad filters and unknown
# subjects refused without changes, acl test decides as the broker, a listing of 20,000 rules completes.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/acl-lib.sh"

ok "init" acl init
acl device add dev1 >/dev/null 2>&1 || bail_out "cannot add dev1"
acl group add ops >/dev/null || bail_out "cannot add ops"

ok "allow pub @ops alerts/# prio 10" acl acl add allow pub @ops 'alerts/#' --priority 10
ok "deny pub dev1 alerts/secret prio 10" acl acl add deny pub dev1 alerts/secret --priority 10
ok "allow all dev1 devices/%u/# (prio 0)" acl acl add allow all dev1 'devices/%u/#'
ok "allow sub dev1 clients/%c/+ prio -3" acl acl add allow sub dev1 'clients/%c/+' --priority=-3
ok "allow read dev1 pre%u/x prio 100" acl acl add allow read dev1 'pre%u/x' --priority 100
ok "deny read dev1 + prio 0" acl acl add deny read dev1 '+'

is "$(acl acl show --json | python3 -c 'import json, sys; print(" ".join("%s:%s:%s" % (r["priority"], r["effect"], r["filter"]) for r in json.load(sys.stdin)))')" \
	"100:allow:pre%u/x 10:deny:alerts/secret 10:allow:alerts/# 0:deny:+ 0:allow:devices/%u/# -3:allow:clients/%c/+" \
	"show: priority descending, deny first at equal priority"
is "$(acl acl show @ops --json | python3 -c 'import json, sys; print([r["subject"] for r in json.load(sys.stdin)])')" \
	"['@ops']" "show filtered by subject"
ok "table has a header" sh -c "'$ACL_BIN' -d '$DB' acl show | head -n 1 | grep -q '^ID  *PRIORITY  *EFFECT  *ACCESS  *SUBJECT  *FILTER'"

unchanged "unknown device" acl acl add allow pub nosuch 'a/b'
unchanged "unknown group" acl acl add allow pub @nog 'a/b'
unchanged "bad effect" acl acl add permit pub dev1 'a/b'
unchanged "bad access" acl acl add allow write dev1 'a/b'
unchanged "# not last" acl acl add allow pub dev1 'a/#/b'
unchanged "+ inside a level" acl acl add allow pub dev1 'a/b+'
unchanged "empty filter" acl acl add allow pub dev1 ''
unchanged "bad % substitution" acl acl add allow pub dev1 'a/%x'
unchanged "bad priority" acl acl add allow pub dev1 'a/b' --priority high
unchanged "identical rule" acl acl add allow pub @ops 'alerts/#' --priority 10
unchanged "rm unknown rule" acl acl rm 999

id=$(q "SELECT id FROM acl_rules WHERE filter = '+'")
ok "acl rm" acl acl rm "$id"
is "$(q "SELECT count(*) FROM acl_rules WHERE id = $id")" 0 "rule gone"
is "$(q "SELECT count(*) FROM audit WHERE action = 'acl add'")" 6 "each add audited"

# acl test: who may do what on a topic, with the broker's own evaluation
acl group member add ops dev1 >/dev/null || bail_out "cannot add dev1 to ops"
acl device add dev2 >/dev/null 2>&1 || bail_out "cannot add dev2"
tst() { # TOPIC DEVICE [--clientid ID]: "publish receive subscribe" of DEVICE
	local topic=$1 dev=$2
	shift 2
	acl acl test "$topic" --device "$dev" "$@" --json |
		python3 -c 'import json, sys; r = json.load(sys.stdin)[0]; print(r["publish"], r["receive"], r["subscribe"])'
}
is "$(tst alerts/x dev1)" "True False False" "acl test: dev1 may publish alerts/x through @ops"
is "$(tst alerts/secret dev1)" "False False False" "acl test: the deny at equal priority wins"
is "$(tst devices/dev1/t dev1)" "True True True" "acl test: %u is the device"
is "$(tst devices/dev2/t dev1)" "False False False" "acl test: another device's %u topic"
is "$(tst clients/c1/x dev1 --clientid c1)" "False False True" "acl test: %c with the client id"
is "$(tst clients/c1/x dev1)" "False False False" "acl test: %c without a client id never allows"
is "$(tst 'devices/dev1/#' dev1)" "False False True" "acl test: a filter decides subscribe only"
is "$(acl acl test alerts/x | awk 'NR > 1 {print $1 ":" $3}' | tr '\n' ' ')" "dev1:yes dev2:no " \
	"acl test without --device: every device"
unchanged "acl test of a bad topic" acl acl test 'a/#/b'
unchanged "acl test of an unknown device" acl acl test a/b --device nosuch

# a large rule set: acl show stays linear (it used to be quadratic).  No
# timing assertion: it only has to finish within the bounded wait.
before=$(q "SELECT count(*) FROM acl_rules")
q "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
   INSERT INTO acl_rules (effect, access, subject, filter, priority, created_at)
   SELECT 'allow', 'sub', 'dev1', 'bulk/' || i || '/#', 0, 0 FROM n"
total=$((before + 20000))
ok "acl show of $total rules finishes" timeout 120 sh -c "'$ACL_BIN' -d '$DB' acl show >'$TEST_TMP/big.txt'"
is "$(wc -l <"$TEST_TMP/big.txt")" "$((total + 1))" "every rule listed (plus the header)"
ok "acl show --json of $total rules finishes" timeout 120 sh -c "'$ACL_BIN' -d '$DB' acl show --json >'$TEST_TMP/big.json'"
is "$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$TEST_TMP/big.json")" \
	"$total" "every rule in the json"

done_testing
