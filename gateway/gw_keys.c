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
#include "mqs_kdf.h"
#include "mqs_util.h"

#define REQ_TOPIC   "mqttsec/keys/req"
#define PREFIX      "mqttsec/keys/"
#define NONCE_LEN   16
#define FILTERS_MAX 64
#define ANSWER_MAX  (512u * 1024u)

struct gw_keys {
	const struct mqs_creds *creds;
	struct mqs_creds fetched;
	char topic[MQS_CREDS_USERNAME_MAX + sizeof(PREFIX)];
	uint8_t nonce[NONCE_LEN];
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

/* Connected: ask. */
void gw_keys_connected(struct gw_keys *k, struct mosquitto *mosq, const char *const *filters,
                       size_t n)
{
	const struct mqs_creds_key *dk = k != NULL ? mqs_creds_device_key(k->creds) : NULL;
	char *text = NULL;
	uint8_t *env = NULL;
	size_t env_len = 0;
	int rc;

	if (k == NULL || dk == NULL || !k->creds->has_totp || k->topic[0] == '\0' || n == 0)
		return;
	if (RAND_bytes(k->nonce, NONCE_LEN) != 1)
		return;
	text = request_text(k->nonce, filters, n);
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
	if (!answer_nonce((const char *)plain, plain_len, nonce) ||
	    (CRYPTO_memcmp(nonce, k->nonce, NONCE_LEN) != 0 &&
	     CRYPTO_memcmp(nonce, zero, NONCE_LEN) != 0))
		goto out; /* an older request's answer */
	if (mqs_creds_parse((const char *)plain, plain_len, &a, NULL, 0) != MQS_OK)
		goto out;
	/* a push carries no nonce: an old one replayed must not roll the keys
	 * back (docs/payload-encryption.md, "Online keys") */
	if (CRYPTO_memcmp(nonce, zero, NONCE_LEN) == 0 && mqs_creds_push_stale(&k->fetched, &a)) {
		gw_log(GW_LOG_WARN, "dropped a key push older than the keys held (replayed?)");
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
