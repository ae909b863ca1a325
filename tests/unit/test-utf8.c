/* SPDX-License-Identifier: BSD-3-Clause */
/* test-utf8.c - the strict UTF-8 decoder (mqs_utf8.h): every sequence
 * length at its bounds, overlongs, surrogates, code points above U+10FFFF,
 * truncated sequences, NUL with allow_nul 0 and 1, and cuts that never
 * split a sequence. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "mqs_utf8.h"

#include "tap.h"

struct dec_case {
	const char *what;
	const char *bytes;
	size_t len;
	size_t want_n; /* 0 = refused */
	uint32_t want_cp;
};

static const struct dec_case dec_cases[] = {
    {"ascii", "A", 1, 1, 0x41},
    {"nul", "\0", 1, 1, 0},
    {"del", "\x7f", 1, 1, 0x7f},
    {"2-byte min", "\xc2\x80", 2, 2, 0x80},
    {"2-byte max", "\xdf\xbf", 2, 2, 0x7ff},
    {"3-byte min", "\xe0\xa0\x80", 3, 3, 0x800},
    {"3-byte before surrogates", "\xed\x9f\xbf", 3, 3, 0xd7ff},
    {"3-byte after surrogates", "\xee\x80\x80", 3, 3, 0xe000},
    {"3-byte max", "\xef\xbf\xbf", 3, 3, 0xffff},
    {"4-byte min", "\xf0\x90\x80\x80", 4, 4, 0x10000},
    {"4-byte max U+10FFFF", "\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff},
    {"decodes only the first sequence", "\xc3\xa9z", 3, 2, 0xe9},
    /* overlongs */
    {"overlong NUL c0 80", "\xc0\x80", 2, 0, 0},
    {"overlong c1 bf", "\xc1\xbf", 2, 0, 0},
    {"overlong 3-byte e0 80 80", "\xe0\x80\x80", 3, 0, 0},
    {"overlong 3-byte e0 9f bf", "\xe0\x9f\xbf", 3, 0, 0},
    {"overlong 4-byte f0 80 80 80", "\xf0\x80\x80\x80", 4, 0, 0},
    {"overlong 4-byte f0 8f bf bf", "\xf0\x8f\xbf\xbf", 4, 0, 0},
    /* surrogates */
    {"surrogate U+D800", "\xed\xa0\x80", 3, 0, 0},
    {"surrogate U+DBFF", "\xed\xaf\xbf", 3, 0, 0},
    {"surrogate U+DC00", "\xed\xb0\x80", 3, 0, 0},
    {"surrogate U+DFFF", "\xed\xbf\xbf", 3, 0, 0},
    /* beyond Unicode */
    {"U+110000", "\xf4\x90\x80\x80", 4, 0, 0},
    {"f5 lead", "\xf5\x80\x80\x80", 4, 0, 0},
    {"f8 lead", "\xf8\x88\x80\x80\x80", 5, 0, 0},
    {"ff byte", "\xff", 1, 0, 0},
    /* bad continuation bytes */
    {"lone continuation", "\x80", 1, 0, 0},
    {"lead then ascii", "\xc3\x41", 2, 0, 0},
    {"3-byte with ascii inside", "\xe2\x82\x41", 3, 0, 0},
    {"4-byte with a lead inside", "\xf0\x9f\xc3\xa9", 4, 0, 0},
    /* truncated */
    {"truncated 2-byte", "\xc3", 1, 0, 0},
    {"truncated 3-byte (1 of 3)", "\xe2", 1, 0, 0},
    {"truncated 3-byte (2 of 3)", "\xe2\x82", 2, 0, 0},
    {"truncated 4-byte (3 of 4)", "\xf0\x9f\x98", 3, 0, 0},
    {"empty", "", 0, 0, 0},
};

/* Every decoder case, one test for the length and one for the code point. */
static void test_decode(void)
{
	for (size_t i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++) {
		const struct dec_case *c = &dec_cases[i];
		uint32_t cp = 0xdeadbeef;
		size_t n = mqs_utf8_decode((const uint8_t *)c->bytes, c->len, &cp);

		tap_is_int((long long)n, (long long)c->want_n, "decode %s: length", c->what);
		if (c->want_n > 0)
			tap_is_int(cp, c->want_cp, "decode %s: code point", c->what);
		else
			tap_ok(cp == 0xdeadbeef, "decode %s: *cp untouched", c->what);
	}
}

/* Whole texts, and the NUL rule. */
static void test_valid(void)
{
	const uint8_t mixed[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
	const uint8_t with_nul[] = {'a', 0, 'b'};
	const uint8_t cut4[] = {'a', 0xf0, 0x9f, 0x98};

	tap_ok(mqs_utf8_valid(mixed, sizeof(mixed) - 1, 0), "1-, 2-, 3- and 4-byte text is valid");
	tap_ok(mqs_utf8_valid(NULL, 0, 0), "empty text is valid");
	tap_ok(!mqs_utf8_valid(with_nul, sizeof(with_nul), 0), "NUL refused with allow_nul 0");
	tap_ok(mqs_utf8_valid(with_nul, sizeof(with_nul), 1), "NUL accepted with allow_nul 1");
	tap_ok(!mqs_utf8_valid((const uint8_t *)"\xc0\x80", 2, 1),
	       "overlong NUL refused even with allow_nul 1");
	tap_ok(!mqs_utf8_valid(cut4, sizeof(cut4), 1), "truncated tail refused");
	tap_ok(!mqs_utf8_valid((const uint8_t *)"ab\xed\xa0\x80", 5, 1), "surrogate refused");
	tap_ok(!mqs_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4, 1), "> U+10FFFF refused");
	tap_ok(!mqs_utf8_valid((const uint8_t *)"ok\x80", 3, 1), "stray continuation refused");
}

/* Cuts at every max over a text of 1- to 4-byte sequences: the kept part is
 * always valid and as long as possible. */
static void test_cut(void)
{
	const uint8_t text[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
	const size_t len = sizeof(text) - 1;
	/* sequence boundaries of text: a|é|€|😀|z */
	const size_t bounds[] = {0, 1, 3, 6, 10, 11};
	int ok_valid = 1;
	int ok_longest = 1;

	for (size_t max = 0; max <= len + 2; max++) {
		size_t n = mqs_utf8_cut(text, len, max);
		size_t want = 0;

		for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++)
			if (bounds[i] <= max)
				want = bounds[i];
		if (!mqs_utf8_valid(text, n, 0))
			ok_valid = 0;
		if (n != want) {
			ok_longest = 0;
			tap_diag("max %zu: cut at %zu, want %zu", max, n, want);
		}
	}
	tap_ok(ok_valid, "a cut never splits a sequence");
	tap_ok(ok_longest, "a cut keeps every whole sequence that fits");
	tap_is_int((long long)mqs_utf8_cut(text, len, len), (long long)len, "len <= max: no cut");
	tap_is_int((long long)mqs_utf8_cut(text, len, 0), 0, "max 0: nothing kept");
	/* invalid text: a run of continuation bytes moves back at most 3 */
	tap_is_int((long long)mqs_utf8_cut((const uint8_t *)"\x80\x80\x80\x80\x80\x80", 6, 5), 2,
	           "cut moves back over at most 3 continuation bytes");
}

int main(void)
{
	test_decode();
	test_valid();
	test_cut();
	tap_done();
	return tap_exit();
}
