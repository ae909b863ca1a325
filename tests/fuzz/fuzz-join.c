/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-join.c - libFuzzer target for the share receiver (mqs_join.h).
 *
 * Each input drives one receiver (n 3, k 2, two record keys, small limits:
 * 6 groups, 2 KiB of share bytes, S at most 600, timeout 1 s) through a
 * sequence of operations, one opcode byte each:
 *   0 feed one of the honest shares of four records made at start-up
 *     (record, share, channel from the next bytes);
 *   1 the same with one byte of the share changed (position, xor);
 *   2 a share built from the input with a valid tag (header fields, id and
 *     body from the input, tag from one of the keys or a third, unknown
 *     one), so the fuzzer gets past the tag check;
 *   3 raw bytes (length from the next byte);
 *   4 tick after the clock moves on by the next byte * 10 ms;
 *   5 the clock moves on without a tick.
 * Checks: every result is in range; groups and share bytes never exceed
 * the limits; every record handed to on_record is one of the four
 * plaintexts under the right sender; after a tick past the timeout nothing
 * is pending.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>

#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_join.h"
#include "mqs_share.h"
#include "mqs_util.h"

#define RECORDS   4
#define SHARE_CAP 700
#define TIMEOUT   1000

static struct mqs_join_key keys[3];
static uint8_t tag_keys[3][32];
static uint8_t honest[RECORDS][3][SHARE_CAP];
static size_t honest_len[RECORDS];
static const char *const plains[RECORDS] = {
    "pulse 72", "glucose 5.4 mmol/l", "a longer record of a blood test, with many fields", "x"};
static uint8_t buf[SHARE_CAP + 256];
static int ready;

static void setup(void)
{
	static const char *const names[3] = {"ward-a", "ward-b", "stranger"};

	for (int i = 0; i < 3; i++) {
		memcpy(keys[i].name, names[i], strlen(names[i]) + 1);
		keys[i].id = 10 + (uint32_t)i;
		for (int b = 0; b < MQS_ENVELOPE_KEY_LEN; b++)
			keys[i].key[b] = (uint8_t)(i * 64 + b);
		if (mqs_share_tag_key(keys[i].key, tag_keys[i]) != MQS_OK)
			abort();
	}
	for (int r = 0; r < RECORDS; r++) {
		uint8_t *secret = NULL, all[3 * SHARE_CAP];
		size_t slen = 0, one;
		int key = r % 2;
		uint8_t id[MQS_SHARE_ID_LEN] = {(uint8_t)(r + 1)}; /* fixed: reproducible */

		if (mqs_share_record_seal(keys[key].key, keys[key].id, id, "ward/record", "gw",
		                          (const uint8_t *)plains[r], strlen(plains[r]), &secret,
		                          &slen) != MQS_OK)
			abort();
		one = mqs_share_len(slen);
		if (one > SHARE_CAP || mqs_share_split(secret, slen, 3, 2, tag_keys[key], id, NULL,
		                                       all, sizeof(all)) != MQS_OK)
			abort();
		for (int x = 0; x < 3; x++)
			memcpy(honest[r][x], all + x * one, one);
		honest_len[r] = one;
		mqs_secret_free(secret, slen);
	}
	ready = 1;
}

static void on_record(void *arg, const struct mqs_join_record *rec)
{
	int found = 0;

	(void)arg;
	for (int r = 0; r < RECORDS; r++) {
		if (rec->len == strlen(plains[r]) && memcmp(rec->data, plains[r], rec->len) == 0 &&
		    strcmp(rec->sender, keys[r % 2].name) == 0 &&
		    strcmp(rec->topic, "ward/record") == 0 && strcmp(rec->origin, "gw") == 0)
			found = 1;
	}
	if (!found)
		abort();
}

