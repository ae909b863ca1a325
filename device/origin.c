/* SPDX-License-Identifier: BSD-3-Clause */
/* origin.c - print an envelope's origin (a username chosen by whoever
 * sealed it) without letting hostile bytes drive the terminal: anything
 * that is not printable UTF-8 (C0/C1 controls, bidi overrides, invalid or
 * overlong sequences, backslash) is shown as \xNN.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>

#include "device.h"
#include "mqs_utf8.h"

/* Length of the UTF-8 sequence at s (at most len bytes) when it is valid
 * (mqs_utf8_decode: shortest form, no surrogate, at most U+10FFFF) and a
 * printable code point; 0 otherwise. */
static size_t utf8_printable(const uint8_t *s, size_t len)
{
	uint32_t cp = 0;
	size_t n = mqs_utf8_decode(s, len, &cp);

	if (n == 0)
		goto out;
	/* C0 controls and DEL, C1 controls, line and paragraph separators,
	 * bidi embeddings/overrides and isolates */
	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 || cp == 0x2029 ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
		n = 0;
out:
	return n;
}

/* Print prefix, the origin and a newline on f. */
void dev_origin_print(FILE *f, const char *prefix, const uint8_t *origin, size_t len)
{
	fputs(prefix, f);
	dev_origin_write(f, origin, len);
	fputc('\n', f);
}

/* Write the origin with non-printable bytes as \xNN. */
void dev_origin_write(FILE *f, const uint8_t *origin, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n = utf8_printable(origin + i, len - i);

		if (n == 0 || origin[i] == '\\') {
			fprintf(f, "\\x%02x", origin[i]);
			i++;
		} else {
			fwrite(origin + i, 1, n, f);
			i += n;
		}
	}
}
