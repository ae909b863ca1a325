/* SPDX-License-Identifier: BSD-3-Clause */
/* test-alloc-faults-gw.c - allocation-failure injection (HACKING.md, "Fault
 * injection") over the gateway's configuration parser (a realistic
 * gateway.conf with every section: docs/gateway.md), the channels it builds,
 * the sensor rule parser, and the policy import of mqttsec-acl (docs/acl.md,
 * "Export and import"): each allocation refused in turn (alloc-faults.h)
 * gives an error with a message or the right result, never a crash, a
 * leak, or a half-applied import. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gw_config.h"
#include "gw_log.h"
#include "gw_rule.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_totp.h"
#include "mqs_util.h"
#include "mqsa.h"

#include "alloc-faults.h"
#include "tap.h"

static char tmpdir[256];
static char conf_path[300];
static char db_path[300];
static char key_path[300];

/* Every section the gateway knows, the way an operator writes them. */
static const char conf_text[] =
    "; gateway.conf of a clinic\n"
    "[broker]\n"
    "host = 127.0.0.1\n"
    "port = 1883\n"
    "credentials = /etc/mqttsec/gateway.json   ; the gateway's own device\n"
    "status_topic = mqttsec/status\n"
    "keepalive = 30\n"
    "\n"
    "[broker hospital-a]\n"
    "host = 127.0.0.1\n"
    "port = 8883\n"
    "cafile = /etc/ssl/certs/ca-certificates.crt\n"
    "credentials = /etc/mqttsec/gw-at-hospital-a.json\n"
    "\n"
    "[store]\n"
    "db = /var/lib/mqttsec/gateway.db\n"
    "master_key_file = /etc/mqttsec/gateway.key\n"
    "synchronous = normal\n"
    "retention = 14d\n"
    "\n"
    "[delivery]\n"
    "max_attempts = 5\n"
    "backoff_base = 2s\n"
    "backoff_max = 10m\n"
    "ack_timeout = 5m\n"
    "escalation = email, sms, phone\n"
    "\n"
    "[route alerts]\n"
    "topic = alerts/#\n"
    "kind = alert\n"
    "group = ops\n"
    "ack_from = nurse-1, @ops\n"
    "\n"
    "[route serverroom]\n"
    "topic = sensors/+/temperature\n"
    "kind = sensor\n"
    "group = ops\n"
    "field = temperature\n"
    "hysteresis = 2\n"
    "rule = value > 40 for 60s => alert severity=critical title=\"Server room hot: {value} C\"\n"
    "rule = value < 10 => alert severity=warning title=\"Server room cold\"\n"
    "\n"
    "[route vitals]\n"
    "topic = medical/+/record\n"
    "kind = medical\n"
    "channels = medical/ch/0, medical/ch/1@hospital-a, medical/ch/2\n"
    "threshold = 2\n"
    "record_key = vitals\n"
    "\n"
    "[route promo]\n"
    "topic = marketing/#\n"
    "kind = marketing\n"
    "review_levels = editors, managers\n"
    "review_timeout = 72h\n"
    "\n"
    "[marketing]\n"
    "quiet_hours = 22:00-07:00\n"
    "\n"
    "[http]\n"
    "listen = 127.0.0.1:0\n"
    "public_url = https://gw.example.org\n"
    "max_connections = 64\n"
    "per_ip = 8\n"
    "timeout = 10s\n"
    "\n"
    "[channel email]\n"
    "url = smtp://127.0.0.1:2525\n"
    "from = alerts@example.com\n"
    "max_inflight = 8\n"
    "\n"
    "[channel sms]\n"
    "url = https://127.0.0.1:8443\n"
    "account_sid = AC0123456789\n"
    "auth_token = token-sms\n"
    "from = +15550000000\n"
    "\n"
    "[channel phone]\n"
    "url = https://127.0.0.1:8443\n"
    "account_sid = AC0123456789\n"
    "auth_token = token-phone\n"
    "from = +15550000000\n"
    "\n"
    "[channel line]\n"
    "url = https://127.0.0.1:8444\n"
    "token = token-line\n"
    "\n"
    "[channel webhook]\n"
    "url = https://127.0.0.1:8445/ingest\n"
    "secret = 6b3f00112233445566778899aabbccdd\n"
    "\n"
    "[channel spool]\n";

