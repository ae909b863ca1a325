/* SPDX-License-Identifier: BSD-3-Clause */
/* test-join.c - the receiver of k-of-n shares (docs/medical.md,
 * "Receiving"; mqs_join.h): every drop reason, sender identification,
 * subsets, corrupt, incomplete, late, bounded memory under a flood, the
 * record bound to its id (share bodies moved under another record's
 * headers), senders kept apart, per-channel quotas. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_join.h"
#include "mqs_share.h"
#include "mqs_util.h"

#include "tap.h"

#define T0 1000000u

static struct mqs_join_key keys[3]; /* "alice", "bob" configured; "eve" not */

/* What the callbacks saw. */
struct seen {
	unsigned records;
	char sender[MQS_JOIN_KEY_NAME_MAX + 1];
	char topic[128];
	char origin[256];
	uint8_t data[256];
	size_t len;
	uint8_t id[MQS_SHARE_ID_LEN];
	unsigned expired, have, need;
};

static void on_record(void *arg, const struct mqs_join_record *r)
{
	struct seen *s = arg;

	s->records++;
	snprintf(s->sender, sizeof(s->sender), "%s", r->sender);
	snprintf(s->topic, sizeof(s->topic), "%s", r->topic);
	snprintf(s->origin, sizeof(s->origin), "%s", r->origin);
	s->len = r->len < sizeof(s->data) ? r->len : sizeof(s->data);
	memcpy(s->data, r->data, s->len);
	memcpy(s->id, r->id, MQS_SHARE_ID_LEN);
}

static void on_expired(void *arg, const uint8_t id[MQS_SHARE_ID_LEN], unsigned have, unsigned need)
{
	struct seen *s = arg;

	s->expired++;
	s->have = have;
	s->need = need;
	memcpy(s->id, id, MQS_SHARE_ID_LEN);
}

/* n shares of record text under keys[key] (id NULL: fresh); *one gets the
 * length of one share.  Free with free(). */
static uint8_t *make_shares(int key, unsigned n, unsigned k, const char *text, const uint8_t *id,
                            size_t *one)
{
	uint8_t tk[32], rid[MQS_SHARE_ID_LEN];
	uint8_t *secret = NULL, *sh;
	size_t slen = 0;

	if (id != NULL)
		memcpy(rid, id, sizeof(rid));
	else if (RAND_bytes(rid, sizeof(rid)) != 1)
		exit(99);
	if (mqs_share_tag_key(keys[key].key, tk) != MQS_OK ||
	    mqs_share_record_seal(keys[key].key, keys[key].id, rid, "clinic/3/record", "dev-3",
	                          (const uint8_t *)text, strlen(text), &secret, &slen) != MQS_OK)
		exit(99);
	*one = mqs_share_len(slen);
	sh = malloc(n * *one);
	if (sh == NULL ||
	    mqs_share_split(secret, slen, n, k, tk, rid, NULL, sh, n * *one) != MQS_OK)
		exit(99);
	mqs_secret_free(secret, slen);
	return sh;
}

static struct mqs_join *new_join(unsigned n, unsigned k, struct seen *s,
                                 const struct mqs_join_conf *base)
{
	struct mqs_join_conf conf;
	struct mqs_join *j = NULL;

	if (base != NULL)
		conf = *base;
	else
		memset(&conf, 0, sizeof(conf));
	conf.n = n;
	conf.k = k;
	memset(s, 0, sizeof(*s));
	if (mqs_join_new(&conf, keys, 2, on_record, s, &j) != MQS_OK)
		exit(99);
	return j;
}

