/* SPDX-License-Identifier: BSD-3-Clause */
/* bench-share.c - medical k-of-n records (docs/medical.md): throughput of
 *  - split: seal the record with the record key, frame it, split it into n
 *    tagged shares (mqs_share_record_seal + mqs_share_split), what a sender
 *    does per record;
 *  - join: feed k shares to an mqs_join (structure, tag check with the
 *    record key, copy), combine them and open the record (mqs_join_feed),
 *    what a receiver does per record;
 * for records of 1 KiB, 64 KiB and the largest that fits one channel
 * envelope, with n=3,k=2 and n=5,k=3; and, as the reference, envelope v1
 * seal + open of the same record alone.  Each case runs for about
 * MQS_BENCH_SECONDS (default 1 s).  Built by `make bench`; not part of
 * `make check`. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_join.h"
#include "mqs_share.h"
#include "mqs_util.h"

static const char topic[] = "clinic/7/record";

struct bench {
	struct mqs_join_key key;
	uint8_t tag_key[32];
	uint8_t *plain, *shares, *env, *out;
	size_t plain_len, cap, one;
	unsigned n, k;
	struct mqs_join *join;
	uint64_t now;
	unsigned long records;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench-share: %s failed: %s\n", what, mqs_strerror(rc));
	exit(1);
}

static void on_record(void *arg, const struct mqs_join_record *r)
{
	struct bench *b = arg;

	if (r->len != b->plain_len)
		die("record length", MQS_ERR_INVAL);
	b->records++;
}

/* Seal and split one record into b->shares. */
static void do_split(struct bench *b)
{
	uint8_t *secret = NULL, id[MQS_SHARE_ID_LEN];
	size_t slen = 0;
	int rc;

	if (RAND_bytes(id, sizeof(id)) != 1)
		die("record id", MQS_ERR_CRYPTO);
	rc = mqs_share_record_seal(b->key.key, b->key.id, id, topic, "gw-a", b->plain, b->plain_len,
	                           &secret, &slen);
	if (rc != MQS_OK)
		die("record seal", rc);
	b->one = mqs_share_len(slen);
	rc = mqs_share_split(secret, slen, b->n, b->k, b->tag_key, id, NULL, b->shares, b->cap);
	if (rc != MQS_OK)
		die("split", rc);
	mqs_secret_free(secret, slen);
}

/* Feed k of the shares in b->shares (the last k); the record completes.
 * The clock then moves past the timeout and a tick forgets the id, so the
 * same shares can be fed again. */
static void do_join(struct bench *b)
{
	unsigned long before = b->records;

	for (unsigned i = b->n - b->k; i < b->n; i++) {
		int r = mqs_join_feed(b->join, i, b->shares + i * b->one, b->one, b->now);

		if (r != (i + 1 == b->n ? MQS_JOIN_RECORD : MQS_JOIN_PENDING))
			die(mqs_join_result_name(r), MQS_ERR_INVAL);
	}
	b->now += 61000;
	(void)mqs_join_tick(b->join, b->now, NULL, NULL);
	if (b->records != before + 1)
		die("join", MQS_ERR_INVAL);
}

/* Envelope seal + open of the record alone. */
static void do_envelope(struct bench *b)
{
	size_t elen = 0, olen = 0;
	int rc;

	rc = mqs_envelope_seal(b->key.key, b->key.id, mqs_now_ms(), NULL, "gw-a", 4, topic,
	                       sizeof(topic) - 1, b->plain, b->plain_len, b->env,
	                       MQS_ENVELOPE_MAX_LEN, &elen);
	if (rc != MQS_OK)
		die("envelope seal", rc);
	rc = mqs_envelope_open(b->key.key, b->key.id, b->env, elen, topic, sizeof(topic) - 1,
	                       b->out, MQS_ENVELOPE_PLAIN_MAX, &olen, NULL);
	if (rc != MQS_OK)
		die("envelope open", rc);
}

