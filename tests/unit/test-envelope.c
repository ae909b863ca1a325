/* SPDX-License-Identifier: BSD-3-Clause */
/* test-envelope.c - envelope v1 (docs/envelope.md): round trips, published test
 * vectors computed with an independent implementation (Python cryptography
 * AESGCM, see docs/envelope.md), and every refusal path of open/seal.
 *
 * On every failure the output length must be 0 and the output buffer must
 * hold no plaintext: buffers are pre-filled with a marker byte and searched
 * for a distinctive plaintext prefix afterwards.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_master_key.h"

#include "tap.h"

#define MARKER     0xA5
#define SECRET     "TOP-SECRET-PLAINTEXT:" /* every test plaintext starts with this */
#define SECRET_LEN (sizeof(SECRET) - 1)

static const char topic_a[] = "sensors/dev1/temp";

/* Test key: bytes 0x00..0x1f, as in the published vectors. */
static void vec_key(uint8_t key[MQS_ENVELOPE_KEY_LEN])
{
	for (int i = 0; i < MQS_ENVELOPE_KEY_LEN; i++)
		key[i] = (uint8_t)i;
}

/* Fill buf with a plaintext of len bytes starting with SECRET (truncated when
 * shorter) followed by a counter pattern. */
static void fill_plain(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = i < SECRET_LEN ? (uint8_t)SECRET[i] : (uint8_t)(i * 7 + 3);
}

/* Return 1 when buf (len bytes) contains the needle. */
static int contains(const uint8_t *buf, size_t len, const void *needle, size_t nlen)
{
	if (nlen == 0 || len < nlen)
		return 0;
	for (size_t i = 0; i + nlen <= len; i++) {
		if (memcmp(buf + i, needle, nlen) == 0)
			return 1;
	}
	return 0;
}

/* Return 1 when the failed output buffer leaks no plaintext: neither the
 * SECRET prefix nor (when plain is given) any 8-byte window of plain. */
