/* SPDX-License-Identifier: BSD-3-Clause */
/* test-totp.c - RFC 6238 TOTP (mqs_totp.h): the RFC's Appendix B vectors,
 * validation windows and steps, malformed codes, parameters, otpauth URI,
 * the step chooser. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_error.h"
#include "mqs_totp.h"
#include "mqs_util.h"

#include "tap.h"

/* RFC 6238 Appendix B seeds: "1234567890" repeated to 20, 32 and 64 bytes. */
static const char seed20[] = "12345678901234567890";
static const char seed32[] = "12345678901234567890123456789012";
static const char seed64[] = "1234567890123456789012345678901234567890123456789012345678901234";

struct rfc_vector {
	long long t;
	const char *sha1, *sha256, *sha512;
};

static const struct rfc_vector rfc[] = {
    {59LL, "94287082", "46119246", "90693936"},
    {1111111109LL, "07081804", "68084774", "25091201"},
    {1111111111LL, "14050471", "67062674", "99943326"},
    {1234567890LL, "89005924", "91819424", "93441116"},
    {2000000000LL, "69279037", "90698825", "38618901"},
    {20000000000LL, "65353130", "77737706", "47863826"},
};

static void params(struct mqs_totp_params *p, unsigned digits, unsigned period, int alg)
{
	mqs_totp_params_default(p);
	p->digits = digits;
	p->period = period;
	p->algorithm = alg;
}

static void test_rfc_vectors(void)
{
	struct mqs_totp_params p;
	const struct {
		int alg;
		const char *name;
		const char *seed;
		size_t len;
	} algs[] = {{MQS_TOTP_SHA1, "SHA1", seed20, 20},
	            {MQS_TOTP_SHA256, "SHA256", seed32, 32},
	            {MQS_TOTP_SHA512, "SHA512", seed64, 64}};

	for (size_t a = 0; a < 3; a++) {
		for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
			const char *want = a == 0   ? rfc[i].sha1
			                   : a == 1 ? rfc[i].sha256
			                            : rfc[i].sha512;
			char code[16] = "";
			uint64_t step = 0;
			int rc;

			params(&p, 8, 30, algs[a].alg);
			rc = mqs_totp_generate((const uint8_t *)algs[a].seed, algs[a].len, &p,
			                       (time_t)rfc[i].t, code, sizeof(code));
			tap_ok(rc == MQS_OK && strcmp(code, want) == 0,
			       "RFC 6238 %s T=%lld: %s (got %s)", algs[a].name, rfc[i].t, want,
			       code);
			rc = mqs_totp_validate((const uint8_t *)algs[a].seed, algs[a].len, &p,
			                       (time_t)rfc[i].t, 0, want, &step);
			tap_ok(rc == MQS_OK && step == (uint64_t)(rfc[i].t / 30),
			       "validate %s T=%lld, window 0, step %llu", algs[a].name, rfc[i].t,
			       (unsigned long long)step);
			/* 6 digits are the last 6 of the 8 */
			params(&p, 6, 30, algs[a].alg);
			rc = mqs_totp_generate((const uint8_t *)algs[a].seed, algs[a].len, &p,
			                       (time_t)rfc[i].t, code, sizeof(code));
			tap_ok(rc == MQS_OK && strcmp(code, want + 2) == 0,
			       "6-digit %s T=%lld: %s (got %s)", algs[a].name, rfc[i].t, want + 2,
			       code);
		}
	}
}

