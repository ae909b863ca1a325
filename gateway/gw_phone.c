/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_phone.c - voice calls through a Twilio-style Calls.json endpoint; the
 * alert is spoken with inline TwiML <Say>. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gw_text.h"
#include "gw_twilio.h"
#include "mqs_alloc.h"
#include "mqs_utf8.h"

#define TWIML_HEAD "<Response><Say>"
#define TWIML_TAIL "</Say></Response>"

/* Keys of [channel phone]. */
const char *const gw_phone_keys[] = {"url",     "account_sid", "auth_token",           "from",
                                     "timeout", "ca_file",     "insecure_skip_verify", NULL};

/* XML escape of one code point, or NULL when it is copied as is. */
static const char *xml_entity(uint32_t cp)
{
	switch (cp) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&apos;";
	default:
		return NULL;
	}
}

/* <Response><Say>escaped text</Say></Response>, capped in bytes. */
char *gw_phone_twiml(const struct gw_delivery *d)
{
	/* spoken as one line; gw_text_join leaves valid UTF-8 without controls */
	char *text = gw_text_join(d->title, ". ", d->body, 0, GW_TEXT_ONELINE);
	size_t room = GW_PHONE_TWIML_MAX - strlen(TWIML_HEAD) - strlen(TWIML_TAIL);
	const unsigned char *p;
	size_t left;
	char *out = NULL;
	size_t len = 0;

	if (text == NULL)
		goto out;
	out = mqs_malloc(GW_PHONE_TWIML_MAX + 1);
	if (out == NULL)
		goto out;
	memcpy(out, TWIML_HEAD, strlen(TWIML_HEAD));
	len = strlen(TWIML_HEAD);
	p = (const unsigned char *)text;
	left = strlen(text);
	while (left > 0) {
		uint32_t cp = 0;
		size_t n = mqs_utf8_decode(p, left, &cp);
		const char *ent;
		size_t add;

		if (n == 0)
			break; /* cannot happen: text is valid UTF-8 */
		ent = xml_entity(cp);
		add = ent != NULL ? strlen(ent) : n;
		if (add > room)
			break;
		memcpy(out + len, ent != NULL ? ent : (const char *)p, add);
		len += add;
		room -= add;
		p += n;
		left -= n;
	}
	memcpy(out + len, TWIML_TAIL, strlen(TWIML_TAIL) + 1);
out:
	mqs_free(text);
	return out;
}

static const struct gw_twilio_kind phone_kind = {
    .name = "phone",
    .resource = "Calls.json",
    .field = "Twiml",
    .build = gw_phone_twiml,
    .service_sid = 0,
};

/* New phone channel from [channel phone]. */
struct gw_channel *gw_phone_new(const struct gw_chan_conf *conf, char *err, size_t errlen)
{
	return gw_twilio_new(&phone_kind, conf, err, errlen);
}
