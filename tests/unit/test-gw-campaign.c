/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-campaign.c - the campaign format (docs/marketing.md,
 * "Submitting a campaign"): every field's rules and bad types, duplicate
 * and unknown keys, send_at, the hash over the exact bytes, per-channel
 * limits (huge expansions refused at submission), render with footers. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_campaign.h"
#include "gw_template.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "tap.h"

#define GOOD                                                                                       \
	"{\"id\": \"c-2026-12-winter\", \"group\": \"customers\",\n"                               \
	" \"channels\": [\"email\", \"line\", \"sms\"], \"subject\": \"Winter sale\",\n"           \
	" \"text\": \"Hello {{name}}, {{vars.offer}} until {{vars.until}}.\",\n"                   \
	" \"html\": \"<html><body><p>Hello {{name}}, {{vars.offer}}</p></body></html>\",\n"        \
	" \"vars\": {\"offer\": \"20% off\", \"until\": \"24 Dec\"},\n"                            \
	" \"send_at\": \"2026-12-10T09:00:00Z\"}"

/* Parse the NUL-terminated json. */
static int parse(const char *json, struct gw_campaign *c, char *err, size_t errlen)
{
	return gw_campaign_parse((const uint8_t *)json, strlen(json), c, err, errlen);
}

/* Expect json refused with code want and a reason containing needle. */
static void refused(const char *json, int want, const char *needle, const char *what)
{
	struct gw_campaign c;
	char err[256] = "";
	int rc = parse(json, &c, err, sizeof(err));

	if (!tap_ok(rc == want && strstr(err, needle) != NULL && c.text == NULL, "%s refused (%s)",
	            what, err))
		tap_diag("rc %d, want %d", rc, want);
	gw_campaign_release(&c);
}

/* A minimal SMS campaign with field set to value (raw JSON). */
static void bad_field(const char *field, const char *value, int want, const char *needle)
{
	char json[1024];
	const char *id = "\"c1\"", *group = "\"g\"", *chans = "[\"sms\"]", *text = "\"hi\"";
	const char *extra = "";
	char extra_buf[512];

	if (strcmp(field, "id") == 0)
		id = value;
	else if (strcmp(field, "group") == 0)
		group = value;
	else if (strcmp(field, "channels") == 0)
		chans = value;
	else if (strcmp(field, "text") == 0)
		text = value;
	else {
		snprintf(extra_buf, sizeof(extra_buf), ", \"%s\": %s", field, value);
		extra = extra_buf;
	}
	snprintf(json, sizeof(json), "{\"id\":%s,\"group\":%s,\"channels\":%s,\"text\":%s%s}", id,
	         group, chans, text, extra);
	refused(json, want, needle, json);
}

static void test_good(void)
{
	struct gw_campaign c;
	char err[256] = "", hex[65];

	tap_ok(parse(GOOD, &c, err, sizeof(err)) == MQS_OK, "the documented example parses (%s)",
	       err);
	tap_ok(strcmp(c.id, "c-2026-12-winter") == 0 && strcmp(c.group, "customers") == 0,
	       "id and group");
	tap_ok(c.chan_mask == GW_CAMPAIGN_MARKETING_CHANS, "email, line, sms");
	tap_ok(c.subject != NULL && c.text != NULL && c.html != NULL, "templates compiled");
	tap_ok(c.nvars == 2 && strcmp(c.var_key[0], "offer") == 0 &&
	           strcmp(c.var_value[1], "24 Dec") == 0,
	       "vars kept in order");
	tap_ok(c.send_at_ms == 1796893200000LL, "send_at 2026-12-10T09:00:00Z = %lld ms",
	       (long long)c.send_at_ms);
	gw_campaign_sha256_hex((const uint8_t *)GOOD, strlen(GOOD), hex);
	tap_ok(strcmp(hex, c.sha256_hex) == 0 && strlen(hex) == 64,
	       "sha256_hex of the exact bytes");
	gw_campaign_release(&c);
	gw_campaign_release(&c);
	gw_campaign_release(NULL);
	tap_ok(c.text == NULL && c.nvars == 0, "release is idempotent");
	/* the empty input's hash is the well-known one */
	gw_campaign_sha256_hex((const uint8_t *)"", 0, hex);
	tap_ok(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0,
	       "sha256 of nothing");
}

