/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-reckey.c - record keys in the gateway store: names, add, get,
 * put with name and id conflicts, listing without key bytes, the wrap
 * bound to its row, a wrong master key, removal. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gw_log.h"
#include "gw_reckey.h"
#include "gw_store.h"
#include "mqs_error.h"
#include "mqs_master_key.h"
#include "tap.h"

static char dir[] = "/tmp/test-gw-reckey.XXXXXX";
static char db_path[256], key_path[256], key2_path[256];

static void test_names(void)
{
	char long_name[70];

	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	tap_ok(gw_reckey_name_ok("vitals") && gw_reckey_name_ok("clinic-1.A_b"),
	       "plain names are accepted");
	tap_ok(!gw_reckey_name_ok("") && !gw_reckey_name_ok(NULL) && !gw_reckey_name_ok("a b") &&
	           !gw_reckey_name_ok("a/b") && !gw_reckey_name_ok("é") &&
	           !gw_reckey_name_ok(long_name),
	       "empty, spaces, slashes, non-ASCII and 65 bytes are refused");
	long_name[64] = '\0';
	tap_ok(gw_reckey_name_ok(long_name), "64 bytes are accepted");
}

/* Listing callback: counts rows and remembers the last one. */
struct seen {
	int rows;
	char last[MQS_JOIN_KEY_NAME_MAX + 1];
	uint32_t last_id;
	int64_t created;
};

static int seen_row(const char *name, uint32_t id, int64_t created_ms, void *arg)
{
	struct seen *s = arg;

	s->rows++;
	snprintf(s->last, sizeof(s->last), "%s", name);
	s->last_id = id;
	s->created = created_ms;
	return MQS_OK;
}

static int stop_row(const char *name, uint32_t id, int64_t created_ms, void *arg)
{
	(void)name;
	(void)id;
	(void)created_ms;
	(void)arg;
	return MQS_ERR_INVAL;
}

/* 1 when sql runs and returns a row on s's database. */
static int has_row(struct gw_store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int found = 0;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK)
		found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* Migration 3 brings record_keys and the medical tables in one step. */
static void test_schema(struct gw_store *s)
{
	tap_ok(has_row(s, "SELECT 1 FROM sqlite_master WHERE name = 'record_keys'") &&
	           has_row(s, "SELECT 1 FROM sqlite_master WHERE name = 'pubq'") &&
	           has_row(s, "SELECT 1 FROM sqlite_master WHERE name = 'pubq_broker'") &&
	           has_row(s, "SELECT 1 FROM sqlite_master WHERE name = 'medical_counters'") &&
	           has_row(s, "SELECT 1 FROM pragma_table_info('messages') WHERE name = "
	                      "'body_sealed'"),
	       "record_keys, pubq, medical_counters, messages.body_sealed exist");
}

