#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 38-gateway-key.sh - record keys (docs/medical.md, "Record keys"):
# key add / export (0600, no overwrite without --force) / import on a second
# gateway database / list (never key bytes, --json) / rm; bad names,
# duplicate names and ids refused, a group- or world-readable file refused,
# a wrong master key refused on export.  No broker needed.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$GATEWAY_BIN"
need_cmd python3

# conf NAME: a gateway configuration with its own database and master key.
conf() {
	local n=$1
	(umask 077 && echo '{"username": "gateway", "keys": []}' >"$TEST_TMP/$n.json")
	cat >"$TEST_TMP/$n.conf" <<EOF
[broker]
host = 127.0.0.1
port = 1
credentials = $TEST_TMP/$n.json

[store]
db = $TEST_TMP/$n.db
master_key_file = $TEST_TMP/$n.key
spool_dir = $TEST_TMP/$n-spool

[route alerts]
topic = alerts/#
kind = alert
EOF
}

# gwa / gwb ARGS...: the sending and the receiving gateway.
gwa() { "$GATEWAY_BIN" -q -c "$TEST_TMP/a.conf" "$@"; }
gwb() { "$GATEWAY_BIN" -q -c "$TEST_TMP/b.conf" "$@"; }

# mode FILE: octal permission bits.
mode() { stat -c %a "$1"; }

# jget FILE EXPR: evaluate a python expression on the JSON document d.
jget() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

conf a
conf b
EXP=$TEST_TMP/vitals.json

# --- add, list
ok "key add vitals" gwa key add vitals
ok "key add clinic-2.b_x" gwa key add clinic-2.b_x
nok "a second vitals is refused" gwa key add vitals
gwa key add vitals 2>"$TEST_TMP/dup.err"
is "$?" 65 "duplicate add exits EX_DATAERR"
ok "the reason says it exists" grep -q "exists" "$TEST_TMP/dup.err"
for bad in 'bad name' 'a/b' '' "$(printf 'x%.0s' {1..65})" 'é'; do
	nok "bad name '${bad:0:10}' refused" gwa key add "$bad"
done
gwa key list >"$TEST_TMP/list.txt"
ok "list shows both names" grep -q '^vitals ' "$TEST_TMP/list.txt"
ok "list shows the second" grep -q '^clinic-2.b_x ' "$TEST_TMP/list.txt"
gwa key list --json >"$TEST_TMP/list.json"
is "$(jget "$TEST_TMP/list.json" 'len(d)')" 2 "list --json: two keys"
is "$(jget "$TEST_TMP/list.json" 'sorted(d[0].keys())')" "['created', 'id', 'name']" \
	"list --json: name, id, created only"
VID=$(jget "$TEST_TMP/list.json" '[k["id"] for k in d if k["name"] == "vitals"][0]')
ok "id in 1..2^31-1 ($VID)" test "$VID" -ge 1 -a "$VID" -le 2147483647

# --- export
ok "key export vitals" gwa key export vitals --out "$EXP"
is "$(mode "$EXP")" 600 "export file is 0600"
is "$(jget "$EXP" 'd["keys"][0]["use"]')" record "use = record"
is "$(jget "$EXP" 'd["keys"][0]["name"]')" vitals "name = vitals"
is "$(jget "$EXP" 'd["keys"][0]["id"]')" "$VID" "id as listed"
is "$(jget "$EXP" 'len(__import__("base64").b64decode(d["keys"][0]["key"]))')" 32 \
	"a 32-byte key"
KEY=$(jget "$EXP" 'd["keys"][0]["key"]')
nok "the listing never shows key bytes" grep -qF "$KEY" "$TEST_TMP/list.txt" \
	"$TEST_TMP/list.json"
