/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-rate.c - the token bucket of a channel (gateway/gw_rate.h). */
#include "config.h"

#include "gw_rate.h"
#include "tap.h"

/* Marketing waits for tokens; alerts push the bucket into debt. */
static void test_bucket(void)
{
	struct gw_rate r;

	gw_rate_init(&r, 5.0, 5, 1000);
	tap_is_int(gw_rate_available(&r, 1000, 100), 5, "a full bucket holds burst");
	tap_is_int(gw_rate_available(&r, 1000, 3), 3, "capped");
	gw_rate_take(&r, 1000, 5, 0);
	tap_is_int(gw_rate_available(&r, 1000, 100), 0, "empty after taking burst");
	tap_is_int((long long)gw_rate_next_ms(&r, 1000), 1200, "next token after 200 ms at 5/s");
	tap_is_int(gw_rate_available(&r, 1199, 100), 0, "not yet at 199 ms");
	tap_is_int(gw_rate_available(&r, 1200, 100), 1, "one token at 200 ms");
	tap_is_int(gw_rate_available(&r, 60000, 100), 5, "refill stops at burst");
	/* alerts go into debt, marketing waits it out */
	gw_rate_take(&r, 60000, 5, 0);
	gw_rate_take(&r, 60000, 3, 1);
	tap_is_int(gw_rate_available(&r, 60000, 100), 0, "in debt");
	tap_is_int((long long)gw_rate_next_ms(&r, 60000), 60800, "debt of 3 + 1 token: 800 ms");
	gw_rate_take(&r, 60000, 100, 1);
	tap_is_int((long long)gw_rate_next_ms(&r, 60000), 61200,
	           "the debt is bounded by burst: 6 tokens, 1.2 s");
}

/* No limit. */
static void test_unlimited(void)
{
	struct gw_rate r;

	gw_rate_init(&r, 0, 0, 5);
	tap_is_int(gw_rate_available(&r, 5, 64), 64, "unlimited: cap");
	gw_rate_take(&r, 5, 1000, 1);
	tap_is_int(gw_rate_available(&r, 5, 64), 64, "unlimited after taking");
	tap_is_int((long long)gw_rate_next_ms(&r, 5), 5, "unlimited: now");
}

/* Slow rates (per minute) and a clock that does not move backwards. */
static void test_slow(void)
{
	struct gw_rate r;

	gw_rate_init(&r, 1.0 / 60.0, 1, 0);
	tap_is_int(gw_rate_available(&r, 0, 10), 1, "one token");
	gw_rate_take(&r, 0, 1, 0);
	tap_is_int((long long)gw_rate_next_ms(&r, 0), 60000, "1/m: next in a minute");
	tap_is_int(gw_rate_available(&r, 59999, 10), 0, "not before");
	tap_is_int(gw_rate_available(&r, 30000, 10), 0, "an older time refills nothing");
	tap_is_int(gw_rate_available(&r, 60000, 10), 1, "after a minute");
}

int main(void)
{
	tap_plan(18);
	test_bucket();
	test_unlimited();
	test_slow();
	return tap_exit();
}
