/* SPDX-License-Identifier: BSD-3-Clause */
/* forged.h - recognise envelopes that only the broker may seal, on any
 * topic (docs/payload-encryption.md, "Forged origins").
 *
 * Subscribers believe the origin of an envelope sealed with a topic key:
 * only the broker seals with topic keys and only the broker writes an
 * origin.  A client that holds a topic key (every subscriber of the
 * filter) could otherwise seal its own envelope with origin "bob" and
 * publish it on a topic the broker does not re-seal (one that was never
 * protected, or whose filter was unprotected), and subscribers would print
 * "bob".  So a client-published payload is forged when all three hold:
 *   1. its header parses as an envelope v1 (version byte, lengths);
 *   2. its key id is a topic key the database still holds (any state,
 *      keys.h), or it carries an origin and its key id is a key the broker
 *      knows (a topic key or a usable device key);
 *   3. its GCM tag verifies under that key for the topic it is published
 *      on (so a subscriber would accept it).
 * Ordinary payloads stop at step 1 (one byte compare) or step 2 (one hash
 * lookup): no cryptography unless the header parses and the key id is
 * known, so plain topics keep their speed, and a binary payload that merely
 * looks like a header is never dropped (its tag does not verify).
 *
 * Ownership: mqsp_forged_new() returns state freed by mqsp_forged_free()
 * (NULL is fine), which wipes its scratch buffer and key schedules.
 * Broker thread only.
 */
#ifndef MQSP_FORGED_H
#define MQSP_FORGED_H

#include <stdint.h>

#include "mqs_error.h"

struct mqsp_keys;
struct mqsp_forged;

enum mqsp_forged_verdict {
	MQSP_FORGED_NO = 0,    /* not an envelope only the broker may seal */
	MQSP_FORGED_TOPIC_KEY, /* sealed with a topic key (origin or not) */
	MQSP_FORGED_ORIGIN     /* carries an origin, sealed with a device key */
};

/* New state.  Returns NULL when out of memory or OpenSSL fails. */
struct mqsp_forged *mqsp_forged_new(void);

/* Wipe and free.  NULL is fine. */
void mqsp_forged_free(struct mqsp_forged *f);

/* Is payload (len bytes) published on topic a forged envelope under the
 * keys of k (see above)?  now_s decides which device keys are usable.
 * Out of memory counts as MQSP_FORGED_NO only when no key matched; with a
 * known key and no memory to verify, the payload is treated as forged
 * (fail closed).  NULL k, topic or payload: MQSP_FORGED_NO. */
MQS_MUST_CHECK enum mqsp_forged_verdict mqsp_forged_check(struct mqsp_forged *f,
                                                          const struct mqsp_keys *k,
                                                          const char *topic, const void *payload,
                                                          uint32_t len, int64_t now_s);

#endif
