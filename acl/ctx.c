/* ctx.c - mqttsec-acl shared state: database, master key, transactions,
 * audit rows and the OS user.
 *
 * Every change runs as BEGIN IMMEDIATE, the change, one audit row, COMMIT,
 * so the broker plugin (which polls PRAGMA data_version) never sees half a
 * change and every change is attributed.
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "acl.h"
#include "mqs_db.h"
#include "mqs_error.h"

/* Copy a user name when it is 1..ACL_WHO_MAX printable ASCII bytes
 * without spaces; return 1 on success. */
static int who_copy(char *dst, const char *src)
{
	size_t n;

	if (src == NULL)
		return 0;
	n = strlen(src);
	if (n == 0 || n > ACL_WHO_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (src[i] <= ' ' || src[i] >= 0x7f)
			return 0;
	}
	memcpy(dst, src, n + 1);
	return 1;
}

/* Initialise paths from the environment, the OS user and the clock. */
void acl_ctx_init(struct acl_ctx *ctx)
{
	const char *env;
	struct passwd *pw;

	memset(ctx, 0, sizeof(*ctx));
	env = getenv("MQTTSEC_DB");
	ctx->db_path = env != NULL && env[0] != '\0' ? env : ACL_DEFAULT_DB;
	env = getenv("MQTTSEC_MASTER_KEY_FILE");
	ctx->key_path = env != NULL && env[0] != '\0' ? env : ACL_DEFAULT_KEY;
	if (!who_copy(ctx->who, getenv("SUDO_USER"))) {
		pw = getpwuid(geteuid());
		if (pw == NULL || !who_copy(ctx->who, pw->pw_name))
			snprintf(ctx->who, sizeof(ctx->who), "uid:%lu", (unsigned long)geteuid());
	}
	ctx->now = time(NULL);
}

/* Close the database and wipe the master key. */
void acl_ctx_release(struct acl_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->db != NULL)
		sqlite3_close_v2(ctx->db);
	ctx->db = NULL;
	OPENSSL_cleanse(ctx->mk, sizeof(ctx->mk));
	ctx->have_mk = 0;
}

/* Open the database (it must exist). */
int acl_ctx_db(struct acl_ctx *ctx)
{
	char why[ACL_WHY_MAX] = "";
	int rc;
	int ex = EX_OK;

	if (ctx->db != NULL)
		goto out;
	rc = mqs_db_open(ctx->db_path, 0, mqs_broker_schema, mqs_broker_schema_count, &ctx->db, why,
	                 sizeof(why));
	if (rc == MQS_ERR_NOENT) {
		acl_err("cannot open db %s: no such file (run " ACL_PROG " init)", ctx->db_path);
		ex = EX_NOINPUT;
	} else if (rc != MQS_OK) {
		acl_err("%s", why[0] != '\0' ? why : mqs_strerror(rc));
		ex = rc == MQS_ERR_DB_VERSION ? EX_CONFIG : EX_UNAVAILABLE;
	}
out:
	return ex;
}

/* Load the master key. */
int acl_ctx_master_key(struct acl_ctx *ctx)
{
	int rc;
	int ex = EX_OK;

	if (ctx->have_mk)
		goto out;
	errno = 0;
	rc = mqs_master_key_load(ctx->key_path, ctx->mk);
	switch (rc) {
	case MQS_OK:
		ctx->have_mk = 1;
		break;
	case MQS_ERR_NOENT:
		acl_err("cannot read master key %s: no such file (run " ACL_PROG " init)",
		        ctx->key_path);
		ex = EX_NOINPUT;
		break;
	case MQS_ERR_PERM:
		acl_err("cannot use master key %s: readable by group or others (chmod 600 it)",
		        ctx->key_path);
		ex = EX_NOPERM;
		break;
	case MQS_ERR_PARSE:
		acl_err("cannot use master key %s: not 32 bytes of hex or raw key", ctx->key_path);
		ex = EX_CONFIG;
		break;
	default:
		acl_err("cannot read master key %s: %s", ctx->key_path,
		        errno != 0 ? strerror(errno) : mqs_strerror(rc));
		ex = errno == EACCES ? EX_NOPERM : EX_IOERR;
		break;
	}
out:
	return ex;
}

/* Format a reason and return ex. */
int acl_fail(char *why, int ex, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, ACL_WHY_MAX, fmt, ap);
	va_end(ap);
	return ex;
}

/* Describe the last SQLite error. */
int acl_db_fail(struct acl_ctx *ctx, char *why, const char *what)
{
	int code = ctx->db != NULL ? sqlite3_errcode(ctx->db) : SQLITE_ERROR;

	acl_fail(why, 0, "cannot %s: %s", what,
	         ctx->db != NULL ? sqlite3_errmsg(ctx->db) : "no database");
	return code == SQLITE_BUSY || code == SQLITE_LOCKED ? EX_TEMPFAIL : EX_SOFTWARE;
}

/* Prepare a statement. */
int acl_prepare(struct acl_ctx *ctx, const char *sql, sqlite3_stmt **st, char *why)
{
	*st = NULL;
	if (sqlite3_prepare_v2(ctx->db, sql, -1, st, NULL) != SQLITE_OK)
		return acl_db_fail(ctx, why, "query db");
	return EX_OK;
}

/* BEGIN IMMEDIATE: take the write lock up front. */
int acl_tx_begin(struct acl_ctx *ctx, char *why)
{
	if (sqlite3_exec(ctx->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return acl_db_fail(ctx, why, "start transaction");
	return EX_OK;
}

/* Roll back the open transaction, if any. */
void acl_tx_rollback(struct acl_ctx *ctx)
{
	if (ctx->db != NULL && !sqlite3_get_autocommit(ctx->db))
		sqlite3_exec(ctx->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Write the audit row and commit. */
int acl_tx_commit(struct acl_ctx *ctx, const char *action, const char *detail, char *why)
{
	sqlite3_stmt *st = NULL;
	int ex;

	ex = acl_prepare(ctx, "INSERT INTO audit (at, who, action, detail) VALUES (?1, ?2, ?3, ?4)",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	sqlite3_bind_text(st, 2, ctx->who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, detail != NULL ? detail : "", -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "write audit row");
		goto out;
	}
	if (sqlite3_exec(ctx->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		ex = acl_db_fail(ctx, why, "commit");
		goto out;
	}
	ex = EX_OK;
out:
	sqlite3_finalize(st);
	if (ex != EX_OK)
		acl_tx_rollback(ctx);
	return ex;
}

/* Return 1 when a row of sql (one text parameter) exists. */
static int row_exists(struct acl_ctx *ctx, const char *sql, const char *name)
{
	sqlite3_stmt *st = NULL;
	int found = -1;
	int rc;

	if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		found = 1;
	else if (rc == SQLITE_DONE)
		found = 0;
out:
	sqlite3_finalize(st);
	return found;
}

/* Does device name exist? */
int acl_device_exists(struct acl_ctx *ctx, const char *name)
{
	return row_exists(ctx, "SELECT 1 FROM devices WHERE name = ?1", name);
}

/* Does group name exist? */
int acl_group_exists(struct acl_ctx *ctx, const char *name)
{
	return row_exists(ctx, "SELECT 1 FROM groups WHERE name = ?1", name);
}
