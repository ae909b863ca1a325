/* SPDX-License-Identifier: BSD-3-Clause */
/* reseal.h - protected topics: check and re-seal every PUBLISH on them.
 *
 * MOSQ_EVT_MESSAGE (mqsp_message_cb), for a topic that a protected filter
 * matches (the most specific one, keys.h):
 *   1. the payload must be an envelope v1 without origin, sealed with a
 *      device key of an enabled device (key id), and that device must be
 *      the publisher (its authenticated username);
 *   2. its timestamp must be within plugin_opt_replay_window of now, either
 *      way;
 *   3. its (key id, nonce) must not have been seen within the window
 *      (replay.h), unless this is a QoS 1/2 retransmission: the same message
 *      from the same client id at the same QoS in the same session (the
 *      same connection, or a persistent session it resumed: epoch.h),
 *      which re-seal to the same output again;
 *   4. it must open under the device key for the actual topic;
 *   5. it is re-sealed with the filter's newest active topic key (on a
 *      per-device filter: the addressed device's downlink key, downlink.h),
 *      origin = the publisher's username, timestamp = now (the stored one for a
 *      retransmission), nonce = mqs_envelope_ctx_reseal_nonce() of that
 *      timestamp, the input envelope's nonce, origin, topic and plaintext,
 *      with the keys
 *      mqs_master_key_derive(mk, "mqttsec-reseal-nonce-gmac") and
 *      (mk, "mqttsec-reseal-nonce-aes"): one nonce under one key is always
 *      one output (a retransmission re-seals to identical bytes), and no
 *      counter can repeat after a restart (docs/envelope.md).
 * The new payload is mosquitto_malloc'd with a trailing NUL; the broker
 * frees the old one.  Topic and properties are never touched.  Anything
 * that fails returns MOSQ_ERR_ACL_DENIED (dropped; MQTT 5 QoS 1/2
 * publishers get reason 0x87), logs one line (reason, client id, topic,
 * never payload bytes; at most MQSP_RESEAL_LOG_PER_S lines a second, then
 * a count of the lines left out) and counts the reason (stats.h).
 *
 * On every other topic, a payload that is an envelope only the broker may
 * seal (a topic key, or an origin, with a tag that verifies: forged.h) is
 * dropped the same way (reason "forged"); anything else passes unchanged.
 *
 * Last Will messages never reach MOSQ_EVT_MESSAGE, but the broker checks
 * them with MOSQ_ACL_WRITE when it sends them (as every PUBLISH):
 * mqsp_reseal_write_check() refuses there, on a protected topic, anything
 * that fails steps 1 and 2, and on other topics a forged envelope.  So a
 * plaintext will is never sent; a will
 * sealed by the device is sent as it is (under the device key, not
 * re-sealed) if still fresh.
 *
 * Ownership: mqsp_reseal_new() returns state freed by mqsp_reseal_free()
 * (NULL is fine), which wipes the nonce keys and the plaintext buffer.  Broker
 * thread only.
 */
#ifndef MQSP_RESEAL_H
#define MQSP_RESEAL_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_master_key.h"
#include "mqs_error.h"

#define MQSP_RESEAL_LOG_PER_S 50

struct mosquitto;
struct mqsp_plugin;
struct mqsp_reseal;

/* New state: the PRF key derived from mk, a replay set for window_s seconds
 * holding at most replay_max envelopes.  Returns MQS_OK, MQS_ERR_NOMEM or
 * MQS_ERR_CRYPTO. */
int mqsp_reseal_new(const uint8_t mk[MQS_MASTER_KEY_LEN], unsigned window_s, size_t replay_max,
                    struct mqsp_reseal **out);

/* Wipe and free.  NULL is fine. */
void mqsp_reseal_free(struct mqsp_reseal *r);

/* MOSQ_EVT_MESSAGE. */
int mqsp_message_cb(int event, void *event_data, void *userdata);

/* The payload part of a MOSQ_ACL_WRITE check (publishes and wills):
 * MOSQ_ERR_SUCCESS when topic is protected and payload passes steps 1 and
 * 2, or topic is not protected and payload is not forged; else
 * MOSQ_ERR_ACL_DENIED (logged and counted). */
MQS_MUST_CHECK int mqsp_reseal_write_check(struct mqsp_plugin *p, struct mosquitto *client,
                                           const char *topic, const void *payload,
                                           uint32_t payloadlen);

/* A CONNECT of client was accepted (auth.c): a new session epoch unless it
 * resumes a persistent session (epoch.h). */
void mqsp_reseal_connected(struct mqsp_plugin *p, struct mosquitto *client);

/* client's connection ended (session.c). */
void mqsp_reseal_disconnected(struct mqsp_plugin *p, struct mosquitto *client);

/* MOSQ_EVT_TICK: expire the replay set, publish statistics when due. */
int mqsp_reseal_tick_cb(int event, void *event_data, void *userdata);

#endif
