/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_csrf.c - CSRF tokens (docs/console.md "Sessions and CSRF"): a random
 * token per session, and for the sign-in form a token bound to a
 * pre-session cookie. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "cs_int.h"
#include "mqs_util.h"

/* Compare a CSRF token in constant time. */
int cs_csrf_check(const char *want, const char *given)
{
	if (want == NULL || given == NULL || strlen(want) != CS_CSRF_TEXT ||
	    strlen(given) != CS_CSRF_TEXT)
		return MQS_ERR_PERM;
	return CRYPTO_memcmp(want, given, CS_CSRF_TEXT) == 0 ? MQS_OK : MQS_ERR_PERM;
}

/* The sign-in form's token for a pre-session cookie. */
int cs_csrf_login(const uint8_t key[MQS_MASTER_KEY_LEN], const char *cookie,
                  char out[CS_CSRF_TEXT + 1])
{
	uint8_t mac[32];
	unsigned int maclen = 0;
	char msg[16 + CS_SID_TEXT + 1];
	int rc = MQS_ERR_INVAL;

	out[0] = '\0';
	if (cookie == NULL || strlen(cookie) != CS_SID_TEXT)
		goto out;
	snprintf(msg, sizeof(msg), "login:%s", cookie);
	rc = MQS_ERR_CRYPTO;
	if (HMAC(EVP_sha256(), key, MQS_MASTER_KEY_LEN, (const uint8_t *)msg, strlen(msg), mac,
	         &maclen) == NULL ||
	    maclen != sizeof(mac))
		goto out;
	mqs_base64url_encode(mac, sizeof(mac), out);
	out[CS_CSRF_TEXT] = '\0';
	rc = MQS_OK;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* A random token. */
int cs_csrf_random(char out[CS_CSRF_TEXT + 1])
{
	uint8_t r[32];
	int rc = MQS_ERR_CRYPTO;

	out[0] = '\0';
	if (RAND_bytes(r, sizeof(r)) != 1)
		goto out;
	mqs_base64url_encode(r, sizeof(r), out);
	out[CS_CSRF_TEXT] = '\0';
	rc = MQS_OK;
out:
	OPENSSL_cleanse(r, sizeof(r));
	return rc;
}