/* Load the configuration and build its channels. */
static int op_gw_config(void)
{
	struct gw_config c;
	struct gw_channel *by[GW_CH__COUNT], *owned[GW_CH__COUNT + 1];
	size_t n = 0;
	char err[512];
	int res = 1;

	err[0] = '\0';
	if (gw_config_load(conf_path, &c, err, sizeof(err)) != MQS_OK) {
		/* a clear error, and nothing held */
		res = strstr(err, "out of memory") != NULL && c.sections == NULL && c.routes == NULL
		          ? 1
		          : -1;
		if (res < 0)
			tap_diag("config: no message or a half-released config (%s)", err);
		return res;
	}
	if (c.nroutes != 4 || c.routes[1].nrules != 2 || c.nbrokers != 2 || c.spool_dir == NULL ||
	    strcmp(c.spool_dir, "/var/lib/mqttsec/spool") != 0) {
		res = -1;
		goto out;
	}
	err[0] = '\0';
	if (gw_config_channels(&c, by, owned, &n, err, sizeof(err)) != MQS_OK) {
		res = strstr(err, "out of memory") != NULL && n == 0 ? 1 : -1;
		if (res < 0)
			tap_diag("channels: %s", err);
		goto out;
	}
	res = n == 6 && by[GW_CH_EMAIL] != NULL && by[GW_CH_WEBHOOK] != NULL ? 0 : -1;
	for (size_t i = 0; i < n; i++)
		owned[i]->ops->free(owned[i]);
out:
	gw_config_release(&c);
	return res;
}

/* Parse a sensor rule with every option. */
static int op_gw_rule(void)
{
	struct gw_rule r;
	char why[256];
	int res;

	memset(&r, 0, sizeof(r));
	why[0] = '\0';
	if (gw_rule_parse("value >= 40.5 for 2m => alert severity=critical group=ops "
	                  "title=\"Hot: {value} C\" body=\"Server room at {value} C\"",
	                  &r, why, sizeof(why)) != 0) {
		res = strstr(why, "out of memory") != NULL && r.group == NULL && r.title == NULL &&
		              r.body == NULL
		          ? 1
		          : -1;
		gw_rule_release(&r);
		return res;
	}
	res = r.group != NULL && strcmp(r.group, "ops") == 0 && r.title != NULL && r.body != NULL &&
	              strcmp(r.body, "Server room at {value} C") == 0
	          ? 0
	          : -1;
	gw_rule_release(&r);
	return res;
}

/* A policy the way mqttsec-acl export writes it (docs/acl.md). */
static const char import_text[] = "# mqttsec policy export\n"
                                  "group ops\n"
                                  "group nurses\n"
                                  "member ops sensor-1\n"
                                  "member ops sensor-2\n"
                                  "member nurses nurse-1\n"
                                  "acl deny pub sensor-1 alerts/secret priority=10\n"
                                  "acl allow pub @ops alerts/# priority=10\n"
                                  "acl allow sub @nurses alerts/+/ward\n"
                                  "acl allow sub sensor-2 odd\\x20topic/+ priority=-2\n"
                                  "acl allow pub sensor-1 sensors/1/temperature\n"
                                  "acl allow pub @ops alerts/# priority=10\n"
                                  "list deny ip 10.0.0.0/8 reason=too\\x20many\\x20tries\n"
                                  "list allow ip 2001:db8::/32\n"
                                  "list deny clientid bad-*\n";

/* Rows of the policy tables, read with the hooks off: "G M R L". */
static int policy_rows(char *out, size_t outlen)
{
	static const char *const q[] = {
	    "SELECT count(*) FROM groups", "SELECT count(*) FROM group_members",
	    "SELECT count(*) FROM acl_rules", "SELECT count(*) FROM list_entries"};
	sqlite3 *db = NULL;
	int was = armed, rc = -1;
	size_t len = 0;

	armed = 0;
	out[0] = '\0';
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(db, q[i], -1, &st, NULL) != SQLITE_OK)
			goto out;
		if (sqlite3_step(st) == SQLITE_ROW && len < outlen)
			len += (size_t)snprintf(out + len, outlen - len, "%s%lld", i ? " " : "",
			                        (long long)sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
	}
	rc = 0;
