/* gw_replay.h - envelopes the gateway has already opened: a repeated (key
 * id, nonce) is a replay and is dropped (docs/gateway.md, "Sealed
 * payloads").
 *
 * A bounded in-memory set: the oldest entry makes room for a new one once
 * GW_REPLAY_MAX are held.  There is no freshness window - retained
 * messages and persistent-session backlogs are legitimately old - so a
 * copy replayed after its entry was evicted, or after a restart, is not
 * recognised here; the message id namespace (gw_outbox.h) still refuses
 * an alert seen before.
 *
 * Ownership: gw_replay_new() allocates, gw_replay_free() releases
 * (NULL-safe).
 */
#ifndef GW_REPLAY_H
#define GW_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_envelope.h"

/* Entries held: about 40 bytes each. */
#define GW_REPLAY_MAX 65536

struct gw_replay;

/* A new, empty set holding at most max entries (max >= 1), or NULL. */
struct gw_replay *gw_replay_new(size_t max);

/* Free the set. */
void gw_replay_free(struct gw_replay *r);

/* Record (key_id, nonce).  Returns 1 when it was already in the set (a
 * replay: drop the message), 0 when it is new (now recorded). */
int gw_replay_seen(struct gw_replay *r, uint32_t key_id,
                   const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN]);

#endif
