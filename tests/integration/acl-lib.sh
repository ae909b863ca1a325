# SPDX-License-Identifier: BSD-3-Clause
# acl-lib.sh - sourced (after lib.sh) by the mqttsec-acl integration tests:
# a fresh database and master key in $TEST_TMP, and helpers.
#   acl ARGS...           mqttsec-acl on that database
#   dump                  the database as SQL text
#   q SQL                 one query through the sqlite3 CLI
#   json_get FILE EXPR    evaluate EXPR over the JSON document d in FILE
#   unchanged DESC CMD... CMD must fail with exactly one line on stderr and
#                         leave the database byte for byte as it was
need_file "$ACL_BIN"
need_cmd sqlite3 python3
unset SUDO_USER MQTTSEC_DB MQTTSEC_MASTER_KEY_FILE

DB=$TEST_TMP/db.sqlite
KEY=$TEST_TMP/master.key
acl() { "$ACL_BIN" -d "$DB" -k "$KEY" "$@"; }
dump() { sqlite3 "$DB" .dump; }
q() { sqlite3 "$DB" "$1"; }
json_get() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
unchanged() {
	local desc=$1 before rc=0
	shift
	before=$(dump)
	"$@" >/dev/null 2>"$TEST_TMP/err" || rc=$?
	if [ "$rc" -eq 0 ]; then
		fail "$desc" "unexpectedly exited 0"
	elif [ "$(wc -l <"$TEST_TMP/err")" -ne 1 ]; then
		fail "$desc" "want one line on stderr, got:" "$(cat "$TEST_TMP/err")"
	elif [ "$(dump)" != "$before" ]; then
		fail "$desc" "the database changed"
	else
		pass "$desc"
	fi
}
