/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_campaign.c - the submitted campaign: parse, validate, hash, length
 * limits, render per channel (docs/marketing.md, "Submitting a
 * campaign"). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gw_campaign.h"
#include "gw_template.h"
#include "gw_util.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_utf8.h"
#include "mqs_util.h"

/* Footers (docs/marketing.md, "Limits"). */
#define SMS_FOOTER         "\nReply STOP to opt out"
#define EMAIL_TEXT_FOOTER  "\n\n--\nTo unsubscribe: "
#define EMAIL_HTML_FOOTER1 "<p>To unsubscribe, <a href=\""
#define EMAIL_HTML_FOOTER2 "\">click here</a>.</p>"
#define UNSUB_URL_MAX      600 /* bytes of unsubscribe URL the limits allow for */
#define SUBJECT_SRC_MAX    (4 * GW_CAMPAIGN_SUBJECT_MAX)

enum { K_ID = 0, K_GROUP, K_CHANNELS, K_SUBJECT, K_TEXT, K_HTML, K_VARS, K_SEND_AT, K__COUNT };
static const char *const key_names[K__COUNT] = {"id",   "group", "channels", "subject",
                                                "text", "html",  "vars",     "send_at"};

/* Copy s for a reason: at most 32 bytes, cut on a character boundary,
 * control characters and quotes as '?'. */
static void snippet(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s), m, j = 0;

	m = mqs_utf8_cut((const uint8_t *)s, n, cap - 1 < 32 ? cap - 1 : 32);
	for (size_t i = 0; i < m; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[j++] = (ch < 0x20 || ch == 0x7F || ch == '"') ? '?' : (char)ch;
	}
	out[j] = '\0';
}

/* Offset in s[0..n) of the first control character (C0 but the ones in
 * allow, DEL, C1 U+0080..U+009F), or n.  s is valid UTF-8. */
static size_t control_offset(const char *s, size_t n, const char *allow)
{
	size_t i = 0;

	while (i < n) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch < 0x20 && (allow == NULL || strchr(allow, ch) == NULL)) || ch == 0x7F)
			break;
		if (ch == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9F)
			break;
		i++;
	}
	return i;
}

/* 1 when the JSON text s[0..n) has a "\u0000" escape inside a string
 * (cJSON would cut the string there), else 0. */
static int has_nul_escape(const char *s, size_t n)
{
	int in_str = 0;

	for (size_t i = 0; i < n; i++) {
		if (!in_str) {
			if (s[i] == '"')
				in_str = 1;
			continue;
		}
		if (s[i] == '"') {
			in_str = 0;
		} else if (s[i] == '\\' && i + 1 < n) {
			if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0)
				return 1;
			i++; /* skip the escaped character */
		}
	}
	return 0;
}

/* 1 when name is a group name: 1..64 of A-Z a-z 0-9 _ - . */
static int group_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.'))
			return 0;
	}
	return 1;
}

/* 1 when key is a variable name: 1..GW_VAR_KEY_MAX of [a-z0-9_]. */
static int var_key_ok(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > GW_VAR_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = key[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
			return 0;
	}
	return 1;
}

/* Parse n digits at s into *v; 0 when one is not a digit. */
static int digits(const char *s, size_t n, int *v)
{
	int x = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 1;
}

/* Parse an RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SS[.fff...]Z" (years 2000
 * to 9999, fraction 1..9 digits, truncated to milliseconds) into *ms.
 * Returns 1 on success, else 0. */
static int parse_send_at(const char *s, int64_t *ms)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	size_t n = strlen(s), i = 19;
	int y, mo, d, h, mi, se, frac = 0, fd = 0, dim;
	struct tm tm = {0};
	time_t t;

	if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return 0;
	if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
	    !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
		return 0;
	if (s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9' && fd < 9) {
			if (fd < 3)
				frac = frac * 10 + (s[i] - '0');
			fd++;
			i++;
		}
		if (fd == 0)
			return 0;
		for (int k = fd; k < 3; k++)
			frac *= 10;
	}
	if (i != n - 1 || s[i] != 'Z')
		return 0;
	if (y < 2000 || mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59)
		return 0;
	dim = mdays[mo - 1];
	if (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		dim = 29;
	if (d < 1 || d > dim)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	*ms = (int64_t)t * 1000 + frac;
	return 1;
}

