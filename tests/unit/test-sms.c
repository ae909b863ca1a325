/* SPDX-License-Identifier: BSD-3-Clause */
/* test-sms.c - the secure SMS envelope M1 (lib/mqs_sms.c,
 * docs/sms-envelope.md): the published test vectors (made by the
 * independent Python implementation tests/tools/m1.py), round trips, every
 * one-character alteration refused, the wrong number or key refused,
 * non-canonical encodings refused, the caps (component 32 bytes, body 1600
 * characters, 81 bytes in one SMS) and the segment count. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mqs_sms.h"
#include "tap.h"

struct vector {
	uint16_t key_id;
	uint32_t ts;
	const char *to;
	uint8_t action;
	const char *component;
	const char *text;
	const char *body;
};

/* python3 tests/tools/m1.py vectors: key 00..1f, nonce a0..ab */
static const struct vector vectors[] = {
    {1, 1767225600u, "+15551234567", 1, "alerts", "Server room 41.5 C",
     "#M1AAFpVbkAoKGio6Slpqeoqaqr6shb1IycIlit2V6lMjHau-moBrTSrrCN2i7L3JmdqEb2KzsHg6CaMnHq"},
    {2, 1767225600u, "+15551234567", 0, "", "",
     "#M1AAJpVbkAoKGio6SlpqeoqaqrjgB3vBeTcUxIGYkbNUXrQ_Xz"},
    {513, 4102444800u, "+819012345678", 2, "shop/\xc3\xa9t\xc3\xa9",
     "Soldes: -20% \xe2\x82\xac \xc3\xa0 tout",
     "#M1AgH0hlcAoKGio6Slpqeoqaqrl7xqxxcdjdFrCNX82DHzMnfFkD_G6hiZQXwwTOGL51MASxXLzxjQHHtO_"
     "RBqFMtZIEftWg"},
    {65535, 0, "+1", 3, "login", "123456",
     "#M1__8AAAAAoKGio6SlpqeoqaqrkSUe5WNT6tB5K1ZY_Wa1hvvyhbqVdmns5DdFg_Q"},
};

static uint8_t key[MQS_SMS_KEY_LEN];
static uint8_t nonce[MQS_SMS_NONCE_LEN];

/* Seal text of text_len bytes (component "c") for +15551234567; returns
 * the error code and leaves the body in out. */
static int seal_text(const char *text, size_t text_len, char *out, size_t cap, size_t *len)
{
	return mqs_sms_seal(key, 7, 1767225600u, nonce, "+15551234567", 12, 0, NULL, 0, text,
	                    text_len, out, cap, len);
}

