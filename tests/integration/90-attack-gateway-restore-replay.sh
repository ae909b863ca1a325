#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 90-attack-gateway-restore-replay.sh - a gateway backup taken while an
# alert was still queued, restored (without --force) after that alert was
# delivered and before any newer message arrived, must not deliver it again
# nor undo an opt-out: the delivery and the opt-out are changes newer than
# the backup, so a restore without --force is refused (docs/backup.md).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"
need_python_module aiosmtpd

start_mosquitto "allow_anonymous true" || bail_out "no broker"
SMTP_PORT=$(free_port)
GW_MAX_ATTEMPTS=1000 # at 0.1-0.5 s apart: not dead before the smtp server starts on a slow run
gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = alerts@example.com"
RK=$TEST_TMP/gw-recovery.key
BAK=$TEST_TMP/gateway.mqsbak
ok "group add" gw group add ops
ok "recipient add alice" gw recipient add alice --email alice@example.com --group ops
gw backup keygen --out "$RK" >/dev/null
PUB=$(sed -n 's/^x25519-public //p' "$RK")
gw_start || bail_out "gateway did not start"
pub alerts/room1 '{"id": "r-1", "severity": "warning", "group": "ops",
 "title": "Once only", "body": "deliver me once"}'
wait_sql "SELECT count(*) FROM outbox" 1 || bail_out "the alert was not queued"
ok "backup while the alert is queued (smtp down)" gw backup --to "$BAK" --recipient "$PUB"
sleep 1 # the backup time has whole seconds: the delivery comes in a later one
smtp_start || bail_out "no smtp recorder"
wait_lines "$SMTP_LOG" 1 || fail "the alert is delivered"
sleep 1
stop_bg gateway
ok "alice opts out of email after the backup" gw recipient optout alice email
OPTED=$(gw recipient list 2>&1 | grep alice)
diag "before restore: $OPTED"
gw restore --from "$BAK" --key "$RK" >"$TEST_TMP/restore.out" 2>&1
rc=$?
diag "restore without --force: exit $rc: $(cat "$TEST_TMP/restore.out")"
is "$rc" 77 "a restore without --force over newer changes is refused (exit 77)"
gw_start gateway2 || bail_out "gateway did not start again"
sleep 4
is "$(lines "$SMTP_LOG")" 1 "the alert is delivered once, not again after the restore"
is "$(gw recipient list 2>&1 | grep alice)" "$OPTED" "her opt-out survives a restore that was not forced"
diag "recipient list after restore: $(gw recipient list 2>&1 | grep alice)"
done_testing
