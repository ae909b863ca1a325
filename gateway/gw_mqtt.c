/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_mqtt.c - libmosquitto client: own reconnect with TOTP, persistent
 * session, envelope opening; messages go to the owner's hook. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "gw_config.h"
#include "gw_hold.h"
#include "gw_keys.h"
#include "gw_log.h"
#include "gw_mqtt.h"
#include "gw_store.h"
#include "gw_util.h"
#include "mqs_alloc.h"
#include "mqs_conntoken.h"
#include "mqs_creds.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_seen.h"
#include "mqs_totp.h"
#include "mqs_util.h"

#define CONNECT_TIMEOUT_MS 15000
#define RESOLVE_TIMEOUT_MS 10000
#define HOLD_BUDGET_MS     5     /* retries of held messages per loop turn */
#define HOLD_REPORT_MS     30000 /* "still holding" warnings */

enum mqtt_state { ST_DOWN = 0, ST_RESOLVING, ST_CONNECTING, ST_UP };

/* A host name lookup running in the background (getaddrinfo_a), so a slow
 * or absent DNS never blocks the loop. */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char host[256];
	char port[8];
	struct lookup *next; /* abandoned lookups still running */
};

struct gw_mqtt {
	const struct gw_mqtt_broker *b;
	const struct mqs_creds *creds;
	struct mqs_seen *replay;
	struct gw_keys *keys;   /* online topic keys (gw_keys.h) */
	struct gw_store *store; /* the last accepted step only */
	struct gw_mqtt_hooks hooks;
	struct mosquitto *mosq;
	char client_id[300];
	char label[80];     /* " (NAME)" of a [broker NAME] in log lines, else "" */
	int connected_once; /* a CONNACK was accepted before (this process) */
	int state;
	uint64_t next_attempt; /* ST_DOWN: when to try again */
	uint64_t backoff_ms;   /* next delay */
	uint64_t started;      /* ST_CONNECTING: when */
	int64_t last_step;     /* last TOTP step the broker accepted */
	int64_t attempt_step;  /* step of the code used for the current attempt */
	int refused;           /* the last CONNACK refused us */
	int stale;             /* replace the client before the next attempt */
	struct lookup *lookup; /* ST_RESOLVING */
	struct lookup *abandoned;
	unsigned long dropped; /* status messages dropped while down */
	struct gw_hold *hold;  /* acknowledged, not committed yet */
	unsigned long held;    /* messages held in the current episode */
	uint64_t hold_since;   /* when the current episode began */
	uint64_t hold_report;  /* next "still holding" warning */
};

static void drop_lookup(struct gw_mqtt *m);
static void reap_lookups(struct gw_mqtt *m);

/* The connection dropped: publishes not acknowledged are forgotten (the
 * client is replaced before the next attempt, so a stale message id can
 * never be acknowledged) and the owner is told. */
static void forget_publishes(struct gw_mqtt *m)
{
	m->stale = 1;
	if (m->hooks.on_down != NULL)
		m->hooks.on_down(m->hooks.ctx, m->b->index);
}

/* 1 when the gateway logs in with connect tokens (the credentials say the
 * broker accepts them: docs/broker-plugin.md, "Connect tokens"): then no
 * attempt waits for a TOTP step. */
static int use_tokens(const struct gw_mqtt *m)
{
	return m->creds->has_totp && m->creds->connect_tokens;
}

/* Next attempt after a failure: backoff with jitter, never within the step
 * of a refused code. */
static void schedule_retry(struct gw_mqtt *m, uint64_t now_ms)
{
	uint32_t r = 0;
	uint64_t delay = m->backoff_ms;

	RAND_bytes((unsigned char *)&r, sizeof(r));
	/* jitter: 75%..125% of the delay */
	delay = delay * 3 / 4 + (delay / 2) * (r % 1001) / 1000;
	m->next_attempt = now_ms + delay;
	m->backoff_ms = m->backoff_ms * 2;
	if (m->backoff_ms > m->b->reconnect_max_ms)
		m->backoff_ms = m->b->reconnect_max_ms;
	if (m->refused && m->creds->has_totp && !use_tokens(m)) {
		/* a refused code: never retry within the same time step */
		uint64_t next_step = 0;

		if (mqs_totp_step_choose(&m->creds->totp, m->next_attempt, m->attempt_step,
		                         &next_step) < 0 &&
		    m->next_attempt < next_step)
			m->next_attempt = next_step;
	}
}

