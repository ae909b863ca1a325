/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-keyreq.c - online topic keys (broker-plugin/keyreq.c,
 * keyrate.c): request parsing and its caps, answers with the active and
 * in-grace keys of readable protected filters only (the rule of key
 * export), refused filters listed, the nonce echoed, grants and the audit
 * row recorded; the per-client rate limit and its flood verdict. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "keyrate.h"
#include "keyreq.h"
#include "mqs_buf.h"
#include "mqs_creds.h"
#include "mqs_db.h"
#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_util.h"
#include "tap.h"

static uint8_t mk[MQS_MASTER_KEY_LEN];

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		tap_diag("sql failed: %s: %s", sql, err != NULL ? err : "?");
		sqlite3_free(err);
	}
}

static long long count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Protect filter with a new key; returns its id. */
static uint32_t protect(sqlite3 *db, const char *filter)
{
	struct mqs_key k;
	char sql[256];
	uint32_t id = 0;

	snprintf(sql, sizeof(sql),
	         "INSERT OR IGNORE INTO protected_topics(filter, created_at) VALUES ('%s', 0)",
	         filter);
	exec(db, sql);
	mqs_key_init(&k);
	if (mqs_keystore_create(db, mk, MQS_KEY_TOPIC, filter, &k) == MQS_OK)
		id = k.id;
	mqs_key_release(&k);
	return id;
}

/* A new device key of name; returns its id. */
static uint32_t device_key(sqlite3 *db, const char *name)
{
	struct mqs_key k;
	uint32_t id = 0;

	mqs_key_init(&k);
	if (mqs_keystore_create(db, mk, MQS_KEY_DEVICE, name, &k) == MQS_OK)
		id = k.id;
	mqs_key_release(&k);
	return id;
}

static int parse(const char *json, struct mqsp_keyreq *r)
{
	return mqsp_keyreq_parse((const uint8_t *)json, strlen(json), r);
}

static void test_parse(void)
{
	struct mqsp_keyreq r;
	char big[MQSP_KEYREQ_FILTER_LEN + 64];
	struct mqs_buf b;
	int rc;

	rc = parse("{\"filters\":[\"a/#\",\"b/+\",\"a/#\"],\"nonce\":\"AAECAwQFBgcICQoLDA0ODw==\"}",
	           &r);
	tap_is_int(rc, MQS_OK, "a request parses");
	tap_is_int((int)r.nfilters, 2, "duplicate filters count once");
	tap_ok(r.nonce[15] == 15, "nonce decoded");
	mqsp_keyreq_release(&r);
	tap_is_int(parse("{\"filters\":[],\"nonce\":\"AAECAwQFBgcICQoLDA0ODw==\"}", &r),
	           MQS_ERR_PARSE, "no filter: refused");
	tap_is_int(parse("{\"filters\":[\"a\"],\"nonce\":\"AAECAw==\"}", &r), MQS_ERR_PARSE,
	           "short nonce: refused");
	tap_is_int(parse("{\"filters\":[\"a\"]}", &r), MQS_ERR_PARSE, "no nonce: refused");
	tap_is_int(parse("{\"filters\":[1],\"nonce\":\"AAECAwQFBgcICQoLDA0ODw==\"}", &r),
	           MQS_ERR_PARSE, "a number as filter: refused");
	tap_is_int(parse("{\"filters\":[\"\"],\"nonce\":\"AAECAwQFBgcICQoLDA0ODw==\"}", &r),
	           MQS_ERR_PARSE, "empty filter: refused");
	tap_is_int(parse("[1,2]", &r), MQS_ERR_PARSE, "not an object: refused");
	tap_is_int(parse("{\"filters\":[\"a\"", &r), MQS_ERR_PARSE, "truncated: refused");
	memset(big, 'x', sizeof(big));
	snprintf(big, sizeof(big), "{\"filters\":[\"");
	memset(big + strlen(big), 'x', MQSP_KEYREQ_FILTER_LEN + 1);
	big[13 + MQSP_KEYREQ_FILTER_LEN + 1] = '\0';
	strcat(big, "\"],\"nonce\":\"AAECAwQFBgcICQoLDA0ODw==\"}");
	tap_is_int(parse(big, &r), MQS_ERR_TOOBIG, "a filter over the cap: refused");
	mqs_buf_init(&b, 1 << 20, 0);
	rc = mqs_buf_adds(&b, "{\"filters\":[");
	for (int i = 0; rc == MQS_OK && i <= MQSP_KEYREQ_FILTERS_MAX; i++)
		rc = mqs_buf_addf(&b, "%s\"f/%d\"", i > 0 ? "," : "", i);
	if (rc == MQS_OK)
		rc = mqs_buf_adds(&b, "],\"nonce\":\"AAECAwQFBgcICQoLDA0ODw==\"}");
	tap_is_int(rc == MQS_OK ? parse(mqs_buf_str(&b), &r) : rc, MQS_ERR_TOOBIG,
	           "too many filters: refused");
	mqs_buf_release(&b);
}

