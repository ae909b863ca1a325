#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/fuzz/replay-seeds.sh - every libFuzzer target, built with the
# replay driver (tests/fuzz/replay-main.c) in the normal build, runs once on
# each of its checked-in seeds (tests/fuzz/seeds/NAME/), so that `make
# check` compiles and exercises every target with any compiler
# (tests/fuzz/README.md, "Replaying the seeds in every build").  TAP, one
# test per target; a target fails a check by aborting.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-$(pwd)}
names=""
for f in "$src"/tests/fuzz/fuzz-*.c; do
	n=$(basename "$f" .c)
	names="$names ${n#fuzz-}"
done
count=$(echo $names | wc -w)
echo "1..$count"
i=0
for n in $names; do
	i=$((i + 1))
	bin="$build/tests/fuzz/replay-$n"
	seeds="$src/tests/fuzz/seeds/$n"
	log="$build/tests/fuzz/replay-$n.log"
	if [ ! -x "$bin" ]; then
		echo "not ok $i - $n: $bin is not built (every fuzz-*.c needs a replay-NAME in Makefile.am)"
		continue
	fi
	if [ ! -d "$seeds" ]; then
		echo "not ok $i - $n: no seeds in tests/fuzz/seeds/$n"
		continue
	fi
	# a scratch folder for targets that write temporary files
	if (cd "${TMPDIR:-/tmp}" && "$bin" "$seeds") >"$log" 2>&1; then
		echo "ok $i - $n: $(tail -n 1 "$log")"
	else
		echo "not ok $i - $n: exit $?, last lines:"
		tail -n 5 "$log" | sed 's/^/# /'
	fi
done
