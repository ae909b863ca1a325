/* validate.c - mqttsec-acl operand checks shared by the commands and by
 * import: names, free text, ACL topic filters, TTLs, integers.
 *
 * Every check writes a one-line lowercase reason into why and returns
 * EX_DATAERR; the offending text is quoted only when it is printable.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "acl.h"
#include "mqs_error.h"
#include "mqs_topic.h"

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
int acl_name_check(const char *name, const char *what, char *why)
{
	size_t n = strlen(name);

	if (n == 0 || n > ACL_NAME_MAX)
		return acl_fail(why, EX_DATAERR, "invalid %s name: must be 1..%d bytes", what,
		                ACL_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return acl_fail(why, EX_DATAERR,
			                "invalid %s name%s%s: only A-Z a-z 0-9 . _ - are allowed",
			                what, printable(name) ? " " : "",
			                printable(name) ? name : "");
	}
	return EX_OK;
}

/* Free text without control characters. */
int acl_text_check(const char *text, size_t max, int empty_ok, const char *what, char *why)
{
	size_t n = strlen(text);

	if (n == 0 && !empty_ok)
		return acl_fail(why, EX_DATAERR, "invalid %s: empty", what);
	if (n > max)
		return acl_fail(why, EX_DATAERR, "invalid %s: longer than %zu bytes", what, max);
	if (!printable(text))
		return acl_fail(why, EX_DATAERR, "invalid %s: contains control characters", what);
	return EX_OK;
}

/* allow or deny. */
int acl_effect_check(const char *effect, char *why)
{
	if (strcmp(effect, "allow") == 0 || strcmp(effect, "deny") == 0)
		return EX_OK;
	return acl_fail(why, EX_DATAERR, "invalid effect %s: use allow or deny",
	                printable(effect) ? effect : "?");
}

/* ACL topic filter with %u / %c substitutions. */
int acl_filter_check(const char *filter, char *why)
{
	size_t n = strlen(filter);

	if (n == 0 || n > ACL_FILTER_MAX)
		return acl_fail(why, EX_DATAERR, "invalid topic filter: must be 1..%d bytes",
		                ACL_FILTER_MAX);
	if (!printable(filter))
		return acl_fail(why, EX_DATAERR,
		                "invalid topic filter: contains control characters");
	for (size_t i = 0; i < n; i++) {
		if (filter[i] == '%' && filter[i + 1] != 'u' && filter[i + 1] != 'c')
			return acl_fail(why, EX_DATAERR,
			                "invalid topic filter %s: '%%' must start %%u or %%c",
			                filter);
		if (filter[i] == '%')
			i++;
	}
	if (mqs_topic_filter_check(filter) != MQS_OK)
		return acl_fail(why, EX_DATAERR,
		                "invalid topic filter %s: '+' must be a whole level and '#' the "
		                "whole last level",
		                filter);
	return EX_OK;
}

/* Decimal integer in lo..hi. */
int acl_int_parse(const char *text, long long lo, long long hi, const char *what, long long *out,
                  char *why)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (text[0] == '\0' || end == NULL || *end != '\0' || errno != 0 || v < lo || v > hi ||
	    text[0] == ' ' || text[0] == '+')
		return acl_fail(why, EX_DATAERR, "invalid %s %s: must be an integer in %lld..%lld",
		                what, printable(text) ? text : "?", lo, hi);
	*out = v;
	return EX_OK;
}

/* TTL: N, Ns, Nm, Nh or Nd; 1 s .. 10 years. */
int acl_ttl_parse(const char *text, long long *seconds, char *why)
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
	if (acl_int_parse(num, 1, ACL_TTL_MAX, "ttl", &v, why) != EX_OK)
		goto bad;
	if (v > ACL_TTL_MAX / mult)
		goto bad;
	*seconds = v * mult;
	return EX_OK;
bad:
	return acl_fail(why, EX_DATAERR,
	                "invalid ttl %s: use a positive number of seconds (or with unit s, m, h, "
	                "d), at most 10 years",
	                printable(text) ? text : "?");
}
