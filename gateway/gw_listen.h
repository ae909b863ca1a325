/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_listen.h - the gateway's HTTP listener (docs/marketing.md, "HTTP
 * listener"), libmicrohttpd driven by the gateway's one poll loop.
 *
 * The daemon runs in MHD_USE_EPOLL mode without threads of its own: the
 * loop polls gw_listen_fd() for POLLIN, calls gw_listen_run() when it is
 * ready and when gw_listen_next_ms() has passed.  Handlers run on the
 * loop's thread and use the gateway's store directly (gw_inbound.h).
 *
 * Paths (table in gw_listen.c): POST /twilio/sms, POST /line/webhook,
 * GET and POST /u/TOKEN; anything else 404, a wrong method 405.  Limits:
 * [http] max_connections, per_ip, timeout (connection idle and whole
 * request), bodies capped at 64 KiB (413, read no further).  TLS with
 * [http] cert and key; plain HTTP only on loopback (gw_config.c refuses
 * the rest).  Every answer carries Cache-Control: no-store and
 * X-Content-Type-Options: nosniff; HTML answers a strict
 * Content-Security-Policy.  Access log lines name method, path (tokens
 * shortened), status and client address, never a body.
 *
 * Dispatcher layer: takes struct gw_gateway (store, configuration).
 *
 * Ownership: gw_listen_new() returns an object freed by gw_listen_free()
 * (NULL ok), which stops the daemon and closes every connection.
 */
#ifndef GW_LISTEN_H
#define GW_LISTEN_H

#include <stddef.h>
#include <stdint.h>

struct gw_gateway;
struct gw_listen;

/* Start listening as [http] says.  Returns NULL with err[0] == '\0' when
 * there is no [http] section, NULL with a reason in err when the listener
 * cannot start (address in use, bad certificate). */
struct gw_listen *gw_listen_new(struct gw_gateway *gw, char *err, size_t errlen);

/* Stop and free.  NULL is fine. */
void gw_listen_free(struct gw_listen *l);

/* The descriptor to poll for POLLIN. */
int gw_listen_fd(struct gw_listen *l);

/* The port bound (the configured one, or the one chosen for port 0). */
int gw_listen_port(const struct gw_listen *l);

/* When the daemon next needs gw_listen_run() without I/O (Unix ms), at
 * most a second away. */
uint64_t gw_listen_next_ms(struct gw_listen *l, uint64_t now_ms);

/* Serve what is ready. */
void gw_listen_run(struct gw_listen *l);

#endif
