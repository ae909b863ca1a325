/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-keys.c - the waiting room of messages under an unknown key id
 * (docs/payload-encryption.md, "Online keys"): only key ids newer than the
 * newest held wait, and one publisher gets at most 64 places. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "gw_keys.h"
#include "mqs_envelope.h"
#include "mqs_util.h"
#include "tap.h"

#define NOW 1000000u

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
static int offer(struct gw_keys *k, struct mosquitto *mosq, const char *topic, uint32_t key_id,
                 const char *origin)
{
	static const char *const subs[] = {"alerts/#", "plain/#"};
	struct mosquitto_message m;
	char t[128];
	int r;

	snprintf(t, sizeof(t), "%s", topic);
	if (sealed(&m, t, key_id, origin) != MQS_OK)
		return -1;
	r = gw_keys_wait(k, mosq, subs, 2, &m, key_id, NOW);
	free(m.payload);
	return r;
}

static void test_waiting_room(void)
{
	static const uint8_t dev[MQS_ENVELOPE_KEY_LEN] = {1};
	static const uint8_t topic_key[MQS_ENVELOPE_KEY_LEN] = {2};
	struct mosquitto *mosq = mosquitto_new(NULL, true, NULL);
	struct mqs_creds creds;
	struct gw_keys *k = NULL;
	char *topic = NULL;
	uint8_t *payload = NULL;
	size_t len;
	int qos, retain, all = 1;

	mqs_creds_init(&creds);
	tap_ok(mosq != NULL && mqs_creds_set_username(&creds, "gateway") == MQS_OK &&
	           mqs_creds_add_key(&creds, 1, MQS_CREDS_USE_DEVICE, NULL, dev) == MQS_OK &&
	           mqs_creds_add_key(&creds, 50, MQS_CREDS_USE_TOPIC, "alerts/#", topic_key) ==
	               MQS_OK &&
	           mqs_creds_add_protected(&creds, "alerts/#") == MQS_OK,
	       "credentials: device key, TOTP, key 50 of the protected alerts/#");
	creds.has_totp = 1;
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
	tap_is_int(gw_keys_next_ready(k, NOW + 30000, &topic, &payload, &len, &qos, &retain), 0,
	           "none became ready");
	tap_is_int((long long)gw_keys_waiting(k), 0, "all dropped after 30 s");
out:
	gw_keys_free(k);
	mqs_creds_release(&creds);
	mosquitto_destroy(mosq);
}

int main(void)
{
	mosquitto_lib_init();
	test_waiting_room();
	mosquitto_lib_cleanup();
	return tap_exit();
}
