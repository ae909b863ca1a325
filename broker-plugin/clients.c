/* SPDX-License-Identifier: BSD-3-Clause */
/* clients.c - connected clients accepted by the plugin. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "mem.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_error.h"

struct mqsp_client_entry {
	UT_hash_handle hh;
	struct mqsp_client c;
};

/* Start an empty table. */
void mqsp_clients_init(struct mqsp_clients *t)
{
	t->by_id = NULL;
	t->count = 0;
}

/* Free one entry. */
static void entry_free(struct mqsp_client_entry *e)
{
	mqs_free(e->c.clientid);
	mqs_free(e->c.username);
	mqs_free(e);
}

/* Record an accepted client. */
int mqsp_clients_add(struct mqsp_clients *t, const void *ctx, const char *clientid,
                     const char *username, const uint8_t *addr, int64_t generation, int64_t since)
{
	struct mqsp_client_entry *e = NULL;
	struct mqsp_client_entry *old = NULL;
	int rc = MQS_ERR_INVAL;

	if (clientid == NULL)
		goto out;
	rc = MQS_ERR_NOMEM;
	e = mqs_calloc(1, sizeof(*e));
	if (e == NULL)
		goto out;
	e->c.ctx = ctx;
	e->c.generation = generation;
	e->c.since = since;
	e->c.clientid = mqs_strdup(clientid);
	e->c.username = username != NULL ? mqs_strdup(username) : NULL;
	if (e->c.clientid == NULL || (username != NULL && e->c.username == NULL))
		goto out;
	if (addr != NULL) {
		memcpy(e->c.addr, addr, 16);
		e->c.have_addr = 1;
	}
	HASH_FIND_STR(t->by_id, clientid, old);
	if (old != NULL) {
		/* the same id again: updated in place, no table operation that
		 * could be refused (a refused re-add after deleting the entry
		 * would leave the connection still holding the id untracked,
		 * so never disconnected when its device goes) */
		char *u = old->c.username;

		old->c.ctx = ctx;
		old->c.generation = generation;
		old->c.since = since;
		old->c.username = e->c.username;
		e->c.username = u;
		memcpy(old->c.addr, e->c.addr, sizeof(old->c.addr));
		old->c.have_addr = e->c.have_addr;
		rc = MQS_OK;
		goto out; /* e (the copy of the id, the old username) is freed */
	}
	{
		unsigned before = HASH_COUNT(t->by_id);

		HASH_ADD_KEYPTR(hh, t->by_id, e->c.clientid, strlen(e->c.clientid), e);
		if (!mqsp_mem_added(t->by_id, before))
			goto out; /* the table could not grow: e is not in it */
	}
	t->count++;
	e = NULL;
	rc = MQS_OK;
out:
	if (e != NULL)
		entry_free(e);
	return rc;
}

/* Find a connected client by id. */
const struct mqsp_client *mqsp_clients_find(const struct mqsp_clients *t, const char *clientid)
{
	struct mqsp_client_entry *e = NULL;

	if (clientid == NULL)
		return NULL;
	HASH_FIND_STR(t->by_id, clientid, e);
	return e != NULL ? &e->c : NULL;
}

/* Is c the connection ctx logged in as username? */
int mqsp_clients_is(const struct mqsp_client *c, const void *ctx, const char *username)
{
	return c != NULL && c->ctx == ctx && c->username != NULL && username != NULL &&
	       strcmp(c->username, username) == 0;
}

/* Forget a client if ctx is still its connection. */
void mqsp_clients_remove(struct mqsp_clients *t, const void *ctx, const char *clientid)
{
	struct mqsp_client_entry *e = NULL;

	if (clientid == NULL)
		return;
	HASH_FIND_STR(t->by_id, clientid, e);
	if (e != NULL && e->c.ctx == ctx) {
		HASH_DEL(t->by_id, e);
		entry_free(e);
		t->count--;
	}
}

/* Select clients. */
int mqsp_clients_select(const struct mqsp_clients *t,
                        int (*fn)(const struct mqsp_client *c, void *arg), void *arg, char ***ids)
{
	struct mqsp_client_entry *e, *tmp;
	char **v = NULL;
	void *block = NULL;
	size_t n = 0, cap = 0;
	int rc = MQS_OK;

	HASH_ITER(hh, t->by_id, e, tmp)
	{
		if (!fn(&e->c, arg))
			continue;
		/* room for this id and the NULL after it */
		rc = mqs_array_reserve(&block, &cap, n + 2, sizeof(*v), SIZE_MAX, 0);
		if (rc != MQS_OK)
			break;
		v = block;
		v[n] = mqs_strdup(e->c.clientid);
		if (v[n] == NULL) {
			rc = MQS_ERR_NOMEM;
			break;
		}
		n++;
		v[n] = NULL;
	}
	*ids = v;
	return rc;
}

/* Free an id array. */
void mqsp_clients_ids_free(char **ids)
{
	if (ids == NULL)
		return;
	for (size_t i = 0; ids[i] != NULL; i++)
		mqs_free(ids[i]);
	mqs_free(ids);
}

/* Free every entry. */
void mqsp_clients_release(struct mqsp_clients *t)
{
	struct mqsp_client_entry *e, *tmp;

	HASH_ITER(hh, t->by_id, e, tmp)
	{
		HASH_DEL(t->by_id, e);
		entry_free(e);
	}
	t->count = 0;
}
