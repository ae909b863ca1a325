/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-keys.c - the waiting room of messages under an unknown key id
 * (docs/payload-encryption.md, "Online keys"): only key ids newer than the
 * newest held wait, one publisher gets at most 64 places, drops after the
 * wait are logged at most once every 10 s with a count, and with a store
 * the waiting messages (still sealed) come back after a restart. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mosquitto.h>

#include "gw_keys.h"
#include "gw_log.h"
#include "gw_store.h"
#include "mqs_envelope.h"
#include "mqs_util.h"
#include "tap.h"

#define NOW 1000000u

static char dir[] = "/tmp/test-gw-keys-XXXXXX";
static char log_path[300];

/* Lines of the log file holding needle. */
static int log_count(const char *needle)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(log_path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* Empty the log file. */
static void log_clear(void)
{
	fflush(stderr);
	if (ftruncate(2, 0) != 0)
		tap_diag("cannot truncate the log");
}

/* An envelope on topic under key_id (bytes of a key nobody holds), with
 * origin ("" for none), into m; the caller frees m->payload. */
static int sealed(struct mosquitto_message *m, char *topic, uint32_t key_id, const char *origin)
{
	static const uint8_t key[MQS_ENVELOPE_KEY_LEN] = {7};
	static const char plain[] = "{\"id\":\"x\"}";
	size_t len = mqs_envelope_sealed_len(strlen(origin), strlen(plain));
	uint8_t *env = malloc(len);
	int rc;

	memset(m, 0, sizeof(*m));
	if (env == NULL)
		return MQS_ERR_NOMEM;
	rc = mqs_envelope_seal(key, key_id, NOW, NULL, origin, strlen(origin), topic, strlen(topic),
	                       (const uint8_t *)plain, strlen(plain), env, len, &len);
	m->topic = topic;
	m->payload = env;
	m->payloadlen = (int)len;
	m->qos = 1;
	if (rc != MQS_OK)
		free(env);
	return rc;
}

/* Offer one message; the result of gw_keys_wait, or -1 when it cannot be built. */
static int offer_at(struct gw_keys *k, struct mosquitto *mosq, const char *topic, uint32_t key_id,
                    const char *origin, uint64_t now)
{
	static const char *const subs[] = {"alerts/#", "plain/#"};
	struct mosquitto_message m;
	char t[128];
	int r;

	snprintf(t, sizeof(t), "%s", topic);
	if (sealed(&m, t, key_id, origin) != MQS_OK)
		return -1;
	r = gw_keys_wait(k, mosq, subs, 2, &m, key_id, now);
	free(m.payload);
	return r;
}

/* Offer one message at NOW. */
static int offer(struct gw_keys *k, struct mosquitto *mosq, const char *topic, uint32_t key_id,
                 const char *origin)
{
	return offer_at(k, mosq, topic, key_id, origin, NOW);
}

/* Credentials: device key 1, TOTP, key 50 of the protected alerts/# (and
 * key 60 too when with60). */
static int make_creds(struct mqs_creds *creds, int with60)
{
	static const uint8_t dev[MQS_ENVELOPE_KEY_LEN] = {1};
	static const uint8_t topic_key[MQS_ENVELOPE_KEY_LEN] = {2};
	static const uint8_t key60[MQS_ENVELOPE_KEY_LEN] = {7};

	mqs_creds_init(creds);
	creds->has_totp = 1;
	return mqs_creds_set_username(creds, "gateway") == MQS_OK &&
	       mqs_creds_add_key(creds, 1, MQS_CREDS_USE_DEVICE, NULL, dev) == MQS_OK &&
	       mqs_creds_add_key(creds, 50, MQS_CREDS_USE_TOPIC, "alerts/#", topic_key) == MQS_OK &&
	       (!with60 ||
	        mqs_creds_add_key(creds, 60, MQS_CREDS_USE_TOPIC, "alerts/#", key60) == MQS_OK) &&
	       mqs_creds_add_protected(creds, "alerts/#") == MQS_OK;
}

static void test_waiting_room(void)
{
	struct mosquitto *mosq = mosquitto_new(NULL, true, NULL);
	struct mqs_creds creds;
	struct gw_keys *k = NULL;
	char *topic = NULL;
	uint8_t *payload = NULL;
	size_t len;
	int64_t row = 0;
	int qos, retain, all = 1;

	tap_ok(mosq != NULL && make_creds(&creds, 0),
	       "credentials: device key, TOTP, key 50 of the protected alerts/#");
	k = gw_keys_new(&creds);
	tap_ok(k != NULL, "state created");
	if (k == NULL || mosq == NULL)
		goto out;

	tap_is_int(offer(k, mosq, "alerts/a", 49, "sensor1"), 0,
	           "a key id older than the newest held does not wait");
	tap_is_int(offer(k, mosq, "alerts/a", 50, "sensor1"), 0, "nor the newest held itself");
	tap_is_int((long long)gw_keys_waiting(k), 0, "nothing waits");

	/* one publisher floods bogus newer ids: it gets 64 places */
	for (unsigned i = 0; i < 64; i++)
		all = all && offer(k, mosq, "alerts/a", 1000 + i, "mallory") == 1;
	tap_ok(all, "64 messages of one publisher under newer ids wait");
	tap_is_int(offer(k, mosq, "alerts/b", 2000, "mallory"), 0,
	           "its 65th does not (on another topic too)");
	tap_is_int((long long)gw_keys_waiting(k), 64, "64 wait");
	tap_is_int(offer(k, mosq, "alerts/a", 51, "sensor1"), 1,
	           "another publisher's message under the just-rotated key still waits");

	/* without an origin the topic is the publisher */
	all = 1;
	for (unsigned i = 0; i < 64; i++)
		all = all && offer(k, mosq, "plain/x", 3000 + i, "") == 1;
	tap_ok(all, "64 messages without an origin on one topic wait");
	tap_is_int(offer(k, mosq, "plain/x", 4000, ""), 0, "its 65th does not");
	tap_is_int(offer(k, mosq, "plain/y", 4000, ""), 1, "one on another topic does");

	/* the room as a whole keeps its cap: 1024 */
	all = 1;
	for (unsigned i = 0; gw_keys_waiting(k) < 1024 && i < 2000; i++) {
		char o[32];

		snprintf(o, sizeof(o), "dev%u", i / 64);
		all = all && offer(k, mosq, "alerts/c", 5000 + i, o) == 1;
	}
	tap_ok(all && gw_keys_waiting(k) == 1024, "the room fills up to 1024");
	tap_is_int(offer(k, mosq, "alerts/d", 9000, "late"), 0, "then nothing more waits");

	/* after 30 s all are dropped (origins freed with them) */
	log_clear();
	tap_is_int(gw_keys_next_ready(k, NOW + 30000, &topic, &payload, &len, &qos, &retain, &row),
	           0, "none became ready");
	tap_is_int((long long)gw_keys_waiting(k), 0, "all dropped after 30 s");
	/* 1024 drops at once: one line, the rest counted */
	tap_is_int(log_count("dropped message on"), 1, "one warning for the first drop");
	tap_is_int(log_count("0 more dropped since the last such warning"), 1,
	           "which counts none before it");
	tap_ok(gw_keys_busy(k), "the drops not logged are still owed");
	(void)gw_keys_next_ready(k, NOW + 35000, &topic, &payload, &len, &qos, &retain, &row);
	tap_is_int(log_count("dropped 1023 more"), 0, "not within 10 s");
	(void)gw_keys_next_ready(k, NOW + 40000, &topic, &payload, &len, &qos, &retain, &row);
	tap_is_int(log_count("dropped 1023 more messages whose key the broker did not hand out"), 1,
	           "then one line with the count of the others");
	tap_ok(!gw_keys_busy(k), "nothing owed");
	tap_ok(offer_at(k, mosq, "alerts/e", 9100, "s", NOW + 41000) == 1 &&
	           offer_at(k, mosq, "alerts/f", 9101, "s", NOW + 41000) == 1,
	       "two later ones wait");
	(void)gw_keys_next_ready(k, NOW + 71000, &topic, &payload, &len, &qos, &retain, &row);
	tap_is_int(log_count("dropped message on alerts/e"), 1, "the first drop is logged");
	tap_is_int(log_count("dropped message on alerts/f"), 0, "the second is counted");
	(void)gw_keys_next_ready(k, NOW + 81000, &topic, &payload, &len, &qos, &retain, &row);
	tap_is_int(log_count("dropped 1 more messages"), 1, "and reported 10 s later");
out:
	gw_keys_free(k);
	mqs_creds_release(&creds);
	mosquitto_destroy(mosq);
}

/* On a topic no known protected filter matches, the publisher writes the
 * origin: a made-up origin per message gets no places of its own, and all
 * such topics together have 256 places, so the protected topics keep the
 * rest of the room. */
static void test_unprotected_flood(void)
{
	struct mosquitto *mosq = mosquitto_new(NULL, true, NULL);
	struct mqs_creds creds;
	struct gw_keys *k = NULL;
	int all = 1, n = 0;

	tap_ok(mosq != NULL && make_creds(&creds, 0), "credentials for the flood");
	k = gw_keys_new(&creds);
	if (k == NULL || mosq == NULL)
		goto out;
	for (unsigned i = 0; i < 200; i++) {
		char o[32];

		snprintf(o, sizeof(o), "fake%u", i);
		n += offer(k, mosq, "plain/x", 1000 + i, o) == 1;
	}
	tap_is_int(n, 64, "made-up origins on one unprotected topic: 64 places in all");
	n = 0;
	for (unsigned i = 0; i < 1200; i++) {
		char t[32], o[32];

		snprintf(t, sizeof(t), "plain/%u", i);
		snprintf(o, sizeof(o), "fake%u", i);
		n += offer(k, mosq, t, 2000 + i, o) == 1;
	}
	tap_is_int(n, 256 - 64, "unprotected topics together: 256 places");
	tap_is_int((long long)gw_keys_waiting(k), 256, "256 wait");
	for (unsigned i = 0; i < 1024 - 256; i++) {
		char o[32];

		snprintf(o, sizeof(o), "dev%u", i / 64);
		all = all && offer(k, mosq, "alerts/c", 5000 + i, o) == 1;
	}
	tap_ok(all, "the protected topics' publishers still have the other 768 places");
out:
	gw_keys_free(k);
	mqs_creds_release(&creds);
	mosquitto_destroy(mosq);
}

/* Count rows of key_waits. */
static long long stored(struct gw_store *s)
{
	sqlite3_stmt *st = gw_store_prepare(s, "SELECT count(*) FROM key_waits");
	long long n = -1;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* A gateway stopped while messages wait takes them back at its next start. */
static void test_durable(void)
{
	struct mosquitto *mosq = mosquitto_new(NULL, true, NULL);
	struct mqs_creds creds, creds60;
	struct gw_store s;
	struct gw_keys *k = NULL;
	char path[300], key_path[300], err[256];
	char *topic = NULL;
	uint8_t *payload = NULL;
	size_t len = 0;
	int64_t row = 0;
	int qos = 0, retain = 0, all = 1;

	memset(&s, 0, sizeof(s));
	snprintf(path, sizeof(path), "%s/gw.db", dir);
	snprintf(key_path, sizeof(key_path), "%s/gw.key", dir);
	tap_ok(make_creds(&creds, 0) && make_creds(&creds60, 1), "credentials");
	if (gw_store_open(&s, path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "store opens");
		goto out;
	}
	k = gw_keys_new(&creds);
	tap_is_int(k != NULL ? gw_keys_restore(k, &s, "") : -1, MQS_OK, "an empty store restores");
	tap_is_int(offer(k, mosq, "alerts/a", 60, "sensor1"), 1, "a message under key 60 waits");
	tap_is_int(offer(k, mosq, "alerts/b", 70, "sensor1"), 1, "one under key 70 too");
	for (unsigned i = 0; i < 70; i++)
		all = all && offer(k, mosq, "alerts/c", 100 + i, "mallory") >= 0;
	tap_is_int(stored(&s), 2 + 64, "the waiting ones are stored, within the per-publisher cap");
	gw_keys_free(k); /* the stop: the rows stay */
	tap_is_int(stored(&s), 66, "the stop leaves them stored");

	/* the next start has key 60 (the broker handed it out) */
	log_clear();
	k = gw_keys_new(&creds60);
	tap_is_int(k != NULL ? gw_keys_restore(k, &s, "") : -1, MQS_OK, "the next start restores");
	tap_is_int((long long)gw_keys_waiting(k), 66, "every stored message waits again");
	tap_is_int(log_count("restored 66 messages waiting for their topic keys"), 1, "said");
	tap_is_int(gw_keys_next_ready(k, NOW + 1000, &topic, &payload, &len, &qos, &retain, &row),
	           1, "the one under key 60 is ready");
	tap_ok(topic != NULL && strcmp(topic, "alerts/a") == 0 && qos == 1 && row != 0 && len > 0 &&
	           payload[0] == MQS_ENVELOPE_VERSION,
	       "with its topic, its qos and its payload still sealed");
	gw_keys_done(k, row);
	tap_is_int(stored(&s), 65, "handled, its row is gone");
	free(topic);
	free(payload);
	tap_is_int(gw_keys_next_ready(k, NOW + 29999, &topic, &payload, &len, &qos, &retain, &row),
	           0, "the others still wait");
	gw_keys_free(k);

	/* another broker's rows are not this one's */
	k = gw_keys_new(&creds60);
	tap_is_int(k != NULL ? gw_keys_restore(k, &s, "other") : -1, MQS_OK, "[broker other]");
	tap_is_int((long long)gw_keys_waiting(k), 0, "takes nothing of the [mqtt] section");
	gw_keys_free(k);

	/* the 30 s run from the arrival, across the restart */
	k = gw_keys_new(&creds60);
	tap_is_int(k != NULL ? gw_keys_restore(k, &s, "") : -1, MQS_OK, "a third start");
	tap_is_int(gw_keys_next_ready(k, NOW + 30000, &topic, &payload, &len, &qos, &retain, &row),
	           0, "30 s after their arrival");
	tap_is_int((long long)gw_keys_waiting(k), 0, "they are dropped");
	tap_is_int(stored(&s), 0, "and their rows deleted");
out:
	gw_keys_free(k);
	gw_store_close(&s);
	mqs_creds_release(&creds);
	mqs_creds_release(&creds60);
	mosquitto_destroy(mosq);
}

int main(void)
{
	char cmd[400];
	int fd;

	if (mkdtemp(dir) == NULL)
		return 1;
	/* the log (stderr) goes to a file the tests read; TAP is on stdout */
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (fd < 0 || dup2(fd, 2) < 0)
		return 1;
	close(fd);
	gw_log_set_level(GW_LOG_INFO);
	mosquitto_lib_init();
	test_waiting_room();
	test_unprotected_flood();
	test_durable();
	mosquitto_lib_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_exit();
}
