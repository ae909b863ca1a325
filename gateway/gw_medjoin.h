/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_medjoin.h - kind = medical-join: rebuild records from their shares
 * (lib/mqs_join.h) and deliver each through the outbox to the route's
 * `deliver` channel, webhook or spool (docs/medical.md, "Receiving").
 *
 * One struct gw_medjoin per enabled medical-join route; the dispatcher
 * (gw_route.c) finds the route's instance and the channel index of the
 * share (which of the route's TOPIC@BROKER channels it came on) and calls
 * gw_medjoin_share(); the loop calls gw_medjoin_tick() when it asks.  A
 * completed record is stored in one gw_submit() transaction: a message row
 * (id = hex record id, namespace = route and sender) and one outbox row for
 * the deliver channel, the record bytes sealed under a store key (never
 * plaintext at rest).  Drop counters are kept per route and written to the
 * store (table medical_counters) at most once a second and at the stop,
 * so `mqttsec-gateway status` shows them; no record content is ever logged.
 * A record the store refuses is kept in memory (wiped when it goes) within
 * the route's max_pending_bytes and stored again from gw_medjoin_tick()
 * with backoff; beyond that budget it is lost, logged by id and counted
 * ("store-failed").
 *
 * Dispatcher layer: takes struct gw_gateway.
 *
 * Ownership: gw_medjoin_new() returns an instance freed by
 * gw_medjoin_free() (NULL ok), which wipes the keys, held shares and kept
 * records; the
 * route must outlive it.
 */
#ifndef GW_MEDJOIN_H
#define GW_MEDJOIN_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

struct gw_gateway;
struct gw_route;
struct gw_medjoin;

/* The receiver of route r (kind medical-join), with the record keys the
 * route accepts loaded from the store.  NULL with a reason in err (no such
 * record key, no record key at all, out of memory). */
struct gw_medjoin *gw_medjoin_new(struct gw_gateway *gw, const struct gw_route *r, char *err,
                                  size_t errlen);

/* Flush counters and free.  NULL is fine. */
void gw_medjoin_free(struct gw_gateway *gw, struct gw_medjoin *mj);

#define GW_MEDJOIN_SEALED   1u /* the share arrived as an envelope (has an origin) */
#define GW_MEDJOIN_RETAINED 2u /* the broker sent it as a retained message */

/* One share (the opened channel payload) that arrived on channel index ch
 * of the route, with flags GW_MEDJOIN_*.  A share that did not arrive
 * sealed by its broker is dropped ("unsealed"), and so is a retained one
 * ("retained": it would come again at every subscription).  Drops are
 * counted, never fatal. */
void gw_medjoin_share(struct gw_gateway *gw, struct gw_medjoin *mj, unsigned ch,
                      const uint8_t *payload, size_t len, unsigned flags);

/* Expire incomplete groups, flush counters when due.  Returns the next
 * wall-clock ms it wants to run (0: nothing pending). */
uint64_t gw_medjoin_tick(struct gw_gateway *gw, struct gw_medjoin *mj, uint64_t now_ms);

#endif
