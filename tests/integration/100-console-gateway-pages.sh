#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 100-console-gateway-pages.sh - the console's gateway pages with curl
# (docs/console.md, "Gateway pages"): each page as an operator (masked
# addresses only; add a recipient with consent source console:NAME and a
# time zone; opt-out); a reviewer sees only its review queue and decides
# only its level, with its person's one-time code; a reviewer who is the
# campaign's author, or of another level, is refused (and audited); an
# operator cannot decide; requeue of a dead delivery (console and
# `mqttsec-gateway outbox requeue`); XSS payloads in recipient names and
# campaign texts are rendered inert; the author's HTML only in the preview
# frame, whose response carries "Content-Security-Policy: sandbox".
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"
need_cmd curl oathtool sqlite3
XSS1='<script>alert(1)</script>'
XSS2='"><img src=x onerror=alert(2)>'

########################################################################
## a gateway that makes one dead delivery (email to a closed port, one
## attempt), then stops; the console's configuration adds a marketing route

start_mosquitto "allow_anonymous true" || bail_out "no broker"
DEAD_PORT=$(free_port)
GW_MAX_ATTEMPTS=1 gw_config "[channel email]
url = smtp://127.0.0.1:$DEAD_PORT
from = shop@example.com"
ok "group ops" gw group add ops
ok "recipient alice (email, group ops)" \
	gw recipient add alice --email alice.liddell@example.com --group ops
gw_start || bail_out "gateway did not start"
pub alerts/a '{"id": "dead-1", "group": "ops", "title": "Disk", "body": "full", "channels": ["email"]}'
wait_sql "SELECT state FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 'dead-1'" \
	dead
DEAD_ID=$(sql "SELECT o.id FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 'dead-1'")
stop_bg gateway
ok "a dead delivery ($DEAD_ID)" test -n "$DEAD_ID"

cp "$GW_CONF" "$TEST_TMP/gw-console.conf"
cat >>"$TEST_TMP/gw-console.conf" <<EOF

[http]
listen = 127.0.0.1:0
public_url = http://127.0.0.1:9

[route promo]
topic = marketing/submit
kind = marketing
review_levels = editors, managers
review_timeout = 72h
EOF
gwm() {
	"$GATEWAY_BIN" -q -c "$TEST_TMP/gw-console.conf" "$@"
}
secret_of() {
	sed -n '/TOTP secret/{n;p;q}' "$1"
}
ok "group customers" gwm group add customers
ok "recipient bob (customers)" gwm recipient add bob --email bob.builder@example.com --group customers
for spec in "console:ed editors ed" "console:mgr managers mgr" "console:auth editors auth"; do
	set -- $spec
	gwm reviewer add "$1" --level "$2" --person "$3" >"$TEST_TMP/rev-$3.out" || fail "reviewer add $1"
done
ok "console:auth also submits for auth" gwm author add console:auth --person auth
S_ED=$(secret_of "$TEST_TMP/rev-ed.out")
S_MGR=$(secret_of "$TEST_TMP/rev-mgr.out")
S_AUTH=$(secret_of "$TEST_TMP/rev-auth.out")
ok "persons' secrets" test -n "$S_ED" -a -n "$S_MGR" -a -n "$S_AUTH"
# pcode SECRET: a one-time code of a person into PCODE, each step once (the current
# step, else the next, else wait for the next step)
declare -A P_LAST=()
pcode() {
	local now step last=${P_LAST[$1]:--1}
	now=$(($(date +%s) / 30))
	if [ "$now" -gt "$last" ]; then
		step=$now
	elif [ $((now + 1)) -gt "$last" ]; then
		step=$((now + 1))
	else
		while [ $(($(date +%s) / 30)) -le "$now" ]; do sleep 0.2; done
		step=$((now + 2))
	fi
	P_LAST[$1]=$step
	PCODE=$(oathtool --totp -b -N "@$((step * 30))" "$1")
}
"$PYTHON" - "$TEST_TMP/c1.json" "$XSS1" "$XSS2" <<'PY'
import json, sys
path, x1, x2 = sys.argv[1:]
c = {"id": "c-xss", "group": "customers", "channels": ["email", "sms", "line"],
     "subject": "Sale " + x2, "text": "Hello {{name}} " + x1,
     "html": "<p>Hi {{name}}</p><script>alert(3)</script><img src=x onerror=alert(4)>"}
open(path, "w").write(json.dumps(c))
PY
ok "campaign c-xss submitted by console:auth" \
	eval 'gwm campaign submit "$TEST_TMP/c1.json" --author console:auth >/dev/null 2>&1'
SHA=$(sha256sum <"$TEST_TMP/c1.json" | cut -d' ' -f1)

########################################################################
## the console

