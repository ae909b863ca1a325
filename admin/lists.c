/* SPDX-License-Identifier: BSD-3-Clause */
/* lists.c - the allow and deny lists (mqsa.h, docs/acl.md).
 *
 * Patterns: ip entries are stored as the canonical text of mqs_cidr_format
 * (IPv4-mapped IPv6 addresses and networks become IPv4, host bits are
 * cleared); username entries must name an enrolled device; clientid
 * entries are exact strings.  expires_at is Unix seconds, 0 = never; an
 * expired entry stops applying on its own and is hidden by mqsa_list_show
 * unless all (mqsa_list_purge deletes expired entries).  One unexpired
 * entry per kind/match/pattern.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mqs_cidr.h"
#include "mqs_error.h"
#include "mqsa_int.h"

#include "mqs_lists.h"

/* Check kind and match. */
enum mqs_err mqsa_list_words(const char *kind, const char *match, char *why)
{
	if (strcmp(kind, "allow") != 0 && strcmp(kind, "deny") != 0)
		return mqsa_fail(why, MQS_ERR_INVAL, "invalid list kind: use allow or deny");
	if (strcmp(match, "clientid") != 0 && strcmp(match, "username") != 0 &&
	    strcmp(match, "ip") != 0)
		return mqsa_fail(why, MQS_ERR_INVAL,
		                 "invalid list match: use clientid, username or ip");
	return MQS_OK;
}

/* Normalise a pattern for its match kind. */
enum mqs_err mqsa_list_pattern(struct mqsa_ctx *ctx, const char *match, const char *pattern,
                               char *out, size_t cap, char *why)
{
	struct mqs_cidr net;
	const char *problem;
	int anyone;
	int found;
	int shown;
	enum mqs_err rc = MQS_OK;

	if (strcmp(match, "ip") == 0) {
		shown = mqsa_text_check(pattern, MQS_CIDR_TEXT_MAX, 0, "address", why) == MQS_OK;
		if (!shown || mqs_cidr_parse(pattern, &net) != MQS_OK) {
			rc = mqsa_fail(why, MQS_ERR_INVAL,
			               "invalid ip pattern %s: use an IPv4 or IPv6 address or CIDR",
			               shown ? pattern : "?");
			goto out;
		}
		if (mqs_cidr_format(&net, out, cap) != MQS_OK)
			rc = mqsa_fail(why, MQS_ERR_BUFSIZE, "cannot format network");
		goto check;
	}
	if (strcmp(match, "username") == 0) {
		rc = mqsa_name_check(pattern, "device", why);
		if (rc != MQS_OK)
			goto out;
		found = mqsa_device_exists(ctx, pattern);
		if (found != 1) {
			rc = found < 0
			         ? mqsa_db_fail(ctx, why, "read devices")
			         : mqsa_fail(why, MQS_ERR_NOENT, "unknown device %s", pattern);
			goto out;
		}
	} else {
		rc = mqsa_text_check(pattern, MQSA_PATTERN_MAX, 0, "client id", why);
		if (rc != MQS_OK)
			goto out;
	}
	if (strlen(pattern) >= cap) {
		rc = mqsa_fail(why, MQS_ERR_TOOBIG, "pattern too long");
		goto out;
	}
	memcpy(out, pattern, strlen(pattern) + 1);
check:
	if (rc != MQS_OK)
		goto out;
	/* the broker's own check (lib/mqs_lists.c) */
	problem = mqs_list_entry_problem(match, out, &anyone);
	if (problem != NULL)
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid list entry: %s", problem);
out:
	return rc;
}

/* Find the unexpired entry kind/match/pattern: *id or 0. */
static enum mqs_err find_entry(struct mqsa_ctx *ctx, const char *kind, const char *match,
                               const char *pattern, long long *id, char *why)
{
	sqlite3_stmt *st = NULL;
	int step;
	enum mqs_err rc;

	*id = 0;
	rc = mqsa_prepare_cached(
	    ctx,
	    "SELECT id FROM list_entries WHERE kind = ?1 AND match = ?2 AND "
	    "pattern = ?3 AND (expires_at = 0 OR expires_at > ?4) ORDER BY id LIMIT 1",
	    &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, match, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, pattern, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)ctx->now);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else if (step != SQLITE_DONE)
		rc = mqsa_db_fail(ctx, why, "read list");
out:
	mqsa_cached_done(st);
	return rc;
}

