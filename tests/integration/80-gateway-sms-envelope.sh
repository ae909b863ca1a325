#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 80-gateway-sms-envelope.sh - the secure SMS envelope M1 end to end
# (docs/sms-envelope.md): `recipient key add/rotate/export`, an alert to a
# recipient with an SMS key reaches the fake provider as #M1 only (the
# provider's log holds no plaintext), sms-open (and the independent
# tests/tools/m1.py) recover it; the outbox records the segment count;
# `on` sends plaintext to a recipient without a key, `required` fails it
# with "no sms key" and sends nothing; a body over 1600 characters sealed
# fails "too long"; rotation with grace (the old key still opens, a rotation
# without grace drops it: unknown key id); altered, wrong To, repeated,
# stale: exit 65.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"

M1_PY=$top_srcdir/tests/tools/m1.py
need_file "$DEVICE_BIN" "$M1_PY"
need_python_module cryptography

start_mosquitto "allow_anonymous true" || bail_out "no broker"
provider_start || bail_out "no fake provider"
URL=http://127.0.0.1:$PROV_PORT
sms_conf() {
	gw_config "[channel sms]
url = $URL
account_sid = ACtest
auth_token = sekrit
from = +15550000000
envelope = $1"
}
sms_conf on
gw group add ops >/dev/null
gw group add plain >/dev/null
gw recipient add alice --phone +15550001234 --group ops >/dev/null
gw recipient add bob --phone +15550005678 --group plain >/dev/null

## key table commands
is "$(gw recipient key add alice)" "sms key 1 of alice is active" "recipient key add: key id 1"
rc=0
gw recipient key add alice >/dev/null 2>&1 || rc=$?
ok "a second add is refused (rotate instead)" test "$rc" -ne 0
rc=0
gw recipient key rotate bob >/dev/null 2>&1 || rc=$?
ok "rotate without a key is refused" test "$rc" -ne 0
KF=$TEST_TMP/alice.json
gw recipient key export alice --out "$KF" >/dev/null
is "$(stat -c %a "$KF")" 600 "export is 0600"
is "$("$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1]))
print(len(j["keys"]), j["keys"][0]["id"], j["keys"][0]["use"], j["sms"]["phone"])' "$KF")" \
	"1 1 sms +15550001234" "export: one sms key, id 1, the phone"
nok "the store holds no key export in clear" grep -q "$("$PYTHON" -c 'import json,sys
print(json.load(open(sys.argv[1]))["keys"][0]["key"])' "$KF")" "$GW_DB"

gw_start gw1 || bail_out "gateway did not start"

# body_of TEXT: the Body of the request To the number TEXT (last one)
body_to() {
	"$PYTHON" -c 'import json, sys
b = ""
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("form", {}).get("To") == sys.argv[2]:
        b = j["form"]["Body"]
print(b, end="")' "$PROV_LOG" "$1"
}
nreq() {
	[ -f "$PROV_LOG" ] && wc -l <"$PROV_LOG" || echo 0
}
_nreq_ge() {
	[ "$(nreq)" -ge "$1" ]
}
state() {
	sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
	     WHERE m.msg_id = '$1' AND o.channel = 'sms'"
}
# open_body FILE ARGS...: sms-open with $KF on FILE; sets rc, out, err
open_body() {
	local f=$1
	shift
	rc=0
	"$DEVICE_BIN" -c "$KF" sms-open "$@" <"$f" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
}

## an alert to alice (key) and one to bob (no key, envelope = on)
pub alerts/a '{"id": "s-1", "group": "ops", "title": "Vault XYZZY", "body": "door 7 open PLUGH",
 "channels": ["sms"]}'
pub alerts/a '{"id": "s-2", "group": "plain", "title": "Plain note", "body": "for bob",
 "channels": ["sms"]}'
wait_for 10 _nreq_ge 2 || diag "provider requests: $(nreq)"
wait_sql "SELECT count(*) FROM outbox WHERE state = 'sent'" 2
body_to +15550001234 >"$TEST_TMP/b1"
ok "alice's SMS is #M1 and base64url only" grep -qE '^#M1[A-Za-z0-9_-]+$' "$TEST_TMP/b1"
nok "the provider saw no plaintext of it (XYZZY)" grep -q XYZZY "$PROV_LOG"
nok "... nor of its body (PLUGH)" grep -q PLUGH "$PROV_LOG"
is "$(body_to +15550005678)" "$(printf 'Plain note\nfor bob')" \
	"envelope = on: bob without a key gets plaintext"
open_body "$TEST_TMP/b1"
is "$rc" 0 "sms-open opens alice's SMS"
is "$(cat "$TEST_TMP/out")" "$(printf 'Vault XYZZY\ndoor 7 open PLUGH')" "... title and body"
is "$(cat "$TEST_TMP/err")" "$(printf 'action: 1\ncomponent: alerts')" \
	"... action 1 (alert), component = the route"
