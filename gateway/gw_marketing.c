/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_marketing.c - campaigns from approval to the last delivery
 * (gw_marketing.h; docs/marketing.md, "Delivery rules").
 *
 * The fan-out is one INSERT ... SELECT per channel and batch over
 * group_members (cursor = last recipient id), recipients, consents and
 * optouts; the first attempt of each row comes from the SQL function
 * gw_quiet_open(tz, now) registered on the store's connection (quiet hours
 * of the recipient's zone, gw_quiet.h) and its retry key from gw_uuid4().
 * A batch is one transaction; its size adapts so that one turn stays
 * short (BATCH_BUDGET_US), never above [marketing] fanout_batch. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "gateway.h"
#include "gw_campaign.h"
#include "gw_config.h"
#include "gw_engine.h"
#include "gw_log.h"
#include "gw_marketing.h"
#include "gw_outbox.h"
#include "gw_pubq.h"
#include "gw_quiet.h"
#include "gw_recipient.h"
#include "gw_review.h"
#include "gw_unsub.h"
#include "mqs_alloc.h"
#include "mqs_util.h"

#define CACHE_MAX       4           /* campaigns kept parsed */
#define BATCH_MIN       50          /* recipients per batch at least */
#define BATCH_START     200         /* recipients in the first batch */
#define BATCH_BUDGET_US 2000        /* a batch should take at most this long */
#define SLOW_EVERY_MS   1000        /* expiry, scheduling, start, done: once a second */
#define WARNED_MAX      32          /* campaigns whose missing proof was logged */
#define PUBLISHER       "$campaign" /* messages.publisher of campaign messages */
#define UNSUB_URL_MAX   512

struct cached {
	int64_t msg_rowid;  /* messages.id (0: free) */
	int64_t camp_rowid; /* campaigns.id */
	struct gw_campaign c;
	uint64_t used; /* for eviction */
};

struct gw_marketing {
	struct gw_gateway *gw;
	struct gw_quiet quiet;
	struct cached cache[CACHE_MAX];
	uint64_t use_clock;
	size_t batch;          /* recipients in the next batch */
	unsigned yielded;      /* batches put off in a row for waiting input
	                        * (GW_MARKETING_YIELD_MAX) */
	uint64_t paused_since; /* monotonic ms the alert pause began, 0: none */
	uint64_t next_slow;    /* Unix ms of the next once-a-second steps */
	int fanning;           /* a fan-out has recipients left */
	int64_t warned[WARNED_MAX];
	size_t nwarned;
};

/* Monotonic microseconds. */
static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* SQL gw_quiet_open(tz, now_ms): the first time >= now outside the quiet
 * hours of zone tz (NULL: the default zone). */
static void sql_quiet_open(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct gw_marketing *m = sqlite3_user_data(ctx);
	const char *tz = (const char *)sqlite3_value_text(argv[0]);
	int64_t now = sqlite3_value_int64(argv[1]);

	(void)argc;
	sqlite3_result_int64(ctx, gw_quiet_next_open(&m->quiet, tz, now));
}

/* SQL gw_uuid4(): a random UUID (the retry key of a row). */
static void sql_uuid4(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char uuid[37];

	(void)argc;
	(void)argv;
	if (gw_uuid4(uuid) != 0) {
		sqlite3_result_error(ctx, "cannot draw a random retry key", -1);
		return;
	}
	sqlite3_result_text(ctx, uuid, -1, SQLITE_TRANSIENT);
}

/* Forget cached campaigns. */
static void cache_clear(struct gw_marketing *m)
{
	for (size_t i = 0; i < CACHE_MAX; i++) {
		if (m->cache[i].msg_rowid != 0)
			gw_campaign_release(&m->cache[i].c);
		memset(&m->cache[i], 0, sizeof(m->cache[i]));
	}
}

/* The campaign of messages row msg_rowid, parsed once (NULL with rc set:
 * MQS_ERR_NOENT, MQS_ERR_DB, MQS_ERR_UNWRAP, MQS_ERR_PARSE...). */
static struct cached *campaign_of(struct gw_marketing *m, int64_t msg_rowid, int *rc)
{
	struct gw_store *s = &m->gw->store;
	struct cached *slot = &m->cache[0];
	sqlite3_stmt *st;
	uint8_t *bytes = NULL;
	size_t len = 0;
	int64_t camp = 0;
	char err[256], approved[65] = "", hex[65];

