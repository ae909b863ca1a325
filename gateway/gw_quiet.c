/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_quiet.c - quiet hours in a recipient's time zone (gw_quiet.h,
 * docs/marketing.md "Quiet hours"). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw_quiet.h"
#include "mqs_alloc.h"

#define ZONE_MAX    64 /* IANA names are short ("America/Argentina/Buenos_Aires") */
#define CACHE_MAX   64 /* zones remembered */
#define DAY_S       86400
#define MIN_PER_DAY 1440

/* One zone: the answer stays valid while now lies in [from, until). */
struct zone_entry {
	char name[ZONE_MAX];
	int known;           /* the zone file exists (else the default zone is used) */
	int64_t from, until; /* Unix seconds: the window of the cached answer */
	int64_t open_at;     /* Unix seconds: the next open time for now in the window,
	                      * or -1: open (outside quiet hours) */
};

struct gw_quiet_cache {
	struct zone_entry e[CACHE_MAX];
	size_t n, next; /* entries used; the next to overwrite when full */
};

/* Set q up. */
int gw_quiet_init(struct gw_quiet *q, int start_min, int end_min, const char *default_tz)
{
	q->start_min = start_min;
	q->end_min = end_min;
	q->default_tz = default_tz != NULL && *default_tz != '\0' ? default_tz : "UTC";
	q->cache = mqs_calloc(1, sizeof(*q->cache));
	return q->cache != NULL ? MQS_OK : MQS_ERR_NOMEM;
}

/* Free the cache. */
void gw_quiet_release(struct gw_quiet *q)
{
	if (q == NULL)
		return;
	mqs_free(q->cache);
	q->cache = NULL;
}

/* 1 when tz names a zone file of the system: a relative path of
 * letters, digits, '_', '-', '+', '/' without "..", that exists under
 * /usr/share/zoneinfo (glibc falls back to UTC silently otherwise). */
static int zone_known(const char *tz)
{
	char path[ZONE_MAX + 32];
	size_t n = strlen(tz);

	if (n == 0 || n >= ZONE_MAX || tz[0] == '/' || strstr(tz, "..") != NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = tz[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '+' || c == '/'))
			return 0;
	}
	if (strcmp(tz, "UTC") == 0)
		return 1;
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	return access(path, R_OK) == 0;
}

/* Unix seconds of local wall-clock time day (a struct tm of that local
 * day) at minute m after midnight, in the zone set in TZ.  A wall-clock
 * time that does not exist that day (the spring-forward gap) gives the
 * first instant after the gap; one that exists twice gives the first. */
static int64_t local_at(const struct tm *day, int m)
{
	struct tm t = *day;

	t.tm_hour = m / 60;
	t.tm_min = m % 60;
	t.tm_sec = 0;
	t.tm_isdst = -1;
	return (int64_t)mktime(&t);
}

/* Minutes after local midnight of local time lt. */
static int minute_of(const struct tm *lt)
{
	return lt->tm_hour * 60 + lt->tm_min;
}

/* With TZ set to the zone: the next open time for now_s (-1 when open
 * now) and the window [*from, *until) in which that answer holds. */
static int64_t compute(const struct gw_quiet *q, int64_t now_s, int64_t *from, int64_t *until)
{
	time_t t = (time_t)now_s;
	struct tm lt, next_day;
	int64_t start_today, end_today, open_at = -1;
	int m, s = q->start_min, e = q->end_min;

	localtime_r(&t, &lt);
	m = minute_of(&lt);
	start_today = local_at(&lt, s);
	end_today = local_at(&lt, e);
	next_day = lt;
	next_day.tm_mday += 1;
	next_day.tm_hour = 12; /* normalise through mktime without a DST edge */
	next_day.tm_isdst = -1;
	{
		time_t nd = mktime(&next_day);
		localtime_r(&nd, &next_day);
	}
	if (s < e) {
		/* [s, e) inside one day */
		if (m >= s && m < e) {
			open_at = end_today;
			*from = start_today;
			*until = end_today;
		} else if (m < s) {
			*from = now_s;
			*until = start_today;
		} else {
			*from = end_today;
			*until = local_at(&next_day, s);
		}
	} else {
		/* [s, 24:00) and [00:00, e): spans midnight */
		if (m >= s) {
			open_at = local_at(&next_day, e);
			*from = start_today;
			*until = open_at;
		} else if (m < e) {
			open_at = end_today;
			*from = now_s;
			*until = end_today;
		} else {
			*from = end_today;
			*until = start_today;
		}
	}
	/* never cache a window that does not hold now (odd DST days) */
	if (*from > now_s)
		*from = now_s;
	if (*until <= now_s) {
		*until = now_s + 1;
		if (open_at >= 0 && open_at <= now_s)
			open_at = -1;
	}
	if (open_at >= 0 && open_at <= now_s)
		open_at = -1;
	return open_at;
}

/* The cache entry of tz (found or made). */
static struct zone_entry *entry_of(struct gw_quiet_cache *c, const char *tz)
{
	struct zone_entry *z;

	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->e[i].name, tz) == 0)
			return &c->e[i];
	}
	if (c->n < CACHE_MAX) {
		z = &c->e[c->n++];
	} else {
		z = &c->e[c->next];
		c->next = (c->next + 1) % CACHE_MAX;
	}
	memset(z, 0, sizeof(*z));
	snprintf(z->name, sizeof(z->name), "%s", tz);
	z->known = zone_known(tz);
	z->from = z->until = 0;
	return z;
}

/* The earliest time >= now_ms outside quiet hours in zone tz. */
int64_t gw_quiet_next_open(struct gw_quiet *q, const char *tz, int64_t now_ms)
{
	struct zone_entry *z;
	const char *zone, *old;
	char *saved = NULL;
	int64_t now_s, open_at;

	if (q->start_min == q->end_min || q->start_min < 0 || q->end_min < 0 ||
	    q->start_min >= MIN_PER_DAY || q->end_min >= MIN_PER_DAY)
		return now_ms;
	if (tz == NULL || *tz == '\0' || strlen(tz) >= ZONE_MAX)
		tz = q->default_tz;
	now_s = now_ms / 1000;
	z = q->cache != NULL ? entry_of(q->cache, tz) : NULL;
	if (z != NULL && !z->known && strcmp(tz, q->default_tz) != 0)
		return gw_quiet_next_open(q, q->default_tz, now_ms);
	if (z != NULL && z->until > z->from && now_s >= z->from && now_s < z->until) {
		open_at = z->open_at;
		goto answer;
	}
	zone = z != NULL && !z->known ? "UTC" : tz;
	old = getenv("TZ");
	if (old != NULL) {
		saved = mqs_strdup(old);
		if (saved == NULL)
			return now_ms; /* out of memory: never hold a message back for it */
	}
	setenv("TZ", zone, 1);
	tzset();
	{
		int64_t from = 0, until = 0;

		open_at = compute(q, now_s, &from, &until);
		if (z != NULL) {
			z->from = from;
			z->until = until;
			z->open_at = open_at;
		}
	}
	if (saved != NULL)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	mqs_free(saved);
answer:
	if (open_at < 0)
		return now_ms;
	return open_at * 1000;
}
