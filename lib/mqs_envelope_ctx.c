/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_envelope_ctx.c - envelope v1 with reused OpenSSL contexts. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "mqs_alloc.h"
#include "mqs_envelope_ctx.h"
#include "mqs_error.h"

/* a cipher context bound to AES-256-GCM and one direction, keeping the
 * schedule of the last key it was given: the next call with the same key
 * only sets the nonce */
struct keyed {
	EVP_CIPHER_CTX *cctx;
	int keyed;
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
};

struct mqs_envelope_ctx {
	EVP_CIPHER *aes;       /* AES-256-GCM, fetched once */
	struct keyed dir[2];   /* [0] opens, [1] seals */
	EVP_CIPHER *ecb;       /* AES-256-ECB, fetched once */
	EVP_CIPHER_CTX *ghash; /* AES-256-GCM keyed with the hash key: GMAC */
	EVP_CIPHER_CTX *prp;   /* AES-256-ECB keyed with the PRP key */
	int nonce_ready;
};

/* Store v big-endian at p. */
static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* New context. */
int mqs_envelope_ctx_new(struct mqs_envelope_ctx **out)
{
	struct mqs_envelope_ctx *c = mqs_calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return MQS_ERR_NOMEM;
	c->aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	c->ecb = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
	c->ghash = EVP_CIPHER_CTX_new();
	c->prp = EVP_CIPHER_CTX_new();
	if (c->aes == NULL || c->ecb == NULL || c->ghash == NULL || c->prp == NULL) {
		mqs_envelope_ctx_free(c);
		return MQS_ERR_CRYPTO;
	}
	/* bind the cipher and direction once: later inits pass key and nonce */
	for (int enc = 0; enc < 2; enc++) {
		c->dir[enc].cctx = EVP_CIPHER_CTX_new();
		if (c->dir[enc].cctx == NULL ||
		    EVP_CipherInit_ex2(c->dir[enc].cctx, c->aes, NULL, NULL, enc, NULL) != 1) {
			mqs_envelope_ctx_free(c);
			return MQS_ERR_CRYPTO;
		}
	}
	*out = c;
	return MQS_OK;
}

/* Free everything. */
void mqs_envelope_ctx_free(struct mqs_envelope_ctx *c)
{
	if (c == NULL)
		return;
	for (int enc = 0; enc < 2; enc++) {
		EVP_CIPHER_CTX_free(c->dir[enc].cctx);
		OPENSSL_cleanse(c->dir[enc].key, sizeof(c->dir[enc].key));
	}
	EVP_CIPHER_free(c->aes);
	EVP_CIPHER_CTX_free(c->ghash); /* OpenSSL wipes the key schedules */
	EVP_CIPHER_CTX_free(c->prp);
	EVP_CIPHER_free(c->ecb);
	mqs_free(c);
}

/* One AES-256-GCM pass with the reused context (the default GCM IV length
 * is the envelope's 12 bytes).  Returns MQS_OK, MQS_ERR_ENV_AUTH (only when
 * decrypting) or MQS_ERR_CRYPTO. */
static int gcm(struct mqs_envelope_ctx *c, int enc, const uint8_t *key, const uint8_t *nonce,
               const uint8_t *aad1, size_t aad1_len, const uint8_t *aad2, size_t aad2_len,
               const uint8_t *in, size_t in_len, uint8_t *out, uint8_t *tag)
{
	OSSL_PARAM p[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
	struct keyed *k = &c->dir[enc ? 1 : 0];
	EVP_CIPHER_CTX *cctx = k->cctx;
	uint8_t fin[MQS_ENVELOPE_TAG_LEN];
	int same, n = 0;

	if (in_len > INT32_MAX || aad2_len > INT32_MAX)
		return MQS_ERR_CRYPTO;
	same = k->keyed && CRYPTO_memcmp(k->key, key, sizeof(k->key)) == 0;
	if (!same) {
		k->keyed = 0;
		memcpy(k->key, key, sizeof(k->key));
	}
	/* the expected tag goes in with the nonce: EVP_CIPHER_CTX_set_params()
	 * would make the next init ask the provider for the IV length again */
	if (!enc)
		p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag,
		                                         MQS_ENVELOPE_TAG_LEN);
	if (EVP_CipherInit_ex2(cctx, NULL, same ? NULL : key, nonce, enc, enc ? NULL : p) != 1)
		return MQS_ERR_CRYPTO;
	k->keyed = 1;
	if (EVP_CipherUpdate(cctx, NULL, &n, aad1, (int)aad1_len) != 1)
		return MQS_ERR_CRYPTO;
	if (aad2_len > 0 && EVP_CipherUpdate(cctx, NULL, &n, aad2, (int)aad2_len) != 1)
		return MQS_ERR_CRYPTO;
	if (in_len > 0 && EVP_CipherUpdate(cctx, out, &n, in, (int)in_len) != 1)
		return MQS_ERR_CRYPTO;
	if (!enc) {
		if (EVP_CipherFinal_ex(cctx, fin, &n) != 1)
			return MQS_ERR_ENV_AUTH;
		return MQS_OK;
	}
	p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag,
	                                         MQS_ENVELOPE_TAG_LEN);
	if (EVP_CipherFinal_ex(cctx, fin, &n) != 1 || EVP_CIPHER_CTX_get_params(cctx, p) != 1)
		return MQS_ERR_CRYPTO;
	return MQS_OK;
}