console_setup "[gateway]" "conf = $TEST_TMP/gw-console.conf"
console_user_add op operator || bail_out "user op"
console_user_add ed reviewer editors || bail_out "user ed"
console_user_add mgr reviewer managers || bail_out "user mgr"
console_user_add auth reviewer editors || bail_out "user auth"
console_start || bail_out "console did not start"
declare -A SID=() CSRF=()
for u in op ed mgr auth; do
	console_signin "$u" || bail_out "sign-in $u"
	SID[$u]=$CONSOLE_SID
	CSRF[$u]=$CONSOLE_CSRF
done
# as USER: the following console_get/console_post act for USER
as() {
	CONSOLE_SID=${SID[$1]}
	CONSOLE_CSRF=${CSRF[$1]}
}
# console_status USER METHOD PATH [NAME=VALUE...]: the status only
console_status() {
	local u=$1 m=$2 p=$3
	shift 3
	as "$u"
	if [ "$m" = GET ]; then console_get "$p"; else console_post "$p" "$@"; fi
}
# page USER PATH: the body of a GET
page() {
	as "$1"
	console_get "$2" >/dev/null
	cat "$CONSOLE_BODY"
}
# post_follow USER PATH [NAME=VALUE...]: POST, then the page it redirects
# to (with the flash message)
post_follow() {
	local u=$1 p=$2 loc
	shift 2
	as "$u"
	console_post "$p" "$@" >/dev/null
	loc=$(sed -n 's/^[Ll]ocation: *//p' "$CONSOLE_HEADERS" | tr -d '\r')
	case $loc in
	http*://*/*) loc=/${loc#*://*/} ;;
	esac
	console_get "${loc:-/}" >/dev/null
	cat "$CONSOLE_BODY"
}
# headers USER PATH: the headers of a GET
headers() {
	as "$1"
	console_get "$2" >/dev/null
	tr -d '\r' <"$CONSOLE_HEADERS"
}

## every page as an operator
for p in /recipients /groups /campaigns /outbox /status "/groups/show?name=ops" \
	"/recipients/edit?name=alice" "/campaigns/show?id=c-xss"; do
	is "$(console_status op GET "$p")" 200 "operator: GET $p"
done
page=$(page op /recipients)
ok "recipients: a masked address" grep -q 'a\*\*\*' <<<"$page"
nok "recipients: never the full address" grep -q 'alice.liddell@example.com' <<<"$page"
nok "edit page: never the full address" grep -q 'alice.liddell' <<<"$(page op '/recipients/edit?name=alice')"

## add a recipient with consent and a time zone; opt-out
post_follow op /recipients/add name=carol email=carol@example.com tz=Asia/Taipei \
	group=customers consent_email=on consent_line=on >/dev/null
ok "carol added" gwm recipient find --email carol@example.com
ok "consent on with source console:op" eval 'gwm recipient consent carol email | grep -q "on (source console:op)"'
ok "time zone kept" eval 'gwm recipient list --json | grep -q "Asia/Taipei"'
post_follow op /recipients/optout name=carol channel=sms >/dev/null
ok "opt-out of sms recorded by console:op" \
	eval 'gwm recipient history carol | grep -q "sms *optout *console:op"'

## XSS in a recipient name: refused, the echo inert
out=$(post_follow op /recipients/add "name=$XSS1" email=x@example.com)
nok "a script in a recipient name is never rendered" grep -qF "$XSS1" <<<"$out"
ok "and the name is refused" grep -q 'cannot add the recipient' <<<"$out"

## campaign texts: escaped, the HTML only in the sandboxed frame
page=$(page op '/campaigns/show?id=c-xss')
nok "campaign page: no script of the campaign" grep -qE '<script>alert|<img src=x onerror' <<<"$page"
ok "campaign page: the text escaped" grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;' <<<"$page"
ok "campaign page: the HTML part in an iframe sandbox" \
	grep -q '<iframe sandbox src="/campaigns/preview/c-xss' <<<"$page"
ok "campaign page: the SHA-256 being approved" grep -q "$SHA" <<<"$page"
ok "campaign page: rendered for a member (bob)" grep -q 'Hello bob' <<<"$page"
hdr=$(headers op /campaigns/preview/c-xss)
ok "preview frame: Content-Security-Policy sandbox" \
	grep -qi "^content-security-policy: sandbox" <<<"$hdr"
ok "preview frame: no network (default-src 'none')" grep -qi "default-src 'none'" <<<"$hdr"
nok "the console page itself never carries sandbox" \
	grep -qi "^content-security-policy: sandbox" <<<"$(headers op '/campaigns/show?id=c-xss')"

