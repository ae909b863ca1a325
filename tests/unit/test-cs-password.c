/* SPDX-License-Identifier: BSD-3-Clause */
/* test-cs-password.c - Argon2id password hashes (docs/console.md
 * "Passwords"). */
#include "config.h"

#include <string.h>

#include "cs_int.h"
#include "tap.h"

int main(void)
{
	char h1[CS_HASH_MAX], h2[CS_HASH_MAX];
	char longpw[CS_PASSWORD_MAX + 2];

	tap_is_int(cs_password_hash("correct horse battery", 1, 1024, 1, h1), MQS_OK, "hashed");
	tap_ok(strncmp(h1, "$argon2id$v=19$m=1024,t=1,p=1$", 30) == 0,
	       "encoded Argon2id with its parameters");
	tap_is_int(cs_password_hash("correct horse battery", 1, 1024, 1, h2), MQS_OK,
	           "hashed again");
	tap_ok(strcmp(h1, h2) != 0, "a new salt each time");
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
	tap_ok(!cs_password_stale(h1, 1, 1024, 1), "same parameters: not stale");
	tap_ok(cs_password_stale(h1, 2, 1024, 1), "other time cost: stale");
	tap_ok(cs_password_stale(h1, 1, 2048, 1), "other memory: stale");
	tap_ok(cs_password_stale(h1, 1, 10240, 1), "memory with a common prefix: stale");
	tap_ok(cs_password_stale(h1, 1, 1024, 2), "other parallelism: stale");
	tap_ok(cs_password_stale("$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA", 1, 1024, 1),
	       "argon2i: stale");
	tap_ok(cs_password_stale(NULL, 1, 1024, 1), "no hash: stale");
	tap_done();
	return tap_exit();
}
