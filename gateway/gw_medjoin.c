/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_medjoin.c - kind = medical-join: shares to records (lib/mqs_join.h),
 * records to the outbox (docs/medical.md, "Receiving"). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "gateway.h"
#include "gw_log.h"
#include "gw_medjoin.h"
#include "gw_outbox.h"
#include "gw_reckey.h"
#include "gw_submit.h"
#include "gw_util.h"
#include "mqs_alloc.h"
#include "mqs_join.h"
#include "mqs_util.h"

#define KEYS_MAX       64   /* record keys one route accepts (mqs_join_new's limit) */
#define FLUSH_EVERY_MS 1000 /* counters to the store at most this often */
#define ORIGIN_MAX     (MQS_JOIN_KEY_NAME_MAX + 1 + 256)

#define RETRY_MIN_MS 100   /* first retry of a record the store refused */
#define RETRY_MAX_MS 30000 /* backoff cap */

/* Counters this module adds to mqs_join's reasons. */
enum { EXTRA_STORE_FAILED = 0, EXTRA_RETAINED, EXTRA_UNSEALED, EXTRA__COUNT };
static const char *const extra_names[EXTRA__COUNT] = {"store-failed", "retained", "unsealed"};

/* A rebuilt record the store refused: kept in memory (bytes wiped when it
 * goes) and stored again from gw_medjoin_tick() with backoff. */
struct retry_rec {
	struct mqs_join_record rec; /* points into the copies below */
	char *sender, *topic, *origin;
	uint8_t *data;
	size_t cost; /* bytes charged against the budget */
	uint64_t next_try, backoff_ms;
	struct retry_rec *next;
};

struct gw_medjoin {
	struct gw_gateway *gw;
	const struct gw_route *r;
	struct mqs_join *join;
	uint64_t flushed[MQS_JOIN__COUNT]; /* counts already in medical_counters */
	uint64_t extra[EXTRA__COUNT];
	uint64_t extra_flushed[EXTRA__COUNT];
	uint64_t next_flush;           /* 0: nothing to write */
	struct retry_rec *retry;       /* oldest first */
	size_t retry_bytes, retry_max; /* held, budget (the route's max_pending_bytes) */
	uint64_t retained_logged;      /* when the last retained-share warning was logged */
};

#define RETAINED_LOG_EVERY_MS 60000 /* a broker sets the retain flag: warn once a minute */

static void counters_touched(struct gw_medjoin *mj, uint64_t now);

/* A rebuilt record on its way into the store. */
struct record_job {
	struct gw_medjoin *mj;
	const struct mqs_join_record *rec;
	char id[2 * MQS_SHARE_ID_LEN + 1];
	char origin[ORIGIN_MAX];
	int deliver; /* GW_CH_WEBHOOK or GW_CH_SPOOL */
};

/* Inside the transaction: the message and its one outbox row. */
static int record_tx(struct gw_gateway *gw, struct gw_submit_job *job)
{
	struct record_job *rj = job->arg;
	const struct mqs_join_record *rec = rj->rec;
	struct gw_message m = {
	    .msg_id = rj->id,
	    .route = rj->mj->r->name,
	    .topic = rec->topic,
	    .kind = "medical-join",
	    .severity = GW_SEV_INFO,
	    .group = "",
	    .title = NULL,
	    .body = NULL,
	    .origin = rj->origin,
	    .publisher = rec->sender, /* ids are per route and sender */
	    .data = rec->data,
	    .data_len = rec->len,
	};
	int64_t now = (int64_t)mqs_now_ms();
	int64_t rowid = 0;
	size_t nrows = 0;
	int rc;

	job->step = 0;
	rc = gw_outbox_insert_message(&gw->store, &m, now, &rowid);
	if (rc != MQS_OK)
		return rc;
	rc = gw_outbox_queue_direct(&gw->store, rowid, rj->deliver, 0, now, &nrows);
	if (rc != MQS_OK)
		return rc;
	job->rowid = rowid;
	return MQS_OK;
}

