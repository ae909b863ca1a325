/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_ladder.h - escalation rows in the store (table escalations): the
 * pure, store-level part of the escalation ladder (gw_escalation.h is the
 * part that runs it: deadlines, acknowledgements, events).
 *
 * A critical alert starts a row "waiting" with a deadline of now +
 * [delivery] ack_timeout; each escalation step moves it on (gw_ladder_set_tx);
 * an acknowledgement ("acked") or a sensor recovery ("resolved") stops it
 * (docs/gateway.md, Escalation).
 *
 * Pure module: every function runs inside the caller's transaction on the
 * store it is given; no struct gw_gateway.
 *
 * Ownership: nothing is allocated; strings are the caller's.
 */
#ifndef GW_LADDER_H
#define GW_LADDER_H

#include <stdint.h>

#include "mqs_error.h"

struct gw_config;
struct gw_store;

/* Start escalating message msg_rowid, which was first queued on the
 * channels in used_mask.  No-op (MQS_OK) when c's ladder is empty or
 * ack_timeout is 0.  MQS_OK or MQS_ERR_DB (logged). */
MQS_MUST_CHECK int gw_ladder_start_tx(struct gw_store *s, const struct gw_config *c,
                                      int64_t msg_rowid, unsigned used_mask, int64_t now_ms);

/* Set message msg_rowid's escalation to state ("waiting", "exhausted") at
 * step, with the channels used so far and the next deadline (0: none).
 * MQS_OK or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_ladder_set_tx(struct gw_store *s, int64_t msg_rowid, const char *state,
                                    int step, unsigned used, int64_t deadline, int64_t now_ms);

/* End message msg_rowid's escalation with state ("acked", "resolved") if
 * it is waiting: *stopped is 1 when it was, else 0.  MQS_OK or
 * MQS_ERR_DB. */
MQS_MUST_CHECK int gw_ladder_stop_tx(struct gw_store *s, int64_t msg_rowid, const char *state,
                                     int64_t now_ms, int *stopped);

/* Stop escalating message msg_id of route and publisher (the condition is
 * over): *stopped is 1 when an escalation was stopped, 0 when none was
 * waiting.  MQS_OK or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_ladder_resolve_tx(struct gw_store *s, const char *route,
                                        const char *publisher, const char *msg_id, int64_t now_ms,
                                        int *stopped);

#endif