static void test_answer(sqlite3 *db)
{
	struct mqsp_keyreq r;
	struct mqsp_keyreq_answer a;
	struct mqs_creds c;
	char err[256] = "";
	int64_t now = (int64_t)time(NULL);
	uint32_t site_old, site_new, other, nokey, dk1, dk2;
	int rc;

	exec(db, "INSERT INTO devices(name, totp_wrapped, created_at) VALUES ('dev1', x'00', 0)");
	dk1 = device_key(db, "dev1");
	dk2 = device_key(db, "dev2");
	exec(db, "INSERT INTO groups(name) VALUES ('readers')");
	exec(db, "INSERT INTO group_members(grp, member) VALUES ('readers', 'dev1')");
	exec(db, "INSERT INTO acl_rules(effect, access, subject, filter, priority, created_at) "
	         "VALUES ('allow', 'read', '@readers', 'site1/#', 0, 0)");
	exec(db, "INSERT INTO acl_rules(effect, access, subject, filter, priority, created_at) "
	         "VALUES ('allow', 'read', 'dev1', 'other/#', 0, 0)");
	exec(db, "INSERT INTO acl_rules(effect, access, subject, filter, priority, created_at) "
	         "VALUES ('deny', 'read', 'dev1', 'other/secret', 0, 0)");
	site_old = protect(db, "site1/#");
	site_new = protect(db, "site1/#");
	{
		char sql[256];

		/* the first key retired in its grace, a third one past its grace */
		snprintf(sql, sizeof(sql),
		         "UPDATE keys SET state = 'retired', retire_after = %lld WHERE id = %u",
		         (long long)now + 3600, site_old);
		exec(db, sql);
		snprintf(sql, sizeof(sql),
		         "UPDATE keys SET state = 'retired', retire_after = %lld WHERE id = %u",
		         (long long)now - 10, protect(db, "site1/#"));
		exec(db, sql);
	}
	other = protect(db, "other/#");
	nokey = protect(db, "site1/nokey");
	exec(db, "UPDATE keys SET state = 'retired', retire_after = 1 WHERE owner = 'site1/nokey'");
	rc = parse("{\"filters\":[\"site1/#\",\"other/#\",\"unprotected/#\",\"site1/nokey\","
	           "\"bad/#/x\"],\"nonce\":\"AAECAwQFBgcICQoLDA0ODw==\"}",
	           &r);
	tap_is_int(rc, MQS_OK, "request parsed");
	rc = mqsp_keyreq_answer(db, mk, "dev1", NULL, NULL, dk1, &r, now, MQSP_KEYREQ_BUSY_MS, &a,
	                        err, sizeof(err));
	tap_is_int(rc, MQS_OK, "answer built %s", err);
	tap_is_int((int)a.ngranted, 1, "one filter granted");
	tap_ok(a.ngranted == 1 && strcmp(a.granted[0], "site1/#") == 0, "granted: site1/#");
	tap_is_int((int)a.nkeys, 2, "the active and the in-grace key");
	tap_is_int((int)a.nrefused, 4,
	           "refused: other/# (a deny inside), unprotected, no active key, invalid");
	mqs_creds_init(&c);
	rc = a.json != NULL ? mqs_creds_parse(a.json, a.json_len, &c, err, sizeof(err)) : -1;
	tap_is_int(rc, MQS_OK, "the answer is a credentials fragment %s", err);
	tap_ok(c.username != NULL && strcmp(c.username, "dev1") == 0, "with the username");
	tap_ok(mqs_creds_find_key(&c, site_old) != NULL && mqs_creds_find_key(&c, site_new) != NULL,
	       "both keys of site1/# present");
	tap_ok(mqs_creds_find_key(&c, other) == NULL && mqs_creds_find_key(&c, nokey) == NULL,
	       "no key of a refused filter");
	tap_ok(mqs_creds_topic_protected(&c, "site1/a"), "site1/# listed as protected");
	mqs_creds_release(&c);
	tap_ok(a.json != NULL && strstr(a.json, "\"nonce\":\"AAECAwQFBgcICQoLDA0ODw==\"") != NULL,
	       "nonce echoed");
	tap_ok(a.json != NULL && strstr(a.json, "\"refused\":[\"other/#\",\"unprotected/#\","
	                                        "\"site1/nokey\",\"bad/#/x\"]") != NULL,
	       "refused filters listed");
	tap_ok(a.json != NULL && strstr(a.json, "totp") == NULL, "no TOTP secret in an answer");
	tap_is_int((int)count(db, "SELECT count(*) FROM key_grants WHERE username = 'dev1' AND "
	                          "via = 'online' AND filter = 'site1/#'"),
	           2, "two grants recorded");
	tap_is_int((int)count(db, "SELECT count(*) FROM audit WHERE action = 'key fetch' AND "
	                          "detail LIKE 'for=dev1 via=online granted=site1/#:%refused=4'"),
	           1, "the answer audited");
	mqsp_keyreq_answer_release(&a);
	/* a device without any read right gets nothing, still audited */
	rc = mqsp_keyreq_answer(db, mk, "dev2", NULL, NULL, dk2, &r, now, MQSP_KEYREQ_BUSY_MS, &a,
	                        err, sizeof(err));
	tap_ok(rc == MQS_OK && a.ngranted == 0 && a.nrefused == 5, "another device: all refused");
	mqsp_keyreq_answer_release(&a);
	tap_is_int((int)count(db, "SELECT count(*) FROM key_grants WHERE username = 'dev2'"), 0,
	           "no grant for it");
	/* disabled in the database a moment ago (the broker's view may not know yet): the
	 * answer reads the database itself and grants nothing */
	exec(db, "UPDATE devices SET enabled = 0 WHERE name = 'dev1'");
	rc = mqsp_keyreq_answer(db, mk, "dev1", NULL, NULL, dk1, &r, now, MQSP_KEYREQ_BUSY_MS, &a,
	                        err, sizeof(err));
	tap_ok(rc == MQS_OK && a.ngranted == 0 && a.nrefused == 5,
	       "a device disabled in the database: all refused");
	tap_is_int((int)a.nkeys, 0, "no key in its answer");
	mqsp_keyreq_answer_release(&a);
	tap_is_int((int)count(db, "SELECT count(*) FROM key_grants WHERE username = 'dev1'"), 2,
	           "no new grant for it");
	exec(db, "UPDATE devices SET enabled = 1 WHERE name = 'dev1'");
	/* the device key the answer is sealed for, retired a moment ago (rekey
	 * --grace 0; the broker's view may still hold it): nothing recorded or sent */
	{
		char sql[256];
		long long before = count(db, "SELECT count(*) FROM audit");

		snprintf(sql, sizeof(sql),
		         "UPDATE keys SET state = 'retired', retire_after = %lld WHERE id = %u",
		         (long long)now - 1, dk1);
		exec(db, sql);
		rc = mqsp_keyreq_answer(db, mk, "dev1", NULL, NULL, dk1, &r, now,
		                        MQSP_KEYREQ_BUSY_MS, &a, err, sizeof(err));
		tap_is_int(rc, MQS_ERR_NOENT, "a retired device key past its grace: refused (%s)",
		           err);
		tap_ok(a.json == NULL, "no answer text for it");
		tap_is_int((int)(count(db, "SELECT count(*) FROM audit") - before), 0,
		           "nothing recorded for it");
		rc = mqsp_keyreq_answer(db, mk, "dev1", NULL, NULL, dk2, &r, now,
		                        MQSP_KEYREQ_BUSY_MS, &a, err, sizeof(err));
		tap_is_int(rc, MQS_ERR_NOENT, "another device's key: refused");
		snprintf(sql, sizeof(sql), "UPDATE keys SET retire_after = %lld WHERE id = %u",
		         (long long)now + 10, dk1);
		exec(db, sql);
		rc = mqsp_keyreq_answer(db, mk, "dev1", NULL, NULL, dk1, &r, now,
		                        MQSP_KEYREQ_BUSY_MS, &a, err, sizeof(err));
		tap_ok(rc == MQS_OK && a.ngranted == 1,
		       "a retired device key in its grace: answered");
		mqsp_keyreq_answer_release(&a);
	}
	/* a wrong master key: nothing sent, nothing recorded */
	{
		uint8_t wrong[MQS_MASTER_KEY_LEN];
		long long before = count(db, "SELECT count(*) FROM audit");

		memset(wrong, 7, sizeof(wrong));
		rc = mqsp_keyreq_answer(db, wrong, "dev1", NULL, NULL, dk1, &r, now,
		                        MQSP_KEYREQ_BUSY_MS, &a, err, sizeof(err));
		tap_is_int(rc, MQS_ERR_UNWRAP, "a key that does not unwrap: refused (%s)", err);
		tap_ok(a.json == NULL, "no answer text");
		tap_is_int((int)(count(db, "SELECT count(*) FROM audit") - before), 0,
		           "rolled back");
	}
	/* the database locked by someone else: an error, not a hang */
	{
		sqlite3 *other_db = NULL;

		if (sqlite3_open(sqlite3_db_filename(db, "main"), &other_db) == SQLITE_OK) {
			exec(other_db, "BEGIN IMMEDIATE");
			rc = mqsp_keyreq_answer(db, mk, "dev1", NULL, NULL, dk1, &r, now,
			                        MQSP_KEYREQ_BUSY_MS, &a, err, sizeof(err));
			tap_is_int(rc, MQS_ERR_DB, "locked database: error (%s)", err);
			rc = mqsp_keyreq_answer(db, mk, "dev1", NULL, NULL, dk1, &r, now, 0, &a,
			                        err, sizeof(err));
			tap_ok(rc == MQS_ERR_DB && sqlite3_errcode(db) == SQLITE_BUSY,
			       "busy timeout 0 (a push): busy at once, not waiting");
			exec(other_db, "ROLLBACK");
		}
		sqlite3_close(other_db);
	}
	mqsp_keyreq_release(&r);
}

