/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_db.c - SQLite open with safe pragmas, and schema migrations. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqs_db.h"
#include "mqs_error.h"

/* errbuf gets "<what> db <path>: <why>". */
static void set_err(char *errbuf, size_t errlen, const char *what, const char *path,
                    const char *why)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s db %s: %s", what, path, why);
}

/* Read PRAGMA user_version into *version; MQS_OK or MQS_ERR_DB. */
static int user_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	*version = sqlite3_column_int(st, 0);
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Apply pending migrations; on SQLite failure copy its message into why
 * before the rollback resets it. */
static int migrate(sqlite3 *db, const char *const *migrations, int count, char *why, size_t whylen)
{
	int version = 0;
	int rc;

	rc = user_version(db, &version);
	if (rc != MQS_OK)
		return rc;
	if (version > count)
		return MQS_ERR_DB_VERSION;
	for (int i = version; i < count; i++) {
		char pragma[64];

		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			return MQS_ERR_DB;
		/* re-read under the write lock: another process may have migrated */
		rc = user_version(db, &version);
		if (rc != MQS_OK || version > i) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			if (rc != MQS_OK)
				return rc;
			i = version - 1;
			continue;
		}
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", i + 1);
		if (sqlite3_exec(db, migrations[i], NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			if (why != NULL && whylen > 0)
				snprintf(why, whylen, "migration %d: %s", i + 1,
				         sqlite3_errmsg(db));
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return MQS_ERR_DB;
		}
	}
	return MQS_OK;
}

/* Apply pending migrations, each in its own transaction. */
int mqs_db_migrate(sqlite3 *db, const char *const *migrations, int count)
{
	return migrate(db, migrations, count, NULL, 0);
}

/* Open a database with WAL, busy timeout and foreign keys; migrate it. */
int mqs_db_open(const char *path, int flags, const char *const *migrations, int count,
                sqlite3 **dbp, char *errbuf, size_t errlen)
{
	sqlite3 *db = NULL;
	int oflags = SQLITE_OPEN_NOMUTEX;
	int rc = MQS_ERR_DB;

	*dbp = NULL;
	if (path == NULL) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	if (access(path, F_OK) != 0) {
		if (!(flags & MQS_DB_CREATE) || (flags & MQS_DB_READONLY)) {
			set_err(errbuf, errlen, "cannot open", path, strerror(ENOENT));
			rc = MQS_ERR_NOENT;
			goto out;
		}
		/* create the file ourselves so it is 0600 from the first byte */
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
		if (fd < 0 && errno != EEXIST) {
			set_err(errbuf, errlen, "cannot create", path, strerror(errno));
			rc = MQS_ERR_IO;
			goto out;
		}
		if (fd >= 0)
			close(fd);
	}
	oflags |= (flags & MQS_DB_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if (sqlite3_open_v2(path, &db, oflags, NULL) != SQLITE_OK) {
		set_err(errbuf, errlen, "cannot open", path,
		        db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	if (!(flags & MQS_DB_READONLY) &&
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
		set_err(errbuf, errlen, "cannot open", path, sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", NULL, NULL,
	                 NULL) != SQLITE_OK) {
		set_err(errbuf, errlen, "cannot open", path, sqlite3_errmsg(db));
		goto out;
	}
	if (!(flags & MQS_DB_READONLY) && migrations != NULL) {
		char why[256] = "";

		rc = migrate(db, migrations, count, why, sizeof(why));
		if (rc == MQS_ERR_DB_VERSION) {
			set_err(errbuf, errlen, "cannot open", path, mqs_strerror(rc));
			goto out;
		}
		if (rc != MQS_OK) {
			set_err(errbuf, errlen, "cannot migrate", path,
			        why[0] ? why : sqlite3_errmsg(db));
			goto out;
		}
	} else if (migrations != NULL) {
		int version = 0;
		rc = user_version(db, &version);
		if (rc == MQS_OK && version > count)
			rc = MQS_ERR_DB_VERSION;
		if (rc != MQS_OK) {
			set_err(errbuf, errlen, "cannot open", path, mqs_strerror(rc));
			goto out;
		}
	}
	*dbp = db;
	db = NULL;
	rc = MQS_OK;
out:
	if (db != NULL)
		sqlite3_close_v2(db);
	return rc;
}
