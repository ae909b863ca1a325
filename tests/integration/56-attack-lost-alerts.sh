#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 56-attack-lost-alerts.sh - issue 10, attack 7: the gateway database cannot
# be written while QoS 1 critical alerts arrive, which libmosquitto has
# already acknowledged to the broker.
#
#  1. another process holds the write lock (BEGIN IMMEDIATE) for
#     LOCK_SECONDS (default 15; LOCK_SECONDS=30 for the docs/PERFORMANCE.md
#     figure);
#  2. a delivery finishes while the lock is held: its outcome ("dead")
#     cannot be written at once and must not be lost (the row would stay
#     "sending", a dead delivery looking pending);
#  3. the disk is full (a small tmpfs, filled up; needs root and mount,
#     skipped otherwise);
#  4. a page of the messages table is corrupted (and then repaired);
#  5. a read-only database (a read-only bind mount; needs root): the daemon
#     and the commands refuse with exit 74 and the reason; while the daemon
#     runs, the bind mount cannot be remounted read-only under it.
#
# Either way the gateway must keep the acknowledged alerts in memory, leave
# the broker so that it queues what follows in the persistent session, and
# commit everything once the database accepts writes again: every alert
# delivered exactly once per recipient, none lost, and the event loop never
# waits on the lock (its turn times are reported at the stop).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/gateway-lib.sh"
need_python_module aiosmtpd

LOCK_SECONDS=${LOCK_SECONDS:-15}
N=6 # alerts published while the database refuses writes

start_mosquitto "allow_anonymous true" || bail_out "no broker"
smtp_start || bail_out "no smtp recorder"
provider_start || bail_out "no fake provider"
GW_MAX_ATTEMPTS=1 # an SMS answered 500 is dead at once

# setup_gateway: configuration, a group of two, start, one alert through.
setup_gateway() {
	gw_config "[channel email]
url = smtp://127.0.0.1:$SMTP_PORT
from = alerts@example.com" "[channel sms]
url = http://127.0.0.1:$PROV_PORT
account_sid = ACtest
auth_token = sekrit
from = +15550000000"
	gw group add ops --channels email >/dev/null || return 1
	gw group add pager --channels sms >/dev/null || return 1
	gw recipient add alice --email alice@example.com --group ops >/dev/null || return 1
	gw recipient add bob --email bob@example.net --group ops >/dev/null || return 1
	gw recipient add carol --phone +15550001234 --group pager >/dev/null || return 1
	gw_start "$1" || return 1
	pub alerts/x "{\"id\": \"$2-warm\", \"severity\": \"critical\", \"group\": \"ops\",
		\"title\": \"$2 warm.\"}"
	wait_for 20 _smtp_has "$2 warm." 2
}

# _smtp_count SUBJECT_PART: emails recorded whose subject contains it.
_smtp_count() {
	"$PYTHON" -c 'import json, sys
n = 0
for l in open(sys.argv[1]):
    if sys.argv[2] in json.loads(l)["subject"]:
        n += 1
print(n)' "$SMTP_LOG" "$1" 2>/dev/null || echo 0
}

_smtp_has() {
	[ "$(_smtp_count "$1")" -ge "$2" ]
}

# exactly_once PREFIX: every (recipient, PREFIXi.) pair for i in 1..N once.
exactly_once() {
	"$PYTHON" -c 'import collections, json, re, sys
prefix, n = sys.argv[2], int(sys.argv[3])
c = collections.Counter()
for l in open(sys.argv[1]):
    j = json.loads(l)
    m = re.search(re.escape(prefix) + r"(\d+)\.", j["subject"])
    if m:
        for r in j["rcpt_tos"]:
            c[(r, int(m.group(1)))] += 1
want = [(r, i) for r in ("alice@example.com", "bob@example.net") for i in range(1, n + 1)]
missing = [w for w in want if c[w] == 0]
dups = [w for w in want if c[w] > 1]
print(len(missing), len(dups))' "$SMTP_LOG" "$1" "$N"
}

_in_log() {
	grep -q "$2" "$TEST_TMP/$1.log"
}

_not_in_log() {
	! grep -q "$2" "$TEST_TMP/$1.log"
}

_log_count() {
	grep -c "$2" "$TEST_TMP/$1.log"
}

_gone() {
	! bg_alive "$1"
}

# hold_lock NAME SECONDS: another process takes the write lock for SECONDS.
hold_lock() {
	rm -f "$TEST_TMP/$1.locked"
	start_bg "$1" "$PYTHON" -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").write("locked\n")
time.sleep(float(sys.argv[3]))
c.execute("COMMIT")' "$GW_DB" "$TEST_TMP/$1.locked" "$2"
	wait_for 30 test -s "$TEST_TMP/$1.locked"
}

