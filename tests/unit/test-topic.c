/* SPDX-License-Identifier: BSD-3-Clause */
/* test-topic.c - MQTT topic filter matching and filter checks (mqs_topic.h). */
#include "config.h"

#include <string.h>

#include "mqs_error.h"
#include "mqs_topic.h"

#include "tap.h"

static const struct {
	const char *filter;
	const char *topic;
	int want;
} table[] = {
    /* exact */
    {"a/b", "a/b", 1},
    {"a/b", "a/c", 0},
    {"a/b", "a/b/c", 0},
    {"a/b/c", "a/b", 0},
    {"a", "a/b", 0},
    {"a/b", "a/b/", 0},
    {"a/b/", "a/b/", 1},
    {"A/b", "a/b", 0},
    {"a/b", "ab", 0},
    {"/", "/", 1},
    {"a//b", "a//b", 1},
    {"a//b", "a/b", 0},
    /* + */
    {"+", "a", 1},
    {"+", "a/b", 0},
    {"+", "/", 0},
    {"a/+", "a/b", 1},
    {"a/+", "a/b/c", 0},
    {"a/+", "a", 0},
    {"a/+", "a/", 1},
    {"a/+/c", "a/b/c", 1},
    {"a/+/c", "a//c", 1},
    {"a/+/c", "a/b/d", 0},
    {"+/+", "/", 1},
    {"+/+", "a/b", 1},
    {"+/+", "a", 0},
    {"/+", "/x", 1},
    {"/+", "x", 0},
    {"+/+/+", "a/b/c", 1},
    {"a/+/+", "a/b", 0},
    {"+/b", "a/b", 1},
    /* # */
    {"#", "a", 1},
    {"#", "a/b/c", 1},
    {"#", "/", 1},
    {"#", "/a", 1},
    {"a/#", "a", 1},
    {"a/#", "a/", 1},
    {"a/#", "a/b", 1},
    {"a/#", "a/b/c", 1},
    {"a/#", "ab", 0},
    {"a/#", "b", 0},
    {"a/#", "b/a", 0},
    {"a/b/#", "a/b", 1},
    {"a/b/#", "a", 0},
    {"/#", "/a", 1},
    {"/#", "a", 0},
    {"+/#", "a", 1},
    {"+/#", "a/b/c", 1},
    {"a/+/#", "a/b", 1},
    {"a/+/#", "a", 0},
    /* $ topics */
    {"#", "$SYS/broker/uptime", 0},
    {"+/broker/uptime", "$SYS/broker/uptime", 0},
    {"+/#", "$SYS/x", 0},
    {"#", "$", 0},
    {"$SYS/#", "$SYS/broker/uptime", 1},
    {"$SYS/+/uptime", "$SYS/broker/uptime", 1},
    {"$SYS", "$SYS", 1},
    {"a/#", "a/$SYS", 1},
    {"a/+", "a/$x", 1},
};

static const char *valid_filters[] = {"a",   "#",    "+",      "a/+/b",  "a/#",  "+/+",
                                      "/",   "a//b", "$SYS/#", "+/#",    "/#",   "a/b/c",
                                      "+/a", "a/+",  "//",     "$SYS/+", "a/b/#"};
static const char *invalid_filters[] = {"",     "a#",   "a/#/b", "a+",   "a/b+", "#/a",
                                        "a/+b", "##",   "++",    "a/#b", "#a",   "+a/b",
                                        "a/#/", "a/b#", "/+x",   "a/+#"};

int main(void)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		int got = mqs_topic_matches(table[i].filter, table[i].topic);
		tap_is_int(got, table[i].want, "\"%s\" %s \"%s\"", table[i].filter,
		           table[i].want ? "matches" : "does not match", table[i].topic);
	}
	for (size_t i = 0; i < sizeof(valid_filters) / sizeof(valid_filters[0]); i++)
		tap_is_int(mqs_topic_filter_check(valid_filters[i]), MQS_OK,
		           "filter \"%s\" is valid", valid_filters[i]);
	for (size_t i = 0; i < sizeof(invalid_filters) / sizeof(invalid_filters[0]); i++)
		tap_ok(mqs_topic_filter_check(invalid_filters[i]) != MQS_OK,
		       "filter \"%s\" is invalid", invalid_filters[i]);
	/* a long topic and filter: no fixed-size buffers */
	{
		static char topic[70000], filter[70000];
		memset(topic, 'x', sizeof(topic) - 1);
		for (size_t i = 1; i < sizeof(topic) - 1; i += 2)
			topic[i] = '/';
		memcpy(filter, topic, sizeof(filter));
		tap_ok(mqs_topic_matches(filter, topic) == 1, "a 69999-byte topic matches itself");
		filter[0] = '+';
		tap_ok(mqs_topic_matches(filter, topic) == 1, "and with a leading +");
		memcpy(filter, "x/#", 4);
		tap_ok(mqs_topic_matches(filter, topic) == 1, "and x/#");
	}
	/* identities for %u/%c */
	{
		static const char *good[] = {"dev1", "a.b-c_d", "x$", "%u", "a b"};
		static const char *bad[] = {"",  "$SYS", "$CONTROL", "$",  "a/b",
		                            "+", "a#",   "/",        "a+b"};

		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
			tap_is_int(mqs_topic_identity_ok(good[i]), 1, "identity \"%s\" is usable",
			           good[i]);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			tap_is_int(mqs_topic_identity_ok(bad[i]), 0, "identity \"%s\" is refused",
			           bad[i]);
		tap_is_int(mqs_topic_identity_ok(NULL), 0, "a NULL identity is refused");
	}
	tap_done();
	return tap_exit();
}