static void test_basic_and_senders(void)
{
	struct seen s;
	struct mqs_join *j = new_join(3, 2, &s, NULL);
	uint8_t *a, *b;
	size_t one_a, one_b;
	int r1, r2;

	a = make_shares(0, 3, 2, "from alice", NULL, &one_a);
	b = make_shares(1, 3, 2, "from bob!!", NULL, &one_b);
	r1 = mqs_join_feed(j, 2, a + 2 * one_a, one_a, T0);
	r2 = mqs_join_feed(j, 0, a, one_a, T0 + 5);
	tap_ok(r1 == MQS_JOIN_PENDING && r2 == MQS_JOIN_RECORD && s.records == 1,
	       "shares 3 and 1 of 3 (k 2) rebuild the record");
	tap_ok(strcmp(s.sender, "alice") == 0 && strcmp(s.topic, "clinic/3/record") == 0 &&
	           strcmp(s.origin, "dev-3") == 0 && s.len == 10 &&
	           memcmp(s.data, "from alice", 10) == 0 && memcmp(s.id, a + 4, 16) == 0,
	       "record: sender alice, topic, origin, data, id");
	tap_ok(mqs_join_pending(j) == 0 && mqs_join_pending_bytes(j) == 0,
	       "nothing held after completion");
	r1 = mqs_join_feed(j, 1, b + one_b, one_b, T0 + 6);
	r2 = mqs_join_feed(j, 2, b + 2 * one_b, one_b, T0 + 7);
	tap_ok(r1 == MQS_JOIN_PENDING && r2 == MQS_JOIN_RECORD && s.records == 2 &&
	           strcmp(s.sender, "bob") == 0 && memcmp(s.data, "from bob!!", 10) == 0,
	       "a record sealed with bob's key names bob");
	/* late: after completion */
	tap_is_int(mqs_join_feed(j, 0, b, one_b, T0 + 8), MQS_JOIN_LATE,
	           "the third share of a completed record is late");
	tap_is_int(mqs_join_feed(j, 1, a + one_a, one_a, T0 + 59000), MQS_JOIN_LATE,
	           "still late within the timeout");
	tap_ok(mqs_join_tick(j, T0 + 10, NULL, NULL) == T0 + 5 + 60000,
	       "tick wants to run when the first remembered id is forgotten");
	mqs_join_tick(j, T0 + 70000, NULL, NULL);
	tap_is_int(mqs_join_feed(j, 1, a + one_a, one_a, T0 + 70000), MQS_JOIN_PENDING,
	           "after the timeout the id is forgotten (a new group)");
	tap_ok(mqs_join_count(j, MQS_JOIN_RECORD) == 2 && mqs_join_count(j, MQS_JOIN_LATE) == 2 &&
	           mqs_join_count(j, MQS_JOIN_PENDING) == 3,
	       "counters: 2 record, 2 late, 3 pending");
	mqs_join_free(j);
	free(a);
	free(b);
}

