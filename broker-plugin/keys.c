/* SPDX-License-Identifier: BSD-3-Clause */
/* keys.c - protected filters, device keys and automatic bans of a snapshot. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "keys.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_topic.h"
#include "mqs_util.h"

/* Count the levels and the wildcard levels of a filter. */
static void filter_shape(const char *f, unsigned *levels, unsigned *wildcards)
{
	unsigned l = 1, w = 0;
	const char *level = f;

	for (const char *c = f;; c++) {
		if (*c == '/' || *c == '\0') {
			if (c - level == 1 && (level[0] == '+' || level[0] == '#'))
				w++;
			if (*c == '\0')
				break;
			l++;
			level = c + 1;
		}
	}
	*levels = l;
	*wildcards = w;
}

/* Most levels first, then fewest wildcards, then strcmp. */
int mqsp_keys_protected_cmp(const void *a, const void *b)
{
	const struct mqsp_protected *x = a;
	const struct mqsp_protected *y = b;

	if (x->levels != y->levels)
		return x->levels > y->levels ? -1 : 1;
	if (x->wildcards != y->wildcards)
		return x->wildcards < y->wildcards ? -1 : 1;
	return strcmp(x->filter, y->filter);
}

#define CLOCK_EVERY 32 /* rows between two looks at the clock */

enum load_phase { LP_PROTECTED, LP_DEVICE_KEYS, LP_TOPIC_KEYS, LP_BANS, LP_INDEX, LP_DONE };

static const char *const load_sql[] = {
    [LP_PROTECTED] = "SELECT p.filter, k.id, k.wrapped, p.per_device FROM protected_topics p "
                     /* the sealing key: the newest one that seals by now (an
                      * announced key does not yet; the key it replaces, retired
                      * until its grace ends, seals until then) */
                     "LEFT JOIN keys k ON k.id = (SELECT max(id) FROM keys "
                     "WHERE purpose = 'topic' AND owner = p.filter AND seal_after <= ?1 "
                     "AND (state = 'active' OR retire_after >= ?1))",
    [LP_DEVICE_KEYS] = "SELECT k.id, k.owner, k.state, k.retire_after, k.wrapped "
                       "FROM keys k JOIN devices d ON d.name = k.owner "
                       "WHERE k.purpose = 'device' AND d.enabled = 1 "
                       "AND (k.state = 'active' OR k.retire_after >= ?1)",
    /* every topic key, in any state */
    [LP_TOPIC_KEYS] = "SELECT id, wrapped FROM keys WHERE purpose = 'topic'",
    [LP_BANS] = "SELECT expires_at FROM list_entries WHERE kind = 'deny' "
                "AND created_by = 'mqttsec-plugin' AND reason = 'auth-failures' "
                "AND (expires_at = 0 OR expires_at > ?1)",
};

struct mqsp_keys_load {
	sqlite3 *db;
	const uint8_t *mk;
	int64_t now;
	enum load_phase phase;
	sqlite3_stmt *st;
	struct mqsp_keys *k;
	size_t cap_protected, cap_dkeys, cap_tkeys, cap_bans;
};

/* Milliseconds of the monotonic clock. */
static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One protected_topics row with the newest active key of its filter. */
static int row_protected(struct mqsp_keys_load *l)
{
	struct mqsp_keys *k = l->k;
	const char *filter = (const char *)sqlite3_column_text(l->st, 0);
	struct mqsp_protected *pt;
	void *a = k->protected;

	if (filter == NULL || mqs_topic_filter_check(filter) != MQS_OK) {
		k->bad_keys++;
		return MQS_OK;
	}
	/* secret: the rows hold topic keys, so growth must not leave copies */
	if (mqs_array_reserve(&a, &l->cap_protected, k->nprotected + 1, sizeof(*pt), SIZE_MAX, 1) !=
	    MQS_OK)
		return MQS_ERR_NOMEM;
	k->protected = a;
	pt = &k->protected[k->nprotected];
	memset(pt, 0, sizeof(*pt));
	pt->filter = mqs_strdup(filter);
	if (pt->filter == NULL)
		return MQS_ERR_NOMEM;
	k->nprotected++;
	filter_shape(pt->filter, &pt->levels, &pt->wildcards);
	pt->per_device = (unsigned)sqlite3_column_int(l->st, 3); /* 0..255 (admin/topics.c) */
	if (sqlite3_column_type(l->st, 1) != SQLITE_NULL) {
		int64_t id = sqlite3_column_int64(l->st, 1);
		const uint8_t *w = sqlite3_column_blob(l->st, 2);
		int wl = sqlite3_column_bytes(l->st, 2);

		if (id >= 1 && id <= UINT32_MAX && w != NULL &&
		    mqs_keystore_unwrap(l->mk, (uint32_t)id, MQS_KEY_TOPIC, w, (size_t)wl,
		                        pt->key) == MQS_OK)
			pt->key_id = (uint32_t)id;
		else
			k->bad_keys++;
	}
	return MQS_OK;
}