static void test_rate(void)
{
	struct mqsp_keyrate *r = mqsp_keyrate_new(2);
	int ok = 0, limited = 0, flooded = 0;
	uint64_t t = 1000000;

	for (int i = 0; i < MQSP_KEYRATE_BURST; i++)
		ok += mqsp_keyrate_take(r, "c1", t) == MQSP_KEYRATE_OK;
	tap_is_int(ok, MQSP_KEYRATE_BURST, "a burst is accepted");
	tap_is_int(mqsp_keyrate_take(r, "c1", t), MQSP_KEYRATE_LIMITED, "then limited");
	tap_is_int(mqsp_keyrate_take(r, "c2", t), MQSP_KEYRATE_OK, "another client id is not");
	tap_is_int(mqsp_keyrate_take(r, "c1", t + MQSP_KEYRATE_EVERY_MS), MQSP_KEYRATE_OK,
	           "a token comes back with time");
	for (int i = 0; i < MQSP_KEYRATE_FLOOD; i++) {
		enum mqsp_keyrate_verdict v = mqsp_keyrate_take(r, "c1", t + MQSP_KEYRATE_EVERY_MS);

		limited += v == MQSP_KEYRATE_LIMITED;
		flooded += v == MQSP_KEYRATE_FLOODED;
	}
	tap_ok(limited == MQSP_KEYRATE_FLOOD - 1 && flooded == 1,
	       "a flood is reported once after %d refusals in a row", MQSP_KEYRATE_FLOOD);
	for (int i = 0; i < 3 * MQSP_KEYRATE_FLOOD; i++)
		flooded +=
		    mqsp_keyrate_take(r, "c1", t + MQSP_KEYRATE_EVERY_MS) == MQSP_KEYRATE_FLOODED;
	tap_ok(flooded == 1, "the rest of the run is only refused (one ban per flood)");
	/* the table holds 2 ids: a third evicts the least recent, c2 */
	tap_is_int(mqsp_keyrate_take(r, "c3", t), MQSP_KEYRATE_OK, "a third client id");
	tap_is_int(mqsp_keyrate_take(r, "c1", t + MQSP_KEYRATE_EVERY_MS), MQSP_KEYRATE_LIMITED,
	           "the flooding id is still limited");
	mqsp_keyrate_free(r);
}

int main(void)
{
	char path[] = "/tmp/test-plugin-keyreq.XXXXXX";
	char dbpath[64], err[256] = "";
	sqlite3 *db = NULL;
	int rc;

	RAND_bytes(mk, sizeof(mk));
	test_parse();
	test_rate();
	if (mkdtemp(path) == NULL)
		return 1;
	snprintf(dbpath, sizeof(dbpath), "%s/db", path);
	rc = mqs_db_open(dbpath, MQS_DB_CREATE, mqs_broker_schema, mqs_broker_schema_count, &db,
	                 err, sizeof(err));
	tap_is_int(rc, MQS_OK, "database created %s", err);
	if (rc == MQS_OK)
		test_answer(db);
	sqlite3_close(db);
	unlink(dbpath);
	{
		char more[96];

		snprintf(more, sizeof(more), "%s-wal", dbpath);
		unlink(more);
		snprintf(more, sizeof(more), "%s-shm", dbpath);
		unlink(more);
	}
	rmdir(path);
	tap_done();
	return tap_exit();
}