/* The connection (or the attempt) ended: log it, schedule the next. */
static void went_down(struct gw_mqtt *m, const char *why)
{
	uint64_t now = mqs_now_ms();

	if (m->state == ST_DOWN)
		return;
	if (m->state == ST_UP)
		gw_log(GW_LOG_WARN, "disconnected from broker %s:%d%s: %s", m->b->host, m->b->port,
		       m->label, why);
	else
		gw_log(GW_LOG_WARN, "cannot connect to broker %s:%d%s: %s", m->b->host, m->b->port,
		       m->label, why);
	m->state = ST_DOWN;
	forget_publishes(m);
	schedule_retry(m, now);
}

/* Subscribe to the broker's filter list. */
static void subscribe_all(struct gw_mqtt *m)
{
	const struct gw_mqtt_broker *b = m->b;
	int rc;

	for (size_t i = 0; i < b->nfilters; i++) {
		rc = mosquitto_subscribe(m->mosq, NULL, b->filters[i], 1);
		if (rc != MOSQ_ERR_SUCCESS)
			gw_log(GW_LOG_ERR, "cannot subscribe to %s%s: %s", b->filters[i], m->label,
			       mosquitto_strerror(rc));
	}
}

/* libmosquitto: CONNACK (MQTT v5: rc is a reason code). */
static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
	struct gw_mqtt *m = obj;

	(void)props;
	if (rc != 0) {
		m->refused = 1;
		went_down(m, mosquitto_reason_string(rc));
		return;
	}
	m->refused = 0;
	m->state = ST_UP;
	m->backoff_ms = m->b->reconnect_min_ms;
	if (m->creds->has_totp && m->attempt_step > m->last_step) {
		m->last_step = m->attempt_step;
		/* in memory the step is never reused; a lost write only costs a
		 * wait for the next step after a restart (the broker refuses it) */
		if (gw_store_kv_set_int(m->store, m->b->step_key, m->last_step) != 0)
			gw_log(GW_LOG_WARN, "cannot save the last accepted totp step");
	}
	gw_log(GW_LOG_INFO, "connected to broker %s:%d%s as %s (session %s)", m->b->host,
	       m->b->port, m->label, m->creds->username, (flags & 1) ? "resumed" : "new");
	if (m->connected_once && !(flags & 1))
		/* the persistent session rests on the session expiry this client
		 * sends (set_session_expiry) and on the broker's persistence */
		gw_log(GW_LOG_WARN,
		       "broker %s:%d%s did not resume the gateway's session: messages published "
		       "while the gateway was away may be lost (check the broker's persistence)",
		       m->b->host, m->b->port, m->label);
	m->connected_once = 1;
	if (m->dropped > 0) {
		gw_log(GW_LOG_WARN, "%lu status messages were dropped while disconnected",
		       m->dropped);
		m->dropped = 0;
	}
	subscribe_all(m);
	gw_keys_connected(m->keys, m->mosq, m->b->filters, m->b->nfilters);
}

/* libmosquitto: a QoS 1 publish was acknowledged (PUBACK) with its MQTT
 * v5 reason code (>= 0x80: the broker refused it). */
static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                       const mosquitto_property *props)
{
	struct gw_mqtt *m = obj;

	(void)mosq;
	(void)props;
	if (m->hooks.on_published != NULL)
		m->hooks.on_published(m->hooks.ctx, m->b->index, mid, reason);
}

/* libmosquitto: the connection closed. */
static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
	struct gw_mqtt *m = obj;

	(void)props;
	went_down(m, rc == 0 ? "closed" : mosquitto_strerror(rc));
}