static void test_hash(void)
{
	struct gw_campaign a, b;
	char err[256];
	const char *j1 = "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"hi\"}";
	const char *j2 = "{\"id\":\"c1\", \"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"hi\"}";
	const char *j3 = "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"hi\"}\n";

	tap_ok(parse(j1, &a, err, sizeof(err)) == MQS_OK &&
	           parse(j2, &b, err, sizeof(err)) == MQS_OK,
	       "same campaign, different whitespace");
	tap_ok(memcmp(a.sha256, b.sha256, 32) != 0 && strcmp(a.sha256_hex, b.sha256_hex) != 0,
	       "whitespace changes the hash");
	gw_campaign_release(&b);
	tap_ok(parse(j3, &b, err, sizeof(err)) == MQS_OK && memcmp(a.sha256, b.sha256, 32) != 0,
	       "a trailing newline is allowed and changes the hash");
	gw_campaign_release(&a);
	gw_campaign_release(&b);
}

static void test_refusals(void)
{
	char *big;

	refused("", MQS_ERR_PARSE, "campaign: not valid json", "empty input");
	refused("{\"id\":\"c1\"} x", MQS_ERR_PARSE, "not valid json", "trailing garbage");
	refused("{\"id\":\"c1\"}{}", MQS_ERR_PARSE, "not valid json", "two objects");
	refused("[1,2]", MQS_ERR_INVAL, "must be a json object", "an array");
	refused("\"text\"", MQS_ERR_INVAL, "must be a json object", "a string");
	refused(
	    "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"hi\",\"id\":\"c2\"}",
	    MQS_ERR_INVAL, "duplicate key \"id\"", "duplicate id");
	refused(
	    "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"hi\",\"i\\u0064\":"
	    "\"c2\"}",
	    MQS_ERR_INVAL, "duplicate key \"id\"", "duplicate key spelled with an escape");
	refused(
	    "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"hi\",\"vars\":{\"a\":"
	    "\"1\",\"a\":\"2\"}}",
	    MQS_ERR_INVAL, "vars: duplicate key \"a\"", "duplicate variable");
	refused(
	    "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"hi\",\"Text\":\"x\"}",
	    MQS_ERR_INVAL, "unknown key \"Text\"", "unknown key");
	refused("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"h\xc3\x28\"}",
	        MQS_ERR_PARSE, "invalid utf-8 at byte 51", "invalid UTF-8 in the document");
	refused("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"h\\u0000i\"}",
	        MQS_ERR_PARSE, "\\u0000", "\\u0000 in a string");
	refused("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"h\\ud800i\"}",
	        MQS_ERR_PARSE, "not valid json", "lone surrogate escape");
	big = malloc(GW_CAMPAIGN_MAX + 2);
	memset(big, ' ', GW_CAMPAIGN_MAX + 1);
	big[GW_CAMPAIGN_MAX + 1] = '\0';
	refused(big, MQS_ERR_TOOBIG, "limit 65536", "document above 64 KiB");
	free(big);

	/* required fields */
	refused("{\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"hi\"}", MQS_ERR_INVAL,
	        "id: required", "no id");
	refused("{\"id\":\"c1\",\"channels\":[\"sms\"],\"text\":\"hi\"}", MQS_ERR_INVAL,
	        "group: required", "no group");
	refused("{\"id\":\"c1\",\"group\":\"g\",\"text\":\"hi\"}", MQS_ERR_INVAL,
	        "channels: required", "no channels");
	refused("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"]}", MQS_ERR_INVAL,
	        "text: required", "no text");

	/* every field's bad type */
	bad_field("id", "7", MQS_ERR_INVAL, "id: must be a string");
	bad_field("group", "[\"g\"]", MQS_ERR_INVAL, "group: must be a string");
	bad_field("channels", "\"sms\"", MQS_ERR_INVAL, "channels: must be a list of strings");
	bad_field("channels", "[1]", MQS_ERR_INVAL, "channels: must be a list of strings");
	bad_field("text", "null", MQS_ERR_INVAL, "text: must be a string");
	bad_field("subject", "true", MQS_ERR_INVAL, "subject: only with the email channel");
	bad_field("html", "{}", MQS_ERR_INVAL, "html: only with the email channel");
	bad_field("vars", "[]", MQS_ERR_INVAL, "vars: must be an object of strings");
	bad_field("vars", "{\"a\": 1}", MQS_ERR_INVAL, "vars.a: must be a string");
	bad_field("send_at", "1797066000", MQS_ERR_INVAL, "send_at: must be a string");
	refused(
	    "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],\"text\":\"hi\",\"subject\":"
	    "5}",
	    MQS_ERR_INVAL, "subject: must be a string", "subject a number");
	refused(
	    "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],\"text\":\"hi\",\"subject\":"
	    "\"s\",\"html\":[]}",
	    MQS_ERR_INVAL, "html: must be a string", "html a list");

	/* values */
	bad_field("id", "\"a b\"", MQS_ERR_INVAL, "id: 1..128");
	bad_field("id", "\"\"", MQS_ERR_INVAL, "id: 1..128");
	bad_field("group", "\"a/b\"", MQS_ERR_INVAL, "group: 1..64");
	bad_field("group", "\"\"", MQS_ERR_INVAL, "group: 1..64");
	bad_field("group", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
	          MQS_ERR_INVAL, "group: 1..64");
	bad_field("channels", "[]", MQS_ERR_INVAL, "channels: empty");
	bad_field("channels", "[\"phone\"]", MQS_ERR_INVAL, "channels: phone is not a marketing");
	bad_field("channels", "[\"webhook\"]", MQS_ERR_INVAL,
	          "channels: webhook is not a marketing");
	bad_field("channels", "[\"spool\"]", MQS_ERR_INVAL, "channels: unknown channel \"spool\"");
	bad_field("channels", "[\"fax\"]", MQS_ERR_INVAL, "channels: unknown channel \"fax\"");
	bad_field("channels", "[\"sms\",\"line\",\"sms\"]", MQS_ERR_INVAL,
	          "channels: sms listed twice");
	bad_field("text", "\"\"", MQS_ERR_INVAL, "text: empty");
	bad_field("text", "\"a\\u0007b\"", MQS_ERR_INVAL, "text: control character at byte 1");
	bad_field("text", "\"Hi {{name}\"", MQS_ERR_PARSE, "text: unbalanced {{ at byte 3");
	bad_field("text", "\"Hi name}}\"", MQS_ERR_PARSE, "text: unbalanced }} at byte 7");
	bad_field("text", "\"{{vars.nope}}\"", MQS_ERR_PARSE,
	          "text: unknown placeholder {{vars.nope}} at byte 0");
	bad_field("vars", "{\"Big\": \"x\"}", MQS_ERR_INVAL, "vars: bad name \"Big\"");
	bad_field("vars", "{\"\": \"x\"}", MQS_ERR_INVAL, "vars: bad name");
	bad_field("vars", "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": \"x\"}", MQS_ERR_INVAL,
	          "vars: bad name");
	bad_field("vars", "{\"a\": \"x\\r\\nBcc: victim@example.com\"}", MQS_ERR_INVAL,
	          "vars.a: control character at byte 1");
	bad_field("vars", "{\"a\": \"\xc2\x85\"}", MQS_ERR_INVAL,
	          "vars.a: control character at byte 0");
	{
		char v[2048], json[2600];

		memset(v, 'x', GW_VAR_VALUE_MAX + 1);
		v[GW_VAR_VALUE_MAX + 1] = '\0';
		snprintf(json, sizeof(json),
		         "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"hi\","
		         "\"vars\":{\"a\":\"%s\"}}",
		         v);
		refused(json, MQS_ERR_TOOBIG, "vars.a: 1025 bytes (limit 1024)",
		        "variable above 1 KiB");
	}
	{
		char json[2048];
		size_t n;

		n = (size_t)snprintf(json, sizeof(json),
		                     "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],"
		                     "\"text\":\"hi\",\"vars\":{");
		for (int i = 0; i <= GW_VARS_MAX; i++)
			n += (size_t)snprintf(json + n, sizeof(json) - n, "%s\"v%d\":\"x\"",
			                      i > 0 ? "," : "", i);
		snprintf(json + n, sizeof(json) - n, "}}");
		refused(json, MQS_ERR_TOOBIG, "vars: more than 32 variables", "33 variables");
	}
	{
		char *json = malloc(GW_CAMPAIGN_TEXT_MAX + 200);
		size_t n =
		    (size_t)sprintf(json, "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],"
		                          "\"text\":\"");

		memset(json + n, 'a', GW_CAMPAIGN_TEXT_MAX + 1);
		n += GW_CAMPAIGN_TEXT_MAX + 1;
		strcpy(json + n, "\"}");
		refused(json, MQS_ERR_TOOBIG, "text: 32769 bytes (limit 32768)",
		        "text above 32 KiB");
		free(json);
	}

	/* subject and html go with email */
	refused("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],\"text\":\"hi\"}",
	        MQS_ERR_INVAL, "subject: required with the email channel", "email without subject");
	refused("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],\"text\":\"hi\","
	        "\"subject\":\"\"}",
	        MQS_ERR_INVAL, "subject: empty", "empty subject");
	refused("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],\"text\":\"hi\","
	        "\"subject\":\"a\\r\\nBcc: x@example.com\"}",
	        MQS_ERR_INVAL, "subject: control character at byte 1", "CR/LF in the subject");
	refused("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],\"text\":\"hi\","
	        "\"subject\":\"a\\tb\"}",
	        MQS_ERR_INVAL, "subject: control character", "tab in the subject");
	refused("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],\"text\":\"hi\","
	        "\"subject\":\"{{vars.x}}\"}",
	        MQS_ERR_PARSE, "subject: unknown placeholder {{vars.x}} at byte 0",
	        "subject with an unknown variable");
	refused("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],\"text\":\"hi\","
	        "\"subject\":\"s\",\"html\":\"<p>{{name</p>\"}",
	        MQS_ERR_PARSE, "html: unbalanced {{ at byte 3", "html with unbalanced braces");
}

