/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_keys.c - online topic keys of the gateway (see gw_keys.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "gw_keys.h"
#include "gw_log.h"
#include "gw_store.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_envelope.h"
#include "mqs_kdf.h"
#include "mqs_topic.h"
#include "mqs_util.h"

#define REQ_TOPIC   "mqttsec/keys/req"
#define PREFIX      "mqttsec/keys/"
#define NONCE_LEN   16
#define FILTERS_MAX 64 /* per request: the request format's cap (docs/payload-encryption.md) */
/* requests at connect: the plugin answers 10 at once, then one every 2 s;
 * leave room for the asks of unknown key ids */
#define BATCHES_MAX  8
#define NONCES_MAX   16 /* requests whose answers are still taken */
#define ANSWER_MAX   (512u * 1024u)
#define ASK_EVERY_MS 10000u /* a filter is asked again for an unknown key id at most this often */
#define WAIT_MS      30000u /* a message waits this long for its key */
#define WAIT_MAX     1024u  /* messages waiting for a key */
#define WAIT_BYTES   (16u * 1024u * 1024u)
#define ASKED_MAX    1024u /* filters whose last ask is remembered */
/* messages waiting per publisher (its broker-stamped origin, else the topic):
 * one publisher cannot take the whole room (docs/payload-encryption.md) */
#define WAIT_PER_ORIGIN 64u
/* messages waiting on topics no known protected filter matches, all
 * publishers together: there the origin is whatever the publisher wrote
 * (docs/payload-encryption.md, "Online keys") */
#define WAIT_UNPROTECTED 256u
#define REFUSED_LOG_MS   10000u /* refusals to wait are logged at most this often */
#define DROPPED_LOG_MS   10000u /* drops after the wait are logged at most this often */
#define ORIGIN_MAX       256u
#define BROKER_MAX       128u  /* the [broker NAME] of the stored rows */
#define OVER_MAX         4096u /* stored rows over the caps deleted at a restore */

/* at most one log line per interval, with a count of the events not logged */
struct limiter {
	uint64_t last_ms; /* when a line was last logged; 0: never */
	unsigned long quiet;
};

/* a message sealed with a key id the gateway does not hold yet */
struct waiting {
	char *topic;
	char *origin; /* broker-stamped origin of the envelope; NULL: none */
	uint8_t *payload;
	size_t len;
	int qos, retain;
	uint32_t key_id;
	uint64_t since_ms; /* arrival (Unix ms), kept across a restart */
	int64_t row;       /* its key_waits row; 0: in memory only */
};

/* when a filter was last asked for because of an unknown key id */
struct asked {
	char *filter;
	uint64_t at_ms;
};

struct gw_keys {
	const struct mqs_creds *creds;
	struct mqs_creds fetched;
	char topic[MQS_CREDS_USERNAME_MAX + sizeof(PREFIX)];
	uint8_t nonces[NONCES_MAX][NONCE_LEN]; /* of the latest requests (a ring) */
	size_t next_nonce;
	struct waiting *wait; /* oldest first */
	size_t nwait, wait_bytes;
	struct asked *asked;
	size_t nasked;
	struct limiter refused;  /* refusals to wait */
	struct limiter dropped;  /* drops after the wait */
	struct limiter unstored; /* waits the database refused to keep */
	struct gw_store *store;  /* NULL: the room is in memory only */
	char broker[BROKER_MAX]; /* the rows of this broker */
};

/* 1 when a line may be logged now (then it should name, and this resets,
 * l->quiet), else 0 and the event is counted in l->quiet. */
static int limiter_pass(struct limiter *l, uint64_t now_ms, uint64_t every_ms)
{
	if (l->last_ms != 0 && now_ms - l->last_ms < every_ms) {
		l->quiet++;
		return 0;
	}
	l->last_ms = now_ms != 0 ? now_ms : 1;
	return 1;
}

/* New state. */
struct gw_keys *gw_keys_new(const struct mqs_creds *creds)
{
	struct gw_keys *k = mqs_calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	k->creds = creds;
	mqs_creds_init(&k->fetched);
	if (creds->username != NULL)
		snprintf(k->topic, sizeof(k->topic), "%s%s", PREFIX, creds->username);
	return k;
}

/* Wipe and free. */
void gw_keys_free(struct gw_keys *k)
{
	if (k == NULL)
		return;
	mqs_creds_release(&k->fetched);
	for (size_t i = 0; i < k->nwait; i++) {
		mqs_free(k->wait[i].topic);
		mqs_free(k->wait[i].origin);
		mqs_secret_free(k->wait[i].payload, k->wait[i].len);
	}
	mqs_free(k->wait);
	for (size_t i = 0; i < k->nasked; i++)
		mqs_free(k->asked[i].filter);
	mqs_free(k->asked);
	mqs_free(k);
}

/* The request plaintext for the filters. */
static char *request_text(const uint8_t nonce[NONCE_LEN], const char *const *filters, size_t n)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = root != NULL ? cJSON_AddArrayToObject(root, "filters") : NULL;
	char *b64 = NULL;
	char *text = NULL;

	if (arr == NULL || mqs_base64_encode(nonce, NONCE_LEN, &b64) != MQS_OK ||
	    cJSON_AddStringToObject(root, "nonce", b64) == NULL)
		goto out;
	for (size_t i = 0; i < n && i < FILTERS_MAX; i++) {
		cJSON *s = cJSON_CreateString(filters[i]);

		if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
			cJSON_Delete(s);
			goto out;
		}
	}
	text = cJSON_PrintUnformatted(root);
