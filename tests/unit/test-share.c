/* SPDX-License-Identifier: BSD-3-Clause */
/* test-share.c - k-of-n shares of medical records (docs/medical.md, "Wire
 * format"; mqs_share.h): every k-subset rebuilds, k-1 do not, header tags,
 * parse refusals, the field of libgfshare (0x11D), record seal/open. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_share.h"
#include "mqs_util.h"

#include "tap.h"

static uint8_t rk[MQS_ENVELOPE_KEY_LEN];
static uint8_t rk2[MQS_ENVELOPE_KEY_LEN];
static uint8_t tag_key[32];

/* Multiplication in GF(2^8) modulo x^8+x^4+x^3+x^2+1, bit by bit. */
static uint8_t gf_mul(uint8_t a, uint8_t b)
{
	unsigned r = 0, x = a;

	for (int i = 0; i < 8; i++) {
		if (b & (1u << i))
			r ^= x;
		x <<= 1;
		if (x & 0x100)
			x ^= 0x11D;
	}
	return (uint8_t)r;
}

static unsigned popcount(unsigned v)
{
	unsigned c = 0;

	for (; v != 0; v &= v - 1)
		c++;
	return c;
}

/* Combine the shares of mask (bits x-1) out of the n shares at sh. */
static int combine_mask(const uint8_t *sh, size_t one, size_t slen, unsigned mask, uint8_t *out)
{
	const uint8_t *bodies[8];
	uint8_t xs[8];
	unsigned m = 0;

	for (unsigned i = 0; i < 8; i++) {
		if (mask & (1u << i)) {
			xs[m] = (uint8_t)(i + 1);
			bodies[m] = sh + i * one + MQS_SHARE_HDR_LEN;
			m++;
		}
	}
	return mqs_share_combine(m, xs, bodies, slen, out);
}

/* 1 when secret (slen bytes) opens as the test record. */
static int opens(const uint8_t *secret, size_t slen)
{
	char topic[64], origin[MQS_ENVELOPE_ORIGIN_MAX + 1];
	uint8_t *plain = NULL;
	size_t plen = 0;
	int rc;

	rc = mqs_share_record_open(rk, 5, secret, slen, topic, sizeof(topic), origin, &plain, &plen,
	                           NULL);
	mqs_secret_free(plain, plen);
	return rc == MQS_OK;
}

/* Every n, k: every k-subset rebuilds the record, every (k-1)-subset (alone
 * and completed with a forged share) does not. */
static void test_subsets(void)
{
	uint8_t plain[100];
	uint8_t *secret = NULL, *sh = NULL, *out = NULL;
	size_t slen = 0, one;
	unsigned good = 0, bad = 0, tried_k = 0, tried_km1 = 0;
	int rc;

	RAND_bytes(plain, sizeof(plain));
	rc = mqs_share_record_seal(rk, 5, "clinic/7/record", "gw-a", plain, sizeof(plain), &secret,
	                           &slen);
	tap_is_int(rc, MQS_OK, "record seal");
	if (rc != MQS_OK)
		return;
	one = mqs_share_len(slen);
	sh = malloc(8 * one);
	out = malloc(slen);
	if (sh == NULL || out == NULL)
		exit(99);
	for (unsigned n = 2; n <= 8; n++) {
		for (unsigned k = 2; k <= n; k++) {
			rc = mqs_share_split(secret, slen, n, k, tag_key, NULL, NULL, sh, n * one);
			if (rc != MQS_OK) {
				bad++;
				continue;
			}
			for (unsigned mask = 1; mask < (1u << n); mask++) {
				unsigned pc = popcount(mask);

				if (pc == k) {
					tried_k++;
					if (combine_mask(sh, one, slen, mask, out) == MQS_OK &&
					    memcmp(out, secret, slen) == 0 && opens(out, slen))
						good++;
					else
						bad++;
				} else if (pc == k - 1) {
					uint8_t *forged = malloc(slen);
					const uint8_t *bodies[8];
					uint8_t xs[8];
					unsigned m = 0;

					tried_km1++;
					if (forged == NULL)
						exit(99);
					/* k-1 shares as if they were k - 1 points */
					if (pc >= 2 &&
					    combine_mask(sh, one, slen, mask, out) == MQS_OK &&
					    (memcmp(out, secret, slen) == 0 || opens(out, slen)))
						bad++;
					/* completed with a guessed share at a missing x */
					RAND_bytes(forged, (int)slen);
					for (unsigned i = 0; i < n; i++) {
						if (mask & (1u << i)) {
							xs[m] = (uint8_t)(i + 1);
							bodies[m++] =
							    sh + i * one + MQS_SHARE_HDR_LEN;
						}
					}
					xs[m] = (uint8_t)(n + 1);
					bodies[m++] = forged;
					if (mqs_share_combine(m, xs, bodies, slen, out) != MQS_OK ||
					    memcmp(out, secret, slen) == 0 || opens(out, slen))
						bad++;
					free(forged);
				}
			}
		}
	}
	tap_ok(bad == 0 && good == tried_k && good > 0,
	       "n 2..8, k 2..n: all %u k-subsets rebuild and open, %u (k-1)-subsets do not "
	       "(%u failures)",
	       tried_k, tried_km1, bad);
	mqs_secret_free(secret, slen);
	free(sh);
	free(out);
}