is "$("$PYTHON" "$M1_PY" open --keyfile "$KF" <"$TEST_TMP/b1" 2>/dev/null)" \
	"$(printf 'Vault XYZZY\ndoor 7 open PLUGH')" "the python implementation opens it too"
seg=$(sql "SELECT o.segments FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 's-1'")
is "$seg" 1 "outbox records 1 segment for the sealed SMS"
is "$(gw outbox --json | "$PYTHON" -c 'import json, sys
print(" ".join(str(r["segments"]) for r in json.load(sys.stdin) if r["id"] in ("s-1", "s-2")))')" \
	"1 1" "outbox --json shows the segments of both SMS"
ok "outbox table has the SEG column" grep -q 'SEG' <<<"$(gw outbox)"

## the bad-input list on a gateway-sealed body
open_body "$TEST_TMP/b1"
is "$rc" 65 "the same SMS again: repeated, exit 65"
"$PYTHON" -c 'import sys
b = open(sys.argv[1]).read(); i = len(b) // 2
sys.stdout.write(b[:i] + ("A" if b[i] != "A" else "B") + b[i + 1:])' "$TEST_TMP/b1" >"$TEST_TMP/alt"
open_body "$TEST_TMP/alt"
is "$rc" 65 "altered by one character: exit 65"
cp "$KF" "$TEST_TMP/alice2.json"
KF=$TEST_TMP/alice2.json
open_body "$TEST_TMP/b1" --to +15550001235
is "$rc" 65 "wrong --to: exit 65"
ok "... and nothing on stdout" test ! -s "$TEST_TMP/out"
sleep 2
open_body "$TEST_TMP/b1" --max-age 1
is "$rc" 65 "older than --max-age 1: stale, exit 65"

## too long
long=$(head -c 1300 /dev/zero | tr '\0' x)
pub alerts/a "{\"id\": \"s-3\", \"group\": \"ops\", \"title\": \"Long\", \"body\": \"$long\",
 \"channels\": [\"sms\"]}"
wait_sql "SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 's-3' AND o.state = 'failed'" 1
ok "over 1600 characters sealed: failed 'too long'" grep -q "too long" \
	<<<"$(sql "SELECT o.last_error FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 's-3'")"
nok "... and nothing was sent for it" grep -q xxxxxxxxxx "$PROV_LOG"

## rotation with grace
KF=$TEST_TMP/alice.json
is "$(gw recipient key rotate alice --grace 30d)" "sms key 2 of alice is active" "rotate: key 2"
KF=$TEST_TMP/alice-r.json
gw recipient key export alice --out "$KF" >/dev/null
is "$("$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1]))
print(" ".join(str(k["id"]) + ("g" if "expires" in k else "") for k in j["keys"]))' "$KF")" \
	"2 1g" "export after rotation: key 2, and key 1 with its expiry"
open_body "$TEST_TMP/b1"
is "$rc" 0 "the SMS under key 1 still opens in its grace"
n=$(nreq)
pub alerts/a '{"id": "s-4", "group": "ops", "title": "After rotation", "body": "k2",
 "channels": ["sms"]}'
wait_for 10 _nreq_ge $((n + 1))
body_to +15550001234 >"$TEST_TMP/b4"
open_body "$TEST_TMP/b4"
is "$rc" 0 "a new SMS is sealed under key 2 and opens"
ok "... key id 2 in its header" test "$("$PYTHON" -c 'import base64,sys
b = open(sys.argv[1]).read()[3:]; print(base64.urlsafe_b64decode(b + "=" * (-len(b) % 4))[1])' "$TEST_TMP/b4")" = 2
gw recipient key rotate alice --grace 0 >/dev/null
KF=$TEST_TMP/alice-r0.json
gw recipient key export alice --out "$KF" >/dev/null
is "$("$PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["keys"]))' "$KF")" 2 \
	"rotate --grace 0: key 2 gone, key 3 and key 1 (still in grace) remain"
cp "$TEST_TMP/b4" "$TEST_TMP/b4b"
open_body "$TEST_TMP/b4b"
is "$rc" 65 "an SMS under the dropped key 2: unknown key id, exit 65"
ok "... says unknown key id" grep -q "unknown key id 2" "$TEST_TMP/err"

## required: no plaintext fallback
stop_bg gw1
sms_conf required
gw_start gw2 || bail_out "gateway did not restart"
n=$(nreq)
pub alerts/a '{"id": "s-5", "group": "plain", "title": "Must be sealed", "body": "QUUX",
 "channels": ["sms"]}'
wait_sql "SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 's-5' AND o.state = 'failed'" 1
is "$(sql "SELECT o.last_error FROM outbox o JOIN messages m ON m.id = o.message WHERE m.msg_id = 's-5'")" \
	"no sms key" "required, recipient without a key: failed 'no sms key'"
is "$(nreq)" "$n" "... and no request was made"
nok "... the plaintext never reached the provider" grep -q QUUX "$PROV_LOG"

done_testing