# run_attack NAME PREFIX: publish N critical alerts, half before and half
# after the gateway left the broker.
run_attack() {
	local i
	for i in $(seq 1 $((N / 2))); do
		pub alerts/x "{\"id\": \"$2-$i\", \"severity\": \"critical\", \"group\": \"ops\",
			\"title\": \"$2 $i.\"}"
	done
	wait_for 20 _in_log "$1" "holding message on alerts/x"
	ok "$1: the refused alert is held in memory" _in_log "$1" "holding message on alerts/x"
	wait_for 20 _in_log "$1" "disconnecting from broker"
	ok "$1: the gateway left the broker while holding" _in_log "$1" "disconnecting from broker"
	# these reach the broker while the gateway is away: the session keeps them
	for i in $(seq $((N / 2 + 1)) "$N"); do
		pub alerts/x "{\"id\": \"$2-$i\", \"severity\": \"critical\", \"group\": \"ops\",
			\"title\": \"$2 $i.\"}"
	done
}

# check_outcome NAME PREFIX: after the database accepts writes again.
check_outcome() {
	local missing dups
	wait_for 60 _in_log "$1" "database accepts writes again"
	ok "$1: the held alerts were committed when the database accepted writes" \
		_in_log "$1" "database accepts writes again"
	wait_for 60 _smtp_has "$2 " $((2 * N + 2))
	sleep 1 # a duplicate would arrive about now
	read -r missing dups <<<"$(exactly_once "$2 " "$N")"
	is "$missing" 0 "$1: no alert lost (each of $N alerts to both recipients)"
	is "$dups" 0 "$1: no alert delivered twice"
	is "$(sql "SELECT count(*) FROM messages WHERE msg_id LIKE '$2-%'")" $((N + 1)) \
		"$1: every alert committed"
	ok "$1: reconnected and resumed the session" \
		test "$(_log_count "$1" "connected to broker .*(session resumed)")" -ge 1
	ok "$1: nothing was lost from the hold" _not_in_log "$1" "lost .*acknowledged message"
}