/* send_at value s: expect ms (or refusal when ms < 0). */
static void send_at(const char *s, long long ms)
{
	char json[256], err[256];
	struct gw_campaign c;
	int rc;

	snprintf(json, sizeof(json),
	         "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"hi\","
	         "\"send_at\":\"%s\"}",
	         s);
	rc = parse(json, &c, err, sizeof(err));
	if (ms < 0)
		tap_ok(rc == MQS_ERR_INVAL && strstr(err, "send_at:") != NULL, "send_at %s refused",
		       s);
	else
		tap_ok(rc == MQS_OK && c.send_at_ms == ms, "send_at %s = %lld", s,
		       (long long)c.send_at_ms);
	gw_campaign_release(&c);
}

static void test_send_at(void)
{
	send_at("2026-12-10T09:00:00Z", 1796893200000LL);
	send_at("2026-12-10T09:00:00.5Z", 1796893200500LL);
	send_at("2026-12-10T09:00:00.123456789Z", 1796893200123LL);
	send_at("2028-02-29T00:00:00Z", 1835395200000LL);
	send_at("2000-01-01T00:00:00Z", 946684800000LL);
	send_at("2027-02-29T00:00:00Z", -1);
	send_at("2026-13-01T00:00:00Z", -1);
	send_at("2026-04-31T00:00:00Z", -1);
	send_at("2026-12-10T24:00:00Z", -1);
	send_at("2026-12-10T09:60:00Z", -1);
	send_at("2026-12-10T09:00:60Z", -1);
	send_at("2026-12-10T09:00:00", -1);
	send_at("2026-12-10T09:00:00+01:00", -1);
	send_at("2026-12-10 09:00:00Z", -1);
	send_at("2026-12-10t09:00:00z", -1);
	send_at("2026-12-10T09:00:00.Z", -1);
	send_at("2026-12-10T09:00:00.1234567890Z", -1);
	send_at("1999-12-31T23:59:59Z", -1);
	send_at("+026-12-10T09:00:00Z", -1);
	send_at("", -1);
}

