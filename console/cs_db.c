/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_db.c - the console database (docs/console.md "Files"): users,
 * sessions, audit, failures and bans.  Never the broker database. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cs_int.h"
#include "mqs_alloc.h"
#include "mqs_db.h"
#include "mqs_util.h"

static const char *const cs_schema[] = {
    /* 1 */
    "CREATE TABLE users ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL CHECK (role IN ('admin','operator','reviewer')),"
    " level TEXT NOT NULL DEFAULT '',"
    " enabled INTEGER NOT NULL DEFAULT 1,"
    " pw_hash TEXT NOT NULL,"
    " totp_wrapped BLOB NOT NULL,"
    " totp_last_step INTEGER NOT NULL DEFAULT -1,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE sessions ("
    " id_hash BLOB PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created_at INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " csrf TEXT NOT NULL,"
    " flash TEXT NOT NULL DEFAULT '',"
    " flash_ok INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY,"
    " at INTEGER NOT NULL,"
    " who TEXT NOT NULL,"
    " addr TEXT NOT NULL,"
    " method TEXT NOT NULL,"
    " path TEXT NOT NULL,"
    " what TEXT NOT NULL,"
    " ok INTEGER NOT NULL);"
    "CREATE TABLE failures ("
    " kind TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " at INTEGER NOT NULL);"
    "CREATE INDEX failures_key ON failures(kind, key, at);"
    "CREATE TABLE bans ("
    " kind TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " until INTEGER NOT NULL,"
    " count INTEGER NOT NULL DEFAULT 1,"
    " PRIMARY KEY (kind, key));",
    /* 2: step-up (docs/console.md "Step-up"): the last time the session's
     * user entered password and code (sign-in or step-up) */
    "ALTER TABLE sessions ADD COLUMN stepup_at INTEGER NOT NULL DEFAULT 0;",
};

/* Open the console database. */
int cs_db_open(const char *path, sqlite3 **db, char *err, size_t errlen)
{
	return mqs_db_open(path, MQS_DB_CREATE, cs_schema,
	                   (int)(sizeof(cs_schema) / sizeof(cs_schema[0])), db, err, errlen);
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK ? MQS_OK : MQS_ERR_DB;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? (const char *)src : "");
}

static int user_row(sqlite3_stmt *st, struct cs_user *u)
{
	const void *w;
	int n;

	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(st, 0);
	copy_text(u->name, sizeof(u->name), sqlite3_column_text(st, 1));
	u->role = cs_role_parse((const char *)sqlite3_column_text(st, 2));
	copy_text(u->level, sizeof(u->level), sqlite3_column_text(st, 3));
	u->enabled = sqlite3_column_int(st, 4);
	copy_text(u->pw_hash, sizeof(u->pw_hash), sqlite3_column_text(st, 5));
	w = sqlite3_column_blob(st, 6);
	n = sqlite3_column_bytes(st, 6);
	if (w != NULL && n > 0) {
		u->totp_wrapped = mqs_malloc((size_t)n);
		if (u->totp_wrapped == NULL)
			return MQS_ERR_NOMEM;
		memcpy(u->totp_wrapped, w, (size_t)n);
		u->totp_wrapped_len = (size_t)n;
	}
	u->totp_last_step = sqlite3_column_int64(st, 7);
	u->created_at = sqlite3_column_int64(st, 8);
	return MQS_OK;
}

#define USER_COLS                                                                                  \
	"SELECT id, name, role, level, enabled, pw_hash, totp_wrapped, totp_last_step, "           \
	"created_at FROM users "

static int user_get(sqlite3 *db, const char *sql, const char *name, long long id, struct cs_user *u)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	memset(u, 0, sizeof(*u));
	rc = prep(db, sql, &st);
	if (rc != MQS_OK)
		goto out;
	if (name != NULL)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = user_row(st, u);
	else
		rc = step == SQLITE_DONE ? MQS_ERR_NOENT : MQS_ERR_DB;
out:
	sqlite3_finalize(st);
	return rc;
}

/* A user by name. */
int cs_db_user_get(sqlite3 *db, const char *name, struct cs_user *u)
{
	return user_get(db, USER_COLS "WHERE name = ?1", name, 0, u);
}

