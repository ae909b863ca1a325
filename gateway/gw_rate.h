/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_rate.h - a token bucket per channel ([channel NAME] rate and burst;
 * docs/marketing.md, "Rate limits").
 *
 * The bucket holds at most burst tokens and refills at per_s tokens a
 * second.  Marketing deliveries take a token each and wait when there is
 * none; alerts are never held back by the limit: they take a token when
 * there is one and otherwise push the bucket into debt (down to -burst),
 * which the marketing traffic then waits out.
 *
 * Pure: no I/O; times are passed in (monotonic milliseconds).
 *
 * Ownership: caller-owned struct, nothing allocated.
 */
#ifndef GW_RATE_H
#define GW_RATE_H

#include <stdint.h>

struct gw_rate {
	double per_s; /* 0: no limit */
	double burst;
	double tokens;
	uint64_t last_ms;
};

/* A full bucket (per_s 0: unlimited). */
void gw_rate_init(struct gw_rate *r, double per_s, unsigned burst, uint64_t now_ms);

/* Tokens available now (whole ones), capped at cap; cap when unlimited. */
unsigned gw_rate_available(struct gw_rate *r, uint64_t now_ms, unsigned cap);

/* Take n tokens; alert = 1 may go into debt. */
void gw_rate_take(struct gw_rate *r, uint64_t now_ms, unsigned n, int alert);

/* When the next whole token is there (monotonic ms); now_ms when one is
 * there already or when unlimited. */
uint64_t gw_rate_next_ms(struct gw_rate *r, uint64_t now_ms);

#endif
