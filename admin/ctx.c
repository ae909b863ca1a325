/* SPDX-License-Identifier: BSD-3-Clause */
/* ctx.c - the admin context (mqsa.h): database, master key, the one
 * transaction runner that writes the audit row of every change, and the
 * statement helpers the other files share (mqsa_int.h).
 *
 * Every change runs as BEGIN IMMEDIATE, the change, one audit row, COMMIT
 * (mqsa_tx_run), so the broker plugin (which polls PRAGMA data_version)
 * never sees half a change and every change is attributed.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mqs_alloc.h"
#include "mqs_db.h"
#include "mqs_error.h"
#include "mqsa_int.h"

/* Create a context; nothing is opened yet. */
enum mqs_err mqsa_ctx_open(const char *db_path, const char *key_path, const char *who,
                           struct mqsa_ctx **out)
{
	struct mqsa_ctx *ctx = NULL;
	enum mqs_err rc = MQS_ERR_INVAL;
	size_t n;

	*out = NULL;
	if (db_path == NULL || key_path == NULL || who == NULL || db_path[0] == '\0' ||
	    key_path[0] == '\0')
		goto out;
	n = strlen(who);
	if (n == 0 || n > MQSA_WHO_MAX)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)who[i] < 0x20 || who[i] == 0x7f)
			goto out;
	}
	ctx = mqs_calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	ctx->db_path = db_path;
	ctx->key_path = key_path;
	memcpy(ctx->who, who, n + 1);
	ctx->now = time(NULL);
	*out = ctx;
	rc = MQS_OK;
out:
	return rc;
}

/* Change the audit "who" of the next operations. */
enum mqs_err mqsa_ctx_set_who(struct mqsa_ctx *ctx, const char *who)
{
	enum mqs_err rc = MQS_ERR_INVAL;
	size_t n;

	if (ctx == NULL || who == NULL)
		goto out;
	n = strlen(who);
	if (n == 0 || n > MQSA_WHO_MAX)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)who[i] < 0x20 || who[i] == 0x7f)
			goto out;
	}
	memcpy(ctx->who, who, n + 1);
	rc = MQS_OK;
out:
	return rc;
}

/* Close the database, wipe the master key, free. */
void mqsa_ctx_close(struct mqsa_ctx *ctx)
{
	if (ctx == NULL)
		return;
	mqsa_ctx_stmts_drop(ctx);
	if (ctx->db != NULL)
		sqlite3_close_v2(ctx->db);
	OPENSSL_cleanse(ctx->mk, sizeof(ctx->mk));
	mqs_free(ctx);
}

/* Set the clock of the next operations. */
void mqsa_ctx_set_now(struct mqsa_ctx *ctx, time_t now)
{
	ctx->now = now;
}

/* Was the last database failure a busy or locked database? */
int mqsa_ctx_db_busy(const struct mqsa_ctx *ctx)
{
	return ctx->db_busy;
}

/* Was the last database failure the file or its disk? */
int mqsa_ctx_db_fault(const struct mqsa_ctx *ctx)
{
	return ctx->db_fault;
}

/* Open the database (it must exist). */
enum mqs_err mqsa_ctx_db(struct mqsa_ctx *ctx, char *why)
{
	enum mqs_err rc = MQS_OK;

	if (ctx->db != NULL)
		goto out;
	why[0] = '\0';
	rc = mqs_db_open(ctx->db_path, 0, mqs_broker_schema, mqs_broker_schema_count, &ctx->db, why,
	                 MQSA_WHY_MAX);
	ctx->db_busy = 0;
	ctx->db_fault = rc == MQS_ERR_DB || rc == MQS_ERR_IO;
	if (rc == MQS_ERR_NOENT)
		mqsa_fail(why, rc, "cannot open db %s: no such file", ctx->db_path);
	else if (rc != MQS_OK && why[0] == '\0')
		mqsa_fail(why, rc, "%s", mqs_strerror(rc));
out:
	return rc;
}

/* Load the master key. */
enum mqs_err mqsa_ctx_master_key(struct mqsa_ctx *ctx, char *why)
{
	enum mqs_err rc = MQS_OK;

	if (ctx->have_mk)
		goto out;
	errno = 0;
	rc = mqs_master_key_load(ctx->key_path, ctx->mk);
	switch (rc) {
	case MQS_OK:
		ctx->have_mk = 1;
		break;
	case MQS_ERR_NOENT:
		mqsa_fail(why, rc, "cannot read master key %s: no such file", ctx->key_path);
		break;
	case MQS_ERR_PERM:
		mqsa_fail(why, rc,
		          "cannot use master key %s: readable by group or others (chmod 600 it)",
		          ctx->key_path);
		break;
	case MQS_ERR_PARSE:
		mqsa_fail(why, rc, "cannot use master key %s: not 32 bytes of hex or raw key",
		          ctx->key_path);
		break;
	default:
		mqsa_fail(why, rc, "cannot read master key %s: %s", ctx->key_path,
		          errno != 0 ? strerror(errno) : mqs_strerror(rc));
		rc = errno == EACCES ? MQS_ERR_PERM : MQS_ERR_IO;
		break;
	}
out:
	return rc;
}