	for (size_t i = 0; i < CACHE_MAX; i++) {
		if (m->cache[i].msg_rowid == msg_rowid) {
			m->cache[i].used = ++m->use_clock;
			return &m->cache[i];
		}
		if (m->cache[i].used < slot->used)
			slot = &m->cache[i];
	}
	st = gw_store_stmt(s, "SELECT id, sha256 FROM campaigns WHERE message = ?");
	if (st == NULL) {
		*rc = MQS_ERR_DB;
		return NULL;
	}
	sqlite3_bind_int64(st, 1, msg_rowid);
	*rc = MQS_ERR_NOENT;
	if (sqlite3_step(st) == SQLITE_ROW) {
		camp = sqlite3_column_int64(st, 0);
		snprintf(approved, sizeof(approved), "%s",
		         (const char *)sqlite3_column_text(st, 1) != NULL
		             ? (const char *)sqlite3_column_text(st, 1)
		             : "");
		*rc = MQS_OK;
	}
	gw_store_done(st);
	if (*rc != MQS_OK)
		return NULL;
	*rc = gw_review_load(s, camp, &bytes, &len);
	if (*rc != MQS_OK)
		return NULL;
	/* what goes out is exactly what the reviewers approved: the bytes
	 * must still hash to the sha256 their approvals name */
	gw_campaign_sha256_hex(bytes, len, hex);
	if (strcmp(hex, approved) != 0) {
		gw_log(GW_LOG_ERR,
		       "campaign of message %lld does not match the sha256 it was approved for: "
		       "nothing of it is sent",
		       (long long)msg_rowid);
		mqs_secret_free(bytes, len);
		*rc = MQS_ERR_INVAL;
		return NULL;
	}
	if (slot->msg_rowid != 0)
		gw_campaign_release(&slot->c);
	memset(slot, 0, sizeof(*slot));
	*rc = gw_campaign_parse(bytes, len, &slot->c, err, sizeof(err));
	mqs_secret_free(bytes, len);
	if (*rc != MQS_OK) {
		gw_log(GW_LOG_ERR, "campaign of message %lld does not parse any more: %s",
		       (long long)msg_rowid, err);
		memset(slot, 0, sizeof(*slot));
		return NULL;
	}
	slot->msg_rowid = msg_rowid;
	slot->camp_rowid = camp;
	slot->used = ++m->use_clock;
	return slot;
}

/* The renderer given to the engine (gw_engine.h): the campaign for the
 * row's channel and recipient, with the unsubscribe link for email. */
static int render_row(void *arg, const struct gw_outbox_row *row, struct gw_engine_rendered *out)
{
	struct gw_marketing *m = arg;
	const struct gw_config *conf = m->gw->conf;
	struct gw_rendered r = {0};
	struct cached *c;
	char url[UNSUB_URL_MAX];
	int rc = MQS_OK, have_url = 0;

	memset(out, 0, sizeof(*out));
	c = campaign_of(m, row->msg_rowid, &rc);
	if (c == NULL)
		return rc;
	if (row->chan == GW_CH_EMAIL && conf->http.public_url != NULL && row->recipient_id > 0) {
		struct gw_unsub_ref ref = {.recipient_id = row->recipient_id,
		                           .channel = GW_CH_EMAIL,
		                           .campaign_id = c->camp_rowid};

		/* the token binds the recipient's creation time (gw_unsub.h),
		 * read by the claim with the rest of the row */
		ref.created_at = row->recipient_created_at;
		if (ref.created_at < 0)
			rc = gw_recipient_created_at(&m->gw->store, row->recipient_id,
			                             &ref.created_at);
		if (rc == MQS_OK)
			rc = gw_unsub_url(&m->gw->store, conf->http.public_url, &ref, url,
			                  sizeof(url));
		if (rc != MQS_OK)
			return rc;
		have_url = 1;
	}
	rc = gw_campaign_render(&c->c, row->chan, row->recipient, have_url ? url : NULL, &r);
	if (rc != MQS_OK)
		return rc;
	out->subject = r.subject;
	out->text = r.text;
	out->html = r.html;
	if (have_url) {
		out->unsub_url = mqs_strdup(url);
		if (out->unsub_url == NULL) {
			gw_rendered_release(&r);
			memset(out, 0, sizeof(*out));
			return MQS_ERR_NOMEM;
		}
	}
	return MQS_OK;
}

/* The content for reviewers goes out sealed with the gateway's device key
 * (docs/marketing.md, "Setting it up"): with a marketing route, [broker]'s
 * credentials must hold one.  MQS_OK, or MQS_ERR_INVAL with why in err. */
