/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_channel.h - one delivery channel (email, sms, phone, line, webhook,
 * spool) as seen by the delivery engine.
 *
 * The engine owns the outbox and the libcurl multi handle.  For each due
 * delivery it asks the channel to prepare a curl easy handle (network
 * channels) or to deliver synchronously (spool).  When the transfer ends the
 * channel classifies the outcome.  Channels never touch the outbox and
 * never log addresses, message text or secrets.
 *
 * Ownership: struct gw_delivery and everything it points to belong to the
 * engine and stay valid until finish() returns.  A channel's per-transfer
 * state (struct gw_request) is created by prepare() and freed by
 * request_free() (which accepts NULL), always called by the engine after
 * finish() or when prepare() failed.
 */
#ifndef GW_CHANNEL_H
#define GW_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

/* One outbox row handed to a channel. */
struct gw_delivery {
	int64_t id;            /* outbox row id */
	const char *msg_id;    /* message id (alert "id") */
	const char *channel;   /* "email", "sms", "phone", "line", "webhook", "spool" */
	const char *recipient; /* recipient name (not PII); "" for webhook and spool rows */
	const char *address;   /* decrypted email / phone / LINE user id: PII, never log */
	const char *severity;  /* "info", "warning", "critical" */
	const char *title;     /* subject / first line */
	const char *body;      /* text */
	/* The payload of recipient-less deliveries (webhook, medical-join
	 * records to the spool): binary-safe, data_len bytes; NULL when the
	 * message has none.  Record content: never log. */
	const uint8_t *data;
	size_t data_len;
	const char *kind;      /* message kind: "alert", "sensor", "medical-join" */
	const char *topic;     /* message topic (record topic for medical-join) */
	const char *origin;    /* envelope origin ("" when none); medical-join: sender[/origin] */
	const char *retry_key; /* UUID kept with the delivery (LINE X-Line-Retry-Key, Message-ID) */
	int attempt;           /* 1 for the first try */
	/* Marketing rows (kind "marketing", docs/marketing.md): title and body
	 * are the rendered subject and text; html is the rendered html part
	 * (email; NULL when none); list_unsubscribe is the one-click link of
	 * the List-Unsubscribe header (email; NULL when none). */
	const char *html;
	const char *list_unsubscribe;
	/* sms rows: the recipient's active SMS key of the secure SMS envelope
	 * (docs/sms-envelope.md); sms_key_id 0 and sms_key NULL when it has
	 * none.  Secret: never log. */
	uint16_t sms_key_id;
	const uint8_t *sms_key;
	const char *route; /* the message's route name ("" when none) */
};

enum gw_outcome {
	GW_SENT = 0, /* provider accepted it (LINE 409 included) */
	GW_RETRY,    /* transient: network error, 5xx, 429 */
	GW_FAILED,   /* permanent: other 4xx, bad address, rejected recipient */
};

struct gw_result {
	int outcome;            /* enum gw_outcome */
	long retry_after;       /* seconds from Retry-After, 0 when absent */
	char provider_ref[128]; /* e.g. Twilio sid, SMTP queue id; "" when none */
	char error[256];        /* lowercase, no PII: "http 500", "smtp: connection refused" */
	unsigned segments;      /* sms: segments the body needs (docs/channels.md), 0: not
	                         * counted; recorded with the outcome */
	int optout;             /* the provider says the recipient opted out of the channel
	                         * (Twilio 21610): the engine records the opt-out with the
	                         * outcome (docs/marketing.md, "Consent and opt-out") */
};

struct gw_request; /* channel-private per-transfer state */
struct gw_channel;

