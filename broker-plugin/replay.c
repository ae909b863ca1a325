/* SPDX-License-Identifier: BSD-3-Clause */
/* replay.c - recently seen envelopes in time buckets (see replay.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_buf.h"
#include "mqs_hash.h"
#include "replay.h"

#define NBUCKETS    64
#define CHUNK_SHIFT 14
#define CHUNK_LEN   (1u << CHUNK_SHIFT)
#define HEADS_MIN   1024u
#define INDEX_MAX   0xfffffff0u /* indexes are stored + 1 in 32 bits */

struct entry {
	uint64_t client;
	uint64_t out_ts;
	uint32_t key_id;
	uint32_t hnext; /* next in the hash chain, index + 1 (0: none) */
	uint32_t bnext; /* next in the time bucket or the free list, index + 1 */
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN];
	uint8_t digest[MQSP_REPLAY_DIGEST_LEN];
};

struct bucket {
	int64_t epoch; /* expiry second / span of every entry in it */
	uint32_t head; /* index + 1 */
	uint32_t count;
};

struct mqsp_replay {
	unsigned window;
	int64_t span; /* seconds per bucket */
	size_t max;
	size_t count;
	size_t used; /* records ever taken from the pool (high-water mark) */
	uint32_t free_head;
	struct entry **chunks;
	size_t nchunks;
	size_t capchunks; /* room in chunks */
	uint32_t *heads;
	size_t nheads; /* power of two */
	uint64_t seed[2];
	int64_t last_expire;
	struct bucket buckets[NBUCKETS];
};

/* 8 bytes at p in host order (unaligned). */
static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* 4 bytes at p in host order (unaligned). */
static uint32_t load32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Hash of (key id, nonce), seeded so that chosen nonces cannot pile up in
 * one chain. */
static uint64_t key_hash(const struct mqsp_replay *r, uint32_t key_id, const uint8_t *nonce)
{
	uint64_t h = mqs_hash_mix64(r->seed[0] ^ load64(nonce));

	return mqs_hash_mix64(h ^ r->seed[1] ^ (((uint64_t)key_id << 32) | load32(nonce + 8)));
}

/* The entry of pool index idx1 (1-based). */
static struct entry *at(const struct mqsp_replay *r, uint32_t idx1)
{
	uint32_t i = idx1 - 1;

	return &r->chunks[i >> CHUNK_SHIFT][i & (CHUNK_LEN - 1)];
}

/* New empty set. */
struct mqsp_replay *mqsp_replay_new(unsigned window_s, size_t max)
{
	struct mqsp_replay *r;

	if (window_s == 0 || max == 0)
		return NULL;
	r = mqs_calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->window = window_s;
	/* the expiry seconds alive at once span 2 windows + 3 s: they must fit
	 * in NBUCKETS - 1 buckets, so a bucket is never reused while alive */
	r->span = ((int64_t)2 * window_s + 3 + (NBUCKETS - 3) - 1) / (NBUCKETS - 3);
	if (r->span < 1)
		r->span = 1;
	r->max = max > INDEX_MAX ? INDEX_MAX : max;
	if (RAND_bytes((unsigned char *)r->seed, sizeof(r->seed)) != 1) {
		mqs_free(r);
		return NULL;
	}
	for (size_t i = 0; i < NBUCKETS; i++)
		r->buckets[i].epoch = -1;
	return r;
}

/* Free everything. */
void mqsp_replay_free(struct mqsp_replay *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nchunks; i++)
		mqs_free(r->chunks[i]);
	mqs_free(r->chunks);
	mqs_free(r->heads);
	mqs_free(r);
}

/* Unlink entry idx1 from its hash chain. */
static void chain_unlink(struct mqsp_replay *r, uint32_t idx1)
{
	struct entry *e = at(r, idx1);
	uint32_t *link = &r->heads[key_hash(r, e->key_id, e->nonce) & (r->nheads - 1)];

	while (*link != 0 && *link != idx1)
		link = &at(r, *link)->hnext;
	if (*link == idx1)
		*link = e->hnext;
	e->hnext = 0;
}