static int check_device_key(const struct gw_gateway *gw, char *err, size_t errlen)
{
	const struct gw_config *conf = gw->conf;

	if (mqs_creds_device_key(&gw->creds) != NULL)
		return MQS_OK;
	for (size_t r = 0; r < conf->nroutes; r++) {
		const struct gw_route *rt = &conf->routes[r];

		if (rt->kind != GW_KIND_MARKETING || !rt->enabled)
			continue;
		snprintf(
		    err, errlen,
		    "%s:%d: [route %s] credentials %s have no device key to seal content for "
		    "reviewers with: use the gateway's own credentials (mqttsec-acl device add) "
		    "and export the topic keys into them",
		    conf->path, rt->line, rt->name, conf->brokers[0].credentials);
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* The marketing state. */
struct gw_marketing *gw_marketing_new(struct gw_gateway *gw, char *err, size_t errlen)
{
	const struct gw_config *conf = gw->conf;
	struct gw_marketing *m;

	if (check_device_key(gw, err, errlen) != MQS_OK)
		return NULL;
	m = mqs_calloc(1, sizeof(*m));
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->gw = gw;
	if (gw_quiet_init(&m->quiet, conf->quiet_start_min, conf->quiet_end_min,
	                  conf->default_tz) != MQS_OK) {
		mqs_free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* start small and grow while batches stay short: the first batch of
	 * a large campaign must not stall the loop before it is measured */
	m->batch = conf->fanout_batch > 0 && conf->fanout_batch < BATCH_START ? conf->fanout_batch
	                                                                      : BATCH_START;
	if (sqlite3_create_function(gw->store.db, "gw_quiet_open", 2, SQLITE_UTF8, m,
	                            sql_quiet_open, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(gw->store.db, "gw_uuid4", 0, SQLITE_UTF8, NULL, sql_uuid4, NULL,
	                            NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot register the marketing sql functions: %s",
		         sqlite3_errmsg(gw->store.db));
		gw_quiet_release(&m->quiet);
		mqs_free(m);
		return NULL;
	}
	if (gw->engine != NULL)
		gw_engine_set_renderer(gw->engine, render_row, m);
	return m;
}

/* Free. */
void gw_marketing_free(struct gw_marketing *m)
{
	if (m == NULL)
		return;
	if (m->gw->engine != NULL)
		gw_engine_set_renderer(m->gw->engine, NULL, NULL);
	cache_clear(m);
	gw_quiet_release(&m->quiet);
	mqs_free(m);
}

/* 1 when campaign rowid was already reported as unproven (and remember it). */
static int warned_once(struct gw_marketing *m, int64_t rowid)
{
	for (size_t i = 0; i < m->nwarned; i++) {
		if (m->warned[i] == rowid)
			return 1;
	}
	if (m->nwarned < WARNED_MAX)
		m->warned[m->nwarned++] = rowid;
	return 0;
}

/* Step 2: approved -> scheduled, only with the audit's proof. */
static void schedule_approved(struct gw_marketing *m, int64_t now)
{
	struct gw_store *s = &m->gw->store;
	sqlite3_stmt *st = gw_store_prepare(
	    s, "SELECT id, cid, levels, sha256, author FROM campaigns WHERE state = 'approved' "
	       "ORDER BY id LIMIT 16");
	int64_t ids[16];
	char cids[16][GW_ID_MAX + 1], sha[16][65], levels[16][600], author[16][GW_PRINCIPAL_MAX];
	size_t n = 0;

	if (st == NULL)
		return;
	while (n < 16 && sqlite3_step(st) == SQLITE_ROW) {
		ids[n] = sqlite3_column_int64(st, 0);
		snprintf(cids[n], sizeof(cids[n]), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(levels[n], sizeof(levels[n]), "%s",
		         (const char *)sqlite3_column_text(st, 2));
		snprintf(sha[n], sizeof(sha[n]), "%s", (const char *)sqlite3_column_text(st, 3));
		snprintf(author[n], sizeof(author[n]), "%s",
		         (const char *)sqlite3_column_text(st, 4));
		n++;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *up;
		int ok, changed = 0;

		if (gw_store_begin(s) != MQS_OK)
			return;
		ok = gw_review_fully_approved(s, cids[i], levels[i], sha[i], author[i]);
		if (ok != 1) {
			gw_store_rollback(s);
			if (ok < 0)
				gw_log(GW_LOG_WARN,
				       "campaign %s: cannot read its audit now (database error): "
				       "scheduling retried",
				       cids[i]);
			if (ok == 0 && !warned_once(m, ids[i]))
				gw_log(GW_LOG_WARN,
				       "campaign %s is approved but its audit does not prove every "
				       "level: it is not scheduled",
				       cids[i]);
			continue;
		}
		up = gw_store_stmt(s, "UPDATE campaigns SET state = 'scheduled', updated_at = ? "
		                      "WHERE id = ? AND state = 'approved'");
		if (up == NULL)
			goto fail;
		sqlite3_bind_int64(up, 1, now);
		sqlite3_bind_int64(up, 2, ids[i]);
		if (sqlite3_step(up) == SQLITE_DONE)
			changed = sqlite3_changes(s->db);
		else
			changed = -1;
		gw_store_done(up);
		if (changed < 0)
			goto fail;
		if (changed > 0 && gw_review_audit(s, cids[i], "scheduled", NULL, NULL, NULL,
		                                   sha[i], NULL, "gateway", now) != MQS_OK)
			goto fail;
		if (gw_store_commit(s) != MQS_OK)
			goto fail;
		if (changed > 0)
			gw_log(GW_LOG_INFO, "campaign %s scheduled", cids[i]);
		continue;
	fail:
		gw_store_rollback(s);
		gw_log(GW_LOG_WARN, "cannot schedule campaign %s now: retrying", cids[i]);
	}
}

/* Step 3a: scheduled campaigns whose send_at has come -> sending, with
 * their messages row and their counters. */
static void start_due(struct gw_marketing *m, int64_t now)
{
	struct gw_store *s = &m->gw->store;
	sqlite3_stmt *st = gw_store_prepare(
	    s, "SELECT id, cid, route, grp, channels, sha256 FROM campaigns "
	       "WHERE state = 'scheduled' AND send_at <= ? ORDER BY send_at, id LIMIT 1");
	char cid[GW_ID_MAX + 1], route[GW_NAME_MAX + 1], grp[72], chans[80], sha[65];
	struct gw_message msg = {0};
	unsigned mask = 0;
	int64_t id, msg_rowid = 0;
	int rc;

	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return;
	}
	id = sqlite3_column_int64(st, 0);
	snprintf(cid, sizeof(cid), "%s", (const char *)sqlite3_column_text(st, 1));
	snprintf(route, sizeof(route), "%s", (const char *)sqlite3_column_text(st, 2));
	snprintf(grp, sizeof(grp), "%s", (const char *)sqlite3_column_text(st, 3));
	snprintf(chans, sizeof(chans), "%s", (const char *)sqlite3_column_text(st, 4));
	snprintf(sha, sizeof(sha), "%s", (const char *)sqlite3_column_text(st, 5));
	sqlite3_finalize(st);
	if (gw_chan_list_parse(chans, &mask, NULL, NULL, NULL, 0) != 0)
		mask = 0;
	msg.msg_id = cid;
	msg.route = route;
	msg.topic = "";
	msg.kind = "marketing";
	msg.severity = 0;
	msg.group = grp;
	msg.title = "";
	msg.body = "";
	msg.publisher = PUBLISHER;
	if (gw_store_begin(s) != MQS_OK)
		return;
	rc = gw_outbox_insert_message(s, &msg, now, &msg_rowid);
	if (rc != MQS_OK)
		goto fail;
	st =
	    gw_store_stmt(s, "UPDATE campaigns SET state = 'sending', message = ?, cursor = 0, "
	                     "fanned_out = 0, updated_at = ? WHERE id = ? AND state = 'scheduled'");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, msg_rowid);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
	gw_store_done(st);
	if (rc != MQS_OK)
		goto fail;
	if (sqlite3_changes(s->db) != 1) {
		/* cancelled (or started elsewhere) since it was read: start
		 * nothing, no messages row, no audit */
		gw_store_rollback(s);
		gw_log(GW_LOG_INFO, "campaign %s: no longer scheduled, not started", cid);
		return;
	}
	st = gw_store_stmt(s, "INSERT INTO campaign_stats(campaign, channel) VALUES (?, ?) "
	                      "ON CONFLICT DO NOTHING");
	if (st == NULL)
		goto fail;
	for (int ch = 0; ch < GW_CH__COUNT && rc == MQS_OK; ch++) {
		if (!(mask & GW_CH_BIT(ch)))
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
	}
	gw_store_done(st);
	if (rc != MQS_OK)
		goto fail;
	if (gw_review_audit(s, cid, "sending", NULL, NULL, NULL, sha, NULL, "gateway", now) !=
	    MQS_OK)
		goto fail;
	if (gw_store_commit(s) != MQS_OK)
		goto fail;
	gw_log(GW_LOG_INFO, "campaign %s: sending to group %s by %s", cid, grp, chans);
	m->fanning = 1;
	return;
fail:
	gw_store_rollback(s);
	gw_log(GW_LOG_WARN, "cannot start campaign %s now (%s): retrying", cid,
	       mqs_strerror(rc == MQS_OK ? MQS_ERR_DB : rc));
}

/* The fan-out statements of one channel, for its address column COL:
 * string literals, so the store's statement cache (keyed by the text's
 * address) keeps them prepared. */
#define FAN_INSERT(COL)                                                                            \
	"INSERT INTO outbox(message, recipient, channel, state, attempts, next_attempt_at, "       \
	"retry_key, step, created_at, updated_at, prio, deferred) "                                \
	"SELECT ?1, r.name, ?2, 'queued', 0, gw_quiet_open(r.tz, ?3), gw_uuid4(), 0, ?3, ?3, 1, "  \
	"gw_quiet_open(r.tz, ?3) > ?3 "                                                            \
	"FROM group_members gm JOIN recipients r ON r.id = gm.recipient_id "                       \
	"JOIN consents c ON c.recipient_id = r.id AND c.channel = ?2 AND c.state = 1 "             \
	"WHERE gm.group_id = ?4 AND gm.recipient_id > ?5 AND gm.recipient_id <= ?6 "               \
	"AND r." COL " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM optouts o "                       \
	"WHERE o.recipient_id = r.id AND o.channel = ?2) ON CONFLICT DO NOTHING"
#define FAN_COUNT(COL)                                                                             \
	"SELECT count(*), coalesce(sum(o.recipient_id IS NOT NULL), 0), "                          \
	"coalesce(sum(o.recipient_id IS NULL AND coalesce(c.state, 0) = 0), 0), "                  \
	"coalesce(sum(o.recipient_id IS NULL AND c.state = 1 AND r." COL " IS NULL), 0) "          \
	"FROM group_members gm JOIN recipients r ON r.id = gm.recipient_id "                       \
	"LEFT JOIN consents c ON c.recipient_id = r.id AND c.channel = ?1 "                        \
	"LEFT JOIN optouts o ON o.recipient_id = r.id AND o.channel = ?1 "                         \
	"WHERE gm.group_id = ?2 AND gm.recipient_id > ?3 AND gm.recipient_id <= ?4"

static const char fan_insert_email[] = FAN_INSERT("email");
static const char fan_insert_phone[] = FAN_INSERT("phone");
static const char fan_insert_line[] = FAN_INSERT("line");
static const char fan_count_email[] = FAN_COUNT("email");
static const char fan_count_phone[] = FAN_COUNT("phone");
static const char fan_count_line[] = FAN_COUNT("line");

/* Inside a transaction: queue channel ch's rows for the members of group
 * gid with recipient id in (cursor, last] and count the skips (an opt-out
 * first, then a missing consent, then a missing address). */
static int fan_chan(struct gw_store *s, int64_t camp, int64_t msg_rowid, int64_t gid, int ch,
                    int64_t cursor, int64_t last, int64_t now)
{
	const char *ins = ch == GW_CH_EMAIL ? fan_insert_email
	                  : ch == GW_CH_SMS ? fan_insert_phone
	                                    : fan_insert_line;
	const char *cnt = ch == GW_CH_EMAIL ? fan_count_email
	                  : ch == GW_CH_SMS ? fan_count_phone
	                                    : fan_count_line;
	sqlite3_stmt *st;
	int rc = MQS_ERR_DB;
	int64_t aud = 0, opt = 0, nocons = 0, noaddr = 0;

	st = gw_store_stmt(s, ins);
	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, msg_rowid);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, gid);
	sqlite3_bind_int64(st, 5, cursor);
	sqlite3_bind_int64(st, 6, last);
	if (sqlite3_step(st) != SQLITE_DONE) {
		gw_log(GW_LOG_ERR, "db: cannot queue campaign rows: %s", sqlite3_errmsg(s->db));
		gw_store_done(st);
		return rc;
	}
	gw_store_done(st);
	st = gw_store_stmt(s, cnt);
	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, gw_chan_name(ch), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, gid);
	sqlite3_bind_int64(st, 3, cursor);
	sqlite3_bind_int64(st, 4, last);
	if (sqlite3_step(st) == SQLITE_ROW) {
		aud = sqlite3_column_int64(st, 0);
		opt = sqlite3_column_int64(st, 1);
		nocons = sqlite3_column_int64(st, 2);
		noaddr = sqlite3_column_int64(st, 3);
		rc = MQS_OK;
	}
	gw_store_done(st);
	if (rc != MQS_OK)
		return rc;
	st = gw_store_stmt(s, "UPDATE campaign_stats SET audience = audience + ?, "
	                      "opted_out = opted_out + ?, no_consent = no_consent + ?, "
	                      "no_address = no_address + ? WHERE campaign = ? AND channel = ?");
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, aud);
	sqlite3_bind_int64(st, 2, opt);
	sqlite3_bind_int64(st, 3, nocons);
	sqlite3_bind_int64(st, 4, noaddr);
	sqlite3_bind_int64(st, 5, camp);
	sqlite3_bind_text(st, 6, gw_chan_name(ch), -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
	gw_store_done(st);
	return rc;
}

