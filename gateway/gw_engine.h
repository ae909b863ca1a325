/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_engine.h - the delivery engine: takes due rows from the outbox and
 * hands them to the channels, over one libcurl multi handle.
 *
 * Per channel at most max_inflight transfers run at once.  Outcomes
 * (gw_channel.h): GW_SENT -> sent; GW_FAILED -> failed (never retried);
 * GW_RETRY -> queued again after an exponential backoff with jitter
 * ([delivery] backoff_base * 2^(attempt-1), capped at backoff_max, drawn
 * from the upper half), never sooner than the provider's Retry-After, and
 * dead once [delivery] max_attempts attempts were made.  Every state change
 * is published (gw_status.h).  A write the store refuses (lock, full disk)
 * is rolled back with everything else of that turn and tried again after a
 * backoff (10 ms doubling to 1 s): outcomes are kept in memory meanwhile,
 * so a state change is never lost while the process lives.  Rows of a channel that is not
 * configured fail with "channel X not configured".
 *
 * No struct gw_gateway: the engine gets the store, the configuration and
 * the status publisher it uses (state per instance).
 *
 * Ownership: gw_engine_new() builds the channels from the configuration;
 * store, configuration and status are borrowed and must outlive the engine;
 * gw_engine_free() frees the channels and aborts transfers still running (their
 * rows go back to queued).  NULL is fine.
 */
#ifndef GW_ENGINE_H
#define GW_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

struct gw_config;
struct gw_engine;
struct gw_outbox_row;
struct gw_status;
struct gw_store;

/* Marketing rows (outbox prio 1; docs/marketing.md, "Delivery rules"):
 * claimed after the alerts of their channel, in at most [marketing]
 * marketing_share percent of its max_inflight (at least one slot stays
 * free for alerts when max_inflight > 1), one token each from the
 * channel's bucket ([channel NAME] rate/burst; alerts never wait for it
 * and push it into debt).  A claimed marketing row inside its recipient's
 * quiet hours goes back to queued until they end (deferred + 1, no attempt
 * counted).  Its text comes from the renderer (gw_engine_set_renderer).
 * Marketing deliveries are not published on the status topic one by one
 * (a campaign reaches thousands of customers: `campaign report` counts
 * them) and are logged at debug level unless they fail. */

/* What the renderer gives for one marketing row: malloc'd strings the
 * engine frees (wiped). */
struct gw_engine_rendered {
	char *subject;   /* email subject; NULL elsewhere */
	char *text;      /* the text with the channel's footer */
	char *html;      /* email html part, NULL when none */
	char *unsub_url; /* email: the List-Unsubscribe link, NULL when none */
};

/* Render row (prio 1) into *out.  Returns MQS_OK, or an enum mqs_err code:
 * the row fails with "cannot render" (MQS_ERR_DB: retried). */
typedef int (*gw_engine_render_fn)(void *arg, const struct gw_outbox_row *row,
                                   struct gw_engine_rendered *out);

/* Create the engine and its channels ([channel] sections of conf), over
 * store, publishing state changes through status.  NULL with a reason in
 * err. */
struct gw_engine *gw_engine_new(struct gw_store *store, const struct gw_config *conf,
                                struct gw_status *status, char *err, size_t errlen);

/* The renderer of marketing rows (gw_marketing gives it at start; arg is
 * borrowed).  Without one, marketing rows fail ("no renderer"). */
void gw_engine_set_renderer(struct gw_engine *e, gw_engine_render_fn fn, void *arg);

/* Abort running transfers (rows back to queued), free channels.  An email
 * of the transfer pool (gw_xfer.h) that ended before the abort keeps its
 * outcome (recorded here; a sent one is not sent again).  NULL ok. */
void gw_engine_free(struct gw_engine *e);

/* Most descriptors gw_engine_fds() gives. */
#define GW_ENGINE_FDS_MAX 64

/* Descriptors of the channels' own transfers (email's pipelining client,
 * gw_smtp.h) for the loop's poll, at most cap, into fd[] and events[]
 * (POLLIN/POLLOUT); gw_engine_perform() does their I/O.  Returns how
 * many. */
size_t gw_engine_fds(const struct gw_engine *e, int *fd, short *events, size_t cap);

/* Record finished deliveries and start every due delivery that fits in its
 * channel's concurrency (one transaction for both). */
void gw_engine_dispatch(struct gw_engine *e, int64_t now_ms);

/* Claim nothing more (shutdown); running transfers still finish. */
void gw_engine_stop(struct gw_engine *e);

/* New rows were committed to the outbox: look at it on the next turn.
 * NULL is fine. */
void gw_engine_kick(struct gw_engine *e);

/* New marketing rows only (a fan-out batch): look at the outbox on the
 * next turn, but let the writes of a campaign keep waiting for a running
 * alert (docs/marketing.md, "Delivery rules").  NULL is fine. */
void gw_engine_kick_marketing(struct gw_engine *e);

/* Drive transfers (curl_multi_perform); finished ones are recorded by the
 * next gw_engine_dispatch(). */
void gw_engine_perform(struct gw_engine *e);

/* When the engine next wants to look at the outbox (Unix ms): now when
 * something changed, else the earliest known retry, at most a second away. */
int64_t gw_engine_next_due(struct gw_engine *e);

/* The multi handle, for curl_multi_poll. */
CURLM *gw_engine_multi(struct gw_engine *e);

/* A campaign was cancelled while sending: fail (as why, recorded at the
 * next turn, never sent) the marketing rows of messages row msg_rowid the
 * engine has claimed ahead.  Returns their number. */
size_t gw_engine_cancel_message(struct gw_engine *e, int64_t msg_rowid, const char *why);

/* Number of transfers running that are not marketing (alerts and the
 * rest), plus one while the outcome of such a transfer waits to be
 * recorded: the campaign fan-out yields to them (gw_marketing.c). */
size_t gw_engine_alerts_running(const struct gw_engine *e);

/* Number of transfers running. */
size_t gw_engine_inflight(const struct gw_engine *e);

/* Threads of the libcurl email pool (gw_xfer.h) running or waiting for an
 * email now: 0 before the first such email and after they all went idle
 * long enough to end. */
unsigned gw_engine_mail_threads(const struct gw_engine *e);

/* Number of finished deliveries whose outcome is not written yet (the
 * store refused the write; it is retried with backoff from
 * gw_engine_dispatch(), never dropped). */
size_t gw_engine_unrecorded(const struct gw_engine *e);

/* 1 while the last write of the engine was refused and waits for its
 * retry, else 0. */
int gw_engine_write_refused(const struct gw_engine *e);

/* Delay before retry number attempts+1 (attempts >= 1 made so far):
 * min(max_ms, base_ms * 2^(attempts-1)) drawn uniformly from its upper
 * half using rnd, and at least retry_after_s seconds (capped at one day). */
uint64_t gw_engine_backoff_ms(uint64_t base_ms, uint64_t max_ms, int attempts, long retry_after_s,
                              uint32_t rnd);

#endif
