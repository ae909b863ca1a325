#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 27-acl-topic.sh - mqttsec-acl topic protect|unprotect|list: a topic key per
# protected filter, unprotect retires keys for a grace period, listings
# (--json), "protected" in the credentials of devices added afterwards, bad
# input refused with one line and no change.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/acl-lib.sh"
# usage_error DESC CMD...: CMD exits 64 (usage follows the message) and the db is unchanged.
usage_error() {
	local desc=$1 before rc=0
	shift
	before=$(dump)
	"$@" >/dev/null 2>"$TEST_TMP/err" || rc=$?
	if [ "$rc" -ne 64 ]; then
		fail "$desc" "want exit status 64, got $rc"
	elif [ "$(dump)" != "$before" ]; then
		fail "$desc" "the database changed"
	else
		pass "$desc"
	fi
}
# topics: "filter:active_key:in_grace ..." from topic list --json
topics() {
	acl topic list --json | python3 -c 'import json, sys
print(" ".join("%s:%s:%s" % (r["filter"], r["active_key"], r["in_grace"]) for r in json.load(sys.stdin)))'
}

ok "init" acl init
ok "device add before any protection" acl device add dev0 --out "$TEST_TMP/dev0.json"
is "$(json_get "$TEST_TMP/dev0.json" 'd.get("protected")')" None "no protected list while nothing is protected"

# protect
ok "topic protect alerts/#" acl topic protect 'alerts/#'
cp "$TEST_TMP/.ok.out" "$TEST_TMP/protect.out"
k1=$(q "SELECT id FROM keys WHERE purpose = 'topic' AND owner = 'alerts/#'")
is "$(q "SELECT count(*) FROM keys WHERE purpose = 'topic' AND owner = 'alerts/#' AND state = 'active'")" 1 \
	"one active topic key"
is "$(cat "$TEST_TMP/protect.out")" "topic alerts/# protected, key $k1" "protect prints the key id"
ok "topic protect plant/+/temp" acl topic protect 'plant/+/temp'
k2=$(q "SELECT id FROM keys WHERE purpose = 'topic' AND owner = 'plant/+/temp'")
is "$(topics)" "alerts/#:$k1:0 plant/+/temp:$k2:0" "topic list --json: filter, active key, in grace"
ok "table has a header" sh -c "'$ACL_BIN' -d '$DB' topic list | head -n 1 | grep -q '^FILTER  *KEY  *CREATED  *IN_GRACE'"
ok "topic list needs no master key" "$ACL_BIN" -d "$DB" -k "$TEST_TMP/nosuch.key" topic list
is "$(q "SELECT count(*) FROM audit WHERE action = 'topic protect' AND detail = 'filter=alerts/# key=$k1'")" 1 \
	"protect audited with filter and key id"

# device add after protect: "protected" in the credentials
ok "device add after protect" acl device add dev1 --out "$TEST_TMP/dev1.json"
is "$(json_get "$TEST_TMP/dev1.json" 'd["protected"]')" "['alerts/#', 'plant/+/temp']" \
	"credentials list every protected filter"
is "$(json_get "$TEST_TMP/dev1.json" '[k["use"] for k in d["keys"]]')" "['device']" \
	"device add hands out no topic key"
ok "device add to stdout" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' device add dev2 2>/dev/null >'$TEST_TMP/dev2.json'"
is "$(json_get "$TEST_TMP/dev2.json" 'd["protected"]')" "['alerts/#', 'plant/+/temp']" \
	"also on stdout"

