/* test-gw-store.c - the gateway database: master key handling, encrypted
 * recipients with HMAC lookups, masked listings, outbox dedupe, claim,
 * requeue after a crash, escalation rows, envelope opening. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "gateway.h"
#include "gw_alert.h"
#include "gw_log.h"
#include "gw_mqtt.h"
#include "gw_outbox.h"
#include "gw_recipient.h"
#include "gw_store.h"
#include "mqs_creds.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_util.h"
#include "tap.h"

static char dir[] = "/tmp/test-gw-store.XXXXXX";
static char db_path[256], key_path[256];

/* 1 when the file at path contains needle (binary search through it). */
static int file_has(const char *path, const char *needle)
{
	uint8_t *data = NULL;
	size_t len = 0, n = strlen(needle);
	int found = 0;

	if (mqs_file_read(path, 64u * 1024 * 1024, 0, &data, &len) != MQS_OK)
		return 0;
	for (size_t i = 0; i + n <= len && !found; i++)
		found = memcmp(data + i, needle, n) == 0;
	free(data);
	return found;
}

static void test_keys(void)
{
	struct gw_store s;
	char err[512];

	tap_ok(gw_store_open(&s, db_path, key_path, 1, err, sizeof(err)) == 0,
	       "new database and master key");
	tap_ok(access(key_path, F_OK) == 0, "master key created");
	gw_store_close(&s);
	unlink(key_path);
	tap_ok(gw_store_open(&s, db_path, key_path, 1, err, sizeof(err)) != 0 &&
	           strstr(err, "restore the key file") != NULL,
	       "a missing key next to an existing db is refused: %s", err);
	/* start over */
	{
		char p[300];
		unlink(db_path);
		snprintf(p, sizeof(p), "%s-wal", db_path);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", db_path);
		unlink(p);
	}
}

static void test_recipients(struct gw_store *s)
{
	const char *alice[GW_F__COUNT] = {"Alice@Example.com", "+1 555 000 1234",
	                                  "U0123456789abcdef0123456789abcdef"};
	const char *bob[GW_F__COUNT] = {"bob@example.net", NULL, NULL};
	const char *groups[] = {"ops"};
	char err[256], name[80], addr[GW_ADDR_MAX];
	char *listing = NULL;
	size_t listing_len = 0;
	FILE *out;

	tap_is_int(gw_group_add(s, "ops", "sms,email", err, sizeof(err)), MQS_OK, "group add");
	tap_is_int(gw_group_add(s, "ops", NULL, err, sizeof(err)), MQS_ERR_EXISTS, "group exists");
	tap_is_int(gw_recipient_add(s, "alice", alice, groups, 1, err, sizeof(err)), MQS_OK,
	           "add alice");
	tap_is_int(gw_recipient_add(s, "bob", bob, groups, 1, err, sizeof(err)), MQS_OK, "add bob");
	tap_is_int(gw_recipient_add(s, "alice", bob, NULL, 0, err, sizeof(err)), MQS_ERR_EXISTS,
	           "same name twice refused");
	{
		const char *none[GW_F__COUNT] = {NULL, NULL, NULL};
		tap_is_int(gw_recipient_add(s, "nobody", none, NULL, 0, err, sizeof(err)),
		           MQS_ERR_INVAL, "no address refused");
	}
	tap_ok(gw_recipient_find(s, GW_F_EMAIL, "alice@example.COM", name, sizeof(name), err,
	                         sizeof(err)) == MQS_OK &&
	           strcmp(name, "alice") == 0,
	       "lookup by email is case-insensitive");
	name[0] = '\0';
	tap_ok(gw_recipient_find(s, GW_F_PHONE, "+15550001234", name, sizeof(name), err,
	                         sizeof(err)) == MQS_OK &&
	           strcmp(name, "alice") == 0,
	       "lookup by normalised phone (%s)", name[0] ? name : err);
	tap_is_int(
	    gw_recipient_find(s, GW_F_PHONE, "+15550009999", name, sizeof(name), err, sizeof(err)),
	    MQS_ERR_NOENT, "unknown phone");
	tap_ok(gw_recipient_address(s, "alice", GW_CH_SMS, addr, sizeof(addr)) == GW_ADDR_OK &&
	           strcmp(addr, "+15550001234") == 0,
	       "address decrypts for delivery");
	tap_is_int(gw_recipient_address(s, "bob", GW_CH_SMS, addr, sizeof(addr)), GW_ADDR_NONE,
	           "no phone for bob");
	tap_is_int(gw_recipient_address(s, "carol", GW_CH_EMAIL, addr, sizeof(addr)),
	           GW_ADDR_NO_RECIPIENT, "unknown recipient");
	tap_is_int(gw_recipient_optout(s, "alice", GW_CH_LINE, err, sizeof(err)), MQS_OK,
	           "opt out");
	tap_is_int(gw_recipient_address(s, "alice", GW_CH_LINE, addr, sizeof(addr)), GW_ADDR_OPTOUT,
	           "opted out");

	/* the AAD binds a field to its row: moving ciphertext to bob fails */
	sqlite3_exec(s->db,
	             "UPDATE recipients SET phone = (SELECT phone FROM recipients WHERE name = "
	             "'alice') WHERE name = 'bob'",
	             NULL, NULL, NULL);
	tap_is_int(gw_recipient_address(s, "bob", GW_CH_SMS, addr, sizeof(addr)), GW_ADDR_ERROR,
	           "a ciphertext copied to another recipient does not open");
	sqlite3_exec(s->db, "UPDATE recipients SET phone = NULL WHERE name = 'bob'", NULL, NULL,
	             NULL);

	out = open_memstream(&listing, &listing_len);
	gw_recipient_list(s, out, 0);
	fclose(out);
	tap_ok(strstr(listing, "A***@E***.com") != NULL &&
	           strstr(listing, "+1******1234") != NULL && strstr(listing, "U***cdef") != NULL,
	       "listing is masked");
	tap_ok(strstr(listing, "Alice@") == NULL && strstr(listing, "5550001234") == NULL &&
	           strstr(listing, "0123456789abcdef") == NULL,
	       "listing holds no full address");
	free(listing);
	listing = NULL;
	out = open_memstream(&listing, &listing_len);
	gw_recipient_list(s, out, 1);
	fclose(out);
	tap_ok(strstr(listing, "\"email\":\t\"b***@e***.net\"") != NULL, "json listing is masked");
	free(listing);
}