static int no_leak(const uint8_t *out, size_t cap, const uint8_t *plain, size_t plain_len)
{
	if (contains(out, cap, SECRET, 8))
		return 0;
	for (size_t i = 0; plain != NULL && i + 8 <= plain_len && i < 4096; i += 8) {
		if (contains(out, cap, plain + i, 8))
			return 0;
	}
	return 1;
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

static int unhex(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(hex);

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

/* Published test vectors (docs/envelope.md).  key = 00..1f. */
struct vector {
	const char *name;
	uint32_t key_id;
	uint64_t ts;
	const char *nonce_hex;
	const char *origin;
	const char *topic;
	const char *plain;
	const char *env_hex;
};

static const struct vector vectors[] = {
    {"v1 empty plaintext, no origin", 1, 1700000000000ull, "101112131415161718191a1b", "",
     "sensors/dev1/temp", "",
     "0100000000010000018bcfe56800101112131415161718191a1b"
     "1736b3b1346b260050c72d2b631d36be"},
    {"v2 short text, no origin", 17, 1700000000123ull, "202122232425262728292a2b", "",
     "sensors/dev1/temp", "hello, world",
     "0100000000110000018bcfe5687b202122232425262728292a2b"
     "ba5fca1c03b43a79750e2eaa"
     "a2c1744119355ad327becd2055cee872"},
    {"v3 text with origin dev1", 42, 1700000001000ull, "303132333435363738393a3b", "dev1",
     "alerts/room3", "{\"t\":41.5}",
     "01040000002a0000018bcfe56be8303132333435363738393a3b64657631"
     "c81745e2d35b7b2d1f4e"
     "36d4ad1dced0578d2ff6623a0adf999b"},
};

static void test_vectors(void)
{
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
	uint8_t want[256], nonce[16], out[256], plain[256];
	size_t want_len, nonce_len, out_len;
	struct mqs_envelope_info info;
	int rc;

	vec_key(key);
	for (size_t v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
		const struct vector *t = &vectors[v];
		size_t plen = strlen(t->plain), olen = strlen(t->origin);

		if (unhex(t->env_hex, want, sizeof(want), &want_len) != 0 ||
		    unhex(t->nonce_hex, nonce, sizeof(nonce), &nonce_len) != 0 || nonce_len != 12)
			abort();
		tap_is_int((long)want_len, (long)mqs_envelope_sealed_len(olen, plen),
		           "%s: sealed_len matches the vector", t->name);
		memset(out, MARKER, sizeof(out));
		rc = mqs_envelope_seal(key, t->key_id, t->ts, nonce, t->origin, olen, t->topic,
		                       strlen(t->topic), (const uint8_t *)t->plain, plen, out,
		                       sizeof(out), &out_len);
		tap_is_int(rc, MQS_OK, "%s: seal ok", t->name);
		tap_is_int((long)out_len, (long)want_len, "%s: seal length", t->name);
		tap_is_mem(out, want, want_len, "%s: seal gives the published bytes", t->name);

		memset(plain, MARKER, sizeof(plain));
		rc = mqs_envelope_open(key, t->key_id, want, want_len, t->topic, strlen(t->topic),
		                       plain, sizeof(plain), &out_len, &info);
		tap_is_int(rc, MQS_OK, "%s: open ok", t->name);
		tap_is_int((long)out_len, (long)plen, "%s: open length", t->name);
		tap_is_mem(plain, t->plain, plen, "%s: open gives the plaintext", t->name);
		tap_ok(info.version == 1 && info.key_id == t->key_id &&
		           info.timestamp_ms == t->ts && memcmp(info.nonce, nonce, 12) == 0 &&
		           info.origin_len == olen &&
		           (olen == 0 || memcmp(info.origin, t->origin, olen) == 0) &&
		           info.ciphertext_len == plen,
		       "%s: open fills info", t->name);
	}
}

/* Seal and open at one size/origin; check the layout and the info. */
static void round_trip(size_t plain_len, size_t origin_len)
{
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
	char origin[MQS_ENVELOPE_ORIGIN_MAX + 1];
	uint8_t *plain = malloc(plain_len + 1);
	size_t cap = MQS_ENVELOPE_MAX_LEN;
	uint8_t *env = malloc(cap);
	uint8_t *back = malloc(plain_len + 1);
	size_t env_len = 0, back_len = 0, want;
	struct mqs_envelope_info info, pinfo;
	const uint32_t kid = 0xdeadbeefu;
	const uint64_t ts = 0x0123456789abcdefull;
	int rc, ok;

	if (plain == NULL || env == NULL || back == NULL)
		abort();
	vec_key(key);
	fill_plain(plain, plain_len);
	for (size_t i = 0; i < origin_len; i++)
		origin[i] = (char)('a' + i % 26);
	want = mqs_envelope_sealed_len(origin_len, plain_len);
	tap_is_int((long)want, (long)(26 + origin_len + plain_len + 16), "sealed_len(%zu, %zu)",
	           origin_len, plain_len);
	rc = mqs_envelope_seal(key, kid, ts, NULL, origin_len > 0 ? origin : NULL, origin_len,
	                       topic_a, strlen(topic_a), plain, plain_len, env, cap, &env_len);
	tap_is_int(rc, MQS_OK, "seal plain=%zu origin=%zu", plain_len, origin_len);
	tap_is_int((long)env_len, (long)want, "seal length plain=%zu origin=%zu", plain_len,
	           origin_len);
	ok = env[0] == 1 && env[1] == origin_len && be32(env + 2) == kid && be64(env + 6) == ts &&
	     memcmp(env + 26, origin, origin_len) == 0;
	tap_ok(ok, "header layout plain=%zu origin=%zu", plain_len, origin_len);
	tap_ok(plain_len < SECRET_LEN || !contains(env, env_len, SECRET, SECRET_LEN),
	       "ciphertext does not hold the plaintext (plain=%zu)", plain_len);

	rc = mqs_envelope_parse(env, env_len, &pinfo);
	ok = rc == MQS_OK && pinfo.version == 1 && pinfo.key_id == kid &&
	     pinfo.timestamp_ms == ts && memcmp(pinfo.nonce, env + 14, 12) == 0 &&
	     pinfo.origin_len == origin_len && (origin_len == 0 || pinfo.origin == env + 26) &&
	     pinfo.ciphertext == env + 26 + origin_len && pinfo.ciphertext_len == plain_len;
	tap_ok(ok, "parse plain=%zu origin=%zu", plain_len, origin_len);

	memset(back, MARKER, plain_len + 1);
	rc = mqs_envelope_open(key, kid, env, env_len, topic_a, strlen(topic_a), back,
	                       plain_len + 1, &back_len, &info);
	tap_is_int(rc, MQS_OK, "open plain=%zu origin=%zu", plain_len, origin_len);
	tap_ok(back_len == plain_len && memcmp(back, plain, plain_len) == 0,
	       "open gives the plaintext back (plain=%zu origin=%zu)", plain_len, origin_len);
	tap_ok(info.key_id == kid && info.timestamp_ms == ts && info.origin_len == origin_len &&
	           (origin_len == 0 || memcmp(info.origin, origin, origin_len) == 0) &&
	           info.ciphertext_len == plain_len,
	       "open info plain=%zu origin=%zu", plain_len, origin_len);

	/* exact-size output buffer works too (plain_len 0: cap 0) */
	rc = mqs_envelope_open(key, kid, env, env_len, topic_a, strlen(topic_a), back, plain_len,
	                       &back_len, NULL);
	tap_ok(rc == MQS_OK && back_len == plain_len,
	       "open into an exact-size buffer, info NULL (plain=%zu origin=%zu)", plain_len,
	       origin_len);
	free(plain);
	free(env);
	free(back);
}

static void test_round_trips(void)
{
	const size_t sizes[] = {0, 1, 255, 256 * 1024};
	const size_t origins[] = {0, 1, 255};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (size_t j = 0; j < sizeof(origins) / sizeof(origins[0]); j++)
			round_trip(sizes[i], origins[j]);
	round_trip(MQS_ENVELOPE_PLAIN_MAX, MQS_ENVELOPE_ORIGIN_MAX);
}

/* Fresh random nonces differ; extreme key id / timestamp survive. */
static void test_nonce_and_extremes(void)
{
	uint8_t key[MQS_ENVELOPE_KEY_LEN], e1[128], e2[128], back[64];
	size_t l1, l2, bl;
	struct mqs_envelope_info info;
	int rc1, rc2;

	vec_key(key);
	rc1 = mqs_envelope_seal(key, 1, 1, NULL, NULL, 0, "t", 1, (const uint8_t *)"x", 1, e1,
	                        sizeof(e1), &l1);
	rc2 = mqs_envelope_seal(key, 1, 1, NULL, NULL, 0, "t", 1, (const uint8_t *)"x", 1, e2,
	                        sizeof(e2), &l2);
	tap_ok(rc1 == MQS_OK && rc2 == MQS_OK && l1 == l2, "two seals of the same input");
	tap_ok(memcmp(e1 + 14, e2 + 14, 12) != 0, "NULL nonce draws a fresh random nonce");
	tap_ok(memcmp(e1 + 27, e2 + 27, 16) != 0, "so ciphertext and tag differ");

	rc1 = mqs_envelope_seal(key, UINT32_MAX, UINT64_MAX, NULL, NULL, 0, "t", 1,
	                        (const uint8_t *)"x", 1, e1, sizeof(e1), &l1);
	rc2 = mqs_envelope_open(key, UINT32_MAX, e1, l1, "t", 1, back, sizeof(back), &bl, &info);
	tap_ok(rc1 == MQS_OK && rc2 == MQS_OK && info.key_id == UINT32_MAX &&
	           info.timestamp_ms == UINT64_MAX && bl == 1 && back[0] == 'x',
	       "key id 2^32-1 and timestamp 2^64-1 round trip");
	rc1 = mqs_envelope_seal(key, 0, 0, NULL, NULL, 0, "t", 1, (const uint8_t *)"x", 1, e1,
	                        sizeof(e1), &l1);
	rc2 = mqs_envelope_open(key, 0, e1, l1, "t", 1, back, sizeof(back), &bl, &info);
	tap_ok(rc1 == MQS_OK && rc2 == MQS_OK && info.key_id == 0 && info.timestamp_ms == 0,
	       "key id 0 and timestamp 0 round trip");
}

/* A sealed fixture: origin "dev1", plaintext SECRET + 11 bytes. */
struct fixture {
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
	uint8_t plain[32];
	size_t plain_len;
	uint8_t env[128];
	size_t env_len;
};

static void fixture_make(struct fixture *f)
{
	int rc;

	vec_key(f->key);
	f->plain_len = 32;
	fill_plain(f->plain, f->plain_len);
	rc = mqs_envelope_seal(f->key, 17, 1700000000000ull, NULL, "dev1", 4, topic_a,
	                       strlen(topic_a), f->plain, f->plain_len, f->env, sizeof(f->env),
	                       &f->env_len);
	if (rc != MQS_OK || f->env_len != 26 + 4 + 32 + 16) {
		tap_diag("cannot seal the fixture: %s", mqs_strerror(rc));
		abort();
	}
}

/* Open env and check the refusal code, out_len 0 and no plaintext in out. */
static int open_refused(const struct fixture *f, const uint8_t *key, uint32_t kid,
                        const uint8_t *env, size_t env_len, const char *topic, size_t topic_len,
                        size_t out_cap, int want_rc, int *got_rc)
{
	uint8_t out[256];
	size_t out_len = 12345;
	int rc;

	memset(out, MARKER, sizeof(out));
	rc = mqs_envelope_open(key, kid, env, env_len, topic, topic_len, out, out_cap, &out_len,
	                       NULL);
	if (got_rc != NULL)
		*got_rc = rc;
	return rc == want_rc && out_len == 0 && no_leak(out, sizeof(out), f->plain, f->plain_len);
}

static void test_truncated(void)
{
	struct fixture f;
	uint8_t env[128];
	int bad_short = 0, bad_long = 0, bad_parse = 0, got;
	struct mqs_envelope_info info;
	size_t min_with_origin;

	fixture_make(&f);
	min_with_origin = 26 + 4 + 16;
	for (size_t len = 0; len < f.env_len; len++) {
		int want = len < min_with_origin ? MQS_ERR_ENV_TRUNCATED : MQS_ERR_ENV_AUTH;
		/* copy into a buffer of exactly len bytes' worth of meaning */
		memcpy(env, f.env, len);
		if (!open_refused(&f, f.key, 17, env, len, topic_a, strlen(topic_a), 256, want,
		                  &got)) {
			tap_diag("length %zu: got %d (%s), want %d", len, got, mqs_strerror(got),
			         want);
			if (len < min_with_origin)
				bad_short++;
			else
				bad_long++;
		}
		got = mqs_envelope_parse(env, len, &info);
		if ((len < min_with_origin && got != MQS_ERR_ENV_TRUNCATED) ||
		    (len >= min_with_origin && got != MQS_OK)) {
			tap_diag("parse length %zu: got %d (%s)", len, got, mqs_strerror(got));
			bad_parse++;
		}
	}
	tap_is_int(bad_short, 0,
	           "every length below header+origin+tag is MQS_ERR_ENV_TRUNCATED (0..%zu)",
	           min_with_origin - 1);
	tap_is_int(bad_long, 0, "shortened ciphertext is MQS_ERR_ENV_AUTH (%zu..%zu)",
	           min_with_origin, f.env_len - 1);
	tap_is_int(bad_parse, 0, "parse agrees on every truncated length");

	/* header only, origin length pointing past the end */
	memcpy(env, f.env, 26);
	tap_ok(open_refused(&f, f.key, 17, env, 26, topic_a, strlen(topic_a), 256,
	                    MQS_ERR_ENV_TRUNCATED, NULL),
	       "header-only envelope is MQS_ERR_ENV_TRUNCATED");
	memcpy(env, f.env, f.env_len);
	env[1] = 255;
	tap_ok(open_refused(&f, f.key, 17, env, f.env_len, topic_a, strlen(topic_a), 256,
	                    MQS_ERR_ENV_TRUNCATED, NULL),
	       "origin length 255 past the end is MQS_ERR_ENV_TRUNCATED");
	tap_is_int(mqs_envelope_parse(env, f.env_len, &info), MQS_ERR_ENV_TRUNCATED,
	           "parse: origin length past the end");
	env[1] = (uint8_t)(f.env_len - 26 - 16 + 1);
	tap_ok(open_refused(&f, f.key, 17, env, f.env_len, topic_a, strlen(topic_a), 256,
	                    MQS_ERR_ENV_TRUNCATED, NULL),
	       "origin length one past the end is MQS_ERR_ENV_TRUNCATED");
	env[1] = (uint8_t)(f.env_len - 26 - 16);
	tap_ok(open_refused(&f, f.key, 17, env, f.env_len, topic_a, strlen(topic_a), 256,
	                    MQS_ERR_ENV_AUTH, NULL),
	       "origin swallowing all the ciphertext is MQS_ERR_ENV_AUTH");
}

static void test_version_keyid_key_topic(void)
{
	struct fixture f;
	uint8_t env[128], other[MQS_ENVELOPE_KEY_LEN];
	const uint8_t versions[] = {0, 2, 0x81, 0xff};
	int got;

	fixture_make(&f);
	for (size_t i = 0; i < sizeof(versions); i++) {
		memcpy(env, f.env, f.env_len);
		env[0] = versions[i];
		tap_ok(open_refused(&f, f.key, 17, env, f.env_len, topic_a, strlen(topic_a), 256,
		                    MQS_ERR_ENV_VERSION, &got),
		       "version 0x%02x is MQS_ERR_ENV_VERSION (got %d)", versions[i], got);
	}
	tap_ok(open_refused(&f, f.key, 18, f.env, f.env_len, topic_a, strlen(topic_a), 256,
	                    MQS_ERR_ENV_KEYID, &got),
	       "other key id is MQS_ERR_ENV_KEYID (got %d)", got);
	tap_ok(open_refused(&f, f.key, 0, f.env, f.env_len, topic_a, strlen(topic_a), 256,
	                    MQS_ERR_ENV_KEYID, &got),
	       "key id 0 is MQS_ERR_ENV_KEYID (got %d)", got);
	memcpy(other, f.key, sizeof(other));
	other[31] ^= 0x01;
	tap_ok(open_refused(&f, other, 17, f.env, f.env_len, topic_a, strlen(topic_a), 256,
	                    MQS_ERR_ENV_AUTH, &got),
	       "other key bytes, same id, is MQS_ERR_ENV_AUTH (got %d)", got);
	tap_ok(open_refused(&f, f.key, 17, f.env, f.env_len, "sensors/dev2/temp", 17, 256,
	                    MQS_ERR_ENV_AUTH, &got),
	       "other topic is MQS_ERR_ENV_AUTH (got %d)", got);
	tap_ok(open_refused(&f, f.key, 17, f.env, f.env_len, topic_a, strlen(topic_a) - 1, 256,
	                    MQS_ERR_ENV_AUTH, &got),
	       "topic prefix is MQS_ERR_ENV_AUTH (got %d)", got);
	tap_ok(open_refused(&f, f.key, 17, f.env, f.env_len, "sensors/dev1/temp/x", 19, 256,
	                    MQS_ERR_ENV_AUTH, &got),
	       "longer topic is MQS_ERR_ENV_AUTH (got %d)", got);
	memcpy(env, f.env, f.env_len);
	env[f.env_len - 1] ^= 0x80;
	tap_ok(open_refused(&f, f.key, 17, env, f.env_len, topic_a, strlen(topic_a), 256,
	                    MQS_ERR_ENV_AUTH, &got),
	       "bad tag is MQS_ERR_ENV_AUTH (got %d)", got);
	memcpy(env, f.env, f.env_len);
	memset(env + f.env_len - 16, 0, 16);
	tap_ok(open_refused(&f, f.key, 17, env, f.env_len, topic_a, strlen(topic_a), 256,
	                    MQS_ERR_ENV_AUTH, &got),
	       "zero tag is MQS_ERR_ENV_AUTH (got %d)", got);
}

/* Flip every bit of the fixture; each flip must be refused with the code
 * that belongs to its field. */
static void test_bit_flips(void)
{
	struct fixture f;
	uint8_t env[128];
	int bad[5] = {0, 0, 0, 0, 0}; /* version, L, key id, ts/nonce, origin/ct/tag */
	int got;

	fixture_make(&f);
	for (size_t pos = 0; pos < f.env_len; pos++) {
		for (int bit = 0; bit < 8; bit++) {
			int want, field;
			memcpy(env, f.env, f.env_len);
			env[pos] ^= (uint8_t)(1u << bit);
			if (pos == 0) {
				field = 0;
				want = MQS_ERR_ENV_VERSION;
			} else if (pos == 1) {
				field = 1;
				want = (size_t)26 + env[1] + 16 > f.env_len ? MQS_ERR_ENV_TRUNCATED
				                                            : MQS_ERR_ENV_AUTH;
			} else if (pos < 6) {
				field = 2;
				want = MQS_ERR_ENV_KEYID;
			} else if (pos < 26) {
				field = 3;
				want = MQS_ERR_ENV_AUTH;
			} else {
				field = 4;
				want = MQS_ERR_ENV_AUTH;
			}
			if (!open_refused(&f, f.key, 17, env, f.env_len, topic_a, strlen(topic_a),
			                  256, want, &got)) {
				tap_diag("flip byte %zu bit %d: got %d (%s), want %d", pos, bit,
				         got, mqs_strerror(got), want);
				bad[field]++;
			}
			/* opening with the flipped key id still fails the tag */
			if (field == 2 &&
			    !open_refused(&f, f.key, be32(env + 2), env, f.env_len, topic_a,
			                  strlen(topic_a), 256, MQS_ERR_ENV_AUTH, &got)) {
				tap_diag("flipped key id byte %zu bit %d opened as is: got %d", pos,
				         bit, got);
				bad[field]++;
			}
		}
	}
	tap_is_int(bad[0], 0, "every flip in the version byte is MQS_ERR_ENV_VERSION");
	tap_is_int(bad[1], 0, "every flip in the origin length is TRUNCATED or AUTH");
	tap_is_int(bad[2], 0, "every flip in the key id is KEYID (and AUTH under that id)");
	tap_is_int(bad[3], 0, "every flip in timestamp/nonce is MQS_ERR_ENV_AUTH");
	tap_is_int(bad[4], 0, "every flip in origin/ciphertext/tag is MQS_ERR_ENV_AUTH");
}

static void test_topics(void)
{
	struct fixture f;
	uint8_t out[256];
	size_t out_len;
	const char *bad[] = {"sensors/+/temp", "sensors/#", "+", "#", "a+b", "a#"};
	char *big;
	int got;

	fixture_make(&f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tap_is_int(mqs_envelope_topic_check(bad[i], strlen(bad[i])), MQS_ERR_ENV_TOPIC,
		           "topic_check refuses \"%s\"", bad[i]);
		tap_ok(open_refused(&f, f.key, 17, f.env, f.env_len, bad[i], strlen(bad[i]), 256,
		                    MQS_ERR_ENV_TOPIC, &got),
		       "open refuses topic \"%s\" with MQS_ERR_ENV_TOPIC (got %d)", bad[i], got);
		memset(out, MARKER, sizeof(out));
		out_len = 99;
		got = mqs_envelope_seal(f.key, 17, 0, NULL, NULL, 0, bad[i], strlen(bad[i]),
		                        f.plain, f.plain_len, out, sizeof(out), &out_len);
		tap_ok(got == MQS_ERR_ENV_TOPIC && out_len == 0 &&
		           no_leak(out, sizeof(out), f.plain, f.plain_len),
		       "seal refuses topic \"%s\" with MQS_ERR_ENV_TOPIC (got %d)", bad[i], got);
	}
	tap_is_int(mqs_envelope_topic_check("", 0), MQS_ERR_ENV_TOPIC, "topic_check refuses \"\"");
	tap_ok(open_refused(&f, f.key, 17, f.env, f.env_len, "", 0, 256, MQS_ERR_ENV_TOPIC, &got),
	       "open refuses the empty topic (got %d)", got);
	got = mqs_envelope_seal(f.key, 17, 0, NULL, NULL, 0, "", 0, f.plain, f.plain_len, out,
	                        sizeof(out), &out_len);
	tap_ok(got == MQS_ERR_ENV_TOPIC && out_len == 0, "seal refuses the empty topic (got %d)",
	       got);
	tap_is_int(mqs_envelope_topic_check("a\0b", 3), MQS_ERR_ENV_TOPIC,
	           "topic_check refuses an embedded NUL");
	tap_ok(open_refused(&f, f.key, 17, f.env, f.env_len, "sensors/dev1/temp\0", 18, 256,
	                    MQS_ERR_ENV_TOPIC, &got),
	       "open refuses a topic with a NUL byte (got %d)", got);
	tap_is_int(mqs_envelope_topic_check("a/b", 3), MQS_OK, "topic_check accepts a/b");
	tap_is_int(mqs_envelope_topic_check("/", 1), MQS_OK, "topic_check accepts /");
	tap_is_int(mqs_envelope_topic_check("$SYS/x", 6), MQS_OK, "topic_check accepts $SYS/x");

	big = malloc(MQS_ENVELOPE_TOPIC_MAX + 1);
	if (big == NULL)
		abort();
	memset(big, 't', MQS_ENVELOPE_TOPIC_MAX + 1);
	tap_is_int(mqs_envelope_topic_check(big, MQS_ENVELOPE_TOPIC_MAX), MQS_OK,
	           "topic of 65535 bytes is accepted");
	tap_is_int(mqs_envelope_topic_check(big, MQS_ENVELOPE_TOPIC_MAX + 1), MQS_ERR_ENV_TOPIC,
	           "topic of 65536 bytes is refused");
	{
		uint8_t e[128], b[64];
		size_t el = 0, bl = 0;
		int r1 = mqs_envelope_seal(f.key, 5, 0, NULL, NULL, 0, big, MQS_ENVELOPE_TOPIC_MAX,
		                           (const uint8_t *)"hi", 2, e, sizeof(e), &el);
		int r2 = mqs_envelope_open(f.key, 5, e, el, big, MQS_ENVELOPE_TOPIC_MAX, b,
		                           sizeof(b), &bl, NULL);
		tap_ok(r1 == MQS_OK && r2 == MQS_OK && bl == 2 && memcmp(b, "hi", 2) == 0,
		       "round trip with a 65535-byte topic");
		r1 = mqs_envelope_seal(f.key, 5, 0, NULL, NULL, 0, big, MQS_ENVELOPE_TOPIC_MAX + 1,
		                       (const uint8_t *)"hi", 2, e, sizeof(e), &el);
		tap_ok(r1 == MQS_ERR_ENV_TOPIC && el == 0, "seal refuses a 65536-byte topic");
	}
	free(big);
}

static void test_caps_and_buffers(void)
{
	struct fixture f;
	uint8_t *plain, *out;
	size_t out_len, cap = MQS_ENVELOPE_MAX_LEN + 64;
	char origin[MQS_ENVELOPE_ORIGIN_MAX + 1];
	int rc, got;

	fixture_make(&f);
	plain = malloc(MQS_ENVELOPE_PLAIN_MAX + 1);
	out = malloc(cap);
	if (plain == NULL || out == NULL)
		abort();
	fill_plain(plain, MQS_ENVELOPE_PLAIN_MAX + 1);
	memset(origin, 'o', sizeof(origin));

	tap_is_int((long)mqs_envelope_sealed_len(0, MQS_ENVELOPE_PLAIN_MAX + 1), 0,
	           "sealed_len is 0 above the plaintext cap");
	tap_is_int((long)mqs_envelope_sealed_len(256, 0), 0,
	           "sealed_len is 0 above the origin cap");
	tap_is_int((long)mqs_envelope_sealed_len(0, 0), MQS_ENVELOPE_MIN_LEN, "sealed_len(0, 0)");
	tap_is_int((long)mqs_envelope_sealed_len(255, MQS_ENVELOPE_PLAIN_MAX),
	           (long)MQS_ENVELOPE_MAX_LEN, "sealed_len at both caps is MAX_LEN");

	memset(out, MARKER, cap);
	out_len = 7;
	rc = mqs_envelope_seal(f.key, 1, 0, NULL, NULL, 0, topic_a, strlen(topic_a), plain,
	                       MQS_ENVELOPE_PLAIN_MAX + 1, out, cap, &out_len);
	tap_ok(rc == MQS_ERR_TOOBIG && out_len == 0 && no_leak(out, cap, plain, 4096),
	       "seal of 1 MiB + 1 is MQS_ERR_TOOBIG (got %d)", rc);
	memset(out, MARKER, cap);
	out_len = 7;
	rc = mqs_envelope_seal(f.key, 1, 0, NULL, origin, 256, topic_a, strlen(topic_a), plain, 10,
	                       out, cap, &out_len);
	tap_ok(rc == MQS_ERR_TOOBIG && out_len == 0 && no_leak(out, cap, plain, 10),
	       "seal with a 256-byte origin is MQS_ERR_TOOBIG (got %d)", rc);

	/* out buffer too small for seal: every capacity below the size */
	{
		int bad = 0;
		uint8_t small[128];
		size_t need = mqs_envelope_sealed_len(4, f.plain_len);
		for (size_t c = 0; c < need; c++) {
			memset(small, MARKER, sizeof(small));
			out_len = 7;
			rc = mqs_envelope_seal(f.key, 1, 0, NULL, "dev1", 4, topic_a,
			                       strlen(topic_a), f.plain, f.plain_len, small, c,
			                       &out_len);
			if (rc != MQS_ERR_BUFSIZE || out_len != 0 ||
			    !no_leak(small, sizeof(small), f.plain, f.plain_len) ||
			    small[c] != MARKER) {
				tap_diag("seal cap %zu: got %d", c, rc);
				bad++;
			}
		}
		tap_is_int(bad, 0,
		           "seal into every too-small buffer is MQS_ERR_BUFSIZE, no write "
		           "past cap");
	}
	/* out buffer too small for open */
	{
		int bad = 0;
		for (size_t c = 0; c < f.plain_len; c++) {
			if (!open_refused(&f, f.key, 17, f.env, f.env_len, topic_a, strlen(topic_a),
			                  c, MQS_ERR_BUFSIZE, &got)) {
				tap_diag("open cap %zu: got %d", c, got);
				bad++;
			}
		}
		tap_is_int(bad, 0, "open into every too-small buffer is MQS_ERR_BUFSIZE");
	}

	/* an envelope whose ciphertext is above the cap */
	{
		size_t big_len = MQS_ENVELOPE_MIN_LEN + MQS_ENVELOPE_PLAIN_MAX + 1;
		struct mqs_envelope_info info;
		uint8_t small[64];
		size_t sl = 7;
		memset(out, 0, big_len);
		out[0] = 1;
		tap_is_int(mqs_envelope_parse(out, big_len, &info), MQS_ERR_TOOBIG,
		           "parse: ciphertext above 1 MiB is MQS_ERR_TOOBIG");
		rc = mqs_envelope_open(f.key, 0, out, big_len, topic_a, strlen(topic_a), small,
		                       sizeof(small), &sl, NULL);
		tap_ok(rc != MQS_OK && sl == 0, "open refuses it (got %d)", rc);
		tap_is_int(mqs_envelope_parse(out, MQS_ENVELOPE_MAX_LEN + 1, &info), MQS_ERR_TOOBIG,
		           "parse: envelope above MAX_LEN is MQS_ERR_TOOBIG");
	}

	/* argument checks */
	rc = mqs_envelope_seal(NULL, 1, 0, NULL, NULL, 0, topic_a, strlen(topic_a), f.plain, 1, out,
	                       cap, &out_len);
	tap_ok(rc == MQS_ERR_INVAL && out_len == 0, "seal with a NULL key is MQS_ERR_INVAL");
	rc = mqs_envelope_seal(f.key, 1, 0, NULL, NULL, 4, topic_a, strlen(topic_a), f.plain, 1,
	                       out, cap, &out_len);
	tap_ok(rc == MQS_ERR_INVAL && out_len == 0,
	       "seal with NULL origin of length 4 is MQS_ERR_INVAL");
	rc = mqs_envelope_seal(f.key, 1, 0, NULL, NULL, 0, topic_a, strlen(topic_a), NULL, 5, out,
	                       cap, &out_len);
	tap_ok(rc == MQS_ERR_INVAL && out_len == 0,
	       "seal with NULL plaintext of length 5 is MQS_ERR_INVAL");
	rc = mqs_envelope_seal(f.key, 1, 0, NULL, NULL, 0, topic_a, strlen(topic_a), NULL, 0, out,
	                       cap, &out_len);
	tap_ok(rc == MQS_OK && out_len == MQS_ENVELOPE_MIN_LEN,
	       "seal with NULL plaintext of length 0 is fine");
	{
		struct mqs_envelope_info info;
		tap_is_int(mqs_envelope_parse(NULL, 10, &info), MQS_ERR_INVAL,
		           "parse of NULL is MQS_ERR_INVAL");
		tap_is_int(mqs_envelope_parse(f.env, f.env_len, NULL), MQS_ERR_INVAL,
		           "parse with NULL info is MQS_ERR_INVAL");
	}
	rc = mqs_envelope_open(NULL, 17, f.env, f.env_len, topic_a, strlen(topic_a), out, cap,
	                       &out_len, NULL);
	tap_ok(rc == MQS_ERR_INVAL && out_len == 0, "open with a NULL key is MQS_ERR_INVAL");
	rc = mqs_envelope_open(f.key, 17, NULL, 50, topic_a, strlen(topic_a), out, cap, &out_len,
	                       NULL);
	tap_ok(rc == MQS_ERR_INVAL && out_len == 0, "open of NULL is MQS_ERR_INVAL");
	free(plain);
	free(out);
}

/* Deterministic re-seal nonce (QoS 2 retransmissions must re-seal to the
 * same bytes): fixed vector from Python's hmac, stability, sensitivity. */
static void test_reseal_nonce(void)
{
	static const uint8_t want_nonce[12] = {0xf0, 0x13, 0x37, 0x29, 0xc4, 0x16,
	                                       0x3d, 0xed, 0xe8, 0x1e, 0x21, 0xcd};
	static const uint8_t want_sub[4] = {0xc5, 0x20, 0xcf, 0xb9};
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
	uint8_t sub[MQS_MASTER_KEY_LEN];
	uint8_t n1[12], n2[12], n3[12];
	uint8_t in[64];
	uint8_t out1[128], out2[128];
	size_t len1 = 0, len2 = 0;
	int rc;

	vec_key(key);
	rc = mqs_envelope_derive_nonce(key, (const uint8_t *)"abc", 3, n1);
	tap_ok(rc == MQS_OK, "derive_nonce succeeds");
	tap_is_mem(n1, want_nonce, 12, "derive_nonce = HMAC-SHA256(key, in)[0..11] (vector)");
	rc = mqs_master_key_derive(key, "mqttsec-reseal-nonce", sub);
	tap_ok(rc == MQS_OK, "master_key_derive succeeds");
	tap_is_mem(sub, want_sub, 4, "master_key_derive = HMAC-SHA256(mk, label) (vector)");

	memset(in, 0x42, sizeof(in));
	mqs_envelope_derive_nonce(key, in, sizeof(in), n1);
	mqs_envelope_derive_nonce(key, in, sizeof(in), n2);
	tap_is_mem(n1, n2, 12, "same input envelope, same nonce");
	in[63] ^= 1;
	mqs_envelope_derive_nonce(key, in, sizeof(in), n3);
	tap_ok(memcmp(n1, n3, 12) != 0, "one flipped input bit gives another nonce");
	tap_is_int(mqs_envelope_derive_nonce(key, NULL, 0, n3), MQS_ERR_INVAL,
	           "NULL input refused");

	/* re-sealing a retransmission: same nonce and timestamp, same bytes */
	rc = mqs_envelope_seal(key, 9, 1700000000000ull, n1, "dev1", 4, topic_a, strlen(topic_a),
	                       (const uint8_t *)"payload", 7, out1, sizeof(out1), &len1);
	rc |= mqs_envelope_seal(key, 9, 1700000000000ull, n2, "dev1", 4, topic_a, strlen(topic_a),
	                        (const uint8_t *)"payload", 7, out2, sizeof(out2), &len2);
	tap_ok(rc == MQS_OK && len1 == len2 && memcmp(out1, out2, len1) == 0,
	       "re-seal with the derived nonce is byte-identical");
}

int main(void)
{
	test_vectors();
	test_round_trips();
	test_nonce_and_extremes();
	test_truncated();
	test_version_keyid_key_topic();
	test_bit_flips();
	test_topics();
	test_caps_and_buffers();
	test_reseal_nonce();
	tap_done();
	return tap_exit();
}
