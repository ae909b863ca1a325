/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-ids.c - message ids live in a namespace (route, publisher):
 * random sensor ids, per-publisher dedupe, unknown groups consume nothing,
 * the schema migration keeps old rows working, who may acknowledge,
 * spool file names never start with '-' or '.', the replay set. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "gateway.h"
#include "gw_ack.h"
#include "gw_alert.h"
#include "gw_channel.h"
#include "gw_escalation.h"
#include "gw_log.h"
#include "gw_mqtt.h"
#include "gw_outbox.h"
#include "gw_recipient.h"
#include "gw_sensor.h"
#include "gw_store.h"
#include "mqs_creds.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_seen.h"
#include "mqs_util.h"
#include "tap.h"

/* A set-up step whose failure the assertions that follow would show: only
 * reported. */
#define SETUP(call)                                                                                \
	do {                                                                                       \
		if ((call) != 0)                                                                   \
			tap_diag("set-up failed: %s", #call);                                      \
	} while (0)

static char dir[] = "/tmp/test-gw-ids.XXXXXX";

static int count(struct gw_store *s, const char *sql)
{
	sqlite3_stmt *st = gw_store_prepare(s, sql);
	int n = -1;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_random_ids(void)
{
	char a[GW_ID_MAX + 1], b[GW_ID_MAX + 1], long_route[GW_ID_MAX];

	tap_is_int(gw_sensor_make_id("room", a, sizeof(a)), 0, "sensor id drawn");
	tap_is_int(gw_sensor_make_id("room", b, sizeof(b)), 0, "another one");
	tap_ok(strncmp(a, "sensor-room-", 12) == 0 && strlen(a) == 12 + 32, "format %s", a);
	tap_ok(strcmp(a, b) != 0, "two sensor ids differ");
	tap_ok(gw_id_check(a) && strlen(a) + 3 <= GW_ID_MAX, "valid id, room for -ok");
	memset(long_route, 'r', 64);
	long_route[64] = '\0';
	tap_is_int(gw_sensor_make_id(long_route, a, sizeof(a)), 0,
	           "the longest route name still fits");
	tap_ok(strlen(a) + 3 <= GW_ID_MAX, "with -ok too (%zu)", strlen(a) + 3);
	memset(long_route, 'r', sizeof(long_route) - 1);
	long_route[sizeof(long_route) - 1] = '\0';
	tap_ok(gw_alert_random_id(long_route, a, sizeof(a)) != MQS_OK && a[0] == '\0',
	       "a prefix too long is refused");
}

static int queue(struct gw_gateway *gw, const char *id, const char *route, const char *group,
                 const char *publisher, int critical)
{
	struct gw_alert a;
	int rc;

	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "%s", id);
	snprintf(a.group, sizeof(a.group), "%s", group);
	a.severity = critical ? GW_SEV_CRITICAL : GW_SEV_INFO;
	a.title = (char *)"T";
	a.body = (char *)"B";
	if (gw_store_begin(&gw->store) != 0)
		return MQS_ERR_DB;
	rc = gw_alert_queue_tx(&gw->store, gw->conf, &a, route, "alerts/x", "alert",
	                       publisher[0] != '\0' && publisher[0] != '$' ? publisher : NULL,
	                       publisher, 1000, NULL, NULL);
	if (rc == MQS_OK)
		SETUP(gw_store_commit(&gw->store));
	else
		gw_store_rollback(&gw->store);
	return rc;
}

static void test_namespace(struct gw_gateway *gw)
{
	struct gw_store *s = &gw->store;
	const char *none[GW_F__COUNT] = {"a@example.com", NULL, NULL};
	const char *groups[] = {"ops"};
	char err[256];

	SETUP(gw_group_add(s, "ops", NULL, err, sizeof(err)));
	SETUP(gw_recipient_add(s, "alice", none, groups, 1, err, sizeof(err)));
	tap_is_int(queue(gw, "n-1", "alerts", "ops", "devA", 1), MQS_OK, "devA: n-1 queued");
	tap_is_int(queue(gw, "n-1", "alerts", "ops", "devA", 1), MQS_ERR_EXISTS,
	           "devA: n-1 again is a duplicate");
	tap_is_int(queue(gw, "n-1", "alerts", "ops", "devB", 1), MQS_OK,
	           "devB: the same id is its own message");
	tap_is_int(queue(gw, "n-1", "alerts", "ops", "", 1), MQS_OK,
	           "anonymous (unsealed): its own namespace");
	tap_is_int(queue(gw, "n-1", "alerts", "ops", GW_PUBLISHER_SELF, 1), MQS_OK,
	           "the gateway's own namespace");
	tap_is_int(queue(gw, "n-1", "other", "ops", "devA", 1), MQS_OK,
	           "another route: another namespace");
	tap_is_int(count(s, "SELECT count(*) FROM messages WHERE msg_id = 'n-1'"), 5,
	           "five messages share the id");
	tap_is_int(count(s, "SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message "
	                    "WHERE m.msg_id = 'n-1'"),
	           5, "each delivered");
	tap_is_int(queue(gw, "g-1", "alerts", "nosuchgroup", "devA", 1), MQS_ERR_NOENT,
	           "unknown group refused");
	tap_is_int(count(s, "SELECT count(*) FROM messages WHERE msg_id = 'g-1'"), 0,
	           "and nothing was written");
	tap_is_int(queue(gw, "g-1", "alerts", "ops", "devA", 1), MQS_OK,
	           "the id is still free for a valid alert");
}

/* gw_ack_allowed's verdict, -1 on a database error. */
static int allowed(struct gw_store *s, const char *from, const char *group, const char *dev)
{
	int ok = 0;

	if (gw_ack_allowed(s, from, group, dev, &ok) != MQS_OK)
		return -1;
	return ok;
}

static void test_ack(struct gw_gateway *gw)
{
	struct gw_store *s = &gw->store;
	const char *addr[GW_F__COUNT] = {"b@example.com", NULL, NULL};
	const char *ops[] = {"ops"}, *oncall[] = {"oncall"};
	char why[160], err[256];

	tap_is_int(gw_ack_list_check("op1, op2,@oncall", why, sizeof(why)), 0, "list ok");
	tap_is_int(gw_ack_list_check(" , ", why, sizeof(why)), MQS_ERR_INVAL, "empty list refused");
	tap_is_int(gw_ack_list_check("op1,$gateway", why, sizeof(why)), MQS_ERR_INVAL,
	           "$ names refused");
	tap_is_int(gw_ack_list_check("@", why, sizeof(why)), MQS_ERR_INVAL, "@ alone refused");
	tap_ok(!gw_ack_device_check("$gateway") && !gw_ack_device_check("") &&
	           gw_ack_device_check("phone-1.a_b"),
	       "device names");

	SETUP(gw_group_add(s, "oncall", NULL, err, sizeof(err)));
	SETUP(gw_recipient_add(s, "bob", addr, ops, 1, err, sizeof(err)));
	tap_is_int(gw_recipient_set_device(s, "bob", "bobphone", err, sizeof(err)), MQS_OK,
	           "bind bob to bobphone");
	tap_is_int(gw_recipient_set_device(s, "bob", "bad name", err, sizeof(err)), MQS_ERR_INVAL,
	           "bad device name refused");
	tap_is_int(gw_recipient_set_device(s, "nobody", "x", err, sizeof(err)), MQS_ERR_NOENT,
	           "unknown recipient");
	addr[0] = "c@example.com";
	SETUP(gw_recipient_add(s, "carol", addr, oncall, 1, err, sizeof(err)));
	SETUP(gw_recipient_set_device(s, "carol", "carolphone", err, sizeof(err)));
	tap_is_int(allowed(s, NULL, "ops", "bobphone"), 1, "a member's device may ack");
	tap_is_int(allowed(s, NULL, "ops", "carolphone"), 0, "a device of another group may not");
	tap_is_int(allowed(s, "@oncall", "ops", "carolphone"), 1, "unless ack_from @oncall");
	tap_is_int(allowed(s, "op1", "ops", "op1"), 1, "a device listed in ack_from");
	tap_is_int(allowed(s, "op1", "ops", "op2"), 0, "a device not listed");
	tap_is_int(allowed(s, "op1", "ops", "devA"), 0, "a publisher is not an acker");

	/* n-1 from devA, devB, anonymous, $gateway on "alerts", devA on "other" */
	gw_escalation_ack(gw, "n-1", NULL, 2000);
	tap_is_int((long long)gw->acks_refused, 1, "unsealed ack refused and counted");
	gw_escalation_ack(gw, "n-1", "devA", 2000);
	tap_is_int((long long)gw->acks_refused, 2, "the publisher's ack is refused");
	tap_is_int(count(s, "SELECT count(*) FROM escalations WHERE state = 'waiting'"), 6,
	           "nothing stopped");
	gw_escalation_ack(gw, "n-1", "op1", 2000);
	tap_is_int((long long)gw->acks_refused, 3,
	           "op1 naming no namespace while n-1 waits in several: refused");
	tap_is_int(count(s, "SELECT count(*) FROM escalations WHERE state = 'waiting'"), 6,
	           "nothing stopped");
	gw_escalation_ack_in(gw, "n-1", "op1", "alerts", "devB", 2000);
	tap_is_int(count(s, "SELECT count(*) FROM escalations e JOIN messages m ON m.id = "
	                    "e.message WHERE e.state = 'acked' AND m.route = 'alerts' AND "
	                    "m.publisher = 'devB'"),
	           1, "op1 naming alerts:devB stops that alert");
	tap_is_int(count(s, "SELECT count(*) FROM escalations e JOIN messages m ON m.id = "
	                    "e.message WHERE e.state = 'waiting' AND m.msg_id = 'n-1'"),
	           4, "and no other");
	gw_escalation_ack_in(gw, "n-1", "op1", "other", NULL, 2000);
	tap_is_int((long long)gw->acks_refused, 4, "op1 may not ack route other");
	gw_escalation_ack_in(gw, "n-1", "bobphone", "other", "devA", 2000);
	tap_is_int(count(s, "SELECT count(*) FROM escalations e JOIN messages m ON m.id = "
	                    "e.message WHERE e.state = 'waiting' AND m.route = 'other'"),
	           0, "bob's device (group ops) acks other:devA");
	gw_escalation_ack_in(gw, "n-1", "bobphone", "alerts", "", 2000);
	tap_is_int(count(s, "SELECT count(*) FROM escalations e JOIN messages m ON m.id = "
	                    "e.message WHERE e.state = 'waiting' AND m.msg_id = 'n-1'"),
	           2, "and the anonymous one of alerts");
	tap_is_int((long long)gw->acks_refused, 4, "no refusal counted for allowed acks");
}

static void test_migration(void)
{
	char db_path[300], key_path[300];
	struct gw_store s;
	sqlite3 *db = NULL;
	char err[512];
	int ok;

	snprintf(db_path, sizeof(db_path), "%s/old.db", dir);
	snprintf(key_path, sizeof(key_path), "%s/old.key", dir);
	/* a key first, then a version 1 database with rows of every kind */
	ok = gw_store_open(&s, db_path, key_path, 0, err, sizeof(err)) == 0;
	gw_store_close(&s);
	unlink(db_path);
	ok =
	    ok && sqlite3_open(db_path, &db) == SQLITE_OK &&
	    sqlite3_exec(db, gw_store_schema[0], NULL, NULL, NULL) == SQLITE_OK &&
	    sqlite3_exec(
	        db,
	        "PRAGMA user_version = 1;"
	        "INSERT INTO groups(name, created_at) VALUES ('ops', 0);"
	        "INSERT INTO messages(id, msg_id, route, topic, kind, severity, grp, title, body,"
	        " origin, received_at) VALUES"
	        " (1, 'old-1', 'alerts', 'alerts/x', 'alert', 'critical', 'ops', 't', 'b', NULL, "
	        "1),"
	        " (2, 'old-2', 'alerts', 'alerts/x', 'alert', 'info', 'ops', 't', 'b', 'devA', 1),"
	        " (3, 'sensor-room-r1-00000000-1', 'room', 's/1', 'sensor', 'critical', 'ops',"
	        "  't', 'b', NULL, 1);"
	        "INSERT INTO outbox(message, recipient, channel, state, next_attempt_at, retry_key,"
	        " created_at, updated_at) VALUES (1, 'alice', 'email', 'queued', 0, 'k1', 0, 0),"
	        " (3, 'alice', 'sms', 'sent', 0, 'k3', 0, 0);"
	        "INSERT INTO escalations(message, state, used, deadline, updated_at) VALUES"
	        " (1, 'waiting', 1, 5, 0);"
	        "INSERT INTO sensor_state(route, topic, rule, state, since_ms, seq) VALUES"
	        " ('room', 's/1', 0, 2, 0, 1);",
	        NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	tap_ok(ok, "a version 1 database");
	tap_ok(gw_store_open(&s, db_path, key_path, 0, err, sizeof(err)) == 0, "migrated: %s", err);
	tap_is_int(count(&s, "PRAGMA user_version"), gw_store_schema_count,
	           "schema at the latest version");
	tap_is_int(count(&s, "SELECT count(*) FROM outbox"), 2, "outbox rows kept");
	tap_is_int(count(&s, "SELECT count(*) FROM escalations WHERE state = 'waiting'"), 1,
	           "escalation kept");
	tap_is_int(count(&s, "SELECT count(*) FROM messages WHERE (id = 1 AND publisher = '') OR "
	                     "(id = 2 AND publisher = 'devA') OR (id = 3 AND publisher = "
	                     "'$gateway')"),
	           3, "publishers: none -> anonymous, origin, sensor -> $gateway");
	tap_is_int(count(&s, "PRAGMA foreign_key_check"), -1, "foreign keys hold");
	tap_is_int(count(&s, "SELECT count(*) FROM sensor_state WHERE alert_id IS NULL"), 1,
	           "sensor state kept (no alert id: the old format is used for its recovery)");
	{
		struct gw_message m = {.msg_id = "old-2",
		                       .route = "alerts",
		                       .topic = "alerts/x",
		                       .kind = "alert",
		                       .group = "ops",
		                       .title = "t",
		                       .origin = "devA",
		                       .publisher = "devA"};
		int64_t rowid = 0;

		SETUP(gw_store_begin(&s));
		tap_is_int(gw_outbox_insert_message(&s, &m, 1, &rowid), MQS_ERR_EXISTS,
		           "an old id is still a duplicate for its publisher");
		m.publisher = "devB";
		tap_is_int(gw_outbox_insert_message(&s, &m, 1, &rowid), MQS_OK,
		           "and free for another publisher");
		gw_store_rollback(&s);
	}
	gw_store_close(&s);
}

static void test_spool_names(void)
{
	char id[65], who[65], chan[17], path[512];
	static const char *const ids[] = {"-rf", "--help", ".hidden", "-", "..", "a-1", NULL};

	for (size_t i = 0; ids[i] != NULL; i++) {
		const char *base;

		tap_is_int(gw_spool_file_name("/spool", ids[i], "-bob", "email", 7, id, who, chan,
		                              path, sizeof(path)),
		           0, "name for id %s", ids[i]);
		base = strrchr(path, '/') + 1;
		tap_ok(base[0] != '-' && base[0] != '.' && who[0] != '-',
		       "%s does not start with - or .", base);
	}
	tap_ok(strcmp(path, "/spool/a-1-_bob-email-7.txt") == 0, "ordinary ids unchanged: %s",
	       path);
	gw_spool_file_name("/spool", "-rf", "alice", "email", 7, id, who, chan, path, sizeof(path));
	tap_ok(strcmp(path, "/spool/_rf-alice-email-7.txt") == 0, "-rf becomes _rf: %s", path);
	tap_is_int(gw_spool_file_name("/spool", "a", "b", "c", 1, id, who, chan, path, 10),
	           MQS_ERR_BUFSIZE, "a path that does not fit is refused");
}

static void test_replay(void)
{
	struct mqs_seen *r;
	struct mqs_creds c;
	uint8_t key[32], env[512], *plain = NULL;
	size_t env_len = 0, plain_len = 0;
	char origin[256], err[256];

	r = mqs_seen_new(MQS_SEEN_DEFAULT_MAX);
	RAND_bytes(key, sizeof(key));
	mqs_creds_init(&c);
	mqs_creds_set_username(&c, "gw");
	mqs_creds_add_key(&c, 42, MQS_CREDS_USE_TOPIC, "alerts/#", key);
	mqs_envelope_seal(key, 42, mqs_now_ms(), NULL, "sensor1", 7, "alerts/a", 8,
	                  (const uint8_t *)"{}", 2, env, sizeof(env), &env_len);
	tap_is_int(gw_mqtt_open_payload(&c, r, "alerts/a", env, env_len, &plain, &plain_len, origin,
	                                err, sizeof(err)),
	           0, "an envelope opens once");
	mqs_secret_free(plain, plain_len);
	tap_ok(gw_mqtt_open_payload(&c, r, "alerts/a", env, env_len, &plain, &plain_len, origin,
	                            err, sizeof(err)) != MQS_OK &&
	           strstr(err, "repeated envelope") != NULL,
	       "the same envelope again is dropped: %s", err);
	mqs_creds_release(&c);
	mqs_seen_free(r);
}

int main(void)
{
	struct gw_config conf;
	struct gw_route routes[2];
	struct gw_gateway gw;
	char err[512], db_path[300], key_path[300];

	if (mkdtemp(dir) == NULL)
		return 1;
	gw_log_set_level(GW_LOG_ERR);
	test_random_ids();
	test_spool_names();
	test_replay();
	test_migration();

	snprintf(db_path, sizeof(db_path), "%s/gw.db", dir);
	snprintf(key_path, sizeof(key_path), "%s/gw.key", dir);
	memset(&conf, 0, sizeof(conf));
	memset(routes, 0, sizeof(routes));
	routes[0].name = "alerts";
	routes[0].ack_from = "op1";
	routes[1].name = "other";
	conf.routes = routes;
	conf.nroutes = 2;
	conf.status_topic = "mqttsec/status";
	conf.ack_timeout_ms = 5000;
	conf.nescalation = 1;
	conf.escalation[0] = GW_CH_SMS;
	memset(&gw, 0, sizeof(gw));
	gw.conf = &conf;
	if (gw_store_open(&gw.store, db_path, key_path, 0, err, sizeof(err)) != 0) {
		tap_diag("%s", err);
		return tap_exit() | 1;
	}
	test_namespace(&gw);
	test_ack(&gw);
	gw_store_close(&gw.store);
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	return tap_exit();
}
