/* SPDX-License-Identifier: BSD-3-Clause */
/* test-db.c - mqs_db_open / mqs_db_migrate (mqs_db.h): versioned
 * migrations, pragmas, file mode, refusals. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqs_db.h"
#include "mqs_error.h"

#include "tap.h"

static char tmpdir[256];

static const char *const mig[] = {
    "CREATE TABLE a (x INTEGER);",
    "CREATE TABLE b (y TEXT); INSERT INTO a VALUES (1);",
    "CREATE TABLE c (z BLOB);",
};

static void make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/mqs-test-db-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
}

/* Return the integer result of a one-value query, or -999 on error. */
static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -999;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int table_exists(sqlite3 *db, const char *name)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", name);
	return query_int(db, sql) == 1;
}

/* user_version of path read with plain sqlite3, or -1. */
static long long file_user_version(const char *path)
{
	sqlite3 *db = NULL;
	long long v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
		v = query_int(db, "PRAGMA user_version");
	sqlite3_close_v2(db);
	return v;
}

static void test_open_migrate(void)
{
	char path[512], err[256];
	sqlite3 *db = (sqlite3 *)1;
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/t.db", tmpdir);

	/* missing file without CREATE */
	err[0] = '\0';
	rc = mqs_db_open(path, 0, mig, 2, &db, err, sizeof(err));
	tap_is_int(rc, MQS_ERR_NOENT, "missing file without MQS_DB_CREATE is MQS_ERR_NOENT");
	tap_ok(db == NULL, "db is NULL on failure");
	tap_ok(access(path, F_OK) != 0, "the file was not created");
	tap_ok(err[0] != '\0', "an error message is written (%s)", err);
	db = (sqlite3 *)1;
	rc = mqs_db_open(path, MQS_DB_READONLY, mig, 2, &db, NULL, 0);
	tap_ok(rc == MQS_ERR_NOENT && db == NULL, "missing file read-only is MQS_ERR_NOENT");

	/* create: migrations 0 and 1 */
	rc = mqs_db_open(path, MQS_DB_CREATE, mig, 2, &db, err, sizeof(err));
	tap_is_int(rc, MQS_OK, "create with 2 migrations");
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600,
	       "created db file mode is 0600 (%o)", (unsigned)(st.st_mode & 07777));
	tap_is_int(query_int(db, "PRAGMA user_version"), 2, "user_version is 2");
	tap_ok(table_exists(db, "a") && table_exists(db, "b") && !table_exists(db, "c"),
	       "tables of migrations 1 and 2 exist, not 3");
	tap_is_int(query_int(db, "SELECT count(*) FROM a"), 1, "migration 2 ran once");
	{
		sqlite3_stmt *s = NULL;
		const char *mode = NULL;
		if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK &&
		    sqlite3_step(s) == SQLITE_ROW)
			mode = (const char *)sqlite3_column_text(s, 0);
		tap_ok(mode != NULL && strcmp(mode, "wal") == 0, "journal_mode is wal (%s)",
		       mode ? mode : "?");
		sqlite3_finalize(s);
	}
	tap_is_int(query_int(db, "PRAGMA foreign_keys"), 1, "foreign_keys is on");
	tap_is_int(query_int(db, "PRAGMA busy_timeout"), 5000, "busy_timeout is 5000 ms");
	sqlite3_close_v2(db);

	/* reopen: no-op */
	rc = mqs_db_open(path, MQS_DB_CREATE, mig, 2, &db, err, sizeof(err));
	tap_is_int(rc, MQS_OK, "reopen with the same migrations");
	tap_ok(query_int(db, "PRAGMA user_version") == 2 &&
	           query_int(db, "SELECT count(*) FROM a") == 1,
	       "reopening runs nothing again");
	rc = mqs_db_migrate(db, mig, 2);
	tap_ok(rc == MQS_OK && query_int(db, "SELECT count(*) FROM a") == 1,
	       "mqs_db_migrate at the newest version is a no-op");
	sqlite3_close_v2(db);

	/* one more migration */
	rc = mqs_db_open(path, 0, mig, 3, &db, err, sizeof(err));
	tap_is_int(rc, MQS_OK, "reopen with 3 migrations (no CREATE, file exists)");
	tap_ok(query_int(db, "PRAGMA user_version") == 3 && table_exists(db, "c") &&
	           query_int(db, "SELECT count(*) FROM a") == 1,
	       "only the new migration ran, user_version 3");
	sqlite3_close_v2(db);

	/* newer than known */
	db = (sqlite3 *)1;
	err[0] = '\0';
	rc = mqs_db_open(path, 0, mig, 2, &db, err, sizeof(err));
	tap_is_int(rc, MQS_ERR_DB_VERSION,
	           "user_version 3 with 2 known migrations is "
	           "MQS_ERR_DB_VERSION");
	tap_ok(db == NULL && err[0] != '\0', "db NULL and a message (%s)", err);
	tap_is_int(file_user_version(path), 3, "the newer database is left untouched");
	rc = mqs_db_open(path, 0, mig, 3, &db, NULL, 0);
	tap_ok(rc == MQS_OK, "still opens with 3 migrations");
	tap_is_int(mqs_db_migrate(db, mig, 1), MQS_ERR_DB_VERSION,
	           "mqs_db_migrate with fewer migrations is MQS_ERR_DB_VERSION");
	tap_is_int(query_int(db, "PRAGMA user_version"), 3, "user_version still 3");
	sqlite3_close_v2(db);

	/* read-only: no migration */
	{
		char p2[512];
		snprintf(p2, sizeof(p2), "%s/ro.db", tmpdir);
		rc = mqs_db_open(p2, MQS_DB_CREATE, mig, 1, &db, NULL, 0);
		sqlite3_close_v2(db);
		rc = mqs_db_open(p2, MQS_DB_READONLY, mig, 3, &db, err, sizeof(err));
		tap_is_int(rc, MQS_OK, "read-only open of an older database");
		tap_ok(query_int(db, "PRAGMA user_version") == 1 && !table_exists(db, "b"),
		       "read-only open runs no migration");
		tap_ok(sqlite3_exec(db, "INSERT INTO a VALUES (2)", NULL, NULL, NULL) != SQLITE_OK,
		       "read-only connection refuses writes");
		sqlite3_close_v2(db);
	}
}