/* One usable key of an enabled device. */
static int row_device_key(struct mqsp_keys_load *l)
{
	struct mqsp_keys *k = l->k;
	int64_t id = sqlite3_column_int64(l->st, 0);
	const char *owner = (const char *)sqlite3_column_text(l->st, 1);
	const char *state = (const char *)sqlite3_column_text(l->st, 2);
	const uint8_t *w = sqlite3_column_blob(l->st, 4);
	int wl = sqlite3_column_bytes(l->st, 4);
	struct mqsp_device_key *dk;
	void *a = k->dkeys;

	/* secret: the old array holds keys and is wiped, not realloc'd */
	if (mqs_array_reserve(&a, &l->cap_dkeys, k->ndkeys + 1, sizeof(*dk), SIZE_MAX, 1) != MQS_OK)
		return MQS_ERR_NOMEM;
	k->dkeys = a;
	dk = &k->dkeys[k->ndkeys];
	if (id < 1 || id > UINT32_MAX || owner == NULL || state == NULL ||
	    strlen(owner) > MQSP_DEVICE_NAME_MAX || w == NULL ||
	    mqs_keystore_unwrap(l->mk, (uint32_t)id, MQS_KEY_DEVICE, w, (size_t)wl, dk->key) !=
	        MQS_OK) {
		OPENSSL_cleanse(dk, sizeof(*dk));
		k->bad_keys++;
		return MQS_OK;
	}
	dk->id = (uint32_t)id;
	dk->until = strcmp(state, "active") == 0 ? 0 : sqlite3_column_int64(l->st, 3);
	strcpy(dk->device, owner);
	k->ndkeys++;
	return MQS_OK;
}

/* One topic key, any state. */
static int row_topic_key(struct mqsp_keys_load *l)
{
	struct mqsp_keys *k = l->k;
	int64_t id = sqlite3_column_int64(l->st, 0);
	const uint8_t *w = sqlite3_column_blob(l->st, 1);
	int wl = sqlite3_column_bytes(l->st, 1);
	struct mqsp_topic_key *tk;
	void *a = k->tkeys;

	/* secret: the old array holds keys and is wiped, not realloc'd */
	if (mqs_array_reserve(&a, &l->cap_tkeys, k->ntkeys + 1, sizeof(*tk), SIZE_MAX, 1) != MQS_OK)
		return MQS_ERR_NOMEM;
	k->tkeys = a;
	tk = &k->tkeys[k->ntkeys];
	if (id < 1 || id > UINT32_MAX || w == NULL ||
	    mqs_keystore_unwrap(l->mk, (uint32_t)id, MQS_KEY_TOPIC, w, (size_t)wl, tk->key) !=
	        MQS_OK) {
		OPENSSL_cleanse(tk, sizeof(*tk));
		k->bad_keys++;
		return MQS_OK;
	}
	tk->id = (uint32_t)id;
	k->ntkeys++;
	return MQS_OK;
}

/* One automatic ban still in force. */
static int row_ban(struct mqsp_keys_load *l)
{
	struct mqsp_keys *k = l->k;
	void *a = k->bans;

	if (mqs_array_reserve(&a, &l->cap_bans, k->nbans + 1, sizeof(*k->bans), SIZE_MAX, 0) !=
	    MQS_OK)
		return MQS_ERR_NOMEM;
	k->bans = a;
	k->bans[k->nbans++] = sqlite3_column_int64(l->st, 0);
	return MQS_OK;
}

