/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_quiet.h - quiet hours in a recipient's time zone (docs/marketing.md,
 * "Quiet hours").
 *
 * Quiet hours are a daily window [start, end) in local time, minutes after
 * midnight; start > end spans midnight (21:00-08:00); start == end means
 * none.  Local time comes from the IANA zone files of the system (tzdata)
 * through the C library, so daylight saving time is honoured: on a day
 * whose clock jumps, the window is computed from local wall-clock times as
 * they exist that day.
 *
 * Conversions switch TZ for the call, which is not thread-safe: the gateway
 * is single-threaded.  A small cache per zone keeps the cost of a fan-out
 * of 100,000 recipients in a few zones low.
 *
 * Ownership: struct gw_quiet is caller-owned (init/release); zone names
 * are copied into the cache.
 */
#ifndef GW_QUIET_H
#define GW_QUIET_H

#include <stdint.h>

#include "mqs_error.h"

struct gw_quiet_cache; /* private */

struct gw_quiet {
	int start_min, end_min; /* [marketing] quiet_hours */
	const char *default_tz; /* zone of recipients without one */
	struct gw_quiet_cache *cache;
};

/* Set q up.  Returns MQS_OK or MQS_ERR_NOMEM. */
MQS_MUST_CHECK int gw_quiet_init(struct gw_quiet *q, int start_min, int end_min,
                                 const char *default_tz);

/* Free the cache.  NULL is fine. */
void gw_quiet_release(struct gw_quiet *q);

/* The earliest time >= now_ms (Unix ms) outside the quiet hours of zone tz
 * (NULL or unknown: the default zone): now_ms itself when it is outside. */
int64_t gw_quiet_next_open(struct gw_quiet *q, const char *tz, int64_t now_ms);

#endif
