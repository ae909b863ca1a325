/* SPDX-License-Identifier: BSD-3-Clause */
/* keyrate.c - token buckets of key requests (see keyrate.h). */
#include "config.h"

#include <limits.h>

#include <stdlib.h>
#include <string.h>

#include "mqs_uthash.h"

#include "mqs_alloc.h"
#include "keyrate.h"

struct bucket {
	UT_hash_handle hh;
	uint64_t last_ms; /* when tokens were last counted */
	unsigned tokens;  /* whole tokens left */
	unsigned refused; /* refused in a row */
	char id[MQSP_KEYRATE_ID_MAX + 1];
};

struct mqsp_keyrate {
	struct bucket *map; /* uthash, least recently used first */
	size_t n, max;
};

/* New table. */
struct mqsp_keyrate *mqsp_keyrate_new(size_t max)
{
	struct mqsp_keyrate *r = mqs_calloc(1, sizeof(*r));

	if (r != NULL)
		r->max = max > 0 ? max : 1;
	return r;
}

/* Free everything. */
void mqsp_keyrate_free(struct mqsp_keyrate *r)
{
	struct bucket *b, *tmp;

	if (r == NULL)
		return;
	HASH_ITER(hh, r->map, b, tmp)
	{
		HASH_DEL(r->map, b);
		mqs_free(b);
	}
	mqs_free(r);
}

/* Find or add the bucket of id (len bytes); NULL when out of memory. */
static struct bucket *bucket_get(struct mqsp_keyrate *r, const char *id, size_t len,
                                 uint64_t now_ms)
{
	struct bucket *b = NULL;

	HASH_FIND(hh, r->map, id, len, b);
	if (b != NULL) {
		HASH_DEL(r->map, b); /* to the end: most recently used */
		HASH_ADD(hh, r->map, id, len, b);
		if (!mqs_uthash_added(b, hh)) {
			mqs_free(b);
			r->n--;
			return NULL;
		}
		return b;
	}
	if (r->n >= r->max) {
		b = r->map; /* the least recently used */
		HASH_DEL(r->map, b);
		r->n--;
	} else {
		b = mqs_malloc(sizeof(*b));
		if (b == NULL)
			return NULL;
	}
	memset(b, 0, sizeof(*b));
	memcpy(b->id, id, len);
	b->tokens = MQSP_KEYRATE_BURST;
	b->last_ms = now_ms;
	HASH_ADD(hh, r->map, id, len, b);
	if (!mqs_uthash_added(b, hh)) {
		mqs_free(b);
		return NULL;
	}
	r->n++;
	return b;
}

/* Take a token. */
enum mqsp_keyrate_verdict mqsp_keyrate_take(struct mqsp_keyrate *r, const char *cid,
                                            uint64_t now_ms)
{
	size_t len = cid != NULL ? strlen(cid) : 0;
	struct bucket *b;
	uint64_t add;

	if (len > MQSP_KEYRATE_ID_MAX)
		len = MQSP_KEYRATE_ID_MAX;
	b = bucket_get(r, cid != NULL ? cid : "", len, now_ms);
	if (b == NULL)
		return MQSP_KEYRATE_LIMITED;
	if (now_ms > b->last_ms) {
		add = (now_ms - b->last_ms) / MQSP_KEYRATE_EVERY_MS;
		if (add > 0) {
			b->tokens = add >= MQSP_KEYRATE_BURST - b->tokens
			                ? MQSP_KEYRATE_BURST
			                : b->tokens + (unsigned)add;
			b->last_ms += add * MQSP_KEYRATE_EVERY_MS;
		}
	}
	if (b->tokens == MQSP_KEYRATE_BURST)
		b->last_ms = now_ms; /* a full bucket does not save up */
	if (b->tokens > 0) {
		b->tokens--;
		b->refused = 0;
		return MQSP_KEYRATE_OK;
	}
	/* one flood per run of refusals: the requests a banned client still has
	 * in flight before it is disconnected are only refused, so they do not
	 * add one ban row per MQSP_KEYRATE_FLOOD of them */
	if (b->refused < UINT_MAX)
		b->refused++;
	if (b->refused == MQSP_KEYRATE_FLOOD)
		return MQSP_KEYRATE_FLOODED;
	return MQSP_KEYRATE_LIMITED;
}
