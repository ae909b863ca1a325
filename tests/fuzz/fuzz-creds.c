/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-creds.c - libFuzzer target for the credentials JSON parser
 * (mqs_creds.h).  Any input must parse or fail cleanly; whatever parses must
 * survive to_json -> parse unchanged. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_util.h"

/* Return 1 when a and b hold the same credentials. */
static int creds_equal(const struct mqs_creds *a, const struct mqs_creds *b)
{
	if (strcmp(a->username, b->username) != 0 || a->has_totp != b->has_totp ||
	    a->nkeys != b->nkeys)
		return 0;
	if (a->has_totp &&
	    (a->totp.digits != b->totp.digits || a->totp.period != b->totp.period ||
	     a->totp.algorithm != b->totp.algorithm || a->totp_secret_len != b->totp_secret_len ||
	     memcmp(a->totp_secret, b->totp_secret, a->totp_secret_len) != 0))
		return 0;
	for (size_t i = 0; i < a->nkeys; i++) {
		const struct mqs_creds_key *x = &a->keys[i], *y = &b->keys[i];
		if (x->id != y->id || x->use != y->use || memcmp(x->key, y->key, 32) != 0 ||
		    (x->topic == NULL) != (y->topic == NULL) ||
		    (x->topic != NULL && strcmp(x->topic, y->topic) != 0))
			return 0;
	}
	return 1;
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqs_creds c, d;
	char err[256];
	char *json = NULL;
	int rc;

	mqs_creds_init(&c);
	mqs_creds_init(&d);
	rc = mqs_creds_parse((const char *)data, size, &c, err, sizeof(err));
	if (rc != MQS_OK) {
		if (c.username != NULL || c.keys != NULL || c.nkeys != 0)
			abort(); /* a failed parse leaves the struct released */
		goto out;
	}
	if (c.username == NULL)
		abort();
	rc = mqs_creds_to_json(&c, &json);
	if (rc != MQS_OK)
		abort();
	rc = mqs_creds_parse(json, strlen(json), &d, err, sizeof(err));
	if (rc != MQS_OK || !creds_equal(&c, &d))
		abort();
out:
	if (json != NULL)
		mqs_secret_free_str(json);
	mqs_creds_release(&c);
	mqs_creds_release(&d);
	return 0;
}
