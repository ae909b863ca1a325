/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_outbox.c - outbox rows: queue, claim, update, list, prune. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "gw_log.h"
#include "gw_outbox.h"
#include "gw_recipient.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_master_key.h"
#include "mqs_util.h"

#define BODY_LABEL "mqttsec-gateway body v1"

/* The AAD of a stored payload: label, route, publisher, id (NUL
 * separated), so a sealed body cannot be moved to another message. */
static int body_aad(const char *route, const char *publisher, const char *msg_id, char **out,
                    size_t *len)
{
	size_t a = sizeof(BODY_LABEL), b = strlen(route) + 1, c = strlen(publisher) + 1,
	       d = strlen(msg_id);
	char *p = mqs_malloc(a + b + c + d + 1);

	if (p == NULL)
		return MQS_ERR_NOMEM;
	memcpy(p, BODY_LABEL, a);
	memcpy(p + a, route, b);
	memcpy(p + a + b, publisher, c);
	memcpy(p + a + b + c, msg_id, d + 1);
	*out = p;
	*len = a + b + c + d;
	return MQS_OK;
}

/* The AAD of a stored title or body: the payload's AAD, NUL, the column
 * name, so a sealed text cannot be moved to another message or column. */
static int text_aad(const char *route, const char *publisher, const char *msg_id, const char *col,
                    char **out, size_t *len)
{
	size_t n = 0, c = strlen(col) + 1;
	char *p = NULL, *q;
	int rc = body_aad(route, publisher, msg_id, &p, &n);

	*out = NULL;
	if (rc != MQS_OK)
		goto out;
	q = mqs_realloc(p, n + 1 + c);
	if (q == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	p = q;
	memcpy(p + n + 1, col, c); /* p[n] is the NUL that ends the id */
	*out = p;
	*len = n + c;
	p = NULL;
out:
	mqs_free(p);
	return rc;
}

/* Seal a title or body for column col (docs/gateway.md, "Privacy of
 * recipient data"); NULL text stays NULL (*sealed NULL). */
static int text_seal(struct gw_store *s, const struct gw_message *m, const char *publisher,
                     const char *col, const char *text, uint8_t **sealed, size_t *sealed_len)
{
	char *aad = NULL;
	size_t aad_len = 0;
	int rc = MQS_OK;

	*sealed = NULL;
	*sealed_len = 0;
	if (text == NULL)
		goto out;
	rc = text_aad(m->route, publisher, m->msg_id, col, &aad, &aad_len);
	if (rc == MQS_OK)
		rc = gw_store_crypt_text(s, 1, aad, aad_len, (const uint8_t *)text, strlen(text),
		                         sealed, sealed_len);
out:
	mqs_free(aad);
	return rc;
}

/* The title or body in column idx of the current row of sel, as a new
 * string: sealed text opened, text of rows stored before it was sealed
 * taken as it is (refused once all are sealed), NULL as "".  NULL when out
 * of memory; when it does not open or is in clear after the sealing,
 * row->data_bad is set and the delivery fails. */
static char *text_open(struct gw_store *s, sqlite3_stmt *sel, int idx, const char *col,
                       struct gw_outbox_row *row)
{
	char *aad = NULL, *text = NULL;
	uint8_t *plain = NULL;
	size_t aad_len = 0, plain_len = 0;
	int rc;

	if (sqlite3_column_type(sel, idx) != SQLITE_BLOB) {
		const char *v = (const char *)sqlite3_column_text(sel, idx);
		int64_t sealed = 0;

		/* once every text is sealed, one in clear was put there by
		 * someone else: refused (docs/gateway.md, "Privacy of recipient
		 * data") */
		if (v != NULL && gw_store_kv_get_int(s, "message_text_sealed", &sealed) == MQS_OK &&
		    sealed == 1) {
			gw_log(GW_LOG_ERR,
			       "cannot open the %s of message %s: stored in clear though texts are "
			       "sealed (the database was changed)",
			       col, row->msg_id);
			row->data_bad = 1;
			v = "";
		}
		text = mqs_strdup(v != NULL ? v : "");
		goto out;
	}
	rc = text_aad(row->route, row->publisher, row->msg_id, col, &aad, &aad_len);
	if (rc == MQS_OK)
		rc =
		    gw_store_crypt_text(s, 0, aad, aad_len, sqlite3_column_blob(sel, idx),
		                        (size_t)sqlite3_column_bytes(sel, idx), &plain, &plain_len);
	if (rc != MQS_OK) {
		gw_log(GW_LOG_ERR, "cannot open the %s of message %s (wrong master key?): %s", col,
		       row->msg_id, mqs_strerror(rc));
		row->data_bad = 1;
		text = mqs_strdup("");
		goto out;
	}
	text = mqs_malloc(plain_len + 1);
	if (text != NULL) {
		memcpy(text, plain, plain_len);
		text[plain_len] = '\0';
	}
out:
	mqs_free(aad);
	mqs_secret_free(plain, plain_len);
	return text;
}

/* Seal the text columns of one stored message row (current row of q: id,
 * route, publisher, msg_id, title, body). */
static int text_seal_row(struct gw_store *s, sqlite3_stmt *q)
{
	struct gw_message m;
	uint8_t *title = NULL, *body = NULL;
	size_t title_len = 0, body_len = 0;
	const char *publisher = (const char *)sqlite3_column_text(q, 2);
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_CRYPTO;

	memset(&m, 0, sizeof(m));
	m.route = (const char *)sqlite3_column_text(q, 1);
	m.msg_id = (const char *)sqlite3_column_text(q, 3);
	if (m.route == NULL || m.msg_id == NULL || publisher == NULL)
		goto out;
	if ((sqlite3_column_type(q, 4) == SQLITE_TEXT &&
	     text_seal(s, &m, publisher, "title", (const char *)sqlite3_column_text(q, 4), &title,
	               &title_len) != MQS_OK) ||
	    (sqlite3_column_type(q, 5) == SQLITE_TEXT &&
	     text_seal(s, &m, publisher, "body", (const char *)sqlite3_column_text(q, 5), &body,
	               &body_len) != MQS_OK))
		goto out;
	rc = MQS_ERR_DB;
	st = gw_store_prepare(s, "UPDATE messages SET title = coalesce(?1, title), "
	                         "body = coalesce(?2, body) WHERE id = ?3");
	if (st == NULL)
		goto out;
	if (title != NULL)
		sqlite3_bind_blob(st, 1, title, (int)title_len, SQLITE_STATIC);
	if (body != NULL)
		sqlite3_bind_blob(st, 2, body, (int)body_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, sqlite3_column_int64(q, 0));
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
out:
	sqlite3_finalize(st);
	mqs_free(title);
	mqs_free(body);
	return rc;
}

/* Seal the titles and bodies stored in clear before they were sealed, once
 * (gw_outbox.h). */
int gw_outbox_text_seal_old(struct gw_store *s)
{
	static const char flag[] = "message_text_sealed";
	sqlite3_stmt *q = NULL;
	int64_t done = 0;
	int rc = MQS_OK, step;

	if (gw_store_kv_get_int(s, flag, &done) == MQS_OK && done == 1)
		return MQS_OK;
	if (gw_store_begin(s) != MQS_OK)
		return MQS_ERR_DB;
	/* the old text must not survive in freed pages */
	if (gw_store_exec(s, "PRAGMA secure_delete = ON") != MQS_OK)
		gw_log(GW_LOG_WARN, "cannot set secure_delete: old text may stay in free pages");
	rc = MQS_ERR_DB;
	q = gw_store_prepare(s, "SELECT id, route, publisher, msg_id, title, body FROM messages "
	                        "WHERE typeof(title) = 'text' OR typeof(body) = 'text'");
	if (q == NULL)
		goto out;
	step = sqlite3_step(q);
	while (step == SQLITE_ROW) {
		rc = text_seal_row(s, q);
		if (rc != MQS_OK)
			goto out;
		step = sqlite3_step(q);
	}
	rc = MQS_ERR_DB;
	if (step != SQLITE_DONE || gw_store_kv_set_int(s, flag, 1) != MQS_OK)
		goto out;
	rc = MQS_OK;
out:
	sqlite3_finalize(q);
	if (rc == MQS_OK)
		rc = gw_store_commit(s);
	else
		gw_store_rollback(s);
	(void)gw_store_exec(s, "PRAGMA secure_delete = OFF");
	return rc;
}

/* Insert the message row (dedupe on route, publisher and msg_id). */
int gw_outbox_insert_message(struct gw_store *s, const struct gw_message *m, int64_t now_ms,
                             int64_t *rowid)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s, "INSERT INTO messages(msg_id, route, topic, kind, severity, grp, title, body, "
	       "origin, received_at, publisher, body_sealed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
	       "ON CONFLICT(route, publisher, msg_id) DO NOTHING");
	const char *publisher = m->publisher != NULL ? m->publisher : "";
	uint8_t *sealed = NULL, *title = NULL, *body = NULL;
	size_t sealed_len = 0, title_len = 0, body_len = 0;
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return rc;
	if (m->data != NULL) {
		char *aad = NULL;
		size_t aad_len = 0;

		rc = m->data_len > GW_OUTBOX_DATA_MAX
		         ? MQS_ERR_TOOBIG
		         : body_aad(m->route, publisher, m->msg_id, &aad, &aad_len);
		if (rc == MQS_OK)
			rc = gw_store_crypt(s, BODY_LABEL, 1, aad, aad_len, m->data, m->data_len,
			                    &sealed, &sealed_len);
		mqs_free(aad);
		if (rc != MQS_OK) {
			gw_log(GW_LOG_ERR, "cannot seal the payload of message %s: %s", m->msg_id,
			       mqs_strerror(rc));
			gw_store_done(st);
			return rc;
		}
		rc = MQS_ERR_DB;
		sqlite3_bind_blob(st, 12, sealed, (int)sealed_len, SQLITE_STATIC);
	}
	sqlite3_bind_text(st, 1, m->msg_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->route, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, m->topic, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, gw_severity_name(m->severity), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, m->group, -1, SQLITE_STATIC);
	if (text_seal(s, m, publisher, "title", m->title, &title, &title_len) != MQS_OK ||
	    text_seal(s, m, publisher, "body", m->body != NULL ? m->body : "", &body, &body_len) !=
	        MQS_OK) {
		gw_log(GW_LOG_ERR, "cannot seal the text of message %s", m->msg_id);
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	if (title != NULL)
		sqlite3_bind_blob(st, 7, title, (int)title_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, body, (int)body_len, SQLITE_STATIC);
	if (m->origin != NULL)
		sqlite3_bind_text(st, 9, m->origin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, now_ms);
	sqlite3_bind_text(st, 11, publisher, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		gw_log(GW_LOG_ERR, "db: cannot insert message: %s", sqlite3_errmsg(s->db));
	} else if (sqlite3_changes(s->db) == 0) {
		rc = MQS_ERR_EXISTS;
	} else {
		*rowid = sqlite3_last_insert_rowid(s->db);
		rc = MQS_OK;
	}
out:
	gw_store_done(st);
	mqs_free(sealed); /* ciphertext only */
	mqs_free(title);
	mqs_free(body);
	return rc;
}

