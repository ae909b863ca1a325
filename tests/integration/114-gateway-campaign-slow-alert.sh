#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 114-gateway-campaign-slow-alert.sh - an alert whose SMTP server is slow to
# answer does not stop a campaign on the same channel until the alert's
# timeout: new marketing transfers wait for a running alert 1 s in a row at
# most, then go for 1 s whatever the alert does (docs/marketing.md,
# "Delivery rules"); the alert is sent, once, when its server answers.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"

need_cmd oathtool sha256sum
need_python_module aiosmtpd

start_mosquitto "allow_anonymous true" || bail_out "no broker"
gw_status_key
gw_marketing_key
# the server holds the reply to the alert's final dot until the test
# releases it (or 600 s)
RELEASE=$TEST_TMP/release
smtp_start --pipelining --stall-rcpt "ops1@:600" --stall-release "$RELEASE" ||
	bail_out "no smtp recorder"
gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = shop@example.com
max_inflight = 4
timeout = 900

[marketing]
quiet_hours = 00:00-00:00

[http]
listen = 127.0.0.1:0
public_url = http://127.0.0.1:9

[route promo]
topic = marketing/submit
kind = marketing
review_levels = legal"

N=12
gw group add customers >/dev/null
gw group add ops >/dev/null
for i in $(seq -w 1 $N); do
	gw recipient add "c$i" --email "c$i@example.com" --group customers >/dev/null
	gw recipient consent "c$i" email on >/dev/null
done
gw recipient add ops1 --email ops1@example.com --group ops >/dev/null
SA=$(gw reviewer add console:alice --level legal --person alice | sed -n 3p)
SC=$(gw author add console:carol --person carol | sed -n 3p)
cat >"$TEST_TMP/c.json" <<'JSON'
{"id": "c-slow", "group": "customers", "channels": ["email"],
 "subject": "Spring sale", "text": "Hello {{name}}, 10% off"}
JSON
SHA=$(sha256sum "$TEST_TMP/c.json" | cut -d' ' -f1)
ok "campaign submitted" gw campaign submit "$TEST_TMP/c.json" --author console:carol \
	--route promo --code "$(oathtool --totp -b "$SC")"
gw_start || bail_out "gateway did not start"

alert_state() {
	sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
	     WHERE m.msg_id = 'al-slow'"
}
_stalling() { grep -q stalling "$TEST_TMP/smtp.log"; }
pub alerts/a '{"id": "al-slow", "group": "ops", "title": "Boiler alarm", "channels": ["email"]}'
ok "the alert's server holds its reply" wait_for 30 _stalling
ok "campaign approved while the alert is held" gw campaign approve c-slow \
	--reviewer console:alice --sha256 "$SHA" --code "$(oathtool --totp -b "$SA")"
t0=$(date +%s)
# before the bound, no marketing transfer started until the alert ended
ok "all $N campaign emails go out while the alert is still held" wait_lines "$SMTP_LOG" "$N" 20
diag "campaign out $(($(date +%s) - t0)) s after the approval"
is "$(alert_state)" sending "the alert is still running meanwhile"
is "$(grep -c '"ops1@example.com"' "$SMTP_LOG")" 0 "and not recorded yet"
touch "$RELEASE"
wait_sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
          WHERE m.msg_id = 'al-slow'" sent 30
is "$(alert_state)" sent "the alert is sent when its server answers"
wait_lines "$SMTP_LOG" $((N + 1)) 10
is "$(grep -c '"ops1@example.com"' "$SMTP_LOG")" 1 "once"
is "$(sql "SELECT count(*) FROM outbox WHERE prio = 1 AND state = 'sent'")" "$N" \
	"every campaign delivery recorded as sent"

stop_bg gateway
# the content for the reviewers was sealed with the device key (gw_marketing_key)
ok "no publish error in the gateway's log" eval '! grep -q "cannot publish" "$TEST_TMP/gateway.log"'
done_testing