int main(void)
{
	static char big[2000], body[MQS_SMS_BODY_MAX + 8], alt[MQS_SMS_BODY_MAX + 8];
	struct mqs_sms_msg m;
	size_t len = 0;
	int all_refused = 1, ucs2 = 0;
	const char *v0 = vectors[0].body;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)(0xa0 + i);

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		int rc;

		rc = mqs_sms_seal(key, v->key_id, v->ts, nonce, v->to, strlen(v->to), v->action,
		                  v->component, strlen(v->component), v->text, strlen(v->text),
		                  body, sizeof(body), &len);
		tap_is_int(rc, MQS_OK, "vector %zu seals", i);
		tap_ok(strcmp(body, v->body) == 0 && len == strlen(v->body),
		       "vector %zu agrees with the python implementation", i);
		tap_is_int((int)mqs_sms_sealed_len(strlen(v->component), strlen(v->text)),
		           (int)strlen(v->body), "vector %zu: sealed_len", i);
		rc = mqs_sms_open(key, v->body, strlen(v->body), v->to, strlen(v->to), &m);
		tap_is_int(rc, MQS_OK, "vector %zu opens", i);
		tap_ok(m.key_id == v->key_id && m.timestamp == v->ts && m.action == v->action &&
		           strcmp(m.component, v->component) == 0 && strcmp(m.text, v->text) == 0 &&
		           memcmp(m.nonce, nonce, sizeof(nonce)) == 0,
		       "vector %zu: fields read back", i);
		mqs_sms_msg_wipe(&m);
	}

	tap_is_int(mqs_sms_parse(v0, strlen(v0), &m), MQS_OK, "parse reads the header");
	tap_ok(m.key_id == 1 && m.timestamp == 1767225600u, "... key id and timestamp");
	tap_ok(mqs_sms_is_sealed(v0, strlen(v0)) && !mqs_sms_is_sealed("#M2AAAA", 7) &&
	           !mqs_sms_is_sealed("#M", 2),
	       "is_sealed tells M1 bodies apart");

	/* every one-character alteration is refused */
	for (size_t i = 0; i < strlen(v0); i++) {
		int rc;

		memcpy(alt, v0, strlen(v0) + 1);
		alt[i] = alt[i] == 'A' ? 'B' : 'A';
		rc = mqs_sms_open(key, alt, strlen(alt), "+15551234567", 12, &m);
		if (rc == MQS_OK)
			all_refused = 0;
	}
	tap_ok(all_refused, "every one-character alteration is refused");
	memcpy(alt, vectors[3].body, strlen(vectors[3].body) + 1);
	alt[strlen(alt) - 1] = 'R'; /* ...Q -> ...R: same bytes if unused bits were ignored */
	tap_is_int(mqs_sms_open(key, alt, strlen(alt), "+1", 2, &m), MQS_ERR_PARSE,
	           "non-canonical last character refused");
	tap_ok(m.text[0] == '\0' && m.key_id == 0, "... and the message is wiped");
	tap_ok(mqs_sms_open(key, v0, strlen(v0) - 1, "+15551234567", 12, &m) != MQS_OK,
	       "one character cut: refused");
	tap_is_int(mqs_sms_open(key, v0, strlen(v0), "+15551234568", 12, &m), MQS_ERR_ENV_AUTH,
	           "wrong number refused");
	tap_is_int(mqs_sms_open(key, v0, strlen(v0), "15551234567", 11, &m), MQS_ERR_INVAL,
	           "number without + refused");
	key[0] ^= 1;
	tap_is_int(mqs_sms_open(key, v0, strlen(v0), "+15551234567", 12, &m), MQS_ERR_ENV_AUTH,
	           "wrong key refused");
	key[0] ^= 1;
	tap_is_int(mqs_sms_open(key, "#M1AAAA", 7, "+15551234567", 12, &m), MQS_ERR_PARSE,
	           "too short refused");
	tap_is_int(mqs_sms_open(key, "#M1AA=A", 7, "+15551234567", 12, &m), MQS_ERR_PARSE,
	           "padding refused");
	tap_is_int(mqs_sms_open(key, "M1AAAAAAAA", 10, "+15551234567", 12, &m), MQS_ERR_PARSE,
	           "no prefix refused");

	/* caps */
	memset(big, 'x', sizeof(big));
	tap_is_int(seal_text(big, MQS_SMS_TEXT_MAX, body, sizeof(body), &len), MQS_OK,
	           "longest text (%d bytes) seals", MQS_SMS_TEXT_MAX);
	tap_ok(len <= MQS_SMS_BODY_MAX, "... into at most 1600 characters (%zu)", len);
	tap_is_int(mqs_sms_open(key, body, len, "+15551234567", 12, &m), MQS_OK, "... and opens");
	tap_is_int(seal_text(big, MQS_SMS_TEXT_MAX + 1, body, sizeof(body), &len), MQS_ERR_TOOBIG,
	           "one byte more: too long");
	tap_ok(len == 0 && body[0] == '\0', "... and nothing is written");
	tap_is_int(seal_text(big, 10, body, 20, &len), MQS_ERR_BUFSIZE, "small buffer refused");
	tap_is_int(mqs_sms_seal(key, 1, 0, nonce, "+1555", 5, 0, big, 33, "t", 1, body,
	                        sizeof(body), &len),
	           MQS_ERR_TOOBIG, "component of 33 bytes refused");
	tap_is_int(mqs_sms_seal(key, 1, 0, nonce, "+1555", 5, 4, NULL, 0, "t", 1, body,
	                        sizeof(body), &len),
	           MQS_ERR_INVAL, "unknown action refused");
	tap_is_int(mqs_sms_seal(key, 1, 0, nonce, "+1555", 5, 0, NULL, 0, "\xff", 1, body,
	                        sizeof(body), &len),
	           MQS_ERR_INVAL, "invalid UTF-8 refused");
	tap_is_int(mqs_sms_seal(key, 1, 0, nonce, "+12345678901234567", 18, 0, NULL, 0, "t", 1,
	                        body, sizeof(body), &len),
	           MQS_ERR_INVAL, "number over 15 digits refused");
	tap_ok(mqs_sms_sealed_len(0, 81) <= 160 && mqs_sms_sealed_len(0, 82) > 160,
	       "81 bytes of component + text fit in 160 characters, 82 do not");
	tap_ok(mqs_sms_sealed_len(33, 0) == 0 && mqs_sms_sealed_len(0, MQS_SMS_TEXT_MAX + 1) == 0,
	       "sealed_len over the caps is 0");
	tap_is_int(seal_text(NULL, 0, body, sizeof(body), &len), MQS_OK, "random nonce seal");
	tap_is_int(
	    mqs_sms_seal(key, 7, 1, NULL, "+1555", 5, 0, NULL, 0, NULL, 0, alt, sizeof(alt), &len),
	    MQS_OK, "fresh nonce seal");
	tap_ok(strcmp(body, alt) != 0, "two seals differ");

	/* segments */
	tap_is_int((int)mqs_sms_segments(big, 160, &ucs2), 1, "160 GSM-7 characters: 1 segment");
	tap_is_int(ucs2, 0, "... in GSM-7");
	tap_is_int((int)mqs_sms_segments(big, 161, NULL), 2, "161: 2 segments");
	tap_is_int((int)mqs_sms_segments(big, 306, NULL), 2, "306: 2 segments");
	tap_is_int((int)mqs_sms_segments(big, 307, NULL), 3, "307: 3 segments");
	tap_is_int((int)mqs_sms_segments(big, 1600, NULL), 11, "1600: 11 segments");
	tap_is_int((int)mqs_sms_segments("", 0, NULL), 0, "empty: 0 segments");
	for (size_t i = 0; i < 81; i++)
		memcpy(big + 3 * i, "\xe2\x82\xac", 3);
	tap_is_int((int)mqs_sms_segments(big, 3 * 80, &ucs2), 1, "80 euro signs: 160 septets, 1");
	tap_is_int((int)mqs_sms_segments(big, 3 * 81, NULL), 2, "81 euro signs: 2");
	for (size_t i = 0; i < 71; i++)
		memcpy(big + 2 * i, "\xd0\xb6", 2);
	tap_is_int((int)mqs_sms_segments(big, 2 * 70, &ucs2), 1, "70 Cyrillic letters: 1 segment");
	tap_is_int(ucs2, 1, "... in UCS-2");
	tap_is_int((int)mqs_sms_segments(big, 2 * 71, NULL), 2, "71 Cyrillic letters: 2");
	tap_is_int((int)mqs_sms_segments(v0, strlen(v0), &ucs2), 1, "a sealed vector: 1 segment");
	tap_is_int(ucs2, 0, "... in GSM-7 (base64url and #M1 are GSM-7)");
	tap_is_int((int)mqs_sms_segments("`", 1, &ucs2), 1, "backtick: 1 segment");
	tap_is_int(ucs2, 1, "... but not GSM-7");
	tap_done();
	return tap_exit();
}
