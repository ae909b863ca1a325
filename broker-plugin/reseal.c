/* SPDX-License-Identifier: BSD-3-Clause */
/* reseal.c - MOSQ_EVT_MESSAGE on protected topics (see reseal.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "downlink.h"
#include "epoch.h"
#include "forged.h"
#include "keys.h"
#include "mqs_alloc.h"
#include "mqs_envelope.h"
#include "mqs_envelope_ctx.h"
#include "mqs_error.h"
#include "mqs_util.h"
#include "plugin.h"
#include "replay.h"
#include "reseal.h"
#include "seals.h"

#define LOG_FIELD_MAX 128

struct mqsp_reseal {
	struct mqs_envelope_ctx *ec; /* reused OpenSSL state, holds the PRF key */
	struct mqsp_replay *seen;
	struct mqsp_forged *forged;     /* envelopes only the broker may seal (forged.h) */
	struct mqsp_epochs *epochs;     /* session of each client id (epoch.h) */
	struct mqsp_downlink *downlink; /* derived per-device keys (downlink.h) */
	int64_t log_second;
	unsigned log_count;
	unsigned long log_skipped;
};

/* New state. */
int mqsp_reseal_new(const uint8_t mk[MQS_MASTER_KEY_LEN], unsigned window_s, size_t replay_max,
                    struct mqsp_reseal **out)
{
	struct mqsp_reseal *r = mqs_calloc(1, sizeof(*r));
	uint8_t hash_key[MQS_MASTER_KEY_LEN], prp_key[MQS_MASTER_KEY_LEN];
	int rc;

	*out = NULL;
	if (r == NULL)
		return MQS_ERR_NOMEM;
	rc = mqs_envelope_ctx_new(&r->ec);
	/* two keys of their own for the nonce PRF (docs/envelope.md) */
	if (rc == MQS_OK)
		rc = mqs_master_key_derive(mk, "mqttsec-reseal-nonce-gmac", hash_key);
	if (rc == MQS_OK)
		rc = mqs_master_key_derive(mk, "mqttsec-reseal-nonce-aes", prp_key);
	if (rc == MQS_OK)
		rc = mqs_envelope_ctx_set_nonce_keys(r->ec, hash_key, prp_key);
	OPENSSL_cleanse(hash_key, sizeof(hash_key));
	OPENSSL_cleanse(prp_key, sizeof(prp_key));
	if (rc != MQS_OK) {
		mqsp_reseal_free(r);
		return rc;
	}
	r->seen = mqsp_replay_new(window_s, replay_max);
	r->forged = mqsp_forged_new();
	r->epochs = mqsp_epochs_new(MQSP_EPOCHS_MAX);
	r->downlink = mqsp_downlink_new();
	if (r->seen == NULL || r->forged == NULL || r->epochs == NULL || r->downlink == NULL) {
		mqsp_reseal_free(r);
		return MQS_ERR_NOMEM;
	}
	*out = r;
	return MQS_OK;
}

/* Wipe and free. */
void mqsp_reseal_free(struct mqsp_reseal *r)
{
	if (r == NULL)
		return;
	mqsp_replay_free(r->seen);
	mqsp_forged_free(r->forged);
	mqsp_epochs_free(r->epochs);
	mqsp_downlink_free(r->downlink);
	mqs_envelope_ctx_free(r->ec);
	mqs_free(r);
}

