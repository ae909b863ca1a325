#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 66-plugin-key-push.sh - online topic keys without asking
# (docs/payload-encryption.md, "Online keys"): `mqttsec-device subscribe`
# fetches the keys it lacks at start (no file copied); after a rotation the
# broker pushes the new key to it (no new request) and it opens the next
# messages; a subscriber whose file holds only the old key fetches when it
# meets the new key id, and the message that carried it is not lost.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN" "$ENVELOPE_PY"
need_python_module cryptography

for d in sub1 sub3 pub1; do
	pdevice "$d"
done
acl acl add allow all sub1 'site1/#' >/dev/null
acl acl add allow all sub3 'site1/#' >/dev/null
acl acl add allow pub pub1 'site1/#' >/dev/null
acl topic protect 'site1/#' >/dev/null || bail_out "topic protect failed"
read -r K1 _ < <(acl key list 'site1/#' 2>/dev/null | awk 'NR > 1 {print $1}' | head -1)

start_plugin_broker

_sent() {
	[ "$(grep -c "mqttsec: sent .* of $1 " "$MOSQ_LOG")" -ge "$2" ]
}
sent_n() {
	grep -c "mqttsec: sent .* of $1 " "$MOSQ_LOG"
}

# sub3 fetches the first key by hand now (its file then holds only that one)
ok "sub3 fetches the first key" devrun sub3 keys fetch 'site1/#'

start_bg sub1 "$DEVICE_BIN" -c "$TEST_TMP/sub1.json" subscribe -h 127.0.0.1 -p "$MOSQ_PORT" \
	-t 'site1/#' -v -q 1
SLOG=$TEST_TMP/sub1.log
ok "the subscriber asks for its keys at start" wait_for 10 _sent sub1 1
ok "... and merges them" wait_for 5 grep -q 'fetched 1 topic keys' "$SLOG"
ok "a sealed message" devrun pub1 publish -t site1/a -m 'before rotation' -q 1 --seal
ok "is read with the fetched key" wait_for 5 grep -qxF 'site1/a pub1 before rotation' "$SLOG"

before=$(reloads)
acl key rotate 'site1/#' >/dev/null || bail_out "key rotate failed"
ok "the broker reloads" wait_for 10 _reloaded_since "$before"
ok "and pushes the new key" wait_for 10 logged 'mqttsec: pushed new topic keys in 1 answers'
_fetched2() {
	[ "$(grep -c 'fetched [0-9]* topic keys' "$SLOG")" -ge 2 ]
}
ok "the subscriber merges the pushed keys" wait_for 5 _fetched2
is "$(topickeys sub1 'site1/#' | wc -l)" 2 "its file holds the new and the old key"
ok "a message under the new key" devrun pub1 publish -t site1/a -m 'after rotation' -q 1 --seal
ok "is read at once" wait_for 5 grep -qxF 'site1/a pub1 after rotation' "$SLOG"
is "$(sent_n sub1)" 1 "sub1 never asked again"

# sub3: its file holds the old key only; the first message under the new
# key makes it fetch, and that message is delivered once the key is in
is "$(topickeys sub3 'site1/#' | wc -l)" 1 "sub3 holds one key"
_wait_step sub3
start_bg sub3 "$DEVICE_BIN" -c "$TEST_TMP/sub3.json" subscribe -h 127.0.0.1 -p "$MOSQ_PORT" \
	-t 'site1/#' -v -q 1
_sub3_up() {
	[ "$(grep -c 'Sending SUBACK to' "$MOSQ_LOG")" -ge 4 ]
}
ok "sub3 subscribed" wait_for 10 _sub3_up
ok "a message under the new key" devrun pub1 publish -t site1/b -m 'for sub3' -q 1 --seal
ok "sub3 fetches on the unknown key id" wait_for 10 _sent sub3 2
ok "and prints the message it kept" wait_for 10 grep -qxF 'site1/b pub1 for sub3' "$TEST_TMP/sub3.log"
is "$(topickeys sub3 'site1/#' | wc -l)" 2 "sub3's file holds both keys now"

# many fetchers: the push is spread over several broker loop passes (at most
# 64 answers a pass) and every one of them still gets the new key
NMANY=80
acl group add many >/dev/null
for i in $(seq "$NMANY"); do
	device "m$i" >/dev/null
	acl group member add many "m$i" >/dev/null
done
acl acl add allow all @many 'many/#' >/dev/null
before=$(reloads)
acl topic protect 'many/#' >/dev/null || bail_out "topic protect failed"
ok "the broker loads $NMANY more devices" wait_for 30 _reloaded_since "$before"
start_bg many python3 "$top_srcdir/bench/keypush_clients.py" "$MOSQ_PORT" 'many/#' \
	"$TEST_TMP/many.ready" $(for i in $(seq "$NMANY"); do echo "$TEST_TMP/m$i.json"; done)
ok "all of them fetched the key" wait_for 120 test -f "$TEST_TMP/many.ready"
ok "... every one" grep -qx "fetched $NMANY" "$TEST_TMP/many.log"
rm -f "$TEST_TMP/many.ready"
acl key rotate 'many/#' >/dev/null || bail_out "key rotate failed"
ok "every one gets the pushed key" wait_for 120 grep -qx "pushed $NMANY in .* s" "$TEST_TMP/many.log"
ok "in several passes" wait_for 10 grep -qE \
	"pushed new topic keys in $NMANY answers \(.* ms, ([2-9]|[1-9][0-9]+) passes" "$MOSQ_LOG"
grep 'pushed new topic keys' "$MOSQ_LOG" | sed 's/^/# /'

# the plugin's own rotation (--rotate-every) pushes at the rotation, before
# the view that holds the new key is built
device au1
acl acl add allow all au1 'auto/#' >/dev/null
before=$(reloads)
acl topic protect 'auto/#' --rotate-every 2s >/dev/null || bail_out "topic protect failed"
ok "the broker loads au1" wait_for 30 _reloaded_since "$before"
start_bg au1 "$DEVICE_BIN" -c "$TEST_TMP/au1.json" subscribe -h 127.0.0.1 -p "$MOSQ_PORT" \
	-t 'auto/#' -v -q 1
ok "au1 fetches its key" wait_for 10 _sent au1 1
# the first event after a rotation that follows au1's fetch: a push, not a reload
_after_rotation() {
	awk -v n="$(grep -c . "$MOSQ_LOG")" '
		/mqttsec: sent .* of au1 / { f = 1 }
		f && /mqttsec: rotated topic key/ { r = 1; next }
		r && /mqttsec: pushed new topic keys in 1 answers/ { print "push"; exit }
		r && /mqttsec: reloaded/ { print "reload"; exit }' "$MOSQ_LOG"
}
_rotated_after() {
	[ -n "$(_after_rotation)" ]
}
ok "the plugin rotates auto/#" wait_for 20 _rotated_after
is "$(_after_rotation)" push "the push comes at the rotation, before the reload"

done_testing
