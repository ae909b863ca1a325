/* SPDX-License-Identifier: BSD-3-Clause */
/* keyfetch.c - requests and answers of online topic keys (see keyfetch.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "device.h"
#include "keyfetch.h"
#include "mqs_envelope.h"
#include "mqs_kdf.h"
#include "mqs_util.h"

#define ANSWER_MAX (512u * 1024u)

/* The answer topic. */
const char *dev_keys_topic(const struct mqs_creds *cr, char *buf, size_t cap)
{
	int n;

	if (cr->username == NULL)
		return NULL;
	n = snprintf(buf, cap, "%s%s", DEV_KEYS_PREFIX, cr->username);
	return n > 0 && (size_t)n < cap ? buf : NULL;
}

/* Seal and publish a request. */
int dev_keys_request(struct dev_conn *c, const char *const *filters, size_t n,
                     uint8_t nonce[DEV_KEYS_NONCE_LEN])
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = NULL;
	char *nonce_b64 = NULL;
	char *text = NULL;
	uint8_t *env = NULL;
	size_t env_len = 0;
	int ex = EX_SOFTWARE;
	int rc;

	if (n == 0 || n > DEV_KEYS_MAX) {
		dev_err("cannot ask for keys: give 1 to %d filters", DEV_KEYS_MAX);
		ex = EX_USAGE;
		goto out;
	}
	if (root == NULL || RAND_bytes(nonce, DEV_KEYS_NONCE_LEN) != 1 ||
	    mqs_base64_encode(nonce, DEV_KEYS_NONCE_LEN, &nonce_b64) != MQS_OK)
		goto fail;
	arr = cJSON_AddArrayToObject(root, "filters");
	if (arr == NULL || cJSON_AddStringToObject(root, "nonce", nonce_b64) == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		cJSON *s = cJSON_CreateString(filters[i]);

		if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
			cJSON_Delete(s);
			goto fail;
		}
	}
	text = cJSON_PrintUnformatted(root);
	if (text == NULL)
		goto fail;
	ex = dev_pub_seal(c->ctx, DEV_KEYS_REQ_TOPIC, (const uint8_t *)text, strlen(text), &env,
	                  &env_len);
	if (ex != EX_OK)
		goto out;
	/* QoS 0: the broker consumes the request (docs/payload-encryption.md) */
	rc = mosquitto_publish(c->mosq, NULL, DEV_KEYS_REQ_TOPIC, (int)env_len, env, 0, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		dev_err("cannot send the key request: %s", mosquitto_strerror(rc));
		ex = EX_UNAVAILABLE;
		goto out;
	}
	ex = EX_OK;
	goto out;
fail:
	dev_err("cannot build the key request: out of memory");
	ex = EX_OSERR;
out:
	free(env);
	cJSON_free(text);
	free(nonce_b64);
	cJSON_Delete(root);
	return ex;
}

/* Wipe and free. */
void dev_keys_answer_release(struct dev_keys_answer *a)
{
	if (a == NULL)
		return;
	mqs_creds_release(&a->keys);
	for (size_t i = 0; i < a->nrefused; i++)
		free(a->refused[i]);
	memset(a, 0, sizeof(*a));
}

/* The "refused" and "nonce" fields of an answer. */
static int answer_extra(const char *json, size_t len, struct dev_keys_answer *a)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *ref, *nonce, *item;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	int rc = MQS_ERR_PARSE;

	if (root == NULL)
		goto out;
	ref = cJSON_GetObjectItemCaseSensitive(root, "refused");
	nonce = cJSON_GetObjectItemCaseSensitive(root, "nonce");
	if (!cJSON_IsString(nonce) || nonce->valuestring == NULL ||
	    mqs_base64_decode(nonce->valuestring, strlen(nonce->valuestring), DEV_KEYS_NONCE_LEN,
	                      &raw, &raw_len) != MQS_OK ||
	    raw_len != DEV_KEYS_NONCE_LEN)
		goto out;
	memcpy(a->nonce, raw, DEV_KEYS_NONCE_LEN);
	cJSON_ArrayForEach(item, ref)
	{
		if (!cJSON_IsString(item) || a->nrefused >= DEV_KEYS_MAX)
			continue;
		a->refused[a->nrefused] = strdup(item->valuestring);
		if (a->refused[a->nrefused] != NULL)
			a->nrefused++;
	}
	rc = MQS_OK;