/* Seconds per call of fn over about secs seconds. */
static double time_op(void (*fn)(struct bench *), struct bench *b, double secs)
{
	unsigned long n = 0, batch = 1;
	double t0 = now_s(), el;

	do {
		for (unsigned long i = 0; i < batch; i++)
			fn(b);
		n += batch;
		el = now_s() - t0;
		if (batch < 256)
			batch *= 2;
	} while (el < secs);
	return el / (double)n;
}

static void row(const char *size, const char *nk, const char *op, size_t len, double per)
{
	printf("%-12s %-6s %-16s %10.0f %10.1f %12.1f\n", size, nk, op, 1.0 / per,
	       (double)len / per / 1e6, per * 1e6);
	fflush(stdout);
}

int main(void)
{
	/* the largest record: secret = 2 + topic + envelope (origin "gw-a") */
	const size_t max_plain =
	    MQS_SHARE_SECRET_SEND_MAX - 2 - (sizeof(topic) - 1) - MQS_ENVELOPE_MIN_LEN - 4;
	const size_t sizes[] = {1024, 64 * 1024, max_plain};
	const unsigned nks[][2] = {{3, 2}, {5, 3}};
	const char *env_secs = getenv("MQS_BENCH_SECONDS");
	double secs = env_secs != NULL ? atof(env_secs) : 1.0;
	char names[3][32];
	struct bench b;

	if (secs <= 0)
		secs = 1.0;
	snprintf(names[0], sizeof(names[0]), "1 KiB");
	snprintf(names[1], sizeof(names[1]), "64 KiB");
	snprintf(names[2], sizeof(names[2]), "1 MiB - %zu", (size_t)(1024 * 1024) - max_plain);
	memset(&b, 0, sizeof(b));
	snprintf(b.key.name, sizeof(b.key.name), "ward-a");
	b.key.id = 41;
	b.cap = 5 * mqs_share_len(MQS_SHARE_SECRET_SEND_MAX);
	b.plain = malloc(MQS_ENVELOPE_PLAIN_MAX);
	b.shares = malloc(b.cap);
	b.env = malloc(MQS_ENVELOPE_MAX_LEN);
	b.out = malloc(MQS_ENVELOPE_PLAIN_MAX);
	if (b.plain == NULL || b.shares == NULL || b.env == NULL || b.out == NULL ||
	    RAND_bytes(b.key.key, sizeof(b.key.key)) != 1 ||
	    RAND_bytes(b.plain, MQS_ENVELOPE_PLAIN_MAX) != 1 ||
	    mqs_share_tag_key(b.key.key, b.tag_key) != MQS_OK) {
		fprintf(stderr, "bench-share: cannot set up buffers\n");
		return 1;
	}
	printf("medical k-of-n records (libgfshare, HMAC tags, envelope v1), %.1f s per case\n",
	       secs);
	printf("%-12s %-6s %-16s %10s %10s %12s\n", "record", "n/k", "op", "records/s", "MB/s",
	       "us/record");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		b.plain_len = sizes[i];
		for (size_t c = 0; c < sizeof(nks) / sizeof(nks[0]); c++) {
			struct mqs_join_conf conf;
			char nk[8];
			int rc;

			b.n = nks[c][0];
			b.k = nks[c][1];
			snprintf(nk, sizeof(nk), "%u/%u", b.n, b.k);
			row(names[i], nk, "split", sizes[i], time_op(do_split, &b, secs));
			memset(&conf, 0, sizeof(conf));
			conf.n = b.n;
			conf.k = b.k;
			rc = mqs_join_new(&conf, &b.key, 1, on_record, &b, &b.join);
			if (rc != MQS_OK)
				die("join new", rc);
			b.now = 1000000;
			row(names[i], nk, "join", sizes[i], time_op(do_join, &b, secs));
			mqs_join_free(b.join);
			b.join = NULL;
		}
		row(names[i], "-", "envelope seal+open", sizes[i], time_op(do_envelope, &b, secs));
	}
	printf("MB/s counts record bytes (10^6).  split = record seal + split into n tagged "
	       "shares; join = feed k shares (tag checks, copies) + combine + record open.\n");
	free(b.plain);
	free(b.shares);
	free(b.env);
	free(b.out);
	return 0;
}
