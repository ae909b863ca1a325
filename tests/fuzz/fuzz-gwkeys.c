/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-gwkeys.c - libFuzzer target for the gateway's key answers and
 * pushes (gw_keys_message; docs/payload-encryption.md, "Online keys").
 *
 * Input: byte 0 bit 0 set: the rest is the plaintext of an answer, sealed
 * by the harness under the answer key of the gateway's device key on its
 * answer topic (so the fuzzer reaches the JSON); clear: the rest is the raw
 * payload.  Bit 1 picks another mqttsec/keys/ topic instead.  Each input
 * starts from fresh state.  gw_keys_message() never crashes, consumes
 * exactly the messages under mqttsec/keys/, and what it keeps is topic keys
 * only, each with a filter. */
#include "config.h"

#include <mosquitto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_keys.h"
#include "gw_log.h"
#include "mqs_creds.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_kdf.h"

#define DEV_KEY_ID 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t dev_key[MQS_KDF_KEY_LEN] = {
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f};
static struct mqs_creds creds;
static int ready;

/* The gateway's credentials: device key 7, TOTP, one protected filter. */
static void setup(void)
{
	static const uint8_t tk[MQS_KDF_KEY_LEN] = {2};

	gw_log_set_level(GW_LOG_ERR);
	mqs_creds_init(&creds);
	if (mqs_creds_set_username(&creds, "gateway") != MQS_OK ||
	    mqs_creds_add_key(&creds, DEV_KEY_ID, MQS_CREDS_USE_DEVICE, NULL, dev_key) != MQS_OK ||
	    mqs_creds_add_key(&creds, 50, MQS_CREDS_USE_TOPIC, "alerts/#", tk) != MQS_OK ||
	    mqs_creds_add_protected(&creds, "alerts/#") != MQS_OK)
		abort();
	creds.has_totp = 1;
	ready = 1;
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mosquitto_message m;
	struct gw_keys *k = NULL;
	const struct mqs_creds *got;
	char topic[] = "mqttsec/keys/gateway", other[] = "mqttsec/keys/someone";
	uint8_t ak[MQS_KDF_KEY_LEN];
	uint8_t *env = NULL;
	size_t env_len = 0;

	if (size < 1 || size > 65536)
		return 0;
	if (!ready)
		setup();
	memset(&m, 0, sizeof(m));
	m.topic = data[0] & 2 ? other : topic;
	if (data[0] & 1) {
		env_len = mqs_envelope_sealed_len(0, size - 1);
		env = malloc(env_len);
		if (env == NULL || mqs_kdf_keys_answer(dev_key, ak) != MQS_OK ||
		    mqs_envelope_seal(ak, DEV_KEY_ID, 1800000000000ull, NULL, "", 0, m.topic,
		                      strlen(m.topic), data + 1, size - 1, env, env_len,
		                      &env_len) != MQS_OK)
			goto out;
		m.payload = env;
	} else {
		m.payload = (void *)(uintptr_t)(data + 1);
		env_len = size - 1;
	}
	m.payloadlen = (int)env_len;
	k = gw_keys_new(&creds);
	if (k == NULL)
		goto out;
	if (gw_keys_message(k, &m) != 1)
		abort();
	got = gw_keys_creds(k);
	for (size_t i = 0; i < got->nkeys; i++) {
		/* like a credentials file, an answer may name any filter (the
		 * broker, holding the device key, is the only sender): a key on
		 * a filter that is not valid never matches a topic */
		if (got->keys[i].use != MQS_CREDS_USE_TOPIC || got->keys[i].topic == NULL ||
		    got->keys[i].topic[0] == '\0')
			abort();
	}
	m.topic = "alerts/x";
	if (gw_keys_message(k, &m) != 0)
		abort();
out:
	gw_keys_free(k);
	free(env);
	return 0;
}
