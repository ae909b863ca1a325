/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-webhook.c - libFuzzer target for the small parsers and checks
 * around webhooks (docs/marketing.md, "HTTP listener"; docs/gateway.md,
 * "Webhook channel"): the signature headers of LINE and Twilio requests
 * (gw_line_signature_ok, gw_twilio_signature_ok), the header encoding of
 * the webhook channel (gw_webhook_header_value), and the address checks
 * (gw_twilio_e164_ok, gw_line_uuid_ok, gw_webhook_url_cleartext,
 * gw_url_is_loopback, gw_sms_envelope_parse).  The request bodies
 * themselves are fuzz-inbound's.
 *
 * Input: the first line is a header or an address, the rest a body.
 *   - a LINE signature header is accepted only when it is the body's true
 *     signature (the first 42 base64 characters say all 32 bytes); the
 *     true signature is accepted, one changed character is refused;
 *   - a Twilio signature header over the body's lines as parameters is
 *     refused unless it is the harness's;
 *   - the encoded header value holds only 0x21..0x7e, and decoding its %XX
 *     gives the line back; it fails only when it does not fit;
 *   - gw_twilio_e164_ok and gw_line_uuid_ok agree with reference checks. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gw_http.h"
#include "gw_inbound.h"
#include "gw_line.h"
#include "gw_twilio.h"
#include "gw_webhook.h"
#include "mqs_error.h"

#define SECRET     "line-secret"
#define URL        "https://gw.example.org/twilio/sms"
#define MAX_PARAMS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Value of a hex digit, or -1. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The header encoding round trip. */
static void check_header(const char *line)
{
	char out[GW_WEBHOOK_VALUE_MAX], back[GW_WEBHOOK_VALUE_MAX];
	size_t need = 0, o = 0;
	int rc = gw_webhook_header_value(line, out, sizeof(out));

	for (const char *p = line; *p != '\0'; p++)
		need += *p > 0x20 && *p < 0x7f && *p != '%' ? 1 : 3;
	if (rc != MQS_OK) {
		if (rc != MQS_ERR_TOOBIG || out[0] != '\0' || need + 1 <= sizeof(out))
			abort();
		return;
	}
	if (strlen(out) != need)
		abort();
	for (const char *p = out; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e)
			abort();
		if (*p == '%') {
			int hi = hexval(p[1]), lo = hi >= 0 ? hexval(p[2]) : -1;

			if (lo < 0)
				abort();
			back[o++] = (char)(hi << 4 | lo);
			p += 2;
		} else {
			back[o++] = *p;
		}
	}
	back[o] = '\0';
	if (strcmp(back, line) != 0)
		abort();
}

/* LINE's signature header. */
static void check_line(const char *sig, const uint8_t *body, size_t len)
{
	uint8_t mac[32];
	char good[64];
	unsigned mlen = 0;
	int ok;

	if (HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), body, len, mac, &mlen) == NULL)
		abort();
	EVP_EncodeBlock((unsigned char *)good, mac, 32);
	ok = gw_line_signature_ok(SECRET, body, len, sig);
	if (ok && strncmp(sig, good, 42) != 0)
		abort();
	if (!gw_line_signature_ok(SECRET, body, len, good))
		abort();
	good[len % 40] = good[len % 40] == 'A' ? 'B' : 'A';
	if (gw_line_signature_ok(SECRET, body, len, good))
		abort();
}

/* Twilio's signature header over the body's lines as name=value. */
static void check_twilio(const char *sig, char *body)
{
	struct gw_param params[MAX_PARAMS];
	size_t n = 0;

	for (char *p = body; n < MAX_PARAMS;) {
		char *nl = strchr(p, '\n'), *eq;

		if (nl != NULL)
			*nl = '\0';
		eq = strchr(p, '=');
		if (eq != NULL)
			*eq = '\0';
		params[n].name = p;
		params[n].value = eq != NULL ? eq + 1 : "";
		n++;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	/* 20 bytes of HMAC-SHA1 need 28 characters; the fuzzer would have to
	 * find the MAC */
	if (gw_twilio_signature_ok("sekrit", URL, params, n, sig) && strlen(sig) < 27)
		abort();
}

/* Reference E.164 check: '+', a non-zero digit, 6..15 digits in all. */
static int ref_e164(const char *s)
{
	size_t n = strlen(s);

	if (n < 7 || n > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	return strspn(s + 1, "0123456789") == n - 1;
}

/* Reference LINE id check: 8-4-4-4-12 hex digits of either case. */
static int ref_uuid(const char *s)
{
	if (strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-'
		         : strchr("0123456789abcdefABCDEF", s[i]) == NULL || s[i] == '\0')
			return 0;
	}
	return 1;
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	char *body;
	size_t blen;

	if (size > 8192)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	body = strchr(s, '\n');
	if (body != NULL) {
		*body++ = '\0';
		blen = size - (size_t)(body - s);
	} else {
		body = s + size;
		blen = 0;
	}
	check_header(s);
	check_line(s, (const uint8_t *)body, blen);
	if (gw_twilio_e164_ok(s) != ref_e164(s))
		abort();
	if (gw_line_uuid_ok(s) != ref_uuid(s))
		abort();
	(void)gw_webhook_url_cleartext(s);
	(void)gw_url_is_loopback(s);
	(void)gw_sms_envelope_parse(s);
	if (strlen(body) == blen)
		check_twilio(s, body);
	free(s);
	return 0;
}
