/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_topic.c - MQTT topic filter matching. */
#include "config.h"

#include <string.h>

#include "mqs_error.h"
#include "mqs_topic.h"

/* Match filter against topic, level by level. */
int mqs_topic_matches(const char *filter, const char *topic)
{
	const char *f = filter;
	const char *t = topic;

	if (filter == NULL || topic == NULL)
		return 0;
	/* a leading wildcard never matches a $-topic */
	if (t[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return 0;
	for (;;) {
		const char *fe = strchr(f, '/');
		const char *te = strchr(t, '/');
		size_t fl = fe ? (size_t)(fe - f) : strlen(f);
		size_t tl = te ? (size_t)(te - t) : strlen(t);

		if (fl == 1 && f[0] == '#')
			return fe == NULL; /* '#' must be the last level */
		if (!(fl == 1 && f[0] == '+') && (fl != tl || memcmp(f, t, fl) != 0))
			return 0;
		if (fe == NULL && te == NULL)
			return 1;
		if (fe == NULL)
			return 0; /* topic has more levels */
		if (te == NULL) {
			/* topic ended: "a/#" matches "a" */
			return strcmp(fe + 1, "#") == 0;
		}
		f = fe + 1;
		t = te + 1;
	}
}

/* Check that filter is a valid subscription filter. */
int mqs_topic_filter_check(const char *filter)
{
	size_t len;

	if (filter == NULL)
		return MQS_ERR_INVAL;
	len = strlen(filter);
	if (len == 0 || len > 65535)
		return MQS_ERR_INVAL;
	for (size_t i = 0; i < len; i++) {
		char c = filter[i];
		int level_start = i == 0 || filter[i - 1] == '/';
		int level_end = i + 1 == len || filter[i + 1] == '/';

		if (c == '+' && !(level_start && level_end))
			return MQS_ERR_INVAL;
		if (c == '#' && !(level_start && i + 1 == len))
			return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* Check an identity (username, client id) for %u/%c substitution. */
int mqs_topic_identity_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && s[0] != '$' && strpbrk(s, "+#/") == NULL;
}
