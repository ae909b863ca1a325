/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_template.c - campaign templates: compile, worst-case length, render
 * (docs/marketing.md, "Templates"). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_template.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_utf8.h"
#include "mqs_util.h"

enum tpl_kind { TPL_LIT = 0, TPL_NAME, TPL_VAR };

/* One part: a literal run (a slice of the template's copy of the source),
 * the recipient's name, or a variable (an index into the owned values). */
struct tpl_part {
	enum tpl_kind kind;
	size_t off; /* literal: offset in src */
	size_t len; /* literal: bytes */
	size_t var; /* variable: index in vals */
};

struct tpl_val {
	char *s;
	size_t len, chars, u16;                /* as is */
	size_t html_len, html_chars, html_u16; /* HTML-escaped */
};

struct gw_template {
	char *src; /* owned copy of the source */
	size_t len;
	struct tpl_part *parts;
	size_t nparts;
	struct tpl_val vals[GW_VARS_MAX];
	size_t nvals;
	size_t var_map[GW_VARS_MAX]; /* vars index -> vals index + 1, 0 unused */
	int uses_name;
	/* sums over the literal parts and variables (exact) */
	size_t fixed_bytes, fixed_chars, fixed_html_bytes, fixed_html_chars;
	size_t fixed_u16, fixed_html_u16; /* UTF-16 code units */
	size_t name_count;                /* occurrences of {{name}} */
};

/* a + b, saturating at SIZE_MAX. */
static size_t sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* a * b, saturating at SIZE_MAX. */
static size_t sat_mul(size_t a, size_t b)
{
	if (a != 0 && b > SIZE_MAX / a)
		return SIZE_MAX;
	return a * b;
}

/* Number of Unicode characters in s[0..n) (valid UTF-8: the bytes that do
 * not continue a sequence). */
static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

/* Number of UTF-16 code units of s[0..n) (valid UTF-8): one a
 * character, two for the ones above U+FFFF (four-byte sequences). */
static size_t utf16_units(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch & 0xC0) != 0x80)
			c += ch >= 0xF0 ? 2 : 1;
	}
	return c;
}

/* Bytes of s[0..n) once HTML-escaped. */
static size_t html_len(const char *s, size_t n)
{
	size_t l = 0;

	for (size_t i = 0; i < n; i++) {
		const char *e = mqs_html_entity((unsigned char)s[i]);

		l = sat_add(l, e != NULL ? strlen(e) : 1);
	}
	return l;
}

/* Offset of the first byte of src[0..len) that does not start a strict
 * UTF-8 sequence (a NUL included), or len when all is valid. */
static size_t utf8_bad_offset(const char *src, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp = 0;
		size_t n = mqs_utf8_decode((const uint8_t *)src + i, len - i, &cp);

		if (n == 0 || cp == 0)
			break;
		i += n;
	}
	return i;
}

/* Copy s[0..n) into out (cap bytes) for a reason: at most 40 bytes, cut
 * on a character boundary, control characters and quotes as '?'. */
static void reason_snippet(const char *s, size_t n, char *out, size_t cap)
{
	size_t m = mqs_utf8_cut((const uint8_t *)s, n, 40);
	size_t j = 0;

	if (m >= cap)
		m = cap - 1;
	m = mqs_utf8_cut((const uint8_t *)s, m, m);
	for (size_t i = 0; i < m; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[j++] = (ch < 0x20 || ch == 0x7F || ch == '"') ? '?' : (char)ch;
	}
	out[j] = '\0';
}

/* Append a part to t (capacity grows by doubling, GW_TPL_PARTS_MAX at
 * most).  Returns MQS_OK, MQS_ERR_TOOBIG or MQS_ERR_NOMEM. */
static int add_part(struct gw_template *t, size_t *cap, const struct tpl_part *p)
{
	if (t->nparts >= GW_TPL_PARTS_MAX)
		return MQS_ERR_TOOBIG;
	if (t->nparts == *cap) {
		size_t ncap = *cap == 0 ? 8 : *cap * 2;
		struct tpl_part *np;

		if (ncap > GW_TPL_PARTS_MAX)
			ncap = GW_TPL_PARTS_MAX;
		np = mqs_realloc(t->parts, ncap * sizeof(*np));
		if (np == NULL)
			return MQS_ERR_NOMEM;
		t->parts = np;
		*cap = ncap;
	}
	t->parts[t->nparts++] = *p;
	return MQS_OK;
}

