#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench-console.sh - memory of mqttsec-console (docs/PERFORMANCE.md): VmRSS
# idle after start, and after N sign-ins (default 1000; one per user, each
# with password + TOTP, over plain HTTP on loopback), with the Argon2id
# parameters given (default: the test parameters t=1, m=1 MiB, so that the
# run measures the console and not Argon2's transient 64 MiB).
# Run from a build dir: top_srcdir=.. top_builddir=. bash ../bench/bench-console.sh [N] [M_KIB] [T]
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/..}/tests/integration/lib.sh"
N=${1:-1000}
M_KIB=${2:-1024}
T=${3:-1}
need_file "$CONSOLE_BIN"
need_cmd curl oathtool
console_setup "[console]" "argon2_memory_kib = $M_KIB" "argon2_time = $T" \
	"max_failures_per_address = 100000"
rss() { awk '/^VmRSS/ {print $2}' "/proc/${BG_PID[console]}/status"; }
for i in $(seq 1 "$N"); do
	console_user_add "u$i" operator >/dev/null || bail_out "user add u$i failed"
done
console_start || bail_out "console did not start"
console_get /signin >/dev/null
IDLE=$(rss)
T0=$(date +%s.%N)
fails=0
for i in $(seq 1 "$N"); do
	console_signin "u$i" || fails=$((fails + 1))
done
T1=$(date +%s.%N)
AFTER=$(rss)
echo "users $N, argon2 t=$T m=${M_KIB}KiB; failed sign-ins: $fails"
echo "VmRSS idle: $IDLE KiB; after $N sign-ins: $AFTER KiB"
awk -v a="$T0" -v b="$T1" -v n="$N" 'BEGIN { printf "sign-in (form + POST + dashboard, curl): %.1f ms each\n", (b - a) * 1000 / n }'
echo "load: $(uptime)"
pass "done"
done_testing
