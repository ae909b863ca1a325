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
