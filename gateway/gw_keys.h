/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_keys.h - the gateway's online topic keys (docs/payload-encryption.md,
 * "Online keys"): at every connect the gateway asks the broker for the keys
 * of the filters it subscribes to (a request sealed with its device key on
 * mqttsec/keys/req), and keeps the answers (and the keys the broker pushes
 * after a rotation) in memory, next to the keys of its credentials file.
 * A gateway whose credentials hold no device key, or no TOTP (a plain
 * broker), asks nothing.
 *
 * Ownership: gw_keys_new() returns state freed by gw_keys_free() (NULL is
 * fine), which wipes the fetched keys.  The MQTT client's thread only.
 */
#ifndef GW_KEYS_H
#define GW_KEYS_H

#include <stddef.h>

#include "mqs_creds.h"

struct mosquitto;
struct mosquitto_message;
struct gw_keys;

/* New state for a gateway with credentials creds (borrowed, must outlive
 * it), or NULL when out of memory. */
struct gw_keys *gw_keys_new(const struct mqs_creds *creds);

/* Wipe and free.  NULL is fine. */
void gw_keys_free(struct gw_keys *k);

/* Connected: subscribe to the answer topic on mosq and ask for the keys of
 * the n filters (at most 64 are asked for).  Problems are logged. */
void gw_keys_connected(struct gw_keys *k, struct mosquitto *mosq, const char *const *filters,
                       size_t n);

/* 1 when m is on mqttsec/keys/ (consumed: an answer or a push is merged,
 * anything else ignored), else 0. */
int gw_keys_message(struct gw_keys *k, const struct mosquitto_message *m);

/* The fetched keys (a credentials structure holding topic keys only). */
const struct mqs_creds *gw_keys_creds(const struct gw_keys *k);

#endif
