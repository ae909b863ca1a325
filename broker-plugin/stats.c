/* SPDX-License-Identifier: BSD-3-Clause */
/* stats.c - $SYS/broker/mqttsec/ counters. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "stats.h"

#define PREFIX "$SYS/broker/mqttsec/"

static const char *const drop_names[MQSP_DROP__COUNT] = {
    [MQSP_DROP_MALFORMED] = "malformed",     [MQSP_DROP_UNKNOWN_KEY] = "unknown-key",
    [MQSP_DROP_WRONG_KEY] = "wrong-key",     [MQSP_DROP_STALE] = "stale",
    [MQSP_DROP_FUTURE] = "future",           [MQSP_DROP_REPLAY] = "replay",
    [MQSP_DROP_TAMPERED] = "tampered",       [MQSP_DROP_NO_TOPIC_KEY] = "no-topic-key",
    [MQSP_DROP_REPLAY_FULL] = "replay-full", [MQSP_DROP_ERROR] = "error",
    [MQSP_DROP_FORGED] = "forged",           [MQSP_DROP_NO_DEVICE] = "no-device",
    [MQSP_DROP_KEY_WORN] = "key-worn-out",
};

/* Name of a drop reason. */
const char *mqsp_drop_name(enum mqsp_drop why)
{
	return (unsigned)why < MQSP_DROP__COUNT ? drop_names[why] : "error";
}

/* Publish one retained counter. */
static void put(const char *topic, uint64_t v)
{
	char t[128];
	char val[24];
	int n = snprintf(val, sizeof(val), "%" PRIu64, v);

	snprintf(t, sizeof(t), PREFIX "%s", topic);
	mosquitto_broker_publish_copy(NULL, t, n, val, 0, true, NULL);
}

/* Publish every counter. */
void mqsp_stats_publish(const struct mqsp_stats *s, uint64_t bans, uint64_t replay_entries)
{
	char t[96];

	put("auth/ok", s->auth_ok);
	put("auth/failed", s->auth_failed);
	put("messages/resealed", s->resealed);
	for (int i = 0; i < MQSP_DROP__COUNT; i++) {
		snprintf(t, sizeof(t), "messages/dropped/%s", drop_names[i]);
		put(t, s->dropped[i]);
	}
	put("bans/active", bans);
	put("replay/entries", replay_entries);
}
