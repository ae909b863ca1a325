/* SPDX-License-Identifier: BSD-3-Clause */
/* keysvc.c - key requests, answers and pushes over MQTT (see keysvc.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include "mqs_uthash.h"
#include <utlist.h>

#include "clock.h"
#include "keyrate.h"
#include "keyreq.h"
#include "keys.h"
#include "keysvc.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_envelope.h"
#include "mqs_kdf.h"
#include "mqs_topic.h"
#include "mqs_util.h"
#include "plugin.h"

#define LOG_FIELD_MAX 128
#define CID_MAX       256 /* longer client ids are not remembered for pushes */
/* pushes per broker loop pass (docs/payload-encryption.md, "Online keys"):
 * a pass stops after PUSH_SLICE_MS of work or PUSH_PER_PASS answers */
#define PUSH_SLICE_MS 2.0
#define PUSH_PER_PASS 64
/* a push that found the database locked waits PUSH_RETRY_MS, doubled per
 * failed attempt up to PUSH_RETRY_MAX_MS, before the queue moves again */
#define PUSH_RETRY_MS     100.0
#define PUSH_RETRY_MAX_MS 2000.0

static const char *const refusal_name[MQSP_KEYSVC__COUNT] = {"rate limit",
                                                             "flood",
                                                             "unknown device or key",
                                                             "malformed request",
                                                             "does not open or not fresh",
                                                             "internal error"};

/* how many clients of one device (username) are remembered */
struct user_count {
	UT_hash_handle hh;
	size_t n;
	int logged; /* the per-device cap was logged since it was last below it */
	char user[MQSP_DEVICE_NAME_MAX + 1];
};

/* what a connected client fetched, for pushes */
struct fetched {
	UT_hash_handle hh;
	const struct mosquitto *client; /* the connection (dereferenced only while the
	                                   clients table says it is connected) */
	uint32_t dk_id;                 /* the device key its answers are sealed for */
	size_t nfilters, cap_filters, cap_pending;
	char **filters;         /* at most MQSP_KEYSVC_FILTERS_MAX */
	unsigned char *pending; /* pending[i]: filters[i] has a new key to push */
	size_t npending;
	unsigned attempts;           /* pushes in a row that found the database locked */
	int queued;                  /* on the push queue */
	int cap_logged;              /* MQSP_KEYSVC_FILTERS_MAX was logged */
	struct fetched *prev, *next; /* the push queue (utlist) */
	struct user_count *uc;
	char user[MQSP_DEVICE_NAME_MAX + 1];
	char cid[CID_MAX + 1];
};

struct mqsp_keysvc {
	struct mqsp_keyrate *rate;
	/* the same limit per username: a device can open connections under
	 * fresh client ids at once (connect tokens), each with a full bucket */
	struct mqsp_keyrate *rate_user;
	struct fetched *by_cid; /* uthash */
	size_t nfetched;
	struct user_count *by_user; /* uthash */
	int64_t cap_log_second;     /* the global cap was last logged then */
	double retry_at;            /* no pass before this (mqsp_mono_ms; 0: none) */
	unsigned long retried, given_up;
	unsigned long refused[MQSP_KEYSVC__COUNT];
	unsigned long answered, pushed;
	struct fetched *queue; /* clients with pushes pending, oldest first */
	size_t nqueued;
	/* the current run of pushes (from an empty queue to an empty queue) */
	unsigned long run_pushed;
	unsigned run_passes;
	double run_t0, run_max_ms;
	/* topic keys pushed at the plugin's own rotation, before a view held
	 * them: the next view does not push them again */
	uint32_t early[MQSP_KEYSVC_EARLY_MAX];
	size_t nearly;
	int64_t log_second;
	unsigned log_count;
	unsigned long log_skipped;
};

/* New state. */
int mqsp_keysvc_new(struct mqsp_keysvc **out)
{
	struct mqsp_keysvc *ks = mqs_calloc(1, sizeof(*ks));

	*out = NULL;
	if (ks == NULL)
		return MQS_ERR_NOMEM;
	ks->rate = mqsp_keyrate_new(MQSP_KEYRATE_MAX);
	ks->rate_user = mqsp_keyrate_new(MQSP_KEYRATE_MAX);
	if (ks->rate == NULL || ks->rate_user == NULL) {
		mqsp_keyrate_free(ks->rate);
		mqsp_keyrate_free(ks->rate_user);
		mqs_free(ks);
		return MQS_ERR_NOMEM;
	}
	*out = ks;
	return MQS_OK;
}