/* Does group exist?  1, 0, or -1 on a database error. */
int gw_outbox_group_exists(struct gw_store *s, const char *group)
{
	sqlite3_stmt *st = gw_store_stmt(s, "SELECT 1 FROM groups WHERE name = ?");
	int r, rc = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		rc = 1;
	else if (r == SQLITE_DONE)
		rc = 0;
	gw_store_done(st);
	return rc;
}

/* Queue rows for the members of group on the channels in chan_mask. */
int gw_outbox_queue(struct gw_store *s, int64_t msg_rowid, const char *group, unsigned chan_mask,
                    int step, int64_t now_ms, size_t *nrows)
{
	sqlite3_stmt *members = NULL, *ins = NULL, *g = NULL;
	int rc = MQS_ERR_DB, r;

	*nrows = 0;
	g = gw_store_stmt(s, "SELECT 1 FROM groups WHERE name = ?");
	members = gw_store_stmt(
	    s, "SELECT r.name, r.email IS NOT NULL, r.phone IS NOT NULL, r.line IS NOT NULL, "
	       " (SELECT group_concat(channel, ',') FROM optouts o WHERE o.recipient_id = r.id) "
	       "FROM groups g JOIN group_members m ON m.group_id = g.id "
	       "JOIN recipients r ON r.id = m.recipient_id WHERE g.name = ? ORDER BY r.name");
	ins = gw_store_stmt(
	    s, "INSERT INTO outbox(message, recipient, channel, state, attempts, next_attempt_at, "
	       "retry_key, step, created_at, updated_at) VALUES (?,?,?,'queued',0,?,?,?,?,?) "
	       "ON CONFLICT DO NOTHING");
	if (g == NULL || members == NULL || ins == NULL)
		goto out;
	sqlite3_bind_text(g, 1, group, -1, SQLITE_STATIC);
	r = sqlite3_step(g);
	if (r == SQLITE_DONE) {
		rc = MQS_ERR_NOENT;
		goto out;
	}
	if (r != SQLITE_ROW)
		goto out;
	sqlite3_bind_text(members, 1, group, -1, SQLITE_STATIC);
	for (r = sqlite3_step(members); r == SQLITE_ROW; r = sqlite3_step(members)) {
		const char *name = (const char *)sqlite3_column_text(members, 0);
		const char *optouts = (const char *)sqlite3_column_text(members, 4);

		for (int ch = 0; ch < GW_CH__COUNT; ch++) {
			int field = gw_field_for_chan(ch);
			char uuid[37];

			if (!(chan_mask & GW_CH_BIT(ch)) || field < 0 ||
			    !sqlite3_column_int(members, 1 + field))
				continue;
			if (optouts != NULL) {
				char list[64];
				unsigned out_mask = 0;

				if (gw_chan_list_parse(optouts, &out_mask, NULL, NULL, list,
				                       sizeof(list)) == 0 &&
				    (out_mask & GW_CH_BIT(ch)))
					continue;
			}
			if (gw_uuid4(uuid) != 0) {
				gw_log(GW_LOG_ERR, "cannot draw a random retry key");
				goto out;
			}
			sqlite3_reset(ins);
			sqlite3_bind_int64(ins, 1, msg_rowid);
			sqlite3_bind_text(ins, 2, name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(ins, 3, gw_chan_name(ch), -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 4, now_ms);
			sqlite3_bind_text(ins, 5, uuid, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int(ins, 6, step);
			sqlite3_bind_int64(ins, 7, now_ms);
			sqlite3_bind_int64(ins, 8, now_ms);
			if (sqlite3_step(ins) != SQLITE_DONE) {
				gw_log(GW_LOG_ERR, "db: cannot queue delivery: %s",
				       sqlite3_errmsg(s->db));
				goto out;
			}
			*nrows += (size_t)sqlite3_changes(s->db);
		}
	}
	if (r != SQLITE_DONE)
		goto out;
	/* one row per message for the channels without recipients */
	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		size_t one = 0;

		if (!(chan_mask & GW_CH_BIT(ch)) || !GW_CH_NO_RECIPIENT(ch))
			continue;
		if (gw_outbox_queue_direct(s, msg_rowid, ch, step, now_ms, &one) != MQS_OK)
			goto out;
		*nrows += one;
	}
	rc = MQS_OK;
out:
	gw_store_done(g);
	gw_store_done(members);
	gw_store_done(ins);
	return rc;
}

/* The one row of a webhook or spool delivery. */
int gw_outbox_queue_direct(struct gw_store *s, int64_t msg_rowid, int ch, int step, int64_t now_ms,
                           size_t *nrows)
{
	sqlite3_stmt *ins;
	char uuid[37];
	int rc = MQS_ERR_DB;

	*nrows = 0;
	if (!GW_CH_NO_RECIPIENT(ch))
		return MQS_ERR_INVAL;
	if (gw_uuid4(uuid) != 0) {
		gw_log(GW_LOG_ERR, "cannot draw a random retry key");
		return MQS_ERR_CRYPTO;
	}
	ins = gw_store_stmt(
	    s, "INSERT INTO outbox(message, recipient, channel, state, attempts, next_attempt_at, "
	       "retry_key, step, created_at, updated_at) VALUES (?,'',?,'queued',0,?,?,?,?,?) "
	       "ON CONFLICT DO NOTHING");
	if (ins == NULL)
		return rc;
	sqlite3_bind_int64(ins, 1, msg_rowid);
	sqlite3_bind_text(ins, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 3, now_ms);
	sqlite3_bind_text(ins, 4, uuid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(ins, 5, step);
	sqlite3_bind_int64(ins, 6, now_ms);
	sqlite3_bind_int64(ins, 7, now_ms);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		gw_log(GW_LOG_ERR, "db: cannot queue delivery: %s", sqlite3_errmsg(s->db));
	} else {
		*nrows = (size_t)sqlite3_changes(s->db);
		rc = MQS_OK;
	}
	gw_store_done(ins);
	return rc;
}

/* Crash recovery: 'sending' rows go back to the queue. */
int gw_outbox_requeue_sending(struct gw_store *s)
{
	if (gw_store_exec(s, "UPDATE outbox SET state = 'queued' WHERE state = 'sending'") != 0)
		return -1;
	return sqlite3_changes(s->db);
}

/* Free one claimed row's strings and wipe its payload. */
void gw_outbox_row_release(struct gw_outbox_row *row)
{
	if (row == NULL)
		return;
	mqs_free(row->title);
	mqs_free(row->body);
	mqs_free(row->topic);
	mqs_free(row->origin);
	mqs_secret_free(row->data, row->data_len);
	row->title = row->body = row->topic = row->origin = NULL;
	row->data = NULL;
	row->data_len = 0;
}

/* Free claimed rows. */
void gw_outbox_rows_free(struct gw_outbox_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		gw_outbox_row_release(&rows[i]);
	mqs_free(rows);
}

/* Open the stored payload of the current row of sel into row. */
static void row_open_data(struct gw_store *s, sqlite3_stmt *sel, int col, struct gw_outbox_row *row)
{
	const uint8_t *blob = sqlite3_column_blob(sel, col);
	size_t len = (size_t)sqlite3_column_bytes(sel, col);
	char *aad = NULL;
	size_t aad_len = 0;
	int rc;

	if (blob == NULL || len == 0)
		return;
	rc = body_aad(row->route, row->publisher, row->msg_id, &aad, &aad_len);
	if (rc == MQS_OK)
		rc = gw_store_crypt(s, BODY_LABEL, 0, aad, aad_len, blob, len, &row->data,
		                    &row->data_len);
	mqs_free(aad);
	if (rc != MQS_OK) {
		gw_log(GW_LOG_ERR, "cannot open the payload of message %s (wrong master key?): %s",
		       row->msg_id, mqs_strerror(rc));
		row->data_bad = 1;
	}
}

/* The consent and opt-out of recipient rid for channel ch now. */
int gw_outbox_consent_now(struct gw_store *s, int64_t rid, int ch, int *optout)
{
	static const char sql[] =
	    "SELECT coalesce((SELECT state FROM consents WHERE recipient_id = ?1 AND "
	    "channel = ?2), 0), EXISTS (SELECT 1 FROM optouts WHERE recipient_id = ?1 AND "
	    "channel = ?2)";
	sqlite3_stmt *st = gw_store_stmt(s, sql);
	int rc = GW_CONSENT_UNKNOWN;

	*optout = 0;
	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		rc = sqlite3_column_int(st, 0) == 1 ? GW_CONSENT_ON : GW_CONSENT_OFF;
		*optout = sqlite3_column_int(st, 1) != 0;
	} else {
		gw_log(GW_LOG_ERR, "db: cannot read a consent: %s", sqlite3_errmsg(s->db));
	}
	gw_store_done(st);
	return rc;
}

