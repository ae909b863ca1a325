/* SPDX-License-Identifier: BSD-3-Clause */
/* validate.c - admin operand checks (mqsa.h) shared by every operation,
 * by import and by the CLI's options: names, free text, topic filters,
 * TTLs, grace periods, integers.
 *
 * Every check writes a one-line lowercase reason into why and returns
 * MQS_ERR_INVAL; the offending text is quoted only when it is printable.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_error.h"
#include "mqs_topic.h"
#include "mqsa_int.h"

/* Return 1 when s holds no control characters (C0 or DEL). */
static int printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	}
	return 1;
}

/* Device or group name. */
enum mqs_err mqsa_name_check(const char *name, const char *what, char *why)
{
	size_t n = strlen(name);

	if (n == 0 || n > MQSA_NAME_MAX)
		return mqsa_fail(why, MQS_ERR_INVAL, "invalid %s name: must be 1..%d bytes", what,
		                 MQSA_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return mqsa_fail(why, MQS_ERR_INVAL,
			                 "invalid %s name%s%s: only A-Z a-z 0-9 . _ - are allowed",
			                 what, printable(name) ? " " : "",
			                 printable(name) ? name : "");
	}
	return MQS_OK;
}

/* Free text without control characters. */
enum mqs_err mqsa_text_check(const char *text, size_t max, int empty_ok, const char *what,
                             char *why)
{
	size_t n = strlen(text);

	if (n == 0 && !empty_ok)
		return mqsa_fail(why, MQS_ERR_INVAL, "invalid %s: empty", what);
	if (n > max)
		return mqsa_fail(why, MQS_ERR_INVAL, "invalid %s: longer than %zu bytes", what,
		                 max);
	if (!printable(text))
		return mqsa_fail(why, MQS_ERR_INVAL, "invalid %s: contains control characters",
		                 what);
	return MQS_OK;
}

/* ACL topic filter with %u / %c substitutions. */
enum mqs_err mqsa_filter_check(const char *filter, char *why)
{
	size_t n = strlen(filter);

	if (n == 0 || n > MQSA_FILTER_MAX)
		return mqsa_fail(why, MQS_ERR_INVAL, "invalid topic filter: must be 1..%d bytes",
		                 MQSA_FILTER_MAX);
	if (!printable(filter))
		return mqsa_fail(why, MQS_ERR_INVAL,
		                 "invalid topic filter: contains control characters");
	for (size_t i = 0; i < n; i++) {
		if (filter[i] == '%' && filter[i + 1] != 'u' && filter[i + 1] != 'c')
			return mqsa_fail(why, MQS_ERR_INVAL,
			                 "invalid topic filter %s: '%%' must start %%u or %%c",
			                 filter);
		if (filter[i] == '%')
			i++;
	}
	if (mqs_topic_filter_check(filter) != MQS_OK)
		return mqsa_fail(why, MQS_ERR_INVAL,
		                 "invalid topic filter %s: '+' must be a whole level and '#' the "
		                 "whole last level",
		                 filter);
	return MQS_OK;
}

/* Decimal integer in lo..hi. */
enum mqs_err mqsa_int_parse(const char *text, long long lo, long long hi, const char *what,
                            long long *out, char *why)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (text[0] == '\0' || end == NULL || *end != '\0' || errno != 0 || v < lo || v > hi ||
	    text[0] == ' ' || text[0] == '+')
		return mqsa_fail(why, MQS_ERR_INVAL,
		                 "invalid %s %s: must be an integer in %lld..%lld", what,
		                 printable(text) ? text : "?", lo, hi);
	*out = v;
	return MQS_OK;
}

/* TTL: N, Ns, Nm, Nh or Nd; 1 s .. 10 years. */
enum mqs_err mqsa_ttl_parse(const char *text, long long *seconds, char *why)
{
	char num[32];
	size_t n = strlen(text);
	long long mult = 1;
	long long v = 0;

	if (n == 0 || n >= sizeof(num))
		goto bad;
	memcpy(num, text, n + 1);
	switch (num[n - 1]) {
	case 's':
		mult = 1;
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		mult = 0;
		break;
	}
	if (mult != 0)
		num[--n] = '\0';
	else
		mult = 1;
	if (n == 0 || num[0] < '0' || num[0] > '9')
		goto bad;
	if (mqsa_int_parse(num, 1, MQSA_TTL_MAX, "ttl", &v, why) != MQS_OK)
		goto bad;
	if (v > MQSA_TTL_MAX / mult)
		goto bad;
	*seconds = v * mult;
	return MQS_OK;
bad:
	return mqsa_fail(why, MQS_ERR_INVAL,
	                 "invalid ttl %s: use a positive number of seconds (or with unit s, m, h, "
	                 "d), at most 10 years",
	                 printable(text) ? text : "?");
}

/* A protected topic filter: a rule filter without %u/%c. */
enum mqs_err mqsa_protected_filter_check(const char *filter, char *why)
{
	enum mqs_err rc;

	rc = mqsa_filter_check(filter, why);
	if (rc == MQS_OK && strchr(filter, '%') != NULL)
		rc = mqsa_fail(why, MQS_ERR_INVAL,
		               "invalid protected topic filter %s: %%u and %%c are not allowed",
		               filter);
	return rc;
}

/* Grace period: 0 or a TTL (N, Ns, Nm, Nh, Nd). */
enum mqs_err mqsa_grace_parse(const char *text, long long *seconds, char *why)
{
	int shown;

	if (strcmp(text, "0") == 0) {
		*seconds = 0;
		return MQS_OK;
	}
	if (mqsa_ttl_parse(text, seconds, why) == MQS_OK)
		return MQS_OK;
	/* name the value only when it is short and printable */
	shown = strlen(text) <= 64 && printable(text) && text[0] != '\0';
	return mqsa_fail(why, MQS_ERR_INVAL,
	                 "invalid grace period%s%s: use 0 or seconds (or a number with unit s, m, "
	                 "h, d), at most 10 years",
	                 shown ? " " : "", shown ? text : "");
}
