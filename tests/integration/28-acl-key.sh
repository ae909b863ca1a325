#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 28-acl-key.sh - mqttsec-acl key rotate|export|list: rotation keeps the old
# key in grace (export shows both; with --grace 0 only the new one), export
# only for a device whose ACL gives read on the whole filter (own rule,
# group rule, deny overriding), export writes the device's full credentials
# (TOTP, device key, topic keys, "protected") with a warning on stderr, or
# with --keys-only the topic keys alone, exported keys open envelopes
# sealed with them (tests/tools/envelope.py -> mqttsec-device open), --out
# merges into the device's credentials (0600), the audit log never holds
# key bytes, bad input changes nothing.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/acl-lib.sh"
need_file "$ACL_BIN" "$DEVICE_BIN"
need_python_module cryptography
# topic_keys FILE FILTER: the ids of FILE's topic keys for FILTER
topic_keys() {
	json_get "$1" "[k['id'] for k in d['keys'] if k['use'] == 'topic' and k['topic'] == '$2']"
}
# refused DESC CODE CMD...: CMD exits CODE with one line on stderr, prints
# nothing on stdout, and the db is unchanged.
refused() {
	local desc=$1 code=$2 before rc=0
	shift 2
	before=$(dump)
	"$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
	if [ "$rc" -ne "$code" ]; then
		fail "$desc" "want exit status $code, got $rc" "$(cat "$TEST_TMP/err")"
	elif [ "$(wc -l <"$TEST_TMP/err")" -ne 1 ]; then
		fail "$desc" "want one line on stderr, got:" "$(cat "$TEST_TMP/err")"
	elif [ -s "$TEST_TMP/out" ]; then
		fail "$desc" "something was written on stdout"
	elif [ "$(dump)" != "$before" ]; then
		fail "$desc" "the database changed"
	else
		pass "$desc"
	fi
}
# opens CREDS KEYID TOPIC: seal a message for TOPIC with key KEYID of CREDS
# (python, origin pub1), open it with mqttsec-device -c CREDS.
# shellcheck disable=SC2317 # called through ok
opens() {
	local creds=$1 id=$2 topic=$3 k got
	k=$(json_get "$creds" "[k['key'] for k in d['keys'] if k['id'] == $id][0]") || return 1
	printf 'fire in hall %s' "$id" |
		python3 "$ENVELOPE_PY" seal --key-b64 "$k" --key-id "$id" --topic "$topic" \
			--origin pub1 >"$TEST_TMP/env.bin" || return 1
	got=$("$DEVICE_BIN" -c "$creds" open "$topic" <"$TEST_TMP/env.bin" 2>"$TEST_TMP/open.err") ||
		return 1
	[ "$got" = "fire in hall $id" ] && grep -q pub1 "$TEST_TMP/open.err"
}

ok "init" acl init
for d in pub1 sub1 sub2 sub3 sub4 sub5 sub6; do
	acl device add "$d" --out "$TEST_TMP/$d.json" >/dev/null || bail_out "cannot add $d"
done
acl topic protect 'alerts/#' >/dev/null || bail_out "cannot protect alerts/#"
acl topic protect 'plant/#' >/dev/null || bail_out "cannot protect plant/#"
ka=$(q "SELECT id FROM keys WHERE purpose = 'topic' AND owner = 'alerts/#'")
kp=$(q "SELECT id FROM keys WHERE purpose = 'topic' AND owner = 'plant/#'")

# who may read what
acl acl add allow read sub1 'alerts/#' >/dev/null
acl acl add allow all sub1 'plant/#' >/dev/null
acl group add readers >/dev/null
acl group member add readers sub3 >/dev/null
acl acl add allow read @readers '#' >/dev/null
acl acl add allow read sub4 'alerts/#' >/dev/null
acl acl add deny read sub4 'alerts/secret' >/dev/null
acl acl add allow read sub5 'alerts/+' >/dev/null
acl acl add allow all sub6 '#' >/dev/null
acl acl add deny read sub6 'alerts/%c/#' >/dev/null

