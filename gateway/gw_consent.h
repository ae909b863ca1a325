/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_consent.h - marketing consent and opt-outs, with their history
 * (docs/marketing.md, "Consent and opt-out").
 *
 * Two different things, both per recipient and channel:
 *
 *   consent   "may receive marketing on this channel" (table consents:
 *             state on/off, source, time).  Marketing goes only to
 *             recipients whose consent on that channel is on.  Alerts
 *             never look at it.
 *   opt-out   "this channel is closed" (table optouts): nothing goes out on
 *             it, alerts included; the address stays.  An opt-out also
 *             turns the marketing consent of that channel off: an opt-out
 *             always wins, and lifting it never gives consent back.
 *
 * Every change appends a row to consent_log (recipient, channel, event,
 * source, time); events: "consent-on", "consent-off", "optout",
 * "optout-lifted".  A source is a short label: "cli", "console:NAME",
 * "twilio-stop", "twilio-start", "twilio-21610", "line-unfollow",
 * "unsubscribe-link", "import" (1..64 printable ASCII characters).
 *
 * Pure store module: no struct gw_gateway.  Each function works inside the
 * caller's transaction when one is open, else in one of its own.
 *
 * Ownership: the store is the caller's; rows given to callbacks live only
 * during the call.  Return values are enum mqs_err codes; err (when given)
 * receives a lowercase reason, never an address.
 */
#ifndef GW_CONSENT_H
#define GW_CONSENT_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"
#include "mqs_error.h"

/* Set the marketing consent of recipient name on channel ch (enum gw_chan:
 * email, sms, line) to on (1) or off (0).  Turning it on is refused
 * (MQS_ERR_INVAL) while the channel is opted out: lift the opt-out first.
 * Setting the state it already has changes nothing and logs nothing.
 * Returns MQS_OK, MQS_ERR_NOENT (no such recipient), MQS_ERR_INVAL or
 * MQS_ERR_DB. */
MQS_MUST_CHECK int gw_consent_set(struct gw_store *s, const char *name, int ch, int on,
                                  const char *source, int64_t now_ms, char *err, size_t errlen);

/* Opt recipient id rid out of channel ch (and turn its consent there off),
 * recorded with source.  Idempotent: an existing opt-out is kept as it is
 * (first source and time) and nothing is logged again.  *changed (may be
 * NULL) gets 1 when something changed.  Returns MQS_OK, MQS_ERR_NOENT or
 * MQS_ERR_DB. */
MQS_MUST_CHECK int gw_consent_optout(struct gw_store *s, int64_t rid, int ch, const char *source,
                                     int64_t now_ms, int *changed);

/* Lift the opt-out of recipient id rid on channel ch (consent stays off).
 * *changed as above.  Returns MQS_OK, MQS_ERR_NOENT or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_consent_optout_lift(struct gw_store *s, int64_t rid, int ch,
                                          const char *source, int64_t now_ms, int *changed);

/* 1 when source is a usable source label, else 0. */
int gw_consent_source_ok(const char *source);

/* One row of the history. */
struct gw_consent_event {
	const char *channel;
	const char *event; /* consent-on, consent-off, optout, optout-lifted */
	const char *source;
	int64_t at_ms;
};

/* The consent state of one channel of a recipient. */
struct gw_consent_state {
	int consent;        /* 1 on, 0 off or never given */
	int64_t since_ms;   /* when it was last set (0: never) */
	int optout;         /* 1 when the channel is closed */
	const char *source; /* of the last consent change, or NULL */
};

/* The consent of recipient name on channel ch into *st (strings live until
 * the next call on s).  Returns MQS_OK, MQS_ERR_NOENT or MQS_ERR_DB. */
int gw_consent_get(struct gw_store *s, const char *name, int ch, struct gw_consent_state *st);

/* Call fn for each history row of recipient name, oldest first; fn returns
 * MQS_OK to go on, anything else stops the walk and is returned.  Returns
 * MQS_OK, MQS_ERR_NOENT or MQS_ERR_DB. */
int gw_consent_each(struct gw_store *s, const char *name,
                    int (*fn)(const struct gw_consent_event *ev, void *arg), void *arg);

#endif
