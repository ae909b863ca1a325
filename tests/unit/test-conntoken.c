/* SPDX-License-Identifier: BSD-3-Clause */
/* test-conntoken.c - connect tokens (lib/mqs_conntoken.c): a vector made by
 * the independent Python implementation (tests/tools/conntoken.py), round
 * trips, every bound field (username, client id, time, nonce, key) changing
 * the tag, malformed texts refused, the time window. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mqs_conntoken.h"
#include "mqs_kdf.h"
#include "tap.h"

/* the base32 secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ decoded */
static const uint8_t secret[20] = "12345678901234567890";
/* conntoken.py make --secret-b32 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ --user dev1
 *   --cid dev1-a --ts-ms 1700000000123 --nonce-hex 000102030405060708090a0b */
static const char vector[] = "mqs1.AAABi8_laHsAAQIDBAUGBwgJCgsmz7ZYgbkSAPtcFLZ9mJR9";
/* K_conn of secret, from the same implementation */
static const char kconn_hex[] = "93e69c36aba2c3519bdc0ef7bd366b808c81044bca0de271b368b9ee4f33474f";

int main(void)
{
	uint8_t k[MQS_KDF_KEY_LEN], k2[MQS_KDF_KEY_LEN], want_k[MQS_KDF_KEY_LEN];
	uint8_t nonce[MQS_CONNTOKEN_NONCE_LEN];
	char tok[MQS_CONNTOKEN_TEXT_LEN + 1], tok2[MQS_CONNTOKEN_TEXT_LEN + 1];
	char bad[MQS_CONNTOKEN_TEXT_LEN + 2];
	struct mqs_conntoken t;
	char longid[MQS_CONNTOKEN_ID_MAX + 2];

	for (size_t i = 0; i < sizeof(want_k); i++) {
		unsigned v = 0;

		sscanf(kconn_hex + 2 * i, "%2x", &v);
		want_k[i] = (uint8_t)v;
	}
	for (size_t i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)i;
	tap_is_int(mqs_kdf_connect(secret, sizeof(secret), k), MQS_OK, "k_conn derives");
	tap_is_mem(k, want_k, sizeof(k), "k_conn agrees with the python implementation");
	tap_is_int(mqs_conntoken_make(k, "dev1", "dev1-a", 1700000000123ull, nonce, tok), MQS_OK,
	           "make with a fixed nonce");
	tap_ok(strcmp(tok, vector) == 0, "token agrees with the python implementation (%s)", tok);
	tap_is_int((int)strlen(tok), MQS_CONNTOKEN_TEXT_LEN, "token is 53 characters");
	tap_ok(mqs_conntoken_is_token(tok) && !mqs_conntoken_is_token("123456") &&
	           !mqs_conntoken_is_token(NULL),
	       "is_token tells tokens from codes");
	tap_is_int(mqs_conntoken_parse(vector, &t), MQS_OK, "python's token parses");
	tap_ok(t.ts_ms == 1700000000123ull && memcmp(t.nonce, nonce, sizeof(nonce)) == 0,
	       "time and nonce read back");
	tap_is_int(mqs_conntoken_verify(NULL, k, "dev1", "dev1-a", &t), MQS_OK,
	           "python's token verifies");
	tap_is_int(mqs_conntoken_verify(NULL, k, "dev2", "dev1-a", &t), MQS_ERR_TOTP,
	           "another username: wrong tag");
	tap_is_int(mqs_conntoken_verify(NULL, k, "dev1", "dev1-b", &t), MQS_ERR_TOTP,
	           "another client id: wrong tag");
	tap_is_int(mqs_conntoken_verify(NULL, k, "dev1", "", &t), MQS_ERR_INVAL,
	           "empty client id refused");
	tap_is_int(mqs_conntoken_verify(NULL, k, "dev1d", "ev1-a", &t), MQS_ERR_TOTP,
	           "the separator binds where username ends");
	t.ts_ms++;
	tap_is_int(mqs_conntoken_verify(NULL, k, "dev1", "dev1-a", &t), MQS_ERR_TOTP,
	           "another time: wrong tag");
	t.ts_ms--;
	t.nonce[0] ^= 1;
	tap_is_int(mqs_conntoken_verify(NULL, k, "dev1", "dev1-a", &t), MQS_ERR_TOTP,
	           "another nonce: wrong tag");
	t.nonce[0] ^= 1;
	t.tag[15] ^= 0x80;
	tap_is_int(mqs_conntoken_verify(NULL, k, "dev1", "dev1-a", &t), MQS_ERR_TOTP,
	           "a flipped tag bit: wrong tag");
	t.tag[15] ^= 0x80;
	memcpy(k2, k, sizeof(k));
	k2[0] ^= 1;
	tap_is_int(mqs_conntoken_verify(NULL, k2, "dev1", "dev1-a", &t), MQS_ERR_TOTP,
	           "another key: wrong tag");
	{
		/* one reusable context, keyed anew by every check */
		struct mqs_conntoken_mac *m = NULL;

		tap_is_int(mqs_conntoken_mac_new(&m), MQS_OK, "a reusable context");
		tap_is_int(mqs_conntoken_verify(m, k, "dev1", "dev1-a", &t), MQS_OK,
		           "reusable context: right tag");
		tap_is_int(mqs_conntoken_verify(m, k2, "dev1", "dev1-a", &t), MQS_ERR_TOTP,
		           "reusable context: another key after the right one");
		tap_is_int(mqs_conntoken_verify(m, k, "dev1", "dev1-a", &t), MQS_OK,
		           "reusable context: the right key again");
		tap_is_int(mqs_conntoken_verify(m, k, "dev1", "dev1-b", &t), MQS_ERR_TOTP,
		           "reusable context: another client id");
		mqs_conntoken_mac_free(m);
		mqs_conntoken_mac_free(NULL);
	}

	/* random nonces, from the secret */
	tap_is_int(mqs_conntoken_make_secret(secret, sizeof(secret), "dev1", "c1", 42, tok), MQS_OK,
	           "make from the secret");
	tap_is_int(mqs_conntoken_make_secret(secret, sizeof(secret), "dev1", "c1", 42, tok2),
	           MQS_OK, "make again");
	tap_ok(strcmp(tok, tok2) != 0, "two tokens at the same time differ (random nonce)");
	tap_ok(mqs_conntoken_parse(tok, &t) == MQS_OK &&
	           mqs_conntoken_verify(NULL, k, "dev1", "c1", &t) == MQS_OK,
	       "a made token verifies");
	tap_is_int(mqs_conntoken_make(k, "dev1", "", 1, NULL, tok), MQS_ERR_INVAL,
	           "make refuses an empty client id");
	tap_ok(tok[0] == '\0', "output empty on failure");
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	tap_is_int(mqs_conntoken_make(k, longid, "c", 1, NULL, tok), MQS_ERR_INVAL,
	           "make refuses a username longer than 65535 bytes");

	/* malformed texts */
	tap_is_int(mqs_conntoken_parse("mqs1.", &t), MQS_ERR_PARSE, "empty body refused");
	snprintf(bad, sizeof(bad), "%s", vector);
	bad[20] = '+';
	tap_is_int(mqs_conntoken_parse(bad, &t), MQS_ERR_PARSE, "non-url base64 refused");
	snprintf(bad, sizeof(bad), "%sA", vector);
	tap_is_int(mqs_conntoken_parse(bad, &t), MQS_ERR_PARSE, "one character too many refused");
	snprintf(bad, sizeof(bad), "%s", vector);
	bad[MQS_CONNTOKEN_TEXT_LEN - 1] = '\0';
	tap_is_int(mqs_conntoken_parse(bad, &t), MQS_ERR_PARSE, "one character short refused");
	snprintf(bad, sizeof(bad), "%s", vector);
	bad[MQS_CONNTOKEN_TEXT_LEN - 1] = '=';
	tap_is_int(mqs_conntoken_parse(bad, &t), MQS_ERR_PARSE, "padding refused");
	snprintf(bad, sizeof(bad), "mqs2.%s", vector + 5);
	tap_is_int(mqs_conntoken_parse(bad, &t), MQS_ERR_PARSE, "other version prefix refused");

	/* the window */
	memset(&t, 0, sizeof(t));
	t.ts_ms = 1000000;
	tap_is_int(mqs_conntoken_when(&t, 1000000 + 300000, 300), 0, "at the window's end: in");
	tap_is_int(mqs_conntoken_when(&t, 1000000 + 300001, 300), -1, "after it: old");
	tap_is_int(mqs_conntoken_when(&t, 1000000 - 300000, 300), 0, "window ahead: in");
	tap_is_int(mqs_conntoken_when(&t, 1000000 - 300001, 300), 1, "further: future");
	t.ts_ms = UINT64_MAX - 5;
	tap_is_int(mqs_conntoken_when(&t, 1000000, 300), 1, "a wrapping time is future");
	tap_done();
	return tap_exit();
}
