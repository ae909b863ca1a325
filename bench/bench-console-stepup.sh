#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-console-stepup.sh - the cost of the console's step-up
# (docs/console.md "Step-up") with the default Argon2id parameters (t=3,
# m=64 MiB, p=1), curl time_total on loopback HTTP, against references in
# the same run, alternating the requests:
#   - POST /stepup with the right password and a wrong code (one Argon2id
#     verification) against POST /signin with the same (the reference: a
#     step-up costs what a sign-in costs, for the user and for a guesser);
#   - a sensitive POST refused for a stale step-up (the 403 step-up form)
#     against GET / (the reference: a refusal does no Argon2id work).
# Failures are not limited here (max_failures 1000, per address 100000).
# Run from a build dir after "make": ../bench/bench-console-stepup.sh
# Knobs: BENCH_TRIALS (9; the median of each is printed, and the ratio).
set -eu
export LC_ALL=C

top_builddir=${top_builddir:-$PWD}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
export top_builddir top_srcdir
TRIALS=${BENCH_TRIALS:-9}
set +u
# shellcheck source=/dev/null
. "$top_srcdir/tests/integration/lib.sh"
set -u

console_setup "[console]" "argon2_time = 3" "argon2_memory_kib = 65536" \
	"max_failures = 1000" "max_failures_per_address = 100000"
console_user_add alice admin >/dev/null || { echo "bench-console-stepup: cannot add a user" >&2; exit 1; }
console_user_add oscar operator >/dev/null || { echo "bench-console-stepup: cannot add a user" >&2; exit 1; }
console_start >/dev/null || { echo "bench-console-stepup: the console did not start" >&2; exit 1; }
console_signin alice || { echo "bench-console-stepup: cannot sign in" >&2; exit 1; }
sqlite3 "$TEST_TMP/console/console.db" "UPDATE sessions SET stepup_at = 1"
PW=$(console_password alice)

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# ms WANT CURL_ARGS...: one request's time_total in ms (fails unless WANT)
ms() {
	local want=$1 out
	shift
	out=$(_console_curl -o /dev/null -w '%{http_code} %{time_total}' "$@")
	[ "${out%% *}" = "$want" ] || { echo "bench-console-stepup: answered ${out%% *}" >&2; exit 1; }
	awk -v t="${out#* }" 'BEGIN {printf "%.2f\n", t * 1000}'
}
signin_ms() {
	console_login_form >/dev/null || exit 1
	ms 403 -H "Cookie: __Host-mqs_login=$_CONSOLE_LOGIN" --data-urlencode "csrf=$_CONSOLE_LOGIN_CSRF" \
		--data-urlencode "name=alice" --data-urlencode "password=$PW" \
		--data-urlencode "code=000000" "$CONSOLE_URL/signin"
}
session() { echo "Cookie: __Host-mqs_session=$CONSOLE_SID"; }
stepup_ms() {
	ms 403 -H "$(session)" --data-urlencode "csrf=$CONSOLE_CSRF" --data-urlencode "next=/users" \
		--data-urlencode "password=$PW" --data-urlencode "code=000000" "$CONSOLE_URL/stepup"
}
refused_ms() {
	ms 403 -H "$(session)" --data-urlencode "csrf=$CONSOLE_CSRF" --data-urlencode "name=oscar" \
		"$CONSOLE_URL/users/disable"
}
dash_ms() {
	ms 200 -H "$(session)" "$CONSOLE_URL/"
}

: >"$TEST_TMP/signin" >"$TEST_TMP/stepup" >"$TEST_TMP/refused" >"$TEST_TMP/dash"
for _ in $(seq "$TRIALS"); do
	signin_ms >>"$TEST_TMP/signin"
	stepup_ms >>"$TEST_TMP/stepup"
	dash_ms >>"$TEST_TMP/dash"
	refused_ms >>"$TEST_TMP/refused"
done
a=$(median <"$TEST_TMP/signin") b=$(median <"$TEST_TMP/stepup")
c=$(median <"$TEST_TMP/dash") e=$(median <"$TEST_TMP/refused")
printf 'sign-in (right password, wrong code)  %8.2f ms (reference)\n' "$a"
printf 'step-up (right password, wrong code)  %8.2f ms  %.2fx sign-in\n' "$b" "$(awk -v x="$b" -v y="$a" 'BEGIN {print x / y}')"
printf 'GET / (dashboard)                     %8.2f ms (reference)\n' "$c"
printf 'sensitive POST, stale step-up (403)   %8.2f ms  %.2fx dashboard\n' "$e" "$(awk -v x="$e" -v y="$c" 'BEGIN {print x / y}')"
echo "load: $(uptime | sed 's/.*load average: //')"
