/* SPDX-License-Identifier: BSD-3-Clause */
/* bench-sms.c - the cost of the secure SMS envelope M1 per message
 * (docs/sms-envelope.md): seal, open, and what the gateway does per SMS
 * delivery (unwrap the recipient's key from the store under the master key,
 * then seal), for texts of 81 bytes (one SMS), 300 bytes and 1161 bytes (the
 * 1600-character limit).  The reference in the same run is envelope v1
 * sealing the same text (mqs_envelope_seal, the MQTT payload envelope).
 * Each case runs for about MQS_BENCH_SECONDS (default 1.5 s).  Built by
 * `make bench`; not part of `make check`. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_master_key.h"
#include "mqs_sms.h"

enum op { OP_REF, OP_SEAL, OP_OPEN, OP_GATEWAY };

static const char *const op_names[] = {"env-v1 seal (ref)", "m1 seal", "m1 open", "m1 unwrap+seal"};

struct ctx {
	uint8_t key[32], mk[MQS_MASTER_KEY_LEN];
	uint8_t wrapped[32 + MQS_WRAP_OVERHEAD];
	size_t wrapped_len;
	char text[MQS_SMS_TEXT_MAX + 1];
	size_t text_len;
	char body[MQS_SMS_BODY_MAX + 1];
	size_t body_len;
	uint8_t env[MQS_SMS_BODY_MAX + 64];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run op once; exit on any failure (a benchmark of a broken path is void). */
static void run_once(enum op op, struct ctx *c)
{
	static struct mqs_sms_msg m;
	char out[MQS_SMS_BODY_MAX + 1];
	uint8_t k[32];
	size_t n = 0;
	int rc = MQS_OK;

	switch (op) {
	case OP_REF:
		rc = mqs_envelope_seal(c->key, 1, 1700000000000ull, NULL, NULL, 0, "sms/alerts", 10,
		                       (const uint8_t *)c->text, c->text_len, c->env,
		                       sizeof(c->env), &n);
		break;
	case OP_SEAL:
		rc = mqs_sms_seal(c->key, 1, 1767225600u, NULL, "+15551234567", 12, 1, "alerts", 6,
		                  c->text, c->text_len, out, sizeof(out), &n);
		break;
	case OP_OPEN:
		rc = mqs_sms_open(c->key, c->body, c->body_len, "+15551234567", 12, &m);
		break;
	case OP_GATEWAY:
		rc = mqs_wrap_open(c->mk, "sms-key:1:1", c->wrapped, c->wrapped_len, k, sizeof(k),
		                   &n);
		if (rc == MQS_OK)
			rc = mqs_sms_seal(k, 1, 1767225600u, NULL, "+15551234567", 12, 1, "alerts",
			                  6, c->text, c->text_len, out, sizeof(out), &n);
		break;
	}
	if (rc != MQS_OK) {
		fprintf(stderr, "bench-sms: %s failed: %s\n", op_names[op], mqs_strerror(rc));
		exit(1);
	}
}

/* Microseconds per op, running for about secs. */
static double measure(enum op op, struct ctx *c, double secs)
{
	double t0 = now_s(), t;
	unsigned long n = 0;

	do {
		for (int i = 0; i < 64; i++)
			run_once(op, c);
		n += 64;
		t = now_s() - t0;
	} while (t < secs);
	return t * 1e6 / (double)n;
}

int main(void)
{
	static struct ctx c;
	static const size_t sizes[] = {81 - 6, 300 - 6, MQS_SMS_TEXT_MAX - 6};
	const char *env = getenv("MQS_BENCH_SECONDS");
	double secs = env != NULL ? atof(env) : 1.5;

	if (secs <= 0)
		secs = 1.5;
	if (RAND_bytes(c.key, sizeof(c.key)) != 1 || RAND_bytes(c.mk, sizeof(c.mk)) != 1 ||
	    mqs_wrap_seal(c.mk, "sms-key:1:1", c.key, sizeof(c.key), c.wrapped, sizeof(c.wrapped),
	                  &c.wrapped_len) != MQS_OK) {
		fprintf(stderr, "bench-sms: setup failed\n");
		return 1;
	}
	printf("%-6s %-6s %-20s %10s %8s\n", "text", "chars", "operation", "us/msg", "x ref");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double ref = 0;

		c.text_len = sizes[s];
		memset(c.text, 'x', c.text_len);
		c.text[c.text_len] = '\0';
		if (mqs_sms_seal(c.key, 1, 1767225600u, NULL, "+15551234567", 12, 1, "alerts", 6,
		                 c.text, c.text_len, c.body, sizeof(c.body),
		                 &c.body_len) != MQS_OK) {
			fprintf(stderr, "bench-sms: seal failed\n");
			return 1;
		}
		for (int op = OP_REF; op <= OP_GATEWAY; op++) {
			double us = measure((enum op)op, &c, secs);

			if (op == OP_REF)
				ref = us;
			printf("%-6zu %-6zu %-20s %10.2f %8.2f\n", c.text_len + 6, c.body_len,
			       op_names[op], us, us / ref);
		}
	}
	return 0;
}
