#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 16-plugin-protect.sh - protected topics on a real broker: sealed publishes
# are re-sealed with the topic key and the publisher as origin; plaintext,
# tampered, replayed, stale, future, foreign-topic and foreign-key envelopes
# are dropped (logged and counted); unprotected topics pass byte for byte;
# a plaintext Last Will on a protected topic is never sent; $SYS statistics.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN" "$ENVELOPE_PY"
need_python_module cryptography

acl topic protect 'sec/#' >/dev/null || bail_out "topic protect failed"
acl group add pubs >/dev/null
for d in p1 p2 p3 p4 p5 p6 p7 p8 p9 p10 p11 p12 mk; do
	pdevice "$d"
	acl group member add pubs "$d" >/dev/null
done
pdevice reader
pdevice raw
pdevice admin
acl acl add allow pub @pubs 'sec/#' >/dev/null
acl acl add allow pub @pubs 'open/#' >/dev/null
acl acl add allow all reader 'sec/#' >/dev/null
acl acl add allow all raw 'sec/#' >/dev/null
acl acl add allow all raw 'open/#' >/dev/null
acl acl add allow all admin '$SYS/broker/mqttsec/#' >/dev/null
acl acl add allow sub p12 'open/none' >/dev/null
ok "key export of sec/# to the reader" acl key export 'sec/#' --for reader \
	--out "$TEST_TMP/reader.json"
read -r TKID TKEY < <(topickeys reader 'sec/#')
read -r P1KID _ < <(devkey p1)

start_plugin_broker "plugin_opt_stats_interval 1"

# reader: opens envelopes, prints "topic origin payload"; raw: hex payloads
start_bg reader "$DEVICE_BIN" -c "$TEST_TMP/reader.json" subscribe -h 127.0.0.1 \
	-p "$MOSQ_PORT" -t 'sec/#' -v -q 1
start_bg raw timeout 900 mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -i raw -u raw \
	-P "$(fresh raw)" -t 'sec/#' -t 'open/#' -q 1 -F '%t %x'
_subscribed() {
	[ "$(grep -c 'Sending SUBACK to' "$MOSQ_LOG")" -ge 2 ]
}
wait_for 5 _subscribed || bail_out "subscribers did not subscribe"
RLOG=$TEST_TMP/reader.log
XLOG=$TEST_TMP/raw.log

# marker N: a sealed message on sec/marker, seen by both subscribers: what
# was published before it has been delivered or dropped by then.
marker() {
	devrun mk publish -t sec/marker -m "marker-$1" &&
		wait_for 5 grep -qxF -- "sec/marker mk marker-$1" "$RLOG" &&
		wait_for 5 grep -q "^sec/marker " "$XLOG"
}

# --- happy path
ok "sealed publish accepted" devrun p1 publish -t sec/a -m 'hello world' -q 1
ok "reader opens it with the topic key, origin = publisher" \
	wait_for 5 grep -qxF 'sec/a p1 hello world' "$RLOG"
wait_for 5 grep -q '^sec/a ' "$XLOG"
HEX=$(awk '$1 == "sec/a" { print $2; exit }' "$XLOG")
printf '%s' "$HEX" | xxd -r -p >"$TEST_TMP/a.env"
OUT=$(python3 "$ENVELOPE_PY" open --key-b64 "$TKEY" --topic sec/a <"$TEST_TMP/a.env" 2>&1)
is "$(grep -c . <<<"$OUT")" 4 "the raw payload opens with envelope.py (origin, key id, ts, text)"
ok "origin in the envelope is the publisher" grep -qx 'origin: p1' <<<"$OUT"
ok "re-sealed under the topic key id $TKID" grep -qx "key-id: $TKID" <<<"$OUT"
nok "not the device key id" grep -qx "key-id: $P1KID" <<<"$OUT"

# --- plaintext
rawpub p2 -t sec/plain -m 'secret in clear'
ok "plaintext on a protected topic is logged as malformed" dropped malformed
ok "marker 1" marker 1
nok "plaintext is not forwarded (raw subscriber)" grep -q '^sec/plain' "$XLOG"
nok "plaintext is not forwarded (reader)" grep -q 'secret in clear' "$RLOG"
nok "the log never holds payload bytes" grep -q 'secret in clear' "$MOSQ_LOG"

