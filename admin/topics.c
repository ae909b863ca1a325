/* SPDX-License-Identifier: BSD-3-Clause */
/* topics.c - protected topics (mqsa.h, docs/payload-encryption.md).
 *
 * A protected topic filter is a row of protected_topics plus topic keys in
 * the key store (purpose "topic", owner = the filter).  Protect creates the
 * first key; unprotect removes the row and retires the filter's active keys
 * for a grace period, so retained messages stay readable for key holders
 * until it ends.  Protect ends the grace of the filter's retired keys: a
 * key that was usable while the filter was unprotected is never exported
 * again (docs/payload-encryption.md, "Unprotect and protect again").  The
 * broker seals every message on a matching topic with the newest active
 * key of the most specific matching filter (docs/acl.md); rotation and
 * export are in keys.c.
 *
 * Also here, shared with keys.c and devices.c: retiring keys and the
 * "protected" list of credentials.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqsa_int.h"

/* Is filter protected? */
int mqsa_topic_is_protected(struct mqsa_ctx *ctx, const char *filter)
{
	return mqsa_row_exists(ctx, "SELECT 1 FROM protected_topics WHERE filter = ?1", filter);
}

/* Append every protected filter to c. */
enum mqs_err mqsa_topic_add_protected(struct mqsa_ctx *ctx, struct mqs_creds *c, char *why)
{
	sqlite3_stmt *st = NULL;
	int step;
	enum mqs_err rc;

	rc = mqsa_prepare(ctx, "SELECT filter FROM protected_topics ORDER BY filter", &st, why);
	if (rc != MQS_OK)
		goto out;
	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = mqsa_db_fail(ctx, why, "read protected topics");
			goto out;
		}
		rc = mqs_creds_add_protected(c, mqsa_col(st, 0));
		if (rc != MQS_OK) {
			mqsa_fail(why, rc, "cannot list protected topics: %s", mqs_strerror(rc));
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* Unix time until which a key retired now stays usable. */
long long mqsa_retire_after(const struct mqsa_ctx *ctx, long long grace)
{
	/* a retired key is dead once retire_after < now: grace 0 ends at once */
	return grace > 0 ? (long long)ctx->now + grace : (long long)ctx->now - 1;
}

/* Append ",id" to a bounded list. */
void mqsa_ids_append(char *ids, size_t cap, unsigned long id)
{
	size_t len = strlen(ids);

	if (len + 4 >= cap)
		return;
	if (snprintf(ids + len, cap - len, "%s%lu", len > 0 ? "," : "", id) >= (int)(cap - len))
		snprintf(ids + cap - 4, 4, "...");
}

/* Retire the active topic keys of filter. */
enum mqs_err mqsa_topic_retire(struct mqsa_ctx *ctx, const char *filter, long long grace, char *ids,
                               size_t cap, int *n, char *why)
{
	sqlite3_stmt *st = NULL;
	long long until = mqsa_retire_after(ctx, grace);
	int step;
	enum mqs_err rc;

	*n = 0;
	if (cap > 0)
		ids[0] = '\0';
	rc =
	    mqsa_prepare(ctx,
	                 "UPDATE keys SET state = 'retired', retire_after = ?2 "
	                 "WHERE purpose = 'topic' AND owner = ?1 AND state = 'active' RETURNING id",
	                 &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)until);
	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = mqsa_db_fail(ctx, why, "retire topic keys");
			goto out;
		}
		(*n)++;
		if (cap > 0)
			mqsa_ids_append(ids, cap, (unsigned long)sqlite3_column_int64(st, 0));
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* topic protect: the filter and the result. */
struct protect_arg {
	const char *filter;
	struct mqsa_topic_opts opts;
	struct mqsa_topic_protected *res;
};

/* End the grace of filter's retired topic keys (they become dead: never
 * exported again, still known to the broker, see keys.c). */
static enum mqs_err end_grace(struct mqsa_ctx *ctx, struct protect_arg *a, char *why)
{
	sqlite3_stmt *st = NULL;
	int step;
	enum mqs_err rc;