/* SHA-256 of bytes into md; 1 on success. */
static int sha256(const uint8_t *bytes, size_t len, uint8_t md[32])
{
	unsigned int mdlen = 0;

	return EVP_Digest(bytes, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32;
}

/* SHA-256 as hex (see gw_campaign.h); 64 zeros if the digest fails. */
void gw_campaign_sha256_hex(const uint8_t *bytes, size_t len, char out[65])
{
	uint8_t md[32];

	if (!sha256(bytes != NULL ? bytes : (const uint8_t *)"", len, md)) {
		memset(out, '0', 64);
		out[64] = '\0';
		return;
	}
	mqs_hex_encode(md, 32, out);
}

/* Free what c holds (see gw_campaign.h). */
void gw_campaign_release(struct gw_campaign *c)
{
	if (c == NULL)
		return;
	gw_template_free(c->subject);
	gw_template_free(c->text);
	gw_template_free(c->html);
	for (size_t i = 0; i < c->nvars && i < GW_VARS_MAX; i++) {
		mqs_free(c->var_key[i]);
		if (c->var_value[i] != NULL)
			OPENSSL_cleanse(c->var_value[i], strlen(c->var_value[i]));
		mqs_free(c->var_value[i]);
	}
	memset(c, 0, sizeof(*c));
}

/* A string member: NULL with a reason when j is not a string. */
static const char *want_string(const cJSON *j, const char *field, char *err, size_t errlen)
{
	if (!cJSON_IsString(j) || j->valuestring == NULL) {
		snprintf(err, errlen, "%s: must be a string", field);
		return NULL;
	}
	return j->valuestring;
}

/* Parse the channels list into c->chan_mask. */
static int parse_channels(const cJSON *j, struct gw_campaign *c, char *err, size_t errlen)
{
	const cJSON *e;
	char sn[40];

	if (!cJSON_IsArray(j)) {
		snprintf(err, errlen, "channels: must be a list of strings");
		return MQS_ERR_INVAL;
	}
	cJSON_ArrayForEach(e, j)
	{
		int ch;

		if (!cJSON_IsString(e) || e->valuestring == NULL) {
			snprintf(err, errlen, "channels: must be a list of strings");
			return MQS_ERR_INVAL;
		}
		ch = gw_chan_parse(e->valuestring);
		if (ch < 0) {
			snippet(e->valuestring, sn, sizeof(sn));
			snprintf(err, errlen, "channels: unknown channel \"%s\"", sn);
			return MQS_ERR_INVAL;
		}
		if ((GW_CH_BIT(ch) & GW_CAMPAIGN_MARKETING_CHANS) == 0) {
			snprintf(err, errlen, "channels: %s is not a marketing channel",
			         gw_chan_name(ch));
			return MQS_ERR_INVAL;
		}
		if (c->chan_mask & GW_CH_BIT(ch)) {
			snprintf(err, errlen, "channels: %s listed twice", gw_chan_name(ch));
			return MQS_ERR_INVAL;
		}
		c->chan_mask |= GW_CH_BIT(ch);
	}
	if (c->chan_mask == 0) {
		snprintf(err, errlen, "channels: empty (email, sms or line)");
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* Parse the vars object into c's owned copies. */
static int parse_vars(const cJSON *j, struct gw_campaign *c, char *err, size_t errlen)
{
	const cJSON *e;
	size_t n = 0;
	char sn[40];

	if (!cJSON_IsObject(j)) {
		snprintf(err, errlen, "vars: must be an object of strings");
		return MQS_ERR_INVAL;
	}
	cJSON_ArrayForEach(e, j)
	{
		size_t vl, bad;

		if (n >= GW_VARS_MAX) {
			snprintf(err, errlen, "vars: more than %d variables", GW_VARS_MAX);
			return MQS_ERR_TOOBIG;
		}
		if (e->string == NULL || !var_key_ok(e->string)) {
			snippet(e->string != NULL ? e->string : "", sn, sizeof(sn));
			snprintf(err, errlen, "vars: bad name \"%s\" (1..%d of a-z 0-9 _)", sn,
			         GW_VAR_KEY_MAX);
			return MQS_ERR_INVAL;
		}
		for (size_t k = 0; k < n; k++) {
			if (strcmp(c->var_key[k], e->string) == 0) {
				snprintf(err, errlen, "vars: duplicate key \"%s\"", e->string);
				return MQS_ERR_INVAL;
			}
		}
		if (!cJSON_IsString(e) || e->valuestring == NULL) {
			snprintf(err, errlen, "vars.%s: must be a string", e->string);
			return MQS_ERR_INVAL;
		}
		vl = strlen(e->valuestring);
		if (vl > GW_VAR_VALUE_MAX) {
			snprintf(err, errlen, "vars.%s: %zu bytes (limit %d)", e->string, vl,
			         GW_VAR_VALUE_MAX);
			return MQS_ERR_TOOBIG;
		}
		if (!mqs_utf8_valid((const uint8_t *)e->valuestring, vl, 0)) {
			snprintf(err, errlen, "vars.%s: invalid utf-8", e->string);
			return MQS_ERR_PARSE;
		}
		bad = control_offset(e->valuestring, vl, NULL);
		if (bad < vl) {
			snprintf(err, errlen, "vars.%s: control character at byte %zu", e->string,
			         bad);
			return MQS_ERR_INVAL;
		}
		c->var_key[n] = mqs_strdup(e->string);
		c->var_value[n] = mqs_strdup(e->valuestring);
		c->nvars = n + 1;
		if (c->var_key[n] == NULL || c->var_value[n] == NULL)
			return MQS_ERR_NOMEM;
		n++;
	}
	return MQS_OK;
}

/* Elements whose content is text up to their own end tag (raw text and
 * RCDATA): an unclosed one would swallow the footer. */
static const char *const html_raw[] = {"style", "script", "title",    "textarea", "noscript",
                                       "xmp",   "iframe", "noframes", "noembed",  NULL};
/* Elements whose content is not shown (template) or not shown as text
 * (select) until they are closed. */
static const char *const html_hiding[] = {"template", "select", NULL};
#define HTML_NAME_MAX 16 /* bytes of a tag name compared (longer: no match) */

/* ASCII lowercase of ch. */
static int html_lc(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* 1 for an ASCII letter. */
static int html_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* 1 for HTML whitespace (CR included: it becomes LF). */
static int html_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f';
}

/* Offset of the first w (lowercase ASCII) in s[from..n), any case, or n. */
static size_t html_find(const char *s, size_t n, size_t from, const char *w)
{
	size_t wl = strlen(w);

	for (size_t i = from; i < n && n - i >= wl; i++) {
		size_t k = 0;

		while (k < wl && html_lc((unsigned char)s[i + k]) == w[k])
			k++;
		if (k == wl)
			return i;
	}
	return n;
}

/* 1 when s[i..n) begins with w (lowercase ASCII), any case. */
static int html_at(const char *s, size_t n, size_t i, const char *w)
{
	size_t wl = strlen(w);

	return i <= n && n - i >= wl && html_find(s, i + wl, i, w) == i;
}

/* 1 when "{{" (a placeholder) is in s[from..to). */
static int html_ph(const char *s, size_t from, size_t to)
{
	return to > from && html_find(s, to, from, "{{") < to;
}

/* Index of name in list, or -1. */
static int html_in(const char *const *list, const char *name)
{
	for (int i = 0; list[i] != NULL; i++) {
		if (strcmp(list[i], name) == 0)
			return i;
	}
	return -1;
}

/* Read the tag name at s[i..n) (lowercased into name, "" when longer than
 * HTML_NAME_MAX - 1); returns the offset after it. */
static size_t html_tag_name(const char *s, size_t n, size_t i, char name[HTML_NAME_MAX])
{
	size_t k = 0;

	for (; i < n && !html_space((unsigned char)s[i]) && s[i] != '/' && s[i] != '>'; i++) {
		if (k < HTML_NAME_MAX)
			name[k] = (char)html_lc((unsigned char)s[i]);
		k++;
	}
	name[k < HTML_NAME_MAX ? k : 0] = '\0';
	return i;
}

/* The attributes of a tag from s[i] (just after its name) to its '>', as
 * the HTML tokenizer reads them (quoted values may hold '>'); *ph is set
 * when "{{" stands outside a quoted value.  Returns the offset after the
 * '>', or 0 when the text ends inside the tag. */
static size_t html_tag_end(const char *s, size_t n, size_t i, int *ph)
{
	enum {
		BEFORE,
		NAME,
		AFTER,
		BEFORE_VALUE,
		DQ,
		SQ,
		UNQUOTED,
		AFTER_QUOTED,
		SELF
	} st = BEFORE;

	for (; i < n; i++) {
		int ch = (unsigned char)s[i], sp = html_space(ch);

		if (st == DQ || st == SQ) {
			if (ch == (st == DQ ? '"' : '\''))
				st = AFTER_QUOTED;
			continue;
		}
		if (ch == '>')
			return i + 1;
		if (ch == '{' && i + 1 < n && s[i + 1] == '{')
			*ph = 1;
		switch (st) {
		case BEFORE:
		case SELF:
			st = sp ? BEFORE : ch == '/' ? SELF : NAME;
			break;
		case NAME:
			st = sp ? AFTER : ch == '/' ? SELF : ch == '=' ? BEFORE_VALUE : NAME;
			break;
		case AFTER:
			st = sp ? AFTER : ch == '/' ? SELF : ch == '=' ? BEFORE_VALUE : NAME;
			break;
		case BEFORE_VALUE:
			st = sp ? BEFORE_VALUE : ch == '"' ? DQ : ch == '\'' ? SQ : UNQUOTED;
			break;
		case UNQUOTED:
			st = sp ? BEFORE : UNQUOTED;
			break;
		default: /* AFTER_QUOTED */
			st = sp ? BEFORE : ch == '/' ? SELF : NAME;
			break;
		}
	}
	return 0;
}

/* Scan an html part as a browser's tokenizer would, simplified
 * (docs/marketing.md, "Submitting a campaign"): refuse what would hide
 * the unsubscribe footer put at its end or before its last </body> - a
 * comment, a tag or a <! <? </ construct left open, an unclosed raw-text
 * element (html_raw) or template/select, <plaintext> (never closed),
 * <svg>/<math> (foreign content is tokenized differently), "<!--" inside
 * <script>.  With tpl (a template source), a placeholder is allowed in
 * text and in quoted attribute values only (elsewhere a substituted value
 * could change how the markup reads).  *body_at gets the offset of the
 * last </body> outside all of them, or n.  MQS_OK, or MQS_ERR_INVAL with
 * the reason in why. */
static int html_scan(const char *s, size_t n, int tpl, size_t *body_at, char *why, size_t cap)
{
	int depth[2] = {0, 0}; /* open html_hiding elements */
	int ph = 0;
	size_t i = 0;

	*body_at = n;
	while (i < n) {
		const char *lt = memchr(s + i, '<', n - i);
		char name[HTML_NAME_MAX];
		size_t at, e;
		int k;

		if (lt == NULL)
			break;
		at = (size_t)(lt - s);
		if (html_at(s, n, at, "<!--")) {
			/* "<!-->" and "<!--->" end at once; "--!>" ends one too (looked
			 * for only before the first "-->": linear in n) */
			size_t a = html_find(s, n, at + 2, "-->");
			size_t lim = a < n ? a + 3 : n, b = html_find(s, lim, at + 4, "--!>");

			if (a == n && b == n) {
				snprintf(why, cap,
				         "html: comment \"<!--\" at byte %zu is never closed "
				         "(it would hide the unsubscribe footer)",
				         at);
				return MQS_ERR_INVAL;
			}
			i = b < lim ? b + 4 : a + 3;
			ph |= html_ph(s, at, i);
			continue;
		}
		if (at + 1 < n && (s[at + 1] == '!' || s[at + 1] == '?' ||
		                   (s[at + 1] == '/' && at + 2 < n &&
		                    !html_alpha((unsigned char)s[at + 2]) && s[at + 2] != '>'))) {
			/* a bogus comment, up to the next '>' */
			lt = memchr(s + at + 2, '>', n - at - 2);
			if (lt == NULL) {
				snprintf(why, cap,
				         "html: \"<%c\" at byte %zu is never closed by '>'",
				         s[at + 1], at);
				return MQS_ERR_INVAL;
			}
			i = (size_t)(lt - s) + 1;
			ph |= html_ph(s, at, i);
			continue;
		}
		if (at + 2 < n && s[at + 1] == '/' && html_alpha((unsigned char)s[at + 2])) {
			e = html_tag_name(s, n, at + 2, name);
			ph |= html_ph(s, at, e);
			e = html_tag_end(s, n, e, &ph);
			if (e == 0) {
				snprintf(why, cap,
				         "html: end tag at byte %zu is never closed by '>'", at);
				return MQS_ERR_INVAL;
			}
			k = html_in(html_hiding, name);
			if (k >= 0 && depth[k] > 0)
				depth[k]--;
			else if (strcmp(name, "body") == 0 && depth[0] == 0 && depth[1] == 0)
				*body_at = at;
			i = e;
			continue;
		}
		if (at + 1 >= n || !html_alpha((unsigned char)s[at + 1])) {
			i = at + 1; /* "<" as text, or "</>" (ignored) */
			ph |= html_ph(s, at, at + 3 < n ? at + 3 : n);
			continue;
		}
		e = html_tag_name(s, n, at + 1, name);
		ph |= html_ph(s, at, e);
		e = html_tag_end(s, n, e, &ph);
		if (e == 0) {
			snprintf(why, cap, "html: tag at byte %zu is never closed by '>'", at);
			return MQS_ERR_INVAL;
		}
		if (strcmp(name, "plaintext") == 0 || strcmp(name, "svg") == 0 ||
		    strcmp(name, "math") == 0) {
			snprintf(why, cap, "html: <%s> is not allowed (byte %zu)", name, at);
			return MQS_ERR_INVAL;
		}
		k = html_in(html_hiding, name);
		if (k >= 0)
			depth[k]++;
		if (html_in(html_raw, name) >= 0) {
			char close[HTML_NAME_MAX + 2];
			size_t c, cl;

			snprintf(close, sizeof(close), "</%s", name);
			cl = strlen(close);
			for (c = html_find(s, n, e, close); c < n;
			     c = html_find(s, n, c + 1, close)) {
				if (c + cl < n && (html_space((unsigned char)s[c + cl]) ||
				                   s[c + cl] == '/' || s[c + cl] == '>'))
					break;
			}
			if (c < n && strcmp(name, "script") == 0 &&
			    html_find(s, c, e, "<!--") < c) {
				snprintf(why, cap, "html: \"<!--\" inside <script> (byte %zu)", at);
				return MQS_ERR_INVAL;
			}
			e = c < n ? html_tag_end(s, n, c + cl, &ph) : 0;
			if (e == 0) {
				snprintf(
				    why, cap,
				    "html: <%s> at byte %zu is never closed (it would hide the "
				    "unsubscribe footer)",
				    name, at);
				return MQS_ERR_INVAL;
			}
		}
		i = e;
		if (tpl && ph)
			break;
	}
	if (tpl && ph) {
		snprintf(why, cap,
		         "html: a placeholder inside a tag, a comment or right after '<' (only "
		         "text and quoted attribute values may hold one)");
		return MQS_ERR_INVAL;
	}
	for (int d = 0; d < 2; d++) {
		if (depth[d] > 0) {
			snprintf(
			    why, cap,
			    "html: <%s> is never closed (it would hide the unsubscribe footer)",
			    html_hiding[d]);
			return MQS_ERR_INVAL;
		}
	}
	return MQS_OK;
}

/* The html part at submission: its source, then as rendered with its
 * variables (and an empty name), neither may hide the footer
 * (html_scan).  MQS_OK, MQS_ERR_INVAL with the reason in err, or the
 * error of the rendering. */
static int html_check(const struct gw_template *t, const char *src, char *err, size_t errlen)
{
	char *body = NULL, why[200];
	size_t blen = 0, at;
	int rc = html_scan(src, strlen(src), 1, &at, err, errlen);

	if (rc != MQS_OK)
		return rc;
	rc = gw_template_render(t, "", GW_TPL_HTML, &body, &blen);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "html: %s once rendered",
		         rc == MQS_ERR_TOOBIG ? "too large" : "cannot be rendered");
		goto out;
	}
	rc = html_scan(body, blen, 0, &at, why, sizeof(why));
	if (rc != MQS_OK)
		snprintf(err, errlen, "html with its variables: %s", why + strlen("html: "));
out:
	mqs_free(body);
	return rc;
}

/* Check a template source (text, subject, html) and compile it. */
static int compile_field(const char *field, const char *s, size_t maxb, const char *allow,
                         const struct gw_tpl_vars *vars, struct gw_template **out, char *err,
                         size_t errlen)
{
	size_t n = strlen(s), bad;

	if (n == 0) {
		snprintf(err, errlen, "%s: empty", field);
		return MQS_ERR_INVAL;
	}
	if (n > maxb) {
		snprintf(err, errlen, "%s: %zu bytes (limit %zu)", field, n, maxb);
		return MQS_ERR_TOOBIG;
	}
	if (!mqs_utf8_valid((const uint8_t *)s, n, 0)) {
		snprintf(err, errlen, "%s: invalid utf-8", field);
		return MQS_ERR_PARSE;
	}
	bad = control_offset(s, n, allow);
	if (bad < n) {
		snprintf(err, errlen, "%s: control character at byte %zu", field, bad);
		return MQS_ERR_INVAL;
	}
	return gw_template_compile(field, s, n, vars, out, err, errlen);
}

/* Parse (see gw_campaign.h). */
int gw_campaign_parse(const uint8_t *bytes, size_t len, struct gw_campaign *c, char *err,
                      size_t errlen)
{
	const cJSON *seen[K__COUNT] = {0};
	const cJSON *e;
	cJSON *root = NULL;
	char *buf = NULL, sn[40];
	const char *end = NULL, *s;
	struct gw_tpl_vars vars = {0};
	int rc = MQS_ERR_INVAL;

	if (c == NULL)
		return MQS_ERR_INVAL;
	memset(c, 0, sizeof(*c));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (bytes == NULL && len != 0) {
		snprintf(err, errlen, "campaign: missing");
		goto out;
	}
	if (len > GW_CAMPAIGN_MAX) {
		rc = MQS_ERR_TOOBIG;
		snprintf(err, errlen, "campaign: %zu bytes (limit %u)", len, GW_CAMPAIGN_MAX);
		goto out;
	}
	if (!sha256(bytes != NULL ? bytes : (const uint8_t *)"", len, c->sha256)) {
		rc = MQS_ERR_CRYPTO;
		snprintf(err, errlen, "campaign: sha-256 failed");
		goto out;
	}
	mqs_hex_encode(c->sha256, 32, c->sha256_hex);
	rc = MQS_ERR_PARSE;
	if (!mqs_utf8_valid(bytes, len, 0)) {
		size_t i = 0;

		while (i < len) {
			uint32_t cp = 0;
			size_t k = mqs_utf8_decode(bytes + i, len - i, &cp);

			if (k == 0 || cp == 0)
				break;
			i += k;
		}
		snprintf(err, errlen, "campaign: invalid utf-8 at byte %zu", i);
		goto out;
	}
	if (has_nul_escape((const char *)bytes, len)) {
		snprintf(err, errlen, "campaign: \\u0000 in a string");
		goto out;
	}
	buf = mqs_malloc(len + 1);
	if (buf == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	if (len > 0)
		memcpy(buf, bytes, len);
	buf[len] = '\0';
	/* the NUL counts in the length so that require_null_terminated
	 * refuses anything but whitespace after the value */
	root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
	if (root == NULL) {
		size_t at = end != NULL && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0;

		snprintf(err, errlen, "campaign: not valid json (near byte %zu)", at);
		goto out;
	}
	rc = MQS_ERR_INVAL;
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "campaign: must be a json object");
		goto out;
	}
	cJSON_ArrayForEach(e, root)
	{
		size_t k;

		for (k = 0; k < K__COUNT; k++)
			if (e->string != NULL && strcmp(e->string, key_names[k]) == 0)
				break;
		if (k == K__COUNT) {
			snippet(e->string != NULL ? e->string : "", sn, sizeof(sn));
			snprintf(err, errlen, "campaign: unknown key \"%s\"", sn);
			goto out;
		}
		if (seen[k] != NULL) {
			snprintf(err, errlen, "campaign: duplicate key \"%s\"", key_names[k]);
			goto out;
		}
		seen[k] = e;
	}
	/* id */
	if (seen[K_ID] == NULL) {
		snprintf(err, errlen, "id: required");
		goto out;
	}
	s = want_string(seen[K_ID], "id", err, errlen);
	if (s == NULL)
		goto out;
	if (!gw_id_check(s)) {
		snprintf(err, errlen, "id: 1..%d of A-Z a-z 0-9 . _ : @ -", GW_ID_MAX);
		goto out;
	}
	snprintf(c->id, sizeof(c->id), "%s", s);
	/* group */
	if (seen[K_GROUP] == NULL) {
		snprintf(err, errlen, "group: required");
		goto out;
	}
	s = want_string(seen[K_GROUP], "group", err, errlen);
	if (s == NULL)
		goto out;
	if (!group_ok(s)) {
		snprintf(err, errlen, "group: 1..64 of A-Z a-z 0-9 _ - .");
		goto out;
	}
	snprintf(c->group, sizeof(c->group), "%s", s);
	/* channels */
	if (seen[K_CHANNELS] == NULL) {
		snprintf(err, errlen, "channels: required");
		goto out;
	}
	rc = parse_channels(seen[K_CHANNELS], c, err, errlen);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_INVAL;
	/* vars (before the templates that use them) */
	if (seen[K_VARS] != NULL) {
		rc = parse_vars(seen[K_VARS], c, err, errlen);
		if (rc != MQS_OK)
			goto out;
		rc = MQS_ERR_INVAL;
	}
	vars.n = c->nvars;
	for (size_t i = 0; i < c->nvars; i++) {
		vars.key[i] = c->var_key[i];
		vars.value[i] = c->var_value[i];
	}
	/* text */
	if (seen[K_TEXT] == NULL) {
		snprintf(err, errlen, "text: required");
		goto out;
	}
	s = want_string(seen[K_TEXT], "text", err, errlen);
	if (s == NULL)
		goto out;
	rc = compile_field("text", s, GW_CAMPAIGN_TEXT_MAX, "\t\n\r", &vars, &c->text, err, errlen);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_INVAL;
	/* subject: exactly when email is a channel */
	if ((c->chan_mask & GW_CH_BIT(GW_CH_EMAIL)) && seen[K_SUBJECT] == NULL) {
		snprintf(err, errlen, "subject: required with the email channel");
		goto out;
	}
	if (!(c->chan_mask & GW_CH_BIT(GW_CH_EMAIL)) && seen[K_SUBJECT] != NULL) {
		snprintf(err, errlen, "subject: only with the email channel");
		goto out;
	}
	if (seen[K_SUBJECT] != NULL) {
		s = want_string(seen[K_SUBJECT], "subject", err, errlen);
		if (s == NULL)
			goto out;
		rc = compile_field("subject", s, SUBJECT_SRC_MAX, NULL, &vars, &c->subject, err,
		                   errlen);
		if (rc != MQS_OK)
			goto out;
		rc = MQS_ERR_INVAL;
	}
	/* html: optional, email only */
	if (seen[K_HTML] != NULL) {
		if (!(c->chan_mask & GW_CH_BIT(GW_CH_EMAIL))) {
			snprintf(err, errlen, "html: only with the email channel");
			goto out;
		}
		s = want_string(seen[K_HTML], "html", err, errlen);
		if (s == NULL)
			goto out;
		rc = compile_field("html", s, GW_CAMPAIGN_MAX, "\t\n\r", &vars, &c->html, err,
		                   errlen);
		if (rc != MQS_OK)
			goto out;
		rc = html_check(c->html, s, err, errlen);
		if (rc != MQS_OK)
			goto out;
		rc = MQS_ERR_INVAL;
	}
	/* send_at */
	if (seen[K_SEND_AT] != NULL) {
		s = want_string(seen[K_SEND_AT], "send_at", err, errlen);
		if (s == NULL)
			goto out;
		if (!parse_send_at(s, &c->send_at_ms)) {
			snprintf(err, errlen,
			         "send_at: want an RFC 3339 UTC time such as "
			         "2026-12-10T09:00:00Z");
			goto out;
		}
	}
	rc = MQS_OK;
out:
	cJSON_Delete(root);
	mqs_free(buf);
	if (rc != MQS_OK)
		gw_campaign_release(c);
	return rc;
}

