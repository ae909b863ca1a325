/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_pubq.c - the durable per-broker publish queue (gw_pubq.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_log.h"
#include "gw_pubq.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_util.h"

/* One row in flight: its id, its message id, its size. */
struct inflight {
	int64_t id;
	int mid;
	size_t len;
};

/* A channel topic its broker refused (a PUBACK reason code >= 0x80, e.g.
 * not authorized): every row of that topic is skipped by the claims until
 * retry_at; then one row goes out as a probe, and the backoff doubles
 * while the probes are refused.  Kept per topic, not per row, so any
 * number of refused rows costs one entry and never crowds out the rows of
 * the broker's other topics. */
struct refusal {
	char *topic;
	int64_t probe_id;  /* the row sent as a probe, 0: none */
	uint64_t retry_at; /* REFUSED_FLYING: a probe is in flight */
	uint64_t backoff_ms;
};

#define REFUSED_MAX       64 /* refused topics remembered per broker */
#define REFUSED_SQL       8  /* of them, filtered out in SQL (the rest in the loop) */
#define REFUSED_FLYING    UINT64_MAX
#define REFUSED_RETRY_MIN 1000
#define REFUSED_RETRY_MAX 300000

struct pubq_broker {
	char *name;
	struct refusal ref[REFUSED_MAX];
	size_t nref;
	uint64_t ref_next;     /* the earliest retry_at (UINT64_MAX: none) */
	int64_t qrows, qbytes; /* in the store, as last counted */
	uint64_t counted_at;   /* when (0: never) */
	struct inflight *fly;  /* window entries */
	size_t nfly;
	size_t bytes; /* payload bytes in flight */
	int wants;    /* rows not in flight may wait */
};

struct gw_pubq {
	struct pubq_broker *b;
	size_t nb;
	unsigned window;
};

/* Queue one row inside the caller's transaction. */
int gw_pubq_insert(struct gw_store *s, const char *broker, const char *topic,
                   const uint8_t *payload, size_t len, const char *route, int64_t now_ms)
{
	sqlite3_stmt *st;
	int rc = MQS_ERR_DB;

	if (len == 0 || len > GW_PUBQ_PAYLOAD_MAX || topic == NULL || *topic == '\0')
		return MQS_ERR_INVAL;
	st = gw_store_stmt(s, "INSERT INTO pubq (broker, topic, payload, route, created_at) "
	                      "VALUES (?, ?, ?, ?, ?)");
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, broker, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, payload, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, route, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now_ms);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		gw_log(GW_LOG_ERR, "db: cannot queue a share: %s", sqlite3_errmsg(s->db));
	gw_store_done(st);
	return rc;
}

/* Every broker with rows. */
int gw_pubq_each_broker(struct gw_store *s, int (*fn)(const char *broker, int64_t n, void *arg),
                        void *arg)
{
	sqlite3_stmt *st =
	    gw_store_stmt(s, "SELECT broker, count(*) FROM pubq GROUP BY broker ORDER BY broker");
	int rc = MQS_OK, step;

	if (st == NULL)
		return MQS_ERR_DB;
	step = sqlite3_step(st);
	while (step == SQLITE_ROW && rc == MQS_OK) {
		const unsigned char *name = sqlite3_column_text(st, 0);

		rc = fn(name != NULL ? (const char *)name : "", sqlite3_column_int64(st, 1), arg);
		if (rc == MQS_OK)
			step = sqlite3_step(st);
	}
	if (rc == MQS_OK && step != SQLITE_DONE)
		rc = MQS_ERR_DB;
	gw_store_done(st);
	return rc;
}

/* The in-memory state. */
struct gw_pubq *gw_pubq_new(const char *const *names, size_t nbrokers, unsigned window)
{
	struct gw_pubq *q = mqs_calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->window = window > 0 ? window : GW_PUBQ_WINDOW;
	q->b = mqs_calloc(nbrokers > 0 ? nbrokers : 1, sizeof(*q->b));
	if (q->b == NULL)
		goto fail;
	q->nb = nbrokers;
	for (size_t i = 0; i < nbrokers; i++) {
		q->b[i].name = mqs_strdup(names[i]);
		q->b[i].fly = mqs_calloc(q->window, sizeof(*q->b[i].fly));
		q->b[i].wants = 1;
		q->b[i].ref_next = UINT64_MAX;
		if (q->b[i].name == NULL || q->b[i].fly == NULL)
			goto fail;
	}
	return q;
fail:
	gw_pubq_free(q);
	return NULL;
}

