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

/* The filter of an audit page (?1..?4). */
struct audit_page_params {
	const char *who;
	const char *action;
	long long from;
	long long until;
};

/* Bind an audit page's filter. */
static void audit_page_bind(sqlite3_stmt *st, const void *arg)
{
	const struct audit_page_params *p = arg;

	/* a parameter the statement does not hold is SQLITE_RANGE: nothing bound */
	if (p->who != NULL)
		sqlite3_bind_text(st, 1, p->who, -1, SQLITE_STATIC);
	if (p->action != NULL)
		sqlite3_bind_text(st, 2, p->action, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, p->from);
	sqlite3_bind_int64(st, 4, p->until);
}

/* A page of the rows q selects, the newest first. */
enum mqs_err mqsa_audit_page(struct mqsa_ctx *ctx, const struct mqsa_audit_query *q,
                             struct mqsa_page *pg,
                             enum mqs_err (*each)(const struct mqsa_audit_row *r, void *arg),
                             void *arg, char *why)
{
	/* ?1 who, ?2 action prefix, ?3 from, ?4 until: only the filters asked
	 * for are in the statement, so that the count of an unfiltered page
	 * is SQLite's count of the table, not a test of every row */
	static const char *const conds[] = {
	    "instr(who, ?1) > 0", "substr(action, 1, length(?2)) = ?2", "at >= ?3", "at <= ?4"};
	struct audit_arg a = {each, arg};
	struct audit_page_params p = {NULL, NULL, q->from, q->until};
	char where[256];
	size_t used = 0;
	struct mqsa_page_spec spec = {
	    "audit rows",
	    "id, at, who, action, detail",
	    "audit",
	    where,
	    {"id", NULL, NULL, NULL},
	    "i",
	    1,
	    audit_page_bind,
	    &p,
	};
	enum mqs_err rc;

	p.who = q->who != NULL && q->who[0] != '\0' ? q->who : NULL;
	p.action = q->action != NULL && q->action[0] != '\0' ? q->action : NULL;
	snprintf(where, sizeof(where), "1");
	for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++) {
		int on = i == 0   ? p.who != NULL
		         : i == 1 ? p.action != NULL
		         : i == 2 ? q->from != 0
		                  : q->until != 0;

		if (on && used < sizeof(where))
			used += (size_t)snprintf(where + used, sizeof(where) - used, "%s%s",
			                         used > 0 ? " AND " : "", conds[i]);
	}
	rc = mqsa_page_begin(ctx, pg, p.who, why);
	if (rc == MQS_OK && p.action != NULL)
		rc = mqsa_text_check(p.action, MQSA_SEARCH_MAX, 1, "action", why);
	if (rc == MQS_OK && (q->from < 0 || q->until < 0))
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid time range");
	if (rc == MQS_OK)
		rc = mqsa_page_run(ctx, &spec, pg, audit_row, &a, why);
	return rc;
}