/* Drop every entry of a bucket. */
static void bucket_drop(struct mqsp_replay *r, struct bucket *b)
{
	uint32_t idx1 = b->head;

	while (idx1 != 0) {
		struct entry *e = at(r, idx1);
		uint32_t next = e->bnext;

		chain_unlink(r, idx1);
		e->bnext = r->free_head;
		r->free_head = idx1;
		r->count--;
		idx1 = next;
	}
	b->head = 0;
	b->count = 0;
	b->epoch = -1;
}

/* Drop the buckets whose last second is before now_s. */
void mqsp_replay_expire(struct mqsp_replay *r, int64_t now_s)
{
	if (r == NULL || now_s == r->last_expire)
		return;
	r->last_expire = now_s;
	for (size_t i = 0; i < NBUCKETS && r->count > 0; i++) {
		struct bucket *b = &r->buckets[i];

		if (b->count > 0 && (b->epoch + 1) * r->span <= now_s)
			bucket_drop(r, b);
	}
}

/* Look up (key_id, nonce). */
enum mqsp_replay_verdict mqsp_replay_lookup(const struct mqsp_replay *r, uint32_t key_id,
                                            const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN],
                                            const uint8_t digest[MQSP_REPLAY_DIGEST_LEN],
                                            uint64_t client, uint64_t *out_ts_ms)
{
	uint32_t idx1;

	if (r == NULL || r->count == 0)
		return MQSP_REPLAY_NEW;
	idx1 = r->heads[key_hash(r, key_id, nonce) & (r->nheads - 1)];
	while (idx1 != 0) {
		const struct entry *e = at(r, idx1);

		if (e->key_id == key_id && memcmp(e->nonce, nonce, sizeof(e->nonce)) == 0) {
			if (e->client == client &&
			    (digest == NULL || memcmp(e->digest, digest, sizeof(e->digest)) == 0)) {
				*out_ts_ms = e->out_ts;
				return MQSP_REPLAY_SAME;
			}
			return MQSP_REPLAY_SEEN;
		}
		idx1 = e->hnext;
	}
	return MQSP_REPLAY_NEW;
}

/* Prefetch the chain head of (key_id, nonce). */
void mqsp_replay_prefetch(const struct mqsp_replay *r, uint32_t key_id,
                          const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN])
{
	if (r != NULL && r->nheads > 0)
		__builtin_prefetch(&r->heads[key_hash(r, key_id, nonce) & (r->nheads - 1)]);
}

/* 1 when full. */
int mqsp_replay_full(const struct mqsp_replay *r)
{
	return r != NULL && r->count >= r->max;
}

/* Double the hash table (or create it) and re-chain every entry. */
static int heads_grow(struct mqsp_replay *r)
{
	size_t n = r->nheads == 0 ? HEADS_MIN : r->nheads * 2;
	uint32_t *heads = mqs_calloc(n, sizeof(*heads));

	if (heads == NULL)
		return MQS_ERR_NOMEM;
	mqs_free(r->heads);
	r->heads = heads;
	r->nheads = n;
	for (size_t i = 0; i < NBUCKETS; i++) {
		for (uint32_t idx1 = r->buckets[i].head; idx1 != 0; idx1 = at(r, idx1)->bnext) {
			struct entry *e = at(r, idx1);
			uint32_t *head = &heads[key_hash(r, e->key_id, e->nonce) & (n - 1)];

			e->hnext = *head;
			*head = idx1;
		}
	}
	return MQS_OK;
}

