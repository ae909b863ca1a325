/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_keyrotate.h - the one topic key rotation, shared by mqttsec-acl's
 * "key rotate" (admin/keys.c) and the broker plugin's automatic rotations
 * (docs/payload-encryption.md, "Keys that do not wear out"): every active
 * key of a filter is retired with a grace end, and a new active key is
 * created that seals from seal_after on (0: at once).
 *
 * It opens no transaction: the caller runs it inside its own, together
 * with its audit row.
 *
 * Ownership: the new key is returned in a caller-owned struct mqs_key
 * (mqs_key_release() wipes it; released on failure too).
 */
#ifndef MQS_KEYROTATE_H
#define MQS_KEYROTATE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_master_key.h"

/* Inside the caller's transaction: retire every active topic key of filter
 * (they open until retire_after, Unix seconds), create a new active topic
 * key for it that seals from seal_after (Unix seconds, 0: at once) into
 * *out, and list the retired ids ("3,4") in ids (cap bytes, may be
 * truncated) and their number in *nretired.  Returns MQS_OK, MQS_ERR_INVAL,
 * MQS_ERR_DB, MQS_ERR_CRYPTO or MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqs_keystore_rotate(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN],
                                       const char *filter, int64_t retire_after, int64_t seal_after,
                                       struct mqs_key *out, char *ids, size_t cap, int *nretired);

#endif
