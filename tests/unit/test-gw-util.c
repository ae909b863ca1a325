/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-util.c - gateway helpers: durations, channel lists, ids, UUIDs,
 * backoff, address normalisation and masking, alert validation. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gw_alert.h"
#include "gw_engine.h"
#include "gw_recipient.h"
#include "gw_route.h"
#include "mqs_utf8.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "tap.h"

static void test_durations(void)
{
	uint64_t ms = 0;

	tap_ok(gw_duration_parse("60s", &ms) == 0 && ms == 60000, "60s");
	tap_ok(gw_duration_parse("250ms", &ms) == 0 && ms == 250, "250ms");
	tap_ok(gw_duration_parse("5m", &ms) == 0 && ms == 300000, "5m");
	tap_ok(gw_duration_parse("1.5h", &ms) == 0 && ms == 5400000, "1.5h");
	tap_ok(gw_duration_parse("30", &ms) == 0 && ms == 30000, "bare number = seconds");
	tap_ok(gw_duration_parse("2d", &ms) == 0 && ms == 172800000, "2d");
	tap_ok(gw_duration_parse("-1s", &ms) != 0, "negative refused");
	tap_ok(gw_duration_parse("5 parsecs", &ms) != 0, "unknown unit refused");
	tap_ok(gw_duration_parse("", &ms) != 0, "empty refused");
}

static void test_channels(void)
{
	unsigned mask = 0;
	int order[GW_CH__COUNT];
	size_t n = 0;
	char err[128], out[64];

	tap_ok(gw_chan_list_parse("email, sms ,phone", &mask, order, &n, err, sizeof(err)) == 0 &&
	           n == 3 && order[0] == GW_CH_EMAIL && order[1] == GW_CH_SMS &&
	           order[2] == GW_CH_PHONE,
	       "channel list in order");
	tap_ok(gw_chan_list_parse("email,fax", &mask, NULL, NULL, err, sizeof(err)) != 0 &&
	           strstr(err, "fax") != NULL,
	       "unknown channel named in the error");
	tap_ok(gw_chan_list_parse("sms,sms", &mask, NULL, NULL, err, sizeof(err)) != 0,
	       "duplicate refused");
	gw_chan_mask_format(GW_CH_BIT(GW_CH_LINE) | GW_CH_BIT(GW_CH_EMAIL), out, sizeof(out));
	tap_ok(strcmp(out, "email,line") == 0, "mask formatted: %s", out);
	tap_is_int(gw_severity_parse("critical"), GW_SEV_CRITICAL, "severity parse");
	tap_is_int(gw_severity_parse("urgent"), -1, "unknown severity");
}

static void test_ids(void)
{
	char uuid[37], uuid2[37];
	char long_id[GW_ID_MAX + 2];
	char id[GW_ID_MAX + 1];

	tap_ok(gw_id_check("a-1001"), "plain id");
	tap_ok(gw_id_check("sensor-temp-r1-0badf00d-3-ok"), "sensor id");
	tap_ok(!gw_id_check("a/1"), "slash refused (topic level)");
	tap_ok(!gw_id_check("a+1") && !gw_id_check("a#") && !gw_id_check(""), "wildcards, empty");
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	tap_ok(!gw_id_check(long_id), "too long refused");
	long_id[GW_ID_MAX] = '\0';
	tap_ok(gw_id_check(long_id), "%d characters accepted", GW_ID_MAX);
	tap_ok(gw_uuid4(uuid) == 0 && gw_uuid4(uuid2) == 0 && strcmp(uuid, uuid2) != 0,
	       "uuids differ");
	tap_ok(strlen(uuid) == 36 && uuid[8] == '-' && uuid[13] == '-' && uuid[14] == '4' &&
	           strchr("89ab", uuid[19]) != NULL,
	       "uuid v4 layout: %s", uuid);
	tap_ok(gw_route_ack_id("mqttsec/status", "mqttsec/status/a-1/ack", id, sizeof(id)) &&
	           strcmp(id, "a-1") == 0,
	       "ack topic recognised");
	tap_ok(!gw_route_ack_id("mqttsec/status", "mqttsec/status/a-1", id, sizeof(id)),
	       "status topic is not an ack");
	tap_ok(!gw_route_ack_id("mqttsec/status", "mqttsec/status/a/b/ack", id, sizeof(id)),
	       "nested levels are not an ack");
}