/* Open an envelope for a key in creds, or pass the payload through. */
int gw_mqtt_open_payload(const struct mqs_creds *creds, struct mqs_seen *replay, const char *topic,
                         const uint8_t *payload, size_t len, uint8_t **plain, size_t *plain_len,
                         char origin[256], char *err, size_t errlen)
{
	struct mqs_envelope_info info;
	const struct mqs_creds_key *key = NULL;
	uint8_t *buf;
	int rc;

	*plain = NULL;
	*plain_len = 0;
	origin[0] = '\0';
	if (len >= MQS_ENVELOPE_MIN_LEN && payload[0] == MQS_ENVELOPE_VERSION &&
	    mqs_envelope_parse(payload, len, &info) == MQS_OK)
		key = mqs_creds_key_for(creds, info.key_id, topic);
	if (key != NULL) {
		buf = mqs_malloc(info.ciphertext_len + 1);
		if (buf == NULL) {
			snprintf(err, errlen, "out of memory");
			return MQS_ERR_NOMEM;
		}
		rc = mqs_envelope_open(key->key, info.key_id, payload, len, topic, strlen(topic),
		                       buf, info.ciphertext_len + 1, plain_len, &info);
		if (rc != MQS_OK) {
			mqs_free(buf);
			snprintf(err, errlen, "cannot open envelope (key %u): %s", info.key_id,
			         mqs_strerror(rc));
			return rc;
		}
		buf[*plain_len] = '\0';
		/* a repeated (key id, nonce) is a replay (docs/gateway.md) */
		if (replay != NULL && mqs_seen_check_add(replay, info.key_id, info.nonce)) {
			mqs_secret_free(buf, *plain_len);
			*plain_len = 0;
			snprintf(err, errlen, "repeated envelope (key %u): replay dropped",
			         info.key_id);
			return MQS_ERR_EXISTS;
		}
		if (info.origin_len > 0) {
			memcpy(origin, info.origin, info.origin_len);
			origin[info.origin_len] = '\0';
		}
		*plain = buf;
		return MQS_OK;
	}
	buf = mqs_malloc(len + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return MQS_ERR_NOMEM;
	}
	memcpy(buf, payload, len);
	buf[len] = '\0';
	*plain = buf;
	*plain_len = len;
	return MQS_OK;
}

/* Hand one message to the owner; 1 when the database refused a write on
 * the way (the message must be kept and retried), else 0 (handled or
 * dropped). */
static int deliver(struct gw_mqtt *m, const char *topic, const uint8_t *payload, size_t len,
                   const char *origin, int retain)
{
	return m->hooks.on_message(m->hooks.ctx, m->b->index, topic, payload, len, origin,
	                           retain) != 0;
}

/* Keep an acknowledged message the store refused, or say loudly that it is
 * lost (docs/gateway.md, delivery guarantees). */
static void hold_message(struct gw_mqtt *m, const char *topic, const uint8_t *payload, size_t len,
                         const char *origin, int qos, int retain)
{
	uint64_t now = mqs_now_ms();

	if (gw_hold_count(m->hold) == 0 && m->held == 0) {
		m->hold_since = now;
		m->hold_report = now + HOLD_REPORT_MS;
		gw_log(GW_LOG_WARN,
		       "database refuses writes: holding acknowledged messages in memory (at most "
		       "%u messages, %u bytes) and disconnecting from the broker until they "
		       "commit",
		       (unsigned)GW_HOLD_MAX_MSGS, (unsigned)GW_HOLD_MAX_BYTES);
	}
	if (gw_hold_push(m->hold, topic, payload, len, origin, qos, retain, now) != MQS_OK) {
		gw_log(GW_LOG_ERR,
		       "lost an acknowledged message on %s: the database refuses writes and the "
		       "hold is full (%zu messages, %zu bytes; %lu lost so far)",
		       topic, gw_hold_count(m->hold), gw_hold_bytes(m->hold),
		       gw_hold_dropped(m->hold));
		return;
	}
	m->held++;
	gw_log(GW_LOG_INFO, "holding message on %s (%zu held)", topic, gw_hold_count(m->hold));
}

static void handle_message(struct gw_mqtt *m, const struct mosquitto_message *msg, int waited);

/* Take the messages that waited for a key now known (gw_keys.h). */
static void keys_drain(struct gw_mqtt *m)
{
	struct mosquitto_message w;
	uint8_t *payload;
	size_t len;
	int64_t row = 0;
	int qos, retain;

	memset(&w, 0, sizeof(w));
	while (gw_keys_next_ready(m->keys, mqs_now_ms(), &w.topic, &payload, &len, &qos, &retain,
	                          &row)) {
		w.payload = payload;
		w.payloadlen = (int)len;
		w.qos = qos;
		w.retain = retain != 0;
		handle_message(m, &w, 1);
		/* stored (or held) now: its stored copy goes only after that */
		gw_keys_done(m->keys, row);
		mqs_free(w.topic);
		mqs_secret_free(payload, len);
		memset(&w, 0, sizeof(w));
	}
}

