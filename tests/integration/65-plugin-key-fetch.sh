#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 65-plugin-key-fetch.sh - online topic keys (docs/payload-encryption.md,
# "Online keys") on a real broker: a subscriber enrolled before
# `topic protect` fetches the key with `mqttsec-device keys fetch` and reads
# protected messages with no file copied; filters it may not read, or not
# protected, are refused; grants and the answer are on record; requests are
# never forwarded; malformed, unsealed and foreign-key requests are refused
# and logged; another device can neither subscribe to nor receive the
# answers; a request flood bans the username with reason key-flood.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN" "$ENVELOPE_PY"
need_python_module cryptography

# enrolled BEFORE the topics are protected: their files hold no topic key
for d in sub1 pub1 other flood; do
	pdevice "$d"
done
acl acl add allow all sub1 'site1/#' >/dev/null
acl acl add allow pub pub1 'site1/#' >/dev/null
acl acl add allow all other '#' >/dev/null
acl acl add allow all flood 'site1/#' >/dev/null
acl topic protect 'site1/#' >/dev/null || bail_out "topic protect failed"
acl topic protect 'site2/#' >/dev/null || bail_out "topic protect failed"
is "$(topickeys sub1 'site1/#' | wc -l)" 0 "sub1's file holds no topic key"

start_plugin_broker

# a watcher that may read everything: no request or answer ever reaches it
start_bg watch timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -i watch -u other \
	-P "$(fresh other)" -t '#' -F '%t'
WLOG=$TEST_TMP/watch.log
wait_for 5 grep -q 'Sending SUBACK to watch' "$MOSQ_LOG" || bail_out "watcher did not subscribe"

ok "publisher seals a retained message on site1/a" \
	devrun pub1 publish -t site1/a -m 'hello online' -r -q 1 --seal

# --- fetch: site1/# granted, site2/# (no read right) and nope/# (not protected) refused
rc=0
devrun sub1 keys fetch 'site1/#' 'site2/#' 'nope/#' >"$TEST_TMP/fetch.out" \
	2>"$TEST_TMP/fetch.err" || rc=$?
is "$rc" 77 "keys fetch exits 77 when some filters are refused"
ok "site1/# granted" grep -q '^site1/# [0-9]' "$TEST_TMP/fetch.out"
ok "site2/# refused" grep -qxF 'mqttsec-device: refused: site2/#' "$TEST_TMP/fetch.err"
ok "nope/# refused" grep -qxF 'mqttsec-device: refused: nope/#' "$TEST_TMP/fetch.err"
is "$(topickeys sub1 'site1/#' | wc -l)" 1 "the key is now in sub1's file"
is "$(stat -c %a "$TEST_TMP/sub1.json")" 600 "the file stays 0600"
is "$(topickeys sub1 'site2/#' | wc -l)" 0 "no key of site2/#"
ok "sub1 reads the protected message with the fetched key" \
	devrun sub1 subscribe -t 'site1/#' -C 1 -v -W 60
devrun sub1 subscribe -t 'site1/#' -C 1 -v -W 60 >"$TEST_TMP/sub1.out" 2>&1
ok "... and it is the publisher's text" grep -qxF 'site1/a pub1 hello online' "$TEST_TMP/sub1.out"

sq() {
	python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$MQTTSEC_DB" "$1"
}
is "$(sq "SELECT count(*) FROM key_grants WHERE username = 'sub1' AND via = 'online' AND filter = 'site1/#'")" 1 "the grant is recorded"
is "$(sq "SELECT count(*) FROM audit WHERE action = 'key fetch' AND detail LIKE 'for=sub1 via=online granted=site1/#:%refused=2'")" 1 "the answer is audited"
ok "the answer is logged" logged 'mqttsec: sent 1 topic keys of 1 filters to client .* of sub1 (2 not granted)'