static void test_backoff(void)
{
	int ok_range = 1;

	for (uint32_t r = 0; r < 20000; r += 997) {
		uint64_t d1 = gw_engine_backoff_ms(1000, 60000, 1, 0, r);
		uint64_t d3 = gw_engine_backoff_ms(1000, 60000, 3, 0, r);
		uint64_t d20 = gw_engine_backoff_ms(1000, 60000, 20, 0, r);

		if (d1 < 500 || d1 > 1000 || d3 < 2000 || d3 > 4000 || d20 < 30000 || d20 > 60000)
			ok_range = 0;
	}
	tap_ok(ok_range, "exponential with jitter in the upper half, capped");
	tap_ok(gw_engine_backoff_ms(100, 500, 1, 7, 0) == 7000, "retry-after wins when longer");
	tap_ok(gw_engine_backoff_ms(100, 500, 1, 10L * 86400, 0) == 86400000,
	       "retry-after capped at a day");
	tap_ok(gw_engine_backoff_ms(10000, 60000, 1, 2, 10000) == 10000,
	       "backoff wins when longer than retry-after");
}

static void test_addresses(void)
{
	char out[GW_ADDR_MAX], err[128], m[64];

	tap_ok(gw_address_normalize(GW_F_PHONE, "+1 (555) 000-0000", out, sizeof(out), err,
	                            sizeof(err)) == MQS_OK &&
	           strcmp(out, "+15550000000") == 0,
	       "phone normalised to E.164");
	tap_ok(gw_address_normalize(GW_F_PHONE, "555 0000", out, sizeof(out), err, sizeof(err)) !=
	           MQS_OK,
	       "phone without + refused");
	tap_ok(gw_address_normalize(GW_F_PHONE, "+1234567890123456", out, sizeof(out), err,
	                            sizeof(err)) != MQS_OK,
	       "16 digits refused");
	tap_ok(gw_address_normalize(GW_F_EMAIL, " a@example.com ", out, sizeof(out), err,
	                            sizeof(err)) == MQS_OK &&
	           strcmp(out, "a@example.com") == 0,
	       "email trimmed");
	tap_ok(gw_address_normalize(GW_F_EMAIL, "a@b@c.com", out, sizeof(out), err, sizeof(err)) !=
	           MQS_OK,
	       "two @ refused");
	tap_ok(gw_address_normalize(GW_F_EMAIL, "a@localhost", out, sizeof(out), err,
	                            sizeof(err)) != MQS_OK,
	       "domain without dot refused");
	tap_ok(gw_address_normalize(GW_F_EMAIL, "a b@x.com", out, sizeof(out), err, sizeof(err)) !=
	           MQS_OK,
	       "space refused");
	tap_ok(gw_address_normalize(GW_F_LINE, "U0123456789abcdef0123456789abcdef", out,
	                            sizeof(out), err, sizeof(err)) == MQS_OK,
	       "line user id accepted");
	tap_ok(gw_address_normalize(GW_F_LINE, "U01-23", out, sizeof(out), err, sizeof(err)) !=
	           MQS_OK,
	       "line id with dash refused");
	gw_address_mask(GW_F_EMAIL, "alice@example.com", m, sizeof(m));
	tap_ok(strcmp(m, "a***@e***.com") == 0, "email mask: %s", m);
	gw_address_mask(GW_F_PHONE, "+15550000000", m, sizeof(m));
	tap_ok(strcmp(m, "+1******0000") == 0, "phone mask: %s", m);
	gw_address_mask(GW_F_LINE, "U0123456789abcdef0123456789abcdef", m, sizeof(m));
	tap_ok(strcmp(m, "U***cdef") == 0, "line mask: %s", m);
	tap_ok(gw_name_check("ops-team_1") && !gw_name_check("a b") && !gw_name_check(""), "names");
}

