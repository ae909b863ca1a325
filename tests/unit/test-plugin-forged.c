/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-forged.c - recognising envelopes only the broker may seal
 * (broker-plugin/forged.c): topic keys in any state, origins under device
 * keys, and everything else passing (random bytes, envelope-like headers
 * whose tag does not verify, envelopes sealed for another topic). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "forged.h"
#include "keys.h"
#include "mqs_db.h"
#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_util.h"
#include "tap.h"

/* A set-up step whose result is not what the test is about: only a
 * failure shows (as a failed test). */
#define SETUP(call, want)                                                                          \
	do {                                                                                       \
		if ((call) != (want))                                                              \
			tap_ok(0, "set-up: %s", #call);                                            \
	} while (0)

static uint8_t mk[MQS_MASTER_KEY_LEN];

static void exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		tap_diag("sql failed: %s", sql);
}

/* Create a key of purpose for owner; its bytes go to key. */
static uint32_t new_key(sqlite3 *db, const char *purpose, const char *owner, uint8_t *key)
{
	struct mqs_key k;
	uint32_t id = 0;

	mqs_key_init(&k);
	if (mqs_keystore_create(db, mk, purpose, owner, &k) == MQS_OK) {
		id = k.id;
		memcpy(key, k.key, MQS_ENVELOPE_KEY_LEN);
	}
	mqs_key_release(&k);
	return id;
}

/* Seal text for topic; returns the length in out. */
static size_t seal(const uint8_t *key, uint32_t id, const char *topic, const char *origin,
                   uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (mqs_envelope_seal(key, id, mqs_now_ms(), NULL, origin, strlen(origin), topic,
	                      strlen(topic), (const uint8_t *)"hello", 5, out, cap, &n) != MQS_OK)
		tap_diag("seal failed");
	return n;
}