static void test_drops(void)
{
	struct seen s;
	struct mqs_join_conf conf;
	struct mqs_join *j = new_join(3, 2, &s, NULL);
	uint8_t *a, *e, *n4, *k3, *other, junk[60] = {1};
	uint8_t id[MQS_SHARE_ID_LEN];
	size_t one, one_e, one4, onek3, one_o;

	a = make_shares(0, 3, 2, "record one", NULL, &one);
	e = make_shares(2, 3, 2, "from eve..", NULL, &one_e);
	n4 = make_shares(0, 4, 2, "four chans", NULL, &one4);
	k3 = make_shares(0, 3, 3, "threshold3", NULL, &onek3);
	tap_is_int(mqs_join_feed(j, 0, junk, sizeof(junk), T0), MQS_JOIN_BAD_HEADER,
	           "garbage: bad-header");
	tap_is_int(mqs_join_feed(j, 0, a, one - 1, T0), MQS_JOIN_BAD_HEADER,
	           "truncated share: bad-header");
	tap_is_int(mqs_join_feed(j, 0, e, one_e, T0), MQS_JOIN_UNKNOWN_KEY,
	           "a share of an unconfigured key: unknown-key");
	a[5] ^= 1; /* the id is in the header: the tag fails */
	tap_is_int(mqs_join_feed(j, 0, a, one, T0), MQS_JOIN_UNKNOWN_KEY,
	           "a forged header: unknown-key");
	a[5] ^= 1;
	tap_is_int(mqs_join_feed(j, 1, a, one, T0), MQS_JOIN_WRONG_CHANNEL,
	           "share 1 on channel 2: wrong-channel");
	tap_is_int(mqs_join_feed(j, 3, a + 2 * one, one, T0), MQS_JOIN_WRONG_CHANNEL,
	           "channel index past n: wrong-channel");
	tap_is_int(mqs_join_feed(j, 0, n4, one4, T0), MQS_JOIN_INCONSISTENT,
	           "n 4 on a 3-channel receiver: inconsistent");
	tap_is_int(mqs_join_feed(j, 0, k3, onek3, T0), MQS_JOIN_INCONSISTENT,
	           "k 3 on a k 2 receiver: inconsistent");
	/* within a group: S must agree; another sender's key is another group */
	tap_is_int(mqs_join_feed(j, 0, a, one, T0), MQS_JOIN_PENDING, "share 1 accepted");
	memcpy(id, a + 4, sizeof(id));
	other = make_shares(0, 3, 2, "a longer record", id, &one_o);
	tap_is_int(mqs_join_feed(j, 1, other + one_o, one_o, T0), MQS_JOIN_INCONSISTENT,
	           "same id, another S: inconsistent");
	free(other);
	other = make_shares(1, 3, 2, "record one", id, &one_o);
	tap_is_int(mqs_join_feed(j, 1, other + one_o, one_o, T0), MQS_JOIN_PENDING,
	           "same id, another sender's key: a group of its own");
	free(other);
	tap_is_int(mqs_join_feed(j, 0, a, one, T0), MQS_JOIN_DUPLICATE, "share 1 again: duplicate");
	tap_is_int(mqs_join_feed(j, 1, a + one, one, T0), MQS_JOIN_RECORD, "share 2 completes it");
	tap_ok(mqs_join_count(j, MQS_JOIN_BAD_HEADER) == 2 &&
	           mqs_join_count(j, MQS_JOIN_UNKNOWN_KEY) == 2 &&
	           mqs_join_count(j, MQS_JOIN_WRONG_CHANNEL) == 2 &&
	           mqs_join_count(j, MQS_JOIN_INCONSISTENT) == 3 &&
	           mqs_join_count(j, MQS_JOIN_DUPLICATE) == 1,
	       "each drop counted");
	tap_ok(mqs_join_count(j, -1) == 0 && mqs_join_count(j, MQS_JOIN__COUNT) == 0,
	       "out-of-range counters are 0");
	mqs_join_free(j);
	/* too-big and pending-full */
	memset(&conf, 0, sizeof(conf));
	conf.max_record = 70;
	conf.max_pending = 2;
	j = new_join(3, 2, &s, &conf);
	free(a);
	a = make_shares(0, 3, 2, "this record is longer than seventy bytes once sealed", NULL,
	                &one);
	tap_is_int(mqs_join_feed(j, 0, a, one, T0), MQS_JOIN_TOO_BIG, "S over max_record: too-big");
	free(a);
	a = make_shares(0, 3, 2, "1", NULL, &one);
	free(e);
	e = make_shares(0, 3, 2, "2", NULL, &one_e);
	free(n4);
	n4 = make_shares(0, 3, 2, "3", NULL, &one4);
	tap_ok(mqs_join_feed(j, 0, a, one, T0) == MQS_JOIN_PENDING &&
	           mqs_join_feed(j, 1, e + one_e, one_e, T0) == MQS_JOIN_PENDING,
	       "two open groups");
	tap_is_int(mqs_join_feed(j, 2, n4 + 2 * one4, one4, T0), MQS_JOIN_PENDING_FULL,
	           "a third group beyond max_pending 2: pending-full");
	tap_is_int(mqs_join_feed(j, 2, a + 2 * one, one, T0), MQS_JOIN_RECORD,
	           "an open group still completes");
	tap_is_int(mqs_join_feed(j, 0, n4, one4, T0), MQS_JOIN_PENDING, "then there is room again");
	mqs_join_free(j);
	memset(&conf, 0, sizeof(conf));
	conf.max_pending_bytes = (one - MQS_SHARE_OVERHEAD) * 3; /* one share per channel */
	other = make_shares(0, 3, 2, "4", NULL, &one_o);
	j = new_join(3, 2, &s, &conf);
	tap_ok(mqs_join_feed(j, 0, a, one, T0) == MQS_JOIN_PENDING &&
	           mqs_join_feed(j, 1, e + one_e, one_e, T0) == MQS_JOIN_PENDING &&
	           mqs_join_feed(j, 2, n4 + 2 * one4, one4, T0) == MQS_JOIN_PENDING &&
	           mqs_join_feed(j, 0, other, one_o, T0) == MQS_JOIN_PENDING_FULL,
	       "beyond max_pending_bytes: pending-full");
	tap_is_int((int)mqs_join_pending_bytes(j), (int)conf.max_pending_bytes,
	           "pending_bytes counts share bytes");
	mqs_join_free(j);
	free(a);
	free(e);
	free(n4);
	free(k3);
	free(other);
}

