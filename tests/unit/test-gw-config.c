/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-config.c - gateway.conf: the documented example (docs/gateway.md), defaults, required
 * keys and bad values refused with file:line, channel construction. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_config.h"
#include "gw_log.h"
#include "tap.h"

static char dir[] = "/tmp/test-gw-config.XXXXXX";
static char path[256];

static void write_conf(const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

/* Load text; return 0/-1 and the error in err. */
static int load(const char *text, struct gw_config *c, char *err, size_t errlen)
{
	write_conf(text);
	err[0] = '\0';
	return gw_config_load(path, c, err, errlen);
}

#define BASE                                                                                       \
	"[broker]\ncredentials = /etc/mqttsec/gateway.json\n"                                      \
	"[store]\ndb = /var/lib/mqttsec/gateway.db\nmaster_key_file = /etc/mqttsec/gw.key\n"

static const char spec_example[] =
    "[broker]\n"
    "host = 127.0.0.1\n"
    "port = 1883\n"
    "credentials = /etc/mqttsec/gateway.json   ; credentials file (§2) of the gateway's own "
    "device\n"
    "status_topic = mqttsec/status             ; delivery states are published under it\n"
    "\n"
    "[store]\n"
    "db = /var/lib/mqttsec/gateway.db\n"
    "master_key_file = /etc/mqttsec/gateway.key\n"
    "\n"
    "[route alerts]\n"
    "topic = alerts/#\n"
    "kind = alert            ; alert | marketing | medical | sensor\n"
    "\n"
    "[route vitals]\n"
    "topic = medical/+/record\n"
    "kind = medical\n"
    "channels = medical/ch/0, medical/ch/1, medical/ch/2\n"
    "threshold = 2           ; any 2 of the 3 fragments rebuild the record\n"
    "\n"
    "[channel email]\n"
    "url = smtp://127.0.0.1:2525      ; smtp:// with STARTTLS when offered, smtps://\n"
    "from = alerts@example.com\n"
    "\n"
    "[channel sms]\n"
    "url = https://api.twilio.com     ; base URL; tests point it at a local server\n"
    "account_sid = AC...\n"
    "auth_token = ...\n"
    "from = +15550000000\n"
    "\n"
    "[channel line]\n"
    "url = https://api.line.me\n"
    "token = ...\n"
    "\n"
    "[channel phone]\n"
    "url = https://api.twilio.com\n"
    "account_sid = AC...\n"
    "auth_token = ...\n"
    "from = +15550000000\n";

static void expect_err(const char *text, const char *want, const char *what)
{
	struct gw_config c;
	char err[512];
	int rc = load(text, &c, err, sizeof(err));

	tap_ok(rc != 0 && strstr(err, want) != NULL, "%s", what);
	if (rc == 0 || strstr(err, want) == NULL)
		tap_diag("got: %s", rc == 0 ? "(loaded)" : err);
	if (rc == 0)
		gw_config_release(&c);
}

static void test_spec_example(void)
{
	struct gw_config c;
	char err[512];

	tap_ok(load(spec_example, &c, err, sizeof(err)) == 0,
	       "the documented example (docs/gateway.md) loads");
	if (err[0] != '\0')
		tap_diag("%s", err);
	tap_ok(strcmp(c.host, "127.0.0.1") == 0 && c.port == 1883 &&
	           strcmp(c.status_topic, "mqttsec/status") == 0 &&
	           strcmp(c.credentials, "/etc/mqttsec/gateway.json") == 0,
	       "[broker] values (inline comments stripped)");
	tap_ok(c.nroutes == 2 && c.routes[0].kind == GW_KIND_ALERT && c.routes[0].enabled &&
	           strcmp(c.routes[0].topic, "alerts/#") == 0,
	       "alert route");
	tap_ok(c.routes[1].kind == GW_KIND_MEDICAL && !c.routes[1].enabled,
	       "medical route accepted, not served yet");
	tap_ok(c.nchannel_sections == 4, "four channel sections");
	tap_ok(strcmp(c.spool_dir, "/var/lib/mqttsec/spool") == 0, "spool next to the db: %s",
	       c.spool_dir);
	tap_ok(c.max_attempts == 8 && c.nescalation == 3 && c.escalation[0] == GW_CH_EMAIL &&
	           c.escalation[2] == GW_CH_PHONE && c.ack_timeout_ms == 300000 && c.sync_full,
	       "defaults");
	gw_config_release(&c);
}

static void test_values(void)
{
	struct gw_config c;
	char err[512];

	tap_ok(load(BASE "[delivery]\nmax_attempts = 3\nbackoff_base = 50ms\nbackoff_max = 2s\n"
	                 "ack_timeout = 2m\nescalation = sms, phone\n"
	                 "[route temp]\ntopic = sensors/+/temp\nkind = sensor\ngroup = ops\n"
	                 "field = t\nhysteresis = 1.5\n"
	                 "rule = value > 40 for 60s => alert severity=critical\n"
	                 "rule = value < 5 => alert title=\"Cold\"\n"
	                 "ack_from = console-1, @operators\n",
	            &c, err, sizeof(err)) == 0,
	       "delivery and sensor keys load");
	tap_ok(c.routes[0].ack_from != NULL &&
	           strcmp(c.routes[0].ack_from, "console-1, @operators") == 0,
	       "route ack_from");
	tap_ok(c.max_attempts == 3 && c.backoff_base_ms == 50 && c.backoff_max_ms == 2000 &&
	           c.ack_timeout_ms == 120000 && c.nescalation == 2 && c.escalation[0] == GW_CH_SMS,
	       "[delivery] values");
	tap_ok(c.nroutes == 1 && c.routes[0].nrules == 2 && c.routes[0].hysteresis == 1.5 &&
	           strcmp(c.routes[0].field, "t") == 0 && c.routes[0].rules[1].threshold == 5,
	       "repeated rule keys give several rules");
	gw_config_release(&c);
}

static void test_errors(void)
{
	char big[400];

	expect_err("[broker]\ncredentials = x\n", "gw.conf: missing section [store]",
	           "missing section named");
	expect_err("[broker]\ncredentials = x\n\n[store]\ndb = /x.db\n",
	           "gw.conf:4: [store] missing required key master_key_file",
	           "missing key refused with file:line of its section");
	expect_err("[store]\ndb = a\nmaster_key_file = b\n[broker]\nport = 1883\n",
	           "gw.conf:4: [broker] missing required key credentials", "credentials required");
	expect_err(BASE "[broker]\n", "gw.conf:6: section [broker] repeated (first at line 1)",
	           "repeated section");
	expect_err(
	    "[broker]\ncredentials = x\nport = 70000\n[store]\ndb = a\nmaster_key_file = b\n",
	    "gw.conf:3: port must be a whole number in 1..65535", "bad port at its line");
	expect_err(BASE "[delivery]\n\nack_timeout = soon\n",
	           "gw.conf:8: ack_timeout: bad duration soon", "bad duration at its line");
	expect_err(BASE "[delivery]\nescalation = email, pigeon\n",
	           "gw.conf:7: escalation: unknown channel pigeon", "bad escalation channel");
	expect_err(BASE "[route r]\ntopic = a/#\nkind = carrier-pigeon\n",
	           "gw.conf:8: [route r] kind must be alert, sensor, marketing or medical",
	           "bad route kind");
	expect_err(BASE "[route r]\nkind = alert\n",
	           "gw.conf:6: [route r] missing required key topic", "route without topic");
	expect_err(BASE "[route r]\ntopic = a/#/b\nkind = alert\n", "gw.conf:7: [route r] topic",
	           "bad topic filter");
	expect_err(BASE "[route]\ntopic = a\nkind = alert\n", "gw.conf:6: [route NAME]",
	           "route without name");
	expect_err(BASE "[route s]\ntopic = a\nkind = sensor\ngroup = ops\n",
	           "gw.conf:6: [route s] kind = sensor needs at least one rule",
	           "sensor without rule");
	expect_err(BASE "[route s]\ntopic = a\nkind = sensor\ngroup = ops\n\n"
	                "rule = value => alert\n",
	           "gw.conf:11: [route s] rule: expected >", "bad rule at its line");
	expect_err(BASE "[route s]\ntopic = a\nkind = sensor\nrule = value > 1 => alert\n",
	           "gw.conf:9: [route s] rule: no group=", "rule without any group");
	expect_err(BASE "[channel fax]\nurl = x\n", "gw.conf:6: [channel NAME]", "unknown channel");
	expect_err(BASE "[route r]\ntopic = a/#\nkind = alert\nack_from = op1, $gateway\n",
	           "gw.conf:9: [route r] ack_from: entries are device names", "bad ack_from entry");
	expect_err(BASE "[route r]\ntopic = a/#\nkind = alert\nack_from = ,\n",
	           "gw.conf:9: [route r] ack_from: empty list", "empty ack_from");
	expect_err(BASE "this is not ini\n", "gw.conf:6: syntax error", "syntax error line");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char text[1024];
		snprintf(text, sizeof(text), BASE "[route r]\ntopic = %s\n", big);
		expect_err(text, "gw.conf:7: line longer than", "over-long line named");
	}
}

