/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_submit.c - commit, wake the engine, publish the "queued" states
 * (gw_submit.h). */
#include "config.h"

#include "gateway.h"
#include "gw_engine.h"
#include "gw_status.h"
#include "gw_submit.h"

/* The post-commit sequence, once. */
int gw_submit(struct gw_gateway *gw, struct gw_submit_job *job)
{
	int rc;

	job->rowid = 0;
	gw_store_durable(&gw->store, job->durability == GW_DURABLE_NOW);
	if (gw_store_begin(&gw->store) != 0)
		return MQS_ERR_DB;
	rc = job->tx(gw, job);
	if (rc != MQS_OK) {
		gw_store_rollback(&gw->store);
		return rc;
	}
	if (gw_store_commit(&gw->store) != 0)
		return MQS_ERR_DB;
	if (job->durability == GW_DURABLE_BATCH)
		gw_store_sync_later(&gw->store); /* one fsync per batch (gw_store_sync) */
	if (job->committed != NULL)
		job->committed(gw, job);
	if (job->rowid != 0) {
		gw_engine_kick(gw->engine);
		gw_status_queued(&gw->status, job->rowid, job->step);
	}
	return MQS_OK;
}
