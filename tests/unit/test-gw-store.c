/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-store.c - the gateway database: master key handling, encrypted
 * recipients with HMAC lookups, masked listings, outbox dedupe, claim,
 * requeue after a crash, escalation rows, envelope opening, the
 * checkpointer thread, the syncer thread. */
#include "config.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "gateway.h"
#include "gw_alert.h"
#include "gw_consent.h"
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

/* A set-up step whose failure the assertions that follow would show: only
 * reported. */
#define SETUP(call)                                                                                \
	do {                                                                                       \
		if ((call) != 0)                                                                   \
			tap_diag("set-up failed: %s", #call);                                      \
	} while (0)

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

/* The address of recipient name for channel ch as the delivery engine gets
 * it: an outbox row claimed with gw_outbox_claim_prio (its addr_status and
 * sealed field), opened with gw_recipient_open.  Everything happens in one
 * transaction that is rolled back: the probe leaves nothing behind. */
static int address_of(struct gw_store *s, const char *name, int ch, char *out, size_t cap)
{
	struct gw_message m = {.msg_id = "probe",
	                       .route = "probe",
	                       .topic = "probe",
	                       .kind = "alert",
	                       .group = "probe",
	                       .title = "t",
	                       .body = "b",
	                       .publisher = ""};
	struct gw_outbox_row *rows = NULL;
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int64_t rowid = 0;
	int rc = GW_ADDR_ERROR;

	if (gw_store_begin(s) != MQS_OK)
		return rc;
	if (gw_outbox_insert_message(s, &m, 1, &rowid) != MQS_OK)
		goto out;
	st = gw_store_prepare(s, "INSERT INTO outbox(message, recipient, channel, state, "
	                         "next_attempt_at, retry_key, created_at, updated_at) "
	                         "VALUES (?, ?, ?, 'queued', 0, 'k', 0, 0)");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, rowid);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, gw_chan_name(ch), -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	if (gw_outbox_claim_prio(s, ch, GW_PRIO_ALERT, 1, 1, &rows, &n) != MQS_OK || n != 1)
		goto out;
	rc = rows[0].addr_status;
	if (rc == GW_ADDR_OK)
		rc = gw_recipient_open(s, rows[0].recipient, gw_field_for_chan(ch), rows[0].sealed,
		                       rows[0].sealed_len, out, cap);
out:
	sqlite3_finalize(st);
	gw_outbox_rows_free(rows, n);
	gw_store_rollback(s);
	return rc;
}

/* A listing as the recipient list command gets it: masked fields, one line
 * per recipient ("name email phone line", "-" for none) in a string. */
struct listing {
	char text[2048];
	size_t len;
};

/* gw_recipient_each callback: append one recipient to the listing. */
static int list_row(const struct gw_recipient_info *ri, void *arg)
{
	struct listing *l = arg;
	int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s %s %s %s\n", ri->name,
	                 ri->status[GW_F_EMAIL] == GW_ADDR_OK ? ri->masked[GW_F_EMAIL] : "-",
	                 ri->status[GW_F_PHONE] == GW_ADDR_OK ? ri->masked[GW_F_PHONE] : "-",
	                 ri->status[GW_F_LINE] == GW_ADDR_OK ? ri->masked[GW_F_LINE] : "-");

	if (n < 0 || (size_t)n >= sizeof(l->text) - l->len)
		return MQS_ERR_BUFSIZE;
	l->len += (size_t)n;
	return MQS_OK;
}

