/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_text.c - UTF-8 cleaning, provider length caps and header-safe tokens
 * for the delivery channels. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_text.h"
#include "mqs_alloc.h"
#include "mqs_utf8.h"

/* Output state of gw_text_join. */
struct text_out {
	char *buf;
	size_t len;
	size_t units;     /* UTF-16 units written */
	size_t max_units; /* 0 = no cap */
	int full;         /* stopped at the cap */
	int flags;
};

/* Append the cleaned text of s; sets o->full when the cap is hit. */
static void text_append(struct text_out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = s != NULL ? strlen(s) : 0;

	while (left > 0 && !o->full) {
		uint32_t cp = 0xfffd;
		size_t n = mqs_utf8_decode(p, left, &cp);
		size_t units;

		if (n == 0) {
			n = 1; /* one invalid byte -> U+FFFD */
			cp = 0xfffd;
		}
		p += n;
		left -= n;
		if (cp == '\r')
			continue;
		if ((cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) &&
		    ((o->flags & GW_TEXT_ONELINE) || (cp != '\n' && cp != '\t')))
			cp = ' ';
		units = cp > 0xffff ? 2 : 1;
		if (o->max_units > 0 && o->units + units > o->max_units) {
			o->full = 1;
			break;
		}
		o->units += units;
		if (cp < 0x80) {
			o->buf[o->len++] = (char)cp;
		} else if (cp < 0x800) {
			o->buf[o->len++] = (char)(0xc0 | (cp >> 6));
			o->buf[o->len++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			o->buf[o->len++] = (char)(0xe0 | (cp >> 12));
			o->buf[o->len++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			o->buf[o->len++] = (char)(0x80 | (cp & 0x3f));
		} else {
			o->buf[o->len++] = (char)(0xf0 | (cp >> 18));
			o->buf[o->len++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			o->buf[o->len++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			o->buf[o->len++] = (char)(0x80 | (cp & 0x3f));
		}
	}
}

/* One pass of gw_text_join: a, then sep and b when both are non-empty. */
static void text_join_pass(struct text_out *o, const char *a, const char *sep, const char *b)
{
	text_append(o, a);
	if (a != NULL && a[0] != '\0' && b != NULL && b[0] != '\0')
		text_append(o, sep);
	text_append(o, b);
}

/* Join a, sep, b into clean, capped UTF-8 (see gw_text.h). */
char *gw_text_join(const char *a, const char *sep, const char *b, size_t max_units, int flags)
{
	struct text_out o = {0};
	size_t la = a != NULL ? strlen(a) : 0;
	size_t ls = sep != NULL ? strlen(sep) : 0;
	size_t lb = b != NULL ? strlen(b) : 0;

	/* an invalid byte (1) becomes U+FFFD (3 bytes); +3 for the ellipsis */
	o.buf = mqs_malloc(3 * (la + ls + lb) + 4);
	if (o.buf == NULL)
		return NULL;
	o.flags = flags;
	text_join_pass(&o, a, sep, b);
	if (max_units >= 2 && o.units > max_units) {
		/* too long: cut so that the ellipsis still fits */
		o.len = 0;
		o.units = 0;
		o.max_units = max_units - 1;
		text_join_pass(&o, a, sep, b);
	}
	if (o.full) {
		memcpy(o.buf + o.len, "\xe2\x80\xa6", 3);
		o.len += 3;
	}
	o.buf[o.len] = '\0';
	return o.buf;
}

/* Keep letters, digits and the bytes in keep; others become '_'. */
char *gw_text_token(const char *s, const char *keep, char *out, size_t outlen)
{
	size_t i = 0;

	if (outlen == 0)
		return out;
	for (; s != NULL && s[i] != '\0' && i + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') ||
		         (c != '\0' && keep != NULL && strchr(keep, c) != NULL);

		out[i] = ok ? (char)c : '_';
	}
	out[i] = '\0';
	if (out[0] == '.')
		out[0] = '_';
	return out;
}