/* Format a reason and return err. */
enum mqs_err mqsa_fail(char *why, enum mqs_err err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, MQSA_WHY_MAX, fmt, ap);
	va_end(ap);
	return err;
}

/* Describe the last SQLite error. */
enum mqs_err mqsa_db_fail(struct mqsa_ctx *ctx, char *why, const char *what)
{
	int code = ctx->db != NULL ? sqlite3_errcode(ctx->db) : SQLITE_ERROR;

	ctx->db_busy = code == SQLITE_BUSY || code == SQLITE_LOCKED;
	switch (code & 0xff) {
	case SQLITE_READONLY:
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
		ctx->db_fault = 1;
		break;
	default:
		ctx->db_fault = 0;
		break;
	}
	return mqsa_fail(why, MQS_ERR_DB, "cannot %s: %s", what,
	                 ctx->db != NULL ? sqlite3_errmsg(ctx->db) : "no database");
}

/* Prepare a statement. */
enum mqs_err mqsa_prepare(struct mqsa_ctx *ctx, const char *sql, sqlite3_stmt **st, char *why)
{
	*st = NULL;
	if (sqlite3_prepare_v2(ctx->db, sql, -1, st, NULL) != SQLITE_OK)
		return mqsa_db_fail(ctx, why, "query db");
	return MQS_OK;
}

/* Prepare sql once per context and hand out the kept statement. */
enum mqs_err mqsa_prepare_cached(struct mqsa_ctx *ctx, const char *sql, sqlite3_stmt **st,
                                 char *why)
{
	unsigned slot = MQSA_STMT_CACHE;
	enum mqs_err rc = MQS_OK;

	*st = NULL;
	for (unsigned i = 0; i < MQSA_STMT_CACHE; i++) {
		if (ctx->stmts[i].sql == sql && ctx->stmts[i].st != NULL) {
			*st = ctx->stmts[i].st;
			sqlite3_reset(*st);
			sqlite3_clear_bindings(*st);
			goto out;
		}
		if (slot == MQSA_STMT_CACHE && ctx->stmts[i].st == NULL)
			slot = i;
	}
	if (slot == MQSA_STMT_CACHE) {
		/* all taken: replace the oldest (callers hold one or two at once) */
		slot = ctx->next_stmt;
		ctx->next_stmt = (ctx->next_stmt + 1) % MQSA_STMT_CACHE;
		sqlite3_finalize(ctx->stmts[slot].st);
		ctx->stmts[slot].st = NULL;
		ctx->stmts[slot].sql = NULL;
	}
	rc = mqsa_prepare(ctx, sql, st, why);
	if (rc != MQS_OK)
		goto out;
	ctx->stmts[slot].sql = sql;
	ctx->stmts[slot].st = *st;
out:
	return rc;
}

/* Reset a cached statement. */
void mqsa_cached_done(sqlite3_stmt *st)
{
	if (st != NULL)
		sqlite3_reset(st);
}

/* Finalize every cached statement. */
void mqsa_ctx_stmts_drop(struct mqsa_ctx *ctx)
{
	for (unsigned i = 0; i < MQSA_STMT_CACHE; i++) {
		sqlite3_finalize(ctx->stmts[i].st);
		ctx->stmts[i].st = NULL;
		ctx->stmts[i].sql = NULL;
	}
	ctx->next_stmt = 0;
}

