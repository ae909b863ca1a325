/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_escalation.c - ack deadlines and the escalation ladder, in SQLite. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "gw_ack.h"
#include "gw_escalation.h"
#include "gw_ladder.h"
#include "gw_log.h"
#include "gw_outbox.h"
#include "gw_status.h"
#include "gw_submit.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_error.h"

/* One overdue escalation (the arg of its gw_submit job). */
struct overdue {
	int64_t msg_rowid;
	const char *msg_id;
	const char *group;
	int step;
	unsigned used;
	int64_t now_ms;
	int chan; /* channel escalated to, -1: the ladder is used up */
};

/* Inside the transaction: queue the next usable channel, or give up. */
static int escalate_tx(struct gw_gateway *gw, struct gw_submit_job *job)
{
	struct overdue *o = job->arg;
	const struct gw_config *c = gw->conf;
	unsigned used = o->used;
	size_t nrows = 0;

	o->chan = -1;
	for (size_t i = 0; i < c->nescalation; i++) {
		int ch = c->escalation[i];

		if (used & GW_CH_BIT(ch))
			continue;
		used |= GW_CH_BIT(ch);
		if (gw_outbox_queue(&gw->store, o->msg_rowid, o->group, GW_CH_BIT(ch), o->step + 1,
		                    o->now_ms, &nrows) == MQS_ERR_DB)
			return MQS_ERR_DB;
		if (nrows > 0) {
			o->chan = ch;
			break;
		}
	}
	if (o->chan < 0)
		return gw_ladder_set_tx(&gw->store, o->msg_rowid, "exhausted", o->step, used, 0,
		                        o->now_ms);
	job->rowid = o->msg_rowid;
	job->step = o->step + 1;
	return gw_ladder_set_tx(&gw->store, o->msg_rowid, "waiting", o->step + 1, used,
	                        o->now_ms + (int64_t)c->ack_timeout_ms, o->now_ms);
}

/* After the commit: log and publish the escalation event (before the
 * "queued" states of the new step). */
static void escalate_committed(struct gw_gateway *gw, struct gw_submit_job *job)
{
	struct overdue *o = job->arg;

	if (o->chan >= 0) {
		gw_log(GW_LOG_INFO, "message %s: no acknowledgement, escalating to %s (step %d)",
		       o->msg_id, gw_chan_name(o->chan), o->step + 1);
		gw_status_event(&gw->status, o->msg_rowid, "escalated", gw_chan_name(o->chan),
		                o->step + 1, NULL);
	} else {
		gw_log(GW_LOG_WARN,
		       "message %s: no acknowledgement and no channel left to escalate to",
		       o->msg_id);
		gw_status_event(&gw->status, o->msg_rowid, "exhausted", NULL, o->step, NULL);
	}
}

/* One overdue escalation, in its own durable transaction (gw_submit). */
static int escalate_one(struct gw_gateway *gw, int64_t msg_rowid, const char *msg_id,
                        const char *group, int step, unsigned used, int64_t now_ms)
{
	struct overdue o = {msg_rowid, msg_id, group, step, used, now_ms, -1};
	struct gw_submit_job job = {
	    .durability = GW_DURABLE_NOW, /* nobody would send this step again */
	    .tx = escalate_tx,
	    .committed = escalate_committed,
	    .arg = &o,
	};

	return gw_submit(gw, &job) == MQS_OK ? MQS_OK : MQS_ERR_DB;
}

