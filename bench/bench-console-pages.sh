#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-console-pages.sh - render time of the console's broker pages
# (docs/console.md "Broker pages") on a broker database with 10,000 devices
# and 100,000 ACL rules (bench/bench-plugin-mkdb), measured with curl -w
# (time_total, loopback HTTP) against references in the same run,
# alternating the requests:
#   - the console's dashboard "/" (the core's page, no broker database):
#     the cost of a request, session and layout alone;
#   - mqttsec-acl device list / acl show of the whole table (what a page
#     would cost without pagination).
# Pages: /devices (first page, page 100, a search), /acl (first page, page
# 1000, a subject), /acl/test for one device, /audit.
# Run from a build dir after "make check TESTS=" (builds bench-plugin-mkdb):
#   ../bench/bench-console-pages.sh
# Knobs: BENCH_DEVICES (10000), BENCH_RULES (100000), BENCH_TRIALS (7; the
# median is printed).
set -eu
export LC_ALL=C

top_builddir=${top_builddir:-$PWD}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
export top_builddir top_srcdir
NDEV=${BENCH_DEVICES:-10000}
NRULES=${BENCH_RULES:-100000}
TRIALS=${BENCH_TRIALS:-7}
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

PAGES=(/ /devices "/devices?page=100" "/devices?q=dev0004" /acl "/acl?page=1000"
	"/acl?subject=$SUBJECT" "/acl/test?topic=bench/x/y&device=$SUBJECT" /audit)
declare -A T=()
for ((i = 0; i < TRIALS; i++)); do
	for p in "${PAGES[@]}"; do
		T[$p]+="$(page_ms "$p") "
	done
	T[cli-devices]+="$(cli_ms device list) "
	T[cli-rules]+="$(cli_ms acl show) "
done
REF=$(printf '%s\n' ${T[/]} | median)
echo "console pages, $NDEV devices, $NRULES rules, median of $TRIALS, load: $(uptime | sed 's/.*load average: //')"
printf '%-44s %10s %10s\n' "request" "ms" "x dashboard"
for p in "${PAGES[@]}" cli-devices cli-rules; do
	m=$(printf '%s\n' ${T[$p]} | median)
	printf '%-44s %10s %10s\n' "$p" "$m" "$(awk -v a="$m" -v b="$REF" 'BEGIN {printf "%.1f", a / b}')"
done
echo "(cli-devices: mqttsec-acl device list, cli-rules: mqttsec-acl acl show, whole tables)"
