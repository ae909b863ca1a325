/* SPDX-License-Identifier: BSD-3-Clause */
/* audit.c - the change log (mqsa.h).  Rows are written by every change
 * (ctx.c, mqsa_tx_run) and by the broker plugin (automatic bans); this
 * file reads them: the newest N, oldest first.
 */
#include "config.h"

#include <stdio.h>

#include "mqsa_int.h"

/* mqsa_audit_list's iterator. */
struct audit_arg {
	enum mqs_err (*each)(const struct mqsa_audit_row *r, void *arg);
	void *arg;
};

/* One audit row. */
static enum mqs_err audit_row(sqlite3_stmt *st, void *data)
{
	const struct audit_arg *a = data;
	struct mqsa_audit_row r;

	r.id = sqlite3_column_int64(st, 0);
	r.at = sqlite3_column_int64(st, 1);
	r.who = mqsa_col(st, 2);
	r.action = mqsa_col(st, 3);
	r.detail = mqsa_col(st, 4);
	return a->each(&r, a->arg);
}

/* The newest limit rows, oldest first. */
enum mqs_err mqsa_audit_list(struct mqsa_ctx *ctx, long long limit,
                             enum mqs_err (*each)(const struct mqsa_audit_row *r, void *arg),
                             void *arg, char *why)
{
	struct audit_arg a = {each, arg};
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_prepare(ctx,
		                  "SELECT id, at, who, action, detail FROM (SELECT * FROM audit "
		                  "ORDER BY id DESC LIMIT ?1) ORDER BY id",
		                  &st, why);
	if (rc != MQS_OK)
		return rc;
	sqlite3_bind_int64(st, 1, limit > 0 ? limit : -1);
	return mqsa_each_row(ctx, st, audit_row, &a, "audit log", why);
}

/* A page of the rows q selects, the newest first. */
enum mqs_err mqsa_audit_page(struct mqsa_ctx *ctx, const struct mqsa_audit_query *q,
                             struct mqsa_page *pg,
                             enum mqs_err (*each)(const struct mqsa_audit_row *r, void *arg),
                             void *arg, char *why)
{
	/* ?1 who or NULL, ?2 action prefix or NULL, ?3 from, ?4 until */
	static const char where[] =
	    "WHERE (?1 IS NULL OR instr(who, ?1) > 0) AND (?2 IS NULL OR substr(action, 1, "
	    "length(?2)) = ?2) AND (?3 = 0 OR at >= ?3) AND (?4 = 0 OR at <= ?4) ";
	const char *who = q->who != NULL && q->who[0] != '\0' ? q->who : NULL;
	const char *action = q->action != NULL && q->action[0] != '\0' ? q->action : NULL;
	struct audit_arg a = {each, arg};
	sqlite3_stmt *st = NULL;
	char sql[512];
	enum mqs_err rc;

	rc = mqsa_page_begin(ctx, pg, who, why);
	if (rc == MQS_OK && action != NULL)
		rc = mqsa_text_check(action, MQSA_SEARCH_MAX, 1, "action", why);
	if (rc == MQS_OK && (q->from < 0 || q->until < 0))
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid time range");
	for (int pass = 0; rc == MQS_OK && pass < 2; pass++) {
		if (pass == 0)
			snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit %s", where);
		else
			snprintf(
			    sql, sizeof(sql),
			    "SELECT id, at, who, action, detail FROM audit %s ORDER BY id DESC "
			    "LIMIT ?5 OFFSET ?6",
			    where);
		rc = mqsa_prepare(ctx, sql, &st, why);
		if (rc != MQS_OK)
			break;
		sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, q->from);
		sqlite3_bind_int64(st, 4, q->until);
		if (pass == 0) {
			rc = mqsa_page_count(ctx, st, pg, "count audit rows", why);
		} else {
			mqsa_page_bind(st, 5, pg);
			rc = mqsa_each_row(ctx, st, audit_row, &a, "audit log", why);
		}
	}
	return rc;
}