/* Step 3b: one batch of the fan-out of the oldest sending campaign.
 * Returns 1 when recipients are left, 0 when none (or nothing to do). */
static int fan_out_batch(struct gw_marketing *m, int64_t now)
{
	struct gw_store *s = &m->gw->store;
	sqlite3_stmt *st;
	int64_t id, msg_rowid, cursor, gid = 0, last = 0, n = 0;
	unsigned mask = 0;
	char cid[GW_ID_MAX + 1], chans[80];
	uint64_t t0 = mono_us();
	int rc = MQS_ERR_DB, left;

	st = gw_store_stmt(s,
	                   "SELECT c.id, c.cid, c.message, c.cursor, c.channels, g.id "
	                   "FROM campaigns c LEFT JOIN groups g ON g.name = c.grp "
	                   "WHERE c.state = 'sending' AND c.fanned_out = 0 ORDER BY c.id LIMIT 1");
	if (st == NULL)
		return 0;
	if (sqlite3_step(st) != SQLITE_ROW) {
		gw_store_done(st);
		return 0;
	}
	id = sqlite3_column_int64(st, 0);
	snprintf(cid, sizeof(cid), "%s", (const char *)sqlite3_column_text(st, 1));
	msg_rowid = sqlite3_column_int64(st, 2);
	cursor = sqlite3_column_int64(st, 3);
	snprintf(chans, sizeof(chans), "%s", (const char *)sqlite3_column_text(st, 4));
	if (sqlite3_column_type(st, 5) != SQLITE_NULL)
		gid = sqlite3_column_int64(st, 5);
	gw_store_done(st);
	if (gw_chan_list_parse(chans, &mask, NULL, NULL, NULL, 0) != 0)
		mask = 0;
	if (gw_store_begin(s) != MQS_OK)
		return 1;
	/* the batch: the next m->batch members after the cursor */
	st = gw_store_stmt(s, "SELECT max(recipient_id), count(*) FROM (SELECT recipient_id FROM "
	                      "group_members WHERE group_id = ? AND recipient_id > ? "
	                      "ORDER BY recipient_id LIMIT ?)");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, gid);
	sqlite3_bind_int64(st, 2, cursor);
	sqlite3_bind_int64(st, 3, (int64_t)m->batch);
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 1);
		last = n > 0 ? sqlite3_column_int64(st, 0) : cursor;
		rc = MQS_OK;
	}
	gw_store_done(st);
	if (rc != MQS_OK)
		goto fail;
	for (int ch = 0; ch < GW_CH__COUNT && n > 0; ch++) {
		if (!(mask & GW_CH_BIT(ch)))
			continue;
		rc = fan_chan(s, id, msg_rowid, gid, ch, cursor, last, now);
		if (rc != MQS_OK)
			goto fail;
	}
	left = n == (int64_t)m->batch;
	st = gw_store_stmt(s, "UPDATE campaigns SET cursor = ?, fanned_out = ?, updated_at = ? "
	                      "WHERE id = ?");
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, last);
	sqlite3_bind_int(st, 2, !left);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
	gw_store_done(st);
	if (rc != MQS_OK || gw_store_commit(s) != MQS_OK)
		goto fail;
	if (n > 0) {
		/* fold this batch's pages into the database now (by the
		 * daemon's checkpointer thread), rather than in the commit of
		 * an alert that crosses SQLite's automatic checkpoint threshold */
		gw_store_checkpoint(s);
		/* marketing rows: a running alert's deferral stays */
		gw_engine_kick_marketing(m->gw->engine);
	}
	{
		/* keep one turn short: adapt the batch to the time it took */
		uint64_t us = mono_us() - t0;
		size_t cap = m->gw->conf->fanout_batch > 0 ? m->gw->conf->fanout_batch : 2000;
		/* the floor never lifts a batch above the configured cap: a
		 * slow batch (a loaded machine) must not grow it */
		size_t least = cap < BATCH_MIN ? cap : BATCH_MIN;

		if (n > 0 && us > BATCH_BUDGET_US) {
			size_t b = (size_t)((double)m->batch * BATCH_BUDGET_US / (double)us);
			m->batch = b < least ? least : b;
		} else if (n == (int64_t)m->batch && us < BATCH_BUDGET_US / 2) {
			m->batch = m->batch * 2 > cap ? cap : m->batch * 2;
		}
	}
	if (!left)
		gw_log(GW_LOG_INFO, "campaign %s: fan-out done", cid);
	return left;
