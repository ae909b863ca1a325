#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 46-gateway-campaign-review.sh - the hierarchical review of marketing
# campaigns (docs/marketing.md, "Review") on a real Mosquitto broker with
# the mqttsec plugin.  An author device publishes a campaign, sealed, on
# the protected route topic; the gateway stores it and publishes its
# content, sealed, on <status_topic>/<id>/content, where a reviewer device
# reads it (and checks its sha256).  Reviewers approve over MQTT, in
# order; an out-of-order approval, an approval by the author, one of
# other content (wrong sha256), an unsealed review and a second level
# approved by the same person are refused and audited (the unsealed one
# never reaches the gateway: the broker drops plaintext on a protected
# topic).  A second campaign is rejected at level 1 and never approved.
# A third is approved from the command line with the reviewers' TOTP
# codes (oathtool): a wrong code and a replayed code change nothing.
# `mqttsec-gateway audit` lists every decision with who, when, level and
# hash.  Start-up refuses a marketing route whose topics are unprotected.
# Authors are known persons: a campaign from an origin that acts for no
# person (mpc, before `author add`) is refused and audited; once mapped to
# carol, carol cannot approve it through her editor device; on the command
# line `campaign submit --author` needs the author's own TOTP code.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/brokers-lib.sh"
need_file "$DEVICE_BIN" "$GATEWAY_BIN"
need_cmd mosquitto_pub sqlite3 oathtool sha256sum
WAIT=${CAMPAIGN_WAIT:-40}
ST=mqttsec/status

########################################################################
## one broker: the gateway, an author, three reviewers (ed1 and ed2
## editors, mgr1 a manager), a marketing PC (mpc) not mapped at first

mb_init a
mb_device a gw --period 2
for d in author ed1 mgr1 ed2 mpc; do
	mb_device a "$d"
done
mb_protect a 'marketing/#'
mb_protect a "$ST/+/content"
mb_protect a "$ST/+/review"
mb_allow a all gw "$ST/#"
mb_allow a sub gw 'marketing/#'
mb_allow a read gw 'marketing/#'
mb_allow a pub author 'marketing/#'
mb_allow a pub mpc 'marketing/#'
for d in author ed1 mgr1 ed2; do
	mb_allow a pub "$d" "$ST/+/review"
	mb_allow a sub "$d" "$ST/+/content"
	mb_allow a read "$d" "$ST/+/content"
done
# an unprotected twin for the start-up refusal
mb_allow a pub author 'open/#'
for f in 'marketing/#' "$ST/+/review" "$ST/+/content"; do
	mb_key a "$f" gw || bail_out "key export failed: $(cat "$TEST_TMP/mb-acl.err")"
done
for d in ed1 mgr1 ed2; do
	mb_key a "$ST/+/content" "$d" || bail_out "key export failed"
done
mb_start a || bail_out "broker did not start"
pass "a broker with the plugin is up"

GW_DB=$TEST_TMP/gw.db
# gw_conf TOPIC: the configuration with a marketing route on TOPIC.
gw_conf() {
	cat <<EOF
[broker]
host = 127.0.0.1
port = $(mb_port a)
credentials = $(mb_creds a gw)
reconnect_min = 200ms
reconnect_max = 1s

[store]
db = $GW_DB
master_key_file = $TEST_TMP/gw.key
spool_dir = $TEST_TMP/spool

[http]
listen = 127.0.0.1:0
public_url = http://127.0.0.1:8080

[route promo]
topic = $1
kind = marketing
review_levels = editors, managers
review_timeout = 72h
EOF
}
gw_conf 'marketing/#' >"$TEST_TMP/gw.conf"
gwc() {
	"$GATEWAY_BIN" -q -c "$TEST_TMP/gw.conf" "$@"
}
sql() {
	sqlite3 -cmd ".timeout 5000" "$GW_DB" "$1"
}
state() {
	sql "SELECT state FROM campaigns WHERE cid = '$1'"
}