/* Claim due rows of one channel and priority: read first (no write lock
 * when nothing is due), then mark them sending in one transaction. */
int gw_outbox_claim_prio(struct gw_store *s, int ch, int prio, int64_t now_ms, size_t max,
                         struct gw_outbox_row **rowsp, size_t *np)
{
	static const char sel_sql[] =
	    "SELECT o.id, o.recipient, o.attempts, o.retry_key, m.msg_id, m.severity, m.title, "
	    "m.body, r.id IS NOT NULL, CASE ?4 WHEN 0 THEN r.email WHEN 1 THEN r.phone "
	    "ELSE r.line END, EXISTS (SELECT 1 FROM optouts x WHERE x.recipient_id = r.id AND "
	    "x.channel = o.channel), m.route, m.publisher, m.kind, m.topic, m.origin, "
	    "m.body_sealed, o.message, r.id, r.tz, "
	    "?5 = 0 OR r.id IS NULL OR coalesce((SELECT c.state FROM consents c "
	    "WHERE c.recipient_id = r.id AND c.channel = o.channel), 0) = 1, "
	    "?5 = 1 AND EXISTS (SELECT 1 FROM campaigns k WHERE k.state = 'cancelled' AND "
	    "k.message = o.message), coalesce(r.created_at, -1) "
	    "FROM outbox o JOIN messages m ON m.id = o.message "
	    "LEFT JOIN recipients r ON r.name = o.recipient "
	    "WHERE o.state = 'queued' AND o.channel = ?1 AND o.prio = ?5 "
	    "AND o.next_attempt_at <= ?2 "
	    "ORDER BY o.next_attempt_at, o.id LIMIT ?3";
	static const char upd_sql[] =
	    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, "
	    "updated_at = ? WHERE id = ? AND state = 'queued'";
	sqlite3_stmt *sel, *upd;
	struct gw_outbox_row *rows = NULL;
	size_t n = 0, kept = 0;
	int rc = MQS_ERR_DB, r = SQLITE_DONE, own_tx = 0;

