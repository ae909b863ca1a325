/* SPDX-License-Identifier: BSD-3-Clause */
/* clients.h - the clients this plugin let in and that are still connected,
 * so that a reload can find the ones the new rules deny.
 *
 * A client is added when its CONNECT is accepted and removed on
 * MOSQ_EVT_DISCONNECT.  Entries are keyed by client id; a takeover by a
 * new connection with the same id replaces the entry, and the old
 * connection's disconnect (matched by its context pointer) leaves the new
 * entry alone.
 *
 * Ownership: the table owns its entries; mqsp_clients_release() frees
 * them.  Broker thread only.
 */
#ifndef MQSP_CLIENTS_H
#define MQSP_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

struct mqsp_client {
	const void *ctx; /* the broker's struct mosquitto, compared only */
	char *clientid;
	char *username;
	uint8_t addr[16];
	int have_addr;
	/* the device's generation when it connected: a device removed and
	 * added again has another one (docs/broker-plugin.md, "Identity") */
	int64_t generation;
	int64_t since; /* when its CONNECT was accepted (Unix seconds) */
};

struct mqsp_client_entry;

struct mqsp_clients {
	struct mqsp_client_entry *by_id; /* uthash */
	size_t count;
};

/* Start an empty table. */
void mqsp_clients_init(struct mqsp_clients *t);

/* Record a client of device generation accepted at since.  Returns MQS_OK
 * or MQS_ERR_NOMEM. */
int mqsp_clients_add(struct mqsp_clients *t, const void *ctx, const char *clientid,
                     const char *username, const uint8_t *addr, int64_t generation, int64_t since);

/* The connected client with this id, or NULL (borrowed until the next
 * change of the table). */
const struct mqsp_client *mqsp_clients_find(const struct mqsp_clients *t, const char *clientid);

/* 1 when c (from mqsp_clients_find, may be NULL) is the connection ctx,
 * logged in as username; else 0. */
int mqsp_clients_is(const struct mqsp_client *c, const void *ctx, const char *username);

/* Forget the client with this id if it is still the connection ctx. */
void mqsp_clients_remove(struct mqsp_clients *t, const void *ctx, const char *clientid);

/* Call fn for every client; fn returns non-zero to select it.  *ids is set
 * to a new NULL-terminated array of copies of the selected client ids (free
 * with mqsp_clients_ids_free), or NULL when none were selected.  Returns
 * MQS_OK, or MQS_ERR_NOMEM when some selected ids could not be copied (*ids
 * then holds the ones that could, or NULL). */
int mqsp_clients_select(const struct mqsp_clients *t,
                        int (*fn)(const struct mqsp_client *c, void *arg), void *arg, char ***ids);

/* Free an array from mqsp_clients_select().  NULL is fine. */
void mqsp_clients_ids_free(char **ids);

/* Free every entry. */
void mqsp_clients_release(struct mqsp_clients *t);

#endif