/* Escalate overdue messages; return the next deadline. */
int64_t gw_escalation_tick(struct gw_gateway *gw, int64_t now_ms)
{
	sqlite3_stmt *st;
	int64_t next = 0;

	for (int round = 0; round < 64; round++) {
		int64_t rowid;
		int step;
		unsigned used;
		char msg_id[GW_ID_MAX + 1], group[80];

		st = gw_store_stmt(&gw->store,
		                   "SELECT e.message, e.step, e.used, m.msg_id, m.grp "
		                   "FROM escalations e JOIN messages m ON m.id = e.message "
		                   "WHERE e.state = 'waiting' AND e.deadline <= ? "
		                   "ORDER BY e.deadline LIMIT 1");
		if (st == NULL)
			return now_ms + 1000;
		sqlite3_bind_int64(st, 1, now_ms);
		if (sqlite3_step(st) != SQLITE_ROW) {
			gw_store_done(st);
			break;
		}
		rowid = sqlite3_column_int64(st, 0);
		step = sqlite3_column_int(st, 1);
		used = (unsigned)sqlite3_column_int64(st, 2);
		snprintf(msg_id, sizeof(msg_id), "%s", (const char *)sqlite3_column_text(st, 3));
		snprintf(group, sizeof(group), "%s", (const char *)sqlite3_column_text(st, 4));
		gw_store_done(st);
		if (escalate_one(gw, rowid, msg_id, group, step, used, now_ms) != MQS_OK)
			return now_ms + 1000; /* try again soon */
	}
	st = gw_store_stmt(&gw->store,
	                   "SELECT min(deadline) FROM escalations WHERE state = 'waiting'");
	if (st == NULL)
		return now_ms + 1000;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		next = sqlite3_column_int64(st, 0);
	gw_store_done(st);
	return next;
}

/* The configured route called name, or NULL. */
static const struct gw_route *find_route(const struct gw_config *c, const char *name)
{
	for (size_t i = 0; name != NULL && i < c->nroutes; i++) {
		if (strcmp(c->routes[i].name, name) == 0)
			return &c->routes[i];
	}
	return NULL;
}

/* Messages one acknowledgement may reach: the same id in every namespace
 * (one per route and publisher; the cap only bounds memory). */
#define ACK_MAX_ROWS 65536
#define ACK_ROWS_MIN 8 /* first allocation */

struct ack_row {
	int64_t rowid;
	int acked;   /* already acknowledged before */
	int allowed; /* origin may acknowledge it */
	int stopped; /* its escalation was stopped now */
};

/* Count and log a refused acknowledgement. */
static void refuse(struct gw_gateway *gw, const char *msg_id, const char *who, const char *why)
{
	gw->acks_refused++;
	gw_log(GW_LOG_WARN, "refused acknowledgement of %s%s%s: %s (%lu refused since start)",
	       msg_id, who != NULL ? " by device " : "", who != NULL ? who : "", why,
	       gw->acks_refused);
}

/* Record an acknowledgement (docs/gateway.md, "Acknowledgements"). */
void gw_escalation_ack(struct gw_gateway *gw, const char *msg_id, const char *origin,
                       int64_t now_ms)
{
	gw_escalation_ack_in(gw, msg_id, origin, NULL, NULL, now_ms);
}

/* Record an acknowledgement limited to a namespace (docs/gateway.md,
 * "Acknowledgements"). */
