/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_sms.c - SMS through a Twilio-style Messages.json endpoint, sealed as
 * the secure SMS envelope M1 for recipients with an SMS key
 * (docs/sms-envelope.md, "Gateway"). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_text.h"
#include "gw_twilio.h"
#include "mqs_alloc.h"
#include "mqs_sms.h"
#include "mqs_util.h"

/* Keys of [channel sms]. */
const char *const gw_sms_keys[] = {
    "url",     "account_sid", "auth_token",           "from",     "messaging_service_sid",
    "timeout", "ca_file",     "insecure_skip_verify", "envelope", NULL};

/* Title and body on two lines, capped on a character boundary. */
char *gw_sms_text(const struct gw_delivery *d)
{
	return gw_text_join(d->title, "\n", d->body, GW_SMS_MAX_UNITS, 0);
}

/* Parse an envelope mode; see header. */
int gw_sms_envelope_parse(const char *s)
{
	if (s == NULL || strcmp(s, "off") == 0)
		return GW_SMS_ENVELOPE_OFF;
	if (strcmp(s, "on") == 0)
		return GW_SMS_ENVELOPE_ON;
	if (strcmp(s, "required") == 0)
		return GW_SMS_ENVELOPE_REQUIRED;
	return -1;
}

/* Seal title and body of d for its recipient (d->sms_key): a new body or
 * NULL with res filled. */
static char *sealed_body(const struct gw_delivery *d, struct gw_result *res)
{
	char *text = gw_text_join(d->title, "\n", d->body, 0, 0);
	char *body = mqs_malloc(MQS_SMS_BODY_MAX + 1);
	const char *route = d->route != NULL ? d->route : "";
	size_t clen = strlen(route), len = 0;
	uint8_t action;
	int rc;

	if (text == NULL || body == NULL) {
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "out of memory");
		goto fail;
	}
	/* the component is the route's name when it fits, else empty */
	if (clen > MQS_SMS_COMPONENT_MAX)
		clen = 0;
	action = d->kind != NULL && strcmp(d->kind, "marketing") == 0 ? MQS_SMS_ACTION_MARKETING
	                                                              : MQS_SMS_ACTION_ALERT;
	rc = mqs_sms_seal(d->sms_key, d->sms_key_id, (uint32_t)time(NULL), NULL, d->address,
	                  strlen(d->address), action, route, clen, text, strlen(text), body,
	                  MQS_SMS_BODY_MAX + 1, &len);
	if (rc == MQS_ERR_TOOBIG) {
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "too long (sealed over %d characters)",
		         MQS_SMS_BODY_MAX);
		goto fail;
	}
	if (rc != MQS_OK) {
		res->outcome = rc == MQS_ERR_INVAL ? GW_FAILED : GW_RETRY;
		snprintf(res->error, sizeof(res->error), "cannot seal the sms: %s",
		         mqs_strerror(rc));
		goto fail;
	}
	mqs_secret_free_str(text);
	return body;
fail:
	mqs_secret_free_str(text);
	mqs_free(body);
	return NULL;
}

/* The Body of d; see header. */
char *gw_sms_body(const struct gw_delivery *d, int envelope, struct gw_result *res)
{
	char *body = NULL;

	if (envelope != GW_SMS_ENVELOPE_OFF && d->sms_key != NULL && d->sms_key_id != 0) {
		body = sealed_body(d, res);
	} else if (envelope == GW_SMS_ENVELOPE_REQUIRED) {
		/* never a plaintext fallback (docs/sms-envelope.md) */
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "no sms key");
	} else {
		body = gw_sms_text(d);
		if (body == NULL) {
			res->outcome = GW_RETRY;
			snprintf(res->error, sizeof(res->error), "out of memory");
		}
	}
	if (body != NULL)
		res->segments = mqs_sms_segments(body, strlen(body), NULL);
	return body;
}

static const struct gw_twilio_kind sms_kind = {
    .name = "sms",
    .resource = "Messages.json",
    .field = "Body",
    .build = gw_sms_text,
    .service_sid = 1,
    .sealable = 1,
};

/* New sms channel from [channel sms]. */
struct gw_channel *gw_sms_new(const struct gw_chan_conf *conf, char *err, size_t errlen)
{
	return gw_twilio_new(&sms_kind, conf, err, errlen);
}
