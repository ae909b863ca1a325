/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-sms.c - libFuzzer target for the secure SMS envelope M1 parser
 * (mqs_sms.h, docs/sms-envelope.md).
 *
 * Input: any bytes, used as a body.  Properties:
 *  1. mqs_sms_parse and mqs_sms_open (fixed key 00..1f, number +15551234567)
 *     never crash; open never succeeds where parse fails; on every failure
 *     the message is all zero; on success the action is known, component and
 *     text are within their caps and NUL-terminated, and the key id and
 *     timestamp equal what parse read.
 *  2. "#M1" + the input as base64url is parsed too (so the fuzzer reaches
 *     the header and the AEAD, not only the alphabet check).
 *  3. seal-then-open: the input split into component (byte 0 % 33 bytes)
 *     and text, when both are valid UTF-8 and fit, seals and opens back to
 *     the same bytes; the body is "#M1" and base64url only, counts as one
 *     or more GSM-7 segments, and one character changed makes open fail.
 *  4. mqs_sms_segments never crashes on the input.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_error.h"
#include "mqs_sms.h"
#include "mqs_utf8.h"

static const uint8_t key[MQS_SMS_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const char to[] = "+15551234567";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++) {
		if (b[i] != 0)
			return 0;
	}
	return 1;
}

/* Properties 1 and 2 on body. */
static void check_body(const char *body, size_t len)
{
	static struct mqs_sms_msg p, m;
	int prc, orc;

	memset(&p, 0, sizeof(p));
	prc = mqs_sms_parse(body, len, &p);
	orc = mqs_sms_open(key, body, len, to, sizeof(to) - 1, &m);
	if (prc != MQS_OK && orc == MQS_OK)
		abort();
	if (orc != MQS_OK) {
		if (!all_zero(&m, sizeof(m)))
			abort();
		return;
	}
	if (m.action >= MQS_SMS_ACTION__COUNT || m.component_len > MQS_SMS_COMPONENT_MAX ||
	    m.text_len > MQS_SMS_TEXT_MAX || m.component[m.component_len] != '\0' ||
	    m.text[m.text_len] != '\0' || m.key_id != p.key_id || m.timestamp != p.timestamp ||
	    memcmp(m.nonce, p.nonce, sizeof(m.nonce)) != 0 ||
	    !mqs_utf8_valid((const uint8_t *)m.text, m.text_len, 0))
		abort();
}

/* Property 3. */
static void round_trip(const uint8_t *data, size_t size)
{
	static char body[MQS_SMS_BODY_MAX + 1];
	static struct mqs_sms_msg m;
	size_t clen, tlen, len = 0;
	const char *comp, *text;
	int ucs2 = 1;

	if (size < 1)
		return;
	clen = data[0] % (MQS_SMS_COMPONENT_MAX + 1);
	if (clen > size - 1)
		clen = size - 1;
	comp = (const char *)data + 1;
	text = comp + clen;
	tlen = size - 1 - clen;
	if (mqs_sms_seal(key, (uint16_t)(size * 7), (uint32_t)size, NULL, to, sizeof(to) - 1,
	                 data[0] % MQS_SMS_ACTION__COUNT, comp, clen, text, tlen, body,
	                 sizeof(body), &len) != MQS_OK) {
		if (len != 0 || body[0] != '\0')
			abort();
		/* refused only when invalid or too long */
		if (mqs_utf8_valid((const uint8_t *)comp, clen, 0) &&
		    mqs_utf8_valid((const uint8_t *)text, tlen, 0) &&
		    mqs_sms_sealed_len(clen, tlen) != 0)
			abort();
		return;
	}
	if (len != mqs_sms_sealed_len(clen, tlen) || len > MQS_SMS_BODY_MAX ||
	    strspn(body + MQS_SMS_PREFIX_LEN, b64url) != len - MQS_SMS_PREFIX_LEN ||
	    mqs_sms_segments(body, len, &ucs2) == 0 || ucs2 != 0)
		abort();
	if (mqs_sms_open(key, body, len, to, sizeof(to) - 1, &m) != MQS_OK ||
	    m.component_len != clen || m.text_len != tlen || memcmp(m.component, comp, clen) != 0 ||
	    memcmp(m.text, text, tlen) != 0)
		abort();
	body[MQS_SMS_PREFIX_LEN + (size % (len - MQS_SMS_PREFIX_LEN))] ^= 0x01;
	if (mqs_sms_open(key, body, len, to, sizeof(to) - 1, &m) == MQS_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char enc[MQS_SMS_BODY_MAX + 8];
	size_t n = 0;

	check_body((const char *)data, size);
	/* "#M1" + base64url of the input (whole 6-bit groups only) */
	memcpy(enc, MQS_SMS_PREFIX, MQS_SMS_PREFIX_LEN);
	for (size_t i = 0; i < size && MQS_SMS_PREFIX_LEN + n < MQS_SMS_BODY_MAX + 4; i++)
		enc[MQS_SMS_PREFIX_LEN + n++] = b64url[data[i] & 63];
	check_body(enc, MQS_SMS_PREFIX_LEN + n);
	round_trip(data, size);
	(void)mqs_sms_segments((const char *)data, size, NULL);
	return 0;
}
