/* SPDX-License-Identifier: BSD-3-Clause */
/* clock.h - the plugin's monotonic clocks, for time slices, rate limits
 * and log figures (never for expiries: those use Unix seconds).
 *
 *
 * Ownership: nothing allocates or keeps state; any thread may call these.
 */
#ifndef MQSP_CLOCK_H
#define MQSP_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC, with sub-millisecond precision. */
double mqsp_mono_ms(void);

/* Milliseconds of CLOCK_MONOTONIC_COARSE (a few ns, no system call;
 * advances every few ms), for cheap checks on every broker loop turn. */
uint64_t mqsp_coarse_ms(void);

#endif