/* Free. */
void gw_pubq_free(struct gw_pubq *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; q->b != NULL && i < q->nb; i++) {
		mqs_free(q->b[i].name);
		mqs_free(q->b[i].fly);
		for (size_t j = 0; j < q->b[i].nref; j++)
			mqs_free(q->b[i].ref[j].topic);
	}
	mqs_free(q->b);
	mqs_free(q);
}

/* Look again. */
void gw_pubq_wake(struct gw_pubq *q, size_t b)
{
	if (b < q->nb)
		q->b[b].wants = 1;
}

/* Rows may wait and the window has room. */
int gw_pubq_wants(const struct gw_pubq *q, size_t b)
{
	const struct pubq_broker *pb;

	if (b >= q->nb)
		return 0;
	pb = &q->b[b];
	return (pb->wants || (pb->nref > 0 && mqs_now_ms() >= pb->ref_next)) &&
	       pb->nfly < q->window && (pb->nfly == 0 || pb->bytes < GW_PUBQ_WINDOW_BYTES);
}

/* The refusal of topic on pb, or NULL. */
static struct refusal *refusal_of(struct pubq_broker *pb, const char *topic)
{
	for (size_t i = 0; topic != NULL && i < pb->nref; i++) {
		if (strcmp(pb->ref[i].topic, topic) == 0)
			return &pb->ref[i];
	}
	return NULL;
}

/* Remove entry r of pb. */
static void refusal_remove(struct pubq_broker *pb, struct refusal *r)
{
	mqs_free(r->topic);
	*r = pb->ref[pb->nref - 1];
	pb->nref--;
}

/* Recompute pb->ref_next. */
static void refusal_next(struct pubq_broker *pb)
{
	pb->ref_next = UINT64_MAX;
	for (size_t i = 0; i < pb->nref; i++) {
		if (pb->ref[i].retry_at < pb->ref_next)
			pb->ref_next = pb->ref[i].retry_at;
	}
}

/* Row id was acknowledged: when it was a refused topic's probe, the
 * topic is accepted again. */
static void refusal_drop(struct pubq_broker *pb, int64_t id)
{
	for (size_t i = 0; i < pb->nref; i++) {
		if (pb->ref[i].probe_id == id) {
			/* the topic's other rows may go now */
			refusal_remove(pb, &pb->ref[i]);
			pb->wants = 1;
			break;
		}
	}
	refusal_next(pb);
}

/* 1 when row id is in flight on pb. */
static int flying(const struct pubq_broker *pb, int64_t id)
{
	for (size_t i = 0; i < pb->nfly; i++) {
		if (pb->fly[i].id == id)
			return 1;
	}
	return 0;
}

/* Free a claimed message. */
void gw_pubq_msg_release(struct gw_pubq_msg *m)
{
	if (m == NULL)
		return;
	mqs_free(m->topic);
	mqs_free(m->payload);
	memset(m, 0, sizeof(*m));
}

