/* SPDX-License-Identifier: BSD-3-Clause */
/* rotate.c - automatic topic key rotations by the plugin
 * (docs/payload-encryption.md, "Keys that do not wear out").
 *
 * Two causes: a key reached its rotate_at seal count (seals.h), or the
 * filter's rotate_every ("topic protect --rotate-every") has passed since
 * its active key started sealing (an announced key counts from its
 * seal_after, so a short period never rotates a key before it seals);
 * looked up once a second on the tick, on the writer connection: the
 * plugin runs all the time, mqttsec-acl does not.
 *
 * With plugin_opt_key_announce (default 5 s) the new key is announced: it
 * is exported and handed out at once but seals only that many seconds
 * later, so subscribers can fetch it before they meet it; the old key
 * keeps sealing until then.  Once a second the tick looks for announced
 * keys whose time came (also those of "key rotate --announce") and builds
 * a new view.
 *
 * A rotation is one transaction on the writer connection: check that the
 * key to replace is still the filter's active one (mqttsec-acl may have
 * rotated it meanwhile), mqs_keystore_rotate() (the same operation as
 * "key rotate"; the old key opens for plugin_opt_key_grace more), and an
 * audit row by "mqttsec-plugin".  It never waits for a lock: a busy
 * database leaves the rotation for the next tick (the old key keeps
 * sealing, up to its hard bound).  Then the filter's entry of the view in
 * use gets the new key (unless announced), so the next message is sealed with it without
 * waiting for a reload, and a new view is built (it also learns the new key
 * for recognising forged envelopes, forged.h).
 *
 * Revoking rotates (mqsp_rotate_revoke_tick): when an allow entry expires
 * with the allow list on, no admin command runs, so the plugin runs the
 * rule of lib/mqs_revoke.h itself from the next tick, slices of
 * REVOKE_SLICE holders for about REVOKE_BUDGET_MS a tick, in one
 * transaction a tick on the writer connection, never waiting for a lock.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "keysvc.h"
#include "mqs_alloc.h"
#include "mqs_keyrotate.h"
#include "mqs_keystore.h"
#include "mqs_revoke.h"
#include "plugin.h"

#define DUE_MAX          16 /* rotations per tick at most */
#define SCHEDULE_EVERY   1  /* seconds between two looks at rotate_every */
#define IDS_MAX          128
#define REVOKE_SLICE     16 /* key holders the revoke rule looks at per slice */
#define REVOKE_BUDGET_MS 5  /* ... slice after slice, for about this long a tick */

/* Run one statement without results on db. */
static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? MQS_OK : MQS_ERR_DB;
}

