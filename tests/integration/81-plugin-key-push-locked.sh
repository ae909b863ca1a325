#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 81-plugin-key-push-locked.sh - a key push that finds the database locked
# is retried on a later pass, not dropped (docs/payload-encryption.md,
# "Online keys", Push): right after a rotation another connection (as
# mqttsec-acl would) holds the write lock for 3 s; the plugin's reload
# still queues the push, the push does not wait for the lock (busy timeout
# 0 on the broker thread), stays pending, and reaches the subscriber once
# the lock is gone, without a new request from it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/protect-lib.sh"
need_file "$DEVICE_BIN"

pdevice sub1
acl acl add allow all sub1 'site1/#' >/dev/null
acl topic protect 'site1/#' >/dev/null || bail_out "topic protect failed"
start_plugin_broker

start_bg sub1 "$DEVICE_BIN" -c "$TEST_TMP/sub1.json" subscribe -h 127.0.0.1 -p "$MOSQ_PORT" \
	-t 'site1/#' -v -q 1
SLOG=$TEST_TMP/sub1.log
ok "the subscriber fetched its key at start" wait_for 10 grep -q 'fetched 1 topic keys' "$SLOG"

# rotate, then hold the write lock for 3 s at once
# the broker is stopped (SIGSTOP) from before the rotation until the lock is
# held, so its push always meets the lock, however slow this machine is
python3 - "$MQTTSEC_DB" "$ACL_BIN" "$TEST_TMP/locked" "$MOSQ_PID" <<'PY'
import os, signal, sqlite3, subprocess, sys, time
db, acl, flag, pid = sys.argv[1:]
pid = int(pid)
c = sqlite3.connect(db, isolation_level=None, timeout=10)
os.kill(pid, signal.SIGSTOP)
try:
    subprocess.run([acl, "key", "rotate", "site1/#"], check=True, stdout=subprocess.DEVNULL)
    c.execute("BEGIN IMMEDIATE")
    open(flag, "w").close()
finally:
    os.kill(pid, signal.SIGCONT)
time.sleep(3)
c.execute("ROLLBACK")
PY
ok "the lock was held after the rotation" test -f "$TEST_TMP/locked"
ok "the push reaches the subscriber after the lock" wait_for 20 logged \
	'mqttsec: pushed new topic keys in 1 answers'
_fetched2() {
	[ "$(grep -c 'fetched [0-9]* topic keys' "$SLOG")" -ge 2 ]
}
ok "the subscriber merges the pushed keys" wait_for 5 _fetched2
is "$(topickeys sub1 'site1/#' | wc -l)" 2 "its file holds the new and the old key"
nok "no push was given up" logged 'gave up pushing topic keys'
ok "the push met the lock and waited" logged 'key push to client .* of sub1 waits for the database lock'
is "$(grep -c "mqttsec: sent .* of sub1 " "$MOSQ_LOG")" 1 "sub1 asked only once"
stop_bg sub1
stop_bg mosquitto
done_testing
