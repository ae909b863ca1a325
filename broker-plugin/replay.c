/* SPDX-License-Identifier: BSD-3-Clause */
/* replay.c - recently seen envelopes in time buckets (see replay.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include <openssl/rand.h>

#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_buf.h"
#include "mqs_hash.h"
#include "replay.h"

#define NBUCKETS    64 /* a power of two: a bucket's generation is its index mod NBUCKETS */
#define CHUNK_SHIFT 14
#define CHUNK_LEN   (1u << CHUNK_SHIFT)
#define SLOTS_MIN   1024u
#define INDEX_MAX   0x3ffffff0u /* record indexes are stored + 1 in 30 bits of a slot */

/* a slot: | tag 20 | bucket generation, low 8 bits 8 | bucket 6 | index + 1 30 |,
 * 0 when never used */
#define S_IDX_MASK  0x3fffffffu
#define S_BKT_SHIFT 30
#define S_GEN_SHIFT 36
#define S_TAG_SHIFT 44
#define GEN_SHIFT   6 /* log2(NBUCKETS) */
#define HUGE_LEN    ((size_t)2 << 20)

struct entry {
	uint64_t client;
	uint64_t out_ts;
	uint32_t gen; /* generation of its bucket when added (bucket: gen % NBUCKETS) */
	uint32_t key_id;
	uint32_t bnext; /* next in the time bucket or the free list, index + 1 */
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN];
	uint8_t digest[MQSP_REPLAY_DIGEST_LEN];
};

struct bucket {
	int64_t epoch; /* expiry second / span of every entry in it */
	uint32_t gen;  /* moves on by NBUCKETS whenever the bucket is emptied or reused */
	uint32_t head; /* index + 1 */
	uint32_t tail; /* index + 1: the list goes to the free list in one splice */
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
	uint64_t *slots;
	size_t nslots;  /* power of two */
	size_t nonzero; /* slots ever written since the last rebuild (live or dead) */
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
 * one run of slots.  The low bits pick the slot, the top 20 are the tag. */
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

/* The slot word of record idx1 of generation gen with hash h. */
static uint64_t slot_word(uint64_t h, uint32_t gen, uint32_t idx1)
{
	return (h >> S_TAG_SHIFT << S_TAG_SHIFT) |
	       ((uint64_t)((gen >> GEN_SHIFT) & 0xffu) << S_GEN_SHIFT) |
	       ((uint64_t)(gen & (NBUCKETS - 1)) << S_BKT_SHIFT) | idx1;
}

/* 1 when slot word w may still be live: its bucket has not moved on since
 * (a stale slot 256 generations old may look live: it is then only not
 * reused before the next rebuild; the record check in lookups is exact). */
static int slot_live(const struct mqsp_replay *r, uint64_t w)
{
	const struct bucket *b = &r->buckets[(w >> S_BKT_SHIFT) & (NBUCKETS - 1)];

	return ((b->gen >> GEN_SHIFT) & 0xffu) == ((w >> S_GEN_SHIFT) & 0xffu);
}

/* 1 when the record is live: its bucket still has its generation. */
static int entry_live(const struct mqsp_replay *r, const struct entry *e)
{
	return r->buckets[e->gen & (NBUCKETS - 1)].gen == e->gen;
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
	for (size_t i = 0; i < NBUCKETS; i++) {
		r->buckets[i].epoch = -1;
		r->buckets[i].gen = (uint32_t)i; /* no record has a generation below NBUCKETS */
	}
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
	mqs_free(r->slots);
	mqs_free(r);
}

/* Drop every entry of a bucket at once: a new generation makes its slots
 * and records dead, and its records join the free list. */
static void bucket_drop(struct mqsp_replay *r, struct bucket *b)
{
	if (b->head != 0) {
		at(r, b->tail)->bnext = r->free_head;
		r->free_head = b->head;
	}
	r->count -= b->count;
	b->head = 0;
	b->tail = 0;
	b->count = 0;
	b->epoch = -1;
	b->gen += NBUCKETS;
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
	uint64_t h, w;
	size_t i, mask;

	if (r == NULL || r->count == 0 || r->nslots == 0)
		return MQSP_REPLAY_NEW;
	h = key_hash(r, key_id, nonce);
	mask = r->nslots - 1;
	/* at most 5/8 of the slots are non-zero: the run ends */
	for (i = h & mask, w = r->slots[i]; w != 0; i = (i + 1) & mask, w = r->slots[i]) {
		const struct entry *e;

		if ((w >> S_TAG_SHIFT) != (h >> S_TAG_SHIFT) || !slot_live(r, w))
			continue;
		e = at(r, (uint32_t)(w & S_IDX_MASK));
		if (!entry_live(r, e) || e->key_id != key_id ||
		    memcmp(e->nonce, nonce, sizeof(e->nonce)) != 0)
			continue;
		if (e->client == client &&
		    (digest == NULL || memcmp(e->digest, digest, sizeof(e->digest)) == 0)) {
			*out_ts_ms = e->out_ts;
			return MQSP_REPLAY_SAME;
		}
		return MQSP_REPLAY_SEEN;
	}
	return MQSP_REPLAY_NEW;
}

/* Prefetch the slot of (key_id, nonce). */
void mqsp_replay_prefetch(const struct mqsp_replay *r, uint32_t key_id,
                          const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN])
{
	if (r != NULL && r->nslots > 0)
		__builtin_prefetch(&r->slots[key_hash(r, key_id, nonce) & (r->nslots - 1)]);
}

