/* session.c - connected clients: forget them on disconnect, and disconnect
 * the ones a new state refuses.
 *
 * Kicks happen on the tick only, never inside an auth or ACL callback (a
 * kick from inside a callback can drop the packet being answered).
 */
#include "config.h"

#include "mqs_error.h"
#include "plugin.h"
#include "reseal.h"

struct kick_ctx {
	struct mqsp_plugin *p;
	int64_t now;
};

/* Select a client the current state refuses. */
static int refused(const struct mqsp_client *c, void *arg)
{
	struct kick_ctx *k = arg;

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

/* MOSQ_EVT_DISCONNECT. */
int mqsp_disconnect_cb(int event, void *event_data, void *userdata)
{
	struct mqsp_plugin *p = userdata;
	struct mosquitto_evt_disconnect *ed = event_data;

	(void)event;
	mqsp_clients_remove(&p->clients, ed->client, mosquitto_client_id(ed->client));
	mqsp_reseal_disconnected(p, ed->client); /* session epoch (epoch.h) */
	return MOSQ_ERR_SUCCESS;
}