static void test_failing_migration(void)
{
	static const char *const bad[] = {
	    "CREATE TABLE a (x INTEGER);",
	    "CREATE TABLE d (z INTEGER); INSERT INTO d VALUES (1); CREATE TABLE a (x);",
	};
	char path[512], err[256];
	sqlite3 *db = (sqlite3 *)1;
	int rc;

	snprintf(path, sizeof(path), "%s/bad.db", tmpdir);
	err[0] = '\0';
	rc = mqs_db_open(path, MQS_DB_CREATE, bad, 2, &db, err, sizeof(err));
	tap_is_int(rc, MQS_ERR_DB, "a failing migration is MQS_ERR_DB");
	tap_ok(db == NULL && err[0] != '\0', "db NULL and a message (%s)", err);
	tap_ok(strstr(err, "not an error") == NULL,
	       "the message names the SQLite error, not the rollback's status");
	tap_is_int(file_user_version(path), 1, "user_version stays at the last good migration");
	{
		sqlite3 *raw = NULL;
		sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL);
		tap_ok(raw != NULL && table_exists(raw, "a") && !table_exists(raw, "d"),
		       "the failing migration was rolled back as a whole");
		sqlite3_close_v2(raw);
	}
}

static void test_not_a_db(void)
{
	char path[512];
	sqlite3 *db = (sqlite3 *)1;
	FILE *fp;
	int rc;

	snprintf(path, sizeof(path), "%s/garbage.db", tmpdir);
	fp = fopen(path, "w");
	if (fp == NULL)
		exit(99);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database file at all ", fp);
	fclose(fp);
	rc = mqs_db_open(path, MQS_DB_CREATE, mig, 2, &db, NULL, 0);
	tap_ok(rc == MQS_ERR_DB && db == NULL, "a non-database file is MQS_ERR_DB (got %d)", rc);
}

static void test_broker_schema(void)
{
	char path[512];
	sqlite3 *db = NULL;
	const char *tables[] = {"keys",          "devices",          "list_entries",     "groups",
	                        "group_members", "acl_rules",        "protected_topics", "audit",
	                        "clientids",     "clientid_releases"};
	int rc, all = 1;

	snprintf(path, sizeof(path), "%s/broker.db", tmpdir);
	tap_ok(mqs_broker_schema_count >= 1, "broker schema has migrations");
	rc = mqs_db_open(path, MQS_DB_CREATE, mqs_broker_schema, mqs_broker_schema_count, &db, NULL,
	                 0);
	tap_is_int(rc, MQS_OK, "broker schema applies to a new database");
	tap_is_int(query_int(db, "PRAGMA user_version"), mqs_broker_schema_count,
	           "user_version equals the broker schema count");
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		if (!table_exists(db, tables[i])) {
			tap_diag("missing table %s", tables[i]);
			all = 0;
		}
	}
	tap_ok(all, "broker schema tables exist");
	sqlite3_close_v2(db);
	rc = mqs_db_open(path, 0, mqs_broker_schema, mqs_broker_schema_count, &db, NULL, 0);
	tap_is_int(rc, MQS_OK, "broker database reopens");
	sqlite3_close_v2(db);
}

/* Migration 2 gives the devices of a version 1 database a generation. */
static void test_broker_generation(void)
{
	char path[512];
	sqlite3 *db = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/broker-v1.db", tmpdir);
	rc = mqs_db_open(path, MQS_DB_CREATE, mqs_broker_schema, 1, &db, NULL, 0);
	tap_is_int(rc, MQS_OK, "broker schema version 1 applies");
	rc = sqlite3_exec(db,
	                  "INSERT INTO devices (name, totp_wrapped, created_at) VALUES "
	                  "('a', x'00', 0), ('b', x'00', 0)",
	                  NULL, NULL, NULL);
	tap_is_int(rc, SQLITE_OK, "version 1 devices inserted");
	sqlite3_close_v2(db);
	db = NULL;
	rc = mqs_db_open(path, 0, mqs_broker_schema, mqs_broker_schema_count, &db, NULL, 0);
	tap_is_int(rc, MQS_OK, "version 1 database migrates to the newest version");
	tap_is_int(query_int(db, "SELECT count(*) FROM devices WHERE generation > 0"), 2,
	           "existing devices get a positive generation");
	tap_is_int(query_int(db, "SELECT count(DISTINCT generation) FROM devices"), 2,
	           "generations differ");
	sqlite3_close_v2(db);
}

int main(void)
{
	char cmd[600];

	make_tmpdir();
	test_open_migrate();
	test_failing_migration();
	test_not_a_db();
	test_broker_schema();
	test_broker_generation();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", tmpdir);
	tap_done();
	return tap_exit();
}