	*rowsp = NULL;
	*np = 0;
	if (max == 0)
		return MQS_OK;
	sel = gw_store_stmt(s, sel_sql);
	if (sel == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(sel, 1, gw_chan_name(ch), -1, SQLITE_STATIC);
	sqlite3_bind_int64(sel, 2, now_ms);
	sqlite3_bind_int64(sel, 3, (int64_t)max);
	sqlite3_bind_int(sel, 4, gw_field_for_chan(ch));
	sqlite3_bind_int(sel, 5, prio);
	for (r = sqlite3_step(sel); r == SQLITE_ROW;
	     r = n < max ? sqlite3_step(sel) : SQLITE_DONE) {
		struct gw_outbox_row *row;
		const char *t;
		const char *sev = (const char *)sqlite3_column_text(sel, 5);

		if (rows == NULL) {
			rows = mqs_calloc(max, sizeof(*rows));
			if (rows == NULL) {
				rc = MQS_ERR_NOMEM;
				goto fail;
			}
		}
		row = &rows[n];
		row->id = sqlite3_column_int64(sel, 0);
		row->chan = ch;
		snprintf(row->recipient, sizeof(row->recipient), "%s",
		         (const char *)sqlite3_column_text(sel, 1));
		row->attempts = sqlite3_column_int(sel, 2) + 1;
		snprintf(row->retry_key, sizeof(row->retry_key), "%s",
		         (const char *)sqlite3_column_text(sel, 3));
		snprintf(row->msg_id, sizeof(row->msg_id), "%s",
		         (const char *)sqlite3_column_text(sel, 4));
		snprintf(row->route, sizeof(row->route), "%s",
		         (const char *)sqlite3_column_text(sel, 11));
		snprintf(row->publisher, sizeof(row->publisher), "%s",
		         (const char *)sqlite3_column_text(sel, 12));
		row->severity = sev != NULL ? gw_severity_parse(sev) : 0;
		if (row->severity < 0)
			row->severity = 0;
		row->title = text_open(s, sel, 6, "title", row);
		row->body = text_open(s, sel, 7, "body", row);
		snprintf(row->kind, sizeof(row->kind), "%s",
		         (const char *)sqlite3_column_text(sel, 13));
		t = (const char *)sqlite3_column_text(sel, 14);
		row->topic = mqs_strdup(t != NULL ? t : "");
		t = (const char *)sqlite3_column_text(sel, 15);
		row->origin = mqs_strdup(t != NULL ? t : "");
		row->msg_rowid = sqlite3_column_int64(sel, 17);
		row->prio = prio;
		row->recipient_id = sqlite3_column_int64(sel, 18);
		t = (const char *)sqlite3_column_text(sel, 19);
		snprintf(row->tz, sizeof(row->tz), "%s", t != NULL ? t : "");
		/* marketing needs the consent now, not only at the fan-out */
		row->claimed_at = now_ms;
		row->cancelled = sqlite3_column_int(sel, 21);
		row->recipient_created_at = sqlite3_column_int64(sel, 22);
		row->consent = sqlite3_column_int(sel, 20) ? GW_CONSENT_ON : GW_CONSENT_OFF;
		row->sealed_len = (size_t)sqlite3_column_bytes(sel, 9);
		if (GW_CH_NO_RECIPIENT(ch)) {
			row->addr_status = GW_ADDR_OK; /* no address to open */
			row->sealed_len = 0;
			row_open_data(s, sel, 16, row);
		} else if (!sqlite3_column_int(sel, 8))
			row->addr_status = GW_ADDR_NO_RECIPIENT;
		else if (sqlite3_column_int(sel, 10))
			row->addr_status = GW_ADDR_OPTOUT;
		else if (row->sealed_len == 0 || row->sealed_len > sizeof(row->sealed))
			row->addr_status = GW_ADDR_NONE;
		else {
			row->addr_status = GW_ADDR_OK;
			memcpy(row->sealed, sqlite3_column_blob(sel, 9), row->sealed_len);
		}
		n++;
		if (row->title == NULL || row->body == NULL || row->topic == NULL ||
		    row->origin == NULL) {
			rc = MQS_ERR_NOMEM;
			goto fail;
		}
	}
	gw_store_done(sel);
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		gw_log(GW_LOG_ERR, "db: cannot read the outbox: %s", sqlite3_errmsg(s->db));
		goto fail;
	}
	if (n == 0)
		return MQS_OK;
	own_tx = !s->in_tx;
	if (own_tx) {
		/* a lost 'sending' only means 'queued': no fsync needed */
		gw_store_durable(s, 0);
		if (gw_store_begin(s) != 0)
			goto fail;
	}
	upd = gw_store_stmt(s, upd_sql);
	if (upd == NULL)
		goto fail_tx;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(upd);
		sqlite3_bind_int64(upd, 1, now_ms);
		sqlite3_bind_int64(upd, 2, rows[i].id);
		if (sqlite3_step(upd) != SQLITE_DONE) {
			gw_log(GW_LOG_ERR, "db: cannot claim delivery: %s", sqlite3_errmsg(s->db));
			gw_store_done(upd);
			goto fail_tx;
		}
		if (sqlite3_changes(s->db) == 0) {
			/* changed meanwhile: not ours */
			gw_outbox_row_release(&rows[i]);
			rows[i].id = -1;
		}
	}
	gw_store_done(upd);
	if (own_tx && gw_store_commit(s) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].id >= 0)
			rows[kept++] = rows[i];
	}
	*rowsp = rows;
	*np = kept;
	return MQS_OK;
