/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-replay.c - the plugin's replay set (broker-plugin/replay.c):
 * retransmission vs replay, expiry as the window moves, the cap. */
#include "config.h"

#include <stdint.h>
#include <string.h>

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

int main(void)
{
	tap_ok(mqsp_replay_new(0, 10) == NULL && mqsp_replay_new(10, 0) == NULL,
	       "zero window or cap refused");
	test_verdicts();
	test_expiry();
	test_cap();
	test_many();
	tap_done();
	return tap_exit();
}
