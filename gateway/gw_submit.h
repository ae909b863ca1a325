/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_submit.h - the one post-commit path of the gateway: every change that
 * queues deliveries (an alert from MQTT, a sensor excursion, an escalation
 * step) goes through gw_submit(): begin -> the caller's writes -> commit
 * -> the caller's post-commit step (log, events) -> wake the engine ->
 * publish the "queued" states.
 *
 * Durability is an explicit choice of the caller (docs/gateway.md,
 * delivery guarantees):
 *
 *   GW_DURABLE_BATCH  committed now, fsync'ed once for the whole batch of
 *                     MQTT messages of this read (gw_store_sync(), called by
 *                     the loop before it reads the socket again).  For
 *                     messages from the broker: the batch is acknowledged
 *                     together, one fsync per read instead of one per
 *                     message.
 *   GW_DURABLE_NOW    synchronous = full for this commit (with [store]
 *                     synchronous = full): for changes the gateway makes
 *                     itself (sensor excursions, escalation steps) that
 *                     nobody would send again.
 *
 * Dispatcher layer: takes struct gw_gateway (store, engine, status).
 *
 * Ownership: the job is the caller's (usually on its stack); gw_submit()
 * only calls back into it.  On any failure the transaction is rolled back
 * and nothing is announced.
 */
#ifndef GW_SUBMIT_H
#define GW_SUBMIT_H

#include <stdint.h>

#include "mqs_error.h"

struct gw_gateway;

enum gw_durability { GW_DURABLE_BATCH = 0, GW_DURABLE_NOW = 1 };

struct gw_submit_job {
	enum gw_durability durability;
	/* Inside the transaction: write, set rowid (the message whose fresh
	 * rows at escalation step step get a "queued" status; 0: none).
	 * Returns MQS_OK to commit, anything else to roll back. */
	int (*tx)(struct gw_gateway *gw, struct gw_submit_job *job);
	/* After the commit, before the engine and the statuses (may be NULL):
	 * logs and events that must precede the "queued" states. */
	void (*committed)(struct gw_gateway *gw, struct gw_submit_job *job);
	void *arg; /* the caller's */
	int64_t rowid;
	int step;
};

/* Run job: begin (with job->durability), job->tx, commit, job->committed,
 * gw_engine_kick, gw_status_queued(job->rowid, job->step).  Returns MQS_OK,
 * job->tx's error (rolled back), or MQS_ERR_DB when the transaction could
 * not begin or commit (nothing was stored). */
MQS_MUST_CHECK int gw_submit(struct gw_gateway *gw, struct gw_submit_job *job);

#endif