fail_tx:
	if (own_tx)
		gw_store_rollback(s);
fail:
	gw_store_done(sel);
	gw_outbox_rows_free(rows, n);
	return rc;
}

/* Record the outcome of an attempt. */
int gw_outbox_update(struct gw_store *s, int64_t id, const char *state, int64_t next_at,
                     const char *error, const char *provider_ref, int64_t now_ms)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s, "UPDATE outbox SET state = ?, next_attempt_at = ?, last_error = ?, "
	       "provider_ref = COALESCE(?, provider_ref), updated_at = ? WHERE id = ?");
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, next_at);
	if (error != NULL && *error != '\0')
		sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
	if (provider_ref != NULL && *provider_ref != '\0')
		sqlite3_bind_text(st, 4, provider_ref, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now_ms);
	sqlite3_bind_int64(st, 6, id);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		gw_log(GW_LOG_ERR, "db: cannot update delivery %lld: %s", (long long)id,
		       sqlite3_errmsg(s->db));
	gw_store_done(st);
	return rc;
}

/* Record the SMS segment count of row id. */
int gw_outbox_set_segments(struct gw_store *s, int64_t id, unsigned segments)
{
	sqlite3_stmt *st = gw_store_stmt(s, "UPDATE outbox SET segments = ? WHERE id = ?");
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return rc;
	sqlite3_bind_int(st, 1, (int)segments);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	gw_store_done(st);
	return rc;
}