/* Seal; see mqs_envelope_seal(). */
int mqs_envelope_ctx_seal(struct mqs_envelope_ctx *c, const uint8_t key[MQS_ENVELOPE_KEY_LEN],
                          uint32_t key_id, uint64_t timestamp_ms, const uint8_t *nonce,
                          const char *origin, size_t origin_len, const char *topic,
                          size_t topic_len, const uint8_t *plain, size_t plain_len, uint8_t *out,
                          size_t out_cap, size_t *out_len)
{
	size_t total, hdr_len;
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	if (c == NULL || key == NULL || out == NULL || out_len == NULL ||
	    (plain == NULL && plain_len > 0) || (origin == NULL && origin_len > 0))
		return MQS_ERR_INVAL;
	total = mqs_envelope_sealed_len(origin_len, plain_len);
	if (total == 0)
		return MQS_ERR_TOOBIG;
	rc = mqs_envelope_topic_check(topic, topic_len);
	if (rc != MQS_OK)
		return rc;
	if (out_cap < total)
		return MQS_ERR_BUFSIZE;
	hdr_len = MQS_ENVELOPE_HDR_LEN + origin_len;
	out[0] = MQS_ENVELOPE_VERSION;
	out[1] = (uint8_t)origin_len;
	put_be32(out + 2, key_id);
	put_be32(out + 6, (uint32_t)(timestamp_ms >> 32));
	put_be32(out + 10, (uint32_t)timestamp_ms);
	if (nonce != NULL)
		memcpy(out + 14, nonce, MQS_ENVELOPE_NONCE_LEN);
	else if (RAND_bytes(out + 14, MQS_ENVELOPE_NONCE_LEN) != 1)
		return MQS_ERR_CRYPTO;
	if (origin_len > 0)
		memcpy(out + MQS_ENVELOPE_HDR_LEN, origin, origin_len);
	rc = gcm(c, 1, key, out + 14, out, hdr_len, (const uint8_t *)topic, topic_len, plain,
	         plain_len, out + hdr_len, out + hdr_len + plain_len);
	if (rc != MQS_OK) {
		OPENSSL_cleanse(out, total);
		return rc;
	}
	*out_len = total;
	return MQS_OK;
}

/* Open; see mqs_envelope_open(). */
int mqs_envelope_ctx_open(struct mqs_envelope_ctx *c, const uint8_t key[MQS_ENVELOPE_KEY_LEN],
                          uint32_t key_id, const uint8_t *env, size_t env_len, const char *topic,
                          size_t topic_len, uint8_t *out, size_t out_cap, size_t *out_len,
                          struct mqs_envelope_info *info)
{
	struct mqs_envelope_info local;
	uint8_t tag[MQS_ENVELOPE_TAG_LEN];
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	if (info == NULL)
		info = &local;
	if (c == NULL || key == NULL || out_len == NULL || (out == NULL && out_cap > 0))
		return MQS_ERR_INVAL;
	rc = mqs_envelope_parse(env, env_len, info);
	if (rc != MQS_OK)
		return rc;
	if (info->key_id != key_id)
		return MQS_ERR_ENV_KEYID;
	rc = mqs_envelope_topic_check(topic, topic_len);
	if (rc != MQS_OK)
		return rc;
	if (out_cap < info->ciphertext_len)
		return MQS_ERR_BUFSIZE;
	memcpy(tag, info->ciphertext + info->ciphertext_len, MQS_ENVELOPE_TAG_LEN);
	rc = gcm(c, 0, key, info->nonce, env, MQS_ENVELOPE_HDR_LEN + info->origin_len,
	         (const uint8_t *)topic, topic_len, info->ciphertext, info->ciphertext_len, out,
	         tag);
	if (rc != MQS_OK) {
		OPENSSL_cleanse(out, info->ciphertext_len);
		return rc;
	}
	*out_len = info->ciphertext_len;
	return MQS_OK;
}

