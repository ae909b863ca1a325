/* SPDX-License-Identifier: BSD-3-Clause */
/* test-envelope-ctx.c - lib/mqs_envelope_ctx.c gives byte-identical
 * results to lib/mqs_envelope.c, and its reused contexts carry no state
 * from one call to the next (failures included). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "mqs_envelope.h"
#include "mqs_envelope_ctx.h"
#include "mqs_error.h"
#include "tap.h"

#define BIG 100000

static uint8_t key[32], key2[32], plain[BIG], got[BIG];
static uint8_t env1[BIG + 400], env2[BIG + 400];

static void test_seal_open(struct mqs_envelope_ctx *c)
{
	static const size_t sizes[] = {0, 1, 15, 16, 17, 256, 16384, BIG};
	const uint8_t nonce[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	int same = 1, opens = 1, cross = 1;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int o = 0; o < 2; o++) {
			const char *origin = o ? "sensor-7" : NULL;
			size_t olen = o ? 8 : 0, n1 = 0, n2 = 0, n = 0;

			mqs_envelope_seal(key, 42, 1700000000123ULL, nonce, origin, olen,
			                  "plant/7/temp", 12, plain, sizes[i], env1, sizeof(env1),
			                  &n1);
			mqs_envelope_ctx_seal(c, key, 42, 1700000000123ULL, nonce, origin, olen,
			                      "plant/7/temp", 12, plain, sizes[i], env2,
			                      sizeof(env2), &n2);
			same &= n1 == n2 && n1 > 0 && memcmp(env1, env2, n1) == 0;
			opens &= mqs_envelope_ctx_open(c, key, 42, env1, n1, "plant/7/temp", 12,
			                               got, sizeof(got), &n, NULL) == MQS_OK &&
			         n == sizes[i] && memcmp(got, plain, n) == 0;
			/* a context-sealed envelope with a random nonce opens with the lib */
			mqs_envelope_ctx_seal(c, key2, 7, 5, NULL, origin, olen, "a/b", 3, plain,
			                      sizes[i], env2, sizeof(env2), &n2);
			cross &= mqs_envelope_open(key2, 7, env2, n2, "a/b", 3, got, sizeof(got),
			                           &n, NULL) == MQS_OK &&
			         n == sizes[i] && memcmp(got, plain, n) == 0;
		}
	}
	tap_ok(same,
	       "seal: byte-identical to mqs_envelope_seal (8 sizes, with and without origin)");
	tap_ok(opens, "open: opens what mqs_envelope_seal sealed");
	tap_ok(cross, "mqs_envelope_open opens what the context sealed (random nonces)");
}

static void test_refusals(struct mqs_envelope_ctx *c)
{
	size_t n1 = 0, n = 0;
	struct mqs_envelope_info info;

	mqs_envelope_ctx_seal(c, key, 9, 1, NULL, NULL, 0, "t/x", 3, plain, 256, env1, sizeof(env1),
	                      &n1);
	env1[40] ^= 1;
	memset(got, 0x55, 256);
	tap_is_int(mqs_envelope_ctx_open(c, key, 9, env1, n1, "t/x", 3, got, sizeof(got), &n, NULL),
	           MQS_ERR_ENV_AUTH, "a flipped ciphertext bit: tag mismatch");
	tap_ok(n == 0 && got[0] == 0 && got[255] == 0, "... output wiped");
	env1[40] ^= 1;
	tap_is_int(
	    mqs_envelope_ctx_open(c, key, 9, env1, n1, "t/x", 3, got, sizeof(got), &n, &info),
	    MQS_OK, "the same envelope, repaired, opens right after a failure");
	tap_ok(info.key_id == 9 && n == 256 && memcmp(got, plain, 256) == 0,
	       "... to the plaintext");
	tap_is_int(mqs_envelope_ctx_open(c, key, 9, env1, n1, "t/y", 3, got, sizeof(got), &n, NULL),
	           MQS_ERR_ENV_AUTH, "another topic: tag mismatch");
	tap_is_int(
	    mqs_envelope_ctx_open(c, key2, 9, env1, n1, "t/x", 3, got, sizeof(got), &n, NULL),
	    MQS_ERR_ENV_AUTH, "other key bytes: tag mismatch");
	tap_is_int(mqs_envelope_ctx_open(c, key, 9, env1, n1, "t/x", 3, got, sizeof(got), &n, NULL),
	           MQS_OK, "the right key right after another one opens");
	tap_is_int(
	    mqs_envelope_ctx_open(c, key, 10, env1, n1, "t/x", 3, got, sizeof(got), &n, NULL),
	    MQS_ERR_ENV_KEYID, "another key id");
	tap_is_int(mqs_envelope_ctx_open(c, key, 9, env1, 20, "t/x", 3, got, sizeof(got), &n, NULL),
	           MQS_ERR_ENV_TRUNCATED, "truncated");
	tap_is_int(mqs_envelope_ctx_open(c, key, 9, env1, n1, "t/x", 3, got, 10, &n, NULL),
	           MQS_ERR_BUFSIZE, "output too small");
	tap_is_int(mqs_envelope_ctx_seal(c, key, 9, 1, NULL, NULL, 0, "t/+", 3, plain, 1, env1,
	                                 sizeof(env1), &n1),
	           MQS_ERR_ENV_TOPIC, "sealing for a wildcard topic refused");
	tap_is_int(mqs_envelope_ctx_seal(c, key, 9, 1, NULL, NULL, 0, "t/x", 3, plain, 256, env1,
	                                 100, &n1),
	           MQS_ERR_BUFSIZE, "sealing into a small buffer refused");
	tap_is_int(mqs_envelope_ctx_seal(c, key, 9, 1, NULL, NULL, 0, "t/x", 3, plain,
	                                 MQS_ENVELOPE_PLAIN_MAX + 1, env1, sizeof(env1), &n1),
	           MQS_ERR_TOOBIG, "plaintext over the cap refused");
}

