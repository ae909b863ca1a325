/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_join.c - the receiver of k-of-n medical shares (docs/medical.md,
 * "Receiving"): groups by record id in a seeded hash table, an expiry FIFO
 * (groups are created in time order), remembered ids of finished records,
 * every byte held counted and wiped when freed. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "mqs_alloc.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_hash.h"
#include "mqs_join.h"
#include "mqs_share.h"
#include "mqs_util.h"

#define JOIN_KEYS_MAX     64
#define JOIN_BUCKETS_MAX  (1u << 20)
#define JOIN_TIMEOUT_DEF  60000u
#define JOIN_PENDING_DEF  10000u
#define JOIN_RECORD_DEF   (1024u * 1024u)
#define JOIN_PEND_B_DEF   (64u * 1024u * 1024u)
#define JOIN_REMEMBER_MUL 4

/* One record being gathered. */
struct join_group {
	uint8_t id[MQS_SHARE_ID_LEN];
	struct join_group *hnext;       /* hash chain */
	struct join_group *prev, *next; /* creation order, oldest first */
	uint64_t created_ms;
	uint32_t secret_len;
	size_t key;    /* index of the sender's record key */
	unsigned held; /* bit x-1 set when share x is held */
	unsigned have;
	uint8_t *bodies[MQS_SHARE_N_MAX];
};

/* A completed, corrupt or expired record id of sender key, remembered for
 * the timeout. */
struct join_seen {
	uint8_t id[MQS_SHARE_ID_LEN];
	size_t key;
	struct join_seen *hnext;
	struct join_seen *prev, *next; /* oldest first */
	uint64_t at_ms;
};

struct mqs_join {
	struct mqs_join_conf conf;
	struct mqs_join_key *keys;
	uint8_t (*tag_keys)[32];
	size_t nkeys;
	mqs_join_record_fn *on_record;
	void *arg;
	uint64_t seed[2];
	struct join_group **gtab;
	size_t gmask;
	struct join_group *ghead, *gtail;
	size_t npending, pending_bytes;
	size_t ch_shares[MQS_SHARE_N_MAX];  /* shares held that came on channel c */
	size_t ch_bytes[MQS_SHARE_N_MAX];   /* their bytes */
	size_t ch_max_shares, ch_max_bytes; /* per-channel quotas */
	struct join_seen **stab;
	size_t smask;
	struct join_seen *shead, *stail;
	size_t nseen, seen_max;
	uint64_t counts[MQS_JOIN__COUNT];
};

static const char *const join_names[MQS_JOIN__COUNT] = {
    "pending",   "record", "bad-header", "unknown-key",  "wrong-channel", "inconsistent",
    "duplicate", "late",   "too-big",    "pending-full", "corrupt",       "incomplete",
};

/* Name of result r; see header. */
const char *mqs_join_result_name(int r)
{
	if (r < 0 || r >= MQS_JOIN__COUNT)
		return "?";
	return join_names[r];
}

/* Fill the fields of conf left 0 with the defaults; see header. */
void mqs_join_conf_defaults(struct mqs_join_conf *conf)
{
	if (conf == NULL)
		return;
	if (conf->timeout_ms == 0)
		conf->timeout_ms = JOIN_TIMEOUT_DEF;
	if (conf->max_pending == 0)
		conf->max_pending = JOIN_PENDING_DEF;
	if (conf->max_record == 0)
		conf->max_record = JOIN_RECORD_DEF;
	if (conf->max_pending_bytes == 0)
		conf->max_pending_bytes = JOIN_PEND_B_DEF;
}

/* Table size: a power of two at least want, at most JOIN_BUCKETS_MAX. */
static size_t join_buckets(size_t want)
{
	size_t b = 16;

	while (b < want && b < JOIN_BUCKETS_MAX)
		b <<= 1;
	return b;
}

