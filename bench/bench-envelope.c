/* SPDX-License-Identifier: BSD-3-Clause */
/* bench-envelope.c - envelope v1 throughput: seal, open, and the broker's
 * re-seal (open with the device key, seal with the topic key and an origin)
 * and the per-device downlink re-seal (the same with a key derived per
 * message, HKDF(device key, "mqttsec-downlink-v1" | topic)) at 256 B, 16 KiB and 256 KiB payloads.
 * Each case runs for about BENCH_SECONDS (default 1.5 s, env MQS_BENCH_SECONDS overrides). Built by
 * `make bench`; not part of `make check`. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_kdf.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum op { OP_SEAL, OP_OPEN, OP_RESEAL, OP_DOWNLINK };

struct bufs {
	uint8_t dev_key[MQS_ENVELOPE_KEY_LEN];
	uint8_t topic_key[MQS_ENVELOPE_KEY_LEN];
	uint8_t *plain, *env, *env2, *out;
	size_t plain_len, env_len, cap;
};

static const char topic[] = "sensors/dev1/temp";

/* Run op once; exit on any failure (a benchmark of a broken path is void). */
static void run_once(enum op op, struct bufs *b)
{
	uint8_t dl[MQS_KDF_KEY_LEN];
	size_t n = 0, m = 0;
	int rc = MQS_OK;

	switch (op) {
	case OP_SEAL:
		rc = mqs_envelope_seal(b->dev_key, 17, 1700000000000ull, NULL, NULL, 0, topic,
		                       sizeof(topic) - 1, b->plain, b->plain_len, b->env2, b->cap,
		                       &n);
		break;
	case OP_OPEN:
		rc = mqs_envelope_open(b->dev_key, 17, b->env, b->env_len, topic, sizeof(topic) - 1,
		                       b->out, b->cap, &n, NULL);
		break;
	case OP_RESEAL:
		rc = mqs_envelope_open(b->dev_key, 17, b->env, b->env_len, topic, sizeof(topic) - 1,
		                       b->out, b->cap, &n, NULL);
		if (rc == MQS_OK)
			rc = mqs_envelope_seal(b->topic_key, 42, 1700000000000ull, NULL, "dev1", 4,
			                       topic, sizeof(topic) - 1, b->out, n, b->env2, b->cap,
			                       &m);
		break;
	case OP_DOWNLINK: /* reseal for a per-device filter: HKDF per message */
		rc = mqs_envelope_open(b->dev_key, 17, b->env, b->env_len, topic, sizeof(topic) - 1,
		                       b->out, b->cap, &n, NULL);
		if (rc == MQS_OK)
			rc = mqs_kdf_downlink(b->topic_key, topic, sizeof(topic) - 1, dl);
		if (rc == MQS_OK)
			rc = mqs_envelope_seal(dl, 43, 1700000000000ull, NULL, "dev1", 4, topic,
			                       sizeof(topic) - 1, b->out, n, b->env2, b->cap, &m);
		break;
	}
	if (rc != MQS_OK) {
		fprintf(stderr, "bench-envelope: operation failed: %s\n", mqs_strerror(rc));
		exit(1);
	}
}

/* Time op for about secs seconds; return seconds per operation. */
static double time_op(enum op op, struct bufs *b, double secs, unsigned long *count)
{
	unsigned long n = 0, batch = 1;
	double t0 = now_s(), el;

	do {
		for (unsigned long i = 0; i < batch; i++)
			run_once(op, b);
		n += batch;
		el = now_s() - t0;
		if (batch < 1024)
			batch *= 2;
	} while (el < secs);
	*count = n;
	return el / (double)n;
}

int main(void)
{
	const size_t sizes[] = {256, 16 * 1024, 256 * 1024};
	const char *names[] = {"256 B", "16 KiB", "256 KiB"};
	const char *env_secs = getenv("MQS_BENCH_SECONDS");
	double secs = env_secs != NULL ? atof(env_secs) : 1.5;
	struct bufs b;

	if (secs <= 0)
		secs = 1.5;
	memset(&b, 0, sizeof(b));
	b.cap = MQS_ENVELOPE_MAX_LEN;
	b.plain = malloc(MQS_ENVELOPE_PLAIN_MAX);
	b.env = malloc(b.cap);
	b.env2 = malloc(b.cap);
	b.out = malloc(b.cap);
	if (b.plain == NULL || b.env == NULL || b.env2 == NULL || b.out == NULL ||
	    RAND_bytes(b.dev_key, sizeof(b.dev_key)) != 1 ||
	    RAND_bytes(b.topic_key, sizeof(b.topic_key)) != 1 ||
	    RAND_bytes(b.plain, MQS_ENVELOPE_PLAIN_MAX) != 1) {
		fprintf(stderr, "bench-envelope: cannot set up buffers\n");
		return 1;
	}
	printf("envelope v1 (AES-256-GCM), %.1f s per case\n", secs);
	printf("%-8s %-7s %12s %10s %12s\n", "payload", "op", "messages/s", "MB/s", "us/message");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		const char *ops[] = {"seal", "open", "reseal", "downlnk"};
		b.plain_len = sizes[i];
		if (mqs_envelope_seal(b.dev_key, 17, 1700000000000ull, NULL, NULL, 0, topic,
		                      sizeof(topic) - 1, b.plain, b.plain_len, b.env, b.cap,
		                      &b.env_len) != MQS_OK) {
			fprintf(stderr, "bench-envelope: cannot seal\n");
			return 1;
		}
		for (int op = OP_SEAL; op <= OP_DOWNLINK; op++) {
			unsigned long n;
			double per = time_op((enum op)op, &b, secs, &n);
			printf("%-8s %-7s %12.0f %10.1f %12.2f\n", names[i], ops[op], 1.0 / per,
			       (double)sizes[i] / per / 1e6, per * 1e6);
			fflush(stdout);
		}
	}
	printf("MB/s counts plaintext bytes (10^6); reseal = open with the device key + seal "
	       "with the topic key and origin, the broker's cost per protected PUBLISH; "
	       "downlnk = reseal with HKDF(device key, topic) derived per message (a per-device "
	       "filter).\n");
	free(b.plain);
	free(b.env);
	free(b.env2);
	free(b.out);
	return 0;
}