## an unprotected route topic: refused at start
gw_conf 'open/#' >"$TEST_TMP/open.conf"
open_rc=0
timeout 30 "$GATEWAY_BIN" -c "$TEST_TMP/open.conf" run >"$TEST_TMP/open.log" 2>&1 || open_rc=$?
is "$open_rc" 78 "a marketing route on an unprotected topic: the gateway refuses to start"
ok "and says why" grep -q "topic open/# is not protected on \[broker\]" "$TEST_TMP/open.log"

## reviewers and groups
ok "group customers" gwc group add customers
ok "recipient ann" gwc recipient add ann --line U0123456789abcdef0123456789abcdef --group customers
# secret_of OUTPUT: the base32 secret printed for a new person.
secret_of() {
	sed -n '/TOTP secret/{n;p;q}' "$1"
}
for spec in "mqtt:ed1 editors alice" "mqtt:mgr1 managers bob" "mqtt:ed2 editors carol" \
	"mqtt:author editors dave"; do
	set -- $spec
	gwc reviewer add "$1" --level "$2" --person "$3" >"$TEST_TMP/rev-$3.out" ||
		fail "reviewer add $1"
done
ok "a new person's secret, otpauth URI and QR code are printed once" \
	eval 'grep -q "^otpauth://totp/mqttsec-gateway:alice?secret=" "$TEST_TMP/rev-alice.out" &&
		grep -q "█" "$TEST_TMP/rev-alice.out"'
ok "alice also reviews managers (mqtt:ed1)" gwc reviewer add mqtt:ed1 --level managers --person alice
ok "bob also from the console" gwc reviewer add console:bob --level managers --person bob
ok "carol also from the console" gwc reviewer add console:carol --level editors --person carol
nok "an existing person gets no new secret" grep -q "TOTP secret" <(gwc reviewer add \
	console:alice --level managers --person alice)
rc=0
gwc reviewer add mqtt:x --level board --person x >/dev/null 2>&1 || rc=$?
is "$rc" 65 "a level of no marketing route is refused (EX_DATAERR)"
ok "reviewer list shows them" eval '[ "$(gwc reviewer list --json | grep -c principal)" = 8 ]'
SECRET_BOB=$(secret_of "$TEST_TMP/rev-bob.out")
SECRET_CAROL=$(secret_of "$TEST_TMP/rev-carol.out")
ok "secrets captured" test -n "$SECRET_BOB" -a -n "$SECRET_CAROL"
ok "author add: console:erin submits for erin (new person)" \
	eval 'gwc author add console:erin --person erin >"$TEST_TMP/author-erin.out"'
SECRET_ERIN=$(secret_of "$TEST_TMP/author-erin.out")
ok "erin's secret is printed once" test -n "$SECRET_ERIN"
ok "author list shows console:erin" eval 'gwc author list | grep -q "^console:erin  *erin "'
ok "reviewer list does not" eval '! gwc reviewer list | grep -q "console:erin"'

## the gateway and the reviewers' reader
_connected() {
	grep -q 'connected to broker' "$TEST_TMP/gw.log"
}
start_bg gw "$GATEWAY_BIN" -c "$TEST_TMP/gw.conf" run
wait_for "$WAIT" _connected || {
	show_log gw
	bail_out "the gateway did not connect"
}
mb_wait_step a ed1
start_bg content "$DEVICE_BIN" -c "$(mb_creds a ed1)" subscribe -h 127.0.0.1 \
	-p "$(mb_port a)" -t "$ST/+/content" -q 1 -v
_subscribed() {
	[ "$(grep -c 'Received SUBSCRIBE from' "$(mb_log a)")" -ge 2 ]
}
wait_for "$WAIT" _subscribed || bail_out "the reader did not subscribe"
# the gateway's SUBACKs follow its CONNACK
wait_for "$WAIT" subacked "$(mb_log a)" mqttsec-gateway-gw || diag "no SUBACK to the gateway seen"