/* libmosquitto: a PUBLISH arrived (already acknowledged). */
static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
	struct gw_mqtt *m = obj;

	(void)mosq;
	(void)props;
	if (msg->topic == NULL)
		return;
	if (gw_keys_message(m->keys, msg)) {
		keys_drain(m); /* online keys: answers and pushes (gw_keys.h) */
		return;
	}
	handle_message(m, msg, 0);
}

/* Open and deliver one message; waited: it already waited for its key. */
static void handle_message(struct gw_mqtt *m, const struct mosquitto_message *msg, int waited)
{
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	char origin[256], err[256];

	const struct mqs_creds *cr = m->creds;
	struct mqs_envelope_info info;

	/* a key id the credentials file lacks may have been fetched online */
	if (m->keys != NULL && msg->payloadlen >= (int)MQS_ENVELOPE_MIN_LEN &&
	    ((const uint8_t *)msg->payload)[0] == MQS_ENVELOPE_VERSION &&
	    mqs_envelope_parse(msg->payload, (size_t)msg->payloadlen, &info) == MQS_OK &&
	    mqs_creds_key_for(cr, info.key_id, msg->topic) == NULL) {
		if (mqs_creds_key_for(gw_keys_creds(m->keys), info.key_id, msg->topic) != NULL)
			cr = gw_keys_creds(m->keys);
		else if (!waited && gw_keys_wait(m->keys, m->mosq, m->b->filters, m->b->nfilters,
		                                 msg, info.key_id, mqs_now_ms()))
			return; /* waits for its key (gw_keys.h) */
	}
	if (gw_mqtt_open_payload(cr, m->replay, msg->topic, msg->payload, (size_t)msg->payloadlen,
	                         &plain, &plain_len, origin, err, sizeof(err)) != MQS_OK) {
		gw_log(GW_LOG_WARN, "dropped message on %s: %s", msg->topic, err);
		return;
	}
	/* arrival order: while messages are held, new ones queue behind them */
	if (gw_hold_count(m->hold) > 0 ||
	    deliver(m, msg->topic, plain, plain_len, origin[0] ? origin : NULL, msg->retain))
		hold_message(m, msg->topic, plain, plain_len, origin[0] ? origin : NULL, msg->qos,
		             msg->retain);
	mqs_secret_free(plain, plain_len);
	if (m->hooks.pump != NULL)
		m->hooks.pump(m->hooks.ctx);
}

/* Leave the broker while messages are held: it keeps what follows in the
 * persistent session. */
static void hold_disconnect(struct gw_mqtt *m)
{
	gw_log(GW_LOG_WARN,
	       "disconnecting from broker %s:%d%s while %zu messages are held: the broker keeps "
	       "what follows in the session",
	       m->b->host, m->b->port, m->label, gw_hold_count(m->hold));
	m->state = ST_DOWN; /* a requested disconnect is not worth a warning */
	forget_publishes(m);
	drop_lookup(m);
	mosquitto_disconnect(m->mosq);
	mosquitto_loop_write(m->mosq, 1);
	m->next_attempt = 0;
}

/* Retry held messages, oldest first, for a few milliseconds at most;
 * reconnect when none is left. */
static void hold_drain(struct gw_mqtt *m, uint64_t now_ms)
{
	uint64_t t0 = gw_mono_ms();

	while (gw_hold_count(m->hold) > 0 && gw_hold_next_try(m->hold) <= now_ms) {
		const struct gw_hold_msg *h = gw_hold_head(m->hold);

		if (deliver(m, h->topic, h->payload, h->len, h->origin, h->retain)) {
			gw_hold_failed(m->hold, now_ms);
			break;
		}
		gw_hold_pop(m->hold);
		if (gw_mono_ms() - t0 >= HOLD_BUDGET_MS)
			break;
	}
	if (gw_hold_count(m->hold) > 0) {
		if (now_ms >= m->hold_report) {
			gw_log(GW_LOG_WARN,
			       "still holding %zu messages after %llus: the database "
			       "refuses writes",
			       gw_hold_count(m->hold),
			       (unsigned long long)((now_ms - m->hold_since) / 1000u));
			m->hold_report = now_ms + HOLD_REPORT_MS;
		}
		return;
	}
	if (m->held == 0)
		return;
	gw_log(GW_LOG_INFO,
	       "database accepts writes again: %lu held messages committed after %.1fs; "
	       "reconnecting",
	       m->held, (double)(now_ms - m->hold_since) / 1000.0);
	m->held = 0; /* the loop owes the fsync (gw_store_sync) right after this */
	if (m->state == ST_DOWN) {
		m->backoff_ms = m->b->reconnect_min_ms;
		m->next_attempt = now_ms;
	}
}

