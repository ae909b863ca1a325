/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-conntoken.c - libFuzzer target for connect tokens (mqs_conntoken.h;
 * docs/broker-plugin.md, "Connect tokens").
 *
 * Input: byte 0 even: the rest is a password; mqs_conntoken_parse() never
 * crashes, accepts only "mqs1." and 48 base64url characters, zeroes the
 * token on failure, and a parsed token's check is a clean yes or no
 * (MQS_OK or MQS_ERR_TOTP).  Byte 0 odd: the rest
 * is "username\nclientid\n" and nonce bytes; the made token parses,
 * verifies for exactly those identities and that key, lies in its own
 * time window, and one changed character is refused. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_conntoken.h"
#include "mqs_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t kconn[MQS_KDF_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

/* 1 when c is one of the 64 base64url characters. */
static int b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Parse any password. */
static void one_password(const char *text)
{
	struct mqs_conntoken t, zero;
	int rc = mqs_conntoken_parse(text, &t);

	memset(&zero, 0, sizeof(zero));
	if (rc != MQS_OK) {
		if (memcmp(&t, &zero, sizeof(t)) != 0)
			abort();
		return;
	}
	if (!mqs_conntoken_is_token(text) || strlen(text) != MQS_CONNTOKEN_TEXT_LEN)
		abort();
	for (size_t i = 5; i < MQS_CONNTOKEN_TEXT_LEN; i++) {
		if (!b64url_char(text[i]))
			abort();
	}
	(void)mqs_conntoken_when(&t, t.ts_ms, 0);
	(void)mqs_conntoken_when(&t, 0, 120);
	(void)mqs_conntoken_when(&t, UINT64_MAX, 120);
	rc = mqs_conntoken_verify(NULL, kconn, "dev1", "cid1", &t);
	if (rc != MQS_OK && rc != MQS_ERR_TOTP)
		abort();
}

/* Make a token for the identities of the input and check it. */
static void one_made(char *rest, size_t len)
{
	struct mqs_conntoken t;
	uint8_t nonce[MQS_CONNTOKEN_NONCE_LEN], other[MQS_KDF_KEY_LEN];
	char tok[MQS_CONNTOKEN_TEXT_LEN + 1], user2[70];
	char *user = rest, *cid, *nl;
	uint64_t ts = 0;
	int rc;

	cid = strchr(user, '\n');
	if (cid == NULL)
		return;
	*cid++ = '\0';
	nl = strchr(cid, '\n');
	memset(nonce, 0, sizeof(nonce));
	if (nl != NULL) {
		size_t n = len - (size_t)(nl + 1 - rest);

		*nl = '\0';
		memcpy(nonce, nl + 1, n < sizeof(nonce) ? n : sizeof(nonce));
		for (size_t i = 0; i < n && i < 8; i++)
			ts = ts << 8 | (uint8_t)nl[1 + i];
	}
	rc = mqs_conntoken_make(kconn, user, cid, ts, nonce, tok);
	if (user[0] == '\0' || cid[0] == '\0') {
		if (rc != MQS_ERR_INVAL || tok[0] != '\0')
			abort();
		return;
	}
	if (rc != MQS_OK || strlen(tok) != MQS_CONNTOKEN_TEXT_LEN)
		abort();
	if (mqs_conntoken_parse(tok, &t) != MQS_OK || t.ts_ms != ts ||
	    memcmp(t.nonce, nonce, sizeof(nonce)) != 0)
		abort();
	if (mqs_conntoken_verify(NULL, kconn, user, cid, &t) != MQS_OK ||
	    mqs_conntoken_when(&t, ts, 0) != 0)
		abort();
	/* another client id, username or key */
	if (strlen(cid) < sizeof(user2) - 2) {
		memcpy(user2, cid, strlen(cid));
		memcpy(user2 + strlen(cid), "x", 2);
		if (mqs_conntoken_verify(NULL, kconn, user, user2, &t) != MQS_ERR_TOTP)
			abort();
	}
	if (strcmp(user, cid) != 0 &&
	    mqs_conntoken_verify(NULL, kconn, cid, user, &t) != MQS_ERR_TOTP)
		abort();
	memcpy(other, kconn, sizeof(other));
	other[31] ^= 1;
	if (mqs_conntoken_verify(NULL, other, user, cid, &t) != MQS_ERR_TOTP)
		abort();
	/* one changed character: a parse failure or a wrong tag (the last
	 * character carries 2 bits of padding in 48 characters for 36 bytes:
	 * none, every character counts) */
	tok[5 + ts % 48] = tok[5 + ts % 48] == 'A' ? 'B' : 'A';
	if (mqs_conntoken_parse(tok, &t) == MQS_OK &&
	    mqs_conntoken_verify(NULL, kconn, user, cid, &t) == MQS_OK)
		abort();
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 4096)
		return 0;
	s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] % 2 == 0)
		one_password(s);
	else if (strlen(s) == size - 1)
		one_made(s, size - 1);
	free(s);
	return 0;
}
