/* SPDX-License-Identifier: BSD-3-Clause */
/* test-buf.c - capped buffers and arrays (mqs_buf.h): the hard maximum, all
 * or nothing on MQS_ERR_TOOBIG, the trailing NUL, take/reset/release, the
 * secret growth path, addf, and mqs_array_reserve with its maximum and the
 * size overflow. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_buf.h"
#include "mqs_error.h"
#include "mqs_util.h"

#include "tap.h"

/* Appends up to the maximum, then one byte too many: refused, nothing kept. */
static void test_caps(void)
{
	struct mqs_buf b;

	mqs_buf_init(&b, 8, 0);
	tap_ok(strcmp(mqs_buf_str(&b), "") == 0, "empty buffer reads as \"\"");
	tap_is_int(mqs_buf_add(&b, "abcde", 5), MQS_OK, "5 of 8 bytes");
	tap_is_int(mqs_buf_add(&b, "fghi", 4), MQS_ERR_TOOBIG, "9 of 8 bytes refused");
	tap_is_int((long long)b.len, 5, "refused append keeps len");
	tap_ok(strcmp(mqs_buf_str(&b), "abcde") == 0, "refused append keeps the bytes");
	tap_is_int(mqs_buf_add(&b, "fgh", 3), MQS_OK, "exactly 8 bytes");
	tap_ok(strcmp(mqs_buf_str(&b), "abcdefgh") == 0, "8 bytes, NUL after them");
	tap_is_int(mqs_buf_add(&b, "x", 1), MQS_ERR_TOOBIG, "one byte past the maximum");
	tap_is_int(mqs_buf_add(&b, NULL, 0), MQS_OK, "empty append at the maximum");
	tap_is_int(mqs_buf_adds(&b, "y"), MQS_ERR_TOOBIG, "adds past the maximum");
	tap_is_int((long long)b.len, 8, "len stays at the maximum");
	tap_ok(b.cap <= b.max + 1, "block never larger than max + 1 (%zu)", b.cap);
	mqs_buf_release(&b);

	/* a maximum below the first block size still caps the block */
	mqs_buf_init(&b, 3, 0);
	tap_is_int(mqs_buf_adds(&b, "abc"), MQS_OK, "3 of 3");
	tap_is_int((long long)b.cap, 4, "block of max + 1 bytes");
	mqs_buf_release(&b);

	/* SIZE_MAX as a maximum does not wrap the room for the NUL */
	mqs_buf_init(&b, SIZE_MAX, 0);
	tap_is_int(mqs_buf_adds(&b, "abc"), MQS_OK, "SIZE_MAX maximum appends");
	tap_ok(strcmp(mqs_buf_str(&b), "abc") == 0, "SIZE_MAX maximum keeps the text");
	mqs_buf_release(&b);
}

/* Growth past several blocks keeps every byte and the trailing NUL. */
static void test_growth(int secret)
{
	struct mqs_buf b;
	uint8_t want[1000];
	int ok = 1;

	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7 + 1);
	mqs_buf_init(&b, sizeof(want), secret);
	for (size_t i = 0; i < sizeof(want); i += 10) {
		if (mqs_buf_add(&b, want + i, 10) != MQS_OK)
			ok = 0;
		if (b.data[b.len] != '\0')
			ok = 0;
	}
	tap_ok(ok, "%s: 100 appends of 10 bytes, NUL after each", secret ? "secret" : "plain");
	tap_is_int((long long)b.len, (long long)sizeof(want), "%s: all bytes",
	           secret ? "secret" : "plain");
	tap_is_mem(b.data, want, sizeof(want), "%s: bytes kept across growth",
	           secret ? "secret" : "plain");
	tap_is_int(mqs_buf_add(&b, "x", 1), MQS_ERR_TOOBIG, "%s: full",
	           secret ? "secret" : "plain");
	mqs_buf_release(&b);
	tap_ok(b.data == NULL && b.len == 0 && b.cap == 0, "%s: release empties",
	       secret ? "secret" : "plain");
}

/* Formatted appends: text, NUL, all or nothing. */
static void test_addf(void)
{
	struct mqs_buf b;

	mqs_buf_init(&b, 20, 0);
	tap_is_int(mqs_buf_addf(&b, "%s=%d", "n", 42), MQS_OK, "addf");
	tap_ok(strcmp(mqs_buf_str(&b), "n=42") == 0, "addf text");
	tap_is_int(mqs_buf_addf(&b, ",%s", "0123456789abcdef"), MQS_ERR_TOOBIG,
	           "addf past the maximum");
	tap_ok(strcmp(mqs_buf_str(&b), "n=42") == 0, "refused addf appends nothing");
	tap_is_int(mqs_buf_addf(&b, ",%s", "0123456789abcde"), MQS_OK, "addf to the maximum");
	tap_is_int((long long)b.len, 20, "len 20");
	tap_ok(strcmp(mqs_buf_str(&b), "n=42,0123456789abcde") == 0, "text at the maximum");
	tap_is_int(mqs_buf_addf(&b, "%s", ""), MQS_OK, "empty addf at the maximum");
	mqs_buf_release(&b);

	/* a first append with addf grows from nothing */
	mqs_buf_init(&b, 1000, 1);
	tap_is_int(mqs_buf_addf(&b, "%0300d", 7), MQS_OK, "secret addf of 300 bytes");
	tap_ok(b.len == 300 && b.data[299] == '7' && b.data[300] == '\0', "300 bytes and a NUL");
	mqs_buf_release(&b);
}

