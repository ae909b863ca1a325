/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-keys.c - what the plugin loads for protected topics
 * (broker-plugin/keys.c): the most specific filter and its newest active
 * key, device keys of enabled devices only, grace of retired keys, bans,
 * and the same result when loaded in tiny time slices. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "keys.h"
#include "mqs_db.h"
#include "mqs_error.h"
#include "mqs_keystore.h"
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
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		tap_diag("sql failed: %s: %s", sql, err != NULL ? err : "?");
		sqlite3_free(err);
	}
}

/* Add a device row (enabled 0/1) and its device key; returns the key id. */
static uint32_t add_device(sqlite3 *db, const char *name, int enabled)
{
	struct mqs_key k;
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "INSERT INTO devices(name, enabled, totp_wrapped, created_at) "
	         "VALUES ('%s', %d, x'00', 0)",
	         name, enabled);
	exec(db, sql);
	mqs_key_init(&k);
	if (mqs_keystore_create(db, mk, MQS_KEY_DEVICE, name, &k) != MQS_OK)
		return 0;
	mqs_key_release(&k);
	return (uint32_t)sqlite3_last_insert_rowid(db);
}

/* Protect filter with a first key; returns its key id. */
static uint32_t protect(sqlite3 *db, const char *filter)
{
	struct mqs_key k;
	char sql[256];
	uint32_t id;

	snprintf(sql, sizeof(sql),
	         "INSERT INTO protected_topics(filter, created_at) VALUES ('%s', 0)", filter);
	exec(db, sql);
	mqs_key_init(&k);
	if (mqs_keystore_create(db, mk, MQS_KEY_TOPIC, filter, &k) != MQS_OK)
		return 0;
	id = k.id;
	mqs_key_release(&k);
	return id;
}

/* Every topic key is known by id, whatever its state or filter. */
static void check_topic_keys(const struct mqsp_keys *k, const char *how, uint32_t first,
                             uint32_t unprotected, uint32_t device)
{
	tap_is_int(k != NULL ? (long long)k->ntkeys : -1, 7, "%s: all seven topic keys", how);
	tap_ok(mqsp_keys_topic(k, first) != NULL, "%s: a retired topic key is known", how);
	tap_ok(mqsp_keys_topic(k, unprotected) != NULL,
	       "%s: the key of an unprotected filter is known", how);
	tap_ok(mqsp_keys_topic(k, device) == NULL, "%s: a device key is not a topic key", how);
	tap_ok(mqsp_keys_topic(NULL, first) == NULL, "%s: NULL keys know nothing", how);
}

static const char *match(const struct mqsp_keys *k, const char *topic)
{
	const struct mqsp_protected *p = mqsp_keys_match(k, topic);

	return p != NULL ? p->filter : "(none)";
}

static void check(const struct mqsp_keys *k, const char *how, uint32_t rotated_new, uint32_t d1,
                  uint32_t d2, uint32_t d3, uint32_t d4, int64_t now)
{
	const struct mqsp_protected *p = mqsp_keys_match(k, "plant/7/temp");

	tap_ok(k != NULL && k->nprotected == 5, "%s: five protected filters", how);
	if (k == NULL)
		return;
	tap_ok(strcmp(match(k, "plant/7/temp"), "plant/7/temp") == 0 &&
	           strcmp(match(k, "plant/8/temp"), "plant/+/temp") == 0 &&
	           strcmp(match(k, "plant/8/hum"), "plant/#") == 0 &&
	           strcmp(match(k, "plant"), "plant/#") == 0 &&
	           strcmp(match(k, "yard/1/a"), "+/+/a") == 0 &&
	           strcmp(match(k, "other"), "#") == 0,
	       "%s: the most specific filter matches (levels, wildcards, strcmp)", how);
	tap_is_int(strcmp(match(k, "$SYS/x"), "(none)") == 0, 1,
	           "%s: a leading wildcard does not match a $ topic", how);
	tap_ok(p != NULL && p->key_id == rotated_new,
	       "%s: after a rotation the newest active key seals", how);
	tap_ok(mqsp_keys_device(k, d1, now) != NULL &&
	           strcmp(mqsp_keys_device(k, d1, now)->device, "dev1") == 0,
	       "%s: an enabled device's key is found by id", how);
	tap_ok(mqsp_keys_device(k, d2, now) == NULL, "%s: a disabled device's key is not loaded",
	       how);
	tap_ok(mqsp_keys_device(k, d3, now) != NULL && mqsp_keys_device(k, d3, now + 100) == NULL,
	       "%s: a retired device key opens until its grace ends", how);
	tap_ok(mqsp_keys_device(k, d4, now) == NULL, "%s: a dead device key is not loaded", how);
	tap_ok(mqsp_keys_device(k, rotated_new, now) == NULL, "%s: a topic key id is no device key",
	       how);
	tap_is_int((long)mqsp_keys_bans_active(k, now), 2, "%s: two automatic bans in force", how);
	tap_is_int((long)mqsp_keys_bans_active(k, now + 1000), 1, "%s: one never expires", how);
}

