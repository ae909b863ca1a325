#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 118-gateway-trace-hook.sh - the test hook MQTTSEC_GW_TRACE_ALERTS
# (docs/gateway.md, "Test hooks"): a symbolic link is never followed, a
# FIFO does not block the start (no reader) and is refused, as is any file
# that is not regular; a new trace is created 0600 and holds one line per
# alert outcome (row id, state, three times) with nothing of the message or
# the recipient.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"
need_python_module aiosmtpd

start_mosquitto "allow_anonymous true" || bail_out "no broker"
smtp_start || bail_out "no smtp recorder"
gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = alerts@example.com"
ok "group add" gw group add ops
ok "recipient add alice" gw recipient add alice --email alice@example.com --group ops

# _gw_with_trace NAME PATH: start a gateway named NAME tracing to PATH
_gw_with_trace() {
	local rc
	export MQTTSEC_GW_TRACE_ALERTS=$2
	gw_start "$1"
	rc=$?
	unset MQTTSEC_GW_TRACE_ALERTS
	return $rc
}

## a symbolic link: not followed, the gateway runs without a trace
: >"$TEST_TMP/target"
ln -s "$TEST_TMP/target" "$TEST_TMP/link"
ok "the gateway starts with the trace on a symbolic link" _gw_with_trace gw1 "$TEST_TMP/link"
ok "the link is refused and logged" \
	grep -q "cannot open the alert trace $TEST_TMP/link: .*: no trace" "$TEST_TMP/gw1.log"
pub alerts/a '{"id": "t-1", "group": "ops", "title": "Trace one", "body": "b1"}'
wait_lines "$SMTP_LOG" 1 || fail "the alert is delivered" "$(show_log gw1)"
wait_for "$WAIT_TIMEOUT" _sql_is "SELECT count(*) FROM outbox WHERE state = 'sent'" 1
is "$(stat -c %s "$TEST_TMP/target")" 0 "nothing written through the link"
stop_bg gw1

## a FIFO with no reader: the start does not wait for one
mkfifo "$TEST_TMP/fifo"
ok "the gateway starts with the trace on a FIFO" _gw_with_trace gw2 "$TEST_TMP/fifo"
ok "the FIFO is refused" \
	grep -q "cannot open the alert trace $TEST_TMP/fifo: .*: no trace" "$TEST_TMP/gw2.log"
stop_bg gw2
## ... and with a reader (this shell holds it open): not a regular file
exec 7<>"$TEST_TMP/fifo"
ok "the gateway starts with the trace on a FIFO with a reader" \
	_gw_with_trace gw2b "$TEST_TMP/fifo"
ok "the FIFO with a reader is refused: not a regular file" \
	grep -q "cannot open the alert trace $TEST_TMP/fifo: not a regular file: no trace" \
	"$TEST_TMP/gw2b.log"
stop_bg gw2b
exec 7<&-

## a new file: 0600, one line per outcome, nothing of the alert
ok "the gateway starts with a new trace" _gw_with_trace gw3 "$TEST_TMP/trace"
ok "the trace is announced" grep -q "test hook: tracing" "$TEST_TMP/gw3.log"
is "$(stat -c %a "$TEST_TMP/trace")" 600 "the trace is created 0600"
pub alerts/a '{"id": "t-2", "group": "ops", "title": "Trace two", "body": "secret body"}'
wait_lines "$SMTP_LOG" 2 || fail "the second alert is delivered" "$(show_log gw3)"
wait_lines "$TEST_TMP/trace" 1 || fail "the trace has its line" "$(show_log gw3)"
id=$(sql "SELECT o.id FROM outbox o JOIN messages m ON m.id = o.message
          WHERE m.msg_id = 't-2'")
ok "one line: the row id, 'sent', start <= end <= recorded (us)" \
	awk -v id="$id" 'NF == 5 && $1 == id && $2 == "sent" && $3 > 1e15 && $3 <= $4 &&
		$4 <= $5 { n++ } END { exit !(n == 1 && NR == 1) }' "$TEST_TMP/trace"
nok "nothing of the message or the recipient in the trace" \
	grep -Eq 'alice|example|Trace two|secret|t-2' "$TEST_TMP/trace"
pid=${BG_PID[gw3]}
is "$(find "/proc/$pid/fd" -lname "$TEST_TMP/trace" 2>/dev/null | wc -l)" 1 \
	"the gateway holds the trace once"
stop_bg gw3

done_testing