/* Start a load. */
int mqsp_keys_load_start(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                         struct mqsp_keys_load **out)
{
	struct mqsp_keys_load *l = mqs_calloc(1, sizeof(*l));

	*out = NULL;
	if (l == NULL)
		return MQS_ERR_NOMEM;
	l->k = mqs_calloc(1, sizeof(*l->k));
	if (l->k == NULL) {
		mqs_free(l);
		return MQS_ERR_NOMEM;
	}
	l->db = db;
	l->mk = mk;
	l->now = now;
	l->phase = LP_PROTECTED;
	*out = l;
	return MQS_OK;
}

/* Step the rows of the current phase until done or out of time. */
static int phase_rows(struct mqsp_keys_load *l, double deadline_ms, int *done)
{
	int (*row)(struct mqsp_keys_load *) = l->phase == LP_PROTECTED     ? row_protected
	                                      : l->phase == LP_DEVICE_KEYS ? row_device_key
	                                      : l->phase == LP_TOPIC_KEYS  ? row_topic_key
	                                                                   : row_ban;
	int rc = MQS_OK;
	int r;

	*done = 0;
	if (l->st == NULL) {
		if (sqlite3_prepare_v2(l->db, load_sql[l->phase], -1, &l->st, NULL) != SQLITE_OK)
			return MQS_ERR_DB;
		if (l->phase != LP_TOPIC_KEYS)
			sqlite3_bind_int64(l->st, 1, l->now);
	}
	for (unsigned n = 1;; n++) {
		r = sqlite3_step(l->st);
		if (r != SQLITE_ROW)
			break;
		rc = row(l);
		if (rc != MQS_OK)
			return rc;
		if (n % CLOCK_EVERY == 0 && mono_ms() >= deadline_ms)
			return MQS_OK;
	}
	if (r != SQLITE_DONE)
		return MQS_ERR_DB;
	sqlite3_finalize(l->st);
	l->st = NULL;
	*done = 1;
	return MQS_OK;
}

/* Index the device keys (the array no longer moves) and order the filters.
 * MQS_ERR_NOMEM when a table cannot grow (the load is then dropped). */
static int finish(struct mqsp_keys *k)
{
	for (size_t i = 0; i < k->ndkeys; i++) {
		struct mqsp_device_key *dk = &k->dkeys[i];
		struct mqsp_device_key *dup = NULL;

		HASH_FIND(hh, k->by_id, &dk->id, sizeof(dk->id), dup);
		if (dup == NULL) {
			HASH_ADD(hh, k->by_id, id, sizeof(dk->id), dk);
			if (!mqs_uthash_added(dk, hh))
				return MQS_ERR_NOMEM;
		}
		if (dk->until != 0)
			continue;
		dup = NULL;
		HASH_FIND(hh_name, k->by_name, dk->device, strlen(dk->device), dup);
		if (dup == NULL)
			HASH_ADD(hh_name, k->by_name, device, strlen(dk->device), dk);
		else if (dk->id > dup->id)
			HASH_REPLACE(hh_name, k->by_name, device, strlen(dk->device), dk, dup);
		else
			continue;
		if (!mqs_uthash_added(dk, hh_name))
			return MQS_ERR_NOMEM;
	}
	for (size_t i = 0; i < k->ntkeys; i++) {
		struct mqsp_topic_key *tk = &k->tkeys[i];
		struct mqsp_topic_key *dup = NULL;

		HASH_FIND(hh, k->tkeys_by_id, &tk->id, sizeof(tk->id), dup);
		if (dup == NULL) {
			HASH_ADD(hh, k->tkeys_by_id, id, sizeof(tk->id), tk);
			if (!mqs_uthash_added(tk, hh))
				return MQS_ERR_NOMEM;
		}
	}
	if (k->nprotected > 1)
		qsort(k->protected, k->nprotected, sizeof(*k->protected), mqsp_keys_protected_cmp);
	return MQS_OK;
}