/* The attack of share body substitution (docs/medical.md, "Receiving"):
 * whoever holds k channels forwards a new record's shares with their
 * headers and tags but the bodies of an old record of the same length.
 * The old record's envelope is bound to its own id: it does not open under
 * the new id. */
static void test_substitution(void)
{
	struct seen s;
	struct mqs_join *j = new_join(3, 2, &s, NULL);
	uint8_t *r1, *r2;
	size_t one1, one2;
	uint64_t t = T0 + 120000;
	int r[4];

	r1 = make_shares(0, 3, 2, "give 10mg morphine", NULL, &one1);
	r2 = make_shares(0, 3, 2, "patient stable....", NULL, &one2);
	if (one1 != one2)
		exit(99);
	(void)mqs_join_feed(j, 0, r1, one1, T0);
	tap_is_int(mqs_join_feed(j, 1, r1 + one1, one1, T0 + 1), MQS_JOIN_RECORD,
	           "the old record is delivered once");
	(void)mqs_join_tick(j, t, NULL, NULL); /* its id is forgotten */
	for (unsigned x = 0; x < 2; x++)
		memcpy(r2 + x * one2 + MQS_SHARE_HDR_LEN, r1 + x * one1 + MQS_SHARE_HDR_LEN,
		       one1 - MQS_SHARE_OVERHEAD);
	r[0] = mqs_join_feed(j, 0, r2, one2, t);
	r[1] = mqs_join_feed(j, 1, r2 + one2, one2, t + 1);
	r[2] = mqs_join_feed(j, 2, r2 + 2 * one2, one2, t + 2); /* the honest share 3 */
	tap_ok(s.records == 1 && r[0] == MQS_JOIN_PENDING && r[1] == MQS_JOIN_PENDING &&
	           r[2] == MQS_JOIN_CORRUPT,
	       "old bodies under a new record's headers: not delivered (%s %s %s)",
	       mqs_join_result_name(r[0]), mqs_join_result_name(r[1]), mqs_join_result_name(r[2]));
	mqs_join_free(j);
	free(r1);
	free(r2);
	/* with enough honest channels the new record still completes */
	j = new_join(4, 2, &s, NULL);
	r1 = make_shares(0, 4, 2, "give 10mg morphine", NULL, &one1);
	r2 = make_shares(0, 4, 2, "patient stable....", NULL, &one2);
	for (unsigned x = 0; x < 2; x++)
		memcpy(r2 + x * one2 + MQS_SHARE_HDR_LEN, r1 + x * one1 + MQS_SHARE_HDR_LEN,
		       one1 - MQS_SHARE_OVERHEAD);
	for (unsigned x = 0; x < 4; x++)
		r[x] = mqs_join_feed(j, x, r2 + x * one2, one2, T0 + x);
	tap_ok(s.records == 1 && r[3] == MQS_JOIN_RECORD &&
	           memcmp(s.data, "patient stable", 14) == 0 &&
	           memcmp(s.id, r2 + 4, MQS_SHARE_ID_LEN) == 0,
	       "n 4, k 2, two substituted: the honest shares 3 and 4 give the new record");
	mqs_join_free(j);
	free(r1);
	free(r2);
}