/* Store and queue the record (its bytes sealed, never logged).  MQS_OK
 * (stored, or delivered before) or the store's error. */
static int store_record(struct gw_medjoin *mj, const struct mqs_join_record *rec, int retried)
{
	struct record_job rj = {.mj = mj, .rec = rec};
	struct gw_submit_job job = {
	    .durability = GW_DURABLE_BATCH,
	    .tx = record_tx,
	    .committed = NULL,
	    .arg = &rj,
	};
	int rc;

	mqs_hex_encode(rec->id, MQS_SHARE_ID_LEN, rj.id);
	/* the authenticated sender (the key's name), then the envelope's origin */
	if (rec->origin != NULL && rec->origin[0] != '\0')
		snprintf(rj.origin, sizeof(rj.origin), "%s/%s", rec->sender, rec->origin);
	else
		snprintf(rj.origin, sizeof(rj.origin), "%s", rec->sender);
	rj.deliver = mj->r->deliver != NULL && strcmp(mj->r->deliver, "webhook") == 0
	                 ? GW_CH_WEBHOOK
	                 : GW_CH_SPOOL;
	rc = gw_submit(mj->gw, &job);
	if (rc == MQS_ERR_EXISTS) {
		gw_log(GW_LOG_INFO, "[route %s] record %s from %s: delivered before, ignored",
		       mj->r->name, rj.id, rec->sender);
		rc = MQS_OK;
	} else if (rc != MQS_OK) {
		if (!retried)
			gw_log(GW_LOG_WARN,
			       "[route %s] record %s from %s: cannot store: %s (kept in memory, "
			       "retried)",
			       mj->r->name, rj.id, rec->sender, mqs_strerror(rc));
	} else {
		gw_log(GW_LOG_INFO, "[route %s] record %s from %s (%zu bytes): queued for %s%s",
		       mj->r->name, rj.id, rec->sender, rec->len, gw_chan_name(rj.deliver),
		       retried ? " (stored on a retry)" : "");
	}
	return rc;
}

/* Free a kept record, wiping its bytes. */
static void retry_free(struct retry_rec *t)
{
	if (t == NULL)
		return;
	if (t->data != NULL)
		mqs_secret_free(t->data, t->rec.len);
	mqs_free(t->sender);
	mqs_free(t->topic);
	mqs_free(t->origin);
	mqs_free(t);
}

/* Keep a record the store refused, within the budget; else count it
 * lost (docs/medical.md, "Failure behaviour"). */
static void retry_keep(struct gw_medjoin *mj, const struct mqs_join_record *rec)
{
	struct retry_rec *t = NULL, **pp;
	size_t cost = sizeof(*t) + rec->len + 512;
	char hexid[2 * MQS_SHARE_ID_LEN + 1];

	if (mj->retry_bytes + cost <= mj->retry_max)
		t = mqs_calloc(1, sizeof(*t));
	if (t != NULL) {
		t->sender = mqs_strdup(rec->sender != NULL ? rec->sender : "");
		t->topic = mqs_strdup(rec->topic != NULL ? rec->topic : "");
		t->origin = mqs_strdup(rec->origin != NULL ? rec->origin : "");
		t->data = mqs_malloc(rec->len > 0 ? rec->len : 1);
	}
	if (t == NULL || t->sender == NULL || t->topic == NULL || t->origin == NULL ||
	    t->data == NULL) {
		retry_free(t);
		mqs_hex_encode(rec->id, MQS_SHARE_ID_LEN, hexid);
		mj->extra[EXTRA_STORE_FAILED]++;
		counters_touched(mj, mqs_now_ms());
		gw_log(GW_LOG_ERR,
		       "[route %s] record %s from %s lost: the store refuses it and the retry "
		       "list is full (%zu bytes)",
		       mj->r->name, hexid, rec->sender, mj->retry_bytes);
		return;
	}
	memcpy(t->data, rec->data, rec->len);
	t->rec = *rec;
	t->rec.sender = t->sender;
	t->rec.topic = t->topic;
	t->rec.origin = t->origin;
	t->rec.data = t->data;
	t->cost = cost;
	t->backoff_ms = RETRY_MIN_MS;
	t->next_try = mqs_now_ms() + t->backoff_ms;
	mj->retry_bytes += cost;
	pp = &mj->retry;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = t;
}

