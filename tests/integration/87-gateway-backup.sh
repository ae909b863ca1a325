#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 87-gateway-backup.sh - encrypted backup and restore of the gateway
# database (docs/backup.md): a backup of the running gateway holds no
# plaintext address or alert text; it restores onto a fresh directory
# (database and master key written; recipients and messages back, addresses
# still masked and found by lookup); an older backup is refused without
# --force (exit 77), and the wrong recovery key or a damaged file (exit 65),
# with nothing changed.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"
need_python_module aiosmtpd
need_cmd cmp

start_mosquitto "allow_anonymous true" || bail_out "no broker"
smtp_start || bail_out "no smtp recorder"
gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = alerts@example.com"
RK=$TEST_TMP/gw-recovery.key
BAK=$TEST_TMP/gateway.mqsbak

ok "group add" gw group add ops
ok "recipient add alice" gw recipient add alice --email alice@example.com --group ops
out=$(gw backup keygen --out "$RK")
is "$?" 0 "backup keygen"
PUB=$(sed -n 's/^x25519-public //p' "$RK")
ok "keygen prints the recovery public key" grep -q "$PUB" <<<"$out"

gw_start || bail_out "gateway did not start"
pub alerts/room1 '{"id": "b-1", "severity": "warning", "group": "ops",
 "title": "Backup marker title", "body": "backup marker body"}'
wait_lines "$SMTP_LOG" 1 || fail "the alert is delivered"
ok "backup while the gateway runs" gw backup --to "$BAK" --recipient "$PUB"
is "$(stat -c %a "$BAK")" 600 "the backup is 0600"
nok "no address in the backup" grep -aq "alice@example.com" "$BAK"
nok "no alert text in the backup" grep -aq "marker" "$BAK"

# an alert after the backup makes it older than the current data
sleep 1.1
pub alerts/room1 '{"id": "b-2", "severity": "warning", "group": "ops",
 "title": "Later", "body": "later"}'
wait_lines "$SMTP_LOG" 2 || fail "the second alert is delivered"
stop_bg gateway
sqlite3 "$GW_DB" .dump >"$TEST_TMP/before.sql"
gw restore --from "$BAK" --key "$RK" >/dev/null 2>"$TEST_TMP/old.err"
is "$?" 77 "an older backup without --force: exit 77"
(umask 077 && "$GATEWAY_BIN" -q -c "$GW_CONF" backup keygen --out "$TEST_TMP/other.key" \
	>/dev/null)
gw restore --from "$BAK" --key "$TEST_TMP/other.key" >/dev/null 2>"$TEST_TMP/wrong.err"
is "$?" 65 "the wrong recovery key: exit 65"
head -c 5000 "$BAK" >"$TEST_TMP/cut.mqsbak"
gw restore --from "$TEST_TMP/cut.mqsbak" --key "$RK" >/dev/null 2>&1
is "$?" 65 "a truncated backup: exit 65"
sqlite3 "$GW_DB" .dump | grep -v "backup_sign_key" >"$TEST_TMP/after.sql"
grep -v "backup_sign_key" "$TEST_TMP/before.sql" >"$TEST_TMP/before2.sql"
ok "refused restores changed nothing" cmp -s "$TEST_TMP/before2.sql" "$TEST_TMP/after.sql"

# onto a fresh directory
mkdir "$TEST_TMP/new"
sed "s|^db = .*|db = $TEST_TMP/new/gateway.db|; s|^master_key_file = .*|master_key_file = $TEST_TMP/new/gateway.key|" \
	"$GW_CONF" >"$TEST_TMP/new.conf"
"$GATEWAY_BIN" -q -c "$TEST_TMP/new.conf" restore --from "$BAK" --key "$RK" >"$TEST_TMP/fresh.out"
is "$?" 0 "restore onto a fresh directory"
ok "it says the master key was written" grep -q "master key .* written" "$TEST_TMP/fresh.out"
ok "the master key is the original one" cmp -s "$TEST_TMP/new/gateway.key" "$GW_KEY"
nok "no staged master key left behind" test -e "$TEST_TMP/new/gateway.key.new"
is "$(sqlite3 "$TEST_TMP/new/gateway.db" "SELECT count(*) FROM messages")" 1 \
	"the restored database holds the message of the backup"
list=$("$GATEWAY_BIN" -q -c "$TEST_TMP/new.conf" recipient list)
ok "recipient list on the fresh box shows the masked address" grep -q 'a\*\*\*@e\*\*\*\.com' <<<"$list"
is "$("$GATEWAY_BIN" -q -c "$TEST_TMP/new.conf" recipient find --email alice@example.com)" alice \
	"lookup works with the restored master key"

# forced over the newer data
gw restore --from "$BAK" --key "$RK" --force >/dev/null
is "$?" 0 "restore --force over newer data"
is "$(sql "SELECT count(*) FROM messages")" 1 "the newer message is gone"

done_testing