	a->res->nended = 0;
	a->res->ended[0] = '\0';
	rc = mqsa_prepare(ctx,
	                  "UPDATE keys SET retire_after = ?2 WHERE purpose = 'topic' AND "
	                  "owner = ?1 AND state = 'retired' AND retire_after > ?2 RETURNING id",
	                  &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)mqsa_retire_after(ctx, 0));
	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = mqsa_db_fail(ctx, why, "end the grace of old topic keys");
			goto out;
		}
		a->res->nended++;
		mqsa_ids_append(a->res->ended, sizeof(a->res->ended),
		                (unsigned long)sqlite3_column_int64(st, 0));
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* Insert the row, end old graces, create the first key. */
static enum mqs_err protect_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                   char *why)
{
	struct protect_arg *a = data;
	struct mqs_key key;
	sqlite3_stmt *st = NULL;
	int found;
	enum mqs_err rc;

	mqs_key_init(&key);
	found = mqsa_topic_is_protected(ctx, a->filter);
	if (found != 0) {
		rc = found < 0 ? mqsa_db_fail(ctx, why, "read protected topics")
		               : mqsa_fail(why, MQS_ERR_EXISTS, "topic %s is already protected",
		                           a->filter);
		goto out;
	}
	rc = mqsa_prepare(ctx,
	                  "INSERT INTO protected_topics (filter, created_at, rotate_every, "
	                  "per_device) VALUES (?1, ?2, ?3, ?4)",
	                  &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ctx->now);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)a->opts.rotate_every);
	sqlite3_bind_int(st, 4, a->opts.per_device);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "protect topic");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = mqsa_prepare(ctx, "SELECT count(*) FROM protected_topics", &st, why);
	if (rc != MQS_OK)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = mqsa_db_fail(ctx, why, "count protected topics");
		goto out;
	}
	a->res->nprotected = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	rc = end_grace(ctx, a, why);
	if (rc != MQS_OK)
		goto out;
	if (a->opts.per_device > 0) { /* no shared key: each device's own (downlink) */
		snprintf(detail, MQSA_DETAIL_MAX, "filter=%.300s per_device=%d", a->filter,
		         a->opts.per_device);
		goto out;
	}
	rc = mqs_keystore_create(ctx->db, ctx->mk, MQS_KEY_TOPIC, a->filter, &key);
	if (rc != MQS_OK) {
		if (rc == MQS_ERR_DB)
			mqsa_db_fail(ctx, why, "create topic key");
		else
			mqsa_fail(why, rc, "cannot create topic key: %s", mqs_strerror(rc));
		goto out;
	}
	a->res->key_id = key.id;
	if (a->res->nended > 0)
		snprintf(detail, MQSA_DETAIL_MAX, "filter=%.300s key=%lu grace_ended=%s", a->filter,
		         (unsigned long)key.id, a->res->ended);
	else
		snprintf(detail, MQSA_DETAIL_MAX, "filter=%.300s key=%lu", a->filter,
		         (unsigned long)key.id);
out:
	sqlite3_finalize(st);
	mqs_key_release(&key);
	return rc;
}

/* A per-device level (docs/payload-encryption.md, "Per-device downlink")
 * must exist in the topics filter matches: at most the filter's number of
 * levels, or any level under a trailing '#'.  0 (no device level) is fine. */
static int device_level_ok(const char *filter, int level)
{
	int levels = 1;
	const char *last = filter;

	if (level <= 0)
		return 1;
	for (const char *c = filter; *c != '\0'; c++) {
		if (*c == '/') {
			levels++;
			last = c + 1;
		}
	}
	return level <= levels || strcmp(last, "#") == 0;
}

/* Protect a topic filter. */
enum mqs_err mqsa_topic_protect(struct mqsa_ctx *ctx, const char *filter,
                                const struct mqsa_topic_opts *opts,
                                struct mqsa_topic_protected *res, char *why)
{
	struct protect_arg a;
	enum mqs_err rc;