static void test_recipients(struct gw_store *s)
{
	const char *alice[GW_F__COUNT] = {"Alice@Example.com", "+1 555 000 1234",
	                                  "U0123456789abcdef0123456789abcdef"};
	const char *bob[GW_F__COUNT] = {"bob@example.net", NULL, NULL};
	const char *groups[] = {"ops"};
	char err[256], name[80], addr[GW_ADDR_MAX];
	struct listing listing;

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
	tap_ok(address_of(s, "alice", GW_CH_SMS, addr, sizeof(addr)) == GW_ADDR_OK &&
	           strcmp(addr, "+15550001234") == 0,
	       "address decrypts for delivery");
	tap_is_int(address_of(s, "bob", GW_CH_SMS, addr, sizeof(addr)), GW_ADDR_NONE,
	           "no phone for bob");
	tap_is_int(address_of(s, "carol", GW_CH_EMAIL, addr, sizeof(addr)), GW_ADDR_NO_RECIPIENT,
	           "unknown recipient");
	tap_is_int(gw_consent_optout(s, gw_recipient_id(s, "alice"), GW_CH_LINE, "cli",
	                             (int64_t)mqs_now_ms(), NULL),
	           MQS_OK, "opt out");
	tap_is_int(address_of(s, "alice", GW_CH_LINE, addr, sizeof(addr)), GW_ADDR_OPTOUT,
	           "opted out");

	/* the AAD binds a field to its row: moving ciphertext to bob fails */
	sqlite3_exec(s->db,
	             "UPDATE recipients SET phone = (SELECT phone FROM recipients WHERE name = "
	             "'alice') WHERE name = 'bob'",
	             NULL, NULL, NULL);
	tap_is_int(address_of(s, "bob", GW_CH_SMS, addr, sizeof(addr)), GW_ADDR_ERROR,
	           "a ciphertext copied to another recipient does not open");
	sqlite3_exec(s->db, "UPDATE recipients SET phone = NULL WHERE name = 'bob'", NULL, NULL,
	             NULL);

	memset(&listing, 0, sizeof(listing));
	tap_is_int(gw_recipient_each(s, list_row, &listing), MQS_OK, "listing walks");
	tap_ok(strstr(listing.text, "A***@E***.com") != NULL &&
	           strstr(listing.text, "+1******1234") != NULL &&
	           strstr(listing.text, "U***cdef") != NULL,
	       "listing is masked");
	tap_ok(strstr(listing.text, "Alice@") == NULL &&
	           strstr(listing.text, "5550001234") == NULL &&
	           strstr(listing.text, "0123456789abcdef") == NULL,
	       "listing holds no full address");
	tap_ok(strstr(listing.text, "bob b***@e***.net - -") != NULL,
	       "bob's listing is masked, his missing fields are none");

	/* the masks are stored with the addresses: a listing needs no key */
	{
		uint8_t saved[sizeof(s->mk)];

		memcpy(saved, s->mk, sizeof(saved));
		memset(s->mk, 0x5a, sizeof(s->mk));
		memset(&listing, 0, sizeof(listing));
		tap_is_int(gw_recipient_each(s, list_row, &listing), MQS_OK,
		           "listing walks under a wrong master key");
		tap_ok(strstr(listing.text, "A***@E***.com") != NULL &&
		           strstr(listing.text, "+1******1234") != NULL &&
		           strstr(listing.text, "bob b***@e***.net - -") != NULL,
		       "listing shows the stored masks without decrypting");
		memcpy(s->mk, saved, sizeof(saved));
	}
	tap_is_int(
	    gw_recipient_set_address(s, "bob", GW_F_PHONE, "+44 20 7946 0123", err, sizeof(err)),
	    MQS_OK, "set bob's phone");
	memset(&listing, 0, sizeof(listing));
	SETUP(gw_recipient_each(s, list_row, &listing));
	tap_ok(strstr(listing.text, "bob b***@e***.net +4*******0123 -") != NULL,
	       "a changed address stores its mask (%s)", listing.text);
	SETUP(gw_store_exec(s, "UPDATE recipients SET phone = NULL, phone_m = NULL "
	                       "WHERE name = 'bob'"));
}

