/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_master_key.c - master key file; secrets wrapped under it (AES-256-GCM). */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "mqs_error.h"
#include "mqs_master_key.h"
#include "mqs_util.h"

#define WRAP_VERSION 1
#define WRAP_NONCE   12
#define WRAP_TAG     16

/* Load the master key file. */
int mqs_master_key_load(const char *path, uint8_t key[MQS_MASTER_KEY_LEN])
{
	uint8_t *data = NULL;
	size_t len = 0;
	size_t alloc = 0;
	int rc;

	OPENSSL_cleanse(key, MQS_MASTER_KEY_LEN);
	if (path == NULL)
		return MQS_ERR_INVAL;
	rc = mqs_file_read(path, 256, 1, &data, &len);
	if (rc != MQS_OK)
		goto out;
	alloc = len + 1;
	if (len == MQS_MASTER_KEY_LEN) {
		memcpy(key, data, MQS_MASTER_KEY_LEN);
		goto out;
	}
	/* hex form: 64 digits, optional trailing newline (\n or \r\n) */
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len != 2 * MQS_MASTER_KEY_LEN) {
		rc = MQS_ERR_PARSE;
		goto out;
	}
	for (size_t i = 0; i < MQS_MASTER_KEY_LEN; i++) {
		int hi = mqs_hex_digit(data[2 * i]);
		int lo = mqs_hex_digit(data[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			rc = MQS_ERR_PARSE;
			OPENSSL_cleanse(key, MQS_MASTER_KEY_LEN);
			goto out;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
out:
	mqs_secret_free(data, alloc);
	return rc;
}

/* Create a new master key file, mode 0600, never overwriting. */
int mqs_master_key_create(const char *path)
{
	uint8_t key[MQS_MASTER_KEY_LEN];
	char text[2 * MQS_MASTER_KEY_LEN + 1];
	int rc;

	if (path == NULL)
		return MQS_ERR_INVAL;
	if (RAND_bytes(key, sizeof(key)) != 1) {
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	mqs_hex_encode(key, sizeof(key), text);
	text[2 * MQS_MASTER_KEY_LEN] = '\n';
	rc = mqs_file_write_secret(path, text, sizeof(text), 1);
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

/* AES-256-GCM, fetched once: the implicit fetch of EVP_aes_256_gcm() on
 * every wrap cost a campaign's address opening most of its time
 * (docs/PERFORMANCE.md).  NULL when it could not be fetched; then each
 * call uses EVP_aes_256_gcm(). */
static EVP_CIPHER *wrap_aes;
static pthread_once_t wrap_once = PTHREAD_ONCE_INIT;

/* Fetch AES-256-GCM (pthread_once). */
static void wrap_setup(void)
{
	wrap_aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

/* AES-256-GCM one-shot; enc 1 = seal, 0 = open (tag checked). */
static int wrap_gcm(int enc, const uint8_t *mk, const uint8_t *nonce, const char *aad,
                    const uint8_t *in, size_t in_len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t fin[WRAP_TAG];
	int n = 0;
	int rc = MQS_ERR_CRYPTO;

	if (ctx == NULL || pthread_once(&wrap_once, wrap_setup) != 0)
		goto out;
	if (EVP_CipherInit_ex(ctx, wrap_aes != NULL ? wrap_aes : EVP_aes_256_gcm(), NULL, mk, nonce,
	                      enc) != 1)
		goto out;
	if (aad != NULL &&
	    EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) != 1)
		goto out;
	if (in_len > 0 && EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) != 1)
		goto out;
	if (enc) {
		if (EVP_CipherFinal_ex(ctx, fin, &n) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WRAP_TAG, tag) != 1)
			goto out;
	} else {
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, WRAP_TAG, tag) != 1)
			goto out;
		if (EVP_CipherFinal_ex(ctx, fin, &n) != 1) {
			rc = MQS_ERR_UNWRAP;
			goto out;
		}
	}
	rc = MQS_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Wrap a secret under the master key. */
int mqs_wrap_seal(const uint8_t mk[MQS_MASTER_KEY_LEN], const char *aad, const uint8_t *plain,
                  size_t plain_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	if (mk == NULL || out == NULL || out_len == NULL || (plain == NULL && plain_len > 0))
		return MQS_ERR_INVAL;
	if (plain_len > MQS_WRAP_MAX_PLAIN)
		return MQS_ERR_TOOBIG;
	if (out_cap < plain_len + MQS_WRAP_OVERHEAD)
		return MQS_ERR_BUFSIZE;
	out[0] = WRAP_VERSION;
	if (RAND_bytes(out + 1, WRAP_NONCE) != 1)
		return MQS_ERR_CRYPTO;
	rc = wrap_gcm(1, mk, out + 1, aad, plain, plain_len, out + 1 + WRAP_NONCE,
	              out + 1 + WRAP_NONCE + plain_len);
	if (rc != MQS_OK) {
		OPENSSL_cleanse(out, plain_len + MQS_WRAP_OVERHEAD);
		return rc;
	}
	*out_len = plain_len + MQS_WRAP_OVERHEAD;
	return MQS_OK;
}

/* Unwrap a secret wrapped by mqs_wrap_seal. */
int mqs_wrap_open(const uint8_t mk[MQS_MASTER_KEY_LEN], const char *aad, const uint8_t *wrapped,
                  size_t wrapped_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t tag[WRAP_TAG];
	size_t plain_len;
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	if (mk == NULL || wrapped == NULL || out_len == NULL)
		return MQS_ERR_INVAL;
	if (wrapped_len < MQS_WRAP_OVERHEAD || wrapped[0] != WRAP_VERSION ||
	    wrapped_len - MQS_WRAP_OVERHEAD > MQS_WRAP_MAX_PLAIN)
		return MQS_ERR_UNWRAP;
	plain_len = wrapped_len - MQS_WRAP_OVERHEAD;
	if (out_cap < plain_len || (out == NULL && plain_len > 0))
		return MQS_ERR_BUFSIZE;
	memcpy(tag, wrapped + wrapped_len - WRAP_TAG, WRAP_TAG);
	rc = wrap_gcm(0, mk, wrapped + 1, aad, wrapped + 1 + WRAP_NONCE, plain_len, out, tag);
	if (rc != MQS_OK) {
		if (plain_len > 0)
			OPENSSL_cleanse(out, plain_len);
		return rc;
	}
	*out_len = plain_len;
	return MQS_OK;
}

/* Derive a subkey: HMAC-SHA256(mk, label). */
int mqs_master_key_derive(const uint8_t mk[MQS_MASTER_KEY_LEN], const char *label,
                          uint8_t out[MQS_MASTER_KEY_LEN])
{
	unsigned int n = 0;

	if (mk == NULL || label == NULL || out == NULL)
		return MQS_ERR_INVAL;
	if (HMAC(EVP_sha256(), mk, MQS_MASTER_KEY_LEN, (const unsigned char *)label, strlen(label),
	         out, &n) == NULL ||
	    n != MQS_MASTER_KEY_LEN) {
		OPENSSL_cleanse(out, MQS_MASTER_KEY_LEN);
		return MQS_ERR_CRYPTO;
	}
	return MQS_OK;
}
