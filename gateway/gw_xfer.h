/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_xfer.h - libcurl transfers that may block, run off the loop.
 *
 * libcurl's SMTP waits for the server's reply to the end of a message
 * inside curl_multi_perform (a blocking wait, bounded only by the
 * transfer's timeout): on the loop's multi handle one slow server would
 * stop every alert, every channel and the MQTT connections.  The email
 * channel's libcurl transfers (STARTTLS, AUTH, smtps://, servers without
 * PIPELINING; docs/channels.md, "Email over libcurl") therefore run here: a
 * pool of threads, each with a multi handle of its own, each running one
 * transfer at a time and keeping its connection for the next one.  A wait
 * in one thread holds only that transfer.
 *
 * Threads start on demand, up to the pool's max_threads.  A new transfer
 * goes to the thread that became idle last, and a thread that had no
 * transfer for GW_XFER_IDLE_MS ends, shutting its connection down (no wait
 * for a reply to QUIT): after a campaign the pool shrinks back, and light
 * traffic keeps one thread, not all.  Transfers beyond max_threads wait in
 * order, urgent ones (alerts) ahead of the others, and
 * non-urgent ones never take the last thread (with max_threads above 1):
 * it is kept for urgent ones.  A finished
 * transfer is handed back through gw_xfer_take() in the loop's thread, and
 * the pool wakes the loop's multi handle (curl_multi_wakeup) so that its
 * curl_multi_poll returns.  Nothing else crosses threads: the pool's
 * threads call only libcurl and the transfer's own callbacks, which must
 * touch nothing but the transfer's own data (and must not log).
 *
 * Pure module: no struct gw_gateway.
 *
 * Ownership: gw_xfer_new() returns a pool freed with gw_xfer_free()
 * (NULL is fine).  An easy handle given to gw_xfer_start() belongs to the
 * pool until gw_xfer_take() returns it (or gw_xfer_free() ends): the caller
 * must not touch it, nor anything its callbacks use, meanwhile.  The pool
 * sets the handle's progress callback (CURLOPT_XFERINFOFUNCTION, _DATA,
 * NOPROGRESS) and socket callbacks (CURLOPT_OPENSOCKETFUNCTION,
 * CLOSESOCKETFUNCTION and their _DATA): at the stop it aborts transfers
 * through the first and shuts their sockets down through the second, so
 * that no wait for a server outlasts the stop, and sets CURLOPT_QUICK_EXIT
 * (libcurl 7.87 and later) so that no host name lookup does either.
 * Everything else is the caller's.  A handle taken back is only cleaned up, never run again (its
 * callbacks name the pool).
 */
#ifndef GW_XFER_H
#define GW_XFER_H

#include <stddef.h>

#include <curl/curl.h>

#include "mqs_error.h"

#define GW_XFER_THREADS_MAX 64    /* threads of one pool at most */
#define GW_XFER_IDLE_MS     60000 /* a thread with no transfer this long ends */

struct gw_xfer;

/* A pool of at most max_threads threads (1..GW_XFER_THREADS_MAX; none runs
 * before the first transfer).  wake: the multi handle to wake when a
 * transfer ends (the loop's; NULL: none).  idle_ms: how long a thread
 * waits for a transfer before it ends (0: GW_XFER_IDLE_MS).  NULL with a
 * lowercase reason in
 * err when out of memory (or no mutex or condition could be made). */
struct gw_xfer *gw_xfer_new(CURLM *wake, unsigned max_threads, unsigned idle_ms, char *err,
                            size_t errlen);

/* Start easy (fully set up) in the pool; urgent: ahead of every waiting
 * non-urgent transfer.  MQS_OK (the pool owns easy until gw_xfer_take
 * returns it), MQS_ERR_NOMEM (no job or no thread could be made) or
 * MQS_ERR_INVAL (the pool was stopped); on an error easy is still the
 * caller's, in no multi handle. */
int gw_xfer_start(struct gw_xfer *x, CURL *easy, int urgent) MQS_MUST_CHECK;

/* A finished transfer, back to the caller, with its result in *cc; NULL
 * when none has finished since the last call.  Call it from the thread
 * that starts transfers. */
CURL *gw_xfer_take(struct gw_xfer *x, CURLcode *cc);

/* Threads running or waiting for a transfer now (not those ending). */
unsigned gw_xfer_threads(struct gw_xfer *x);

/* Transfers given to the pool and not yet taken back (after
 * gw_xfer_stop() and every gw_xfer_take(): those the stop left to the
 * caller unfinished). */
size_t gw_xfer_count(const struct gw_xfer *x);

/* Stop the pool's threads: their sockets are shut down and running
 * transfers aborted (no wait for a server goes on), the threads joined.
 * Afterwards gw_xfer_take() still returns the transfers that ended by
 * themselves (a success, or a failure before the stop), with their
 * outcome: record them.  Every other handle not taken back is again the
 * caller's, in no multi handle, with its transfer not finished (the server
 * may have taken the message: the caller sends it again, at least once
 * delivery).  A second call, or NULL, does nothing. */
void gw_xfer_stop(struct gw_xfer *x);

/* Stop the pool (gw_xfer_stop) and free it: every handle not taken back,
 * finished or not, is again the caller's.  NULL is fine. */
void gw_xfer_free(struct gw_xfer *x);

#endif
