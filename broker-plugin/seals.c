/* SPDX-License-Identifier: BSD-3-Clause */
/* seals.c - durable seal counts per topic key (see seals.h). */
#include "config.h"

#include <stdlib.h>

#include "mqs_uthash.h"

#include "mqs_alloc.h"
#include "seals.h"

struct seal_count {
	UT_hash_handle hh;
	uint32_t id;
	uint64_t used;     /* counts used */
	uint64_t reserved; /* counts committed to keys.sealed */
	int due;           /* 0: below rotate_at; 1: rotation wanted; 2: rotated */
};

struct mqsp_seals {
	struct seal_count *by_id;
	uint64_t max;
	uint64_t rotate_at;
	uint64_t block;
	sqlite3_stmt *st; /* the reservation, prepared on first use */
	sqlite3 *st_db;   /* the connection st belongs to */
};

/* New table. */
struct mqsp_seals *mqsp_seals_new(uint64_t max)
{
	struct mqsp_seals *s;

	if (max < 4)
		return NULL;
	s = mqs_calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->max = max;
	s->rotate_at = max / 4 * 3 + (max % 4) * 3 / 4;
	/* a block is at most 1/64 of the bound: little is skipped at a restart */
	s->block = max / 64 < MQSP_SEALS_BLOCK_MAX ? max / 64 : MQSP_SEALS_BLOCK_MAX;
	if (s->block == 0)
		s->block = 1;
	return s;
}

/* Free. */
void mqsp_seals_free(struct mqsp_seals *s)
{
	struct seal_count *c, *tmp;

	if (s == NULL)
		return;
	HASH_ITER(hh, s->by_id, c, tmp)
	{
		HASH_DEL(s->by_id, c);
		mqs_free(c);
	}
	sqlite3_finalize(s->st);
	mqs_free(s);
}

/* Commit the next block of key c; afterwards c->used is at least the
 * stored value before the block (counts of an earlier run are skipped). */
static enum mqsp_seal_verdict reserve(struct mqsp_seals *s, sqlite3 *db, struct seal_count *c)
{
	enum mqsp_seal_verdict v = MQSP_SEAL_DB;
	uint64_t after;

	if (s->st != NULL && s->st_db != db) {
		sqlite3_finalize(s->st);
		s->st = NULL;
	}
	if (s->st == NULL) {
		if (sqlite3_prepare_v3(db,
		                       "UPDATE keys SET sealed = sealed + ?2 WHERE id = ?1 "
		                       "AND purpose = 'topic' RETURNING sealed",
		                       -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL) != SQLITE_OK)
			return MQSP_SEAL_DB;
		s->st_db = db;
	}
	sqlite3_busy_timeout(db, MQSP_SEALS_BUSY_MS);
	sqlite3_bind_int64(s->st, 1, c->id);
	sqlite3_bind_int64(s->st, 2, (sqlite3_int64)s->block);
	if (sqlite3_step(s->st) != SQLITE_ROW)
		goto out;
	after = (uint64_t)sqlite3_column_int64(s->st, 0);
	if (after < s->block)
		goto out;
	if (sqlite3_step(s->st) != SQLITE_DONE)
		goto out;
	if (c->used < after - s->block)
		c->used = after - s->block;
	c->reserved = after;
	v = MQSP_SEAL_OK;
out:
	sqlite3_reset(s->st);
	sqlite3_busy_timeout(db, 0);
	return v;
}

/* Use one count of key id. */
enum mqsp_seal_verdict mqsp_seals_take(struct mqsp_seals *s, sqlite3 *db, uint32_t id)
{
	struct seal_count *c = NULL;
	enum mqsp_seal_verdict v;

	HASH_FIND(hh, s->by_id, &id, sizeof(id), c);
	if (c == NULL) {
		c = mqs_calloc(1, sizeof(*c));
		if (c == NULL)
			return MQSP_SEAL_NOMEM;
		c->id = id;
		HASH_ADD(hh, s->by_id, id, sizeof(c->id), c);
		if (!mqs_uthash_added(c, hh)) {
			mqs_free(c);
			return MQSP_SEAL_NOMEM;
		}
	}
	if (c->used >= s->max) {
		if (c->due == 0)
			c->due = 1;
		return MQSP_SEAL_WORN;
	}
	if (c->used >= c->reserved) {
		v = reserve(s, db, c);
		if (v != MQSP_SEAL_OK)
			return v;
		if (c->used >= s->max) { /* the stored count was already at the bound */
			if (c->due == 0)
				c->due = 1;
			return MQSP_SEAL_WORN;
		}
	}
	c->used++;
	if (c->used >= s->rotate_at && c->due == 0) {
		c->due = 1;
		return MQSP_SEAL_ROTATE;
	}
	return MQSP_SEAL_OK;
}

/* Counts of key id used. */
uint64_t mqsp_seals_used(const struct mqsp_seals *s, uint32_t id)
{
	struct seal_count *c = NULL;

	HASH_FIND(hh, s->by_id, &id, sizeof(id), c);
	return c != NULL ? c->used : 0;
}

/* Keys waiting for a rotation. */
size_t mqsp_seals_due(const struct mqsp_seals *s, uint32_t *ids, size_t cap)
{
	const struct seal_count *c, *tmp;
	size_t n = 0;

	HASH_ITER(hh, s->by_id, c, tmp)
	{
		if (n == cap)
			break;
		if (c->due == 1)
			ids[n++] = c->id;
	}
	return n;
}

/* Stop asking for a rotation of key id. */
void mqsp_seals_done(struct mqsp_seals *s, uint32_t id)
{
	struct seal_count *c = NULL;

	HASH_FIND(hh, s->by_id, &id, sizeof(id), c);
	if (c != NULL)
		c->due = 2;
}