int main(void)
{
	char path[] = "/tmp/test-plugin-keys.XXXXXX";
	char dbpath[64], sql[1024], err[256] = "";
	int64_t now = (int64_t)time(NULL);
	struct mqsp_keys *k = NULL;
	struct mqsp_keys_load *l = NULL;
	sqlite3 *db = NULL;
	uint32_t first, rotated, unprotected, d1, d2, d3, d4;
	int rc, slices = 0;

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
	first = protect(db, "plant/7/temp");
	protect(db, "plant/+/temp");
	protect(db, "plant/#");
	protect(db, "+/+/a");
	protect(db, "#");
	rotated = unprotected = protect(db, "unused/x");
	exec(db, "DELETE FROM protected_topics WHERE filter = 'unused/x'");
	/* rotation of plant/7/temp: a new active key, the old one retired */
	{
		struct mqs_key nk;

		mqs_key_init(&nk);
		SETUP(mqs_keystore_create(db, mk, MQS_KEY_TOPIC, "plant/7/temp", &nk), MQS_OK);
		rotated = nk.id;
		mqs_key_release(&nk);
		SETUP(mqs_keystore_retire(db, first, now + 3600), MQS_OK);
	}
	d1 = add_device(db, "dev1", 1);
	d2 = add_device(db, "dev2", 0);
	d3 = add_device(db, "dev3", 1);
	d4 = add_device(db, "dev4", 1);
	SETUP(mqs_keystore_retire(db, d3, now + 50), MQS_OK);
	SETUP(mqs_keystore_retire(db, d4, now - 1), MQS_OK);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO list_entries(kind, match, pattern, expires_at, reason, created_at, "
	         "created_by) VALUES ('deny', 'username', 'a', %lld, 'auth-failures', 0, "
	         "'mqttsec-plugin'), ('deny', 'username', 'b', 0, 'auth-failures', 0, "
	         "'mqttsec-plugin'), ('deny', 'username', 'c', %lld, 'auth-failures', 0, "
	         "'mqttsec-plugin'), ('deny', 'username', 'd', 0, 'manual', 0, 'root')",
	         (long long)now + 300, (long long)now - 5);
	exec(db, sql);
	exec(db, "COMMIT");

	exec(db, "BEGIN");
	rc = mqsp_keys_load(db, mk, now, &k);
	exec(db, "COMMIT");
	tap_is_int(rc, MQS_OK, "loaded in one go");
	check(k, "one go", rotated, d1, d2, d3, d4, now);
	check_topic_keys(k, "one go", first, unprotected, d1);
	tap_ok(k != NULL && k->bad_keys == 0, "no row skipped");
	mqsp_keys_free(k);
	k = NULL;

	exec(db, "BEGIN");
	rc = mqsp_keys_load_start(db, mk, now, &l);
	while (rc == MQS_OK || rc == MQSP_KEYS_AGAIN) {
		slices++;
		rc = mqsp_keys_load_step(l, 0, &k); /* deadline passed: a few rows a slice */
		if (rc == MQS_OK)
			break;
	}
	exec(db, "COMMIT");
	tap_is_int(rc, MQS_OK, "loaded in slices");
	tap_ok(slices > 1, "... in %d slices", slices);
	check(k, "slices", rotated, d1, d2, d3, d4, now);
	check_topic_keys(k, "slices", first, unprotected, d1);
	mqsp_keys_load_free(l);
	mqsp_keys_free(k);

	/* a protected filter without an active key */
	exec(db, "INSERT INTO protected_topics(filter, created_at) VALUES ('bare/#', 0)");
	exec(db, "BEGIN");
	rc = mqsp_keys_load(db, mk, now, &k);
	exec(db, "COMMIT");
	tap_ok(rc == MQS_OK && mqsp_keys_match(k, "bare/1") != NULL &&
	           mqsp_keys_match(k, "bare/1")->key_id == 0,
	       "a filter without an active key is loaded with key id 0");
	mqsp_keys_free(k);
	tap_ok(mqsp_keys_match(NULL, "x") == NULL && mqsp_keys_device(NULL, 1, now) == NULL &&
	           mqsp_keys_bans_active(NULL, now) == 0,
	       "NULL keys: nothing protected");
	mqsp_keys_free(NULL);

	sqlite3_close_v2(db);
	snprintf(sql, sizeof(sql), "rm -rf '%s'", path);
	if (system(sql) != 0)
		tap_diag("could not remove %s", path);
	tap_done();
	return tap_exit();
}