/* Rows of broker b not in flight, oldest first, within the window. */
int gw_pubq_claim(struct gw_pubq *q, struct gw_store *s, size_t b, struct gw_pubq_msg *out,
                  size_t max, size_t *n)
{
	struct pubq_broker *pb;
	sqlite3_stmt *st;
	size_t seen = 0, limit, room, bytes;
	uint64_t now;
	int rc = MQS_OK, step;

	*n = 0;
	if (b >= q->nb)
		return MQS_OK;
	pb = &q->b[b];
	room = q->window - pb->nfly;
	if (max > room)
		max = room;
	if (max == 0)
		return MQS_OK;
	bytes = pb->bytes;
	now = mqs_now_ms();
	/* rows of refused topics not due yet are left out in SQL (the first
	 * REFUSED_SQL of them; "" matches no topic), the others in the loop */
	limit = pb->nfly + max + (pb->nref > REFUSED_SQL ? 4096 : 0);
	st = gw_store_stmt(s, "SELECT id, topic, payload FROM pubq WHERE broker = ? AND topic NOT "
	                      "IN (?, ?, ?, ?, ?, ?, ?, ?) ORDER BY id LIMIT ?");
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, pb->name, -1, SQLITE_STATIC);
	for (size_t i = 0, slot = 0; slot < REFUSED_SQL; i++) {
		if (i >= pb->nref) {
			sqlite3_bind_text(st, (int)(2 + slot++), "", -1, SQLITE_STATIC);
			continue;
		}
		if (pb->ref[i].retry_at > now)
			sqlite3_bind_text(st, (int)(2 + slot++), pb->ref[i].topic, -1,
			                  SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 2 + REFUSED_SQL, (int64_t)limit);
	step = sqlite3_step(st);
	while (step == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const unsigned char *topic = sqlite3_column_text(st, 1);
		const void *payload;
		size_t len;
		struct gw_pubq_msg *m = &out[*n];
		struct refusal *ref = refusal_of(pb, (const char *)topic);

		seen++;
		if (flying(pb, id) || (ref != NULL && ref->retry_at > now)) {
			step = sqlite3_step(st);
			continue; /* in flight, or its topic refused and not due yet */
		}
		payload = sqlite3_column_blob(st, 2);
		len = (size_t)sqlite3_column_bytes(st, 2);
		if (*n >= max || (*n + pb->nfly > 0 && bytes >= GW_PUBQ_WINDOW_BYTES))
			break;
		if (topic == NULL || payload == NULL || len == 0) {
			step = sqlite3_step(st);
			continue; /* cannot be inserted (gw_pubq_insert) */
		}
		m->id = id;
		m->len = len;
		m->topic = mqs_strdup((const char *)topic);
		m->payload = mqs_malloc(len);
		if (m->topic == NULL || m->payload == NULL) {
			gw_pubq_msg_release(m);
			rc = MQS_ERR_NOMEM;
			break;
		}
		memcpy(m->payload, payload, len);
		if (ref != NULL) {
			/* a due refused topic: this row is its probe, the others wait */
			ref->retry_at = REFUSED_FLYING;
			ref->probe_id = id;
		}
		bytes += len;
		(*n)++;
		step = sqlite3_step(st);
	}
	if (rc == MQS_OK && step != SQLITE_ROW && step != SQLITE_DONE) {
		gw_log(GW_LOG_WARN, "db: cannot read the publish queue: %s", sqlite3_errmsg(s->db));
		rc = MQS_ERR_DB;
	}
	gw_store_done(st);
	if (rc != MQS_OK) {
		for (size_t i = 0; i < *n; i++)
			gw_pubq_msg_release(&out[i]);
		*n = 0;
		return rc;
	}
	/* every row of the broker was seen: nothing waits beyond these */
	if (step == SQLITE_DONE && seen < limit) {
		pb->wants = 0;
		/* every row was seen: a due refusal not claimed has no row any
		 * more (else it would have been claimed): forget it */
		for (size_t i = 0; i < pb->nref;) {
			if (pb->ref[i].retry_at <= now) {
				refusal_remove(pb, &pb->ref[i]);
				continue;
			}
			i++;
		}
	}
	refusal_next(pb);
	return MQS_OK;
}

/* In flight until PUBACK or reset. */
int gw_pubq_sent(struct gw_pubq *q, size_t b, int64_t id, size_t len, int mid)
{
	struct pubq_broker *pb;

	if (b >= q->nb)
		return MQS_ERR_INVAL;
	pb = &q->b[b];
	if (pb->nfly >= q->window) {
		pb->wants = 1;
		return MQS_ERR_TOOBIG;
	}
	pb->fly[pb->nfly].id = id;
	pb->fly[pb->nfly].mid = mid;
	pb->fly[pb->nfly].len = len;
	pb->nfly++;
	pb->bytes += len;
	return MQS_OK;
}

/* PUBACK: delete the row. */
int gw_pubq_acked(struct gw_pubq *q, struct gw_store *s, size_t b, int mid)
{
	struct pubq_broker *pb;
	sqlite3_stmt *st;
	int64_t id;
	int rc = MQS_ERR_DB;
	size_t i;

	if (b >= q->nb)
		return MQS_ERR_NOENT;
	pb = &q->b[b];
	for (i = 0; i < pb->nfly; i++) {
		if (pb->fly[i].mid == mid)
			break;
	}
	if (i == pb->nfly)
		return MQS_ERR_NOENT;
	id = pb->fly[i].id;
	pb->bytes -= pb->fly[i].len;
	pb->fly[i] = pb->fly[pb->nfly - 1];
	pb->nfly--;
	refusal_drop(pb, id);
	/* without an fsync: a delete lost to a power cut only sends a share
	 * twice, which the receiver ignores */
	gw_store_durable(s, 0);
	st = gw_store_stmt(s, "DELETE FROM pubq WHERE id = ?");
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_DONE)
			rc = MQS_OK;
		gw_store_done(st);
	}
	if (rc != MQS_OK) {
		/* kept: it goes out again (a duplicate share is harmless) */
		gw_log(GW_LOG_WARN, "db: cannot remove an acknowledged share: %s",
		       sqlite3_errmsg(s->db));
		pb->wants = 1;
	}
	return rc;
}

