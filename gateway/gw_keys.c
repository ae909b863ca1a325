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
#include "mqs_envelope.h"
#include "mqs_buf.h"
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
#define REFUSED_LOG_MS  10000u /* refusals to wait are logged at most this often */
#define ORIGIN_MAX      256u

/* a message sealed with a key id the gateway does not hold yet */
struct waiting {
	char *topic;
	char *origin; /* broker-stamped origin of the envelope; NULL: none */
	uint8_t *payload;
	size_t len;
	int qos, retain;
	uint32_t key_id;
	uint64_t since_ms;
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
	uint64_t refused_log_ms;     /* when a refusal to wait was last logged */
	unsigned long refused_quiet; /* refusals not logged since */
};

/* New state. */
struct gw_keys *gw_keys_new(const struct mqs_creds *creds)
{
	struct gw_keys *k = calloc(1, sizeof(*k));

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
		free(k->wait[i].topic);
		free(k->wait[i].origin);
		free(k->wait[i].payload);
	}
	free(k->wait);
	for (size_t i = 0; i < k->nasked; i++)
		free(k->asked[i].filter);
	free(k->asked);
	free(k);
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
	free(b64);
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
	env = env_len > 0 ? malloc(env_len) : NULL;
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
	free(env);
	cJSON_free(text);
}

/* Connected: ask, FILTERS_MAX filters a request. */
void gw_keys_connected(struct gw_keys *k, struct mosquitto *mosq, const char *const *filters,
                       size_t n)
{
	size_t done = 0;

	if (!can_ask(k) || n == 0)
		return;
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
	free(raw);
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
	plain = malloc(info.ciphertext_len + 1);
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
		char *copy = strdup(filter);

		if (copy == NULL || k->nasked >= ASKED_MAX ||
		    mqs_array_reserve(&arr, &cap, k->nasked + 1, sizeof(*k->asked), ASKED_MAX, 0) !=
		        MQS_OK) {
			free(copy);
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
	if (k->refused_log_ms != 0 && now_ms - k->refused_log_ms < REFUSED_LOG_MS) {
		k->refused_quiet++;
		return;
	}
	gw_log(GW_LOG_WARN,
	       "cannot keep the message on %s (key %u unknown) until its key arrives: %s (%lu "
	       "more refused since the last such warning)",
	       topic, key_id, why, k->refused_quiet);
	k->refused_log_ms = now_ms != 0 ? now_ms : 1;
	k->refused_quiet = 0;
}

/* Keep a message under an unknown key id and ask for its filter. */
int gw_keys_wait(struct gw_keys *k, struct mosquitto *mosq, const char *const *subs, size_t nsubs,
                 const struct mosquitto_message *m, uint32_t key_id, uint64_t now_ms)
{
	struct mqs_envelope_info info;
	char origin[ORIGIN_MAX];
	const char *filter;
	struct waiting *w;
	void *arr;
	size_t cap;

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
	if (mqs_envelope_parse(m->payload, (size_t)m->payloadlen, &info) == MQS_OK &&
	    info.origin_len > 0 && info.origin_len < sizeof(origin)) {
		memcpy(origin, info.origin, info.origin_len);
		origin[info.origin_len] = '\0';
	}
	if (k->nwait >= WAIT_MAX || (size_t)m->payloadlen > WAIT_BYTES - k->wait_bytes) {
		refused(k, m->topic, key_id, "the waiting room is full", now_ms);
		return 0;
	}
	if (waiting_from(k, origin[0] != '\0' ? origin : NULL, m->topic) >= WAIT_PER_ORIGIN) {
		refused(k, m->topic, key_id, "its publisher has 64 messages waiting already",
		        now_ms);
		return 0;
	}
	arr = k->wait;
	cap = k->nwait;
	if (mqs_array_reserve(&arr, &cap, k->nwait + 1, sizeof(*k->wait), WAIT_MAX, 0) != MQS_OK)
		return 0;
	k->wait = arr;
	w = &k->wait[k->nwait];
	memset(w, 0, sizeof(*w));
	w->topic = strdup(m->topic);
	w->origin = origin[0] != '\0' ? strdup(origin) : NULL;
	w->payload = malloc((size_t)m->payloadlen);
	if (w->topic == NULL || w->payload == NULL || (origin[0] != '\0' && w->origin == NULL)) {
		free(w->topic);
		free(w->origin);
		free(w->payload);
		return 0;
	}
	memcpy(w->payload, m->payload, (size_t)m->payloadlen);
	w->len = (size_t)m->payloadlen;
	w->qos = m->qos;
	w->retain = m->retain;
	w->key_id = key_id;
	w->since_ms = now_ms;
	k->nwait++;
	k->wait_bytes += w->len;
	ask_again(k, mosq, filter, now_ms);
	return 1;
}

/* Drop the waiting message i (its fields were taken or freed). */
static void wait_remove(struct gw_keys *k, size_t i)
{
	k->wait_bytes -= k->wait[i].len;
	memmove(&k->wait[i], &k->wait[i + 1], (k->nwait - i - 1) * sizeof(k->wait[0]));
	k->nwait--;
}

/* The next waiting message whose key is known now. */
int gw_keys_next_ready(struct gw_keys *k, uint64_t now_ms, char **topic, uint8_t **payload,
                       size_t *len, int *qos, int *retain)
{
	size_t i = 0;

	if (k == NULL)
		return 0;
	while (i < k->nwait) {
		struct waiting *w = &k->wait[i];

		if (mqs_creds_key_for(&k->fetched, w->key_id, w->topic) != NULL ||
		    mqs_creds_key_for(k->creds, w->key_id, w->topic) != NULL) {
			free(w->origin);
			*topic = w->topic;
			*payload = w->payload;
			*len = w->len;
			*qos = w->qos;
			*retain = w->retain;
			wait_remove(k, i);
			return 1;
		}
		if (now_ms - w->since_ms >= WAIT_MS) {
			/* said loudly: the broker did not hand out its key */
			gw_log(GW_LOG_WARN,
			       "dropped message on %s: envelope under key %u, which the broker did "
			       "not hand out within %us (no read right on a protected filter, or a "
			       "retired key)",
			       w->topic, w->key_id, WAIT_MS / 1000u);
			free(w->topic);
			free(w->origin);
			free(w->payload);
			wait_remove(k, i);
			continue;
		}
		i++;
	}
	return 0;
}

/* Messages waiting for a key. */
size_t gw_keys_waiting(const struct gw_keys *k)
{
	return k != NULL ? k->nwait : 0;
}