/* The field is libgfshare's GF(2^8) with 0x11D and f(0) is the secret:
 * checked against a multiplication written here, for k = 2 and k = 3. */
static void test_field(void)
{
	uint8_t secret[256], sh[4 * (256 + MQS_SHARE_OVERHEAD)];
	size_t one = mqs_share_len(sizeof(secret));
	unsigned bad = 0;

	for (unsigned i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)i;
	/* k = 2: f(x) = s + a x, so a = f(1) - s and f(x) = s + a x for x = 2..4 */
	if (mqs_share_split(secret, sizeof(secret), 4, 2, tag_key, NULL, NULL, sh, sizeof(sh)) !=
	    MQS_OK)
		bad++;
	for (unsigned i = 0; i < sizeof(secret); i++) {
		uint8_t a = sh[MQS_SHARE_HDR_LEN + i] ^ secret[i];

		for (unsigned x = 2; x <= 4; x++) {
			if (sh[(x - 1) * one + MQS_SHARE_HDR_LEN + i] !=
			    (uint8_t)(secret[i] ^ gf_mul(a, (uint8_t)x)))
				bad++;
		}
	}
	tap_ok(bad == 0, "k=2 shares are s + a*x over GF(2^8) mod 0x11D (%u mismatches)", bad);
	/* k = 3: Lagrange at 0 from x = 1, 2, 3 with this multiplication */
	bad = 0;
	if (mqs_share_split(secret, sizeof(secret), 4, 3, tag_key, NULL, NULL, sh, sizeof(sh)) !=
	    MQS_OK)
		bad++;
	{
		/* inverse by search: fine for a test */
		uint8_t l[3];
		const uint8_t xs[3] = {1, 2, 3};

		for (int i = 0; i < 3; i++) {
			uint8_t num = 1, den = 1, inv = 0;

			for (int j = 0; j < 3; j++) {
				if (j == i)
					continue;
				num = gf_mul(num, xs[j]);
				den = gf_mul(den, (uint8_t)(xs[i] ^ xs[j]));
			}
			for (unsigned c = 1; c < 256; c++) {
				if (gf_mul(den, (uint8_t)c) == 1)
					inv = (uint8_t)c;
			}
			l[i] = gf_mul(num, inv);
		}
		for (unsigned i = 0; i < sizeof(secret); i++) {
			uint8_t s = 0;

			for (int x = 0; x < 3; x++)
				s ^= gf_mul(l[x], sh[x * one + MQS_SHARE_HDR_LEN + i]);
			if (s != secret[i])
				bad++;
		}
	}
	tap_ok(bad == 0, "k=3: Lagrange at 0 written here rebuilds libgfshare's shares (%u)", bad);
}

