/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_kdf.c - HKDF-SHA256 over OpenSSL EVP_KDF and the derived keys of
 * mqs_kdf.h (docs/payload-encryption.md, "One key, one purpose"). */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "mqs_alloc.h"
#include "mqs_kdf.h"

/* HKDF, fetched once (a fetch costs more than a derivation).  NULL when it
 * could not be fetched; then each derivation fetches its own. */
static EVP_KDF *kdf_hkdf;
static pthread_once_t kdf_once = PTHREAD_ONCE_INIT;

/* Fetch the HKDF implementation (pthread_once). */
static void kdf_setup(void)
{
	kdf_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

/* HKDF-SHA256(ikm, salt, info) -> out (mqs_kdf.h). */
int mqs_kdf_hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                 const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	static const uint8_t empty[1] = {0};
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	int rc = MQS_ERR_INVAL;

	if (out == NULL || out_len == 0 || out_len > 255 * 32)
		return MQS_ERR_INVAL;
	if (ikm == NULL || ikm_len == 0 || (salt == NULL && salt_len != 0) ||
	    (info == NULL && info_len != 0) || info_len > MQS_KDF_INFO_MAX)
		goto out;
	rc = MQS_ERR_CRYPTO;
	if (pthread_once(&kdf_once, kdf_setup) != 0)
		goto out;
	if (kdf_hkdf != NULL && EVP_KDF_up_ref(kdf_hkdf) == 1)
		kdf = kdf_hkdf;
	else
		kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf == NULL)
		goto out;
	kctx = EVP_KDF_CTX_new(kdf);
	if (kctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_SALT, (void *)(salt_len != 0 ? salt : empty), salt_len);
	params[3] = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_INFO, (void *)(info_len != 0 ? info : empty), info_len);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
		goto out;
	rc = MQS_OK;
out:
	if (rc != MQS_OK)
		OPENSSL_cleanse(out, out_len);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* HKDF(dk, "", "mqttsec-keys-v1") (mqs_kdf.h). */
int mqs_kdf_keys_answer(const uint8_t dk[MQS_KDF_KEY_LEN], uint8_t out[MQS_KDF_KEY_LEN])
{
	return mqs_kdf_hkdf(dk, MQS_KDF_KEY_LEN, NULL, 0, (const uint8_t *)MQS_KDF_INFO_KEYS,
	                    strlen(MQS_KDF_INFO_KEYS), out, MQS_KDF_KEY_LEN);
}

/* HKDF(dk, "", "mqttsec-downlink-v1" | topic) (mqs_kdf.h). */
int mqs_kdf_downlink(const uint8_t dk[MQS_KDF_KEY_LEN], const char *topic, size_t topic_len,
                     uint8_t out[MQS_KDF_KEY_LEN])
{
	const size_t plen = strlen(MQS_KDF_INFO_DOWNLINK);
	uint8_t *info = NULL;
	int rc = MQS_ERR_INVAL;

	if (out == NULL)
		return MQS_ERR_INVAL;
	if (topic == NULL || topic_len == 0 || topic_len > 65535)
		goto out;
	rc = MQS_ERR_NOMEM;
	info = mqs_malloc(plen + topic_len);
	if (info == NULL)
		goto out;
	memcpy(info, MQS_KDF_INFO_DOWNLINK, plen);
	memcpy(info + plen, topic, topic_len);
	rc = mqs_kdf_hkdf(dk, MQS_KDF_KEY_LEN, NULL, 0, info, plen + topic_len, out,
	                  MQS_KDF_KEY_LEN);
out:
	if (rc != MQS_OK)
		OPENSSL_cleanse(out, MQS_KDF_KEY_LEN);
	mqs_free(info);
	return rc;
}

/* HKDF(secret, "", "mqttsec-connect-v1") (mqs_kdf.h). */
int mqs_kdf_connect(const uint8_t *secret, size_t secret_len, uint8_t out[MQS_KDF_KEY_LEN])
{
	if (secret_len > 128) {
		if (out != NULL)
			OPENSSL_cleanse(out, MQS_KDF_KEY_LEN);
		return MQS_ERR_INVAL;
	}
	return mqs_kdf_hkdf(secret, secret_len, NULL, 0, (const uint8_t *)MQS_KDF_INFO_CONNECT,
	                    strlen(MQS_KDF_INFO_CONNECT), out, MQS_KDF_KEY_LEN);
}
