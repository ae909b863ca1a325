/* SPDX-License-Identifier: BSD-3-Clause */
/* clock.c - monotonic clocks in milliseconds. */
#include "config.h"

#include <time.h>

#include "clock.h"

/* Precise monotonic milliseconds. */
double mqsp_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Coarse monotonic milliseconds. */
uint64_t mqsp_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
