/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_consent.c - marketing consent and opt-outs with their history
 * (gw_consent.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "gw_consent.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_util.h"

/* Open a transaction unless one is open: 1 when we opened it, 0 when the
 * caller's is used, -1 when it could not begin. */
static int tx_begin(struct gw_store *s)
{
	if (s->in_tx)
		return 0;
	return gw_store_begin(s) == MQS_OK ? 1 : -1;
}

/* Finish what tx_begin() opened: commit on MQS_OK, else roll back. */
static int tx_end(struct gw_store *s, int own, int rc)
{
	if (own != 1)
		return rc;
	if (rc == MQS_OK)
		return gw_store_commit(s) == MQS_OK ? MQS_OK : MQS_ERR_DB;
	gw_store_rollback(s);
	return rc;
}

/* Append one history row. */
static int log_event(struct gw_store *s, int64_t rid, int ch, const char *event, const char *source,
                     int64_t now_ms)
{
	static const char sql[] =
	    "INSERT INTO consent_log(recipient_id, channel, event, source, at)"
	    " VALUES (?, ?, ?, ?, ?)";
	sqlite3_stmt *st = gw_store_stmt(s, sql);
	int r;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now_ms);
	r = sqlite3_step(st);
	gw_store_done(st);
	return r == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
}

/* 1 when rid has an opt-out on ch, 0 when not, -1 on error. */
static int has_optout(struct gw_store *s, int64_t rid, int ch)
{
	static const char sql[] = "SELECT 1 FROM optouts WHERE recipient_id = ? AND channel = ?";
	sqlite3_stmt *st = gw_store_stmt(s, sql);
	int r;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	gw_store_done(st);
	return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

/* The consent state of rid on ch: 1 on, 0 off/none, -1 on error. */
static int consent_of(struct gw_store *s, int64_t rid, int ch)
{
	static const char sql[] =
	    "SELECT state FROM consents WHERE recipient_id = ? AND channel = ?";
	sqlite3_stmt *st = gw_store_stmt(s, sql);
	int r, on = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		on = sqlite3_column_int(st, 0) != 0;
	gw_store_done(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? on : -1;
}

/* Write the consent row of rid on ch. */
static int consent_write(struct gw_store *s, int64_t rid, int ch, int on, const char *source,
                         int64_t now_ms)
{
	static const char sql[] =
	    "INSERT INTO consents(recipient_id, channel, state, source, updated_at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (recipient_id, channel) DO UPDATE SET "
	    "state = ?3, source = ?4, updated_at = ?5";
	sqlite3_stmt *st = gw_store_stmt(s, sql);
	int r;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, on);
	sqlite3_bind_text(st, 4, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now_ms);
	r = sqlite3_step(st);
	gw_store_done(st);
	return r == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
}

/* A usable source label. */
int gw_consent_source_ok(const char *source)
{
	size_t n;

	if (source == NULL)
		return 0;
	n = strlen(source);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (source[i] < 0x21 || source[i] > 0x7e)
			return 0;
	}
	return 1;
}

/* 1 for the channels marketing may use. */
static int marketing_chan(int ch)
{
	return ch == GW_CH_EMAIL || ch == GW_CH_SMS || ch == GW_CH_LINE;
}

/* Set the marketing consent of name on ch. */
int gw_consent_set(struct gw_store *s, const char *name, int ch, int on, const char *source,
                   int64_t now_ms, char *err, size_t errlen)
{
	int64_t rid;
	int own, rc = MQS_OK, cur, opt;

	if (!marketing_chan(ch)) {
		snprintf(err, errlen, "consent applies to email, sms and line only");
		return MQS_ERR_INVAL;
	}
	if (!gw_consent_source_ok(source)) {
		snprintf(err, errlen, "bad consent source");
		return MQS_ERR_INVAL;
	}
	own = tx_begin(s);
	if (own < 0) {
		snprintf(err, errlen, "database error");
		return MQS_ERR_DB;
	}
	rid = gw_recipient_id(s, name);
	if (rid == -1) {
		snprintf(err, errlen, "no recipient %s", name);
		rc = MQS_ERR_NOENT;
		goto out;
	}
	if (rid < 0) {
		rc = MQS_ERR_DB;
		goto out;
	}
	opt = has_optout(s, rid, ch);
	cur = consent_of(s, rid, ch);
	if (opt < 0 || cur < 0) {
		rc = MQS_ERR_DB;
		goto out;
	}
	if (on && opt) {
		snprintf(err, errlen,
		         "recipient %s opted out of %s: lift the opt-out first (an opt-out always "
		         "wins)",
		         name, gw_chan_name(ch));
		rc = MQS_ERR_INVAL;
		goto out;
	}
	if (cur == (on != 0))
		goto out; /* nothing changes */
	rc = consent_write(s, rid, ch, on != 0, source, now_ms);
	if (rc == MQS_OK)
		rc = log_event(s, rid, ch, on ? "consent-on" : "consent-off", source, now_ms);
out:
	if (rc == MQS_ERR_DB)
		snprintf(err, errlen, "database error");
	return tx_end(s, own, rc);
}

