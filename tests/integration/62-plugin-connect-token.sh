#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 62-plugin-connect-token.sh - connect tokens (docs/broker-plugin.md,
# "Connect tokens") on a real mosquitto: tokens made by the independent
# Python implementation (tests/tools/conntoken.py) and by mqttsec-device
# token (checked by the Python one too) are accepted once, bound
# to the username and the client id; a wrong tag, an old or future time, a
# replay (also after a SIGKILL of the broker right after the CONNACK and a
# restart), another username or client id, an empty client id and a
# disabled device are refused and logged without the token; failures count
# toward bans, except a disabled device's (counted in auth/failed only: it
# logs in at once when enabled again); plugin_opt_connect_tokens off refuses tokens (not counted)
# while TOTP codes still work, and the setting is recorded for mqttsec-acl.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

need_cmd sqlite3
TOOL="$top_srcdir/tests/tools/conntoken.py"

device dev1
device dev2
device devoff
device devban
device devcrash
acl device disable devoff >/dev/null

# token NAME CID [TS_MS]: a token for NAME (credentials file) and client id CID
token() {
	python3 "$TOOL" make --creds "$TEST_TMP/$1.json" --cid "$2" ${3:+--ts-ms "$3"}
}
now_ms() {
	python3 -c 'import time; print(int(time.time() * 1000))'
}
setting() {
	sqlite3 "$MQTTSEC_DB" "SELECT value FROM settings WHERE name = 'connect_tokens'"
}

acl acl add allow sub dev1 '$SYS/broker/mqttsec/#' >/dev/null
acl acl add allow read dev1 '$SYS/broker/mqttsec/#' >/dev/null
start_plugin_broker "plugin_opt_max_auth_failures 10" "plugin_opt_max_ip_failures 0" \
	"plugin_opt_stats_interval 1"
is "$(setting)" on "the running plugin records connect_tokens on"
device devnew

T1=$(token dev1 dev1-a)
ok "a python-made token is accepted" connects dev1 "$T1" -i dev1-a
nok "the same token again is refused" connects dev1 "$T1" -i dev1-a
ok "refused as a replay" logged "refused dev1 (client id dev1-a).*connect token already used"
# the C implementation (mqttsec-device token) and the Python one agree
TC=$("$DEVICE_BIN" -c "$TEST_TMP/dev1.json" token -i dev1-c 2>/dev/null)
ok "mqttsec-device token verifies with the python implementation" \
	python3 "$TOOL" verify --creds "$TEST_TMP/dev1.json" --cid dev1-c --token "$TC"
nok "python refuses it for another client id" \
	python3 "$TOOL" verify --creds "$TEST_TMP/dev1.json" --cid dev1-d --token "$TC"
ok "and the plugin accepts it" connects dev1 "$TC" -i dev1-c
ok "a fresh token connects at once" connects dev1 "$(token dev1 dev1-a)" -i dev1-a
ok "and another one right after" connects dev1 "$(token dev1 dev1-a)" -i dev1-a
nok "a token for another client id is refused" connects dev1 "$(token dev1 dev1-b)" -i dev1-a
nok "a token of another device is refused" connects dev1 "$(token dev2 dev1-a)" -i dev1-a
nok "a token for dev1 sent as dev2 is refused" connects dev2 "$(token dev1 dev1-a)" -i dev1-a
ok "wrong tags logged as such" logged "refused dev2 (client id dev1-a).*wrong connect token"
NOW=$(now_ms)
nok "a token older than the replay window is refused" \
	connects dev1 "$(token dev1 dev1-a $((NOW - 301000)))" -i dev1-a
ok "logged as old" logged "connect token older than the replay window"
# 15 min ahead: far beyond the 300 s window however slow the machine is
nok "a token beyond the window in the future is refused" \
	connects dev1 "$(token dev1 dev1-a $((NOW + 900000)))" -i dev1-a
ok "logged as future" logged "connect token from the future"
ok "a token 200 s old (inside the window) is accepted" \
	connects dev1 "$(token dev1 dev1-a $((NOW - 200000)))" -i dev1-a
TB=$(token dev1 dev1-a)
BAD="${TB:0:52}$([ "${TB:52:1}" = A ] && echo B || echo A)"
nok "a token with one changed character is refused" connects dev1 "$BAD" -i dev1-a
nok "a malformed token is refused" connects dev1 "mqs1.abc" -i dev1-a
ok "logged as malformed" logged "malformed connect token"
nok "a disabled device's token is refused" connects devoff "$(token devoff devoff)" -i devoff
ok "logged as disabled" logged "refused devoff.*device disabled"
# refused while disabled: counted (auth/failed), but toward no ban
# (docs/broker-plugin.md, "Failed logins and automatic bans": a disabled
# device counts for nothing), so 12 of them, over max_auth_failures 10, ban
# nothing and the device logs in at once once enabled again
authfailed() {
	timeout "$CLIENT_TIMEOUT" mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -u dev1 \
		-P "$(token dev1 dev1-sys)" -i dev1-sys -t '$SYS/broker/mqttsec/auth/failed' -C 1 \
		-W 10 2>/dev/null
}
F0=$(authfailed)
[ -n "$F0" ] || bail_out "cannot read \$SYS/broker/mqttsec/auth/failed"
for i in $(seq 12); do
	connects devoff "$(token devoff devoff)" -i devoff >/dev/null 2>&1
