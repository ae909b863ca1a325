/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-clientids.c - owned client ids (broker-plugin/clientids.c):
 * the first username binds an id, another one is refused until the id
 * expires unused (never while it is connected), a username's least
 * recently used id makes room at the cap, bindings survive a flush and a
 * load, releases committed in the database are merged, the prefix rule. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clientids.h"
#include "mqs_db.h"
#include "mqs_error.h"
#include "tap.h"

/* A set-up step whose result is not what the test is about: only a
 * failure shows (as a failed test). */
#define SETUP(call, want)                                                                          \
	do {                                                                                       \
		if ((call) != (want))                                                              \
			tap_ok(0, "set-up: %s", #call);                                            \
	} while (0)

#define TTL 100

static const char *connected_id; /* the one id in_use() says is connected */

static int in_use(const char *cid, void *arg)
{
	(void)arg;
	return connected_id != NULL && strcmp(cid, connected_id) == 0;
}

static struct mqsp_clientids *table(size_t per_user)
{
	struct mqsp_clientids_cfg cfg = {TTL, per_user};
	struct mqsp_clientids *t = NULL;

	if (mqsp_clientids_new(&cfg, &t) != MQS_OK)
		exit(99);
	return t;
}

static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -999;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_claims(void)
{
	struct mqsp_clientids *t = table(100);
	char big[MQSP_CLIENTIDS_LEN_MAX + 2];

	tap_is_int(mqsp_clientids_claim(t, "sensor-1", "alice", 1000, in_use, NULL), MQSP_CLAIM_OK,
	           "a free id binds to its first username");
	tap_is_int(mqsp_clientids_claim(t, "sensor-1", "alice", 1001, in_use, NULL), MQSP_CLAIM_OK,
	           "its owner claims it again");
	tap_is_int(mqsp_clientids_claim(t, "sensor-1", "mallory", 1002, in_use, NULL),
	           MQSP_CLAIM_TAKEN, "another username is refused");
	tap_ok(strcmp(mqsp_clientids_owner(t, "sensor-1"), "alice") == 0,
	       "the refusal changes nothing");
	tap_is_int(mqsp_clientids_claim(t, "sensor-1", "mallory", 1001 + TTL - 1, in_use, NULL),
	           MQSP_CLAIM_TAKEN, "still refused just before the ttl");
	connected_id = "sensor-1";
	tap_is_int(mqsp_clientids_claim(t, "sensor-1", "mallory", 1001 + TTL * 5, in_use, NULL),
	           MQSP_CLAIM_TAKEN, "a connected id is in use whatever its last use");
	connected_id = NULL;
	tap_is_int(mqsp_clientids_claim(t, "sensor-1", "mallory", 1001 + TTL, in_use, NULL),
	           MQSP_CLAIM_OK, "unused for the ttl: free for another username");
	tap_ok(strcmp(mqsp_clientids_owner(t, "sensor-1"), "mallory") == 0, "now mallory's");
	/* a disconnect keeps the binding alive */
	mqsp_clientids_touch(t, "sensor-1", "mallory", 1001 + 2 * TTL - 10);
	tap_is_int(mqsp_clientids_claim(t, "sensor-1", "alice", 1001 + 2 * TTL, in_use, NULL),
	           MQSP_CLAIM_TAKEN, "a touch at disconnect restarts the ttl");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	tap_is_int(mqsp_clientids_claim(t, big, "alice", 1000, in_use, NULL), MQSP_CLAIM_TOOLONG,
	           "an id over %d bytes is refused", MQSP_CLIENTIDS_LEN_MAX);
	tap_is_int((long long)mqsp_clientids_count(t), 1, "one binding");
	/* an id reserved for alice (auth.c): she takes it back from mallory */
	mqsp_clientids_reclaim(t, "sensor-1", "mallory");
	tap_ok(strcmp(mqsp_clientids_owner(t, "sensor-1"), "mallory") == 0,
	       "reclaim by the owner changes nothing");
	mqsp_clientids_reclaim(t, "sensor-1", "alice");
	tap_ok(mqsp_clientids_owner(t, "sensor-1") == NULL, "reclaim drops another's binding");
	tap_is_int(mqsp_clientids_claim(t, "sensor-1", "alice", 1001 + 2 * TTL, in_use, NULL),
	           MQSP_CLAIM_OK, "... so the reserved owner binds it");
	tap_ok(strcmp(mqsp_clientids_owner(t, "sensor-1"), "alice") == 0, "now alice's");
	/* sweep */
	mqsp_clientids_sweep(t, 1001 + 4 * TTL, in_use, NULL);
	tap_is_int((long long)mqsp_clientids_count(t), 0, "the sweep drops expired ids");
	tap_ok(mqsp_clientids_pending(t), "... and queues their removal");
	mqsp_clientids_free(t);
}

static void test_cap(void)
{
	struct mqsp_clientids *t = table(3);
	char id[32];
	int ok = 1;

	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "rand-%d", i);
		ok &= mqsp_clientids_claim(t, id, "tool", 1000 + i, in_use, NULL) == MQSP_CLAIM_OK;
	}
	tap_ok(ok, "random ids keep working past the cap");
	tap_is_int((long long)mqsp_clientids_count(t), 3, "the username holds at most 3 ids");
	tap_ok(mqsp_clientids_owner(t, "rand-9") != NULL && mqsp_clientids_owner(t, "rand-7") &&
	           mqsp_clientids_owner(t, "rand-6") == NULL,
	       "the least recently used went");
	/* rand-7 used again: rand-8 is now the oldest */
	SETUP(mqsp_clientids_claim(t, "rand-7", "tool", 2000, in_use, NULL), MQSP_CLAIM_OK);
	connected_id = "rand-8";
	SETUP(mqsp_clientids_claim(t, "rand-10", "tool", 2001, in_use, NULL), MQSP_CLAIM_OK);
	tap_ok(mqsp_clientids_owner(t, "rand-8") != NULL &&
	           mqsp_clientids_owner(t, "rand-9") == NULL,
	       "a connected id is skipped by the eviction");
	connected_id = NULL;
	tap_is_int(mqsp_clientids_claim(t, "other", "someone", 2002, in_use, NULL), MQSP_CLAIM_OK,
	           "the cap is per username");
	mqsp_clientids_free(t);

	t = table(1);
	connected_id = "only";
	SETUP(mqsp_clientids_claim(t, "only", "one", 1000, in_use, NULL), MQSP_CLAIM_OK);
	tap_is_int(mqsp_clientids_claim(t, "second", "one", 1001, in_use, NULL), MQSP_CLAIM_FULL,
	           "every id at the cap connected: refused");
	connected_id = NULL;
	tap_is_int(mqsp_clientids_claim(t, "second", "one", 1002, in_use, NULL), MQSP_CLAIM_OK,
	           "cap 1: the old id makes room");
	mqsp_clientids_free(t);
}