/* Senders are kept apart: bob's share under alice's record id neither
 * joins, blocks nor makes late alice's record. */
static void test_cross_sender(void)
{
	struct seen s;
	struct mqs_join_conf conf;
	struct mqs_join *j;
	uint8_t *a, *b;
	size_t one_a, one_b;
	int r[3];

	memset(&conf, 0, sizeof(conf));
	conf.timeout_ms = 1000;
	j = new_join(3, 2, &s, &conf);
	a = make_shares(0, 3, 2, "alice's record", NULL, &one_a);
	b = make_shares(1, 3, 2, "bob's", a + 4, &one_b); /* alice's id, bob's key */
	r[0] = mqs_join_feed(j, 0, b, one_b, T0);
	r[1] = mqs_join_feed(j, 1, a + one_a, one_a, T0 + 1);
	r[2] = mqs_join_feed(j, 2, a + 2 * one_a, one_a, T0 + 2);
	tap_ok(r[0] == MQS_JOIN_PENDING && r[1] == MQS_JOIN_PENDING && r[2] == MQS_JOIN_RECORD &&
	           s.records == 1 && strcmp(s.sender, "alice") == 0,
	       "bob first under alice's id: alice's record still completes (%s %s %s)",
	       mqs_join_result_name(r[0]), mqs_join_result_name(r[1]), mqs_join_result_name(r[2]));
	mqs_join_free(j);
	/* bob's group expires first: alice's id is not remembered as late */
	j = new_join(3, 2, &s, &conf);
	(void)mqs_join_feed(j, 0, b, one_b, T0);
	(void)mqs_join_tick(j, T0 + 1000, NULL, NULL);
	r[0] = mqs_join_feed(j, 0, a, one_a, T0 + 1001);
	r[1] = mqs_join_feed(j, 1, a + one_a, one_a, T0 + 1002);
	tap_ok(r[0] == MQS_JOIN_PENDING && r[1] == MQS_JOIN_RECORD && s.records == 1 &&
	           strcmp(s.sender, "alice") == 0 && mqs_join_count(j, MQS_JOIN_LATE) == 0,
	       "bob's expired group does not make alice's shares late");
	tap_is_int(mqs_join_feed(j, 1, b + one_b, one_b, T0 + 1003), MQS_JOIN_LATE,
	           "bob's own id stays late for bob");
	mqs_join_free(j);
	free(a);
	free(b);
}

/* Per-channel quotas: channel 0 replays validly tagged old shares of
 * records that never complete; records over the other channels still
 * complete. */