/* Header layout, tags, tampering. */
static void test_header_and_tags(void)
{
	uint8_t secret[50], id[MQS_SHARE_ID_LEN], id_out[MQS_SHARE_ID_LEN], other_tk[32];
	uint8_t sh[3 * (50 + MQS_SHARE_OVERHEAD)];
	size_t one = mqs_share_len(sizeof(secret));
	struct mqs_share_hdr h;
	unsigned bad = 0;
	int rc;

	tap_is_int((int)mqs_share_len(10), 54, "share length is S + 44");
	memset(secret, 0x5a, sizeof(secret));
	for (unsigned i = 0; i < sizeof(id); i++)
		id[i] = (uint8_t)(0xa0 + i);
	rc = mqs_share_split(secret, sizeof(secret), 3, 2, tag_key, id, id_out, sh, sizeof(sh));
	tap_ok(rc == MQS_OK && memcmp(id_out, id, sizeof(id)) == 0, "split with a given id");
	tap_ok(sh[0] == 1 && sh[1] == 3 && sh[2] == 2 && sh[3] == 1 &&
	           memcmp(sh + 4, id, 16) == 0 && sh[20] == 0 && sh[21] == 0 && sh[22] == 0 &&
	           sh[23] == 50 && sh[24] == 0 && sh[27] == 0 && sh[2 * one + 3] == 3,
	       "header bytes: version, n, k, x, id, S (BE), reserved");
	rc = mqs_share_parse(sh + one, one, &h);
	tap_ok(rc == MQS_OK && h.n == 3 && h.k == 2 && h.x == 2 && h.secret_len == 50 &&
	           memcmp(h.id, id, 16) == 0,
	       "parse fills the header");
	tap_ok(mqs_share_tag_ok(sh, one, tag_key) && mqs_share_tag_ok(sh + one, one, tag_key) &&
	           mqs_share_tag_ok(sh + 2 * one, one, tag_key),
	       "tags verify");
	rc = mqs_share_split(secret, sizeof(secret), 3, 2, tag_key, NULL, id_out, sh, sizeof(sh));
	tap_ok(rc == MQS_OK && memcmp(id_out, id, 16) != 0 && memcmp(sh + 4, id_out, 16) == 0,
	       "split with NULL id draws a fresh one");
	for (unsigned i = 0; i < MQS_SHARE_HDR_LEN; i++) {
		for (unsigned b = 0; b < 8; b++) {
			sh[i] ^= (uint8_t)(1u << b);
			if (mqs_share_tag_ok(sh, one, tag_key))
				bad++;
			sh[i] ^= (uint8_t)(1u << b);
		}
	}
	tap_ok(bad == 0, "every bit flip in header bytes 0..27 fails the tag (%u passed)", bad);
	bad = 0;
	for (unsigned i = 0; i < MQS_SHARE_TAG_LEN; i++) {
		sh[one - 1 - i] ^= 0x01;
		if (mqs_share_tag_ok(sh, one, tag_key))
			bad++;
		sh[one - 1 - i] ^= 0x01;
	}
	tap_ok(bad == 0, "a flip in the tag fails");
	tap_ok(mqs_share_tag_key(rk2, other_tk) == MQS_OK && !mqs_share_tag_ok(sh, one, other_tk),
	       "another record key's tag key fails");
	tap_ok(!mqs_share_tag_ok(sh, 10, tag_key) && !mqs_share_tag_ok(NULL, one, tag_key),
	       "tag_ok on short or NULL input is 0");
	/* a tampered body keeps the tag but the record does not open */
}

