#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 107-console-long-listings.sh - the console's broker listings paged by key
# (docs/console.md "Long listings"): on a database with 130 devices, 260
# rules and 130 audit rows, the devices, rules (in evaluation order, also
# of one subject) and audit pages walked forward with the "next" links and
# back with "previous" from the "last" page give every row once, in the
# order of mqttsec-acl; page=N still works; a key no page gives is an
# error in the page, not a 500; the links keep the filters; a device name
# with markup in a key is escaped.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$CONSOLE_BIN"
need_cmd curl oathtool sqlite3

ACL=$top_builddir/acl/mqttsec-acl
export MQTTSEC_DB=$TEST_TMP/mqttsec.db MQTTSEC_MASTER_KEY_FILE=$TEST_TMP/master.key
ok "broker database created" "$ACL" init
# 130 devices, 260 rules at priorities 0..2 (deny and allow mixed) over 2
# subjects, 130 audit rows
sqlite3 "$MQTTSEC_DB" "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 129)
	INSERT INTO devices (name, totp_wrapped, created_at, generation)
	SELECT printf('dev%03d', i), x'00', 1700000000, 1 FROM n;
	WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 259)
	INSERT INTO acl_rules (effect, access, subject, filter, priority, created_at)
	SELECT CASE WHEN i % 5 = 0 THEN 'deny' ELSE 'allow' END, 'pub',
	printf('dev%03d', i % 2), printf('t/%d/#', i), i % 3, 1700000000 FROM n;
	WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 129)
	INSERT INTO audit (at, who, action, detail) SELECT 1700000000 + i, 'bench', 'device add',
	printf('row%03d', i) FROM n" || bail_out "cannot fill the broker database"
is "$(sqlite3 "$MQTTSEC_DB" 'PRAGMA user_version')" 6 "broker schema 6"
# the seeks a page after a key makes (one per key column, admin/page.c)
sqlite3 "$MQTTSEC_DB" "EXPLAIN QUERY PLAN SELECT id FROM acl_rules WHERE page_prio = 0 AND
	page_allow = 1 AND id > 5 ORDER BY page_prio, page_allow, id LIMIT 51" >"$TEST_TMP/plan"
ok "the rules after a key: a seek in acl_rules_order, no sort" \
	eval 'grep -q "SEARCH acl_rules USING INDEX acl_rules_order (page_prio=? AND page_allow=? AND id>?)" "$TEST_TMP/plan" && ! grep -q "TEMP B-TREE" "$TEST_TMP/plan"'
sqlite3 "$MQTTSEC_DB" "EXPLAIN QUERY PLAN SELECT id FROM acl_rules WHERE subject = 'dev001' AND
	page_prio > 0 ORDER BY page_prio, page_allow, id LIMIT 51" >"$TEST_TMP/plan"
ok "one subject's rules: a seek in acl_rules_subject_order, no sort" \
	eval 'grep -q "SEARCH acl_rules USING INDEX acl_rules_subject_order (subject=? AND page_prio>?)" "$TEST_TMP/plan" && ! grep -q "TEMP B-TREE" "$TEST_TMP/plan"'

console_setup "[broker]" "db = $MQTTSEC_DB" "master_key_file = $MQTTSEC_MASTER_KEY_FILE"
ok "admin added" console_user_add alice admin
console_start || bail_out "console did not start"
ok "alice signs in" console_signin alice

# rows PAGE-ID CELL-CLASS: the texts of one column of the last body's table
rows() {
	"$PYTHON" - "$CONSOLE_BODY" "$1" "$2" <<'PY'
import html, re, sys
body = open(sys.argv[1]).read()
table = re.search(r'<table id="%s">(.*?)</table>' % sys.argv[2], body, re.S).group(1)
col = int(sys.argv[3])
for tr in re.findall(r'<tr>(.*?)</tr>', table, re.S):
    cells = re.findall(r'<td[^>]*>(.*?)</td>', tr, re.S)
    if cells:
        print(html.unescape(re.sub(r'<[^>]*>', '', cells[col])))
PY
}
# link LABEL: the href of the pager link LABEL in the last body, unescaped
link() {
	"$PYTHON" - "$CONSOLE_BODY" "$1" <<'PY'
import html, re, sys
m = re.search(r'<a href="([^"]*)">%s</a>' % sys.argv[2], open(sys.argv[1]).read())
print(html.unescape(m.group(1)) if m else "")
PY
}
# walk START TABLE COL LABEL: follow LABEL links from START; print the rows
# (fails on a non-200 page or after 40 pages)
walk() {
	local url=$1 n=0 code
	while [ -n "$url" ] && [ $n -lt 40 ]; do
		code=$(console_get "$url")
		[ "$code" = 200 ] || { diag "$url: $code"; return 1; }
		rows "$2" "$3"
		url=$(link "$4")
		n=$((n + 1))
	done
}