/* Known answers computed with a second implementation (python3-cryptography):
 *   enc = struct.pack(">QBHB", ts, len(origin), len(topic), 12) + in_nonce
 *         + origin + topic + plain
 *   tag = AESGCM(hash_key).encrypt(bytes(12), b"", enc)
 *   nonce = AES-ECB(prp_key).encrypt(tag)[:12]
 * with hash_key = bytes(range(32)), prp_key = bytes(range(32, 64)),
 * in_nonce = bytes((nbase + k) & 0xff for k in range(12)). */
static void test_nonce_vectors(struct mqs_envelope_ctx *c)
{
	static const struct {
		uint64_t ts;
		size_t olen, tlen, plen;
		unsigned nbase;
		const char *hex;
	} v[] = {
	    {1700000000123ULL, 8, 12, 0, 64, "20986ae270b17339cc84ad52"},
	    {1700000000123ULL, 8, 12, 300, 0x80, "710a1ecb4d43c6b50e04afd8"},
	    {0, 0, 1, 1, 0, "c988084419a653527e66d531"},
	    {UINT64_MAX, 255, 200, 16384, 0xf4, "8d8268d446ad507b41ce3e44"},
	};
	static char origin[256], topic[256];
	static uint8_t pl[16384];
	uint8_t hk[32], pk[32], in[12] = {0}, n[12], want[12];
	int ok = 1;

	for (size_t i = 0; i < 32; i++) {
		hk[i] = (uint8_t)i;
		pk[i] = (uint8_t)(32 + i);
	}
	tap_is_int(mqs_envelope_ctx_reseal_nonce(c, 1, in, NULL, 0, "a", 1, NULL, 0, n),
	           MQS_ERR_INVAL, "re-seal nonce without keys refused");
	tap_is_int(mqs_envelope_ctx_set_nonce_keys(c, hk, pk), MQS_OK, "nonce keys set");
	tap_is_int(mqs_envelope_ctx_reseal_nonce(c, 1, NULL, NULL, 0, "a", 1, NULL, 0, n),
	           MQS_ERR_INVAL, "re-seal nonce without an input nonce refused");
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *o = v[i].olen == 8 ? "sensor-7" : origin;
		const char *t = v[i].tlen == 12 ? "plant/7/temp" : v[i].tlen == 1 ? "a" : topic;

		memset(origin, 'd', sizeof(origin));
		for (size_t k = 0; k < 200; k += 2)
			memcpy(topic + k, "t/", 2);
		for (size_t k = 0; k < sizeof(pl); k++)
			pl[k] = (uint8_t)(v[i].plen == 1 ? 'x' : v[i].plen == 300 ? k : k * 7);
		for (size_t k = 0; k < 12; k++) {
			unsigned b = 0;

			sscanf(v[i].hex + 2 * k, "%2x", &b);
			want[k] = (uint8_t)b;
			in[k] = (uint8_t)(v[i].nbase + k);
		}
		ok &= mqs_envelope_ctx_reseal_nonce(c, v[i].ts, in, o, v[i].olen, t, v[i].tlen, pl,
		                                    v[i].plen, n) == MQS_OK &&
		      memcmp(n, want, 12) == 0;
	}
	tap_ok(ok, "re-seal nonce: 4 known answers of a second implementation");
	tap_is_int(mqs_envelope_ctx_reseal_nonce(c, 1, in, origin, 256, "a", 1, NULL, 0, n),
	           MQS_ERR_INVAL, "origin over 255 bytes refused");
}

