/* SPDX-License-Identifier: BSD-3-Clause */
/* seals.h - durable counting of the messages each topic key sealed
 * (docs/payload-encryption.md, "Keys that do not wear out").
 *
 * AES-GCM with random-looking nonces must not seal more than about 2^32
 * messages under one key; the broker rotates a topic key long before: at
 * rotate_at seals (3/4 of the hard bound) it asks for a rotation, and it
 * refuses to seal beyond max (the hard bound, below 2^28).
 *
 * The count is kept in keys.sealed.  Counts are reserved in blocks: before
 * the first message of a block is sealed, "sealed = sealed + block" is
 * committed on the writer connection (one autocommit statement, in the WAL
 * before it returns), so keys.sealed is never below the number of messages
 * really sealed, also after a crash or SIGKILL; a restart starts counting
 * from the stored value (the unused rest of the last block is skipped, never
 * reused).  At most one write per block: one per 4,096 messages by default.
 *
 * Used from the broker thread only.
 *
 * Ownership: mqsp_seals_new() returns a table freed with mqsp_seals_free()
 * (NULL is fine).  The sqlite3 handle passed to mqsp_seals_take() is
 * borrowed for the call.
 */
#ifndef MQSP_SEALS_H
#define MQSP_SEALS_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mqs_error.h"

/* default hard bound: 2^28 minus a margin for reserved, unused blocks */
#define MQSP_SEALS_MAX_DEFAULT ((1ull << 28) - (1ull << 20))
#define MQSP_SEALS_BLOCK_MAX   4096
/* how long a reservation may wait for mqttsec-acl's write lock */
#define MQSP_SEALS_BUSY_MS 50

struct mqsp_seals;

enum mqsp_seal_verdict {
	MQSP_SEAL_OK = 0, /* seal: one count is used up */
	MQSP_SEAL_ROTATE, /* seal, and rotate this key now (rotate_at reached) */
	MQSP_SEAL_WORN,   /* do not seal: the key reached its hard bound */
	MQSP_SEAL_DB,     /* do not seal: the reservation could not be written */
	MQSP_SEAL_NOMEM   /* do not seal: out of memory */
};

/* A table for keys that may seal max messages each (4 ..), asking for a
 * rotation from 3/4 of max on.  NULL when out of memory. */
struct mqsp_seals *mqsp_seals_new(uint64_t max);

/* Free.  NULL is fine. */
void mqsp_seals_free(struct mqsp_seals *s);

/* Use one count of topic key id before sealing with it; db is the writer
 * connection that reservations are committed on. */
MQS_MUST_CHECK enum mqsp_seal_verdict mqsp_seals_take(struct mqsp_seals *s, sqlite3 *db,
                                                      uint32_t id);

/* Counts of key id used so far (by this run, from the stored value on). */
uint64_t mqsp_seals_used(const struct mqsp_seals *s, uint32_t id);

/* Up to cap key ids that reached rotate_at and are not rotated yet. */
size_t mqsp_seals_due(const struct mqsp_seals *s, uint32_t *ids, size_t cap);

/* Key id was rotated (or is no longer in use): stop asking. */
void mqsp_seals_done(struct mqsp_seals *s, uint32_t id);

#endif
