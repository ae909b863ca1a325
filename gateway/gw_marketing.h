/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_marketing.h - campaigns from approval to the last delivery
 * (docs/marketing.md, "Delivery rules").
 *
 * The tick (called by the loop at least once a second and whenever it
 * asks to be woken):
 *   1. expires campaigns past their review deadline and queues the content
 *      of levels waiting for their reviewers (gw_review.h);
 *   2. schedules approved campaigns (approved -> scheduled), but only
 *      after checking again from the audit that every level was approved,
 *      in order, by distinct persons, none the author, each for the stored
 *      sha256 (gw_review_fully_approved): a campaign whose audit does not
 *      prove it is never sent, whatever its state says;
 *   3. starts scheduled campaigns whose send_at has come (-> sending):
 *      one messages row (kind "marketing"), then the fan-out in batches
 *      of [marketing] fanout_batch recipients per turn (cursor = last
 *      recipient id, durable, so a restart resumes where it stopped and
 *      never queues a row twice): one outbox row (prio 1) per member of
 *      the group and channel of the campaign, only for members whose
 *      consent on that channel is on, who are not opted out of it and who
 *      have an address for it; every skip counted in campaign_stats
 *      (no_consent, opted_out, no_address); each row's first attempt is
 *      outside the quiet hours of the recipient's time zone;
 *   4. marks sending campaigns whose fan-out ended and whose rows are all
 *      final as done.
 * Each step is its own transaction; the audit records scheduled, sending
 * and done.
 *
 * Rendering: marketing rows carry no text; the engine asks the renderer
 * (gw_marketing_render, given to the engine at start) for each claimed
 * row: the campaign (parsed once, cached), the recipient's name and an
 * unsubscribe link (gw_unsub.h) for email.
 *
 * Dispatcher layer: the tick takes struct gw_gateway.
 *
 * Ownership: gw_marketing_new() returns an object freed by
 * gw_marketing_free() (NULL ok); it borrows the gateway, which outlives it.
 */
#ifndef GW_MARKETING_H
#define GW_MARKETING_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"
#include "gw_util.h"
#include "mqs_error.h"

struct gw_gateway;
struct gw_marketing;

/* The marketing state of gw (campaign cache, timers).  NULL with a reason
 * in err, also when a marketing route is enabled and gw->creds hold no
 * device key to seal the content for reviewers with (docs/marketing.md,
 * "Setting it up"). */
struct gw_marketing *gw_marketing_new(struct gw_gateway *gw, char *err, size_t errlen);

/* Free.  NULL is fine. */
void gw_marketing_free(struct gw_marketing *m);

/* One tick (see above).  Returns when it wants to run again (Unix ms): now
 * while a fan-out has rows left, else at most a second away.  A fan-out
 * batch waits while gw->input_waits (data on a broker's socket) for
 * GW_MARKETING_YIELD_MAX ticks in a row at most, and pauses while alerts
 * run (gw_marketing_pause). */
uint64_t gw_marketing_tick(struct gw_gateway *gw, struct gw_marketing *m, uint64_t now_ms);

/* Fan-out batches put off in a row at most while input waits. */
#define GW_MARKETING_YIELD_MAX 8
/* The fan-out's pause for running alerts lasts this long in a row at most. */
#define GW_MARKETING_PAUSE_MAX_MS 1000

/* Whether a fan-out batch pauses now: 1 while alerts_running > 0, but once
 * such a pause has lasted GW_MARKETING_PAUSE_MAX_MS, 0 (one batch goes) and
 * the pause starts again at the next call.  *paused_since is the caller's
 * state (0 at first: no pause); now_ms a monotonic clock in ms, never 0. */
int gw_marketing_pause(uint64_t *paused_since, size_t alerts_running, uint64_t now_ms);

/* What campaign report ID prints, per channel of the campaign. */
struct gw_report_chan {
	int chan;                                  /* enum gw_chan */
	int64_t audience;                          /* group members when the fan-out ran */
	int64_t no_consent, opted_out, no_address; /* skipped */
	int64_t deferred; /* rows whose first attempt waited for quiet hours to end */
	int64_t queued, sending, sent, failed, dead;
};

struct gw_report {
	char state[20];
	int fanned_out; /* 1 when every member was looked at */
	size_t nchans;
	struct gw_report_chan chans[GW_CH__COUNT];
};

/* The report of campaign cid.  Pure store read.  Returns MQS_OK,
 * MQS_ERR_NOENT or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_marketing_report(struct gw_store *s, const char *cid, struct gw_report *r);

#endif
