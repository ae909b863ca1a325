/* SPDX-License-Identifier: BSD-3-Clause */
/* session.c - connected clients: forget them on disconnect, disconnect
 * the ones a new state refuses (also when their device was removed, or
 * removed and added again: another generation), and keep the client id
 * bindings of connected clients alive.
 *
 * Kicks happen on the tick only, never inside an auth or ACL callback (a
 * kick from inside a callback can drop the packet being answered).
 */
#include "config.h"

#include <time.h>

#include "mqs_error.h"
#include "keysvc.h"
#include "plugin.h"
#include "reseal.h"

#define CLIENTIDS_SWEEP_MAX 60 /* seconds between sweeps of expired client ids */

struct kick_ctx {
	struct mqsp_plugin *p;
	int64_t now;
};

/* Select a client the current state refuses. */
static int refused(const struct mqsp_client *c, void *arg)
{
	struct kick_ctx *k = arg;
	const struct mqsp_device *d = mqsp_snapshot_device(k->p->snap, c->username);

	/* removed and added again, however fast: another identity */
	if (d != NULL && d->generation != c->generation)
		return 1;
	return mqsp_auth_refusal(k->p, c->clientid, c->username, c->have_addr ? c->addr : NULL,
	                         k->now) != NULL;
}

/* Disconnect every tracked client the current state refuses. */
void mqsp_session_kick_denied(struct mqsp_plugin *p, int64_t now)
{
	struct kick_ctx k = {p, now};
	char **ids = NULL;

	if (mqsp_clients_select(&p->clients, refused, &k, &ids) != MQS_OK) {
		/* out of memory: kick the ones selected, look again on the next tick */
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: out of memory selecting clients to disconnect");
		p->kick_pending = 1;
	}
	/* kicking runs the disconnect callback, which edits the table: the
	 * ids were copied first */
	for (size_t i = 0; ids != NULL && ids[i] != NULL; i++) {
		mqsp_log(MOSQ_LOG_NOTICE, "mqttsec: disconnecting client %s: no longer allowed",
		         ids[i]);
		mosquitto_kick_client_by_clientid(ids[i], false);
	}
	mqsp_clients_ids_free(ids);
}

/* A client id is in use while a client with it is connected. */
int mqsp_session_clientid_in_use(const char *cid, void *arg)
{
	struct mqsp_plugin *p = arg;

	return mqsp_clients_find(&p->clients, cid) != NULL;
}

/* mqsp_clients_select() callback that selects nothing: record a use of
 * each connected client's id. */
static int touch_connected(const struct mqsp_client *c, void *arg)
{
	struct kick_ctx *k = arg;

	mqsp_clientids_touch(k->p->cids, c->clientid, c->username, k->now);
	return 0;
}

/* Client id housekeeping on the tick. */
void mqsp_session_clientids_tick(struct mqsp_plugin *p, int64_t now)
{
	struct kick_ctx k = {p, now};
	char **none = NULL;
	size_t released = 0;
	int64_t every;

	if (p->cids == NULL)
		return;
	if (p->cids_merge) {
		if (mqsp_store_clientids_merge(p->store, p->cids, &released) == MQS_OK) {
			p->cids_merge = 0;
			if (released > 0)
				mqsp_log(MOSQ_LOG_NOTICE, "mqttsec: released %zu client ids",
				         released);
		}
	}
	if (now >= p->cids_next_sweep) {
		every = mqsp_clientids_touch_every(p->cids);
		p->cids_next_sweep =
		    now + (every < CLIENTIDS_SWEEP_MAX ? every : CLIENTIDS_SWEEP_MAX);
		mqsp_clientids_sweep(p->cids, now, mqsp_session_clientid_in_use, p);
		mqsp_clients_select(&p->clients, touch_connected, &k, &none);
		mqsp_clients_ids_free(none);
	}
	if (mqsp_clientids_pending(p->cids) &&
	    mqsp_store_clientids_flush(p->store, p->cids, 0) != MQS_OK &&
	    p->cids_flush_warned + CLIENTIDS_SWEEP_MAX <= now) {
		/* a lock held by mqttsec-acl: the bindings stay queued */
		p->cids_flush_warned = now;
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: cannot write client id bindings yet (will retry): %s",
		         mqsp_store_error(p->store));
	}
}

/* MOSQ_EVT_DISCONNECT: the id was used until now. */
int mqsp_disconnect_cb(int event, void *event_data, void *userdata)
{
	struct mqsp_plugin *p = userdata;
	struct mosquitto_evt_disconnect *ed = event_data;
	const char *cid = mosquitto_client_id(ed->client);
	const struct mqsp_client *c = mqsp_clients_find(&p->clients, cid);
	int64_t now;

	(void)event;
	if (p->cids != NULL && c != NULL && c->ctx == ed->client) {
		now = (int64_t)time(NULL);
		/* ended in the second it was accepted: the claim at its CONNECT
		 * recorded this very use already (touching is a no-op then) */
		if (now != c->since)
			mqsp_clientids_touch(p->cids, cid, c->username, now);
	}
	mqsp_clients_remove(&p->clients, ed->client, cid);
	mqsp_reseal_disconnected(p, ed->client); /* session epoch (epoch.h) */
	mqsp_keysvc_disconnected(p, ed->client); /* fetched keys (keysvc.h) */
	return MOSQ_ERR_SUCCESS;
}