void gw_escalation_ack_in(struct gw_gateway *gw, const char *msg_id, const char *origin,
                          const char *route, const char *publisher, int64_t now_ms)
{
	struct ack_row *rows = NULL;
	size_t n = 0, cap = 0, nallowed = 0, nnew = 0;
	sqlite3_stmt *st, *upd;
	int r, in_tx = 0;

	if (origin == NULL) {
		refuse(gw, msg_id, NULL,
		       "not sealed by the broker (no origin); protect the "
		       "status topic");
		return;
	}
	if (!gw_ack_device_check(origin)) {
		refuse(gw, msg_id, NULL, "the origin is not a device name");
		return;
	}
	/* read and decide first: a refused ack never takes the write lock */
	st = gw_store_stmt(&gw->store, "SELECT id, route, grp, acked_at IS NOT NULL FROM messages "
	                               "WHERE msg_id = ?1 AND (?3 IS NULL OR route = ?3) AND "
	                               "(?4 IS NULL OR publisher = ?4) ORDER BY id DESC LIMIT ?2");
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, msg_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, ACK_MAX_ROWS);
	if (route != NULL)
		sqlite3_bind_text(st, 3, route, -1, SQLITE_STATIC);
	if (publisher != NULL)
		sqlite3_bind_text(st, 4, publisher, -1, SQLITE_STATIC);
	for (r = sqlite3_step(st); r == SQLITE_ROW && n < ACK_MAX_ROWS; r = sqlite3_step(st)) {
		const struct gw_route *rt =
		    find_route(gw->conf, (const char *)sqlite3_column_text(st, 1));
		int ok = 0;

		if (gw_ack_allowed(&gw->store, rt != NULL ? rt->ack_from : NULL,
		                   (const char *)sqlite3_column_text(st, 2), origin,
		                   &ok) != MQS_OK) {
			gw_store_done(st);
			goto out;
		}
		if (n == cap &&
		    mqs_array_reserve((void **)&rows, &cap, cap == 0 ? ACK_ROWS_MIN : cap * 2,
		                      sizeof(*rows), ACK_MAX_ROWS, 0) != MQS_OK) {
			gw_store_done(st);
			goto out;
		}
		rows[n].rowid = sqlite3_column_int64(st, 0);
		rows[n].acked = sqlite3_column_int(st, 3);
		rows[n].allowed = ok;
		rows[n].stopped = 0;
		nallowed += ok ? 1 : 0;
		nnew += ok && !rows[n].acked ? 1 : 0;
		n++;
	}
	gw_store_done(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		goto out;
	if (n == 0) {
		gw_log(GW_LOG_DEBUG, "acknowledgement of %s by device %s: no such message", msg_id,
		       origin);
		goto out;
	}
	if (nallowed == 0) {
		refuse(gw, msg_id, origin, "not allowed to acknowledge this message");
		goto out;
	}
	if (nnew == 0)
		goto out; /* acknowledged before */
	if (nnew > 1 && route == NULL && publisher == NULL) {
		/* a decoy may share the id: the ack must say which one it means */
		refuse(gw, msg_id, origin,
		       "the id is waiting in several namespaces; name \"route\" and "
		       "\"publisher\"");
		goto out;
	}
	if (gw_store_begin(&gw->store) != 0)
		goto out;
	in_tx = 1;
	upd = gw_store_stmt(&gw->store,
	                    "UPDATE messages SET acked_at = ? WHERE id = ? AND acked_at IS NULL");
	if (upd == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (!rows[i].allowed || rows[i].acked)
			continue;
		sqlite3_reset(upd);
		sqlite3_bind_int64(upd, 1, now_ms);
		sqlite3_bind_int64(upd, 2, rows[i].rowid);
		if (sqlite3_step(upd) != SQLITE_DONE) {
			gw_store_done(upd);
			goto out;
		}
		if (sqlite3_changes(gw->store.db) == 0)
			rows[i].acked = 1; /* acknowledged meanwhile */
		if (gw_ladder_stop_tx(&gw->store, rows[i].rowid, "acked", now_ms,
		                      &rows[i].stopped) != MQS_OK) {
			gw_store_done(upd);
			goto out;
		}
	}
	gw_store_done(upd);
	in_tx = 0;
	if (gw_store_commit(&gw->store) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (!rows[i].allowed || rows[i].acked)
			continue;
		gw_log(GW_LOG_INFO, "message %s acknowledged by device %s%s", msg_id, origin,
		       rows[i].stopped ? " (escalation stopped)" : "");
		gw_status_event(&gw->status, rows[i].rowid, "acked", NULL, -1, origin);
	}
out:
	if (in_tx)
		gw_store_rollback(&gw->store);
	mqs_free(rows);
}

/* Warn when acknowledgements cannot be accepted at all. */
void gw_escalation_check_acks(const struct gw_config *c, const struct mqs_creds *creds)
{
	char topic[1200];

	if (c->nescalation == 0 || c->ack_timeout_ms == 0)
		return;
	snprintf(topic, sizeof(topic), "%s/id/ack", c->status_topic);
	if (!mqs_creds_topic_protected(creds, topic))
		gw_log(GW_LOG_WARN,
		       "no topic key for %s/+/ack in the credentials: acknowledgements must be "
		       "sealed, every one will be refused (protect the status tree and export its "
		       "key to the gateway)",
		       c->status_topic);
}
