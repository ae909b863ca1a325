/* ctx.c - mqttsec-acl shared state: database, master key, transactions,
 * audit rows and the OS user.
 *
 * Every change runs as BEGIN IMMEDIATE, the change, one audit row, COMMIT
 * (acl_tx_run), so the broker plugin (which polls PRAGMA data_version)
 * never sees half a change and every change is attributed.  Also the
 * small statement helpers the commands share (acl_row_exists,
 * acl_exec_text) and the "... rm ID" commands (acl_row_delete).
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

/* The name of uid into dst (ACL_WHO_MAX + 1 bytes), "uid:N" when it has
 * no usable name. */
static void who_name(char *dst, uid_t uid)
{
	struct passwd *pw = getpwuid(uid);

	if (pw == NULL || !who_copy(dst, pw->pw_name))
		snprintf(dst, ACL_WHO_MAX + 1, "uid:%lu", (unsigned long)uid);
}

/* Initialise paths from the environment, the OS user and the clock. */
void acl_ctx_init(struct acl_ctx *ctx)
{
	char sudo[ACL_WHO_MAX + 1];
	char real[ACL_WHO_MAX + 1];
	const char *env;

	memset(ctx, 0, sizeof(*ctx));
	env = getenv("MQTTSEC_DB");
	ctx->db_path = env != NULL && env[0] != '\0' ? env : ACL_DEFAULT_DB;
	env = getenv("MQTTSEC_MASTER_KEY_FILE");
	ctx->key_path = env != NULL && env[0] != '\0' ? env : ACL_DEFAULT_KEY;
	/* anyone can set $SUDO_USER: believe it only when root runs us */
	if (getuid() == 0 && who_copy(sudo, getenv("SUDO_USER"))) {
		who_name(real, getuid());
		snprintf(ctx->who, sizeof(ctx->who), "%s via %s", sudo, real);
	} else {
		who_name(ctx->who, geteuid());
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

/* Run a change in one transaction with its audit row. */
int acl_tx_run(struct acl_ctx *ctx, const char *action,
               int (*change)(struct acl_ctx *ctx, void *arg, char *detail, char *why), void *arg)
{
	char why[ACL_WHY_MAX] = "";
	char detail[ACL_DETAIL_MAX] = "";
	int ex;

	ex = acl_tx_begin(ctx, why);
	if (ex == EX_OK)
		ex = change(ctx, arg, detail, why);
	if (ex == EX_OK)
		ex = acl_tx_commit(ctx, action, detail, why);
	if (ex != EX_OK)
		acl_tx_rollback(ctx);
	if (ex != EX_OK && ex != ACL_TX_SKIP && why[0] != '\0')
		acl_err("%s", why);
	return ex;
}

/* acl_row_delete's change: the row to delete. */
struct row_del_arg {
	const struct acl_row_del *d;
	long long id;
};

/* Read the row for the audit detail, then delete it. */
static int row_del_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct row_del_arg *a = data;
	sqlite3_stmt *st = NULL;
	char what[64];
	int rc;
	int ex;

	ex = acl_prepare(ctx, a->d->select, &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_int64(st, 1, a->id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		snprintf(what, sizeof(what), "read %s", a->d->what);
		ex = rc == SQLITE_DONE
		         ? acl_fail(why, EX_DATAERR, "unknown %s %lld", a->d->what, a->id)
		         : acl_db_fail(ctx, why, what);
		goto out;
	}
	a->d->describe(st, a->id, detail);
	sqlite3_finalize(st);
	st = NULL;
	ex = acl_prepare(ctx, a->d->del, &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_int64(st, 1, a->id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(what, sizeof(what), "delete %s", a->d->what);
		ex = acl_db_fail(ctx, why, what);
	}
out:
	sqlite3_finalize(st);
	return ex;
}

/* A "... rm ID" command. */
int acl_row_delete(struct acl_ctx *ctx, int argc, char **argv, const struct acl_row_del *d)
{
	struct row_del_arg a = {d, 0};
	char why[ACL_WHY_MAX] = "";
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, d->words, "ID", 0, NULL, NULL, NULL, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	ex = acl_int_parse(argv[first], 1, INT64_MAX, "id", &a.id, why);
	if (ex != EX_OK) {
		acl_err("%s", why);
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, d->words, row_del_change, &a);
	if (ex == EX_OK)
		printf("%s %lld removed\n", d->what, a.id);
out:
	return ex;
}

/* Does sql with one text parameter yield a row? */
int acl_row_exists(struct acl_ctx *ctx, const char *sql, const char *param)
{
	sqlite3_stmt *st = NULL;
	int found = -1;
	int rc;

	if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		found = 1;
	else if (rc == SQLITE_DONE)
		found = 0;
out:
	sqlite3_finalize(st);
	return found;
}

/* Run a statement with one or two text parameters. */
int acl_exec_text(struct acl_ctx *ctx, const char *sql, const char *a, const char *b, int *n,
                  char *why)
{
	sqlite3_stmt *st = NULL;
	int ex;

	ex = acl_prepare(ctx, sql, &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "update db");
		goto out;
	}
	if (n != NULL)
		*n = sqlite3_changes(ctx->db);
out:
	sqlite3_finalize(st);
	return ex;
}

/* Does device name exist? */
int acl_device_exists(struct acl_ctx *ctx, const char *name)
{
	return acl_row_exists(ctx, "SELECT 1 FROM devices WHERE name = ?1", name);
}

/* Does group name exist? */
int acl_group_exists(struct acl_ctx *ctx, const char *name)
{
	return acl_row_exists(ctx, "SELECT 1 FROM groups WHERE name = ?1", name);
}