static void test_windows(void)
{
	struct mqs_totp_params p;
	const uint8_t *s = (const uint8_t *)seed20;
	const time_t now = 1111111111; /* step 37037037 */
	const uint64_t T = (uint64_t)now / 30;
	char prev2[16], prev[16], cur[16], next[16], next2[16];
	uint64_t step;
	int rc;

	params(&p, 6, 30, MQS_TOTP_SHA1);
	mqs_totp_generate(s, 20, &p, now - 60, prev2, sizeof(prev2));
	mqs_totp_generate(s, 20, &p, now - 30, prev, sizeof(prev));
	mqs_totp_generate(s, 20, &p, now, cur, sizeof(cur));
	mqs_totp_generate(s, 20, &p, now + 30, next, sizeof(next));
	mqs_totp_generate(s, 20, &p, now + 60, next2, sizeof(next2));
	tap_ok(strlen(cur) == 6 && strspn(cur, "0123456789") == 6, "a 6-digit code (%s)", cur);

	step = 0;
	rc = mqs_totp_validate(s, 20, &p, now, 0, cur, &step);
	tap_ok(rc == MQS_OK && step == T, "window 0 accepts the current step");
	rc = mqs_totp_validate(s, 20, &p, now, 0, prev, &step);
	tap_is_int(rc, MQS_ERR_TOTP, "window 0 refuses the previous step");
	rc = mqs_totp_validate(s, 20, &p, now, 0, next, &step);
	tap_is_int(rc, MQS_ERR_TOTP, "window 0 refuses the next step");

	rc = mqs_totp_validate(s, 20, &p, now, 1, prev, &step);
	tap_ok(rc == MQS_OK && step == T - 1, "window 1 accepts the previous step, step T-1");
	rc = mqs_totp_validate(s, 20, &p, now, 1, next, &step);
	tap_ok(rc == MQS_OK && step == T + 1, "window 1 accepts the next step, step T+1");
	rc = mqs_totp_validate(s, 20, &p, now, 1, cur, &step);
	tap_ok(rc == MQS_OK && step == T, "window 1 accepts the current step, step T");
	rc = mqs_totp_validate(s, 20, &p, now, 1, prev2, &step);
	tap_is_int(rc, MQS_ERR_TOTP, "window 1 refuses two steps back");
	rc = mqs_totp_validate(s, 20, &p, now, 1, next2, &step);
	tap_is_int(rc, MQS_ERR_TOTP, "window 1 refuses two steps ahead");
	rc = mqs_totp_validate(s, 20, &p, now, 2, next2, &step);
	tap_ok(rc == MQS_OK && step == T + 2, "window 2 accepts two steps ahead");
	rc = mqs_totp_validate(s, 20, &p, now, 1, cur, NULL);
	tap_is_int(rc, MQS_OK, "step pointer may be NULL");
	/* last second of a step and first of the next */
	rc = mqs_totp_validate(s, 20, &p, (time_t)(T * 30 + 29), 0, cur, &step);
	tap_ok(rc == MQS_OK && step == T, "last second of the step still matches");
	rc = mqs_totp_validate(s, 20, &p, (time_t)(T * 30 + 30), 0, cur, &step);
	tap_is_int(rc, MQS_ERR_TOTP, "first second of the next step does not (window 0)");

	/* period 60 */
	params(&p, 6, 60, MQS_TOTP_SHA1);
	mqs_totp_generate(s, 20, &p, now, cur, sizeof(cur));
	rc = mqs_totp_validate(s, 20, &p, now, 0, cur, &step);
	tap_ok(rc == MQS_OK && step == (uint64_t)now / 60, "period 60: step is now/60");
	{
		char c2[16];
		mqs_totp_generate(s, 20, &p, now - (now % 60), c2, sizeof(c2));
		tap_ok(strcmp(c2, cur) == 0, "period 60: same code across the whole minute");
	}
}

