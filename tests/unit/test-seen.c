/* SPDX-License-Identifier: BSD-3-Clause */
/* test-seen.c - the (key id, nonce) set of subscribers (lib/mqs_seen.c):
 * repeats found, bounded memory, the most recent entries kept. */
#include "config.h"

#include <string.h>

#include "mqs_seen.h"
#include "tap.h"

static void nonce_of(unsigned i, uint8_t n[MQS_ENVELOPE_NONCE_LEN])
{
	memset(n, 0, MQS_ENVELOPE_NONCE_LEN);
	memcpy(n, &i, sizeof(i));
}

int main(void)
{
	struct mqs_seen *s = mqs_seen_new(8);
	uint8_t n[MQS_ENVELOPE_NONCE_LEN];
	int all = 1;

	tap_ok(s != NULL, "created");
	if (s == NULL)
		return tap_exit();
	tap_ok(mqs_seen_new(1) == NULL, "max 1 is refused");
	nonce_of(1, n);
	tap_is_int(mqs_seen_check_add(s, 7, n), 0, "first time: new");
	tap_is_int(mqs_seen_check_add(s, 7, n), 1, "second time: a repeat");
	tap_is_int(mqs_seen_check_add(s, 8, n), 0, "same nonce under another key id: new");
	for (unsigned i = 100; i < 1100; i++) {
		nonce_of(i, n);
		all &= mqs_seen_check_add(s, 7, n) == 0;
		all &= mqs_seen_check_add(s, 7, n) == 1;
		all &= mqs_seen_count(s) <= 8;
	}
	tap_ok(all, "1000 envelopes: each new once, then a repeat, never more than 8 held");
	all = 1;
	for (unsigned i = 1096; i < 1100; i++) {
		nonce_of(i, n);
		all &= mqs_seen_check_add(s, 7, n) == 1;
	}
	tap_ok(all, "the last max/2 envelopes are remembered");
	nonce_of(1, n);
	tap_is_int(mqs_seen_check_add(s, 7, n), 0, "an old one was forgotten (bounded)");
	tap_is_int(mqs_seen_check_add(NULL, 7, n), 0, "NULL set: nothing is a repeat");
	mqs_seen_free(s);
	mqs_seen_free(NULL);
	tap_done();
	return tap_exit();
}