out:
	mqs_free(b64);
	cJSON_Delete(root);
	return text;
}

/* 1 when the gateway may ask (a device key, TOTP, an answer topic). */
static int can_ask(const struct gw_keys *k)
{
	return k != NULL && mqs_creds_device_key(k->creds) != NULL && k->creds->has_totp &&
	       k->topic[0] != '\0';
}

/* Send one request for n (1..FILTERS_MAX) filters under a fresh nonce. */
static void ask(struct gw_keys *k, struct mosquitto *mosq, const char *const *filters, size_t n)
{
	const struct mqs_creds_key *dk = mqs_creds_device_key(k->creds);
	uint8_t *nonce = k->nonces[k->next_nonce];
	char *text = NULL;
	uint8_t *env = NULL;
	size_t env_len = 0;
	int rc;

	if (RAND_bytes(nonce, NONCE_LEN) != 1)
		return;
	k->next_nonce = (k->next_nonce + 1) % NONCES_MAX;
	text = request_text(nonce, filters, n);
	if (text == NULL)
		goto nomem;
	env_len = mqs_envelope_sealed_len(0, strlen(text));
	env = env_len > 0 ? mqs_malloc(env_len) : NULL;
	if (env == NULL)
		goto nomem;
	rc = mqs_envelope_seal(dk->key, dk->id, mqs_now_ms(), NULL, NULL, 0, REQ_TOPIC,
	                       strlen(REQ_TOPIC), (const uint8_t *)text, strlen(text), env, env_len,
	                       &env_len);
	if (rc == MQS_OK)
		rc = mosquitto_subscribe(mosq, NULL, k->topic, 1) == MOSQ_ERR_SUCCESS ? MQS_OK
		                                                                      : MQS_ERR_IO;
	/* QoS 0: the broker consumes requests (docs/payload-encryption.md) */
	if (rc == MQS_OK)
		rc = mosquitto_publish(mosq, NULL, REQ_TOPIC, (int)env_len, env, 0, false) ==
		             MOSQ_ERR_SUCCESS
		         ? MQS_OK
		         : MQS_ERR_IO;
	if (rc != MQS_OK)
		gw_log(GW_LOG_WARN, "cannot ask the broker for topic keys: %s", mqs_strerror(rc));
	goto out;
nomem:
	gw_log(GW_LOG_WARN, "cannot ask the broker for topic keys: out of memory");
out:
	mqs_free(env);
	cJSON_free(text);
}

static const char *filter_for(const struct gw_keys *k, const char *topic, const char *const *subs,
                              size_t nsubs);

