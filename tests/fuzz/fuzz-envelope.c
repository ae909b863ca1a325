/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-envelope.c - libFuzzer target for envelope v1 (mqs_envelope.h).
 *
 * Input layout: byte 0 = topic length t (0..63), bytes 1..t = topic, the rest
 * = an envelope.  Two properties:
 *  1. parse/open never crash on any input; open fails whenever parse does;
 *     on every failure out_len is 0 and the output buffer is all zero; on
 *     success out_len equals the parsed ciphertext length.
 *  2. seal-then-open: the rest of the input, used as plaintext (with an
 *     origin of byte 1 % 32 bytes), seals for a fixed valid topic and opens
 *     back to the same bytes; one flipped bit makes open fail.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_envelope.h"
#include "mqs_error.h"

#define CAP (64 * 1024)

static uint8_t out[CAP];
static uint8_t env[CAP + 512];

static const uint8_t key[MQS_ENVELOPE_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != 0)
			return 0;
	}
	return 1;
}

/* Property 1: arbitrary bytes through parse and open. */
static void fuzz_open(const uint8_t *data, size_t size)
{
	struct mqs_envelope_info info, oinfo;
	size_t tlen, out_len = 99;
	const char *topic;
	int prc, orc;

	if (size < 1)
		return;
	tlen = data[0] % 64;
	if (tlen > size - 1)
		tlen = size - 1;
	topic = (const char *)data + 1;
	data += 1 + tlen;
	size -= 1 + tlen;

	prc = mqs_envelope_parse(data, size, &info);
	if (prc == MQS_OK &&
	    (info.version != 1 || info.origin_len + info.ciphertext_len + 42 != size ||
	     info.ciphertext != data + 26 + info.origin_len))
		abort();
	/* the plaintext is never longer than the envelope: wipe and check only that */
	memset(out, 0, size < sizeof(out) ? size : sizeof(out));
	/* the key id taken from the envelope, so open reaches the cipher */
	orc = mqs_envelope_open(key, prc == MQS_OK ? info.key_id : 1, data, size, topic, tlen, out,
	                        sizeof(out), &out_len, &oinfo);
	if (prc != MQS_OK && orc == MQS_OK)
		abort();
	if (orc != MQS_OK &&
	    (out_len != 0 || !all_zero(out, size < sizeof(out) ? size : sizeof(out))))
		abort();
	if (orc == MQS_OK && out_len != info.ciphertext_len)
		abort();
	/* and a mismatched key id is always refused */
	if (prc == MQS_OK) {
		orc = mqs_envelope_open(key, info.key_id ^ 1u, data, size, topic, tlen, out,
		                        sizeof(out), &out_len, NULL);
		if (orc == MQS_OK || out_len != 0)
			abort();
	}
}

/* Property 2: seal-then-open round trip. */
static void fuzz_round_trip(const uint8_t *data, size_t size)
{
	static const char topic[] = "fuzz/topic";
	struct mqs_envelope_info info;
	size_t olen, plen, env_len = 0, out_len = 0;
	const uint8_t *plain;
	const char *origin;
	int rc;

	if (size < 2)
		return;
	olen = data[1] % 32;
	if (olen > size - 2)
		olen = size - 2;
	origin = (const char *)data + 2;
	plain = data + 2 + olen;
	plen = size - 2 - olen;
	if (plen > CAP)
		plen = CAP;
	rc = mqs_envelope_seal(key, 0x01020304u, 0x1122334455667788ull, NULL, origin, olen, topic,
	                       sizeof(topic) - 1, plain, plen, env, sizeof(env), &env_len);
	if (rc != MQS_OK || env_len != mqs_envelope_sealed_len(olen, plen))
		abort();
	rc = mqs_envelope_open(key, 0x01020304u, env, env_len, topic, sizeof(topic) - 1, out,
	                       sizeof(out), &out_len, &info);
	if (rc != MQS_OK || out_len != plen || memcmp(out, plain, plen) != 0 ||
	    info.origin_len != olen || (olen > 0 && memcmp(info.origin, origin, olen) != 0) ||
	    info.timestamp_ms != 0x1122334455667788ull)
		abort();
	/* flip one bit chosen by the input: must be refused */
	{
		size_t pos = (size_t)data[0] * 131 % env_len;
		env[pos] ^= (uint8_t)(1u << (data[0] % 8));
		rc = mqs_envelope_open(key, 0x01020304u, env, env_len, topic, sizeof(topic) - 1,
		                       out, sizeof(out), &out_len, NULL);
		if (rc == MQS_OK || out_len != 0)
			abort();
	}
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_open(data, size);
	fuzz_round_trip(data, size);
	return 0;
}
