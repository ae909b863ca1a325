/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_conntoken.c - one-time connect tokens (mqs_conntoken.h;
 * docs/broker-plugin.md, "Connect tokens"). */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "mqs_alloc.h"
#include "mqs_conntoken.h"
#include "mqs_util.h"

/* HMAC, fetched once (a fetch costs more than a tag).  NULL when it could
 * not be fetched; then each tag fetches its own. */
static EVP_MAC *mac_hmac;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;

/* a reusable HMAC-SHA256 context (mqs_conntoken.h) */
struct mqs_conntoken_mac {
	EVP_MAC_CTX *ctx; /* digest set; keyed anew by every tag */
};

/* Fetch the HMAC implementation (pthread_once). */
static void mac_setup(void)
{
	mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* 1 when password starts with the token prefix. */
int mqs_conntoken_is_token(const char *password)
{
	return password != NULL &&
	       strncmp(password, MQS_CONNTOKEN_PREFIX, sizeof(MQS_CONNTOKEN_PREFIX) - 1) == 0;
}

/* 1 when s is a name a token may bind: non-empty, at most
 * MQS_CONNTOKEN_ID_MAX bytes. */
static int id_ok(const char *s)
{
	return s != NULL && s[0] != '\0' &&
	       strnlen(s, MQS_CONNTOKEN_ID_MAX + 1) <= MQS_CONNTOKEN_ID_MAX;
}

/* A fresh HMAC context with the digest set, or NULL. */
static EVP_MAC_CTX *mac_ctx_new(void)
{
	EVP_MAC *hmac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];

	if (pthread_once(&mac_once, mac_setup) != 0)
		goto out;
	if (mac_hmac != NULL && EVP_MAC_up_ref(mac_hmac) == 1)
		hmac = mac_hmac;
	else
		hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (hmac == NULL)
		goto out;
	ctx = EVP_MAC_CTX_new(hmac);
	if (ctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
out:
	EVP_MAC_free(hmac);
	return ctx;
}

/* The tag of (username, clientid, ts_ms, nonce) under kconn, with the
 * context m (NULL: a fresh one). */
static int tag_compute(struct mqs_conntoken_mac *m, const uint8_t kconn[MQS_KDF_KEY_LEN],
                       const char *username, const char *clientid, uint64_t ts_ms,
                       const uint8_t *nonce, uint8_t tag[MQS_CONNTOKEN_TAG_LEN])
{
	static const uint8_t zero = 0;
	uint8_t ts[8];
	uint8_t mac[32];
	size_t n = 0;
	EVP_MAC_CTX *own = NULL;
	EVP_MAC_CTX *ctx;
	int rc = MQS_ERR_INVAL;

	if (!id_ok(username) || !id_ok(clientid))
		goto out;
	for (int i = 0; i < 8; i++)
		ts[i] = (uint8_t)(ts_ms >> (56 - 8 * i));
	rc = MQS_ERR_CRYPTO;
	if (m != NULL) {
		ctx = m->ctx;
	} else {
		own = mac_ctx_new();
		ctx = own;
	}
	if (ctx == NULL)
		goto out;
	if (EVP_MAC_init(ctx, kconn, MQS_KDF_KEY_LEN, NULL) != 1 ||
	    EVP_MAC_update(ctx, (const uint8_t *)"mqs1", 4) != 1 ||
	    EVP_MAC_update(ctx, (const uint8_t *)username, strlen(username)) != 1 ||
	    EVP_MAC_update(ctx, &zero, 1) != 1 ||
	    EVP_MAC_update(ctx, (const uint8_t *)clientid, strlen(clientid)) != 1 ||
	    EVP_MAC_update(ctx, &zero, 1) != 1 || EVP_MAC_update(ctx, ts, sizeof(ts)) != 1 ||
	    EVP_MAC_update(ctx, nonce, MQS_CONNTOKEN_NONCE_LEN) != 1 ||
	    EVP_MAC_final(ctx, mac, &n, sizeof(mac)) != 1 || n != sizeof(mac))
		goto out;
	memcpy(tag, mac, MQS_CONNTOKEN_TAG_LEN);
	rc = MQS_OK;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	EVP_MAC_CTX_free(own);
	return rc;
}

/* A new reusable context. */
int mqs_conntoken_mac_new(struct mqs_conntoken_mac **out)
{
	struct mqs_conntoken_mac *m = mqs_calloc(1, sizeof(*m));
	int rc = MQS_ERR_NOMEM;

	*out = NULL;
	if (m == NULL)
		goto out;
	rc = MQS_ERR_CRYPTO;
	m->ctx = mac_ctx_new();
	if (m->ctx == NULL)
		goto out;
	*out = m;
	m = NULL;
	rc = MQS_OK;
out:
	mqs_free(m);
	return rc;
}

/* Wipe (EVP_MAC_CTX_free cleanses the key) and free m. */
void mqs_conntoken_mac_free(struct mqs_conntoken_mac *m)
{
	if (m == NULL)
		return;
	EVP_MAC_CTX_free(m->ctx);
	mqs_free(m);
}

/* Make a token. */
int mqs_conntoken_make(const uint8_t kconn[MQS_KDF_KEY_LEN], const char *username,
                       const char *clientid, uint64_t ts_ms, const uint8_t *nonce, char *out)
{
	uint8_t raw[MQS_CONNTOKEN_RAW_LEN];
	char *o = out + sizeof(MQS_CONNTOKEN_PREFIX) - 1;
	int rc;

	out[0] = '\0';
	for (int i = 0; i < 8; i++)
		raw[i] = (uint8_t)(ts_ms >> (56 - 8 * i));
	if (nonce != NULL) {
		memcpy(raw + 8, nonce, MQS_CONNTOKEN_NONCE_LEN);
	} else if (RAND_bytes(raw + 8, MQS_CONNTOKEN_NONCE_LEN) != 1) {
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	rc = tag_compute(NULL, kconn, username, clientid, ts_ms, raw + 8,
	                 raw + 8 + MQS_CONNTOKEN_NONCE_LEN);
	if (rc != MQS_OK)
		goto out;
	memcpy(out, MQS_CONNTOKEN_PREFIX, sizeof(MQS_CONNTOKEN_PREFIX) - 1);
	mqs_base64url_encode(raw, sizeof(raw), o);
	o += mqs_base64url_len(sizeof(raw));
	*o = '\0';
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* Make a token from the decoded TOTP secret. */
int mqs_conntoken_make_secret(const uint8_t *secret, size_t secret_len, const char *username,
                              const char *clientid, uint64_t ts_ms, char *out)
{
	uint8_t k[MQS_KDF_KEY_LEN];
	int rc;

	out[0] = '\0';
	rc = mqs_kdf_connect(secret, secret_len, k);
	if (rc == MQS_OK)
		rc = mqs_conntoken_make(k, username, clientid, ts_ms, NULL, out);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

/* Parse a token. */
int mqs_conntoken_parse(const char *text, struct mqs_conntoken *out)
{
	uint8_t raw[MQS_CONNTOKEN_RAW_LEN];
	const char *s;
	size_t n = 0;
	int rc = MQS_ERR_PARSE;

	memset(out, 0, sizeof(*out));
	if (!mqs_conntoken_is_token(text) ||
	    strnlen(text, MQS_CONNTOKEN_TEXT_LEN + 1) != MQS_CONNTOKEN_TEXT_LEN)
		goto out;
	s = text + sizeof(MQS_CONNTOKEN_PREFIX) - 1;
	if (mqs_base64url_decode(s, MQS_CONNTOKEN_TEXT_LEN - (sizeof(MQS_CONNTOKEN_PREFIX) - 1),
	                         raw, sizeof(raw), &n) != MQS_OK ||
	    n != sizeof(raw))
		goto out;
	for (int i = 0; i < 8; i++)
		out->ts_ms = (out->ts_ms << 8) | raw[i];
	memcpy(out->nonce, raw + 8, MQS_CONNTOKEN_NONCE_LEN);
	memcpy(out->tag, raw + 8 + MQS_CONNTOKEN_NONCE_LEN, MQS_CONNTOKEN_TAG_LEN);
	rc = MQS_OK;
out:
	return rc;
}

/* Check the tag in constant time, with the context m (NULL: a fresh one). */
int mqs_conntoken_verify(struct mqs_conntoken_mac *m, const uint8_t kconn[MQS_KDF_KEY_LEN],
                         const char *username, const char *clientid, const struct mqs_conntoken *t)
{
	uint8_t want[MQS_CONNTOKEN_TAG_LEN];
	int rc = tag_compute(m, kconn, username, clientid, t->ts_ms, t->nonce, want);

	if (rc == MQS_OK && CRYPTO_memcmp(want, t->tag, sizeof(want)) != 0)
		rc = MQS_ERR_TOTP;
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}

/* Where the token's time lies against now. */
int mqs_conntoken_when(const struct mqs_conntoken *t, uint64_t now_ms, unsigned window_s)
{
	uint64_t w = (uint64_t)window_s * 1000u;

	if (t->ts_ms + w < t->ts_ms || t->ts_ms > now_ms + w)
		return 1;
	if (t->ts_ms + w < now_ms)
		return -1;
	return 0;
}
