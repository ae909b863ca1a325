#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 10-plugin-totp.sh - mqttsec_plugin.so stage 1 on a real mosquitto: TOTP
# codes from oathtool are accepted once, replayed or older codes and wrong
# codes are refused, the accepted step survives a broker restart and a
# SIGKILL right after the CONNACK (step journal, and with
# plugin_opt_totp_step_commit database the commit before the CONNACK), and
# the TOTP secret is stored wrapped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

need_cmd sqlite3
SAN_PRELOAD=$(_san_preload "$PLUGIN_SO")

device dev1
device dev2 --period 2
device dev8 --digits 8
device devoff
device devcrash
device devlock
device devdb
device devtwo --period 2
acl device disable devoff >/dev/null
start_plugin_broker

# right code
C1=$(code dev1)
ok "right code accepted" connects dev1 "$C1"

# the same code again: its step is not later than the accepted one
nok "same code twice: refused" connects dev1 "$C1"
ok "refusal logged as replay" logged "refused dev1 .*time step already used"

# wrong code
nok "wrong code refused" connects dev2 "$(wrong_code dev2)"
ok "refusal logged as wrong code" logged "refused dev2 .*wrong code"
nok "no password refused" pub dev2 "" -t mqttsec/probe -n

# an older step inside the window is refused once a later one was used
C2=$(fresh dev2)
ok "fresh code of a 2 s device accepted" connects dev2 "$C2"
nok "code of the previous step refused after a later one" \
	connects dev2 "$(code_at dev2 $(($(cat "$TEST_TMP/dev2.step") - 1)))"
C2=$(fresh dev2)
ok "code of the next step accepted" connects dev2 "$C2"

# 8 digits
ok "8-digit device accepted" connects dev8 "$(code dev8)"

# identities
nok "unknown username refused" connects nosuchdevice "$(code dev1)"
nok "no username refused" timeout "$CLIENT_TIMEOUT" mosquitto_pub -h 127.0.0.1 \
	-p "$MOSQ_PORT" -t mqttsec/probe -n
nok "disabled device refused" connects devoff "$(code devoff)"
C2=$(fresh dev2)
nok "client id holding / refused" connects dev2 "$C2" -i "a/b"
nok "client id holding + refused" connects dev2 "$C2" -i "a+b"
ok "the refused attempts did not use the code up" connects dev2 "$C2" -i "plain-id"

C2=$(fresh dev2)
# shellcheck disable=SC2016 # a literal $SYS
nok "client id starting with \$ refused" connects dev2 "$C2" -i '$SYS'
ok "refused for its client id" logged "refused dev2 (client id -) .*client id empty, starting"

# the accepted step is in the step journal before the CONNACK and in the
# database after the next tick (at most about 50 ms)
# step_of NAME: devices.last_step of NAME
step_of() {
	sqlite3 "$MQTTSEC_DB" "SELECT last_step FROM devices WHERE name = '$1'"
}
JOURNAL=$MQTTSEC_DB-steps
ok "step journal beside the database, mode 0600" \
	[ "$(stat -c %a "$JOURNAL" 2>/dev/null)" = 600 ]
ok "accepted step folded into the database within 2 s" \
	wait_for 2 eval '[ "$(step_of dev1)" -ge 0 ]'
ok "journal emptied after the fold" wait_for 2 eval '[ ! -s "$JOURNAL" ]'
stop_bg mosquitto
start_plugin_broker
nok "after a restart the same code is still refused" connects dev1 "$C1"

