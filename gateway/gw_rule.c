/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_rule.c - the sensor rule language: parse, describe, evaluate
 * (docs/gateway.md, Sensor routes). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_address.h"
#include "gw_rule.h"
#include "gw_util.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_utf8.h"

static const char *const op_text[] = {">", ">=", "<", "<="};

/* Free a rule's strings. */
void gw_rule_release(struct gw_rule *r)
{
	if (r == NULL)
		return;
	mqs_free(r->group);
	mqs_free(r->title);
	mqs_free(r->body);
	memset(r, 0, sizeof(*r));
}

/* p after any white space. */
static const char *skip_ws(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* Read a token (up to whitespace) or a "quoted string" with \" and \\
 * escapes into a new string. */
static const char *read_value(const char *p, char **out, char *err, size_t errlen)
{
	size_t cap = strlen(p) + 1, n = 0;
	char *buf = mqs_malloc(cap);

	*out = NULL;
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\0') {
				mqs_free(buf);
				snprintf(err, errlen, "unterminated quoted value");
				return NULL;
			}
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			buf[n++] = *p;
		}
		p++;
	} else {
		while (*p != '\0' && !isspace((unsigned char)*p))
			buf[n++] = *p++;
	}
	buf[n] = '\0';
	*out = buf;
	return p;
}

/* Parse "value OP N [for D] => alert k=v ...". */
int gw_rule_parse(const char *text, struct gw_rule *r, char *err, size_t errlen)
{
	const char *p = skip_ws(text);
	char *end = NULL;

	memset(r, 0, sizeof(*r));
	r->severity = GW_SEV_WARNING;
	if (strncmp(p, "value", 5) != 0) {
		snprintf(err, errlen,
		         "must start with \"value\" (e.g. value > 40 for 60s => alert "
		         "group=ops)");
		goto fail;
	}
	p = skip_ws(p + 5);
	if (p[0] == '>' && p[1] == '=') {
		r->op = GW_OP_GE;
		p += 2;
	} else if (p[0] == '<' && p[1] == '=') {
		r->op = GW_OP_LE;
		p += 2;
	} else if (p[0] == '>') {
		r->op = GW_OP_GT;
		p++;
	} else if (p[0] == '<') {
		r->op = GW_OP_LT;
		p++;
	} else {
		snprintf(err, errlen, "expected >, >=, < or <= after \"value\"");
		goto fail;
	}
	p = skip_ws(p);
	errno = 0;
	r->threshold = strtod(p, &end);
	if (end == p || errno != 0 || !isfinite(r->threshold)) {
		snprintf(err, errlen, "expected a number after the operator");
		goto fail;
	}
	p = skip_ws(end);
	if (strncmp(p, "for", 3) == 0 && isspace((unsigned char)p[3])) {
		char dur[32];
		size_t n = 0;

		p = skip_ws(p + 3);
		while (*p != '\0' && !isspace((unsigned char)*p) && n + 1 < sizeof(dur))
			dur[n++] = *p++;
		dur[n] = '\0';
		if (gw_duration_parse(dur, &r->hold_ms) != 0) {
			snprintf(err, errlen, "bad duration after \"for\" (e.g. 60s, 5m)");
			goto fail;
		}
		p = skip_ws(p);
	}
	if (strncmp(p, "=>", 2) != 0) {
		snprintf(err, errlen, "expected => after the condition");
		goto fail;
	}
	p = skip_ws(p + 2);
	if (strncmp(p, "alert", 5) != 0 || (p[5] != '\0' && !isspace((unsigned char)p[5]))) {
		snprintf(err, errlen, "expected \"alert\" after =>");
		goto fail;
	}
	p = skip_ws(p + 5);
	while (*p != '\0') {
		char key[16];
		char *val = NULL;
		size_t n = 0;

		while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p) &&
		       n + 1 < sizeof(key))
			key[n++] = *p++;
		key[n] = '\0';
		if (*p != '=') {
			snprintf(err, errlen, "expected key=value, got %s", key);
			goto fail;
		}
		p = read_value(p + 1, &val, err, errlen);
		if (p == NULL)
			goto fail;
		if (strcmp(key, "group") == 0) {
			mqs_free(r->group);
			r->group = val;
			if (!gw_name_check(val)) {
				snprintf(err, errlen, "group: bad group name");
				goto fail;
			}
		} else if (strcmp(key, "severity") == 0) {
			r->severity = gw_severity_parse(val);
			mqs_free(val);
			if (r->severity < 0) {
				snprintf(err, errlen, "severity must be info, warning or critical");
				goto fail;
			}
		} else if (strcmp(key, "title") == 0) {
			mqs_free(r->title);
			r->title = val;
			if (*val == '\0' || strlen(val) > GW_RULE_TITLE_MAX) {
				snprintf(err, errlen, "title must be 1..%d bytes",
				         GW_RULE_TITLE_MAX);
				goto fail;
			}
			/* alert text is UTF-8 (docs/gateway.md, Sensor routes) */
			if (!mqs_utf8_valid((const uint8_t *)val, strlen(val), 0)) {
				snprintf(err, errlen, "title must be UTF-8");
				goto fail;
			}
		} else if (strcmp(key, "body") == 0) {
			mqs_free(r->body);
			r->body = val;
			if (!mqs_utf8_valid((const uint8_t *)val, strlen(val), 0)) {
				snprintf(err, errlen, "body must be UTF-8");
				goto fail;
			}
		} else if (strcmp(key, "channels") == 0) {
			char why[128];
			int bad =
			    gw_chan_list_parse(val, &r->chan_mask, NULL, NULL, why, sizeof(why));

			mqs_free(val);
			if (bad || r->chan_mask == 0) {
				snprintf(err, errlen, "channels: %s", bad ? why : "empty");
				goto fail;
			}
			r->has_channels = 1;
		} else if (strcmp(key, "hysteresis") == 0) {
			r->hysteresis = strtod(val, &end);
			r->has_hysteresis = 1;
			if (end == val || *end != '\0' || !isfinite(r->hysteresis) ||
			    r->hysteresis < 0) {
				mqs_free(val);
				snprintf(err, errlen, "hysteresis must be a number >= 0");
				goto fail;
			}
			mqs_free(val);
		} else {
			mqs_free(val);
			snprintf(err, errlen,
			         "unknown attribute %s (group, severity, title, body, channels, "
			         "hysteresis)",
			         key);
			goto fail;
		}
		p = skip_ws(p);
	}
	return MQS_OK;
fail:
	gw_rule_release(r);
	return MQS_ERR_PARSE;
}

/* "value > 40 for 60s". */
void gw_rule_describe(const struct gw_rule *r, char *out, size_t cap)
{
	if (r->hold_ms > 0)
		snprintf(out, cap, "value %s %g for %gs", op_text[r->op], r->threshold,
		         (double)r->hold_ms / 1000.0);
	else
		snprintf(out, cap, "value %s %g", op_text[r->op], r->threshold);
}

/* Does v meet the condition, the threshold moved by shift? */
int gw_rule_holds(const struct gw_rule *r, double v, double shift)
{
	switch (r->op) {
	case GW_OP_GT:
		return v > r->threshold - shift;
	case GW_OP_GE:
		return v >= r->threshold - shift;
	case GW_OP_LT:
		return v < r->threshold + shift;
	default:
		return v <= r->threshold + shift;
	}
}
