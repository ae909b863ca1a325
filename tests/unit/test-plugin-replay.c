/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-replay.c - the plugin's replay set (broker-plugin/replay.c):
 * retransmission vs replay, expiry as the window moves, the cap, the slot
 * table (dead slots reused, rebuilds, runs that wrap around its end), the
 * ring of buckets wrapping around, and memory through mqs_malloc. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"
#include "mqs_error.h"
#include "replay.h"
#include "tap.h"

#define T0 1700000000LL /* a Unix second */

static void nonce_of(uint32_t n, uint8_t out[MQS_ENVELOPE_NONCE_LEN])
{
	memset(out, 0xa5, MQS_ENVELOPE_NONCE_LEN);
	memcpy(out, &n, sizeof(n));
}

static void digest_of(uint32_t n, uint8_t out[MQSP_REPLAY_DIGEST_LEN])
{
	memset(out, 0x5a, MQSP_REPLAY_DIGEST_LEN);
	memcpy(out + 4, &n, sizeof(n));
}

/* Add envelope number n of key 7 stamped at second ts from client c. */
static int add(struct mqsp_replay *r, uint32_t n, int64_t ts, uint64_t c, int64_t now)
{
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN], dig[MQSP_REPLAY_DIGEST_LEN];

	nonce_of(n, nonce);
	digest_of(n, dig);
	return mqsp_replay_add(r, 7, nonce, dig, c, (uint64_t)ts * 1000 + 123,
	                       (uint64_t)now * 1000 + n, now);
}

static enum mqsp_replay_verdict look(const struct mqsp_replay *r, uint32_t n, uint32_t dn,
                                     uint64_t c, uint64_t *ts)
{
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN], dig[MQSP_REPLAY_DIGEST_LEN];

	nonce_of(n, nonce);
	digest_of(dn, dig);
	return mqsp_replay_lookup(r, 7, nonce, dig, c, ts);
}

static void test_verdicts(void)
{
	struct mqsp_replay *r = mqsp_replay_new(300, 1000);
	uint64_t c1, c2, ts = 0;
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN], dig[MQSP_REPLAY_DIGEST_LEN];

	tap_ok(r != NULL, "new set");
	c1 = mqsp_replay_client(r, "client-1");
	c2 = mqsp_replay_client(r, "client-2");
	tap_ok(c1 != c2, "distinct client ids hash apart");
	tap_ok(c1 == mqsp_replay_client(r, "client-1"), "client hash is stable");
	tap_is_int(look(r, 1, 1, c1, &ts), MQSP_REPLAY_NEW, "unseen envelope is new");
	tap_is_int(add(r, 1, T0, c1, T0), MQS_OK, "recorded");
	tap_is_int(look(r, 1, 1, c1, &ts), MQSP_REPLAY_SAME,
	           "same bytes from the same client: retransmission");
	tap_ok(ts == (uint64_t)T0 * 1000 + 1, "retransmission gets the stored output timestamp");
	tap_is_int(look(r, 1, 2, c1, &ts), MQSP_REPLAY_SEEN,
	           "other bytes with a seen key id and nonce: replay");
	tap_is_int(look(r, 1, 1, c2, &ts), MQSP_REPLAY_SEEN,
	           "same bytes from another client: replay");
	nonce_of(1, nonce);
	digest_of(1, dig);
	tap_is_int(mqsp_replay_lookup(r, 8, nonce, dig, c1, &ts), MQSP_REPLAY_NEW,
	           "same nonce under another key id is new");
	tap_is_int(mqsp_replay_count(r), 1, "one entry");
	/* a NULL digest (not known yet) compares the client only */
	ts = 0;
	tap_is_int(mqsp_replay_lookup(r, 7, nonce, NULL, c1, &ts), MQSP_REPLAY_SAME,
	           "no digest, same client: a retransmission to check");
	tap_ok(ts == (uint64_t)T0 * 1000 + 1, "... with the stored output timestamp");
	tap_is_int(mqsp_replay_lookup(r, 7, nonce, NULL, c2, &ts), MQSP_REPLAY_SEEN,
	           "no digest, another client: replay");
	mqsp_replay_free(r);
	mqsp_replay_free(NULL);
}

