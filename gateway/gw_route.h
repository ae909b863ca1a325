/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_route.h - the dispatcher: where an incoming MQTT message goes.
 * Messages from [broker] (index 0): acknowledgements on
 * <status_topic>/<id>/ack go to gw_escalation; else every enabled
 * [route NAME] whose topic filter matches gets the message, through the
 * on_message handler of its kind (kind alert: gw_alert and gw_submit; kind
 * sensor: gw_sensor; kind medical: gw_medical; the kind registry:
 * gw_kind.h).  From any broker: a message on the channel (topic, broker)
 * of an enabled medical-join route goes to that route's receiver
 * (gw_medjoin_share with the channel index), and nowhere else.  Other
 * kinds only route messages from [broker].
 *
 * Called by the loop with each message a transport received (the
 * transport never calls this itself): everything a message causes is
 * committed before this returns.  Nothing here logs payload contents.
 *
 * Ownership: nothing is kept; payload and strings are the caller's.
 */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct gw_gateway;

/* Handle one (opened) message from broker index broker (0 = [broker]).
 * origin is the envelope origin or NULL; retain is 1 when the broker sent
 * it as a retained message (dropped on medical and medical-join routes). */
void gw_route_message(struct gw_gateway *gw, size_t broker, const char *topic,
                      const uint8_t *payload, size_t len, const char *origin, int retain);

/* If topic is <status_topic>/<id>/ack, copy id into id (capacity cap) and
 * return 1; else 0. */
int gw_route_ack_id(const char *status_topic, const char *topic, char *id, size_t cap);

/* The same for <status_topic>/<id>/review (a reviewer's decision on
 * campaign id; docs/marketing.md, "Review"). */
int gw_route_review_id(const char *status_topic, const char *topic, char *id, size_t cap);

#endif
