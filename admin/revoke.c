/* SPDX-License-Identifier: BSD-3-Clause */
/* revoke.c - revoking a key holder rotates the key (docs/payload-encryption.md,
 * "Revoking rotates").
 *
 * key_grants records who was given which topic key: "key export" here
 * (mqsa_grants_record) and the plugin's online answers.  Every change that
 * can take a read right away (device disable and rm, acl rm and add, group
 * member add (a group's deny rule) and rm, group rm, import) runs mqsa_revoke_rotate() inside its
 * own transaction, before its audit row: each holder of a filter's current key (active or
 * announced) that is no longer an enabled device that may read every topic of the filter loses its
 * grants of that filter, and the filter gets a new key at once (seal_after 0: the revoked holder
 * must not read what comes next); the replaced key keeps opening for the default grace, so retained
 * messages stay readable for the holders that remain.  Each rotation has its own audit row ("key
 * rotate", reason=revoke).
 *
 * The running plugin picks the new key up with its next view (within a
 * second) and pushes it to connected clients that fetched keys.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_buf.h"
#include "mqs_error.h"
#include "mqs_keyrotate.h"
#include "mqs_keystore.h"
#include "mqsa_int.h"

#define REVOKE_MAX (1u << 22) /* (holder, filter) pairs looked at per change */

/* Record that name was given filter's active and in-grace keys. */
enum mqs_err mqsa_grants_record(struct mqsa_ctx *ctx, const char *name, const char *filter,
                                char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_prepare(ctx,
	                  "INSERT OR REPLACE INTO key_grants (username, key_id, filter, via, at) "
	                  "SELECT ?1, id, ?2, 'export', ?3 FROM keys WHERE purpose = 'topic' "
	                  "AND owner = ?2 AND (state = 'active' OR retire_after >= ?3)",
	                  &st, why);
	if (rc != MQS_OK)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mqsa_db_fail(ctx, why, "record key grants");
	sqlite3_finalize(st);
	return rc;
}

/* 1 when action can take a read right away. */
static int revoking(const char *action)
{
	/* group member add too: the group's deny rules apply to the new member */
	static const char *const acts[] = {
	    "device rm",        "device disable",  "acl rm",   "acl add",
	    "group member add", "group member rm", "group rm", "import"};

	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
		if (strcmp(action, acts[i]) == 0)
			return 1;
	}
	return 0;
}

/* *ok = 1 when name is an enabled device that may read every topic of filter
 * (mqsa_read_covers checks both). */
static enum mqs_err still_reads(struct mqsa_ctx *ctx, const char *name, const char *filter, int *ok,
                                char *why)
{
	return mqsa_read_covers(ctx, name, filter, ok, why);
}

/* Forget name's grants of filter. */
static enum mqs_err grants_drop(struct mqsa_ctx *ctx, const char *name, const char *filter,
                                char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_prepare(ctx, "DELETE FROM key_grants WHERE username = ?1 AND filter = ?2", &st,
	                  why);
	if (rc != MQS_OK)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, filter, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mqsa_db_fail(ctx, why, "forget key grants");
	sqlite3_finalize(st);
	return rc;
}

/* Rotate filter now, with its own audit row. */
static enum mqs_err rotate_now(struct mqsa_ctx *ctx, const char *filter, const char *holder,
                               char *why)
{
	struct mqs_key k;
	sqlite3_stmt *st = NULL;
	char ids[MQSA_IDS_MAX], detail[MQSA_DETAIL_MAX];
	int n = 0;
	int rc;
	enum mqs_err ex;

	mqs_key_init(&k);
	ex = mqsa_ctx_master_key(ctx, why);
	if (ex != MQS_OK)
		return ex;
	rc = mqs_keystore_rotate(ctx->db, ctx->mk, filter,
	                         (int64_t)mqsa_retire_after(ctx, MQSA_GRACE_DEFAULT), 0, &k, ids,
	                         sizeof(ids), &n);
	if (rc != MQS_OK) {
		ex = rc == MQS_ERR_DB ? mqsa_db_fail(ctx, why, "rotate topic key")
		                      : mqsa_fail(why, rc, "cannot rotate the key of %s: %s",
		                                  filter, mqs_strerror(rc));
		goto out;
	}
	snprintf(detail, sizeof(detail),
	         "filter=%.300s key=%lu retired=%s grace=%d reason=revoke holder=%s", filter,
	         (unsigned long)k.id, n > 0 ? ids : "-", MQSA_GRACE_DEFAULT, holder);
	ex = mqsa_prepare(
	    ctx,
	    "INSERT INTO audit (at, who, action, detail) VALUES (?1, ?2, 'key rotate', "
	    "?3)",
	    &st, why);
	if (ex != MQS_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	sqlite3_bind_text(st, 2, ctx->who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, detail, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		ex = mqsa_db_fail(ctx, why, "write audit row");
out:
	sqlite3_finalize(st);
	mqs_key_release(&k);
	return ex;
}

/* Inside the transaction of action: rotate what a revoked holder holds. */
enum mqs_err mqsa_revoke_rotate(struct mqsa_ctx *ctx, const char *action, char *why)
{
	sqlite3_stmt *st = NULL;
	/* every holder is looked at: a cap would let a revoked holder past
	 * the first ones keep reading what comes next */
	char **names = NULL, **filters = NULL;
	size_t n = 0, cap_n = 0, cap_f = 0;
	int ok = 0;
	enum mqs_err rc;

	if (!revoking(action))
		return MQS_OK;
	/* holders of a filter's current key (active or announced), and of
	 * the key that seals now: during an announce period that is a retired
	 * key in its grace (as the plugin picks it, broker-plugin/keys.c) */
	rc = mqsa_prepare(ctx,
	                  "SELECT DISTINCT g.username, g.filter FROM key_grants g JOIN keys k ON "
	                  "k.id = g.key_id JOIN protected_topics p ON p.filter = g.filter "
	                  "WHERE p.per_device = 0 AND (k.state = 'active' OR k.id = (SELECT "
	                  "max(id) FROM keys WHERE purpose = 'topic' AND owner = g.filter AND "
	                  "seal_after <= ?1 AND (state = 'active' OR retire_after >= ?1)))",
	                  &st, why);
	if (rc != MQS_OK)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	for (;;) {
		int step = sqlite3_step(st);

		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = mqsa_db_fail(ctx, why, "read key grants");
			break;
		}
		if (mqs_array_reserve((void **)&names, &cap_n, n + 1, sizeof(*names), REVOKE_MAX,
		                      0) != MQS_OK ||
		    mqs_array_reserve((void **)&filters, &cap_f, n + 1, sizeof(*filters),
		                      REVOKE_MAX, 0) != MQS_OK) {
			rc = mqsa_fail(why, MQS_ERR_NOMEM, "out of memory reading key grants");
			break;
		}
		names[n] = strdup(mqsa_col(st, 0));
		filters[n] = strdup(mqsa_col(st, 1));
		if (names[n] == NULL || filters[n] == NULL) {
			free(names[n]);
			free(filters[n]);
			rc = mqsa_fail(why, MQS_ERR_NOMEM, "out of memory");
			break;
		}
		n++;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < n && rc == MQS_OK; i++) {
		rc = still_reads(ctx, names[i], filters[i], &ok, why);
		if (rc != MQS_OK || ok)
			continue;
		rc = grants_drop(ctx, names[i], filters[i], why);
		if (rc == MQS_OK)
			rc = rotate_now(ctx, filters[i], names[i], why);
	}
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
		free(filters[i]);
	}
	free(names);
	free(filters);
	return rc;
}