/* Drop one record. */
static void fetched_del(struct mqsp_keysvc *ks, struct fetched *f)
{
	if (f->queued) {
		DL_DELETE(ks->queue, f);
		ks->nqueued--;
	}
	HASH_DEL(ks->by_cid, f);
	if (f->uc != NULL && --f->uc->n == 0) {
		HASH_DEL(ks->by_user, f->uc);
		mqs_free(f->uc);
	} else if (f->uc != NULL) {
		f->uc->logged = 0;
	}
	for (size_t i = 0; i < f->nfilters; i++)
		mqs_free(f->filters[i]);
	mqs_free(f->filters);
	mqs_free(f->pending);
	mqs_free(f);
	ks->nfetched--;
}

/* Free everything. */
void mqsp_keysvc_free(struct mqsp_keysvc *ks)
{
	struct fetched *f, *tmp;

	if (ks == NULL)
		return;
	HASH_ITER(hh, ks->by_cid, f, tmp)
	{
		fetched_del(ks, f);
	}
	mqsp_keyrate_free(ks->rate);
	mqsp_keyrate_free(ks->rate_user);
	mqs_free(ks);
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
	return buf;
}

/* Count a refusal and log it (at most MQSP_KEYSVC_LOG_PER_S lines a second). */
static void refuse(struct mqsp_keysvc *ks, enum mqsp_keysvc_refusal why, const char *cid,
                   const char *detail)
{
	int64_t now = (int64_t)time(NULL);
	char c[LOG_FIELD_MAX + 1];

	ks->refused[why]++;
	if (now != ks->log_second) {
		if (ks->log_skipped > 0)
			mqsp_log(MOSQ_LOG_NOTICE,
			         "mqttsec: %lu more refused key requests not logged",
			         ks->log_skipped);
		ks->log_second = now;
		ks->log_count = 0;
		ks->log_skipped = 0;
	}
	if (ks->log_count >= MQSP_KEYSVC_LOG_PER_S) {
		ks->log_skipped++;
		return;
	}
	ks->log_count++;
	mqsp_log(MOSQ_LOG_NOTICE, "mqttsec: refused key request from client %s: %s%s%s",
	         printable(cid, c), refusal_name[why], detail != NULL ? ": " : "",
	         detail != NULL ? detail : "");
}

/* Ban the username of a flooding client (reason key-flood). */
static void flood_ban(struct mqsp_plugin *p, const char *user, const char *cid)
{
	int64_t now = (int64_t)time(NULL);
	unsigned secs = p->opt.ban_seconds;
	char c[LOG_FIELD_MAX + 1];
	uint64_t seq;
	int e;

	if (user == NULL || user[0] == '\0')
		return;
	seq = mqsp_store_save_ban_why(p->store, MQS_MATCH_USERNAME, user, now, secs, "key-flood");
	if (seq == 0)
		seq = MQSP_BAN_SEQ_MEMORY; /* never reaches the database */
	e = mqsp_bans_add(p->bans, MQS_MATCH_USERNAME, user, now + (int64_t)secs, seq,
	                  mqsp_store_bans_done(p->store), now);
	if (e != MQS_OK) {
		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: cannot keep the ban of username %s: %s", user,
		         mqs_strerror(e));
		return;
	}
	mqsp_log(MOSQ_LOG_WARNING,
	         "mqttsec: banned username %s for %u s: key request flood from client %s "
	         "(key-flood)",
	         user, secs, printable(cid, c));
	p->kick_pending = 1;
}

/* A new record of client cid of user, counted globally and per user; NULL
 * (logged, at most once a second or once per device while at its cap) when
 * a cap is reached or out of memory. */