OUT=$(rawpub p2 -V 5 -q 1 -t sec/plain2 -m 'x' 2>&1)
ok "MQTT 5 QoS 1: the publisher learns the refusal" grep -qi 'not authori' <<<"$OUT"

# --- tampered byte
seal_as p3 sec/t 'tampered text' "$TEST_TMP/t.env"
python3 - "$TEST_TMP/t.env" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[30] ^= 0x01
open(p, "wb").write(bytes(b))
PY
rawpub p3 -t sec/t -f "$TEST_TMP/t.env"
ok "a tampered envelope is dropped as tampered" dropped tampered

# --- sealed for another topic
seal_as p3 sec/elsewhere 'moved' "$TEST_TMP/moved.env"
rawpub p3 -t sec/moved -f "$TEST_TMP/moved.env"
ok "an envelope sealed for another topic is dropped" dropped tampered 2

# --- replay by another connection
seal_as p4 sec/r 'once only' "$TEST_TMP/r.env"
ok "a hand-sealed envelope is accepted" rawpub p4 -q 1 -t sec/r -f "$TEST_TMP/r.env"
ok "... and delivered" wait_for 5 grep -qxF 'sec/r p4 once only' "$RLOG"
rawpub p4 -q 1 -t sec/r -f "$TEST_TMP/r.env"
ok "the same envelope again, from another connection, is a replay" dropped replay
seal_as p5 sec/r2 'qos0 twice' "$TEST_TMP/r2.env"
python3 - "$MOSQ_PORT" p5 "$(fresh p5)" sec/r2 "$TEST_TMP/r2.env" <<'PY'
# one connection, the same QoS 0 PUBLISH twice: the second is a replay
import socket, struct, sys
port, user, pw, topic, path = sys.argv[1:]
def s(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack(">H", len(x)) + x
def pkt(t, body):
    n, rl = len(body), b""
    while True:
        d, n = n % 128, n // 128
        rl += bytes([d | (0x80 if n else 0)])
        if not n:
            break
    return bytes([t]) + rl + body
c = socket.create_connection(("127.0.0.1", int(port)), timeout=60)
c.sendall(pkt(0x10, s("MQTT") + bytes([4, 0xC2, 0, 60]) + s("p5-twice") + s(user) + s(pw)))
assert c.recv(4)[3] == 0, "connect refused"
p = pkt(0x30, s(topic) + open(path, "rb").read())
c.sendall(p + p + pkt(0xE0, b""))
c.close()
PY
ok "the same QoS 0 envelope twice on one connection: the second is a replay" dropped replay 2
ok "marker 2" marker 2
is "$(grep -c '^sec/r p4 once only$' "$RLOG")" 1 "the replayed envelope was delivered once"
is "$(grep -c '^sec/r2 p5 qos0 twice$' "$RLOG")" 1 "the QoS 0 duplicate was delivered once"

# --- timestamps
seal_as p6 sec/old 'old news' "$TEST_TMP/old.env" --ts-ms $(($(now_ms) - 400000))
rawpub p6 -t sec/old -f "$TEST_TMP/old.env"
ok "a timestamp older than the replay window is dropped" dropped stale
seal_as p6 sec/new 'from the future' "$TEST_TMP/new.env" --ts-ms $(($(now_ms) + 400000))
rawpub p6 -t sec/new -f "$TEST_TMP/new.env"
ok "a timestamp further ahead than the window is dropped" dropped future

# --- another device's key
seal_as p8 sec/k 'borrowed key' "$TEST_TMP/k.env"
rawpub p7 -t sec/k -f "$TEST_TMP/k.env"
ok "an envelope sealed with another device's key is dropped" dropped wrong-key
seal_as p9 sec/k2 'key of a disabled device' "$TEST_TMP/k2.env"
rawpub p10 -t sec/k2 -f "$TEST_TMP/k2.env"
ok "p9's key used by p10: wrong key" dropped wrong-key 2
ok "disable p9" change device disable p9
rawpub p10 -t sec/k2 -f "$TEST_TMP/k2.env"
ok "a disabled device's key is gone at once (unknown key)" dropped unknown-key
seal_as p9 sec/k3 'disabled' "$TEST_TMP/k3.env"
nok "the disabled device cannot connect to publish it" rawpub p9 -t sec/k3 -f "$TEST_TMP/k3.env"
ok "marker 3" marker 3
nok "none of those was forwarded" grep -qE '^sec/(t|moved|old|new|k|k2|k3) ' "$XLOG"

# --- unprotected topics: byte for byte
head -c 300 /dev/urandom >"$TEST_TMP/bin"
printf '\001\000\000\000\001' >>"$TEST_TMP/bin" # even envelope-like bytes
ok "binary publish on an unprotected topic" rawpub p11 -q 1 -t open/bin -f "$TEST_TMP/bin"
ok "delivered" wait_for 5 grep -q '^open/bin ' "$XLOG"
is "$(awk '$1 == "open/bin" { print $2; exit }' "$XLOG")" "$(xxd -p "$TEST_TMP/bin" | tr -d '\n')" \
	"unprotected payload unchanged byte for byte"

# --- Last Will: plaintext on a protected topic is never sent
start_bg willer mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -i willer -u p12 \
	-P "$(fresh p12)" -t open/none --will-topic sec/will --will-payload 'plaintext will'
_willer_in() {
	grep -q 'New client connected .* as willer' "$MOSQ_LOG"
}
ok "a client with a plaintext will on sec/will connects" wait_for 5 _willer_in
kill -KILL "${BG_PID[willer]}" 2>/dev/null
_willer_gone() {
	grep -qE 'Client willer (closed its connection|disconnected)|Socket error on client willer' \
		"$MOSQ_LOG"
}
ok "the broker saw it go" wait_for 5 _willer_gone
ok "the plaintext will is refused" dropped malformed 3
ok "marker 4" marker 4
nok "the will never reached a subscriber" grep -q 'sec/will' "$XLOG" "$RLOG"
nok "its payload never reached the log" grep -q 'plaintext will' "$MOSQ_LOG"

# --- a flood of bad messages does not flood the log
python3 - "$MOSQ_PORT" p12 "$(fresh p12)" <<'PY'
import socket, struct, sys
port, user, pw = sys.argv[1:]
def s(x):
    x = x.encode()
    return struct.pack(">H", len(x)) + x
def pkt(t, body):
    return bytes([t, len(body)]) + body
c = socket.create_connection(("127.0.0.1", int(port)), timeout=60)
c.sendall(pkt(0x10, s("MQTT") + bytes([4, 0xC2, 0, 60]) + s("flood") + s(user) + s(pw)))
assert c.recv(4)[3] == 0, "connect refused"
c.sendall(pkt(0x30, s("sec/flood") + b"plain") * 200 + pkt(0xE0, b""))
c.close()
PY
ok "200 bad messages at once: the lines over 50 a second are summed up" \
	wait_for 5 logged 'more dropped messages on protected topics not logged'
nok "... not each logged" test "$(grep -c 'on protected topic sec/flood' "$MOSQ_LOG")" -gt 100

# --- $SYS statistics
SYS=$(timeout "$CLIENT_TIMEOUT" mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u admin \
	-P "$(fresh admin)" -t '$SYS/broker/mqttsec/#' -v -W 4 2>/dev/null)
sysval() {
	awk -v t="\$SYS/broker/mqttsec/$1" '$1 == t { v = $2 } END { print v }' <<<"$SYS"
}
ok "statistics are published under \$SYS/broker/mqttsec/" grep -q . <<<"$SYS"
ok "messages/resealed counts the re-sealed messages ($(sysval messages/resealed))" \
	test "$(sysval messages/resealed)" -ge 7
ok "dropped/replay = 2" test "$(sysval messages/dropped/replay)" = 2
ok "dropped/tampered = 2" test "$(sysval messages/dropped/tampered)" = 2
ok "dropped/stale = 1, future = 1" test "$(sysval messages/dropped/stale)$(sysval messages/dropped/future)" = 11
ok "dropped/wrong-key = 2, unknown-key = 1" \
	test "$(sysval messages/dropped/wrong-key)$(sysval messages/dropped/unknown-key)" = 21
ok "dropped/malformed >= 203 (plaintext, v5 plaintext, will, flood)" \
	test "$(sysval messages/dropped/malformed)" -ge 203
ok "auth/ok counts connections" test "$(sysval auth/ok)" -ge 20
ok "auth/failed counts the refused connection" test "$(sysval auth/failed)" -ge 1
ok "bans/active is published" test -n "$(sysval bans/active)"
ok "replay/entries is published" test -n "$(sysval replay/entries)"

done_testing