fail:
	gw_store_rollback(s);
	gw_log(GW_LOG_WARN, "campaign %s: fan-out batch not written (%s): retrying", cid,
	       mqs_strerror(rc == MQS_OK ? MQS_ERR_DB : rc));
	return 0;
}

/* Step 4: sending campaigns whose fan-out ended and whose rows are all
 * final -> done. */
static void finish_done(struct gw_marketing *m, int64_t now)
{
	struct gw_store *s = &m->gw->store;
	sqlite3_stmt *st = gw_store_prepare(
	    s, "SELECT c.id, c.cid, c.sha256 FROM campaigns c WHERE c.state = 'sending' AND "
	       "c.fanned_out = 1 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE "
	       "o.state IN ('queued', 'sending') AND o.prio = 1 AND +o.message = c.message) "
	       "ORDER BY c.id LIMIT 1");
	char cid[GW_ID_MAX + 1], sha[65];
	int64_t id;
	int ok = 0;

	if (st == NULL)
		return;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return;
	}
	id = sqlite3_column_int64(st, 0);
	snprintf(cid, sizeof(cid), "%s", (const char *)sqlite3_column_text(st, 1));
	snprintf(sha, sizeof(sha), "%s", (const char *)sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	if (gw_store_begin(s) != MQS_OK)
		return;
	st = gw_store_stmt(s, "UPDATE campaigns SET state = 'done', updated_at = ? "
	                      "WHERE id = ? AND state = 'sending'");
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, id);
		ok = sqlite3_step(st) == SQLITE_DONE;
		gw_store_done(st);
	}
	if (ok &&
	    gw_review_audit(s, cid, "done", NULL, NULL, NULL, sha, NULL, "gateway", now) ==
	        MQS_OK &&
	    gw_store_commit(s) == MQS_OK) {
		gw_log(GW_LOG_INFO, "campaign %s: done", cid);
		return;
	}
	gw_store_rollback(s);
}