int main(void)
{
	char path[] = "/tmp/test-plugin-forged.XXXXXX";
	char dbpath[64], err[256] = "";
	uint8_t kact[32], kold[32], kgone[32], kdev[32], kdis[32], env[512];
	uint32_t act, old, gone, dev, dis;
	int64_t now = (int64_t)time(NULL);
	struct mqsp_keys *k = NULL;
	struct mqsp_forged *f = mqsp_forged_new();
	sqlite3 *db = NULL;
	size_t n;
	int rc;

	RAND_bytes(mk, sizeof(mk));
	if (mkdtemp(path) == NULL || f == NULL)
		return 1;
	snprintf(dbpath, sizeof(dbpath), "%s/db", path);
	rc = mqs_db_open(dbpath, MQS_DB_CREATE, mqs_broker_schema, mqs_broker_schema_count, &db,
	                 err, sizeof(err));
	tap_is_int(rc, MQS_OK, "database created %s", err);
	if (rc != MQS_OK)
		return tap_exit();
	exec(db, "BEGIN");
	exec(db, "INSERT INTO protected_topics(filter, created_at) VALUES ('sec/#', 0)");
	old = new_key(db, MQS_KEY_TOPIC, "sec/#", kold);
	act = new_key(db, MQS_KEY_TOPIC, "sec/#", kact);
	SETUP(mqs_keystore_retire(db, old, now - 100), MQS_OK); /* dead: grace over, not purged */
	gone = new_key(db, MQS_KEY_TOPIC, "gone/#", kgone);     /* its filter unprotected */
	SETUP(mqs_keystore_retire(db, gone, now + 3600), MQS_OK);
	exec(db, "INSERT INTO devices(name, enabled, totp_wrapped, created_at) VALUES "
	         "('dev', 1, x'00', 0), ('dis', 0, x'00', 0)");
	dev = new_key(db, MQS_KEY_DEVICE, "dev", kdev);
	dis = new_key(db, MQS_KEY_DEVICE, "dis", kdis);
	exec(db, "COMMIT");
	exec(db, "BEGIN");
	rc = mqsp_keys_load(db, mk, now, &k);
	exec(db, "COMMIT");
	tap_is_int(rc, MQS_OK, "keys loaded");
	if (rc != MQS_OK)
		return tap_exit();

	/* forged */
	n = seal(kact, act, "plain/x", "bob", env, sizeof(env));
	tap_is_int(mqsp_forged_check(f, k, "plain/x", env, (uint32_t)n, now), MQSP_FORGED_TOPIC_KEY,
	           "active topic key with an origin, on a plain topic");
	n = seal(kact, act, "sec/a", "bob", env, sizeof(env));
	tap_is_int(mqsp_forged_check(f, k, "sec/a", env, (uint32_t)n, now), MQSP_FORGED_TOPIC_KEY,
	           "... on its own topic");
	n = seal(kact, act, "plain/x", "", env, sizeof(env));
	tap_is_int(mqsp_forged_check(f, k, "plain/x", env, (uint32_t)n, now), MQSP_FORGED_TOPIC_KEY,
	           "a topic key without origin is forged too");
	n = seal(kold, old, "plain/x", "bob", env, sizeof(env));
	tap_is_int(mqsp_forged_check(f, k, "plain/x", env, (uint32_t)n, now), MQSP_FORGED_TOPIC_KEY,
	           "a dead topic key (grace over, not purged)");
	n = seal(kgone, gone, "gone/x", "bob", env, sizeof(env));
	tap_is_int(mqsp_forged_check(f, k, "gone/x", env, (uint32_t)n, now), MQSP_FORGED_TOPIC_KEY,
	           "the key of an unprotected filter, in grace");
	n = seal(kdev, dev, "plain/x", "bob", env, sizeof(env));
	tap_is_int(mqsp_forged_check(f, k, "plain/x", env, (uint32_t)n, now), MQSP_FORGED_ORIGIN,
	           "an origin under a device key");

	/* not forged */
	n = seal(kdev, dev, "plain/x", "", env, sizeof(env));
	tap_is_int(mqsp_forged_check(f, k, "plain/x", env, (uint32_t)n, now), MQSP_FORGED_NO,
	           "a device's own envelope without origin passes");
	n = seal(kdis, dis, "plain/x", "bob", env, sizeof(env));
	tap_is_int(mqsp_forged_check(f, k, "plain/x", env, (uint32_t)n, now), MQSP_FORGED_NO,
	           "an origin under a key the broker does not know (disabled device) passes");
	n = seal(kact, act, "plain/x", "bob", env, sizeof(env));
	tap_is_int(mqsp_forged_check(f, k, "plain/y", env, (uint32_t)n, now), MQSP_FORGED_NO,
	           "sealed for another topic: no subscriber accepts it there, it passes");
	env[n - 1] ^= 1;
	tap_is_int(mqsp_forged_check(f, k, "plain/x", env, (uint32_t)n, now), MQSP_FORGED_NO,
	           "a known key id with a tag that does not verify passes");
	RAND_bytes(env, sizeof(env));
	env[0] = 1;
	env[1] = 3;
	env[2] = (uint8_t)(act >> 24);
	env[3] = (uint8_t)(act >> 16);
	env[4] = (uint8_t)(act >> 8);
	env[5] = (uint8_t)act;
	tap_is_int(mqsp_forged_check(f, k, "plain/x", env, 200, now), MQSP_FORGED_NO,
	           "random bytes behind a header with a known key id pass");
	env[0] = 2;
	tap_is_int(mqsp_forged_check(f, k, "plain/x", env, 200, now), MQSP_FORGED_NO,
	           "random bytes pass");
	tap_is_int(mqsp_forged_check(f, k, "plain/x", env, 10, now), MQSP_FORGED_NO,
	           "a short payload passes");
	tap_is_int(mqsp_forged_check(f, NULL, "plain/x", env, 200, now), MQSP_FORGED_NO,
	           "no keys: nothing is forged");
	tap_is_int(mqsp_forged_check(f, k, "plain/x", NULL, 0, now), MQSP_FORGED_NO,
	           "an empty payload passes");

	mqsp_keys_free(k);
	mqsp_forged_free(f);
	sqlite3_close(db);
	unlink(dbpath);
	rmdir(path);
	tap_done();
	return tap_exit();
}
