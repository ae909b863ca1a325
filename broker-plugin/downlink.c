/* SPDX-License-Identifier: BSD-3-Clause */
/* downlink.c - per-device downlink keys (see downlink.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "downlink.h"
#include "mqs_alloc.h"
#include "mqs_util.h"

struct entry {
	uint32_t id; /* device key id; 0: empty */
	uint16_t topic_len;
	char topic[MQSP_DOWNLINK_TOPIC_MAX];
	uint8_t dkey[MQS_ENVELOPE_KEY_LEN]; /* the device key it was derived from */
	uint8_t key[MQS_KDF_KEY_LEN];
};

struct mqsp_downlink {
	struct entry e[MQSP_DOWNLINK_CACHE];
};

/* New cache. */
struct mqsp_downlink *mqsp_downlink_new(void)
{
	return mqs_calloc(1, sizeof(struct mqsp_downlink));
}

/* Wipe and free. */
void mqsp_downlink_free(struct mqsp_downlink *c)
{
	mqs_secret_free(c, sizeof(*c));
}

/* The slot of (id, topic): FNV-1a. */
static size_t slot(uint32_t id, const char *topic, size_t len)
{
	uint32_t h = 2166136261u ^ id;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)topic[i];
		h *= 16777619u;
	}
	return h % MQSP_DOWNLINK_CACHE;
}

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
enum mqsp_drop mqsp_downlink_key(struct mqsp_downlink *c, const struct mqsp_keys *k,
                                 const struct mqsp_protected *pt, const char *topic,
                                 uint8_t out[MQS_KDF_KEY_LEN], uint32_t *key_id)
{
	const struct mqsp_device_key *dk = NULL;
	struct entry *e = NULL;
	const char *name = NULL;
	size_t len = 0;
	size_t topic_len;
	enum mqsp_drop why = MQSP_DROP_NO_DEVICE;

	*key_id = 0;
	if (pt == NULL || pt->per_device == 0 || topic == NULL)
		goto out;
	topic_level(topic, pt->per_device, &name, &len);
	if (len > 0)
		dk = mqsp_keys_device_named(k, name, len);
	if (dk == NULL)
		goto out;
	topic_len = strlen(topic);
	if (c != NULL && topic_len <= MQSP_DOWNLINK_TOPIC_MAX) {
		e = &c->e[slot(dk->id, topic, topic_len)];
		/* the id alone is not enough: a restored backup hands an id
		 * out again, for another key */
		if (e->id == dk->id && e->topic_len == topic_len &&
		    memcmp(e->topic, topic, topic_len) == 0 &&
		    CRYPTO_memcmp(e->dkey, dk->key, sizeof(e->dkey)) == 0) {
			memcpy(out, e->key, MQS_KDF_KEY_LEN);
			*key_id = dk->id;
			why = MQSP_DROP__COUNT;
			goto out;
		}
	}
	why = MQSP_DROP_ERROR;
	if (mqs_kdf_downlink(dk->key, topic, topic_len, out) != MQS_OK)
		goto out;
	*key_id = dk->id;
	if (e != NULL) {
		e->id = dk->id;
		e->topic_len = (uint16_t)topic_len;
		memcpy(e->topic, topic, topic_len);
		memcpy(e->dkey, dk->key, sizeof(e->dkey));
		memcpy(e->key, out, MQS_KDF_KEY_LEN);
	}
	why = MQSP_DROP__COUNT;
out:
	if (why != MQSP_DROP__COUNT)
		OPENSSL_cleanse(out, MQS_KDF_KEY_LEN);
	return why;
}
