/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_hold.h - messages the gateway has acknowledged to the broker but could
 * not commit yet, because the database refused the write (a write lock held
 * by another process, a full disk): kept in memory in arrival order until a
 * retry commits them (docs/gateway.md, delivery guarantees).
 *
 * The queue is bounded by a count and a byte cap (GW_HOLD_MAX_MSGS,
 * GW_HOLD_MAX_BYTES; a message costs its topic, payload and origin plus a
 * small fixed overhead); a message that does not fit is refused and the
 * caller says loudly that it was dropped.  Retries are paced with an
 * exponential backoff from GW_HOLD_RETRY_MIN_MS to GW_HOLD_RETRY_MAX_MS,
 * back to the minimum as soon as a message commits.  Payloads are opened
 * plaintext: they are wiped when a message leaves the queue.
 *
 * Ownership: gw_hold_new() returns a queue freed by gw_hold_free() (NULL
 * ok), with every message still in it.  Messages are copies owned by the
 * queue; gw_hold_head() lends the oldest until the next gw_hold_pop().
 */
#ifndef GW_HOLD_H
#define GW_HOLD_H

#include <stddef.h>
#include <stdint.h>

#define GW_HOLD_MAX_MSGS     1000
#define GW_HOLD_MAX_BYTES    (8u * 1024u * 1024u)
#define GW_HOLD_RETRY_MIN_MS 10
#define GW_HOLD_RETRY_MAX_MS 1000

struct gw_hold_msg {
	char *topic;
	uint8_t *payload; /* NUL-terminated copy, len bytes before the NUL */
	size_t len;
	char *origin; /* NULL when the message had none */
	int qos;
	int retain;       /* the broker sent it as a retained message */
	uint64_t held_at; /* Unix ms */
	size_t cost;      /* bytes charged against the cap */
	struct gw_hold_msg *next;
};

struct gw_hold;

/* An empty queue holding at most max_msgs messages and max_bytes bytes.
 * NULL when out of memory. */
struct gw_hold *gw_hold_new(size_t max_msgs, size_t max_bytes);

/* Free the queue and every message in it (payloads wiped).  NULL is fine. */
void gw_hold_free(struct gw_hold *h);

/* Append a copy of a message received at now_ms; origin may be NULL.  The
 * first message of an empty queue is due for a retry GW_HOLD_RETRY_MIN_MS
 * later.  Returns MQS_OK, or MQS_ERR_TOOBIG when it does not fit (count,
 * bytes) or MQS_ERR_NOMEM: nothing was kept and gw_hold_dropped() counts
 * it. */
int gw_hold_push(struct gw_hold *h, const char *topic, const uint8_t *payload, size_t len,
                 const char *origin, int qos, int retain, uint64_t now_ms);

/* The oldest message, or NULL when the queue is empty. */
const struct gw_hold_msg *gw_hold_head(const struct gw_hold *h);

/* Drop the oldest message (it was committed); the backoff starts over. */
void gw_hold_pop(struct gw_hold *h);

/* Messages and bytes held; gw_hold_count() of NULL is 0 (a queue that
 * could not be created holds nothing). */
size_t gw_hold_count(const struct gw_hold *h);
size_t gw_hold_bytes(const struct gw_hold *h);

/* Messages refused by gw_hold_push() since the queue was created. */
unsigned long gw_hold_dropped(const struct gw_hold *h);

/* When the next retry is due (Unix ms); 0 when the queue is empty. */
uint64_t gw_hold_next_try(const struct gw_hold *h);

/* A retry at now_ms failed: the next one waits twice as long as the last
 * wait (at most GW_HOLD_RETRY_MAX_MS). */
void gw_hold_failed(struct gw_hold *h, uint64_t now_ms);

#endif