static void test_outbox(struct gw_gateway *gw)
{
	struct gw_store *s = &gw->store;
	struct gw_alert a;
	struct gw_outbox_row *rows = NULL;
	size_t n = 0, nrows = 0;
	int64_t rowid = 0, now = 1000000;
	char err[256];
	const char *json = "{\"id\":\"a-1\",\"severity\":\"critical\",\"group\":\"ops\","
	                   "\"title\":\"T\",\"body\":\"B\"}";
	sqlite3_stmt *st;

	tap_ok(gw_alert_parse((const uint8_t *)json, strlen(json), NULL, &a, err, sizeof(err)) == 0,
	       "alert parses");
	tap_is_int(gw_alert_channels(s, &a), GW_CH_BIT(GW_CH_SMS) | GW_CH_BIT(GW_CH_EMAIL),
	           "no channels in the message: the group default");
	gw_store_begin(s);
	tap_is_int(gw_alert_queue_tx(s, gw->conf, &a, "alerts", "alerts/x", "alert", NULL, "", now,
	                             &rowid, &nrows),
	           MQS_OK, "queued");
	if (gw_store_commit(s) != 0)
		tap_diag("cannot commit");
	tap_is_int((long long)nrows, 3, "alice email+sms, bob email (bob has no phone)");
	gw_store_begin(s);
	tap_is_int(gw_alert_queue_tx(s, gw->conf, &a, "alerts", "alerts/x", "alert", NULL, "", now,
	                             &rowid, &nrows),
	           MQS_ERR_EXISTS, "same id again refused");
	gw_store_rollback(s);
	gw_alert_release(&a);
	st = gw_store_prepare(s, "SELECT count(*), count(DISTINCT retry_key) FROM outbox");
	sqlite3_step(st);
	tap_ok(sqlite3_column_int(st, 0) == 3 && sqlite3_column_int(st, 1) == 3,
	       "three rows, each with its own retry key");
	sqlite3_finalize(st);
	st = gw_store_prepare(s, "SELECT state, deadline FROM escalations");
	tap_ok(sqlite3_step(st) == SQLITE_ROW &&
	           strcmp((const char *)sqlite3_column_text(st, 0), "waiting") == 0 &&
	           sqlite3_column_int64(st, 1) == now + (int64_t)gw->conf->ack_timeout_ms,
	       "critical alert: escalation clock started");
	sqlite3_finalize(st);

	tap_ok(gw_outbox_claim(s, GW_CH_EMAIL, now - 1, 10, &rows, &n) == MQS_OK && n == 0,
	       "nothing due before next_attempt_at");
	gw_outbox_rows_free(rows, n);
	tap_ok(gw_outbox_claim(s, GW_CH_EMAIL, now, 1, &rows, &n) == MQS_OK && n == 1 &&
	           rows[0].attempts == 1 && strcmp(rows[0].msg_id, "a-1") == 0 &&
	           strcmp(rows[0].title, "T") == 0,
	       "claim respects the limit");
	gw_outbox_rows_free(rows, n);
	tap_ok(gw_outbox_next_due(s, GW_CH_BIT(GW_CH_EMAIL)) == now, "next due");
	tap_is_int(gw_outbox_requeue_sending(s), 1, "crash recovery requeues the sending row");
	tap_ok(gw_outbox_claim(s, GW_CH_EMAIL, now, 10, &rows, &n) == MQS_OK && n == 2,
	       "both email rows claimed");
	for (size_t i = 0; i < n; i++) {
		if (gw_outbox_update(s, rows[i].id, "sent", 0, NULL, "ref-1", now) != MQS_OK)
			tap_diag("cannot update row %lld", (long long)rows[i].id);
	}
	tap_ok(n == 2 && (rows[0].attempts == 2 || rows[1].attempts == 2),
	       "attempts count across the crash");
	gw_outbox_rows_free(rows, n);
	tap_ok(gw_outbox_next_due(s, GW_CH_BIT(GW_CH_EMAIL)) == 0, "no email left");
	tap_ok(gw_outbox_prune(s, now + 1) == 0, "text kept while a delivery is pending");
}

