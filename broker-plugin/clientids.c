/* SPDX-License-Identifier: BSD-3-Clause */
/* clientids.c - owned client ids: bindings in memory, queued for the
 * database, merged with the releases mqttsec-acl commits. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_uthash.h"
#include <utlist.h>

#include "clientids.h"
#include "mqs_alloc.h"
#include "mqs_error.h"

#define DELETES_MAX 65536 /* queued removals; beyond, a stale row waits for its TTL */

struct cid_user;

/* one binding; in its user's list (most recently used first) and, while
 * the database lacks its latest state, in the dirty list */
struct cid_entry {
	UT_hash_handle hh;
	struct cid_user *user;
	struct cid_entry *prev, *next;   /* the user's list */
	struct cid_entry *dprev, *dnext; /* the dirty list */
	int dirty;
	int64_t created_at;
	int64_t last_seen;  /* last use, in memory */
	int64_t saved_seen; /* last use the database holds (or is queued to) */
	char clientid[];
};

struct cid_user {
	UT_hash_handle hh;
	struct cid_entry *ids; /* most recently used first */
	size_t count;
	char name[];
};

/* a queued removal: clientid of username, or every id of username */
struct cid_delete {
	struct cid_delete *next;
	char *clientid; /* NULL: every id of username */
	char *username;
};

struct mqsp_clientids {
	struct mqsp_clientids_cfg cfg;
	struct cid_entry *by_id;
	struct cid_user *users;
	struct cid_entry *dirty;
	struct cid_delete *deletes, **deletes_tail;
	size_t ndeletes;
	size_t count;
	int64_t release_seq; /* newest release applied */
};

/* Create an empty table. */
int mqsp_clientids_new(const struct mqsp_clientids_cfg *cfg, struct mqsp_clientids **out)
{
	struct mqsp_clientids *t = mqs_calloc(1, sizeof(*t));

	*out = NULL;
	if (t == NULL)
		return MQS_ERR_NOMEM;
	t->cfg = *cfg;
	if (t->cfg.per_user_max == 0)
		t->cfg.per_user_max = 1;
	if (t->cfg.ttl <= 0)
		t->cfg.ttl = 1;
	t->deletes_tail = &t->deletes;
	*out = t;
	return MQS_OK;
}

/* Free a queued removal. */
static void delete_free(struct cid_delete *d)
{
	mqs_free(d->clientid);
	mqs_free(d->username);
	mqs_free(d);
}

/* Forget an entry (memory only); its user too when it held no other id
 * and free_user. */
static void entry_drop(struct mqsp_clientids *t, struct cid_entry *e, int free_user)
{
	struct cid_user *u = e->user;

	HASH_DEL(t->by_id, e);
	DL_DELETE(u->ids, e);
	if (e->dirty)
		DL_DELETE2(t->dirty, e, dprev, dnext);
	u->count--;
	t->count--;
	if (u->count == 0 && free_user) {
		HASH_DEL(t->users, u);
		mqs_free(u);
	}
	mqs_free(e);
}

/* Free everything. */
void mqsp_clientids_free(struct mqsp_clientids *t)
{
	struct cid_entry *e, *tmp;
	struct cid_delete *d;

	if (t == NULL)
		return;
	HASH_ITER(hh, t->by_id, e, tmp)
	{
		entry_drop(t, e, 1);
	}
	while (t->deletes != NULL) {
		d = t->deletes;
		t->deletes = d->next;
		delete_free(d);
	}
	mqs_free(t);
}

/* Queue the removal of clientid (NULL: all) of username; a full queue
 * drops it (the row then waits for its TTL, or the next release). */
static void delete_queue(struct mqsp_clientids *t, const char *clientid, const char *username)
{
	struct cid_delete *d;

	if (t->ndeletes >= DELETES_MAX)
		return;
	d = mqs_calloc(1, sizeof(*d));
	if (d == NULL)
		return;
	d->clientid = clientid != NULL ? mqs_strdup(clientid) : NULL;
	d->username = mqs_strdup(username);
	if ((clientid != NULL && d->clientid == NULL) || d->username == NULL) {
		delete_free(d);
		return;
	}
	*t->deletes_tail = d;
	t->deletes_tail = &d->next;
	t->ndeletes++;
}

/* Mark e for writing. */
static void entry_dirty(struct mqsp_clientids *t, struct cid_entry *e)
{
	e->saved_seen = e->last_seen;
	if (!e->dirty) {
		e->dirty = 1;
		DL_APPEND2(t->dirty, e, dprev, dnext);
	}
}