/* A refused PUBACK: the row stays, skipped until its retry time. */
int gw_pubq_refused(struct gw_pubq *q, struct gw_store *s, size_t b, int mid, uint64_t now_ms,
                    char *topic, size_t topic_cap)
{
	struct pubq_broker *pb;
	struct refusal *r;
	sqlite3_stmt *st;
	char *rtopic = NULL;
	int64_t id;
	size_t i;

	if (topic_cap > 0)
		topic[0] = '\0';
	if (b >= q->nb)
		return MQS_ERR_NOENT;
	pb = &q->b[b];
	for (i = 0; i < pb->nfly; i++) {
		if (pb->fly[i].mid == mid)
			break;
	}
	if (i == pb->nfly)
		return MQS_ERR_NOENT;
	id = pb->fly[i].id;
	pb->bytes -= pb->fly[i].len;
	pb->fly[i] = pb->fly[pb->nfly - 1];
	pb->nfly--;
	st = gw_store_stmt(s, "SELECT topic FROM pubq WHERE id = ?");
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		rtopic = mqs_strdup((const char *)sqlite3_column_text(st, 0));
	gw_store_done(st);
	if (rtopic == NULL)
		return MQS_OK; /* the row is gone (or no memory): nothing to hold back */
	snprintf(topic, topic_cap, "%s", rtopic);
	r = refusal_of(pb, rtopic);
	if (r == NULL && pb->nref < REFUSED_MAX) {
		r = &pb->ref[pb->nref++];
		r->topic = rtopic;
		rtopic = NULL;
		r->backoff_ms = 0;
		r->retry_at = 0;
	}
	mqs_free(rtopic);
	if (r == NULL) {
		/* more refused topics than REFUSED_MAX on one broker: this one is
		 * not remembered and goes out again with the next claims */
		pb->wants = 1;
		return MQS_OK;
	}
	/* one step of the backoff per round: the rows of the topic claimed with
	 * the probe's round are refused together */
	if (r->retry_at == REFUSED_FLYING || r->retry_at <= now_ms) {
		r->backoff_ms = r->backoff_ms == 0 ? REFUSED_RETRY_MIN : r->backoff_ms * 2;
		if (r->backoff_ms > REFUSED_RETRY_MAX)
			r->backoff_ms = REFUSED_RETRY_MAX;
		r->retry_at = now_ms + r->backoff_ms;
	}
	r->probe_id = 0;
	refusal_next(pb);
	return MQS_OK;
}

/* The queue of broker b against a cap, counted at most once a second. */
int gw_pubq_full(struct gw_pubq *q, struct gw_store *s, size_t b, size_t max_rows, size_t max_bytes,
                 uint64_t now_ms, int64_t *rows, int64_t *bytes)
{
	struct pubq_broker *pb;

	*rows = 0;
	*bytes = 0;
	if (q == NULL || b >= q->nb)
		return 0;
	pb = &q->b[b];
	if (pb->counted_at == 0 || now_ms < pb->counted_at || now_ms - pb->counted_at >= 1000) {
		sqlite3_stmt *st =
		    gw_store_stmt(s, "SELECT count(*), coalesce(sum(length(payload)), "
		                     "0) FROM pubq WHERE broker = ?");

		if (st != NULL) {
			sqlite3_bind_text(st, 1, pb->name, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW) {
				pb->qrows = sqlite3_column_int64(st, 0);
				pb->qbytes = sqlite3_column_int64(st, 1);
				pb->counted_at = now_ms;
			}
			gw_store_done(st);
		}
	}
	*rows = pb->qrows;
	*bytes = pb->qbytes;
	return (uint64_t)pb->qrows >= (uint64_t)max_rows ||
	       (uint64_t)pb->qbytes >= (uint64_t)max_bytes;
}

/* The connection dropped. */
void gw_pubq_reset(struct gw_pubq *q, size_t b)
{
	if (b >= q->nb)
		return;
	for (size_t i = 0; i < q->b[b].nref; i++) {
		if (q->b[b].ref[i].retry_at == REFUSED_FLYING) {
			q->b[b].ref[i].retry_at = 0; /* a probe was in flight: due again */
			q->b[b].ref[i].probe_id = 0;
		}
	}
	refusal_next(&q->b[b]);
	q->b[b].nfly = 0;
	q->b[b].bytes = 0;
	q->b[b].wants = 1;
}

/* Rows in flight. */
size_t gw_pubq_inflight(const struct gw_pubq *q, size_t b)
{
	return b < q->nb ? q->b[b].nfly : 0;
}
