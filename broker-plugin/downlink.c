/* SPDX-License-Identifier: BSD-3-Clause */
/* downlink.c - per-device downlink keys (see downlink.h). */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>

#include "downlink.h"

/* Level n (1-based) of topic: *name and *len (0 when topic has fewer
 * levels, or that level is empty). */
static void topic_level(const char *topic, unsigned n, const char **name, size_t *len)
{
	const char *s = topic;
	const char *slash;

	*name = NULL;
	*len = 0;
	for (unsigned i = 1; i < n; i++) {
		slash = strchr(s, '/');
		if (slash == NULL)
			return;
		s = slash + 1;
	}
	slash = strchr(s, '/');
	*name = s;
	*len = slash == NULL ? strlen(s) : (size_t)(slash - s);
}

/* The downlink key of the device that topic names. */
enum mqsp_drop mqsp_downlink_key(const struct mqsp_keys *k, const struct mqsp_protected *pt,
                                 const char *topic, uint8_t out[MQS_KDF_KEY_LEN], uint32_t *key_id)
{
	const struct mqsp_device_key *dk = NULL;
	const char *name = NULL;
	size_t len = 0;
	enum mqsp_drop why = MQSP_DROP_NO_DEVICE;

	*key_id = 0;
	if (pt == NULL || pt->per_device == 0 || topic == NULL)
		goto out;
	topic_level(topic, pt->per_device, &name, &len);
	if (len > 0)
		dk = mqsp_keys_device_named(k, name, len);
	if (dk == NULL)
		goto out;
	why = MQSP_DROP_ERROR;
	if (mqs_kdf_downlink(dk->key, topic, strlen(topic), out) != MQS_OK)
		goto out;
	*key_id = dk->id;
	why = MQSP_DROP__COUNT;
out:
	if (why != MQSP_DROP__COUNT)
		OPENSSL_cleanse(out, MQS_KDF_KEY_LEN);
	return why;
}
