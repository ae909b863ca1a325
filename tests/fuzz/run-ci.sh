#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# tests/fuzz/run-ci.sh - the fuzzing stage of CI (tests/fuzz/README.md):
# builds every libFuzzer target (tests/fuzz/fuzz-*.c) with clang,
# ASan and UBSan in its own build folder, then runs each for
# MQS_FUZZ_SECONDS (60) on a scratch copy of its seeds
# (tests/fuzz/seeds/NAME/) and its dictionary (tests/fuzz/NAME.dict) when
# there is one, MQS_FUZZ_JOBS (2) at a time, each bounded by timeout.
# Exit 0: no target found anything; 1: a crash, leak, sanitizer report,
# hang or build failure (the target's log is printed, the reproducer is
# kept in the build folder); 77: skipped (no clang or no libFuzzer runtime;
# the reason is printed).
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
secs=${MQS_FUZZ_SECONDS:-60}
jobs=${MQS_FUZZ_JOBS:-2}
build=${MQS_FUZZ_BUILD_DIR:-$src/_fuzz-ci}

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz: SKIPPED: clang is not installed (apt-get install clang libclang-rt-14-dev)"
	exit 77
fi
probe=$(mktemp -d) || exit 1
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
	rm -rf "$probe"
	echo "fuzz: SKIPPED: clang has no libFuzzer runtime (apt-get install libclang-rt-14-dev)"
	exit 77
fi
rm -rf "$probe"

targets=()
for f in "$src"/tests/fuzz/fuzz-*.c; do
	targets+=("tests/fuzz/$(basename "$f" .c)")
done

mkdir -p "$build" || exit 1
cd "$build" || exit 1
if [ ! -f Makefile ]; then
	if [ ! -x "$src/configure" ]; then
		(cd "$src" && autoreconf -fi) || exit 1
	fi
	CC=clang "$src/configure" -q --enable-fuzzing || {
		echo "fuzz: FAILED: configure --enable-fuzzing"
		exit 1
	}
fi
if ! make -s -j"$jobs" "${targets[@]}"; then
	echo "fuzz: FAILED: the fuzz targets do not build"
	exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
out=$build/fuzz-run
rm -rf "$out"
mkdir -p "$out"

# Run one target; its log is $out/NAME.log, its status $out/NAME.rc.
run_one() {
	local t=$1 name=${1#tests/fuzz/fuzz-}
	local args=(-max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
		-artifact_prefix="$out/$name-")
	mkdir -p "$out/corpus-$name"
	if [ -d "$src/tests/fuzz/seeds/$name" ]; then
		cp -r "$src/tests/fuzz/seeds/$name/." "$out/corpus-$name/"
	fi
	[ -f "$src/tests/fuzz/$name.dict" ] && args+=(-dict="$src/tests/fuzz/$name.dict")
	timeout -k 10 $((secs + 90)) "./$t" "${args[@]}" "$out/corpus-$name" >"$out/$name.log" 2>&1
	echo $? >"$out/$name.rc"
}

start=$(date +%s)
running=0
for t in "${targets[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	run_one "$t" &
	running=$((running + 1))
done
wait

status=0
for t in "${targets[@]}"; do
	name=${t#tests/fuzz/fuzz-}
	rc=$(cat "$out/$name.rc" 2>/dev/null || echo 99)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log" | tail -n 1)
	last=$(grep -E '^#[0-9]+' "$out/$name.log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
	if [ "$rc" = 0 ]; then
		echo "fuzz: ok   $name: ${runs:-?} runs in ${secs}s, ${last:-no coverage line}"
	else
		echo "fuzz: FAIL $name (exit $rc); log $out/$name.log:"
		grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$out/$name.log" | head -n 20
		tail -n 30 "$out/$name.log"
		status=1
	fi
done
echo "fuzz: ${#targets[@]} targets, $(($(date +%s) - start)) s running"
exit "$status"