static struct fetched *fetched_new(struct mqsp_keysvc *ks, struct mosquitto *client,
                                   const char *cid, const char *user)
{
	struct user_count *uc = NULL;
	struct fetched *f;
	size_t ulen = strlen(user);
	int64_t now = (int64_t)time(NULL);

	if (ks->nfetched >= MQSP_KEYSVC_CLIENTS) {
		if (now != ks->cap_log_second)
			mqsp_log(MOSQ_LOG_WARNING,
			         "mqttsec: not remembering client %s of %s for key pushes: %d "
			         "clients remembered (cap); it fetches when it meets a new key",
			         cid, user, MQSP_KEYSVC_CLIENTS);
		ks->cap_log_second = now;
		return NULL;
	}
	HASH_FIND(hh, ks->by_user, user, ulen, uc);
	if (uc != NULL && uc->n >= MQSP_KEYSVC_CLIENTS_PER_USER) {
		if (!uc->logged)
			mqsp_log(MOSQ_LOG_WARNING,
			         "mqttsec: not remembering client %s of %s for key pushes: %d "
			         "clients of that device remembered (cap); it fetches when it "
			         "meets a new key",
			         cid, user, MQSP_KEYSVC_CLIENTS_PER_USER);
		uc->logged = 1;
		return NULL;
	}
	f = mqs_calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	if (uc == NULL) {
		uc = mqs_calloc(1, sizeof(*uc));
		if (uc == NULL) {
			mqs_free(f);
			return NULL;
		}
		memcpy(uc->user, user, ulen + 1);
		HASH_ADD(hh, ks->by_user, user, ulen, uc);
		if (!mqs_uthash_added(uc, hh)) {
			mqs_free(uc);
			mqs_free(f);
			return NULL;
		}
	}
	uc->n++;
	f->uc = uc;
	f->client = client;
	memcpy(f->cid, cid, strlen(cid) + 1);
	memcpy(f->user, user, ulen + 1);
	HASH_ADD(hh, ks->by_cid, cid, strlen(cid), f);
	if (!mqs_uthash_added(f, hh)) {
		if (--uc->n == 0) {
			HASH_DEL(ks->by_user, uc);
			mqs_free(uc);
		}
		mqs_free(f);
		return NULL;
	}
	ks->nfetched++;
	return f;
}

/* Add filter to f (grown, at most MQSP_KEYSVC_FILTERS_MAX).  Returns MQS_OK,
 * MQS_ERR_TOOBIG or MQS_ERR_NOMEM. */
static int fetched_add_filter(struct fetched *f, const char *filter)
{
	void *fl = f->filters;
	void *pd = f->pending;
	int rc;

	rc = mqs_array_reserve(&fl, &f->cap_filters, f->nfilters + 1, sizeof(*f->filters),
	                       MQSP_KEYSVC_FILTERS_MAX, 0);
	f->filters = fl;
	if (rc == MQS_OK)
		rc = mqs_array_reserve(&pd, &f->cap_pending, f->nfilters + 1, sizeof(*f->pending),
		                       MQSP_KEYSVC_FILTERS_MAX, 0);
	f->pending = pd;
	if (rc != MQS_OK)
		return rc;
	f->filters[f->nfilters] = mqs_strdup(filter);
	if (f->filters[f->nfilters] == NULL)
		return MQS_ERR_NOMEM;
	f->pending[f->nfilters] = 0;
	f->nfilters++;
	return MQS_OK;
}

/* Remember that client cid fetched the granted filters. */
static void remember(struct mqsp_keysvc *ks, struct mosquitto *client, const char *cid,
                     const char *user, uint32_t dk_id, const struct mqsp_keyreq_answer *a)
{
	size_t len = strlen(cid);
	struct fetched *f = NULL;

	if (a->ngranted == 0 || len > CID_MAX || strlen(user) > MQSP_DEVICE_NAME_MAX)
		return;
	HASH_FIND(hh, ks->by_cid, cid, len, f);
	if (f != NULL && (f->client != client || strcmp(f->user, user) != 0)) {
		fetched_del(ks, f); /* another connection took the id */
		f = NULL;
	}
	if (f == NULL) {
		f = fetched_new(ks, client, cid, user);
		if (f == NULL)
			return;
	}
	f->dk_id = dk_id;
	for (size_t i = 0; i < a->ngranted; i++) {
		int have = 0;

		for (size_t j = 0; j < f->nfilters && !have; j++)
			have = strcmp(f->filters[j], a->granted[i]) == 0;
		if (have)
			continue;
		if (fetched_add_filter(f, a->granted[i]) != MQS_OK) {
			if (!f->cap_logged)
				mqsp_log(
				    MOSQ_LOG_WARNING,
				    "mqttsec: not remembering more filters of client %s of %s "
				    "for key pushes (cap %d or out of memory): it gets no push "
				    "for the others and fetches when it meets a new key",
				    cid, user, MQSP_KEYSVC_FILTERS_MAX);
			f->cap_logged = 1;
			break;
		}
	}
}

