/* gw_route.h - where an incoming MQTT message goes: acknowledgements on
 * <status_topic>/<id>/ack, else every enabled [route NAME] whose topic
 * filter matches (kind alert: gw_alert; kind sensor: gw_sensor).
 *
 * Called from the MQTT message callback: everything a message causes is
 * committed before this returns.  Nothing here logs payload contents.
 */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct gw_gateway;

/* Handle one (opened) message.  origin is the envelope origin or NULL. */
void gw_route_message(struct gw_gateway *gw, const char *topic, const uint8_t *payload, size_t len,
                      const char *origin);

/* If topic is <status_topic>/<id>/ack, copy id into id (capacity cap) and
 * return 1; else 0. */
int gw_route_ack_id(const char *status_topic, const char *topic, char *id, size_t cap);

#endif
