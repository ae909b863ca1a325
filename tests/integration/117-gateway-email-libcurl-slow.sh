#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 117-gateway-email-libcurl-slow.sh - email over libcurl (STARTTLS and AUTH,
# a server without PIPELINING) with a server that holds its reply to the end
# of one alert's message: libcurl waits for that reply inside its transfer,
# so the gateway runs these transfers on threads of their own
# (docs/channels.md, "Email over libcurl").  While the reply is held, other
# alerts by email are sent, the loop never stalls, and a stop ends within
# its drain time; after a restart the held alert is sent again and ends
# "sent".  Before the transfer threads, the whole gateway (every channel,
# the MQTT connection, the stop) waited for the held reply.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"

need_cmd openssl
need_python_module aiosmtpd

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$TEST_TMP/key.pem" -out "$TEST_TMP/cert.pem" -days 2 -subj /CN=localhost \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1 ||
	skip_all "openssl cannot make a certificate"
start_mosquitto "allow_anonymous true" || bail_out "no broker"
# the server holds the reply to the end of a message to ops1 until the test
# releases it (or 600 s)
RELEASE=$TEST_TMP/release
smtp_start --tls-cert "$TEST_TMP/cert.pem" --tls-key "$TEST_TMP/key.pem" \
	--require-starttls --auth gw:pw --stall-rcpt "ops1@:600" --stall-release "$RELEASE" ||
	bail_out "no smtp recorder"
gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = alerts@example.com
tls = required
ca_file = $TEST_TMP/cert.pem
username = gw
password = pw
max_inflight = 4
timeout = 900"

gw group add ops >/dev/null
gw recipient add ops1 --email ops1@example.com --group ops >/dev/null
gw group add ops2 >/dev/null
gw recipient add ops2 --email ops2@example.com --group ops2 >/dev/null
gw_start || bail_out "gateway did not start"

state_of() {
	sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
	     WHERE m.msg_id = '$1'"
}
_stalling() { grep -q stalling "$TEST_TMP/smtp.log"; }
_ops2_got() { [ "$(grep -c '"ops2@example.com"' "$SMTP_LOG")" -ge "$1" ]; }

pub alerts/a '{"id": "al-held", "group": "ops", "title": "Boiler alarm", "channels": ["email"]}'
ok "the server holds its reply to the first alert" wait_for 60 _stalling

# alerts to another recipient go out meanwhile (bounds are generous: the
# old gateway did not send them before the held reply came, 600 s here)
for k in 1 2 3; do
	pub alerts/a "{\"id\": \"al-next$k\", \"group\": \"ops2\", \"title\": \"Next $k\",
		\"channels\": [\"email\"]}"
	ok "alert $k to ops2 sent while the first is held" wait_for 60 _ops2_got "$k"
done
is "$(state_of al-next3)" sent "its delivery is recorded as sent"
is "$(state_of al-held)" sending "the held alert is still running"
ok "no email to ops1 yet" test "$(grep -c '"ops1@example.com"' "$SMTP_LOG")" -eq 0

# the stop: the drain (5 s) then the held transfer is aborted
PID=${BG_PID[gateway]}
T0=$(date +%s)
kill -TERM "$PID"
_gone() { ! kill -0 "$PID" 2>/dev/null; }
ok "the gateway stops while the reply is held" wait_for 60 _gone
T1=$(date +%s)
# bounds stretched by WAIT_SCALE (a busy machine), still far below the held
# reply (600 s) the old gateway waited for
STOP_MAX=$(scaled 30)
ok "it stopped within ${STOP_MAX%.*} s ($((T1 - T0)) s)" test $((T1 - T0)) -le "${STOP_MAX%.*}"
wait "$PID" 2>/dev/null
is "$?" 0 "it exited cleanly"
ok "it logged the stop" grep -q "stopping (waiting up to" "$TEST_TMP/gateway.log"
ok "and the email left for the next start" \
	grep -q "1 of the emails over libcurl did not end before the stop" "$TEST_TMP/gateway.log"
STALLS=$(grep -o "loop stalls since the start: .*" "$TEST_TMP/gateway.log" | tail -1)
MAX_MS=$(echo "$STALLS" | sed -n 's/.* max \([0-9]*\)\..*/\1/p')
diag "$STALLS"
TURN_MAX=$(scaled 5)
ok "no loop turn lasted ${TURN_MAX%.*} s (max ${MAX_MS:-?} ms)" \
	test -n "$MAX_MS" -a "${MAX_MS:-999999}" -lt "$((${TURN_MAX%.*} * 1000))"
# the drain waits on the held transfer without spinning (it spun through
# about 1.4 million turns in its 5 s while the outbox's next read lay in the
# past; a busy machine gives up to about 1,100 turns in the whole run)
TURNS=$(echo "$STALLS" | sed -n 's/.*start: \([0-9]*\) turns.*/\1/p')
ok "the loop did not spin (${TURNS:-?} turns)" test -n "$TURNS" -a "${TURNS:-999999}" -lt 50000

# released and restarted: the interrupted alert is sent again
touch "$RELEASE"
gw_start gateway2 || bail_out "gateway did not restart"
_held_sent() { [ "$(state_of al-held)" = sent ]; }
ok "the interrupted alert ends sent after the restart" wait_for 60 _held_sent
ok "ops1 got it" test "$(grep -c '"ops1@example.com"' "$SMTP_LOG")" -ge 1
ok "every email went over TLS with AUTH" \
	"$PYTHON" -c 'import json,sys
recs = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if recs and all(r["tls"] and r["auth"] == "gw" for r in recs) else 1)' "$SMTP_LOG"
stop_bg gateway2
done_testing