/* Build, record, seal and send the answer to req for client cid (peer address
 * addr) of device user, whose key dk sealed the request.  Returns MQS_OK or an error (logged
 * by the caller). */
static int answer_send(struct mqsp_plugin *p, const char *cid, const char *addr, const char *user,
                       const struct mqsp_device_key *dk, const struct mqsp_keyreq *req, int busy_ms,
                       struct mqsp_keyreq_answer *a, char *err, size_t errlen)
{
	uint8_t ak[MQS_KDF_KEY_LEN];
	char topic[sizeof(MQSP_KEYREQ_PREFIX) + MQSP_DEVICE_NAME_MAX];
	uint8_t *out = NULL;
	size_t out_len, written = 0;
	int rc;

	snprintf(topic, sizeof(topic), "%s%s", MQSP_KEYREQ_PREFIX, user);
	rc = mqsp_keyreq_answer(mqsp_store_writer(p->store), p->mk, user, cid, addr, dk->id, req,
	                        (int64_t)time(NULL), busy_ms, a, err, errlen);
	if (rc != MQS_OK)
		goto out;
	/* one key, one purpose: answers never use the device key itself */
	rc = mqs_kdf_keys_answer(dk->key, ak);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_NOMEM;
	out_len = mqs_envelope_sealed_len(0, a->json_len);
	out = out_len > 0 ? mosquitto_malloc(out_len + 1) : NULL;
	if (out == NULL)
		goto out;
	rc = mqs_envelope_seal(ak, dk->id, mqs_now_ms(), NULL, NULL, 0, topic, strlen(topic),
	                       (const uint8_t *)a->json, a->json_len, out, out_len, &written);
	if (rc != MQS_OK)
		goto out;
	out[written] = '\0';
	/* the broker owns out from here on success */
	if (mosquitto_broker_publish(cid, topic, (int)written, out, 1, false, NULL) !=
	    MOSQ_ERR_SUCCESS) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	out = NULL;
	rc = MQS_OK;
out:
	OPENSSL_cleanse(ak, sizeof(ak));
	mosquitto_free(out);
	if (rc != MQS_OK && err[0] == '\0')
		snprintf(err, errlen, "cannot send the answer: %s", mqs_strerror(rc));
	return rc;
}