static void test_channels(void)
{
	struct gw_config c;
	struct gw_channel *by[GW_CH__COUNT], *owned[GW_CH__COUNT + 1];
	size_t n = 0;
	char err[512], text[1024];

	snprintf(text, sizeof(text),
	         "[broker]\ncredentials = x\n[store]\ndb = %s/gw.db\nmaster_key_file = %s/k\n", dir,
	         dir);
	tap_ok(load(text, &c, err, sizeof(err)) == 0, "config without channels");
	tap_ok(gw_config_channels(&c, by, owned, &n, err, sizeof(err)) == 0 && n == 1 &&
	           by[GW_CH_EMAIL] == owned[0] && by[GW_CH_LINE] == owned[0] &&
	           strcmp(owned[0]->ops->name, "spool") == 0,
	       "no channel section: everything goes to the spool");
	for (size_t i = 0; i < n; i++)
		owned[i]->ops->free(owned[i]);
	gw_config_release(&c);

	snprintf(text, sizeof(text),
	         "[broker]\ncredentials = x\n[store]\ndb = %s/gw.db\nmaster_key_file = %s/k\n"
	         "[channel email]\nurl = smtp://127.0.0.1:2525\nfrom = a@example.com\n"
	         "max_inflight = 7\n",
	         dir, dir);
	tap_ok(load(text, &c, err, sizeof(err)) == 0, "config with an email channel");
	tap_ok(gw_config_channels(&c, by, owned, &n, err, sizeof(err)) == 0 && n == 1 &&
	           by[GW_CH_EMAIL] != NULL && by[GW_CH_SMS] == NULL &&
	           by[GW_CH_EMAIL]->max_inflight == 7,
	       "email configured, others not, max_inflight applied");
	for (size_t i = 0; i < n; i++)
		owned[i]->ops->free(owned[i]);
	gw_config_release(&c);

	snprintf(text, sizeof(text),
	         "[broker]\ncredentials = x\n[store]\ndb = %s/gw.db\nmaster_key_file = %s/k\n"
	         "[channel email]\nurl = smtp://127.0.0.1:2525\nfrom = a@example.com\n"
	         "[channel spool]\ndir = %s/sp\n",
	         dir, dir, dir);
	tap_ok(load(text, &c, err, sizeof(err)) == 0 &&
	           gw_config_channels(&c, by, owned, &n, err, sizeof(err)) == 0 && n == 2 &&
	           by[GW_CH_SMS] != NULL && strcmp(by[GW_CH_SMS]->ops->name, "spool") == 0 &&
	           strcmp(by[GW_CH_EMAIL]->ops->name, "email") == 0,
	       "[channel spool] takes the unconfigured channels");
	for (size_t i = 0; i < n; i++)
		owned[i]->ops->free(owned[i]);
	gw_config_release(&c);

	snprintf(text, sizeof(text),
	         "[broker]\ncredentials = x\n[store]\ndb = %s/gw.db\nmaster_key_file = %s/k\n\n"
	         "[channel sms]\nurl = https://api.twilio.com\n",
	         dir, dir);
	tap_ok(load(text, &c, err, sizeof(err)) == 0 &&
	           gw_config_channels(&c, by, owned, &n, err, sizeof(err)) != 0 &&
	           strstr(err, "gw.conf:7: ") != NULL,
	       "a channel's own error carries file:line: %s", err);
	gw_config_release(&c);
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/gw.conf", dir);
	gw_log_set_level(GW_LOG_ERR);
	test_spec_example();
	test_values();
	test_errors();
	test_channels();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	return tap_exit();
}
