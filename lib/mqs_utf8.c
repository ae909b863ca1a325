/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_utf8.c - strict UTF-8 decoding, validation and cutting (mqs_utf8.h). */
#include "config.h"

#include "mqs_utf8.h"

/* Decode one strict sequence; see mqs_utf8.h. */
size_t mqs_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
	uint32_t c = 0;
	uint32_t min = 0;
	size_t n = 0;

	if (len == 0)
		goto out;
	if (s[0] < 0x80) {
		*cp = s[0];
		n = 1;
		goto out;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1fu;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0fu;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07u;
		min = 0x10000;
	} else {
		goto out; /* continuation byte, 0xc0/0xc1 or 0xf5.. as a lead */
	}
	if (len < n) {
		n = 0;
		goto out;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			n = 0;
			goto out;
		}
		c = (c << 6) | (s[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
		n = 0;
		goto out;
	}
	*cp = c;
out:
	return n;
}

/* Validate a whole text; see mqs_utf8.h. */
int mqs_utf8_valid(const uint8_t *s, size_t len, int allow_nul)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp = 0;
		size_t n = mqs_utf8_decode(s + i, len - i, &cp);

		if (n == 0 || (cp == 0 && !allow_nul))
			return 0;
		i += n;
	}
	return 1;
}

/* Cut point at or below max that does not split a sequence; see mqs_utf8.h. */
size_t mqs_utf8_cut(const uint8_t *s, size_t len, size_t max)
{
	size_t n = max;
	size_t back = 0;

	if (len <= max)
		return len;
	while (n > 0 && back < 3 && (s[n] & 0xc0) == 0x80) {
		n--;
		back++;
	}
	return n;
}
