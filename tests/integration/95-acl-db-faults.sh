#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# 95-acl-db-faults.sh - mqttsec-acl on a database that fails (issue 17,
# fault injection; docs/acl.md, "Exit status"): every change fails with one
# clear line on stderr, the right exit code, and changes nothing:
#   1. another process holds the write lock (BEGIN IMMEDIATE) while the
#      test runs commands, and at least LOCK_SECONDS (default 0;
#      LOCK_SECONDS=30 for the issue's 30 s): exit 75 after the 5 s busy
#      timeout, and the change goes through once the lock is gone;
#   2. a read-only database (a read-only bind mount of its folder as root,
#      chmod otherwise): exit 69 (it cannot be opened for writing);
#   3. a full disk (a small tmpfs, filled; needs root): exit 69 (WAL's
#      shared-memory file cannot be made) or 74, then the same import
#      succeeds once there is room;
#   4. a corrupted database: a table page overwritten (exit 74, "malformed")
#      and a file that is not a database (exit 69).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/acl-lib.sh"

LOCK_SECONDS=${LOCK_SECONDS:-0}
MOUNTS=()
trap '_rc=$?; for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done; (exit $_rc); _cleanup' EXIT

# state DB: what "nothing changed" compares (the rows, or the bytes when
# the file cannot be read as a database)
state() {
	sqlite3 "$1" .dump 2>/dev/null || true
	sha256sum "$1" | cut -d' ' -f1
}

# refused DESC DB WANT_RC PATTERN ARGS...: mqttsec-acl -d DB ARGS fails with
# an exit code in WANT_RC ("69|74"), one stderr line matching PATTERN, and
# DB is unchanged.
refused() {
	local desc=$1 db=$2 want=$3 pat=$4 before rc=0
	shift 4
	before=$(state "$db")
	"$ACL_BIN" -d "$db" -k "$KEY" "$@" >/dev/null 2>"$TEST_TMP/err" || rc=$?
	if ! [[ "$rc" =~ ^($want)$ ]]; then
		fail "$desc" "exit $rc, want $want" "$(cat "$TEST_TMP/err")"
	elif [ "$(wc -l <"$TEST_TMP/err")" -ne 1 ] || ! grep -q -- "$pat" "$TEST_TMP/err"; then
		fail "$desc" "want one line matching '$pat' on stderr, got:" "$(cat "$TEST_TMP/err")"
	elif [ "$(state "$db")" != "$before" ]; then
		fail "$desc" "the database changed"
	else
		pass "$desc"
		diag "  $(cat "$TEST_TMP/err")"
	fi
}

ok "init" sh -c "'$ACL_BIN' -d '$DB' -k '$KEY' init >/dev/null"
acl device add dev1 >/dev/null 2>&1 || bail_out "device add"
acl acl add allow pub dev1 'a/#' >/dev/null || bail_out "acl add"
printf 'group g\nmember g dev1\n' >"$TEST_TMP/small.txt"
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "acl allow pub @g big/%d/#\n", i }' >>"$TEST_TMP/small.txt"
q "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null

## 1. the write lock held by another process
start_bg locker python3 -c '
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
t0 = time.monotonic()
# at least LOCK_SECONDS, and until the test is done with the lock (bounded)
while time.monotonic() - t0 < 300 and (time.monotonic() - t0 < float(sys.argv[2])
                                       or not os.path.exists(sys.argv[3])):
    time.sleep(0.05)
c.execute("ROLLBACK")
print("released", flush=True)' "$DB" "$LOCK_SECONDS" "$TEST_TMP/release"
wait_for 10 grep -q locked "$TEST_TMP/locker.log" || bail_out "the locker did not take the lock"
refused "lock held: acl add exits 75 (busy), nothing changed" "$DB" 75 "database is locked" \
	acl add allow pub dev1 'b/#'