/* Step 5: a campaign cancelled while sending (docs/marketing.md,
 * "Delivery rules"): its fan-out has stopped (it walks only 'sending'
 * campaigns); its queued rows fail as "campaign cancelled" and the rows
 * the engine claimed ahead are dropped.  Rows in flight finish; one that
 * comes back for a retry is failed at the next pass. */
static void cancel_sending(struct gw_marketing *m, int64_t now)
{
	struct gw_store *s = &m->gw->store;
	sqlite3_stmt *st = gw_store_stmt(
	    s, "SELECT c.cid, c.message FROM campaigns c WHERE c.state = 'cancelled' AND "
	       "c.message IS NOT NULL AND EXISTS (SELECT 1 FROM outbox o WHERE "
	       "o.message = c.message AND o.prio = 1 AND o.state IN ('queued', 'sending')) "
	       "ORDER BY c.id LIMIT 16");
	char cids[16][GW_ID_MAX + 1];
	int64_t msgs[16];
	size_t n = 0;

	if (st == NULL)
		return;
	/* every such campaign on each pass: one whose last rows are in flight
	 * must not hold back the queued rows of the next */
	while (n < 16 && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(cids[n], sizeof(cids[n]), "%s", (const char *)sqlite3_column_text(st, 0));
		msgs[n] = sqlite3_column_int64(st, 1);
		n++;
	}
	gw_store_done(st);
	for (size_t i = 0; i < n; i++) {
		size_t dropped = 0;
		int ok = 0, changed = 0;

		if (m->gw->engine != NULL)
			dropped =
			    gw_engine_cancel_message(m->gw->engine, msgs[i], "campaign cancelled");
		st = gw_store_stmt(s, "UPDATE outbox SET state = 'failed', last_error = "
		                      "'campaign cancelled', updated_at = ? WHERE message = ? AND "
		                      "prio = 1 AND state = 'queued'");
		if (st != NULL) {
			sqlite3_bind_int64(st, 1, now);
			sqlite3_bind_int64(st, 2, msgs[i]);
			ok = sqlite3_step(st) == SQLITE_DONE;
			changed = ok ? sqlite3_changes(s->db) : 0;
			gw_store_done(st);
		}
		if (!ok)
			gw_log(GW_LOG_WARN,
			       "campaign %s: cannot stop its queued deliveries now: retrying",
			       cids[i]);
		else if (changed > 0 || dropped > 0)
			gw_log(GW_LOG_INFO,
			       "campaign %s: cancelled while sending, %d queued and %zu "
			       "claimed deliveries stopped",
			       cids[i], changed, dropped);
	}
}