/* 1 when full. */
int mqsp_replay_full(const struct mqsp_replay *r)
{
	return r != NULL && r->count >= r->max;
}

/* The first slot on h's probe path that is free: never used (*fresh = 1)
 * or dead (*fresh = 0). */
static size_t slot_free(const struct mqsp_replay *r, const uint64_t *slots, size_t nslots,
                        uint64_t h, int *fresh)
{
	size_t mask = nslots - 1, i = h & mask;

	while (slots[i] != 0 && (r == NULL || slot_live(r, slots[i])))
		i = (i + 1) & mask;
	*fresh = slots[i] == 0;
	return i;
}

/* Ask for 2 MiB pages over the aligned inside of a big table before it is
 * first touched: every lookup is a random read in it, which with 4 KiB
 * pages also misses the TLB.  A hint only: nothing changes if refused. */
static void hint_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
	uintptr_t a = ((uintptr_t)p + HUGE_LEN - 1) & ~(uintptr_t)(HUGE_LEN - 1);
	uintptr_t e = ((uintptr_t)p + len) & ~(uintptr_t)(HUGE_LEN - 1);

	if (e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
	(void)p;
	(void)len;
#endif
}

/* Put live record idx1 into a table being rebuilt. */
static void slot_put(const struct mqsp_replay *r, uint64_t *slots, size_t n, uint32_t idx1)
{
	const struct entry *e = at(r, idx1);
	uint64_t h = key_hash(r, e->key_id, e->nonce);
	int fresh;

	slots[slot_free(NULL, slots, n, h, &fresh)] = slot_word(h, e->gen, idx1);
}

/* A new table of 3 slots per live entry (at least SLOTS_MIN), filled from a
 * sequential pass over the pool, or from the bucket lists when most of the
 * pool is free (after a flood: a pass would read every record of the
 * high-water mark at each rebuild); dead slots are gone. */
static int slots_rebuild(struct mqsp_replay *r)
{
	size_t n = SLOTS_MIN, want = 3 * (r->count + 1);
	uint64_t *slots;

	while (n < want)
		n *= 2;
	slots = mqs_malloc(n * sizeof(*slots));
	if (slots == NULL)
		return MQS_ERR_NOMEM;
	hint_huge(slots, n * sizeof(*slots));
	memset(slots, 0, n * sizeof(*slots));
	if (r->used > 4 * r->count) {
		for (size_t b = 0; b < NBUCKETS; b++)
			for (uint32_t idx1 = r->buckets[b].head; idx1 != 0;
			     idx1 = at(r, idx1)->bnext)
				slot_put(r, slots, n, idx1);
	} else {
		for (uint32_t idx1 = 1; idx1 <= r->used; idx1++)
			if (entry_live(r, at(r, idx1)))
				slot_put(r, slots, n, idx1);
	}
	mqs_free(r->slots);
	r->slots = slots;
	r->nslots = n;
	r->nonzero = r->count;
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
	uint64_t h;
	uint32_t idx1;
	size_t slot;
	int fresh;

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
	/* at most 5/8 of the slots non-zero, so runs stay short and end */
	if (8 * (r->nonzero + 1) > 5 * r->nslots && slots_rebuild(r) != MQS_OK)
		return MQS_ERR_NOMEM;
	b = &r->buckets[(expiry / r->span) % NBUCKETS];
	/* a bucket still holding entries of another epoch: only after the
	 * clock stepped back, and then its epoch is the later one (an earlier
	 * one was dropped by the expiry above); its entries are needed once the
	 * clock is back where it was, so the new entry joins them and is kept
	 * longer than it needs */
	if (b->epoch < expiry / r->span && b->count > 0)
		bucket_drop(r, b); /* expired: cannot happen after the expiry above */
	if (b->epoch != expiry / r->span && b->count == 0) {
		b->epoch = expiry / r->span;
		b->gen += NBUCKETS;
	}
	idx1 = record_take(r);
	if (idx1 == 0)
		return MQS_ERR_NOMEM;
	e = at(r, idx1);
	e->client = client;
	e->out_ts = out_ts_ms;
	e->gen = b->gen;
	e->key_id = key_id;
	memcpy(e->nonce, nonce, sizeof(e->nonce));
	memcpy(e->digest, digest, sizeof(e->digest));
	h = key_hash(r, key_id, nonce);
	slot = slot_free(r, r->slots, r->nslots, h, &fresh);
	r->slots[slot] = slot_word(h, b->gen, idx1);
	r->nonzero += (size_t)fresh;
	e->bnext = b->head;
	if (b->head == 0)
		b->tail = idx1;
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
