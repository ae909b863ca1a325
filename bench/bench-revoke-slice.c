/* SPDX-License-Identifier: BSD-3-Clause */
/* bench-revoke-slice.c - the broker thread's share of "revoking rotates"
 * after an allow entry expired (docs/payload-encryption.md, "Revoking
 * rotates"; figures in docs/PERFORMANCE.md): the whole rule in one go
 * (mqs_revoke_check, what the plugin ran on one tick before) against the
 * plugin's pass in slices (mqs_revoke_check_slice), each slice in its own
 * transaction as broker-plugin/rotate.c runs it.  Nothing is rotated
 * (every transaction of the one-go run is rolled back; run it on a fleet
 * where every holder may still read, as bench/bench-revoke.sh builds).
 *
 *   bench-revoke-slice DB SLICE RUNS
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sqlite3.h>

#include "mqs_revoke.h"

/* Monotonic milliseconds. */
static double ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	sqlite3 *db = NULL;
	char err[512];
	unsigned slice, runs, n = 0;
	int64_t now = (int64_t)time(NULL);
	int rc = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: bench-revoke-slice DB SLICE RUNS\n");
		return 64;
	}
	slice = (unsigned)strtoul(argv[2], NULL, 10);
	runs = (unsigned)strtoul(argv[3], NULL, 10);
	if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "cannot open %s: %s\n", argv[1], sqlite3_errmsg(db));
		goto out;
	}
	for (unsigned r = 0; r < runs; r++) {
		double t0, whole, longest = 0, total = 0;
		unsigned slices = 0;
		char *after = NULL, *next = NULL;

		t0 = ms_now();
		sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (mqs_revoke_check(db, NULL, now, now, "bench", &n, err, sizeof(err)) != MQS_OK) {
			fprintf(stderr, "revoke check failed: %s\n", err);
			goto out;
		}
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		whole = ms_now() - t0;
		do {
			double s0 = ms_now(), took;

			sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
			if (mqs_revoke_check_slice(db, NULL, now, now, "bench", after, slice, &next,
			                           &n, err, sizeof(err)) != MQS_OK) {
				fprintf(stderr, "revoke slice failed: %s\n", err);
				free(after);
				goto out;
			}
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
			took = ms_now() - s0;
			total += took;
			if (took > longest)
				longest = took;
			slices++;
			free(after);
			after = next;
		} while (after != NULL);
		printf("run %u: one go %.1f ms; %u slices of %u holders: longest %.1f ms, all %.1f "
		       "ms\n",
		       r + 1, whole, slices, slice, longest, total);
	}
	rc = 0;
out:
	sqlite3_close(db);
	return rc;
}
