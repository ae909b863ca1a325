/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-smskey.c - per-recipient SMS key tables (gateway/gw_smskey.c,
 * docs/sms-envelope.md "Key tables"): ids count up per recipient, one
 * active key, rotation with and without grace, no key bytes in the clear,
 * a wrapped key moved to another row does not open, the keys go with the
 * recipient; the gateway's seal (gateway/gw_sms.c): on / required / off,
 * action and component, "too long", the segment count. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_smskey.h"
#include "gw_store.h"
#include "gw_twilio.h"
#include "mqs_error.h"
#include "mqs_sms.h"
#include "tap.h"

static char dir[] = "/tmp/test-gw-smskey.XXXXXX";

/* Add recipient name with phone. */
static int add_recipient(struct gw_store *s, const char *name, const char *phone)
{
	const char *values[GW_F__COUNT] = {NULL, phone, NULL};
	char err[256];

	return gw_recipient_add(s, name, values, NULL, 0, err, sizeof(err));
}

/* 1 when the 32 bytes of key appear anywhere in the database file. */
static int key_in_file(const char *path, const uint8_t *key)
{
	FILE *f = fopen(path, "rb");
	static uint8_t buf[1 << 20];
	size_t n;
	int found = 0;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	for (size_t i = 0; i + GW_SMSKEY_LEN <= n && !found; i++)
		found = memcmp(buf + i, key, GW_SMSKEY_LEN) == 0;
	return found;
}

static void test_table(struct gw_store *s, const char *db_path)
{
	struct gw_smskey k, all[GW_SMSKEY_MAX];
	char err[256], path[300];
	uint16_t id = 0;
	size_t n = 0;

	tap_is_int(add_recipient(s, "alice", "+15550001234"), MQS_OK, "recipient alice");
	tap_is_int(add_recipient(s, "bob", "+15550005678"), MQS_OK, "recipient bob");
	tap_is_int(gw_smskey_has(s, "alice"), 0, "alice has no key yet");
	tap_is_int(gw_smskey_active(s, "alice", &k), MQS_ERR_NOENT, "no active key");
	tap_is_int(gw_smskey_add(s, "nobody", &id, err, sizeof(err)), MQS_ERR_NOENT,
	           "no key for an unknown recipient");
	tap_is_int(gw_smskey_rotate(s, "alice", 0, &id, err, sizeof(err)), MQS_ERR_NOENT,
	           "rotate without a key refused");
	tap_is_int(gw_smskey_add(s, "alice", &id, err, sizeof(err)), MQS_OK, "add");
	tap_is_int(id, 1, "... key id 1");
	tap_is_int(gw_smskey_add(s, "alice", &id, err, sizeof(err)), MQS_ERR_EXISTS,
	           "a second add is refused (%s)", err);
	tap_is_int(gw_smskey_add(s, "bob", &id, err, sizeof(err)), MQS_OK, "bob's first key");
	tap_is_int(id, 1, "... ids count per recipient");
	tap_is_int(gw_smskey_active(s, "alice", &k), MQS_OK, "alice's active key");
	tap_ok(k.id == 1 && k.expires_ms == 0, "... id 1, no expiry");
	snprintf(path, sizeof(path), "%s-wal", db_path);
	tap_ok(!key_in_file(db_path, k.key) && !key_in_file(path, k.key),
	       "the key bytes are not in the database or its WAL");

	tap_is_int(gw_smskey_rotate(s, "alice", 30LL * 86400 * 1000, &id, err, sizeof(err)), MQS_OK,
	           "rotate with 30 days of grace");
	tap_is_int(id, 2, "... key id 2");
	tap_is_int(gw_smskey_all(s, "alice", all, GW_SMSKEY_MAX, &n), MQS_OK, "all keys");
	tap_ok(n == 2 && all[0].id == 2 && all[0].expires_ms == 0 && all[1].id == 1 &&
	           all[1].expires_ms > 0 && memcmp(all[1].key, k.key, GW_SMSKEY_LEN) == 0,
	       "key 2 active, key 1 the same bytes with an expiry");
	tap_is_int(gw_smskey_active(s, "alice", &k), MQS_OK, "active after rotation");
	tap_is_int(k.id, 2, "... is key 2");
	tap_is_int(gw_smskey_rotate(s, "alice", 0, &id, err, sizeof(err)), MQS_OK,
	           "rotate without grace");
	tap_is_int(gw_smskey_all(s, "alice", all, GW_SMSKEY_MAX, &n), MQS_OK, "all keys");
	tap_ok(n == 2 && all[0].id == 3 && all[1].id == 1,
	       "key 2 gone at once, key 3 active, key 1 still in grace");
	tap_is_int(gw_smskey_rotate(s, "alice", -1, &id, err, sizeof(err)), MQS_ERR_INVAL,
	           "negative grace refused");

	/* a wrapped key moved to another recipient's row does not open */
	tap_is_int(
	    sqlite3_exec(s->db,
	                 "UPDATE sms_keys SET wrapped = (SELECT wrapped FROM sms_keys k JOIN "
	                 "recipients r ON r.id = k.recipient_id WHERE r.name = 'alice' AND "
	                 "k.key_id = 3) WHERE recipient_id = (SELECT id FROM recipients "
	                 "WHERE name = 'bob')",
	                 NULL, NULL, NULL),
	    SQLITE_OK, "copy alice's wrapped key 3 over bob's key 1");
	tap_is_int(gw_smskey_active(s, "bob", &k), MQS_ERR_UNWRAP, "... it does not open for bob");
	tap_ok(k.key[0] == 0 && memcmp(k.key, k.key + 1, GW_SMSKEY_LEN - 1) == 0,
	       "... and nothing is handed out");
	tap_is_int(gw_recipient_rm(s, "alice", err, sizeof(err)), MQS_OK, "remove alice");
	tap_ok(sqlite3_exec(s->db, "SELECT 1", NULL, NULL, NULL) == SQLITE_OK, "db fine");
	{
		sqlite3_stmt *st = NULL;
		int left = -1;

		if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sms_keys", -1, &st, NULL) ==
		        SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			left = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		tap_is_int(left, 1, "alice's keys went with her (bob's one row is left)");
	}
}

