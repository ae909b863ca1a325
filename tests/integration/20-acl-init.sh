#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 20-acl-init.sh - mqttsec-acl init: 0600 files, 0700 parents, idempotent,
# refuses an unsafe master key; usage errors; the man page renders.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_file "$ACL_BIN"
unset SUDO_USER MQTTSEC_DB MQTTSEC_MASTER_KEY_FILE

DB=$TEST_TMP/var/lib/db.sqlite
KEY=$TEST_TMP/etc/mqttsec/master.key
acl() { "$ACL_BIN" -d "$DB" -k "$KEY" "$@"; }
mode() { stat -c %a "$1"; }

ok "init creates db and key" acl init
is "$(mode "$KEY")" 600 "master key is 0600"
is "$(mode "$DB")" 600 "db is 0600"
is "$(mode "$TEST_TMP/etc/mqttsec")" 700 "created key folder is 0700"
is "$(mode "$TEST_TMP/var/lib")" 700 "created db folder is 0700"
is "$(wc -c <"$KEY")" 65 "master key is 64 hex digits and a newline"
sum1=$(sha256sum "$KEY")
ok "init again succeeds" acl init
is "$(sha256sum "$KEY")" "$sum1" "init again keeps the master key"
is "$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE action = 'init'")" 1 \
	"only the creating init is audited"

# environment variables instead of options
ok "init via environment" env MQTTSEC_DB="$TEST_TMP/env.db" \
	MQTTSEC_MASTER_KEY_FILE="$TEST_TMP/env.key" "$ACL_BIN" init
ok "env db and key exist" test -f "$TEST_TMP/env.db" -a -f "$TEST_TMP/env.key"

# an unsafe master key is refused
chmod 644 "$KEY"
rc=0
acl init >/dev/null 2>"$TEST_TMP/err" || rc=$?
is "$rc" 77 "init refuses a group/other-readable master key (EX_NOPERM)"
is "$(wc -l <"$TEST_TMP/err")" 1 "one-line message"
chmod 600 "$KEY"

# no new master key for a db that holds wrapped secrets
ok "device add" acl device add dev1 --out "$TEST_TMP/dev1.json"
mv "$KEY" "$KEY.saved"
nok "init refuses to make a new key for a db with secrets" acl init
ok "no key was created" test ! -e "$KEY"
mv "$KEY.saved" "$KEY"

# missing db
rc=0
"$ACL_BIN" -d "$TEST_TMP/nope.db" -k "$KEY" device list >/dev/null 2>&1 || rc=$?
is "$rc" 66 "missing db gives EX_NOINPUT"
ok "missing db is not created by other commands" test ! -e "$TEST_TMP/nope.db"

# usage errors
rc=0
acl frobnicate >/dev/null 2>"$TEST_TMP/err" || rc=$?
is "$rc" 64 "unknown command gives EX_USAGE"
ok "usage printed on stderr" grep -q '^usage: mqttsec-acl' "$TEST_TMP/err"
rc=0
acl device frob >/dev/null 2>&1 || rc=$?
is "$rc" 64 "unknown subcommand gives EX_USAGE"
rc=0
acl list show --bogus >/dev/null 2>&1 || rc=$?
is "$rc" 64 "unknown option gives EX_USAGE"
rc=0
acl --bogus list show >/dev/null 2>&1 || rc=$?
is "$rc" 64 "unknown global option gives EX_USAGE"
rc=0
acl >/dev/null 2>&1 || rc=$?
is "$rc" 64 "no command gives EX_USAGE"
ok "--help exits 0" acl --help
ok "subcommand --help exits 0" acl list add --help
ok "group help exits 0" acl group --help

# the manual page renders without warnings
man_page=$top_srcdir/acl/mqttsec-acl.1
if command -v groff >/dev/null 2>&1; then
	groff -man -Tutf8 -ww -z "$man_page" 2>"$TEST_TMP/groff.err"
	is "$(cat "$TEST_TMP/groff.err")" "" "man page renders without groff warnings"
else
	skip "man page renders without groff warnings" "groff not installed"
fi
if command -v man >/dev/null 2>&1; then
	ok "man -l renders the page" sh -c "man -l '$man_page' >/dev/null 2>&1"
else
	skip "man -l renders the page" "man not installed"
fi

done_testing
