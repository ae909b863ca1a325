/* mqs_envelope.c - envelope v1 seal/open over OpenSSL EVP AES-256-GCM. */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "mqs_envelope.h"
#include "mqs_error.h"

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

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

/* Run AES-256-GCM over one buffer: encrypt when enc, else decrypt and verify
 * tag.  aad1/aad2 are fed in order.  Returns MQS_OK, MQS_ERR_ENV_AUTH (only
 * when decrypting) or MQS_ERR_CRYPTO. */
static int gcm_run(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad1,
                   size_t aad1_len, const uint8_t *aad2, size_t aad2_len, const uint8_t *in,
                   size_t in_len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t fin[MQS_ENVELOPE_TAG_LEN]; /* GCM final writes nothing; never NULL+0 */
	int rc = MQS_ERR_CRYPTO;
	int n = 0;

	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		goto out;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, MQS_ENVELOPE_NONCE_LEN, NULL) != 1)
		goto out;
	if (EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1)
		goto out;
	if (EVP_CipherUpdate(ctx, NULL, &n, aad1, (int)aad1_len) != 1)
		goto out;
	if (aad2_len > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad2, (int)aad2_len) != 1)
		goto out;
	if (in_len > 0 && EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) != 1)
		goto out;
	if (!enc) {
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, MQS_ENVELOPE_TAG_LEN, tag) != 1)
			goto out;
		if (EVP_CipherFinal_ex(ctx, fin, &n) != 1) {
			rc = MQS_ERR_ENV_AUTH;
			goto out;
		}
	} else {
		if (EVP_CipherFinal_ex(ctx, fin, &n) != 1)
			goto out;
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, MQS_ENVELOPE_TAG_LEN, tag) != 1)
			goto out;
	}
	rc = MQS_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Seal plain for topic; see header. */
int mqs_envelope_seal(const uint8_t key[MQS_ENVELOPE_KEY_LEN], uint32_t key_id,
                      uint64_t timestamp_ms, const uint8_t *nonce, const char *origin,
                      size_t origin_len, const char *topic, size_t topic_len, const uint8_t *plain,
                      size_t plain_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t total;
	size_t hdr_len;
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	if (key == NULL || out == NULL || out_len == NULL || (plain == NULL && plain_len > 0) ||
	    (origin == NULL && origin_len > 0)) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	total = mqs_envelope_sealed_len(origin_len, plain_len);
	if (total == 0) {
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	rc = mqs_envelope_topic_check(topic, topic_len);
	if (rc != MQS_OK)
		goto out;
	if (out_cap < total) {
		rc = MQS_ERR_BUFSIZE;
		goto out;
	}
	hdr_len = MQS_ENVELOPE_HDR_LEN + origin_len;
	out[0] = MQS_ENVELOPE_VERSION;
	out[1] = (uint8_t)origin_len;
	put_be32(out + 2, key_id);
	put_be64(out + 6, timestamp_ms);
	if (nonce != NULL) {
		memcpy(out + 14, nonce, MQS_ENVELOPE_NONCE_LEN);
	} else if (RAND_bytes(out + 14, MQS_ENVELOPE_NONCE_LEN) != 1) {
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	if (origin_len > 0)
		memcpy(out + MQS_ENVELOPE_HDR_LEN, origin, origin_len);
	rc = gcm_run(1, key, out + 14, out, hdr_len, (const uint8_t *)topic, topic_len, plain,
	             plain_len, out + hdr_len, out + hdr_len + plain_len);
	if (rc != MQS_OK) {
		OPENSSL_cleanse(out, total);
		goto out;
	}
	*out_len = total;
out:
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

/* Open an envelope; see header. */
int mqs_envelope_open(const uint8_t key[MQS_ENVELOPE_KEY_LEN], uint32_t key_id, const uint8_t *env,
                      size_t env_len, const char *topic, size_t topic_len, uint8_t *out,
                      size_t out_cap, size_t *out_len, struct mqs_envelope_info *info)
{
	struct mqs_envelope_info local;
	uint8_t tag[MQS_ENVELOPE_TAG_LEN];
	size_t hdr_len;
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	if (info == NULL)
		info = &local;
	if (key == NULL || out_len == NULL || (out == NULL && out_cap > 0)) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	rc = mqs_envelope_parse(env, env_len, info);
	if (rc != MQS_OK)
		goto out;
	if (info->key_id != key_id) {
		rc = MQS_ERR_ENV_KEYID;
		goto out;
	}
	rc = mqs_envelope_topic_check(topic, topic_len);
	if (rc != MQS_OK)
		goto out;
	if (out_cap < info->ciphertext_len) {
		rc = MQS_ERR_BUFSIZE;
		goto out;
	}
	hdr_len = MQS_ENVELOPE_HDR_LEN + info->origin_len;
	memcpy(tag, info->ciphertext + info->ciphertext_len, MQS_ENVELOPE_TAG_LEN);
	rc = gcm_run(0, key, info->nonce, env, hdr_len, (const uint8_t *)topic, topic_len,
	             info->ciphertext, info->ciphertext_len, out, tag);
	if (rc != MQS_OK) {
		OPENSSL_cleanse(out, info->ciphertext_len);
		goto out;
	}
	*out_len = info->ciphertext_len;
out:
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
