/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_ack.h - who may acknowledge an alert (docs/gateway.md,
 * "Acknowledgements").
 *
 * An acknowledgement counts only when it arrives sealed, with the origin
 * the broker stamped (the publishing device's MQTT username), and that
 * device is allowed for the message:
 *
 *   - it is listed in the route's `ack_from` (device names, comma
 *     separated), or
 *   - the route's `ack_from` names `@GROUP` and the device is bound
 *     (`recipient set NAME --device DEV`) to a member of gateway group
 *     GROUP (operators), or
 *   - the device is bound to a member of the message's own group (a
 *     recipient acknowledges what was sent to them).
 *
 * Ownership: nothing is allocated; strings are the caller's.
 */
#ifndef GW_ACK_H
#define GW_ACK_H

#include <stddef.h>

#include "gw_store.h"
#include "mqs_error.h"

/* Longest device (MQTT user) name. */
#define GW_DEVICE_MAX 64

/* Return 1 when name can be a device name: 1..GW_DEVICE_MAX of
 * A-Z a-z 0-9 . _ - (the names mqttsec-acl gives devices), else 0. */
MQS_MUST_CHECK int gw_ack_device_check(const char *name);

/* Check an ack_from value: a comma separated list (spaces allowed) of
 * device names and @GROUP entries, at least one.  Returns MQS_OK, or
 * MQS_ERR_INVAL with a reason in why. */
MQS_MUST_CHECK int gw_ack_list_check(const char *list, char *why, size_t whylen);

/* May device acknowledge a message of group sent through a route whose
 * ack_from is ack_from (NULL: none)?  *allowed is 1 or 0 (0 on error).
 * Returns MQS_OK or MQS_ERR_DB (logged). */
MQS_MUST_CHECK int gw_ack_allowed(struct gw_store *s, const char *ack_from, const char *group,
                                  const char *device, int *allowed);

#endif