/* Store the kept records that are due, oldest first; stop at the first
 * refusal (the store is likely still refusing).  The next due time, or 0. */
static uint64_t retry_run(struct gw_medjoin *mj, uint64_t now)
{
	struct retry_rec **pp = &mj->retry;
	uint64_t next = 0;

	while (*pp != NULL) {
		struct retry_rec *t = *pp;

		if (t->next_try > now) {
			if (next == 0 || t->next_try < next)
				next = t->next_try;
			pp = &t->next;
			continue;
		}
		if (store_record(mj, &t->rec, 1) != MQS_OK) {
			t->backoff_ms =
			    t->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : t->backoff_ms * 2;
			t->next_try = now + t->backoff_ms;
			if (next == 0 || t->next_try < next)
				next = t->next_try;
			break;
		}
		*pp = t->next;
		mj->retry_bytes -= t->cost;
		retry_free(t);
	}
	for (struct retry_rec *t = *pp; t != NULL; t = t->next) {
		if (next == 0 || t->next_try < next)
			next = t->next_try;
	}
	return next;
}

/* on_record: store and queue the record; a refusal keeps it for a retry. */
static void on_record(void *arg, const struct mqs_join_record *rec)
{
	struct gw_medjoin *mj = arg;

	if (store_record(mj, rec, 0) != MQS_OK)
		retry_keep(mj, rec);
}

/* on_expired: the id and have/need only. */
static void on_expired(void *arg, const uint8_t id[MQS_SHARE_ID_LEN], unsigned have, unsigned need)
{
	struct gw_medjoin *mj = arg;
	char hexid[2 * MQS_SHARE_ID_LEN + 1];

	mqs_hex_encode(id, MQS_SHARE_ID_LEN, hexid);
	gw_log(GW_LOG_WARN, "[route %s] record %s incomplete: %u of %u shares", mj->r->name, hexid,
	       have, need);
}

/* Add delta to counter reason of the route. */
static int counter_add(struct gw_store *s, const char *route, const char *reason, uint64_t delta,
                       int64_t now)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s, "INSERT INTO medical_counters(route, reason, count, updated_at) VALUES (?,?,?,?) "
	       "ON CONFLICT(route, reason) DO UPDATE SET count = count + excluded.count, "
	       "updated_at = excluded.updated_at");
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)delta);
	sqlite3_bind_int64(st, 4, now);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	gw_store_done(st);
	return rc;
}

/* Write the counters that moved since the last flush, in one transaction
 * of their own (not durable: a lost second of counts is no harm). */
static void flush_counters(struct gw_medjoin *mj, uint64_t now)
{
	struct gw_store *s = &mj->gw->store;
	uint64_t cur[MQS_JOIN__COUNT];
	int dirty = 0;

	for (int r = 0; r < MQS_JOIN__COUNT; r++) {
		cur[r] = r == MQS_JOIN_PENDING ? 0 : mqs_join_count(mj->join, r);
		dirty |= cur[r] != mj->flushed[r];
	}
	for (int x = 0; x < EXTRA__COUNT; x++)
		dirty |= mj->extra[x] != mj->extra_flushed[x];
	mj->next_flush = 0;
	if (!dirty)
		return;
	if (s->in_tx) {
		mj->next_flush = now + 10; /* someone else's transaction: soon */
		return;
	}
	gw_store_durable(s, 0);
	if (gw_store_begin(s) != MQS_OK)
		goto retry;
	for (int r = 0; r < MQS_JOIN__COUNT; r++) {
		if (cur[r] != mj->flushed[r] &&
		    counter_add(s, mj->r->name, mqs_join_result_name(r), cur[r] - mj->flushed[r],
		                (int64_t)now) != MQS_OK)
			goto rollback;
	}
	for (int x = 0; x < EXTRA__COUNT; x++) {
		if (mj->extra[x] != mj->extra_flushed[x] &&
		    counter_add(s, mj->r->name, extra_names[x], mj->extra[x] - mj->extra_flushed[x],
		                (int64_t)now) != MQS_OK)
			goto rollback;
	}
	if (gw_store_commit(s) != MQS_OK)
		goto retry;
	memcpy(mj->flushed, cur, sizeof(cur));
	memcpy(mj->extra_flushed, mj->extra, sizeof(mj->extra));
	return;
rollback:
	gw_store_rollback(s);
retry:
	gw_log(GW_LOG_WARN, "[route %s] cannot write the drop counters: retrying", mj->r->name);
	mj->next_flush = now + FLUSH_EVERY_MS;
}