static void test_expiry(void)
{
	struct mqsp_replay *r = mqsp_replay_new(10, 100000);
	uint64_t c = mqsp_replay_client(r, "c"), ts;
	int ok = 1;

	/* envelopes stamped from 10 s in the past to 10 s ahead */
	for (uint32_t i = 0; i < 21; i++)
		ok &= add(r, i, T0 - 10 + i, c, T0) == MQS_OK;
	tap_ok(ok, "21 envelopes recorded across the window");
	tap_is_int(mqsp_replay_count(r), 21, "21 entries");
	tap_is_int(add(r, 100, T0 - 12, c, T0), MQS_OK, "an already closed envelope is accepted");
	tap_is_int(mqsp_replay_count(r), 21, "... but not stored");
	tap_is_int(add(r, 101, T0 + 30, c, T0), MQS_ERR_INVAL,
	           "a timestamp beyond the window ahead is refused");
	/* stamped T0 - 10 + i is needed until T0 + i (+ rounding) */
	mqsp_replay_expire(r, T0 + 5);
	tap_is_int(look(r, 20, 20, c, &ts), MQSP_REPLAY_SAME, "newest still held at +5 s");
	tap_is_int(look(r, 8, 8, c, &ts), MQSP_REPLAY_SAME,
	           "an envelope whose window is open is held");
	tap_ok(mqsp_replay_count(r) < 21, "older entries dropped at +5 s (%zu left)",
	       mqsp_replay_count(r));
	mqsp_replay_expire(r, T0 + 40);
	tap_is_int(mqsp_replay_count(r), 0, "everything dropped once every window closed");
	tap_is_int(look(r, 20, 20, c, &ts), MQSP_REPLAY_NEW, "dropped entry is new again");
	/* the ring of buckets keeps working as time moves on for a while */
	ok = 1;
	for (int64_t now = T0 + 100; now < T0 + 1100; now++) {
		ok &= add(r, (uint32_t)(1000 + now - T0), now, c, now) == MQS_OK;
		ok &= look(r, (uint32_t)(1000 + now - T0), (uint32_t)(1000 + now - T0), c, &ts) ==
		      MQSP_REPLAY_SAME;
		ok &= mqsp_replay_count(r) <= 25;
	}
	tap_ok(ok, "1000 s of one envelope a second: held while needed, at most 25 entries");
	mqsp_replay_free(r);
}

static void test_cap(void)
{
	struct mqsp_replay *r = mqsp_replay_new(60, 100);
	uint64_t c = mqsp_replay_client(r, "c"), ts;
	int ok = 1;

	for (uint32_t i = 0; i < 100; i++)
		ok &= add(r, i, T0, c, T0) == MQS_OK;
	tap_ok(ok, "100 entries fit a cap of 100");
	tap_ok(mqsp_replay_full(r), "full at the cap");
	tap_is_int(add(r, 100, T0, c, T0), MQS_ERR_TOOBIG, "a new envelope is refused when full");
	tap_is_int(look(r, 0, 0, c, &ts), MQSP_REPLAY_SAME, "nothing was forgotten to make room");
	/* buckets span a few seconds: entries may stay that much longer */
	mqsp_replay_expire(r, T0 + 70);
	tap_ok(!mqsp_replay_full(r), "room again once the window moved on");
	tap_is_int(add(r, 100, T0 + 70, c, T0 + 70), MQS_OK, "and new envelopes are recorded");
	mqsp_replay_free(r);
}

static void test_many(void)
{
	struct mqsp_replay *r = mqsp_replay_new(300, 200000);
	uint64_t c = mqsp_replay_client(r, "c"), ts;
	int ok = 1;

	for (uint32_t i = 0; i < 150000; i++)
		ok &= add(r, i, T0 + (int64_t)(i % 600) - 300, c, T0) == MQS_OK;
	tap_ok(ok, "150000 entries recorded (table grows, pool chunks)");
	for (uint32_t i = 0; i < 150000; i += 7)
		ok &= look(r, i, i, c, &ts) == MQSP_REPLAY_SAME;
	tap_ok(ok, "every entry found again");
	tap_is_int(look(r, 150001, 150001, c, &ts), MQSP_REPLAY_NEW, "an unseen one is new");
	mqsp_replay_expire(r, T0 + 1000);
	tap_is_int(mqsp_replay_count(r), 0, "all expired");
	ok = 1;
	for (uint32_t i = 0; i < 150000; i++)
		ok &= add(r, i + 500000, T0 + 1000, c, T0 + 1000) == MQS_OK;
	tap_ok(ok, "records are reused after expiry");
	mqsp_replay_free(r);
}

/* A counting allocator hook: bytes live through mqs_malloc and their peak. */
static size_t hook_live, hook_peak;
static long hook_blocks;

