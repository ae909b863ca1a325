/* SPDX-License-Identifier: BSD-3-Clause */
/* test-util.c - small helpers of mqs_util.h: mqs_hex_digit, mqs_hex_encode. */
#include "config.h"

#include <limits.h>

#include "mqs_util.h"

#include "tap.h"

/* The value of c as a hex digit the slow way, -1 when it is none. */
static int hex_ref(int c)
{
	static const char lower[] = "0123456789abcdef";
	static const char upper[] = "0123456789ABCDEF";

	for (int i = 0; i < 16; i++) {
		if (c == lower[i] || c == upper[i])
			return i;
	}
	return -1;
}

int main(void)
{
	int wrong = 0;
	int digits = 0;

	tap_is_int(mqs_hex_digit('0'), 0, "'0' is 0");
	tap_is_int(mqs_hex_digit('9'), 9, "'9' is 9");
	tap_is_int(mqs_hex_digit('a'), 10, "'a' is 10");
	tap_is_int(mqs_hex_digit('f'), 15, "'f' is 15");
	tap_is_int(mqs_hex_digit('A'), 10, "'A' is 10");
	tap_is_int(mqs_hex_digit('F'), 15, "'F' is 15");
	tap_is_int(mqs_hex_digit('g'), -1, "'g' is not a digit");
	tap_is_int(mqs_hex_digit('G'), -1, "'G' is not a digit");
	tap_is_int(mqs_hex_digit('/'), -1, "'/' (before '0') is not a digit");
	tap_is_int(mqs_hex_digit(':'), -1, "':' (after '9') is not a digit");
	tap_is_int(mqs_hex_digit('`'), -1, "'`' (before 'a') is not a digit");
	tap_is_int(mqs_hex_digit('@'), -1, "'@' (before 'A') is not a digit");
	tap_is_int(mqs_hex_digit('\0'), -1, "NUL is not a digit");
	tap_is_int(mqs_hex_digit(' '), -1, "space is not a digit");
	tap_is_int(mqs_hex_digit(-1), -1, "EOF (-1) is not a digit");
	tap_is_int(mqs_hex_digit(INT_MIN), -1, "INT_MIN is not a digit");
	tap_is_int(mqs_hex_digit(INT_MAX), -1, "INT_MAX is not a digit");
	tap_is_int(mqs_hex_digit('0' + 256), -1, "'0' + 256 is not a digit");
	/* every byte, as unsigned and as a (possibly negative) char */
	for (int c = -128; c < 256; c++) {
		if (mqs_hex_digit(c) != hex_ref(c)) {
			tap_diag("mqs_hex_digit(%d) = %d, want %d", c, mqs_hex_digit(c),
			         hex_ref(c));
			wrong++;
		}
		digits += mqs_hex_digit(c) >= 0;
	}
	tap_is_int(wrong, 0, "every value from -128 to 255 agrees with the reference");
	tap_is_int(digits, 22, "exactly 22 values are hex digits");
	{
		const uint8_t in[] = {0x00, 0x0f, 0xa5, 0xff};
		char out[2 * sizeof(in) + 1];
		int back = 1;

		memset(out, 'x', sizeof(out));
		mqs_hex_encode(in, sizeof(in), out);
		tap_ok(strcmp(out, "000fa5ff") == 0, "mqs_hex_encode: lower case, NUL-terminated");
		for (size_t i = 0; i < sizeof(in); i++)
			back =
			    back &&
			    mqs_hex_digit(out[2 * i]) * 16 + mqs_hex_digit(out[2 * i + 1]) == in[i];
		tap_ok(back, "mqs_hex_digit reads it back");
		mqs_hex_encode(in, 0, out);
		tap_ok(out[0] == 0, "no bytes: an empty string");
	}
	{
		const char *s = "\xff";

		tap_is_int(mqs_hex_digit(s[0]), -1, "a high byte read as char is not a digit");
	}
	tap_done();
	return tap_exit();
}
