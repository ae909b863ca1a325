/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_outq.h - the outgoing MQTT queue: messages the gateway wants to
 * publish (delivery states, escalation events; gw_status.h), in order,
 * until the loop (gw_run.c) hands them to the transport.
 *
 * Modules never publish on a connection themselves: they push here, and
 * the loop drains the queue after every phase of a turn (and between the
 * messages of a long MQTT burst), so no module calls the transport and the
 * transport calls no module.  The queue is capped (GW_OUTQ_MAX); a message
 * that does not fit is dropped and counted, like a status published while
 * the broker is away (status messages are best effort; the outbox is the
 * record).
 *
 * Pure module: no struct gw_gateway.
 *
 * Ownership: struct gw_outq is embedded by its owner (the loop), made
 * empty by gw_outq_init() and emptied by gw_outq_release().  Messages are
 * copies owned by the queue; gw_outq_head() lends the oldest until the next
 * gw_outq_pop().
 */
#ifndef GW_OUTQ_H
#define GW_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

#define GW_OUTQ_MAX 65536 /* messages waiting at most */

struct gw_outq_msg {
	char *topic;
	char *payload; /* NUL-terminated copy, len bytes before the NUL */
	size_t len;
};

struct gw_outq {
	struct gw_outq_msg *msgs; /* ring: n messages from head */
	size_t cap, head, n;
	unsigned long dropped; /* refused by gw_outq_push since init */
	uint64_t popped;       /* popped since init: the head's sequence number
	                        * (popped + n: the next message's) */
};

/* An empty queue. */
void gw_outq_init(struct gw_outq *q);

/* Free every message and the ring; q is empty again.  NULL is fine. */
void gw_outq_release(struct gw_outq *q);

/* Append a copy of (topic, payload of len bytes).  MQS_OK, MQS_ERR_TOOBIG
 * (GW_OUTQ_MAX waiting) or MQS_ERR_NOMEM; on failure nothing is kept and
 * the drop is counted. */
int gw_outq_push(struct gw_outq *q, const char *topic, const void *payload, size_t len);

/* The oldest message, or NULL when the queue is empty. */
const struct gw_outq_msg *gw_outq_head(const struct gw_outq *q);

/* Drop the oldest message (it was handed to the transport). */
void gw_outq_pop(struct gw_outq *q);

#endif
