/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_config.h - gateway.conf (docs/gateway.md), parsed with libinih.
 *
 * Sections: [broker], [broker NAME] (docs/medical.md: more broker
 * connections, at most 7), [store], [delivery], [route NAME],
 * [channel NAME], [marketing] and [http] (docs/marketing.md).
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

/* One broker connection: [broker] (index 0, name "") or [broker NAME]
 * (docs/medical.md): same keys as [broker] except status_topic. */
struct gw_broker_conf {
	const char *name; /* "" for [broker] */
	const char *host;
	int port;
	const char *credentials; /* the gateway's credentials file on that broker */
	const char *client_id;   /* NULL = "mqttsec-gateway-<username>" */
	const char *cafile;      /* NULL = plain MQTT */
	int keepalive;           /* seconds */
	uint64_t reconnect_min_ms, reconnect_max_ms;
	int line;
};

#define GW_BROKERS_MAX  8 /* [broker] and at most 7 [broker NAME] */
#define GW_LEVELS_MAX   8 /* review levels of a marketing route */
#define GW_MED_CHAN_MAX 8 /* channels of a medical route (n) */

/* One channel of a medical or medical-join route: TOPIC[@BROKER]. */
struct gw_med_chan {
	const char *topic; /* a topic name (no wildcard) */
	size_t broker;     /* index into gw_config.brokers */
};

struct gw_route {
	const char *name;
	const char *topic;     /* subscription filter on [broker]; NULL for kind =
	                        * medical-join (its channels are its subscriptions) */
	int kind;              /* enum gw_kind */
	int line;              /* of the section header */
	const char *group;     /* default group for alerts without one, or NULL */
	const char *ack_from;  /* devices (and @groups) that may acknowledge, or NULL */
	const char *field;     /* sensor: JSON field (dotted path), NULL = numeric payload */
	double hysteresis;     /* sensor: default for every rule */
	struct gw_rule *rules; /* sensor rules */
	size_t nrules;
	int enabled; /* 0 for kinds this build does not handle yet */
	/* kind = medical and medical-join (docs/medical.md) */
	struct gw_med_chan chans[GW_MED_CHAN_MAX]; /* channel i carries share i+1 */
	size_t nchans;                             /* n, 2..8 */
	unsigned threshold;                        /* k, 2..n */
	const char *record_key;   /* medical: the sender's key; medical-join: comma list of
	                           * accepted senders, NULL = every record key in the store */
	const char *deliver;      /* medical-join: "webhook" or "spool" (default spool) */
	uint64_t join_timeout_ms; /* default 60 s */
	size_t max_pending;       /* default 10,000 */
	size_t max_record, max_pending_bytes; /* defaults 1 MiB, 64 MiB */
	size_t max_queued, max_queued_bytes;  /* medical: one broker's pubq at most
	                                       * (defaults 100,000 rows, 1 GiB) */
	char *chans_text;                     /* owned: the strings chans[].topic point into */
	/* kind = marketing (docs/marketing.md, "Review") */
	const char *levels[GW_LEVELS_MAX]; /* review_levels, in order (names as
	                                    * name_ok: 1..64 of A-Z a-z 0-9 _ - .) */
	size_t nlevels;                    /* 1..GW_LEVELS_MAX (review_levels is required) */
	uint64_t review_timeout_ms;        /* review_timeout, default 72 h */
	int sms_sealed;                    /* [channel sms] envelope is on or required: a
	                                    * campaign's SMS text is checked against the
	                                    * sealed limit (docs/marketing.md, "Length limits") */
	char *levels_text;                 /* owned: the strings levels[] point into */
};

/* [http] (docs/marketing.md, "HTTP listener"): the gateway's listener for
 * provider webhooks and unsubscribe links.  enabled = 0 without [http]. */
struct gw_http_conf {
	int enabled;
	char listen_host[256];    /* listen = HOST:PORT ("[::1]:8080" for IPv6); default
	                           * 127.0.0.1:8080 */
	int listen_port;          /* 0 = any free port (tests; the port is logged) */
	const char *cert;         /* PEM files for TLS, both or neither; NULL = plain HTTP, */
	const char *key;          /* ... refused on a host that is not loopback */
	const char *public_url;   /* base of links and webhook URLs, no trailing '/';
	                           * https:// unless its host is loopback; NULL when
	                           * absent (then no marketing route may exist) */
	unsigned max_connections; /* default 64 */
	unsigned per_ip;          /* connections per client address, default 8 */
	uint64_t timeout_ms;      /* idle connection / whole request, default 10 s */
	size_t max_body;          /* request body cap, 64 KiB (not configurable above) */
	int line;                 /* of the section header */
};

/* [channel NAME] rate = N/s | N/m | N/h (a token bucket; docs/marketing.md,
 * "Delivery rules"); burst = the bucket size (default one second's worth,
 * at least 1). */
struct gw_rate_conf {
	double per_s;   /* 0 = no limit */
	unsigned burst; /* tokens at most */
};

struct gw_config {
	char *path;
	struct gw_section *sections;
	/* [broker] and [broker NAME]: brokers[0] is [broker] */
	struct gw_broker_conf brokers[GW_BROKERS_MAX];
	size_t nbrokers;
	const char *status_topic; /* [broker] status_topic */
	/* [store] */
	const char *db;
	const char *master_key_file;
	char *spool_dir;       /* [store] spool_dir or <db dir>/spool */
	int sync_full;         /* [store] synchronous = full (default) | normal */
	uint64_t retention_ms; /* [store] retention: message text kept this long */
	size_t cache_size;     /* [store] cache_size: SQLite page cache bound, bytes */
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
	/* [channel NAME] rate, by enum gw_chan (unset: per_s = 0) */
	struct gw_rate_conf rate[GW_CH__COUNT];
	/* [marketing] (docs/marketing.md, "Delivery rules") */
	int quiet_start_min, quiet_end_min; /* quiet_hours = HH:MM-HH:MM in minutes after
	                                     * local midnight; equal: no quiet hours
	                                     * (default 21:00-08:00) */
	const char *default_tz;             /* [marketing] default_tz (IANA), default "UTC":
	                                     * the zone of recipients without one */
	unsigned marketing_share;           /* percent of a channel's max_inflight that
	                                     * marketing may use, 1..100, default 75 (at
	                                     * least one slot stays free for alerts
	                                     * when max_inflight > 1) */
	size_t fanout_batch;                /* rows a campaign queues per loop turn,
	                                     * default 2,000 */
	/* [http] */
	struct gw_http_conf http;
};

/* The value of key in section [channel name], or NULL when there is no
 * such section or key (the HTTP listener reads the providers' secrets:
 * [channel sms] auth_token, [channel line] channel_secret).  The string
 * lives as long as the config. */
const char *gw_config_chan_get(const struct gw_config *c, const char *name, const char *key);

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