/* Rows of a database from before the masks get them once, on open. */
static void test_masks_fill(void)
{
	struct gw_store s;
	struct listing listing;
	const char *vals[GW_F__COUNT] = {"Dave@Example.org", "+15550007777", NULL};
	char path[300], err[512];
	int64_t flag = 0;

	snprintf(path, sizeof(path), "%s/old.db", dir);
	if (gw_store_open(&s, path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "old database opens");
		return;
	}
	SETUP(gw_recipient_add(&s, "dave", vals, NULL, 0, err, sizeof(err)));
	/* as migration 6 leaves an older database, with text stored in clear */
	SETUP(gw_store_exec(&s, "UPDATE recipients SET email_m = NULL, phone_m = NULL;"
	                        "DELETE FROM kv WHERE key = 'recipient_masks_filled';"
	                        "DELETE FROM kv WHERE key = 'message_text_sealed';"
	                        "INSERT INTO messages(msg_id, route, topic, kind, severity, grp, "
	                        "title, body, received_at) VALUES ('old-1', 'alerts', 't', "
	                        "'alert', 'info', 'ops', 'Old title', 'Old body', 1)"));
	gw_store_close(&s);
	if (gw_store_open(&s, path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "old database reopens");
		return;
	}
	tap_ok(gw_store_kv_get_int(&s, "recipient_masks_filled", &flag) == MQS_OK && flag == 1,
	       "the fill ran once and is recorded");
	{
		sqlite3_stmt *st =
		    gw_store_prepare(&s, "SELECT count(*) FROM messages WHERE msg_id = 'old-1' AND "
		                         "typeof(title) = 'blob' AND typeof(body) = 'blob'");

		tap_ok(st != NULL && sqlite3_step(st) == SQLITE_ROW &&
		           sqlite3_column_int(st, 0) == 1,
		       "text stored in clear before is sealed on open");
		sqlite3_finalize(st);
	}
	memset(s.mk, 0x5a, sizeof(s.mk));
	memset(&listing, 0, sizeof(listing));
	SETUP(gw_recipient_each(&s, list_row, &listing));
	tap_ok(strstr(listing.text, "dave D***@E***.org +1******7777 -") != NULL,
	       "existing rows got their masks (listed without the key: %s)", listing.text);
	gw_store_close(&s);
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
	                   "\"title\":\"Tq7-title\",\"body\":\"Bq7-body\"}";
	sqlite3_stmt *st;

	tap_ok(gw_alert_parse((const uint8_t *)json, strlen(json), NULL, &a, err, sizeof(err)) == 0,
	       "alert parses");
	tap_is_int(gw_alert_channels(s, &a), GW_CH_BIT(GW_CH_SMS) | GW_CH_BIT(GW_CH_EMAIL),
	           "no channels in the message: the group default");
	SETUP(gw_store_begin(s));
	tap_is_int(gw_alert_queue_tx(s, gw->conf, &a, "alerts", "alerts/x", "alert", NULL, "", now,
	                             &rowid, &nrows),
	           MQS_OK, "queued");
	SETUP(gw_store_commit(s));
	tap_is_int((long long)nrows, 3, "alice email+sms, bob email (bob has no phone)");
	SETUP(gw_store_begin(s));
	tap_is_int(gw_alert_queue_tx(s, gw->conf, &a, "alerts", "alerts/x", "alert", NULL, "", now,
	                             &rowid, &nrows),
	           MQS_ERR_EXISTS, "same id again refused");
	gw_store_rollback(s);
	gw_alert_release(&a);
	st = gw_store_prepare(s, "SELECT typeof(title), typeof(body) FROM messages");
	tap_ok(sqlite3_step(st) == SQLITE_ROW &&
	           strcmp((const char *)sqlite3_column_text(st, 0), "blob") == 0 &&
	           strcmp((const char *)sqlite3_column_text(st, 1), "blob") == 0,
	       "title and body stored sealed");
	sqlite3_finalize(st);
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

	tap_ok(gw_outbox_claim_prio(s, GW_CH_EMAIL, GW_PRIO_ALERT, now - 1, 10, &rows, &n) ==
	               MQS_OK &&
	           n == 0,
	       "nothing due before next_attempt_at");
	gw_outbox_rows_free(rows, n);
	tap_ok(gw_outbox_claim_prio(s, GW_CH_EMAIL, GW_PRIO_ALERT, now, 1, &rows, &n) == MQS_OK &&
	           n == 1 && rows[0].attempts == 1 && strcmp(rows[0].msg_id, "a-1") == 0 &&
	           strcmp(rows[0].title, "Tq7-title") == 0 && strcmp(rows[0].body, "Bq7-body") == 0,
	       "claim respects the limit, title and body opened");
	gw_outbox_rows_free(rows, n);
	tap_ok(gw_outbox_next_due_prio(s, GW_CH_BIT(GW_CH_EMAIL), GW_PRIO_ALERT) == now,
	       "next due");
	tap_is_int(gw_outbox_requeue_sending(s), 1, "crash recovery requeues the sending row");
	tap_ok(gw_outbox_claim_prio(s, GW_CH_EMAIL, GW_PRIO_ALERT, now, 10, &rows, &n) == MQS_OK &&
	           n == 2,
	       "both email rows claimed");
	for (size_t i = 0; i < n; i++)
		SETUP(gw_outbox_update(s, rows[i].id, "sent", 0, NULL, "ref-1", now));
	tap_ok(n == 2 && (rows[0].attempts == 2 || rows[1].attempts == 2),
	       "attempts count across the crash");
	gw_outbox_rows_free(rows, n);
	tap_ok(gw_outbox_next_due_prio(s, GW_CH_BIT(GW_CH_EMAIL), GW_PRIO_ALERT) == 0,
	       "no email left");
	tap_ok(gw_outbox_prune(s, now + 1) == 0, "text kept while a delivery is pending");

	/* a sealed title swapped for text in clear is refused, not sent */
	SETUP(gw_store_exec(s, "UPDATE messages SET title = 'Swapped-title' WHERE msg_id = 'a-1'"));
	tap_ok(gw_outbox_claim_prio(s, GW_CH_SMS, GW_PRIO_ALERT, now, 10, &rows, &n) == MQS_OK &&
	           n == 1 && rows[0].data_bad && strcmp(rows[0].title, "") == 0 &&
	           strcmp(rows[0].body, "Bq7-body") == 0,
	       "a title in clear after the sealing fails its delivery, the body still opens");
	gw_outbox_rows_free(rows, n);
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

/* gw_store_crypt: the sealing of stored payloads and campaigns. */
static void test_crypt(struct gw_store *s)
{
	const char *msg = "record bytes";
	uint8_t *sealed = NULL, *open = NULL;
	size_t sealed_len = 0, open_len = 0;

	tap_is_int(gw_store_crypt(s, "label a", 1, "aad", 3, (const uint8_t *)msg, strlen(msg),
	                          &sealed, &sealed_len),
	           MQS_OK, "crypt: sealed");
	tap_ok(sealed_len == strlen(msg) + 29 && sealed[0] == 0x01 &&
	           memmem(sealed, sealed_len, msg, strlen(msg)) == NULL,
	       "crypt: version | nonce | ciphertext | tag, no plaintext");
	tap_ok(gw_store_crypt(s, "label a", 0, "aad", 3, sealed, sealed_len, &open, &open_len) ==
	               MQS_OK &&
	           open_len == strlen(msg) && memcmp(open, msg, open_len) == 0,
	       "crypt: round trip");
	mqs_secret_free(open, open_len);
	open = NULL;
	tap_is_int(gw_store_crypt(s, "label a", 0, "aae", 3, sealed, sealed_len, &open, &open_len),
	           MQS_ERR_UNWRAP, "crypt: another aad does not open");
	tap_is_int(gw_store_crypt(s, "label b", 0, "aad", 3, sealed, sealed_len, &open, &open_len),
	           MQS_ERR_UNWRAP, "crypt: another label does not open");
	tap_is_int(gw_store_crypt(s, "label a", 0, "aad", 3, sealed, 20, &open, &open_len),
	           MQS_ERR_UNWRAP, "crypt: a truncated blob does not open");
	sealed[sealed_len - 1] ^= 1;
	tap_is_int(gw_store_crypt(s, "label a", 0, "aad", 3, sealed, sealed_len, &open, &open_len),
	           MQS_ERR_UNWRAP, "crypt: a changed tag does not open");
	tap_ok(open == NULL, "crypt: nothing handed out on failure");
	free(sealed);
	{
		uint8_t *c = NULL, *p = NULL;
		size_t cl = 0, pl = 0;

		tap_ok(gw_store_crypt_text(s, 1, "a", 1, (const uint8_t *)"text", 4, &c, &cl) ==
		               MQS_OK &&
		           gw_store_crypt(s, GW_STORE_TEXT_LABEL, 0, "a", 1, c, cl, &p, &pl) ==
		               MQS_OK &&
		           pl == 4 && memcmp(p, "text", 4) == 0,
		       "crypt: the cached text key is the one derived from its label");
		free(c);
		free(p);
	}
}

/* Size of the file at path, 0 when absent. */
static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* 1 when a thread of this process other than the main one blocks sig
 * (Linux: SigBlk in /proc/self/task/TID/status), 0 when none does, -1
 * when that cannot be read. */
static int other_thread_blocks(int sig)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int found = -1;

	if (d == NULL)
		goto out;
	found = 0;
	de = readdir(d);
	for (; found == 0 && de != NULL; de = readdir(d)) {
		char status[300], line[256];
		unsigned long long blk;
		FILE *f;

		if (de->d_name[0] == '.' || atoi(de->d_name) == (int)getpid())
			continue;
		snprintf(status, sizeof(status), "/proc/self/task/%s/status", de->d_name);
		f = fopen(status, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			if (sscanf(line, "SigBlk: %llx", &blk) == 1 && (blk >> (sig - 1) & 1))
				found = 1;
		}
		fclose(f);
	}
	closedir(d);
out:
	return found;
}

