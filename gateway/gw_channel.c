/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_channel.c - the channel table: one row per [channel NAME] section
 * (docs/gateway.md, Channels). */
#include "config.h"

#include <string.h>

#include "gw_channel.h"
#include "gw_util.h"

/* Every channel this build knows; a new channel is one more row. */
static const struct gw_channel_type channel_types[] = {
    {"email", GW_CH_EMAIL, gw_email_keys, gw_email_new},
    {"sms", GW_CH_SMS, gw_sms_keys, gw_sms_new},
    {"phone", GW_CH_PHONE, gw_phone_keys, gw_phone_new},
    {"line", GW_CH_LINE, gw_line_keys, gw_line_new},
    {"webhook", GW_CH_WEBHOOK, gw_webhook_keys, gw_webhook_new},
    {"spool", -1, gw_spool_keys, gw_spool_new_conf},
};

/* Look a [channel NAME] up in the table. */
const struct gw_channel_type *gw_channel_type_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(channel_types) / sizeof(channel_types[0]); i++) {
		if (strcmp(channel_types[i].name, name) == 0)
			return &channel_types[i];
	}
	return NULL;
}
