/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_pubq.h - the durable per-broker publish queue of the gateway
 * (docs/medical.md, "Sending"): the shares of medical records waiting for
 * their broker, in table pubq (id, broker name, topic, payload, route,
 * created_at).
 *
 * A row is inserted inside the caller's transaction (the one that accepted
 * the record), so a committed record has all its n shares queued.  The
 * loop claims the rows of one broker that are not in flight yet, publishes
 * them at QoS 1 and marks them sent with their message id; the PUBACK of
 * that id deletes the row.  A row is never deleted before its PUBACK: when
 * the connection drops, every row in flight on it is forgotten in memory
 * and claimed again after the reconnect (a share sent twice is harmless:
 * the receiver groups shares by record id and share number).  Each broker
 * has its own in-flight window (rows and bytes), so a broker that is down
 * holds back only its own rows.  A share the broker refuses (MQTT v5
 * PUBACK reason code >= 0x80) is kept and retried later with backoff.
 *
 * Pure store module: no struct gw_gateway, no transport.  Payloads are
 * shares (information-free below the threshold); they are never logged.
 *
 * Ownership: gw_pubq_new() returns an object freed by gw_pubq_free()
 * (NULL ok); the broker names are copied.  Messages from gw_pubq_claim()
 * belong to the caller (gw_pubq_msg_release).  The store is borrowed.
 */
#ifndef GW_PUBQ_H
#define GW_PUBQ_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"
#include "mqs_error.h"

#define GW_PUBQ_WINDOW       64                   /* rows in flight per broker */
#define GW_PUBQ_WINDOW_BYTES (8u * 1024u * 1024u) /* bytes in flight per broker */
#define GW_PUBQ_PAYLOAD_MAX  (2u * 1024u * 1024u) /* one row's payload at most */

struct gw_pubq;

/* One claimed row. */
struct gw_pubq_msg {
	int64_t id;
	char *topic;
	uint8_t *payload;
	size_t len;
};

/* Queue payload (len bytes, 1..GW_PUBQ_PAYLOAD_MAX) for topic on broker
 * (its name, "" for [broker]) for route, inside the caller's transaction.
 * Returns MQS_OK, MQS_ERR_INVAL (lengths) or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_pubq_insert(struct gw_store *s, const char *broker, const char *topic,
                                  const uint8_t *payload, size_t len, const char *route,
                                  int64_t now_ms);

/* fn(broker name, its rows, arg) for every broker with rows in the store,
 * in name order; a non-MQS_OK return stops the walk and is returned.
 * MQS_OK, fn's return, or MQS_ERR_DB. */
int gw_pubq_each_broker(struct gw_store *s, int (*fn)(const char *broker, int64_t n, void *arg),
                        void *arg);

/* The in-memory state of nbrokers brokers named names[i] ("" for
 * [broker]), window rows in flight at most per broker (0: GW_PUBQ_WINDOW).
 * Every broker starts with "rows may wait".  NULL when out of memory. */
struct gw_pubq *gw_pubq_new(const char *const *names, size_t nbrokers, unsigned window);

/* Free.  NULL is fine. */
void gw_pubq_free(struct gw_pubq *q);

/* Rows were committed for broker index b (or a publish was not made):
 * look again. */
void gw_pubq_wake(struct gw_pubq *q, size_t b);

/* 1 when broker b may have rows not in flight and room in its window. */
int gw_pubq_wants(const struct gw_pubq *q, size_t b);

/* Up to max rows of broker b not in flight, oldest first, within the
 * window, into out[]; *n their count.  Returns MQS_OK or MQS_ERR_DB /
 * MQS_ERR_NOMEM (nothing claimed). */
MQS_MUST_CHECK int gw_pubq_claim(struct gw_pubq *q, struct gw_store *s, size_t b,
                                 struct gw_pubq_msg *out, size_t max, size_t *n);

/* Free a claimed message.  NULL is fine. */
void gw_pubq_msg_release(struct gw_pubq_msg *m);

/* Row id (len bytes) was published on broker b as message id mid: in
 * flight until its PUBACK or the end of the connection.  MQS_OK or
 * MQS_ERR_TOOBIG (window full: the row stays queued). */
MQS_MUST_CHECK int gw_pubq_sent(struct gw_pubq *q, size_t b, int64_t id, size_t len, int mid);

/* PUBACK of mid on broker b: delete its row.  Returns MQS_OK,
 * MQS_ERR_NOENT (not a queued row's id: a status message) or MQS_ERR_DB
 * (the row stays and goes out again). */
int gw_pubq_acked(struct gw_pubq *q, struct gw_store *s, size_t b, int mid);

/* A PUBACK of mid on broker b with a reason code >= 0x80 (MQTT v5: the
 * broker refused the share, e.g. not authorised): the row stays queued and
 * its TOPIC is refused: every row of that topic is skipped by the claims
 * until the retry time, then one row goes out as a probe (backoff from 1 s,
 * doubling to 5 min while probes are refused; a probe acknowledged frees
 * the topic).  Refusals are kept per topic (at most 64 topics per broker),
 * so any number of refused rows neither spins nor holds back the rows of
 * the broker's other topics.  topic (topic_cap bytes) gets the row's topic
 * for the log ("" when unknown).  Returns MQS_OK, MQS_ERR_NOENT (not a
 * queued row's id) or MQS_ERR_DB. */
int gw_pubq_refused(struct gw_pubq *q, struct gw_store *s, size_t b, int mid, uint64_t now_ms,
                    char *topic, size_t topic_cap);

/* 1 when broker b's queue holds max_rows rows or max_bytes share bytes or
 * more (docs/medical.md, "Sending": a broker down for days cannot fill the
 * disk), else 0; *rows and *bytes get the counts.  The store is counted at
 * most once a second, so a burst may pass the cap by a second's records. */
int gw_pubq_full(struct gw_pubq *q, struct gw_store *s, size_t b, size_t max_rows, size_t max_bytes,
                 uint64_t now_ms, int64_t *rows, int64_t *bytes);

/* Broker b's connection dropped: its rows in flight go out again. */
void gw_pubq_reset(struct gw_pubq *q, size_t b);

/* Rows of broker b in flight now. */
size_t gw_pubq_inflight(const struct gw_pubq *q, size_t b);

#endif
