/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_log.h - the gateway's log: one line per event on stderr.
 *
 * Lines look like "2025-01-31T12:00:00.123Z warn: cannot open db x: y".
 * Never pass PII, secrets or payloads.
 *
 * Ownership: nothing here allocates or keeps a pointer; the level is one
 * process-wide setting (set once by main.c from -v/-q).
 */
#ifndef GW_LOG_H
#define GW_LOG_H

enum gw_log_level { GW_LOG_ERR = 0, GW_LOG_WARN, GW_LOG_INFO, GW_LOG_DEBUG };

/* Lines above level are dropped; the default is GW_LOG_INFO. */
void gw_log_set_level(int level);

/* Log one line at level (printf format, no trailing newline needed). */
void gw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
