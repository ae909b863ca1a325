/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_medical.c - kind = medical: seal, split, queue (gw_medical.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "gateway.h"
#include "gw_log.h"
#include "gw_medical.h"
#include "gw_pubq.h"
#include "gw_reckey.h"
#include "gw_submit.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_join.h"
#include "mqs_share.h"
#include "mqs_util.h"

#define FLUSH_EVERY_MS 1000 /* counters reach the store at most this often */

enum med_reason {
	MED_UNSEALED = 0,
	MED_TOO_BIG,
	MED_FAILED,
	MED_RETAINED,
	MED_QUEUE_FULL,
	MED__COUNT
};

static const char *const reason_names[MED__COUNT] = {"unsealed", "too-big", "failed", "retained",
                                                     "queue-full"};

/* One kind = medical route: its key and drop counters. */
struct med_sender {
	const struct gw_route *r;
	struct mqs_join_key key;
	uint8_t tag_key[32];
	unsigned long drops[MED__COUNT];   /* since start */
	unsigned long unsaved[MED__COUNT]; /* not in the store yet */
	uint64_t full_log_next;            /* queue-full: next log line (ms) */
	unsigned long full_quiet;          /* queue-full lines left out since */
	uint64_t drop_log_next;            /* records dropped for full queues: next line */
};

struct gw_medical {
	struct med_sender *s;
	size_t ns;
	uint64_t next_flush;
};

/* Add the unsaved counts to table medical_counters (outside any
 * transaction: only between messages). */
static void flush_counters(struct gw_gateway *gw, struct gw_medical *md)
{
	int64_t now = (int64_t)mqs_now_ms();

	for (size_t i = 0; i < md->ns; i++) {
		struct med_sender *ms = &md->s[i];

		for (int why = 0; why < MED__COUNT; why++) {
			sqlite3_stmt *st;

			if (ms->unsaved[why] == 0)
				continue;
			st = gw_store_stmt(&gw->store,
			                   "INSERT INTO medical_counters (route, reason, count, "
			                   "updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(route, "
			                   "reason) DO UPDATE SET count = count + excluded.count, "
			                   "updated_at = excluded.updated_at");
			if (st == NULL)
				return;
			sqlite3_bind_text(st, 1, ms->r->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, reason_names[why], -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, (int64_t)ms->unsaved[why]);
			sqlite3_bind_int64(st, 4, now);
			if (sqlite3_step(st) == SQLITE_DONE)
				ms->unsaved[why] = 0;
			gw_store_done(st);
		}
	}
	md->next_flush = (uint64_t)now + FLUSH_EVERY_MS;
}

/* Count one drop; the counters reach the store at most once a second. */
static void count_drop(struct gw_gateway *gw, struct gw_medical *md, struct med_sender *ms, int why)
{
	ms->drops[why]++;
	ms->unsaved[why]++;
	if (!gw->store.in_tx && mqs_now_ms() >= md->next_flush)
		flush_counters(gw, md);
}

/* The senders of every enabled medical route. */
struct gw_medical *gw_medical_new(struct gw_gateway *gw, char *err, size_t errlen)
{
	const struct gw_config *c = gw->conf;
	struct gw_medical *md = mqs_calloc(1, sizeof(*md));
	size_t n = 0;

	if (md == NULL)
		goto nomem;
	for (size_t i = 0; i < c->nroutes; i++) {
		if (c->routes[i].kind == GW_KIND_MEDICAL && c->routes[i].enabled)
			n++;
	}
	md->s = mqs_calloc(n > 0 ? n : 1, sizeof(*md->s));
	if (md->s == NULL)
		goto nomem;
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct gw_route *r = &c->routes[i];
		struct med_sender *ms = &md->s[md->ns];
		int rc;

		if (r->kind != GW_KIND_MEDICAL || !r->enabled)
			continue;
		ms->r = r;
		md->ns++;
		rc = gw_reckey_get(&gw->store, r->record_key, &ms->key);
		if (rc == MQS_ERR_NOENT) {
			snprintf(err, errlen,
			         "%s:%d: [route %s] record_key %s: no such record key in the store "
			         "(mqttsec-gateway key add %s)",
			         c->path, r->line, r->name, r->record_key, r->record_key);
			goto fail;
		}
		if (rc != MQS_OK) {
			snprintf(err, errlen, "[route %s] cannot read record key %s: %s", r->name,
			         r->record_key, mqs_strerror(rc));
			goto fail;
		}
		if (mqs_share_tag_key(ms->key.key, ms->tag_key) != MQS_OK) {
			snprintf(err, errlen, "[route %s] cannot derive the share tag key",
			         r->name);
			goto fail;
		}
	}
	md->next_flush = mqs_now_ms() + FLUSH_EVERY_MS;
	return md;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	gw_medical_free(NULL, md);
	return NULL;
}

