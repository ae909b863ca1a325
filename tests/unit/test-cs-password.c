/* SPDX-License-Identifier: BSD-3-Clause */
/* test-cs-password.c - Argon2id password hashes (docs/console.md
 * "Passwords"). */
#include "config.h"

#include <string.h>

#include "cs_int.h"
#include "tap.h"

/* cs_password_upgrade with today's t, m, p: its answer, and 0 when the
 * parameters it hands back are not want_t, want_m and p: -1. */
static int upgrade(const char *enc, unsigned t, unsigned m, unsigned p, unsigned want_t,
                   unsigned want_m)
{
	int r = cs_password_upgrade(enc, &t, &m, &p);

	if (t != want_t || m != want_m)
		return -1;
	return r;
}

int main(void)
{
	char h1[CS_HASH_MAX], h2[CS_HASH_MAX], h3[CS_HASH_MAX];
	unsigned t = 0, m = 0, p = 0;
	char longpw[CS_PASSWORD_MAX + 2];

	tap_is_int(cs_password_hash("correct horse battery", 1, 1024, 1, h1), MQS_OK, "hashed");
	tap_ok(strncmp(h1, "$argon2id$v=19$m=1024,t=1,p=1$", 30) == 0,
	       "encoded Argon2id with its parameters");
	tap_is_int(cs_password_hash("correct horse battery", 1, 1024, 1, h2), MQS_OK,
	           "hashed again");
	tap_ok(strcmp(h1, h2) != 0, "a new salt each time");
	tap_is_int(cs_password_hash("correct horse battery", 2, 1024, 1, h3), MQS_OK,
	           "hashed with t=2");
	tap_is_int(cs_password_verify(h1, "correct horse battery"), MQS_OK, "right password");
	tap_is_int(cs_password_verify(h1, "correct horse batterY"), MQS_ERR_PERM,
	           "wrong password refused");
	tap_is_int(cs_password_verify(h1, ""), MQS_ERR_PERM, "empty password refused");
	tap_is_int(cs_password_verify("", "correct horse battery"), MQS_ERR_PERM,
	           "empty hash refused");
	tap_is_int(cs_password_verify("$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
	                              "correct horse battery"),
	           MQS_ERR_PERM, "another Argon2 variant refused");
	tap_is_int(cs_password_hash("short", 1, 1024, 1, h2), MQS_ERR_INVAL,
	           "a password under 12 bytes refused");
	memset(longpw, 'a', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	tap_is_int(cs_password_hash(longpw, 1, 1024, 1, h2), MQS_ERR_INVAL,
	           "a password over 1024 bytes refused");
	tap_is_int(cs_password_verify(h1, longpw), MQS_ERR_PERM, "over-long password refused");
	tap_ok(0 == upgrade(h1, 1, 1024, 1, 1, 1024), "same parameters: kept");
	tap_ok(1 == upgrade(h1, 2, 1024, 1, 2, 1024), "higher time cost today: re-hashed with it");
	tap_ok(1 == upgrade(h1, 1, 2048, 1, 1, 2048), "more memory today: re-hashed with it");
	tap_ok(1 == upgrade(h1, 1, 10240, 1, 1, 10240), "memory with a common prefix: re-hashed");
	tap_ok(1 == upgrade(h1, 1, 1024, 2, 1, 1024), "other parallelism: re-hashed, costs kept");
	tap_ok(0 == upgrade(h1, 1, 512, 1, 1, 512), "less memory today: kept (never lowered)");
	tap_ok(0 == upgrade(h3, 1, 1024, 1, 1, 1024),
	       "lower time cost today: kept (never lowered)");
	tap_ok(1 == upgrade(h3, 1, 2048, 1, 2, 2048),
	       "more memory but less time today: re-hashed with the higher of each");
	tap_ok(1 == upgrade("$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA", 1, 1024, 1, 1, 1024),
	       "argon2i: re-hashed with today's");
	tap_ok(1 ==
	           upgrade("$argon2id$v=16$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA", 1, 1024, 1, 1, 1024),
	       "version 16: re-hashed with today's");
	tap_ok(1 == upgrade("$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaA", 1, 1024, 1,
	                    1, 1024),
	       "an out-of-range number: re-hashed with today's");
	tap_ok(1 == upgrade(NULL, 1, 1024, 1, 1, 1024), "no hash: re-hashed with today's");
	tap_is_int(cs_password_params(h3, &t, &m, &p), MQS_OK, "parameters parsed");
	tap_ok(t == 2 && m == 1024 && p == 1, "t=2 m=1024 p=1");
	tap_is_int(cs_password_params("$argon2id$v=19$m=1024,t=1$x", &t, &m, &p), MQS_ERR_PARSE,
	           "no p: not parsed");
	tap_done();
	return tap_exit();
}