/* A share from the input with a valid tag of key (0..2); returns its length. */
static size_t build(const uint8_t *in, size_t avail, int key)
{
	size_t s, len;
	uint8_t mac[32];
	unsigned int mac_len = 0;

	if (avail < 6)
		return 0;
	s = 1 + (size_t)in[5] * 3; /* 1..766 */
	if (s > SHARE_CAP - MQS_SHARE_OVERHEAD)
		s = SHARE_CAP - MQS_SHARE_OVERHEAD;
	len = mqs_share_len(s);
	memset(buf, 0, sizeof(buf));
	buf[0] = 1;
	buf[1] = in[0] % 2 == 0 ? 3 : in[0] % 10;
	buf[2] = in[1] % 2 == 0 ? 2 : in[1] % 10;
	buf[3] = in[2] % 5;
	buf[4] = in[3] % 8; /* few ids, so groups collide */
	buf[20] = (uint8_t)(s >> 24);
	buf[21] = (uint8_t)(s >> 16);
	buf[22] = (uint8_t)(s >> 8);
	buf[23] = (uint8_t)s;
	buf[24] = in[4] % 16 == 0 ? 1 : 0;
	for (size_t i = 0; i < s; i++)
		buf[MQS_SHARE_HDR_LEN + i] = in[i % avail];
	if (HMAC(EVP_sha256(), tag_keys[key], 32, buf, MQS_SHARE_HDR_LEN, mac, &mac_len) == NULL)
		abort();
	memcpy(buf + MQS_SHARE_HDR_LEN + s, mac, MQS_SHARE_TAG_LEN);
	return len;
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqs_join_conf conf;
	struct mqs_join *j = NULL;
	uint64_t now = 5000;
	size_t i = 0;

	if (!ready)
		setup();
	memset(&conf, 0, sizeof(conf));
	conf.n = 3;
	conf.k = 2;
	conf.timeout_ms = TIMEOUT;
	conf.max_pending = 6;
	conf.max_pending_bytes = 2048;
	conf.max_record = 600;
	if (mqs_join_new(&conf, keys, 2, on_record, NULL, &j) != MQS_OK)
		abort();
	while (i < size) {
		unsigned op = data[i++] % 6;
		int res = MQS_JOIN_PENDING;

		if (op == 0 && i + 2 <= size) {
			unsigned r = data[i] % RECORDS, x = data[i + 1] % 3,
			         ch = data[i + 1] / 3 % 4;

			res = mqs_join_feed(j, ch, honest[r][x], honest_len[r], now);
			i += 2;
		} else if (op == 1 && i + 4 <= size) {
			unsigned r = data[i] % RECORDS, x = data[i + 1] % 3;
			size_t pos = data[i + 2] % honest_len[r];

			memcpy(buf, honest[r][x], honest_len[r]);
			buf[pos] ^= data[i + 3] != 0 ? data[i + 3] : 1;
			res = mqs_join_feed(j, x, buf, honest_len[r], now);
			i += 4;
		} else if (op == 2 && i + 7 <= size) {
			size_t len = build(data + i + 1, size - i - 1, data[i] % 3);

			if (len > 0)
				res = mqs_join_feed(j, data[i] / 3 % 3, buf, len, now);
			i += 7;
		} else if (op == 3 && i + 1 <= size) {
			size_t len = data[i++];

			if (len > size - i)
				len = size - i;
			res = mqs_join_feed(j, 0, data + i, len, now);
			i += len;
		} else if (op == 4 && i + 1 <= size) {
			now += (uint64_t)data[i++] * 10;
			(void)mqs_join_tick(j, now, NULL, NULL);
		} else if (op == 5 && i + 1 <= size) {
			now += (uint64_t)data[i++] * 10;
		} else {
			break;
		}
		if (res < 0 || res >= MQS_JOIN__COUNT || res == MQS_JOIN_INCOMPLETE ||
		    mqs_join_pending(j) > conf.max_pending ||
		    mqs_join_pending_bytes(j) > conf.max_pending_bytes)
			abort();
	}
	now += TIMEOUT;
	(void)mqs_join_tick(j, now, NULL, NULL);
	if (mqs_join_pending(j) != 0 || mqs_join_pending_bytes(j) != 0)
		abort();
	mqs_join_free(j);
	return 0;
}