/* Add the literal src[off..off+n) to t (nothing when n is 0). */
static int add_lit(struct gw_template *t, size_t *cap, size_t off, size_t n)
{
	struct tpl_part p = {.kind = TPL_LIT, .off = off, .len = n};
	const char *s = t->src + off;

	if (n == 0)
		return MQS_OK;
	t->fixed_bytes = sat_add(t->fixed_bytes, n);
	t->fixed_chars = sat_add(t->fixed_chars, utf8_chars(s, n));
	/* the author's markup is not escaped */
	t->fixed_html_bytes = sat_add(t->fixed_html_bytes, n);
	t->fixed_html_chars = sat_add(t->fixed_html_chars, utf8_chars(s, n));
	t->fixed_u16 = sat_add(t->fixed_u16, utf16_units(s, n));
	t->fixed_html_u16 = sat_add(t->fixed_html_u16, utf16_units(s, n));
	return add_part(t, cap, &p);
}

/* Index in t->vals of the variable called key (klen bytes), copying it
 * from vars on first use (each variable is copied once); -1 when vars has no such key, -2 on NOMEM,
 * -3 when its value is not strict UTF-8. */
static long use_var(struct gw_template *t, const struct gw_tpl_vars *vars, const char *key,
                    size_t klen)
{
	size_t k;
	long idx = -1;

	if (vars == NULL)
		goto out;
	for (k = 0; k < vars->n && k < GW_VARS_MAX; k++) {
		if (vars->key[k] != NULL && strlen(vars->key[k]) == klen &&
		    memcmp(vars->key[k], key, klen) == 0)
			break;
	}
	if (k >= vars->n || k >= GW_VARS_MAX)
		goto out;
	if (t->var_map[k] != 0) {
		idx = (long)t->var_map[k] - 1;
		goto out;
	}
	{
		const char *v = vars->value[k] != NULL ? vars->value[k] : "";
		size_t vl = strlen(v);
		struct tpl_val *tv = &t->vals[t->nvals];

		if (!mqs_utf8_valid((const uint8_t *)v, vl, 0)) {
			idx = -3;
			goto out;
		}
		tv->s = mqs_malloc(vl + 1);
		if (tv->s == NULL) {
			idx = -2;
			goto out;
		}
		memcpy(tv->s, v, vl + 1);
		tv->len = vl;
		tv->chars = utf8_chars(v, vl);
		tv->html_len = html_len(v, vl);
		/* every entity is ASCII: one character per byte added */
		tv->html_chars = tv->chars + (tv->html_len - vl);
		tv->u16 = utf16_units(v, vl);
		tv->html_u16 = tv->u16 + (tv->html_len - vl);
		idx = (long)t->nvals++;
		t->var_map[k] = t->nvals;
	}
out:
	return idx;
}

