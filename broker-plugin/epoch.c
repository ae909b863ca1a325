/* SPDX-License-Identifier: BSD-3-Clause */
/* epoch.c - per-client-id session epochs (see epoch.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include "mqs_uthash.h"

#include "epoch.h"
#include "mqs_alloc.h"
#include "mqs_hash.h"

struct entry {
	UT_hash_handle hh;
	uint64_t id; /* seeded hash of the client id */
	uint64_t epoch;
	const void *conn; /* current connection, NULL when none */
	int persistent;   /* the last connection had clean session off */
};

struct mqsp_epochs {
	struct entry *map; /* uthash, in order of the last connect (oldest first) */
	size_t count;
	size_t max;
	uint64_t next; /* next epoch */
	uint64_t seed[2];
};

/* Seeded FNV-1a of a client id, finalised. */
static uint64_t id_hash(const struct mqsp_epochs *e, const char *clientid)
{
	return mqs_hash_mix64(mqs_hash_fnv1a(e->seed[0], clientid) ^ e->seed[1]);
}

/* New map. */
struct mqsp_epochs *mqsp_epochs_new(size_t max)
{
	struct mqsp_epochs *e;

	if (max == 0)
		return NULL;
	e = mqs_calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	if (RAND_bytes((unsigned char *)e->seed, sizeof(e->seed)) != 1) {
		mqs_free(e);
		return NULL;
	}
	e->max = max;
	e->next = 1;
	return e;
}

/* Free everything. */
void mqsp_epochs_free(struct mqsp_epochs *e)
{
	struct entry *x, *tmp;

	if (e == NULL)
		return;
	HASH_ITER(hh, e->map, x, tmp)
	{
		HASH_DEL(e->map, x);
		mqs_free(x);
	}
	mqs_free(e);
}

/* The entry of id, or NULL. */
static struct entry *find(const struct mqsp_epochs *e, uint64_t id)
{
	struct entry *x = NULL;

	HASH_FIND(hh, e->map, &id, sizeof(id), x);
	return x;
}

/* Record a connection: keep the epoch only for a resumed persistent
 * session. */
static uint64_t record(struct mqsp_epochs *e, uint64_t id, const void *conn, int clean)
{
	struct entry *x = find(e, id);

	if (x != NULL) {
		/* move to the end: the order is the order of the last connect */
		HASH_DEL(e->map, x);
		e->count--;
		if (clean || !x->persistent)
			x->epoch = e->next++;
	} else {
		if (e->count >= e->max && e->map != NULL) {
			struct entry *oldest = e->map;

			HASH_DEL(e->map, oldest);
			mqs_free(oldest);
			e->count--;
		}
		x = mqs_calloc(1, sizeof(*x));
		if (x == NULL)
			return e->next++;
		x->id = id;
		x->epoch = e->next++;
	}
	x->conn = conn;
	x->persistent = !clean;
	HASH_ADD(hh, e->map, id, sizeof(x->id), x);
	if (!mqs_uthash_added(x, hh)) {
		/* out of memory: the epoch is handed out, not remembered */
		uint64_t epoch = x->epoch;

		mqs_free(x);
		return epoch;
	}
	e->count++;
	return x->epoch;
}

/* A CONNECT was accepted. */
uint64_t mqsp_epochs_connect(struct mqsp_epochs *e, const char *clientid, const void *conn,
                             int clean)
{
	if (e == NULL)
		return 0;
	return record(e, id_hash(e, clientid), conn, clean);
}

/* The epoch of the current connection. */
uint64_t mqsp_epochs_get(struct mqsp_epochs *e, const char *clientid, const void *conn, int clean)
{
	uint64_t id;
	struct entry *x;

	if (e == NULL)
		return 0;
	id = id_hash(e, clientid);
	x = find(e, id);
	if (x != NULL && x->conn == conn)
		return x->epoch;
	if (x != NULL && x->conn == NULL && x->persistent && !clean)
		x->conn = conn; /* resumed, but its CONNECT was not seen by us */
	if (x != NULL && x->conn == conn)
		return x->epoch;
	return record(e, id, conn, clean);
}

/* A connection ended. */
void mqsp_epochs_disconnect(struct mqsp_epochs *e, const char *clientid, const void *conn)
{
	struct entry *x;

	if (e == NULL)
		return;
	x = find(e, id_hash(e, clientid));
	if (x == NULL || x->conn != conn)
		return;
	if (x->persistent) {
		x->conn = NULL;
		return;
	}
	HASH_DEL(e->map, x);
	mqs_free(x);
	e->count--;
}

/* Entries held. */
size_t mqsp_epochs_count(const struct mqsp_epochs *e)
{
	return e != NULL ? e->count : 0;
}
