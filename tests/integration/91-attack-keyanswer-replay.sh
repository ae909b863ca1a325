#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 91-attack-keyanswer-replay.sh - as 75, but the proxy replays the answer
# to the subscriber's fetch at start, whose nonce was still its current one
# (no request since): before the fix it matched, skipped the freshness
# check, and rolled the file back to the retired key.  Now the subscriber
# drops it (the nonce is used up, and it is older than the keys held), keeps
# the newest key, and reads the next message at once without asking again.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN"

pdevice sub1
pdevice pub1
acl acl add allow all sub1 'site1/#' >/dev/null
acl acl add allow pub pub1 'site1/#' >/dev/null
acl topic protect 'site1/#' >/dev/null || bail_out "topic protect failed"
start_plugin_broker

INJ=$TEST_TMP/inject
PROXY_PORT=$(free_port)
start_bg proxy python3 "$top_srcdir/tests/tools/replayproxy.py" "$PROXY_PORT" "$MOSQ_PORT" "$INJ"
wait_port "$PROXY_PORT" || bail_out "the proxy did not start"
start_bg sub1 "$DEVICE_BIN" -c "$TEST_TMP/sub1.json" subscribe -h 127.0.0.1 -p "$PROXY_PORT" \
	-t 'site1/#' -v -q 1
SLOG=$TEST_TMP/sub1.log
_fetched() {
	[ "$(grep -c 'fetched [0-9]* topic keys' "$SLOG")" -ge "$1" ]
}
_recorded() {
	[ "$(cat "$INJ.count" 2>/dev/null || echo 0)" -ge "$1" ]
}
sent_n() {
	grep -c "mqttsec: sent .* of sub1 " "$MOSQ_LOG"
}
ok "the subscriber fetches its key at start" wait_for 10 _fetched 1
for r in 1 2; do
	before=$(reloads)
	acl key rotate 'site1/#' >/dev/null || bail_out "key rotate failed"
	ok "rotation $r: the broker reloads" wait_for 10 _reloaded_since "$before"
	ok "rotation $r: the subscriber merges the pushed keys" wait_for 10 _fetched $((r + 1))
	ok "rotation $r: the proxy recorded the push" wait_for 5 _recorded $((r + 1))
done
NEWEST=$(topickeys sub1 'site1/#' | awk '{print $1}' | sort -n | tail -1)
NF=$(grep -c 'fetched [0-9]* topic keys' "$SLOG")
echo 0 >"$INJ"
ok "the proxy replays the answer to the fetch at start" wait_for 10 test -f "$INJ.done"
sleep 2
is "$(grep -c 'fetched [0-9]* topic keys' "$SLOG")" "$NF" "the subscriber does not merge it"
is "$(topickeys sub1 'site1/#' | awk '{print $1}' | sort -n | tail -1)" "$NEWEST" \
	"its file still holds the newest key"
ok "a message under the newest key" devrun pub1 publish -t site1/a -m 'after replay' -q 1 --seal
ok "is read at once" wait_for 10 grep -qxF 'site1/a pub1 after replay' "$SLOG"
is "$(sent_n)" 1 "the subscriber never had to ask again"
stop_bg sub1
stop_bg proxy
done_testing
