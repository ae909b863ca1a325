/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-alert.c - libFuzzer target for the gateway's alert messages
 * (gw_alert.h; docs/gateway.md, kind = alert) and sensor readings
 * (gw_sensor_reading; docs/gateway.md, Sensor routes).
 *
 * Input: byte 0 picks the reading's field (none, "value", "a.b",
 * "temp.c"), the rest is a message payload.  gw_alert_parse() never
 * crashes; on failure it leaves no strings and a reason; on success the id
 * passes gw_id_check(), the severity is known, the group is the message's
 * or the default, the title is 1..200 characters of valid UTF-8 on one
 * line, the body at most 4000 characters of valid UTF-8, and only known
 * channels are named.  gw_sensor_reading() never crashes and gives a
 * finite number or a reason. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_alert.h"
#include "gw_util.h"
#include "gw_sensor.h"
#include "mqs_error.h"
#include "mqs_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Characters (code points) of valid UTF-8 s. */
static size_t chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((uint8_t)*s & 0xc0) != 0x80;
	return n;
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fields[] = {NULL, "value", "a.b", "temp.c"};
	struct gw_alert a;
	char err[256];
	double v = 0;
	int rc;

	if (size < 1 || size > 16384)
		return 0;
	memset(&a, 0xa5, sizeof(a));
	err[0] = '\0';
	rc = gw_alert_parse(data + 1, size - 1, "ops", &a, err, sizeof(err));
	if (rc != MQS_OK) {
		if (rc != MQS_ERR_PARSE || a.title != NULL || a.body != NULL || err[0] == '\0')
			abort();
	} else {
		if (!gw_id_check(a.id) || a.severity < GW_SEV_INFO ||
		    a.severity > GW_SEV_CRITICAL || a.group[0] == '\0' || a.title == NULL ||
		    a.title[0] == '\0')
			abort();
		if (!mqs_utf8_valid((const uint8_t *)a.title, strlen(a.title), 0) ||
		    chars(a.title) > GW_TITLE_MAX || strpbrk(a.title, "\r\n") != NULL)
			abort();
		if (a.body != NULL &&
		    (!mqs_utf8_valid((const uint8_t *)a.body, strlen(a.body), 0) ||
		     chars(a.body) > GW_BODY_MAX))
			abort();
		if (a.has_channels && a.chan_mask == 0)
			abort();
		for (int ch = 0; ch < 32; ch++) {
			if ((a.chan_mask >> ch & 1) != 0 && strcmp(gw_chan_name(ch), "?") == 0)
				abort();
		}
	}
	gw_alert_release(&a);
	gw_alert_release(&a);
	if (a.title != NULL || a.body != NULL)
		abort();
	rc = gw_sensor_reading(fields[data[0] % 4], data + 1, size - 1, &v, err, sizeof(err));
	if (rc == MQS_OK && !isfinite(v))
		abort();
	return 0;
}