/* Connected: ask, FILTERS_MAX filters a request. */
void gw_keys_connected(struct gw_keys *k, struct mosquitto *mosq, const char *const *filters,
                       size_t n)
{
	const char **all = NULL;
	size_t done = 0;

	if (!can_ask(k) || n + k->nwait == 0)
		return;
	/* the filters of messages waiting (also since before a restart) come
	 * first, so that they are asked for whatever the subscriptions */
	if (k->nwait > 0) {
		all = mqs_calloc(k->nwait + n, sizeof(*all));
		if (all != NULL) {
			size_t m = 0;

			for (size_t i = 0; i < k->nwait; i++) {
				const char *f = filter_for(k, k->wait[i].topic, filters, n);
				int seen = f == NULL;

				for (size_t j = 0; j < m && !seen; j++)
					seen = strcmp(all[j], f) == 0;
				if (!seen)
					all[m++] = f;
			}
			for (size_t i = 0; i < n; i++) {
				int seen = 0;

				for (size_t j = 0; j < m && !seen; j++)
					seen = strcmp(all[j], filters[i]) == 0;
				if (!seen)
					all[m++] = filters[i];
			}
			filters = all;
			n = m;
		}
	}
	for (size_t b = 0; b < BATCHES_MAX && done < n; b++) {
		size_t take = n - done < FILTERS_MAX ? n - done : FILTERS_MAX;

		ask(k, mosq, filters + done, take);
		done += take;
	}
	/* never dropped silently: name each filter not asked for */
	for (size_t i = done; i < n; i++)
		gw_log(GW_LOG_WARN,
		       "not asking the broker for the topic keys of %s at connect: over %d filters "
		       "(it is asked when a message under an unknown key id arrives)",
		       filters[i], BATCHES_MAX * FILTERS_MAX);
	mqs_free(all);
}

/* The nonce of an answer plaintext; 0 when it has none. */
static int answer_nonce(const char *json, size_t len, uint8_t nonce[NONCE_LEN])
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *n = root != NULL ? cJSON_GetObjectItemCaseSensitive(root, "nonce") : NULL;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	int ok = 0;

	if (cJSON_IsString(n) && n->valuestring != NULL &&
	    mqs_base64_decode(n->valuestring, strlen(n->valuestring), NONCE_LEN, &raw, &raw_len) ==
	        MQS_OK &&
	    raw_len == NONCE_LEN) {
		memcpy(nonce, raw, NONCE_LEN);
		ok = 1;
	}
	mqs_free(raw);
	cJSON_Delete(root);
	return ok;
}

/* Merge the topic keys of an answer: the filters it grants are replaced. */
static int merge(struct gw_keys *k, const struct mqs_creds *a)
{
	struct mqs_creds next;
	int rc = MQS_OK;

	mqs_creds_init(&next);
	for (size_t i = 0; rc == MQS_OK && i < k->fetched.nkeys; i++) {
		const struct mqs_creds_key *o = &k->fetched.keys[i];
		int replaced = 0;

		for (size_t j = 0; j < a->nprotected && !replaced; j++)
			replaced = strcmp(a->protected_filters[j], o->topic) == 0;
		if (!replaced)
			rc = mqs_creds_add_key(&next, o->id, MQS_CREDS_USE_TOPIC, o->topic, o->key);
	}
	for (size_t i = 0; rc == MQS_OK && i < a->nkeys; i++) {
		const struct mqs_creds_key *o = &a->keys[i];

		if (o->use == MQS_CREDS_USE_TOPIC && o->topic != NULL)
			rc = mqs_creds_add_key(&next, o->id, MQS_CREDS_USE_TOPIC, o->topic, o->key);
	}
	if (rc == MQS_OK) {
		next.keys_issued_ms = a->keys_issued_ms > k->fetched.keys_issued_ms
		                          ? a->keys_issued_ms
		                          : k->fetched.keys_issued_ms;
		mqs_creds_release(&k->fetched);
		k->fetched = next;
	} else {
		mqs_creds_release(&next);
	}
	return rc;
}

