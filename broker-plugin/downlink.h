/* SPDX-License-Identifier: BSD-3-Clause */
/* downlink.h - per-device downlink (docs/payload-encryption.md,
 * "Per-device downlink").
 *
 * A protected filter with a device level (`topic protect 'cmd/+/set'
 * --per-device 2`) has no shared topic key: a message on it is re-sealed
 * (reseal.h, step 5) with
 *
 *     HKDF-SHA256(device key, salt "", "mqttsec-downlink-v1" | topic)
 *
 * (mqs_kdf_downlink) of the device named by that level of the concrete
 * topic, key id = that device key's id, so only that device can open it.
 * The device key is the newest active key of the device (keys.h); a
 * topic whose level is missing or empty, or names no enabled device, is
 * dropped (reason "no-device").
 *
 * A derived key depends only on the device key and the topic, so a small
 * cache (direct-mapped, by key id and topic, topics up to
 * MQSP_DOWNLINK_TOPIC_MAX bytes) saves the HKDF for repeated messages to
 * the same topic.  An entry also keeps the device key it came from and is
 * used only while that is still the device's key (a key id can come back
 * for another key after a backup is restored); it needs no invalidation
 * when the snapshot changes, since the device lookup runs for every
 * message.
 *
 * Ownership: the caller owns the output key and wipes it after use
 * (OPENSSL_cleanse); on failure it is wiped here.  mqsp_downlink_new()
 * returns a cache freed (and wiped) by mqsp_downlink_free(); NULL is fine.
 * Broker thread only.
 */
#ifndef MQSP_DOWNLINK_H
#define MQSP_DOWNLINK_H

#include <stdint.h>

#include "keys.h"
#include "mqs_error.h"
#include "mqs_kdf.h"
#include "stats.h"

#define MQSP_DOWNLINK_CACHE     256 /* entries */
#define MQSP_DOWNLINK_TOPIC_MAX 160 /* longer topics are derived every time */

struct mqsp_downlink;

/* A new, empty cache of derived keys, or NULL (out of memory). */
struct mqsp_downlink *mqsp_downlink_new(void);

/* Wipe and free.  NULL is fine. */
void mqsp_downlink_free(struct mqsp_downlink *c);

/* The sealing key and key id of a message on topic, which pt (a filter
 * with pt->per_device > 0) matches; c (NULL: no cache) remembers it.
 * Returns MQSP_DROP__COUNT on success, MQSP_DROP_NO_DEVICE or
 * MQSP_DROP_ERROR (the derivation failed). */
MQS_MUST_CHECK enum mqsp_drop mqsp_downlink_key(struct mqsp_downlink *c, const struct mqsp_keys *k,
                                                const struct mqsp_protected *pt, const char *topic,
                                                uint8_t out[MQS_KDF_KEY_LEN], uint32_t *key_id);

#endif
