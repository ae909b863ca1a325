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
 * the message has no group.  Returns 0, or -1 with a reason in err (no
 * message text in it) and a released. */
int gw_alert_parse(const uint8_t *json, size_t len, const char *default_group, struct gw_alert *a,
                   char *err, size_t errlen);

/* Free a's strings.  NULL is fine. */
void gw_alert_release(struct gw_alert *a);

/* Return 1 when text (len bytes) is valid UTF-8 without NUL. */
int gw_utf8_check(const char *text, size_t len);

struct gw_gateway;

/* The channels an alert goes to: its own, else its group's default, else
 * email. */
unsigned gw_alert_channels(struct gw_gateway *gw, const struct gw_alert *a);

/* Inside a transaction: store a as a message of kind from route/topic and
 * queue its deliveries; critical alerts start escalation.  The id is
 * deduplicated within (route, publisher) (docs/gateway.md, "Message ids");
 * origin (may be NULL) is recorded as given.  *rowid and *nrows (may be
 * NULL) receive the message row and the deliveries queued.  Returns
 * MQS_OK, MQS_ERR_EXISTS (id seen before in this namespace: nothing
 * queued), MQS_ERR_NOENT (no such group: nothing written) or MQS_ERR_DB. */
int gw_alert_queue_tx(struct gw_gateway *gw, const struct gw_alert *a, const char *route,
                      const char *topic, const char *kind, const char *origin,
                      const char *publisher, int64_t now_ms, int64_t *rowid, size_t *nrows);

/* The publisher (id namespace) of an alert with envelope origin origin
 * (NULL: unsealed or sealed without origin): the origin, else "" - the
 * anonymous namespace of the route. */
const char *gw_alert_publisher(const char *origin);

/* Write "<prefix>-<32 hex digits>" (128 bits from the CSPRNG) into out
 * (capacity cap).  Returns 0, or -1 (out emptied) when the result does
 * not fit or is not a valid id, or the CSPRNG fails. */
int gw_alert_random_id(const char *prefix, char *out, size_t cap);

/* gw_alert_queue_tx in its own transaction with publisher
 * gw_alert_publisher(origin), then publish the "queued" states.  Returns
 * as gw_alert_queue_tx. */
int gw_alert_submit(struct gw_gateway *gw, const struct gw_alert *a, const char *route,
                    const char *topic, const char *origin);

#endif