/* The daemon's checkpointer (docs/gateway.md, "Checkpoints"): the pages
 * the loop's connection commits reach the database file without a
 * checkpoint of its own, and none of its writes is refused meanwhile. */
static void test_checkpointer(void)
{
	struct gw_store s;
	char path[300], err[512];
	long long before, after = 0;
	unsigned long refused;
	int ok = 1;

	snprintf(path, sizeof(path), "%s/ckpt.db", dir);
	if (gw_store_open(&s, path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "checkpointer database opens");
		return;
	}
	gw_store_nowait(&s);
	SETUP(gw_store_exec(&s, "CREATE TABLE filler(b BLOB)"));
	tap_ok(gw_store_checkpointer_start(&s, path) == MQS_OK, "the checkpointer starts");
	/* SIGTERM and SIGINT must reach the loop's thread, not this one */
	tap_ok(other_thread_blocks(SIGTERM) == 1, "the checkpointer thread blocks SIGTERM");
	gw_store_checkpoint(&s); /* whatever the open left in the WAL */
	refused = gw_store_refusals(&s);
	before = file_size(path);
	/* 10 commits of 50 pages each: the WAL grows past GW_STORE_CKPT_PAGES */
	for (int i = 0; i < 10 && ok; i++)
		ok = gw_store_exec(&s, "INSERT INTO filler SELECT randomblob(4000) FROM (WITH "
		                       "RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
		                       "WHERE x < 50) SELECT x FROM c)") == MQS_OK;
	tap_ok(ok, "the loop's connection commits 500 pages");
	/* bounded wait for the thread (it runs at least once a second) */
	for (int i = 0; i < 500; i++) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		after = file_size(path);
		if (after - before >= 256LL * 4000)
			break;
		nanosleep(&ts, NULL);
	}
	tap_ok(after - before >= 256LL * 4000,
	       "the checkpointer folded the pages into the database file (%lld bytes more)",
	       after - before);
	tap_ok(gw_store_refusals(&s) == refused, "no write of the loop's connection was refused");
	gw_store_close(&s); /* stops and joins the thread */
	tap_ok(s.ckpt == NULL && s.db == NULL, "closing stops the checkpointer");
}

