/* SPDX-License-Identifier: BSD-3-Clause */
/* test-keystore.c - wrapped AES keys in the broker database
 * (mqs_keystore.h), in a temporary SQLite file with the broker schema. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqs_db.h"
#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_master_key.h"

#include "tap.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/mqs-test-ks-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
}

static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != 0)
			return 0;
	}
	return 1;
}

/* Return 1 when a released struct mqs_key holds nothing. */
static int is_released(const struct mqs_key *k)
{
	return k->owner == NULL && all_zero(k->key, sizeof(k->key));
}

/* Copy the raw wrapped column of key id into buf; return its length or -1. */
static long raw_wrapped(sqlite3 *db, uint32_t id, uint8_t *buf, size_t cap)
{
	sqlite3_stmt *st = NULL;
	long n = -1;

	if (sqlite3_prepare_v2(db, "SELECT wrapped FROM keys WHERE id = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	n = sqlite3_column_bytes(st, 0);
	if ((size_t)n > cap) {
		n = -1;
		goto out;
	}
	memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
out:
	sqlite3_finalize(st);
	return n;
}

static int contains(const uint8_t *buf, size_t len, const uint8_t *needle, size_t nlen)
{
	for (size_t i = 0; i + nlen <= len; i++) {
		if (memcmp(buf + i, needle, nlen) == 0)
			return 1;
	}
	return 0;
}

int main(void)
{
	char path[512], err[256], aad[64];
	sqlite3 *db = NULL;
	uint8_t mk[MQS_MASTER_KEY_LEN], wrong[MQS_MASTER_KEY_LEN];
	uint8_t raw[512], unwrapped[64];
	struct mqs_key k1, k2, k3, got;
	size_t ul = 0;
	long n;
	int rc, leak;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/broker.db", tmpdir);
	rc = mqs_db_open(path, MQS_DB_CREATE, mqs_broker_schema, mqs_broker_schema_count, &db, err,
	                 sizeof(err));
	if (rc != MQS_OK) {
		printf("Bail out! cannot open db %s: %s\n", path, err);
		return 1;
	}
	for (int i = 0; i < MQS_MASTER_KEY_LEN; i++)
		mk[i] = (uint8_t)(0x40 + i);
	memcpy(wrong, mk, sizeof(wrong));
	wrong[5] ^= 0x20;
	mqs_key_init(&k1);
	mqs_key_init(&k2);
	mqs_key_init(&k3);
	mqs_key_init(&got);

	/* create / get / active */
	rc = mqs_keystore_create(db, mk, MQS_KEY_TOPIC, "alerts/#", &k1);
	tap_is_int(rc, MQS_OK, "create a topic key");
	tap_ok(k1.id >= 1 && strcmp(k1.purpose, "topic") == 0 && k1.owner != NULL &&
	           strcmp(k1.owner, "alerts/#") == 0 && k1.active == 1 && k1.retire_after == 0,
	       "created key fields (id %u)", k1.id);
	tap_ok(k1.created_at > 1600000000 && k1.created_at <= (int64_t)time(NULL) + 1,
	       "created_at is a Unix time in seconds");
	tap_ok(!all_zero(k1.key, sizeof(k1.key)), "key bytes are not zero");

	rc = mqs_keystore_get(db, mk, k1.id, &got);
	tap_is_int(rc, MQS_OK, "get it by id");
	tap_ok(got.id == k1.id && memcmp(got.key, k1.key, sizeof(got.key)) == 0 &&
	           strcmp(got.purpose, "topic") == 0 && got.owner != NULL &&
	           strcmp(got.owner, "alerts/#") == 0 && got.active == 1 &&
	           got.created_at == k1.created_at,
	       "get round trip");
	mqs_key_release(&got);
	tap_ok(is_released(&got), "mqs_key_release wipes the key and frees owner");

	rc = mqs_keystore_active(db, mk, MQS_KEY_TOPIC, "alerts/#", &got);
	tap_ok(rc == MQS_OK && got.id == k1.id && memcmp(got.key, k1.key, 32) == 0,
	       "active returns it");
	mqs_key_release(&got);

	/* raw column */
	n = raw_wrapped(db, k1.id, raw, sizeof(raw));
	tap_ok(n > 0, "wrapped column is present (%ld bytes)", n);
	leak = 0;
	for (size_t i = 0; n > 0 && i + 4 <= sizeof(k1.key); i++)
		leak |= contains(raw, (size_t)n, k1.key + i, 4);
	tap_ok(n > 0 && !leak, "wrapped column holds no 4-byte run of the key");
	snprintf(aad, sizeof(aad), "mqttsec-key:%u:%s", k1.id, "topic");
	rc = mqs_wrap_open(mk, aad, raw, (size_t)n, unwrapped, sizeof(unwrapped), &ul);
	tap_ok(rc == MQS_OK && ul == 32 && memcmp(unwrapped, k1.key, 32) == 0,
	       "wrapped column opens with mqs_wrap_open and aad \"%s\"", aad);

	/* wrong master key */
	memset(&got, 0x5a, sizeof(got));
	mqs_key_init(&got);
	rc = mqs_keystore_get(db, wrong, k1.id, &got);
	tap_is_int(rc, MQS_ERR_UNWRAP, "get with a wrong master key is MQS_ERR_UNWRAP");
	tap_ok(is_released(&got), "out is released after MQS_ERR_UNWRAP");
	rc = mqs_keystore_active(db, wrong, MQS_KEY_TOPIC, "alerts/#", &got);
	tap_ok(rc == MQS_ERR_UNWRAP && is_released(&got),
	       "active with a wrong master key is MQS_ERR_UNWRAP");

	/* a second key for the same owner, one for a device */
	rc = mqs_keystore_create(db, mk, MQS_KEY_TOPIC, "alerts/#", &k2);
	tap_ok(rc == MQS_OK && k2.id != k1.id && memcmp(k2.key, k1.key, 32) != 0,
	       "a second topic key has its own id and bytes");
	rc = mqs_keystore_active(db, mk, MQS_KEY_TOPIC, "alerts/#", &got);
	tap_ok(rc == MQS_OK && got.id == k2.id, "active returns the newest key (%u)", got.id);
	mqs_key_release(&got);
	rc = mqs_keystore_create(db, mk, MQS_KEY_DEVICE, "dev1", &k3);
	tap_ok(rc == MQS_OK && strcmp(k3.purpose, "device") == 0, "create a device key");
	rc = mqs_keystore_active(db, mk, MQS_KEY_DEVICE, "dev1", &got);
	tap_ok(rc == MQS_OK && got.id == k3.id && memcmp(got.key, k3.key, 32) == 0,
	       "active device key");
	mqs_key_release(&got);
	rc = mqs_keystore_active(db, mk, MQS_KEY_DEVICE, "alerts/#", &got);
	tap_ok(rc == MQS_ERR_NOENT && is_released(&got),
	       "active is scoped by purpose (MQS_ERR_NOENT)");
	rc = mqs_keystore_active(db, mk, MQS_KEY_TOPIC, "alerts/+", &got);
	tap_is_int(rc, MQS_ERR_NOENT, "active of an unknown owner is MQS_ERR_NOENT");
	rc = mqs_keystore_create(db, mk, MQS_KEY_DEVICE, "dev2", NULL);
	tap_is_int(rc, MQS_OK, "create with out NULL");

	/* a wrapped blob moved to another row does not open there */
	{
		char sql[256];
		snprintf(sql, sizeof(sql),
		         "UPDATE keys SET wrapped = (SELECT wrapped FROM keys WHERE id = %u) "
		         "WHERE id = %u",
		         k1.id, k2.id);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			tap_diag("update failed: %s", sqlite3_errmsg(db));
		rc = mqs_keystore_get(db, mk, k2.id, &got);
		tap_ok(rc == MQS_ERR_UNWRAP && is_released(&got),
		       "wrapped blob copied to another id is MQS_ERR_UNWRAP (got %d)", rc);
	}

	/* retire */
	rc = mqs_keystore_retire(db, k1.id, 1900000000);
	tap_is_int(rc, MQS_OK, "retire the first key");
	rc = mqs_keystore_get(db, mk, k1.id, &got);
	tap_ok(rc == MQS_OK && got.active == 0 && got.retire_after == 1900000000 &&
	           memcmp(got.key, k1.key, 32) == 0,
	       "a retired key still loads, marked retired with retire_after");
	mqs_key_release(&got);
	rc = mqs_keystore_retire(db, k2.id, 1);
	rc = mqs_keystore_active(db, mk, MQS_KEY_TOPIC, "alerts/#", &got);
	tap_is_int(rc, MQS_ERR_NOENT, "no active key once all are retired");
	rc = mqs_keystore_retire(db, 999999, 5);
	tap_is_int(rc, MQS_ERR_NOENT, "retire of a missing id is MQS_ERR_NOENT");

	/* missing ids */
	rc = mqs_keystore_get(db, mk, 999999, &got);
	tap_ok(rc == MQS_ERR_NOENT && is_released(&got), "get of a missing id is MQS_ERR_NOENT");
	rc = mqs_keystore_get(db, mk, UINT32_MAX, &got);
	tap_is_int(rc, MQS_ERR_NOENT, "get of id 2^32-1 (absent) is MQS_ERR_NOENT");

	/* delete_owner */
	rc = mqs_keystore_delete_owner(db, MQS_KEY_TOPIC, "alerts/#");
	tap_is_int(rc, MQS_OK, "delete_owner");
	tap_ok(mqs_keystore_get(db, mk, k1.id, &got) == MQS_ERR_NOENT &&
	           mqs_keystore_get(db, mk, k2.id, &got) == MQS_ERR_NOENT,
	       "both keys of the owner are gone");
	rc = mqs_keystore_get(db, mk, k3.id, &got);
	tap_ok(rc == MQS_OK && memcmp(got.key, k3.key, 32) == 0, "other owners' keys remain");
	mqs_key_release(&got);
	rc = mqs_keystore_delete_owner(db, MQS_KEY_TOPIC, "dev1");
	tap_ok(rc == MQS_OK && mqs_keystore_get(db, mk, k3.id, &got) == MQS_OK,
	       "delete_owner is scoped by purpose");
	mqs_key_release(&got);
	rc = mqs_keystore_delete_owner(db, MQS_KEY_TOPIC, "nobody");
	tap_is_int(rc, MQS_OK, "delete_owner of an unknown owner is fine");

	/* bad arguments */
	rc = mqs_keystore_create(db, mk, "admin", "x", &got);
	tap_is_int(rc, MQS_ERR_INVAL, "create with an unknown purpose is MQS_ERR_INVAL");
	rc = mqs_keystore_create(db, mk, MQS_KEY_DEVICE, NULL, &got);
	tap_is_int(rc, MQS_ERR_INVAL, "create with a NULL owner is MQS_ERR_INVAL");

	mqs_key_release(&k1);
	mqs_key_release(&k2);
	mqs_key_release(&k3);
	mqs_key_release(&got);
	mqs_key_release(NULL);
	sqlite3_close_v2(db);
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", tmpdir);
	}
	tap_done();
	return tap_exit();
}