/* A claimed row waits for the end of quiet hours. */
int gw_outbox_defer(struct gw_store *s, int64_t id, int64_t next_at, int64_t now_ms)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s,
	    "UPDATE outbox SET state = 'queued', next_attempt_at = ?, deferred = deferred + 1, "
	    "attempts = max(attempts - 1, 0), updated_at = ? WHERE id = ? AND state = 'sending'");
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, next_at);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, id);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		gw_log(GW_LOG_ERR, "db: cannot defer delivery %lld: %s", (long long)id,
		       sqlite3_errmsg(s->db));
	gw_store_done(st);
	return rc;
}

/* A claimed row that never started goes back to the queue. */
int gw_outbox_unclaim(struct gw_store *s, int64_t id, int64_t now_ms)
{
	sqlite3_stmt *st =
	    gw_store_stmt(s, "UPDATE outbox SET state = 'queued', attempts = max(attempts - 1, 0), "
	                     "updated_at = ? WHERE id = ? AND state = 'sending'");
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	gw_store_done(st);
	return rc;
}

/* Drop the stored payload once nothing of the message is pending. */
int gw_outbox_clear_data(struct gw_store *s, int64_t id)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s, "UPDATE messages SET body_sealed = NULL WHERE id = (SELECT message FROM outbox "
	       "WHERE id = ?1) AND body_sealed IS NOT NULL AND NOT EXISTS (SELECT 1 FROM outbox o "
	       "WHERE o.message = messages.id AND o.state IN ('queued','sending'))");
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		gw_log(GW_LOG_ERR, "db: cannot clear a delivered payload: %s",
		       sqlite3_errmsg(s->db));
	gw_store_done(st);
	return rc;
}