static void test_bad_codes(void)
{
	struct mqs_totp_params p;
	const uint8_t *s = (const uint8_t *)seed20;
	const time_t now = 59;
	char wrong[16];
	uint64_t step = 77;
	const char *malformed[] = {"",        "28708",   "2870820", "28708a",  "abcdef",
	                           " 287082", "287082 ", "-287082", "+287082", "287 82",
	                           "0x1234",  "28708\n", "94287082"};
	int rc;

	params(&p, 6, 30, MQS_TOTP_SHA1);
	/* RFC: at T=59 the 6-digit SHA1 code is 287082 */
	rc = mqs_totp_validate(s, 20, &p, now, 1, "287082", &step);
	tap_is_int(rc, MQS_OK, "287082 is the code at T=59");
	snprintf(wrong, sizeof(wrong), "%06d", (287082 + 1) % 1000000);
	rc = mqs_totp_validate(s, 20, &p, now, 0, wrong, &step);
	tap_is_int(rc, MQS_ERR_TOTP, "a wrong code is MQS_ERR_TOTP");
	rc = mqs_totp_validate(s, 20, &p, now, 0, "000000", &step);
	tap_is_int(rc, MQS_ERR_TOTP, "000000 is MQS_ERR_TOTP");
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		rc = mqs_totp_validate(s, 20, &p, now, 1, malformed[i], &step);
		tap_is_int(rc, MQS_ERR_TOTP, "malformed code \"%s\" is MQS_ERR_TOTP", malformed[i]);
	}
	/* 8-digit params: the 6-digit code is the wrong length */
	params(&p, 8, 30, MQS_TOTP_SHA1);
	rc = mqs_totp_validate(s, 20, &p, now, 1, "287082", &step);
	tap_is_int(rc, MQS_ERR_TOTP, "6-digit code against 8-digit params is MQS_ERR_TOTP");
	rc = mqs_totp_validate(s, 20, &p, now, 1, "9428708", &step);
	tap_is_int(rc, MQS_ERR_TOTP, "7-digit code against 8-digit params is MQS_ERR_TOTP");
	rc = mqs_totp_validate(s, 20, &p, now, 1, "94287082", &step);
	tap_is_int(rc, MQS_OK, "8-digit code against 8-digit params");
	/* other secret */
	rc = mqs_totp_validate((const uint8_t *)seed32, 32, &p, now, 1, "94287082", &step);
	tap_is_int(rc, MQS_ERR_TOTP, "the code does not validate under another secret");
}

static void test_params(void)
{
	struct mqs_totp_params p;
	char code[16];
	int alg = -1, rc;

	mqs_totp_params_default(&p);
	tap_ok(p.digits == 6 && p.period == 30 && p.algorithm == MQS_TOTP_SHA1,
	       "defaults are 6 digits, 30 s, SHA1");
	tap_is_int(mqs_totp_params_check(&p), MQS_OK, "defaults pass params_check");
	p.digits = 8;
	tap_is_int(mqs_totp_params_check(&p), MQS_OK, "8 digits pass");
	p.digits = 7;
	tap_is_int(mqs_totp_params_check(&p), MQS_ERR_INVAL, "7 digits are MQS_ERR_INVAL");
	p.digits = 0;
	tap_is_int(mqs_totp_params_check(&p), MQS_ERR_INVAL, "0 digits are MQS_ERR_INVAL");
	mqs_totp_params_default(&p);
	p.period = 0;
	tap_is_int(mqs_totp_params_check(&p), MQS_ERR_INVAL, "period 0 is MQS_ERR_INVAL");
	p.period = 3601;
	tap_is_int(mqs_totp_params_check(&p), MQS_ERR_INVAL, "period 3601 is MQS_ERR_INVAL");
	p.period = 3600;
	tap_is_int(mqs_totp_params_check(&p), MQS_OK, "period 3600 passes");
	p.period = 1;
	tap_is_int(mqs_totp_params_check(&p), MQS_OK, "period 1 passes");
	mqs_totp_params_default(&p);
	p.algorithm = 7;
	tap_is_int(mqs_totp_params_check(&p), MQS_ERR_INVAL, "unknown algorithm is MQS_ERR_INVAL");

	tap_ok(mqs_totp_alg_parse("SHA1", &alg) == MQS_OK && alg == MQS_TOTP_SHA1, "parse SHA1");
	tap_ok(mqs_totp_alg_parse("sha256", &alg) == MQS_OK && alg == MQS_TOTP_SHA256,
	       "parse sha256");
	tap_ok(mqs_totp_alg_parse("Sha512", &alg) == MQS_OK && alg == MQS_TOTP_SHA512,
	       "parse Sha512");
	tap_is_int(mqs_totp_alg_parse("MD5", &alg), MQS_ERR_UNSUPPORTED, "MD5 is unsupported");
	tap_is_int(mqs_totp_alg_parse("SHA1x", &alg), MQS_ERR_UNSUPPORTED, "SHA1x is unsupported");
	tap_is_int(mqs_totp_alg_parse("", &alg), MQS_ERR_UNSUPPORTED, "\"\" is unsupported");
	tap_ok(strcmp(mqs_totp_alg_name(MQS_TOTP_SHA1), "SHA1") == 0 &&
	           strcmp(mqs_totp_alg_name(MQS_TOTP_SHA256), "SHA256") == 0 &&
	           strcmp(mqs_totp_alg_name(MQS_TOTP_SHA512), "SHA512") == 0 &&
	           strcmp(mqs_totp_alg_name(99), "SHA1") == 0,
	       "alg names");

	/* generate refusals */
	mqs_totp_params_default(&p);
	rc = mqs_totp_generate((const uint8_t *)seed20, 20, &p, 59, code, 6);
	tap_ok(rc != MQS_OK, "generate into a buffer without room for the NUL fails (%d)", rc);
	rc = mqs_totp_generate((const uint8_t *)seed20, 20, &p, 59, code, 7);
	tap_ok(rc == MQS_OK && strcmp(code, "287082") == 0, "generate into exactly 7 bytes");
	p.digits = 7;
	rc = mqs_totp_generate((const uint8_t *)seed20, 20, &p, 59, code, sizeof(code));
	tap_is_int(rc, MQS_ERR_INVAL, "generate with 7 digits is MQS_ERR_INVAL");
	rc = mqs_totp_validate((const uint8_t *)seed20, 20, &p, 59, 1, "2870820", NULL);
	tap_is_int(rc, MQS_ERR_INVAL, "validate with 7-digit params is MQS_ERR_INVAL");
}