refused "lock held: import exits 75, nothing changed" "$DB" 75 "database is locked" \
	import "$TEST_TMP/small.txt"
ok "lock held: reading still works (list show)" acl list show
touch "$TEST_TMP/release"
wait_for $((LOCK_SECONDS + 30)) grep -q released "$TEST_TMP/locker.log"
ok "lock released: the same change goes through" acl acl add allow pub dev1 'b/#'

## 2. a read-only database
q "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
RW=$TEST_TMP/rw
RO=$TEST_TMP/ro
mkdir -p "$RW" "$RO"
cp "$DB" "$RW/db.sqlite"
if [ "$(id -u)" = 0 ]; then
	if mount --bind "$RW" "$RO" 2>/dev/null; then
		MOUNTS+=("$RO")
		mount -o remount,bind,ro "$RO" 2>/dev/null || bail_out "cannot remount read-only"
	else
		skip "read-only database" "bind mount refused"
		RO=
	fi
else
	chmod 0444 "$RW/db.sqlite"
	chmod 0555 "$RW"
	RO=$RW
fi
if [ -n "$RO" ]; then
	refused "read-only: acl add exits 69, nothing changed" "$RO/db.sqlite" 69 "readonly\|unable to open\|read-only" \
		acl add allow pub dev1 'c/#'
	refused "read-only: import exits 69, nothing changed" "$RO/db.sqlite" 69 "readonly\|unable to open\|read-only" \
		import "$TEST_TMP/small.txt"
	[ "$(id -u)" = 0 ] || chmod 0755 "$RW"
fi

## 3. a full disk
SMALL=$TEST_TMP/small
mkdir -p "$SMALL"
if [ "$(id -u)" != 0 ]; then
	skip "full disk" "needs root to mount a small tmpfs"
elif ! mount -t tmpfs -o size=2m,mode=0700 tmpfs "$SMALL" 2>/dev/null; then
	skip "full disk" "mount of a tmpfs refused"
else
	MOUNTS+=("$SMALL")
	cp "$DB" "$SMALL/db.sqlite"
	dd if=/dev/zero of="$SMALL/fill" bs=4k >/dev/null 2>&1
	refused "full disk: import exits 69 or 74, nothing changed" "$SMALL/db.sqlite" "69|74" "disk is full\|I/O error" \
		import "$TEST_TMP/small.txt"
	refused "full disk: acl add exits 69 or 74, nothing changed" "$SMALL/db.sqlite" "69|74" \
		"disk is full\|I/O error" acl add allow pub dev1 'e/#'
	rm -f "$SMALL/fill"
	ok "room again: the same import goes through" \
		"$ACL_BIN" -d "$SMALL/db.sqlite" -k "$KEY" import "$TEST_TMP/small.txt"
	is "$(sqlite3 "$SMALL/db.sqlite" "SELECT count(*) FROM acl_rules WHERE subject = '@g'")" 3000 \
		"all 3,000 rules are there"
fi

## 4. a corrupted database
C=$TEST_TMP/corrupt.db
cp "$DB" "$C"
sqlite3 "$C" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
page=$(sqlite3 "$C" "PRAGMA page_size")
root=$(sqlite3 "$C" "SELECT rootpage FROM sqlite_master WHERE name = 'acl_rules'")
head -c "$page" /dev/urandom | dd of="$C" bs="$page" seek=$((root - 1)) conv=notrunc 2>/dev/null
refused "a corrupted table: acl add exits 74, nothing changed" "$C" 74 "malformed" \
	acl add allow pub dev1 'd/#'
refused "a corrupted table: import exits 74, nothing changed" "$C" 74 "malformed" \
	import "$TEST_TMP/small.txt"
head -c 4096 /dev/urandom >"$TEST_TMP/notadb.db"
refused "not a database: acl add exits 69, nothing changed" "$TEST_TMP/notadb.db" 69 "not a database" \
	acl add allow pub dev1 'd/#'

done_testing