# export to stdout: NAME's full credentials by default
ok "export for sub1 (own rule)" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' key export 'alerts/#' --for sub1 >'$TEST_TMP/e1.json' 2>'$TEST_TMP/e1.err'"
is "$(json_get "$TEST_TMP/e1.json" 'd["username"]')" sub1 "export names the device"
is "$(json_get "$TEST_TMP/e1.json" 'd["totp"]')" "$(json_get "$TEST_TMP/sub1.json" 'd["totp"]')" \
	"export holds the device's totp secret and parameters by default"
is "$(json_get "$TEST_TMP/e1.json" '[k for k in d["keys"] if k["use"] == "device"]')" \
	"$(json_get "$TEST_TMP/sub1.json" '[k for k in d["keys"] if k["use"] == "device"]')" \
	"export holds the device key by default"
is "$(json_get "$TEST_TMP/e1.json" '[(k["id"], k["topic"]) for k in d["keys"] if k["use"] == "topic"]')" \
	"[($ka, 'alerts/#')]" "and the topic key"
is "$(json_get "$TEST_TMP/e1.json" 'd["protected"]')" "['alerts/#', 'plant/#']" \
	"every protected filter listed"
ok "export warns that the output holds secrets" grep -q 'warning: .*totp secret.*device key' "$TEST_TMP/e1.err"
is "$(wc -l <"$TEST_TMP/e1.err")" 1 "one warning line"
secret1=$(json_get "$TEST_TMP/sub1.json" 'd["totp"]["secret"]')
nok "the warning does not repeat the secret" grep -qF "$secret1" "$TEST_TMP/e1.err"
chmod 600 "$TEST_TMP/e1.json"
ok "exported credentials give a totp code" "$DEVICE_BIN" -c "$TEST_TMP/e1.json" totp
ok "exported key opens an envelope sealed with it" opens "$TEST_TMP/e1.json" "$ka" alerts/fire
ok "export via a group rule" acl key export 'alerts/#' --for sub3
# --keys-only: the topic keys alone, no warning
ok "export --keys-only" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' key export 'alerts/#' --for sub1 --keys-only >'$TEST_TMP/k1.json' 2>'$TEST_TMP/k1.err'"
is "$(json_get "$TEST_TMP/k1.json" '("totp" in d, d["username"], d["protected"])')" \
	"(False, 'sub1', ['alerts/#', 'plant/#'])" "--keys-only: no totp secret"
is "$(json_get "$TEST_TMP/k1.json" '[(k["id"], k["use"], k["topic"]) for k in d["keys"]]')" \
	"[($ka, 'topic', 'alerts/#')]" "--keys-only: the topic key only"
ok "--keys-only: nothing on stderr" test ! -s "$TEST_TMP/k1.err"
is "$(q "SELECT substr(detail, -8) FROM audit WHERE action = 'key export' ORDER BY id DESC LIMIT 1")" \
	" totp=no" "--keys-only audited as totp=no"
nok "--keys-only and --with-totp exclude each other" acl key export 'alerts/#' --for sub1 --keys-only --with-totp

# refusals: exit 77, one line, nothing written
refused "no read rule at all" 77 acl key export 'alerts/#' --for sub2
refused "deny overlapping the filter overrides" 77 acl key export 'alerts/#' --for sub4
refused "allow alerts/+ does not cover alerts/#" 77 acl key export 'alerts/#' --for sub5
refused "a %c deny may hit the filter" 77 acl key export 'alerts/#' --for sub6
refused "read on one filter gives nothing on another" 77 acl key export 'plant/#' --for sub4
refused "refused with --out" 77 acl key export 'alerts/#' --for sub2 --out "$TEST_TMP/new2.json"
ok "--out file not created on refusal" test ! -e "$TEST_TMP/new2.json"
cp "$TEST_TMP/sub2.json" "$TEST_TMP/sub2.before"
refused "refused merge" 77 acl key export 'alerts/#' --for sub2 --out "$TEST_TMP/sub2.json"
ok "credentials untouched on refusal" cmp "$TEST_TMP/sub2.before" "$TEST_TMP/sub2.json"
# like a subscription: the winning allow must cover the whole filter
acl acl add allow read sub4 'alerts/secret' --priority 5 >/dev/null
refused "a narrower allow above the deny is not enough" 77 acl key export 'alerts/#' --for sub4
acl acl add allow read sub4 'alerts/#' --priority 5 >/dev/null
ok "a covering allow above the deny wins" acl key export 'alerts/#' --for sub4
# (a device that never got keys: disabling a key holder rotates, see 64)
acl device add sub7 >/dev/null
acl acl add allow read sub7 'alerts/#' >/dev/null
acl device disable sub7 >/dev/null
refused "disabled device" 77 acl key export 'alerts/#' --for sub7
acl device enable sub7 >/dev/null

