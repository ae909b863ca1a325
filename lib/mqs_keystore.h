/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_keystore.h - 32-byte AES keys in the broker database, stored only
 * wrapped under the master key (AAD "mqttsec-key:<id>:<purpose>").
 *
 * Table keys(id, purpose, owner, state, created_at, retire_after, wrapped):
 * purpose is "device" (owner = device name) or "topic" (owner = topic
 * filter).  id is the envelope key id (1 .. 2^32-1).
 *
 * Ownership: struct mqs_key is caller-owned; mqs_key_release() wipes the key
 * and frees owner.  Functions that fill a struct mqs_key leave it released
 * on failure.
 */
#ifndef MQS_KEYSTORE_H
#define MQS_KEYSTORE_H

#include <stdint.h>
#include <sqlite3.h>

#include "mqs_envelope.h"
#include "mqs_master_key.h"
#include "mqs_error.h"

#define MQS_KEY_DEVICE "device"
#define MQS_KEY_TOPIC  "topic"

struct mqs_key {
	uint32_t id;
	char purpose[8];
	char *owner;          /* malloc'd */
	int active;           /* 1 = active, 0 = retired */
	int64_t created_at;   /* Unix seconds */
	int64_t retire_after; /* Unix seconds after which a retired key stops opening; 0 = none */
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
};

/* Zero a struct mqs_key before first use. */
void mqs_key_init(struct mqs_key *k);

/* Wipe key bytes and free owner.  NULL is fine. */
void mqs_key_release(struct mqs_key *k);

/* Generate a new random key for purpose/owner, store it wrapped and active,
 * and return it in *out (out may be NULL).  Does not open a transaction, so
 * callers can group it with other changes.  Returns MQS_OK, MQS_ERR_INVAL,
 * MQS_ERR_DB, MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_keystore_create(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN],
                                       const char *purpose, const char *owner, struct mqs_key *out);

/* Load and unwrap key id.  Returns MQS_OK, MQS_ERR_NOENT, MQS_ERR_UNWRAP
 * (wrong master key), MQS_ERR_DB. */
MQS_MUST_CHECK int mqs_keystore_get(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], uint32_t id,
                                    struct mqs_key *out);

/* Load the newest active key for purpose/owner.  Returns MQS_OK,
 * MQS_ERR_NOENT, MQS_ERR_UNWRAP, MQS_ERR_DB. */
MQS_MUST_CHECK int mqs_keystore_active(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN],
                                       const char *purpose, const char *owner, struct mqs_key *out);

/* Mark key id retired, usable to open until retire_after (Unix seconds).
 * Returns MQS_OK, MQS_ERR_NOENT, MQS_ERR_DB. */
MQS_MUST_CHECK int mqs_keystore_retire(sqlite3 *db, uint32_t id, int64_t retire_after);

/* Unwrap the wrapped column (wrapped_len bytes) of key row id with purpose
 * MQS_KEY_DEVICE or MQS_KEY_TOPIC into key, for readers that load many rows
 * with one query (the broker plugin's snapshot).  Returns MQS_OK,
 * MQS_ERR_INVAL (bad purpose or arguments) or MQS_ERR_UNWRAP (wrong master
 * key, moved or corrupted row, not a 32-byte key); key is wiped on failure. */
MQS_MUST_CHECK int mqs_keystore_unwrap(const uint8_t mk[MQS_MASTER_KEY_LEN], uint32_t id,
                                       const char *purpose, const uint8_t *wrapped,
                                       size_t wrapped_len, uint8_t key[MQS_ENVELOPE_KEY_LEN]);

/* Delete every key of purpose/owner.  Returns MQS_OK or MQS_ERR_DB. */
MQS_MUST_CHECK int mqs_keystore_delete_owner(sqlite3 *db, const char *purpose, const char *owner);

#endif