/* Insert or (replace) update an entry. */
enum mqs_err mqsa_list_put(struct mqsa_ctx *ctx, const char *kind, const char *match,
                           const char *pattern, long long expires_at, const char *reason,
                           int replace, long long *id, char *why)
{
	sqlite3_stmt *st = NULL;
	long long old = 0;
	enum mqs_err rc;

	rc = find_entry(ctx, kind, match, pattern, &old, why);
	if (rc != MQS_OK)
		goto out;
	if (old != 0 && !replace) {
		rc = mqsa_fail(why, MQS_ERR_EXISTS, "list entry exists: id %lld (%s %s %s)", old,
		               kind, match, pattern);
		goto out;
	}
	if (old != 0)
		rc = mqsa_prepare_cached(ctx,
		                         "UPDATE list_entries SET expires_at = ?4, reason = ?5, "
		                         "created_at = ?6, created_by = ?7 WHERE id = ?8",
		                         &st, why);
	else
		rc = mqsa_prepare_cached(
		    ctx,
		    "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, "
		    "created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
		    &st, why);
	if (rc != MQS_OK)
		goto out;
	if (old == 0) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, match, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, pattern, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int64(st, 8, old);
	}
	sqlite3_bind_int64(st, 4, expires_at);
	sqlite3_bind_text(st, 5, reason != NULL ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)ctx->now);
	sqlite3_bind_text(st, 7, ctx->who, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "write list entry");
		goto out;
	}
	*id = old != 0 ? old : sqlite3_last_insert_rowid(ctx->db);
out:
	mqsa_cached_done(st);
	return rc;
}

/* list add: the operands and what the change made of them. */
struct list_add_arg {
	const char *kind, *match, *pattern;
	long long ttl;
	const char *reason;
	struct mqsa_list_added *res;
};

/* Normalise the pattern and insert the entry. */
static enum mqs_err list_add_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                    char *why)
{
	struct list_add_arg *a = data;
	struct mqsa_list_added *r = a->res;
	enum mqs_err rc;

	rc = mqsa_list_pattern(ctx, a->match, a->pattern, r->pattern, sizeof(r->pattern), why);
	if (rc != MQS_OK)
		goto out;
	if (a->ttl > 0)
		r->expires_at = (long long)ctx->now + a->ttl;
	rc = mqsa_list_put(ctx, a->kind, a->match, r->pattern, r->expires_at, a->reason, 0, &r->id,
	                   why);
	if (rc == MQS_OK)
		snprintf(detail, MQSA_DETAIL_MAX,
		         "id=%lld kind=%s match=%s pattern=%s expires=%lld", r->id, a->kind,
		         a->match, r->pattern, r->expires_at);
out:
	return rc;
}

/* Add an entry. */
enum mqs_err mqsa_list_add(struct mqsa_ctx *ctx, const char *kind, const char *match,
                           const char *pattern, long long ttl, const char *reason,
                           struct mqsa_list_added *res, char *why)
{
	struct list_add_arg a = {kind, match, pattern, ttl, reason, res};
	enum mqs_err rc;

	memset(res, 0, sizeof(*res));
	rc = mqsa_list_words(kind, match, why);
	if (rc == MQS_OK && (ttl < 0 || ttl > MQSA_TTL_MAX))
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid ttl %lld", ttl);
	if (rc == MQS_OK && reason != NULL)
		rc = mqsa_text_check(reason, MQSA_REASON_MAX, 1, "reason", why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "list add", list_add_change, &a, NULL, why);
	return rc;
}

/* list rm: the audit detail of the entry being removed. */
static void entry_describe(sqlite3_stmt *st, long long id, char *detail)
{
	snprintf(detail, MQSA_DETAIL_MAX, "id=%lld kind=%s match=%s pattern=%s", id,
	         mqsa_col(st, 0), mqsa_col(st, 1), mqsa_col(st, 2));
}

/* Remove an entry. */
enum mqs_err mqsa_list_remove(struct mqsa_ctx *ctx, long long id, char *why)
{
	static const struct mqsa_row_del del = {
	    "list rm", "list entry", "SELECT kind, match, pattern FROM list_entries WHERE id = ?1",
	    "DELETE FROM list_entries WHERE id = ?1", entry_describe};

	return mqsa_row_delete(ctx, &del, id, why);
}

/* mqsa_list_show's iterator. */
struct list_show_arg {
	const struct mqsa_ctx *ctx;
	enum mqs_err (*each)(const struct mqsa_list_entry *e, void *arg);
	void *arg;
};

/* One entry row. */
static enum mqs_err entry_row(sqlite3_stmt *st, void *data)
{
	const struct list_show_arg *a = data;
	struct mqsa_list_entry e;

