/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-alloc.c - the allocator hook (lib/mqs_alloc.h) under the
 * plugin's own structures (docs/broker-plugin.md, "Memory"): the arena of
 * the views, the replay set and the connected-clients table allocate
 * through it, give back exactly what they took, and a refused allocation
 * is an error (MQS_ERR_NOMEM, NULL), never a crash or a half-added entry. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "mqs_alloc.h"
#include "mqs_arena.h"
#include "mqs_error.h"
#include "replay.h"
#include "tap.h"

static long live;    /* blocks taken through the hook and not given back */
static long fail_at; /* refuse the allocation with this number (-1: none) */
static long allocs;  /* allocations asked for since the last reset */
static long foreign; /* frees of blocks the hook never gave */

#define MAGIC 0x6d71735fu

/* A hook that tags its blocks, so a free of a block from elsewhere shows. */
static void *t_malloc(size_t len)
{
	unsigned *p;

	if (allocs++ == fail_at)
		return NULL;
	p = malloc(len + 16);
	if (p == NULL)
		return NULL;
	p[0] = MAGIC;
	live++;
	return (char *)p + 16;
}

static void t_free(void *q)
{
	unsigned *p = (unsigned *)((char *)q - 16);

	if (p[0] != MAGIC) {
		foreign++;
		return;
	}
	p[0] = 0;
	live--;
	free(p);
}

static void *t_realloc(void *q, size_t len)
{
	void *n;

	if (q == NULL)
		return t_malloc(len);
	if (allocs++ == fail_at)
		return NULL;
	n = realloc((char *)q - 16, len + 16);
	return n != NULL ? (char *)n + 16 : NULL;
}

static void reset(long fail)
{
	allocs = 0;
	fail_at = fail;
}

static void test_arena(void)
{
	struct mqs_arena a;
	int all = 1;

	reset(-1);
	mqs_arena_init(&a);
	for (int i = 0; i < 1000; i++)
		all = all && mqs_arena_alloc(&a, 100) != NULL;
	tap_ok(all && live > 0, "the arena takes its blocks through the hook");
	mqs_arena_release(&a);
	tap_is_int(live, 0, "and gives every one back");
	reset(0);
	tap_ok(mqs_arena_alloc(&a, 100) == NULL, "a refused block: NULL");
	mqs_arena_release(&a);
	tap_is_int(live, 0, "nothing left");
}

static void test_replay(void)
{
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN] = {0};
	uint8_t digest[MQSP_REPLAY_DIGEST_LEN] = {0};
	int nomem = 0, ok = 0;

	for (long f = 0; f < 8; f++) {
		struct mqsp_replay *r;

		reset(f);
		r = mqsp_replay_new(60, 100000);
		if (r == NULL) {
			nomem++;
			continue;
		}
		for (uint32_t i = 0; i < 300; i++) {
			int rc;

			memcpy(nonce, &i, sizeof(i));
			rc = mqsp_replay_add(r, 1, nonce, digest, 1, 1000000, 1000000, 1000);
			if (rc == MQS_ERR_NOMEM)
				nomem++;
			else if (rc == MQS_OK)
				ok++;
		}
		mqsp_replay_free(r);
	}
	tap_ok(nomem >= 3 && ok > 0, "refused allocations: the replay set says MQS_ERR_NOMEM");
	tap_is_int(live, 0, "and gives back all it took");
}

static void test_clients(void)
{
	int ctx = 0, refused = 0, added = 0;

	for (long f = 0; f < 40; f++) {
		struct mqsp_clients t;
		char id[32];

		reset(f);
		mqsp_clients_init(&t);
		for (int i = 0; i < 20; i++) {
			int rc;

			snprintf(id, sizeof(id), "c%d", i);
			rc = mqsp_clients_add(&t, &ctx, id, "alice", NULL, 1, 0);
			if (rc == MQS_ERR_NOMEM) {
				refused++;
				if (mqsp_clients_find(&t, id) != NULL)
					tap_diag("a refused client %s is in the table", id);
			} else if (rc == MQS_OK && mqsp_clients_find(&t, id) != NULL) {
				added++;
			}
		}
		mqsp_clients_release(&t);
	}
	tap_ok(refused >= 40 && added > 0,
	       "refused allocations: a client is refused, not half-added");
	tap_is_int(live, 0, "the table gives back all it took");
}

/* The same client id again (a takeover) with allocations refused: the
 * entry of the connection holding the id never goes missing. */
static void test_clients_again(void)
{
	int ctx1 = 0, ctx2 = 0, kept = 1, moved = 0;

	for (long f = 0; f < 12; f++) {
		struct mqsp_clients t;
		const struct mqsp_client *c;
		int rc;

		reset(-1);
		mqsp_clients_init(&t);
		if (mqsp_clients_add(&t, &ctx1, "same", "alice", NULL, 1, 0) != MQS_OK) {
			kept = 0;
			break;
		}
		reset(f);
		rc = mqsp_clients_add(&t, &ctx2, "same", "alice", NULL, 2, 0);
		c = mqsp_clients_find(&t, "same");
		if (c == NULL || (rc == MQS_OK) != (c->ctx == &ctx2 && c->generation == 2))
			kept = 0;
		moved += rc == MQS_OK;
		mqsp_clients_release(&t);
	}
	tap_ok(kept && moved > 0,
	       "a refused re-add keeps the entry of the id, a good one moves it");
	tap_is_int(live, 0, "and gives back all it took");
}

int main(void)
{
	mqs_alloc_set(t_malloc, t_realloc, t_free);
	test_arena();
	test_replay();
	test_clients();
	test_clients_again();
	tap_is_int(foreign, 0, "no block from elsewhere was given to the hook's free");
	mqs_alloc_set(NULL, NULL, NULL);
	return tap_exit();
}
