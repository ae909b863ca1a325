/* keys.c - protected filters, device keys and automatic bans of a snapshot. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "keys.h"
#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_keystore_unwrap.h"
#include "mqs_topic.h"

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

/* Load protected_topics with the newest active key of each filter. */
static int load_protected(struct mqsp_keys *k, sqlite3 *db, const uint8_t *mk)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = MQS_ERR_DB;
	int r;

	if (sqlite3_prepare_v2(db,
	                       "SELECT p.filter, k.id, k.wrapped FROM protected_topics p "
	                       "LEFT JOIN keys k ON k.id = (SELECT max(id) FROM keys "
	                       "WHERE purpose = 'topic' AND owner = p.filter AND state = 'active')",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *filter = (const char *)sqlite3_column_text(st, 0);
		struct mqsp_protected *pt;

		if (filter == NULL || mqs_topic_filter_check(filter) != MQS_OK) {
			k->bad_keys++;
			continue;
		}
		if (k->nprotected == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct mqsp_protected *n = realloc(k->protected, ncap * sizeof(*n));

			if (n == NULL) {
				rc = MQS_ERR_NOMEM;
				goto out;
			}
			k->protected = n;
			cap = ncap;
		}
		pt = &k->protected[k->nprotected];
		memset(pt, 0, sizeof(*pt));
		pt->filter = strdup(filter);
		if (pt->filter == NULL) {
			rc = MQS_ERR_NOMEM;
			goto out;
		}
		k->nprotected++;
		filter_shape(pt->filter, &pt->levels, &pt->wildcards);
		if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
			int64_t id = sqlite3_column_int64(st, 1);
			const uint8_t *w = sqlite3_column_blob(st, 2);
			int wl = sqlite3_column_bytes(st, 2);

			if (id >= 1 && id <= UINT32_MAX && w != NULL &&
			    mqs_keystore_unwrap(mk, (uint32_t)id, MQS_KEY_TOPIC, w, (size_t)wl,
			                        pt->key) == MQS_OK)
				pt->key_id = (uint32_t)id;
			else
				k->bad_keys++;
		}
	}
	if (r != SQLITE_DONE)
		goto out;
	if (k->nprotected > 1)
		qsort(k->protected, k->nprotected, sizeof(*k->protected), mqsp_keys_protected_cmp);
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Load the usable keys of enabled devices. */
static int load_device_keys(struct mqsp_keys *k, sqlite3 *db, const uint8_t *mk, int64_t now)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = MQS_ERR_DB;
	int r;

	if (sqlite3_prepare_v2(db,
	                       "SELECT k.id, k.owner, k.state, k.retire_after, k.wrapped "
	                       "FROM keys k JOIN devices d ON d.name = k.owner "
	                       "WHERE k.purpose = 'device' AND d.enabled = 1 "
	                       "AND (k.state = 'active' OR k.retire_after >= ?1)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *owner = (const char *)sqlite3_column_text(st, 1);
		const char *state = (const char *)sqlite3_column_text(st, 2);
		const uint8_t *w = sqlite3_column_blob(st, 4);
		int wl = sqlite3_column_bytes(st, 4);
		struct mqsp_device_key *dk;

		if (k->ndkeys == cap) {
			size_t ncap = cap == 0 ? 64 : cap * 2;
			struct mqsp_device_key *n = calloc(ncap, sizeof(*n));

			/* not realloc: the old array must be wiped */
			if (n == NULL) {
				rc = MQS_ERR_NOMEM;
				goto out;
			}
			if (k->dkeys != NULL) {
				memcpy(n, k->dkeys, k->ndkeys * sizeof(*n));
				OPENSSL_cleanse(k->dkeys, cap * sizeof(*n));
				free(k->dkeys);
			}
			k->dkeys = n;
			cap = ncap;
		}
		dk = &k->dkeys[k->ndkeys];
		if (id < 1 || id > UINT32_MAX || owner == NULL || state == NULL ||
		    strlen(owner) > MQSP_DEVICE_NAME_MAX || w == NULL ||
		    mqs_keystore_unwrap(mk, (uint32_t)id, MQS_KEY_DEVICE, w, (size_t)wl, dk->key) !=
		        MQS_OK) {
			OPENSSL_cleanse(dk, sizeof(*dk));
			k->bad_keys++;
			continue;
		}
		dk->id = (uint32_t)id;
		dk->until = strcmp(state, "active") == 0 ? 0 : sqlite3_column_int64(st, 3);
		strcpy(dk->device, owner);
		k->ndkeys++;
	}
	if (r != SQLITE_DONE)
		goto out;
	/* the array no longer moves: index it */
	for (size_t i = 0; i < k->ndkeys; i++) {
		struct mqsp_device_key *dk = &k->dkeys[i];
		struct mqsp_device_key *dup = NULL;

		HASH_FIND(hh, k->by_id, &dk->id, sizeof(dk->id), dup);
		if (dup == NULL)
			HASH_ADD(hh, k->by_id, id, sizeof(dk->id), dk);
	}
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Load the expiry times of automatic bans still in force. */
static int load_bans(struct mqsp_keys *k, sqlite3 *db, int64_t now)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = MQS_ERR_DB;
	int r;

	if (sqlite3_prepare_v2(db,
	                       "SELECT expires_at FROM list_entries WHERE kind = 'deny' "
	                       "AND created_by = 'mqttsec-plugin' AND reason = 'auth-failures' "
	                       "AND (expires_at = 0 OR expires_at > ?1)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (k->nbans == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			int64_t *n = realloc(k->bans, ncap * sizeof(*n));

			if (n == NULL) {
				rc = MQS_ERR_NOMEM;
				goto out;
			}
			k->bans = n;
			cap = ncap;
		}
		k->bans[k->nbans++] = sqlite3_column_int64(st, 0);
	}
	rc = r == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Load everything protected topics need. */
int mqsp_keys_load(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                   struct mqsp_keys **out)
{
	struct mqsp_keys *k = calloc(1, sizeof(*k));
	int rc = MQS_ERR_NOMEM;

	*out = NULL;
	if (k == NULL)
		goto out;
	rc = load_protected(k, db, mk);
	if (rc == MQS_OK)
		rc = load_device_keys(k, db, mk, now);
	if (rc == MQS_OK)
		rc = load_bans(k, db, now);
	if (rc == MQS_OK) {
		*out = k;
		k = NULL;
	}
out:
	mqsp_keys_free(k);
	return rc;
}

/* Wipe and free. */
void mqsp_keys_free(struct mqsp_keys *k)
{
	if (k == NULL)
		return;
	HASH_CLEAR(hh, k->by_id);
	for (size_t i = 0; i < k->nprotected; i++) {
		free(k->protected[i].filter);
		OPENSSL_cleanse(k->protected[i].key, sizeof(k->protected[i].key));
	}
	free(k->protected);
	if (k->dkeys != NULL)
		OPENSSL_cleanse(k->dkeys, k->ndkeys * sizeof(*k->dkeys));
	free(k->dkeys);
	free(k->bans);
	free(k);
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