/* Load until done or out of time. */
int mqsp_keys_load_step(struct mqsp_keys_load *l, double deadline_ms, struct mqsp_keys **out)
{
	int rc = MQS_OK;
	int done = 0;

	*out = NULL;
	while (rc == MQS_OK && l->phase != LP_DONE) {
		if (l->phase == LP_INDEX) {
			rc = finish(l->k);
			l->phase = LP_DONE;
			break;
		}
		rc = phase_rows(l, deadline_ms, &done);
		if (rc != MQS_OK)
			break;
		if (!done)
			return MQSP_KEYS_AGAIN;
		l->phase++;
		if (mono_ms() >= deadline_ms && l->phase != LP_DONE)
			return MQSP_KEYS_AGAIN;
	}
	if (rc != MQS_OK)
		return rc;
	*out = l->k;
	l->k = NULL;
	return MQS_OK;
}

/* Abandon or finish a load. */
void mqsp_keys_load_free(struct mqsp_keys_load *l)
{
	if (l == NULL)
		return;
	sqlite3_finalize(l->st);
	mqsp_keys_free(l->k);
	mqs_free(l);
}

/* Load in one go. */
int mqsp_keys_load(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                   struct mqsp_keys **out)
{
	struct mqsp_keys_load *l = NULL;
	int rc = mqsp_keys_load_start(db, mk, now, &l);

	*out = NULL;
	if (rc != MQS_OK)
		return rc;
	do
		rc = mqsp_keys_load_step(l, 1e300, out);
	while (rc == MQSP_KEYS_AGAIN);
	mqsp_keys_load_free(l);
	return rc;
}

/* Wipe and free. */
void mqsp_keys_free(struct mqsp_keys *k)
{
	if (k == NULL)
		return;
	HASH_CLEAR(hh, k->by_id);
	HASH_CLEAR(hh_name, k->by_name);
	HASH_CLEAR(hh, k->tkeys_by_id);
	for (size_t i = 0; i < k->nprotected; i++) {
		mqs_free(k->protected[i].filter);
		OPENSSL_cleanse(k->protected[i].key, sizeof(k->protected[i].key));
	}
	mqs_free(k->protected);
	mqs_secret_free(k->dkeys, k->ndkeys * sizeof(*k->dkeys));
	mqs_secret_free(k->tkeys, k->ntkeys * sizeof(*k->tkeys));
	mqs_free(k->bans);
	mqs_free(k);
}

/* First (most specific) matching filter. */
const struct mqsp_protected *mqsp_keys_match(const struct mqsp_keys *k, const char *topic)
{
	if (k == NULL || topic == NULL)
		return NULL;
	for (size_t i = 0; i < k->nprotected; i++) {
		if (mqs_topic_matches(k->protected[i].filter, topic))
			return &k->protected[i];
	}
	return NULL;
}

/* A device key by id, if it opens at now_s. */
const struct mqsp_device_key *mqsp_keys_device(const struct mqsp_keys *k, uint32_t id,
                                               int64_t now_s)
{
	struct mqsp_device_key *dk = NULL;

	if (k == NULL || k->by_id == NULL)
		return NULL;
	HASH_FIND(hh, k->by_id, &id, sizeof(id), dk);
	if (dk != NULL && dk->until != 0 && now_s > dk->until)
		return NULL;
	return dk;
}

/* The newest active key of an enabled device, by name. */
const struct mqsp_device_key *mqsp_keys_device_named(const struct mqsp_keys *k, const char *name,
                                                     size_t name_len)
{
	struct mqsp_device_key *dk = NULL;

	if (k == NULL || k->by_name == NULL || name_len == 0 || name_len > MQSP_DEVICE_NAME_MAX)
		return NULL;
	HASH_FIND(hh_name, k->by_name, name, name_len, dk);
	return dk;
}

/* A topic key by id, any state. */
const struct mqsp_topic_key *mqsp_keys_topic(const struct mqsp_keys *k, uint32_t id)
{
	struct mqsp_topic_key *tk = NULL;

	if (k == NULL || k->tkeys_by_id == NULL)
		return NULL;
	HASH_FIND(hh, k->tkeys_by_id, &id, sizeof(id), tk);
	return tk;
}

/* Automatic bans still in force. */
size_t mqsp_keys_bans_active(const struct mqsp_keys *k, int64_t now)
{
	size_t n = 0;

	if (k == NULL)
		return 0;
	for (size_t i = 0; i < k->nbans; i++) {
		if (k->bans[i] == 0 || k->bans[i] > now)
			n++;
	}
	return n;
}