/* Take a record from the free list or the pool. */
static uint32_t record_take(struct mqsp_replay *r)
{
	uint32_t idx1;

	if (r->free_head != 0) {
		idx1 = r->free_head;
		r->free_head = at(r, idx1)->bnext;
		return idx1;
	}
	if ((r->used >> CHUNK_SHIFT) >= r->nchunks) {
		if (r->nchunks >= r->capchunks) {
			size_t cap = r->capchunks > 0 ? r->capchunks * 2 : 16;
			void *chunks = mqs_realloc(r->chunks, cap * sizeof(*r->chunks));

			if (chunks == NULL)
				return 0;
			r->chunks = chunks;
			r->capchunks = cap;
		}
		r->chunks[r->nchunks] = mqs_malloc(CHUNK_LEN * sizeof(struct entry));
		if (r->chunks[r->nchunks] == NULL)
			return 0;
		r->nchunks++;
	}
	return (uint32_t)++r->used;
}

/* Record an envelope. */
int mqsp_replay_add(struct mqsp_replay *r, uint32_t key_id,
                    const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN],
                    const uint8_t digest[MQSP_REPLAY_DIGEST_LEN], uint64_t client, uint64_t ts_ms,
                    uint64_t out_ts_ms, int64_t now_s)
{
	int64_t expiry;
	struct bucket *b;
	struct entry *e;
	uint32_t idx1, *head;

	if (r == NULL || ts_ms > (uint64_t)INT64_MAX / 2)
		return MQS_ERR_INVAL;
	mqsp_replay_expire(r, now_s);
	/* needed while now <= ts + window; kept one more second for rounding */
	expiry = (int64_t)((ts_ms + (uint64_t)r->window * 1000u) / 1000u) + 1;
	if (expiry < now_s)
		return MQS_OK;
	if (expiry > now_s + 2 * (int64_t)r->window + 2)
		return MQS_ERR_INVAL; /* further ahead than an accepted timestamp can be */
	if (r->count >= r->max)
		return MQS_ERR_TOOBIG;
	/* at most one entry per two chains: most lookups of a new envelope
	 * end at an empty chain head, without touching an entry */
	if (2 * (r->count + 1) > r->nheads && heads_grow(r) != MQS_OK)
		return MQS_ERR_NOMEM;
	b = &r->buckets[(expiry / r->span) % NBUCKETS];
	if (b->epoch != expiry / r->span) {
		if (b->count > 0)
			bucket_drop(r, b); /* cannot happen while the clock only moves on */
		b->epoch = expiry / r->span;
	}
	idx1 = record_take(r);
	if (idx1 == 0)
		return MQS_ERR_NOMEM;
	e = at(r, idx1);
	e->client = client;
	e->out_ts = out_ts_ms;
	e->key_id = key_id;
	memcpy(e->nonce, nonce, sizeof(e->nonce));
	memcpy(e->digest, digest, sizeof(e->digest));
	head = &r->heads[key_hash(r, key_id, nonce) & (r->nheads - 1)];
	e->hnext = *head;
	*head = idx1;
	e->bnext = b->head;
	b->head = idx1;
	b->count++;
	r->count++;
	return MQS_OK;
}

/* Seeded FNV-1a of a client id, finalised. */
uint64_t mqsp_replay_client(const struct mqsp_replay *r, const char *clientid)
{
	uint64_t h = mqs_hash_fnv1a(r != NULL ? r->seed[1] : 0, clientid);

	return mqs_hash_mix64(h ^ (r != NULL ? r->seed[0] : 0));
}

/* Client id, session epoch and QoS. */
uint64_t mqsp_replay_conn(const struct mqsp_replay *r, const char *clientid, uint64_t epoch,
                          int qos)
{
	uint64_t h = mqsp_replay_client(r, clientid);

	return mqs_hash_mix64(
	    h ^ mqs_hash_mix64(epoch ^ ((uint64_t)(qos & 3) << 62) ^ (r != NULL ? r->seed[1] : 0)));
}

/* Entries held. */
size_t mqsp_replay_count(const struct mqsp_replay *r)
{
	return r != NULL ? r->count : 0;
}