/* take hands the block over; reset keeps the block; both leave b usable. */
static void test_take_reset(void)
{
	struct mqs_buf b;
	size_t len = 99;
	char *s;
	uint8_t *block;

	mqs_buf_init(&b, 64, 0);
	s = mqs_buf_take(&b, &len);
	tap_ok(s != NULL && s[0] == '\0' && len == 0, "take of an empty buffer gives \"\"");
	free(s);

	tap_is_int(mqs_buf_adds(&b, "hello"), MQS_OK, "append");
	s = mqs_buf_take(&b, &len);
	tap_ok(s != NULL && strcmp(s, "hello") == 0 && len == 5, "take gives the text and its len");
	tap_ok(b.data == NULL && b.len == 0 && b.cap == 0, "take leaves the buffer empty");
	free(s);
	tap_is_int(mqs_buf_adds(&b, "again"), MQS_OK, "append after take");
	tap_ok(strcmp(mqs_buf_str(&b), "again") == 0, "text after take");

	block = b.data;
	mqs_buf_reset(&b);
	tap_ok(b.len == 0 && strcmp(mqs_buf_str(&b), "") == 0, "reset empties");
	tap_ok(b.data == block, "reset keeps the block");
	tap_is_int(mqs_buf_adds(&b, "x"), MQS_OK, "append after reset");
	tap_ok(strcmp(mqs_buf_str(&b), "x") == 0, "text after reset");
	mqs_buf_release(&b);
	mqs_buf_release(&b);
	tap_ok(b.data == NULL, "release twice is fine");
	tap_is_int(mqs_buf_adds(&b, "0123456789"), MQS_OK, "append after release");
	tap_is_int((long long)b.max, 64, "release keeps the maximum");
	mqs_buf_release(&b);

	/* a secret buffer wipes what reset drops */
	mqs_buf_init(&b, 64, 1);
	tap_is_int(mqs_buf_adds(&b, "secret"), MQS_OK, "secret append");
	mqs_buf_reset(&b);
	tap_ok(memcmp(b.data, "\0\0\0\0\0\0", 6) == 0, "secret reset wipes the bytes");
	tap_is_int(mqs_buf_adds(&b, "pin"), MQS_OK, "secret append after reset");
	s = mqs_buf_take(&b, &len);
	tap_ok(s != NULL && strcmp(s, "pin") == 0, "secret take");
	mqs_secret_free(s, len);
}

/* mqs_array_reserve: growth, zeroed tail, the maximum, size overflow. */
static void test_array(int secret)
{
	const char *what = secret ? "secret" : "plain";
	uint32_t *arr = NULL;
	void *p = NULL;
	size_t cap = 0;
	int ok = 1;

	tap_is_int(mqs_array_reserve(&p, &cap, 0, sizeof(*arr), 100, secret), MQS_OK,
	           "%s: reserve 0", what);
	tap_is_int(mqs_array_reserve(&p, &cap, 3, sizeof(*arr), 100, secret), MQS_OK,
	           "%s: reserve 3", what);
	arr = p;
	tap_ok(arr != NULL && cap >= 3 && cap <= 100, "%s: cap %zu in [3, 100]", what, cap);
	for (size_t i = 0; i < cap; i++)
		if (arr[i] != 0)
			ok = 0;
	tap_ok(ok, "%s: new elements zeroed", what);
	for (size_t i = 0; i < cap; i++)
		arr[i] = (uint32_t)(i + 1);
	while (cap < 100) {
		size_t old = cap;

		if (mqs_array_reserve(&p, &cap, old + 1, sizeof(*arr), 100, secret) != MQS_OK)
			break;
		arr = p;
		for (size_t i = 0; i < old; i++)
			if (arr[i] != (uint32_t)(i + 1))
				ok = 0;
		for (size_t i = old; i < cap; i++) {
			if (arr[i] != 0)
				ok = 0;
			arr[i] = (uint32_t)(i + 1);
		}
	}
	tap_ok(ok, "%s: elements kept and tail zeroed across growth", what);
	tap_is_int((long long)cap, 100, "%s: grows up to max exactly", what);
	tap_is_int(mqs_array_reserve(&p, &cap, 50, sizeof(*arr), 100, secret), MQS_OK,
	           "%s: need below cap is a no-op", what);
	tap_is_int(mqs_array_reserve(&p, &cap, 101, sizeof(*arr), 100, secret), MQS_ERR_TOOBIG,
	           "%s: need above max refused", what);
	tap_ok(p == arr && cap == 100, "%s: refused reserve leaves the array", what);
	if (secret)
		mqs_secret_free(p, cap * sizeof(*arr));
	else
		free(p);

	/* more elements than SIZE_MAX bytes hold: refused, not wrapped */
	p = NULL;
	cap = 0;
	tap_is_int(mqs_array_reserve(&p, &cap, SIZE_MAX / 8 + 1, 8, SIZE_MAX, secret),
	           MQS_ERR_TOOBIG, "%s: need * elem overflows: too big", what);
	tap_ok(p == NULL && cap == 0, "%s: overflow leaves the array", what);
	tap_is_int(mqs_array_reserve(&p, &cap, 4, 8, SIZE_MAX, secret), MQS_OK,
	           "%s: SIZE_MAX max is usable", what);
	tap_ok(p != NULL && cap >= 4, "%s: SIZE_MAX max gives room", what);
	free(p);
	p = NULL;
	cap = 0;
	tap_is_int(mqs_array_reserve(&p, &cap, 1, 0, 10, secret), MQS_ERR_INVAL,
	           "%s: element size 0 refused", what);
}

int main(void)
{
	test_caps();
	test_growth(0);
	test_growth(1);
	test_addf();
	test_take_reset();
	test_array(0);
	test_array(1);
	tap_done();
	return tap_exit();
}
