#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 48-gateway-campaign-delivery.sh - a campaign approved through the CLI
# (reviewers, TOTP codes from oathtool) goes out by email (aiosmtpd), SMS
# and LINE (the scripted fake provider) to exactly the members with consent
# and without an opt-out; the email has the html part and the
# List-Unsubscribe headers (RFC 8058); a member whose zone is at night is
# deferred and counted; [channel sms] rate = 5/s spaces the SMS; an alert
# published while the campaign drains goes out before the remaining
# marketing SMS; `campaign report` adds up; a deferred member who withdraws
# consent before the window opens never receives it; a campaign cancelled
# while sending stops (its queued SMS fail); Twilio error 21610 opts the
# number out (docs/marketing.md, "Delivery rules").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"

need_cmd oathtool sha256sum
LINE_ID=U0123456789abcdef0123456789abcdef

# Zones picked from the current UTC hour: local noon (day) and local
# midnight (inside 21:00-08:00) whatever the time the test runs.
utc_h=$((10#$(date -u +%H)))
zone_at() { # LOCAL_HOUR -> Etc/GMT zone where it is about that hour now
	local off=$((($1 - utc_h + 48) % 24))
	[ "$off" -gt 12 ] && off=$((off - 24))
	if [ "$off" -ge 0 ]; then echo "Etc/GMT-$off"; else echo "Etc/GMT+$((-off))"; fi
}
DAY_TZ=$(zone_at 12)
NIGHT_TZ=$(zone_at 0)
diag "utc hour $utc_h: day zone $DAY_TZ, night zone $NIGHT_TZ"

start_mosquitto "allow_anonymous true" || bail_out "no broker"
# campaigns and reviews travel sealed only: topic keys for the gateway, as
# `mqttsec-acl key export` gives them once the topics are protected
gw_status_key
gw_marketing_key
smtp_start || bail_out "no smtp recorder"
provider_start || bail_out "no fake provider"
URL=http://127.0.0.1:$PROV_PORT
gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = shop@example.com

[channel sms]
url = $URL
account_sid = ACtest
auth_token = sekrit
from = +15550000000
rate = 5/s
burst = 1

[channel line]
url = $URL
token = linetoken

[marketing]
quiet_hours = 21:00-08:00
default_tz = $DAY_TZ
fanout_batch = 4

[http]
listen = 127.0.0.1:0
public_url = http://127.0.0.1:9

[route promo]
topic = marketing/submit
kind = marketing
review_levels = legal,boss"

## audience
gw group add customers >/dev/null
gw group add ops >/dev/null
gw recipient add ann --email ann@example.com --phone +15550000001 --line "$LINE_ID" \
	--group customers >/dev/null
gw recipient add bob --email bob@example.com --phone +15550000002 --group customers >/dev/null
gw recipient add cat --email cat@example.com --phone +15550000003 --group customers >/dev/null
gw recipient add dan --email dan@example.com --group customers >/dev/null
gw recipient add eve --email eve@example.com --tz "$NIGHT_TZ" --group customers >/dev/null
for i in 01 02 03 04 05 06 07 08 09 10; do
	gw recipient add "s$i" --phone "+155500100$i" --group customers >/dev/null
	gw recipient consent "s$i" sms on >/dev/null
done
gw recipient add opal --phone +15550008888 --group ops >/dev/null
for ch in email sms line; do gw recipient consent ann $ch on >/dev/null; done
gw recipient consent cat email on >/dev/null
gw recipient consent cat sms on >/dev/null
gw recipient optout cat sms >/dev/null
for ch in email sms line; do gw recipient consent dan $ch on >/dev/null 2>&1; done
gw recipient consent eve email on >/dev/null
is "$(sql "SELECT count(*) FROM consents WHERE state = 1")" 18 \
	"consents set by the CLI (cat's sms consent went off with the opt-out)"

## review through the CLI: two levels, two persons, codes from oathtool
secret_of() { sed -n 3p; }
SA=$(gw reviewer add console:alice --level legal --person alice | secret_of)
SB=$(gw reviewer add console:bob --level boss --person bobby | secret_of)
ok "reviewer secrets shown" test -n "$SA" -a -n "$SB"
SC=$(gw author add console:carol --person carol | secret_of)
ok "author carol's secret shown" test -n "$SC"
cat >"$TEST_TMP/c.json" <<'EOF'
{"id": "c-winter", "group": "customers", "channels": ["email", "sms", "line"],
 "subject": "Winter sale", "text": "Hello {{name}}, 20% off",
 "html": "<p>Hello <b>{{name}}</b></p>"}
EOF
SHA=$(sha256sum "$TEST_TMP/c.json" | cut -d' ' -f1)
ok "campaign submitted" gw campaign submit "$TEST_TMP/c.json" --author console:carol --route promo \
	--code "$(oathtool --totp -b "$SC")"
gw_start || bail_out "gateway did not start"
start_bg status mosquitto_sub -h 127.0.0.1 -p "$MOSQ_PORT" -q 1 -v -t "$GW_STATUS/#"
sleep 1 # a negative check: the tick runs every second
is "$(sql "SELECT state FROM campaigns WHERE cid = 'c-winter'")" pending_review \
	"nothing goes out before the review"
ok "legal approves" gw campaign approve c-winter --reviewer console:alice --sha256 "$SHA" \
	--code "$(oathtool --totp -b "$SA")"
ok "boss approves" gw campaign approve c-winter --reviewer console:bob --sha256 "$SHA" \
	--code "$(oathtool --totp -b "$SB")"

## the drain: an alert published meanwhile goes before the remaining SMS
mkt_sms_sent() {
	sql "SELECT count(*) FROM outbox WHERE prio = 1 AND channel = 'sms' AND state = 'sent'"
}
_ge() { [ "$("$1")" -ge "$2" ]; }
wait_for 30 _ge mkt_sms_sent 1 || diag "no marketing sms sent"
pub alerts/a '{"id": "al-1", "group": "ops", "title": "Boiler alarm", "channels": ["sms"]}'
wait_sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
          WHERE m.msg_id = 'al-1'" sent 20
wait_sql "SELECT count(*) FROM outbox WHERE prio = 1 AND channel = 'sms' AND state = 'sent'" 11 60
reqn() { # BODY_TEXT -> request number of the first request mentioning it
	"$PYTHON" -c 'import json, sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if sys.argv[2] in j["body"]:
        print(j["n"]); break' "$PROV_LOG" "$1"
}
last_mkt=$("$PYTHON" -c 'import json, sys
print(max(j["n"] for j in map(json.loads, open(sys.argv[1])) if "Messages.json" in j["path"]
          and "Hello" in (j.get("form") or {}).get("Body", "")))' "$PROV_LOG")
alert_n=$(reqn "Boiler")
# Marketing SMS still to go when the alert was queued (sent after its outbox row was made): on a
# very slow run all eleven can be out before the gateway even reads the alert, and then there
# is nothing for the alert to overtake. One of them may already have been in flight.
late_mkt=$(sql "SELECT count(*) FROM outbox WHERE prio = 1 AND channel = 'sms' AND state = 'sent'
                AND updated_at > (SELECT o.created_at FROM outbox o JOIN messages m
                                  ON m.id = o.message WHERE m.msg_id = 'al-1')")
if [ "${late_mkt:-0}" -ge 2 ]; then
	ok "the alert ($alert_n) went out before the last marketing sms ($last_mkt)" \
		test "${alert_n:-999}" -lt "${last_mkt:-0}"
else
	skip "the alert went out before the last marketing sms" \
		"only ${late_mkt:-0} marketing sms were left when the alert was queued (slow run)"
fi
spread=$(sql "SELECT max(updated_at) - min(updated_at) FROM outbox WHERE prio = 1 AND
              channel = 'sms' AND state = 'sent'")
ok "rate 5/s: 11 sms spread over ${spread} ms (>= 1500)" test "${spread:-0}" -ge 1500

## exactly the consenting, not opted-out members, on each channel
wait_lines "$SMTP_LOG" 3 30
wait_sql "SELECT count(*) FROM outbox WHERE prio = 1 AND channel = 'line' AND state = 'sent'" 1
rcpts=$("$PYTHON" -c 'import json, sys
print(" ".join(sorted(r for j in map(json.loads, open(sys.argv[1])) for r in j["rcpt_tos"])))' \
	"$SMTP_LOG")
is "$rcpts" "ann@example.com cat@example.com dan@example.com" \
	"email: ann, cat, dan (bob no consent, eve deferred)"
tos=$("$PYTHON" -c 'import json, sys
print(" ".join(sorted(j["form"]["To"] for j in map(json.loads, open(sys.argv[1]))
      if "Messages.json" in j["path"] and "Hello" in j["form"].get("Body", ""))))' "$PROV_LOG")
is "$tos" "+15550000001 +15550010001 +15550010002 +15550010003 +15550010004 +15550010005 +15550010006 +15550010007 +15550010008 +15550010009 +15550010010" \
	"sms: ann and s01..s10 (cat opted out, dan no phone, bob and eve no consent)"
is "$("$PYTHON" -c 'import json, sys
print([j["json"]["messages"][0]["text"] for j in map(json.loads, open(sys.argv[1]))
       if "/v2/bot/" in j["path"]])' "$PROV_LOG")" "['Hello ann, 20% off']" \
	"line: ann only, the rendered text"
ok "sms: the rendered text with the opt-out footer" grep -q 'Hello s01, 20% off.*STOP' \
	<<<"$("$PYTHON" -c 'import json, sys
for j in map(json.loads, open(sys.argv[1])):
    if "Messages.json" in j["path"] and j["form"].get("To") == "+15550010001":
        print(j["form"]["Body"].replace("\n", " "))' "$PROV_LOG")"

## the email: html part, List-Unsubscribe (RFC 8058)
raw=$(jfield "$SMTP_LOG" 1 'j["data"]')
ok "email: List-Unsubscribe with the public URL" \
	grep -q '^List-Unsubscribe: <http://127.0.0.1:9/u/[A-Za-z0-9_-]\{56\}>' <<<"$raw"
ok "email: List-Unsubscribe-Post one-click" \
	grep -q '^List-Unsubscribe-Post: List-Unsubscribe=One-Click' <<<"$raw"
ok "email: multipart/alternative" grep -qi 'Content-Type: multipart/alternative' <<<"$raw"
ok "email: an html part" grep -qi 'Content-Type: text/html; charset=utf-8' <<<"$raw"
ok "email: subject" grep -q 'Winter sale' <<<"$(jfield "$SMTP_LOG" 1 'j["subject"]')"
nok "email: no severity header on marketing" grep -q '^X-Mqttsec-Severity' <<<"$raw"

## quiet hours: eve waits, counted
is "$(sql "SELECT state || ' ' || deferred || ' ' || (next_attempt_at > strftime('%s','now') * 1000)
           FROM outbox WHERE recipient = 'eve'")" "queued 1 1" \
	"eve ($NIGHT_TZ, night): queued for the morning, deferred"

## campaign report
report() { gw campaign report c-winter --json; }
rep=$(report)
rv() { "$PYTHON" -c 'import json, sys
r = json.loads(sys.argv[1])
c = [x for x in r["channels"] if x["channel"] == sys.argv[2]][0]
print(" ".join(str(c[k]) for k in sys.argv[3].split(",")))' "$rep" "$@"; }
is "$(rv email audience,no_consent,opted_out,no_address,deferred,sent,queued)" \
	"15 11 0 0 1 3 1" "report email: 15 members, 11 without consent, 1 deferred, 3 sent"
is "$(rv sms audience,no_consent,opted_out,no_address,sent)" "15 2 1 1 11" \
	"report sms: 2 without consent, 1 opted out, 1 without phone, 11 sent"
is "$(rv line audience,no_consent,opted_out,no_address,sent)" "15 13 0 1 1" \
	"report line: 1 sent"
is "$("$PYTHON" -c 'import json, sys; r = json.loads(sys.argv[1]); print(r["state"], r["fanned_out"])' "$rep")" \
	"sending True" "report: still sending (eve waits), fan-out done"
ok "audit: scheduled and sending recorded" \
	test "$(sql "SELECT group_concat(event) FROM campaign_audit WHERE campaign = 'c-winter' AND
	             event IN ('scheduled','sending')")" = "scheduled,sending"

## consent withdrawn while eve waits for the morning: never sent
ok "eve withdraws her email consent" gw recipient consent eve email off
# the morning comes: eve's zone is now the day zone and her row is due
gw recipient set eve --tz "$DAY_TZ" >/dev/null
sql "UPDATE outbox SET next_attempt_at = 0 WHERE recipient = 'eve'"
wait_sql "SELECT state || ' ' || last_error FROM outbox WHERE recipient = 'eve'" \
	"failed consent withdrawn" 30
is "$(sql "SELECT state || ' ' || last_error FROM outbox WHERE recipient = 'eve'")" \
	"failed consent withdrawn" "eve's row failed: consent withdrawn"
is "$(wc -l <"$SMTP_LOG")" 3 "eve received no campaign email"
wait_sql "SELECT state FROM campaigns WHERE cid = 'c-winter'" done 30
rep=$(report)
is "$(rv email sent,failed,queued)" "3 1 0" "report email: 3 sent, eve failed (consent withdrawn)"

## cancel while sending (emergency stop): the queued deliveries fail, none goes out
echo "Messages.json 503;ra=600" >"$PROV_SCRIPT" # every SMS waits for a retry
SL=$(gw reviewer add console:lena --level legal --person lena | secret_of)
SBR=$(gw reviewer add console:boris --level boss --person boris | secret_of)
cat >"$TEST_TMP/c2.json" <<'EOF'
{"id": "c-flash", "group": "customers", "channels": ["sms"], "text": "Flash sale for {{name}}"}
EOF
SHA2=$(sha256sum "$TEST_TMP/c2.json" | cut -d' ' -f1)
ok "c-flash submitted" gw campaign submit "$TEST_TMP/c2.json" --author console:carol --route promo
ok "c-flash: legal approves" gw campaign approve c-flash --reviewer console:lena --sha256 "$SHA2" \
	--code "$(oathtool --totp -b "$SL")"
ok "c-flash: boss approves" gw campaign approve c-flash --reviewer console:boris --sha256 "$SHA2" \
	--code "$(oathtool --totp -b "$SBR")"
flash() { # CONDITION -> rows of c-flash
	sql "SELECT count(*) FROM outbox o JOIN campaigns c ON c.message = o.message
	     WHERE c.cid = 'c-flash' AND $1"
}
wait_sql "SELECT count(*) FROM outbox o JOIN campaigns c ON c.message = o.message
          WHERE c.cid = 'c-flash' AND o.state = 'queued' AND o.attempts = 1" 11 60
is "$(flash "o.state = 'queued' AND o.attempts = 1")" 11 \
	"c-flash: the 11 SMS tried once, waiting for their retry"
ok "campaign cancel while sending" gw campaign cancel c-flash
wait_sql "SELECT count(*) FROM outbox o JOIN campaigns c ON c.message = o.message
          WHERE c.cid = 'c-flash' AND o.state = 'failed' AND o.last_error = 'campaign cancelled'" \
	11 30
is "$(flash "o.state = 'failed' AND o.last_error = 'campaign cancelled'")" 11 \
	"cancel: the 11 queued SMS failed as 'campaign cancelled'"
is "$(flash "o.state <> 'failed'")" 0 "cancel: nothing of c-flash left to send"
is "$(grep -c 'Flash sale' "$PROV_LOG")" 11 "cancel: the provider saw only the first attempts"
is "$(sql "SELECT state FROM campaigns WHERE cid = 'c-flash'")" cancelled \
	"cancel: the campaign stays cancelled (never done)"

## Twilio 21610: the number opted out
echo "Messages.json 400;code=21610" >"$PROV_SCRIPT"
pub alerts/a '{"id": "al-2", "group": "ops", "title": "Second alarm", "channels": ["sms"]}'
wait_sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
          WHERE m.msg_id = 'al-2'" failed 20
is "$(sql "SELECT o.source FROM optouts o JOIN recipients r ON r.id = o.recipient_id
           WHERE r.name = 'opal' AND o.channel = 'sms'")" twilio-21610 \
	"21610: opal opted out of sms (source twilio-21610)"
is "$(sql "SELECT count(*) FROM consent_log l JOIN recipients r ON r.id = l.recipient_id
           WHERE r.name = 'opal' AND l.event = 'optout' AND l.source = 'twilio-21610'")" 1 \
	"21610: logged once"

stop_bg gateway
done_testing
