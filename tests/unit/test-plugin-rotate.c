/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-rotate.c - durable seal counts per topic key (seals.h) and
 * the shared topic key rotation (mqs_keyrotate.h), on a real database. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqs_db.h"
#include "mqs_error.h"
#include "mqs_keyrotate.h"
#include "mqs_keystore.h"
#include "seals.h"
#include "tap.h"

static uint8_t mk[MQS_MASTER_KEY_LEN];

static long long query_int(sqlite3 *db, const char *fmt, long long arg)
{
	sqlite3_stmt *st = NULL;
	long long v = -999;

	if (sqlite3_prepare_v2(db, fmt, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, arg);
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return v;
}

static long long sealed(sqlite3 *db, uint32_t id)
{
	return query_int(db, "SELECT sealed FROM keys WHERE id = ?1", id);
}

static uint32_t new_key(sqlite3 *db, const char *filter)
{
	struct mqs_key k;
	uint32_t id;

	if (mqs_keystore_create(db, mk, MQS_KEY_TOPIC, filter, &k) != MQS_OK)
		exit(99);
	id = k.id;
	mqs_key_release(&k);
	return id;
}

static void test_rotate(sqlite3 *db)
{
	struct mqs_key k;
	char ids[64];
	int n = -1;
	uint32_t k1 = new_key(db, "rot/#");
	uint32_t k2;

	tap_is_int(mqs_keystore_rotate(db, mk, "rot/#", 5000, 0, &k, ids, sizeof(ids), &n), MQS_OK,
	           "rotate a filter's key");
	k2 = k.id;
	tap_ok(k2 > k1, "the new key has a new id");
	tap_is_int(n, 1, "one key retired");
	tap_is_int(strtol(ids, NULL, 10), k1, "... the old one");
	tap_is_int(query_int(db, "SELECT state = 'retired' FROM keys WHERE id = ?1", k1), 1,
	           "the old key is retired");
	tap_is_int(query_int(db, "SELECT retire_after FROM keys WHERE id = ?1", k1), 5000,
	           "... and opens until the grace end");
	tap_is_int(query_int(db,
	                     "SELECT count(*) FROM keys WHERE owner = 'rot/#' AND "
	                     "state = 'active' AND id = ?1",
	                     k2),
	           1, "the new key is the one active key");
	tap_is_int(query_int(db, "SELECT seal_after FROM keys WHERE id = ?1", k2), 0,
	           "it seals at once");
	mqs_key_release(&k);
	tap_is_int(mqs_keystore_rotate(db, mk, "rot/#", 6000, 7000, &k, ids, sizeof(ids), &n),
	           MQS_OK, "rotate again with a later seal start");
	tap_is_int(query_int(db, "SELECT seal_after FROM keys WHERE id = ?1", k.id), 7000,
	           "seal_after stored");
	tap_is_int(n, 1, "only the previous active key was retired");
	tap_is_int(query_int(db, "SELECT retire_after FROM keys WHERE id = ?1", k1), 5000,
	           "an already retired key keeps its grace end");
	mqs_key_release(&k);
	tap_is_int(mqs_keystore_rotate(db, mk, "other/#", 1, 0, &k, ids, sizeof(ids), &n), MQS_OK,
	           "a filter without a key gets its first one");
	tap_is_int(n, 0, "nothing retired");
	mqs_key_release(&k);
	tap_is_int(mqs_keystore_rotate(db, mk, NULL, 1, 0, &k, ids, sizeof(ids), &n), MQS_ERR_INVAL,
	           "no filter: refused");
}

static void test_bounds(sqlite3 *db)
{
	struct mqsp_seals *s = mqsp_seals_new(40);
	uint32_t id = new_key(db, "b/#");
	uint32_t due[4];
	int ok = 1;

	tap_ok(mqsp_seals_new(3) == NULL, "a bound below 4 is refused");
	for (int i = 1; i < 30; i++)
		ok &= mqsp_seals_take(s, db, id) == MQSP_SEAL_OK;
	tap_ok(ok, "29 seals of a 40-seal key: plain yes");
	tap_is_int(mqsp_seals_due(s, due, 4), 0, "no rotation wanted yet");
	tap_is_int(mqsp_seals_take(s, db, id), MQSP_SEAL_ROTATE,
	           "the 30th (3/4) asks for a rotation");
	tap_is_int(mqsp_seals_due(s, due, 4), 1, "one key due");
	tap_is_int(due[0], id, "... this one");
	tap_ok(sealed(db, id) >= 30, "the database holds at least the 30 counts");
	mqsp_seals_done(s, id);
	tap_is_int(mqsp_seals_due(s, due, 4), 0, "done: not due any more");
	ok = 1;
	for (int i = 31; i <= 40; i++)
		ok &= mqsp_seals_take(s, db, id) == MQSP_SEAL_OK;
	tap_ok(ok, "a rotated key still seals up to the bound (the view may lag)");
	tap_is_int(mqsp_seals_take(s, db, id), MQSP_SEAL_WORN, "the 41st is refused");
	tap_is_int(mqsp_seals_take(s, db, id), MQSP_SEAL_WORN, "... and every later one");
	tap_is_int(mqsp_seals_used(s, id), 40, "40 counts used");
	tap_is_int(sealed(db, id), 40, "stored count 40 (blocks of 1 at this bound)");
	mqsp_seals_free(s);

	s = mqsp_seals_new(40);
	tap_is_int(mqsp_seals_take(s, db, id), MQSP_SEAL_WORN,
	           "after a restart the worn key is still refused");
	tap_is_int(mqsp_seals_due(s, due, 4), 1, "... and due for a rotation");
	tap_is_int(mqsp_seals_take(s, db, 999999), MQSP_SEAL_DB, "an unknown key id: not sealed");
	mqsp_seals_free(s);
}

static void test_durable(sqlite3 *db)
{
	struct mqsp_seals *s = mqsp_seals_new(1000); /* blocks of 15 */
	uint32_t id = new_key(db, "d/#");
	long long before;
	int ok = 1;

	for (int i = 0; i < 20; i++)
		ok &= mqsp_seals_take(s, db, id) == MQSP_SEAL_OK;
	tap_ok(ok, "20 seals");
	tap_is_int(sealed(db, id), 30, "two blocks of 15 reserved before use");
	mqsp_seals_free(s); /* a crash: the rest of the block is never written back */

	s = mqsp_seals_new(1000);
	tap_is_int(mqsp_seals_take(s, db, id), MQSP_SEAL_OK, "restart: the key seals");
	tap_is_int(mqsp_seals_used(s, id), 31, "counting resumes after the stored value");
	tap_is_int(sealed(db, id), 45, "the next block is stored first");
	mqsp_seals_free(s);

	s = mqsp_seals_new(MQSP_SEALS_MAX_DEFAULT);
	id = new_key(db, "big/#");
	before = query_int(db, "SELECT total_changes()", 0);
	ok = 1;
	for (int i = 0; i < 10000; i++)
		ok &= mqsp_seals_take(s, db, id) == MQSP_SEAL_OK;
	tap_ok(ok, "10,000 seals under the default bound");
	tap_is_int(sealed(db, id), 3 * MQSP_SEALS_BLOCK_MAX, "three blocks of 4,096 stored");
	tap_is_int(query_int(db, "SELECT total_changes()", 0) - before, 3,
	           "three writes for 10,000 messages");
	mqsp_seals_free(s);
}

static void test_busy(sqlite3 *db, const char *path)
{
	struct mqsp_seals *s = mqsp_seals_new(40);
	uint32_t id = new_key(db, "busy/#");
	sqlite3 *other = NULL;

	if (sqlite3_open(path, &other) != SQLITE_OK ||
	    sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		tap_ok(0, "set-up: a second connection holds the write lock");
		goto out;
	}
	tap_is_int(mqsp_seals_take(s, db, id), MQSP_SEAL_DB,
	           "write lock held elsewhere: no reservation, no seal");
	tap_is_int(mqsp_seals_used(s, id), 0, "nothing counted");
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	tap_is_int(mqsp_seals_take(s, db, id), MQSP_SEAL_OK, "lock released: seals");
	tap_is_int(sealed(db, id), 1, "stored");
out:
	sqlite3_close(other);
	mqsp_seals_free(s);
}

int main(void)
{
	char path[] = "/tmp/test-plugin-rotate-XXXXXX";
	char db_path[64];
	sqlite3 *db = NULL;
	int fd = mkstemp(path);

	if (fd < 0)
		return 99;
	close(fd);
	unlink(path);
	snprintf(db_path, sizeof(db_path), "%s.db", path);
	for (size_t i = 0; i < sizeof(mk); i++)
		mk[i] = (uint8_t)(i * 7 + 1);
	if (mqs_db_open(db_path, MQS_DB_CREATE, mqs_broker_schema, mqs_broker_schema_count, &db,
	                NULL, 0) != MQS_OK)
		return 99;
	sqlite3_busy_timeout(db, 0);
	test_rotate(db);
	test_bounds(db);
	test_durable(db);
	test_busy(db, db_path);
	sqlite3_close(db);
	unlink(db_path);
	return tap_exit();
}
