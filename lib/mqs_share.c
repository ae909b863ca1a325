/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_share.c - k-of-n shares of a medical record over libgfshare, header
 * tags over OpenSSL HKDF/HMAC (docs/medical.md, "Wire format"). */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libgfshare.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "mqs_alloc.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_share.h"
#include "mqs_utf8.h"
#include "mqs_util.h"

#define SHARE_TAG_INFO   "mqttsec-share-v1"
#define SHARE_NONCE_INFO "mqttsec-share-nonce-v1"

static pthread_once_t share_rand_once = PTHREAD_ONCE_INIT;

/* libgfshare's coefficient source: OpenSSL's CSPRNG.  A share made with
 * predictable coefficients leaks the record, so a failing generator ends
 * the process rather than return. */
static void share_fill_rand(unsigned char *buf, unsigned int len)
{
	if (len == 0)
		return;
	if (len > (unsigned int)INT32_MAX || RAND_bytes(buf, (int)len) != 1)
		abort();
}

/* Install share_fill_rand as gfshare_fill_rand (libgfshare also calls it
 * when freeing a context, to overwrite its buffers). */
static void share_rand_install(void)
{
	gfshare_fill_rand = share_fill_rand;
}

/* Make sure libgfshare draws from OpenSSL before any context is used. */
static void share_rand_init(void)
{
	if (pthread_once(&share_rand_once, share_rand_install) != 0)
		abort();
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Length of one share: header, share bytes, tag. */
size_t mqs_share_len(size_t secret_len)
{
	return secret_len + MQS_SHARE_OVERHEAD;
}

/* HKDF, fetched once (a fetch costs more than the derivation: every
 * record seal and open derives a nonce key).  NULL when it could not be
 * fetched; then each derivation fetches its own. */
static EVP_KDF *share_kdf;
static pthread_once_t share_kdf_once = PTHREAD_ONCE_INIT;

static void share_kdf_setup(void)
{
	share_kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

/* HKDF-SHA256(rk, salt empty, info), 32 bytes into out (wiped on
 * failure). */
static int share_hkdf(const uint8_t rk[MQS_ENVELOPE_KEY_LEN], const char *info, uint8_t out[32])
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[4];
	int rc = MQS_ERR_CRYPTO;

	if (rk == NULL || out == NULL)
		return MQS_ERR_INVAL;
	if (pthread_once(&share_kdf_once, share_kdf_setup) != 0)
		goto out;
	if (share_kdf != NULL && EVP_KDF_up_ref(share_kdf) == 1)
		kdf = share_kdf;
	else
		kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf == NULL)
		goto out;
	kctx = EVP_KDF_CTX_new(kdf);
	if (kctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] =
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)rk, MQS_ENVELOPE_KEY_LEN);
	params[2] =
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	params[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, 32, params) != 1)
		goto out;
	rc = MQS_OK;
out:
	if (rc != MQS_OK)
		OPENSSL_cleanse(out, 32);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* HKDF-SHA256(rk, salt empty, info "mqttsec-share-v1"), 32 bytes. */
int mqs_share_tag_key(const uint8_t rk[MQS_ENVELOPE_KEY_LEN], uint8_t tag_key[32])
{
	return share_hkdf(rk, SHARE_TAG_INFO, tag_key);
}

/* The envelope nonce of record id id under record key rk (mqs_share.h):
 * HMAC-SHA256(nonce key, "mqttsec-share-nonce-v1" | id) cut to 12 bytes,
 * nonce key = HKDF-SHA256(rk, salt empty, info "mqttsec-share-nonce-v1").
 * Returns MQS_OK, MQS_ERR_INVAL or MQS_ERR_CRYPTO (nonce wiped). */
static int share_record_nonce(const uint8_t rk[MQS_ENVELOPE_KEY_LEN],
                              const uint8_t id[MQS_SHARE_ID_LEN],
                              uint8_t nonce[MQS_ENVELOPE_NONCE_LEN])
{
	uint8_t nkey[32];
	uint8_t in[sizeof(SHARE_NONCE_INFO) - 1 + MQS_SHARE_ID_LEN];
	int rc;

	if (rk == NULL || id == NULL || nonce == NULL)
		return MQS_ERR_INVAL;
	rc = share_hkdf(rk, SHARE_NONCE_INFO, nkey);
	if (rc != MQS_OK)
		goto out;
	memcpy(in, SHARE_NONCE_INFO, sizeof(SHARE_NONCE_INFO) - 1);
	memcpy(in + sizeof(SHARE_NONCE_INFO) - 1, id, MQS_SHARE_ID_LEN);
	rc = mqs_envelope_derive_nonce(nkey, in, sizeof(in), nonce);
out:
	if (rc != MQS_OK)
		OPENSSL_cleanse(nonce, MQS_ENVELOPE_NONCE_LEN);
	OPENSSL_cleanse(nkey, sizeof(nkey));
	return rc;
}

