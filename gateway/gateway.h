/* SPDX-License-Identifier: BSD-3-Clause */
/* gateway.h - the dispatcher context of `mqttsec-gateway run`: what the
 * message handlers (gw_route.c and the kinds behind it), gw_submit() and
 * the escalation ladder share.
 *
 * Layers (docs/architecture.md, gateway): pure modules (configuration,
 * kinds, store, outbox, recipients, alert parsing, hold, outgoing queue)
 * never see this struct; the engine, the status publisher and the MQTT
 * transport get the pieces they need; only the dispatcher layer (gw_route,
 * gw_submit, gw_escalation, gw_sensor) and the loop (gw_run.c) use it.
 *
 * Everything runs on one thread: libcurl's multi interface and the
 * libmosquitto sockets are driven from one poll loop (gw_run.c), so no
 * module locks anything.  The loop owns the transports (one per broker) and
 * the outgoing queue; nothing here reaches a connection.
 *
 * Ownership: gw_run() creates the struct on its stack and frees everything
 * in it; modules borrow it for the duration of a call.
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include "gw_config.h"
#include "gw_status.h"
#include "gw_store.h"
#include "mqs_creds.h"

struct gw_engine;
struct mqs_seen;
struct gw_sensor;
struct gw_medjoin;
struct gw_medical;
struct gw_pubq;
struct gw_marketing;

struct gw_gateway {
	const struct gw_config *conf;
	struct gw_store store;
	struct mqs_creds creds; /* [broker]'s; each [broker NAME] has its own in the loop */
	struct gw_engine *engine;
	struct gw_sensor *sensor;
	struct gw_status status;    /* publishes into the loop's outgoing queue */
	struct mqs_seen *replay;    /* envelopes seen on [broker] (mqs_seen.h) */
	unsigned long acks_refused; /* acknowledgements refused since start */
	/* docs/medical.md */
	struct gw_medjoin **joins;  /* indexed like conf->routes: the receiver of each
	                             * enabled medical-join route, else NULL */
	struct gw_medical *medical; /* the senders of the kind = medical routes */
	struct gw_pubq *pubq;       /* shares waiting for their broker (gw_pubq.h); also
	                             * campaign content for reviewers (gw_review.h) */
	/* docs/marketing.md */
	struct gw_marketing *marketing; /* campaigns after approval (gw_marketing.h) */
	int input_waits;                /* set by the loop before the marketing tick: a broker's
	                                 * socket has data to read, the fan-out yields to it */
};

#endif
