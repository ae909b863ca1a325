/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_ladder.c - escalation rows in the store (gw_ladder.h). */
#include "config.h"

#include "gw_config.h"
#include "gw_ladder.h"
#include "gw_log.h"
#include "gw_store.h"
#include "mqs_error.h"

/* Start the ack clock for a critical message. */
int gw_ladder_start_tx(struct gw_store *s, const struct gw_config *c, int64_t msg_rowid,
                       unsigned used_mask, int64_t now_ms)
{
	sqlite3_stmt *st;
	int rc = MQS_ERR_DB;

	if (c->nescalation == 0 || c->ack_timeout_ms == 0)
		return MQS_OK;
	st = gw_store_stmt(s, "INSERT INTO escalations(message, state, step, used, deadline, "
	                      "updated_at) VALUES (?, 'waiting', 0, ?, ?, ?)");
	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, msg_rowid);
	sqlite3_bind_int64(st, 2, used_mask);
	sqlite3_bind_int64(st, 3, now_ms + (int64_t)c->ack_timeout_ms);
	sqlite3_bind_int64(st, 4, now_ms);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		gw_log(GW_LOG_ERR, "db: cannot start escalation: %s", sqlite3_errmsg(s->db));
	gw_store_done(st);
	return rc;
}

/* The new state of an escalation. */
int gw_ladder_set_tx(struct gw_store *s, int64_t msg_rowid, const char *state, int step,
                     unsigned used, int64_t deadline, int64_t now_ms)
{
	sqlite3_stmt *st = gw_store_stmt(s, "UPDATE escalations SET state = ?, step = ?, used = ?, "
	                                    "deadline = ?, updated_at = ? WHERE message = ?");
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, step);
	sqlite3_bind_int64(st, 3, used);
	sqlite3_bind_int64(st, 4, deadline);
	sqlite3_bind_int64(st, 5, now_ms);
	sqlite3_bind_int64(st, 6, msg_rowid);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	gw_store_done(st);
	return rc;
}

/* End a waiting escalation. */
int gw_ladder_stop_tx(struct gw_store *s, int64_t msg_rowid, const char *state, int64_t now_ms,
                      int *stopped)
{
	sqlite3_stmt *st = gw_store_stmt(s, "UPDATE escalations SET state = ?, updated_at = ? "
	                                    "WHERE state = 'waiting' AND message = ?");
	int rc = MQS_ERR_DB;

	*stopped = 0;
	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, msg_rowid);
	if (sqlite3_step(st) == SQLITE_DONE) {
		*stopped = sqlite3_changes(s->db) > 0;
		rc = MQS_OK;
	}
	gw_store_done(st);
	return rc;
}

/* Stop escalating a message whose condition ended. */
int gw_ladder_resolve_tx(struct gw_store *s, const char *route, const char *publisher,
                         const char *msg_id, int64_t now_ms, int *stopped)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s, "SELECT id FROM messages WHERE route = ? AND publisher = ? AND msg_id = ?");
	int64_t rowid = -1;
	int r;

	*stopped = 0;
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, route, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, publisher, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, msg_id, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		rowid = sqlite3_column_int64(st, 0);
	gw_store_done(st);
	if (r == SQLITE_DONE)
		return MQS_OK;
	if (r != SQLITE_ROW)
		return MQS_ERR_DB;
	return gw_ladder_stop_tx(s, rowid, "resolved", now_ms, stopped);
}