/* An HMAC-SHA256 context with the digest set and no key, made once: each
 * tag duplicates it instead of fetching HMAC and SHA-256 again (a fetch
 * costs more than the MAC of 28 bytes).  NULL when it could not be made;
 * then the one-shot HMAC() is used. */
static EVP_MAC_CTX *share_hmac_tmpl;
static pthread_once_t share_hmac_once = PTHREAD_ONCE_INIT;

static void share_hmac_setup(void)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx != NULL && EVP_MAC_CTX_set_params(ctx, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	EVP_MAC_free(mac); /* the context keeps its own reference */
	share_hmac_tmpl = ctx;
}

/* HMAC-SHA256(tag_key, hdr[0..27]) cut to 16 bytes into tag. */
static int share_tag(const uint8_t *hdr, const uint8_t tag_key[32], uint8_t tag[MQS_SHARE_TAG_LEN])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	size_t out_len = 0;
	EVP_MAC_CTX *ctx = NULL;
	int rc = MQS_ERR_CRYPTO;

	if (pthread_once(&share_hmac_once, share_hmac_setup) != 0)
		goto out;
	if (share_hmac_tmpl == NULL) {
		if (HMAC(EVP_sha256(), tag_key, 32, hdr, MQS_SHARE_HDR_LEN, mac, &mac_len) ==
		        NULL ||
		    mac_len != 32)
			goto out;
	} else {
		ctx = EVP_MAC_CTX_dup(share_hmac_tmpl);
		if (ctx == NULL || EVP_MAC_init(ctx, tag_key, 32, NULL) != 1 ||
		    EVP_MAC_update(ctx, hdr, MQS_SHARE_HDR_LEN) != 1 ||
		    EVP_MAC_final(ctx, mac, &out_len, sizeof(mac)) != 1 || out_len != 32)
			goto out;
	}
	memcpy(tag, mac, MQS_SHARE_TAG_LEN);
	rc = MQS_OK;
out:
	EVP_MAC_CTX_free(ctx);
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* Write the 28-byte header of share x. */
static void share_hdr_write(uint8_t *p, unsigned n, unsigned k, unsigned x,
                            const uint8_t id[MQS_SHARE_ID_LEN], uint32_t secret_len)
{
	p[0] = MQS_SHARE_VERSION;
	p[1] = (uint8_t)n;
	p[2] = (uint8_t)k;
	p[3] = (uint8_t)x;
	memcpy(p + 4, id, MQS_SHARE_ID_LEN);
	put_be32(p + 20, secret_len);
	memset(p + 24, 0, 4);
}