/* Check and answer one request. */
static void handle(struct mqsp_plugin *p, struct mosquitto_evt_message *ed)
{
	struct mqsp_keysvc *ks = p->keysvc;
	const char *cid = mosquitto_client_id(ed->client);
	const char *user = mosquitto_client_username(ed->client);
	const struct mqsp_keys *k = p->snap->keys;
	const struct mqsp_device *d;
	const struct mqsp_device_key *dk;
	struct mqs_envelope_info info;
	struct mqsp_keyreq req;
	struct mqsp_keyreq_answer a;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	uint64_t now_ms = mqs_now_ms();
	uint64_t window = (uint64_t)p->opt.replay_window * 1000u;
	char err[256];

	memset(&req, 0, sizeof(req));
	memset(&a, 0, sizeof(a));
	switch (mqsp_keyrate_take(ks->rate, cid, now_ms)) {
	case MQSP_KEYRATE_OK:
		break;
	case MQSP_KEYRATE_FLOODED:
		refuse(ks, MQSP_KEYSVC_FLOOD, cid, NULL);
		flood_ban(p, user, cid);
		return;
	default:
		refuse(ks, MQSP_KEYSVC_RATE, cid, NULL);
		return;
	}
	d = user != NULL ? mqsp_snapshot_device(p->snap, user) : NULL;
	if (d == NULL || !d->enabled || !mqs_topic_identity_ok(user) ||
	    strlen(user) > MQSP_DEVICE_NAME_MAX) {
		refuse(ks, MQSP_KEYSVC_UNKNOWN, cid, "no enabled device");
		return;
	}
	switch (mqsp_keyrate_take(ks->rate_user, user, now_ms)) {
	case MQSP_KEYRATE_OK:
		break;
	case MQSP_KEYRATE_FLOODED:
		refuse(ks, MQSP_KEYSVC_FLOOD, cid, "all clients of the device");
		flood_ban(p, user, cid);
		return;
	default:
		refuse(ks, MQSP_KEYSVC_RATE, cid, "all clients of the device");
		return;
	}
	if (ed->payload == NULL ||
	    mqs_envelope_parse(ed->payload, ed->payloadlen, &info) != MQS_OK ||
	    info.origin_len != 0 || info.ciphertext_len > MQSP_KEYREQ_PLAIN_MAX) {
		refuse(ks, MQSP_KEYSVC_MALFORMED, cid, "not an envelope");
		return;
	}
	dk = mqsp_keys_device(k, info.key_id, (int64_t)(now_ms / 1000));
	if (dk == NULL || strcmp(dk->device, user) != 0) {
		refuse(ks, MQSP_KEYSVC_UNKNOWN, cid, "not sealed with its device key");
		return;
	}
	if ((info.timestamp_ms > now_ms && info.timestamp_ms - now_ms > window) ||
	    (info.timestamp_ms <= now_ms && now_ms - info.timestamp_ms > window)) {
		refuse(ks, MQSP_KEYSVC_UNSEALED, cid, "not fresh");
		return;
	}
	plain = mqs_malloc(info.ciphertext_len + 1);
	if (plain == NULL) {
		refuse(ks, MQSP_KEYSVC_ERROR, cid, "out of memory");
		return;
	}
	if (mqs_envelope_open(dk->key, dk->id, ed->payload, ed->payloadlen, ed->topic,
	                      strlen(ed->topic), plain, info.ciphertext_len + 1, &plain_len,
	                      NULL) != MQS_OK) {
		refuse(ks, MQSP_KEYSVC_UNSEALED, cid, "does not open");
		goto out;
	}
	if (mqsp_keyreq_parse(plain, plain_len, &req) != MQS_OK) {
		refuse(ks, MQSP_KEYSVC_MALFORMED, cid, "not a key request");
		goto out;
	}
	err[0] = '\0';
	switch (answer_send(p, cid, mosquitto_client_address(ed->client), user, dk, &req,
	                    MQSP_KEYREQ_BUSY_MS, &a, err, sizeof(err))) {
	case MQS_OK:
		break;
	case MQS_ERR_NOENT: /* its device key was retired a moment ago */
		refuse(ks, MQSP_KEYSVC_UNKNOWN, cid, err);
		goto out;
	default:
		refuse(ks, MQSP_KEYSVC_ERROR, cid, err);
		goto out;
	}
	ks->answered++;
	remember(ks, ed->client, cid, user, dk->id, &a);
	mqsp_log(MOSQ_LOG_INFO,
	         "mqttsec: sent %zu topic keys of %zu filters to client %s of %s (%zu not granted)",
	         a.nkeys, a.ngranted, cid, user, a.nrefused);
out:
	mqsp_keyreq_answer_release(&a);
	mqsp_keyreq_release(&req);
	mqs_secret_free(plain, info.ciphertext_len + 1);
}

/* MOSQ_EVT_MESSAGE. */
int mqsp_keysvc_message_cb(int event, void *event_data, void *userdata)
{
	struct mqsp_plugin *p = userdata;
	struct mosquitto_evt_message *ed = event_data;

	(void)event;
	if (ed->topic == NULL ||
	    strncmp(ed->topic, MQSP_KEYREQ_PREFIX, sizeof(MQSP_KEYREQ_PREFIX) - 1) != 0)
		return MOSQ_ERR_SUCCESS;
	if (strcmp(ed->topic, MQSP_KEYREQ_TOPIC) == 0)
		handle(p, ed);
	/* consumed: never stored, forwarded or retained */
	return MOSQ_ERR_ACL_DENIED;
}

