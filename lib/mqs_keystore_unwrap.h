/* mqs_keystore_unwrap.h - unwrap a key read straight from a row of the keys
 * table (see mqs_keystore.h), for readers that load many keys with one
 * query (the broker plugin's snapshot) instead of one query per key.
 *
 * Ownership: callers own every buffer; key is wiped on failure.
 */
#ifndef MQS_KEYSTORE_UNWRAP_H
#define MQS_KEYSTORE_UNWRAP_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_envelope.h"
#include "mqs_master_key.h"

/* Unwrap the wrapped column (wrapped_len bytes) of key row id with purpose
 * MQS_KEY_DEVICE or MQS_KEY_TOPIC into key.  The AAD is the one
 * mqs_keystore_create() binds ("mqttsec-key:<id>:<purpose>").  Returns
 * MQS_OK, MQS_ERR_INVAL (bad purpose or arguments) or MQS_ERR_UNWRAP (wrong
 * master key, moved or corrupted row, not a 32-byte key). */
int mqs_keystore_unwrap(const uint8_t mk[MQS_MASTER_KEY_LEN], uint32_t id, const char *purpose,
                        const uint8_t *wrapped, size_t wrapped_len,
                        uint8_t key[MQS_ENVELOPE_KEY_LEN]);

#endif
