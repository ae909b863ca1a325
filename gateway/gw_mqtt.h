/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_mqtt.h - the gateway's MQTT client (libmosquitto), driven by the
 * gateway's own poll loop.
 *
 * MQTT v5.  Persistent session: clean start off, a Session Expiry
 * Interval that never expires, fixed client id ([broker]
 * client_id, default "mqttsec-gateway-<username>"), QoS 1 subscriptions
 * to the broker's filter list (the loop builds it: on [broker] every
 * route topic and <status_topic>/+/ack; on every broker the channel
 * topics of the medical-join routes that live on it).  Reconnects are done
 * here, not by libmosquitto: exponential backoff with jitter between
 * [broker] reconnect_min and reconnect_max, and a fresh TOTP code for
 * every attempt.  A code's time step is never reused after the broker
 * accepted it (the broker refuses replays), so a reconnect within the same
 * step waits for the next one; the last accepted step survives restarts.
 * A credentials file without "totp" connects without a password (for a
 * broker without the mqttsec plugin).
 *
 * Incoming payloads that are envelopes (docs/envelope.md) for a key id present in
 * the credentials are opened with that key (the envelope is bound to the
 * topic); anything else is passed on as plaintext.  Envelopes that do not
 * open are dropped and logged.
 *
 * One struct gw_mqtt is one connection to one broker (struct
 * gw_mqtt_broker: [broker] or a [broker NAME], each with its own
 * credentials, replay set, TOTP step key and backoff); the loop (gw_run.c)
 * holds one per broker.  Every hook call names the broker's index.
 *
 * Publishing with an acknowledgement (gw_mqtt_publish_mid, docs/medical.md,
 * "Sending"): the message id is returned and the on_published hook reports
 * its PUBACK.  When the connection drops, the on_down hook says that every
 * publish not acknowledged yet is forgotten: the libmosquitto client is
 * replaced before the next attempt (so no stale message id can be
 * acknowledged later), and the owner publishes those messages again.  The
 * transport knows nothing of the gateway: it hands every opened message to
 * the on_message hook the loop gave it and lets the loop's pump hook run
 * between the messages of a long burst; it never calls the dispatcher, the
 * store's writers or the loop directly.  The only store access is its own
 * state: the last accepted TOTP step (a key of the kv table).
 *
 * Ownership: gw_mqtt_new() returns an object freed by gw_mqtt_free()
 * (NULL ok); the broker description, the credentials, the replay set, the
 * store and the hooks are borrowed and must outlive it.  libmosquitto acknowledges QoS 1 messages
 * before they reach the gateway's callback (see docs/gateway.md, delivery guarantees): when the
 * store refuses a write for a reason that may pass, the message is kept in memory (gw_hold.h), the
 * client disconnects so that the broker keeps what follows in the session, gw_mqtt_service()
 * retries the held messages with backoff, oldest first, and reconnects once none is left.
 */
#ifndef GW_MQTT_H
#define GW_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

struct gw_mqtt;
struct gw_route;
struct gw_store;
struct mqs_creds;
struct mqs_seen;

/* One broker: where to connect and what to subscribe to.  The [broker]
 * section gives index 0 (name ""), each [broker NAME] (docs/medical.md)
 * one more. */
struct gw_mqtt_broker {
	size_t index;     /* handed to every hook */
	const char *name; /* "" for [broker] */
	const char *host;
	int port;
	const char *cafile;    /* NULL = plain MQTT */
	const char *client_id; /* NULL = "mqttsec-gateway-<username>" */
	int keepalive;         /* seconds */
	uint64_t reconnect_min_ms, reconnect_max_ms;
	const char *step_key;       /* kv key of the last accepted TOTP step */
	const char *const *filters; /* QoS 1 subscriptions */
	size_t nfilters;
};

