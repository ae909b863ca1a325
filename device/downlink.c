/* SPDX-License-Identifier: BSD-3-Clause */
/* downlink.c - the key that opens a delivered envelope: a per-device
 * downlink is sealed by the broker (origin set) under the device's own key
 * id with HKDF(device key, "mqttsec-downlink-v1" | topic)
 * (docs/payload-encryption.md, "Per-device downlink"); anything else opens
 * under the key itself. */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>

#include "device.h"
#include "mqs_envelope.h"
#include "mqs_kdf.h"

/* The key that opens info's envelope on topic with k (see device.h). */
int dev_open_key(const struct mqs_creds_key *k, const struct mqs_envelope_info *info,
                 const char *topic, uint8_t *out)
{
	int rc = MQS_OK;

	if (k->use == MQS_CREDS_USE_DEVICE && info->origin_len > 0)
		rc = mqs_kdf_downlink(k->key, topic, strlen(topic), out);
	else
		memcpy(out, k->key, MQS_ENVELOPE_KEY_LEN);
	if (rc != MQS_OK)
		OPENSSL_cleanse(out, MQS_ENVELOPE_KEY_LEN);
	return rc;
}
