#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 94-acl-import-scale.sh - mqttsec-acl import of a big policy (docs/acl.md,
# "Import at scale"): 100,000 rules (most of them on a few subjects) and
# 2,000 list entries in one file.  The counts are right, a rule given twice
# in the file is added once, a list entry given twice is one row with the
# later reason, merging the same file again adds nothing, and a bad last
# line still rolls back everything.  No timing assertion (the time is
# printed).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/acl-lib.sh"

NRULES=100000
ok "init" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' init >/dev/null"
for d in dev1 dev2 dev3; do
	acl device add "$d" >/dev/null 2>&1 || bail_out "device add $d"
done

# gen OUT: groups, members, NRULES rules over @ops, @all and the devices,
# one rule given again, 2,000 list entries, one entry given again.
gen() {
	awk -v nr="$NRULES" 'BEGIN {
		print "group ops"; print "group all"
		print "member ops dev1"
		for (d = 1; d <= 3; d++) printf "member all dev%d\n", d
		for (i = 0; i < nr; i++) {
			k = i % 5
			subj = k < 2 ? "@ops" : (k < 4 ? "@all" : sprintf("dev%d", 1 + i % 3))
			printf "acl %s %s %s site/%d/+/%d/#%s\n", i % 7 == 0 ? "deny" : "allow",
				i % 2 ? "pub" : "read", subj, i % 50, i, i % 3 ? "" : " priority=" (i % 5)
			if (i == 500)
				print "acl allow read @ops site/0/+/500/#"
		}
		for (i = 0; i < 2000; i++)
			printf "list deny ip 10.%d.%d.0/24 reason=r%d\n", int(i / 256), i % 256, i
		print "list deny ip 10.0.5.0/24 reason=again"
	}' >"$1"
}
gen "$TEST_TMP/big.txt"
is "$(grep -c '^acl' "$TEST_TMP/big.txt")" $((NRULES + 1)) "the file has $NRULES rules and one repeated"

t0=$(date +%s%N)
ok "import of $NRULES rules" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' import '$TEST_TMP/big.txt' >'$TEST_TMP/out'"
diag "import of $NRULES rules and 2,000 entries: $((($(date +%s%N) - t0) / 1000000)) ms (load $(cut -d' ' -f1 /proc/loadavg))"
is "$(q 'SELECT count(*) FROM acl_rules')" "$NRULES" "$NRULES rules: the repeated one is added once"
ok "the repeated rule counts as already present" grep -q '(1 already present' "$TEST_TMP/out"
is "$(q "SELECT count(*) FROM acl_rules WHERE subject = '@ops' AND filter = 'site/0/+/500/#'")" 1 \
	"one row for the rule given twice"
is "$(q 'SELECT count(*) FROM list_entries')" 2000 "2,000 list entries: the repeated one is one row"
is "$(q "SELECT reason FROM list_entries WHERE pattern = '10.0.5.0/24'")" again "it has the later reason"
is "$(q "SELECT count(*) FROM audit WHERE action = 'import'")" 1 "one audit row"

# the same file again: all kept, nothing added
ok "merge the same file again" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' import '$TEST_TMP/big.txt' >'$TEST_TMP/out2'"
is "$(q 'SELECT count(*) FROM acl_rules')" "$NRULES" "merge adds no rule"
ok "merge reports every rule as present" grep -q ", 0 acl rules" "$TEST_TMP/out2"

# a bad last line: nothing of the 100,000 lines before it is applied
{
	sed 's/site\//other\//' "$TEST_TMP/big.txt"
	echo "acl allow pub nosuch x/#"
} >"$TEST_TMP/bad.txt"
lines=$(wc -l <"$TEST_TMP/bad.txt")
before=$(q 'SELECT count(*), max(id) FROM acl_rules')
unchanged "a bad last line rolls back the whole file" acl import "$TEST_TMP/bad.txt"
ok "reported as FILE:$lines" grep -q "bad.txt:$lines: unknown device nosuch" "$TEST_TMP/err"
is "$(q 'SELECT count(*), max(id) FROM acl_rules')" "$before" "rules as before"

# --replace with the big file: exactly the file's policy
ok "import --replace" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' import --replace '$TEST_TMP/big.txt' >/dev/null"
is "$(q 'SELECT count(*) FROM acl_rules')" "$NRULES" "--replace: $NRULES rules"

done_testing