/* Every field changes the nonce; the same fields give the same nonce. */
static void test_nonce_fields(struct mqs_envelope_ctx *c)
{
	uint8_t hk[32], pk[32], in0[12], in1[12], n0[12], n1[12];
	int same = 1, differ = 1, burst = 1;

	RAND_bytes(hk, sizeof(hk));
	RAND_bytes(pk, sizeof(pk));
	RAND_bytes(in0, sizeof(in0));
	tap_is_int(mqs_envelope_ctx_set_nonce_keys(c, hk, pk), MQS_OK, "random nonce keys set");
	for (size_t len = 0; len < 2000; len += 37) {
		same &= mqs_envelope_ctx_reseal_nonce(c, 5, in0, "dev", 3, "a/b", 3, plain, len,
		                                      n0) == MQS_OK &&
		        mqs_envelope_ctx_reseal_nonce(c, 5, in0, "dev", 3, "a/b", 3, plain, len,
		                                      n1) == MQS_OK &&
		        memcmp(n0, n1, 12) == 0;
		/* timestamp, origin, topic, plaintext, and the field boundaries */
		differ &= mqs_envelope_ctx_reseal_nonce(c, 6, in0, "dev", 3, "a/b", 3, plain, len,
		                                        n1) == MQS_OK &&
		          memcmp(n0, n1, 12) != 0;
		differ &= mqs_envelope_ctx_reseal_nonce(c, 5, in0, "deV", 3, "a/b", 3, plain, len,
		                                        n1) == MQS_OK &&
		          memcmp(n0, n1, 12) != 0;
		differ &= mqs_envelope_ctx_reseal_nonce(c, 5, in0, "dev", 3, "a/c", 3, plain, len,
		                                        n1) == MQS_OK &&
		          memcmp(n0, n1, 12) != 0;
		differ &= mqs_envelope_ctx_reseal_nonce(c, 5, in0, "dev", 2, "va/b", 4, plain, len,
		                                        n1) == MQS_OK &&
		          memcmp(n0, n1, 12) != 0;
		if (len > 0) {
			plain[len - 1] ^= 1;
			differ &= mqs_envelope_ctx_reseal_nonce(c, 5, in0, "dev", 3, "a/b", 3,
			                                        plain, len, n1) == MQS_OK &&
			          memcmp(n0, n1, 12) != 0;
			plain[len - 1] ^= 1;
		}
		/* attack finding X3-2: two publications of one plaintext on one
		 * topic in one millisecond differ by their input nonce only */
		for (size_t k = 0; k < 12; k++) {
			memcpy(in1, in0, sizeof(in1));
			in1[k] ^= (uint8_t)(1u << (len % 8));
			burst &= mqs_envelope_ctx_reseal_nonce(c, 5, in1, "dev", 3, "a/b", 3, plain,
			                                       len, n1) == MQS_OK &&
			         memcmp(n0, n1, 12) != 0;
		}
	}
	tap_ok(same, "re-seal nonce: the same fields give the same nonce, call after call");
	tap_ok(differ, "re-seal nonce: timestamp, origin, topic, plaintext and their split count");
	tap_ok(burst, "re-seal nonce: same plaintext, topic, origin and timestamp but another "
	              "input nonce give another nonce (X3-2)");
}

/* The broker's in-place re-seal (broker-plugin/reseal.c): open into the
 * output buffer where the ciphertext goes, then seal that plaintext in
 * place; the output is byte-identical to sealing from a separate buffer. */
static void test_in_place(struct mqs_envelope_ctx *c)
{
	static const size_t sizes[] = {0, 1, 16, 17, 256, 16384, BIG};
	const uint8_t nonce[12] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};
	int same = 1, refused = 1;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n1 = 0, n2 = 0, n = 0, hdr = MQS_ENVELOPE_HDR_LEN + 4;

		mqs_envelope_seal(key, 42, 1, nonce, NULL, 0, "p/1", 3, plain, sizes[i], env1,
		                  sizeof(env1), &n1);
		same &= mqs_envelope_ctx_open(c, key, 42, env1, n1, "p/1", 3, env2 + hdr, sizes[i],
		                              &n, NULL) == MQS_OK &&
		        n == sizes[i];
		same &= mqs_envelope_ctx_seal(c, key2, 7, 2, nonce, "bpub", 4, "p/1", 3, env2 + hdr,
		                              n, env2, sizeof(env2), &n2) == MQS_OK;
		mqs_envelope_seal(key2, 7, 2, nonce, "bpub", 4, "p/1", 3, plain, sizes[i], env1,
		                  sizeof(env1), &n1);
		same &= n1 == n2 && memcmp(env1, env2, n1) == 0;
		/* a tampered input: refused */
		env1[n1 - 1] ^= 1;
		refused &= mqs_envelope_ctx_open(c, key2, 7, env1, n1, "p/1", 3, env2 + hdr,
		                                 sizes[i], &n, NULL) == MQS_ERR_ENV_AUTH;
	}
	tap_ok(same, "open into the output, seal in place: byte-identical (7 sizes)");
	tap_ok(refused, "a tampered input in place: refused");
}

int main(void)
{
	struct mqs_envelope_ctx *c = NULL;

	RAND_bytes(key, sizeof(key));
	RAND_bytes(key2, sizeof(key2));
	RAND_bytes(plain, sizeof(plain));
	tap_is_int(mqs_envelope_ctx_new(&c), MQS_OK, "new context");
	test_seal_open(c);
	test_refusals(c);
	test_nonce_vectors(c);
	test_nonce_fields(c);
	test_in_place(c);
	test_seal_open(c);
	mqs_envelope_ctx_free(c);
	mqs_envelope_ctx_free(NULL);
	tap_done();
	return tap_exit();
}