## devices: forward and back
walk /devices devices 0 next >"$TEST_TMP/dev.fwd" || fail "devices walk"
seq 0 129 | awk '{printf "dev%03d\n", $1}' >"$TEST_TMP/dev.want"
ok "devices: next links give all 130 in name order, each once" cmp -s "$TEST_TMP/dev.fwd" "$TEST_TMP/dev.want"
console_get /devices >/dev/null
ok "the first page has next and last, no previous" \
	eval 'grep -q ">next</a>" "$CONSOLE_BODY" && grep -q ">last</a>" "$CONSOLE_BODY" && ! grep -q ">previous</a>" "$CONSOLE_BODY"'
walk "/devices?last=1" devices 0 previous >"$TEST_TMP/dev.back" || fail "devices walk back"
# pages come last-first; the first page is full (50 rows), so it may repeat
# rows of the page after it
ok "devices: previous links from the last page reach every row, down to the first page" \
	eval 'sort -u "$TEST_TMP/dev.back" | cmp -s - "$TEST_TMP/dev.want"'
is "$(console_get '/devices?last=1')" 200 "the last page"
is "$(rows devices 0 | sed -n 1p)" dev080 "the last page is the last 50 (dev080..)"
console_get '/devices?page=2' >/dev/null
is "$(rows devices 0 | sed -n 1p)" dev050 "page=2 still works"
console_get '/devices?q=dev0' >/dev/null
ok "a search keeps its filter in the links" grep -q 'href="/devices?after=dev049&amp;q=dev0"' "$CONSOLE_BODY"

## rules: evaluation order as mqttsec-acl acl show
"$PYTHON" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (i,) in db.execute("SELECT id FROM acl_rules ORDER BY priority DESC, effect = \"deny\" DESC, id"): print(i)' \
	"$MQTTSEC_DB" >"$TEST_TMP/rules.want"
walk /acl rules 0 next >"$TEST_TMP/rules.fwd" || fail "rules walk"
is "$(wc -l <"$TEST_TMP/rules.fwd")" 260 "rules: 260 rows over the next links"
ok "in evaluation order (priority, deny first, id), as mqttsec-acl" cmp -s "$TEST_TMP/rules.fwd" "$TEST_TMP/rules.want"
walk "/acl?subject=dev001&last=1" rules 0 previous >"$TEST_TMP/sub.back" || fail "subject walk"
"$PYTHON" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (i,) in db.execute("SELECT id FROM acl_rules WHERE subject = \"dev001\" ORDER BY id"): print(i)' \
	"$MQTTSEC_DB" >"$TEST_TMP/sub.want"
ok "one subject's rules, back from the last page: all of them" \
	eval 'sort -nu "$TEST_TMP/sub.back" | cmp -s - "$TEST_TMP/sub.want"'
console_get '/acl?subject=dev001' >/dev/null
ok "the subject is kept in the links" grep -q 'href="/acl?after=[^"]*&amp;subject=dev001"' "$CONSOLE_BODY"

## audit: the newest first
walk /audit audit 3 next | grep '^row' >"$TEST_TMP/audit.fwd" || fail "audit walk"
seq 129 -1 0 | awk '{printf "row%03d\n", $1}' >"$TEST_TMP/audit.want"
ok "audit: the newest first over the next links, each once" cmp -s "$TEST_TMP/audit.fwd" "$TEST_TMP/audit.want"

## bad keys
for q in 'after=x' 'before=1,2' 'after=1,2,3,4' "after=$(head -c 300 /dev/zero | tr '\0' 1)"; do
	is "$(console_get "/acl?$q")" 200 "/acl?${q:0:20}: answered"
	ok "with the reason" grep -q 'invalid page key' "$CONSOLE_BODY"
done
is "$(console_get '/audit?after=abc')" 200 "/audit with a bad key: answered"
ok "with the reason" grep -q 'invalid page key' "$CONSOLE_BODY"
is "$(console_get '/devices?before=%3Cscript%3E')" 200 "/devices before a markup key: answered"
ok "the key is never echoed unescaped" eval '! grep -q "<script>" "$CONSOLE_BODY"'
done_testing