/* Parse json or fail the test. */
static int must_parse(const char *json, struct gw_campaign *c)
{
	char err[256];
	int rc = parse(json, c, err, sizeof(err));

	if (rc != MQS_OK)
		tap_diag("parse: %s", err);
	return rc == MQS_OK;
}

static void test_limits(void)
{
	struct gw_campaign c;
	char err[256], *json, *p;
	size_t n;

	/* 1000 x {{vars.big}} with a 1 KiB value: refused at the limits
	 * check, long before any render */
	json = malloc(16384);
	n = (size_t)sprintf(json, "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"line\"],"
	                          "\"vars\":{\"big\":\"");
	memset(json + n, 'x', GW_VAR_VALUE_MAX);
	n += GW_VAR_VALUE_MAX;
	n += (size_t)sprintf(json + n, "\"},\"text\":\"");
	for (int i = 0; i < 1000; i++) {
		memcpy(json + n, "{{vars.big}}", 12);
		n += 12;
	}
	strcpy(json + n, "\"}");
	tap_ok(must_parse(json, &c), "huge expansion parses (%zu bytes)", strlen(json));
	tap_ok(gw_campaign_check_limits(&c, 0, 0, 0, err, sizeof(err)) == MQS_ERR_TOOBIG &&
	           strstr(err, "line: text can reach 1024000 characters") != NULL,
	       "huge expansion refused at limits (%s)", err);
	gw_campaign_release(&c);

	/* SMS: plain vs sealed */
	p = json;
	n = (size_t)sprintf(p, "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"");
	memset(p + n, 'a', 500);
	n += 500;
	strcpy(p + n, " {{name}}\"}");
	tap_ok(must_parse(json, &c), "500-character SMS parses");
	tap_ok(gw_campaign_check_limits(&c, 40, 40, 0, err, sizeof(err)) == MQS_OK,
	       "fits a plain SMS (1600)");
	tap_ok(gw_campaign_check_limits(&c, 40, 40, 1, err, sizeof(err)) == MQS_ERR_TOOBIG &&
	           strstr(err, "sms: sealed text can reach 563 bytes") != NULL,
	       "does not fit a sealed SMS (%s)", err);
	gw_campaign_release(&c);
	/* exactly at the plain limit: 1600 - 22 (footer) - 1 (space) = 1577 + name */
	n = (size_t)sprintf(p, "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],\"text\":\"");
	memset(p + n, 'a', 1567);
	n += 1567;
	strcpy(p + n, " {{name}}\"}");
	tap_ok(must_parse(json, &c), "1568 + name SMS parses");
	tap_ok(gw_campaign_check_limits(&c, 10, 10, 0, err, sizeof(err)) == MQS_OK,
	       "1568 + 10 + 22 = 1600 characters accepted");
	tap_ok(gw_campaign_check_limits(&c, 11, 11, 0, err, sizeof(err)) == MQS_ERR_TOOBIG &&
	           strstr(err, "sms: text can reach 1601 characters for the longest name (limit "
	                       "1600)") != NULL,
	       "1601 refused (%s)", err);
	gw_campaign_release(&c);
	/* characters, not bytes: 800 x U+00E9 = 1600 bytes, 800 characters */
	n = (size_t)sprintf(p, "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\",\"line\"],"
	                       "\"text\":\"");
	for (int i = 0; i < 800; i++) {
		memcpy(p + n, "\xc3\xa9", 2);
		n += 2;
	}
	strcpy(p + n, "\"}");
	tap_ok(must_parse(json, &c) &&
	           gw_campaign_check_limits(&c, 0, 0, 0, err, sizeof(err)) == MQS_OK,
	       "sms and line limits count characters");
	gw_campaign_release(&c);
	/* Twilio counts UTF-16 units: 800 x U+1F525 is 1600 units, plus the
	 * footer over the cap; LINE alone counts 800 characters */
	n = (size_t)sprintf(p, "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\",\"line\"],"
	                       "\"text\":\"");
	for (int i = 0; i < 800; i++) {
		memcpy(p + n, "\xf0\x9f\x94\xa5", 4);
		n += 4;
	}
	strcpy(p + n, "\"}");
	tap_ok(must_parse(json, &c) &&
	           gw_campaign_check_limits(&c, 0, 0, 0, err, sizeof(err)) == MQS_ERR_TOOBIG &&
	           strstr(err, "sms: text can reach 1622 characters") != NULL,
	       "sms counts UTF-16 units like Twilio (%s)", err);
	gw_campaign_release(&c);
	/* a name of 8 bytes / 2 characters may be two emoji: 4 units */
	n = (size_t)sprintf(p, "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"sms\"],"
	                       "\"text\":\"");
	memset(p + n, 'a', 1574);
	n += 1574;
	strcpy(p + n, "{{name}}\"}");
	tap_ok(must_parse(json, &c) &&
	           gw_campaign_check_limits(&c, 8, 2, 0, err, sizeof(err)) == MQS_OK &&
	           gw_campaign_check_limits(&c, 4, 4, 0, err, sizeof(err)) == MQS_OK &&
	           gw_campaign_check_limits(&c, 8, 4, 0, err, sizeof(err)) == MQS_ERR_TOOBIG &&
	           gw_campaign_check_limits(&c, 12, 3, 0, err, sizeof(err)) == MQS_ERR_TOOBIG,
	       "name worst case in UTF-16 units (1574 + 22 + 4 fits, 5 or 6 do not)");
	gw_campaign_release(&c);

	/* email subject: 200 characters rendered, the name included */
	n = (size_t)sprintf(p, "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],"
	                       "\"text\":\"t\",\"subject\":\"");
	memset(p + n, 's', 190);
	n += 190;
	strcpy(p + n, "{{name}}\"}");
	tap_ok(must_parse(json, &c), "long subject parses");
	tap_ok(gw_campaign_check_limits(&c, 30, 10, 0, err, sizeof(err)) == MQS_OK,
	       "subject 190 + 10-character name = 200 accepted");
	tap_ok(gw_campaign_check_limits(&c, 30, 11, 0, err, sizeof(err)) == MQS_ERR_TOOBIG &&
	           strstr(err, "email: subject can reach 201 characters") != NULL,
	       "201 refused (%s)", err);
	gw_campaign_release(&c);

	/* html worst case: every name byte may become "&quot;" */
	n = (size_t)sprintf(p, "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],"
	                       "\"text\":\"t\",\"subject\":\"s\",\"html\":\"");
	for (int i = 0; i < 1000; i++) {
		memcpy(p + n, "{{name}}", 8);
		n += 8;
	}
	strcpy(p + n, "\"}");
	tap_ok(must_parse(json, &c), "1000 x {{name}} in html parses");
	tap_ok(gw_campaign_check_limits(&c, 40, 40, 0, err, sizeof(err)) == MQS_OK,
	       "40-byte names: 240 KB escaped at worst, fits 256 KiB");
	tap_ok(gw_campaign_check_limits(&c, 45, 45, 0, err, sizeof(err)) == MQS_ERR_TOOBIG &&
	           strstr(err, "email: html can reach") != NULL,
	       "45-byte names: refused (%s)", err);
	gw_campaign_release(&c);
	free(json);
}

static void test_render(void)
{
	struct gw_campaign c;
	struct gw_rendered r;
	const char *url = "https://gw.example.com/u/abc?x=1&y=\"2\"";

	if (!must_parse(GOOD, &c)) {
		tap_ok(0, "parse GOOD");
		return;
	}
	tap_ok(gw_campaign_render(&c, GW_CH_EMAIL, "Tom <&>", url, &r) == MQS_OK, "render email");
	tap_ok(r.subject != NULL && strcmp(r.subject, "Winter sale") == 0, "subject");
	tap_ok(r.text != NULL &&
	           strcmp(r.text, "Hello Tom <&>, 20% off until 24 Dec.\n\n--\nTo unsubscribe: "
	                          "https://gw.example.com/u/abc?x=1&y=\"2\"") == 0,
	       "email text with footer: %s", r.text != NULL ? r.text : "(null)");
	tap_ok(r.html != NULL &&
	           strcmp(r.html, "<html><body><p>Hello Tom &lt;&amp;&gt;, 20% off</p>"
	                          "<p>To unsubscribe, <a href=\"https://gw.example.com/u/"
	                          "abc?x=1&amp;y=&quot;2&quot;\">click here</a>.</p>"
	                          "</body></html>") == 0,
	       "email html: name escaped, footer before </body>, URL escaped: %s",
	       r.html != NULL ? r.html : "(null)");
	gw_rendered_release(&r);
	gw_rendered_release(&r);
	tap_ok(gw_campaign_render(&c, GW_CH_SMS, "Ann", NULL, &r) == MQS_OK && r.subject == NULL &&
	           r.html == NULL &&
	           strcmp(r.text, "Hello Ann, 20% off until 24 Dec.\nReply STOP to opt out") == 0,
	       "sms with footer");
	gw_rendered_release(&r);
	tap_ok(gw_campaign_render(&c, GW_CH_LINE, "Ann", NULL, &r) == MQS_OK && r.subject == NULL &&
	           strcmp(r.text, "Hello Ann, 20% off until 24 Dec.") == 0,
	       "line without footer");
	gw_rendered_release(&r);
	tap_ok(gw_campaign_render(&c, GW_CH_PHONE, "Ann", NULL, &r) == MQS_ERR_INVAL &&
	           r.text == NULL,
	       "phone refused");
	tap_ok(gw_campaign_render(&c, GW_CH_EMAIL, "Ann", NULL, &r) == MQS_ERR_INVAL,
	       "email without an unsubscribe URL refused");
	tap_ok(gw_campaign_render(&c, GW_CH_EMAIL, "Ann", "https://x/\r\nBcc: y", &r) ==
	           MQS_ERR_INVAL,
	       "unsubscribe URL with CR/LF refused");
	gw_campaign_release(&c);

	/* subject uses the name: control characters of a name never reach
	 * the header; html without </body> gets the footer at the end */
	if (!must_parse("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],"
	                "\"subject\":\"Hi {{name}}\",\"text\":\"t\",\"html\":\"<p>x</p>\"}",
	                &c)) {
		tap_ok(0, "parse subject campaign");
		return;
	}
	tap_ok(gw_campaign_render(&c, GW_CH_EMAIL, "A\r\nBcc: v", "https://u", &r) == MQS_OK &&
	           strcmp(r.subject, "Hi A  Bcc: v") == 0,
	       "CR/LF of a name blanked in the subject");
	tap_ok(r.html != NULL && strcmp(r.html, "<p>x</p><p>To unsubscribe, <a href=\"https://u\">"
	                                        "click here</a>.</p>") == 0,
	       "footer appended without </body>");
	gw_rendered_release(&r);
	tap_ok(gw_campaign_render(&c, GW_CH_SMS, "A", NULL, &r) == MQS_ERR_INVAL,
	       "sms is not a channel of this campaign");
	gw_campaign_release(&c);
	if (must_parse("{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],"
	               "\"subject\":\"s\",\"text\":\"t\",\"html\":\"<BODY>a</Body>b</body >\"}",
	               &c)) {
		tap_ok(gw_campaign_render(&c, GW_CH_EMAIL, "A", "u", &r) == MQS_OK &&
		           strcmp(r.html, "<BODY>a</Body>b<p>To unsubscribe, <a href=\"u\">click "
		                          "here</a>.</p></body >") == 0,
		       "footer before the last </body> end tag, any case: %s", r.html);
		gw_rendered_release(&r);
		gw_campaign_release(&c);
	}
}

/* Parse an email campaign whose html part is html. */
static int parse_html(const char *html, struct gw_campaign *c, char *err, size_t errlen)
{
	char json[2048];

	snprintf(json, sizeof(json),
	         "{\"id\":\"c1\",\"group\":\"g\",\"channels\":[\"email\"],\"subject\":\"s\","
	         "\"text\":\"t\",\"html\":\"%s\",\"vars\":{\"v\":\"x\"}}",
	         html);
	return parse(json, c, err, errlen);
}

/* The html part may not hide the unsubscribe footer (finding 9 of the
 * issue 13 review: an unclosed comment swallowed it). */
static void test_html_footer(void)
{
	static const char *const refused[][2] = {
	    {"<p>hi</p><!--", "never closed"},
	    {"<p>hi</p><!-- </body> ", "never closed"},
	    {"<!--!> x", "never closed"},
	    {"<style>p{}", "<style> at byte 0 is never closed"},
	    {"<STYLE>p{}</STYLEX>", "<style> at byte 0"},
	    {"<p>x</p><Script>x", "<script> at byte 8"},
	    {"<script><!--<script></script>", "inside <script>"},
	    {"<title>x", "<title>"},
	    {"<textarea>x</textarea", "<textarea>"},
	    {"<noscript>", "<noscript>"},
	    {"<xmp>", "<xmp>"},
	    {"<iframe src=x>", "<iframe>"},
	    {"<noframes>", "<noframes>"},
	    {"<noembed>", "<noembed>"},
	    {"<template>x", "<template> is never closed"},
	    {"<template><template></template>", "<template> is never closed"},
	    {"<select>", "<select>"},
	    {"<plaintext>", "<plaintext> is not allowed"},
	    {"<svg><style><!--</style>", "<svg> is not allowed"},
	    {"<math>", "<math> is not allowed"},
	    {"<a href=\\\"x>", "tag at byte 0 is never closed"},
	    {"<a =\\\"><style>x\\\">", "<style> at byte 6"},
	    {"<!--><style>-->", "<style> at byte 5"},
	    {"<!-- a --!><style> -->", "<style>"},
	    {"<!DOCTYPE", "\"<!\" at byte 0"},
	    {"<?x", "\"<?\""},
	    {"</ x", "\"</\""},
	    {"<a title={{name}}>", "placeholder"},
	    {"<{{name}}>", "placeholder"},
	    {"</{{name}}>", "placeholder"},
	    {"<!-- {{vars.v}} -->", "placeholder"},
	};
	static const char *const footer = "<p>To unsubscribe, <a href=\"u\">click here</a>.</p>";
	static const char *const kept[][2] = {
	    {"<p>a</p><!-- note -->", "<p>a</p><!-- note -->F"},
	    {"<!---->x<!-->y", "<!---->x<!-->yF"},
	    {"<style>p{color:red}</style ><p>x</p>", "<style>p{color:red}</style ><p>x</p>F"},
	    {"<a title=\\\"<!--\\\" href='</body>'>y</a>",
	     "<a title=\"<!--\" href='</body>'>y</a>F"},
	    {"<textarea></body></textarea>z", "<textarea></body></textarea>zF"},
	    {"<!-- </body> --><p>x</p>", "<!-- </body> --><p>x</p>F"},
	    {"<template></body></template>x", "<template></body></template>xF"},
	    {"a < b, 1 <3 </>", "a < b, 1 <3 </>F"},
	    {"<title>Hi {{name}}</title><body title=\\\"{{vars.v}}\\\">{{name}}</body>",
	     "<title>Hi A</title><body title=\"x\">AF</body>"},
	};
	struct gw_campaign c;
	struct gw_rendered r;
	char err[256];

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int rc = parse_html(refused[i][0], &c, err, sizeof(err));

		tap_ok(rc == MQS_ERR_INVAL && strncmp(err, "html", 4) == 0 &&
		           strstr(err, refused[i][1]) != NULL,
		       "html %s refused (%s)", refused[i][0], err);
		if (rc == MQS_OK)
			gw_campaign_release(&c);
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		char want[512];
		const char *f = strchr(kept[i][1], 'F');
		int ok = parse_html(kept[i][0], &c, err, sizeof(err)) == MQS_OK;

		snprintf(want, sizeof(want), "%.*s%s%s", (int)(f - kept[i][1]), kept[i][1], footer,
		         f + 1);
		ok = ok && gw_campaign_render(&c, GW_CH_EMAIL, "A", "u", &r) == MQS_OK;
		tap_ok(ok && strcmp(r.html, want) == 0, "html %s: footer outside markup (%s)",
		       kept[i][0], ok ? r.html : err);
		if (ok)
			gw_rendered_release(&r);
		gw_campaign_release(&c);
	}
	/* a name cannot complete markup either: checked again when rendered */
	if (parse_html("<style></styl{{name}}><!--</style>", &c, err, sizeof(err)) == MQS_OK) {
		tap_ok(gw_campaign_render(&c, GW_CH_EMAIL, "A", "u", &r) == MQS_OK,
		       "a harmless name renders");
		gw_rendered_release(&r);
		tap_ok(gw_campaign_render(&c, GW_CH_EMAIL, "e", "u", &r) == MQS_ERR_INVAL &&
		           r.html == NULL,
		       "a name that closes <style> early (and opens a comment) is not rendered");
		gw_campaign_release(&c);
	} else {
		tap_ok(0, "parse the style campaign: %s", err);
	}
}

int main(void)
{
	test_good();
	test_hash();
	test_refusals();
	test_send_at();
	test_limits();
	test_render();
	test_html_footer();
	return tap_exit();
}