static void test_seal(void)
{
	static uint8_t key[32] = {1, 2, 3};
	struct gw_delivery d;
	struct gw_result res;
	struct mqs_sms_msg m;
	static char longbody[1400];
	char *body;

	memset(&d, 0, sizeof(d));
	d.address = "+15550001234";
	d.title = "Vault";
	d.body = "door open";
	d.kind = "alert";
	d.route = "alerts";
	memset(&res, 0, sizeof(res));
	body = gw_sms_body(&d, GW_SMS_ENVELOPE_REQUIRED, &res);
	tap_ok(body == NULL && res.outcome == GW_FAILED && strcmp(res.error, "no sms key") == 0,
	       "required without a key: failed 'no sms key'");
	memset(&res, 0, sizeof(res));
	body = gw_sms_body(&d, GW_SMS_ENVELOPE_ON, &res);
	tap_ok(body != NULL && strcmp(body, "Vault\ndoor open") == 0 && res.segments == 1,
	       "on without a key: plaintext, 1 segment");
	free(body);
	d.sms_key = key;
	d.sms_key_id = 4;
	memset(&res, 0, sizeof(res));
	body = gw_sms_body(&d, GW_SMS_ENVELOPE_OFF, &res);
	tap_ok(body != NULL && strcmp(body, "Vault\ndoor open") == 0, "off with a key: plaintext");
	free(body);
	memset(&res, 0, sizeof(res));
	body = gw_sms_body(&d, GW_SMS_ENVELOPE_ON, &res);
	tap_ok(body != NULL && mqs_sms_is_sealed(body, strlen(body)) && res.segments == 1,
	       "on with a key: #M1, 1 segment");
	tap_is_int(body != NULL
	               ? mqs_sms_open(key, body, strlen(body), d.address, strlen(d.address), &m)
	               : -1,
	           MQS_OK, "... opens for the recipient's number");
	tap_ok(m.key_id == 4 && m.action == MQS_SMS_ACTION_ALERT &&
	           strcmp(m.component, "alerts") == 0 && strcmp(m.text, "Vault\ndoor open") == 0,
	       "... key id 4, action alert, component = route, title and body");
	free(body);
	d.kind = "marketing";
	d.route = "a-route-name-longer-than-32-bytes-x";
	memset(&res, 0, sizeof(res));
	body = gw_sms_body(&d, GW_SMS_ENVELOPE_REQUIRED, &res);
	tap_is_int(body != NULL
	               ? mqs_sms_open(key, body, strlen(body), d.address, strlen(d.address), &m)
	               : -1,
	           MQS_OK, "marketing seals and opens");
	tap_ok(m.action == MQS_SMS_ACTION_MARKETING && m.component_len == 0,
	       "... action marketing, a route over 32 bytes gives an empty component");
	free(body);
	memset(longbody, 'x', sizeof(longbody) - 1);
	d.body = longbody;
	memset(&res, 0, sizeof(res));
	body = gw_sms_body(&d, GW_SMS_ENVELOPE_ON, &res);
	tap_ok(body == NULL && res.outcome == GW_FAILED && strstr(res.error, "too long") != NULL,
	       "over 1600 characters sealed: failed 'too long' (%s)", res.error);
	mqs_sms_msg_wipe(&m);
}

int main(void)
{
	struct gw_store s;
	char err[512], db_path[256], key_path[256], cmd[300];

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db_path, sizeof(db_path), "%s/gw.db", dir);
	snprintf(key_path, sizeof(key_path), "%s/gw.key", dir);
	gw_log_set_level(GW_LOG_ERR);
	if (gw_store_open(&s, db_path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		return tap_exit() | 1;
	}
	test_table(&s, db_path);
	gw_store_close(&s);
	test_seal();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	tap_done();
	return tap_exit();
}
