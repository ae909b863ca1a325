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
 * Ownership: the caller owns the output key and wipes it after use
 * (OPENSSL_cleanse); on failure it is wiped here.  Nothing is allocated.
 */
#ifndef MQSP_DOWNLINK_H
#define MQSP_DOWNLINK_H

#include <stdint.h>

#include "keys.h"
#include "mqs_error.h"
#include "mqs_kdf.h"
#include "stats.h"

/* The sealing key and key id of a message on topic, which pt (a filter
 * with pt->per_device > 0) matches.  Returns MQSP_DROP__COUNT on success,
 * MQSP_DROP_NO_DEVICE or MQSP_DROP_ERROR (the derivation failed). */
MQS_MUST_CHECK enum mqsp_drop mqsp_downlink_key(const struct mqsp_keys *k,
                                                const struct mqsp_protected *pt, const char *topic,
                                                uint8_t out[MQS_KDF_KEY_LEN], uint32_t *key_id);

#endif