/* Mark the counters dirty: written within a second. */
static void counters_touched(struct gw_medjoin *mj, uint64_t now)
{
	if (mj->next_flush == 0)
		mj->next_flush = now + FLUSH_EVERY_MS;
}

/* Load the route's record keys: the listed names, else every key. */
static int load_keys(struct gw_store *s, const struct gw_route *r, struct mqs_join_key *keys,
                     size_t *nkeys, char *err, size_t errlen)
{
	const char *p = r->record_key;
	int rc;

	*nkeys = 0;
	if (p == NULL) {
		rc = gw_reckey_all(s, keys, KEYS_MAX, nkeys);
		if (rc != MQS_OK) {
			snprintf(err, errlen, "cannot load the record keys: %s", mqs_strerror(rc));
			return rc;
		}
		if (*nkeys == 0) {
			snprintf(err, errlen,
			         "no record key in the store (mqttsec-gateway key import)");
			return MQS_ERR_NOENT;
		}
		return MQS_OK;
	}
	while (*p != '\0') {
		char name[MQS_JOIN_KEY_NAME_MAX + 1];
		size_t len = 0;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		while (p[len] != '\0' && p[len] != ',' && p[len] != ' ' && p[len] != '\t')
			len++;
		if (len >= sizeof(name) || *nkeys >= KEYS_MAX) {
			snprintf(err, errlen, "record_key: name too long or too many names");
			return MQS_ERR_INVAL;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		rc = gw_reckey_get(s, name, &keys[*nkeys]);
		if (rc != MQS_OK) {
			snprintf(err, errlen, "record key %s: %s", name,
			         rc == MQS_ERR_NOENT ? "no such key (mqttsec-gateway key import)"
			                             : mqs_strerror(rc));
			return rc;
		}
		(*nkeys)++;
	}
	if (*nkeys == 0) {
		snprintf(err, errlen, "record_key names no key");
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* The receiver of one medical-join route. */
struct gw_medjoin *gw_medjoin_new(struct gw_gateway *gw, const struct gw_route *r, char *err,
                                  size_t errlen)
{
	struct gw_medjoin *mj = NULL;
	struct mqs_join_key *keys = NULL;
	struct mqs_join_conf conf;
	size_t nkeys = 0;
	int rc;

	keys = mqs_calloc(KEYS_MAX, sizeof(*keys));
	mj = mqs_calloc(1, sizeof(*mj));
	if (keys == NULL || mj == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	mj->gw = gw;
	mj->r = r;
	if (load_keys(&gw->store, r, keys, &nkeys, err, errlen) != MQS_OK)
		goto fail;
	memset(&conf, 0, sizeof(conf));
	conf.n = (unsigned)r->nchans;
	conf.k = r->threshold;
	conf.timeout_ms = r->join_timeout_ms;
	conf.max_pending = r->max_pending;
	conf.max_record = r->max_record;
	conf.max_pending_bytes = r->max_pending_bytes;
	mqs_join_conf_defaults(&conf);
	mj->retry_max = conf.max_pending_bytes;
	rc = mqs_join_new(&conf, keys, nkeys, on_record, mj, &mj->join);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot set up the receiver: %s", mqs_strerror(rc));
		goto fail;
	}
	gw_log(GW_LOG_INFO,
	       "[route %s] medical-join: %u of %u channels, %zu record keys, deliver to %s",
	       r->name, conf.k, conf.n, nkeys, r->deliver != NULL ? r->deliver : "spool");
	mqs_secret_free(keys, KEYS_MAX * sizeof(*keys));
	return mj;
fail:
	if (keys != NULL)
		mqs_secret_free(keys, KEYS_MAX * sizeof(*keys));
	mqs_free(mj);
	return NULL;
}

/* Flush counters and free. */
void gw_medjoin_free(struct gw_gateway *gw, struct gw_medjoin *mj)
{
	(void)gw;
	if (mj == NULL)
		return;
	while (mj->retry != NULL) {
		struct retry_rec *t = mj->retry;
		char hexid[2 * MQS_SHARE_ID_LEN + 1];

		mqs_hex_encode(t->rec.id, MQS_SHARE_ID_LEN, hexid);
		gw_log(GW_LOG_ERR,
		       "[route %s] record %s from %s lost: the store refused it until "
		       "the stop",
		       mj->r->name, hexid, t->sender);
		mj->extra[EXTRA_STORE_FAILED]++;
		mj->retry = t->next;
		retry_free(t);
	}
	flush_counters(mj, mqs_now_ms());
	mqs_join_free(mj->join);
	mqs_free(mj);
}

/* One share from channel ch. */
void gw_medjoin_share(struct gw_gateway *gw, struct gw_medjoin *mj, unsigned ch,
                      const uint8_t *payload, size_t len, unsigned flags)
{
	uint64_t now = mqs_now_ms();
	int r;

	(void)gw;
	if (mj == NULL)
		return;
	if (flags & GW_MEDJOIN_RETAINED) {
		/* a retained share comes again at every subscription; the broker
		 * sets the flag, so the warning is rate-limited */
		if (mj->retained_logged == 0 ||
		    now - mj->retained_logged >= RETAINED_LOG_EVERY_MS) {
			gw_log(GW_LOG_WARN,
			       "[route %s] dropped a retained share on channel %u (%s); counted as "
			       "retained, logged at most once a minute",
			       mj->r->name, ch + 1, mj->r->chans[ch].topic);
			mj->retained_logged = now;
		}
		mj->extra[EXTRA_RETAINED]++;
		counters_touched(mj, now);
		return;
	}
	if (!(flags & GW_MEDJOIN_SEALED)) {
		gw_log(GW_LOG_DEBUG,
		       "[route %s] share on channel %u dropped: not sealed by the "
		       "broker",
		       mj->r->name, ch + 1);
		mj->extra[EXTRA_UNSEALED]++;
		counters_touched(mj, now);
		return;
	}
	r = mqs_join_feed(mj->join, ch, payload, len, now);
	if (r != MQS_JOIN_PENDING && r != MQS_JOIN_RECORD)
		gw_log(GW_LOG_DEBUG, "[route %s] share on channel %u dropped: %s", mj->r->name,
		       ch + 1, mqs_join_result_name(r));
	if (r != MQS_JOIN_PENDING)
		counters_touched(mj, now);
}

/* Expire groups, flush counters when due. */
uint64_t gw_medjoin_tick(struct gw_gateway *gw, struct gw_medjoin *mj, uint64_t now_ms)
{
	uint64_t next;
	uint64_t before;

	(void)gw;
	if (mj == NULL)
		return 0;
	before = mqs_join_count(mj->join, MQS_JOIN_INCOMPLETE);
	next = mqs_join_tick(mj->join, now_ms, on_expired, mj);
	if (mqs_join_count(mj->join, MQS_JOIN_INCOMPLETE) != before)
		counters_touched(mj, now_ms);
	if (mj->retry != NULL) {
		uint64_t due = retry_run(mj, now_ms);

		if (due != 0 && (next == 0 || due < next))
			next = due;
	}
	if (mj->next_flush != 0 && now_ms >= mj->next_flush)
		flush_counters(mj, now_ms);
	if (mj->next_flush != 0 && (next == 0 || mj->next_flush < next))
		next = mj->next_flush;
	return next;
}
