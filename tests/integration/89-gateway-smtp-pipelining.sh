#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 89-gateway-smtp-pipelining.sh - the email channel's pipelining SMTP
# client (gateway/gw_smtp.c, docs/channels.md "Pipelining"): used when the
# server announces PIPELINING; a 4xx on RCPT is retried, a 5xx on MAIL
# fails, a connection dropped after the final dot or mid-pipeline loses
# nothing and repeats only the unacknowledged message, an over-long reply
# line is a retry; a server without PIPELINING, `pipelining = off` and a
# STARTTLS offer go through libcurl, which refuses a bad certificate; a
# server name is looked up off the loop (libcurl meanwhile).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"
need_python_module aiosmtpd
need_cmd openssl

start_mosquitto "allow_anonymous true" || bail_out "no broker"
GW_MAX_ATTEMPTS=20
unset SMTP_PIPELINING # each section says whether the server pipelines

# email_conf URL [EXTRA]: the configuration for an SMTP server at URL
email_conf() {
	gw_config "[channel email]
url = $1
from = alerts@example.com
timeout = 5
${2:-}"
}
n_alert=0
# alert GROUP: one alert to GROUP, its id in $ALERT
alert() {
	n_alert=$((n_alert + 1))
	ALERT=p-$n_alert
	pub alerts/x "{\"id\": \"$ALERT\", \"group\": \"$1\", \"title\": \"Pipe $n_alert\", \"body\": \"line one\\n.dot line\\nlast\"}"
}
# states ID: the outbox states of alert ID, sorted, space-separated
states() {
	sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
	     WHERE m.msg_id = '$1' ORDER BY o.state" | tr '\n' ' ' | sed 's/ $//'
}
_settled() { # ID N: N rows, none queued or sending
	[ "$(sql "SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message
	     WHERE m.msg_id = '$1' AND o.state NOT IN ('queued', 'sending')")" = "$2" ]
}
gw_restart() {
	stop_bg gateway
	gw_start || bail_out "gateway did not start"
}

smtp_start --pipelining --fail-rcpt 1 || bail_out "no smtp recorder"
email_conf "smtp://127.0.0.1:$SMTP_PORT"
ok "config with pipelining (default auto) is valid" gw check
gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = alerts@example.com
pipelining = maybe"
timeout 20 "$GATEWAY_BIN" -c "$GW_CONF" run >"$TEST_TMP/maybe.out" 2>&1
rc=$?
ok "pipelining = maybe: the gateway refuses to start" test "$rc" -ne 0 -a "$rc" -ne 124
ok "with a clear reason" grep -q "pipelining must be auto or off" "$TEST_TMP/maybe.out"
email_conf "smtp://127.0.0.1:$SMTP_PORT"
gw group add ops >/dev/null
gw group add team >/dev/null
gw recipient add alice --email alice@example.com --group ops --group team >/dev/null
gw recipient add bob --email bob@example.net --group team >/dev/null
gw recipient add carol --email carol@example.org --group team >/dev/null
gw_start || bail_out "gateway did not start"

## 1. pipelined, a 4xx on the first RCPT: retried, then sent once
alert ops
wait_for 15 _settled "$ALERT" 1
is "$(states "$ALERT")" sent "4xx on RCPT: retried, then sent"
is "$(lines "$SMTP_LOG")" 1 "exactly one email"
ok "the retry names the refused command" grep -q "smtp 451: rcpt to refused" \
	"$TEST_TMP/gateway.log"
raw=$(jfield "$SMTP_LOG" 1 'j["data"]')
ok "sent by the pipelining client (its own MIME, no multipart/mixed)" \
	bash -c '! grep -qi "multipart/mixed" <<<"$1" && grep -qi "quoted-printable" <<<"$1"' _ "$raw"
is "$(jfield "$SMTP_LOG" 1 'j["subject"]')" "Pipe 1" "subject"
is "$(jfield "$SMTP_LOG" 1 'j["body"].replace("\r\n", "\n").strip()')" \
	"$(printf 'line one\n.dot line\nlast')" "body, a line starting with a dot intact"
is "$(jfield "$SMTP_LOG" 1 'j["mail_from"]')" "alerts@example.com" "MAIL FROM"
ok "queue id kept as the provider reference" test -n \
	"$(sql "SELECT provider_ref FROM outbox WHERE state = 'sent' AND provider_ref LIKE 'Q%'")"

## 2. several recipients over the kept connections
alert team
wait_for 15 _settled "$ALERT" 3
is "$(states "$ALERT")" "sent sent sent" "three recipients sent"
is "$(lines "$SMTP_LOG")" 4 "three more emails"

## 3. a 5xx on MAIL: failed, nothing sent; the next one goes out
stop_bg smtp
smtp_start --pipelining --reject-mail 1 || bail_out "no smtp recorder"
alert ops
wait_for 15 _settled "$ALERT" 1
is "$(states "$ALERT")" failed "5xx on MAIL: failed"
is "$(sql "SELECT o.last_error FROM outbox o JOIN messages m ON m.id = o.message
	WHERE m.msg_id = '$ALERT'")" "smtp 550: mail from refused" "the error names MAIL, no address"
alert ops
wait_for 15 _settled "$ALERT" 1
is "$(states "$ALERT")" sent "the next alert is sent"
is "$(lines "$SMTP_LOG")" 5 "one more email, none for the refused one"
stop_bg smtp