# report_stalls NAME: stop the gateway; its loop turn times.
report_stalls() {
	local line p99
	stop_bg "$1"
	diag "$1: $(grep "loop stalls since the start" "$TEST_TMP/$1.log" | sed 's/^[^ ]* [a-z]*: //')"
	line=$(grep "loop stalls while the database refused" "$TEST_TMP/$1.log" | tail -n 1)
	diag "$1: ${line#*: }"
	p99=$(sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p' <<<"$line")
	# not a performance check (the target, 10 ms, is measured in
	# docs/PERFORMANCE.md): a loop that waits on the lock again waits 5 s (the
	# busy timeout of the admin commands) per write, far above this bound
	ok "$1: the event loop never waited on the lock (p99 ${p99:-?} ms)" \
		awk -v p="${p99:-99999}" 'BEGIN { exit !(p < 2500) }'
}

## 1. a write lock held by another process
setup_gateway gateway lock || bail_out "gateway did not start"
hold_lock locker "$LOCK_SECONDS" || bail_out "cannot take the write lock"
run_attack gateway lock
before=$(_smtp_count "lock ")
if bg_alive locker; then
	is "$before" 2 "lock: nothing of the held alerts went out while the lock was held"
else
	skip "lock: nothing went out while the lock was held" "the lock expired already"
fi
wait_for $((LOCK_SECONDS + 30)) _gone locker
check_outcome gateway lock

## 2. a delivery outcome while the lock is held
_requests() {
	[ "$(lines "$PROV_LOG")" -ge "$1" ]
}
# the provider answers 8 s after the request: the lock is taken well before
echo "Messages.json 500;delay=8" >"$PROV_SCRIPT"
pub alerts/x '{"id": "page-1", "group": "pager", "title": "Page 1.", "channels": ["sms"]}'
wait_for 20 _requests 1 || bail_out "the sms delivery did not start"
hold_lock locker2 20 || bail_out "cannot take the write lock"
if _in_log gateway "page-1 to carol by sms"; then
	skip "outcome: the outcome that could not be written is kept" \
		"the delivery ended before the lock was taken (machine too slow)"
else
	wait_for 20 _in_log gateway "delivery outcomes kept in memory"
	ok "outcome: the outcome that could not be written is kept" \
		_in_log gateway "delivery outcomes kept in memory"
fi
wait_for 60 _gone locker2
wait_sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
	WHERE m.msg_id = 'page-1'" dead 30
is "$(sql "SELECT o.state FROM outbox o JOIN messages m ON m.id = o.message
	WHERE m.msg_id = 'page-1'")" dead "outcome: the dead delivery is recorded as dead, not left sending"
is "$(lines "$PROV_LOG")" 1 "outcome: and was not sent again"
report_stalls gateway

## 4. a corrupted page (of the messages table): the inserts fail with
## "database disk image is malformed"; held like any refused write, never
## dropped, and committed once the page is repaired (docs/gateway.md)
GW_DB=$TEST_TMP/gateway3.db
GW_KEY=$TEST_TMP/gateway3.key
setup_gateway gateway3 corrupt || bail_out "third gateway did not start"
_ckpt() { [ "$(sql "PRAGMA wal_checkpoint(TRUNCATE)" | cut -d'|' -f1)" = 0 ]; }
# poke: a commit by another connection, so the gateway reads the file again
poke() { sql "PRAGMA user_version = $(sql "PRAGMA user_version")"; }
wait_for 20 _ckpt || bail_out "cannot checkpoint the gateway database"
page=$(sql "PRAGMA page_size")
root=$(sql "SELECT rootpage FROM sqlite_master WHERE name = 'messages'")
dd if="$GW_DB" of="$TEST_TMP/page" bs="$page" skip=$((root - 1)) count=1 2>/dev/null
head -c "$page" /dev/urandom | dd of="$GW_DB" bs="$page" seek=$((root - 1)) conv=notrunc 2>/dev/null
poke
run_attack gateway3 corrupt
is "$(_smtp_count "corrupt ")" 2 "corrupt: nothing of the held alerts went out while the page was bad"
nok "corrupt: no alert dropped" _in_log gateway3 "dropping\|lost .*acknowledged"
dd if="$TEST_TMP/page" of="$GW_DB" bs="$page" seek=$((root - 1)) conv=notrunc 2>/dev/null
poke
check_outcome gateway3 corrupt
report_stalls gateway3

## 3. a full disk
if [ "$(id -u)" != 0 ]; then
	skip "disk full: the alerts are held and delivered" "needs root to mount a small tmpfs"
	done_testing
fi
SMALL=$TEST_TMP/small
mkdir -p "$SMALL"
if ! mount -t tmpfs -o size=4m,mode=0700 tmpfs "$SMALL" 2>/dev/null; then
	skip "disk full: the alerts are held and delivered" "mount of a tmpfs refused"
	done_testing
fi
trap '_rc=$?; umount -l "$SMALL" 2>/dev/null; (exit $_rc); _cleanup' EXIT
GW_DB=$SMALL/gateway.db
GW_KEY=$SMALL/gateway.key
setup_gateway gateway2 full || bail_out "second gateway did not start"
# the WAL is cut to nothing so that the next commit must grow it; then fill
sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
dd if=/dev/zero of="$SMALL/fill" bs=4k >/dev/null 2>&1
run_attack gateway2 full
is "$(_smtp_count "full ")" 2 "full: nothing of the held alerts went out while the disk was full"
rm -f "$SMALL/fill"
check_outcome gateway2 full
report_stalls gateway2

## 5. a read-only database: the daemon and the commands refuse, saying why
umount -l "$SMALL" 2>/dev/null
mkdir -p "$TEST_TMP/rw" "$TEST_TMP/ro"
sqlite3 "$TEST_TMP/gateway3.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cp "$TEST_TMP/gateway3.db" "$TEST_TMP/gateway3.key" "$TEST_TMP/rw/"
_remount_ro() {
	mount -o remount,bind,ro "$TEST_TMP/ro" 2>/dev/null
}
if mount --bind "$TEST_TMP/rw" "$TEST_TMP/ro" 2>/dev/null; then
	trap '_rc=$?; umount -l "$TEST_TMP/ro" 2>/dev/null; (exit $_rc); _cleanup' EXIT
	GW_DB=$TEST_TMP/ro/gateway3.db
	GW_KEY=$TEST_TMP/ro/gateway3.key
	gw_config
	# while the daemon runs it holds the file open for writing, so its file
	# system cannot be made read-only under it (docs/gateway.md)
	if gw_start gateway5; then
		nok "read-only: no remount read-only while the daemon runs" _remount_ro
	else
		fail "read-only: the gateway on the bind mount did not start"
	fi
	stop_bg gateway5
	sqlite3 "$TEST_TMP/rw/gateway3.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
fi
if mountpoint -q "$TEST_TMP/ro" && _remount_ro; then
	before=$(sha256sum "$GW_DB")
	rc=0
	gw group add late --channels email >/dev/null 2>"$TEST_TMP/ro.err" || rc=$?
	is "$rc" 74 "read-only: a command exits 74"
	ok "read-only: and says why" grep -q "cannot open db .*unable to open database file" "$TEST_TMP/ro.err"
	rc=0
	timeout 20 "$GATEWAY_BIN" -c "$GW_CONF" run >"$TEST_TMP/ro.out" 2>&1 || rc=$?
	is "$rc" 74 "read-only: the daemon does not start (exit 74)"
	ok "read-only: and says why" grep -q "cannot open db .*unable to open database file" "$TEST_TMP/ro.out"
	is "$(sha256sum "$GW_DB")" "$before" "read-only: the file is unchanged"
else
	skip "read-only database" "bind mount refused"
fi

done_testing