# rotation with grace: export shows both keys, both open
now=$(date +%s)
ok "key rotate" acl key rotate 'alerts/#'
ka2=$(q "SELECT id FROM keys WHERE purpose = 'topic' AND owner = 'alerts/#' AND state = 'active'")
is "$(q "SELECT count(*) FROM keys WHERE purpose = 'topic' AND owner = 'alerts/#' AND state = 'active'")" 1 \
	"exactly one active key after rotate"
is "$(q "SELECT state, retire_after - $now BETWEEN 86400 AND 86500 FROM keys WHERE id = $ka")" "retired|1" \
	"old key retired for the default grace (1 day)"
is "$(acl key list 'alerts/#' --json | python3 -c 'import json, sys; print([(r["id"], r["state"]) for r in json.load(sys.stdin)])')" \
	"[($ka, 'grace'), ($ka2, 'active')]" "key list: grace and active"
is "$(acl topic list --json | python3 -c 'import json, sys; print([(r["active_key"], r["in_grace"]) for r in json.load(sys.stdin) if r["filter"] == "alerts/#"])')" \
	"[($ka2, 1)]" "topic list: new active key, one in grace"
ok "export after rotate" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' key export 'alerts/#' --for sub1 >'$TEST_TMP/e2.json'"
chmod 600 "$TEST_TMP/e2.json"
is "$(topic_keys "$TEST_TMP/e2.json" 'alerts/#')" "[$ka, $ka2]" "export shows the old (in grace) and the new key"
ok "the new key opens" opens "$TEST_TMP/e2.json" "$ka2" alerts/fire
ok "the old key still opens (retained messages)" opens "$TEST_TMP/e2.json" "$ka" alerts/fire/hall

# rotation with --grace 0: only the new key
ok "key rotate --grace 0" acl key rotate 'plant/#' --grace 0
kp2=$(q "SELECT id FROM keys WHERE purpose = 'topic' AND owner = 'plant/#' AND state = 'active'")
ok "export plant/#" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' key export 'plant/#' --for sub1 >'$TEST_TMP/e3.json'"
is "$(topic_keys "$TEST_TMP/e3.json" 'plant/#')" "[$kp2]" "grace 0: only the new key is exported"
is "$(acl key list 'plant/#' --json | python3 -c 'import json, sys; print([r["state"] for r in json.load(sys.stdin)])')" \
	"['dead', 'active']" "the old key is dead"
ok "key rotate plant/# again" acl key rotate 'plant/#' --grace 10m
is "$(q "SELECT count(*) FROM keys WHERE id = $kp")" 1 \
	"the next rotate keeps the dead key (the broker must still recognise it)"
ok "export plant/# after the second rotate" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' key export 'plant/#' --for sub1 >'$TEST_TMP/e4.json'"
nok "the dead key is never exported again" grep -qw "$kp" <<<"$(topic_keys "$TEST_TMP/e4.json" 'plant/#')"