# bad input: one line, nothing changed
unchanged "protect twice" acl topic protect 'alerts/#'
unchanged "'#' not last" acl topic protect 'a/#/b'
unchanged "'+' inside a level" acl topic protect 'a/b+'
unchanged "empty filter" acl topic protect ''
unchanged "%u refused" acl topic protect 'devices/%u/#'
unchanged "%c refused" acl topic protect 'devices/%c'
unchanged "stray %" acl topic protect 'a/50%'
unchanged "control character" acl topic protect "$(printf 'a/\033b')"
unchanged "protect without master key" "$ACL_BIN" -d "$DB" -k "$TEST_TMP/nosuch.key" topic protect 'x/#'
unchanged "unprotect unknown filter" acl topic unprotect 'nosuch/#'
unchanged "unprotect invalid filter" acl topic unprotect 'a/#/b'
unchanged "unprotect bad grace (word)" acl topic unprotect 'alerts/#' --grace soon
unchanged "unprotect bad grace (negative)" acl topic unprotect 'alerts/#' --grace -5
unchanged "unprotect bad grace (too long)" acl topic unprotect 'alerts/#' --grace 4000d
unchanged "unprotect bad grace (empty)" acl topic unprotect 'alerts/#' --grace ''
usage_error "unknown subcommand" acl topic shield 'alerts/#'
usage_error "missing operand" acl topic protect
usage_error "unknown option" acl topic unprotect 'alerts/#' --grace-period 5

# unprotect with a grace period: the key stays usable until it ends
now=$(date +%s)
ok "topic unprotect --grace 1h" acl topic unprotect 'plant/+/temp' --grace 1h
is "$(q "SELECT count(*) FROM protected_topics WHERE filter = 'plant/+/temp'")" 0 "row removed"
is "$(q "SELECT state FROM keys WHERE id = $k2")" retired "its key is retired"
is "$(q "SELECT retire_after - $now BETWEEN 3600 AND 3700 FROM keys WHERE id = $k2")" 1 \
	"retired for the grace period"
is "$(topics)" "alerts/#:$k1:0" "no longer listed"
is "$(q "SELECT detail FROM audit WHERE action = 'topic unprotect'")" \
	"filter=plant/+/temp retired=$k2 grace=3600" "unprotect audited"
ok "device add after unprotect" acl device add dev3 --out "$TEST_TMP/dev3.json"
is "$(json_get "$TEST_TMP/dev3.json" 'd["protected"]')" "['alerts/#']" "protected list follows"

# protect again: a new key; the grace of the retired one ends (it was
# usable while the filter was unprotected: never exported again)
ok "protect plant/+/temp again" acl topic protect 'plant/+/temp'
k3=$(q "SELECT id FROM keys WHERE purpose = 'topic' AND owner = 'plant/+/temp' AND state = 'active'")
is "$(topics)" "alerts/#:$k1:0 plant/+/temp:$k3:0" "new active key, the old one no longer in grace"
is "$(q "SELECT retire_after < strftime('%s', 'now') FROM keys WHERE id = $k2")" 1 \
	"the old key is dead"
is "$(q "SELECT detail FROM audit WHERE action = 'topic protect' ORDER BY id DESC LIMIT 1")" \
	"filter=plant/+/temp key=$k3 grace_ended=$k2" "the ended grace is audited"

# unprotect with --grace 0: the key is dead at once
ok "topic unprotect --grace 0" acl topic unprotect 'alerts/#' --grace 0
is "$(q "SELECT state, retire_after < strftime('%s', 'now') FROM keys WHERE id = $k1")" "retired|1" \
	"grace 0: dead at once"
is "$(topics)" "plant/+/temp:$k3:0" "list after unprotect"
is "$(acl key list 'alerts/#' --json | python3 -c 'import json, sys; print([(r["id"], r["state"]) for r in json.load(sys.stdin)])')" \
	"[($k1, 'dead')]" "key list shows the dead key"
ok "default grace is one day" acl topic unprotect 'plant/+/temp'
is "$(q "SELECT retire_after - $now BETWEEN 86400 AND 86500 FROM keys WHERE id = $k3")" 1 \
	"retired for 86400 s"
is "$(acl --json topic list)" "[]" "empty list is an empty JSON array"

is "$(q "SELECT count(*) FROM audit WHERE action LIKE 'topic %'")" 6 "every change audited"
done_testing