/* Flush, wipe, free. */
void gw_medical_free(struct gw_gateway *gw, struct gw_medical *md)
{
	if (md == NULL)
		return;
	if (gw != NULL)
		flush_counters(gw, md);
	for (size_t i = 0; i < md->ns; i++) {
		struct med_sender *ms = &md->s[i];
		unsigned long total = 0;

		for (int why = 0; why < MED__COUNT; why++)
			total += ms->drops[why];
		if (gw != NULL && total > 0)
			gw_log(GW_LOG_INFO,
			       "route %s: %lu records dropped since the start (unsealed %lu, "
			       "too big %lu, failed %lu, retained %lu, queue full %lu)",
			       ms->r->name, total, ms->drops[MED_UNSEALED], ms->drops[MED_TOO_BIG],
			       ms->drops[MED_FAILED], ms->drops[MED_RETAINED],
			       ms->drops[MED_QUEUE_FULL]);
		OPENSSL_cleanse(&ms->key, sizeof(ms->key));
		OPENSSL_cleanse(ms->tag_key, sizeof(ms->tag_key));
	}
	mqs_free(md->s);
	mqs_free(md);
}

/* A record's n shares on their way into the publish queue (the arg of its
 * gw_submit job). */
struct med_job {
	const struct gw_route *r;
	const uint8_t *shares; /* n of them, share_len bytes each */
	size_t share_len;
	uint8_t id[MQS_SHARE_ID_LEN];
	unsigned skip; /* channels whose broker's queue is at the cap (not queued) */
};

/* Inside the transaction: one pubq row per channel (but the skipped). */
static int med_tx(struct gw_gateway *gw, struct gw_submit_job *job)
{
	struct med_job *mj = job->arg;
	const struct gw_route *r = mj->r;
	const struct gw_config *c = gw->conf;
	int64_t now = (int64_t)mqs_now_ms();

	for (size_t i = 0; i < r->nchans; i++) {
		int rc;

		if (mj->skip & (1u << i))
			continue; /* its broker's queue is at the cap */
		rc = gw_pubq_insert(&gw->store, c->brokers[r->chans[i].broker].name,
		                    r->chans[i].topic, mj->shares + i * mj->share_len,
		                    mj->share_len, r->name, now);
		if (rc != MQS_OK)
			return rc;
	}
	return MQS_OK;
}

/* After the commit: wake the brokers' queues, log the record id. */
static void med_committed(struct gw_gateway *gw, struct gw_submit_job *job)
{
	struct med_job *mj = job->arg;
	char hex[2 * MQS_SHARE_ID_LEN + 1];

	for (size_t i = 0; i < mj->r->nchans; i++)
		gw_pubq_wake(gw->pubq, mj->r->chans[i].broker);
	mqs_hex_encode(mj->id, MQS_SHARE_ID_LEN, hex);
	gw_log(GW_LOG_INFO, "route %s: record %s split into %zu shares (any %u rebuild it), queued",
	       mj->r->name, hex, mj->r->nchans, mj->r->threshold);
}

/* The sender of route r, or NULL. */
static struct med_sender *sender_of(struct gw_medical *md, const struct gw_route *r)
{
	for (size_t i = 0; md != NULL && i < md->ns; i++) {
		if (md->s[i].r == r)
			return &md->s[i];
	}
	return NULL;
}

/* A retained message on a medical route: dropped (docs/medical.md,
 * "Sending"). */
void gw_medical_retained(struct gw_gateway *gw, struct gw_medical *md, const struct gw_route *r,
                         const char *topic)
{
	struct med_sender *ms = sender_of(md, r);

	gw_log(GW_LOG_WARN,
	       "route %s: dropped a retained record on %s: a retained message comes again at "
	       "every subscription and would be split again (publish records without retain)",
	       r->name, topic);
	if (ms != NULL)
		count_drop(gw, md, ms, MED_RETAINED);
}

/* The channels whose broker's publish queue is at the route's cap go into
 * *skip (bit i: channel i): their shares are not queued.  Returns 1 when
 * fewer than k channels are left, so that the record could not be rebuilt
 * and is dropped (counted queue-full), else 0.  The line naming a full
 * queue is logged at most every 10 s per route. */
