#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-console-pages.sh - render time of the console's broker pages
# (docs/console.md "Broker pages", "Long listings") on a broker database
# with 10,000 devices, 100,000 ACL rules (bench/bench-plugin-mkdb) and
# 100,000 audit rows, measured with curl -w (time_total, loopback HTTP)
# against references in the same run, alternating the requests:
#   - the console's dashboard "/" (the core's page, no broker database):
#     the cost of a request, session and layout alone (the "x dashboard"
#     column);
#   - the same pages asked by number (?page=N, OFFSET paging, the way every
#     page was asked before keyset paging);
#   - mqttsec-acl device list / acl show of the whole table (what a page
#     would cost without pagination).
# Pages: the first, middle and last page of /devices, /acl and /audit by
# key (?after=KEY of the middle row, ?last=1) and by number, /acl of one
# subject and a search, /acl/test for one device.
# Run from a build dir after "make check TESTS=" (builds bench-plugin-mkdb):
#   ../bench/bench-console-pages.sh
# Knobs: BENCH_DEVICES (10000), BENCH_RULES (100000), BENCH_AUDIT (100000),
# BENCH_TRIALS (7; the median is printed).
set -eu
export LC_ALL=C

top_builddir=${top_builddir:-$PWD}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
export top_builddir top_srcdir
NDEV=${BENCH_DEVICES:-10000}
NRULES=${BENCH_RULES:-100000}
TRIALS=${BENCH_TRIALS:-7}
NAUDIT=${BENCH_AUDIT:-100000}
MKDB=$top_builddir/bench/bench-plugin-mkdb
ACL=$top_builddir/acl/mqttsec-acl
[ -x "$MKDB" ] || { echo "bench-console-pages: missing $MKDB (run make check TESTS= first)" >&2; exit 1; }
set +u
# shellcheck source=/dev/null
. "$top_srcdir/tests/integration/lib.sh"
set -u

export MQTTSEC_DB=$TEST_TMP/mqttsec.db MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/master.key
"$ACL" init >/dev/null
rm -f "$MQTTSEC_DB"
"$MKDB" "$MQTTSEC_DB" "$MQTTSEC_MASTER_KEY_FILE" "$TEST_TMP/creds" "$NDEV" "$NRULES" 0 >/dev/null
console_setup "[broker]" "db = $MQTTSEC_DB" "master_key_file = $MQTTSEC_MASTER_KEY_FILE"
console_user_add alice admin >/dev/null || { echo "bench-console-pages: cannot add a user" >&2; exit 1; }
console_start >/dev/null || { echo "bench-console-pages: the console did not start" >&2; exit 1; }
console_signin alice || { echo "bench-console-pages: cannot sign in" >&2; exit 1; }
SUBJECT=$(sqlite3 "$MQTTSEC_DB" "SELECT subject FROM acl_rules WHERE subject NOT LIKE '@%' LIMIT 1")
sqlite3 "$MQTTSEC_DB" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $NAUDIT)
	INSERT INTO audit (at, who, action, detail) SELECT 1700000000 + i, 'bench', 'device add',
	'dev' || i FROM n"
# the keys of the middle rows, as the console gives them (docs/console.md "Long listings")
DEV_MID=$(sqlite3 "$MQTTSEC_DB" "SELECT name FROM devices ORDER BY name LIMIT 1 OFFSET $((NDEV / 2 - 1))")
RULE_MID=$(sqlite3 "$MQTTSEC_DB" "SELECT page_prio || ',' || page_allow || ',' || id FROM acl_rules
	ORDER BY page_prio, page_allow, id LIMIT 1 OFFSET $((NRULES / 2 - 1))")
AUDIT_MID=$(sqlite3 "$MQTTSEC_DB" "SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET $((NAUDIT / 2 - 1))")
urlenc() { "$PYTHON" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# page_ms PATH: one request's time_total in ms (fails unless 200)
page_ms() {
	local out
	out=$(_console_curl -o /dev/null -w '%{http_code} %{time_total}' \
		-H "Cookie: __Host-mqs_session=$CONSOLE_SID" "$CONSOLE_URL$1")
	[ "${out%% *}" = 200 ] || { echo "bench-console-pages: $1 answered ${out%% *}" >&2; exit 1; }
	awk -v t="${out#* }" 'BEGIN {printf "%.2f\n", t * 1000}'
}
# cli_ms ARGS...: mqttsec-acl ARGS (output dropped), wall time in ms
cli_ms() {
	local t0
	t0=$(date +%s%N)
	"$ACL" "$@" >/dev/null
	awk -v d="$(($(date +%s%N) - t0))" 'BEGIN {printf "%.2f\n", d / 1e6}'
}

PAGES=(/
	/devices "/devices?after=$(urlenc "$DEV_MID")" "/devices?last=1"
	"/devices?page=$((NDEV / 100))" "/devices?page=$((NDEV / 50))" "/devices?q=dev0004"
	/acl "/acl?after=$(urlenc "$RULE_MID")" "/acl?last=1"
	"/acl?page=$((NRULES / 100))" "/acl?page=$((NRULES / 50))"
	"/acl?subject=$SUBJECT" "/acl?subject=$SUBJECT&last=1" "/acl?q=bench/x"
	/audit "/audit?after=$AUDIT_MID" "/audit?last=1" "/audit?page=$((NAUDIT / 100))"
	"/audit?page=$((NAUDIT / 50))"
	"/acl/test?topic=bench/x/y&device=$SUBJECT")
declare -A T=()
for ((i = 0; i < TRIALS; i++)); do
	for p in "${PAGES[@]}"; do
		T[$p]+="$(page_ms "$p") "
	done
	T[cli-devices]+="$(cli_ms device list) "
	T[cli-rules]+="$(cli_ms acl show) "
done
REF=$(printf '%s\n' ${T[/]} | median)
echo "console pages, $NDEV devices, $NRULES rules, $NAUDIT audit rows, median of $TRIALS, load: $(uptime | sed 's/.*load average: //')"
printf '%-52s %10s %10s\n' "request" "ms" "x dashboard"
for p in "${PAGES[@]}" cli-devices cli-rules; do
	m=$(printf '%s\n' ${T[$p]} | median)
	printf '%-52s %10s %10s\n' "${p:0:52}" "$m" "$(awk -v a="$m" -v b="$REF" 'BEGIN {printf "%.1f", a / b}')"
done
echo "(after=KEY: the middle page by key; last=1: the last page; page=N: by number (OFFSET),"
echo " the middle and the last; cli-devices: mqttsec-acl device list, cli-rules: mqttsec-acl"
echo " acl show, whole tables)"
set +e # the cleanup (lib.sh) waits for the console, whose status is not ours