out:
	sqlite3_close(db);
	armed = was;
	return rc;
}

/* Replace the policy with the import: all of it or nothing. */
static int op_import(void)
{
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_import_result r;
	char why[MQSA_WHY_MAX], rows[64];
	char *text = NULL;
	int res = 1;

	why[0] = '\0';
	if (mqsa_ctx_open(db_path, key_path, "tester", &ctx) != MQS_OK)
		goto out;
	text = mqs_malloc(sizeof(import_text));
	if (text == NULL)
		goto out;
	memcpy(text, import_text, sizeof(import_text));
	if (mqsa_import(ctx, text, sizeof(import_text) - 1, "policy.txt", 1, 0, &r, why) !=
	    MQS_OK) {
		if (strstr(why, "out of memory") == NULL) {
			tap_diag("import: refused without saying why: %s", why);
			res = -1;
		}
		goto out;
	}
	res = r.groups == 2 && r.members == 3 && r.rules == 5 && r.kept == 1 && r.entries == 3 ? 0
	                                                                                       : -1;
out:
	mqsa_ctx_close(ctx);
	mqs_free(text);
	/* the policy is the imported one (the warm-up run imported it), whole */
	if (policy_rows(rows, sizeof(rows)) != 0 || strcmp(rows, "2 3 5 3") != 0) {
		tap_diag("import: the policy holds %s rows, not 2 3 5 3 (%s)", rows, why);
		res = -1;
	}
	return res;
}

/* Credentials of a new device: not needed here. */
static enum mqs_err deliver_none(const char *json, void *arg, char *why)
{
	(void)json;
	(void)arg;
	(void)why;
	return MQS_OK;
}

/* Temporary folder, the configuration file, an initialised database. */
static void setup(void)
{
	const char *base = getenv("TMPDIR");
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_init_result ir;
	static const char *const devices[] = {"sensor-1", "sensor-2", "nurse-1"};
	struct mqs_totp_params tp;
	struct mqsa_deliver dl;
	char why[MQSA_WHY_MAX];
	FILE *f;

	snprintf(tmpdir, sizeof(tmpdir), "%s/mqs-test-faults-gw-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
	snprintf(conf_path, sizeof(conf_path), "%s/gateway.conf", tmpdir);
	snprintf(db_path, sizeof(db_path), "%s/acl.db", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/master.key", tmpdir);
	f = fopen(conf_path, "w");
	if (f == NULL || fputs(conf_text, f) == EOF || fclose(f) != 0) {
		perror("gateway.conf");
		exit(99);
	}
	if (mqsa_ctx_open(db_path, key_path, "tester", &ctx) != MQS_OK ||
	    mqsa_init(ctx, &ir, why) != MQS_OK) {
		fprintf(stderr, "cannot create the policy database\n");
		exit(99);
	}
	/* the devices the policy names */
	mqs_totp_params_default(&tp);
	dl.fn = deliver_none;
	dl.arg = NULL;
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		if (mqsa_device_add(ctx, devices[i], &tp, &dl, NULL, why) != MQS_OK) {
			fprintf(stderr, "cannot add device %s: %s\n", devices[i], why);
			exit(99);
		}
	}
	mqsa_ctx_close(ctx);
}

int main(void)
{
	static const struct {
		const char *name;
		op_fn *op;
	} ops[] = {
	    {"gateway config and channels", op_gw_config},
	    {"gateway sensor rule", op_gw_rule},
	    {"policy import", op_import},
	};
	static const char *const left[] = {"gateway.conf", "acl.db",     "acl.db-wal",
	                                   "acl.db-shm",   "master.key", "acl.db-journal"};
	size_t nops = sizeof(ops) / sizeof(ops[0]);
	char path[320];

	hooks_install();
	/* warnings of a good config would repeat once per run */
	gw_log_set_level(GW_LOG_ERR);
	setup();
	tap_plan((unsigned)(3 * nops));
	for (size_t i = 0; i < nops; i++)
		drive(ops[i].name, ops[i].op);
	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, left[i]);
		(void)unlink(path);
	}
	(void)rmdir(tmpdir);
	return tap_exit();
}