/* Tampered share bytes: the rebuilt record does not open. */
static void test_tampered_body(void)
{
	uint8_t *secret = NULL, *sh = NULL, *out = NULL;
	const uint8_t plain[] = "blood pressure 120/80";
	size_t slen = 0, one;
	unsigned bad = 0;
	int rc;

	rc = mqs_share_record_seal(rk, 5, "clinic/1/record", NULL, plain, sizeof(plain) - 1,
	                           &secret, &slen);
	one = mqs_share_len(slen);
	sh = malloc(3 * one);
	out = malloc(slen);
	if (rc != MQS_OK || sh == NULL || out == NULL)
		exit(99);
	if (mqs_share_split(secret, slen, 3, 2, tag_key, NULL, NULL, sh, 3 * one) != MQS_OK)
		exit(99);
	for (size_t i = 0; i < slen; i += 7) {
		sh[one + MQS_SHARE_HDR_LEN + i] ^= 0x40;
		if (!mqs_share_tag_ok(sh + one, one, tag_key))
			bad++; /* the tag covers the header only */
		if (combine_mask(sh, one, slen, 0x3, out) != MQS_OK || opens(out, slen))
			bad++;
		sh[one + MQS_SHARE_HDR_LEN + i] ^= 0x40;
	}
	tap_ok(bad == 0, "a flipped share byte anywhere: the record does not open (%u)", bad);
	tap_ok(combine_mask(sh, one, slen, 0x5, out) == MQS_OK && opens(out, slen),
	       "the two honest shares still open it");
	mqs_secret_free(secret, slen);
	free(sh);
	free(out);
}

/* Each field of the header refused by parse. */
static void test_parse_refusals(void)
{
	uint8_t secret[20] = {1}, sh[2 * (20 + MQS_SHARE_OVERHEAD)];
	uint8_t big[MQS_SHARE_OVERHEAD + 8];
	size_t one = mqs_share_len(sizeof(secret));
	struct mqs_share_hdr h;
	struct {
		unsigned off;
		uint8_t val;
		int want;
		const char *what;
	} cases[] = {
	    {0, 0, MQS_ERR_PARSE, "version 0"},
	    {0, 2, MQS_ERR_PARSE, "version 2"},
	    {1, 1, MQS_ERR_PARSE, "n 1"},
	    {1, 9, MQS_ERR_PARSE, "n 9"},
	    {2, 1, MQS_ERR_PARSE, "k 1"},
	    {2, 3, MQS_ERR_PARSE, "k 3 > n 2"},
	    {2, 0, MQS_ERR_PARSE, "k 0"},
	    {3, 0, MQS_ERR_PARSE, "x 0"},
	    {3, 3, MQS_ERR_PARSE, "x 3 > n 2"},
	    {24, 1, MQS_ERR_PARSE, "reserved byte 24"},
	    {25, 0x80, MQS_ERR_PARSE, "reserved 25"},
	    {26, 1, MQS_ERR_PARSE, "reserved 26"},
	    {27, 1, MQS_ERR_PARSE, "reserved 27"},
	};

	if (mqs_share_split(secret, sizeof(secret), 2, 2, tag_key, NULL, NULL, sh, sizeof(sh)) !=
	    MQS_OK)
		exit(99);
	tap_is_int(mqs_share_parse(sh, one, &h), MQS_OK, "the share parses");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t save = sh[cases[i].off];

		sh[cases[i].off] = cases[i].val;
		tap_is_int(mqs_share_parse(sh, one, &h), cases[i].want, "parse refuses %s",
		           cases[i].what);
		sh[cases[i].off] = save;
	}
	tap_is_int(mqs_share_parse(sh, one - 1, &h), MQS_ERR_ENV_TRUNCATED,
	           "one byte short: MQS_ERR_ENV_TRUNCATED");
	tap_is_int(mqs_share_parse(sh, one + 1, &h), MQS_ERR_ENV_TRUNCATED,
	           "one byte long: MQS_ERR_ENV_TRUNCATED");
	tap_is_int(mqs_share_parse(sh, 10, &h), MQS_ERR_ENV_TRUNCATED,
	           "shorter than a header: MQS_ERR_ENV_TRUNCATED");
	memcpy(big, sh, MQS_SHARE_HDR_LEN);
	big[20] = 0x00;
	big[21] = 0x10;
	big[22] = 0x00;
	big[23] = 0x01; /* 1 MiB + 1 */
	tap_is_int(mqs_share_parse(big, sizeof(big), &h), MQS_ERR_TOOBIG,
	           "S of 1 MiB + 1: MQS_ERR_TOOBIG");
	big[20] = 0xff;
	tap_is_int(mqs_share_parse(big, sizeof(big), &h), MQS_ERR_TOOBIG, "S of 4 GiB: TOOBIG");
	big[20] = 0;
	big[21] = 0;
	big[22] = 0;
	big[23] = 0;
	tap_is_int(mqs_share_parse(big, MQS_SHARE_OVERHEAD, &h), MQS_ERR_PARSE,
	           "S of 0: MQS_ERR_PARSE");
}