/* PRAGMA integrity_check of db: 1 when it says "ok". */
static int integrity_ok(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int good = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		good = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
	sqlite3_finalize(st);
	return good;
}

/* One integer from sql on db, or -1. */
static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* A steady stream of commits with no pause (a publisher flooding the
 * gateway): the thread's checkpoints run while the loop keeps writing and
 * never catch up with the last frame, so SQLite never starts the WAL over;
 * from GW_STORE_CKPT_MAX_PAGES the loop's connection copies what the
 * thread's passes leave, and at GW_STORE_CKPT_HARD_PAGES everything, so the
 * WAL stays bounded (docs/gateway.md, "Checkpoints").  The commits write
 * three times the hard bound's pages, and every row is still there after. */
static void test_checkpointer_bound(void)
{
	struct gw_store s;
	char path[300], wal[310], err[512];
	long long max = 0, page = 4096, bound;
	int ok = 1;

	snprintf(path, sizeof(path), "%s/ckpt-bound.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (gw_store_open(&s, path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "bounded WAL: database opens");
		return;
	}
	gw_store_nowait(&s);
	SETUP(gw_store_exec(&s, "CREATE TABLE filler(b BLOB)"));
	{
		sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(s.db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			page = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	SETUP(gw_store_checkpointer_start(&s, path));
	/* 3 x GW_STORE_CKPT_HARD_PAGES pages, a few per commit, no pause */
	for (int i = 0; i < 3 * GW_STORE_CKPT_HARD_PAGES / 2 && ok; i++) {
		long long w;

		ok = gw_store_begin(&s) == MQS_OK &&
		     gw_store_exec(&s, "INSERT INTO filler VALUES (randomblob(3000))") == MQS_OK &&
		     gw_store_exec(&s, "DELETE FROM filler WHERE rowid < (SELECT max(rowid) - 200 "
		                       "FROM filler)") == MQS_OK &&
		     gw_store_commit(&s) == MQS_OK;
		w = file_size(wal);
		if (w > max)
			max = w;
	}
	tap_ok(ok, "bounded WAL: the loop's connection commits without a pause");
	/* the hard cap and the frames of one commit (24-byte frame headers) */
	bound = (GW_STORE_CKPT_HARD_PAGES + 64LL) * (page + 24) + 32;
	tap_ok(max <= bound, "bounded WAL: at most %lld bytes (was %lld at most, %lld pages)",
	       bound, max, max / (page + 24));
	{
		sqlite3_stmt *st = NULL;
		long long n = -1;

		if (sqlite3_prepare_v2(s.db, "SELECT count(*) FROM filler", -1, &st, NULL) ==
		        SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		tap_is_int((int)n, 201, "bounded WAL: the last 201 rows are all there");
	}
	tap_ok(integrity_ok(s.db), "bounded WAL: PRAGMA integrity_check says ok");
	gw_store_close(&s);
}

/* SIGKILL while a flood of commits runs, once the WAL went past
 * GW_STORE_CKPT_MAX_PAGES (the loop's own checkpoints and the thread's
 * interleave, docs/gateway.md "Checkpoints"): the database opens again,
 * passes PRAGMA integrity_check, and holds every row a commit returned for
 * (the rows are numbered: no gap, none missing at the end). */
static void test_checkpointer_kill(void)
{
	struct gw_store s;
	char path[300], wal[310], err[512];
	volatile long long *last;
	long long page = 4096, w = 0, at_kill = 0, n, lo, hi;
	pid_t pid;
	int st = 0;

	snprintf(path, sizeof(path), "%s/ckpt-kill.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	last = mmap(NULL, sizeof(*last), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (last == MAP_FAILED) {
		tap_ok(0, "killed flood: shared memory");
		return;
	}
	*last = 0;
	if (gw_store_open(&s, path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "killed flood: database opens");
		return;
	}
	SETUP(gw_store_exec(&s, "CREATE TABLE filler(id INTEGER PRIMARY KEY, b BLOB)"));
	page = query_int(s.db, "PRAGMA page_size");
	gw_store_close(&s);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* the loop: commits with no pause until killed */
		if (gw_store_open(&s, path, key_path, 0, err, sizeof(err)) != MQS_OK ||
		    gw_store_checkpointer_start(&s, path) != MQS_OK)
			_exit(1);
		gw_store_nowait(&s);
		for (long long i = 1;; i++) {
			char sql[200];

			snprintf(sql, sizeof(sql),
			         "INSERT INTO filler VALUES (%lld, randomblob(3000))", i);
			if (gw_store_begin(&s) != MQS_OK || gw_store_exec(&s, sql) != MQS_OK ||
			    gw_store_exec(&s, "DELETE FROM filler WHERE id < (SELECT max(id) - 200 "
			                      "FROM filler)") != MQS_OK ||
			    gw_store_commit(&s) != MQS_OK)
				_exit(2);
			*last = i; /* committed */
		}
	}
	if (pid < 0) {
		tap_ok(0, "killed flood: fork");
		munmap((void *)last, sizeof(*last));
		return;
	}
	/* until the WAL file went past the soft cap (its size is its peak) and
	 * 300 commits more, at most 120 s (a busy machine) */
	for (int i = 0; i < 12000; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		w = file_size(wal);
		if (at_kill == 0 && w > GW_STORE_CKPT_MAX_PAGES * (page + 24))
			at_kill = *last + 300;
		if (at_kill > 0 && *last >= at_kill)
			break;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		nanosleep(&ts, NULL);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	at_kill = *last;
	tap_ok(pid > 0 && WIFSIGNALED(st), "killed flood: the writer ran until the SIGKILL");
	tap_diag("killed flood: %lld commits, WAL %lld pages", at_kill, w / (page + 24));
	if (gw_store_open(&s, path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "killed flood: the database opens again");
		munmap((void *)last, sizeof(*last));
		return;
	}
	tap_ok(integrity_ok(s.db), "killed flood: PRAGMA integrity_check says ok");
	n = query_int(s.db, "SELECT count(*) FROM filler");
	lo = query_int(s.db, "SELECT min(id) FROM filler");
	hi = query_int(s.db, "SELECT max(id) FROM filler");
	tap_ok(hi >= at_kill && hi - lo + 1 == n && n >= 1 && n <= 201,
	       "killed flood: every committed row there (last %lld, rows %lld..%lld, %lld)",
	       at_kill, lo, hi, n);
	gw_store_close(&s);
	munmap((void *)last, sizeof(*last));
}

/* The page cache bound (docs/gateway.md, "Memory"): a database much
 * larger than [store] cache_size, read through, leaves the loop's
 * connection's cache at the bound, and the memory report sees it. */
static void test_cache_bound(void)
{
	struct gw_store s;
	struct gw_store_mem m;
	char path[300], err[512];
	int ok;

	snprintf(path, sizeof(path), "%s/cache.db", dir);
	if (gw_store_open(&s, path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "cache bound: database opens");
		return;
	}
	tap_ok(gw_store_cache_set(&s, GW_STORE_CACHE_MIN) == MQS_OK, "cache bound: set to 64 KiB");
	/* 2 MiB of rows, then a full scan: every page goes through the cache */
	ok = gw_store_exec(&s, "CREATE TABLE filler(b BLOB)") == MQS_OK &&
	     gw_store_exec(&s, "INSERT INTO filler SELECT randomblob(2000) FROM (WITH RECURSIVE "
	                       "c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) "
	                       "SELECT x FROM c)") == MQS_OK &&
	     gw_store_exec(&s, "SELECT sum(length(b)) FROM filler") == MQS_OK;
	tap_ok(ok, "cache bound: 2 MB written and read");
	gw_store_mem_get(&s, &m);
	/* the bound plus a page of headroom per slot for SQLite's accounting */
	tap_ok(m.cache_loop > 0 && m.cache_loop <= 2 * (int64_t)GW_STORE_CACHE_MIN,
	       "cache bound: the loop's cache holds %lld bytes (bound %zu)",
	       (long long)m.cache_loop, GW_STORE_CACHE_MIN);
	tap_ok(m.sqlite_used >= m.cache_loop && m.sqlite_peak >= m.sqlite_used,
	       "cache bound: sqlite's heap %lld bytes (peak %lld) includes it",
	       (long long)m.sqlite_used, (long long)m.sqlite_peak);
	tap_ok(m.cache_ckpt == 0, "cache bound: no checkpointer, no second cache");
	gw_store_close(&s);
}

/* Wait (bounded) until the syncer's descriptor is readable, then empty it.
 * 1 when it was. */
static int syncer_wait(struct gw_store *s)
{
	struct pollfd p = {gw_store_sync_fd(s), POLLIN, 0};
	int r = poll(&p, 1, 60000);

	gw_store_sync_collect(s);
	return r == 1;
}

/* The daemon's syncer (docs/gateway.md, "Delivery guarantees"): the fsync
 * owed for committed messages is done by a thread, which wakes the loop
 * when it is done; should it fail, the fsync is owed again and paid in
 * place. */
static void test_syncer(void)
{
	struct gw_store s;
	char path[300], wal[310], moved[320], err[512];

	snprintf(path, sizeof(path), "%s/sync.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	snprintf(moved, sizeof(moved), "%s-moved", path);
	if (gw_store_open(&s, path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "syncer: database opens");
		return;
	}
	tap_ok(gw_store_syncer_start(&s) == MQS_OK && s.syncer == NULL &&
	           gw_store_sync_fd(&s) == -1,
	       "syncer: no thread with synchronous = normal");
	gw_store_close(&s);
	if (gw_store_open(&s, path, key_path, 1, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "syncer: database opens");
		return;
	}
	gw_store_nowait(&s);
	SETUP(gw_store_exec(&s, "CREATE TABLE t(x)"));
	tap_ok(gw_store_syncer_start(&s) == MQS_OK && gw_store_sync_fd(&s) >= 0, "syncer: starts");
	tap_ok(other_thread_blocks(SIGTERM) == 1, "syncer: its thread blocks SIGTERM");
	tap_ok(gw_store_sync_pending(&s) == 0, "syncer: nothing pending at first");
	gw_store_durable(&s, 0);
	SETUP(gw_store_exec(&s, "INSERT INTO t VALUES (1)"));
	gw_store_sync_later(&s);
	tap_ok(gw_store_sync_pending(&s) == 1, "syncer: a commit owes an fsync");
	gw_store_sync_begin(&s);
	tap_ok(s.unsynced == 0 && s.sync_gen == 1, "syncer: the fsync is handed over");
	tap_ok(syncer_wait(&s), "syncer: wakes the caller when done");
	tap_ok(gw_store_sync_pending(&s) == 0 && s.sync_known == 1,
	       "syncer: nothing pending after its fsync");
	/* an fsync that fails (the WAL file cannot be opened): owed again,
	 * paid in place from then on */
	SETUP(gw_store_exec(&s, "INSERT INTO t VALUES (2)"));
	gw_store_sync_later(&s);
	SETUP(rename(wal, moved));
	gw_store_sync_begin(&s);
	tap_ok(syncer_wait(&s), "syncer: a failed fsync wakes the caller too");
	tap_ok(gw_store_sync_pending(&s) == 1 && s.unsynced == 1 && s.sync_broken == 1,
	       "syncer: a failed fsync is owed again");
	/* flush_out (gw_run.c) lets the statuses of requests up to sync_known
	 * go: the failed one must not count as done before the fsync in place */
	tap_ok(gw_store_sync_pending(&s) == 1 && s.sync_known == 1 && s.sync_gen == 2,
	       "syncer: a failed fsync is not known done (its statuses wait)");
	SETUP(rename(moved, wal));
	gw_store_sync_begin(&s); /* in place now */
	tap_ok(gw_store_sync_pending(&s) == 0 && s.sync_gen == 2 && s.sync_known == 2,
	       "syncer: after a failure the fsync is paid in place");
	gw_store_close(&s);
	tap_ok(s.syncer == NULL && s.db == NULL, "syncer: closing stops it");
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
	test_crypt(&gw.store);
	test_recipients(&gw.store);
	test_outbox(&gw);
	tap_ok(file_has(wal, "ops") || file_has(db_path, "ops"),
	       "sanity: the scan sees stored text");
	tap_ok(!file_has(db_path, "Alice@Example.com") && !file_has(wal, "Alice@Example.com") &&
	           !file_has(db_path, "5550001234") && !file_has(wal, "5550001234") &&
	           !file_has(db_path, "0123456789abcdef0123") &&
	           !file_has(wal, "0123456789abcdef0123") && !file_has(wal, "bob@example.net"),
	       "no plaintext address in the db or its WAL");
	tap_ok(!file_has(db_path, "Tq7-title") && !file_has(wal, "Tq7-title") &&
	           !file_has(db_path, "Bq7-body") && !file_has(wal, "Bq7-body"),
	       "no plaintext title or body in the db or its WAL");
	gw_store_close(&gw.store);
	test_masks_fill();
	test_payloads();
	test_checkpointer();
	test_checkpointer_bound();
	test_checkpointer_kill();
	test_cache_bound();
	test_syncer();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	return tap_exit();
}
