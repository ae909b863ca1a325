/* gw_mqtt.h - the gateway's MQTT client (libmosquitto), driven by the
 * gateway's own poll loop.
 *
 * Persistent session: clean session off, fixed client id ([broker]
 * client_id, default "mqttsec-gateway-<username>"), QoS 1 subscriptions
 * to every route topic and to <status_topic>/+/ack.  Reconnects are done
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
 * Ownership: gw_mqtt_new() returns an object freed by gw_mqtt_free()
 * (NULL ok).  libmosquitto acknowledges QoS 1 messages before they reach
 * the gateway's callback (see docs/gateway.md, delivery guarantees): when
 * the store refuses a write for a reason that may pass, the message is kept
 * in memory (gw_hold.h), the client disconnects so that the broker keeps
 * what follows in the session, gw_mqtt_service() retries the held messages
 * with backoff, oldest first, and reconnects once none is left.
 */
#ifndef GW_MQTT_H
#define GW_MQTT_H

#include <stddef.h>
#include <stdint.h>

struct gw_gateway;
struct gw_mqtt;

/* Create the client (no connection yet).  NULL with a reason in err. */
struct gw_mqtt *gw_mqtt_new(struct gw_gateway *gw, char *err, size_t errlen);

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

/* 1 when connected and subscribed. */
int gw_mqtt_connected(const struct gw_mqtt *m);

/* Publish at QoS 1 (not retained) when connected; dropped otherwise.  On
 * a protected topic (per the credentials) the payload is sealed with the
 * gateway's device key first.  Returns 0 or -1. */
int gw_mqtt_publish(struct gw_mqtt *m, const char *topic, const void *payload, size_t len);

/* Open payload (len bytes) received on topic: when it is an envelope for a
 * key in creds, *plain gets a new buffer (free with mqs_secret_free) with
 * the plaintext and origin its origin (NUL-terminated, "" when none);
 * otherwise *plain is a copy of payload.  An envelope whose (key id,
 * nonce) replay (may be NULL) has seen before is refused.  Returns 0, or
 * -1 with a reason in err (the message must be dropped). */
struct mqs_creds;
struct mqs_seen;
int gw_mqtt_open_payload(const struct mqs_creds *creds, struct mqs_seen *replay, const char *topic,
                         const uint8_t *payload, size_t len, uint8_t **plain, size_t *plain_len,
                         char origin[256], char *err, size_t errlen);

#endif