/* Argument checks of split and combine. */
static void test_split_args(void)
{
	uint8_t secret[16] = {7}, sh[9 * (16 + MQS_SHARE_OVERHEAD)], out[16];
	const uint8_t *bodies[2] = {sh + MQS_SHARE_HDR_LEN, sh + MQS_SHARE_HDR_LEN};
	uint8_t xs[2] = {1, 1};
	size_t one = mqs_share_len(sizeof(secret));

	tap_is_int(mqs_share_split(secret, 16, 1, 1, tag_key, NULL, NULL, sh, sizeof(sh)),
	           MQS_ERR_INVAL, "split n 1");
	tap_is_int(mqs_share_split(secret, 16, 9, 2, tag_key, NULL, NULL, sh, sizeof(sh)),
	           MQS_ERR_INVAL, "split n 9");
	tap_is_int(mqs_share_split(secret, 16, 3, 1, tag_key, NULL, NULL, sh, sizeof(sh)),
	           MQS_ERR_INVAL, "split k 1");
	tap_is_int(mqs_share_split(secret, 16, 3, 4, tag_key, NULL, NULL, sh, sizeof(sh)),
	           MQS_ERR_INVAL, "split k > n");
	tap_is_int(mqs_share_split(secret, 0, 3, 2, tag_key, NULL, NULL, sh, sizeof(sh)),
	           MQS_ERR_INVAL, "split of an empty secret");
	tap_is_int(mqs_share_split(secret, MQS_SHARE_SECRET_MAX + 1, 3, 2, tag_key, NULL, NULL, sh,
	                           sizeof(sh)),
	           MQS_ERR_TOOBIG, "split over 1 MiB");
	tap_is_int(mqs_share_split(secret, 16, 3, 2, tag_key, NULL, NULL, sh, 3 * one - 1),
	           MQS_ERR_BUFSIZE, "split into too small a buffer");
	tap_is_int(mqs_share_combine(2, xs, bodies, 16, out), MQS_ERR_INVAL,
	           "combine with a duplicate x");
	xs[0] = 0;
	xs[1] = 2;
	tap_is_int(mqs_share_combine(2, xs, bodies, 16, out), MQS_ERR_INVAL, "combine with x 0");
	xs[0] = 1;
	tap_is_int(mqs_share_combine(1, xs, bodies, 16, out), MQS_ERR_INVAL, "combine with k 1");
}