/* Roll back the open transaction, if any. */
void mqsa_tx_rollback(struct mqsa_ctx *ctx)
{
	if (ctx->db != NULL && !sqlite3_get_autocommit(ctx->db))
		sqlite3_exec(ctx->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Write the audit row and commit. */
static enum mqs_err tx_commit(struct mqsa_ctx *ctx, const char *action, const char *detail,
                              char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	/* a revoked key holder: its filters get new keys in this transaction */
	rc = mqsa_revoke_rotate(ctx, action, why);
	if (rc != MQS_OK)
		goto out;
	rc = mqsa_prepare(
	    ctx, "INSERT INTO audit (at, who, action, detail) VALUES (?1, ?2, ?3, ?4)", &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	sqlite3_bind_text(st, 2, ctx->who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "write audit row");
		goto out;
	}
	if (sqlite3_exec(ctx->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = mqsa_db_fail(ctx, why, "commit");
out:
	sqlite3_finalize(st);
	return rc;
}

/* Run a change in one transaction with its audit row. */
enum mqs_err mqsa_tx_run(struct mqsa_ctx *ctx, const char *action, mqsa_change_fn change, void *arg,
                         int *skipped, char *why)
{
	char detail[MQSA_DETAIL_MAX] = "";
	int skip = 0;
	enum mqs_err rc;

	why[0] = '\0';
	rc = mqsa_ctx_db(ctx, why);
	if (rc != MQS_OK)
		goto out;
	if (sqlite3_exec(ctx->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = mqsa_db_fail(ctx, why, "start transaction");
		goto out;
	}
	rc = change(ctx, arg, detail, &skip, why);
	if (rc == MQS_OK && !skip)
		rc = tx_commit(ctx, action, detail, why);
out:
	mqsa_tx_rollback(ctx);
	if (skipped != NULL)
		*skipped = rc == MQS_OK && skip;
	return rc;
}

/* mqsa_row_delete's change: the row to delete. */
struct row_del_arg {
	const struct mqsa_row_del *d;
	long long id;
};

/* Read the row for the audit detail, then delete it. */
static enum mqs_err row_del_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                   char *why)
{
	struct row_del_arg *a = data;
	sqlite3_stmt *st = NULL;
	char what[64];
	int step;
	enum mqs_err rc;

	rc = mqsa_prepare(ctx, a->d->select, &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_int64(st, 1, a->id);
	step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		snprintf(what, sizeof(what), "read %s", a->d->what);
		rc = step == SQLITE_DONE
		         ? mqsa_fail(why, MQS_ERR_NOENT, "unknown %s %lld", a->d->what, a->id)
		         : mqsa_db_fail(ctx, why, what);
		goto out;
	}
	a->d->describe(st, a->id, detail);
	sqlite3_finalize(st);
	st = NULL;
	rc = mqsa_prepare(ctx, a->d->del, &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_int64(st, 1, a->id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(what, sizeof(what), "delete %s", a->d->what);
		rc = mqsa_db_fail(ctx, why, what);
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* Delete one row by id with its audit row. */
enum mqs_err mqsa_row_delete(struct mqsa_ctx *ctx, const struct mqsa_row_del *d, long long id,
                             char *why)
{
	struct row_del_arg a = {d, id};

	if (id < 1)
		return mqsa_fail(why, MQS_ERR_INVAL,
		                 "invalid id %lld: must be an integer in 1..%lld", id,
		                 (long long)INT64_MAX);
	return mqsa_tx_run(ctx, d->action, row_del_change, &a, NULL, why);
}

/* Step a listing. */
enum mqs_err mqsa_each_row(struct mqsa_ctx *ctx, sqlite3_stmt *st,
                           enum mqs_err (*row)(sqlite3_stmt *st, void *arg), void *arg,
                           const char *what, char *why)
{
	char reading[64];
	int step;
	enum mqs_err rc = MQS_OK;

	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			snprintf(reading, sizeof(reading), "read %s", what);
			rc = mqsa_db_fail(ctx, why, reading);
			break;
		}
		rc = row(st, arg);
		if (rc != MQS_OK) {
			mqsa_fail(why, rc, "cannot list %s: %s", what, mqs_strerror(rc));
			break;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* Column text or "". */
const char *mqsa_col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s != NULL ? s : "";
}

/* Does sql with one text parameter yield a row? */
int mqsa_row_exists(struct mqsa_ctx *ctx, const char *sql, const char *param)
{
	sqlite3_stmt *st = NULL;
	char why[MQSA_WHY_MAX];
	int found = -1;
	int step;

	if (mqsa_prepare_cached(ctx, sql, &st, why) != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		found = 1;
	else if (step == SQLITE_DONE)
		found = 0;
out:
	mqsa_cached_done(st);
	return found;
}

/* Run a statement with one or two text parameters. */
enum mqs_err mqsa_exec_text(struct mqsa_ctx *ctx, const char *sql, const char *a, const char *b,
                            int *n, char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_prepare(ctx, sql, &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "update db");
		goto out;
	}
	if (n != NULL)
		*n = sqlite3_changes(ctx->db);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Does device name exist? */
int mqsa_device_exists(struct mqsa_ctx *ctx, const char *name)
{
	return mqsa_row_exists(ctx, "SELECT 1 FROM devices WHERE name = ?1", name);
}

/* Does group name exist? */
int mqsa_group_exists(struct mqsa_ctx *ctx, const char *name)
{
	return mqsa_row_exists(ctx, "SELECT 1 FROM groups WHERE name = ?1", name);
}
