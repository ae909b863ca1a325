/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-downlink.c - per-device downlink keys (broker-plugin/downlink.c
 * over keys.c): the device named by the topic level, its newest active key,
 * HKDF(device key, "mqttsec-downlink-v1" | topic), and no key for a
 * missing, empty, unknown or disabled device. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "downlink.h"
#include "keys.h"
#include "mqs_db.h"
#include "mqs_error.h"
#include "mqs_kdf.h"
#include "mqs_keystore.h"
#include "tap.h"

static uint8_t mk[MQS_MASTER_KEY_LEN];
static struct mqsp_downlink *cache; /* NULL on the first pass */

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		tap_diag("sql failed: %s: %s", sql, err != NULL ? err : "?");
		sqlite3_free(err);
	}
}

/* Add a device row (enabled 0/1) and a device key into *key; returns its id. */
static uint32_t add_device(sqlite3 *db, const char *name, int enabled, uint8_t key[32])
{
	struct mqs_key k;
	char sql[256];
	uint32_t id = 0;

	snprintf(sql, sizeof(sql),
	         "INSERT OR IGNORE INTO devices(name, enabled, totp_wrapped, created_at) "
	         "VALUES ('%s', %d, x'00', 0)",
	         name, enabled);
	exec(db, sql);
	mqs_key_init(&k);
	if (mqs_keystore_create(db, mk, MQS_KEY_DEVICE, name, &k) == MQS_OK) {
		id = k.id;
		memcpy(key, k.key, 32);
	}
	mqs_key_release(&k);
	return id;
}

/* The downlink key of topic must be HKDF(key, topic) with id. */
static void expect_key(const struct mqsp_keys *k, const char *topic, const uint8_t key[32],
                       uint32_t id, const char *what)
{
	const struct mqsp_protected *pt = mqsp_keys_match(k, topic);
	uint8_t got[MQS_KDF_KEY_LEN], want[MQS_KDF_KEY_LEN];
	uint32_t got_id = 0;
	enum mqsp_drop why;

	if (mqs_kdf_downlink(key, topic, strlen(topic), want) != MQS_OK)
		tap_ok(0, "set-up: derive the expected key");
	why = mqsp_downlink_key(cache, k, pt, topic, got, &got_id);
	tap_ok(why == MQSP_DROP__COUNT && got_id == id && memcmp(got, want, sizeof(got)) == 0,
	       "%s: %s sealed with HKDF(device key %lu, topic)", what, topic, (unsigned long)id);
}

/* No downlink key for topic. */
static void expect_none(const struct mqsp_keys *k, const char *topic, const char *what)
{
	const struct mqsp_protected *pt = mqsp_keys_match(k, topic);
	uint8_t got[MQS_KDF_KEY_LEN], zero[MQS_KDF_KEY_LEN] = {0};
	uint32_t got_id = 7;
	enum mqsp_drop why;

	memset(got, 0xaa, sizeof(got));
	why = mqsp_downlink_key(cache, k, pt, topic, got, &got_id);
	tap_ok(why == MQSP_DROP_NO_DEVICE && got_id == 0 && memcmp(got, zero, sizeof(got)) == 0,
	       "%s: %s has no downlink key (no-device, output wiped)", what, topic);
}