/* Inside the transaction: the id of filter's active topic key (0: none). */
static int active_id(sqlite3 *db, const char *filter, uint32_t *id)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;

	*id = 0;
	if (sqlite3_prepare_v2(db,
	                       "SELECT max(id) FROM keys WHERE purpose = 'topic' AND owner = ?1 "
	                       "AND state = 'active'",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	*id = (uint32_t)sqlite3_column_int64(st, 0);
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Inside the transaction: the audit row of a rotation. */
static int audit(sqlite3 *db, int64_t now, const char *detail)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;

	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO audit (at, who, action, detail) VALUES "
	                       "(?1, 'mqttsec-plugin', 'key rotate', ?2)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, detail, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Give every entry of the view in use for filter the new key. */
static void patch_view(struct mqsp_plugin *p, const char *filter, const struct mqs_key *k)
{
	struct mqsp_keys *keys = p->snap->keys;

	if (keys == NULL)
		return;
	for (size_t i = 0; i < keys->nprotected; i++) {
		struct mqsp_protected *pt = &keys->protected[i];

		if (strcmp(pt->filter, filter) != 0)
			continue;
		memcpy(pt->key, k->key, sizeof(pt->key));
		pt->key_id = k->id;
	}
}

/* Replace key old of filter.  Returns MQS_OK (rotated), MQS_ERR_EXISTS (old
 * is not the active key any more: nothing done), MQS_ERR_DB (busy or
 * failed: nothing done) or another error. */
static int rotate_filter(struct mqsp_plugin *p, const char *filter, uint32_t old,
                         const char *reason, int64_t now)
{
	sqlite3 *db = mqsp_store_writer(p->store);
	int64_t announce = p->opt.key_announce;
	struct mqs_key k;
	char ids[IDS_MAX], detail[512];
	uint32_t cur = 0;
	int n = 0;
	int rc;

	mqs_key_init(&k);
	sqlite3_busy_timeout(db, 0);
	rc = exec(db, "BEGIN IMMEDIATE");
	if (rc != MQS_OK)
		return rc;
	rc = active_id(db, filter, &cur);
	if (rc == MQS_OK && cur != old)
		rc = MQS_ERR_EXISTS;
	if (rc == MQS_OK)
		rc = mqs_keystore_rotate(db, p->mk, filter, now + announce + p->opt.key_grace,
		                         announce > 0 ? now + announce : 0, &k, ids, sizeof(ids),
		                         &n);
	if (rc == MQS_OK) {
		snprintf(detail, sizeof(detail),
		         "filter=%.300s key=%lu retired=%s grace=%lld announce=%lld reason=%s",
		         filter, (unsigned long)k.id, n > 0 ? ids : "-",
		         (long long)p->opt.key_grace, (long long)announce, reason);
		rc = audit(db, now, detail);
	}
	if (rc == MQS_OK)
		rc = exec(db, "COMMIT");
	if (rc != MQS_OK) {
		if (!sqlite3_get_autocommit(db))
			(void)exec(db, "ROLLBACK");
		goto out;
	}
	if (announce == 0)
		patch_view(p, filter, &k); /* announced: the view changes at seal_after */
	mqsp_log(MOSQ_LOG_NOTICE,
	         "mqttsec: rotated topic key %lu (%s, %llu seals counted): key %lu seals in %lld "
	         "s, the old one opens for %lld s more",
	         (unsigned long)old, reason, (unsigned long long)mqsp_seals_used(p->seals, old),
	         (unsigned long)k.id, (long long)announce,
	         (long long)(announce + p->opt.key_grace));
	mqsp_keysvc_rotated(p, filter, k.id); /* clients that fetched it: push now */
out:
	mqs_key_release(&k);
	return rc;
}

/* After a rotation or a refusal: a new view (the old build may predate it). */
static void want_view(struct mqsp_plugin *p)
{
	if (p->build != NULL) {
		mqsp_build_free(p->build);
		p->build = NULL;
	}
	p->rebuild = 1;
	p->next_poll_ms = 0;
}

/* Rotate key id of the view in use. */
void mqsp_rotate_key(struct mqsp_plugin *p, uint32_t id, int64_t now)
{
	const struct mqsp_keys *keys = p->snap->keys;
	char *filter = NULL;
	int rc;

	for (size_t i = 0; keys != NULL && i < keys->nprotected; i++) {
		if (keys->protected[i].key_id == id) {
			filter = mqs_strdup(keys->protected[i].filter);
			if (filter == NULL)
				return; /* tried again on the tick */
			break;
		}
	}
	if (filter == NULL) { /* no longer sealing: nothing to do */
		mqsp_seals_done(p->seals, id);
		return;
	}
	rc = rotate_filter(p, filter, id, "seal count", now);
	if (rc == MQS_OK || rc == MQS_ERR_EXISTS) {
		mqsp_seals_done(p->seals, id);
		want_view(p);
	}
	mqs_free(filter);
}

/* Filters whose rotate_every has passed: rotate them. */
static void schedule(struct mqsp_plugin *p, int64_t now)
{
	sqlite3 *db = mqsp_store_writer(p->store);
	sqlite3_stmt *st = NULL;
	char *filters[DUE_MAX];
	uint32_t ids[DUE_MAX];
	size_t n = 0;
	int rotated = 0;

	if (sqlite3_prepare_v2(db,
	                       "SELECT p.filter, k.id FROM protected_topics p JOIN keys k ON "
	                       "k.id = (SELECT max(id) FROM keys WHERE purpose = 'topic' AND "
	                       "owner = p.filter AND state = 'active') WHERE p.rotate_every > 0 "
	                       "AND p.per_device = 0 "
	                       "AND max(k.created_at, k.seal_after) + p.rotate_every <= ?1",
	                       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, now);
	while (n < DUE_MAX && sqlite3_step(st) == SQLITE_ROW) {
		const char *f = (const char *)sqlite3_column_text(st, 0);

		if (f == NULL)
			continue;
		filters[n] = mqs_strdup(f);
		if (filters[n] == NULL)
			break;
		ids[n++] = (uint32_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < n; i++) {
		if (rotate_filter(p, filters[i], ids[i], "rotate-every", now) == MQS_OK) {
			mqsp_seals_done(p->seals, ids[i]);
			rotated = 1;
		}
		mqs_free(filters[i]);
	}
	if (rotated)
		want_view(p);
}

/* An announced key whose seal_after passed since the last look: it seals
 * from the next view on. */
static void announced_due(struct mqsp_plugin *p, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int64_t since = p->seal_checked != 0 ? p->seal_checked : now - SCHEDULE_EVERY - 1;

	if (sqlite3_prepare_v2(mqsp_store_writer(p->store),
	                       "SELECT count(*) FROM keys WHERE purpose = 'topic' AND "
	                       "seal_after > ?1 AND seal_after <= ?2",
	                       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, now);
	if (sqlite3_step(st) == SQLITE_ROW) {
		p->seal_checked = now;
		if (sqlite3_column_int64(st, 0) > 0)
			want_view(p);
	}
	sqlite3_finalize(st);
}

/* The revoke rule after an allow entry expired, in slices of REVOKE_SLICE
 * holders for about REVOKE_BUDGET_MS a tick, in one transaction a tick, so
 * that a large fleet never holds the broker thread for long
 * (docs/payload-encryption.md, "Revoking rotates"). */
void mqsp_rotate_revoke_tick(struct mqsp_plugin *p, int64_t now)
{
	sqlite3 *db = mqsp_store_writer(p->store);
	const char *after = p->revoke_after;
	char *mine = NULL, *next = NULL;
	double t0 = mqsp_mono_ms();
	unsigned n = 0, rotated = 0;
	char err[512];
	int rc;

	sqlite3_busy_timeout(db, 0);
	rc = exec(db, "BEGIN IMMEDIATE");
	if (rc != MQS_OK)
		return; /* busy: the next tick */
	err[0] = '\0';
	do {
		rc =
		    mqs_revoke_check_slice(db, p->mk, now, now + p->opt.key_grace, "mqttsec-plugin",
		                           after, REVOKE_SLICE, &next, &n, err, sizeof(err));
		if (rc != MQS_OK)
			break;
		mqs_free(mine);
		mine = next;
		after = next;
		rotated += n;
	} while (next != NULL && mqsp_mono_ms() - t0 < REVOKE_BUDGET_MS);
	if (rc == MQS_OK)
		rc = exec(db, "COMMIT");
	if (rc != MQS_OK) {
		int code = sqlite3_extended_errcode(db);

		mqs_free(mine); /* the slices of this tick are undone */
		if (!sqlite3_get_autocommit(db))
			(void)exec(db, "ROLLBACK");
		if (code != SQLITE_BUSY && code != SQLITE_LOCKED) {
			mqsp_log(MOSQ_LOG_WARNING,
			         "mqttsec: cannot rotate the keys of holders that lost their read "
			         "right: %s",
			         err[0] != '\0' ? err : mqs_strerror(rc));
			mqsp_rotate_revoke_reset(
			    p); /* the next expiry or admin change tries again */
			p->revoke_pending = 0;
		}
		return;
	}
	mqs_free(p->revoke_after);
	p->revoke_after = mine;
	p->revoke_rotated += rotated;
	if (rotated > 0)
		want_view(p); /* the new view pushes the new keys */
	if (mine != NULL)
		return; /* more on the next tick */
	if (p->revoke_rotated > 0)
		mqsp_log(MOSQ_LOG_NOTICE,
		         "mqttsec: rotated the topic keys of %u filters: holders lost their read "
		         "right (an allow entry expired)",
		         p->revoke_rotated);
	p->revoke_rotated = 0;
	/* an entry that expired during the pass: the holders before where it
	 * was are looked at again */
	p->revoke_pending = p->revoke_again;
	p->revoke_again = 0;
}

/* Ask for a pass of the revoke rule: a new one, or one more after the
 * pass in progress. */
void mqsp_rotate_revoke_want(struct mqsp_plugin *p)
{
	if (p->revoke_pending && p->revoke_after != NULL)
		p->revoke_again = 1;
	p->revoke_pending = 1;
}

/* Forget the pass in progress. */
void mqsp_rotate_revoke_reset(struct mqsp_plugin *p)
{
	mqs_free(p->revoke_after);
	p->revoke_after = NULL;
	p->revoke_rotated = 0;
	p->revoke_again = 0;
}

/* On the tick. */
void mqsp_rotate_tick(struct mqsp_plugin *p, int64_t now)
{
	uint32_t due[DUE_MAX];
	size_t n = mqsp_seals_due(p->seals, due, DUE_MAX);

	for (size_t i = 0; i < n; i++)
		mqsp_rotate_key(p, due[i], now);
	if (now < p->next_schedule)
		return;
	p->next_schedule = now + SCHEDULE_EVERY;
	schedule(p, now);
	announced_due(p, now);
}
