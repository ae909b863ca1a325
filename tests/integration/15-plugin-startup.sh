#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 15-plugin-startup.sh - the broker refuses to start, with a log line naming
# the option and the path, when the plugin's database or master key is
# missing or unusable, its step journal cannot be used, or an option is
# wrong.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/plugin-lib.sh" # the shared plugin helpers

device dev1

# refuses MESSAGE CONF_LINE...: mosquitto with these plugin lines exits
# non-zero by itself and its output holds MESSAGE (a fixed string).
refuses() {
	local msg=$1 conf=$TEST_TMP/refuse.conf out=$TEST_TMP/refuse.out rc=0 line
	shift
	{
		[ "$(id -u)" -eq 0 ] && echo "user root"
		echo "listener $(free_port) 127.0.0.1"
		echo "persistence false"
		echo "log_dest stdout"
		echo "allow_anonymous false"
		echo "plugin $PLUGIN_SO"
		for line in "$@"; do
			echo "$line"
		done
	} >"$conf"
	# sanitizer builds: the runtimes the plugin links must be preloaded
	timeout 10 env ${SAN_PRELOAD:+LD_PRELOAD="$SAN_PRELOAD"} \
		ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0" \
		"$MOSQUITTO_BIN" -c "$conf" >"$out" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
		diag "mosquitto exit status $rc"
		return 1
	fi
	grep -qF -- "$msg" "$out" || {
		diag "$(cat "$out")"
		return 1
	}
}

SAN_PRELOAD=$(_san_preload "$PLUGIN_SO")
DB="plugin_opt_db_file $MQTTSEC_DB"
MK="plugin_opt_master_key_file $MQTTSEC_MASTER_KEY_FILE"
NODB=$TEST_TMP/missing/mqttsec.db
NOMK=$TEST_TMP/missing/master.key

ok "missing db: refused, log names option and path" \
	refuses "cannot open plugin_opt_db_file $NODB" "plugin_opt_db_file $NODB" "$MK"
# mosquitto 2.0.11 refuses option names shorter than 3 characters itself
# ("Invalid auth_opt_ config option"); later brokers pass it to the plugin
ok "missing db given as plugin_opt_db: refused too" refuses "" "plugin_opt_db $NODB" "$MK"
ok "missing master key: refused, log names option and path" \
	refuses "cannot read plugin_opt_master_key_file $NOMK" "$DB" "plugin_opt_master_key_file $NOMK"
cp "$MQTTSEC_MASTER_KEY_FILE" "$TEST_TMP/open.key"
chmod 644 "$TEST_TMP/open.key"
ok "master key readable by others: refused" \
	refuses "cannot read plugin_opt_master_key_file $TEST_TMP/open.key" "$DB" \
	"plugin_opt_master_key_file $TEST_TMP/open.key"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TEST_TMP/other.key"
echo >>"$TEST_TMP/other.key"
chmod 600 "$TEST_TMP/other.key"
ok "a master key that opens no device secret: refused" \
	refuses "does not open" "$DB" "plugin_opt_master_key_file $TEST_TMP/other.key"
echo "not a database" >"$TEST_TMP/bad.db"
chmod 600 "$TEST_TMP/bad.db"
ok "a file that is no database: refused" \
	refuses "cannot open plugin_opt_db_file $TEST_TMP/bad.db" \
	"plugin_opt_db_file $TEST_TMP/bad.db" "$MK"
ok "no db option: refused" refuses "plugin_opt_db_file (or plugin_opt_db) is required" "$MK"
ok "no master key option: refused" refuses "plugin_opt_master_key_file is required" "$DB"
ok "unknown option: refused" refuses "unknown option plugin_opt_no_such_thing" "$DB" "$MK" \
	"plugin_opt_no_such_thing 1"
ok "bad number: refused" refuses "bad plugin_opt_totp_window" "$DB" "$MK" \
	"plugin_opt_totp_window lots"
ok "bad switch: refused" refuses "bad plugin_opt_allowlist" "$DB" "$MK" \
	"plugin_opt_allowlist maybe"
ok "bad step commit mode: refused" refuses "bad plugin_opt_totp_step_commit" "$DB" "$MK" \
	"plugin_opt_totp_step_commit sometimes"
rm -f "$MQTTSEC_DB-steps" && mkdir "$MQTTSEC_DB-steps"
ok "step journal path is a folder: refused" \
	refuses "cannot open step journal $MQTTSEC_DB-steps" "$DB" "$MK"
rmdir "$MQTTSEC_DB-steps"
ln -s "$TEST_TMP/elsewhere" "$MQTTSEC_DB-steps"
ok "step journal path is a symbolic link: refused" \
	refuses "cannot open step journal $MQTTSEC_DB-steps: a symbolic link" "$DB" "$MK"
rm -f "$MQTTSEC_DB-steps"

# and with everything in place it starts
start_plugin_broker
ok "starts with a good db and master key" logged "mqttsec: loaded 1 devices"
ok "and accepts a device" connects dev1 "$(code dev1)"

# one broker per step journal: a second one on the same database would
# empty the journal under the first
ok "a second broker on the same database: refused" \
	refuses "cannot open step journal $MQTTSEC_DB-steps: in use by another broker" "$DB" "$MK"
ok "also in database mode while a journal-mode broker runs" \
	refuses "in use by another broker" "$DB" "$MK" "plugin_opt_totp_step_commit database"
ok "the first broker runs on" _mosq_up

done_testing