/* MQTT v5 ends a session at the disconnect unless CONNECT carries a
 * Session Expiry Interval: ask for one that never expires, so the broker
 * keeps what arrives while the gateway is away (docs/gateway.md, delivery
 * guarantees).  libmosquitto has no asynchronous connect with properties;
 * mosquitto_connect_bind_v5() stores the CONNECT properties before it
 * checks the host, so a call with no host keeps them for
 * mosquitto_connect_async() and connects nowhere. */
static int set_session_expiry(struct mosquitto *mosq)
{
	mosquitto_property *props = NULL;
	int rc;

	rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, UINT32_MAX);
	if (rc != MOSQ_ERR_SUCCESS)
		return rc;
	rc = mosquitto_connect_bind_v5(mosq, NULL, 0, 60, NULL, props);
	mosquitto_property_free_all(&props);
	return rc == MOSQ_ERR_INVAL ? MOSQ_ERR_SUCCESS : rc;
}

/* A fresh libmosquitto client with our callbacks (and TLS). */
static int create_client(struct gw_mqtt *m, char *err, size_t errlen)
{
	const struct gw_mqtt_broker *b = m->b;
	int rc;

	m->mosq = mosquitto_new(m->client_id, false, m);
	if (m->mosq == NULL) {
		snprintf(err, errlen, "cannot create mqtt client: %s", strerror(errno));
		return MQS_ERR_NOMEM;
	}
	/* MQTT v5: a PUBACK carries a reason code, so a share the broker
	 * refused is not taken for delivered (docs/medical.md, "Sending") */
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	/* PUBACKs and status messages are small: do not let Nagle hold them */
	mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
	mosquitto_publish_v5_callback_set(m->mosq, on_publish);
	mosquitto_message_v5_callback_set(m->mosq, on_message);
	rc = set_session_expiry(m->mosq);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "cannot set the session expiry: %s", mosquitto_strerror(rc));
		return MQS_ERR_INVAL;
	}
	if (b->cafile != NULL) {
		rc = mosquitto_tls_set(m->mosq, b->cafile, NULL, NULL, NULL, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(err, errlen, "cannot use cafile %s: %s", b->cafile,
			         mosquitto_strerror(rc));
			return MQS_ERR_INVAL;
		}
	}
	return MQS_OK;
}

/* Create the client. */
struct gw_mqtt *gw_mqtt_new(const struct gw_mqtt_broker *b, const struct mqs_creds *creds,
                            struct mqs_seen *replay, struct gw_store *store,
                            const struct gw_mqtt_hooks *hooks, char *err, size_t errlen)
{
	struct gw_mqtt *m = mqs_calloc(1, sizeof(*m));
	int64_t step = 0;

	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->b = b;
	m->creds = creds;
	m->replay = replay;
	m->store = store;
	m->hooks = *hooks;
	if (b->name != NULL && b->name[0] != '\0')
		snprintf(m->label, sizeof(m->label), " (%.64s)", b->name);
	if (b->client_id != NULL)
		snprintf(m->client_id, sizeof(m->client_id), "%s", b->client_id);
	else
		snprintf(m->client_id, sizeof(m->client_id), "mqttsec-gateway-%s", creds->username);
	if (gw_store_kv_get_int(store, b->step_key, &step) == 0)
		m->last_step = step;
	m->backoff_ms = b->reconnect_min_ms;
	m->hold = gw_hold_new(GW_HOLD_MAX_MSGS, GW_HOLD_MAX_BYTES);
	m->keys = gw_keys_new(creds);
	if (m->hold == NULL || m->keys == NULL) {
		snprintf(err, errlen, "out of memory");
		gw_mqtt_free(m);
		return NULL;
	}
	/* messages that waited for their key when the gateway stopped */
	if (store != NULL)
		(void)gw_keys_restore(m->keys, store, b->name != NULL ? b->name : "");
	if (create_client(m, err, errlen) != MQS_OK) {
		gw_mqtt_free(m);
		return NULL;
	}
	return m;
}

