/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_config.h - gateway.conf (docs/gateway.md), parsed with libinih.
 *
 * Sections: [broker], [store], [delivery], [route NAME], [channel NAME].
 * Unknown sections and keys are warned with file:line and ignored; a
 * missing required key or a bad value is refused with file:line.
 *
 * Ownership: struct gw_config is caller-owned: gw_config_load() fills it,
 * gw_config_release() frees everything it holds (NULL-safe, idempotent).
 * All strings live as long as the config.  Channels built by
 * gw_config_channels() belong to the caller (free with ch->ops->free).
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "gw_channel.h"
#include "gw_kind.h"
#include "gw_rule.h"
#include "gw_util.h"

struct gw_kv {
	char *key;
	char *value;
	int line;
	int used;
	struct gw_kv *next;
};

struct gw_section {
	char *type; /* "broker", "store", "delivery", "route", "channel", or unknown */
	char *name; /* NAME of [route NAME] / [channel NAME], else NULL */
	int line;
	struct gw_kv *kv;
	struct gw_chan_conf cc; /* for [channel NAME]: get() over kv */
	const char *path;       /* config file, for messages */
	struct gw_section *next;
};

struct gw_route {
	const char *name;
	const char *topic;     /* subscription filter */
	int kind;              /* enum gw_kind */
	int line;              /* of the section header */
	const char *group;     /* default group for alerts without one, or NULL */
	const char *ack_from;  /* devices (and @groups) that may acknowledge, or NULL */
	const char *field;     /* sensor: JSON field (dotted path), NULL = numeric payload */
	double hysteresis;     /* sensor: default for every rule */
	struct gw_rule *rules; /* sensor rules */
	size_t nrules;
	int enabled; /* 0 for kinds this build does not handle yet */
};

struct gw_config {
	char *path;
	struct gw_section *sections;
	/* [broker] */
	const char *host;
	int port;
	const char *credentials;
	const char *status_topic;
	const char *client_id; /* NULL = "mqttsec-gateway-<username>" */
	const char *cafile;    /* NULL = plain MQTT */
	int keepalive;         /* seconds */
	uint64_t reconnect_min_ms, reconnect_max_ms;
	/* [store] */
	const char *db;
	const char *master_key_file;
	char *spool_dir;       /* [store] spool_dir or <db dir>/spool */
	int sync_full;         /* [store] synchronous = full (default) | normal */
	uint64_t retention_ms; /* [store] retention: message text kept this long */
	/* [delivery] */
	unsigned max_attempts;
	uint64_t backoff_base_ms, backoff_max_ms;
	uint64_t timeout_ms;     /* per transfer, until the channel sets its own */
	unsigned max_inflight;   /* default per channel */
	int max_inflight_set;    /* given in [delivery] (else the channels' own default) */
	uint64_t ack_timeout_ms; /* critical alerts: wait this long for an ack */
	int escalation[GW_CH__COUNT];
	size_t nescalation;
	/* [route NAME] */
	struct gw_route *routes;
	size_t nroutes;
	size_t nchannel_sections;
};

/* Parse path into c.  Warnings go to the log.  Returns MQS_OK, or
 * MQS_ERR_PARSE / MQS_ERR_IO / MQS_ERR_NOMEM with "file:line: reason" in
 * err and c released. */
int gw_config_load(const char *path, struct gw_config *c, char *err, size_t errlen);

/* Free everything c holds; c is left zeroed.  NULL is fine. */
void gw_config_release(struct gw_config *c);

/* Build the channels of the [channel NAME] sections.  by_chan[i] receives
 * the channel delivering logical channel i (email, sms, phone, line), or
 * NULL when that channel is not configured; with no [channel] section at
 * all, or with a [channel spool] section, unconfigured channels go to the
 * spool.  Channels come from the channel table (gw_channel_type_find).
 * owned[] (capacity GW_CH__COUNT + 1) receives every distinct channel
 * built, *nowned their count.  Returns MQS_OK, or MQS_ERR_INVAL with
 * "file:line: reason" in err and nothing built. */
int gw_config_channels(const struct gw_config *c, struct gw_channel *by_chan[GW_CH__COUNT],
                       struct gw_channel *owned[GW_CH__COUNT + 1], size_t *nowned, char *err,
                       size_t errlen);

#endif