/* The user record of name, created when missing; NULL when out of memory. */
static struct cid_user *user_get(struct mqsp_clientids *t, const char *name)
{
	struct cid_user *u = NULL;
	size_t len = strlen(name);

	HASH_FIND(hh, t->users, name, len, u);
	if (u != NULL)
		return u;
	u = mqs_calloc(1, sizeof(*u) + len + 1);
	if (u == NULL)
		return NULL;
	memcpy(u->name, name, len + 1);
	HASH_ADD_KEYPTR(hh, t->users, u->name, len, u);
	if (!mqs_uthash_added(u, hh)) {
		mqs_free(u);
		return NULL;
	}
	return u;
}

/* Bind cid to user u (u must have room); NULL when out of memory. */
static struct cid_entry *entry_add(struct mqsp_clientids *t, struct cid_user *u, const char *cid,
                                   int64_t created, int64_t seen)
{
	size_t len = strlen(cid);
	struct cid_entry *e = mqs_calloc(1, sizeof(*e) + len + 1);

	if (e == NULL)
		return NULL;
	memcpy(e->clientid, cid, len + 1);
	e->user = u;
	e->created_at = created;
	e->last_seen = seen;
	e->saved_seen = seen;
	HASH_ADD_KEYPTR(hh, t->by_id, e->clientid, len, e);
	if (!mqs_uthash_added(e, hh)) {
		mqs_free(e);
		return NULL;
	}
	DL_APPEND(u->ids, e);
	u->count++;
	t->count++;
	return e;
}

/* Make room for one more id of u: drop its least recently used id that
 * is not connected.  Returns 0 when every id of u is connected. */
static int user_make_room(struct mqsp_clientids *t, struct cid_user *u,
                          mqsp_clientids_in_use_fn in_use, void *arg)
{
	struct cid_entry *e;

	if (u->count < t->cfg.per_user_max)
		return 1;
	/* the list's head->prev is its tail */
	for (e = u->ids != NULL ? u->ids->prev : NULL; e != NULL; e = e->prev) {
		if (in_use == NULL || !in_use(e->clientid, arg)) {
			delete_queue(t, e->clientid, u->name);
			entry_drop(t, e, 0); /* u stays: the new id goes there */
			return 1;
		}
		if (e == u->ids)
			break;
	}
	return 0;
}