/* Split secret into n tagged shares; see header. */
int mqs_share_split(const uint8_t *secret, size_t secret_len, unsigned n, unsigned k,
                    const uint8_t tag_key[32], const uint8_t *id, uint8_t id_out[MQS_SHARE_ID_LEN],
                    uint8_t *out, size_t out_cap)
{
	gfshare_ctx *ctx = NULL;
	uint8_t sharenrs[MQS_SHARE_N_MAX];
	uint8_t rid[MQS_SHARE_ID_LEN];
	size_t one;
	int rc;

	if (secret == NULL || tag_key == NULL || out == NULL || secret_len == 0 ||
	    n < MQS_SHARE_N_MIN || n > MQS_SHARE_N_MAX || k < 2 || k > n)
		return MQS_ERR_INVAL;
	if (secret_len > MQS_SHARE_SECRET_MAX)
		return MQS_ERR_TOOBIG;
	one = mqs_share_len(secret_len);
	if (out_cap / n < one)
		return MQS_ERR_BUFSIZE;
	share_rand_init();
	if (id != NULL) {
		memcpy(rid, id, MQS_SHARE_ID_LEN);
	} else if (RAND_bytes(rid, sizeof(rid)) != 1) {
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		sharenrs[i] = (uint8_t)(i + 1);
	ctx = gfshare_ctx_init_enc(sharenrs, n, (unsigned char)k, (unsigned int)secret_len);
	if (ctx == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	/* setsecret only copies from its (non-const) argument */
	gfshare_ctx_enc_setsecret(ctx, (unsigned char *)(uintptr_t)secret);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = out + (size_t)i * one;

		share_hdr_write(p, n, k, i + 1, rid, (uint32_t)secret_len);
		gfshare_ctx_enc_getshare(ctx, (unsigned char)i, p + MQS_SHARE_HDR_LEN);
		rc = share_tag(p, tag_key, p + MQS_SHARE_HDR_LEN + secret_len);
		if (rc != MQS_OK)
			goto out;
	}
	if (id_out != NULL)
		memcpy(id_out, rid, MQS_SHARE_ID_LEN);
	rc = MQS_OK;
out:
	if (ctx != NULL)
		gfshare_ctx_free(ctx);
	if (rc != MQS_OK)
		OPENSSL_cleanse(out, (size_t)n * one);
	return rc;
}

/* Structural check of one share; see header. */
int mqs_share_parse(const uint8_t *p, size_t len, struct mqs_share_hdr *h)
{
	uint32_t s;

	if (p == NULL || len < MQS_SHARE_OVERHEAD)
		return p == NULL ? MQS_ERR_PARSE : MQS_ERR_ENV_TRUNCATED;
	if (p[0] != MQS_SHARE_VERSION || p[1] < MQS_SHARE_N_MIN || p[1] > MQS_SHARE_N_MAX ||
	    p[2] < 2 || p[2] > p[1] || p[3] < 1 || p[3] > p[1])
		return MQS_ERR_PARSE;
	if (p[24] != 0 || p[25] != 0 || p[26] != 0 || p[27] != 0)
		return MQS_ERR_PARSE;
	s = get_be32(p + 20);
	if (s > MQS_SHARE_SECRET_MAX)
		return MQS_ERR_TOOBIG;
	if (s == 0)
		return MQS_ERR_PARSE;
	if (len != mqs_share_len(s))
		return MQS_ERR_ENV_TRUNCATED;
	if (h != NULL) {
		h->n = p[1];
		h->k = p[2];
		h->x = p[3];
		memcpy(h->id, p + 4, MQS_SHARE_ID_LEN);
		h->secret_len = s;
	}
	return MQS_OK;
}

/* Constant-time check of the header tag; see header. */
int mqs_share_tag_ok(const uint8_t *p, size_t len, const uint8_t tag_key[32])
{
	uint8_t tag[MQS_SHARE_TAG_LEN];
	int ok;

	if (p == NULL || tag_key == NULL || len < MQS_SHARE_OVERHEAD)
		return 0;
	if (share_tag(p, tag_key, tag) != MQS_OK)
		return 0;
	ok = CRYPTO_memcmp(tag, p + len - MQS_SHARE_TAG_LEN, MQS_SHARE_TAG_LEN) == 0;
	OPENSSL_cleanse(tag, sizeof(tag));
	return ok;
}

/* Lagrange interpolation at 0 of k bodies (libgfshare); see header. */
int mqs_share_combine(unsigned k, const uint8_t *xs, const uint8_t *const *bodies,
                      size_t secret_len, uint8_t *out)
{
	gfshare_ctx *ctx = NULL;
	uint8_t nrs[255];
	int rc;

	if (k < 2 || k > 255 || xs == NULL || bodies == NULL || out == NULL || secret_len == 0 ||
	    secret_len > MQS_SHARE_SECRET_MAX)
		return MQS_ERR_INVAL;
	for (unsigned i = 0; i < k; i++) {
		if (xs[i] == 0 || bodies[i] == NULL)
			return MQS_ERR_INVAL;
		for (unsigned j = 0; j < i; j++) {
			if (xs[j] == xs[i])
				return MQS_ERR_INVAL;
		}
		nrs[i] = xs[i];
	}
	share_rand_init();
	ctx = gfshare_ctx_init_dec(nrs, k, (unsigned int)secret_len);
	if (ctx == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	for (unsigned i = 0; i < k; i++)
		gfshare_ctx_dec_giveshare(ctx, (unsigned char)i, (unsigned char *)bodies[i]);
	gfshare_ctx_dec_extract(ctx, out);
	rc = MQS_OK;
out:
	if (ctx != NULL)
		gfshare_ctx_free(ctx);
	return rc;
}

/* Seal the record and frame it as the secret to split; see header. */
int mqs_share_record_seal(const uint8_t rk[MQS_ENVELOPE_KEY_LEN], uint32_t key_id,
                          const uint8_t id[MQS_SHARE_ID_LEN], const char *topic, const char *origin,
                          const uint8_t *plain, size_t plain_len, uint8_t **secret,
                          size_t *secret_len)
{
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN];
	uint8_t *buf = NULL;
	size_t tlen, olen, elen, total = 0, wrote = 0;
	int rc;

	if (secret != NULL)
		*secret = NULL;
	if (secret_len != NULL)
		*secret_len = 0;
	if (rk == NULL || id == NULL || secret == NULL || secret_len == NULL ||
	    (plain == NULL && plain_len > 0))
		return MQS_ERR_INVAL;
	if (topic == NULL)
		return MQS_ERR_ENV_TOPIC;
	tlen = strlen(topic);
	rc = mqs_envelope_topic_check(topic, tlen);
	if (rc != MQS_OK)
		return rc;
	olen = origin != NULL ? strlen(origin) : 0;
	if (olen > MQS_ENVELOPE_ORIGIN_MAX || plain_len > MQS_ENVELOPE_PLAIN_MAX)
		return MQS_ERR_TOOBIG;
	elen = mqs_envelope_sealed_len(olen, plain_len);
	total = 2 + tlen + elen;
	if (elen == 0 || total > MQS_SHARE_SECRET_SEND_MAX)
		return MQS_ERR_TOOBIG;
	rc = share_record_nonce(rk, id, nonce);
	if (rc != MQS_OK)
		return rc;
	buf = mqs_malloc(total);
	if (buf == NULL)
		return MQS_ERR_NOMEM;
	buf[0] = (uint8_t)(tlen >> 8);
	buf[1] = (uint8_t)tlen;
	memcpy(buf + 2, topic, tlen);
	rc = mqs_envelope_seal(rk, key_id, mqs_now_ms(), nonce, origin, olen, topic, tlen, plain,
	                       plain_len, buf + 2 + tlen, elen, &wrote);
	if (rc != MQS_OK)
		goto out;
	if (wrote != elen) {
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	*secret = buf;
	*secret_len = total;
	buf = NULL;
out:
	mqs_secret_free(buf, total);
	return rc;
}

/* Open a rebuilt secret; see header. */
int mqs_share_record_open(const uint8_t rk[MQS_ENVELOPE_KEY_LEN], uint32_t key_id,
                          const uint8_t id[MQS_SHARE_ID_LEN], const uint8_t *secret,
                          size_t secret_len, char *topic, size_t topic_cap,
                          char origin[MQS_ENVELOPE_ORIGIN_MAX + 1], uint8_t **plain,
                          size_t *plain_len, uint64_t *ts_ms)
{
	struct mqs_envelope_info info;
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN];
	uint8_t *buf = NULL;
	size_t tlen, cap = 0, got = 0;
	const uint8_t *env;
	int rc;

	if (rk == NULL || id == NULL || secret == NULL || topic == NULL || origin == NULL ||
	    plain == NULL || plain_len == NULL)
		return MQS_ERR_INVAL;
	if (secret_len < 2)
		return MQS_ERR_PARSE;
	tlen = ((size_t)secret[0] << 8) | secret[1];
	if (tlen == 0 || secret_len - 2 < tlen)
		return MQS_ERR_PARSE;
	if (mqs_envelope_topic_check((const char *)secret + 2, tlen) != MQS_OK ||
	    !mqs_utf8_valid(secret + 2, tlen, 0))
		return MQS_ERR_PARSE;
	if (topic_cap == 0 || tlen > topic_cap - 1)
		return MQS_ERR_BUFSIZE;
	env = secret + 2 + tlen;
	rc = mqs_envelope_parse(env, secret_len - 2 - tlen, &info);
	if (rc != MQS_OK)
		return rc;
	/* the record must be the one of this id (docs/medical.md, "Wire
	 * format"): the nonce is authenticated by the envelope below */
	rc = share_record_nonce(rk, id, nonce);
	if (rc != MQS_OK)
		return rc;
	if (CRYPTO_memcmp(nonce, info.nonce, sizeof(nonce)) != 0)
		return MQS_ERR_ENV_AUTH;
	cap = info.ciphertext_len > 0 ? info.ciphertext_len : 1;
	buf = mqs_malloc(cap);
	if (buf == NULL)
		return MQS_ERR_NOMEM;
	rc = mqs_envelope_open(rk, key_id, env, secret_len - 2 - tlen, (const char *)secret + 2,
	                       tlen, buf, cap, &got, &info);
	if (rc != MQS_OK)
		goto out;
	if (!mqs_utf8_valid(info.origin, info.origin_len, 0)) {
		rc = MQS_ERR_PARSE;
		goto out;
	}
	memcpy(topic, secret + 2, tlen);
	topic[tlen] = '\0';
	if (info.origin_len > 0)
		memcpy(origin, info.origin, info.origin_len);
	origin[info.origin_len] = '\0';
	if (ts_ms != NULL)
		*ts_ms = info.timestamp_ms;
	*plain = buf;
	*plain_len = got;
	buf = NULL;
out:
	mqs_secret_free(buf, cap);
	return rc;
}
