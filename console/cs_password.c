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

static int parse_uint(const char **s, const char *key, char end, unsigned *out)
{
	size_t kl = strlen(key);
	unsigned long v = 0;
	const char *q = *s;
	int digits = 0;

	if (strncmp(q, key, kl) != 0)
		return 0;
	q += kl;
	while (*q >= '0' && *q <= '9' && digits < 10) {
		v = v * 10 + (unsigned long)(*q - '0');
		q++;
		digits++;
	}
	if (digits == 0 || *q != end || v > 0xffffffffUL)
		return 0;
	*out = (unsigned)v;
	*s = q + 1;
	return 1;
}

/* Parse the parameters of "$argon2id$v=V$m=M,t=T,p=P$...". */
int cs_password_params(const char *encoded, unsigned *t, unsigned *m_kib, unsigned *p)
{
	const char *s = encoded;
	unsigned v = 0;

	if (s == NULL || strncmp(s, "$argon2id$", 10) != 0)
		return MQS_ERR_PARSE;
	s += 10;
	if (!parse_uint(&s, "v=", '$', &v) || !parse_uint(&s, "m=", ',', m_kib) ||
	    !parse_uint(&s, "t=", ',', t) || !parse_uint(&s, "p=", '$', p) ||
	    v != ARGON2_VERSION_NUMBER)
		return MQS_ERR_PARSE;
	return MQS_OK;
}

/* Whether to re-hash, and with what: only ever upwards. */
int cs_password_upgrade(const char *encoded, unsigned *t, unsigned *m_kib, unsigned *p)
{
	unsigned st = 0, sm = 0, sp = 0;

	if (cs_password_params(encoded, &st, &sm, &sp) != MQS_OK)
		return 1; /* not Argon2id v19: today's parameters */
	if (st >= *t && sm >= *m_kib && sp == *p)
		return 0;
	/* the stronger time and memory cost of the two, never lower; the
	 * parallelism (not a cost) today's */
	if (st > *t)
		*t = st;
	if (sm > *m_kib)
		*m_kib = sm;
	return 1;
}