/* A message on mqttsec/keys/? */
int gw_keys_message(struct gw_keys *k, const struct mosquitto_message *m)
{
	static const uint8_t zero[NONCE_LEN];
	const struct mqs_creds_key *dk;
	struct mqs_envelope_info info;
	struct mqs_creds a;
	uint8_t ak[MQS_KDF_KEY_LEN];
	uint8_t nonce[NONCE_LEN];
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	int rc;

	if (k == NULL || m->topic == NULL || strncmp(m->topic, PREFIX, sizeof(PREFIX) - 1) != 0)
		return 0;
	dk = mqs_creds_device_key(k->creds);
	if (strcmp(m->topic, k->topic) != 0 || dk == NULL ||
	    mqs_envelope_parse(m->payload, (size_t)m->payloadlen, &info) != MQS_OK ||
	    info.key_id != dk->id || info.ciphertext_len > ANSWER_MAX)
		return 1;
	mqs_creds_init(&a);
	if (mqs_kdf_keys_answer(dk->key, ak) != MQS_OK)
		return 1;
	plain = mqs_malloc(info.ciphertext_len + 1);
	if (plain == NULL)
		goto out;
	rc = mqs_envelope_open(ak, dk->id, m->payload, (size_t)m->payloadlen, m->topic,
	                       strlen(m->topic), plain, info.ciphertext_len + 1, &plain_len, NULL);
	if (rc != MQS_OK) {
		gw_log(GW_LOG_WARN, "dropped a key answer that does not open: %s",
		       mqs_strerror(rc));
		goto out;
	}
	if (!answer_nonce((const char *)plain, plain_len, nonce))
		goto out;
	{
		int ours = CRYPTO_memcmp(nonce, zero, NONCE_LEN) == 0;

		for (size_t i = 0; i < NONCES_MAX && !ours; i++) {
			ours = CRYPTO_memcmp(nonce, k->nonces[i], NONCE_LEN) == 0;
			/* one answer per request: the nonce is used up, so the
			 * answer replayed later no longer matches */
			if (ours && RAND_bytes(k->nonces[i], NONCE_LEN) != 1)
				memset(k->nonces[i], 0xa5, NONCE_LEN);
		}
		if (!ours)
			goto out; /* the answer of a request long gone */
	}
	if (mqs_creds_parse((const char *)plain, plain_len, &a, NULL, 0) != MQS_OK)
		goto out;
	/* a push carries no nonce: an old one replayed must not roll the keys
	 * back; an answer held back on the path past a push of newer keys
	 * neither (docs/payload-encryption.md, "Online keys") */
	if (CRYPTO_memcmp(nonce, zero, NONCE_LEN) == 0 && mqs_creds_push_stale(&k->fetched, &a)) {
		gw_log(GW_LOG_WARN, "dropped a key push older than the keys held (replayed?)");
		goto out;
	}
	if (CRYPTO_memcmp(nonce, zero, NONCE_LEN) != 0 && mqs_creds_answer_stale(&k->fetched, &a)) {
		gw_log(GW_LOG_WARN, "dropped a key answer older than the keys held (delayed?)");
		goto out;
	}
	if (merge(k, &a) != MQS_OK) {
		gw_log(GW_LOG_WARN, "cannot keep the fetched topic keys: out of memory");
		goto out;
	}
	gw_log(GW_LOG_INFO, "fetched %zu topic keys of %zu filters from the broker", a.nkeys,
	       a.nprotected);
out:
	OPENSSL_cleanse(ak, sizeof(ak));
	mqs_creds_release(&a);
	if (plain != NULL)
		mqs_secret_free(plain, info.ciphertext_len + 1);
	return 1;
}

/* The fetched keys. */
const struct mqs_creds *gw_keys_creds(const struct gw_keys *k)
{
	return &k->fetched;
}

/* The filter to ask for topic: a protected filter known (credentials file
 * or fetched) matching it, else a subscription matching it; NULL: none. */
static const char *filter_for(const struct gw_keys *k, const char *topic, const char *const *subs,
                              size_t nsubs)
{
	const struct mqs_creds *cs[2] = {k->creds, &k->fetched};

	for (size_t c = 0; c < 2; c++) {
		for (size_t i = 0; i < cs[c]->nprotected; i++) {
			if (mqs_topic_matches(cs[c]->protected_filters[i], topic))
				return cs[c]->protected_filters[i];
		}
	}
	for (size_t i = 0; i < nsubs; i++) {
		if (mqs_topic_matches(subs[i], topic))
			return subs[i];
	}
	return NULL;
}

/* Ask for filter unless it was asked for within ASK_EVERY_MS. */
static void ask_again(struct gw_keys *k, struct mosquitto *mosq, const char *filter,
                      uint64_t now_ms)
{
	struct asked *a = NULL;

	for (size_t i = 0; i < k->nasked && a == NULL; i++) {
		if (strcmp(k->asked[i].filter, filter) == 0)
			a = &k->asked[i];
	}
	if (a != NULL && now_ms - a->at_ms < ASK_EVERY_MS)
		return;
	if (a == NULL) {
		void *arr = k->asked;
		size_t cap = k->nasked;
		char *copy = mqs_strdup(filter);

		if (copy == NULL || k->nasked >= ASKED_MAX ||
		    mqs_array_reserve(&arr, &cap, k->nasked + 1, sizeof(*k->asked), ASKED_MAX, 0) !=
		        MQS_OK) {
			mqs_free(copy);
			return; /* not remembered: not asked (no flood) */
		}
		k->asked = arr;
		a = &k->asked[k->nasked++];
		a->filter = copy;
	}
	a->at_ms = now_ms;
	gw_log(GW_LOG_INFO, "asking the broker again for the topic keys of %s (unknown key id)",
	       filter);
	ask(k, mosq, &filter, 1);
}

