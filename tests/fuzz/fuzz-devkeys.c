/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-devkeys.c - libFuzzer target for the device's key answers
 * (dev_keys_answer_open, dev_keys_merge; docs/payload-encryption.md,
 * "Online keys").
 *
 * Input: byte 0 bit 0 set: the rest is the plaintext of an answer, sealed
 * by the harness under the answer key of the device key on the answer
 * topic (so the fuzzer reaches the JSON); clear: the rest is the raw
 * payload.  dev_keys_answer_open() never crashes; on failure the answer is
 * empty; what opens holds topic keys only and at most 64 refused filters,
 * and merges into a copy of the credentials, which then hold every key of
 * the answer (or a key of the same id they held already). */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "keyfetch.h"
#include "mqs_creds.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_kdf.h"

#define DEV_KEY_ID 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stand-in for the device CLI's message printer (main.c). */
void dev_err(const char *fmt, ...)
{
	(void)fmt;
}

/* Stand-in for the device CLI's sealing (cmd_pubsub.c): never called by
 * the functions fuzzed here. */
int dev_pub_seal(const struct dev_ctx *ctx, const char *topic, const uint8_t *data, size_t len,
                 uint8_t **env, size_t *env_len)
{
	(void)ctx;
	(void)topic;
	(void)data;
	(void)len;
	(void)env;
	(void)env_len;
	abort();
}

static const uint8_t dev_key[MQS_KDF_KEY_LEN] = {
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f};

/* The device's credentials: device key 7, one topic key. */
static void creds_make(struct mqs_creds *c)
{
	static const uint8_t tk[MQS_KDF_KEY_LEN] = {2};

	mqs_creds_init(c);
	if (mqs_creds_set_username(c, "sensor-1") != MQS_OK ||
	    mqs_creds_add_key(c, DEV_KEY_ID, MQS_CREDS_USE_DEVICE, NULL, dev_key) != MQS_OK ||
	    mqs_creds_add_key(c, 50, MQS_CREDS_USE_TOPIC, "alerts/#", tk) != MQS_OK)
		abort();
}

/* 1 when c holds key k (same id, filter and bytes). */
static int creds_hold(const struct mqs_creds *c, const struct mqs_creds_key *k)
{
	for (size_t i = 0; i < c->nkeys; i++) {
		const struct mqs_creds_key *x = &c->keys[i];

		if (x->id == k->id && x->topic != NULL && k->topic != NULL &&
		    strcmp(x->topic, k->topic) == 0 && memcmp(x->key, k->key, 32) == 0)
			return 1;
	}
	return 0;
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dev_keys_answer a;
	struct mqs_creds cr;
	char tbuf[128];
	const char *topic;
	uint8_t ak[MQS_KDF_KEY_LEN];
	uint8_t *env = NULL;
	const uint8_t *payload;
	size_t len;

	if (size < 1 || size > 65536)
		return 0;
	creds_make(&cr);
	topic = dev_keys_topic(&cr, tbuf, sizeof(tbuf));
	if (topic == NULL)
		abort();
	if (data[0] & 1) {
		len = mqs_envelope_sealed_len(0, size - 1);
		env = malloc(len);
		if (env == NULL || mqs_kdf_keys_answer(dev_key, ak) != MQS_OK ||
		    mqs_envelope_seal(ak, DEV_KEY_ID, 1800000000000ull, NULL, "", 0, topic,
		                      strlen(topic), data + 1, size - 1, env, len, &len) != MQS_OK)
			goto out;
		payload = env;
	} else {
		payload = data + 1;
		len = size - 1;
	}
	if (dev_keys_answer_open(&cr, topic, payload, len, &a) != MQS_OK) {
		if (a.keys.nkeys != 0 || a.nrefused != 0)
			abort();
		goto out;
	}
	if (a.nrefused > DEV_KEYS_MAX)
		abort();
	for (size_t i = 0; i < a.keys.nkeys; i++) {
		if (a.keys.keys[i].use != MQS_CREDS_USE_TOPIC)
			abort();
	}
	if (dev_keys_merge(&cr, &a) == MQS_OK) {
		/* a key id the credentials hold already is kept as it is (key
		 * ids are the broker's, one space for every key) */
		for (size_t i = 0; i < a.keys.nkeys; i++) {
			if (!creds_hold(&cr, &a.keys.keys[i]) &&
			    mqs_creds_find_key(&cr, a.keys.keys[i].id) == NULL)
				abort();
		}
	}
	dev_keys_answer_release(&a);
out:
	mqs_creds_release(&cr);
	free(env);
	return 0;
}
