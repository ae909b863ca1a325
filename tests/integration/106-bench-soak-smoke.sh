#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 106-bench-soak-smoke.sh - a 20-second run of bench/bench-soak.sh (the soak
# of docs/PERFORMANCE.md, "Soak") with 20 devices: the broker with the
# plugin, the gateway and the SMTP sink start, both phases run, every
# message reaches the subscriber intact (none lost, duplicated or refused,
# alerts sent and every one delivered), the CSV has its rows, and the
# gateway answers SIGUSR1 with its memory line (docs/gateway.md, "Memory";
# the script samples it into gw-mem.csv), and the rows carry the broker's
# $SYS heap and store counts.  A
# message counts as lost only after 60 s here, so a busy machine does not
# fail it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$PLUGIN_SO" "$ACL_BIN" "$GATEWAY_BIN" "$top_builddir/bench/bench-soak-load"
need_cmd timeout
need_python_module aiosmtpd
# the script starts mosquitto itself, without the sanitizer runtime preload
[ -z "$(_san_preload "$PLUGIN_SO")" ] || skip_all "sanitizer build: a benchmark"

out=$TEST_TMP/out
rc=0
# an alert every 5th session (not 25th), so a slow run sends some too
TMPDIR=$TEST_TMP timeout 600 "$top_srcdir/bench/bench-soak.sh" -n 20 -d 20 -m 5 -L 60 -a 5 \
	-o "$out" >"$TEST_TMP/soak.log" 2>&1 || rc=$?
is "$rc" 0 "bench-soak.sh ran and counted no error"
[ "$rc" = 0 ] || diag "$(tail -n 30 "$TEST_TMP/soak.log")"
summary=$(grep '^mode=soak seconds=20 ' "$TEST_TMP/soak.log" || true)
ok "phase 2 printed its totals" test -n "$summary"
field() {
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$summary"
}
ok "messages were sent" test "$(field sent)" -gt 0
is "$(field received)" "$(field sent)" "every message arrived, opened and checked"
is "$(field connects_refused)" 0 "no connect token was refused"
ok "alerts were sent" test "$(field alerts_sent)" -gt 0
is "$(field alerts_delivered)" "$(field alerts_sent)" "every alert reached the SMTP sink"
ok "the CSV has a header and two rows" test "$(wc -l <"$out/soak.csv")" -ge 3
ok "the RSS slope is reported" grep -q 'broker RSS: .* kB/min' "$TEST_TMP/soak.log"
# the monitor device reads the broker's $SYS heap and store counts (docs/PERFORMANCE.md,
# "The broker's memory"): columns 16 (heap/current, kB) and 18 (stored messages)
ok "the CSV has the broker's counted heap and stored messages" \
	awk -F, 'NR > 1 && $16 > 0 && $18 > 0 { f = 1 } END { exit !f }' "$out/soak.csv"
# a report every 10 s of the 20 s: at least one row with an RSS and a cache
ok "gw-mem.csv has the gateway's memory reports" \
	awk -F, 'NR == 2 { ok = $2 > 0 && $6 > 0 && $8 > 0 } END { exit !ok }' "$out/gw-mem.csv"
done_testing