static void *h_malloc(size_t len)
{
	size_t *p = malloc(len + 16);

	if (p == NULL)
		return NULL;
	p[0] = len;
	hook_live += len;
	hook_blocks++;
	if (hook_live > hook_peak)
		hook_peak = hook_live;
	return (char *)p + 16;
}

static void h_free(void *q)
{
	size_t *p;

	if (q == NULL)
		return;
	p = (size_t *)((char *)q - 16);
	hook_live -= p[0];
	hook_blocks--;
	free(p);
}

static void *h_realloc(void *q, size_t len)
{
	void *n = h_malloc(len);
	size_t old;

	if (n == NULL || q == NULL)
		return n;
	old = ((size_t *)((char *)q - 16))[0];
	memcpy(n, q, old < len ? old : len);
	h_free(q);
	return n;
}

/* Steady churn: about 2,000 live entries, 200,000 added over 1,000 s, each
 * held for its window and looked up again as a replay from another client
 * and as a retransmission; the memory peak stays within one pool chunk and
 * the slots of one window, and all of it goes through the hook. */
static void test_churn(void)
{
	struct mqsp_replay *r;
	uint64_t c1, c2, ts = 0;
	int ok = 1, refused = 1, fresh = 1;
	uint32_t n = 0;

	mqs_alloc_set(h_malloc, h_realloc, h_free);
	hook_live = hook_peak = 0;
	hook_blocks = 0;
	r = mqsp_replay_new(5, 100000);
	c1 = mqsp_replay_client(r, "c1");
	c2 = mqsp_replay_client(r, "c2");
	for (int64_t now = T0; now < T0 + 1000; now++) {
		for (int k = 0; k < 200; k++, n++) {
			ok &= add(r, n, now, c1, now) == MQS_OK;
			/* one added 3 s ago is still held: a replay, a resend */
			if (n >= 600) {
				refused &= look(r, n - 600, n - 600, c2, &ts) == MQSP_REPLAY_SEEN;
				refused &= look(r, n - 600, n - 600, c1, &ts) == MQSP_REPLAY_SAME;
			}
		}
		/* one added 20 s ago was dropped with its bucket */
		if (n > 4000)
			fresh &= look(r, n - 4000, n - 4000, c2, &ts) == MQSP_REPLAY_NEW;
		ok &= mqsp_replay_count(r) <= 200 * 20;
	}
	tap_ok(ok, "200,000 envelopes through a 5 s window, at most 4,000 held");
	tap_ok(refused, "every envelope inside its window: a replay from another client, "
	                "a retransmission from its own");
	tap_ok(fresh, "every envelope past its window and bucket: dropped");
	/* one chunk of 16,384 records of 56 bytes, and at most 6 slots of 8
	 * bytes per held entry (3 per entry, rounded up to a power of two) */
	tap_ok(hook_peak <= 16384 * 56 + 4000 * 48 + 4096,
	       "one pool chunk and at most 48 bytes of slots per held entry (%zu bytes)",
	       hook_peak);
	tap_ok(hook_live > 0 && hook_blocks > 0, "the set's memory came through mqs_malloc");
	mqsp_replay_free(r);
	tap_ok(hook_live == 0 && hook_blocks == 0, "and all of it went back through mqs_free");
	mqs_alloc_set(NULL, NULL, NULL);
}

/* A set near its rebuild point holds runs that wrap around the end of the
 * table; a long life wraps the ring of buckets many times. */
static void test_wrap(void)
{
	struct mqsp_replay *r = mqsp_replay_new(1, 1000000);
	uint64_t c = mqsp_replay_client(r, "c"), ts;
	int ok = 1;
	uint32_t n = 0;

	/* 1 s window: 64 buckets of 1 s, reused every 64 s: 1,000 laps */
	for (int64_t now = T0; now < T0 + 64000; now++) {
		uint32_t first = n;

		for (int k = 0; k < 3; k++, n++)
			ok &= add(r, n, now, c, now) == MQS_OK;
		for (uint32_t i = first; i < n; i++)
			ok &= look(r, i, i + 1, c, &ts) == MQSP_REPLAY_SEEN;
		if (first >= 30)
			ok &= look(r, first - 30, first - 30, c, &ts) == MQSP_REPLAY_NEW;
	}
	tap_ok(ok, "1,000 laps of the bucket ring: replays refused, old entries dropped");
	/* 600 entries in one table of 1,024 slots (the rebuild comes at 640):
	 * some runs cross the end of the table; every entry is found */
	mqsp_replay_expire(r, T0 + 70000);
	tap_is_int(mqsp_replay_count(r), 0, "empty");
	ok = 1;
	for (uint32_t i = 0; i < 600; i++)
		ok &= add(r, 5000000 + i, T0 + 70000, c, T0 + 70000) == MQS_OK;
	for (uint32_t i = 0; i < 600; i++)
		ok &= look(r, 5000000 + i, 0, c, &ts) == MQSP_REPLAY_SEEN;
	for (uint32_t i = 600; i < 20000; i++)
		ok &= look(r, 5000000 + i, 0, c, &ts) == MQSP_REPLAY_NEW;
	tap_ok(ok, "600 entries in a full-ish table: each found, 19,400 unseen ones new");
	mqsp_replay_free(r);
}

