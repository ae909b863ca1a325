/* SPDX-License-Identifier: BSD-3-Clause */
/* keysvc.h - the MQTT side of online topic keys (docs/payload-encryption.md,
 * "Online keys"; the request and answer formats are in keyreq.h).
 *
 *   - MOSQ_EVT_MESSAGE on mqttsec/keys/req (mqsp_keysvc_message_cb,
 *     registered before the re-sealing callback): the request is consumed,
 *     never forwarded nor retained (the callback refuses the message after
 *     handling it: an MQTT v5 QoS 1/2 publisher gets reason 0x87, so
 *     clients send requests at QoS 0).  It must be an envelope without
 *     origin, sealed by the publisher's own device key for that topic,
 *     fresh within plugin_opt_replay_window, from a client id with a token
 *     left and a device (username) with a token left (keyrate.h, the same
 *     limit twice: connect tokens let a device open connections under
 *     fresh client ids at once); the answer goes to that client id alone
 *     (mosquitto_broker_publish with the client id, QoS 1) on
 *     mqttsec/keys/<username>.  Refusals are counted by reason and logged
 *     (client id and reason, never the payload; at most
 *     MQSP_KEYSVC_LOG_PER_S lines a second).  A flood bans the username
 *     (reason "key-flood", plugin_opt_ban_seconds), and its clients are
 *     disconnected on the next tick.
 *   - Access (mqsp_keysvc_access, from the ACL callback) for topics under
 *     mqttsec/keys/: an enabled device may publish mqttsec/keys/req only,
 *     never retained (a retained Last Will there is refused when the broker
 *     sends it: wills never reach the message callback, so only this check
 *     keeps them from being stored), and subscribe to and read
 *     mqttsec/keys/<its username> only; nothing else there, whatever the
 *     ACL rules say.
 *   - Push (mqsp_keysvc_swapped, when reload.c puts a new view in use): a
 *     topic key that appeared since the last view (a rotation, or a key
 *     announced before it seals) is sent, the same way as an answer (read
 *     right checked again, recorded), to every connected client that
 *     fetched its filter, with an all-zero nonce.  The clients are queued
 *     and served a few at a time (mqsp_keysvc_push_slice, on every tick:
 *     at most 64 answers or 2 ms of work a pass), so a rotation with many
 *     fetchers never stalls the broker for long; a client queued already
 *     gets one push with the keys in use when it is served (a later
 *     rotation supersedes a queued push); a client that disconnected is
 *     dropped from the queue, one whose device, answers key or read right
 *     went is skipped, and so is one whose client id is no longer held by
 *     the connection that fetched, logged in as the same username (the
 *     clients table, then mosquitto_client_username).  The queue holds each
 *     remembered client at most once (bounded by MQSP_KEYSVC_CLIENTS, and
 *     MQSP_KEYSVC_CLIENTS_PER_USER per device); each remembers at most
 *     MQSP_KEYSVC_FILTERS_MAX filters (a client or filter past a cap is
 *     logged, never dropped silently; it fetches when it meets a new key),
 *     and one answer carries at most MQSP_KEYREQ_FILTERS_MAX of them (the
 *     rest go in the next answer).  A push builds its answer with busy
 *     timeout 0: when mqttsec-acl holds the database lock it stays pending
 *     and the queue waits 100 ms (doubled per failed attempt, at most 2 s)
 *     before the next pass tries again, MQSP_KEYSVC_PUSH_ATTEMPTS times at
 *     most (then logged).  The answer checks, in its own transaction, that
 *     the device key it is sealed for still opens (rekey --grace 0).  The plugin's own rotations
 *     (rotate.c) queue their push at once (mqsp_keysvc_rotated, the keys
 *     read from the committed database), and the next view does not push
 *     those keys again.
 *
 * Ownership: mqsp_keysvc_new() returns state freed by mqsp_keysvc_free()
 * (NULL is fine).  Broker thread only.
 */
#ifndef MQSP_KEYSVC_H
#define MQSP_KEYSVC_H

#include <stdint.h>

#include "mqs_error.h"

#define MQSP_KEYSVC_LOG_PER_S 20
#define MQSP_KEYSVC_CLIENTS   100000 /* clients whose fetched filters are remembered */
#define MQSP_KEYSVC_CLIENTS_PER_USER                                                               \
	64 /* ... of one device (username): one holder cannot fill the table */
#define MQSP_KEYSVC_FILTERS_MAX   1024 /* filters remembered per client */
#define MQSP_KEYSVC_PUSH_ATTEMPTS 10   /* a push that found the database locked, tried again */
#define MQSP_KEYSVC_EARLY_MAX     32   /* rotations pushed before a view holds their key */

struct mosquitto;
struct mqsp_plugin;
struct mqsp_keys;
struct mqsp_device;
struct mqsp_keysvc;

/* refusal reasons, counted */
enum mqsp_keysvc_refusal {
	MQSP_KEYSVC_RATE = 0, /* no token left */
	MQSP_KEYSVC_FLOOD,    /* ... and a ban followed */
	MQSP_KEYSVC_UNKNOWN,  /* no enabled device, or not its key */
	MQSP_KEYSVC_MALFORMED,
	MQSP_KEYSVC_UNSEALED, /* does not open, or stale */
	MQSP_KEYSVC_ERROR,    /* database, memory */
	MQSP_KEYSVC__COUNT
};

/* New state.  Returns MQS_OK or MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqsp_keysvc_new(struct mqsp_keysvc **out);

/* Free everything.  NULL is fine. */
void mqsp_keysvc_free(struct mqsp_keysvc *ks);

/* MOSQ_EVT_MESSAGE. */
int mqsp_keysvc_message_cb(int event, void *event_data, void *userdata);

/* The ACL decision for topic (a subscription filter for MOSQ_ACL_SUBSCRIBE)
 * under mqttsec/keys/, access a MOSQ_ACL_* value, retain the message's
 * retain flag (a publish or a will), d the client's device or NULL:
 * MOSQ_ERR_SUCCESS or MOSQ_ERR_ACL_DENIED.  Returns -1 when topic is not
 * under mqttsec/keys/ (the caller decides). */
int mqsp_keysvc_access(const char *topic, int access, int retain, const char *user,
                       const struct mqsp_device *d);

/* A client disconnected: forget what it fetched. */
void mqsp_keysvc_disconnected(struct mqsp_plugin *p, struct mosquitto *client);

/* A new view (p->snap, keys now) replaced one with keys old: queue pushes of
 * the topic keys now holds and old did not, and do the first pass. */
void mqsp_keysvc_swapped(struct mqsp_plugin *p, const struct mqsp_keys *old,
                         const struct mqsp_keys *now);

/* MOSQ_EVT_TICK (from reload.c, every call): send the next queued pushes,
 * at most 64 answers or about 2 ms of work; logs the run once the queue is
 * empty. */
void mqsp_keysvc_push_slice(struct mqsp_plugin *p);

/* The plugin rotated filter's topic key to id (committed; rotate.c): queue
 * the push now, without waiting for the next view; the tick sends it a
 * slice a pass (mqsp_keysvc_push_slice). */
void mqsp_keysvc_rotated(struct mqsp_plugin *p, const char *filter, uint32_t id);

#endif
