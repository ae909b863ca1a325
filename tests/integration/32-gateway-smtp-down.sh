#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 32-gateway-smtp-down.sh - the SMTP server is down when an alert arrives:
# the delivery is retried with backoff (state queued, error recorded) and
# goes out once the server is up, exactly once.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"
need_python_module aiosmtpd

start_mosquitto "allow_anonymous true" || bail_out "no broker"
SMTP_PORT=$(free_port)
GW_MAX_ATTEMPTS=1000
gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = alerts@example.com"
gw group add ops >/dev/null
gw recipient add alice --email alice@example.com --group ops >/dev/null
gw_start || bail_out "gateway did not start"

pub alerts/x '{"id": "d-1", "group": "ops", "title": "While SMTP is down"}'
attempts() {
	sql "SELECT attempts FROM outbox"
}
_attempts_ge() {
	[ "$(attempts)" -ge "$1" ] 2>/dev/null
}
wait_for 10 _attempts_ge 3
ok "several attempts while the server is down" _attempts_ge 3
is "$(sql "SELECT state FROM outbox")" queued "the delivery stays queued"
ok "the error is recorded" test -n "$(sql "SELECT last_error FROM outbox")"
is "$(lines "$TEST_TMP/smtp.jsonl")" 0 "nothing delivered yet"

smtp_start || bail_out "no smtp recorder"
wait_sql "SELECT state FROM outbox" sent 10
is "$(sql "SELECT state FROM outbox")" sent "delivered once the server is up"
sleep 0.5
is "$(lines "$SMTP_LOG")" 1 "exactly one email"
is "$(jfield "$SMTP_LOG" 1 'j["subject"]')" "While SMTP is down" "with the right subject"

done_testing