/* Load the table from the database. */
int mqsp_clientids_load(struct mqsp_clientids *t, sqlite3 *db, int64_t now, char *err,
                        size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;
	int r;

	/* newest first: a username over the cap keeps its most recent ids */
	if (sqlite3_prepare_v2(db,
	                       "SELECT clientid, username, created_at, last_seen FROM clientids "
	                       "ORDER BY last_seen DESC",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
		const char *cid = (const char *)sqlite3_column_text(st, 0);
		const char *user = (const char *)sqlite3_column_text(st, 1);
		struct cid_user *u;
		struct cid_entry *e = NULL;

		if (cid == NULL || user == NULL)
			continue;
		HASH_FIND_STR(t->by_id, cid, e);
		if (e != NULL)
			continue;
		u = user_get(t, user);
		if (u == NULL) {
			rc = MQS_ERR_NOMEM;
			goto out;
		}
		/* expired, or over the cap: its row goes on the first flush */
		if (now - sqlite3_column_int64(st, 3) >= t->cfg.ttl ||
		    u->count >= t->cfg.per_user_max) {
			delete_queue(t, cid, user);
			if (u->count == 0) {
				HASH_DEL(t->users, u);
				mqs_free(u);
			}
			continue;
		}
		if (entry_add(t, u, cid, sqlite3_column_int64(st, 2),
		              sqlite3_column_int64(st, 3)) == NULL) {
			rc = MQS_ERR_NOMEM;
			goto out;
		}
	}
	if (r != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(seq), 0) FROM clientid_releases", -1, &st,
	                       NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	t->release_seq = sqlite3_column_int64(st, 0);
	rc = MQS_OK;
out:
	if (rc == MQS_ERR_DB)
		snprintf(err, errlen, "cannot load client ids: %s", sqlite3_errmsg(db));
	else if (rc == MQS_ERR_NOMEM)
		snprintf(err, errlen, "cannot load client ids: out of memory");
	sqlite3_finalize(st);
	return rc;
}

/* Prefix policy. */
int mqsp_clientids_prefix_ok(const char *cid, const char *username)
{
	size_t n = strlen(username);

	return strncmp(cid, username, n) == 0 && (cid[n] == '\0' || cid[n] == '-');
}

/* Move e to the front of its user's list. */
static void entry_used(struct cid_entry *e)
{
	struct cid_user *u = e->user;

	if (u->ids != e) {
		DL_DELETE(u->ids, e);
		DL_PREPEND(u->ids, e);
	}
}

/* A CONNECT. */
int mqsp_clientids_claim(struct mqsp_clientids *t, const char *cid, const char *username,
                         int64_t now, mqsp_clientids_in_use_fn in_use, void *arg)
{
	struct cid_entry *e = NULL;
	struct cid_user *u;

	if (strlen(cid) > MQSP_CLIENTIDS_LEN_MAX)
		return MQSP_CLAIM_TOOLONG;
	HASH_FIND_STR(t->by_id, cid, e);
	if (e != NULL && strcmp(e->user->name, username) == 0) {
		e->last_seen = now;
		entry_used(e);
		if (now - e->saved_seen >= mqsp_clientids_touch_every(t))
			entry_dirty(t, e);
		return MQSP_CLAIM_OK;
	}
	if (e != NULL) {
		/* another username's: free only once expired and not connected */
		if (now - e->last_seen < t->cfg.ttl || (in_use != NULL && in_use(cid, arg)))
			return MQSP_CLAIM_TAKEN;
		delete_queue(t, e->clientid, e->user->name);
		entry_drop(t, e, 1);
	}
	u = user_get(t, username);
	if (u == NULL)
		return MQSP_CLAIM_NOMEM;
	if (!user_make_room(t, u, in_use, arg))
		return MQSP_CLAIM_FULL;
	e = entry_add(t, u, cid, now, now);
	if (e == NULL) {
		/* u may be new and empty */
		if (u->count == 0) {
			HASH_DEL(t->users, u);
			mqs_free(u);
		}
		return MQSP_CLAIM_NOMEM;
	}
	entry_used(e);
	entry_dirty(t, e);
	return MQSP_CLAIM_OK;
}

/* An id reserved for username. */
void mqsp_clientids_reclaim(struct mqsp_clientids *t, const char *cid, const char *username)
{
	struct cid_entry *e = NULL;

	HASH_FIND_STR(t->by_id, cid, e);
	if (e == NULL || strcmp(e->user->name, username) == 0)
		return;
	delete_queue(t, e->clientid, e->user->name);
	entry_drop(t, e, 1);
}

/* The touch interval. */
int64_t mqsp_clientids_touch_every(const struct mqsp_clientids *t)
{
	int64_t every = t->cfg.ttl / 4;

	if (every > MQSP_CLIENTIDS_TOUCH_MAX)
		every = MQSP_CLIENTIDS_TOUCH_MAX;
	return every < 1 ? 1 : every;
}

/* A use of an id. */
void mqsp_clientids_touch(struct mqsp_clientids *t, const char *cid, const char *username,
                          int64_t now)
{
	struct cid_entry *e = NULL;

	if (cid == NULL || username == NULL)
		return;
	HASH_FIND_STR(t->by_id, cid, e);
	if (e == NULL || strcmp(e->user->name, username) != 0)
		return;
	if (now > e->last_seen)
		e->last_seen = now;
	if (e->last_seen - e->saved_seen >= mqsp_clientids_touch_every(t))
		entry_dirty(t, e);
}

/* Queue the last uses not written yet. */
void mqsp_clientids_settle(struct mqsp_clientids *t)
{
	struct cid_entry *e, *tmp;

	HASH_ITER(hh, t->by_id, e, tmp)
	{
		if (e->last_seen != e->saved_seen)
			entry_dirty(t, e);
	}
}

/* Drop expired bindings. */
void mqsp_clientids_sweep(struct mqsp_clientids *t, int64_t now, mqsp_clientids_in_use_fn in_use,
                          void *arg)
{
	struct cid_entry *e, *tmp;

	HASH_ITER(hh, t->by_id, e, tmp)
	{
		if (now - e->last_seen < t->cfg.ttl || (in_use != NULL && in_use(e->clientid, arg)))
			continue;
		delete_queue(t, e->clientid, e->user->name);
		entry_drop(t, e, 1);
	}
}

/* Writes queued? */
int mqsp_clientids_pending(const struct mqsp_clientids *t)
{
	return t->dirty != NULL || t->deletes != NULL;
}

/* Run one prepared statement with its bindings; 1 when done. */
static int exec_ok(sqlite3_stmt *st)
{
	int r = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r == SQLITE_DONE;
}

/* Write the queue in one transaction. */
int mqsp_clientids_flush(struct mqsp_clientids *t, sqlite3 *db)
{
	sqlite3_stmt *del = NULL, *del_user = NULL, *put = NULL;
	struct cid_entry *e, *tmp;
	struct cid_delete *d;
	int in_txn = 0;
	int rc = MQS_OK;

	if (!mqsp_clientids_pending(t))
		goto out;
	rc = MQS_ERR_DB;
	if (sqlite3_prepare_v2(db, "DELETE FROM clientids WHERE clientid = ?1 AND username = ?2",
	                       -1, &del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "DELETE FROM clientids WHERE username = ?1", -1, &del_user,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO clientids (clientid, username, created_at, last_seen) "
	                       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (clientid) DO UPDATE SET "
	                       "username = excluded.username, created_at = excluded.created_at, "
	                       "last_seen = excluded.last_seen",
	                       -1, &put, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	in_txn = 1;
	/* removals first: an id dropped and bound again is written last */
	for (d = t->deletes; d != NULL; d = d->next) {
		sqlite3_stmt *st = d->clientid != NULL ? del : del_user;

		if (d->clientid != NULL) {
			sqlite3_bind_text(st, 1, d->clientid, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, d->username, -1, SQLITE_STATIC);
		} else {
			sqlite3_bind_text(st, 1, d->username, -1, SQLITE_STATIC);
		}
		if (!exec_ok(st))
			goto out;
	}
	DL_FOREACH2(t->dirty, e, dnext)
	{
		sqlite3_bind_text(put, 1, e->clientid, -1, SQLITE_STATIC);
		sqlite3_bind_text(put, 2, e->user->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(put, 3, e->created_at);
		sqlite3_bind_int64(put, 4, e->saved_seen);
		if (!exec_ok(put))
			goto out;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	in_txn = 0;
	while (t->deletes != NULL) {
		d = t->deletes;
		t->deletes = d->next;
		delete_free(d);
	}
	t->deletes_tail = &t->deletes;
	t->ndeletes = 0;
	DL_FOREACH_SAFE2(t->dirty, e, tmp, dnext)
	{
		DL_DELETE2(t->dirty, e, dprev, dnext);
		e->dirty = 0;
	}
	rc = MQS_OK;
out:
	if (in_txn)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(del);
	sqlite3_finalize(del_user);
	sqlite3_finalize(put);
	return rc;
}

/* Drop the bindings of one release: cid of username (NULL: whoever
 * holds it), or every id of username (cid NULL). */
static size_t release_apply(struct mqsp_clientids *t, const char *cid, const char *username)
{
	struct cid_entry *e = NULL, *tmp;
	struct cid_user *u = NULL;
	size_t n = 0;

	if (cid != NULL) {
		HASH_FIND_STR(t->by_id, cid, e);
		if (e != NULL && (username == NULL || strcmp(e->user->name, username) == 0)) {
			/* a row the plugin wrote after the release goes too */
			delete_queue(t, cid, e->user->name);
			entry_drop(t, e, 1);
			n++;
		}
		return n;
	}
	HASH_FIND_STR(t->users, username, u);
	if (u != NULL) {
		DL_FOREACH_SAFE(u->ids, e, tmp)
		{
			entry_drop(t, e, 0);
			n++;
		}
		HASH_DEL(t->users, u);
		mqs_free(u);
	}
	delete_queue(t, NULL, username);
	return n;
}

/* Apply new releases (their order matters only for the count). */
int mqsp_clientids_merge(struct mqsp_clientids *t, sqlite3 *db, size_t *released)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int rc = MQS_ERR_DB;
	int r;

	if (sqlite3_prepare_v2(db,
	                       "SELECT seq, clientid, username FROM clientid_releases "
	                       "WHERE seq > ?1 ORDER BY seq",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, t->release_seq);
	for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
		const char *cid = (const char *)sqlite3_column_text(st, 1);
		const char *user = (const char *)sqlite3_column_text(st, 2);

		if (cid != NULL || user != NULL)
			n += release_apply(t, cid, user);
		t->release_seq = sqlite3_column_int64(st, 0);
	}
	if (r == SQLITE_DONE)
		rc = MQS_OK;
out:
	sqlite3_finalize(st);
	if (released != NULL)
		*released = n;
	return rc;
}

/* Bindings in memory. */
size_t mqsp_clientids_count(const struct mqsp_clientids *t)
{
	return t->count;
}

/* Owner of cid. */
const char *mqsp_clientids_owner(const struct mqsp_clientids *t, const char *cid)
{
	struct cid_entry *e = NULL;

	HASH_FIND_STR(t->by_id, cid, e);
	return e != NULL ? e->user->name : NULL;
}
