/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_escalation.h - critical alerts climb the escalation ladder
 * ([delivery] escalation = email, sms, phone) until acknowledged.
 *
 * When a critical alert is queued, an escalation row starts with a deadline
 * of now + ack_timeout.  An acknowledgement is an envelope on
 * <status_topic>/<id>/ack whose broker-stamped origin is a device allowed
 * to acknowledge the message (gw_ack.h); others are refused, logged and
 * counted.  If the deadline passes without one, the next
 * channel of the ladder that the message has not used yet is queued for
 * every member of the group, and the deadline moves on by ack_timeout.
 * Channels no member can be reached on are skipped.  When the ladder is
 * used up the escalation is "exhausted".  A sensor recovery "resolves" the
 * alert's escalation.  All of it lives in SQLite (table escalations), so a
 * restart continues where it stopped; deadlines missed while the gateway
 * was down fire at start.
 *
 * Every step is published as a status event (gw_status.h); a step is
 * committed through gw_submit() (durable now).  Functions log their
 * errors; return values are enum mqs_err codes.
 *
 * The rows themselves are gw_ladder.h (pure); this module is the
 * dispatcher-level part: the tick and the acknowledgements (struct
 * gw_gateway: store, status, engine, the refusal counter); the start-up
 * check takes only the configuration and the credentials.
 *
 * Ownership: nothing is kept between calls; every string is the caller's.
 */
#ifndef GW_ESCALATION_H
#define GW_ESCALATION_H

#include <stdint.h>

#include "mqs_error.h"

struct gw_config;
struct gw_gateway;
struct mqs_creds;

/* Escalate every message whose deadline passed.  Returns the next
 * deadline (Unix ms), or 0 when nothing is waiting. */
int64_t gw_escalation_tick(struct gw_gateway *gw, int64_t now_ms);

/* An acknowledgement for message id msg_id arrived, sealed with envelope
 * origin origin (NULL: unsealed, refused).  Every unacknowledged message
 * with that id (in any namespace) that origin may acknowledge is marked
 * acknowledged and its escalation stopped. */
void gw_escalation_ack(struct gw_gateway *gw, const char *msg_id, const char *origin,
                       int64_t now_ms);

/* The same, limited to the namespace the acknowledgement names: route and
 * publisher ("" = anonymous), each NULL when not named. */
void gw_escalation_ack_in(struct gw_gateway *gw, const char *msg_id, const char *origin,
                          const char *route, const char *publisher, int64_t now_ms);

/* Log a warning when escalation is on (c) but creds hold no topic key for
 * <status_topic>/+/ack: no acknowledgement could be accepted. */
void gw_escalation_check_acks(const struct gw_config *c, const struct mqs_creds *creds);

#endif
