/* SPDX-License-Identifier: BSD-3-Clause */
/* test-cs-csrf.c - CSRF tokens (docs/console.md "Sessions and CSRF"). */
#include "config.h"

#include <string.h>

#include "cs_int.h"
#include "tap.h"

int main(void)
{
	uint8_t key[MQS_MASTER_KEY_LEN], key2[MQS_MASTER_KEY_LEN];
	char a[CS_CSRF_TEXT + 1], b[CS_CSRF_TEXT + 1], c1[CS_CSRF_TEXT + 1];
	char l1[CS_CSRF_TEXT + 1], l2[CS_CSRF_TEXT + 1], l3[CS_CSRF_TEXT + 1];

	memset(key, 7, sizeof(key));
	memset(key2, 8, sizeof(key2));
	tap_is_int(cs_csrf_random(a), MQS_OK, "random token");
	tap_is_int(cs_csrf_random(b), MQS_OK, "another");
	tap_is_int((long long)strlen(a), CS_CSRF_TEXT, "43 characters (256 bits)");
	tap_ok(strcmp(a, b) != 0, "tokens differ");
	tap_is_int(cs_csrf_check(a, a), MQS_OK, "the same token passes");
	tap_is_int(cs_csrf_check(a, b), MQS_ERR_PERM, "another token refused");
	tap_is_int(cs_csrf_check(a, NULL), MQS_ERR_PERM, "a missing token refused");
	tap_is_int(cs_csrf_check(a, ""), MQS_ERR_PERM, "an empty token refused");
	memcpy(c1, a, sizeof(c1));
	c1[CS_CSRF_TEXT - 1] = c1[CS_CSRF_TEXT - 1] == 'A' ? 'B' : 'A';
	tap_is_int(cs_csrf_check(a, c1), MQS_ERR_PERM, "one character changed refused");
	c1[CS_CSRF_TEXT - 1] = '\0';
	tap_is_int(cs_csrf_check(a, c1), MQS_ERR_PERM, "a prefix refused");
	tap_is_int(cs_csrf_check(NULL, NULL), MQS_ERR_PERM, "no session token: refused");
	tap_is_int(cs_csrf_login(key, a, l1), MQS_OK, "login token");
	tap_is_int(cs_csrf_login(key, a, l2), MQS_OK, "login token again");
	tap_is_int(cs_csrf_check(l1, l2), MQS_OK, "the same for the same cookie");
	tap_is_int(cs_csrf_login(key, b, l3), MQS_OK, "login token of another cookie");
	tap_is_int(cs_csrf_check(l1, l3), MQS_ERR_PERM, "another cookie: another token");
	tap_is_int(cs_csrf_login(key2, a, l3), MQS_OK, "login token under another key");
	tap_is_int(cs_csrf_check(l1, l3), MQS_ERR_PERM, "another key: another token");
	tap_is_int(cs_csrf_login(key, "short", l3), MQS_ERR_INVAL, "a malformed cookie refused");
	tap_done();
	return tap_exit();
}