out:
	free(raw);
	cJSON_Delete(root);
	return rc;
}

/* Open and parse an answer. */
int dev_keys_answer_open(const struct mqs_creds *cr, const char *topic, const uint8_t *payload,
                         size_t len, struct dev_keys_answer *out)
{
	const struct mqs_creds_key *dk = mqs_creds_device_key(cr);
	struct mqs_envelope_info info;
	uint8_t ak[MQS_KDF_KEY_LEN];
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	mqs_creds_init(&out->keys);
	if (dk == NULL)
		return MQS_ERR_NOENT;
	rc = mqs_envelope_parse(payload, len, &info);
	if (rc != MQS_OK)
		return rc;
	if (info.key_id != dk->id || info.ciphertext_len > ANSWER_MAX)
		return MQS_ERR_ENV_KEYID;
	rc = mqs_kdf_keys_answer(dk->key, ak);
	if (rc != MQS_OK)
		return rc;
	plain = malloc(info.ciphertext_len + 1);
	if (plain == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	rc = mqs_envelope_open(ak, dk->id, payload, len, topic, strlen(topic), plain,
	                       info.ciphertext_len + 1, &plain_len, NULL);
	if (rc != MQS_OK)
		goto out;
	rc = mqs_creds_parse((const char *)plain, plain_len, &out->keys, NULL, 0);
	if (rc == MQS_OK)
		rc = answer_extra((const char *)plain, plain_len, out);
	for (size_t i = 0; rc == MQS_OK && i < out->keys.nkeys; i++) {
		if (out->keys.keys[i].use != MQS_CREDS_USE_TOPIC)
			rc = MQS_ERR_PARSE; /* an answer carries topic keys only */
	}
out:
	OPENSSL_cleanse(ak, sizeof(ak));
	mqs_secret_free(plain, info.ciphertext_len + 1);
	if (rc != MQS_OK)
		dev_keys_answer_release(out);
	return rc;
}

/* Drop the topic keys of filter from cr. */
static void drop_filter(struct mqs_creds *cr, const char *filter)
{
	size_t o = 0;

	for (size_t i = 0; i < cr->nkeys; i++) {
		struct mqs_creds_key *k = &cr->keys[i];

		if (k->use == MQS_CREDS_USE_TOPIC && k->topic != NULL &&
		    strcmp(k->topic, filter) == 0) {
			OPENSSL_cleanse(k->key, sizeof(k->key));
			free(k->topic);
			free(k->name);
			continue;
		}
		if (o != i)
			cr->keys[o] = *k;
		o++;
	}
	for (size_t i = o; i < cr->nkeys; i++)
		memset(&cr->keys[i], 0, sizeof(cr->keys[i]));
	cr->nkeys = o;
}

/* Merge into cr. */
int dev_keys_merge(struct mqs_creds *cr, const struct dev_keys_answer *a)
{
	int rc = MQS_OK;

	if (a->keys.keys_issued_ms > cr->keys_issued_ms)
		cr->keys_issued_ms = a->keys.keys_issued_ms;
	for (size_t i = 0; i < a->keys.nprotected; i++)
		drop_filter(cr, a->keys.protected_filters[i]);
	for (size_t i = 0; rc == MQS_OK && i < a->keys.nkeys; i++) {
		const struct mqs_creds_key *k = &a->keys.keys[i];

		if (mqs_creds_find_key(cr, k->id) == NULL)
			rc = mqs_creds_add_key(cr, k->id, MQS_CREDS_USE_TOPIC, k->topic, k->key);
	}
	for (size_t i = 0; rc == MQS_OK && i < a->keys.nprotected; i++) {
		const char *f = a->keys.protected_filters[i];
		int have = 0;

		for (size_t j = 0; j < cr->nprotected && !have; j++)
			have = strcmp(cr->protected_filters[j], f) == 0;
		if (!have)
			rc = mqs_creds_add_protected(cr, f);
	}
	return rc;
}

/* Merge into the file. */
int dev_keys_save(const char *path, const struct dev_keys_answer *a)
{
	struct mqs_creds file;
	char err[256] = "";
	int rc;
	int ex = EX_OK;

	mqs_creds_init(&file);
	if (path == NULL) {
		dev_err("cannot keep the keys: no credentials file (-c CREDS)");
		return EX_USAGE;
	}
	rc = mqs_creds_load(path, &file, err, sizeof(err));
	if (rc == MQS_OK)
		rc = dev_keys_merge(&file, a);
	if (rc == MQS_OK)
		rc = mqs_creds_save(path, &file);
	if (rc != MQS_OK) {
		dev_err("cannot write the keys into %s: %s", path,
		        err[0] != '\0' ? err : mqs_strerror(rc));
		ex = EX_CANTCREAT;
	}
	mqs_creds_release(&file);
	return ex;
}

/* The filters to ask for: filter, and the protected ones without a key. */
static size_t auto_filters(const struct mqs_creds *cr, const char *filter, const char **out,
                           int missing_only)
{
	size_t n = 0;
	int have = 0;

	for (size_t i = 0; i < cr->nkeys && !have; i++)
		have = cr->keys[i].use == MQS_CREDS_USE_TOPIC && cr->keys[i].topic != NULL &&
		       strcmp(cr->keys[i].topic, filter) == 0;
	if (!have || !missing_only)
		out[n++] = filter;
	for (size_t i = 0; i < cr->nprotected && n < DEV_KEYS_MAX; i++) {
		const char *f = cr->protected_filters[i];
		int keyed = 0;

		for (size_t j = 0; j < cr->nkeys && !keyed; j++)
			keyed = cr->keys[j].use == MQS_CREDS_USE_TOPIC &&
			        cr->keys[j].topic != NULL && strcmp(cr->keys[j].topic, f) == 0;
		if ((!keyed || !missing_only) && strcmp(f, filter) != 0)
			out[n++] = f;
	}
	return n;
}

/* Send a request for the filters of a (missing ones only at start). */
static int auto_request(struct dev_keys_auto *a, struct dev_conn *c, int missing_only)
{
	const char *filters[DEV_KEYS_MAX];
	size_t n = auto_filters(&c->ctx->creds, a->filter, filters, missing_only);
	int ex;

	if (n == 0)
		return EX_OK;
	ex = dev_keys_request(c, filters, n, a->nonce);
	if (ex == EX_OK) {
		a->waiting = 1;
		a->last_req = time(NULL);
	}
	return ex;
}

/* Start. */
int dev_keys_auto_start(struct dev_keys_auto *a, struct dev_conn *c, const char *filter)
{
	int rc;

	if (!a->enabled || mqs_creds_device_key(&c->ctx->creds) == NULL ||
	    dev_keys_topic(&c->ctx->creds, a->topic, sizeof(a->topic)) == NULL) {
		a->enabled = 0;
		return EX_OK;
	}
	a->filter = filter;
	rc = mosquitto_subscribe(c->mosq, NULL, a->topic, 1);
	if (rc != MOSQ_ERR_SUCCESS) {
		dev_err("cannot subscribe to %s: %s", a->topic, mosquitto_strerror(rc));
		return EX_UNAVAILABLE;
	}
	return auto_request(a, c, 1);
}

/* An answer or a push? */
int dev_keys_auto_message(struct dev_keys_auto *a, struct dev_conn *c,
                          const struct mosquitto_message *m)
{
	static const uint8_t zero[DEV_KEYS_NONCE_LEN];
	struct dev_keys_answer ans;

	if (!a->enabled || m->topic == NULL)
		return 0;
	if (strcmp(m->topic, DEV_KEYS_REQ_TOPIC) == 0)
		return 1; /* a request (ours, through a broker without the plugin) */
	if (strcmp(m->topic, a->topic) != 0)
		return 0;
	if (dev_keys_answer_open(&c->ctx->creds, m->topic, m->payload, (size_t)m->payloadlen,
	                         &ans) != MQS_OK)
		return 1;
	if (CRYPTO_memcmp(ans.nonce, a->nonce, sizeof(a->nonce)) != 0 &&
	    CRYPTO_memcmp(ans.nonce, zero, sizeof(zero)) != 0) {
		dev_keys_answer_release(&ans); /* the answer of an older request */
		return 1;
	}
	if (CRYPTO_memcmp(ans.nonce, zero, sizeof(zero)) != 0) {
		/* one answer per request: the nonce is used up, so the answer
		 * replayed later no longer matches */
		a->waiting = 0;
		if (RAND_bytes(a->nonce, sizeof(a->nonce)) != 1)
			memset(a->nonce, 0xa5, sizeof(a->nonce));
		if (mqs_creds_answer_stale(&c->ctx->creds, &ans.keys)) {
			/* held back on the path past a push of newer keys */
			dev_err("dropped a key answer older than the keys held (delayed?)");
			dev_keys_answer_release(&ans);
			return 1;
		}
	} else if (mqs_creds_push_stale(&c->ctx->creds, &ans.keys)) {
		/* a push carries no nonce: an old one replayed must not roll the
		 * keys back (docs/payload-encryption.md, "Online keys") */
		dev_err("dropped a key push older than the keys held (replayed?)");
		dev_keys_answer_release(&ans);
		return 1;
	}
	if (ans.keys.nkeys > 0) {
		if (dev_keys_merge(&c->ctx->creds, &ans) != MQS_OK)
			dev_err("cannot merge the fetched keys: out of memory");
		else if (c->ctx->creds_path != NULL)
			(void)dev_keys_save(c->ctx->creds_path, &ans);
		if (!c->quiet)
			fprintf(stderr, DEV_PROG ": fetched %zu topic keys\n", ans.keys.nkeys);
	}
	dev_keys_answer_release(&ans);
	return 1;
}

/* Keep a message with an unknown key id and ask. */
int dev_keys_auto_unknown(struct dev_keys_auto *a, struct dev_conn *c,
                          const struct mosquitto_message *m)
{
	struct dev_keys_held *h;

	if (!a->enabled || a->nheld >= DEV_KEYS_AUTO_HELD || m->topic == NULL)
		return 0;
	h = &a->held[a->nheld];
	h->topic = strdup(m->topic);
	h->payload = malloc((size_t)m->payloadlen + 1);
	if (h->topic == NULL || h->payload == NULL) {
		free(h->topic);
		free(h->payload);
		return 0;
	}
	memcpy(h->payload, m->payload, (size_t)m->payloadlen);
	h->len = (size_t)m->payloadlen;
	a->nheld++;
	if (!a->waiting || time(NULL) - a->last_req >= DEV_KEYS_AUTO_EVERY_S) {
		if (auto_request(a, c, 0) != EX_OK)
			a->waiting = 0;
	}
	return 1;
}

/* Hand back a kept message once no answer is awaited (or the wait is over). */
int dev_keys_auto_next(struct dev_keys_auto *a, char **topic, uint8_t **payload, size_t *len)
{
	if (a->nheld == 0)
		return 0;
	if (a->waiting && time(NULL) - a->last_req < 2 * DEV_KEYS_AUTO_EVERY_S)
		return 0;
	a->waiting = 0;
	*topic = a->held[0].topic;
	*payload = a->held[0].payload;
	*len = a->held[0].len;
	memmove(&a->held[0], &a->held[1], (a->nheld - 1) * sizeof(a->held[0]));
	a->nheld--;
	return 1;
}

/* Free what is kept. */
void dev_keys_auto_release(struct dev_keys_auto *a)
{
	for (size_t i = 0; i < a->nheld; i++) {
		free(a->held[i].topic);
		free(a->held[i].payload);
	}
	a->nheld = 0;
}
