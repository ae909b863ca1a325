/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-import.c - libFuzzer target for the policy import format of
 * `mqttsec-acl import` (mqsa_import; docs/acl.md, "Export and import") on
 * a temporary database (in /dev/shm when there is one) with two enrolled
 * devices, sensor-1 and sensor-2, and a fixed clock.
 *
 * Input: byte 0 bit 0 = --replace; the rest is the file.  The same text is
 * imported with --dry-run, then for real: both give the same result (the
 * status, the failing line, the counts); a refused import changes nothing
 * (the export's counts are those before); a dry run never changes
 * anything. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqs_error.h"
#include "mqs_totp.h"
#include "mqsa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mqsa_ctx *ctx;
static char dir[64];

/* Remove the temporary database at exit. */
static void cleanup(void)
{
	static const char *const files[] = {"db.sqlite", "db.sqlite-wal", "db.sqlite-shm",
	                                    "db.sqlite-journal", "master.key"};
	char path[128];

	mqsa_ctx_close(ctx);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

/* Deliver credentials nowhere. */
static enum mqs_err deliver_none(const char *json, void *arg, char *why)
{
	(void)json;
	(void)arg;
	(void)why;
	return MQS_OK;
}

/* A temporary database with two devices; aborts on failure. */
static void setup(void)
{
	struct mqsa_init_result ir;
	struct mqsa_deliver dl = {deliver_none, NULL};
	struct mqs_totp_params p;
	char db[128], key[128], why[512];

	snprintf(dir, sizeof(dir), "%s/fuzz-import.XXXXXX",
	         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(db, sizeof(db), "%s/db.sqlite", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	mqs_totp_params_default(&p);
	if (mqsa_ctx_open(db, key, "fuzz", &ctx) != MQS_OK || mqsa_init(ctx, &ir, why) != MQS_OK ||
	    mqsa_device_add(ctx, "sensor-1", &p, &dl, NULL, why) != MQS_OK ||
	    mqsa_device_add(ctx, "sensor-2", &p, &dl, NULL, why) != MQS_OK) {
		fprintf(stderr, "fuzz-import set-up failed\n");
		abort();
	}
	mqsa_ctx_set_now(ctx, 1800000000);
}

/* Count nothing. */
static enum mqs_err each_item(const struct mqsa_export_item *it, void *arg)
{
	(void)it;
	(void)arg;
	return MQS_OK;
}

/* The export's counts into n. */
static void counts(long long n[4])
{
	char why[512];

	memset(n, 0, 4 * sizeof(n[0]));
	if (mqsa_export(ctx, each_item, NULL, n, why) != MQS_OK)
		abort();
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqsa_import_result dry, real;
	char why[512];
	char *a = NULL, *b = NULL;
	long long before[4], after[4];
	enum mqs_err rd, rr;
	int replace;

	if (size < 1 || size > 8192 || memchr(data + 1, '\0', size - 1) != NULL)
		return 0;
	if (ctx == NULL)
		setup();
	replace = data[0] & 1;
	a = malloc(size);
	b = malloc(size);
	if (a == NULL || b == NULL)
		goto out;
	memcpy(a, data + 1, size - 1);
	a[size - 1] = '\0';
	memcpy(b, a, size);
	counts(before);
	memset(&dry, 0, sizeof(dry));
	memset(&real, 0, sizeof(real));
	rd = mqsa_import(ctx, a, size - 1, "fuzz", replace, 1, &dry, why);
	counts(after);
	if (memcmp(before, after, sizeof(before)) != 0)
		abort(); /* a dry run changed the policy */
	rr = mqsa_import(ctx, b, size - 1, "fuzz", replace, 0, &real, why);
	if (rd != rr || dry.line != real.line)
		abort();
	if (rr == MQS_OK && memcmp(&dry, &real, sizeof(dry)) != 0)
		abort();
	counts(after);
	if (rr != MQS_OK && memcmp(before, after, sizeof(before)) != 0)
		abort(); /* all or nothing */
out:
	free(a);
	free(b);
	return 0;
}
