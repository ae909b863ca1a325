/* SPDX-License-Identifier: BSD-3-Clause */
/* stats.h - counters of the plugin, published as retained messages under
 * $SYS/broker/mqttsec/ every stats interval (plugin_opt_stats_interval,
 * default 10 s):
 *
 *   $SYS/broker/mqttsec/auth/ok                    CONNECTs accepted
 *   $SYS/broker/mqttsec/auth/failed                CONNECTs refused
 *   $SYS/broker/mqttsec/messages/resealed          protected messages re-sealed
 *   $SYS/broker/mqttsec/messages/dropped/<reason>  messages refused (protected
 *                                                  topics; "forged" on any)
 *   $SYS/broker/mqttsec/bans/active                automatic bans in force
 *   $SYS/broker/mqttsec/replay/entries             envelopes in the replay set
 *
 * Counters count since the broker started.  Broker thread only.
 *
 * Ownership: the counters live in struct mqsp_plugin; mqsp_drop_name()
 * returns static strings; nothing here allocates.
 */
#ifndef MQSP_STATS_H
#define MQSP_STATS_H

#include <stdint.h>

/* why a message on a protected topic was dropped */
enum mqsp_drop {
	MQSP_DROP_MALFORMED = 0, /* not an envelope v1 sealed by a device (origin set) */
	MQSP_DROP_UNKNOWN_KEY,   /* key id of no enabled device */
	MQSP_DROP_WRONG_KEY,     /* key of another device than the publisher */
	MQSP_DROP_STALE,         /* timestamp older than the replay window */
	MQSP_DROP_FUTURE,        /* timestamp further ahead than the replay window */
	MQSP_DROP_REPLAY,        /* key id and nonce already seen */
	MQSP_DROP_TAMPERED,      /* does not open: changed bytes or another topic */
	MQSP_DROP_NO_TOPIC_KEY,  /* the protected filter has no active key */
	MQSP_DROP_REPLAY_FULL,   /* the replay set is full */
	MQSP_DROP_ERROR,         /* out of memory, crypto failure */
	MQSP_DROP_FORGED,        /* any topic: a topic key, or an origin (forged.h) */
	MQSP_DROP_NO_DEVICE,     /* per-device filter: the topic names no enabled device */
	MQSP_DROP_KEY_WORN,      /* the topic key reached its seal bound (seals.h) */
	MQSP_DROP__COUNT
};

struct mqsp_stats {
	uint64_t auth_ok;
	uint64_t auth_failed;
	uint64_t resealed;
	uint64_t dropped[MQSP_DROP__COUNT];
	int64_t next_publish; /* Unix seconds; 0: not scheduled yet */
};

/* The reason's name as used in $SYS topics and log lines (static). */
const char *mqsp_drop_name(enum mqsp_drop why);

/* Publish every counter (retained, QoS 0) with mosquitto_broker_publish_copy.
 * bans and replay_entries are gauges the caller computes. */
void mqsp_stats_publish(const struct mqsp_stats *s, uint64_t bans, uint64_t replay_entries);

#endif
