/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_keys.h - the gateway's online topic keys (docs/payload-encryption.md,
 * "Online keys"): at every connect the gateway asks the broker for the keys
 * of the filters it subscribes to (a request sealed with its device key on
 * mqttsec/keys/req), and keeps the answers (and the keys the broker pushes
 * after a rotation) in memory, next to the keys of its credentials file.
 * A gateway whose credentials hold no device key, or no TOTP (a plain
 * broker), asks nothing.  A request holds at most 64 filters: more are
 * asked in several requests (8 at most at connect; each filter beyond is
 * logged as not asked).  A message under a key id the gateway does not
 * hold, on a protected filter (or a subscription) matching its topic, waits
 * (gw_keys_wait) while that filter is asked for again (at most once per
 * filter every 10 s); it is handed back once the key arrives
 * (gw_keys_next_ready) or dropped with a warning after 30 s from its
 * arrival (at most one warning every 10 s, with the number of drops not
 * logged).  With a store (gw_keys_restore) a waiting message is also kept,
 * still sealed, in the key_waits table, committed before the next message
 * is read, so a gateway stopped or killed during the wait takes it back at
 * the next start and asks for its filter again at connect.
 *
 * Ownership: gw_keys_new() returns state freed by gw_keys_free() (NULL is
 * fine), which wipes the fetched keys and frees the waiting messages (their
 * stored rows stay for the next start); a message handed back by
 * gw_keys_next_ready() belongs to the caller, who deletes its stored row
 * with gw_keys_done() once it is handled.  The store is borrowed and must
 * outlive the state.  The MQTT client's thread only.
 */
#ifndef GW_KEYS_H
#define GW_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_creds.h"

struct gw_store;
struct mosquitto;
struct mosquitto_message;
struct gw_keys;

/* New state for a gateway with credentials creds (borrowed, must outlive
 * it), or NULL when out of memory. */
struct gw_keys *gw_keys_new(const struct mqs_creds *creds);

/* Wipe and free.  NULL is fine. */
void gw_keys_free(struct gw_keys *k);

/* Connected: subscribe to the answer topic on mosq and ask for the keys of
 * the n filters (64 a request, at most 512).  Problems are logged. */
void gw_keys_connected(struct gw_keys *k, struct mosquitto *mosq, const char *const *filters,
                       size_t n);

/* 1 when m is on mqttsec/keys/ (consumed: an answer or a push is merged,
 * anything else ignored), else 0. */
int gw_keys_message(struct gw_keys *k, const struct mosquitto_message *m);

/* m arrived sealed with key_id, which neither the credentials nor the
 * fetched keys hold: when a protected filter the gateway knows, or one of
 * its nsubs subscriptions, matches its topic, key_id is newer than the
 * newest key held for it, and its publisher (the envelope's origin, else the
 * topic) has fewer than 64 messages waiting, keep a copy and ask for that
 * filter (rate-limited) and return 1; else 0 (the caller goes on as
 * before; refusals are logged rate-limited). */
int gw_keys_wait(struct gw_keys *k, struct mosquitto *mosq, const char *const *subs, size_t nsubs,
                 const struct mosquitto_message *m, uint32_t key_id, uint64_t now_ms);

/* Keep the waiting messages in store (borrowed) under the name broker
 * ("" for the [mqtt] section) from now on, and take back those an earlier
 * run stored there (their 30 s run from their arrival; those over the caps
 * are dropped with a warning).  MQS_OK, or MQS_ERR_DB / MQS_ERR_NOMEM
 * (logged; the store is used all the same). */
int gw_keys_restore(struct gw_keys *k, struct gw_store *store, const char *broker);

/* Hand back the oldest waiting message whose key is known now (1: topic and
 * payload are the caller's to free, *row its stored row for gw_keys_done,
 * 0 when not stored), after dropping, with a warning, those that waited
 * 30 s; 0 when none is ready.  NULL k is fine. */
int gw_keys_next_ready(struct gw_keys *k, uint64_t now_ms, char **topic, uint8_t **payload,
                       size_t *len, int *qos, int *retain, int64_t *row);

/* The message handed back with row was handled: delete its stored copy
 * (0: none; a failure is logged, and the message comes back at the next
 * start).  NULL k is fine. */
void gw_keys_done(struct gw_keys *k, int64_t row);

/* 1 when gw_keys_next_ready has work (messages wait, or drops are still to
 * be logged), else 0.  NULL is fine. */
int gw_keys_busy(const struct gw_keys *k);

/* Messages waiting for a key.  NULL is fine. */
size_t gw_keys_waiting(const struct gw_keys *k);

/* The fetched keys (a credentials structure holding topic keys only). */
const struct mqs_creds *gw_keys_creds(const struct gw_keys *k);

#endif