/* a + b, saturating at SIZE_MAX. */
static size_t sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Refuse (MQS_ERR_TOOBIG) when have exceeds limit. */
static int over(const char *what, const char *unit, size_t have, size_t limit, char *err,
                size_t errlen)
{
	if (have <= limit)
		return MQS_OK;
	snprintf(err, errlen, "%s can reach %zu %s for the longest name (limit %zu)", what, have,
	         unit, limit);
	return MQS_ERR_TOOBIG;
}

/* Check the limits (see gw_campaign.h). */
int gw_campaign_check_limits(const struct gw_campaign *c, size_t name_bytes, size_t name_chars,
                             int sms_sealed, char *err, size_t errlen)
{
	size_t b = 0, ch = 0, u16 = 0;
	int rc = MQS_ERR_INVAL;

	if (c == NULL || c->text == NULL)
		goto out;
	rc = MQS_OK;
	if (c->chan_mask & GW_CH_BIT(GW_CH_EMAIL)) {
		size_t fb = strlen(EMAIL_TEXT_FOOTER) + UNSUB_URL_MAX;

		if (c->subject == NULL) {
			rc = MQS_ERR_INVAL;
			snprintf(err, errlen, "email: no subject");
			goto out;
		}
		gw_template_worst(c->subject, name_bytes, name_chars, GW_TPL_PLAIN, &b, &ch);
		rc = over("email: subject", "characters", ch, GW_CAMPAIGN_SUBJECT_MAX, err, errlen);
		if (rc != MQS_OK)
			goto out;
		gw_template_worst(c->text, name_bytes, name_chars, GW_TPL_PLAIN, &b, &ch);
		rc = over("email: text", "bytes", sat_add(b, fb), GW_EMAIL_TEXT_MAX, err, errlen);
		if (rc != MQS_OK)
			goto out;
		if (c->html != NULL) {
			/* the footer's URL escaped: at most six bytes a byte */
			size_t hf = strlen(EMAIL_HTML_FOOTER1) + strlen(EMAIL_HTML_FOOTER2) +
			            6 * UNSUB_URL_MAX;

			gw_template_worst(c->html, name_bytes, name_chars, GW_TPL_HTML, &b, &ch);
			rc = over("email: html", "bytes", sat_add(b, hf), GW_EMAIL_HTML_MAX, err,
			          errlen);
			if (rc != MQS_OK)
				goto out;
		}
	}
	if (c->chan_mask & GW_CH_BIT(GW_CH_SMS)) {
		size_t f = strlen(SMS_FOOTER); /* ASCII: bytes = characters */

		/* characters as Twilio counts them: UTF-16 code units
		 * (docs/channels.md, "sms") */
		u16 = gw_template_worst_utf16(c->text, name_bytes, name_chars, GW_TPL_PLAIN);
		gw_template_worst(c->text, name_bytes, name_chars, GW_TPL_PLAIN, &b, &ch);
		if (sms_sealed)
			rc = over("sms: sealed text", "bytes", sat_add(b, f),
			          GW_SMS_SEALED_TEXT_MAX, err, errlen);
		else
			rc = over("sms: text", "characters", sat_add(u16, f), GW_SMS_PLAIN_MAX, err,
			          errlen);
		if (rc != MQS_OK)
			goto out;
	}
	if (c->chan_mask & GW_CH_BIT(GW_CH_LINE)) {
		gw_template_worst(c->text, name_bytes, name_chars, GW_TPL_PLAIN, &b, &ch);
		rc = over("line: text", "characters", ch, GW_LINE_TEXT_MAX, err, errlen);
		if (rc != MQS_OK)
			goto out;
	}
out:
	return rc;
}