/* t + timeout, saturating (a huge configured timeout never wraps). */
static uint64_t join_deadline(const struct mqs_join *j, uint64_t t)
{
	return t > UINT64_MAX - j->conf.timeout_ms ? UINT64_MAX : t + j->conf.timeout_ms;
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Seeded hash of (sender key, record id): a flooder cannot aim chains it
 * cannot see. */
static uint64_t join_hash(const struct mqs_join *j, size_t key, const uint8_t id[MQS_SHARE_ID_LEN])
{
	uint64_t h = mqs_hash_mix64(load64(id) ^ j->seed[0]);

	h = mqs_hash_mix64(h ^ load64(id + 8) ^ j->seed[1]);
	return mqs_hash_mix64(h ^ (uint64_t)key);
}

/* The open group of record id of sender key, or NULL: groups are keyed by
 * (key, id), so one sender cannot take over another sender's ids. */
static struct join_group *group_find(const struct mqs_join *j, size_t key, const uint8_t *id)
{
	struct join_group *g = j->gtab[join_hash(j, key, id) & j->gmask];

	while (g != NULL && (g->key != key || memcmp(g->id, id, MQS_SHARE_ID_LEN) != 0))
		g = g->hnext;
	return g;
}

/* Unlink g from its chain and from the FIFO, wipe and free it. */
static void group_free(struct mqs_join *j, struct join_group *g)
{
	struct join_group **pp = &j->gtab[join_hash(j, g->key, g->id) & j->gmask];

	while (*pp != NULL && *pp != g)
		pp = &(*pp)->hnext;
	if (*pp == g)
		*pp = g->hnext;
	if (g->prev != NULL)
		g->prev->next = g->next;
	else
		j->ghead = g->next;
	if (g->next != NULL)
		g->next->prev = g->prev;
	else
		j->gtail = g->prev;
	for (unsigned i = 0; i < MQS_SHARE_N_MAX; i++) {
		if (g->bodies[i] != NULL) {
			mqs_secret_free(g->bodies[i], g->secret_len);
			j->pending_bytes -= g->secret_len;
			j->ch_shares[i]--; /* share i+1 came on channel i */
			j->ch_bytes[i] -= g->secret_len;
		}
	}
	j->npending--;
	mqs_secret_free(g, sizeof(*g));
}

/* The remembered entry of (key, id), or NULL. */
static struct join_seen *seen_find(const struct mqs_join *j, size_t key, const uint8_t *id)
{
	struct join_seen *s = j->stab[join_hash(j, key, id) & j->smask];

	while (s != NULL && (s->key != key || memcmp(s->id, id, MQS_SHARE_ID_LEN) != 0))
		s = s->hnext;
	return s;
}

/* Forget s. */
static void seen_free(struct mqs_join *j, struct join_seen *s)
{
	struct join_seen **pp = &j->stab[join_hash(j, s->key, s->id) & j->smask];

	while (*pp != NULL && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp == s)
		*pp = s->hnext;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		j->shead = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	else
		j->stail = s->prev;
	j->nseen--;
	OPENSSL_cleanse(s, sizeof(*s));
	mqs_free(s);
}

/* Remember (key, id) at now_ms (the oldest is forgotten when the list is
 * full).  Out of memory: the id is simply not remembered. */
static void seen_add(struct mqs_join *j, size_t key, const uint8_t *id, uint64_t now_ms)
{
	struct join_seen *s;
	size_t b;

	if (seen_find(j, key, id) != NULL)
		return;
	while (j->nseen >= j->seen_max && j->shead != NULL)
		seen_free(j, j->shead);
	s = mqs_calloc(1, sizeof(*s));
	if (s == NULL)
		return;
	memcpy(s->id, id, MQS_SHARE_ID_LEN);
	s->key = key;
	/* keep the list in time order even if the clock steps back */
	s->at_ms = j->stail != NULL && j->stail->at_ms > now_ms ? j->stail->at_ms : now_ms;
	b = join_hash(j, key, id) & j->smask;
	s->hnext = j->stab[b];
	j->stab[b] = s;
	s->prev = j->stail;
	if (j->stail != NULL)
		j->stail->next = s;
	else
		j->shead = s;
	j->stail = s;
	j->nseen++;
}

/* Create the group of id (the caller checked the limits). */
static struct join_group *group_new(struct mqs_join *j, const uint8_t *id, uint32_t secret_len,
                                    size_t key, uint64_t now_ms)
{
	struct join_group *g = mqs_calloc(1, sizeof(*g));
	size_t b;

	if (g == NULL)
		return NULL;
	memcpy(g->id, id, MQS_SHARE_ID_LEN);
	g->secret_len = secret_len;
	g->key = key;
	g->created_ms =
	    j->gtail != NULL && j->gtail->created_ms > now_ms ? j->gtail->created_ms : now_ms;
	b = join_hash(j, key, id) & j->gmask;
	g->hnext = j->gtab[b];
	j->gtab[b] = g;
	g->prev = j->gtail;
	if (j->gtail != NULL)
		j->gtail->next = g;
	else
		j->ghead = g;
	j->gtail = g;
	j->npending++;
	return g;
}

/* Combine the shares of g in mask (k of them) and try to open the record;
 * on success run on_record and return 1.  0 when it does not open. */
static int join_try(struct mqs_join *j, struct join_group *g, unsigned mask, uint8_t *secret,
                    char *topic, size_t topic_cap)
{
	const struct mqs_join_key *key = &j->keys[g->key];
	const uint8_t *bodies[MQS_SHARE_N_MAX];
	uint8_t xs[MQS_SHARE_N_MAX];
	char origin[MQS_ENVELOPE_ORIGIN_MAX + 1];
	struct mqs_join_record r;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	uint64_t ts = 0;
	unsigned k = 0;
	int rc;

	for (unsigned i = 0; i < MQS_SHARE_N_MAX; i++) {
		if ((mask & (1u << i)) != 0) {
			xs[k] = (uint8_t)(i + 1);
			bodies[k] = g->bodies[i];
			k++;
		}
	}
	rc = mqs_share_combine(k, xs, bodies, g->secret_len, secret);
	if (rc != MQS_OK)
		return 0;
	rc = mqs_share_record_open(key->key, key->id, g->id, secret, g->secret_len, topic,
	                           topic_cap, origin, &plain, &plain_len, &ts);
	OPENSSL_cleanse(secret, g->secret_len);
	if (rc != MQS_OK)
		return 0;
	memset(&r, 0, sizeof(r));
	memcpy(r.id, g->id, MQS_SHARE_ID_LEN);
	r.sender = key->name;
	r.topic = topic;
	r.origin = origin;
	r.sealed_ms = ts;
	r.data = plain;
	r.len = plain_len;
	if (j->on_record != NULL)
		j->on_record(j->arg, &r);
	mqs_secret_free(plain, plain_len);
	OPENSSL_cleanse(topic, topic_cap);
	OPENSSL_cleanse(origin, sizeof(origin));
	return 1;
}

static unsigned popcount8(unsigned v)
{
	unsigned c = 0;

	for (; v != 0; v &= v - 1)
		c++;
	return c;
}

/* Every k-subset of the held shares that includes share newest (1..n):
 * MQS_JOIN_RECORD when one opens, MQS_JOIN_CORRUPT when all n are held and
 * none does, else MQS_JOIN_PENDING. */
static int join_combine(struct mqs_join *j, struct join_group *g, unsigned newest)
{
	unsigned nbit = 1u << (newest - 1);
	uint8_t *secret = NULL;
	char *topic = NULL;
	size_t topic_cap;
	int res = MQS_JOIN_PENDING;

	if (g->have < j->conf.k)
		return MQS_JOIN_PENDING;
	topic_cap =
	    (g->secret_len < MQS_ENVELOPE_TOPIC_MAX ? g->secret_len : MQS_ENVELOPE_TOPIC_MAX) + 1;
	secret = mqs_malloc(g->secret_len);
	topic = mqs_malloc(topic_cap);
	if (secret == NULL || topic == NULL)
		goto out; /* tried again with the next share */
	for (unsigned mask = 1; mask < (1u << j->conf.n); mask++) {
		if ((mask & nbit) == 0 || (mask & ~g->held) != 0 || popcount8(mask) != j->conf.k)
			continue;
		if (join_try(j, g, mask, secret, topic, topic_cap)) {
			res = MQS_JOIN_RECORD;
			goto out;
		}
	}
	if (g->have == j->conf.n)
		res = MQS_JOIN_CORRUPT;
out:
	mqs_secret_free(secret, g->secret_len);
	mqs_secret_free(topic, topic_cap);
	return res;
}

/* The index of the record key whose tag key verifies p, or nkeys.  Every
 * key is tried, so the time does not tell which one matched. */
static size_t join_key_of(const struct mqs_join *j, const uint8_t *p, size_t len)
{
	size_t found = j->nkeys;

	for (size_t i = 0; i < j->nkeys; i++) {
		if (mqs_share_tag_ok(p, len, j->tag_keys[i]) && found == j->nkeys)
			found = i;
	}
	return found;
}

/* The rules of the header, in order, without counting. */
static int join_feed(struct mqs_join *j, unsigned ch, const uint8_t *p, size_t len, uint64_t now_ms)
{
	struct mqs_share_hdr h;
	struct join_group *g;
	struct join_seen *s;
	size_t key;
	int res;

	if (mqs_share_parse(p, len, &h) != MQS_OK)
		return MQS_JOIN_BAD_HEADER;
	key = join_key_of(j, p, len);
	if (key == j->nkeys)
		return MQS_JOIN_UNKNOWN_KEY;
	if (ch >= j->conf.n || h.x != ch + 1)
		return MQS_JOIN_WRONG_CHANNEL;
	if (h.n != j->conf.n || h.k != j->conf.k)
		return MQS_JOIN_INCONSISTENT;
	s = seen_find(j, key, h.id);
	if (s != NULL) {
		if (now_ms < join_deadline(j, s->at_ms))
			return MQS_JOIN_LATE;
		seen_free(j, s);
	}
	if (h.secret_len > j->conf.max_record)
		return MQS_JOIN_TOO_BIG;
	g = group_find(j, key, h.id);
	if (g != NULL && g->secret_len != h.secret_len)
		return MQS_JOIN_INCONSISTENT;
	if (g != NULL && (g->held & (1u << (h.x - 1))) != 0)
		return MQS_JOIN_DUPLICATE;
	/* the global limits, then this channel's part of them (mqs_join.h) */
	if ((g == NULL && j->npending >= j->conf.max_pending) ||
	    j->pending_bytes + h.secret_len > j->conf.max_pending_bytes ||
	    j->ch_shares[ch] >= j->ch_max_shares ||
	    j->ch_bytes[ch] + h.secret_len > j->ch_max_bytes)
		return MQS_JOIN_PENDING_FULL;
	if (g == NULL) {
		g = group_new(j, h.id, h.secret_len, key, now_ms);
		if (g == NULL)
			return MQS_JOIN_PENDING_FULL;
	}
	g->bodies[h.x - 1] = mqs_malloc(h.secret_len);
	if (g->bodies[h.x - 1] == NULL) {
		if (g->have == 0)
			group_free(j, g);
		return MQS_JOIN_PENDING_FULL;
	}
	memcpy(g->bodies[h.x - 1], p + MQS_SHARE_HDR_LEN, h.secret_len);
	j->pending_bytes += h.secret_len;
	j->ch_shares[ch]++;
	j->ch_bytes[ch] += h.secret_len;
	g->held |= 1u << (h.x - 1);
	g->have++;
	res = join_combine(j, g, h.x);
	if (res == MQS_JOIN_RECORD || res == MQS_JOIN_CORRUPT) {
		seen_add(j, g->key, g->id, now_ms);
		group_free(j, g);
	}
	return res;
}

/* Feed one share; see header. */
int mqs_join_feed(struct mqs_join *j, unsigned ch, const uint8_t *p, size_t len, uint64_t now_ms)
{
	int res;

	if (j == NULL)
		return MQS_JOIN_BAD_HEADER;
	res = join_feed(j, ch, p, len, now_ms);
	j->counts[res]++;
	return res;
}

/* Expire old groups and forget old ids; see header. */
uint64_t mqs_join_tick(struct mqs_join *j, uint64_t now_ms, mqs_join_expired_fn *on_expired,
                       void *arg)
{
	uint64_t next = 0;

	if (j == NULL)
		return 0;
	while (j->ghead != NULL && now_ms >= join_deadline(j, j->ghead->created_ms)) {
		struct join_group *g = j->ghead;

		if (on_expired != NULL)
			on_expired(arg, g->id, g->have, j->conf.k);
		j->counts[MQS_JOIN_INCOMPLETE]++;
		seen_add(j, g->key, g->id, now_ms);
		group_free(j, g);
	}
	while (j->shead != NULL && now_ms >= join_deadline(j, j->shead->at_ms))
		seen_free(j, j->shead);
	if (j->ghead != NULL)
		next = join_deadline(j, j->ghead->created_ms);
	if (j->shead != NULL && (next == 0 || join_deadline(j, j->shead->at_ms) < next))
		next = join_deadline(j, j->shead->at_ms);
	return next;
}

/* Counter of result r; see header. */
uint64_t mqs_join_count(const struct mqs_join *j, int r)
{
	if (j == NULL || r < 0 || r >= MQS_JOIN__COUNT)
		return 0;
	return j->counts[r];
}

/* Open groups; see header. */
size_t mqs_join_pending(const struct mqs_join *j)
{
	return j != NULL ? j->npending : 0;
}

/* Share bytes held; see header. */
size_t mqs_join_pending_bytes(const struct mqs_join *j)
{
	return j != NULL ? j->pending_bytes : 0;
}

/* Free everything, wiping keys and shares; see header. */
void mqs_join_free(struct mqs_join *j)
{
	if (j == NULL)
		return;
	while (j->ghead != NULL)
		group_free(j, j->ghead);
	while (j->shead != NULL)
		seen_free(j, j->shead);
	mqs_free(j->gtab);
	mqs_free(j->stab);
	mqs_secret_free(j->keys, j->nkeys * sizeof(*j->keys));
	mqs_secret_free(j->tag_keys, j->nkeys * sizeof(*j->tag_keys));
	mqs_secret_free(j, sizeof(*j));
}

/* A new receiver; see header. */
int mqs_join_new(const struct mqs_join_conf *conf, const struct mqs_join_key *keys, size_t nkeys,
                 mqs_join_record_fn *on_record, void *arg, struct mqs_join **out)
{
	struct mqs_join *j = NULL;
	size_t gb, sb;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (conf == NULL || keys == NULL || out == NULL || nkeys == 0 || nkeys > JOIN_KEYS_MAX ||
	    conf->k < 2 || conf->k > conf->n || conf->n > MQS_SHARE_N_MAX)
		return MQS_ERR_INVAL;
	j = mqs_calloc(1, sizeof(*j));
	if (j == NULL)
		return MQS_ERR_NOMEM;
	j->conf = *conf;
	mqs_join_conf_defaults(&j->conf);
	if (j->conf.max_record > MQS_SHARE_SECRET_MAX)
		j->conf.max_record = MQS_SHARE_SECRET_MAX;
	j->seen_max = j->conf.max_pending <= SIZE_MAX / JOIN_REMEMBER_MUL
	                  ? j->conf.max_pending * JOIN_REMEMBER_MUL
	                  : SIZE_MAX;
	/* each channel may hold its 1/n part of the budget (mqs_join.h) */
	j->ch_max_shares =
	    j->conf.max_pending / j->conf.n > 0 ? j->conf.max_pending / j->conf.n : 1;
	j->ch_max_bytes = j->conf.max_pending_bytes / j->conf.n;
	j->on_record = on_record;
	j->arg = arg;
	j->keys = mqs_calloc(nkeys, sizeof(*j->keys));
	j->tag_keys = mqs_calloc(nkeys, sizeof(*j->tag_keys));
	gb = join_buckets(j->conf.max_pending);
	sb = join_buckets(j->seen_max);
	j->gtab = mqs_calloc(gb, sizeof(*j->gtab));
	j->stab = mqs_calloc(sb, sizeof(*j->stab));
	if (j->keys == NULL || j->tag_keys == NULL || j->gtab == NULL || j->stab == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	j->nkeys = nkeys;
	j->gmask = gb - 1;
	j->smask = sb - 1;
	if (RAND_bytes((unsigned char *)j->seed, sizeof(j->seed)) != 1) {
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	for (size_t i = 0; i < nkeys; i++) {
		j->keys[i] = keys[i];
		j->keys[i].name[MQS_JOIN_KEY_NAME_MAX] = '\0';
		rc = mqs_share_tag_key(j->keys[i].key, j->tag_keys[i]);
		if (rc != MQS_OK)
			goto out;
	}
	*out = j;
	j = NULL;
	rc = MQS_OK;
out:
	mqs_join_free(j);
	return rc;
}