static int parse(const char *json, const char *defgroup, struct gw_alert *a, char *err,
                 size_t errlen)
{
	return gw_alert_parse((const uint8_t *)json, strlen(json), defgroup, a, err, errlen);
}

static void test_alerts(void)
{
	struct gw_alert a;
	char err[256];

	tap_ok(
	    parse("{\"id\":\"a-1001\",\"severity\":\"critical\",\"group\":\"ops\","
	          "\"title\":\"Server room\",\"body\":\"41.5 C\",\"channels\":[\"sms\",\"line\"]}",
	          NULL, &a, err, sizeof(err)) == 0 &&
	        a.severity == GW_SEV_CRITICAL && strcmp(a.group, "ops") == 0 &&
	        a.chan_mask == (GW_CH_BIT(GW_CH_SMS) | GW_CH_BIT(GW_CH_LINE)) &&
	        strcmp(a.title, "Server room") == 0 && strcmp(a.body, "41.5 C") == 0,
	    "full alert parsed");
	gw_alert_release(&a);
	tap_ok(parse("{\"id\":\"a-2\",\"title\":\"t\"}", "ops", &a, err, sizeof(err)) == 0 &&
	           a.severity == GW_SEV_INFO && strcmp(a.group, "ops") == 0 && !a.has_channels &&
	           strcmp(a.body, "") == 0,
	       "defaults: info, route group, no channels, empty body");
	gw_alert_release(&a);
	tap_ok(parse("{\"id\":\"a-3\",\"title\":\"t\"}", NULL, &a, err, sizeof(err)) != 0 &&
	           strstr(err, "group") != NULL,
	       "no group anywhere: %s", err);
	tap_ok(parse("{\"id\":\"a-4\",\"group\":\"ops\",\"title\":\"two\\nlines\"}", NULL, &a, err,
	             sizeof(err)) != 0 &&
	           strstr(err, "title") != NULL,
	       "multi-line title refused: %s", err);
	tap_ok(parse("{\"id\":\"a-5\",\"group\":\"ops\",\"title\":\"t\",\"channels\":[\"fax\"]}",
	             NULL, &a, err, sizeof(err)) != 0,
	       "unknown channel refused");
	tap_ok(parse("{\"id\":\"a-6\",\"group\":\"ops\",\"title\":\"t\",\"channels\":[]}", NULL, &a,
	             err, sizeof(err)) != 0,
	       "empty channel list refused");
	tap_ok(parse("[1,2]", NULL, &a, err, sizeof(err)) != 0, "not an object");
	tap_ok(parse("{\"id\":17,\"group\":\"ops\",\"title\":\"t\"}", NULL, &a, err, sizeof(err)) !=
	           0,
	       "numeric id refused");
	tap_ok(
	    parse("{\"id\":\"a-7\",\"group\":\"ops\",\"title\":\"\\u00e9t\\u00e9 \xe2\x9c\x93\"}",
	          NULL, &a, err, sizeof(err)) == 0,
	    "UTF-8 title accepted");
	gw_alert_release(&a);
	tap_ok(parse("{\"id\":\"a-8\",\"group\":\"ops\",\"title\":\"\xc3\x28\"}", NULL, &a, err,
	             sizeof(err)) != 0,
	       "invalid UTF-8 refused");
	tap_ok(!mqs_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3, 0), "surrogates refused");
	tap_ok(!mqs_utf8_valid((const uint8_t *)"\xc0\xaf", 2, 0), "overlong refused");
	tap_ok(mqs_utf8_valid((const uint8_t *)"\xf0\x9f\x94\xa5", 4, 0),
	       "4-byte sequence accepted");
}

int main(void)
{
	test_durations();
	test_channels();
	test_ids();
	test_backoff();
	test_addresses();
	test_alerts();
	return tap_exit();
}