## reviewers: the queue of their level only
is "$(console_status mgr GET /recipients)" 403 "a reviewer is refused the recipients page"
is "$(console_status mgr GET /outbox)" 403 "a reviewer is refused the outbox"
nok "managers' queue: c-xss not yet (editors first)" grep -q 'c-xss' <<<"$(page mgr /campaigns)"
is "$(console_status mgr GET '/campaigns/show?id=c-xss')" 404 "managers cannot open it yet"
ok "editors' queue: c-xss" grep -q 'c-xss' <<<"$(page ed /campaigns)"
# a reviewer's preview is for a synthetic recipient: as= is ignored, no member's name
page=$(page ed '/campaigns/show?id=c-xss&as=bob')
ok "reviewer preview: the synthetic sample recipient" grep -q 'Hello Sample-recipient-with' <<<"$page"
nok "reviewer preview: as= ignored (no recipient's name)" grep -q 'Hello bob' <<<"$page"
nok "reviewer preview: no as= form" grep -q 'name=as' <<<"$page"
nok "reviewer preview frame: as= ignored" grep -q 'bob' \
	<<<"$(page ed '/campaigns/preview/c-xss?as=bob')"
ok "operator preview: as= honoured" grep -q 'Hello bob' \
	<<<"$(page op '/campaigns/show?id=c-xss&as=bob')"

## refusals
pcode "$S_MGR"
out=$(post_follow mgr /campaigns/decide id=c-xss decision=approve "sha256=$SHA" "code=$PCODE")
ok "a manager approving the editors' level is refused" grep -q 'approval refused' <<<"$out"
pcode "$S_AUTH"
out=$(post_follow auth /campaigns/decide id=c-xss decision=approve "sha256=$SHA" "code=$PCODE")
ok "the author approving its own campaign is refused" grep -q 'approval refused' <<<"$out"
is "$(console_status op POST /campaigns/decide id=c-xss decision=approve "sha256=$SHA" code=000000)" \
	403 "an operator cannot decide"
is "$(sql "SELECT level_idx FROM campaigns WHERE cid = 'c-xss'")" 0 "nothing decided"
ok "the refusals are in the campaign audit (source console)" \
	eval '[ "$(sql "SELECT count(*) FROM campaign_audit WHERE campaign = '"'c-xss'"' AND event = '"'refused'"' AND source = '"'console'"'")" -ge 2 ]'

## editors then managers approve
pcode "$S_ED"
out=$(post_follow ed /campaigns/decide id=c-xss decision=approve "sha256=$SHA" "code=$PCODE")
ok "ed approves editors" grep -q 'level approved' <<<"$out"
is "$(sql "SELECT level_idx FROM campaigns WHERE cid = 'c-xss'")" 1 "managers next"
ok "now in the managers' queue" grep -q 'c-xss' <<<"$(page mgr /campaigns)"
pcode "$S_MGR"
out=$(post_follow mgr /campaigns/decide id=c-xss decision=approve "sha256=$SHA" "code=$PCODE")
ok "mgr approves managers" grep -q 'level approved' <<<"$out"
is "$(sql "SELECT state FROM campaigns WHERE cid = 'c-xss'")" approved "c-xss approved"
ok "the history shows both console decisions" \
	eval '[ "$(page op "/campaigns/show?id=c-xss" | grep -o "console:ed\|console:mgr" | sort -u | wc -l)" = 2 ]'

## requeue a dead delivery
rc=0
gwm outbox requeue 999999 >/dev/null 2>&1 || rc=$?
is "$rc" 66 "outbox requeue of no such delivery: EX_NOINPUT"
is "$(console_status ed POST /outbox/requeue "id=$DEAD_ID")" 403 "a reviewer cannot requeue"
out=$(post_follow op /outbox/requeue "id=$DEAD_ID")
ok "the operator requeues the dead delivery" grep -q 'queued again' <<<"$out"
is "$(sql "SELECT state || ' ' || attempts FROM outbox WHERE id = $DEAD_ID")" "queued 0" \
	"queued again, attempts from 0"
rc=0
gwm outbox requeue "$DEAD_ID" >"$TEST_TMP/rq.out" 2>&1 || rc=$?
is "$rc" 77 "outbox requeue of a queued delivery: refused (EX_NOPERM)"
ok "and says why" grep -q 'not dead' "$TEST_TMP/rq.out"
ok "status page: counters" grep -q 'outbox-counts' <<<"$(page op /status)"

## remove a recipient and a group (one remove-by-name path for both)
out=$(post_follow op /recipients/add name=dora email=dora@example.com)
ok "a recipient to remove" grep -q 'dora' <<<"$out"
is "$(console_status ed POST /recipients/rm name=dora)" 403 "a reviewer cannot remove a recipient"
out=$(post_follow op /recipients/rm name=dora)
ok "the operator removes it" grep -q 'recipient dora removed' <<<"$out"
is "$(sql "SELECT count(*) FROM recipients WHERE name = 'dora'")" 0 "gone from the store"
out=$(post_follow op /recipients/rm name=dora)
ok "removing it again says why" grep -q 'cannot remove the recipient' <<<"$out"
out=$(post_follow op /recipients/rm "name=$XSS1")
nok "a bad name is refused, never echoed raw" grep -qF "$XSS1" <<<"$out"
post_follow op /groups/add name=tmpgroup >/dev/null
out=$(post_follow op /groups/rm name=tmpgroup)
ok "the operator removes a group" grep -q 'group tmpgroup removed' <<<"$out"

done_testing
