/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_totp.c - RFC 6238 TOTP over liboath, constant-time validation. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <liboath/oath.h>
#include <openssl/crypto.h>

#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_totp.h"
#include "mqs_util.h"

struct cmp_ctx {
	const char *code;
	size_t len;
};

/* Fill defaults. */
void mqs_totp_params_default(struct mqs_totp_params *p)
{
	p->digits = 6;
	p->period = 30;
	p->algorithm = MQS_TOTP_SHA1;
}

/* Check parameters. */
int mqs_totp_params_check(const struct mqs_totp_params *p)
{
	if (p == NULL || (p->digits != 6 && p->digits != 8) || p->period < 1 || p->period > 3600 ||
	    p->algorithm < MQS_TOTP_SHA1 || p->algorithm > MQS_TOTP_SHA512)
		return MQS_ERR_INVAL;
	return MQS_OK;
}

/* Parse an algorithm name. */
int mqs_totp_alg_parse(const char *name, int *alg)
{
	if (name == NULL)
		return MQS_ERR_UNSUPPORTED;
	if (strcasecmp(name, "SHA1") == 0)
		*alg = MQS_TOTP_SHA1;
	else if (strcasecmp(name, "SHA256") == 0)
		*alg = MQS_TOTP_SHA256;
	else if (strcasecmp(name, "SHA512") == 0)
		*alg = MQS_TOTP_SHA512;
	else
		return MQS_ERR_UNSUPPORTED;
	return MQS_OK;
}

/* Name of an algorithm. */
const char *mqs_totp_alg_name(int alg)
{
	switch (alg) {
	case MQS_TOTP_SHA256:
		return "SHA256";
	case MQS_TOTP_SHA512:
		return "SHA512";
	default:
		return "SHA1";
	}
}

/* liboath flags for algorithm alg. */
static int oath_flags(int alg)
{
	switch (alg) {
	case MQS_TOTP_SHA256:
		return OATH_TOTP_HMAC_SHA256;
	case MQS_TOTP_SHA512:
		return OATH_TOTP_HMAC_SHA512;
	default:
		return 0;
	}
}

/* oath_init(), once per process. */
static void oath_once(void)
{
	static int done;

	if (!done) {
		oath_init();
		done = 1;
	}
}

/* Generate the code for now. */
int mqs_totp_generate(const uint8_t *secret, size_t secret_len, const struct mqs_totp_params *p,
                      time_t now, char *code, size_t code_cap)
{
	char otp[MQS_TOTP_CODE_MAX + 1];
	int rc = MQS_ERR_INVAL;

	if (code != NULL && code_cap > 0)
		code[0] = 0;
	if (secret == NULL || secret_len == 0 || secret_len > MQS_TOTP_SECRET_MAX || code == NULL ||
	    mqs_totp_params_check(p) != MQS_OK || code_cap < p->digits + 1)
		goto out;
	oath_once();
	if (oath_totp_generate2((const char *)secret, secret_len, now, p->period, 0, p->digits,
	                        oath_flags(p->algorithm), otp) != OATH_OK) {
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	memcpy(code, otp, p->digits + 1);
	rc = MQS_OK;
out:
	OPENSSL_cleanse(otp, sizeof(otp));
	return rc;
}

/* liboath calls this for every candidate code: compare in constant time. */
static int cmp_ct(void *handle, const char *test_otp)
{
	const struct cmp_ctx *c = handle;

	if (strlen(test_otp) != c->len)
		return 1;
	return CRYPTO_memcmp(test_otp, c->code, c->len) != 0;
}

/* Validate a code; report the matched step. */
int mqs_totp_validate(const uint8_t *secret, size_t secret_len, const struct mqs_totp_params *p,
                      time_t now, unsigned window, const char *code, uint64_t *step)
{
	struct cmp_ctx ctx;
	uint64_t counter = 0;
	int pos = 0;
	int r;

	if (step != NULL)
		*step = 0;
	if (secret == NULL || secret_len == 0 || secret_len > MQS_TOTP_SECRET_MAX ||
	    mqs_totp_params_check(p) != MQS_OK || window > 100)
		return MQS_ERR_INVAL;
	if (code == NULL || strlen(code) != p->digits)
		return MQS_ERR_TOTP;
	for (size_t i = 0; i < p->digits; i++) {
		if (code[i] < '0' || code[i] > '9')
			return MQS_ERR_TOTP;
	}
	ctx.code = code;
	ctx.len = p->digits;
	oath_once();
	r = oath_totp_validate4_callback((const char *)secret, secret_len, now, p->period, 0,
	                                 p->digits, window, &pos, &counter,
	                                 oath_flags(p->algorithm), cmp_ct, &ctx);
	if (r < 0)
		return MQS_ERR_TOTP;
	if (step != NULL)
		*step = counter;
	return MQS_OK;
}

/* Percent-encode s into buf (RFC 3986 unreserved kept). */
static int pct(char *buf, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		if (o + 4 > cap)
			return MQS_ERR_TOOBIG;
		if (keep) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = 0;
	return MQS_OK;
}

/* Build an otpauth:// URI. */
int mqs_totp_uri(const char *issuer, const char *name, const uint8_t *secret, size_t secret_len,
                 const struct mqs_totp_params *p, char **uri)
{
	char eissuer[3 * 256 + 1];
	char ename[3 * 256 + 1];
	char *b32 = NULL;
	char *buf = NULL;
	size_t cap = 0;
	int rc;

	*uri = NULL;
	if (issuer == NULL || name == NULL || strlen(issuer) > 255 || strlen(name) > 255 ||
	    mqs_totp_params_check(p) != MQS_OK) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	rc = pct(eissuer, sizeof(eissuer), issuer);
	if (rc == MQS_OK)
		rc = pct(ename, sizeof(ename), name);
	if (rc == MQS_OK)
		rc = mqs_base32_encode(secret, secret_len, &b32);
	if (rc != MQS_OK)
		goto out;
	cap = strlen(eissuer) * 2 + strlen(ename) + strlen(b32) + 128;
	buf = mqs_malloc(cap);
	if (buf == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	snprintf(
	    buf, cap, "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=%s&digits=%u&period=%u",
	    eissuer, ename, b32, eissuer, mqs_totp_alg_name(p->algorithm), p->digits, p->period);
	*uri = buf;
	buf = NULL;
out:
	if (b32 != NULL)
		mqs_secret_free_str(b32);
	mqs_secret_free(buf, cap);
	return rc;
}

/* The AAD of a device's wrapped TOTP secret. */
int mqs_totp_wrap_aad(char *buf, size_t cap, const char *name)
{
	int n;

	if (buf == NULL || cap == 0)
		return MQS_ERR_INVAL;
	buf[0] = '\0';
	if (name == NULL || name[0] == '\0')
		return MQS_ERR_INVAL;
	n = snprintf(buf, cap, "mqttsec-totp:%s", name);
	if (n < 0 || (size_t)n >= cap) {
		buf[0] = '\0';
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* Pick the login step, or the time to wait for one; see mqs_totp.h. */
int64_t mqs_totp_step_choose(const struct mqs_totp_params *p, uint64_t now_ms, int64_t last_step,
                             uint64_t *wait_ms)
{
	int64_t step = (int64_t)(now_ms / 1000u / p->period);

	*wait_ms = 0;
	if (step > last_step)
		return step;
	*wait_ms = ((uint64_t)last_step + 1) * p->period * 1000u + MQS_TOTP_STEP_MARGIN_MS;
	return -1;
}
