#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 23-acl-group.sh - mqttsec-acl group add|rm|list and group member add|rm:
# unknown devices and groups are refused without changes; removing a group
# removes its memberships and rules.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/acl-lib.sh"

ok "init" acl init
for d in dev1 dev2 dev3; do
	acl device add "$d" >/dev/null 2>&1 || bail_out "cannot add $d"
done

ok "group add ops" acl group add ops
ok "group add empty" acl group add empty
ok "member add ops dev1" acl group member add ops dev1
ok "member add ops dev2" acl group member add ops dev2
unchanged "group add existing" acl group add ops
unchanged "bad group name" acl group add 'a b'
unchanged "member of unknown group" acl group member add nog dev1
unchanged "unknown device" acl group member add ops nosuch
unchanged "already a member" acl group member add ops dev1
unchanged "member rm of a non-member" acl group member rm ops dev3
unchanged "group rm unknown" acl group rm nog

is "$(acl group list --json | python3 -c 'import json, sys; print([(r["group"], r["members"]) for r in json.load(sys.stdin)])')" \
	"[('empty', []), ('ops', ['dev1', 'dev2'])]" "group list --json"
is "$(acl group list ops | tail -n 1 | tr -s ' ')" "ops dev1,dev2" "group list table"
is "$(acl device list --json | python3 -c 'import json, sys; print([r["groups"] for r in json.load(sys.stdin)])')" \
	"[['ops'], ['ops'], []]" "device list shows groups"

ok "member rm" acl group member rm ops dev2
is "$(q "SELECT group_concat(member) FROM group_members WHERE grp = 'ops'")" dev1 "dev2 left ops"

ok "rule for @ops" acl acl add allow pub @ops 'alerts/#'
ok "group rm" acl group rm ops
is "$(q "SELECT (SELECT count(*) FROM groups WHERE name = 'ops') || (SELECT count(*) FROM group_members WHERE grp = 'ops') || (SELECT count(*) FROM acl_rules WHERE subject = '@ops')")" \
	000 "group rm removed the group, its members and its rules"
is "$(q "SELECT detail FROM audit WHERE action = 'group rm'")" "group=ops members=1 rules=1" \
	"group rm audited with counts"

done_testing