/* The fan-out's pause for running alerts (gw_marketing.h): yes while one
 * runs, but for GW_MARKETING_PAUSE_MAX_MS in a row at most, then one batch
 * goes, so a steady stream of alerts slows a campaign's fan-out and never
 * stops it (docs/marketing.md, "Delivery rules"; a batch only queues rows,
 * marketing transfers on the alert's channel still wait for it). */
int gw_marketing_pause(uint64_t *paused_since, size_t alerts_running, uint64_t now_ms)
{
	if (alerts_running == 0) {
		*paused_since = 0;
		return 0;
	}
	if (*paused_since == 0)
		*paused_since = now_ms;
	if (now_ms - *paused_since < GW_MARKETING_PAUSE_MAX_MS)
		return 1;
	*paused_since = 0; /* one batch now, then the pause starts again */
	return 0;
}

/* Whether the fan-out pauses for a running alert now. */
static int alert_pause(struct gw_marketing *m)
{
	struct gw_gateway *gw = m->gw;

	return gw_marketing_pause(&m->paused_since,
	                          gw->engine != NULL ? gw_engine_alerts_running(gw->engine) : 0,
	                          mono_us() / 1000u + 1u /* never 0 */);
}

/* One tick. */
uint64_t gw_marketing_tick(struct gw_gateway *gw, struct gw_marketing *m, uint64_t now_ms)
{
	int64_t now = (int64_t)now_ms;

	if (now_ms >= m->next_slow) {
		m->next_slow = now_ms + SLOW_EVERY_MS;
		if (gw_review_expire(&gw->store, now) < 0)
			gw_log(GW_LOG_WARN, "cannot expire campaigns now");
		if (gw->conf->status_topic != NULL) {
			int queued = gw_review_publish_due(&gw->store, gw->conf->status_topic, now);

			if (queued < 0)
				gw_log(GW_LOG_WARN,
				       "cannot queue campaign content for reviewers now");
			else if (queued > 0 && gw->pubq != NULL)
				gw_pubq_wake(gw->pubq, 0); /* e.g. after a decision on the CLI */
		}
		schedule_approved(m, now);
		start_due(m, now);
		cancel_sending(m, now);
		finish_done(m, now);
		m->fanning = 1; /* look for a fan-out left by a restart */
	}
	if (m->fanning && alert_pause(m))
		return now_ms + 1; /* an alert is on its way: its turns stay short */
	if (m->fanning && gw->input_waits && m->yielded < GW_MARKETING_YIELD_MAX) {
		m->yielded++;
		return now_ms; /* a message waits on a broker's socket: read it first */
	}
	m->yielded = 0;
	if (m->fanning)
		m->fanning = fan_out_batch(m, now);
	return m->fanning ? now_ms : m->next_slow;
}

