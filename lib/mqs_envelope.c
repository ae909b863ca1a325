/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_envelope.c - envelope v1 seal/open over OpenSSL EVP AES-256-GCM. */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mqs_envelope.h"
#include "mqs_envelope_ctx.h"
#include "mqs_error.h"

/* Big-endian 32-bit value at p. */
static uint32_t get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Big-endian 64-bit value at p. */
static uint64_t get_be64(const uint8_t *p)
{
	return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

/* Return the envelope size, or 0 when a cap is exceeded. */
size_t mqs_envelope_sealed_len(size_t origin_len, size_t plain_len)
{
	if (origin_len > MQS_ENVELOPE_ORIGIN_MAX || plain_len > MQS_ENVELOPE_PLAIN_MAX)
		return 0;
	return MQS_ENVELOPE_HDR_LEN + origin_len + plain_len + MQS_ENVELOPE_TAG_LEN;
}

/* Validate a topic name for use as AAD. */
int mqs_envelope_topic_check(const char *topic, size_t topic_len)
{
	if (topic == NULL || topic_len == 0 || topic_len > MQS_ENVELOPE_TOPIC_MAX)
		return MQS_ERR_ENV_TOPIC;
	for (size_t i = 0; i < topic_len; i++) {
		if (topic[i] == '+' || topic[i] == '#' || topic[i] == '\0')
			return MQS_ERR_ENV_TOPIC;
	}
	return MQS_OK;
}

/* Seal plain for topic; see header.  One-shot: a context for one call. */
int mqs_envelope_seal(const uint8_t key[MQS_ENVELOPE_KEY_LEN], uint32_t key_id,
                      uint64_t timestamp_ms, const uint8_t *nonce, const char *origin,
                      size_t origin_len, const char *topic, size_t topic_len, const uint8_t *plain,
                      size_t plain_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct mqs_envelope_ctx *c = NULL;
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	rc = mqs_envelope_ctx_new(&c);
	if (rc != MQS_OK)
		goto out;
	rc = mqs_envelope_ctx_seal(c, key, key_id, timestamp_ms, nonce, origin, origin_len, topic,
	                           topic_len, plain, plain_len, out, out_cap, out_len);
out:
	mqs_envelope_ctx_free(c);
	return rc;
}

/* Parse the envelope header; see header. */
int mqs_envelope_parse(const uint8_t *env, size_t env_len, struct mqs_envelope_info *info)
{
	size_t origin_len;

	if (env == NULL || info == NULL)
		return MQS_ERR_INVAL;
	memset(info, 0, sizeof(*info));
	if (env_len < 1)
		return MQS_ERR_ENV_TRUNCATED;
	if (env[0] != MQS_ENVELOPE_VERSION)
		return MQS_ERR_ENV_VERSION;
	if (env_len < MQS_ENVELOPE_MIN_LEN)
		return MQS_ERR_ENV_TRUNCATED;
	if (env_len > MQS_ENVELOPE_MAX_LEN)
		return MQS_ERR_TOOBIG;
	origin_len = env[1];
	if (env_len < MQS_ENVELOPE_MIN_LEN + origin_len)
		return MQS_ERR_ENV_TRUNCATED;
	info->version = env[0];
	info->key_id = get_be32(env + 2);
	info->timestamp_ms = get_be64(env + 6);
	memcpy(info->nonce, env + 14, MQS_ENVELOPE_NONCE_LEN);
	info->origin = origin_len > 0 ? env + MQS_ENVELOPE_HDR_LEN : NULL;
	info->origin_len = origin_len;
	info->ciphertext = env + MQS_ENVELOPE_HDR_LEN + origin_len;
	info->ciphertext_len = env_len - MQS_ENVELOPE_MIN_LEN - origin_len;
	if (info->ciphertext_len > MQS_ENVELOPE_PLAIN_MAX)
		return MQS_ERR_TOOBIG;
	return MQS_OK;
}

/* Open an envelope; see header.  One-shot: a context for one call. */
int mqs_envelope_open(const uint8_t key[MQS_ENVELOPE_KEY_LEN], uint32_t key_id, const uint8_t *env,
                      size_t env_len, const char *topic, size_t topic_len, uint8_t *out,
                      size_t out_cap, size_t *out_len, struct mqs_envelope_info *info)
{
	struct mqs_envelope_ctx *c = NULL;
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	rc = mqs_envelope_ctx_new(&c);
	if (rc != MQS_OK)
		goto out;
	rc = mqs_envelope_ctx_open(c, key, key_id, env, env_len, topic, topic_len, out, out_cap,
	                           out_len, info);
out:
	mqs_envelope_ctx_free(c);
	return rc;
}

/* Deterministic re-seal nonce: HMAC-SHA256(prf_key, in)[0..11]. */
int mqs_envelope_derive_nonce(const uint8_t prf_key[32], const uint8_t *in, size_t in_len,
                              uint8_t nonce[MQS_ENVELOPE_NONCE_LEN])
{
	uint8_t mac[32];
	unsigned int n = 0;
	int rc = MQS_ERR_CRYPTO;

	if (prf_key == NULL || nonce == NULL || in == NULL)
		return MQS_ERR_INVAL;
	if (HMAC(EVP_sha256(), prf_key, 32, in, in_len, mac, &n) == NULL || n != sizeof(mac))
		goto out;
	memcpy(nonce, mac, MQS_ENVELOPE_NONCE_LEN);
	rc = MQS_OK;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}