static void test_store(struct gw_store *s)
{
	struct mqs_join_key a, b, all[4];
	struct seen seen;
	uint8_t key[32];
	char err[256];
	size_t n = 0;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	tap_is_int(gw_reckey_add(s, "vitals", err, sizeof(err)), MQS_OK, "add vitals");
	tap_is_int(gw_reckey_add(s, "vitals", err, sizeof(err)), MQS_ERR_EXISTS,
	           "a second vitals is refused");
	tap_ok(strstr(err, "exists") != NULL, "with a reason: %s", err);
	tap_is_int(gw_reckey_add(s, "bad name", err, sizeof(err)), MQS_ERR_INVAL,
	           "a bad name is refused");
	tap_is_int(gw_reckey_get(s, "vitals", &a), MQS_OK, "get vitals");
	tap_ok(strcmp(a.name, "vitals") == 0 && a.id >= 1 && a.id <= 0x7fffffffu,
	       "name and id 1..2^31-1 (%u)", (unsigned)a.id);
	memset(key, 0, sizeof(key));
	tap_ok(memcmp(a.key, key, sizeof(key)) != 0, "the key is not all zero");
	tap_is_int(gw_reckey_get(s, "nobody", &b), MQS_ERR_NOENT, "get of an unknown name");

	memset(key, 0x5a, sizeof(key));
	tap_is_int(gw_reckey_put(s, "imported", 12345, key, err, sizeof(err)), MQS_OK,
	           "put a key with a given id");
	tap_is_int(gw_reckey_put(s, "other", a.id, key, err, sizeof(err)), MQS_ERR_EXISTS,
	           "put with an id already taken is refused");
	tap_ok(strstr(err, "id") != NULL, "reason names the id: %s", err);
	tap_is_int(gw_reckey_put(s, "imported", 999, key, err, sizeof(err)), MQS_ERR_EXISTS,
	           "put with a name already taken is refused");
	tap_is_int(gw_reckey_put(s, "zero", 0, key, err, sizeof(err)), MQS_ERR_INVAL,
	           "id 0 is refused");
	tap_is_int(gw_reckey_put(s, "big", 0x80000000u, key, err, sizeof(err)), MQS_ERR_INVAL,
	           "id 2^31 is refused");
	tap_is_int(gw_reckey_get(s, "imported", &b), MQS_OK, "get the imported key");
	tap_ok(b.id == 12345 && memcmp(b.key, key, sizeof(key)) == 0, "same id and key bytes");

	memset(&seen, 0, sizeof(seen));
	tap_is_int(gw_reckey_each(s, seen_row, &seen), MQS_OK, "walk the keys");
	tap_ok(seen.rows == 2 && strcmp(seen.last, "vitals") == 0 && seen.last_id == a.id &&
	           seen.created > 1000000000000LL,
	       "two rows in name order, created in ms");
	tap_is_int(gw_reckey_each(s, stop_row, NULL), MQS_ERR_INVAL,
	           "a callback's error stops the walk");

	tap_is_int(gw_reckey_all(s, all, 4, &n), MQS_OK, "all keys");
	tap_ok(n == 2 && strcmp(all[0].name, "imported") == 0 &&
	           memcmp(all[1].key, a.key, sizeof(a.key)) == 0,
	       "both, with their key bytes");
	tap_is_int(gw_reckey_all(s, all, 1, &n), MQS_ERR_TOOBIG, "all with room for one: too big");
	tap_ok(n == 0 && all[0].name[0] == '\0', "and out[] wiped");

	/* a wrapped key moved to another row does not open (AAD binds name and id) */
	tap_is_int(gw_store_exec(s, "UPDATE record_keys SET wrapped = (SELECT wrapped FROM "
	                            "record_keys WHERE name = 'vitals') WHERE name = 'imported'"),
	           MQS_OK, "copy the vitals blob onto imported");
	tap_is_int(gw_reckey_get(s, "imported", &b), MQS_ERR_UNWRAP,
	           "the moved blob does not open");
	tap_is_int(gw_reckey_all(s, all, 4, &n), MQS_ERR_UNWRAP, "all fails on it too");

	tap_is_int(gw_reckey_rm(s, "imported", err, sizeof(err)), MQS_OK, "rm imported");
	tap_is_int(gw_reckey_rm(s, "imported", err, sizeof(err)), MQS_ERR_NOENT,
	           "a second rm: no such key");
	tap_ok(strstr(err, "no record key imported") != NULL, "reason: %s", err);
	tap_is_int(gw_reckey_get(s, "vitals", &b), MQS_OK, "vitals still there");
	tap_ok(memcmp(a.key, b.key, sizeof(a.key)) == 0, "unchanged");
}

static void test_wrong_master_key(void)
{
	struct gw_store s;
	struct mqs_join_key k;
	struct seen seen;
	char err[512];

	tap_is_int(mqs_master_key_create(key2_path), MQS_OK, "a second master key");
	if (gw_store_open(&s, db_path, key2_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "open with another master key");
		return;
	}
	tap_is_int(gw_reckey_get(&s, "vitals", &k), MQS_ERR_UNWRAP,
	           "another master key does not open the key");
	memset(&seen, 0, sizeof(seen));
	tap_ok(gw_reckey_each(&s, seen_row, &seen) == MQS_OK && seen.rows == 1,
	       "the listing still works (no key bytes needed)");
	gw_store_close(&s);
}

int main(void)
{
	struct gw_store s;
	char err[512];
	char cmd[300];

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db_path, sizeof(db_path), "%s/gw.db", dir);
	snprintf(key_path, sizeof(key_path), "%s/gw.key", dir);
	snprintf(key2_path, sizeof(key2_path), "%s/gw2.key", dir);
	gw_log_set_level(GW_LOG_ERR);
	test_names();
	if (gw_store_open(&s, db_path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		return tap_exit() | 1;
	}
	test_schema(&s);
	test_store(&s);
	gw_store_close(&s);
	test_wrong_master_key();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_exit();
}