/* Record seal/open: round trip, origin, topic, wrong key, caps. */
static void test_record(void)
{
	char topic[64], origin[MQS_ENVELOPE_ORIGIN_MAX + 1], small[4];
	const uint8_t plain[] = "heart rate 61";
	uint8_t *secret = NULL, *got = NULL, *big = NULL;
	size_t slen = 0, glen = 0, max_plain;
	uint64_t ts = 0, before = mqs_now_ms();
	int rc;

	rc = mqs_share_record_seal(rk, 5, "clinic/9/record", "device-9", plain, sizeof(plain) - 1,
	                           &secret, &slen);
	tap_ok(rc == MQS_OK && slen == 2 + 15 + 26 + 8 + 13 + 16 && secret[0] == 0 &&
	           secret[1] == 15 && memcmp(secret + 2, "clinic/9/record", 15) == 0,
	       "seal frames topic length, topic, envelope");
	rc = mqs_share_record_open(rk, 5, secret, slen, topic, sizeof(topic), origin, &got, &glen,
	                           &ts);
	tap_ok(rc == MQS_OK && strcmp(topic, "clinic/9/record") == 0 &&
	           strcmp(origin, "device-9") == 0 && glen == sizeof(plain) - 1 &&
	           memcmp(got, plain, glen) == 0 && ts >= before && ts <= mqs_now_ms(),
	       "open gives topic, origin, record, time");
	mqs_secret_free(got, glen);
	got = NULL;
	tap_is_int(mqs_share_record_open(rk2, 5, secret, slen, topic, sizeof(topic), origin, &got,
	                                 &glen, &ts),
	           MQS_ERR_ENV_AUTH, "another record key is refused");
	tap_is_int(mqs_share_record_open(rk, 6, secret, slen, topic, sizeof(topic), origin, &got,
	                                 &glen, &ts),
	           MQS_ERR_ENV_KEYID, "another key id is refused");
	tap_ok(got == NULL, "nothing handed back on failure");
	tap_is_int(mqs_share_record_open(rk, 5, secret, slen, small, sizeof(small), origin, &got,
	                                 &glen, &ts),
	           MQS_ERR_BUFSIZE, "topic longer than the buffer: MQS_ERR_BUFSIZE");
	secret[1] = 200;
	tap_is_int(mqs_share_record_open(rk, 5, secret, slen, topic, sizeof(topic), origin, &got,
	                                 &glen, &ts),
	           MQS_ERR_PARSE, "topic length past the end: MQS_ERR_PARSE");
	secret[1] = 0;
	tap_is_int(mqs_share_record_open(rk, 5, secret, slen, topic, sizeof(topic), origin, &got,
	                                 &glen, &ts),
	           MQS_ERR_PARSE, "empty topic: MQS_ERR_PARSE");
	secret[1] = 15;
	secret[3] = '+';
	tap_is_int(mqs_share_record_open(rk, 5, secret, slen, topic, sizeof(topic), origin, &got,
	                                 &glen, &ts),
	           MQS_ERR_PARSE, "wildcard in the framed topic: MQS_ERR_PARSE");
	secret[3] = 'l';
	secret[4] ^= 1; /* another topic: the envelope's AAD does not match */
	tap_is_int(mqs_share_record_open(rk, 5, secret, slen, topic, sizeof(topic), origin, &got,
	                                 &glen, &ts),
	           MQS_ERR_ENV_AUTH, "the envelope is bound to the framed topic");
	mqs_secret_free(secret, slen);
	secret = NULL;
	/* no origin */
	rc = mqs_share_record_seal(rk, 5, "t", "", plain, 0, &secret, &slen);
	rc = rc == MQS_OK ? mqs_share_record_open(rk, 5, secret, slen, topic, sizeof(topic), origin,
	                                          &got, &glen, &ts)
	                  : rc;
	tap_ok(rc == MQS_OK && origin[0] == '\0' && glen == 0 && strcmp(topic, "t") == 0,
	       "empty record, no origin");
	mqs_secret_free(got, glen);
	got = NULL;
	mqs_secret_free(secret, slen);
	secret = NULL;
	tap_is_int(mqs_share_record_seal(rk, 5, "a/#", NULL, plain, 1, &secret, &slen),
	           MQS_ERR_ENV_TOPIC, "seal refuses a wildcard topic");
	tap_is_int(mqs_share_record_seal(rk, 5, "", NULL, plain, 1, &secret, &slen),
	           MQS_ERR_ENV_TOPIC, "seal refuses an empty topic");
	/* the largest record that fits one channel envelope */
	max_plain = MQS_SHARE_SECRET_SEND_MAX - 2 - 1 - MQS_ENVELOPE_MIN_LEN;
	big = calloc(1, max_plain + 1);
	if (big == NULL)
		exit(99);
	rc = mqs_share_record_seal(rk, 5, "t", NULL, big, max_plain, &secret, &slen);
	tap_ok(rc == MQS_OK && slen == MQS_SHARE_SECRET_SEND_MAX,
	       "a record of %zu bytes fits (secret %zu)", max_plain, slen);
	mqs_secret_free(secret, slen);
	secret = NULL;
	tap_is_int(mqs_share_record_seal(rk, 5, "t", NULL, big, max_plain + 1, &secret, &slen),
	           MQS_ERR_TOOBIG, "one byte more: MQS_ERR_TOOBIG");
	tap_ok(secret == NULL && slen == 0, "nothing handed back on failure");
	free(big);
}