/* Key the nonce PRF: GMAC under hash_key, then AES under prp_key. */
int mqs_envelope_ctx_set_nonce_keys(struct mqs_envelope_ctx *c, const uint8_t hash_key[32],
                                    const uint8_t prp_key[32])
{
	static const uint8_t zero_iv[MQS_ENVELOPE_NONCE_LEN];

	if (c == NULL || hash_key == NULL || prp_key == NULL)
		return MQS_ERR_INVAL;
	c->nonce_ready = 0;
	if (EVP_CipherInit_ex2(c->ghash, c->aes, hash_key, zero_iv, 1, NULL) != 1 ||
	    EVP_CipherInit_ex2(c->prp, c->ecb, prp_key, NULL, 1, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(c->prp, 0) != 1)
		return MQS_ERR_CRYPTO;
	c->nonce_ready = 1;
	return MQS_OK;
}

/* Feed n bytes to the GMAC as additional data. */
static int ghash_add(EVP_CIPHER_CTX *g, const uint8_t *p, size_t n)
{
	int out = 0;

	if (n == 0)
		return 1;
	return n <= INT32_MAX && EVP_CipherUpdate(g, NULL, &out, p, (int)n) == 1;
}

/* AES-256(prp_key, GMAC(hash_key, 0^96, encoding))[0..11] (docs/envelope.md,
 * "Re-seal nonces"). */
int mqs_envelope_ctx_reseal_nonce(struct mqs_envelope_ctx *c, uint64_t timestamp_ms,
                                  const uint8_t in_nonce[MQS_ENVELOPE_NONCE_LEN],
                                  const char *origin, size_t origin_len, const char *topic,
                                  size_t topic_len, const uint8_t *plain, size_t plain_len,
                                  uint8_t nonce[MQS_ENVELOPE_NONCE_LEN])
{
	static const uint8_t zero_iv[MQS_ENVELOPE_NONCE_LEN];
	OSSL_PARAM p[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
	uint8_t head[12 + MQS_ENVELOPE_NONCE_LEN], tag[MQS_ENVELOPE_TAG_LEN],
	    block[MQS_ENVELOPE_TAG_LEN], fin[16];
	int n = 0, rc = MQS_ERR_CRYPTO;

	if (c == NULL || !c->nonce_ready || nonce == NULL || in_nonce == NULL ||
	    (origin == NULL && origin_len > 0) || (topic == NULL && topic_len > 0) ||
	    (plain == NULL && plain_len > 0) || origin_len > 255 || topic_len > 65535 ||
	    plain_len > MQS_ENVELOPE_PLAIN_MAX)
		return MQS_ERR_INVAL;
	put_be32(head, (uint32_t)(timestamp_ms >> 32));
	put_be32(head + 4, (uint32_t)timestamp_ms);
	head[8] = (uint8_t)origin_len;
	head[9] = (uint8_t)(topic_len >> 8);
	head[10] = (uint8_t)topic_len;
	/* the input envelope's nonce, framed like the fields after it */
	head[11] = MQS_ENVELOPE_NONCE_LEN;
	memcpy(head + 12, in_nonce, MQS_ENVELOPE_NONCE_LEN);
	/* the IV must be given again for every message (fixed: a PRF, not
	 * an encryption; the AES pass below hides the GHASH value) */
	if (EVP_CipherInit_ex2(c->ghash, NULL, NULL, zero_iv, 1, NULL) != 1 ||
	    !ghash_add(c->ghash, head, sizeof(head)) ||
	    !ghash_add(c->ghash, (const uint8_t *)origin, origin_len) ||
	    !ghash_add(c->ghash, (const uint8_t *)topic, topic_len) ||
	    !ghash_add(c->ghash, plain, plain_len) || EVP_CipherFinal_ex(c->ghash, fin, &n) != 1)
		goto out;
	p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, sizeof(tag));
	if (EVP_CIPHER_CTX_get_params(c->ghash, p) != 1 ||
	    EVP_CipherUpdate(c->prp, block, &n, tag, (int)sizeof(tag)) != 1 ||
	    n != (int)sizeof(block))
		goto out;
	memcpy(nonce, block, MQS_ENVELOPE_NONCE_LEN);
	rc = MQS_OK;
out:
	OPENSSL_cleanse(tag, sizeof(tag));
	OPENSSL_cleanse(block, sizeof(block));
	return rc;
}