/* What the transport hands to its owner.  on_message gets every opened
 * message (origin NULL when none, retain 1 when the broker sent it as a
 * retained message) with the index of the broker it came
 * from and returns 1 when the store refused a write on the way (the
 * transport holds the message and retries it), else 0.  pump (may be
 * NULL) is called after each message of a read, so the owner can let
 * other sources progress during a long burst.  on_published (may be NULL)
 * reports the PUBACK of message id mid with its MQTT v5 reason code
 * (>= 0x80: the broker refused the message); on_down (may be NULL) reports that
 * the connection dropped and every publish not acknowledged yet is
 * forgotten. */
struct gw_mqtt_hooks {
	int (*on_message)(void *ctx, size_t broker, const char *topic, const uint8_t *payload,
	                  size_t len, const char *origin, int retain);
	void (*pump)(void *ctx);
	void (*on_published)(void *ctx, size_t broker, int mid, int reason);
	void (*on_down)(void *ctx, size_t broker);
	void *ctx;
};

/* Create the client for broker b (no connection yet), logging in with
 * creds, refusing envelopes replay has seen, keeping its TOTP step in
 * store.  NULL with a reason in err. */
struct gw_mqtt *gw_mqtt_new(const struct gw_mqtt_broker *b, const struct mqs_creds *creds,
                            struct mqs_seen *replay, struct gw_store *store,
                            const struct gw_mqtt_hooks *hooks, char *err, size_t errlen);

/* Disconnect and free.  NULL is fine. */
void gw_mqtt_free(struct gw_mqtt *m);

/* The socket to poll and the events wanted (POLLIN, POLLOUT), or -1. */
int gw_mqtt_fd(struct gw_mqtt *m, short *events);

/* Handle poll results for the socket. */
void gw_mqtt_io(struct gw_mqtt *m, short revents);

/* Retry held messages when due; connect/reconnect when due (never while
 * messages are held), keepalive.  Returns when it next wants to run (Unix
 * ms). */
uint64_t gw_mqtt_service(struct gw_mqtt *m, uint64_t now_ms);

/* Acknowledged messages held in memory, waiting for the database. */
size_t gw_mqtt_held(const struct gw_mqtt *m);

/* 1 when connected (CONNACK accepted), else 0. */
int gw_mqtt_up(const struct gw_mqtt *m);

/* Publish payload on topic at QoS 1 (not retained), sealed with this
 * broker's device key (credentials of the transport) when the topic is
 * protected there; with must_seal set, an unprotected topic is refused.
 * *mid gets the message id that on_published will report.  Returns
 * MQS_OK, MQS_ERR_IO (not connected, or libmosquitto refused),
 * MQS_ERR_INVAL (must_seal and the topic is not protected, or no device
 * key), MQS_ERR_CRYPTO (sealing failed). */
MQS_MUST_CHECK int gw_mqtt_publish_mid(struct gw_mqtt *m, const char *topic, const void *payload,
                                       size_t len, int must_seal, int *mid);

/* Publish at QoS 1 (not retained) when connected; dropped (and counted)
 * otherwise.  On a protected topic (per the credentials) the payload is
 * sealed with the gateway's device key first.  Returns MQS_OK, or
 * MQS_ERR_IO when not connected or libmosquitto refused, MQS_ERR_CRYPTO
 * when it could not be sealed. */
int gw_mqtt_publish(struct gw_mqtt *m, const char *topic, const void *payload, size_t len);

/* Open payload (len bytes) received on topic: when it is an envelope for a
 * key in creds, *plain gets a new buffer (free with mqs_secret_free) with
 * the plaintext and origin its origin (NUL-terminated, "" when none);
 * otherwise *plain is a copy of payload.  An envelope whose (key id,
 * nonce) replay (may be NULL) has seen before is refused.  Returns MQS_OK,
 * or with a reason in err (the message must be dropped): MQS_ERR_NOMEM, the
 * envelope's error (it does not open), MQS_ERR_EXISTS (a replay). */
MQS_MUST_CHECK int gw_mqtt_open_payload(const struct mqs_creds *creds, struct mqs_seen *replay,
                                        const char *topic, const uint8_t *payload, size_t len,
                                        uint8_t **plain, size_t *plain_len, char origin[256],
                                        char *err, size_t errlen);

#endif
