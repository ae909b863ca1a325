/* origin.c - print an envelope's origin (a username chosen by whoever
 * sealed it) without letting hostile bytes drive the terminal: anything
 * that is not printable UTF-8 (C0/C1 controls, bidi overrides, invalid or
 * overlong sequences, backslash) is shown as \xNN.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>

#include "device.h"

/* Length of the UTF-8 sequence at s (at most len bytes) when it is valid,
 * shortest form and a printable code point; 0 otherwise. */
static size_t utf8_printable(const uint8_t *s, size_t len)
{
	uint32_t cp = 0;
	size_t n = 0;

	if (s[0] >= 0x20 && s[0] < 0x7f) {
		n = 1;
		goto out;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	}
	if (n == 0 || n > len) {
		n = 0;
		goto out;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			n = 0;
			goto out;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond Unicode, C1 controls, line and
	 * paragraph separators, bidi embeddings/overrides and isolates */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0 || cp == 0x2028 || cp == 0x2029 ||
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