/* A user by id. */
int cs_db_user_get_id(sqlite3 *db, long long id, struct cs_user *u)
{
	return user_get(db, USER_COLS "WHERE id = ?1", NULL, id, u);
}

/* Wipe a user's secrets. */
void cs_user_release(struct cs_user *u)
{
	if (u == NULL)
		return;
	mqs_secret_free(u->totp_wrapped, u->totp_wrapped_len);
	u->totp_wrapped = NULL;
	u->totp_wrapped_len = 0;
	OPENSSL_cleanse(u->pw_hash, sizeof(u->pw_hash));
}

static int exec_done(sqlite3_stmt *st)
{
	int step = sqlite3_step(st);

	if ((step & 0xff) == SQLITE_CONSTRAINT)
		return MQS_ERR_EXISTS;
	return step == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
}

/* Insert a user. */
int cs_db_user_add(sqlite3 *db, struct cs_user *u, long long now)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prep(db,
	          "INSERT INTO users (name, role, level, enabled, pw_hash, totp_wrapped, "
	          "totp_last_step, created_at) VALUES (?1, ?2, ?3, 1, ?4, ?5, -1, ?6)",
	          &st);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, u->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cs_role_name(u->role), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, u->level, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, u->pw_hash, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, u->totp_wrapped, (int)u->totp_wrapped_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	rc = exec_done(st);
	if (rc == MQS_OK) {
		u->id = sqlite3_last_insert_rowid(db);
		u->created_at = now;
		u->enabled = 1;
		u->totp_last_step = -1;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

static int update_one(sqlite3 *db, const char *sql, const char *name, const void *blob, size_t blen,
                      const char *text, long long num)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prep(db, sql, &st);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (blob != NULL)
		sqlite3_bind_blob(st, 2, blob, (int)blen, SQLITE_STATIC);
	else if (text != NULL)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, num);
	rc = exec_done(st);
	if (rc == MQS_OK && sqlite3_changes(db) == 0)
		rc = MQS_ERR_NOENT;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Enable or disable. */
int cs_db_user_set_enabled(sqlite3 *db, const char *name, int enabled)
{
	return update_one(db, "UPDATE users SET enabled = ?2 WHERE name = ?1", name, NULL, 0, NULL,
	                  enabled ? 1 : 0);
}

/* Set the password hash. */
int cs_db_user_set_password(sqlite3 *db, const char *name, const char *hash)
{
	return update_one(db, "UPDATE users SET pw_hash = ?2 WHERE name = ?1", name, NULL, 0, hash,
	                  0);
}

/* Set the sealed TOTP secret; the last step starts over. */
int cs_db_user_set_totp(sqlite3 *db, const char *name, const uint8_t *w, size_t wlen)
{
	return update_one(db,
	                  "UPDATE users SET totp_wrapped = ?2, totp_last_step = -1 WHERE name = ?1",
	                  name, w, wlen, NULL, 0);
}

/* Record the step of an accepted code, only forward. */
int cs_db_user_use_step(sqlite3 *db, long long id, long long step)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prep(db, "UPDATE users SET totp_last_step = ?2 WHERE id = ?1 AND totp_last_step < ?2",
	          &st);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, step);
	rc = exec_done(st);
	if (rc == MQS_OK && sqlite3_changes(db) == 0)
		rc = MQS_ERR_TOTP_REPLAY;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Remove a user (sessions go with it: ON DELETE CASCADE). */
int cs_db_user_rm(sqlite3 *db, const char *name)
{
	return update_one(db, "DELETE FROM users WHERE name = ?1 AND ?2 = 0", name, NULL, 0, NULL,
	                  0);
}

