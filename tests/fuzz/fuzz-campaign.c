/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-campaign.c - libFuzzer target for the campaign parser and the
 * template engine (gw_campaign.h, gw_template.h; docs/marketing.md).
 *
 * Each input is (1) parsed as a campaign: on success the hash matches the
 * bytes, and for every test name whose size passes check_limits the
 * rendering of each channel stays within the channel's limit, is valid
 * UTF-8, and an email subject holds no control character; (2) compiled
 * as a template on its own: any rendering is within the worst case. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_campaign.h"
#include "gw_template.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_utf8.h"

static const char *const names[] = {"", "Ann", "\"&<>'\"&<>'\"&<>'\"&<>'",
                                    "\xf0\x9f\x94\xa5 \xc3\xa9t\xc3\xa9",
                                    "A very long name of a customer, quite long indeed"};

/* Unicode characters of s. */
static size_t nchars(const char *s)
{
	size_t c = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			c++;
	return c;
}

/* UTF-16 code units of s (how Twilio counts an SMS). */
static size_t nunits(const char *s)
{
	size_t c = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			c += (unsigned char)*s >= 0xF0 ? 2 : 1;
	return c;
}

/* Abort unless s is strict UTF-8. */
static void must_utf8(const char *s)
{
	if (s != NULL && !mqs_utf8_valid((const uint8_t *)s, strlen(s), 0))
		abort();
}

/* Render every channel of c for name; abort on a broken invariant. */
static void render_all(const struct gw_campaign *c, const char *name, int sealed)
{
	char err[256];
	size_t nb = strlen(name), nc = nchars(name);
	int limits_ok = gw_campaign_check_limits(c, nb, nc, sealed, err, sizeof(err)) == MQS_OK;

	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		struct gw_rendered r;
		int rc = gw_campaign_render(c, ch, name, "https://example.com/u/t?a=1&b=\"2\"", &r);

		if (!(c->chan_mask & GW_CH_BIT(ch))) {
			if (rc != MQS_ERR_INVAL || r.text != NULL)
				abort();
			continue;
		}
		if (rc != MQS_OK) {
			if (limits_ok)
				abort(); /* checked limits promise a rendering */
			continue;
		}
		must_utf8(r.subject);
		must_utf8(r.text);
		must_utf8(r.html);
		if (limits_ok && ch == GW_CH_EMAIL) {
			if (r.subject == NULL || nchars(r.subject) > GW_CAMPAIGN_SUBJECT_MAX ||
			    strlen(r.text) > GW_EMAIL_TEXT_MAX ||
			    (r.html != NULL && strlen(r.html) > GW_EMAIL_HTML_MAX))
				abort();
			for (const char *p = r.subject; *p != '\0'; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7F)
					abort();
		}
		if (limits_ok && ch == GW_CH_SMS) {
			if (sealed ? strlen(r.text) > GW_SMS_SEALED_TEXT_MAX
			           : nunits(r.text) > GW_SMS_PLAIN_MAX)
				abort();
		}
		if (limits_ok && ch == GW_CH_LINE && nchars(r.text) > GW_LINE_TEXT_MAX)
			abort();
		gw_rendered_release(&r);
	}
}

/* The input as a template on its own. */
static void template_alone(const uint8_t *data, size_t size)
{
	static const struct gw_tpl_vars vars = {
	    .n = 2, .key = {"offer", "x"}, .value = {"20% <off>", "\xc3\xa9&"}};
	struct gw_template *t = NULL;
	char err[256];

	if (gw_template_compile("text", (const char *)data, size, &vars, &t, err, sizeof(err)) !=
	    MQS_OK) {
		if (t != NULL || strlen(err) == 0)
			abort();
		return;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (int esc = GW_TPL_PLAIN; esc <= GW_TPL_HTML; esc++) {
			char *out = NULL;
			size_t len = 0, wb = 0, wc = 0;

			gw_template_worst(t, strlen(names[i]), nchars(names[i]), esc, &wb, &wc);
			if (gw_template_render(t, names[i], esc, &out, &len) != MQS_OK)
				continue;
			if (len != strlen(out) || len > wb || nchars(out) > wc ||
			    nunits(out) >
			        gw_template_worst_utf16(t, strlen(names[i]), nchars(names[i]), esc))
				abort();
			must_utf8(out);
			free(out);
		}
	}
	gw_template_free(t);
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_campaign c;
	char err[256], hex[65];

	err[0] = '\0';
	if (gw_campaign_parse(data, size, &c, err, sizeof(err)) == MQS_OK) {
		gw_campaign_sha256_hex(data, size, hex);
		if (strcmp(hex, c.sha256_hex) != 0 || c.text == NULL || c.chan_mask == 0 ||
		    (c.chan_mask & ~GW_CAMPAIGN_MARKETING_CHANS) != 0 ||
		    ((c.chan_mask & GW_CH_BIT(GW_CH_EMAIL)) != 0) != (c.subject != NULL) ||
		    !gw_id_check(c.id))
			abort();
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			render_all(&c, names[i], 0);
			render_all(&c, names[i], 1);
		}
		gw_campaign_release(&c);
		gw_campaign_release(&c); /* idempotent */
	} else {
		if (strlen(err) == 0 || c.text != NULL || c.nvars != 0)
			abort();
	}
	template_alone(data, size);
	return 0;
}
