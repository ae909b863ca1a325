/* SPDX-License-Identifier: BSD-3-Clause */
/* store.c - the plugin's database connections: committed TOTP steps,
 * queued bans and change polling, all on the broker thread. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"
#include "mqs_db.h"
#include "mqs_error.h"
#include "store.h"

#define NAME_MAX_LEN       255
#define READER_BUSY_MS     20   /* a WAL reader almost never waits */
#define CLOSE_BUSY_MS      1000 /* at shutdown the broker can wait a little */
#define PENDING_BANS_MAX   4096 /* beyond this, bans stay in memory only */
#define AUDIT_DETAIL_EXTRA 160

struct ban_job {
	struct ban_job *next;
	uint64_t seq;
	enum mqs_match match;
	int64_t now;
	unsigned ttl;
	const char *reason; /* static: list_entries.reason */
	char pattern[NAME_MAX_LEN + 1];
};

struct mqsp_store {
	sqlite3 *w; /* writer */
	sqlite3 *r; /* reader */
	sqlite3_stmt *step_st;
	sqlite3_stmt *ban_st;
	sqlite3_stmt *audit_st;
	sqlite3_stmt *dv_st;
	int64_t data_version;
	struct ban_job *bans, **bans_tail;
	size_t nbans;
	uint64_t ban_seq_next;
	uint64_t ban_seq_done;
	char error[256];
};

/* Remember the writer's last error. */
static int db_fail(struct mqsp_store *s)
{
	snprintf(s->error, sizeof(s->error), "%s", sqlite3_errmsg(s->w));
	return MQS_ERR_DB;
}

/* Read PRAGMA data_version of the writer, or -1. */
static int64_t data_version(struct mqsp_store *s)
{
	int64_t v = -1;

	if (sqlite3_step(s->dv_st) == SQLITE_ROW)
		v = sqlite3_column_int64(s->dv_st, 0);
	sqlite3_reset(s->dv_st);
	return v;
}