static void test_channel_quota(void)
{
	struct seen s;
	struct mqs_join_conf conf;
	struct mqs_join *j;
	uint8_t tk[32], secret[1000], id[MQS_SHARE_ID_LEN] = {0};
	uint8_t sh[3 * (sizeof(secret) + MQS_SHARE_OVERHEAD)];
	size_t one = mqs_share_len(sizeof(secret));
	unsigned full = 0, pending = 0, done = 0;

	if (mqs_share_tag_key(keys[0].key, tk) != MQS_OK)
		exit(99);
	memset(secret, 0x5a, sizeof(secret));
	for (int round = 0; round < 2; round++) {
		memset(&conf, 0, sizeof(conf));
		if (round == 0)
			conf.max_pending = 30; /* 10 shares per channel */
		else
			conf.max_pending_bytes = 3 * 5 * sizeof(secret); /* 5 of them per channel */
		j = new_join(3, 2, &s, &conf);
		full = pending = done = 0;
		for (unsigned i = 0; i < 1000; i++) {
			int r;

			memcpy(id, &i, sizeof(i));
			id[15] = (uint8_t)round;
			if (mqs_share_split(secret, sizeof(secret), 3, 2, tk, id, NULL, sh,
			                    sizeof(sh)) != MQS_OK)
				exit(99);
			r = mqs_join_feed(j, 0, sh, one, T0 + i);
			if (r == MQS_JOIN_PENDING_FULL)
				full++;
			else if (r == MQS_JOIN_PENDING)
				pending++;
		}
		tap_ok(pending == (round == 0 ? 10 : 5) && full == 1000 - pending,
		       "%s: channel 0 holds its part only (%u pending, %u pending-full)",
		       round == 0 ? "max_pending 30" : "max_pending_bytes 15 shares", pending,
		       full);
		for (unsigned i = 0; i < 50; i++) {
			uint8_t *f;
			size_t onef;

			f = make_shares(0, 3, 2, "fresh record", NULL, &onef);
			if (mqs_join_feed(j, 1, f + onef, onef, T0 + 2000 + i) ==
			        MQS_JOIN_PENDING &&
			    mqs_join_feed(j, 2, f + 2 * onef, onef, T0 + 2000 + i) ==
			        MQS_JOIN_RECORD)
				done++;
			free(f);
		}
		tap_ok(done == 50 && s.records == 50,
		       "fresh records over channels 2 and 3 all complete (%u of 50)", done);
		mqs_join_free(j);
	}
}

/* k+1 shares with one tampered: the other k-subsets are tried. */
static void test_subsets_and_corrupt(void)
{
	struct seen s;
	struct mqs_join *j = new_join(4, 3, &s, NULL);
	uint8_t *a;
	size_t one;
	int r[4];

	a = make_shares(0, 4, 3, "tampered on channel 2", NULL, &one);
	a[one + MQS_SHARE_HDR_LEN + 3] ^= 0x11; /* share 2's body: its tag still verifies */
	r[0] = mqs_join_feed(j, 0, a, one, T0);
	r[1] = mqs_join_feed(j, 1, a + one, one, T0);
	r[2] = mqs_join_feed(j, 2, a + 2 * one, one, T0);
	tap_ok(r[0] == MQS_JOIN_PENDING && r[1] == MQS_JOIN_PENDING && r[2] == MQS_JOIN_PENDING &&
	           s.records == 0,
	       "k shares with a tampered one do not open: still pending");
	r[3] = mqs_join_feed(j, 3, a + 3 * one, one, T0);
	tap_ok(r[3] == MQS_JOIN_RECORD && s.records == 1 && s.len == 21 &&
	           memcmp(s.data, "tampered on channel 2", 21) == 0,
	       "the fourth share: another subset opens");
	free(a);
	/* corrupt: two of three tampered, no subset opens */
	mqs_join_free(j);
	j = new_join(3, 2, &s, NULL);
	a = make_shares(0, 3, 2, "two bad shares", NULL, &one);
	a[MQS_SHARE_HDR_LEN] ^= 1;
	a[one + MQS_SHARE_HDR_LEN + 1] ^= 1;
	r[0] = mqs_join_feed(j, 0, a, one, T0);
	r[1] = mqs_join_feed(j, 1, a + one, one, T0);
	r[2] = mqs_join_feed(j, 2, a + 2 * one, one, T0);
	tap_ok(r[0] == MQS_JOIN_PENDING && r[1] == MQS_JOIN_PENDING && r[2] == MQS_JOIN_CORRUPT &&
	           s.records == 0,
	       "all n held, none opens: corrupt");
	tap_ok(mqs_join_pending(j) == 0 && mqs_join_pending_bytes(j) == 0 &&
	           mqs_join_count(j, MQS_JOIN_CORRUPT) == 1,
	       "the corrupt group is dropped and counted");
	tap_is_int(mqs_join_feed(j, 0, a, one, T0 + 1), MQS_JOIN_LATE,
	           "a share of the corrupt record afterwards is late");
	free(a);
	mqs_join_free(j);
}

