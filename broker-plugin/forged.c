/* SPDX-License-Identifier: BSD-3-Clause */
/* forged.c - envelopes only the broker may seal (see forged.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "forged.h"
#include "keys.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_envelope.h"
#include "mqs_envelope_ctx.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define SCRATCH_MIN 4096

struct mqsp_forged {
	struct mqs_envelope_ctx *ec;
	uint8_t *buf; /* plaintext scratch, wiped after every check */
	size_t cap;
};

/* New state. */
struct mqsp_forged *mqsp_forged_new(void)
{
	struct mqsp_forged *f = mqs_calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	if (mqs_envelope_ctx_new(&f->ec) != MQS_OK) {
		mqs_free(f);
		return NULL;
	}
	return f;
}

/* Wipe and free. */
void mqsp_forged_free(struct mqsp_forged *f)
{
	if (f == NULL)
		return;
	mqs_secret_free(f->buf, f->cap);
	mqs_envelope_ctx_free(f->ec);
	mqs_free(f);
}

/* Make room for n bytes of plaintext (at least SCRATCH_MIN, so the
 * scratch exists even for an empty plaintext).  A secret array: growth
 * wipes the old block.  MQS_OK, MQS_ERR_TOOBIG or MQS_ERR_NOMEM. */
static int reserve(struct mqsp_forged *f, size_t n)
{
	void *b = f->buf;
	int rc;

	if (n <= f->cap && b != NULL)
		return MQS_OK; /* every check but the first few: no call */
	rc = mqs_array_reserve(&b, &f->cap, n < SCRATCH_MIN ? SCRATCH_MIN : n, 1,
	                       MQS_ENVELOPE_PLAIN_MAX, 1);
	f->buf = b;
	return rc;
}

/* Forged? */
enum mqsp_forged_verdict mqsp_forged_check(struct mqsp_forged *f, const struct mqsp_keys *k,
                                           const char *topic, const void *payload, uint32_t len,
                                           int64_t now_s)
{
	const uint8_t *b = payload;
	const struct mqsp_topic_key *tk;
	const struct mqsp_device_key *dk;
	const uint8_t *key = NULL;
	struct mqs_envelope_info info;
	enum mqsp_forged_verdict v = MQSP_FORGED_NO;
	size_t plain_len = 0;
	int rc;

	/* step 1, the cheap part first: most payloads stop at the first byte */
	if (f == NULL || k == NULL || topic == NULL || b == NULL || len < MQS_ENVELOPE_MIN_LEN ||
	    b[0] != MQS_ENVELOPE_VERSION)
		return MQSP_FORGED_NO;
	if (k->ntkeys == 0 && (b[1] == 0 || k->ndkeys == 0))
		return MQSP_FORGED_NO;
	if (mqs_envelope_parse(b, len, &info) != MQS_OK)
		return MQSP_FORGED_NO;
	/* step 2: a key the broker knows */
	tk = mqsp_keys_topic(k, info.key_id);
	if (tk != NULL) {
		key = tk->key;
		v = MQSP_FORGED_TOPIC_KEY;
	} else if (info.origin_len > 0) {
		dk = mqsp_keys_device(k, info.key_id, now_s);
		if (dk != NULL) {
			key = dk->key;
			v = MQSP_FORGED_ORIGIN;
		}
	}
	if (key == NULL)
		return MQSP_FORGED_NO;
	/* step 3: would a subscriber accept it on this topic? */
	if (reserve(f, info.ciphertext_len) != MQS_OK)
		return v; /* cannot tell: fail closed */
	rc = mqs_envelope_ctx_open(f->ec, key, info.key_id, b, len, topic, strlen(topic), f->buf,
	                           f->cap, &plain_len, NULL);
	if (plain_len > 0)
		OPENSSL_cleanse(f->buf, plain_len);
	return rc == MQS_OK ? v : MQSP_FORGED_NO;
}