struct gw_channel_ops {
	const char *name;
	/* Network channels: configure easy (already created by the engine, with
	 * CURLOPT_PRIVATE set by the engine - do not change it) for d and
	 * return per-transfer state in *req.  Return MQS_OK, or an enum mqs_err
	 * code with res filled (e.g. GW_FAILED for an address that cannot be
	 * used). */
	int (*prepare)(struct gw_channel *ch, const struct gw_delivery *d, CURL *easy,
	               struct gw_request **req, struct gw_result *res);
	/* Classify a finished transfer. */
	void (*finish)(struct gw_channel *ch, struct gw_request *req, CURL *easy, CURLcode cc,
	               struct gw_result *res);
	/* Synchronous channels (spool) set this instead of prepare/finish. */
	void (*deliver)(struct gw_channel *ch, const struct gw_delivery *d, struct gw_result *res);
	void (*request_free)(struct gw_request *req);
	/* Optional transfers without libcurl (email's pipelining client,
	 * gw_smtp.h), tried before prepare(): start d and return MQS_OK (its
	 * outcome comes later through native_perform's done, with token),
	 * MQS_ERR_UNSUPPORTED (use prepare/finish), or another code with res
	 * filled (the delivery ends with res). */
	int (*native_start)(struct gw_channel *ch, const struct gw_delivery *d, void *token,
	                    int64_t now_ms, struct gw_result *res);
	/* Do the I/O of native transfers; call done once per ended one.
	 * fallback = 1: nothing was sent, deliver it through prepare/finish. */
	void (*native_perform)(struct gw_channel *ch, int64_t now_ms,
	                       void (*done)(void *arg, void *token, const struct gw_result *res,
	                                    int fallback),
	                       void *arg);
	/* Descriptors of native transfers to poll (POLLIN/POLLOUT), at most cap. */
	size_t (*native_fds)(struct gw_channel *ch, int *fd, short *events, size_t cap);
	/* Earliest deadline of a native transfer (Unix ms), 0 when none. */
	int64_t (*native_next)(struct gw_channel *ch);
	/* Free the channel and its config; accepts NULL. */
	void (*free)(struct gw_channel *ch);
	/* 1: prepare()'s transfers may block inside curl_multi_perform
	 * (libcurl's SMTP waits for the reply to the end of the message):
	 * the engine runs them on its transfer pool (gw_xfer.h), so finish()
	 * and request_free() run in the engine's thread as always, but the
	 * handle's callbacks run in a pool thread: they touch only the
	 * request's own data. */
	int threaded;
};

/* Common head of every channel; each channel file embeds it first. */
struct gw_channel {
	const struct gw_channel_ops *ops;
	unsigned max_inflight; /* bounded concurrency for this channel */
	/* marketing transfers at most at once, 0 when only max_inflight and
	 * [marketing] marketing_share bound them (the email channel's
	 * pipelining client keeps a connection for alerts) */
	unsigned max_marketing;
};

/* Settings of one [channel NAME] section, owned by the config module. */
struct gw_chan_conf {
	/* value of key, or NULL when absent; the string lives as long as the config */
	const char *(*get)(const struct gw_chan_conf *c, const char *key);
	void *priv;
	const char *spool_dir; /* [store] spool_dir: the spool's folder without a dir key */
};

/* One row of the channel table: what a [channel NAME] section may say and
 * how to build its channel (curl's protocol handler table is the model).
 * Adding a channel is one row in gw_channel.c and one file. */
struct gw_channel_type {
	const char *name;        /* NAME of [channel NAME] */
	int chan;                /* enum gw_chan delivered, or -1: the fallback (spool) */
	const char *const *keys; /* NULL-terminated keys the section accepts */
	/* A new channel, or NULL with a lowercase reason in err (e.g. "[channel
	 * sms] missing account_sid"). */
	struct gw_channel *(*create)(const struct gw_chan_conf *conf, char *err, size_t errlen);
};

/* The table row for a [channel NAME] section, or NULL for an unknown name. */
const struct gw_channel_type *gw_channel_type_find(const char *name);

/* Constructors of the table rows (gw_channel.c); see struct gw_channel_type. */
struct gw_channel *gw_email_new(const struct gw_chan_conf *conf, char *err, size_t errlen);
struct gw_channel *gw_sms_new(const struct gw_chan_conf *conf, char *err, size_t errlen);
struct gw_channel *gw_phone_new(const struct gw_chan_conf *conf, char *err, size_t errlen);
struct gw_channel *gw_line_new(const struct gw_chan_conf *conf, char *err, size_t errlen);
struct gw_channel *gw_webhook_new(const struct gw_chan_conf *conf, char *err, size_t errlen);
/* Spool from [channel spool]: its dir key, else conf->spool_dir. */
struct gw_channel *gw_spool_new_conf(const struct gw_chan_conf *conf, char *err, size_t errlen);
/* Spool: one file per delivery under dir (created 0700). */
struct gw_channel *gw_spool_new(const char *dir, char *err, size_t errlen);

/* The spool file of delivery delivery_id: "<dir>/<id>-<recipient>-<channel>-
 * <delivery_id>.txt" with each part reduced to A-Z a-z 0-9 - _ and the
 * base name never starting with '-' or '.', whatever the id (such a first
 * character becomes '_').  id, recipient, channel receive the cleaned parts
 * (65, 65 and 17 bytes).  Returns MQS_OK, or MQS_ERR_BUFSIZE when the path
 * does not fit in cap. */
int gw_spool_file_name(const char *dir, const char *msg_id, const char *recipient,
                       const char *channel, long long delivery_id, char id[65], char who[65],
                       char chan[17], char *out, size_t cap);

/* Keys each channel's section accepts (NULL-terminated). */
extern const char *const gw_email_keys[];
extern const char *const gw_sms_keys[];
extern const char *const gw_phone_keys[];
extern const char *const gw_line_keys[];
extern const char *const gw_webhook_keys[];
extern const char *const gw_spool_keys[];

#endif