# campaign ID: write campaign ID's file, print its path.
campaign() {
	printf '{"id": "%s", "group": "customers", "channels": ["line"], "text": "Hello {{name}}, %s"}' \
		"$1" "${2:-winter sale}" >"$TEST_TMP/$1.json"
	echo "$TEST_TMP/$1.json"
}
sha_of() {
	sha256sum "$TEST_TMP/$1.json" | cut -d' ' -f1
}
# review WHO ID DECISION LEVEL SHA [REASON]: a sealed review over MQTT.
review() {
	local msg
	msg=$(printf '{"decision": "%s", "level": "%s", "sha256": "%s"%s}' "$3" "$4" "$5" \
		"${6:+, \"reason\": \"$6\"}")
	mb_dev a "$1" publish -t "$ST/$2/review" -q 1 --seal -m "$msg"
}
# logged PATTERN: wait for a line of the gateway's log.
logged() {
	wait_for "$WAIT" grep -q -- "$1" "$TEST_TMP/gw.log"
}
audit_n() {
	sql "SELECT count(*) FROM campaign_audit WHERE campaign = '$1' AND event = '$2'"
}

########################################################################
## campaign A: submitted over MQTT, approved over MQTT in order

campaign c-a >/dev/null
SHA_A=$(sha_of c-a)
ok "the author publishes campaign c-a, sealed" \
	mb_dev a author publish -t marketing/new -q 1 --seal -f "$TEST_TMP/c-a.json"
ok "the gateway stores it, author mqtt:author" logged "campaign c-a from mqtt:author stored"
is "$(state c-a)" pending_review "c-a is pending_review"
_content() {
	grep -c "^$ST/$1/content gw .*\"level\":\"$2\"" "$TEST_TMP/content.log"
}
ok "the reviewer device gets c-a's content for editors, sealed by the broker (origin gw)" \
	wait_for "$WAIT" eval '[ "$(_content c-a editors)" -ge 1 ]'
ok "with the sha256 of the exact bytes" \
	grep -q "^$ST/c-a/content gw .*\"sha256\":\"$SHA_A\"" "$TEST_TMP/content.log"
ok "and the campaign itself" grep -q 'winter sale' "$TEST_TMP/content.log"

ok "mgr1 approves managers first" review mgr1 c-a approve managers "$SHA_A"
ok "out of order: refused" logged "campaign c-a: refused a review from mqtt:mgr1: level managers is not the current level"
ok "the author approves editors" review author c-a approve editors "$SHA_A"
ok "by the author: refused" logged "campaign c-a: refused a review from mqtt:author: the author"
ok "ed2 approves other content" review ed2 c-a approve editors "$(printf '%064d' 0)"
ok "a wrong sha256: refused" logged "campaign c-a: refused a review from mqtt:ed2: sha256 does not match"
mb_wait_step a ed2
mosquitto_pub -h 127.0.0.1 -p "$(mb_port a)" -u ed2 -P "$(mb_code a ed2)" -q 1 \
	-t "$ST/c-a/review" -m "{\"decision\": \"approve\", \"level\": \"editors\", \"sha256\": \"$SHA_A\"}"
ok "an unsealed review never reaches the gateway (the broker drops it)" \
	wait_for "$WAIT" grep -q "malformed\|not sealed\|dropped" "$(mb_log a)"
is "$(sql "SELECT level_idx FROM campaigns WHERE cid = 'c-a'")" 0 "nothing approved yet"
is "$(audit_n c-a refused)" 3 "the three refusals are audited"

ok "ed1 (alice) approves editors" review ed1 c-a approve editors "$SHA_A"
ok "level editors approved" logged "campaign c-a: approved a level by mqtt:ed1"
ok "content for managers published" wait_for "$WAIT" eval '[ "$(_content c-a managers)" -ge 1 ]'
ok "alice approves managers too" review ed1 c-a approve managers "$SHA_A"
ok "the same person for a second level: refused" \
	logged "refused a review from mqtt:ed1: person alice already approved a level"
is "$(state c-a)" pending_review "still pending"
ok "mgr1 (bob) approves managers" review mgr1 c-a approve managers "$SHA_A"
ok "c-a approved" wait_for "$WAIT" eval '[ "$(state c-a)" = approved ] || [ "$(state c-a)" = scheduled ] || [ "$(state c-a)" = sending ] || [ "$(state c-a)" = done ]'
is "$(audit_n c-a approved)" 2 "two approvals audited"
is "$(audit_n c-a refused)" 4 "four refusals audited"
is "$(_content c-a editors)$(_content c-a managers)" 11 "content published once per level"