/* Free the client. */
void gw_mqtt_free(struct gw_mqtt *m)
{
	if (m == NULL)
		return;
	drop_lookup(m);
	reap_lookups(m); /* lookups still running are left to the exit */
	if (m->mosq != NULL) {
		if (m->state == ST_UP) {
			m->state = ST_DOWN; /* a requested disconnect is not worth a warning */
			mosquitto_disconnect(m->mosq);
			mosquitto_loop_write(m->mosq, 1);
		}
		mosquitto_destroy(m->mosq);
	}
	if (gw_hold_count(m->hold) > 0)
		gw_log(GW_LOG_ERR,
		       "lost %zu acknowledged messages: the database refused them until the stop",
		       gw_hold_count(m->hold));
	gw_hold_free(m->hold);
	if (gw_keys_waiting(m->keys) > 0)
		gw_log(GW_LOG_INFO,
		       "%zu messages waiting for their topic keys stay stored for the next start",
		       gw_keys_waiting(m->keys));
	gw_keys_free(m->keys);
	mqs_free(m);
}

/* Socket and wanted events. */
int gw_mqtt_fd(struct gw_mqtt *m, short *events)
{
	int fd;

	*events = 0;
	if (m->state == ST_DOWN || m->state == ST_RESOLVING)
		return -1;
	fd = mosquitto_socket(m->mosq);
	if (fd < 0)
		return -1;
	*events = POLLIN;
	if (mosquitto_want_write(m->mosq) || m->state == ST_CONNECTING)
		*events |= POLLOUT;
	return fd;
}

/* Read/write on readiness. */
void gw_mqtt_io(struct gw_mqtt *m, short revents)
{
	int rc = MOSQ_ERR_SUCCESS;

	if (m->state == ST_DOWN || m->state == ST_RESOLVING)
		return;
	if (revents & (POLLIN | POLLERR | POLLHUP))
		rc = mosquitto_loop_read(m->mosq, 16);
	if (rc == MOSQ_ERR_SUCCESS && (revents & POLLOUT) && m->state != ST_DOWN)
		rc = mosquitto_loop_write(m->mosq, 16);
	if (rc != MOSQ_ERR_SUCCESS && m->state != ST_DOWN)
		went_down(m, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
}

static void try_connect(struct gw_mqtt *m, uint64_t now_ms, const char *host);

/* Start a lookup of the broker's host name, or connect at once to a
 * numeric address. */
static void begin_connect(struct gw_mqtt *m, uint64_t now_ms)
{
	const char *host = m->b->host;
	unsigned char buf[sizeof(struct in6_addr)];
	struct lookup *l;
	struct gaicb *list[1];
	const struct mqs_creds *cr = m->creds;
	uint64_t wait_ms = 0;
	int rc;

	if (cr->has_totp && !use_tokens(m) &&
	    mqs_totp_step_choose(&cr->totp, now_ms, m->last_step, &wait_ms) < 0) {
		/* this step's code was already accepted once: wait for the next */
		m->next_attempt = wait_ms;
		return;
	}
	if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1) {
		try_connect(m, now_ms, host);
		return;
	}
	l = mqs_calloc(1, sizeof(*l));
	if (l == NULL) {
		schedule_retry(m, now_ms);
		return;
	}
	snprintf(l->host, sizeof(l->host), "%s", host);
	snprintf(l->port, sizeof(l->port), "%d", m->b->port);
	l->hints.ai_family = AF_UNSPEC;
	l->hints.ai_socktype = SOCK_STREAM;
	l->hints.ai_flags = AI_ADDRCONFIG;
	l->cb.ar_name = l->host;
	l->cb.ar_service = l->port;
	l->cb.ar_request = &l->hints;
	list[0] = &l->cb;
	rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
	if (rc != 0) {
		mqs_free(l);
		m->state = ST_CONNECTING; /* so went_down() logs it as a connect failure */
		went_down(m, gai_strerror(rc));
		return;
	}
	m->lookup = l;
	m->state = ST_RESOLVING;
	m->started = now_ms;
}

/* Free abandoned lookups that finished. */
static void reap_lookups(struct gw_mqtt *m)
{
	struct lookup **pp = &m->abandoned;

	while (*pp != NULL) {
		struct lookup *l = *pp;

		if (gai_error(&l->cb) == EAI_INPROGRESS) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		if (l->cb.ar_result != NULL)
			freeaddrinfo(l->cb.ar_result);
		mqs_free(l);
	}
}

/* Drop the running lookup: cancel it, or keep it until it finishes. */
static void drop_lookup(struct gw_mqtt *m)
{
	struct lookup *l = m->lookup;

	m->lookup = NULL;
	if (l == NULL)
		return;
	if (gai_error(&l->cb) == EAI_INPROGRESS && gai_cancel(&l->cb) != EAI_CANCELED) {
		l->next = m->abandoned;
		m->abandoned = l;
		return;
	}
	if (l->cb.ar_result != NULL)
		freeaddrinfo(l->cb.ar_result);
	mqs_free(l);
}

