/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_alert.h - alert messages (docs/gateway.md, kind = alert):
 *
 *   {"id": "a-1001", "severity": "info|warning|critical", "group": "ops",
 *    "title": "Server room temperature", "body": "41.5 C in room 3",
 *    "channels": ["email", "sms", "line", "phone"]}
 *
 * id (1..128 of A-Z a-z 0-9 . _ : @ -) and title (1..200 characters, one
 * line) are required; severity defaults to info; group defaults to the
 * route's group; body (up to 4000 characters) to ""; channels to the
 * group's default channels, else email.  Text must be UTF-8.
 *
 * Pure module: parsing and the rows an alert writes (store and
 * configuration are passed in; no struct gw_gateway).  Committing,
 * waking the engine and publishing the "queued" states is gw_submit's job
 * (gw_submit.h).
 *
 * Ownership: gw_alert_parse() fills a caller-owned struct whose strings
 * are freed by gw_alert_release() (NULL-safe, idempotent).
 */
#ifndef GW_ALERT_H
#define GW_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "gw_recipient.h"
#include "gw_util.h"

#define GW_TITLE_MAX 200
#define GW_BODY_MAX  4000

struct gw_alert {
	char id[GW_ID_MAX + 1];
	int severity; /* enum gw_severity */
	char group[GW_NAME_MAX + 1];
	char *title;
	char *body;
	unsigned chan_mask; /* channels named in the message */
	int has_channels;
};

/* Parse and validate an alert.  default_group (may be NULL) is used when
 * the message has no group.  Returns MQS_OK, or MQS_ERR_PARSE with a reason
 * in err (no message text in it) and a released. */
int gw_alert_parse(const uint8_t *json, size_t len, const char *default_group, struct gw_alert *a,
                   char *err, size_t errlen);

/* Free a's strings.  NULL is fine. */
void gw_alert_release(struct gw_alert *a);

struct gw_config;
struct gw_store;

/* The channels an alert goes to: its own, else its group's default (in
 * store s), else email. */
unsigned gw_alert_channels(struct gw_store *s, const struct gw_alert *a);

/* Inside a transaction on s: store a as a message of kind from route/topic
 * and queue its deliveries; critical alerts start escalation (c's
 * [delivery] ladder).  The id is
 * deduplicated within (route, publisher) (docs/gateway.md, "Message ids");
 * origin (may be NULL) is recorded as given.  *rowid and *nrows (may be
 * NULL) receive the message row and the deliveries queued.  Returns
 * MQS_OK, MQS_ERR_EXISTS (id seen before in this namespace: nothing
 * queued), MQS_ERR_NOENT (no such group: nothing written) or MQS_ERR_DB. */
int gw_alert_queue_tx(struct gw_store *s, const struct gw_config *c, const struct gw_alert *a,
                      const char *route, const char *topic, const char *kind, const char *origin,
                      const char *publisher, int64_t now_ms, int64_t *rowid, size_t *nrows);

/* The publisher (id namespace) of an alert with envelope origin origin
 * (NULL: unsealed or sealed without origin): the origin, else "" - the
 * anonymous namespace of the route. */
const char *gw_alert_publisher(const char *origin);

/* Write "<prefix>-<32 hex digits>" (128 bits from the CSPRNG) into out
 * (capacity cap).  Returns MQS_OK, MQS_ERR_TOOBIG (the result does not fit
 * or is not a valid id) or MQS_ERR_CRYPTO (the CSPRNG failed); out is
 * emptied on failure. */
int gw_alert_random_id(const char *prefix, char *out, size_t cap);

#endif