/* Every user by name. */
int cs_db_user_each(sqlite3 *db, int (*fn)(const struct cs_user *u, void *arg), void *arg)
{
	sqlite3_stmt *st = NULL;
	struct cs_user u;
	int rc, step;

	rc = prep(db, USER_COLS "ORDER BY name", &st);
	if (rc != MQS_OK)
		goto out;
	for (;;) {
		step = sqlite3_step(st);
		if (step != SQLITE_ROW)
			break;
		rc = user_row(st, &u);
		if (rc == MQS_OK)
			rc = fn(&u, arg);
		cs_user_release(&u);
		if (rc != MQS_OK)
			goto out;
	}
	rc = step == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Count users. */
long long cs_db_user_count(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (prep(db, "SELECT count(*) FROM users", &st) == MQS_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* One audit row. */
void cs_db_audit(sqlite3 *db, long long now, const char *who, const char *addr, const char *method,
                 const char *path, const char *what, int ok)
{
	sqlite3_stmt *st = NULL;

	if (prep(db,
	         "INSERT INTO audit (at, who, addr, method, path, what, ok) "
	         "VALUES (?1, ?2, ?3, ?4, ?5, substr(?6, 1, 200), ?7)",
	         &st) != MQS_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, who != NULL ? who : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, addr != NULL ? addr : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, method != NULL ? method : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, path != NULL ? path : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, what != NULL ? what : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, ok ? 1 : 0);
	(void)sqlite3_step(st);
out:
	sqlite3_finalize(st);
}

/* The end of an active ban, or 0. */
long long cs_db_banned(sqlite3 *db, const char *kind, const char *key, long long now)
{
	sqlite3_stmt *st = NULL;
	long long until = 0;

	if (prep(db, "SELECT until FROM bans WHERE kind = ?1 AND key = ?2 AND until > ?3", &st) !=
	    MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if (sqlite3_step(st) == SQLITE_ROW)
		until = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return until;
}

static void exec_sql(sqlite3 *db, const char *sql, const char *kind, const char *key, long long num)
{
	sqlite3_stmt *st = NULL;

	if (prep(db, sql, &st) != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, num);
	(void)sqlite3_step(st);
out:
	sqlite3_finalize(st);
}

/* Record a failure, ban on the max-th within window. */
int cs_db_fail(sqlite3 *db, const char *kind, const char *key, long long now, unsigned max,
               long long window, long long ban_base)
{
	sqlite3_stmt *st = NULL;
	long long n = 0, count = 0, dur;
	int banned = 0;

	exec_sql(db, "DELETE FROM failures WHERE kind = ?1 AND key = ?2 AND at <= ?3", kind, key,
	         now - window);
	exec_sql(db, "INSERT INTO failures (kind, key, at) VALUES (?1, ?2, ?3)", kind, key, now);
	if (prep(db, "SELECT count(*) FROM failures WHERE kind = ?1 AND key = ?2", &st) != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (max == 0 || n < (long long)max)
		goto out;
	if (prep(db, "SELECT count FROM bans WHERE kind = ?1 AND key = ?2", &st) != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		count = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	dur = ban_base;
	for (long long i = 0; i < count && dur < 86400; i++)
		dur *= 2;
	if (dur > 86400)
		dur = 86400;
	exec_sql(db,
	         "INSERT INTO bans (kind, key, until, count) VALUES (?1, ?2, ?3, 1) "
	         "ON CONFLICT (kind, key) DO UPDATE SET until = ?3, count = count + 1",
	         kind, key, now + dur);
	exec_sql(db, "DELETE FROM failures WHERE kind = ?1 AND key = ?2 AND ?3 = 0", kind, key, 0);
	banned = 1;
out:
	sqlite3_finalize(st);
	return banned;
}

/* Forget the failures of key. */
void cs_db_fail_clear(sqlite3 *db, const char *kind, const char *key)
{
	exec_sql(db, "DELETE FROM failures WHERE kind = ?1 AND key = ?2 AND ?3 = 0", kind, key, 0);
}

/* The ban key of a client address. */
void cs_addr_ban_key(const char *addr, char *out, size_t cap)
{
	struct in6_addr a6;
	char txt[INET6_ADDRSTRLEN];

	if (cap == 0)
		return;
	snprintf(out, cap, "%s", addr != NULL ? addr : "?");
	if (addr == NULL || strchr(addr, ':') == NULL || inet_pton(AF_INET6, addr, &a6) != 1)
		return;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		if (inet_ntop(AF_INET, &a6.s6_addr[12], txt, sizeof(txt)) != NULL)
			snprintf(out, cap, "%s", txt);
		return;
	}
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return;
	memset(&a6.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &a6, txt, sizeof(txt)) != NULL)
		snprintf(out, cap, "%s/64", txt);
}
