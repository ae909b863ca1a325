/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-keyfiles.c - libFuzzer target for the key files not covered by
 * fuzz-creds: the keys files of `mqttsec-device -K` and record key exports
 * (mqs_creds_parse_keys, mqs_creds_load_keys; docs/acl.md, "Devices") and
 * the master key file (mqs_master_key_load; docs/security.md).
 *
 * Input: byte 0 picks the file (0: a keys file parsed from memory, 1: the
 * same read from a 0600 memory file, 2: a master key file); the rest is
 * the file.  Never crashes; a refused keys file leaves the credentials
 * (device key 7, topic key 50) exactly as they were; an accepted one only
 * appends keys, with ids the credentials did not hold, each a topic, or
 * record key; a refused master key leaves the key all zero. */
#define _GNU_SOURCE
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_master_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char path[64];

/* The device's credentials: device key 7, one topic key. */
static void creds_make(struct mqs_creds *c)
{
	static const uint8_t dk[32] = {1}, tk[32] = {2};

	mqs_creds_init(c);
	if (mqs_creds_set_username(c, "sensor-1") != MQS_OK ||
	    mqs_creds_add_key(c, 7, MQS_CREDS_USE_DEVICE, NULL, dk) != MQS_OK ||
	    mqs_creds_add_key(c, 50, MQS_CREDS_USE_TOPIC, "alerts/#", tk) != MQS_OK)
		abort();
}

/* Check the credentials after a keys file was applied with result rc. */
static void check_keys(const struct mqs_creds *c, int rc)
{
	static const uint8_t dk[32] = {1}, tk[32] = {2};

	if (c->nkeys < 2 || c->keys[0].id != 7 || memcmp(c->keys[0].key, dk, 32) != 0 ||
	    c->keys[1].id != 50 || memcmp(c->keys[1].key, tk, 32) != 0)
		abort();
	if (rc != MQS_OK && c->nkeys != 2)
		abort(); /* a refused file appends nothing */
	for (size_t i = 0; i < c->nkeys; i++) {
		for (size_t j = 0; j < i; j++) {
			if (c->keys[i].id == c->keys[j].id)
				abort();
		}
	}
}

/* Write data to the memory file (0600). */
static void memfile(const uint8_t *data, size_t size)
{
	if (memfd < 0) {
		memfd = memfd_create("fuzz-keyfiles", 0);
		if (memfd < 0 || fchmod(memfd, 0600) != 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0) != 0 || (size > 0 && pwrite(memfd, data, size, 0) != (ssize_t)size))
		abort();
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[MQS_MASTER_KEY_LEN];
	struct mqs_creds c;
	uint8_t key[MQS_MASTER_KEY_LEN];
	char err[256];
	int rc;

	if (size < 1 || size > 65536)
		return 0;
	switch (data[0] % 3) {
	case 0:
		creds_make(&c);
		rc = mqs_creds_parse_keys((const char *)data + 1, size - 1, &c, err, sizeof(err));
		check_keys(&c, rc);
		mqs_creds_release(&c);
		break;
	case 1:
		memfile(data + 1, size - 1);
		creds_make(&c);
		rc = mqs_creds_load_keys(path, &c, err, sizeof(err));
		check_keys(&c, rc);
		mqs_creds_release(&c);
		break;
	default:
		memfile(data + 1, size - 1);
		memset(key, 0xa5, sizeof(key));
		rc = mqs_master_key_load(path, key);
		if (rc != MQS_OK && memcmp(key, zero, sizeof(key)) != 0)
			abort();
		break;
	}
	return 0;
}