/* Access under mqttsec/keys/. */
int mqsp_keysvc_access(const char *topic, int access, int retain, const char *user,
                       const struct mqsp_device *d)
{
	const size_t plen = sizeof(MQSP_KEYREQ_PREFIX) - 1;

	if (strncmp(topic, MQSP_KEYREQ_PREFIX, plen) != 0)
		return -1;
	if (d == NULL || !d->enabled || user == NULL)
		return MOSQ_ERR_ACL_DENIED;
	/* nothing is ever stored here: a retained publish, and a retained
	 * Last Will (checked only here when it is sent: it never reaches the
	 * message callback that consumes requests), is refused */
	if (access == MOSQ_ACL_WRITE)
		return strcmp(topic, MQSP_KEYREQ_TOPIC) == 0 && !retain ? MOSQ_ERR_SUCCESS
		                                                        : MOSQ_ERR_ACL_DENIED;
	if (access == MOSQ_ACL_READ || access == MOSQ_ACL_SUBSCRIBE)
		return strcmp(topic + plen, user) == 0 && strcmp(user, "req") != 0
		           ? MOSQ_ERR_SUCCESS
		           : MOSQ_ERR_ACL_DENIED;
	return MOSQ_ERR_ACL_DENIED;
}

/* A client disconnected. */
void mqsp_keysvc_disconnected(struct mqsp_plugin *p, struct mosquitto *client)
{
	const char *cid = mosquitto_client_id(client);
	struct fetched *f = NULL;

	if (p->keysvc == NULL || cid == NULL)
		return;
	HASH_FIND(hh, p->keysvc->by_cid, cid, strlen(cid), f);
	if (f != NULL && f->client == client)
		fetched_del(p->keysvc, f);
}