/* Earliest queued row of priority prio among the channels in chan_mask
 * (one indexed lookup per channel: outbox_due). */
int64_t gw_outbox_next_due_prio(struct gw_store *s, unsigned chan_mask, int prio)
{
	sqlite3_stmt *st;
	int64_t best = 0;

	st = gw_store_stmt(s, "SELECT min(next_attempt_at) FROM outbox "
	                      "WHERE state = 'queued' AND channel = ?1 AND prio = ?2");
	if (st == NULL)
		return 0;
	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		if (!(chan_mask & GW_CH_BIT(ch)))
			continue;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, gw_chan_name(ch), -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, prio);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
			int64_t t = sqlite3_column_int64(st, 0);
			if (best == 0 || t < best)
				best = t;
		}
	}
	gw_store_done(st);
	return best;
}

/* Walk outbox rows for a listing. */
int gw_outbox_each(struct gw_store *s, const char *state, int limit,
                   int (*fn)(const struct gw_outbox_info *oi, void *arg), void *arg)
{
	return gw_outbox_page(s, state, NULL, limit, 0, fn, arg);
}

/* One page of the outbox, newest first. */
int gw_outbox_page(struct gw_store *s, const char *state, const char *channel, int limit,
                   int64_t offset, int (*fn)(const struct gw_outbox_info *oi, void *arg), void *arg)
{
	sqlite3_stmt *st = gw_store_prepare(
	    s, "SELECT o.id, m.msg_id, o.recipient, o.channel, o.state, o.attempts, "
	       "o.next_attempt_at, o.updated_at, o.last_error, o.provider_ref, o.step, m.route, "
	       "m.publisher, o.segments "
	       "FROM outbox o JOIN messages m ON m.id = o.message "
	       "WHERE (?1 IS NULL OR o.state = ?1) AND (?3 IS NULL OR o.channel = ?3) "
	       "ORDER BY o.id DESC LIMIT ?2 OFFSET ?4");
	int rc = MQS_ERR_DB, r;

	if (st == NULL)
		goto out;
	if (state != NULL)
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
	if (channel != NULL)
		sqlite3_bind_text(st, 3, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, offset > 0 ? offset : 0);
	r = sqlite3_step(st);
	while (r == SQLITE_ROW) {
		struct gw_outbox_info oi;

		oi.id = sqlite3_column_int64(st, 0);
		oi.msg_id = (const char *)sqlite3_column_text(st, 1);
		oi.recipient = (const char *)sqlite3_column_text(st, 2);
		oi.channel = (const char *)sqlite3_column_text(st, 3);
		oi.state = (const char *)sqlite3_column_text(st, 4);
		oi.attempts = sqlite3_column_int(st, 5);
		oi.next_attempt_at = sqlite3_column_int64(st, 6);
		oi.updated_at = sqlite3_column_int64(st, 7);
		oi.error = (const char *)sqlite3_column_text(st, 8);
		oi.provider_ref = (const char *)sqlite3_column_text(st, 9);
		oi.step = sqlite3_column_int(st, 10);
		oi.route = (const char *)sqlite3_column_text(st, 11);
		oi.publisher = (const char *)sqlite3_column_text(st, 12);
		oi.segments = sqlite3_column_int(st, 13);
		rc = fn(&oi, arg);
		if (rc != MQS_OK)
			goto out;
		r = sqlite3_step(st);
	}
	rc = r == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Clear the text of old messages whose deliveries are all final. */
int gw_outbox_prune(struct gw_store *s, int64_t cutoff_ms)
{
	sqlite3_stmt *st = gw_store_prepare(
	    s,
	    "UPDATE messages SET title = NULL, body = NULL, body_sealed = NULL WHERE received_at < "
	    "? "
	    "AND (title IS NOT NULL OR body_sealed IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM "
	    "outbox o WHERE "
	    "o.message = messages.id AND o.state IN ('queued','sending')) AND NOT EXISTS "
	    "(SELECT 1 FROM escalations e WHERE e.message = messages.id AND e.state = 'waiting')");
	int n = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cutoff_ms);
	if (sqlite3_step(st) == SQLITE_DONE)
		n = sqlite3_changes(s->db);
	sqlite3_finalize(st);
	return n;
}