static void test_uri(void)
{
	struct mqs_totp_params p;
	char *uri = NULL;
	int rc;

	mqs_totp_params_default(&p);
	rc = mqs_totp_uri("mqttsec", "dev1", (const uint8_t *)seed20, 20, &p, &uri);
	tap_ok(rc == MQS_OK && uri != NULL, "build an otpauth URI");
	if (uri == NULL) {
		tap_skip(7, "no uri");
		return;
	}
	tap_diag("uri: %s", uri);
	tap_ok(strncmp(uri, "otpauth://totp/mqttsec:dev1?", 28) == 0,
	       "starts with otpauth://totp/mqttsec:dev1?");
	tap_ok(strstr(uri, "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") != NULL,
	       "secret is the base32 of the seed");
	tap_ok(strstr(uri, "issuer=mqttsec") != NULL, "issuer=mqttsec");
	tap_ok(strstr(uri, "algorithm=SHA1") != NULL, "algorithm=SHA1");
	tap_ok(strstr(uri, "digits=6") != NULL, "digits=6");
	tap_ok(strstr(uri, "period=30") != NULL, "period=30");
	tap_ok(strchr(uri, '=') != NULL && strchr(uri, ' ') == NULL &&
	           strstr(uri, "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ=") == NULL,
	       "no spaces, no base32 padding");
	mqs_secret_free_str(uri);

	params(&p, 8, 60, MQS_TOTP_SHA256);
	uri = NULL;
	rc = mqs_totp_uri("My Org", "dev 1", (const uint8_t *)seed32, 32, &p, &uri);
	tap_ok(rc == MQS_OK && uri != NULL, "URI with spaces in issuer and name");
	if (uri != NULL) {
		tap_diag("uri: %s", uri);
		tap_ok(strchr(uri, ' ') == NULL, "spaces are percent-encoded");
		tap_ok(strstr(uri, "algorithm=SHA256") != NULL && strstr(uri, "digits=8") != NULL &&
		           strstr(uri, "period=60") != NULL,
		       "algorithm, digits, period follow the params");
		mqs_secret_free_str(uri);
	} else {
		tap_skip(2, "no uri");
	}
}