# connect_then_kill NAME CODE: a raw MQTT 3.1.1 CONNECT as NAME; as soon as
# the CONNACK arrives, SIGKILL the broker (no chance to write anything
# later) and reap it.  Prints "accepted" or "refused".  Run it in the test's
# own shell (not in $(...)): only that shell can reap the broker.
connect_then_kill() {
	python3 - "$MOSQ_PORT" "$1" "$2" "$MOSQ_PID" <<'PY'
import os, signal, socket, struct, sys

port, user, password, pid = sys.argv[1:5]


def field(b):
    return struct.pack("!H", len(b)) + b


body = (field(b"MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60) +
        field(b"crash-probe") + field(user.encode()) + field(password.encode()))
length = bytearray()
n = len(body)
while True:
    d, n = n % 128, n // 128
    length.append(d | (0x80 if n else 0))
    if not n:
        break
c = socket.create_connection(("127.0.0.1", int(port)), timeout=60)
c.sendall(bytes([0x10]) + bytes(length) + body)
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

# lock_db: hold the database's write lock in the background ("locker")
# until unlock_db (an event, not a duration: a loaded machine may take
# seconds between two commands of the test)
lock_db() {
	start_bg locker python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(900)
c.execute("ROLLBACK")' "$MQTTSEC_DB"
	wait_for 5 grep -q locked "$TEST_TMP/locker.log" || bail_out "could not lock the database"
}

# unlock_db: end the locker (its lock goes with its process)
unlock_db() {
	stop_bg locker
}

# crash right after an accepted CONNECT: a 30 s device, so the code is
# still inside the window after the restart.  The write lock is held
# meanwhile, so no fold can reach the database before the kill: the step
# can only survive in the journal.
lock_db
CK=$(code devcrash)
connect_then_kill devcrash "$CK" >"$TEST_TMP/crash.out"
is "$(cat "$TEST_TMP/crash.out")" accepted "code accepted, broker SIGKILLed at the CONNACK"
nok "the broker is gone" kill -0 "$MOSQ_PID"
ok "the step survived the kill in the journal" grep -q "^[0-9]* devcrash [0-9a-f]*$" "$JOURNAL"
is "$(step_of devcrash)" -1 "and only there (not in the database)"
unlock_db
start_plugin_broker "plugin_opt_max_auth_failures 1" \
	"plugin_opt_max_ip_failures 0"
nok "after the crash and a restart the same code is refused" connects devcrash "$CK"
ok "refused as a replay" logged "refused devcrash .*time step already used"
ok "the journal was folded at start" eval '[ "$(step_of devcrash)" -ge 0 ] && [ ! -s "$JOURNAL" ]'

# the journal does not wait for mqttsec-acl's write lock: while another
# connection holds it, a right code is accepted, and its step reaches the
# database once the lock is gone
lock_db
CL=$(code devlock)
ok "database locked: accepted through the journal" connects devlock "$CL"
nok "a replay is refused while the step is only in the journal" connects devlock "$CL"
ok "not in the database while the lock is held" eval '[ "$(step_of devlock)" = -1 ]'
ok "a fold held up for over a second is logged" \
	wait_for 10 logged "cannot fold the step journal into the database for [0-9]* s (1 steps wait"
unlock_db
ok "lock released: the step reaches the database" \
	wait_for 3 eval '[ "$(step_of devlock)" -gt 0 ]'
ok "and so is its recovery" \
	wait_for 3 logged "the database took the step journal again after"

# a damaged journal (a torn line after a power loss) is skipped with a warning
stop_bg mosquitto
printf '123 devcrash 00000000\n0 dev' >>"$JOURNAL"
start_plugin_broker
ok "damaged journal lines skipped with a warning" \
	logged "skipped 2 damaged lines of step journal"
ok "the broker runs on" connects dev2 "$(fresh dev2)"

# plugin_opt_totp_step_commit database: each step committed before its
# CONNACK (compare-and-set); while another connection holds the write lock
# for longer than the plugin waits, a right code is refused without being
# used up or counted as a failure (one failure would ban devlock here)
stop_bg mosquitto
start_plugin_broker "plugin_opt_totp_step_commit database" \
	"plugin_opt_max_auth_failures 1" "plugin_opt_max_ip_failures 0"
C2=$(fresh dev2)
ok "database mode: accepted" connects dev2 "$C2"
is "$(step_of dev2)" "$(cat "$TEST_TMP/dev2.step")" "database mode: in the database at the CONNACK"
nok "database mode: replay refused" connects dev2 "$C2"
lock_db
CL=$(code devdb)
nok "database locked: refused" connects devdb "$CL"
ok "refusal says the step could not be recorded" \
	logged "refused devdb .*cannot record the time step"
unlock_db
ok "lock released: the same code is accepted (not used up, no ban)" connects devdb "$CL"

# two brokers in database mode share one database: a code accepted by one
# is refused by the other (the compare-and-set decides, not memory)
PORT2=$(free_port)
{
	[ "$(id -u)" -eq 0 ] && echo "user root"
	echo "listener $PORT2 127.0.0.1"
	echo "persistence false"
	echo "log_dest file $TEST_TMP/broker2.log"
	echo "log_type all"
	echo "plugin $PLUGIN_SO"
	echo "plugin_opt_db_file $MQTTSEC_DB"
	echo "plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE"
	echo "plugin_opt_totp_step_commit database"
	echo "plugin_opt_totp_window $PLUGIN_TOTP_WINDOW"
} >"$TEST_TMP/broker2.conf"
start_bg mosquitto2 env ${SAN_PRELOAD:+LD_PRELOAD="$SAN_PRELOAD"} \
	ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0" "$MOSQUITTO_BIN" -c "$TEST_TMP/broker2.conf"
ok "a second broker in database mode starts on the same database" wait_for 10 port_open "$PORT2"
CT=$(fresh devtwo)
ok "first broker accepts a code" connects devtwo "$CT"
nok "the second broker refuses the same code" \
	timeout "$CLIENT_TIMEOUT" mosquitto_pub -h 127.0.0.1 -p "$PORT2" -u devtwo -P "$CT" \
	-t mqttsec/probe -n
ok "as a replay" grep -q "refused devtwo .*time step already used" "$TEST_TMP/broker2.log"
stop_bg mosquitto2

# secrets: wrapped in the database, never in the log
read -r SECRET _ _ < <(creds dev1)
_secret_absent() {
	python3 - "$SECRET" "$@" <<'PY'
import base64, sys
secret = base64.b32decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 8))
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    if secret in data or sys.argv[1].encode() in data:
        sys.exit(1)
PY
}
DB_FILES=("$MQTTSEC_DB")
[ -e "$MQTTSEC_DB-wal" ] && DB_FILES+=("$MQTTSEC_DB-wal")
ok "raw TOTP secret not in the database files" _secret_absent "${DB_FILES[@]}"
ok "secret and codes not in the broker log" _secret_absent "$MOSQ_LOG"
nok "accepted code not in the broker log" grep -qw "$C1" "$MOSQ_LOG"

done_testing
