/* gw_replay.c - a bounded set of (key id, nonce): a FIFO ring of entries
 * indexed by a chained hash table with a random per-process seed. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "gw_replay.h"

struct entry {
	uint32_t key_id;
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN];
	uint32_t next; /* next entry in the bucket, 0 = end (indexes are + 1) */
};

struct gw_replay {
	struct entry *ring;
	uint32_t *bucket; /* first entry of each bucket, index + 1 */
	size_t max, nbuckets, used, head;
	uint64_t seed[2];
};

/* Mix key id and nonce under the seed (the seed keeps an attacker who
 * picks nonces from filling one bucket). */
static size_t hash(const struct gw_replay *r, uint32_t key_id, const uint8_t *nonce)
{
	uint64_t a = r->seed[0] ^ key_id, b = r->seed[1];

	for (size_t i = 0; i < MQS_ENVELOPE_NONCE_LEN; i++) {
		a = (a ^ nonce[i]) * 0x100000001b3ULL;
		b += a;
		b ^= b >> 29;
	}
	a ^= b;
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdULL;
	a ^= a >> 33;
	return (size_t)(a % r->nbuckets);
}

/* New set. */
struct gw_replay *gw_replay_new(size_t max)
{
	struct gw_replay *r = NULL;

	if (max == 0 || max > UINT32_MAX - 1)
		goto fail;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto fail;
	r->max = max;
	r->nbuckets = max / 4 + 1;
	r->ring = calloc(max, sizeof(*r->ring));
	r->bucket = calloc(r->nbuckets, sizeof(*r->bucket));
	if (r->ring == NULL || r->bucket == NULL ||
	    RAND_bytes((unsigned char *)r->seed, (int)sizeof(r->seed)) != 1)
		goto fail;
	return r;
fail:
	gw_replay_free(r);
	return NULL;
}

/* Free. */
void gw_replay_free(struct gw_replay *r)
{
	if (r == NULL)
		return;
	OPENSSL_cleanse(r->seed, sizeof(r->seed));
	free(r->ring);
	free(r->bucket);
	free(r);
}

/* Take entry idx (0-based) out of its bucket. */
static void unlink_entry(struct gw_replay *r, size_t idx)
{
	struct entry *e = &r->ring[idx];
	uint32_t *link = &r->bucket[hash(r, e->key_id, e->nonce)];

	while (*link != 0) {
		if (*link == idx + 1) {
			*link = e->next;
			return;
		}
		link = &r->ring[*link - 1].next;
	}
}

/* Seen before?  Else record. */
int gw_replay_seen(struct gw_replay *r, uint32_t key_id,
                   const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN])
{
	size_t h = hash(r, key_id, nonce);
	struct entry *e;

	for (uint32_t i = r->bucket[h]; i != 0; i = r->ring[i - 1].next) {
		e = &r->ring[i - 1];
		if (e->key_id == key_id && memcmp(e->nonce, nonce, MQS_ENVELOPE_NONCE_LEN) == 0)
			return 1;
	}
	if (r->used == r->max)
		unlink_entry(r, r->head); /* the oldest makes room */
	else
		r->used++;
	e = &r->ring[r->head];
	e->key_id = key_id;
	memcpy(e->nonce, nonce, MQS_ENVELOPE_NONCE_LEN);
	e->next = r->bucket[h];
	r->bucket[h] = (uint32_t)(r->head + 1);
	r->head = (r->head + 1) % r->max;
	return 0;
}