/* The highest topic key id held (credentials file or fetched) for exactly
 * filter; 0: none. */
static uint32_t newest_for_filter(const struct gw_keys *k, const char *filter)
{
	const struct mqs_creds *cs[2] = {k->creds, &k->fetched};
	uint32_t id = 0;

	for (size_t c = 0; c < 2; c++) {
		for (size_t i = 0; i < cs[c]->nkeys; i++) {
			const struct mqs_creds_key *key = &cs[c]->keys[i];

			if (key->use == MQS_CREDS_USE_TOPIC && key->topic != NULL &&
			    strcmp(key->topic, filter) == 0 && key->id > id)
				id = key->id;
		}
	}
	return id;
}

/* The newest key id held for topic: over the protected filters known that
 * match it, the lowest of their newest keys (a key id above it may be a
 * rotation of any of them), else that of filter; 0: none held. */
static uint32_t newest_held(const struct gw_keys *k, const char *topic, const char *filter)
{
	const struct mqs_creds *cs[2] = {k->creds, &k->fetched};
	uint32_t low = 0;
	int any = 0;

	for (size_t c = 0; c < 2; c++) {
		for (size_t i = 0; i < cs[c]->nprotected; i++) {
			uint32_t id;

			if (!mqs_topic_matches(cs[c]->protected_filters[i], topic))
				continue;
			id = newest_for_filter(k, cs[c]->protected_filters[i]);
			if (!any || id < low)
				low = id;
			any = 1;
		}
	}
	return any ? low : newest_for_filter(k, filter);
}

/* Does a protected filter known (credentials file or fetched) match topic?
 * Only there the broker wrote the origin of an envelope. */
static int topic_protected(const struct gw_keys *k, const char *topic)
{
	const struct mqs_creds *cs[2] = {k->creds, &k->fetched};

	for (size_t c = 0; c < 2; c++) {
		for (size_t i = 0; i < cs[c]->nprotected; i++) {
			if (mqs_topic_matches(cs[c]->protected_filters[i], topic))
				return 1;
		}
	}
	return 0;
}

/* Messages waiting on topics no known protected filter matches. */
static size_t waiting_unprotected(const struct gw_keys *k)
{
	size_t n = 0;

	for (size_t i = 0; i < k->nwait; i++)
		n += !topic_protected(k, k->wait[i].topic);
	return n;
}

/* Messages waiting from the publisher origin (NULL: none, then those on topic). */
static size_t waiting_from(const struct gw_keys *k, const char *origin, const char *topic)
{
	size_t n = 0;

	for (size_t i = 0; i < k->nwait; i++) {
		const struct waiting *w = &k->wait[i];

		if (origin != NULL ? w->origin != NULL && strcmp(w->origin, origin) == 0
		                   : w->origin == NULL && strcmp(w->topic, topic) == 0)
			n++;
	}
	return n;
}

/* Log that a message on topic under key_id does not wait, at most once per
 * REFUSED_LOG_MS (a flood of them must not flood the log). */
static void refused(struct gw_keys *k, const char *topic, uint32_t key_id, const char *why,
                    uint64_t now_ms)
{
	if (!limiter_pass(&k->refused, now_ms, REFUSED_LOG_MS))
		return;
	gw_log(GW_LOG_WARN,
	       "cannot keep the message on %s (key %u unknown) until its key arrives: %s (%lu "
	       "more refused since the last such warning)",
	       topic, key_id, why, k->refused.quiet);
	k->refused.quiet = 0;
}

/* Why a message of len bytes from origin (NULL: none, then topic; the
 * caller passes NULL on a topic not known to be protected) does not fit in
 * the room; NULL: it fits. */
static const char *room_full(const struct gw_keys *k, const char *origin, const char *topic,
                             size_t len)
{
	if (k->nwait >= WAIT_MAX || len > WAIT_BYTES - k->wait_bytes)
		return "the waiting room is full";
	if (!topic_protected(k, topic) && waiting_unprotected(k) >= WAIT_UNPROTECTED)
		return "the 256 places for topics not known to be protected are taken";
	if (waiting_from(k, origin, topic) >= WAIT_PER_ORIGIN)
		return "its publisher has 64 messages waiting already";
	return NULL;
}

