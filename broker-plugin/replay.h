/* SPDX-License-Identifier: BSD-3-Clause */
/* replay.h - the set of envelopes seen recently, to refuse replays.
 *
 * An entry is keyed by (key id, input nonce) and remembers a digest of the
 * message (the broker stores the nonce of its re-sealed output, a keyed PRF
 * of the output's timestamp, origin, topic and plaintext: equal digests
 * mean equal outputs, mqs_envelope_ctx.h), a hash of the publishing
 * client's id and the timestamp the broker put in its re-sealed output.
 * That lets the broker tell a QoS 1/2 retransmission (same message, same
 * client: re-seal to the same output again) from a replay (anything else
 * with a seen key id and nonce).
 *
 * Memory is bounded twice:
 *   - time: an envelope stamped ts can be accepted only while now is within
 *     window of ts, so its entry is needed until ts + window and no longer.
 *     Entries sit in time buckets by that expiry second; a ring of buckets
 *     covers 2 windows (timestamps may lie up to one window in the future),
 *     and a whole bucket is dropped at once when its last second has passed
 *     (after the clock stepped back, an entry whose bucket still holds a
 *     later epoch joins it: nothing held is dropped early);
 *   - count: at most max entries.  When the set is full new envelopes are
 *     refused (mqsp_replay_add() says so) rather than forgetting entries
 *     whose window is still open, which would let their replays through.
 *
 * Entries live in a pool of fixed-size records (56 bytes) grown in chunks
 * up to max, and are found through an open-addressing table of 8-byte
 * slots (linear probing, seeded hash) that hold a 20-bit tag of the key,
 * the record index and the generation of the record's bucket.  Dropping a
 * bucket is O(1): its generation moves on, which makes every slot and
 * record of it dead at once, and its records go back to the free list in
 * one splice; an add reuses the first dead slot on its probe path, and the
 * table is rebuilt (from a sequential pass over the pool) at 3 slots per
 * live entry when live and dead slots fill 5/8 of it.  A lookup of a new
 * envelope reads one slot cache line, and no entry.  The records stay at
 * their high-water mark (at most max); the slot table follows the live
 * count, 3 to 6 slots per live entry (twice that while it is rebuilt):
 * about 80 to 105 bytes per entry in all, through mqs_malloc, and a busy
 * broker does not call malloc per message.
 *
 * Ownership: mqsp_replay_new() returns a set freed by mqsp_replay_free()
 * (NULL is fine).  Not thread-safe: broker thread only.
 */
#ifndef MQSP_REPLAY_H
#define MQSP_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_envelope.h"
#include "mqs_error.h"

#define MQSP_REPLAY_DIGEST_LEN 12

enum mqsp_replay_verdict {
	MQSP_REPLAY_NEW = 0, /* (key id, nonce) not seen */
	MQSP_REPLAY_SAME,    /* seen with the same digest from the same client */
	MQSP_REPLAY_SEEN     /* seen otherwise: a replay */
};

struct mqsp_replay;

/* New empty set for window_s seconds (>= 1) and at most max entries (>= 1).
 * Returns NULL when out of memory. */
struct mqsp_replay *mqsp_replay_new(unsigned window_s, size_t max);

/* Free everything.  NULL is fine. */
void mqsp_replay_free(struct mqsp_replay *r);

/* Drop the entries whose window closed before now_s (Unix seconds).
 * Cheap when called again within the same second. */
void mqsp_replay_expire(struct mqsp_replay *r, int64_t now_s);

/* Look up (key_id, nonce).  For MQSP_REPLAY_SAME the stored output
 * timestamp is written to *out_ts_ms.  digest NULL: the digest is not
 * compared (MQSP_REPLAY_SAME means "same client, compare the digest once
 * it is known": the caller looks up again with it). */
MQS_MUST_CHECK enum mqsp_replay_verdict mqsp_replay_lookup(
    const struct mqsp_replay *r, uint32_t key_id, const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN],
    const uint8_t digest[MQSP_REPLAY_DIGEST_LEN], uint64_t client, uint64_t *out_ts_ms);

/* Start loading the memory mqsp_replay_lookup() will need for (key_id,
 * nonce), so that other work can hide the cache miss.  Optional. */
void mqsp_replay_prefetch(const struct mqsp_replay *r, uint32_t key_id,
                          const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN]);

/* Return 1 when the set holds max entries (an add would fail). */
int mqsp_replay_full(const struct mqsp_replay *r);

/* Record an envelope (after it was looked up as MQSP_REPLAY_NEW and opened)
 * stamped ts_ms, re-sealed with out_ts_ms, at now_s.  An envelope whose
 * window already closed is not stored (it would be refused anyway).
 * Returns MQS_OK, MQS_ERR_TOOBIG (full) or MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqsp_replay_add(struct mqsp_replay *r, uint32_t key_id,
                                   const uint8_t nonce[MQS_ENVELOPE_NONCE_LEN],
                                   const uint8_t digest[MQSP_REPLAY_DIGEST_LEN], uint64_t client,
                                   uint64_t ts_ms, uint64_t out_ts_ms, int64_t now_s);

/* Hash a client id for mqsp_replay_*() (seeded per set).  NULL is fine. */
uint64_t mqsp_replay_client(const struct mqsp_replay *r, const char *clientid);

/* Hash of the publishing session for mqsp_replay_*(): the client id, its
 * session epoch (epoch.h) and the QoS of the PUBLISH, so that a resend is
 * MQSP_REPLAY_SAME only from the same client id, in the same session, at
 * the same QoS (docs/payload-encryption.md, "Retransmissions"). */
uint64_t mqsp_replay_conn(const struct mqsp_replay *r, const char *clientid, uint64_t epoch,
                          int qos);

/* Number of entries held. */
size_t mqsp_replay_count(const struct mqsp_replay *r);

#endif
