/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_seen.h - the envelopes a subscriber has already accepted, to drop a
 * repeated (key id, nonce) (docs/payload-encryption.md, "Subscribers drop
 * repeats").
 *
 * The broker re-seals every message with a fresh nonce derived from its
 * input, so two deliveries with the same key id and nonce are the same
 * message twice: a QoS 1 duplicate, a retained copy after a reconnect, or a
 * replay of captured bytes.  No time window is enforced: retained messages
 * and persistent-session backlogs are legitimately old.
 *
 * Bounded: two generations of at most max/2 entries each; when the newer
 * one is full the older one is forgotten.  So the set remembers at least
 * the last max/2 envelopes and holds at most max (open addressing tables
 * at most half full: about 40 bytes per entry of max).  Record
 * an envelope only after it opened (authenticated), so nobody can fill the
 * set with envelopes that were never accepted.
 *
 * Ownership: mqs_seen_new() returns a set freed by mqs_seen_free() (NULL is
 * fine).  Not thread-safe.
 */
#ifndef MQS_SEEN_H
#define MQS_SEEN_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_envelope.h"
#include "mqs_error.h"

#define MQS_SEEN_DEFAULT_MAX 65536

struct mqs_seen;

/* New empty set for at most max (>= 2) envelopes.  NULL when out of memory
 * or without randomness. */
struct mqs_seen *mqs_seen_new(size_t max);

/* Free everything.  NULL is fine. */
void mqs_seen_free(struct mqs_seen *s);

/* Record (key_id, nonce).  Returns 1 when it was already in the set (a
 * repeat: drop the message), 0 when it is new (now recorded), 0 also when
 * s is NULL. */
MQS_MUST_CHECK int mqs_seen_check_add(struct mqs_seen *s, uint32_t key_id,
                                      const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN]);

/* Entries held. */
size_t mqs_seen_count(const struct mqs_seen *s);

#endif
