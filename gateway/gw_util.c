/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_util.c - channel and severity names, durations, ids, UUIDs. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>

#include "gw_util.h"
#include "mqs_error.h"

static const char *const chan_names[GW_CH__COUNT] = {"email", "sms",     "phone",
                                                     "line",  "webhook", "spool"};
static const char *const sev_names[] = {"info", "warning", "critical"};

/* Name of a logical channel. */
const char *gw_chan_name(int ch)
{
	if (ch < 0 || ch >= GW_CH__COUNT)
		return "?";
	return chan_names[ch];
}

/* Channel number for name, or -1. */
int gw_chan_parse(const char *name)
{
	for (int i = 0; i < GW_CH__COUNT; i++) {
		if (i != GW_CH_SPOOL && strcmp(name, chan_names[i]) == 0)
			return i;
	}
	return -1;
}

/* Parse "email, sms" into a mask and an ordered list. */
int gw_chan_list_parse(const char *csv, unsigned *mask, int *order, size_t *n, char *err,
                       size_t errlen)
{
	const char *p = csv;
	unsigned m = 0;
	size_t count = 0;

	while (*p != '\0') {
		char name[16];
		size_t len = 0;
		int ch;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		while (p[len] != '\0' && p[len] != ',' && p[len] != ' ' && p[len] != '\t')
			len++;
		if (len >= sizeof(name)) {
			snprintf(err, errlen, "unknown channel %.15s...", p);
			return MQS_ERR_INVAL;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		ch = gw_chan_parse(name);
		if (ch < 0) {
			snprintf(err, errlen, "unknown channel %s (email, sms, phone, line)", name);
			return MQS_ERR_INVAL;
		}
		if (m & GW_CH_BIT(ch)) {
			snprintf(err, errlen, "channel %s listed twice", name);
			return MQS_ERR_INVAL;
		}
		m |= GW_CH_BIT(ch);
		if (order != NULL)
			order[count] = ch;
		count++;
	}
	*mask = m;
	if (n != NULL)
		*n = count;
	return MQS_OK;
}

/* "email,sms" for a mask. */
void gw_chan_mask_format(unsigned mask, char *out, size_t cap)
{
	size_t used = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	for (int i = 0; i < GW_CH__COUNT; i++) {
		if (!(mask & GW_CH_BIT(i)))
			continue;
		int w =
		    snprintf(out + used, cap - used, "%s%s", used > 0 ? "," : "", chan_names[i]);
		if (w < 0 || (size_t)w >= cap - used)
			return;
		used += (size_t)w;
	}
}

/* Name of a severity. */
const char *gw_severity_name(int sev)
{
	if (sev < 0 || sev > GW_SEV_CRITICAL)
		return "info";
	return sev_names[sev];
}

/* Severity for name, or -1. */
int gw_severity_parse(const char *name)
{
	for (int i = 0; i <= GW_SEV_CRITICAL; i++) {
		if (strcmp(name, sev_names[i]) == 0)
			return i;
	}
	return -1;
}

/* "250ms", "60s", "5m", "1h", "2d", "30" (seconds). */
int gw_duration_parse(const char *s, uint64_t *ms)
{
	char *end = NULL;
	double v, mult = 1000.0;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s) && *s != '.')
		return MQS_ERR_INVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v) || v < 0)
		return MQS_ERR_INVAL;
	while (isspace((unsigned char)*end))
		end++;
	if (strncmp(end, "ms", 2) == 0) {
		mult = 1.0;
		end += 2;
	} else if (*end == 's') {
		end++;
	} else if (*end == 'm') {
		mult = 60e3;
		end++;
	} else if (*end == 'h') {
		mult = 3600e3;
		end++;
	} else if (*end == 'd') {
		mult = 86400e3;
		end++;
	}
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0' || v * mult > 1e15)
		return MQS_ERR_INVAL;
	*ms = (uint64_t)llround(v * mult);
	return MQS_OK;
}

/* Message ids become one MQTT topic level and a file name part. */
int gw_id_check(const char *id)
{
	size_t len = 0;

	if (id == NULL)
		return 0;
	for (; id[len] != '\0'; len++) {
		unsigned char c = (unsigned char)id[len];
		if (len >= GW_ID_MAX)
			return 0;
		if (!isalnum(c) && c != '.' && c != '_' && c != '-' && c != ':' && c != '@')
			return 0;
	}
	return len > 0;
}

/* RFC 9562 version 4 UUID from RAND_bytes. */
int gw_uuid4(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return MQS_ERR_CRYPTO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
	return MQS_OK;
}

/* FNV-1a, 32 bits. */
uint32_t gw_fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t gw_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A time zone name this machine knows (gw_util.h). */
int gw_tz_valid(const char *name)
{
	char path[128];
	struct stat st;
	size_t len;

	if (name == NULL)
		return 0;
	if (strcmp(name, "UTC") == 0)
		return 1;
	len = strlen(name);
	if (len == 0 || len > 64 || name[0] == '/' || name[0] == '-' || strstr(name, "..") != NULL)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '/' && c != '_' && c != '+' && c != '-')
			return 0;
	}
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
