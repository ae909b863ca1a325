#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 21-acl-device.sh - mqttsec-acl device add|list|rm|disable|enable|qr:
# credentials files (0600, no overwrite), TOTP agreeing with oathtool, no
# secrets in listings, qr's otpauth:// URI, rm leaves nothing a re-enrolled
# device could inherit (list entries naming it included), bad input
# changes nothing.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/acl-lib.sh"
need_file "$ACL_BIN" "$DEVICE_BIN"
need_cmd oathtool sqlite3 python3
# totp_agrees CREDS ALG DIGITS PERIOD: mqttsec-device's code equals oathtool's
# for the secret in CREDS, both taken within one time step (retried at an
# edge).
totp_agrees() {
	local creds=$1 alg=$2 digits=$3 period=$4 secret t1 t2 mine theirs
	secret=$(json_get "$creds" 'd["totp"]["secret"]')
	for _ in 1 2 3; do
		t1=$(date +%s)
		mine=$("$DEVICE_BIN" -c "$creds" totp) || return 1
		theirs=$(oathtool --totp="$alg" -d "$digits" -s "${period}s" -b "$secret") || return 1
		t2=$(date +%s)
		if [ $((t1 / period)) -eq $((t2 / period)) ]; then
			[ "$mine" = "$theirs" ] && [ ${#mine} -eq "$digits" ]
			return
		fi
	done
	return 1
}

ok "init" acl init

# add with --out
ok "device add --out" acl device add dev1 --out "$TEST_TMP/dev1.json"
is "$(stat -c %a "$TEST_TMP/dev1.json")" 600 "credentials file is 0600"
is "$(json_get "$TEST_TMP/dev1.json" 'd["username"]')" dev1 "credentials name the device"
is "$(json_get "$TEST_TMP/dev1.json" '(d["totp"]["digits"], d["totp"]["period"], d["totp"]["algorithm"])')" \
	"(6, 30, 'SHA1')" "default totp parameters"
is "$(json_get "$TEST_TMP/dev1.json" 'len(__import__("base64").b32decode(d["totp"]["secret"]))')" 20 \
	"20-byte totp secret"
is "$(json_get "$TEST_TMP/dev1.json" '[(k["use"], len(__import__("base64").b64decode(k["key"]))) for k in d["keys"]]')" \
	"[('device', 32)]" "one 32-byte device key"
is "$(json_get "$TEST_TMP/dev1.json" 'd["keys"][0]["id"]')" \
	"$(sqlite3 "$DB" "SELECT id FROM keys WHERE purpose = 'device' AND owner = 'dev1'")" \
	"device key id matches the key store"
ok "totp of dev1 equals oathtool's" totp_agrees "$TEST_TMP/dev1.json" SHA1 6 30
secret1=$(json_get "$TEST_TMP/dev1.json" 'd["totp"]["secret"]')
hex1=$(python3 -c 'import base64, sys; print(base64.b32decode(sys.argv[1]).hex())' "$secret1")
nok "secret is not stored in plaintext" sh -c "sqlite3 '$DB' .dump | grep -qi -e '$secret1' -e '$hex1'"

# non-default parameters, credentials on stdout
ok "device add to stdout" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' device add dev2 --digits 8 \
	--period 60 --algorithm sha256 >'$TEST_TMP/dev2.json'"
chmod 600 "$TEST_TMP/dev2.json"
is "$(json_get "$TEST_TMP/dev2.json" '(d["totp"]["digits"], d["totp"]["period"], d["totp"]["algorithm"])')" \
	"(8, 60, 'SHA256')" "8 digits, 60 s, SHA256"
ok "totp of dev2 equals oathtool's" totp_agrees "$TEST_TMP/dev2.json" SHA256 8 60
ok "sha512 device" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' device add dev3 --algorithm SHA512 \
	--out '$TEST_TMP/dev3.json' >/dev/null"
ok "totp of dev3 equals oathtool's" totp_agrees "$TEST_TMP/dev3.json" SHA512 6 30

# refusals change nothing
cp "$TEST_TMP/dev1.json" "$TEST_TMP/dev1.copy"
unchanged "existing device is refused" acl device add dev1
unchanged "existing --out file is refused" acl device add dev4 --out "$TEST_TMP/dev1.json"
ok "refused file kept" cmp -s "$TEST_TMP/dev1.json" "$TEST_TMP/dev1.copy"
unchanged "bad name (slash)" acl device add 'a/b'
unchanged "bad name (plus)" acl device add 'a+b'
unchanged "bad name (too long)" acl device add "$(printf 'x%.0s' $(seq 65))"
unchanged "bad digits" acl device add dev5 --digits 7
unchanged "bad period" acl device add dev5 --period 0
unchanged "bad algorithm" acl device add dev5 --algorithm MD5
ok "--force overwrites" acl device add dev4 --out "$TEST_TMP/dev1.json" --force
is "$(json_get "$TEST_TMP/dev1.json" 'd["username"]')" dev4 "overwritten file holds dev4"

# list
ok "device list --json" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' device list --json >'$TEST_TMP/list.json'"
is "$(json_get "$TEST_TMP/list.json" '[(r["name"], r["enabled"], r["digits"], r["period"], r["algorithm"]) for r in d]')" \
	"[('dev1', True, 6, 30, 'SHA1'), ('dev2', True, 8, 60, 'SHA256'), ('dev3', True, 6, 30, 'SHA512'), ('dev4', True, 6, 30, 'SHA1')]" \
	"list shows every device and its parameters"
is "$(json_get "$TEST_TMP/list.json" 'sorted(d[0].keys())')" \
	"['algorithm', 'created', 'created_at', 'digits', 'enabled', 'groups', 'last_auth', 'name', 'period']" \
	"list fields"
nok "no secret in the listing" grep -q "$secret1" "$TEST_TMP/list.json"
ok "global --json works too" sh -c "'$ACL_BIN' --json -d '$DB' -k '$KEY' device list | python3 -c 'import json, sys; json.load(sys.stdin)'"
ok "table listing" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' device list | grep -q '^dev2 .*SHA256'"

# disable / enable
ok "disable" acl device disable dev2
is "$(acl device list --json | python3 -c 'import json, sys; print([r["enabled"] for r in json.load(sys.stdin) if r["name"] == "dev2"])')" \
	"[False]" "dev2 disabled"
ok "disable again is fine" acl device disable dev2
ok "enable" acl device enable dev2
is "$(sqlite3 "$DB" "SELECT enabled FROM devices WHERE name = 'dev2'")" 1 "dev2 enabled"
unchanged "disable unknown device" acl device disable nosuch
unchanged "enable unknown device" acl device enable nosuch

# qr
acl device qr dev3 >"$TEST_TMP/qr.out" 2>"$TEST_TMP/qr.err"
is "$?" 0 "device qr"
uri=$(cat "$TEST_TMP/qr.out")
secret3=$(json_get "$TEST_TMP/dev3.json" 'd["totp"]["secret"]')
is "$uri" "otpauth://totp/mqttsec:dev3?secret=$secret3&issuer=mqttsec&algorithm=SHA512&digits=6&period=30" \
	"qr prints the otpauth uri with the stored secret and parameters"
ok "qr warns that it shows the secret" grep -q 'warning: .*secret' "$TEST_TMP/qr.err"
nok "warning does not repeat the secret" grep -q "$secret3" "$TEST_TMP/qr.err"
is "$(sqlite3 "$DB" "SELECT detail FROM audit WHERE action = 'device qr'")" "name=dev3" \
	"qr is audited without the secret"
nok "no qr drawing when stdout is not a terminal" grep -q '█' "$TEST_TMP/qr.out"
acl device qr dev3 --qr >"$TEST_TMP/qr2.out" 2>/dev/null
ok "--qr draws with half blocks" grep -q '█' "$TEST_TMP/qr2.out"
is "$(tail -n 1 "$TEST_TMP/qr2.out")" "$uri" "--qr still prints the uri"
if command -v script >/dev/null 2>&1; then
	script -qec "'$ACL_BIN' -d '$DB' -k '$KEY' device qr dev3" /dev/null >"$TEST_TMP/qr3.out" 2>&1
	ok "a terminal gets the qr drawing" grep -q '█' "$TEST_TMP/qr3.out"
else
	skip "a terminal gets the qr drawing" "script not installed"
fi
unchanged "qr of an unknown device" acl device qr nosuch

# rm removes keys, memberships, rules and the list entries naming it
ok "group add" acl group add g1
ok "member add" acl group member add g1 dev4
ok "rule add" acl acl add allow pub dev4 'x/#'
ok "deny username entry" acl list add deny username dev4 --reason lost
ok "allow username entry" acl list add allow username dev4
ok "expired username entry" sqlite3 "$DB" "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, created_at, created_by) VALUES ('deny', 'username', 'dev4', 1000, 'old', 900, 'test')"
ok "clientid entry with the same text" acl list add deny clientid dev4
ok "username entry of another device" acl list add deny username dev1
acl device rm dev4 >"$TEST_TMP/rm.out" 2>"$TEST_TMP/rm.err"
is "$?" 0 "device rm"
is "$(cat "$TEST_TMP/rm.out")" "device dev4 removed (1 group memberships, 1 acl rules, 3 list entries)" \
	"rm reports what went with the device"
is "$(sqlite3 "$DB" "SELECT (SELECT count(*) FROM devices WHERE name = 'dev4') || (SELECT count(*) FROM keys WHERE owner = 'dev4') || (SELECT count(*) FROM group_members WHERE member = 'dev4') || (SELECT count(*) FROM acl_rules WHERE subject = 'dev4') || (SELECT count(*) FROM list_entries WHERE match = 'username' AND pattern = 'dev4')")" \
	00000 "rm removed device, keys, memberships, rules and username list entries"
is "$(sqlite3 "$DB" "SELECT match || ':' || pattern FROM list_entries WHERE pattern IN ('dev4', 'dev1') ORDER BY id")" \
	"$(printf 'clientid:dev4\nusername:dev1')" "other list entries stay"
is "$(sqlite3 "$DB" "SELECT detail FROM audit WHERE action = 'device rm'")" \
	"name=dev4 groups=1 rules=1 list_entries=3 clientids=0" "rm audited with the counts"
ok "re-enrol dev4" acl device add dev4 --out "$TEST_TMP/dev4-new.json"
is "$(sqlite3 "$DB" "SELECT (SELECT count(*) FROM group_members WHERE member = 'dev4') || (SELECT count(*) FROM acl_rules WHERE subject = 'dev4') || (SELECT count(*) FROM list_entries WHERE match = 'username' AND pattern = 'dev4')")" \
	000 "the re-enrolled device inherits nothing"
ok "device rm again" acl device rm dev4
unchanged "rm unknown device" acl device rm dev4
is "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE who = '$(id -un)'")" \
	"$(sqlite3 "$DB" "SELECT count(*) FROM audit")" "every audit row names the os user"

done_testing
