/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_seen.c - (key id, nonce) pairs already accepted (see mqs_seen.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "mqs_alloc.h"
#include "mqs_seen.h"
#include "mqs_hash.h"

struct slot {
	uint32_t key_id;
	uint8_t used;
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN];
};

struct gen {
	struct slot *slots; /* nslots, power of two */
	size_t n;
};

struct mqs_seen {
	struct gen g[2]; /* g[cur] is written, g[!cur] only read */
	int cur;
	size_t half;   /* entries per generation */
	size_t nslots; /* >= 2 * half */
	uint64_t seed[2];
};

/* Seeded hash of (key id, nonce). */
static uint64_t hash(const struct mqs_seen *s, uint32_t key_id, const uint8_t *nonce)
{
	uint64_t a, b = 0;

	memcpy(&a, nonce, sizeof(a));
	memcpy(&b, nonce + 8, 4);
	return mqs_hash_mix64(mqs_hash_mix64(a ^ s->seed[0]) ^ s->seed[1] ^
	                      ((uint64_t)key_id << 32 | b));
}

/* New set. */
struct mqs_seen *mqs_seen_new(size_t max)
{
	struct mqs_seen *s;

	if (max < 2 || max > ((size_t)1 << 30))
		return NULL;
	s = mqs_calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->half = max / 2;
	s->nslots = 16;
	while (s->nslots < 2 * s->half)
		s->nslots *= 2;
	s->g[0].slots = mqs_calloc(s->nslots, sizeof(struct slot));
	s->g[1].slots = mqs_calloc(s->nslots, sizeof(struct slot));
	if (s->g[0].slots == NULL || s->g[1].slots == NULL ||
	    RAND_bytes((unsigned char *)s->seed, sizeof(s->seed)) != 1) {
		mqs_seen_free(s);
		return NULL;
	}
	return s;
}

/* Free. */
void mqs_seen_free(struct mqs_seen *s)
{
	if (s == NULL)
		return;
	mqs_free(s->g[0].slots);
	mqs_free(s->g[1].slots);
	mqs_free(s);
}

/* The slot of (key_id, nonce) in g: the matching one, or the empty one
 * where it would go. */
static struct slot *probe(const struct mqs_seen *s, const struct gen *g, uint64_t h,
                          uint32_t key_id, const uint8_t *nonce)
{
	size_t mask = s->nslots - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct slot *x = &g->slots[i];

		if (!x->used ||
		    (x->key_id == key_id && memcmp(x->nonce, nonce, sizeof(x->nonce)) == 0))
			return x;
	}
}

/* Check and record. */
int mqs_seen_check_add(struct mqs_seen *s, uint32_t key_id,
                       const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN])
{
	uint64_t h;
	struct gen *g;
	struct slot *x;

	if (s == NULL)
		return 0;
	h = hash(s, key_id, nonce);
	if (probe(s, &s->g[!s->cur], h, key_id, nonce)->used)
		return 1;
	x = probe(s, &s->g[s->cur], h, key_id, nonce);
	if (x->used)
		return 1;
	g = &s->g[s->cur];
	if (g->n >= s->half) {
		/* the older generation goes, the full one becomes the older */
		s->cur = !s->cur;
		g = &s->g[s->cur];
		memset(g->slots, 0, s->nslots * sizeof(struct slot));
		g->n = 0;
		x = probe(s, g, h, key_id, nonce);
	}
	x->used = 1;
	x->key_id = key_id;
	memcpy(x->nonce, nonce, sizeof(x->nonce));
	g->n++;
	return 0;
}

/* Entries held. */
size_t mqs_seen_count(const struct mqs_seen *s)
{
	return s != NULL ? s->g[0].n + s->g[1].n : 0;
}
