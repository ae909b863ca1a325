#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-import.sh - mqttsec-acl import at scale (docs/acl.md, "Export and
# import") against the same rows inserted by the sqlite3 shell in one
# transaction in the same run (the reference: no parsing, no checks, no
# duplicate detection).  Cases: 5,000, 20,000 and 100,000 ACL rules, then
# 100,000 rules and 10,000 list entries, each into a fresh copy of a
# database with BENCH_DEVICES devices (bench/bench-plugin-mkdb); then the
# last file merged again into the filled database (every line a duplicate).
# Run from a build dir after "make check TESTS=" (builds bench-plugin-mkdb):
#   ../bench/bench-import.sh
# Knobs: BENCH_DEVICES (1000), BENCH_TRIALS (3; the median is printed),
# BENCH_KEEP=1 keeps the work dir.
set -eu
export LC_ALL=C

BUILD=${top_builddir:-$PWD}
ACL=$BUILD/acl/mqttsec-acl
MKDB=$BUILD/bench/bench-plugin-mkdb
NDEV=${BENCH_DEVICES:-1000}
TRIALS=${BENCH_TRIALS:-3}

for f in "$ACL" "$MKDB"; do
	[ -x "$f" ] || { echo "bench-import: missing $f (run make check TESTS= first)" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "bench-import: needs sqlite3" >&2; exit 1; }
W=$(mktemp -d /tmp/bench-import.XXXXXX)
[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
umask 077

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# ms CMD...: run CMD, print its wall time in ms
ms() {
	local t0
	t0=$(now_ns)
	"$@" >/dev/null
	echo $((($(now_ns) - t0) / 1000000))
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f", a / b }'; }
secs() { awk -v a="$1" 'BEGIN { printf "%.2f", a / 1000 }'; }

# gen NRULES NENTRIES OUT: an import file and OUT.sql, the same rows as SQL.
# Rules: groups g0..g99 (each with 10 members), half of the rules on @fleet
# and the groups (many rules per subject), half per device; entries: client
# ids, usernames of enrolled devices, IPv4 and IPv6 networks.
gen() {
	awk -v nr="$1" -v ne="$2" -v ndev="$NDEV" -v sql="$3.sql" '
	function dev(i) { return sprintf("dev%05d", i % ndev) }
	BEGIN {
		print "BEGIN;" > sql
		for (g = 0; g < 100; g++) {
			printf "group g%d\n", g
			printf "INSERT INTO groups (name) VALUES (\x27g%d\x27);\n", g > sql
			for (m = 0; m < 10; m++) {
				printf "member g%d %s\n", g, dev(g * 10 + m)
				printf "INSERT INTO group_members (grp, member) VALUES (\x27g%d\x27, \x27%s\x27);\n", g, dev(g * 10 + m) > sql
			}
		}
		for (i = 0; i < nr; i++) {
			if (i % 2 == 0) {
				subj = (i % 4 == 0) ? "@fleet" : sprintf("@g%d", i % 100)
				filt = sprintf("site/%d/%s/%d/#", i % 100, dev(i), i)
				eff = (i % 11 == 0) ? "deny" : "allow"
				acc = (i % 3 == 0) ? "read" : "pub"
				pri = -(i % 3)
			} else {
				subj = dev(i)
				filt = sprintf("devices/%%u/%d/+", i)
				eff = "allow"; acc = "all"; pri = 0
			}
			printf "acl %s %s %s %s priority=%d\n", eff, acc, subj, filt, pri
			printf "INSERT INTO acl_rules (effect, access, subject, filter, priority, created_at) VALUES (\x27%s\x27, \x27%s\x27, \x27%s\x27, \x27%s\x27, %d, 0);\n", eff, acc, subj, filt, pri > sql
		}
		for (i = 0; i < ne; i++) {
			k = i % 4
			if (k == 0) { m = "clientid"; p = sprintf("blocked-client-%d", i) }
			else if (k == 1 && int(i / 4) < ndev) { m = "username"; p = dev(int(i / 4)) }
			else if (k == 1) { m = "clientid"; p = sprintf("blocked-user-%d", i) }
			else if (k == 2) { m = "ip"; p = sprintf("10.%d.%d.0/24", int(i / 256) % 256, i % 256) }
			else { m = "ip"; p = sprintf("2001:db8:%x::/48", i) }
			kind = (k == 1) ? "allow" : "deny"
			printf "list %s %s %s reason=bench\n", kind, m, p
			printf "INSERT INTO list_entries (kind, match, pattern, reason, created_at) VALUES (\x27%s\x27, \x27%s\x27, \x27%s\x27, \x27bench\x27, 0);\n", kind, m, p > sql
		}
		print "COMMIT;" > sql
	}' >"$3"
}

echo "# bench-import: $NDEV devices; median of $TRIALS; seconds (ratio to sqlite3 inserting the same rows)"
echo "# $(nproc) cpus, $(uname -sr), sqlite3 $(sqlite3 --version | cut -d' ' -f1); load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$MKDB" "$W/base.db" "$W/key" "$W/creds.txt" "$NDEV" 0 0 >/dev/null
base=$(sqlite3 "$W/base.db" "SELECT count(*) FROM acl_rules") # mkdb's own few

printf '%-28s %10s %10s %8s\n' case import_s sqlite3_s ratio
run_case() { # LABEL NRULES NENTRIES
	local f=$W/in-$2-$3.txt imp=() ref=() i
	gen "$2" "$3" "$f"
	for i in $(seq "$TRIALS"); do
		cp "$W/base.db" "$W/ref.db"
		ref+=("$(ms sh -c "sqlite3 '$W/ref.db' <'$f.sql'")")
		cp "$W/base.db" "$W/imp.db"
		imp+=("$(ms "$ACL" -d "$W/imp.db" -k "$W/key" import "$f")")
	done
	local mi mr
	mi=$(printf '%s\n' "${imp[@]}" | median)
	mr=$(printf '%s\n' "${ref[@]}" | median)
	printf '%-28s %10s %10s %8s\n' "$1" "$(secs "$mi")" "$(secs "$mr")" "$(ratio "$mi" "$mr")"
	n=$(($(sqlite3 "$W/imp.db" "SELECT count(*) FROM acl_rules") - base))
	[ "$n" -eq "$2" ] || { echo "bench-import: $n rules imported, expected $2" >&2; exit 1; }
}
run_case "5k rules" 5000 0
run_case "20k rules" 20000 0
run_case "100k rules" 100000 0
run_case "100k rules + 10k entries" 100000 10000
# merge: the same file again into the filled database (nothing new)
m=()
for _ in $(seq "$TRIALS"); do
	m+=("$(ms "$ACL" -d "$W/imp.db" -k "$W/key" import "$W/in-100000-10000.txt")")
done
mi=$(printf '%s\n' "${m[@]}" | median)
printf '%-28s %10s\n' "merge again (all kept)" "$(secs "$mi")"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
