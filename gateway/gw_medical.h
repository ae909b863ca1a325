/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_medical.h - kind = medical: the sending side of medical records
 * (docs/medical.md, "Sending").
 *
 * A record arrives sealed on the route's topic of [broker] (the broker
 * plugin re-sealed it: its origin is the publisher).  It is sealed end to
 * end with the route's record key for the record topic, with origin = the
 * publisher (mqs_share_record_seal), split into n shares with k = the
 * route's threshold (mqs_share_split), and the n shares are queued in ONE
 * gw_submit() transaction, one pubq row per channel (broker, channel topic,
 * share i): after the commit the loop publishes each broker's rows on its
 * own connection (gw_pubq.h), sealed per that broker's credentials.
 *
 * Dropped, logged without content and counted (table medical_counters,
 * reasons "unsealed" and "too-big"): a record that did not arrive sealed
 * with an origin, a record whose secret would exceed
 * MQS_SHARE_SECRET_SEND_MAX.  Record bytes never reach a log.
 *
 * Dispatcher layer: takes struct gw_gateway.
 *
 * Ownership: gw_medical_new() returns an object freed by gw_medical_free()
 * (NULL ok), which wipes the record keys it loaded; the configuration
 * must outlive it.
 */
#ifndef GW_MEDICAL_H
#define GW_MEDICAL_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

struct gw_gateway;
struct gw_route;
struct gw_medical;

/* The senders of every enabled kind = medical route, with their record
 * keys loaded from the store once.  NULL with a reason in err when a
 * route's record key is missing or cannot be read (the gateway refuses to
 * start), or out of memory. */
struct gw_medical *gw_medical_new(struct gw_gateway *gw, char *err, size_t errlen);

/* Flush the counters, wipe the keys, free.  NULL is fine. */
void gw_medical_free(struct gw_gateway *gw, struct gw_medical *md);

/* One record (the opened payload, len bytes) on topic for route r (kind =
 * medical), origin its envelope origin (NULL: it did not arrive sealed).
 * Queues its shares or drops it (counted); a write the store refused is
 * seen by the caller through gw_store_refusals. */
void gw_medical_record(struct gw_gateway *gw, struct gw_medical *md, const struct gw_route *r,
                       const char *topic, const uint8_t *payload, size_t len, const char *origin);

/* A retained message on topic for route r (kind = medical): a retained
 * record would come again at every (re)subscription and be split again
 * under a new id, so it is dropped, logged (route and topic only) and
 * counted ("retained"). */
void gw_medical_retained(struct gw_gateway *gw, struct gw_medical *md, const struct gw_route *r,
                         const char *topic);

#endif
