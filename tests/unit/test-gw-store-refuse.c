/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-store-refuse.c - the daemon's connection never waits on another
 * process's lock, and the writes the database refuses for a reason that may
 * pass (lock, full disk) are counted, other errors are not (docs/gateway.md,
 * delivery guarantees). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gw_log.h"
#include "gw_store.h"
#include "gw_util.h"
#include "tap.h"

static char dir[] = "/tmp/test-gw-store-refuse.XXXXXX";
static char db_path[256], key_path[256];

static void test_lock(struct gw_store *s)
{
	sqlite3 *other = NULL;
	unsigned long before;
	uint64_t t0, took;
	int64_t v = 0;

	tap_ok(sqlite3_open_v2(db_path, &other, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	           sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK,
	       "another connection holds the write lock");
	before = gw_store_refusals(s);
	t0 = gw_mono_ms();
	tap_ok(gw_store_begin(s) != 0, "begin refused while the lock is held");
	took = gw_mono_ms() - t0;
	/* the admin busy timeout is 5 s; this only tells "waited" from "did not" */
	tap_ok(took < 1000, "without waiting for the lock (%llu ms)", (unsigned long long)took);
	tap_ok(gw_store_refusals(s) > before, "counted as a refusal");
	before = gw_store_refusals(s);
	tap_ok(gw_store_kv_set_int(s, "x", 1) != 0, "an autocommit write is refused too");
	tap_ok(gw_store_refusals(s) > before, "and counted");
	tap_ok(gw_store_kv_get_int(s, "missing", &v) != 0, "reads still work (nothing there)");
	sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(other);
	before = gw_store_refusals(s);
	tap_ok(gw_store_begin(s) == 0 && gw_store_kv_set_int(s, "x", 2) == 0 &&
	           gw_store_commit(s) == 0,
	       "the lock released: the write goes through");
	tap_ok(gw_store_kv_get_int(s, "x", &v) == 0 && v == 2, "and was stored");
	tap_is_int((long long)(gw_store_refusals(s) - before), 0, "no refusal counted");
}

static void test_errors(struct gw_store *s)
{
	static const char big[] = "INSERT INTO kv(key, value) VALUES ('big', zeroblob(400000))";
	sqlite3_stmt *st;
	unsigned long before;
	char pragma[80];
	long long pages = 0;

	/* a full disk, simulated: no page may be added */
	st = gw_store_prepare(s, "PRAGMA page_count");
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		pages = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	snprintf(pragma, sizeof(pragma), "PRAGMA max_page_count = %lld", pages);
	gw_store_exec(s, pragma);
	before = gw_store_refusals(s);
	tap_ok(gw_store_begin(s) == 0 && gw_store_exec(s, big) != 0, "full: statement fails");
	gw_store_rollback(s);
	tap_ok(gw_store_refusals(s) > before, "full (exec): counted as a refusal");
	before = gw_store_refusals(s);
	tap_ok(gw_store_begin(s) == 0, "begin");
	st = gw_store_stmt(s, big);
	tap_ok(st != NULL && sqlite3_step(st) == SQLITE_FULL, "full: step fails with SQLITE_FULL");
	gw_store_done(st);
	gw_store_rollback(s);
	tap_ok(gw_store_refusals(s) > before, "full (step, then rollback): counted as a refusal");
	gw_store_exec(s, "PRAGMA max_page_count = 1073741823");

	/* a permanent error is not worth a retry */
	before = gw_store_refusals(s);
	tap_ok(gw_store_begin(s) == 0, "begin");
	st = gw_store_stmt(s, "INSERT INTO kv(key, value) VALUES ('x', 3)");
	tap_ok(st != NULL && (sqlite3_step(st) & 0xff) == SQLITE_CONSTRAINT, "duplicate key fails");
	gw_store_done(st);
	gw_store_rollback(s);
	tap_is_int((long long)(gw_store_refusals(s) - before), 0,
	           "a constraint error is not a refusal");
}

int main(void)
{
	struct gw_store s;
	char err[512], cmd[300];

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db_path, sizeof(db_path), "%s/gw.db", dir);
	snprintf(key_path, sizeof(key_path), "%s/gw.key", dir);
	gw_log_set_level(-1); /* the refusals are logged as errors: keep TAP clean */
	if (gw_store_open(&s, db_path, key_path, 0, err, sizeof(err)) != 0) {
		tap_diag("%s", err);
		return tap_exit() | 1;
	}
	gw_store_nowait(&s);
	test_lock(&s);
	test_errors(&s);
	gw_store_close(&s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_exit();
}
