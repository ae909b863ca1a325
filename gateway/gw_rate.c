/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_rate.c - a token bucket per channel (gw_rate.h, docs/marketing.md
 * "Rate limits"). */
#include "config.h"

#include "gw_rate.h"

/* Refill for the time since the last call. */
static void refill(struct gw_rate *r, uint64_t now_ms)
{
	if (now_ms <= r->last_ms)
		return; /* a time already seen refills nothing */
	r->tokens += r->per_s * (double)(now_ms - r->last_ms) / 1000.0;
	if (r->tokens > r->burst)
		r->tokens = r->burst;
	r->last_ms = now_ms;
}

/* A full bucket. */
void gw_rate_init(struct gw_rate *r, double per_s, unsigned burst, uint64_t now_ms)
{
	r->per_s = per_s > 0 ? per_s : 0;
	r->burst = burst > 0 ? (double)burst : 1.0;
	r->tokens = r->burst;
	r->last_ms = now_ms;
}

/* Whole tokens available now, capped. */
unsigned gw_rate_available(struct gw_rate *r, uint64_t now_ms, unsigned cap)
{
	if (r->per_s <= 0)
		return cap;
	refill(r, now_ms);
	if (r->tokens < 1.0)
		return 0;
	return r->tokens >= (double)cap ? cap : (unsigned)r->tokens;
}

/* Take n tokens. */
void gw_rate_take(struct gw_rate *r, uint64_t now_ms, unsigned n, int alert)
{
	if (r->per_s <= 0)
		return;
	refill(r, now_ms);
	r->tokens -= (double)n;
	if (r->tokens < -r->burst)
		r->tokens = -r->burst; /* the debt is bounded */
	(void)alert;
}

/* When the next whole token is there. */
uint64_t gw_rate_next_ms(struct gw_rate *r, uint64_t now_ms)
{
	double need;
	uint64_t wait;

	if (r->per_s <= 0)
		return now_ms;
	refill(r, now_ms);
	if (r->tokens >= 1.0)
		return now_ms;
	need = 1.0 - r->tokens;
	wait = (uint64_t)(need * 1000.0 / r->per_s + 0.999);
	return now_ms + (wait > 0 ? wait : 1);
}