# --out: merge into the device's own credentials
cp "$TEST_TMP/sub1.json" "$TEST_TMP/sub1.orig"
ok "export --out merges into sub1.json" acl key export 'alerts/#' --for sub1 --out "$TEST_TMP/sub1.json"
is "$(stat -c %a "$TEST_TMP/sub1.json")" 600 "merged file is 0600"
is "$(json_get "$TEST_TMP/sub1.json" 'd["totp"]')" "$(json_get "$TEST_TMP/sub1.orig" 'd["totp"]')" \
	"merge keeps the TOTP secret and parameters"
is "$(json_get "$TEST_TMP/sub1.json" '[k for k in d["keys"] if k["use"] == "device"]')" \
	"$(json_get "$TEST_TMP/sub1.orig" '[k for k in d["keys"] if k["use"] == "device"]')" \
	"merge keeps the device key"
is "$(topic_keys "$TEST_TMP/sub1.json" 'alerts/#')" "[$ka, $ka2]" "merge adds the topic keys"
ok "merged credentials open" opens "$TEST_TMP/sub1.json" "$ka2" alerts/x
ok "merged credentials still give a totp code" "$DEVICE_BIN" -c "$TEST_TMP/sub1.json" totp
ok "merge plant/# too" acl key export 'plant/#' --for sub1 --out "$TEST_TMP/sub1.json"
acl key rotate 'alerts/#' --grace 0 >/dev/null
ka3=$(q "SELECT id FROM keys WHERE purpose = 'topic' AND owner = 'alerts/#' AND state = 'active'")
ok "merge again after another rotate" acl key export 'alerts/#' --for sub1 --out "$TEST_TMP/sub1.json"
is "$(topic_keys "$TEST_TMP/sub1.json" 'alerts/#')" "[$ka, $ka3]" \
	"keys of the filter replaced (dead one gone, no duplicates)"
is "$(topic_keys "$TEST_TMP/sub1.json" 'plant/#')" \
	"$(q "SELECT '[' || group_concat(id, ', ') || ']' FROM (SELECT id FROM keys WHERE owner = 'plant/#' AND (state = 'active' OR retire_after >= strftime('%s', 'now')) ORDER BY id)")" \
	"keys of other filters kept"
# a record key in the device's file survives a merge (docs/medical.md, Record keys)
python3 - "$TEST_TMP/sub1.json" <<'EOF2'
import json, sys, base64, os
p = sys.argv[1]
d = json.load(open(p))
d["keys"].append({"id": 777001, "key": base64.b64encode(os.urandom(32)).decode(),
                  "use": "record", "name": "clinic"})
json.dump(d, open(p, "w"))
EOF2
ok "merge into a file holding a record key" acl key export 'alerts/#' --for sub1 --out "$TEST_TMP/sub1.json"
is "$(json_get "$TEST_TMP/sub1.json" '[k["name"] for k in d["keys"] if k["use"] == "record"]')" \
	"['clinic']" "the record key is kept with its name"
ok "new --out file" acl key export 'alerts/#' --for sub3 --out "$TEST_TMP/new3.json"
is "$(stat -c %a "$TEST_TMP/new3.json")" 600 "new file is 0600"
is "$(json_get "$TEST_TMP/new3.json" '(d["username"], d["totp"], sorted(k["use"] for k in d["keys"]))')" \
	"$(json_get "$TEST_TMP/sub3.json" '("sub3", d["totp"], ["device", "topic", "topic"])')" \
	"new file: the full credentials of sub3 (totp, device key, topic keys)"
ok "new --out file --keys-only" acl key export 'alerts/#' --for sub3 --out "$TEST_TMP/new3k.json" --keys-only
is "$(json_get "$TEST_TMP/new3k.json" '("totp" in d, d["username"], sorted(k["use"] for k in d["keys"]))')" \
	"(False, 'sub3', ['topic', 'topic'])" "new file --keys-only: topic keys only"
ok "--with-totp (the default) is still accepted" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' key export 'alerts/#' --for sub3 --with-totp >'$TEST_TMP/e4.json' 2>/dev/null"
is "$(json_get "$TEST_TMP/e4.json" '(d["totp"], sorted(k["use"] for k in d["keys"]))')" \
	"$(json_get "$TEST_TMP/sub3.json" '(d["totp"], ["device", "topic", "topic"])')" \
	"--with-totp gives the TOTP secret and the device key"
