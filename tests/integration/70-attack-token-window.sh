#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 70-attack-token-window.sh - outside attacker, connect tokens
# (docs/broker-plugin.md, "Connect tokens"): a token captured on the wire
# and used once stays refused after its token_seen row was pruned, when the
# broker restarts with a wider plugin_opt_replay_window (which would put the
# old token back inside the window).  The plugin keeps the time below which
# it pruned (settings token_floor) and refuses tokens older than that.
# One device's credentials cannot fill the broker's memory with nonces
# (at most 1000 per username within the window).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh"

need_cmd sqlite3
TOOL="$top_srcdir/tests/tools/conntoken.py"

device dev1

token() {
	python3 "$TOOL" make --creds "$TEST_TMP/$1.json" --cid "$2" ${3:+--ts-ms "$3"}
}
seen_rows() {
	sqlite3 "$MQTTSEC_DB" "SELECT count(*) FROM token_seen WHERE username = 'dev1'"
}
no_seen_rows() {
	[ "$(seen_rows)" = 0 ]
}
floor() {
	sqlite3 "$MQTTSEC_DB" "SELECT value FROM settings WHERE name = 'token_floor'"
}

# a narrow window: the row of a used token is pruned within ~12 s
start_plugin_broker "plugin_opt_replay_window 1"
TK=$(token dev1 dev1-a)
ok "the device logs in with a token" connects dev1 "$TK" -i dev1-a
is "$(seen_rows)" 1 "its nonce is in token_seen"
ok "the row is pruned once the window has passed" wait_for 40 no_seen_rows
ok "the prune floor is recorded" test -n "$(floor)"
stop_bg mosquitto

# the operator widens the window; the attacker replays the captured token
start_plugin_broker "plugin_opt_replay_window 300"
nok "the captured token is refused after the restart with a wider window" \
	connects dev1 "$TK" -i dev1-a
ok "refused as older than the replay state" \
	logged "refused dev1 (client id dev1-a).*connect token older than the replay state"
ok "a fresh token still works" connects dev1 "$(token dev1 dev1-a)" -i dev1-a

# one device's credentials log in as fast as they can: at most 1000 nonces
# of one username within the window, then refused (memory stays bounded)
BEFORE=$(reloads)
device flood
wait_for 10 _reloaded_since "$BEFORE" || bail_out "the broker did not load device flood"
python3 - "$MOSQ_PORT" "$TEST_TMP/flood.json" "$TOOL" >"$TEST_TMP/flood.out" <<'PY'
import importlib.util, json, os, socket, struct, sys, time
port, creds, tool = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("conntoken", tool)
ct = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ct)
c = json.load(open(creds))
secret, user = ct.b32decode(c["totp"]["secret"]), c["username"]
f = lambda b: struct.pack("!H", len(b)) + b
def attempt(i):
    cid = "flood-%d" % i
    pw = ct.make(secret, user, cid, int(time.time() * 1000), os.urandom(12))
    body = f(b"MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60) + f(cid.encode()) + f(user.encode()) + f(pw.encode())
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=60)
    s.sendall(bytes([0x10, len(body)]) + body)
    ack = b""
    while len(ack) < 4:
        chunk = s.recv(4 - len(ack))
        if not chunk:
            break
        ack += chunk
    if len(ack) == 4 and ack[3] == 0:
        s.sendall(b"\xe0\x00")
    s.close()
    return len(ack) == 4 and ack[3] == 0
ok = sum(attempt(i) for i in range(1000))
print(ok, "accepted" if attempt(1000) else "refused")
PY
read -r N LAST <"$TEST_TMP/flood.out"
is "$N" 1000 "1000 token logins of one device within the window are accepted"
is "$LAST" refused "the 1001st is refused"
ok "logged as too many" logged "refused flood (client id flood-1000).*too many connect tokens"
stop_bg mosquitto
done_testing
