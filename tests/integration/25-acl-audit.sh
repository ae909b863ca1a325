#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 25-acl-audit.sh - mqttsec-acl audit: every change is one row naming the
# OS user ("$SUDO_USER via root" when root runs it for a sudo user; a
# non-root $SUDO_USER is ignored), refusals and listings write nothing,
# --limit, --json, and no secret ever reaches the log.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$ACL_BIN"
need_cmd sqlite3 python3
unset SUDO_USER MQTTSEC_DB MQTTSEC_MASTER_KEY_FILE

DB=$TEST_TMP/db.sqlite
KEY=$TEST_TMP/master.key
acl() { "$ACL_BIN" -d "$DB" -k "$KEY" "$@"; }
me=$(id -un)

acl init >/dev/null
acl device add dev1 --out "$TEST_TMP/dev1.json" >/dev/null
acl device disable dev1 >/dev/null
acl device enable dev1 >/dev/null
acl list add deny ip 192.0.2.0/24 --ttl 1h >/dev/null
acl list rm 1 >/dev/null
acl group add ops >/dev/null
acl group member add ops dev1 >/dev/null
acl acl add allow pub @ops 'alerts/#' >/dev/null
acl acl rm 1 >/dev/null
acl group member rm ops dev1 >/dev/null
acl group rm ops >/dev/null
SUDO_USER=alice acl list add deny clientid x >/dev/null
# refusals and listings write no rows
acl list add deny ip 300.0.0.1 2>/dev/null
acl device add dev1 >/dev/null 2>&1
acl device list >/dev/null
acl list show >/dev/null

acl audit --limit 0 --json >"$TEST_TMP/audit.json"
is "$?" 0 "audit --json"
is "$(python3 -c 'import json, sys; print(" | ".join(r["action"] for r in json.load(open(sys.argv[1]))))' "$TEST_TMP/audit.json")" \
	"init | device add | device disable | device enable | list add | list rm | group add | group member add | acl add | acl rm | group member rm | group rm | list add" \
	"one row per change, in order"
is "$(python3 -c 'import json, sys; print(sorted(set(r["who"] for r in json.load(open(sys.argv[1]))[:-1])))' "$TEST_TMP/audit.json")" \
	"['$me']" "who is the os user"
if [ "$(id -u)" -eq 0 ]; then
	want_sudo="alice via $me"
else
	want_sudo=$me
fi
is "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[-1]["who"])' "$TEST_TMP/audit.json")" \
	"$want_sudo" "who is '\$SUDO_USER via root' for root, else the os user"
is "$(python3 -c 'import json, sys; print(sorted(json.load(open(sys.argv[1]))[0]))' "$TEST_TMP/audit.json")" \
	"['action', 'at', 'detail', 'id', 'time', 'who']" "audit fields"
ok "time is ISO 8601 UTC" python3 -c 'import json, sys, datetime
for r in json.load(open(sys.argv[1])):
    t = datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert int(t.timestamp()) == r["at"], r' "$TEST_TMP/audit.json"
is "$(acl audit --limit 2 --json | python3 -c 'import json, sys; print([r["action"] for r in json.load(sys.stdin)])')" \
	"['group rm', 'list add']" "--limit keeps the newest rows, oldest first"
ok "table output" sh -c "'$ACL_BIN' -d '$DB' audit | grep -q \"device add  *name=dev1\""
secret=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["totp"]["secret"])' "$TEST_TMP/dev1.json")
key=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["keys"][0]["key"])' "$TEST_TMP/dev1.json")
nok "no secret in the audit log" sh -c "sqlite3 '$DB' 'SELECT * FROM audit' | grep -q -e '$secret' -e '$key'"
nok "bad --limit" acl audit --limit -1

# $SUDO_USER counts only for root: a non-root caller cannot pose as another
# user.  As root, run the CLI as nobody on a copy it may write.
nobody_uid=$(id -u nobody 2>/dev/null || true)
if [ "$(id -u)" -eq 0 ] && [ -n "$nobody_uid" ] && command -v setpriv >/dev/null 2>&1; then
	chmod 711 "$TEST_TMP"
	mkdir "$TEST_TMP/nobody"
	cp "$DB" "$TEST_TMP/nobody/db.sqlite"
	chown -R nobody "$TEST_TMP/nobody"
	ok "non-root list add with SUDO_USER set" env SUDO_USER=alice \
		setpriv --reuid="$nobody_uid" --regid="$(id -g nobody)" --clear-groups \
		"$ACL_BIN" -d "$TEST_TMP/nobody/db.sqlite" list add deny clientid y
	is "$(sqlite3 "$TEST_TMP/nobody/db.sqlite" "SELECT who FROM audit ORDER BY id DESC LIMIT 1")" \
		"$(id -un nobody)" "non-root: who is the os user, \$SUDO_USER ignored"
	is "$(sqlite3 "$TEST_TMP/nobody/db.sqlite" "SELECT created_by FROM list_entries WHERE pattern = 'y'")" \
		"$(id -un nobody)" "non-root: created_by is the os user too"
else
	skip "non-root list add with SUDO_USER set" "needs root, user nobody and setpriv"
	skip "non-root: who is the os user, \$SUDO_USER ignored" "needs root"
	skip "non-root: created_by is the os user too" "needs root"
fi

done_testing