	memset(res, 0, sizeof(*res));
	memset(&a, 0, sizeof(a));
	a.filter = filter;
	a.res = res;
	if (opts != NULL)
		a.opts = *opts;
	rc = mqsa_protected_filter_check(filter, why);
	if (rc == MQS_OK && (a.opts.rotate_every < 0 || a.opts.rotate_every > MQSA_TTL_MAX))
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid rotation period %lld",
		               a.opts.rotate_every);
	if (rc == MQS_OK && (a.opts.per_device < 0 || a.opts.per_device > 255))
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid device level %d", a.opts.per_device);
	if (rc == MQS_OK && !device_level_ok(filter, a.opts.per_device))
		rc = mqsa_fail(why, MQS_ERR_INVAL,
		               "filter %s has no topic level %d to name a device", filter,
		               a.opts.per_device);
	if (rc == MQS_OK)
		rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "topic protect", protect_change, &a, NULL, why);
	return rc;
}

/* topic unprotect: the filter, its grace and the keys retired. */
struct unprotect_arg {
	const char *filter;
	long long grace;
	int nretired;
};

/* Delete the row, retire the keys. */
static enum mqs_err unprotect_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                     char *why)
{
	struct unprotect_arg *a = data;
	char ids[MQSA_IDS_MAX];
	int n = 0;
	enum mqs_err rc;

	rc = mqsa_exec_text(ctx, "DELETE FROM protected_topics WHERE filter = ?1", a->filter, NULL,
	                    &n, why);
	if (rc == MQS_OK && n == 0)
		rc = mqsa_fail(why, MQS_ERR_NOENT, "topic %s is not protected", a->filter);
	if (rc == MQS_OK)
		rc = mqsa_topic_retire(ctx, a->filter, a->grace, ids, sizeof(ids), &a->nretired,
		                       why);
	if (rc == MQS_OK)
		snprintf(detail, MQSA_DETAIL_MAX, "filter=%.300s retired=%s grace=%lld", a->filter,
		         a->nretired > 0 ? ids : "-", a->grace);
	return rc;
}

/* Unprotect a topic filter. */
enum mqs_err mqsa_topic_unprotect(struct mqsa_ctx *ctx, const char *filter, long long grace,
                                  int *nretired, char *why)
{
	struct unprotect_arg a = {filter, grace, 0};
	enum mqs_err rc;

	*nretired = 0;
	rc = mqsa_protected_filter_check(filter, why);
	if (rc == MQS_OK && (grace < 0 || grace > MQSA_TTL_MAX))
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid grace period %lld", grace);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "topic unprotect", unprotect_change, &a, NULL, why);
	if (rc == MQS_OK)
		*nretired = a.nretired;
	return rc;
}

/* mqsa_topic_list's iterator. */
struct topic_list_arg {
	enum mqs_err (*each)(const struct mqsa_topic *t, void *arg);
	void *arg;
};

/* One protected topic row. */
static enum mqs_err topic_row(sqlite3_stmt *st, void *data)
{
	const struct topic_list_arg *a = data;
	struct mqsa_topic t;

	t.filter = mqsa_col(st, 0);
	t.created_at = sqlite3_column_int64(st, 1);
	t.active_key = sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 2);
	t.in_grace = sqlite3_column_int64(st, 3);
	t.rotate_every = sqlite3_column_int64(st, 4);
	t.per_device = sqlite3_column_int(st, 5);
	return a->each(&t, a->arg);
}

/* Protected topics by filter. */
enum mqs_err mqsa_topic_list(struct mqsa_ctx *ctx,
                             enum mqs_err (*each)(const struct mqsa_topic *t, void *arg), void *arg,
                             char *why)
{
	struct topic_list_arg a = {each, arg};
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_prepare(
		    ctx,
		    "SELECT p.filter, p.created_at, "
		    "(SELECT max(id) FROM keys k WHERE k.purpose = 'topic' AND "
		    "k.owner = p.filter AND k.state = 'active'), "
		    "(SELECT count(*) FROM keys k WHERE k.purpose = 'topic' AND "
		    "k.owner = p.filter AND k.state = 'retired' AND k.retire_after >= ?1), "
		    "p.rotate_every, p.per_device "
		    "FROM protected_topics p ORDER BY p.filter",
		    &st, why);
	if (rc != MQS_OK)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	return mqsa_each_row(ctx, st, topic_row, &a, "protected topics", why);
}