########################################################################
## campaign P: from an origin that acts for no person, then from carol

campaign c-p "pc sale" >/dev/null
SHA_P=$(sha_of c-p)
ok "mpc publishes c-p, sealed" mb_dev a mpc publish -t marketing/new -q 1 --seal -f "$TEST_TMP/c-p.json"
ok "refused: mqtt:mpc acts for no person" \
	logged "refused campaign c-p from mqtt:mpc: author: mqtt:mpc acts for no person"
is "$(sql "SELECT count(*) FROM campaigns WHERE cid = 'c-p'")" 0 "nothing stored"
is "$(audit_n c-p submit_refused)" 1 "the refusal is audited"
ok "author add mqtt:mpc --person carol" gwc author add mqtt:mpc --person carol
ok "an existing person gets no new secret" \
	eval '! gwc author add mqtt:mpc2 --person carol | grep -q "TOTP secret"'
campaign c-p2 "pc sale" >/dev/null
SHA_P2=$(sha_of c-p2)
ok "mpc publishes c-p2" mb_dev a mpc publish -t marketing/new -q 1 --seal -f "$TEST_TMP/c-p2.json"
ok "c-p2 stored" logged "campaign c-p2 from mqtt:mpc stored"
is "$(sql "SELECT author_person FROM campaigns WHERE cid = 'c-p2'")" carol "with carol as the author's person"
ok "carol approves it from her editor device" review ed2 c-p2 approve editors "$SHA_P2"
ok "refused: the author's person never reviews" \
	logged "campaign c-p2: refused a review from mqtt:ed2: the author of a campaign never reviews it"
is "$(sql "SELECT level_idx FROM campaigns WHERE cid = 'c-p2'")" 0 "nothing approved"

########################################################################
## campaign B: rejected at level 1

campaign c-b "spring sale" >/dev/null
SHA_B=$(sha_of c-b)
ok "c-b published" mb_dev a author publish -t marketing/new -q 1 --seal -f "$TEST_TMP/c-b.json"
ok "c-b stored" logged "campaign c-b from mqtt:author stored"
ok "ed2 rejects c-b" review ed2 c-b reject editors "$SHA_B" "off brand"
ok "c-b rejected" wait_for "$WAIT" eval '[ "$(state c-b)" = rejected ]'
ok "an approval after the rejection" review ed1 c-b approve editors "$SHA_B"
ok "is refused" logged "campaign c-b: refused a review from mqtt:ed1: campaign c-b is rejected"
is "$(audit_n c-b approved)" 0 "c-b never approved"
is "$(state c-b)" rejected "c-b stays rejected"

########################################################################
## campaign C: approved from the command line with TOTP codes

# totp SECRET: the current code (oathtool)
totp() {
	oathtool --totp -b "$1"
}
rc=0
gwc campaign submit "$(campaign c-u "unproven sale")" --author console:erin \
	>"$TEST_TMP/unproven.out" 2>&1 || rc=$?
is "$rc" 0 "campaign submit without --code (the form of the interface contract) stores it"
ok "and warns that the author is not proven" grep -q "not proven" "$TEST_TMP/unproven.out"
is "$(sql "SELECT source FROM campaign_audit WHERE campaign = 'c-u' AND event = 'submitted'")" \
	cli-unproven "the audit says the author was not proven"
ok "cancelled again" gwc campaign cancel c-u
campaign c-c "autumn sale" >/dev/null
rc=0
gwc campaign submit "$TEST_TMP/c-c.json" --author console:nobody --code 123456 \
	>"$TEST_TMP/nobody.out" 2>&1 || rc=$?
