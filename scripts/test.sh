#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# test.sh - build mqttsec out of tree and run the whole test suite.
#
#   scripts/test.sh [CONFIGURE_ARGS...]
#
# Installs missing Debian packages (scripts/deps.sh), regenerates the build
# system, configures in _build (or _build-san with --enable-sanitizers;
# BUILD_DIR overrides), builds, runs `make check`, prints the logs of the
# failing tests, and ends with one line: "N passed, N failed[, N skipped]".
# Exit status: 0 when everything passed.
#
# Environment: CONFIGURE_FLAGS (extra configure arguments), BUILD_DIR,
# TESTS (a subset of the suite, as for make check), JOBS (parallel build
# jobs, default nproc), CHECK_JOBS (parallel tests, default 4 x JOBS: the
# integration tests mostly wait on processes, and every wait in them is on an
# event with a generous bound, so they run in parallel on a busy machine).
#
# The build always treats an ignored MQS_MUST_CHECK result as an error
# (--enable-werror=unused-result) unless the arguments say otherwise
# (--enable-werror makes every warning an error, as .ci/run does;
# --disable-werror none).
set -u

cd "$(dirname "$0")/.." || exit 1
top=$(pwd)

# shellcheck disable=SC2206
cflags=(${CONFIGURE_FLAGS:-} "$@")
builddir=${BUILD_DIR:-_build}
case " ${cflags[*]} " in
*" --enable-werror"* | *" --disable-werror "*) ;;
*) cflags+=(--enable-werror=unused-result) ;;
esac
case " ${cflags[*]} " in
*" --enable-sanitizers "*) builddir=${BUILD_DIR:-_build-san} ;;
esac
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
check_jobs=${CHECK_JOBS:-$((4 * jobs))}

summary() {
	echo "$1 passed, $2 failed${3:+, $3 skipped}"
}

step() {
	echo "== $*"
}

step "dependencies"
scripts/deps.sh || {
	summary 0 1
	exit 1
}

step "autoreconf"
autoreconf -fi >"$top/.autoreconf.log" 2>&1 || {
	cat "$top/.autoreconf.log"
	echo "test.sh: autoreconf failed" >&2
	summary 0 1
	exit 1
}
rm -f "$top/.autoreconf.log"

step "configure in $builddir ${cflags[*]}"
mkdir -p "$builddir" && cd "$builddir" || exit 1
../configure -q "${cflags[@]}" || {
	echo "test.sh: configure failed (see $builddir/config.log)" >&2
	summary 0 1
	exit 1
}

step "make -j$jobs"
make -s -j"$jobs" >/dev/null || {
	# once more, serially, so the first error is the last thing printed
	make -s 2>&1 | tail -n 40
	echo "test.sh: build failed" >&2
	summary 0 1
	exit 1
}

step "make -j$check_jobs check"
stamp=$(mktemp "$top/$builddir/.check-stamp.XXXXXX")
# one line per test case is a lot: show everything but the passing cases
targs=()
if [ -n "${TESTS:-}" ]; then
	targs=(TESTS="$TESTS")
fi
make -s -j"$check_jobs" check "${targs[@]}" 2>&1 | grep -v '^PASS: '
rc=${PIPESTATUS[0]}

# Count results from the .trs files written by this run.  A test script that
# exits non-zero after failing cases also gets an ERROR result for its exit
# status: count that only when the script reported no failing case itself,
# so every failure is counted once.
passed=0
failed=0
skipped=0
failing=()
while IFS= read -r -d '' trs; do
	p=$(grep -cE '^:test-result: (PASS|XFAIL)' "$trs")
	f=$(grep -cE '^:test-result: (FAIL|XPASS)' "$trs")
	e=$(grep -cE '^:test-result: ERROR' "$trs")
	s=$(grep -cE '^:test-result: SKIP' "$trs")
	if [ "$f" -eq 0 ]; then
		f=$e
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	if grep -qE '^:global-test-result: (FAIL|XPASS|ERROR)' "$trs"; then
		failing+=("${trs%.trs}.log")
	fi
done < <(find . -name '*.trs' -newer "$stamp" -print0 | sort -z)
rm -f "$stamp"

for log in "${failing[@]}"; do
	echo
	echo "======== $builddir/${log#./} (passing cases left out) ========"
	grep -vE '^(ok [0-9]|PASS: )' "$log"
done
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	# make check failed without a failing test (e.g. a test did not build)
	echo "test.sh: make check failed before the tests ran" >&2
	failed=1
fi
if [ "$skipped" -gt 0 ]; then
	summary "$passed" "$failed" "$skipped"
else
	summary "$passed" "$failed"
fi
exit "$rc"