/* Free a rendering (see gw_campaign.h). */
void gw_rendered_release(struct gw_rendered *r)
{
	if (r == NULL)
		return;
	mqs_free(r->subject);
	mqs_free(r->text);
	mqs_free(r->html);
	memset(r, 0, sizeof(*r));
}

/* Append s[0..n) to *dst (*len bytes). */
static int append(char **dst, size_t *len, const char *s, size_t n)
{
	char *nd;

	if (*len > GW_TPL_OUTPUT_MAX || n > GW_TPL_OUTPUT_MAX - *len)
		return MQS_ERR_TOOBIG;
	nd = mqs_realloc(*dst, *len + n + 1);
	if (nd == NULL)
		return MQS_ERR_NOMEM;
	memcpy(nd + *len, s, n);
	*len += n;
	nd[*len] = '\0';
	*dst = nd;
	return MQS_OK;
}

/* Render the email html part with its footer before </body>. */
static int render_html(const struct gw_campaign *c, const char *name, const char *url, char **out)
{
	char *body = NULL, *f = NULL, why[160];
	size_t blen = 0, flen = 0, at;
	int rc;

	rc = gw_template_render(c->html, name, GW_TPL_HTML, &body, &blen);
	if (rc != MQS_OK)
		goto out;
	rc = append(&f, &flen, EMAIL_HTML_FOOTER1, strlen(EMAIL_HTML_FOOTER1));
	if (rc == MQS_OK)
		rc = gw_template_html_escape_append(&f, &flen, url, strlen(url));
	if (rc == MQS_OK)
		rc = append(&f, &flen, EMAIL_HTML_FOOTER2, strlen(EMAIL_HTML_FOOTER2));
	if (rc != MQS_OK)
		goto out;
	if (html_scan(body, blen, 0, &at, why, sizeof(why)) != MQS_OK) {
		/* a name or a value completed a construct the source scan could
		 * not see: no email whose footer could be hidden */
		rc = MQS_ERR_INVAL;
		goto out;
	}
	{
		char *r = NULL;
		size_t rlen = 0;

		rc = append(&r, &rlen, body, at);
		if (rc == MQS_OK)
			rc = append(&r, &rlen, f, flen);
		if (rc == MQS_OK)
			rc = append(&r, &rlen, body + at, blen - at);
		if (rc != MQS_OK) {
			mqs_free(r);
			goto out;
		}
		*out = r;
	}
out:
	mqs_free(body);
	mqs_free(f);
	return rc;
}

