/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_password.c - console passwords, Argon2id (libargon2) in its encoded
 * form (docs/console.md "Passwords"). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cs_int.h"

#define SALT_LEN 16
#define HASH_LEN 32

/* Hash a password with Argon2id. */
int cs_password_hash(const char *password, unsigned t, unsigned m_kib, unsigned p,
                     char out[CS_HASH_MAX])
{
	uint8_t salt[SALT_LEN];
	size_t n;
	int rc = MQS_ERR_INVAL;

	out[0] = '\0';
	if (password == NULL)
		goto out;
	n = strlen(password);
	if (n < CS_PASSWORD_MIN || n > CS_PASSWORD_MAX)
		goto out;
	rc = MQS_ERR_CRYPTO;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		goto out;
	if (argon2id_hash_encoded(t, m_kib, p, password, n, salt, sizeof(salt), HASH_LEN, out,
	                          CS_HASH_MAX) != ARGON2_OK) {
		out[0] = '\0';
		goto out;
	}
	rc = MQS_OK;
out:
	OPENSSL_cleanse(salt, sizeof(salt));
	return rc;
}

/* Verify a password against an encoded Argon2id hash. */
int cs_password_verify(const char *encoded, const char *password)
{
	size_t n;

	if (encoded == NULL || password == NULL || strncmp(encoded, "$argon2id$", 10) != 0)
		return MQS_ERR_PERM;
	n = strlen(password);
	if (n == 0 || n > CS_PASSWORD_MAX)
		return MQS_ERR_PERM;
	/* argon2_verify compares in constant time */
	return argon2id_verify(encoded, password, n) == ARGON2_OK ? MQS_OK : MQS_ERR_PERM;
}

/* The cost of one verification, spent for an unknown user. */
void cs_password_dummy(unsigned t, unsigned m_kib, unsigned p)
{
	static const uint8_t salt[SALT_LEN] = "mqttsec-console";
	uint8_t hash[HASH_LEN];

	(void)argon2id_hash_raw(t, m_kib, p, "dummy-password", 14, salt, sizeof(salt), hash,
	                        sizeof(hash));
	OPENSSL_cleanse(hash, sizeof(hash));
}

/* 1 when encoded is not "$argon2id$v=19$m=M,t=T,p=P$..." with today's
 * parameters. */
int cs_password_stale(const char *encoded, unsigned t, unsigned m_kib, unsigned p)
{
	char want[96];
	int n;

	if (encoded == NULL)
		return 1;
	n = snprintf(want, sizeof(want), "$argon2id$v=%d$m=%u,t=%u,p=%u$", ARGON2_VERSION_NUMBER,
	             m_kib, t, p);
	if (n <= 0 || (size_t)n >= sizeof(want))
		return 1;
	return strncmp(encoded, want, (size_t)n) != 0;
}