static void test_db(const char *dir)
{
	char path[512], err[256];
	sqlite3 *db = NULL;
	struct mqsp_clientids *t = table(100);
	size_t released = 99;
	int rc;

	snprintf(path, sizeof(path), "%s/broker.db", dir);
	rc = mqs_db_open(path, MQS_DB_CREATE, mqs_broker_schema, mqs_broker_schema_count, &db, err,
	                 sizeof(err));
	tap_is_int(rc, MQS_OK, "broker database created");
	if (rc != MQS_OK)
		return;
	tap_is_int(mqsp_clientids_load(t, db, 1000, err, sizeof(err)), MQS_OK, "empty load");
	SETUP(mqsp_clientids_claim(t, "a-1", "alice", 1000, in_use, NULL), MQSP_CLAIM_OK);
	SETUP(mqsp_clientids_claim(t, "a-2", "alice", 1000, in_use, NULL), MQSP_CLAIM_OK);
	SETUP(mqsp_clientids_claim(t, "b-1", "bob", 1000, in_use, NULL), MQSP_CLAIM_OK);
	tap_ok(mqsp_clientids_pending(t), "new bindings are queued");
	tap_is_int(query_int(db, "SELECT count(*) FROM clientids"), 0, "... not written at claim");
	tap_is_int(mqsp_clientids_flush(t, db), MQS_OK, "flush");
	tap_ok(!mqsp_clientids_pending(t), "nothing queued after the flush");
	tap_is_int(query_int(db, "SELECT count(*) FROM clientids"), 3, "three rows");
	/* a use (a disconnect too) is written once the stored one is a touch
	 * interval old; every unwritten one when the broker stops */
	mqsp_clientids_touch(t, "a-1", "alice", 1001);
	tap_ok(!mqsp_clientids_pending(t), "a use within the touch interval is not queued");
	mqsp_clientids_touch(t, "a-1", "alice", 1000 + TTL / 4);
	tap_ok(mqsp_clientids_pending(t), "a use a touch interval later is queued");
	SETUP(mqsp_clientids_flush(t, db), MQS_OK);
	tap_is_int(query_int(db, "SELECT last_seen FROM clientids WHERE clientid = 'a-1'"),
	           1000 + TTL / 4, "last use written");
	mqsp_clientids_touch(t, "a-1", "alice", 1001 + TTL / 4);
	tap_ok(!mqsp_clientids_pending(t), "the next use is not queued");
	mqsp_clientids_settle(t);
	tap_ok(mqsp_clientids_pending(t), "settle queues it");
	SETUP(mqsp_clientids_flush(t, db), MQS_OK);
	tap_is_int(query_int(db, "SELECT last_seen FROM clientids WHERE clientid = 'a-1'"),
	           1001 + TTL / 4, "the exact last use written when the broker stops");
	mqsp_clientids_settle(t);
	tap_ok(!mqsp_clientids_pending(t), "settle queues nothing when all is written");
	mqsp_clientids_free(t);

	/* load: expired rows are deleted */
	sqlite3_exec(db, "UPDATE clientids SET last_seen = 0 WHERE clientid = 'b-1'", NULL, NULL,
	             NULL);
	t = table(100);
	tap_is_int(mqsp_clientids_load(t, db, 1050, err, sizeof(err)), MQS_OK, "load");
	tap_is_int((long long)mqsp_clientids_count(t), 2, "two live bindings loaded");
	tap_ok(mqsp_clientids_pending(t), "the expired row is queued for deletion");
	SETUP(mqsp_clientids_flush(t, db), MQS_OK);
	tap_is_int(query_int(db, "SELECT count(*) FROM clientids"), 2,
	           "the expired row deleted on the first flush");
	tap_is_int(mqsp_clientids_claim(t, "a-2", "bob", 1050, in_use, NULL), MQSP_CLAIM_TAKEN,
	           "a loaded binding holds");

	/* releases: one id, then every id of a username */
	sqlite3_exec(db,
	             "DELETE FROM clientids WHERE clientid = 'a-2';"
	             "INSERT INTO clientid_releases (clientid, username, at) VALUES ('a-2', "
	             "'alice', 1051)",
	             NULL, NULL, NULL);
	tap_is_int(mqsp_clientids_merge(t, db, &released), MQS_OK, "merge");
	tap_is_int((long long)released, 1, "one id released");
	tap_is_int(mqsp_clientids_claim(t, "a-2", "bob", 1052, in_use, NULL), MQSP_CLAIM_OK,
	           "a released id is free at once");
	tap_is_int(mqsp_clientids_merge(t, db, &released), MQS_OK, "merge again");
	tap_is_int((long long)released, 0, "a release is merged once");
	sqlite3_exec(db,
	             "INSERT INTO clientid_releases (clientid, username, at) VALUES ('a-2', "
	             "NULL, 1052)",
	             NULL, NULL, NULL);
	SETUP(mqsp_clientids_merge(t, db, &released), MQS_OK);
	tap_ok(released == 1 && mqsp_clientids_owner(t, "a-2") == NULL,
	       "a release without a username frees the id whoever holds it");
	SETUP(mqsp_clientids_claim(t, "a-3", "alice", 1052, in_use, NULL), MQSP_CLAIM_OK);
	SETUP(mqsp_clientids_claim(t, "b-2", "bob", 1052, in_use, NULL), MQSP_CLAIM_OK);
	SETUP(mqsp_clientids_flush(t, db), MQS_OK);
	sqlite3_exec(db,
	             "INSERT INTO clientid_releases (clientid, username, at) VALUES (NULL, "
	             "'alice', 1053)",
	             NULL, NULL, NULL);
	SETUP(mqsp_clientids_merge(t, db, &released), MQS_OK);
	tap_is_int((long long)released, 2, "device rm releases every id of the username");
	SETUP(mqsp_clientids_flush(t, db), MQS_OK);
	tap_is_int(query_int(db, "SELECT count(*) FROM clientids WHERE username = 'alice'"), 0,
	           "and their rows are gone");
	tap_is_int(query_int(db, "SELECT count(*) FROM clientids WHERE username = 'bob'"), 1,
	           "other usernames keep theirs");
	mqsp_clientids_free(t);

	/* a locked database keeps the queue */
	t = table(100);
	SETUP(mqsp_clientids_load(t, db, 1060, err, sizeof(err)), MQS_OK);
	SETUP(mqsp_clientids_claim(t, "late", "carol", 1060, in_use, NULL), MQSP_CLAIM_OK);
	{
		sqlite3 *other = NULL;

		sqlite3_open(path, &other);
		sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		sqlite3_busy_timeout(db, 0);
		tap_is_int(mqsp_clientids_flush(t, db), MQS_ERR_DB,
		           "a locked database: flush fails");
		tap_ok(mqsp_clientids_pending(t), "... and keeps the queue");
		sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(other);
	}
	tap_is_int(mqsp_clientids_flush(t, db), MQS_OK, "written once the lock is gone");
	tap_is_int(query_int(db, "SELECT count(*) FROM clientids WHERE clientid = 'late'"), 1,
	           "row written");
	mqsp_clientids_free(t);
	sqlite3_close_v2(db);
}

int main(void)
{
	char dir[] = "/tmp/mqsp-test-clientids-XXXXXX";
	char cmd[128];

	if (mkdtemp(dir) == NULL)
		return 99;
	tap_ok(mqsp_clientids_prefix_ok("alice", "alice"), "prefix: the username itself");
	tap_ok(mqsp_clientids_prefix_ok("alice-7", "alice"), "prefix: username-...");
	tap_ok(!mqsp_clientids_prefix_ok("alice7", "alice"), "prefix: not username...");
	tap_ok(!mqsp_clientids_prefix_ok("ali", "alice"), "prefix: not a shorter id");
	test_claims();
	test_cap();
	test_db(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_exit();
}
