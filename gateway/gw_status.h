/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_status.h - delivery state changes published to
 * <status_topic>/<message id> as JSON (QoS 1, not retained):
 *
 *   {"id":"a-1001","route":"alerts","publisher":"sensor1",
 *    "recipient":"alice","channel":"email","state":"sent",
 *    "attempts":1,"provider_ref":"...","error":null,"next_attempt_at":0,
 *    "ts":1700000000000}
 *
 * and escalation events:
 *
 *   {"id":"a-1001","route":"alerts","publisher":"sensor1","event":"escalated",
 *    "channel":"sms","step":1,"ts":...}
 *   (events: escalated, acked (with "by": the device), exhausted)
 *
 * route and publisher name the id's namespace (docs/gateway.md, "Message
 * ids"): the same id from two publishers shares the topic.
 *
 * Best effort: while the broker is unreachable status messages are dropped
 * (the outbox stays the record; see `mqttsec-gateway outbox`).
 *
 * Nothing here publishes: messages go to the outgoing queue (gw_outq.h)
 * that the loop drains into the transport.  No struct gw_gateway: a
 * struct gw_status names the store (for the message rows), the status topic
 * and the queue.
 *
 * Ownership: struct gw_status borrows store, topic and queue from its
 * owner (the loop), who keeps them alive; with out == NULL (a store opened
 * by a command or a test) every function does nothing.
 */
#ifndef GW_STATUS_H
#define GW_STATUS_H

#include <stdint.h>

struct gw_outq;
struct gw_store;

struct gw_status {
	struct gw_store *store;   /* message rows (namespace, fresh deliveries) */
	const char *status_topic; /* [broker] status_topic */
	struct gw_outq *out;      /* where the messages go; NULL: nowhere */
};

/* Point st at store, status topic topic and queue out (NULL: publish
 * nothing). */
void gw_status_init(struct gw_status *st, struct gw_store *store, const char *topic,
                    struct gw_outq *out);

/* One delivery changed state.  error and provider_ref may be NULL. */
void gw_status_delivery(struct gw_status *st, const char *msg_id, const char *route,
                        const char *publisher, const char *recipient, const char *channel,
                        const char *state, int attempts, const char *error,
                        const char *provider_ref, int64_t next_attempt_at);

/* Publish a "queued" status for every queued row of message row msg_rowid
 * at escalation step step. */
void gw_status_queued(struct gw_status *st, int64_t msg_rowid, int step);

/* An escalation event of message row msg_rowid; channel and by (the
 * acknowledging device) may be NULL, step < 0 leaves it out. */
void gw_status_event(struct gw_status *st, int64_t msg_rowid, const char *event,
                     const char *channel, int step, const char *by);

#endif