## 4. the connection drops after a final dot, before its reply
MIS_LOG=$TEST_TMP/mis.jsonl
mis_start() {
	rm -f "$TEST_TMP/mis.port" "$MIS_LOG"
	start_bg mis "$PYTHON" "$TOOLS/smtp_misbehave.py" --port-file "$TEST_TMP/mis.port" \
		--log "$MIS_LOG" "$@"
	wait_for "$WAIT_TIMEOUT" _file_nonempty "$TEST_TMP/mis.port" || bail_out "no server"
	email_conf "smtp://127.0.0.1:$(cat "$TEST_TMP/mis.port")"
	gw_restart
}
acked() { # how many times RCPT was acknowledged
	"$PYTHON" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["acked"] and json.loads(l)["rcpt"] == sys.argv[2]))' \
		"$MIS_LOG" "$1"
}
unacked() {
	"$PYTHON" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if not json.loads(l)["acked"]))' "$MIS_LOG"
}
mis_start --drop-after-dot 2
alert team
wait_for 20 _settled "$ALERT" 3
is "$(states "$ALERT")" "sent sent sent" "dropped after a dot: every delivery ends sent"
is "$(unacked)" 1 "one message was dropped unacknowledged"
is "$(acked alice@example.com) $(acked bob@example.net) $(acked carol@example.org)" "1 1 1" \
	"each recipient acknowledged exactly once (only the unacknowledged one repeated)"
stop_bg mis

## 5. the connection drops mid-pipeline (after RCPT, DATA unanswered)
mis_start --drop-after-rcpt 1
alert ops
wait_for 20 _settled "$ALERT" 1
is "$(states "$ALERT")" sent "dropped mid-pipeline: retried, sent"
is "$(acked alice@example.com) $(unacked)" "1 0" "delivered once"
stop_bg mis

## 6. an over-long reply line
mis_start --long-reply 1
alert ops
wait_for 20 _settled "$ALERT" 1
is "$(states "$ALERT")" sent "over-long reply: retried, sent"
ok "the over-long reply is reported" grep -q "smtp: bad reply from server" \
	"$TEST_TMP/gateway.log"
is "$(acked alice@example.com)" 1 "delivered once"
stop_bg mis

## 7. a server without PIPELINING: libcurl
SMTP_LOG=$TEST_TMP/smtp2.jsonl
SMTP_PORT=
smtp_start || bail_out "no smtp recorder"
email_conf "smtp://127.0.0.1:$SMTP_PORT"
gw_restart
alert ops
wait_for 15 _settled "$ALERT" 1
is "$(states "$ALERT")" sent "no PIPELINING: sent"
ok "through libcurl (its MIME)" grep -qi "multipart/mixed" "$SMTP_LOG"
alert team
wait_for 15 _settled "$ALERT" 3
is "$(states "$ALERT")" "sent sent sent" "and the next ones too"
is "$(lines "$SMTP_LOG")" 4 "four emails"
stop_bg smtp

## 8. pipelining = off: libcurl even when the server pipelines
SMTP_LOG=$TEST_TMP/smtp3.jsonl
SMTP_PORT=
smtp_start --pipelining || bail_out "no smtp recorder"
email_conf "smtp://127.0.0.1:$SMTP_PORT" "pipelining = off"
gw_restart
alert ops
wait_for 15 _settled "$ALERT" 1
is "$(states "$ALERT")" sent "pipelining = off: sent"
ok "through libcurl" grep -qi "multipart/mixed" "$SMTP_LOG"
stop_bg smtp

## 9. STARTTLS offered with a certificate the gateway cannot verify
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$TEST_TMP/self.key" \
	-out "$TEST_TMP/self.pem" >/dev/null 2>&1 || bail_out "no certificate"
SMTP_LOG=$TEST_TMP/smtp4.jsonl
SMTP_PORT=
smtp_start --pipelining --tls-cert "$TEST_TMP/self.pem" --tls-key "$TEST_TMP/self.key" ||
	bail_out "no smtp recorder"
email_conf "smtp://127.0.0.1:$SMTP_PORT"
gw_restart
alert ops
_tried() {
	[ "$(sql "SELECT o.attempts FROM outbox o JOIN messages m ON m.id = o.message
	     WHERE m.msg_id = '$ALERT'")" -ge 2 ] 2>/dev/null
}
wait_for 15 _tried
st=$(states "$ALERT")
ok "bad certificate: not sent, retried (state $st)" test "$st" = queued -o "$st" = sending
is "$(lines "$SMTP_LOG")" 0 "nothing delivered in clear"
ok "the error is recorded" test -n "$(sql "SELECT o.last_error FROM outbox o JOIN messages m
	ON m.id = o.message WHERE m.msg_id = '$ALERT'")"

## 10. a server name: looked up off the loop (getaddrinfo_a), libcurl meanwhile
stop_bg smtp
SMTP_LOG=$TEST_TMP/smtp5.jsonl
SMTP_PORT=
smtp_start --pipelining || bail_out "no smtp recorder"
email_conf "smtp://localhost:$SMTP_PORT"
gw_restart
alert ops
wait_for 15 _settled "$ALERT" 1
is "$(states "$ALERT")" sent "a server name: the first alert is sent"
if [ "$(getent ahosts localhost | awk 'NR == 1 { print $1 }')" = 127.0.0.1 ]; then
	# the lookup ends in the background: a later email takes the client
	piped=0
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		alert ops
		wait_for 15 _settled "$ALERT" 1
		n=$(lines "$SMTP_LOG")
		if ! grep -qi "multipart/mixed" <<<"$(jfield "$SMTP_LOG" "$n" 'j["data"]')"; then
			piped=1
			break
		fi
	done
	is "$piped" 1 "then by the pipelining client once the name is known"
else
	skip "then by the pipelining client once the name is known" "localhost is not 127.0.0.1 first here"
fi
stop_bg smtp

done_testing