static void test_payloads(void)
{
	struct mqs_creds c;
	uint8_t key[32], env[512], *plain = NULL;
	size_t env_len = 0, plain_len = 0;
	char origin[256], err[256];
	const char *msg = "{\"id\":\"x\"}";

	RAND_bytes(key, sizeof(key));
	mqs_creds_init(&c);
	mqs_creds_set_username(&c, "gw");
	mqs_creds_add_key(&c, 42, MQS_CREDS_USE_TOPIC, "alerts/#", key);
	mqs_envelope_seal(key, 42, mqs_now_ms(), NULL, "sensor1", 7, "alerts/a", 8,
	                  (const uint8_t *)msg, strlen(msg), env, sizeof(env), &env_len);
	tap_ok(gw_mqtt_open_payload(&c, NULL, "alerts/a", env, env_len, &plain, &plain_len, origin,
	                            err, sizeof(err)) == 0 &&
	           plain_len == strlen(msg) && memcmp(plain, msg, plain_len) == 0 &&
	           strcmp(origin, "sensor1") == 0,
	       "envelope opened, origin returned");
	mqs_secret_free(plain, plain_len);
	tap_ok(gw_mqtt_open_payload(&c, NULL, "alerts/b", env, env_len, &plain, &plain_len, origin,
	                            err, sizeof(err)) != 0 &&
	           strstr(err, "cannot open envelope") != NULL,
	       "an envelope for another topic is refused");
	env[env_len - 1] ^= 1;
	tap_ok(gw_mqtt_open_payload(&c, NULL, "alerts/a", env, env_len, &plain, &plain_len, origin,
	                            err, sizeof(err)) != 0,
	       "a tampered envelope is refused");
	tap_ok(gw_mqtt_open_payload(&c, NULL, "alerts/a", (const uint8_t *)msg, strlen(msg), &plain,
	                            &plain_len, origin, err, sizeof(err)) == 0 &&
	           plain_len == strlen(msg) && origin[0] == '\0',
	       "plaintext passes through");
	mqs_secret_free(plain, plain_len);
	env[2] = 0x7f; /* key id not in the credentials */
	tap_ok(gw_mqtt_open_payload(&c, NULL, "alerts/a", env, env_len, &plain, &plain_len, origin,
	                            err, sizeof(err)) == 0 &&
	           plain_len == env_len,
	       "an envelope for an unknown key id is passed on as is");
	mqs_secret_free(plain, plain_len);
	mqs_creds_release(&c);
}

int main(void)
{
	struct gw_config conf;
	struct gw_gateway gw;
	char err[512], wal[300];

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db_path, sizeof(db_path), "%s/gw.db", dir);
	snprintf(key_path, sizeof(key_path), "%s/gw.key", dir);
	snprintf(wal, sizeof(wal), "%s-wal", db_path);
	gw_log_set_level(GW_LOG_ERR);
	test_keys();

	memset(&conf, 0, sizeof(conf));
	conf.status_topic = "mqttsec/status";
	conf.ack_timeout_ms = 5000;
	conf.nescalation = 2;
	conf.escalation[0] = GW_CH_EMAIL;
	conf.escalation[1] = GW_CH_PHONE;
	memset(&gw, 0, sizeof(gw));
	gw.conf = &conf;
	if (gw_store_open(&gw.store, db_path, key_path, 1, err, sizeof(err)) != 0) {
		tap_diag("%s", err);
		return tap_exit() | 1;
	}
	test_recipients(&gw.store);
	test_outbox(&gw);
	tap_ok(file_has(wal, "ops") || file_has(db_path, "ops"),
	       "sanity: the scan sees stored text");
	tap_ok(!file_has(db_path, "Alice@Example.com") && !file_has(wal, "Alice@Example.com") &&
	           !file_has(db_path, "5550001234") && !file_has(wal, "5550001234") &&
	           !file_has(db_path, "0123456789abcdef0123") &&
	           !file_has(wal, "0123456789abcdef0123") && !file_has(wal, "bob@example.net"),
	       "no plaintext address in the db or its WAL");
	gw_store_close(&gw.store);
	test_payloads();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	return tap_exit();
}
