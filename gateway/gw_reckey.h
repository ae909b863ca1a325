/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_reckey.h - record keys of medical senders in the gateway store
 * (docs/medical.md, "Record keys"): table record_keys (name, key id, the
 * 32-byte key wrapped under the gateway master key, created_at).
 *
 * A record key's name is the record's authenticated sender; its id is the
 * key id of the record envelopes it seals (random, 1..2^31-1, unique in the
 * store).  `key add` makes one, `key export` writes it as a key file
 * ({"keys":[{"id":N,"key":"…","use":"record","name":NAME}]}, 0600) for the
 * receiving side, `key import` takes such a file.
 *
 * Pure store module: no struct gw_gateway.  Names are 1..64 bytes of
 * [A-Za-z0-9._-].  Key bytes never reach a log.
 *
 * Ownership: keys are written into caller structs (struct mqs_join_key);
 * the caller wipes them (mqs_wipe) when done.  Return values are enum
 * mqs_err codes with a lowercase reason in err where one is taken.
 */
#ifndef GW_RECKEY_H
#define GW_RECKEY_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"
#include "mqs_error.h"
#include "mqs_join.h"

/* 1 when name is a usable record key name, else 0. */
int gw_reckey_name_ok(const char *name);

/* Create a new random key for sender name.  Returns MQS_OK, MQS_ERR_INVAL
 * (bad name), MQS_ERR_EXISTS, MQS_ERR_DB or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int gw_reckey_add(struct gw_store *s, const char *name, char *err, size_t errlen);

/* Store a key given in full (import): in a transaction of its own, or in
 * the caller's when one is open (several keys all or nothing; on failure
 * the caller rolls back).  Returns MQS_OK, MQS_ERR_INVAL, MQS_ERR_EXISTS
 * (the name or the id is taken), MQS_ERR_DB. */
MQS_MUST_CHECK int gw_reckey_put(struct gw_store *s, const char *name, uint32_t id,
                                 const uint8_t key[32], char *err, size_t errlen);

/* The key of sender name into *out (name, id, key).  Returns MQS_OK,
 * MQS_ERR_NOENT, MQS_ERR_UNWRAP (wrong master key) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_reckey_get(struct gw_store *s, const char *name, struct mqs_join_key *out);

/* Every key, up to max, into out[]; *n their count.  Returns MQS_OK,
 * MQS_ERR_TOOBIG (more than max), MQS_ERR_UNWRAP or MQS_ERR_DB; on failure
 * out[] is wiped. */
MQS_MUST_CHECK int gw_reckey_all(struct gw_store *s, struct mqs_join_key *out, size_t max,
                                 size_t *n);

/* Remove sender name's key.  MQS_OK, MQS_ERR_NOENT, MQS_ERR_DB. */
MQS_MUST_CHECK int gw_reckey_rm(struct gw_store *s, const char *name, char *err, size_t errlen);

/* Listing without key bytes: fn(name, id, created_at_ms, arg) per key in
 * name order; a non-MQS_OK return stops the walk and is returned. */
int gw_reckey_each(struct gw_store *s,
                   int (*fn)(const char *name, uint32_t id, int64_t created_ms, void *arg),
                   void *arg);

#endif