/* Append a copy of a message to the room (the caps were checked): MQS_OK or
 * MQS_ERR_NOMEM (nothing added). */
static int room_add(struct gw_keys *k, const char *topic, const char *origin,
                    const uint8_t *payload, size_t len, int qos, int retain, uint32_t key_id,
                    uint64_t since_ms, int64_t row)
{
	struct waiting *w;
	void *arr = k->wait;
	size_t cap = k->nwait;

	if (mqs_array_reserve(&arr, &cap, k->nwait + 1, sizeof(*k->wait), WAIT_MAX, 0) != MQS_OK)
		return MQS_ERR_NOMEM;
	k->wait = arr;
	w = &k->wait[k->nwait];
	memset(w, 0, sizeof(*w));
	w->topic = mqs_strdup(topic);
	w->origin = origin != NULL ? mqs_strdup(origin) : NULL;
	w->payload = mqs_malloc(len);
	if (w->topic == NULL || w->payload == NULL || (origin != NULL && w->origin == NULL)) {
		mqs_free(w->topic);
		mqs_free(w->origin);
		mqs_free(w->payload);
		return MQS_ERR_NOMEM;
	}
	memcpy(w->payload, payload, len);
	w->len = len;
	w->qos = qos;
	w->retain = retain;
	w->key_id = key_id;
	w->since_ms = since_ms;
	w->row = row;
	k->nwait++;
	k->wait_bytes += len;
	return MQS_OK;
}

/* Store the waiting message w (still sealed) in its own transaction,
 * committed before the next message is read and made durable with the
 * batch like every message (docs/gateway.md, delivery guarantees): its
 * row, or 0 when the database refused it (logged rate-limited: it then
 * waits in memory only). */
static int64_t store_insert(struct gw_keys *k, const struct waiting *w, uint64_t now_ms)
{
	sqlite3_stmt *st;
	int64_t row = 0;
	int own_tx = !k->store->in_tx;

	gw_store_durable(k->store, 0);
	if (own_tx && gw_store_begin(k->store) != MQS_OK)
		goto out;
	st = gw_store_stmt(k->store,
	                   "INSERT INTO key_waits(broker, topic, origin, payload, qos, retain, "
	                   "key_id, arrived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, k->broker, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, w->topic, -1, SQLITE_STATIC);
		if (w->origin != NULL)
			sqlite3_bind_text(st, 3, w->origin, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, w->payload, (int)w->len, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, w->qos);
		sqlite3_bind_int(st, 6, w->retain);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)w->key_id);
		sqlite3_bind_int64(st, 8, (sqlite3_int64)w->since_ms);
		if (sqlite3_step(st) == SQLITE_DONE)
			row = sqlite3_last_insert_rowid(k->store->db);
		gw_store_done(st);
	}
	if (!own_tx)
		goto out;
	if (row == 0) {
		gw_store_rollback(k->store);
		goto out;
	}
	if (gw_store_commit(k->store) != MQS_OK)
		row = 0;
	else
		gw_store_sync_later(k->store); /* one fsync per batch (gw_store_sync) */
out:
	if (row == 0 && limiter_pass(&k->unstored, now_ms, REFUSED_LOG_MS)) {
		gw_log(GW_LOG_WARN,
		       "cannot store the message on %s waiting for key %u: it waits in memory only "
		       "(%lu more since the last such warning)",
		       w->topic, w->key_id, k->unstored.quiet);
		k->unstored.quiet = 0;
	}
	return row;
}

/* Delete a key_waits row (0: none); a failure is logged (the message then
 * comes back after a restart: alerts are deduplicated by id). */
static void store_delete(struct gw_keys *k, int64_t row)
{
	sqlite3_stmt *st;

	if (k->store == NULL || row == 0)
		return;
	st = gw_store_stmt(k->store, "DELETE FROM key_waits WHERE id = ?");
	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, row);
	if (sqlite3_step(st) != SQLITE_DONE)
		gw_log(GW_LOG_WARN, "cannot forget a message that waited for its key: %s",
		       sqlite3_errmsg(k->store->db));
	gw_store_done(st);
}