/* The filter (owner) of topic key id, read on the writer; NULL when none. */
static char *key_filter(struct mqsp_plugin *p, uint32_t id)
{
	sqlite3 *db = mqsp_store_writer(p->store);
	sqlite3_stmt *st = NULL;
	char *filter = NULL;

	if (sqlite3_prepare_v2(db, "SELECT owner FROM keys WHERE id = ?1 AND purpose = 'topic'", -1,
	                       &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		filter = mqs_strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return filter;
}

/* Put f on the push queue (at its head with first set) unless it is on it;
 * more is set when f goes back on the queue in a pass (a retry, or filters
 * left for a next answer), which goes on with the current run of pushes. */
static void enqueue(struct mqsp_keysvc *ks, struct fetched *f, int first, int more)
{
	if (f->queued)
		return;
	if (ks->nqueued == 0 && ks->retry_at == 0 && !more) { /* a new run */
		ks->run_pushed = 0;
		ks->run_passes = 0;
		ks->run_max_ms = 0;
		ks->run_t0 = mqsp_mono_ms();
	}
	if (first)
		DL_PREPEND(ks->queue, f);
	else
		DL_APPEND(ks->queue, f);
	f->queued = 1;
	ks->nqueued++;
}

/* Queue a push of filter's keys to every client that fetched it.  A client
 * already queued for it gets one push (with the keys of the view in use when
 * it is sent): a later rotation supersedes the queued one. */
static void queue_filter(struct mqsp_keysvc *ks, const char *filter)
{
	struct fetched *f, *tmp;

	HASH_ITER(hh, ks->by_cid, f, tmp)
	{
		for (size_t i = 0; i < f->nfilters; i++) {
			if (strcmp(f->filters[i], filter) != 0)
				continue;
			if (!f->pending[i]) {
				f->pending[i] = 1;
				f->npending++;
			}
			enqueue(ks, f, 0, 0);
			break;
		}
	}
}

/* what push_one did */
enum push_result { PUSH_DONE, PUSH_BUSY };

/* Forget every pending filter of f. */
static void pending_clear(struct fetched *f)
{
	memset(f->pending, 0, f->nfilters);
	f->npending = 0;
}

/* Send up to MQSP_KEYREQ_FILTERS_MAX of f's pending filters in one answer,
 * if its device and answers key are still valid in the view in use and the
 * connection with its client id is still the one that fetched, logged in
 * as the same username (read right and device key state are checked by the
 * answer, in its transaction).  PUSH_BUSY: the database was locked, nothing
 * sent, the filters stay pending (the answer does not wait for the lock:
 * busy timeout 0 on the broker thread). */
static enum push_result push_one(struct mqsp_plugin *p, struct fetched *f, int64_t now_s)
{
	struct mqsp_keysvc *ks = p->keysvc;
	char *which[MQSP_KEYREQ_FILTERS_MAX];
	size_t idx[MQSP_KEYREQ_FILTERS_MAX];
	struct mqsp_keyreq req;
	struct mqsp_keyreq_answer a;
	const struct mqsp_device_key *dk;
	const struct mqsp_device *d;
	const struct mqsp_client *c;
	const char *now_user;
	enum push_result res = PUSH_DONE;
	char err[256];
	int rc;

	memset(&req, 0, sizeof(req));
	memset(&a, 0, sizeof(a));
	for (size_t i = 0; i < f->nfilters && req.nfilters < MQSP_KEYREQ_FILTERS_MAX; i++) {
		if (f->pending[i]) {
			idx[req.nfilters] = i;
			which[req.nfilters++] = f->filters[i];
		}
	}
	if (req.nfilters == 0 || p->snap == NULL) {
		pending_clear(f);
		return PUSH_DONE;
	}
	d = mqsp_snapshot_device(p->snap, f->user);
	dk = mqsp_keys_device(p->snap->keys, f->dk_id, now_s);
	c = mqsp_clients_find(&p->clients, f->cid);
	if (d == NULL || !d->enabled || dk == NULL || strcmp(dk->device, f->user) != 0 ||
	    !mqsp_clients_is(c, f->client, f->user)) {
		pending_clear(f); /* its answers key or its connection is gone */
		return PUSH_DONE;
	}
	/* the same connection, still logged in as the username the push is for */
	now_user = mosquitto_client_username(f->client);
	if (now_user == NULL || strcmp(now_user, f->user) != 0) {
		pending_clear(f);
		return PUSH_DONE;
	}
	req.filters = which; /* nonce all zero: a push */
	err[0] = '\0';
	rc = answer_send(p, f->cid, mosquitto_client_address(f->client), f->user, dk, &req, 0, &a,
	                 err, sizeof(err));
	if (rc == MQS_ERR_DB) {
		int code = sqlite3_errcode(mqsp_store_writer(p->store));

		if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
			res = PUSH_BUSY;
	}
	if (res == PUSH_DONE) {
		for (size_t i = 0; i < req.nfilters; i++)
			f->pending[idx[i]] = 0;
		f->npending -= req.nfilters;
		f->attempts = 0;
		if (rc == MQS_OK && a.ngranted > 0) {
			ks->pushed++;
			ks->run_pushed++;
		} else if (rc != MQS_OK && rc != MQS_ERR_NOENT) {
			refuse(ks, MQSP_KEYSVC_ERROR, f->cid, err);
		}
	}
	mqsp_keyreq_answer_release(&a);
	return res;
}

/* One pass of queued pushes. */
void mqsp_keysvc_push_slice(struct mqsp_plugin *p)
{
	struct mqsp_keysvc *ks = p->keysvc;
	int64_t now_s = (int64_t)time(NULL);
	double t0, spent;
	unsigned n = 0;

	if (ks == NULL || ks->queue == NULL)
		return;
	t0 = mqsp_mono_ms();
	if (ks->retry_at > 0 && t0 < ks->retry_at)
		return; /* the database was locked: a later pass */
	ks->retry_at = 0;
	do {
		struct fetched *f = ks->queue;

		DL_DELETE(ks->queue, f);
		f->queued = 0;
		ks->nqueued--;
		n++;
		if (push_one(p, f, now_s) == PUSH_BUSY) {
			double wait = PUSH_RETRY_MS;

			f->attempts++;
			if (f->attempts >= MQSP_KEYSVC_PUSH_ATTEMPTS) {
				mqsp_log(MOSQ_LOG_WARNING,
				         "mqttsec: gave up pushing topic keys to client %s of %s "
				         "after %u attempts: database locked; it fetches when it "
				         "meets a new key",
				         f->cid, f->user, f->attempts);
				ks->given_up++;
				pending_clear(f);
				f->attempts = 0;
				continue;
			}
			ks->retried++;
			mqsp_log(MOSQ_LOG_NOTICE,
			         "mqttsec: key push to client %s of %s waits for the database lock "
			         "(attempt %u)",
			         f->cid, f->user, f->attempts);
			for (unsigned i = 1; i < f->attempts && wait < PUSH_RETRY_MAX_MS; i++)
				wait *= 2;
			if (wait > PUSH_RETRY_MAX_MS)
				wait = PUSH_RETRY_MAX_MS;
			ks->retry_at = mqsp_mono_ms() + wait;
			enqueue(ks, f, 1, 1); /* first again, on a later pass */
			break;
		}
		if (f->npending > 0)
			enqueue(ks, f, 0, 1); /* more than one answer's worth of filters */
	} while (ks->queue != NULL && n < PUSH_PER_PASS && mqsp_mono_ms() - t0 < PUSH_SLICE_MS);
	spent = mqsp_mono_ms() - t0;
	ks->run_passes++;
	if (spent > ks->run_max_ms)
		ks->run_max_ms = spent;
	if (ks->queue == NULL && ks->run_pushed > 0)
		mqsp_log(MOSQ_LOG_INFO,
		         "mqttsec: pushed new topic keys in %lu answers (%.1f ms, %u passes, "
		         "longest pass %.1f ms)",
		         ks->run_pushed, mqsp_mono_ms() - ks->run_t0, ks->run_passes,
		         ks->run_max_ms);
}

/* A new view is in use: push the topic keys it added. */
void mqsp_keysvc_swapped(struct mqsp_plugin *p, const struct mqsp_keys *old,
                         const struct mqsp_keys *now)
{
	char **done = NULL;
	size_t ndone = 0, cap = 0;

	if (p->keysvc == NULL || p->keysvc->nfetched == 0 || now == NULL)
		return;
	for (size_t i = 0; i < now->ntkeys; i++) {
		uint32_t id = now->tkeys[i].id;
		char *filter;
		int seen = 0;

		if (old != NULL && mqsp_keys_topic(old, id) != NULL)
			continue;
		for (size_t j = 0; j < p->keysvc->nearly && !seen; j++)
			seen = p->keysvc->early[j] == id;
		if (seen)
			continue; /* queued at the rotation already */
		filter = key_filter(p, id);
		if (filter == NULL)
			continue;
		for (size_t j = 0; j < ndone && !seen; j++)
			seen = strcmp(done[j], filter) == 0;
		if (seen) {
			mqs_free(filter);
			continue;
		}
		queue_filter(p->keysvc, filter);
		{
			void *arr = done;

			/* a filter not kept here is only queued twice (one push) */
			if (mqs_array_reserve(&arr, &cap, ndone + 1, sizeof(*done), now->ntkeys,
			                      0) != MQS_OK) {
				mqs_free(filter);
				continue;
			}
			done = arr;
		}
		done[ndone++] = filter;
	}
	for (size_t j = 0; j < ndone; j++)
		mqs_free(done[j]);
	mqs_free(done);
	/* a view built after those rotations holds their keys now */
	p->keysvc->nearly = 0;
	/* the first pass at once */
	mqsp_keysvc_push_slice(p);
}

/* The plugin rotated filter's key to id itself (committed). */
void mqsp_keysvc_rotated(struct mqsp_plugin *p, const char *filter, uint32_t id)
{
	struct mqsp_keysvc *ks = p->keysvc;

	if (ks == NULL || ks->nfetched == 0)
		return;
	if (ks->nearly < MQSP_KEYSVC_EARLY_MAX)
		ks->early[ks->nearly++] = id; /* else the next view pushes it again */
	/* only queued: the tick sends a bounded slice each pass, so 32 rotations
	 * in one tick (or one inside a message callback) never stall the broker */
	queue_filter(ks, filter);
}
