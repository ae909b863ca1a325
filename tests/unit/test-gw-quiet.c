/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-quiet.c - quiet hours per IANA zone, DST days included
 * (gateway/gw_quiet.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gw_quiet.h"
#include "tap.h"

#define S(x) ((int64_t)(x)*1000) /* Unix seconds to ms */

/* Quiet 21:00-08:00 in several zones at fixed instants. */
static void test_night_window(void)
{
	struct gw_quiet q;

	tap_ok(gw_quiet_init(&q, 21 * 60, 8 * 60, "Asia/Taipei") == MQS_OK, "init");
	/* Taipei, UTC+8 without DST: 2026-06-15 14:00Z is 22:00 local */
	tap_is_int(gw_quiet_next_open(&q, "Asia/Taipei", S(1781532000)), S(1781568000),
	           "taipei 22:00 opens at 08:00 local (00:00Z)");
	tap_is_int(gw_quiet_next_open(&q, "Asia/Taipei", S(1781532000) + 1234), S(1781568000),
	           "taipei: the cached window gives the same answer");
	/* 11:00 local: open */
	tap_is_int(gw_quiet_next_open(&q, "Asia/Taipei", S(1781492400)), S(1781492400),
	           "taipei 11:00 is open");
	/* 07:30 local, after midnight */
	tap_is_int(gw_quiet_next_open(&q, "Asia/Taipei", S(1781566200)), S(1781568000),
	           "taipei 07:30 opens at 08:00");
	/* NULL and unknown zones use the default zone */
	tap_is_int(gw_quiet_next_open(&q, NULL, S(1781532000)), S(1781568000),
	           "no zone: the default zone");
	tap_is_int(gw_quiet_next_open(&q, "Mars/Olympus_Mons", S(1781532000)), S(1781568000),
	           "unknown zone: the default zone");
	tap_is_int(gw_quiet_next_open(&q, "../../etc/passwd", S(1781532000)), S(1781568000),
	           "a path is no zone");
	/* Paris, spring forward 2026-03-29 02:00 CET -> 03:00 CEST:
	 * 2026-03-28 21:30Z is 22:30 CET, 08:00 CEST next day is 06:00Z */
	tap_is_int(gw_quiet_next_open(&q, "Europe/Paris", S(1774733400)), S(1774764000),
	           "paris spring forward: 08:00 CEST = 06:00Z");
	/* Paris, fall back 2026-10-25 03:00 CEST -> 02:00 CET:
	 * 2026-10-24 20:00Z is 22:00 CEST, 08:00 CET is 07:00Z */
	tap_is_int(gw_quiet_next_open(&q, "Europe/Paris", S(1792872000)), S(1792911600),
	           "paris fall back: 08:00 CET = 07:00Z");
	/* New York, fall back 2026-11-01: 05:00Z is 01:00 EDT; 08:00 EST = 13:00Z */
	tap_is_int(gw_quiet_next_open(&q, "America/New_York", S(1793509200)), S(1793538000),
	           "new york fall back: 08:00 EST = 13:00Z");
	/* New York, spring forward 2026-03-08: 06:00Z is 01:00 EST; 08:00 EDT = 12:00Z */
	tap_is_int(gw_quiet_next_open(&q, "America/New_York", S(1772949600)), S(1772971200),
	           "new york spring forward: 08:00 EDT = 12:00Z");
	/* UTC: the edges, [21:00, 08:00) */
	tap_is_int(gw_quiet_next_open(&q, "UTC", S(1781557140)), S(1781557140),
	           "utc 20:59 is open");
	tap_is_int(gw_quiet_next_open(&q, "UTC", S(1781557200)), S(1781596800),
	           "utc 21:00 is quiet until 08:00");
	tap_is_int(gw_quiet_next_open(&q, "UTC", S(1781596800)), S(1781596800),
	           "utc 08:00 is open");
	gw_quiet_release(&q);
	gw_quiet_release(&q);
}

/* A window inside one day, and none. */
static void test_day_window_and_none(void)
{
	struct gw_quiet q;

	tap_ok(gw_quiet_init(&q, 12 * 60, 14 * 60, NULL) == MQS_OK, "init 12:00-14:00");
	tap_is_int(gw_quiet_next_open(&q, "UTC", S(1781526600)), S(1781532000),
	           "12:30 waits for 14:00");
	tap_is_int(gw_quiet_next_open(&q, "UTC", S(1781535600)), S(1781535600), "15:00 open");
	tap_is_int(gw_quiet_next_open(&q, NULL, S(1781526600)), S(1781532000),
	           "default zone UTC when none is given");
	gw_quiet_release(&q);
	tap_ok(gw_quiet_init(&q, 0, 0, "UTC") == MQS_OK, "init none");
	tap_is_int(gw_quiet_next_open(&q, "Asia/Taipei", S(1781532000)), S(1781532000),
	           "no quiet hours: now");
	gw_quiet_release(&q);
}

/* TZ of the process is restored. */
static void test_tz_restored(void)
{
	struct gw_quiet q;
	const char *tz;

	setenv("TZ", "Asia/Tokyo", 1);
	tap_ok(gw_quiet_init(&q, 21 * 60, 8 * 60, "UTC") == MQS_OK, "init");
	(void)gw_quiet_next_open(&q, "Europe/Paris", S(1774733400));
	tz = getenv("TZ");
	tap_ok(tz != NULL && strcmp(tz, "Asia/Tokyo") == 0, "TZ restored");
	unsetenv("TZ");
	(void)gw_quiet_next_open(&q, "America/New_York", S(1793509200));
	tap_ok(getenv("TZ") == NULL, "unset TZ stays unset");
	/* many zones: the cache wraps and still answers */
	for (int i = 0; i < 100; i++)
		(void)gw_quiet_next_open(&q, (i & 1) ? "Europe/Paris" : "Asia/Taipei",
		                         S(1781532000) + i);
	tap_is_int(gw_quiet_next_open(&q, "Asia/Taipei", S(1781532000)), S(1781568000),
	           "answers after many calls");
	gw_quiet_release(&q);
}

int main(void)
{
	tap_plan(25);
	test_night_window();
	test_day_window_and_none();
	test_tz_restored();
	return tap_exit();
}
