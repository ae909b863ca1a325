/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-share.c - libFuzzer target for medical shares (mqs_share.h).
 *
 * Input: byte 0 chooses what the rest is.
 *  - even: one share.  mqs_share_parse never crashes; when it accepts, the
 *    fields are in range and len == S + 44; the tag check (fixed tag key)
 *    never crashes.  The rest is also opened as a rebuilt secret
 *    (mqs_share_record_open, fixed record key and record id): on success the topic is a
 *    valid topic name and the lengths add up.
 *  - odd: byte 1 = k (2..8), the next k bytes = share numbers, the rest cut
 *    into k bodies: mqs_share_combine never crashes and accepts exactly when
 *    the numbers are distinct and non-zero.  Then the rest is split (n, k
 *    from byte 1) and a k-subset chosen by byte 2 rebuilds it; every share
 *    parses and its tag verifies; one flipped header bit fails the tag.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_share.h"
#include "mqs_util.h"

#define SECRET_CAP 4096

static const uint8_t rk[MQS_ENVELOPE_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

static const uint8_t record_id[MQS_SHARE_ID_LEN] = {0x42};
static uint8_t tag_key[32];
static int ready;
static uint8_t shares[MQS_SHARE_N_MAX * (SECRET_CAP + MQS_SHARE_OVERHEAD)];
static uint8_t rebuilt[SECRET_CAP];
static char topic[MQS_ENVELOPE_TOPIC_MAX + 1];

static void fuzz_parse(const uint8_t *p, size_t len)
{
	struct mqs_share_hdr h;
	char origin[MQS_ENVELOPE_ORIGIN_MAX + 1];
	uint8_t *plain = NULL;
	size_t plen = 0;
	uint64_t ts;
	int rc;

	rc = mqs_share_parse(p, len, &h);
	if (rc == MQS_OK) {
		if (h.n < 2 || h.n > 8 || h.k < 2 || h.k > h.n || h.x < 1 || h.x > h.n ||
		    h.secret_len == 0 || h.secret_len > MQS_SHARE_SECRET_MAX ||
		    len != mqs_share_len(h.secret_len))
			abort();
		(void)mqs_share_tag_ok(p, len, tag_key);
	}
	rc = mqs_share_record_open(rk, 7, record_id, p, len, topic, sizeof(topic), origin, &plain,
	                           &plen, &ts);
	if (rc == MQS_OK) {
		size_t tl = strlen(topic);

		if (tl == 0 || mqs_envelope_topic_check(topic, tl) != MQS_OK ||
		    2 + tl + mqs_envelope_sealed_len(strlen(origin), plen) != len)
			abort();
		mqs_secret_free(plain, plen);
	} else if (plain != NULL) {
		abort();
	}
}

static void fuzz_combine(const uint8_t *data, size_t size)
{
	const uint8_t *bodies[MQS_SHARE_N_MAX];
	uint8_t xs[MQS_SHARE_N_MAX];
	unsigned k, n, m = 0;
	size_t blen, slen, one;
	int rc, valid = 1;

	if (size < 3)
		return;
	k = 2 + data[0] % 7;
	if (size < 1 + k)
		return;
	for (unsigned i = 0; i < k; i++) {
		xs[i] = data[1 + i];
		if (xs[i] == 0)
			valid = 0;
		for (unsigned j = 0; j < i; j++) {
			if (xs[j] == xs[i])
				valid = 0;
		}
	}
	blen = (size - 1 - k) / k;
	if (blen > SECRET_CAP)
		blen = SECRET_CAP;
	for (unsigned i = 0; i < k; i++)
		bodies[i] = data + 1 + k + i * blen;
	if (blen > 0) {
		rc = mqs_share_combine(k, xs, bodies, blen, rebuilt);
		if ((rc == MQS_OK) != valid)
			abort();
	}
	/* split and rebuild the rest */
	n = k + data[1] % (MQS_SHARE_N_MAX - k + 1);
	slen = size - 2;
	if (slen > SECRET_CAP)
		slen = SECRET_CAP;
	if (slen == 0)
		return;
	one = mqs_share_len(slen);
	if (mqs_share_split(data + 2, slen, n, k, tag_key, NULL, NULL, shares, sizeof(shares)) !=
	    MQS_OK)
		abort();
	for (unsigned i = 0; i < n; i++) {
		struct mqs_share_hdr h;

		if (mqs_share_parse(shares + i * one, one, &h) != MQS_OK || h.x != i + 1 ||
		    !mqs_share_tag_ok(shares + i * one, one, tag_key))
			abort();
	}
	/* a k-subset: start at data[0] and take every share after it, cyclically */
	for (unsigned i = data[0] % n; m < k; i = (i + 1) % n) {
		xs[m] = (uint8_t)(i + 1);
		bodies[m] = shares + i * one + MQS_SHARE_HDR_LEN;
		m++;
	}
	if (mqs_share_combine(k, xs, bodies, slen, rebuilt) != MQS_OK ||
	    memcmp(rebuilt, data + 2, slen) != 0)
		abort();
	shares[data[1] % MQS_SHARE_HDR_LEN] ^= (uint8_t)(1u << (data[0] % 8));
	if (mqs_share_tag_ok(shares, one, tag_key))
		abort();
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready) {
		if (mqs_share_tag_key(rk, tag_key) != MQS_OK)
			abort();
		ready = 1;
	}
	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0)
		fuzz_parse(data + 1, size - 1);
	else
		fuzz_combine(data + 1, size - 1);
	return 0;
}
