#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 33-gateway-crash.sh - the gateway is killed with SIGKILL while it works
# through a queue; after a restart every committed delivery goes out, and
# only deliveries that were in flight at the kill may go out twice.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"

N=30
INFLIGHT=2
start_mosquitto "allow_anonymous true" || bail_out "no broker"
provider_start || bail_out "no fake provider"
# the first 6 requests are answered after 0.3 s, the next ones hang (600 s):
# the kill comes with 6 sent and INFLIGHT in flight however slow the test
# itself is; after the kill the script answers at once
{
	printf 'Messages.json '
	for i in 1 2 3 4 5 6; do printf '201;delay=0.3,'; done
	echo '201;delay=600'
} >"$PROV_SCRIPT"
gw_config "[channel sms]
url = http://127.0.0.1:$PROV_PORT
account_sid = ACtest
auth_token = sekrit
from = +15550000000
timeout = 900
max_inflight = $INFLIGHT"
gw group add ops --channels sms >/dev/null
gw recipient add alice --phone +15550001234 --group ops >/dev/null
gw_start || bail_out "gateway did not start"

# one publisher for all of them: on a loaded machine N separate clients
# could take longer than the provider takes to deliver the whole queue
for i in $(seq 1 $N); do
	printf '{"id": "k-%s", "group": "ops", "title": "Item%s."}\n' "$i" "$i"
done | mosquitto_pub -h 127.0.0.1 -p "$MOSQ_PORT" -q 1 -t alerts/x -l
wait_sql "SELECT count(*) FROM messages" $N
is "$(sql "SELECT count(*) FROM messages")" $N "all $N alerts committed"
_reqs_ge() {
	[ "$(lines "$PROV_LOG")" -ge "$1" ]
}
wait_for 10 _reqs_ge $((6 + INFLIGHT))
gw_kill9
sent_before=$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")
sending=$(sql "SELECT count(*) FROM outbox WHERE state = 'sending'")
diag "at the kill: $sent_before sent, $sending sending"
ok "killed mid-run (some sent, some left)" test "$sent_before" -lt $N -a "$sent_before" -gt 0
ok "at most $INFLIGHT were in flight" test "$sending" -le $INFLIGHT

echo "Messages.json 201" >"$PROV_SCRIPT"
gw_start gateway2 || bail_out "gateway did not restart"
wait_sql "SELECT count(*) FROM outbox WHERE state = 'sent'" $N 30
is "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")" $N "every delivery sent after restart"
ok "the restart requeued the in-flight rows" \
	grep -q "were in flight at the last stop\|started" "$TEST_TMP/gateway2.log"
counts=$("$PYTHON" -c 'import json, re, sys, collections
c = collections.Counter()
for l in open(sys.argv[1]):
    m = re.search(r"Item(\d+)\.", json.loads(l)["form"]["Body"])
    c[int(m.group(1))] += 1
n = int(sys.argv[2])
missing = [i for i in range(1, n + 1) if c[i] == 0]
dups = sum(v - 1 for v in c.values() if v > 1)
print(len(missing), dups)' "$PROV_LOG" $N)
read -r missing dups <<<"$counts"
is "$missing" 0 "no delivery lost"
ok "duplicates ($dups) only for the $sending in flight at the kill" test "$dups" -le "$sending"

done_testing