/* Rows in state (NULL: all) on channel (NULL: all). */
int64_t gw_outbox_count(struct gw_store *s, const char *state, const char *channel)
{
	sqlite3_stmt *st = gw_store_prepare(s, "SELECT count(*) FROM outbox WHERE (?1 IS NULL OR "
	                                       "state = ?1) AND (?2 IS NULL OR channel = ?2)");
	int64_t n = -1;

	if (st == NULL)
		goto out;
	if (state != NULL)
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	if (channel != NULL)
		sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return n;
}

/* A dead delivery back to queued. */
int gw_outbox_requeue(struct gw_store *s, int64_t id, int64_t now_ms, char *err, size_t errlen)
{
	sqlite3_stmt *st = gw_store_prepare(
	    s, "SELECT o.state, o.recipient, m.body_sealed IS NOT NULL, "
	       "(m.title IS NOT NULL OR m.body IS NOT NULL OR m.kind = 'marketing') "
	       "FROM outbox o JOIN messages m ON m.id = o.message WHERE o.id = ?");
	int rc = MQS_ERR_DB, r;

	if (st == NULL) {
		snprintf(err, errlen, "database error");
		goto out;
	}
	sqlite3_bind_int64(st, 1, id);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		snprintf(err, errlen, "no delivery %lld", (long long)id);
		rc = MQS_ERR_NOENT;
		goto out;
	}
	if (r != SQLITE_ROW) {
		snprintf(err, errlen, "database error");
		goto out;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 0), "dead") != 0) {
		snprintf(err, errlen, "delivery %lld is %s, not dead", (long long)id,
		         (const char *)sqlite3_column_text(st, 0));
		rc = MQS_ERR_PERM;
		goto out;
	}
	if (((const char *)sqlite3_column_text(st, 1))[0] == '\0' ? !sqlite3_column_int(st, 2)
	                                                          : !sqlite3_column_int(st, 3)) {
		snprintf(err, errlen, "the content of delivery %lld was cleared", (long long)id);
		rc = MQS_ERR_PERM;
		goto out;
	}
	sqlite3_finalize(st);
	st = gw_store_prepare(s, "UPDATE outbox SET state = 'queued', attempts = 0, "
	                         "next_attempt_at = ?1, updated_at = ?1 WHERE id = ?2 AND "
	                         "state = 'dead'");
	if (st == NULL) {
		snprintf(err, errlen, "database error");
		goto out;
	}
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "database error");
		goto out;
	}
	if (sqlite3_changes(s->db) != 1) {
		snprintf(err, errlen, "delivery %lld changed meanwhile", (long long)id);
		rc = MQS_ERR_PERM;
		goto out;
	}
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}