	e.id = sqlite3_column_int64(st, 0);
	e.kind = mqsa_col(st, 1);
	e.match = mqsa_col(st, 2);
	e.pattern = mqsa_col(st, 3);
	e.expires_at = sqlite3_column_int64(st, 4);
	e.expired = e.expires_at != 0 && e.expires_at <= (long long)a->ctx->now;
	e.reason = mqsa_col(st, 5);
	e.created_at = sqlite3_column_int64(st, 6);
	e.created_by = mqsa_col(st, 7);
	return a->each(&e, a->arg);
}

/* Entries by id. */
enum mqs_err mqsa_list_show(struct mqsa_ctx *ctx, int all,
                            enum mqs_err (*each)(const struct mqsa_list_entry *e, void *arg),
                            void *arg, char *why)
{
	struct list_show_arg a = {ctx, each, arg};
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc =
		    mqsa_prepare(ctx,
		                 "SELECT id, kind, match, pattern, expires_at, reason, created_at, "
		                 "created_by FROM list_entries WHERE ?1 OR expires_at = 0 OR "
		                 "expires_at > ?2 ORDER BY id",
		                 &st, why);
	if (rc != MQS_OK)
		return rc;
	sqlite3_bind_int(st, 1, all != 0);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ctx->now);
	return mqsa_each_row(ctx, st, entry_row, &a, "list entries", why);
}

/* A page of the entries q selects. */
enum mqs_err mqsa_list_page(struct mqsa_ctx *ctx, const struct mqsa_list_query *q,
                            struct mqsa_page *pg,
                            enum mqs_err (*each)(const struct mqsa_list_entry *e, void *arg),
                            void *arg, char *why)
{
	/* ?1 kind or NULL, ?2 bans (-1/0/1), ?3 all, ?4 now, ?5 the ban author */
	static const char where[] =
	    "WHERE (?1 IS NULL OR kind = ?1) AND (?2 < 0 OR (?2 = (kind = 'deny' AND "
	    "created_by = ?5))) AND (?3 OR expires_at = 0 OR expires_at > ?4) ";
	struct list_show_arg a = {ctx, each, arg};
	sqlite3_stmt *st = NULL;
	char sql[512];
	enum mqs_err rc;

	if (q->kind != NULL && mqsa_list_words(q->kind, "ip", why) != MQS_OK)
		return MQS_ERR_INVAL;
	rc = mqsa_page_begin(ctx, pg, NULL, why);
	for (int pass = 0; rc == MQS_OK && pass < 2; pass++) {
		if (pass == 0)
			snprintf(sql, sizeof(sql), "SELECT count(*) FROM list_entries %s", where);
		else
			snprintf(
			    sql, sizeof(sql),
			    "SELECT id, kind, match, pattern, expires_at, reason, created_at, "
			    "created_by FROM list_entries %s ORDER BY id %s LIMIT ?6 OFFSET ?7",
			    where, q->bans == 1 ? "DESC" : "ASC");
		rc = mqsa_prepare(ctx, sql, &st, why);
		if (rc != MQS_OK)
			break;
		if (q->kind != NULL)
			sqlite3_bind_text(st, 1, q->kind, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, q->bans < 0 ? -1 : q->bans != 0);
		sqlite3_bind_int(st, 3, q->all != 0);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)ctx->now);
		sqlite3_bind_text(st, 5, MQSA_BAN_AUTHOR, -1, SQLITE_STATIC);
		if (pass == 0) {
			rc = mqsa_page_count(ctx, st, pg, "count list entries", why);
		} else {
			mqsa_page_bind(st, 6, pg);
			rc = mqsa_each_row(ctx, st, entry_row, &a, "list entries", why);
		}
	}
	return rc;
}

/* Delete the expired entries; nothing expired: skip. */
static enum mqs_err purge_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                 char *why)
{
	int *n = data;
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_prepare(
	    ctx, "DELETE FROM list_entries WHERE expires_at != 0 AND expires_at <= ?1", &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "purge list");
		goto out;
	}
	*n = sqlite3_changes(ctx->db);
	*skip = *n == 0;
	snprintf(detail, MQSA_DETAIL_MAX, "entries=%d", *n);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Delete expired entries. */
enum mqs_err mqsa_list_purge(struct mqsa_ctx *ctx, int *n, char *why)
{
	*n = 0;
	return mqsa_tx_run(ctx, "list purge", purge_change, n, NULL, why);
}