/* The clock steps back: nothing held is forgotten, and the set works on. */
static void test_clock_back(void)
{
	struct mqsp_replay *r = mqsp_replay_new(10, 1000);
	uint64_t c = mqsp_replay_client(r, "c"), ts;
	int ok = 1;

	for (uint32_t i = 0; i < 10; i++)
		ok &= add(r, i, T0, c, T0) == MQS_OK;
	mqsp_replay_expire(r, T0 - 3600);
	for (uint32_t i = 0; i < 10; i++)
		ok &= look(r, i, i, c, &ts) == MQSP_REPLAY_SAME;
	ok &= add(r, 10, T0 - 3600, c, T0 - 3600) == MQS_OK;
	ok &= look(r, 10, 10, c, &ts) == MQSP_REPLAY_SAME;
	ok &= mqsp_replay_count(r) == 11;
	tap_ok(ok, "an hour back: the entries held stay, new ones are recorded");
	mqsp_replay_free(r);
}

/* The clock steps back by more than the ring: a new entry's bucket is one
 * that holds entries of a later epoch, still needed once the clock is back
 * where it was.  They stay (the new entry joins them and is kept longer). */
static void test_clock_back_ring(void)
{
	struct mqsp_replay *r = mqsp_replay_new(10, 1000);
	uint64_t c = mqsp_replay_client(r, "c"), ts;
	int ok = 1;

	/* window 10: one second per bucket, 64 buckets */
	ok &= add(r, 1, T0, c, T0) == MQS_OK;
	/* 64 s back: the new expiry second falls in the bucket of the first */
	ok &= add(r, 2, T0 - 64, c, T0 - 64) == MQS_OK;
	ok &= look(r, 2, 2, c, &ts) == MQSP_REPLAY_SAME;
	/* the clock is back at T0: the first envelope is fresh again */
	mqsp_replay_expire(r, T0);
	ok &= look(r, 1, 1, c, &ts) == MQSP_REPLAY_SAME;
	ok &= mqsp_replay_count(r) == 2;
	mqsp_replay_expire(r, T0 + 13);
	ok &= mqsp_replay_count(r) == 0;
	tap_ok(ok, "64 s back: an entry in a bucket of a later epoch is not dropped");
	mqsp_replay_free(r);
}

/* After a flood has expired, most of the pool is free: rebuilds walk the
 * bucket lists; every live entry is still found across them. */
static void test_after_flood(void)
{
	struct mqsp_replay *r = mqsp_replay_new(10, 100000);
	uint64_t c = mqsp_replay_client(r, "c"), ts;
	int ok = 1;

	for (uint32_t i = 0; i < 50000; i++)
		ok &= add(r, i, T0, c, T0) == MQS_OK;
	mqsp_replay_expire(r, T0 + 100);
	ok &= mqsp_replay_count(r) == 0;
	for (uint32_t s = 0; s < 40; s++)
		for (uint32_t i = 0; i < 100; i++)
			ok &= add(r, 100000 + s * 100 + i, T0 + 100 + s, c, T0 + 100 + s) == MQS_OK;
	/* live: the last window's (expiry ts + 11, dropped the second after) */
	for (uint32_t s = 0; s < 40; s++)
		for (uint32_t i = 0; i < 100; i++)
			ok &= (look(r, 100000 + s * 100 + i, 100000 + s * 100 + i, c, &ts) ==
			       MQSP_REPLAY_SAME) == (s + 12 >= 40);
	tap_ok(ok, "after a flood: entries added across rebuilds from the bucket lists are found");
	mqsp_replay_free(r);
}

int main(void)
{
	tap_ok(mqsp_replay_new(0, 10) == NULL && mqsp_replay_new(10, 0) == NULL,
	       "zero window or cap refused");
	test_verdicts();
	test_expiry();
	test_cap();
	test_many();
	test_churn();
	test_wrap();
	test_clock_back();
	test_clock_back_ring();
	test_after_flood();
	tap_done();
	return tap_exit();
}