/* Known answers computed with tests/tools/shamir.py (cryptography's HKDF and
 * HMAC): record key 00..1f; header n 3, k 2, x 1, id 00..0f, S 5. */
static void test_known_answers(void)
{
	static const uint8_t want_tk[32] = {0x39, 0x9b, 0x47, 0x3e, 0x63, 0x87, 0x50, 0x87,
	                                    0x93, 0x75, 0x3e, 0xc8, 0x39, 0x0f, 0x29, 0x20,
	                                    0x6a, 0x9f, 0x01, 0xc2, 0xff, 0x33, 0x26, 0xc8,
	                                    0xed, 0x06, 0x3a, 0x8b, 0xbb, 0x59, 0xe0, 0x38};
	static const uint8_t want_tag[16] = {0xac, 0x25, 0x4b, 0x50, 0xd1, 0xdf, 0x4b, 0x00,
	                                     0x41, 0xbf, 0x3d, 0x86, 0x90, 0x56, 0x25, 0xd6};
	uint8_t key[32], tk[32], share[5 + MQS_SHARE_OVERHEAD];
	uint8_t id[MQS_SHARE_ID_LEN], secret[5] = {1, 2, 3, 4, 5};

	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	for (unsigned i = 0; i < sizeof(id); i++)
		id[i] = (uint8_t)i;
	tap_ok(mqs_share_tag_key(key, tk) == MQS_OK && memcmp(tk, want_tk, 32) == 0,
	       "tag key of record key 00..1f (known answer)");
	tap_ok(mqs_share_split(secret, 5, 3, 2, tk, id, NULL, share, sizeof(share)) ==
	           MQS_ERR_BUFSIZE,
	       "(one share does not hold three)");
	{
		uint8_t three[3 * sizeof(share)];

		tap_ok(mqs_share_split(secret, 5, 3, 2, tk, id, NULL, three, sizeof(three)) ==
		               MQS_OK &&
		           memcmp(three + MQS_SHARE_HDR_LEN + 5, want_tag, 16) == 0,
		       "header tag of share 1 (known answer)");
	}
}

/* One share alone says nothing: for a constant secret its bytes are uniform
 * (chi-square over 256 values; 255 degrees of freedom, mean 255, sd 22.6,
 * so 400 is more than 6 sd away).  Catches coefficients that are not drawn
 * (a share equal to the secret, or to a fixed pattern). */
static void test_one_share_uniform(void)
{
	enum { LEN = 64 * 1024 };
	uint8_t *secret = calloc(1, LEN), *sh = malloc(3 * (LEN + MQS_SHARE_OVERHEAD));
	size_t one = mqs_share_len(LEN);
	unsigned long count[256] = {0};
	double chi = 0, expect = LEN / 256.0;

	if (secret == NULL || sh == NULL)
		exit(99);
	if (mqs_share_split(secret, LEN, 3, 2, tag_key, NULL, NULL, sh, 3 * one) != MQS_OK)
		exit(99);
	for (size_t i = 0; i < LEN; i++)
		count[sh[2 * one + MQS_SHARE_HDR_LEN + i]]++;
	for (int v = 0; v < 256; v++)
		chi += ((double)count[v] - expect) * ((double)count[v] - expect) / expect;
	tap_ok(chi < 400, "share 3 of an all-zero 64 KiB secret is uniform (chi-square %.1f)", chi);
	free(secret);
	free(sh);
}

int main(void)
{
	for (unsigned i = 0; i < sizeof(rk); i++) {
		rk[i] = (uint8_t)(i * 7 + 1);
		rk2[i] = (uint8_t)(i * 7 + 2);
	}
	if (mqs_share_tag_key(rk, tag_key) != MQS_OK)
		return 99;
	test_known_answers();
	test_subsets();
	test_one_share_uniform();
	test_field();
	test_header_and_tags();
	test_tampered_body();
	test_parse_refusals();
	test_split_args();
	test_record();
	tap_done();
	return tap_exit();
}