# --- bad requests: refused, logged, never forwarded
seal_as sub1 mqttsec/keys/req 'not json' "$TEST_TMP/bad.env"
ok "a sealed non-request is accepted by the broker" rawpub sub1 -t mqttsec/keys/req -f "$TEST_TMP/bad.env"
ok "... and refused as malformed" wait_for 5 logged 'refused key request from client .*: malformed request: not a key request'
ok "plaintext request sent" rawpub sub1 -t mqttsec/keys/req -m '{"filters":["site1/#"],"nonce":"AAECAwQFBgcICQoLDA0ODw=="}'
ok "... refused as not an envelope" wait_for 5 logged 'malformed request: not an envelope'
seal_as other mqttsec/keys/req '{"filters":["site1/#"],"nonce":"AAECAwQFBgcICQoLDA0ODw=="}' "$TEST_TMP/foreign.env"
ok "a request sealed with another device's key sent" rawpub sub1 -t mqttsec/keys/req -f "$TEST_TMP/foreign.env"
ok "... refused" wait_for 5 logged 'unknown device or key: not sealed with its device key'
seal_as sub1 mqttsec/keys/req '{"filters":["site1/#"],"nonce":"AAECAwQFBgcICQoLDA0ODw=="}' \
	"$TEST_TMP/stale.env" --ts-ms $(($(now_ms) - 3600000))
ok "a stale request sent" rawpub sub1 -t mqttsec/keys/req -f "$TEST_TMP/stale.env"
ok "... refused" wait_for 5 logged 'does not open or not fresh: not fresh'

# --- another device and the answers
rc=0
timeout 60 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u other -P "$(fresh other)" -V 5 \
	-t mqttsec/keys/sub1 -E >"$TEST_TMP/other.out" 2>&1 || rc=$?
ok "another device may not subscribe to sub1's answers" grep -qi 'denied\|not authori' "$TEST_TMP/other.out"
rc=0
pub other "$(fresh other)" -t mqttsec/keys/sub1 -m forged -q 1 -V 5 2>/dev/null || rc=$?
seal_as sub1 mqttsec/keys/req '{"filters":["site1/#"],"nonce":"AAECAwQFBgcICQoLDA0ODw=="}' "$TEST_TMP/again.env"
ok "one more valid request" rawpub sub1 -t mqttsec/keys/req -f "$TEST_TMP/again.env"
_sent_n() {
	[ "$(grep -c 'mqttsec: sent .* of sub1' "$MOSQ_LOG")" -ge "$1" ]
}
ok "answered" wait_for 5 _sent_n 2
# a marker through the watcher: what was sent before it has been delivered by then
rawpub other -t zz/marker -m x
wait_for 5 grep -qxF zz/marker "$WLOG"
ok "the watcher never saw a request or an answer" bash -c "! grep -q '^mqttsec/keys/' '$WLOG'"
ok "no forged answer reached anyone either" bash -c "! grep -qxF 'mqttsec/keys/sub1' '$WLOG'"

# --- flood: 10 at once, 20 more refused in a row, then a key-flood ban (200
# requests: a refill every 2 s on a slow run still leaves 20 refused in a row)
for i in $(seq 200); do
	echo '{"filters":["site1/#"],"nonce":"AAECAwQFBgcICQoLDA0ODw=="}'
done >"$TEST_TMP/flood.lines"
devrun flood publish -i flood-1 -t mqttsec/keys/req -q 1 --seal -l <"$TEST_TMP/flood.lines" >/dev/null 2>&1
ok "the flood is refused by the rate limit" wait_for 5 logged 'refused key request from client flood-1: rate limit'
ok "... and bans the username" wait_for 5 logged 'banned username flood for [0-9]* s: key request flood from client flood-1 (key-flood)'
_ban_row() {
	[ "$(sq "SELECT count(*) FROM list_entries WHERE kind = 'deny' AND match = 'username' AND pattern = 'flood' AND reason = 'key-flood'")" = 1 ]
}
ok "the ban is in the database with reason key-flood" wait_for 10 _ban_row
nok "the flooding device cannot connect any more" connects flood "$(fresh flood)"

done_testing