/* Copy s for a log line: control bytes become '?', at most LOG_FIELD_MAX. */
static const char *printable(const char *s, char *buf)
{
	size_t i = 0;

	if (s == NULL)
		return "-";
	for (; s[i] != '\0' && i < LOG_FIELD_MAX; i++)
		buf[i] = ((uint8_t)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = '\0';
	if (s[i] != '\0' && i >= 3)
		memcpy(buf + i - 3, "...", 3);
	return buf;
}

/* Log how many drop lines were left out in an earlier second. */
static void log_skipped(struct mqsp_reseal *r, int64_t now)
{
	if (now == r->log_second)
		return;
	if (r->log_skipped > 0)
		mqsp_log(MOSQ_LOG_NOTICE,
		         "mqttsec: %lu more dropped messages on protected topics not logged",
		         r->log_skipped); /* forged ones on other topics included */
	r->log_second = now;
	r->log_count = 0;
	r->log_skipped = 0;
}

/* Count a refusal and log it (rate-limited); returns MOSQ_ERR_ACL_DENIED.
 * plain: the topic is not protected (a forged envelope). */
static int drop(struct mqsp_plugin *p, enum mqsp_drop why, struct mosquitto *client,
                const char *topic, const char *what, int plain)
{
	struct mqsp_reseal *r = p->reseal;
	char cid[LOG_FIELD_MAX + 1], t[LOG_FIELD_MAX + 1];
	int64_t now = (int64_t)time(NULL);

	p->stats.dropped[why]++;
	log_skipped(r, now);
	if (r->log_count >= MQSP_RESEAL_LOG_PER_S) {
		r->log_skipped++;
		return MOSQ_ERR_ACL_DENIED;
	}
	r->log_count++;
	mqsp_log(MOSQ_LOG_NOTICE, "mqttsec: dropped %s from client %s on %s %s: %s", what,
	         printable(mosquitto_client_id(client), cid),
	         plain ? "unprotected topic" : "protected topic", printable(topic, t),
	         mqsp_drop_name(why));
	return MOSQ_ERR_ACL_DENIED;
}

/* Steps 1 and 2: an envelope of the publisher's own device key, fresh.
 * Returns MQSP_DROP__COUNT when it passes. */
static enum mqsp_drop check_envelope(const struct mqsp_keys *k, const char *user,
                                     const void *payload, uint32_t len, uint64_t now_ms,
                                     uint64_t window_ms, struct mqs_envelope_info *info,
                                     const struct mqsp_device_key **dk)
{
	if (payload == NULL || mqs_envelope_parse(payload, len, info) != MQS_OK ||
	    info->origin_len != 0)
		return MQSP_DROP_MALFORMED;
	*dk = mqsp_keys_device(k, info->key_id, (int64_t)(now_ms / 1000));
	if (*dk == NULL)
		return MQSP_DROP_UNKNOWN_KEY;
	if (user == NULL || strcmp((*dk)->device, user) != 0)
		return MQSP_DROP_WRONG_KEY;
	if (info->timestamp_ms > now_ms && info->timestamp_ms - now_ms > window_ms)
		return MQSP_DROP_FUTURE;
	if (info->timestamp_ms <= now_ms && now_ms - info->timestamp_ms > window_ms)
		return MQSP_DROP_STALE;
	return MQSP_DROP__COUNT;
}

/* An unprotected topic: only a forged envelope is refused (forged.h). */
static int plain_check(struct mqsp_plugin *p, const struct mqsp_keys *k, struct mosquitto *client,
                       const char *topic, const void *payload, uint32_t len, const char *what)
{
	if (mqsp_forged_check(p->reseal->forged, k, topic, payload, len, (int64_t)time(NULL)) ==
	    MQSP_FORGED_NO)
		return MOSQ_ERR_SUCCESS;
	return drop(p, MQSP_DROP_FORGED, client, topic, what, 1);
}

/* A refusal on a protected topic of an envelope that is forged (a topic
 * key, or an origin, with a tag that verifies) is counted as forged. */
static enum mqsp_drop reclassify(struct mqsp_plugin *p, const struct mqsp_keys *k,
                                 enum mqsp_drop why, const char *topic, const void *payload,
                                 uint32_t len)
{
	if (why != MQSP_DROP_MALFORMED && why != MQSP_DROP_UNKNOWN_KEY)
		return why;
	if (mqsp_forged_check(p->reseal->forged, k, topic, payload, len, (int64_t)time(NULL)) ==
	    MQSP_FORGED_NO)
		return why;
	return MQSP_DROP_FORGED;
}

/* Write check (publishes and wills). */
int mqsp_reseal_write_check(struct mqsp_plugin *p, struct mosquitto *client, const char *topic,
                            const void *payload, uint32_t payloadlen)
{
	const struct mqsp_keys *k = p->snap->keys;
	const struct mqsp_device_key *dk = NULL;
	struct mqs_envelope_info info;
	enum mqsp_drop why;

	if (k == NULL)
		return MOSQ_ERR_SUCCESS;
	if (k->nprotected == 0 || mqsp_keys_match(k, topic) == NULL)
		return plain_check(p, k, client, topic, payload, payloadlen, "publish or will");
	why = check_envelope(k, mosquitto_client_username(client), payload, payloadlen,
	                     mqs_now_ms(), (uint64_t)p->opt.replay_window * 1000u, &info, &dk);
	if (why == MQSP_DROP__COUNT)
		return MOSQ_ERR_SUCCESS;
	return drop(p, reclassify(p, k, why, topic, payload, payloadlen), client, topic,
	            "publish or will", 0);
}

/* MOSQ_EVT_MESSAGE. */
int mqsp_message_cb(int event, void *event_data, void *userdata)
{
	struct mqsp_plugin *p = userdata;
	struct mosquitto_evt_message *ed = event_data;
	struct mqsp_reseal *r = p->reseal;
	const struct mqsp_keys *k = p->snap->keys;
	const struct mqsp_protected *pt;
	const struct mqsp_device_key *dk = NULL;
	struct mqs_envelope_info info;
	uint8_t digest[MQS_ENVELOPE_NONCE_LEN];
	uint8_t dl_key[MQS_KDF_KEY_LEN]; /* per-device downlink (downlink.h) */
	const uint8_t *seal_key;
	uint32_t seal_id;
	const char *user;
	uint8_t *out = NULL;
	uint8_t *plain; /* in out, where its ciphertext goes: opened and sealed in place */
	size_t out_len = 0, plain_len = 0, written = 0, user_len;
	uint64_t now_ms, out_ts = 0, client;
	enum mqsp_replay_verdict seen;
	enum mqsp_drop why;
	enum mqsp_seal_verdict sv = MQSP_SEAL_OK;
	int rc;

	(void)event;
	if (k == NULL)
		return MOSQ_ERR_SUCCESS;
	pt = k->nprotected == 0 ? NULL : mqsp_keys_match(k, ed->topic);
	if (pt == NULL) /* also here: another plugin may have answered the WRITE check */
		return plain_check(p, k, ed->client, ed->topic, ed->payload, ed->payloadlen,
		                   "message");
	user = mosquitto_client_username(ed->client);
	now_ms = mqs_now_ms();
	why = check_envelope(k, user, ed->payload, ed->payloadlen, now_ms,
	                     (uint64_t)p->opt.replay_window * 1000u, &info, &dk);
	if (why != MQSP_DROP__COUNT) {
		why = reclassify(p, k, why, ed->topic, ed->payload, ed->payloadlen);
		goto refuse;
	}
	seal_key = pt->key;
	seal_id = pt->key_id;
	if (pt->per_device > 0) {
		why = mqsp_downlink_key(r->downlink, k, pt, ed->topic, dl_key, &seal_id);
		if (why != MQSP_DROP__COUNT)
			goto refuse;
		seal_key = dl_key;
	} else if (pt->key_id == 0) {
		why = MQSP_DROP_NO_TOPIC_KEY;
		goto refuse;
	}
	why = MQSP_DROP_ERROR;
	mqsp_replay_prefetch(r->seen, info.key_id, info.nonce);
	/* same client id, same session, same QoS: the only resend accepted */
	client =
	    mqsp_replay_conn(r->seen, mosquitto_client_id(ed->client),
	                     mqsp_epochs_get(r->epochs, mosquitto_client_id(ed->client), ed->client,
	                                     mosquitto_client_clean_session(ed->client)),
	                     ed->qos);
	/* MQSP_REPLAY_SAME here only says "same client": checked below */
	seen = mqsp_replay_lookup(r->seen, info.key_id, info.nonce, NULL, client, &out_ts);
	if (seen == MQSP_REPLAY_SEEN || (seen == MQSP_REPLAY_SAME && ed->qos == 0)) {
		why = MQSP_DROP_REPLAY;
		goto refuse;
	}
	if (seen == MQSP_REPLAY_NEW) {
		if (mqsp_replay_full(r->seen)) {
			why = MQSP_DROP_REPLAY_FULL;
			goto refuse;
		}
		out_ts = now_ms;
	}
	/* the output buffer holds the plaintext from the open to the seal, which
	 * encrypts it in place: one buffer, no copy (wiped when refused) */
	user_len = strlen(user);
	out_len = mqs_envelope_sealed_len(user_len, info.ciphertext_len);
	out = out_len > 0 ? mosquitto_malloc(out_len + 1) : NULL;
	if (out == NULL)
		goto refuse;
	plain = out + MQS_ENVELOPE_HDR_LEN + user_len;
	rc = mqs_envelope_ctx_open(r->ec, dk->key, dk->id, ed->payload, ed->payloadlen, ed->topic,
	                           strlen(ed->topic), plain, info.ciphertext_len, &plain_len, NULL);
	if (rc != MQS_OK) {
		why = rc == MQS_ERR_ENV_AUTH ? MQSP_DROP_TAMPERED : MQSP_DROP_ERROR;
		goto refuse;
	}
	/* the output nonce: a keyed PRF of everything the output authenticates
	 * but the key, and of the input nonce (two publications of one
	 * plaintext in one millisecond differ), so one nonce under one key is
	 * always one output (docs/envelope.md, "Re-seal nonces"); it is also
	 * the digest that tells a retransmission (same input nonce) */
	if (mqs_envelope_ctx_reseal_nonce(r->ec, out_ts, info.nonce, user, user_len, ed->topic,
	                                  strlen(ed->topic), plain, plain_len, digest) != MQS_OK)
		goto refuse;
	/* a resend must re-seal to the output it had; anything else is a replay */
	if (seen == MQSP_REPLAY_SAME && mqsp_replay_lookup(r->seen, info.key_id, info.nonce, digest,
	                                                   client, &out_ts) != MQSP_REPLAY_SAME) {
		why = MQSP_DROP_REPLAY;
		goto refuse;
	}
	/* a durable count before sealing with a shared topic key (seals.h);
	 * a downlink key is derived per device and topic (downlink.h) */
	if (pt->per_device == 0)
		sv = mqsp_seals_take(p->seals, mqsp_store_writer(p->store), seal_id);
	if (sv != MQSP_SEAL_OK && sv != MQSP_SEAL_ROTATE) {
		why = sv == MQSP_SEAL_WORN ? MQSP_DROP_KEY_WORN : MQSP_DROP_ERROR;
		goto refuse;
	}
	rc = mqs_envelope_ctx_seal(r->ec, seal_key, seal_id, out_ts, digest, user, user_len,
	                           ed->topic, strlen(ed->topic), plain, plain_len, out, out_len,
	                           &written);
	if (rc != MQS_OK)
		goto refuse;
	if (seen == MQSP_REPLAY_NEW) {
		rc = mqsp_replay_add(r->seen, info.key_id, info.nonce, digest, client,
		                     info.timestamp_ms, out_ts, (int64_t)(now_ms / 1000));
		if (rc != MQS_OK) {
			why = rc == MQS_ERR_TOOBIG ? MQSP_DROP_REPLAY_FULL : MQSP_DROP_ERROR;
			if (rc == MQS_ERR_NOMEM)
				mqsp_mem_refused(p, "publishes", (int64_t)(now_ms / 1000));
			goto refuse;
		}
	}
	OPENSSL_cleanse(dl_key, sizeof(dl_key));
	out[written] = '\0';
	ed->payload = out;
	ed->payloadlen = (uint32_t)written;
	p->stats.resealed++;
	if (sv == MQSP_SEAL_ROTATE) /* the next message is sealed with the new key */
		mqsp_rotate_key(p, seal_id, (int64_t)(now_ms / 1000));
	return MOSQ_ERR_SUCCESS;
refuse:
	if (out != NULL) /* may hold the plaintext */
		OPENSSL_cleanse(out, out_len);
	OPENSSL_cleanse(dl_key, sizeof(dl_key));
	mosquitto_free(out);
	return drop(p, why, ed->client, ed->topic, "message", 0);
}

/* A CONNECT was accepted. */
void mqsp_reseal_connected(struct mqsp_plugin *p, struct mosquitto *client)
{
	if (p->reseal != NULL)
		mqsp_epochs_connect(p->reseal->epochs, mosquitto_client_id(client), client,
		                    mosquitto_client_clean_session(client));
}

/* A connection ended. */
void mqsp_reseal_disconnected(struct mqsp_plugin *p, struct mosquitto *client)
{
	if (p->reseal != NULL)
		mqsp_epochs_disconnect(p->reseal->epochs, mosquitto_client_id(client), client);
}

/* MOSQ_EVT_TICK. */
int mqsp_reseal_tick_cb(int event, void *event_data, void *userdata)
{
	struct mqsp_plugin *p = userdata;
	int64_t now = (int64_t)time(NULL);

	(void)event;
	(void)event_data;
	mqsp_replay_expire(p->reseal->seen, now);
	if (p->reseal->log_skipped > 0)
		log_skipped(p->reseal, now);
	if (p->opt.stats_interval > 0 && now >= p->stats.next_publish) {
		p->stats.next_publish = now + (int64_t)p->opt.stats_interval;
		mqsp_stats_publish(&p->stats, mqsp_keys_bans_active(p->snap->keys, now),
		                   mqsp_replay_count(p->reseal->seen));
	}
	return MOSQ_ERR_SUCCESS;
}