# --keys-only merge keeps the file's TOTP and device key
cp "$TEST_TMP/sub3.json" "$TEST_TMP/sub3.orig"
ok "--keys-only merge" acl key export 'alerts/#' --for sub3 --out "$TEST_TMP/sub3.json" --keys-only
is "$(json_get "$TEST_TMP/sub3.json" '(d["totp"], [k for k in d["keys"] if k["use"] == "device"])')" \
	"$(json_get "$TEST_TMP/sub3.orig" '(d["totp"], [k for k in d["keys"] if k["use"] == "device"])')" \
	"--keys-only merge keeps the file's TOTP and device key"
is "$(topic_keys "$TEST_TMP/sub3.json" 'alerts/#')" "[$ka, $ka3]" "--keys-only merge adds the topic keys"

# refused merges leave the file alone
cp "$TEST_TMP/pub1.json" "$TEST_TMP/pub1.before"
refused "merge into another device's file" 65 acl key export 'alerts/#' --for sub1 --out "$TEST_TMP/pub1.json"
ok "other device's file untouched" cmp "$TEST_TMP/pub1.before" "$TEST_TMP/pub1.json"
echo 'not json' >"$TEST_TMP/junk"
chmod 600 "$TEST_TMP/junk"
refused "merge into a non-credentials file" 65 acl key export 'alerts/#' --for sub1 --out "$TEST_TMP/junk"
is "$(cat "$TEST_TMP/junk")" "not json" "non-credentials file untouched"
cp "$TEST_TMP/sub1.json" "$TEST_TMP/sub1.open"
chmod 644 "$TEST_TMP/sub1.open"
refused "merge into a world-readable file" 77 acl key export 'alerts/#' --for sub1 --out "$TEST_TMP/sub1.open"
refused "--out in a missing folder" 73 acl key export 'alerts/#' --for sub1 --out "$TEST_TMP/nodir/x.json"

# bad input
refused "unknown filter" 65 acl key export 'nosuch/#' --for sub1
refused "filter not protected (only its parent)" 65 acl key export 'alerts/fire' --for sub1
refused "invalid filter" 65 acl key export 'alerts/#/x' --for sub1
refused "unknown device" 65 acl key export 'alerts/#' --for nosuch
refused "invalid device name" 65 acl key export 'alerts/#' --for 'bad/name'
refused "rotate unknown filter" 65 acl key rotate 'nosuch/#'
refused "rotate invalid filter" 65 acl key rotate 'a/b+'
refused "rotate bad grace (word)" 65 acl key rotate 'alerts/#' --grace soon
refused "rotate bad grace (negative)" 65 acl key rotate 'alerts/#' --grace -1
refused "rotate bad grace (too long)" 65 acl key rotate 'alerts/#' --grace 4000d
nok "export without --for" acl key export 'alerts/#'

# audit: ids, never key bytes
is "$(q "SELECT detail FROM audit WHERE action = 'key export' ORDER BY id LIMIT 1")" \
	"filter=alerts/# for=sub1 key_ids=$ka out=stdout totp=yes" "export audited with key ids"
for f in e1 e2 e3 e4 sub1 new3 k1 new3k; do
	json_get "$TEST_TMP/$f.json" '"\n".join(k["key"] for k in d["keys"])'
done | sort -u >"$TEST_TMP/keys.txt"
acl audit --limit 0 >"$TEST_TMP/audit.txt"
q "SELECT * FROM audit" >>"$TEST_TMP/audit.txt"
ok "keys collected" test "$(wc -l <"$TEST_TMP/keys.txt")" -ge 6
nok "no key bytes in the audit log" grep -qF -f "$TEST_TMP/keys.txt" "$TEST_TMP/audit.txt"
nok "no key bytes anywhere in the database" sh -c "sqlite3 '$DB' .dump | grep -qF -f '$TEST_TMP/keys.txt'"

done_testing