static int queue_full(struct gw_gateway *gw, struct gw_medical *md, struct med_sender *ms,
                      const struct gw_route *r, const char *topic, unsigned *skip)
{
	const struct gw_config *c = gw->conf;
	uint64_t now = mqs_now_ms();
	size_t left = 0;
	int drop;

	*skip = 0;
	for (size_t i = 0; i < r->nchans; i++) {
		size_t b = r->chans[i].broker;
		int64_t rows = 0, bytes = 0;

		if (!gw_pubq_full(gw->pubq, &gw->store, b, r->max_queued, r->max_queued_bytes, now,
		                  &rows, &bytes)) {
			left++;
			continue;
		}
		*skip |= 1u << i;
		if (ms->full_log_next != 0 && now < ms->full_log_next) {
			ms->full_quiet++; /* one line every 10 s at most */
			continue;
		}
		gw_log(
		    GW_LOG_ERR,
		    "route %s: the publish queue of broker %s holds %lld shares (%lld bytes), at "
		    "the cap (max_queued %zu, max_queued_bytes %zu): shares on %s not queued "
		    "(%lu more lines left out since the last one)",
		    r->name, c->brokers[b].name[0] != '\0' ? c->brokers[b].name : "[broker]",
		    (long long)rows, (long long)bytes, r->max_queued, r->max_queued_bytes,
		    r->chans[i].topic, ms->full_quiet);
		ms->full_quiet = 0;
		ms->full_log_next = now + 10000;
	}
	drop = left < r->threshold;
	if (drop) {
		if (ms->drop_log_next == 0 || now >= ms->drop_log_next) {
			gw_log(
			    GW_LOG_ERR,
			    "route %s: dropped a record on %s: only %zu of %zu channels have room "
			    "in their publish queue, %u needed",
			    r->name, topic, left, r->nchans, r->threshold);
			ms->drop_log_next = now + 10000;
		}
		count_drop(gw, md, ms, MED_QUEUE_FULL);
	}
	return drop;
}

/* Seal, split, queue one record. */
void gw_medical_record(struct gw_gateway *gw, struct gw_medical *md, const struct gw_route *r,
                       const char *topic, const uint8_t *payload, size_t len, const char *origin)
{
	struct med_sender *ms = sender_of(md, r);
	struct med_job mj = {r, NULL, 0, {0}, 0};
	struct gw_submit_job job = {
	    .durability = GW_DURABLE_BATCH, /* one fsync per read (gw_store_sync) */
	    .tx = med_tx,
	    .committed = med_committed,
	    .arg = &mj,
	};
	uint8_t *secret = NULL, *shares = NULL;
	size_t secret_len = 0, cap = 0;
	int rc;

	if (ms == NULL)
		return;
	if (origin == NULL || *origin == '\0') {
		/* a record must arrive sealed by the broker: its origin is the sender */
		gw_log(GW_LOG_WARN,
		       "route %s: dropped a record on %s: not sealed by the broker (protect the "
		       "record topic)",
		       r->name, topic);
		count_drop(gw, md, ms, MED_UNSEALED);
		return;
	}
	if (queue_full(gw, md, ms, r, topic, &mj.skip))
		return;
	/* the record id is drawn first: the record envelope is bound to it */
	rc = RAND_bytes(mj.id, sizeof(mj.id)) == 1 ? MQS_OK : MQS_ERR_CRYPTO;
	if (rc == MQS_OK)
		rc = mqs_share_record_seal(ms->key.key, ms->key.id, mj.id, topic, origin, payload,
		                           len, &secret, &secret_len);
	if (rc == MQS_OK && secret_len > MQS_SHARE_SECRET_SEND_MAX)
		rc = MQS_ERR_TOOBIG;
	if (rc == MQS_ERR_TOOBIG) {
		gw_log(GW_LOG_WARN,
		       "route %s: dropped a record of %zu bytes on %s from %s: too big to split "
		       "(at most %u bytes sealed with its topic)",
		       r->name, len, topic, origin, (unsigned)MQS_SHARE_SECRET_SEND_MAX);
		count_drop(gw, md, ms, MED_TOO_BIG);
		goto out;
	}
	if (rc != MQS_OK) {
		gw_log(GW_LOG_ERR, "route %s: dropped a record on %s from %s: cannot seal it: %s",
		       r->name, topic, origin, mqs_strerror(rc));
		count_drop(gw, md, ms, MED_FAILED);
		goto out;
	}
	mj.share_len = mqs_share_len(secret_len);
	cap = mj.share_len * r->nchans;
	shares = mqs_malloc(cap);
	if (shares == NULL) {
		gw_log(GW_LOG_ERR, "route %s: dropped a record on %s: out of memory", r->name,
		       topic);
		count_drop(gw, md, ms, MED_FAILED);
		goto out;
	}
	rc = mqs_share_split(secret, secret_len, (unsigned)r->nchans, r->threshold, ms->tag_key,
	                     mj.id, NULL, shares, cap);
	if (rc != MQS_OK) {
		gw_log(GW_LOG_ERR, "route %s: dropped a record on %s from %s: cannot split it: %s",
		       r->name, topic, origin, mqs_strerror(rc));
		count_drop(gw, md, ms, MED_FAILED);
		goto out;
	}
	mj.shares = shares;
	rc = gw_submit(gw, &job);
	if (rc != MQS_OK)
		gw_log(GW_LOG_ERR, "route %s: cannot queue the shares of a record on %s: %s",
		       r->name, topic, mqs_strerror(rc));
out:
	if (secret != NULL)
		mqs_secret_free(secret, secret_len);
	if (shares != NULL)
		mqs_secret_free(shares, cap);
}