/* Opt rid out of ch. */
int gw_consent_optout(struct gw_store *s, int64_t rid, int ch, const char *source, int64_t now_ms,
                      int *changed)
{
	static const char ins[] =
	    "INSERT OR IGNORE INTO optouts(recipient_id, channel, created_at, source) "
	    "VALUES (?, ?, ?, ?)";
	sqlite3_stmt *st;
	int own, rc = MQS_OK, r, cur;

	if (changed != NULL)
		*changed = 0;
	if (!gw_consent_source_ok(source) || ch < 0 || ch >= GW_CH__COUNT)
		return MQS_ERR_INVAL;
	own = tx_begin(s);
	if (own < 0)
		return MQS_ERR_DB;
	st = gw_store_stmt(s, "SELECT 1 FROM recipients WHERE id = ?");
	if (st == NULL) {
		rc = MQS_ERR_DB;
		goto out;
	}
	sqlite3_bind_int64(st, 1, rid);
	r = sqlite3_step(st);
	gw_store_done(st);
	if (r != SQLITE_ROW) {
		rc = r == SQLITE_DONE ? MQS_ERR_NOENT : MQS_ERR_DB;
		goto out;
	}
	st = gw_store_stmt(s, ins);
	if (st == NULL) {
		rc = MQS_ERR_DB;
		goto out;
	}
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	sqlite3_bind_text(st, 4, source, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st);
	gw_store_done(st);
	if (r != SQLITE_DONE) {
		rc = MQS_ERR_DB;
		goto out;
	}
	if (sqlite3_changes(s->db) > 0) {
		rc = log_event(s, rid, ch, "optout", source, now_ms);
		if (changed != NULL)
			*changed = 1;
	}
	cur = consent_of(s, rid, ch);
	if (rc == MQS_OK && cur < 0)
		rc = MQS_ERR_DB;
	if (rc == MQS_OK && cur == 1) {
		rc = consent_write(s, rid, ch, 0, source, now_ms);
		if (rc == MQS_OK)
			rc = log_event(s, rid, ch, "consent-off", source, now_ms);
		if (changed != NULL)
			*changed = 1;
	}
out:
	return tx_end(s, own, rc);
}

/* Lift the opt-out of rid on ch. */
int gw_consent_optout_lift(struct gw_store *s, int64_t rid, int ch, const char *source,
                           int64_t now_ms, int *changed)
{
	sqlite3_stmt *st;
	int own, rc = MQS_OK, r;

	if (changed != NULL)
		*changed = 0;
	if (!gw_consent_source_ok(source) || ch < 0 || ch >= GW_CH__COUNT)
		return MQS_ERR_INVAL;
	own = tx_begin(s);
	if (own < 0)
		return MQS_ERR_DB;
	st = gw_store_stmt(s, "DELETE FROM optouts WHERE recipient_id = ? AND channel = ?");
	if (st == NULL) {
		rc = MQS_ERR_DB;
		goto out;
	}
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	gw_store_done(st);
	if (r != SQLITE_DONE) {
		rc = MQS_ERR_DB;
		goto out;
	}
	if (sqlite3_changes(s->db) > 0) {
		rc = log_event(s, rid, ch, "optout-lifted", source, now_ms);
		if (changed != NULL)
			*changed = 1;
	}
out:
	return tx_end(s, own, rc);
}

/* The consent state of name on ch. */
int gw_consent_get(struct gw_store *s, const char *name, int ch, struct gw_consent_state *stt)
{
	static const char sql[] =
	    "SELECT c.state, c.updated_at, c.source, EXISTS (SELECT 1 FROM optouts o WHERE "
	    "o.recipient_id = r.id AND o.channel = ?2) FROM recipients r LEFT JOIN consents c ON "
	    "c.recipient_id = r.id AND c.channel = ?2 WHERE r.name = ?1";
	sqlite3_stmt *st = gw_store_stmt(s, sql);
	int r;

	memset(stt, 0, sizeof(*stt));
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		stt->consent = sqlite3_column_int(st, 0) != 0;
		stt->since_ms = sqlite3_column_int64(st, 1);
		stt->source = (const char *)sqlite3_column_text(st, 2);
		stt->optout = sqlite3_column_int(st, 3) != 0;
		/* the statement stays on this row until the next call on s */
		return MQS_OK;
	}
	gw_store_done(st);
	return r == SQLITE_DONE ? MQS_ERR_NOENT : MQS_ERR_DB;
}

/* Walk the history of name. */
int gw_consent_each(struct gw_store *s, const char *name,
                    int (*fn)(const struct gw_consent_event *ev, void *arg), void *arg)
{
	int64_t rid = gw_recipient_id(s, name);
	sqlite3_stmt *st;
	int r, rc = MQS_OK;

	if (rid == -1)
		return MQS_ERR_NOENT;
	if (rid < 0)
		return MQS_ERR_DB;
	st = gw_store_prepare(s, "SELECT channel, event, source, at FROM consent_log "
	                         "WHERE recipient_id = ? ORDER BY id");
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, rid);
	for (;;) {
		struct gw_consent_event ev;

		r = sqlite3_step(st);
		if (r != SQLITE_ROW)
			break;
		ev.channel = (const char *)sqlite3_column_text(st, 0);
		ev.event = (const char *)sqlite3_column_text(st, 1);
		ev.source = (const char *)sqlite3_column_text(st, 2);
		ev.at_ms = sqlite3_column_int64(st, 3);
		rc = fn(&ev, arg);
		if (rc != MQS_OK)
			break;
	}
	if (rc == MQS_OK && r != SQLITE_DONE)
		rc = MQS_ERR_DB;
	sqlite3_finalize(st);
	return rc;
}
