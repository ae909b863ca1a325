/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_sms.c - SMS through a Twilio-style Messages.json endpoint. */
#include "config.h"

#include "gw_text.h"
#include "gw_twilio.h"

/* Keys of [channel sms]. */
const char *const gw_sms_keys[] = {"url",     "account_sid",           "auth_token",
                                   "from",    "messaging_service_sid", "timeout",
                                   "ca_file", "insecure_skip_verify",  NULL};

/* Title and body on two lines, capped on a character boundary. */
char *gw_sms_text(const struct gw_delivery *d)
{
	return gw_text_join(d->title, "\n", d->body, GW_SMS_MAX_UNITS, 0);
}

static const struct gw_twilio_kind sms_kind = {
    .name = "sms",
    .resource = "Messages.json",
    .field = "Body",
    .build = gw_sms_text,
    .service_sid = 1,
};

/* New sms channel from [channel sms]. */
struct gw_channel *gw_sms_new(const struct gw_chan_conf *conf, char *err, size_t errlen)
{
	return gw_twilio_new(&sms_kind, conf, err, errlen);
}