/* Fill the report of one channel from the counters and the outbox. */
static int report_fill(struct gw_store *s, int64_t camp, int64_t msg_rowid,
                       struct gw_report_chan *rc)
{
	sqlite3_stmt *st =
	    gw_store_stmt(s, "SELECT audience, no_consent, opted_out, no_address "
	                     "FROM campaign_stats WHERE campaign = ? AND channel = ?");
	int r = MQS_ERR_DB;

	if (st == NULL)
		return r;
	sqlite3_bind_int64(st, 1, camp);
	sqlite3_bind_text(st, 2, gw_chan_name(rc->chan), -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		rc->audience = sqlite3_column_int64(st, 0);
		rc->no_consent = sqlite3_column_int64(st, 1);
		rc->opted_out = sqlite3_column_int64(st, 2);
		rc->no_address = sqlite3_column_int64(st, 3);
	}
	gw_store_done(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return MQS_ERR_DB;
	if (msg_rowid == 0)
		return MQS_OK;
	st = gw_store_stmt(s, "SELECT state, count(*), coalesce(sum(deferred > 0), 0) FROM outbox "
	                      "WHERE message = ? AND channel = ? GROUP BY state");
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, msg_rowid);
	sqlite3_bind_text(st, 2, gw_chan_name(rc->chan), -1, SQLITE_STATIC);
	for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
		const char *state = (const char *)sqlite3_column_text(st, 0);
		int64_t n = sqlite3_column_int64(st, 1);

		rc->deferred += sqlite3_column_int64(st, 2);
		if (strcmp(state, "queued") == 0)
			rc->queued = n;
		else if (strcmp(state, "sending") == 0)
			rc->sending = n;
		else if (strcmp(state, "sent") == 0)
			rc->sent = n;
		else if (strcmp(state, "failed") == 0)
			rc->failed = n;
		else if (strcmp(state, "dead") == 0)
			rc->dead = n;
	}
	gw_store_done(st);
	return r == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
}

/* The report of a campaign. */
int gw_marketing_report(struct gw_store *s, const char *cid, struct gw_report *r)
{
	sqlite3_stmt *st;
	int64_t camp, msg_rowid;
	unsigned mask = 0;
	char chans[80];
	int rc = MQS_ERR_DB, step;

	memset(r, 0, sizeof(*r));
	st = gw_store_stmt(s, "SELECT id, state, fanned_out, coalesce(message, 0), channels "
	                      "FROM campaigns WHERE cid = ?");
	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		gw_store_done(st);
		return step == SQLITE_DONE ? MQS_ERR_NOENT : MQS_ERR_DB;
	}
	camp = sqlite3_column_int64(st, 0);
	snprintf(r->state, sizeof(r->state), "%s", (const char *)sqlite3_column_text(st, 1));
	r->fanned_out = sqlite3_column_int(st, 2);
	msg_rowid = sqlite3_column_int64(st, 3);
	snprintf(chans, sizeof(chans), "%s", (const char *)sqlite3_column_text(st, 4));
	gw_store_done(st);
	if (gw_chan_list_parse(chans, &mask, NULL, NULL, NULL, 0) != 0)
		mask = 0;
	rc = MQS_OK;
	for (int ch = 0; ch < GW_CH__COUNT && rc == MQS_OK; ch++) {
		struct gw_report_chan *c;

		if (!(mask & GW_CH_BIT(ch)))
			continue;
		c = &r->chans[r->nchans++];
		c->chan = ch;
		rc = report_fill(s, camp, msg_rowid, c);
	}
	return rc;
}