/* Render (see gw_campaign.h). */
int gw_campaign_render(const struct gw_campaign *c, int ch, const char *name, const char *unsub_url,
                       struct gw_rendered *out)
{
	size_t tlen = 0;
	int rc = MQS_ERR_INVAL;

	if (out == NULL)
		return MQS_ERR_INVAL;
	memset(out, 0, sizeof(*out));
	if (c == NULL || c->text == NULL || ch < 0 || ch >= GW_CH__COUNT ||
	    (GW_CH_BIT(ch) & GW_CAMPAIGN_MARKETING_CHANS) == 0 || !(c->chan_mask & GW_CH_BIT(ch)))
		goto out;
	if (name == NULL)
		name = "";
	if (ch == GW_CH_EMAIL) {
		size_t ul;

		if (unsub_url == NULL || c->subject == NULL)
			goto out;
		ul = strlen(unsub_url);
		if (ul == 0 || ul > UNSUB_URL_MAX ||
		    !mqs_utf8_valid((const uint8_t *)unsub_url, ul, 0) ||
		    control_offset(unsub_url, ul, NULL) < ul)
			goto out;
		rc = gw_template_render(c->subject, name, GW_TPL_PLAIN, &out->subject, NULL);
		if (rc != MQS_OK)
			goto out;
		/* a header line: no control character from the name either */
		for (char *p = out->subject; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7F)
				*p = ' ';
		rc = gw_template_render(c->text, name, GW_TPL_PLAIN, &out->text, &tlen);
		if (rc == MQS_OK)
			rc =
			    append(&out->text, &tlen, EMAIL_TEXT_FOOTER, strlen(EMAIL_TEXT_FOOTER));
		if (rc == MQS_OK)
			rc = append(&out->text, &tlen, unsub_url, ul);
		if (rc == MQS_OK && c->html != NULL)
			rc = render_html(c, name, unsub_url, &out->html);
		goto out;
	}
	rc = gw_template_render(c->text, name, GW_TPL_PLAIN, &out->text, &tlen);
	if (rc == MQS_OK && ch == GW_CH_SMS)
		rc = append(&out->text, &tlen, SMS_FOOTER, strlen(SMS_FOOTER));
out:
	if (rc != MQS_OK)
		gw_rendered_release(out);
	return rc;
}
