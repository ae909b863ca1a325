/* SPDX-License-Identifier: BSD-3-Clause */
/* audit.c - the change log (mqsa.h).  Rows are written by every change
 * (ctx.c, mqsa_tx_run) and by the broker plugin (automatic bans); this
 * file reads them: the newest N, oldest first.
 */
#include "config.h"

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