/* Open both connections. */
int mqsp_store_open(const char *path, struct mqsp_store **out, char *err, size_t errlen)
{
	struct mqsp_store *s = mqs_calloc(1, sizeof(*s));
	int rc = MQS_ERR_NOMEM;

	*out = NULL;
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	s->bans_tail = &s->bans;
	s->ban_seq_next = 1;
	rc = mqs_db_open(path, 0, mqs_broker_schema, mqs_broker_schema_count, &s->w, err, errlen);
	if (rc != MQS_OK)
		goto out;
	if (sqlite3_db_readonly(s->w, "main") != 0) {
		snprintf(err, errlen, "not writable (the plugin records accepted codes and bans)");
		rc = MQS_ERR_PERM;
		goto out;
	}
	rc = mqs_db_open(path, MQS_DB_READONLY, NULL, 0, &s->r, err, errlen);
	if (rc != MQS_OK)
		goto out;
	/* the broker thread never waits for mqttsec-acl's write lock */
	sqlite3_busy_timeout(s->w, 0);
	sqlite3_busy_timeout(s->r, READER_BUSY_MS);
	rc = MQS_ERR_DB;
	if (sqlite3_prepare_v3(
	        s->w, "UPDATE devices SET last_step = ?1 WHERE name = ?2 AND last_step < ?1", -1,
	        SQLITE_PREPARE_PERSISTENT, &s->step_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(
	        s->w,
	        "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, "
	        "created_at, created_by) VALUES ('deny', ?1, ?2, ?3, "
	        "?5, ?4, 'mqttsec-plugin')",
	        -1, SQLITE_PREPARE_PERSISTENT, &s->ban_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(s->w,
	                       "INSERT INTO audit (at, who, action, detail) VALUES (?1, "
	                       "'mqttsec-plugin', 'list add', ?2)",
	                       -1, SQLITE_PREPARE_PERSISTENT, &s->audit_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(s->w, "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT,
	                       &s->dv_st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot prepare statements: %s", sqlite3_errmsg(s->w));
		goto out;
	}
	s->data_version = data_version(s);
	*out = s;
	s = NULL;
	rc = MQS_OK;
out:
	if (s != NULL) {
		s->nbans = 0;
		mqsp_store_close(s);
	}
	return rc;
}

/* Free the queued bans; return the highest sequence number among them. */
static uint64_t bans_free(struct ban_job *bans)
{
	uint64_t seq = 0;

	while (bans != NULL) {
		struct ban_job *next = bans->next;

		if (bans->seq > seq)
			seq = bans->seq;
		mqs_free(bans);
		bans = next;
	}
	return seq;
}

/* Write what is queued, close both connections. */
int mqsp_store_close(struct mqsp_store *s)
{
	int rc = MQS_OK;

	if (s == NULL)
		return MQS_OK;
	if (s->w != NULL && mqsp_store_pending(s)) {
		sqlite3_busy_timeout(s->w, CLOSE_BUSY_MS);
		rc = mqsp_store_flush(s);
	}
	bans_free(s->bans);
	sqlite3_finalize(s->step_st);
	sqlite3_finalize(s->ban_st);
	sqlite3_finalize(s->audit_st);
	sqlite3_finalize(s->dv_st);
	sqlite3_close_v2(s->r);
	sqlite3_close_v2(s->w);
	mqs_free(s);
	return rc;
}

/* The reader. */
sqlite3 *mqsp_store_reader(struct mqsp_store *s)
{
	return s->r;
}

/* Commit a last_step (compare-and-set). */
int mqsp_store_save_step(struct mqsp_store *s, const char *name, int64_t step)
{
	int r;
	int rc = MQS_ERR_DB;

	/* the CONNECT waits a little for mqttsec-acl's lock, never long */
	sqlite3_busy_timeout(s->w, MQSP_STORE_STEP_BUSY_MS);
	sqlite3_bind_int64(s->step_st, 1, step);
	sqlite3_bind_text(s->step_st, 2, name, -1, SQLITE_STATIC);
	r = sqlite3_step(s->step_st);
	if (r == SQLITE_DONE)
		rc = sqlite3_changes(s->w) == 1 ? MQS_OK : MQS_ERR_TOTP_REPLAY;
	else
		db_fail(s);
	sqlite3_reset(s->step_st);
	sqlite3_clear_bindings(s->step_st);
	sqlite3_busy_timeout(s->w, 0);
	return rc;
}

/* Commit many steps in one transaction. */
int mqsp_store_save_steps(struct mqsp_store *s, const struct mqsp_step_rec *recs, size_t n,
                          int busy_ms)
{
	int rc = MQS_OK;
	int in_txn = 0;

	if (n == 0)
		goto out;
	rc = MQS_ERR_DB;
	sqlite3_busy_timeout(s->w, busy_ms);
	if (sqlite3_exec(s->w, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	in_txn = 1;
	for (size_t i = 0; i < n; i++) {
		int r;

		sqlite3_bind_int64(s->step_st, 1, recs[i].step);
		sqlite3_bind_text(s->step_st, 2, recs[i].name, -1, SQLITE_STATIC);
		r = sqlite3_step(s->step_st);
		sqlite3_reset(s->step_st);
		if (r != SQLITE_DONE)
			goto out;
	}
	sqlite3_clear_bindings(s->step_st);
	if (sqlite3_exec(s->w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	in_txn = 0;
	rc = MQS_OK;
out:
	if (rc != MQS_OK)
		db_fail(s);
	if (in_txn) {
		sqlite3_clear_bindings(s->step_st);
		sqlite3_exec(s->w, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_busy_timeout(s->w, 0);
	return rc;
}

/* Queue an automatic ban. */
uint64_t mqsp_store_save_ban(struct mqsp_store *s, enum mqs_match match, const char *pattern,
                             int64_t now, unsigned ttl)
{
	return mqsp_store_save_ban_why(s, match, pattern, now, ttl, "auth-failures");
}

/* Queue a ban with its reason. */
uint64_t mqsp_store_save_ban_why(struct mqsp_store *s, enum mqs_match match, const char *pattern,
                                 int64_t now, unsigned ttl, const char *reason)
{
	struct ban_job *b;
	size_t len = strlen(pattern);

	if (len > NAME_MAX_LEN || s->nbans >= PENDING_BANS_MAX)
		return 0;
	b = mqs_calloc(1, sizeof(*b));
	if (b == NULL)
		return 0;
	b->match = match;
	b->now = now;
	b->ttl = ttl;
	b->reason = reason;
	memcpy(b->pattern, pattern, len + 1);
	b->seq = s->ban_seq_next++;
	*s->bans_tail = b;
	s->bans_tail = &b->next;
	s->nbans++;
	return b->seq;
}

/* Writes queued? */
int mqsp_store_pending(const struct mqsp_store *s)
{
	return s->bans != NULL;
}

/* Match column text of a ban. */
static const char *match_name(enum mqs_match m)
{
	return m == MQS_MATCH_IP ? "ip" : (m == MQS_MATCH_USERNAME ? "username" : "clientid");
}

/* Write one ban and its audit row (inside the flush transaction). */
static int write_ban(struct mqsp_store *s, const struct ban_job *b)
{
	char detail[NAME_MAX_LEN + AUDIT_DETAIL_EXTRA];
	int64_t expires = b->now + (int64_t)b->ttl;
	int ok;

	sqlite3_bind_text(s->ban_st, 1, match_name(b->match), -1, SQLITE_STATIC);
	sqlite3_bind_text(s->ban_st, 2, b->pattern, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->ban_st, 3, expires);
	sqlite3_bind_int64(s->ban_st, 4, b->now);
	sqlite3_bind_text(s->ban_st, 5, b->reason, -1, SQLITE_STATIC);
	ok = sqlite3_step(s->ban_st) == SQLITE_DONE;
	sqlite3_reset(s->ban_st);
	if (!ok)
		return MQS_ERR_DB;
	snprintf(detail, sizeof(detail),
	         "id=%lld kind=deny match=%s pattern=%s expires=%lld reason=%s",
	         (long long)sqlite3_last_insert_rowid(s->w), match_name(b->match), b->pattern,
	         (long long)expires, b->reason);
	sqlite3_bind_int64(s->audit_st, 1, b->now);
	sqlite3_bind_text(s->audit_st, 2, detail, -1, SQLITE_STATIC);
	ok = sqlite3_step(s->audit_st) == SQLITE_DONE;
	sqlite3_reset(s->audit_st);
	return ok ? MQS_OK : MQS_ERR_DB;
}

/* Write the queued bans in one transaction. */
int mqsp_store_flush(struct mqsp_store *s)
{
	uint64_t seq;
	int rc = MQS_OK;
	int in_txn = 0;

	if (!mqsp_store_pending(s))
		goto out;
	rc = MQS_ERR_DB;
	if (sqlite3_exec(s->w, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	in_txn = 1;
	for (struct ban_job *b = s->bans; b != NULL; b = b->next) {
		if (write_ban(s, b) != MQS_OK)
			goto out;
	}
	if (sqlite3_exec(s->w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	in_txn = 0;
	seq = bans_free(s->bans);
	if (seq > s->ban_seq_done)
		s->ban_seq_done = seq;
	s->bans = NULL;
	s->bans_tail = &s->bans;
	s->nbans = 0;
	s->error[0] = '\0';
	rc = MQS_OK;
out:
	if (rc != MQS_OK)
		db_fail(s);
	if (in_txn)
		sqlite3_exec(s->w, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Bans committed so far. */
uint64_t mqsp_store_bans_done(const struct mqsp_store *s)
{
	return s->ban_seq_done;
}

/* Did another connection commit? */
int mqsp_store_changed(struct mqsp_store *s)
{
	int64_t v = data_version(s);

	if (v < 0) {
		db_fail(s);
		return -1;
	}
	if (v == s->data_version)
		return 0;
	s->data_version = v;
	return 1;
}

/* Load the client id bindings. */
int mqsp_store_clientids_load(struct mqsp_store *s, struct mqsp_clientids *t, int64_t now,
                              int busy_ms, char *err, size_t errlen)
{
	int rc;

	sqlite3_busy_timeout(s->w, busy_ms);
	rc = mqsp_clientids_load(t, s->w, now, err, errlen);
	sqlite3_busy_timeout(s->w, 0);
	return rc;
}

/* Write the queued client id bindings. */
int mqsp_store_clientids_flush(struct mqsp_store *s, struct mqsp_clientids *t, int busy_ms)
{
	int rc;

	sqlite3_busy_timeout(s->w, busy_ms);
	rc = mqsp_clientids_flush(t, s->w);
	if (rc != MQS_OK)
		db_fail(s);
	sqlite3_busy_timeout(s->w, 0);
	return rc;
}

/* Apply client id releases. */
int mqsp_store_clientids_merge(struct mqsp_store *s, struct mqsp_clientids *t, size_t *released)
{
	int rc = mqsp_clientids_merge(t, s->w, released);

	if (rc == MQS_ERR_DB)
		db_fail(s);
	return rc;
}

/* Last error. */
const char *mqsp_store_error(const struct mqsp_store *s)
{
	return s->error;
}

/* The writer connection. */
sqlite3 *mqsp_store_writer(struct mqsp_store *s)
{
	return s->w;
}
