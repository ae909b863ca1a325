/* SPDX-License-Identifier: BSD-3-Clause */
/* revoke.c - revoking a key holder rotates the key (docs/payload-encryption.md,
 * "Revoking rotates").
 *
 * key_grants records who was given which topic key: "key export" here
 * (mqsa_grants_record) and the plugin's online answers.  Every change runs
 * mqsa_revoke_rotate() inside its own transaction, before its audit row:
 * the one rule of lib/mqs_revoke.h (shared with the plugin, which runs it
 * when an allow entry expires) recomputes for each holder of a filter's
 * current key whether it may still read the filter (lists included) and
 * rotates each filter a holder lost, with its own audit row.
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
#include "mqs_revoke.h"
#include "mqsa_int.h"

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

/* After every change, inside its transaction: the rule of lib/mqs_revoke.h. */
enum mqs_err mqsa_revoke_rotate(struct mqsa_ctx *ctx, const char *action, char *why)
{
	char err[MQSA_WHY_MAX];
	int rc;

	/* every change: any of them (or time: an allow entry that expired,
	 * noticed here at the next change and by the plugin at once) can take
	 * a read right away; a holder that still reads costs one evaluation */
	enum mqs_err key_rc;

	(void)action;
	/* the master key is needed only when a key must be rotated */
	key_rc = mqsa_ctx_master_key(ctx, why);
	err[0] = '\0';
	rc = mqs_revoke_check(ctx->db, key_rc == MQS_OK ? ctx->mk : NULL, (int64_t)ctx->now,
	                      (int64_t)mqsa_retire_after(ctx, MQSA_GRACE_DEFAULT), ctx->who, NULL,
	                      err, sizeof(err));
	if (rc == MQS_OK) {
		why[0] = '\0';
		return MQS_OK;
	}
	if (key_rc != MQS_OK)
		return key_rc; /* why says why the master key did not load */
	if (rc == MQS_ERR_DB)
		return mqsa_db_fail(ctx, why, "rotate the keys of revoked holders");
	return mqsa_fail(why, rc, "%s", err);
}