done
_counted() {
	[ "$(authfailed)" -ge $((F0 + 12)) ]
}
ok "the 12 refusals are counted in auth/failed (was $F0)" wait_for 10 _counted
ok "but toward no ban" eval "! grep -q 'banned username devoff' '$MOSQ_LOG'"
ok "devoff enabled again" change device enable devoff
ok "... logs in with a token at once (not banned)" \
	connects devoff "$(token devoff devoff)" -i devoff
# an empty client id (MQTT 3.1.1, clean session): never accepted with a token
python3 - "$MOSQ_PORT" dev1 "$(token dev1 x)" >"$TEST_TMP/empty.out" <<'PY'
import socket, struct, sys
port, user, password = sys.argv[1:4]
f = lambda b: struct.pack("!H", len(b)) + b
body = f(b"MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60) + f(b"") + f(user.encode()) + f(password.encode())
c = socket.create_connection(("127.0.0.1", int(port)), timeout=60)
c.sendall(bytes([0x10, len(body)]) + body)
ack = c.recv(4)
print("accepted" if len(ack) == 4 and ack[3] == 0 else "refused")
PY
is "$(cat "$TEST_TMP/empty.out")" refused "a token with an empty client id is refused"
ok "no token appears in the log" eval "! grep -q 'mqs1\.' '$MOSQ_LOG'"

# failures count toward bans (10 per username and address here)
for i in $(seq 10); do
	connects devban "$(token devban devban-z)" -i devban >/dev/null 2>&1
done
nok "after 10 wrong tokens a right one is refused" connects devban "$(token devban devban)" -i devban
ok "the username was banned" logged "banned username devban"

# a replay after a SIGKILL right after the CONNACK and a restart
connect_then_kill() {
	python3 - "$MOSQ_PORT" "$1" "$2" "$3" "$MOSQ_PID" <<'PY'
import os, signal, socket, struct, sys
port, user, password, cid, pid = sys.argv[1:6]
f = lambda b: struct.pack("!H", len(b)) + b
body = f(b"MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60) + f(cid.encode()) + f(user.encode()) + f(password.encode())
c = socket.create_connection(("127.0.0.1", int(port)), timeout=60)
c.sendall(bytes([0x10, len(body)]) + body)
ack = b""
while len(ack) < 4:
    chunk = c.recv(4 - len(ack))
    if not chunk:
        break
    ack += chunk
os.kill(int(pid), signal.SIGKILL)
print("accepted" if len(ack) == 4 and ack[0] == 0x20 and ack[3] == 0 else "refused")
PY
	kill -KILL "$MOSQ_PID" 2>/dev/null
	wait "$MOSQ_PID" 2>/dev/null
}
TK=$(token devcrash devcrash-1)
connect_then_kill devcrash "$TK" devcrash-1 >"$TEST_TMP/crash.out"
is "$(cat "$TEST_TMP/crash.out")" accepted "token accepted, broker SIGKILLed at the CONNACK"
nok "the broker is gone" kill -0 "$MOSQ_PID"
start_plugin_broker
nok "after the kill and a restart the same token is refused" connects devcrash "$TK" -i devcrash-1
ok "refused as a replay after the restart" \
	logged "refused devcrash (client id devcrash-1).*connect token already used"
is "$(sqlite3 "$MQTTSEC_DB" "SELECT count(*) FROM token_seen WHERE username = 'devcrash'")" 1 \
	"its nonce was taken from the token journal into token_seen at start"
# the SIGKILL was an unclean stop: tokens made before the start's floor
# are refused (73-plugin-token-powerloss.sh); wait for the clock to pass it
_past_floor() {
	[ "$(($(now_ms) / 1000))" -ge \
		"$(sqlite3 "$MQTTSEC_DB" "SELECT value FROM settings WHERE name = 'token_floor'")" ]
}
ok "the clock passes the floor of the unclean start" wait_for 10 _past_floor
ok "a fresh token works after the restart" \
	connects devcrash "$(token devcrash devcrash-1)" -i devcrash-1

# plugin_opt_connect_tokens off
stop_bg mosquitto
start_plugin_broker "plugin_opt_connect_tokens off" "plugin_opt_max_auth_failures 2" \
	"plugin_opt_max_ip_failures 0"
is "$(setting)" off "the setting off is recorded for mqttsec-acl"
device devlater
ok "credentials written now do not say connect_tokens" python3 -c \
	'import json, sys; sys.exit(1 if "connect_tokens" in json.load(open(sys.argv[1])) else 0)' \
	"$TEST_TMP/devlater.json"
ok "credentials written while on did" python3 -c \
	'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["connect_tokens"] is True else 1)' \
	"$TEST_TMP/devnew.json"
for i in 1 2 3; do
	connects dev2 "$(token dev2 dev2)" -i dev2 >/dev/null 2>&1
done
nok "tokens are refused when off" connects dev2 "$(token dev2 dev2)" -i dev2
ok "logged as off" logged "refused dev2 (client id dev2).*connect tokens are off"
ok "TOTP still works (refused tokens did not count toward a ban)" connects dev2 "$(code dev2)" -i dev2
ok "no ban was logged for dev2" eval "! grep -q 'banned username dev2' '$MOSQ_LOG'"
stop_bg mosquitto
done_testing