/* Keep a message under an unknown key id and ask for its filter. */
int gw_keys_wait(struct gw_keys *k, struct mosquitto *mosq, const char *const *subs, size_t nsubs,
                 const struct mosquitto_message *m, uint32_t key_id, uint64_t now_ms)
{
	struct mqs_envelope_info info;
	char origin[ORIGIN_MAX];
	const char *filter;
	const char *why;
	struct waiting *w;

	if (!can_ask(k) || m->topic == NULL || m->payloadlen <= 0)
		return 0;
	filter = filter_for(k, m->topic, subs, nsubs);
	if (filter == NULL)
		return 0;
	/* keys only grow: an id at or below the newest held cannot arrive later */
	if (key_id <= newest_held(k, m->topic, filter)) {
		refused(k, m->topic, key_id, "older than the newest key held for it", now_ms);
		return 0;
	}
	origin[0] = '\0';
	/* off the known protected topics the publisher wrote the origin: the
	 * topic stands for the publisher there (a made-up origin per message
	 * must not get 64 places each) */
	if (topic_protected(k, m->topic) &&
	    mqs_envelope_parse(m->payload, (size_t)m->payloadlen, &info) == MQS_OK &&
	    info.origin_len > 0 && info.origin_len < sizeof(origin)) {
		memcpy(origin, info.origin, info.origin_len);
		origin[info.origin_len] = '\0';
	}
	why = room_full(k, origin[0] != '\0' ? origin : NULL, m->topic, (size_t)m->payloadlen);
	if (why != NULL) {
		refused(k, m->topic, key_id, why, now_ms);
		return 0;
	}
	if (room_add(k, m->topic, origin[0] != '\0' ? origin : NULL, m->payload,
	             (size_t)m->payloadlen, m->qos, m->retain, key_id, now_ms, 0) != MQS_OK)
		return 0;
	w = &k->wait[k->nwait - 1];
	if (k->store != NULL)
		w->row = store_insert(k, w, now_ms);
	ask_again(k, mosq, filter, now_ms);
	return 1;
}

/* Take back the messages stored by an earlier run. */
int gw_keys_restore(struct gw_keys *k, struct gw_store *store, const char *broker)
{
	sqlite3_stmt *st;
	size_t n = 0, over = 0, nover = 0, cap = 0;
	int64_t *overs = NULL;
	void *arr = NULL;
	int rc = MQS_OK, step;

	k->store = store;
	snprintf(k->broker, sizeof(k->broker), "%s", broker != NULL ? broker : "");
	st = gw_store_prepare(store, "SELECT id, topic, origin, payload, qos, retain, key_id, "
	                             "arrived_at FROM key_waits WHERE broker = ? ORDER BY id");
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, k->broker, -1, SQLITE_STATIC);
	for (step = sqlite3_step(st); step == SQLITE_ROW; step = sqlite3_step(st)) {
		const char *topic = (const char *)sqlite3_column_text(st, 1);
		const char *origin = (const char *)sqlite3_column_text(st, 2);
		const uint8_t *payload = sqlite3_column_blob(st, 3);
		size_t len = (size_t)sqlite3_column_bytes(st, 3);
		int64_t row = sqlite3_column_int64(st, 0);
		int64_t key_id = sqlite3_column_int64(st, 6);
		int64_t at = sqlite3_column_int64(st, 7);

		if (origin != NULL && topic != NULL && !topic_protected(k, topic))
			origin = NULL; /* as gw_keys_wait: the publisher wrote it */
		if (topic == NULL || payload == NULL || len == 0 || key_id <= 0 ||
		    key_id > UINT32_MAX || at <= 0 || (origin != NULL && origin[0] == '\0') ||
		    room_full(k, origin, topic, len) != NULL) {
			/* deleted below, after the read */
			if (nover < OVER_MAX &&
			    mqs_array_reserve(&arr, &cap, nover + 1, sizeof(*overs), OVER_MAX, 0) ==
			        MQS_OK) {
				overs = arr;
				overs[nover++] = row;
			}
			over++;
			continue;
		}
		rc = room_add(k, topic, origin, payload, len, sqlite3_column_int(st, 4),
		              sqlite3_column_int(st, 5), (uint32_t)key_id, (uint64_t)at, row);
		if (rc != MQS_OK)
			break;
		n++;
	}
	if (rc == MQS_OK && step != SQLITE_DONE)
		rc = MQS_ERR_DB;
	sqlite3_finalize(st);
	if (rc != MQS_OK) {
		gw_log(GW_LOG_ERR, "cannot restore the messages waiting for their topic keys: %s",
		       mqs_strerror(rc));
		mqs_free(overs);
		return rc;
	}
	if (over > 0) {
		/* never silently: what the caps (or a damaged row) leave out */
		gw_log(GW_LOG_WARN,
		       "dropped %zu stored messages waiting for their topic keys: over the "
		       "waiting room's caps or unreadable",
		       over);
		for (size_t i = 0; i < nover; i++)
			store_delete(k, overs[i]);
	}
	mqs_free(overs);
	if (n > 0)
		gw_log(GW_LOG_INFO,
		       "restored %zu messages waiting for their topic keys (still sealed); their "
		       "filters are asked for at connect",
		       n);
	return MQS_OK;
}