/* The lookup finished or timed out. */
static void check_lookup(struct gw_mqtt *m, uint64_t now_ms)
{
	struct lookup *l = m->lookup;
	char addr[INET6_ADDRSTRLEN + 1];
	int rc = gai_error(&l->cb);

	if (rc == EAI_INPROGRESS) {
		if (now_ms - m->started > RESOLVE_TIMEOUT_MS) {
			drop_lookup(m);
			m->state = ST_CONNECTING;
			went_down(m, "host name lookup timed out");
		}
		return;
	}
	if (rc != 0 || l->cb.ar_result == NULL ||
	    getnameinfo(l->cb.ar_result->ai_addr, l->cb.ar_result->ai_addrlen, addr, sizeof(addr),
	                NULL, 0, NI_NUMERICHOST) != 0) {
		char why[300];

		snprintf(why, sizeof(why), "cannot resolve %s: %s", l->host,
		         gai_strerror(rc != 0 ? rc : EAI_FAIL));
		drop_lookup(m);
		m->state = ST_CONNECTING;
		went_down(m, why);
		return;
	}
	drop_lookup(m);
	m->state = ST_DOWN;
	/* TLS checks the certificate against the name: give libmosquitto the
	 * name (the lookup just succeeded, so it is quick); else the address */
	try_connect(m, now_ms, m->b->cafile != NULL ? m->b->host : addr);
}

/* Log in with a fresh token, or a fresh code (never of the accepted step),
 * and connect. */
