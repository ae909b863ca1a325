/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_run.h - `mqttsec-gateway run`: the daemon.
 *
 * The orchestrator (gw_run.c) owns the poll loop and every I/O source:
 * the MQTT transports (one per broker), the curl multi engine, the signal
 * pipe and, next, the HTTP listener; see gw_run.c for the source table.
 *
 * Ownership: gw_run() borrows conf and frees everything it created before
 * it returns.
 */
#ifndef GW_RUN_H
#define GW_RUN_H

struct gw_config;

/* Run the daemon with configuration conf until SIGTERM/SIGINT.  Returns a
 * sysexits.h code. */
int gw_run(const struct gw_config *conf);

#endif