is "$rc" 77 "an author that acts for no person: EX_NOPERM"
ok "and says why" grep -q "console:nobody acts for no person" "$TEST_TMP/nobody.out"
rc=0
code=$(totp "$SECRET_ERIN")
bad=000000
[ "$code" = 000000 ] && bad=111111
gwc campaign submit "$TEST_TMP/c-c.json" --author console:erin --code "$bad" >/dev/null 2>&1 || rc=$?
is "$rc" 77 "a wrong code of the author: EX_NOPERM"
is "$(sql "SELECT count(*) FROM campaigns WHERE cid = 'c-c'")" 0 "nothing stored"
is "$(audit_n c-c submit_refused)" 2 "both refusals audited"
ok "campaign submit from the command line with erin's code" \
	gwc campaign submit "$TEST_TMP/c-c.json" --author console:erin --code "$code"
SHA_C=$(sha_of c-c)
ok "its content goes out to the editors (the loop's tick publishes it)" \
	wait_for "$WAIT" eval '[ "$(_content c-c editors)" -ge 1 ]'
ok "campaign show prints its sha256" eval 'gwc campaign show c-c | grep -q "^sha256: *$SHA_C"'
ok "campaign list has it" eval 'gwc campaign list --status pending_review | grep -q "^c-c "'
rc=0
gwc campaign approve c-c --reviewer console:carol --sha256 "$SHA_C" --code 000000 \
	>/dev/null 2>&1 || rc=$?
code=$(totp "$SECRET_CAROL")
[ "$code" = 000000 ] && rc=77
ok "a wrong code is refused (EX_NOPERM or EX_DATAERR)" test "$rc" != 0
is "$(sql "SELECT level_idx FROM campaigns WHERE cid = 'c-c'")" 0 "and changes nothing"
ok "carol approves editors with her code" \
	gwc campaign approve c-c --reviewer console:carol --sha256 "$SHA_C" --code "$code"
ok "after a decision on the command line the managers get the content" \
	wait_for "$WAIT" eval '[ "$(_content c-c managers)" -ge 1 ]'
rc=0
gwc campaign approve c-c --reviewer console:bob --sha256 "$SHA_C" --code "$(totp "$SECRET_BOB")" \
	>/dev/null 2>&1 || rc=$?
is "$rc" 0 "bob approves managers with his code"
rc=0
gwc campaign approve c-c --reviewer console:bob --sha256 "$SHA_C" --code "$(totp "$SECRET_BOB")" \
	>"$TEST_TMP/replay.out" 2>&1 || rc=$?
ok "his code again: refused (replay, or nothing left to approve)" test "$rc" != 0
ok "c-c approved" eval '[ "$(state c-c)" != pending_review ] && [ "$(audit_n c-c approved)" = 2 ]'
ok "campaign show names who decided each level" \
	eval 'gwc campaign show c-c | grep -q "editors *approved *by console:carol (person carol)"'

## the audit
gwc audit >"$TEST_TMP/audit.txt"
ok "audit lists alice's approval of c-a with when, level and hash" \
	grep -qE "^20[0-9-]+T[0-9:]+Z c-a +approved +editors +mqtt:ed1 +alice +$SHA_A mqtt" "$TEST_TMP/audit.txt"
ok "and bob's" grep -qE " c-a +approved +managers +mqtt:mgr1 +bob +$SHA_A mqtt" "$TEST_TMP/audit.txt"
ok "and the rejection of c-b with its reason" \
	grep -qE " c-b +rejected +editors +mqtt:ed2 +carol +$SHA_B mqtt: off brand" "$TEST_TMP/audit.txt"
ok "and the CLI approvals of c-c" \
	grep -qE " c-c +approved +editors +console:carol +carol +$SHA_C cli" "$TEST_TMP/audit.txt"
ok "and the refusals with their reason" \
	grep -q " c-a .*refused .*mqtt:author .*the author of a campaign never reviews it" "$TEST_TMP/audit.txt"
ok "audit --campaign --json" eval '[ "$(gwc audit --campaign c-b --json | grep -c "\"event\"")" -ge 3 ]'

stop_bg content
stop_bg gw
ok "no campaign text in the gateway's log" eval '! grep -q "winter sale\|spring sale" "$TEST_TMP/gw.log"'
ok "the gateway stopped cleanly" eval '! grep -qi "sanitizer\|assert" "$TEST_TMP/gw.log"'
done_testing