static void try_connect(struct gw_mqtt *m, uint64_t now_ms, const char *host)
{
	const struct gw_mqtt_broker *b = m->b;
	const struct mqs_creds *cr = m->creds;
	char code[MQS_CONNTOKEN_TEXT_LEN + 1] = "";
	int rc;

	if (use_tokens(m)) {
		/* a fresh token per attempt: a reconnect never waits */
		rc = mqs_conntoken_make_secret(cr->totp_secret, cr->totp_secret_len, cr->username,
		                               m->client_id, now_ms, code);
		if (rc != MQS_OK) {
			gw_log(GW_LOG_ERR, "cannot make a connect token: %s", mqs_strerror(rc));
			schedule_retry(m, now_ms);
			return;
		}
	} else if (cr->has_totp) {
		uint64_t wait_ms = 0;
		int64_t step = mqs_totp_step_choose(&cr->totp, now_ms, m->last_step, &wait_ms);

		if (step < 0) {
			/* the lookup took us back into the accepted step: wait */
			m->state = ST_DOWN;
			m->next_attempt = wait_ms;
			return;
		}
		if (mqs_totp_generate(cr->totp_secret, cr->totp_secret_len, &cr->totp,
		                      (time_t)(now_ms / 1000u), code, sizeof(code)) != MQS_OK) {
			gw_log(GW_LOG_ERR, "cannot compute the totp code");
			schedule_retry(m, now_ms);
			return;
		}
		m->attempt_step = step;
	}
	rc = mosquitto_username_pw_set(m->mosq, cr->username, cr->has_totp ? code : NULL);
	OPENSSL_cleanse(code, sizeof(code));
	if (rc != MOSQ_ERR_SUCCESS) {
		gw_log(GW_LOG_ERR, "cannot set mqtt credentials: %s", mosquitto_strerror(rc));
		schedule_retry(m, now_ms);
		return;
	}
	m->state = ST_CONNECTING;
	m->started = now_ms;
	m->refused = 0;
	rc = mosquitto_connect_async(m->mosq, host, b->port, b->keepalive);
	if (rc != MOSQ_ERR_SUCCESS)
		went_down(m, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
}

/* Timers: reconnect, connect timeout, keepalive. */
uint64_t gw_mqtt_service(struct gw_mqtt *m, uint64_t now_ms)
{
	reap_lookups(m);
	if (gw_keys_busy(m->keys))
		keys_drain(m); /* the ones that waited too long are dropped, loudly */
	if (gw_hold_count(m->hold) > 0) {
		hold_drain(m, now_ms);
		if (gw_hold_count(m->hold) > 0) {
			if (m->state != ST_DOWN)
				hold_disconnect(m);
			return gw_hold_next_try(m->hold);
		}
	}
	if (m->state == ST_DOWN && now_ms >= m->next_attempt && m->stale) {
		char err[256];

		/* a fresh client: no publish of the old connection is resent
		 * under a message id the owner has forgotten */
		mosquitto_destroy(m->mosq);
		m->mosq = NULL;
		if (create_client(m, err, sizeof(err)) != MQS_OK) {
			gw_log(GW_LOG_ERR, "%s", err);
			abort();
		}
		m->stale = 0;
	}
	if (m->state == ST_DOWN && now_ms >= m->next_attempt)
		begin_connect(m, now_ms);
	if (m->state == ST_RESOLVING)
		check_lookup(m, now_ms);
	if (m->state == ST_RESOLVING)
		return now_ms + 20; /* poll the lookup */
	if (m->state == ST_CONNECTING && now_ms - m->started > CONNECT_TIMEOUT_MS) {
		char err[256];

		/* a stuck TCP connect: start over with a fresh client */
		mosquitto_destroy(m->mosq);
		m->mosq = NULL;
		if (create_client(m, err, sizeof(err)) != MQS_OK) {
			gw_log(GW_LOG_ERR, "%s", err);
			abort();
		}
		went_down(m, "timed out");
	}
	if (m->state == ST_CONNECTING || m->state == ST_UP) {
		int rc = mosquitto_loop_misc(m->mosq);
		if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
			went_down(m, mosquitto_strerror(rc));
	}
	if (m->state == ST_DOWN)
		return m->next_attempt;
	return now_ms + 1000;
}

/* Messages held. */
size_t gw_mqtt_held(const struct gw_mqtt *m)
{
	return gw_hold_count(m->hold);
}

/* Connected. */
int gw_mqtt_up(const struct gw_mqtt *m)
{
	return m->state == ST_UP;
}

/* Seal payload with the device key when topic is protected (the broker
 * plugin refuses plaintext there and re-seals), then publish at QoS 1.
 * MQS_OK with *mid set, MQS_ERR_INVAL (must_seal, not protected),
 * MQS_ERR_CRYPTO, MQS_ERR_IO. */
static int publish(struct gw_mqtt *m, const char *topic, const void *payload, size_t len,
                   int must_seal, int *mid)
{
	const struct mqs_creds *cr = m->creds;
	const struct mqs_creds_key *dk = NULL;
	uint8_t *env = NULL;
	size_t env_len = 0;
	int rc;

	if (mqs_creds_topic_protected(cr, topic))
		dk = mqs_creds_device_key(cr);
	if (dk == NULL && must_seal)
		return MQS_ERR_INVAL;
	if (dk != NULL) {
		size_t cap = mqs_envelope_sealed_len(0, len);

		env = cap > 0 ? mqs_malloc(cap) : NULL;
		if (env == NULL ||
		    mqs_envelope_seal(dk->key, dk->id, mqs_now_ms(), NULL, NULL, 0, topic,
		                      strlen(topic), payload, len, env, cap, &env_len) != MQS_OK) {
			mqs_free(env);
			return MQS_ERR_CRYPTO;
		}
		payload = env;
		len = env_len;
	}
	rc = mosquitto_publish(m->mosq, mid, topic, (int)len, payload, 1, false);
	mqs_free(env);
	if (rc != MOSQ_ERR_SUCCESS) {
		gw_log(GW_LOG_DEBUG, "cannot publish on %s%s: %s", topic, m->label,
		       mosquitto_strerror(rc));
		return MQS_ERR_IO;
	}
	return MQS_OK;
}

/* Publish a status message (best effort). */
int gw_mqtt_publish(struct gw_mqtt *m, const char *topic, const void *payload, size_t len)
{
	int rc;

	if (m->state != ST_UP) {
		m->dropped++;
		return MQS_ERR_IO;
	}
	rc = publish(m, topic, payload, len, 0, NULL);
	if (rc == MQS_ERR_CRYPTO)
		gw_log(GW_LOG_WARN, "cannot seal status for %s", topic);
	return rc;
}

/* Publish with the message id returned (docs/medical.md, "Sending"). */
int gw_mqtt_publish_mid(struct gw_mqtt *m, const char *topic, const void *payload, size_t len,
                        int must_seal, int *mid)
{
	if (m->state != ST_UP)
		return MQS_ERR_IO;
	return publish(m, topic, payload, len, must_seal, mid);
}