nok "export over an existing file is refused" gwa key export vitals --out "$EXP"
ok "export --force replaces it" gwa key export vitals --out "$EXP" --force
is "$(mode "$EXP")" 600 "still 0600"
is "$(jget "$EXP" 'd["keys"][0]["key"]')" "$KEY" "same key exported again"
nok "export of an unknown key" gwa key export nobody --out "$TEST_TMP/nobody.json"
nok "no file left for it" test -e "$TEST_TMP/nobody.json"
nok "export without --out" gwa key export vitals
nok "no temporary file left" sh -c "ls '$TEST_TMP' | grep -q '\\.tmp\\.'"

# --- import on a second gateway
ok "import on gateway b" gwb key import "$EXP"
gwb key list --json >"$TEST_TMP/blist.json"
is "$(jget "$TEST_TMP/blist.json" '[(k["name"], k["id"]) for k in d]')" "[('vitals', $VID)]" \
	"b has vitals with the same id"
ok "b exports it again" gwb key export vitals --out "$TEST_TMP/b-vitals.json"
is "$(jget "$TEST_TMP/b-vitals.json" 'd["keys"][0]["key"]')" "$KEY" "the same key bytes"
gwb key import "$EXP" 2>"$TEST_TMP/dupimp.err"
is "$?" 65 "importing it twice exits EX_DATAERR"
ok "with a clear reason" grep -q "already in the store" "$TEST_TMP/dupimp.err"
# same id under another name
python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); d["keys"][0]["name"] = "renamed"
json.dump(d, open(sys.argv[2], "w"))' "$EXP" "$TEST_TMP/renamed.json"
chmod 600 "$TEST_TMP/renamed.json"
gwb key import "$TEST_TMP/renamed.json" 2>"$TEST_TMP/dupid.err"
is "$?" 65 "the same id under another name is refused"
ok "the reason names the id" grep -q "id $VID" "$TEST_TMP/dupid.err"
# group- and world-readable files
cp "$EXP" "$TEST_TMP/open.json"
ok "b removes vitals" gwb key rm vitals
chmod 644 "$TEST_TMP/open.json"
gwb key import "$TEST_TMP/open.json" 2>"$TEST_TMP/perm.err"
is "$?" 77 "a world-readable key file is refused (EX_NOPERM)"
ok "the reason says so" grep -q "others may read" "$TEST_TMP/perm.err"
chmod 640 "$TEST_TMP/open.json"
nok "a group-readable key file is refused" gwb key import "$TEST_TMP/open.json"
is "$(gwb key list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 0 \
	"nothing was imported"
printf '{"keys": [' >"$TEST_TMP/junk.json"
chmod 600 "$TEST_TMP/junk.json"
nok "a malformed file is refused" gwb key import "$TEST_TMP/junk.json"
nok "a missing file is refused" gwb key import "$TEST_TMP/missing.json"

# --- rm
ok "rm clinic-2.b_x" gwa key rm clinic-2.b_x
nok "a second rm fails" gwa key rm clinic-2.b_x
is "$(gwa key list --json | python3 -c 'import json,sys; print([k["name"] for k in json.load(sys.stdin)])')" \
	"['vitals']" "only vitals left"

# --- wrong master key
mv "$TEST_TMP/a.key" "$TEST_TMP/a.key.right"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TEST_TMP/a.key" &&
	echo >>"$TEST_TMP/a.key")
gwa key export vitals --out "$TEST_TMP/wrong.json" 2>"$TEST_TMP/wrong.err"
is "$?" 70 "export under a wrong master key fails (EX_SOFTWARE)"
ok "the reason names the master key" grep -q "wrong master key" "$TEST_TMP/wrong.err"
nok "no file written" test -e "$TEST_TMP/wrong.json"
mv "$TEST_TMP/a.key.right" "$TEST_TMP/a.key"
ok "the right key exports again" gwa key export vitals --out "$TEST_TMP/right.json"

# --- usage
nok "key without a subcommand" gwa key
nok "key add without a name" gwa key add
nok "key frobnicate" gwa key frobnicate

done_testing