/* incomplete via tick, and late after expiry. */
static void test_incomplete(void)
{
	struct seen s;
	struct mqs_join_conf conf;
	struct mqs_join *j;
	uint8_t *a, *b;
	size_t one, one_b;
	uint64_t next;

	memset(&conf, 0, sizeof(conf));
	conf.timeout_ms = 1000;
	j = new_join(3, 3, &s, &conf);
	a = make_shares(0, 3, 3, "never whole", NULL, &one);
	b = make_shares(1, 3, 3, "younger one", NULL, &one_b);
	tap_is_int(mqs_join_tick(j, T0, on_expired, &s), 0, "tick with nothing pending is 0");
	(void)mqs_join_feed(j, 0, a, one, T0);
	(void)mqs_join_feed(j, 1, b + one_b, one_b, T0 + 500);
	(void)mqs_join_feed(j, 2, b + 2 * one_b, one_b, T0 + 600);
	next = mqs_join_tick(j, T0 + 999, on_expired, &s);
	tap_ok(next == T0 + 1000 && s.expired == 0,
	       "before the timeout nothing expires (next %llu)", (unsigned long long)next);
	next = mqs_join_tick(j, T0 + 1000, on_expired, &s);
	tap_ok(s.expired == 1 && s.have == 1 && s.need == 3 && memcmp(s.id, a + 4, 16) == 0 &&
	           next == T0 + 1500,
	       "the old group expires: incomplete, have 1, need 3");
	tap_ok(mqs_join_count(j, MQS_JOIN_INCOMPLETE) == 1 && mqs_join_pending(j) == 1 &&
	           mqs_join_pending_bytes(j) == 2 * (one_b - MQS_SHARE_OVERHEAD),
	       "counted; the younger group stays");
	tap_is_int(mqs_join_feed(j, 1, a + one, one, T0 + 1001), MQS_JOIN_LATE,
	           "a share of an expired record is late");
	(void)mqs_join_tick(j, T0 + 1500, on_expired, &s);
	tap_ok(s.expired == 2 && s.have == 2 && mqs_join_pending(j) == 0 &&
	           mqs_join_pending_bytes(j) == 0,
	       "the second expires with have 2");
	free(a);
	free(b);
	mqs_join_free(j);
}