/* Compile (see gw_template.h). */
int gw_template_compile(const char *what, const char *src, size_t len,
                        const struct gw_tpl_vars *vars, struct gw_template **out, char *err,
                        size_t errlen)
{
	struct gw_template *t = NULL;
	size_t cap = 0, i = 0, lit = 0, bad;
	char snip[48];
	int rc = MQS_ERR_INVAL;

	if (what == NULL)
		what = "template";
	if (out != NULL)
		*out = NULL;
	if (out == NULL || (src == NULL && len != 0)) {
		snprintf(err, errlen, "%s: missing", what);
		goto out;
	}
	if (len > GW_TPL_OUTPUT_MAX) {
		rc = MQS_ERR_TOOBIG;
		snprintf(err, errlen, "%s: %zu bytes (limit %u)", what, len, GW_TPL_OUTPUT_MAX);
		goto out;
	}
	bad = utf8_bad_offset(src, len);
	if (bad < len) {
		rc = MQS_ERR_PARSE;
		snprintf(err, errlen, "%s: invalid utf-8 at byte %zu", what, bad);
		goto out;
	}
	t = mqs_calloc(1, sizeof(*t));
	if (t == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	t->src = mqs_malloc(len + 1);
	if (t->src == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	if (len > 0)
		memcpy(t->src, src, len);
	t->src[len] = '\0';
	t->len = len;
	src = t->src;
	while (i < len) {
		size_t open, close, a, b;
		struct tpl_part p = {0};

		if (i + 1 < len && src[i] == '}' && src[i + 1] == '}') {
			rc = MQS_ERR_PARSE;
			snprintf(err, errlen, "%s: unbalanced }} at byte %zu", what, i);
			goto out;
		}
		if (!(i + 1 < len && src[i] == '{' && src[i + 1] == '{')) {
			i++;
			continue;
		}
		open = i;
		/* the closing "}}", refusing a "{{" before it */
		close = open + 2;
		while (close + 1 < len && !(src[close] == '}' && src[close + 1] == '}')) {
			if (src[close] == '{' && src[close + 1] == '{')
				break;
			close++;
		}
		if (close + 1 >= len) {
			rc = MQS_ERR_PARSE;
			snprintf(err, errlen, "%s: unbalanced {{ at byte %zu", what, open);
			goto out;
		}
		if (src[close] == '{') {
			rc = MQS_ERR_PARSE;
			snprintf(err, errlen, "%s: nested braces at byte %zu", what, close);
			goto out;
		}
		rc = add_lit(t, &cap, lit, open - lit);
		if (rc != MQS_OK)
			goto toobig;
		a = open + 2;
		b = close;
		while (a < b && src[a] == ' ')
			a++;
		while (b > a && src[b - 1] == ' ')
			b--;
		if (a == b) {
			rc = MQS_ERR_PARSE;
			snprintf(err, errlen, "%s: empty placeholder at byte %zu", what, open);
			goto out;
		}
		if (b - a == 4 && memcmp(src + a, "name", 4) == 0) {
			p.kind = TPL_NAME;
			t->uses_name = 1;
			t->name_count++;
		} else if (b - a > 5 && memcmp(src + a, "vars.", 5) == 0) {
			long idx = use_var(t, vars, src + a + 5, b - a - 5);

			if (idx == -2) {
				rc = MQS_ERR_NOMEM;
				goto out;
			}
			if (idx == -3) {
				rc = MQS_ERR_PARSE;
				reason_snippet(src + a + 5, b - a - 5, snip, sizeof(snip));
				snprintf(err, errlen, "%s: vars.%s is not valid utf-8", what, snip);
				goto out;
			}
			if (idx < 0) {
				rc = MQS_ERR_PARSE;
				reason_snippet(src + a, b - a, snip, sizeof(snip));
				snprintf(err, errlen, "%s: unknown placeholder {{%s}} at byte %zu",
				         what, snip, open);
				goto out;
			}
			p.kind = TPL_VAR;
			p.var = (size_t)idx;
			t->fixed_bytes = sat_add(t->fixed_bytes, t->vals[idx].len);
			t->fixed_chars = sat_add(t->fixed_chars, t->vals[idx].chars);
			t->fixed_html_bytes = sat_add(t->fixed_html_bytes, t->vals[idx].html_len);
			t->fixed_html_chars = sat_add(t->fixed_html_chars, t->vals[idx].html_chars);
			t->fixed_u16 = sat_add(t->fixed_u16, t->vals[idx].u16);
			t->fixed_html_u16 = sat_add(t->fixed_html_u16, t->vals[idx].html_u16);
		} else {
			rc = MQS_ERR_PARSE;
			reason_snippet(src + a, b - a, snip, sizeof(snip));
			snprintf(err, errlen, "%s: unknown placeholder {{%s}} at byte %zu", what,
			         snip, open);
			goto out;
		}
		rc = add_part(t, &cap, &p);
		if (rc != MQS_OK)
			goto toobig;
		i = close + 2;
		lit = i;
	}
	rc = add_lit(t, &cap, lit, len - lit);
	if (rc != MQS_OK)
		goto toobig;
	*out = t;
	t = NULL;
	rc = MQS_OK;
	goto out;
toobig:
	if (rc == MQS_ERR_TOOBIG)
		snprintf(err, errlen, "%s: more than %d parts", what, GW_TPL_PARTS_MAX);
out:
	gw_template_free(t);
	return rc;
}

/* Free (see gw_template.h). */
void gw_template_free(struct gw_template *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nvals; i++)
		mqs_free(t->vals[i].s);
	mqs_free(t->parts);
	mqs_free(t->src);
	mqs_free(t);
}

/* Worst case of one escaped name: at most nb bytes and nc characters.
 * k one-byte characters that escape to six bytes ('"'), the rest as long
 * as the bounds allow (at most four bytes a character). */
static void name_worst_html(size_t nb, size_t nc, size_t *bytes, size_t *chars)
{
	size_t k = nb < nc ? nb : nc;
	size_t rest_b = nb - k, rest_c = sat_mul(4, nc - k);
	size_t rest_chars = nc - k < nb - k ? nc - k : nb - k;

	*bytes = sat_add(sat_mul(6, k), rest_b < rest_c ? rest_b : rest_c);
	*chars = sat_add(sat_mul(6, k), rest_chars);
}

/* Worst case (see gw_template.h). */
void gw_template_worst(const struct gw_template *t, size_t name_bytes, size_t name_chars,
                       enum gw_tpl_escape esc, size_t *bytes, size_t *chars)
{
	size_t b = 0, c = 0, nb = name_bytes, nc = name_chars;

	if (t == NULL)
		goto out;
	if (nc > nb)
		nc = nb; /* a character is at least one byte */
	if (esc == GW_TPL_HTML) {
		name_worst_html(name_bytes, nc, &nb, &nc);
		b = t->fixed_html_bytes;
		c = t->fixed_html_chars;
	} else {
		b = t->fixed_bytes;
		c = t->fixed_chars;
	}
	b = sat_add(b, sat_mul(t->name_count, nb));
	c = sat_add(c, sat_mul(t->name_count, nc));
out:
	if (bytes != NULL)
		*bytes = b;
	if (chars != NULL)
		*chars = c;
}

/* Worst case in UTF-16 code units (see gw_template.h).  A name of at
 * most nb bytes and nc characters has at most nc + k units, k characters
 * above U+FFFF taking four bytes each: 4k + (nc - k) <= nb.  Escaped,
 * a quote (six one-unit characters) beats any two-unit character, so the
 * worst is the one in characters (name_worst_html). */
size_t gw_template_worst_utf16(const struct gw_template *t, size_t name_bytes, size_t name_chars,
                               enum gw_tpl_escape esc)
{
	size_t nc = name_chars < name_bytes ? name_chars : name_bytes, k, per, b;

	if (t == NULL)
		return 0;
	if (esc == GW_TPL_HTML) {
		name_worst_html(name_bytes, nc, &b, &per);
		return sat_add(t->fixed_html_u16, sat_mul(t->name_count, per));
	}
	k = (name_bytes - nc) / 3;
	if (k > nc)
		k = nc;
	per = nc + k;
	return sat_add(t->fixed_u16, sat_mul(t->name_count, per));
}

/* 1 when t uses {{name}} (see gw_template.h). */
int gw_template_uses_name(const struct gw_template *t)
{
	return t != NULL && t->uses_name;
}

/* Copy s[0..n) into dst at *pos, escaped when esc says so (room checked
 * by the caller). */
static void put(char *dst, size_t *pos, const char *s, size_t n, enum gw_tpl_escape esc)
{
	if (esc != GW_TPL_HTML) {
		memcpy(dst + *pos, s, n);
		*pos += n;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *e = mqs_html_entity((unsigned char)s[i]);

		if (e != NULL) {
			size_t el = strlen(e);

			memcpy(dst + *pos, e, el);
			*pos += el;
		} else {
			dst[(*pos)++] = s[i];
		}
	}
}

/* Render (see gw_template.h). */
int gw_template_render(const struct gw_template *t, const char *name, enum gw_tpl_escape esc,
                       char **out, size_t *len)
{
	size_t need, nlen, pos = 0;
	char *buf = NULL;
	int rc = MQS_ERR_INVAL;

	if (out != NULL)
		*out = NULL;
	if (len != NULL)
		*len = 0;
	if (t == NULL || out == NULL)
		goto out;
	if (name == NULL)
		name = "";
	nlen = strlen(name);
	need = esc == GW_TPL_HTML ? t->fixed_html_bytes : t->fixed_bytes;
	need =
	    sat_add(need, sat_mul(t->name_count, esc == GW_TPL_HTML ? html_len(name, nlen) : nlen));
	if (need > GW_TPL_OUTPUT_MAX) {
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	buf = mqs_malloc(need + 1);
	if (buf == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < t->nparts; i++) {
		const struct tpl_part *p = &t->parts[i];

		if (p->kind == TPL_LIT)
			put(buf, &pos, t->src + p->off, p->len, GW_TPL_PLAIN);
		else if (p->kind == TPL_NAME)
			put(buf, &pos, name, nlen, esc);
		else
			put(buf, &pos, t->vals[p->var].s, t->vals[p->var].len, esc);
	}
	buf[pos] = '\0';
	*out = buf;
	buf = NULL;
	if (len != NULL)
		*len = pos;
	rc = MQS_OK;
out:
	mqs_free(buf);
	return rc;
}

/* Append s escaped (see gw_template.h). */
int gw_template_html_escape_append(char **dst, size_t *dst_len, const char *s, size_t n)
{
	size_t add, have, pos;
	char *nd;
	int rc = MQS_ERR_INVAL;

	if (dst == NULL || dst_len == NULL || (s == NULL && n != 0))
		goto out;
	have = *dst != NULL ? *dst_len : 0;
	add = html_len(s, n);
	if (have > GW_TPL_OUTPUT_MAX || add > GW_TPL_OUTPUT_MAX - have) {
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	nd = mqs_realloc(*dst, have + add + 1);
	if (nd == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	pos = have;
	if (n > 0)
		put(nd, &pos, s, n, GW_TPL_HTML);
	nd[pos] = '\0';
	*dst = nd;
	*dst_len = pos;
	rc = MQS_OK;
out:
	return rc;
}