int main(void)
{
	char path[] = "/tmp/test-plugin-downlink.XXXXXX";
	char dbpath[64], err[256] = "";
	uint8_t k1[32], k1b[32], k2[32], k3[32], kdev[32];
	uint32_t d1, d1b, d2, d3, ddev;
	int64_t now = (int64_t)time(NULL);
	struct mqsp_keys *k = NULL;
	const struct mqsp_protected *pt;
	sqlite3 *db = NULL;
	int rc;

	RAND_bytes(mk, sizeof(mk));
	if (mkdtemp(path) == NULL)
		return 1;
	snprintf(dbpath, sizeof(dbpath), "%s/db", path);
	rc = mqs_db_open(dbpath, MQS_DB_CREATE, mqs_broker_schema, mqs_broker_schema_count, &db,
	                 err, sizeof(err));
	tap_is_int(rc, MQS_OK, "database created %s", err);
	if (rc != MQS_OK)
		return tap_exit();
	exec(db, "BEGIN");
	exec(db, "INSERT INTO protected_topics(filter, created_at, per_device) "
	         "VALUES ('cmd/+/set', 0, 2), ('down/#', 0, 3), ('shared/#', 0, 0)");
	{
		struct mqs_key tk;

		mqs_key_init(&tk);
		if (mqs_keystore_create(db, mk, MQS_KEY_TOPIC, "shared/#", &tk) != MQS_OK)
			tap_ok(0, "set-up: topic key of shared/#");
		mqs_key_release(&tk);
	}
	d1 = add_device(db, "dev1", 1, k1);
	d2 = add_device(db, "dev2", 0, k2); /* disabled */
	d3 = add_device(db, "dev3", 1, k3);
	ddev = add_device(db, "dev", 1, kdev); /* a prefix of the others' names */
	/* dev1 rekeyed: a newer active key, the first one retired in its grace */
	d1b = add_device(db, "dev1", 1, k1b);
	if (mqs_keystore_retire(db, d1, now + 3600) != MQS_OK)
		tap_ok(0, "set-up: retire dev1's first key");
	/* dev3: its only key retired (in grace): no active key */
	if (mqs_keystore_retire(db, d3, now + 3600) != MQS_OK)
		tap_ok(0, "set-up: retire dev3's key");
	exec(db, "COMMIT");
	exec(db, "BEGIN");
	rc = mqsp_keys_load(db, mk, now, &k);
	exec(db, "COMMIT");
	tap_is_int(rc, MQS_OK, "keys loaded");
	if (rc != MQS_OK)
		return tap_exit();

	pt = mqsp_keys_match(k, "cmd/dev1/set");
	tap_ok(pt != NULL && pt->per_device == 2 && pt->key_id == 0,
	       "cmd/+/set: device level 2, no shared topic key");
	pt = mqsp_keys_match(k, "shared/x");
	tap_ok(pt != NULL && pt->per_device == 0 && pt->key_id != 0,
	       "shared/#: a shared topic key, no device level");

	/* pass 0 without a cache, pass 1 fills a cache, pass 2 reads it */
	for (int pass = 0; pass < 3; pass++) {
		char long_topic[300];

		if (pass == 1)
			cache = mqsp_downlink_new();
		tap_diag("pass %d: %s", pass,
		         pass == 0   ? "no cache"
		         : pass == 1 ? "cache filled"
		                     : "cache read");
		expect_key(k, "cmd/dev1/set", k1b, d1b, "a rekeyed device: its newest active key");
		expect_key(k, "cmd/dev/set", kdev, ddev, "a name that is a prefix of others");
		expect_key(k, "down/x/dev1", k1b, d1b, "level 3 under '#'");
		expect_key(k, "down/x/dev/more/levels", kdev, ddev,
		           "level 3 followed by more levels");
		{
			uint8_t a[32], b[32];
			uint32_t ia = 0, ib = 0;

			tap_ok(mqsp_downlink_key(cache, k, mqsp_keys_match(k, "down/a/dev1"),
			                         "down/a/dev1", a, &ia) == MQSP_DROP__COUNT &&
			           mqsp_downlink_key(cache, k, mqsp_keys_match(k, "down/b/dev1"),
			                             "down/b/dev1", b, &ib) == MQSP_DROP__COUNT &&
			           ia == ib && memcmp(a, b, sizeof(a)) != 0 &&
			           memcmp(a, k1b, sizeof(a)) != 0,
			       "one key per topic, never the raw device key");
		}
		expect_none(k, "cmd/dev2/set", "a disabled device");
		expect_none(k, "cmd/dev3/set", "a device whose only key is retired");
		expect_none(k, "cmd/nobody/set", "an unknown device");
		expect_none(k, "cmd//set", "an empty level");
		expect_none(k, "down/x", "a topic without the level");
		expect_none(k, "down/x/", "an empty last level");
		expect_none(k, "shared/dev1", "a filter without a device level");
		snprintf(long_topic, sizeof(long_topic), "down/x/dev1/%0200d", 7);
		expect_key(k, long_topic, k1b, d1b, "a topic longer than the cache keeps");
	}
	/* a restored backup hands out a device key id again, for another
	 * key: the cache must not answer with the key derived from the old
	 * one (whose holder could read the new device's commands) */
	{
		struct mqsp_keys *kr = NULL;
		uint8_t k1c[32];
		uint32_t d1c;
		char sql[160];

		expect_key(k, "cmd/dev1/set", k1b, d1b, "before the restore: cached");
		exec(db, "BEGIN");
		snprintf(sql, sizeof(sql), "DELETE FROM keys WHERE id = %lu", (unsigned long)d1b);
		exec(db, sql);
		snprintf(sql, sizeof(sql),
		         "UPDATE sqlite_sequence SET seq = %lu WHERE name = 'keys'",
		         (unsigned long)d1b - 1);
		exec(db, sql);
		d1c = add_device(db, "dev1", 1, k1c);
		exec(db, "COMMIT");
		tap_ok(d1c == d1b, "set-up: the new key of dev1 has the id %lu again",
		       (unsigned long)d1b);
		exec(db, "BEGIN");
		rc = mqsp_keys_load(db, mk, now, &kr);
		exec(db, "COMMIT");
		tap_is_int(rc, MQS_OK, "keys loaded after the restore");
		if (rc == MQS_OK)
			expect_key(kr, "cmd/dev1/set", k1c, d1c,
			           "a reused key id: derived from the new key, not the cached one");
		mqsp_keys_free(kr);
	}
	mqsp_downlink_free(cache);
	mqsp_downlink_free(NULL);
	tap_ok(mqsp_keys_device_named(k, "dev1", 4) != NULL &&
	           mqsp_keys_device_named(k, "dev1", 4)->id == d1b &&
	           mqsp_keys_device_named(k, "dev1x", 4) != NULL &&
	           mqsp_keys_device_named(k, "dev1x", 5) == NULL &&
	           mqsp_keys_device_named(k, "", 0) == NULL &&
	           mqsp_keys_device_named(NULL, "dev1", 4) == NULL,
	       "device keys by name: the length counts, not a terminator");
	tap_ok(mqsp_keys_device(k, d1, now) != NULL, "dev1's old key still opens uplinks in grace");
	(void)d2;

	mqsp_keys_free(k);
	sqlite3_close_v2(db);
	remove(dbpath);
	if (rmdir(path) != 0)
		tap_diag("could not remove %s", path);
	tap_done();
	return tap_exit();
}