/* 100k record ids under a valid key: memory stays bounded. */
static void test_flood(void)
{
	struct seen s;
	struct mqs_join_conf conf;
	struct mqs_join *j;
	uint8_t tk[32], secret[100], id[MQS_SHARE_ID_LEN] = {0};
	uint8_t sh[3 * (100 + MQS_SHARE_OVERHEAD)];
	size_t one = mqs_share_len(sizeof(secret)), max_seen = 0, max_bytes = 0;
	unsigned full = 0, pending = 0, other = 0;

	memset(&conf, 0, sizeof(conf));
	conf.max_pending = 1000;
	conf.max_pending_bytes = 50000; /* 500 shares of 100 bytes */
	conf.timeout_ms = 10000;
	j = new_join(3, 2, &s, &conf);
	memset(secret, 0x33, sizeof(secret));
	if (mqs_share_tag_key(keys[0].key, tk) != MQS_OK)
		exit(99);
	for (unsigned i = 0; i < 100000; i++) {
		int r;

		memcpy(id, &i, sizeof(i));
		if (mqs_share_split(secret, sizeof(secret), 3, 2, tk, id, NULL, sh, sizeof(sh)) !=
		    MQS_OK)
			exit(99);
		r = mqs_join_feed(j, i % 3, sh + (i % 3) * one, one, T0 + i);
		if (r == MQS_JOIN_PENDING_FULL)
			full++;
		else if (r == MQS_JOIN_PENDING)
			pending++;
		else
			other++;
		if (mqs_join_pending(j) > max_seen)
			max_seen = mqs_join_pending(j);
		if (mqs_join_pending_bytes(j) > max_bytes)
			max_bytes = mqs_join_pending_bytes(j);
		if (i % 1000 == 0)
			(void)mqs_join_tick(j, T0 + i, NULL, NULL);
	}
	tap_ok(max_seen <= 1000 && max_bytes <= 50000 && full > 0 && other == 0,
	       "100k bogus ids: at most %zu groups, %zu bytes held (%u pending, %u pending-full)",
	       max_seen, max_bytes, pending, full);
	(void)mqs_join_tick(j, T0 + 200000, NULL, NULL);
	tap_ok(mqs_join_pending(j) == 0 && mqs_join_pending_bytes(j) == 0,
	       "all expire once the timeout is past");
	mqs_join_free(j);
}

static void test_api(void)
{
	struct mqs_join_conf conf;
	struct mqs_join *j = NULL;

	memset(&conf, 0, sizeof(conf));
	mqs_join_conf_defaults(&conf);
	tap_ok(conf.timeout_ms == 60000 && conf.max_pending == 10000 &&
	           conf.max_record == 1024 * 1024 && conf.max_pending_bytes == 64u * 1024 * 1024,
	       "defaults: 60 s, 10,000 groups, 1 MiB, 64 MiB");
	conf.n = 3;
	conf.k = 4;
	tap_is_int(mqs_join_new(&conf, keys, 2, NULL, NULL, &j), MQS_ERR_INVAL, "k > n refused");
	conf.k = 1;
	tap_is_int(mqs_join_new(&conf, keys, 2, NULL, NULL, &j), MQS_ERR_INVAL, "k 1 refused");
	conf.n = 9;
	conf.k = 2;
	tap_is_int(mqs_join_new(&conf, keys, 2, NULL, NULL, &j), MQS_ERR_INVAL, "n 9 refused");
	conf.n = 3;
	tap_is_int(mqs_join_new(&conf, keys, 0, NULL, NULL, &j), MQS_ERR_INVAL, "no keys refused");
	tap_is_int(mqs_join_new(&conf, keys, 65, NULL, NULL, &j), MQS_ERR_INVAL, "65 keys refused");
	tap_ok(j == NULL, "nothing handed back on failure");
	mqs_join_free(NULL);
	tap_ok(strcmp(mqs_join_result_name(MQS_JOIN_PENDING_FULL), "pending-full") == 0 &&
	           strcmp(mqs_join_result_name(MQS_JOIN_INCOMPLETE), "incomplete") == 0 &&
	           strcmp(mqs_join_result_name(MQS_JOIN_BAD_HEADER), "bad-header") == 0 &&
	           strcmp(mqs_join_result_name(99), "?") == 0,
	       "result names");
}

int main(void)
{
	const char *names[3] = {"alice", "bob", "eve"};

	for (int i = 0; i < 3; i++) {
		snprintf(keys[i].name, sizeof(keys[i].name), "%s", names[i]);
		keys[i].id = 100 + (uint32_t)i;
		for (unsigned b = 0; b < MQS_ENVELOPE_KEY_LEN; b++)
			keys[i].key[b] = (uint8_t)(b * 13 + i);
	}
	test_basic_and_senders();
	test_drops();
	test_subsets_and_corrupt();
	test_incomplete();
	test_flood();
	test_substitution();
	test_cross_sender();
	test_channel_quota();
	test_api();
	tap_done();
	return tap_exit();
}