/* The AAD of wrapped TOTP secrets. */
static void test_wrap_aad(void)
{
	char buf[MQS_TOTP_AAD_MAX];
	char name[65];
	char small[16];

	tap_is_int(mqs_totp_wrap_aad(buf, sizeof(buf), "dev1"), MQS_OK, "aad of dev1");
	tap_ok(strcmp(buf, "mqttsec-totp:dev1") == 0, "aad text is mqttsec-totp:NAME");
	memset(name, 'n', 64);
	name[64] = '\0';
	tap_is_int(mqs_totp_wrap_aad(buf, sizeof(buf), name), MQS_OK,
	           "MQS_TOTP_AAD_MAX holds a 64-byte name");
	tap_is_int((int)strlen(buf), 13 + 64, "whole name written");
	tap_is_int(mqs_totp_wrap_aad(small, sizeof(small), "device-name"), MQS_ERR_INVAL,
	           "text that does not fit is refused");
	tap_ok(small[0] == '\0', "and leaves an empty string");
	tap_is_int(mqs_totp_wrap_aad(buf, sizeof(buf), ""), MQS_ERR_INVAL, "empty name refused");
	tap_is_int(mqs_totp_wrap_aad(buf, sizeof(buf), NULL), MQS_ERR_INVAL, "NULL name refused");
	tap_is_int(mqs_totp_wrap_aad(NULL, 10, "x"), MQS_ERR_INVAL, "NULL buffer refused");
}

/* mqs_totp_step_choose: the step after the last accepted one, or the time
 * to wait for it (start of that step plus MQS_TOTP_STEP_MARGIN_MS). */
static void test_step_choose(void)
{
	struct mqs_totp_params p;
	uint64_t wait = 12345;
	int64_t step;

	params(&p, 6, 30, MQS_TOTP_SHA1);
	/* 1000030 s is step 33334 (starts at 1000020 s) */
	step = mqs_totp_step_choose(&p, 1000030123ull, -1, &wait);
	tap_is_int(step, 33334, "step_choose: no last step gives the current step");
	tap_is_int((long long)wait, 0, "step_choose: no wait without a last step");
	wait = 12345;
	step = mqs_totp_step_choose(&p, 1000030123ull, 33333, &wait);
	tap_is_int(step, 33334, "step_choose: last step earlier: current step");
	tap_is_int((long long)wait, 0, "step_choose: no wait when the current step is later");
	step = mqs_totp_step_choose(&p, 1000030123ull, 33334, &wait);
	tap_is_int(step, -1, "step_choose: current step already used: none");
	tap_is_int((long long)wait, 1000050000ll + MQS_TOTP_STEP_MARGIN_MS,
	           "step_choose: wait for the next step plus the margin");
	step = mqs_totp_step_choose(&p, 1000030123ull, 33340, &wait);
	tap_is_int(step, -1, "step_choose: last step ahead of this clock: none");
	tap_is_int((long long)wait, 33341ll * 30000 + MQS_TOTP_STEP_MARGIN_MS,
	           "step_choose: wait for the step after the last one, not the next one");
	/* the first millisecond of a step is that step */
	step = mqs_totp_step_choose(&p, 1000020000ull, 33333, &wait);
	tap_is_int(step, 33334, "step_choose: first millisecond of a step");
	step = mqs_totp_step_choose(&p, 1000019999ull, 33333, &wait);
	tap_is_int(step, -1, "step_choose: last millisecond of the used step");
	tap_is_int((long long)wait, 1000020000ll + MQS_TOTP_STEP_MARGIN_MS,
	           "step_choose: wait 1 ms plus the margin");
	/* other periods */
	params(&p, 8, 60, MQS_TOTP_SHA256);
	step = mqs_totp_step_choose(&p, 120000ull, 1, &wait);
	tap_is_int(step, 2, "step_choose: 60 s period");
	step = mqs_totp_step_choose(&p, 120000ull, 2, &wait);
	tap_is_int((long long)wait, 180000ll + MQS_TOTP_STEP_MARGIN_MS, "step_choose: 60 s wait");
	params(&p, 6, 1, MQS_TOTP_SHA1);
	step = mqs_totp_step_choose(&p, 5500ull, 5, &wait);
	tap_is_int(step, -1, "step_choose: 1 s period, same step");
	tap_is_int((long long)wait, 6000ll + MQS_TOTP_STEP_MARGIN_MS, "step_choose: 1 s wait");
}

int main(void)
{
	test_rfc_vectors();
	test_windows();
	test_bad_codes();
	test_params();
	test_uri();
	test_wrap_aad();
	test_step_choose();
	tap_done();
	return tap_exit();
}