/* Drop the waiting message i (its fields were taken or freed). */
static void wait_remove(struct gw_keys *k, size_t i)
{
	k->wait_bytes -= k->wait[i].len;
	memmove(&k->wait[i], &k->wait[i + 1], (k->nwait - i - 1) * sizeof(k->wait[0]));
	k->nwait--;
}

/* Log the drop of a message that waited too long, at most once per
 * DROPPED_LOG_MS with the number of drops not logged (a flood of bogus key
 * ids must not flood the log); w NULL: only the drops not logged yet, once
 * the interval is over. */
static void dropped(struct gw_keys *k, const struct waiting *w, uint64_t now_ms)
{
	if (w == NULL) {
		if (k->dropped.quiet == 0 ||
		    (k->dropped.last_ms != 0 && now_ms - k->dropped.last_ms < DROPPED_LOG_MS))
			return;
		gw_log(GW_LOG_WARN,
		       "dropped %lu more messages whose key the broker did not hand out within %us "
		       "since the last such warning",
		       k->dropped.quiet, WAIT_MS / 1000u);
		k->dropped.quiet = 0;
		k->dropped.last_ms = now_ms != 0 ? now_ms : 1;
		return;
	}
	if (!limiter_pass(&k->dropped, now_ms, DROPPED_LOG_MS))
		return;
	/* said loudly: the broker did not hand out its key */
	gw_log(GW_LOG_WARN,
	       "dropped message on %s: envelope under key %u, which the broker did not hand out "
	       "within %us (no read right on a protected filter, or a retired key; %lu more "
	       "dropped since the last such warning)",
	       w->topic, w->key_id, WAIT_MS / 1000u, k->dropped.quiet);
	k->dropped.quiet = 0;
}

/* The next waiting message whose key is known now. */
int gw_keys_next_ready(struct gw_keys *k, uint64_t now_ms, char **topic, uint8_t **payload,
                       size_t *len, int *qos, int *retain, int64_t *row)
{
	size_t i = 0;

	if (k == NULL)
		return 0;
	while (i < k->nwait) {
		struct waiting *w = &k->wait[i];

		if (mqs_creds_key_for(&k->fetched, w->key_id, w->topic) != NULL ||
		    mqs_creds_key_for(k->creds, w->key_id, w->topic) != NULL) {
			mqs_free(w->origin);
			*topic = w->topic;
			*payload = w->payload;
			*len = w->len;
			*qos = w->qos;
			*retain = w->retain;
			*row = w->row;
			wait_remove(k, i);
			return 1;
		}
		/* from its arrival, also across a restart; a clock set back
		 * does not keep it forever */
		if (now_ms - w->since_ms >= WAIT_MS || w->since_ms > now_ms + WAIT_MS) {
			dropped(k, w, now_ms);
			store_delete(k, w->row);
			mqs_free(w->topic);
			mqs_free(w->origin);
			mqs_secret_free(w->payload, w->len);
			wait_remove(k, i);
			continue;
		}
		i++;
	}
	dropped(k, NULL, now_ms);
	return 0;
}

/* Forget the stored copy of a message handed back. */
void gw_keys_done(struct gw_keys *k, int64_t row)
{
	if (k != NULL)
		store_delete(k, row);
}

/* Something to do in gw_keys_next_ready. */
int gw_keys_busy(const struct gw_keys *k)
{
	return k != NULL && (k->nwait > 0 || k->dropped.quiet > 0);
}

/* Messages waiting for a key. */
size_t gw_keys_waiting(const struct gw_keys *k)
{
	return k != NULL ? k->nwait : 0;
}
