/* SPDX-License-Identifier: BSD-3-Clause */
/* protect-many.c - a test-only command: protect the topic filters
 * PREFIX/1/# .. PREFIX/N/# through the admin library (mqsa_topic_protect,
 * the operation of "mqttsec-acl topic protect", each in its own transaction
 * with its audit row), in one process: tests/integration/110-plugin-keypush-
 * filter-cap.sh needs over 1,024 protected filters, and one mqttsec-acl
 * process per filter takes minutes on a busy machine.
 *
 *   protect-many DB MASTER_KEY PREFIX N
 *
 * Exit status 0, 1 when a filter could not be protected (the reason on
 * stderr), 2 on usage errors.  Not installed. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "mqs_error.h"
#include "mqsa.h"

#define PROTECT_MAX 100000

int main(int argc, char **argv)
{
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_topic_protected res;
	char why[MQSA_WHY_MAX];
	char filter[256];
	char *end = NULL;
	long n;
	int ex = 2;

	if (argc != 5) {
		fprintf(stderr, "usage: protect-many DB MASTER_KEY PREFIX N\n");
		goto out;
	}
	n = strtol(argv[4], &end, 10);
	if (end == argv[4] || *end != '\0' || n < 1 || n > PROTECT_MAX) {
		fprintf(stderr, "protect-many: N must be 1..%d\n", PROTECT_MAX);
		goto out;
	}
	ex = 1;
	if (mqsa_ctx_open(argv[1], argv[2], "protect-many", &ctx) != MQS_OK) {
		fprintf(stderr, "protect-many: cannot open %s with %s\n", argv[1], argv[2]);
		goto out;
	}
	for (long i = 1; i <= n; i++) {
		if (snprintf(filter, sizeof(filter), "%s/%ld/#", argv[3], i) >=
		    (int)sizeof(filter)) {
			fprintf(stderr, "protect-many: prefix too long\n");
			goto out;
		}
		why[0] = '\0';
		if (mqsa_topic_protect(ctx, filter, NULL, &res, why) != MQS_OK) {
			fprintf(stderr, "protect-many: cannot protect %s: %s\n", filter, why);
			goto out;
		}
	}
	ex = 0;
out:
	mqsa_ctx_close(ctx);
	return ex;
}
