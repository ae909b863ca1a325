#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 86-acl-backup.sh - encrypted backup and restore of the broker database
# (docs/backup.md) on a real mosquitto with the plugin: a backup taken while
# devices connect and the policy changes, holding no plaintext; a damaged
# or older backup refused with nothing changed; a restore onto a fresh
# directory (database and master key written) followed by a device login
# against it; and a restore under the running broker, picked up without a
# restart (a device added after the backup is refused again).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

need_cmd sqlite3 cmp

RK=$TEST_TMP/recovery.key
BAK=$TEST_TMP/broker.mqsbak

device dev1 --period 1
device dev2 --period 1
acl acl add allow pub dev1 'data/#' >/dev/null
acl acl add allow pub dev2 'data/#' >/dev/null
out=$(acl backup keygen --out "$RK")
is "$?" 0 "backup keygen"
PUB=$(sed -n 's/^x25519-public //p' "$RK")
ok "keygen prints the recovery public key" grep -q "$PUB" <<<"$out"
is "$(stat -c %a "$RK")" 600 "recovery.key is 0600"
nok "recovery.key holds no signing private key" grep -qi "ed25519-private" "$RK"

start_plugin_broker "plugin_opt_max_auth_failures 0" "plugin_opt_max_ip_failures 0"
ok "dev1 connects before the backup" connects dev1 "$(fresh dev1)"

# devices connecting and the policy changing while the backup runs
start_bg churn bash -c 'i=0; while [ $i -lt 400 ]; do
	"$1" acl add allow pub dev1 "churn/$i" >/dev/null 2>&1; i=$((i + 1)); done' \
	churn "$ACL_BIN"
start_bg logins bash -c 'while :; do
	c=$(oathtool --totp -b -d 6 --time-step-size=1s "$1")
	timeout 5 mosquitto_pub -h 127.0.0.1 -p "$2" -u dev2 -P "$c" -t data/x -m 1 >/dev/null 2>&1
	sleep 0.3; done' logins "$(creds dev2 | cut -d' ' -f1)" "$MOSQ_PORT"
wait_for 10 grep -q "u'dev2'" "$MOSQ_LOG"
ok "backup while devices connect and rules change" acl backup --to "$BAK" --recipient "$PUB"
stop_bg churn
stop_bg logins
is "$(stat -c %a "$BAK")" 600 "the backup is 0600"
nok "no plaintext of the database in the backup" grep -aq "data/#" "$BAK"
nok "no temporary file left" ls "$BAK".*.tmp

# damage and age: refused, nothing changed (the broker is stopped first: it
# still folds dev2's last logins into the database, later on a busy machine)
stop_bg mosquitto
sqlite3 "$MQTTSEC_DB" .dump >"$TEST_TMP/before.sql"
head -c 70000 "$BAK" >"$TEST_TMP/cut.mqsbak"
acl restore --from "$TEST_TMP/cut.mqsbak" --key "$RK" >/dev/null 2>"$TEST_TMP/cut.err"
is "$?" 65 "a truncated backup: exit 65"
ok "it says truncated" grep -q "truncated" "$TEST_TMP/cut.err"
cp "$BAK" "$TEST_TMP/flip.mqsbak"
printf '\x55' | dd of="$TEST_TMP/flip.mqsbak" bs=1 seek=5000 conv=notrunc 2>/dev/null
acl restore --from "$TEST_TMP/flip.mqsbak" --key "$RK" >/dev/null 2>&1
is "$?" 65 "a flipped byte: exit 65"
sleep 1.1
acl acl add allow pub dev2 'after/backup' >/dev/null
sqlite3 "$MQTTSEC_DB" .dump >"$TEST_TMP/before.sql"
acl restore --from "$BAK" --key "$RK" >"$TEST_TMP/old.out" 2>"$TEST_TMP/old.err"
is "$?" 77 "a backup older than the current data, without --force: exit 77"
ok "restore shows the backup's host" grep -q "on host $(hostname | cut -c1-64)" "$TEST_TMP/old.out"
sqlite3 "$MQTTSEC_DB" .dump >"$TEST_TMP/after.sql"
ok "refused restores changed nothing" cmp -s "$TEST_TMP/before.sql" "$TEST_TMP/after.sql"

# restore onto a fresh directory, then a device logs in against it
mkdir "$TEST_TMP/new"
NEWDB=$TEST_TMP/new/mqttsec.db
NEWKEY=$TEST_TMP/new/master.key
T_RESTORE=$(date +%s)
"$ACL_BIN" -d "$NEWDB" -k "$NEWKEY" restore --from "$BAK" --key "$RK" >"$TEST_TMP/fresh.out"
is "$?" 0 "restore onto a fresh directory"
ok "it says the master key was written" grep -q "master key .* written" "$TEST_TMP/fresh.out"
ok "the master key is the original one" cmp -s "$NEWKEY" "$MQTTSEC_MASTER_KEY_FILE"
is "$(stat -c %a "$NEWKEY")" 600 "the master key is 0600"
nok "no staged master key left behind" test -e "$NEWKEY.new"
export MQTTSEC_DB=$NEWDB MQTTSEC_MASTER_KEY_FILE=$NEWKEY
start_plugin_broker "plugin_opt_max_auth_failures 0" "plugin_opt_max_ip_failures 0"
sleep 1 # the restore refuses codes of the current step (last_step raised)
ok "dev2 logs in against the restored database" connects dev2 "$(fresh dev2)"
is "$(sqlite3 "$NEWDB" "SELECT count(*) FROM audit WHERE action = 'backup restore'")" 1 \
	"the restore is audited"
floor=$(sqlite3 "$NEWDB" "SELECT value FROM settings WHERE name = 'token_floor'")
ok "token_floor raised to the restore time" test "$floor" -ge "$((T_RESTORE - 1))"

# a restore under the running broker is picked up without a restart
device dev3 --period 1
# the running broker sees the new device at its next view reload (within a second)
_dev3_connects() {
	connects dev3 "$(fresh dev3)"
}
ok "dev3, added after the backup, connects" wait_for 10 _dev3_connects
before=$(reloads)
acl restore --from "$BAK" --key "$RK" --force >"$TEST_TMP/live.out"
is "$?" 0 "restore --force under the running broker"
ok "it says the broker picks it up" grep -q "picks the restored data up" "$TEST_TMP/live.out"
ok "the broker reloads" wait_for 5 _reloaded_since "$before"
_dev3_refused() {
	! connects dev3 "$(fresh dev3)"
}
ok "dev3 is refused after the restore" wait_for 5 _dev3_refused
sleep 1 # the restore refuses codes of the current step (last_step raised)
ok "dev1 still connects" connects dev1 "$(fresh dev1)"
ok "the broker kept running" bg_alive mosquitto

done_testing
