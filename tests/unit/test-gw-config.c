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
#include "gw_store.h"
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
    "record_key = vitals\n"
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
	tap_ok(strcmp(c.brokers[0].host, "127.0.0.1") == 0 && c.brokers[0].port == 1883 &&
	           strcmp(c.status_topic, "mqttsec/status") == 0 &&
	           strcmp(c.brokers[0].credentials, "/etc/mqttsec/gateway.json") == 0,
	       "[broker] values (inline comments stripped)");
	tap_ok(c.nroutes == 2 && c.routes[0].kind == GW_KIND_ALERT && c.routes[0].enabled &&
	           strcmp(c.routes[0].topic, "alerts/#") == 0,
	       "alert route");
	tap_ok(c.routes[1].kind == GW_KIND_MEDICAL && c.routes[1].enabled &&
	           c.routes[1].nchans == 3 && c.routes[1].threshold == 2 &&
	           strcmp(c.routes[1].chans[2].topic, "medical/ch/2") == 0 &&
	           c.routes[1].chans[2].broker == 0 &&
	           strcmp(c.routes[1].record_key, "vitals") == 0,
	       "medical route served: channels, threshold, record key");
	tap_ok(c.nbrokers == 1 && strcmp(c.brokers[0].name, "") == 0 &&
	           strcmp(c.brokers[0].credentials, "/etc/mqttsec/gateway.json") == 0 &&
	           c.brokers[0].port == 1883,
	       "brokers[0] is [broker]");
	tap_ok(c.nchannel_sections == 4, "four channel sections");
	tap_ok(strcmp(c.spool_dir, "/var/lib/mqttsec/spool") == 0, "spool next to the db: %s",
	       c.spool_dir);
	tap_ok(c.max_attempts == 8 && c.nescalation == 3 && c.escalation[0] == GW_CH_EMAIL &&
	           c.escalation[2] == GW_CH_PHONE && c.ack_timeout_ms == 300000 && c.sync_full &&
	           c.cache_size == GW_STORE_CACHE_DEFAULT,
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
	tap_ok(load(BASE "cache_size = 512k\n", &c, err, sizeof(err)) == 0 &&
	           c.cache_size == 512 * 1024,
	       "[store] cache_size");
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
	           "gw.conf:8: [route r] kind must be alert, sensor, marketing, medical or "
	           "medical-join",
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
	expect_err("[broker]\ncredentials = x\n[store]\ndb = a\nmaster_key_file = b\n"
	           "cache_size = 1k\n",
	           "gw.conf:6: cache_size must be a byte count in 65536..1073741824",
	           "cache_size below 64 KiB refused");
	expect_err(BASE "this is not ini\n", "gw.conf:6: syntax error", "syntax error line");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char text[1024];
		snprintf(text, sizeof(text), BASE "[route r]\ntopic = %s\n", big);
		expect_err(text, "gw.conf:7: line longer than", "over-long line named");
	}
}

#define BROKERS                                                                                    \
	BASE "[broker a]\nhost = 10.0.0.1\nport = 8883\ncafile = /etc/ca.pem\n"                    \
	     "credentials = /etc/a.json\nkeepalive = 60\nclient_id = gw-a\n"                       \
	     "[broker b]\ncredentials = /etc/b.json\n"

static void test_medical(void)
{
	struct gw_config c;
	char err[512];
	const struct gw_route *r;

	tap_ok(load(BROKERS "[route vitals]\ntopic = clinic/+/record\nkind = medical\n"
	                    "channels = medical/ch/0@a, medical/ch/1@b , medical/ch/2\n"
	                    "threshold = 2\nrecord_key = vitals\n"
	                    "[route in]\nkind = medical-join\n"
	                    "channels = m/0@a, m/1@b, m/2, m/3\nthreshold = 3\n",
	            &c, err, sizeof(err)) == 0,
	       "[broker NAME] sections and medical routes load");
	if (err[0] != '\0')
		tap_diag("%s", err);
	tap_ok(c.nbrokers == 3 && strcmp(c.brokers[1].name, "a") == 0 &&
	           strcmp(c.brokers[1].host, "10.0.0.1") == 0 && c.brokers[1].port == 8883 &&
	           strcmp(c.brokers[1].cafile, "/etc/ca.pem") == 0 &&
	           strcmp(c.brokers[1].credentials, "/etc/a.json") == 0 &&
	           c.brokers[1].keepalive == 60 && strcmp(c.brokers[1].client_id, "gw-a") == 0,
	       "[broker a] values");
	tap_ok(strcmp(c.brokers[2].name, "b") == 0 && strcmp(c.brokers[2].host, "127.0.0.1") == 0 &&
	           c.brokers[2].port == 1883 && c.brokers[2].cafile == NULL &&
	           c.brokers[2].reconnect_min_ms == 1000 && c.brokers[2].reconnect_max_ms == 30000,
	       "[broker b] defaults");
	r = &c.routes[0];
	tap_ok(r->kind == GW_KIND_MEDICAL && r->enabled && r->nchans == 3 && r->threshold == 2 &&
	           strcmp(r->chans[0].topic, "medical/ch/0") == 0 && r->chans[0].broker == 1 &&
	           strcmp(r->chans[1].topic, "medical/ch/1") == 0 && r->chans[1].broker == 2 &&
	           strcmp(r->chans[2].topic, "medical/ch/2") == 0 && r->chans[2].broker == 0 &&
	           strcmp(r->topic, "clinic/+/record") == 0,
	       "medical channels TOPIC@BROKER (no @: [broker])");
	r = &c.routes[1];
	tap_ok(r->kind == GW_KIND_MEDICAL_JOIN && r->enabled && r->topic == NULL &&
	           r->nchans == 4 && r->threshold == 3 && r->record_key == NULL &&
	           strcmp(r->deliver, "spool") == 0 && r->join_timeout_ms == 60000 &&
	           r->max_pending == 10000 && r->max_record == 1024 * 1024 &&
	           r->max_pending_bytes == 64u * 1024 * 1024,
	       "medical-join defaults");
	gw_config_release(&c);

	tap_ok(load(BASE "[route in]\nkind = medical-join\nchannels = m/0, m/1\nthreshold = 2\n"
	                 "record_key = alice, bob\ndeliver = spool\njoin_timeout = 5s\n"
	                 "max_pending = 20\nmax_record = 64k\nmax_pending_bytes = 2M\n",
	            &c, err, sizeof(err)) == 0 &&
	           strcmp(c.routes[0].record_key, "alice, bob") == 0 &&
	           c.routes[0].join_timeout_ms == 5000 && c.routes[0].max_pending == 20 &&
	           c.routes[0].max_record == 65536 && c.routes[0].max_pending_bytes == 2097152,
	       "medical-join keys");
	if (err[0] != '\0')
		tap_diag("%s", err);
	gw_config_release(&c);

	/* refusals, each with file:line */
	expect_err(BASE "[broker a]\nhost = x\n",
	           "gw.conf:6: [broker a] missing required key "
	           "credentials",
	           "[broker NAME] needs credentials");
	expect_err(BASE "[broker a]\ncredentials = x\n[broker a]\ncredentials = y\n",
	           "gw.conf:8: section [broker a] repeated", "[broker NAME] repeated");
	expect_err(BASE "[broker a/b]\ncredentials = x\n", "gw.conf:6: [broker NAME]",
	           "bad broker name");
	expect_err(BASE "[broker a]\ncredentials = x\nport = 0\n",
	           "gw.conf:8: port must be a whole number", "bad port of [broker NAME]");
	expect_err(BASE "[broker b1]\ncredentials = x\n[broker b2]\ncredentials = x\n"
	                "[broker b3]\ncredentials = x\n[broker b4]\ncredentials = x\n"
	                "[broker b5]\ncredentials = x\n[broker b6]\ncredentials = x\n"
	                "[broker b7]\ncredentials = x\n[broker b8]\ncredentials = x\n",
	           "gw.conf:20: too many [broker NAME] sections (at most 7)", "8 named brokers");
	expect_err("[store]\ndb = a\nmaster_key_file = b\n[broker a]\ncredentials = x\n",
	           "gw.conf:4: [broker a] needs a [broker] section too", "named broker alone");
#define MED "[route v]\ntopic = clinic/+/record\nkind = medical\n"
	expect_err(BROKERS MED "threshold = 2\nrecord_key = v\n",
	           "gw.conf:15: [route v] missing required key channels", "channels required");
	expect_err(BROKERS MED "channels = m/0@a, m/1@c\nthreshold = 2\nrecord_key = v\n",
	           "gw.conf:18: [route v] channels: unknown broker c", "unknown broker");
	expect_err(BROKERS MED "channels = m/0@, m/1\nthreshold = 2\nrecord_key = v\n",
	           "gw.conf:18: [route v] channels: unknown broker", "empty broker name");
	expect_err(BROKERS MED "channels = m/0\nthreshold = 2\nrecord_key = v\n",
	           "gw.conf:18: [route v] channels: at least 2", "one channel");
	expect_err(BROKERS MED "channels = a,b,c,d,e,f,g,h,i\nthreshold = 2\nrecord_key = v\n",
	           "gw.conf:18: [route v] channels: at most 8", "nine channels");
	expect_err(BROKERS MED "channels = m/+, m/1\nthreshold = 2\nrecord_key = v\n",
	           "gw.conf:18: [route v] channels: m/+ is not a topic name", "wildcard +");
	expect_err(BROKERS MED "channels = m/0, m/#@a\nthreshold = 2\nrecord_key = v\n",
	           "gw.conf:18: [route v] channels: m/# is not a topic name", "wildcard hash");
	expect_err(BROKERS MED "channels = m/0, ,m/1\nthreshold = 2\nrecord_key = v\n",
	           "gw.conf:18: [route v] channels: empty entry", "empty channel");
	expect_err(BROKERS MED "channels = m/0@a, m/1, m/0@a\nthreshold = 2\nrecord_key = v\n",
	           "gw.conf:18: [route v] channels: m/0@a listed twice", "same channel twice");
	tap_ok(load(BROKERS MED "channels = m/0@a, m/0@b, m/0\nthreshold = 3\nrecord_key = v\n", &c,
	            err, sizeof(err)) == 0 &&
	           c.routes[0].nchans == 3,
	       "one topic on three brokers is three channels");
	gw_config_release(&c);
	expect_err(BROKERS MED "channels = m/0, m/1\nrecord_key = v\n",
	           "gw.conf:15: [route v] missing required key threshold", "threshold required");
	expect_err(BROKERS MED "channels = m/0, m/1, m/2\nthreshold = 4\nrecord_key = v\n",
	           "gw.conf:19: threshold must be a whole number in 2..3", "threshold over n");
	expect_err(BROKERS MED "channels = m/0, m/1, m/2\nthreshold = 1\nrecord_key = v\n",
	           "gw.conf:19: threshold must be a whole number in 2..3", "threshold 1");
	expect_err(BROKERS MED "channels = m/0, m/1\nthreshold = 2\n",
	           "gw.conf:15: [route v] missing required key record_key",
	           "medical needs record_key");
	expect_err(BROKERS MED "channels = m/0, m/1\nthreshold = 2\nrecord_key = a, b\n",
	           "gw.conf:20: [route v] record_key: one record key name",
	           "medical takes one record key");
	expect_err(BROKERS "[route v]\nkind = medical\nchannels = m/0, m/1\nthreshold = 2\n"
	                   "record_key = v\n",
	           "gw.conf:15: [route v] missing required key topic", "medical needs topic");
#define JOIN "[route j]\nkind = medical-join\nchannels = m/0@a, m/1@b\nthreshold = 2\n"
	expect_err(BROKERS JOIN "record_key = a, b/c\n",
	           "gw.conf:19: [route j] record_key: a comma list", "bad record key list");
	expect_err(BROKERS JOIN "record_key =\n", "gw.conf:19: [route j] record_key: empty",
	           "an empty record_key is refused");
	expect_err(BROKERS MED
	           "channels = m/0, m/1\nthreshold = 2\nrecord_key = v\nmax_queued = 0\n",
	           "gw.conf:21: max_queued must be", "max_queued 0 is refused");
	tap_ok(load(BROKERS MED "channels = m/0, m/1\nthreshold = 2\nrecord_key = v\n", &c, err,
	            sizeof(err)) == 0 &&
	           c.routes[0].max_queued == 100000 &&
	           c.routes[0].max_queued_bytes == (size_t)1 << 30,
	       "max_queued defaults: 100000 shares, 1 GiB");
	gw_config_release(&c);
	tap_ok(load(BROKERS MED "channels = m/0, m/1\nthreshold = 2\nrecord_key = v\n"
	                        "max_queued = 5\nmax_queued_bytes = 2M\n",
	            &c, err, sizeof(err)) == 0 &&
	           c.routes[0].max_queued == 5 && c.routes[0].max_queued_bytes == 2u * 1024 * 1024,
	       "max_queued and max_queued_bytes read");
	gw_config_release(&c);
	expect_err(BROKERS JOIN "deliver = email\n",
	           "gw.conf:19: [route j] deliver must be webhook or spool", "bad deliver");
	expect_err(BROKERS JOIN "deliver = webhook\n",
	           "gw.conf:19: [route j] deliver = webhook needs a [channel webhook] section",
	           "webhook without its channel");
	expect_err(BROKERS JOIN "join_timeout = soon\n", "gw.conf:19: join_timeout: bad duration",
	           "bad join_timeout");
	expect_err(BROKERS JOIN "max_pending = 0\n", "gw.conf:19: max_pending must be",
	           "max_pending 0");
	expect_err(BROKERS JOIN "max_record = 2M\n", "gw.conf:19: max_record must be a byte count",
	           "max_record over 1 MiB");
	expect_err(BROKERS JOIN "max_record = 12 bytes\n",
	           "gw.conf:19: max_record must be a byte count", "bad max_record");
	expect_err(BROKERS JOIN "max_pending_bytes = 1k\n",
	           "gw.conf:19: [route j] max_pending_bytes must be at least 2 x max_record",
	           "max_pending_bytes under max_record");
	expect_err(BROKERS JOIN "max_record = 1M\nmax_pending_bytes = 1M\n",
	           "gw.conf:20: [route j] max_pending_bytes must be at least 2 x max_record",
	           "max_pending_bytes under n x max_record");
	expect_err(BROKERS "[route j]\nkind = medical-join\nthreshold = 2\n",
	           "gw.conf:15: [route j] missing required key channels", "join needs channels");
	expect_err(BROKERS "[route j]\nkind = medical-join\nchannels = m/0@z, m/1\n"
	                   "threshold = 2\n",
	           "gw.conf:17: [route j] channels: unknown broker z", "join: unknown broker");
	if (gw_channel_type_find("webhook") != NULL) {
		tap_ok(load(BROKERS JOIN "deliver = webhook\n[channel webhook]\n"
		                         "url = https://127.0.0.1:9/x\nsecret_file = /x\n",
		            &c, err, sizeof(err)) == 0 &&
		           strcmp(c.routes[0].deliver, "webhook") == 0,
		       "deliver = webhook with its channel");
		if (err[0] != '\0')
			tap_diag("%s", err);
		gw_config_release(&c);
	} else {
		tap_skip(1, "no webhook channel in this build");
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

/* Marketing routes, [marketing], [http] and channel rates (docs/marketing.md). */
static void test_marketing(void)
{
	struct gw_config c;
	char err[600];

	tap_ok(load(BASE "[http]\nlisten = 127.0.0.1:0\npublic_url = https://gw.example.org/\n"
	                 "[marketing]\nquiet_hours = 22:30-07:15\ndefault_tz = Asia/Taipei\n"
	                 "marketing_share = 50\n"
	                 "[route promo]\ntopic = marketing/#\nkind = marketing\n"
	                 "review_levels = editors, managers\nreview_timeout = 48h\n"
	                 "[channel email]\nurl = smtp://127.0.0.1:2525\nfrom = a@example.com\n"
	                 "rate = 10/s\n"
	                 "[channel sms]\nurl = https://api.twilio.com\naccount_sid = AC1\n"
	                 "auth_token = t\nfrom = +15550000000\nrate = 120/m\nburst = 5\n",
	            &c, err, sizeof(err)) == 0,
	       "marketing configuration loads: %s", err);
	tap_ok(c.nroutes == 1 && c.routes[0].kind == GW_KIND_MARKETING && c.routes[0].enabled &&
	           c.routes[0].nlevels == 2 && strcmp(c.routes[0].levels[0], "editors") == 0 &&
	           strcmp(c.routes[0].levels[1], "managers") == 0 &&
	           c.routes[0].review_timeout_ms == 48ull * 3600000ull,
	       "review levels in order and the timeout");
	tap_ok(c.quiet_start_min == 22 * 60 + 30 && c.quiet_end_min == 7 * 60 + 15 &&
	           strcmp(c.default_tz, "Asia/Taipei") == 0 && c.marketing_share == 50 &&
	           c.fanout_batch == 2000,
	       "[marketing] values");
	tap_ok(c.http.enabled && strcmp(c.http.listen_host, "127.0.0.1") == 0 &&
	           c.http.listen_port == 0 && c.http.cert == NULL &&
	           strcmp(c.http.public_url, "https://gw.example.org") == 0 &&
	           c.http.max_connections == 64 && c.http.per_ip == 8 &&
	           c.http.timeout_ms == 10000 && c.http.max_body == 65536,
	       "[http] values and defaults, public_url without its trailing slash");
	tap_ok(c.rate[GW_CH_EMAIL].per_s == 10.0 && c.rate[GW_CH_EMAIL].burst == 10 &&
	           c.rate[GW_CH_SMS].per_s == 2.0 && c.rate[GW_CH_SMS].burst == 5 &&
	           c.rate[GW_CH_LINE].per_s == 0.0,
	       "rate and burst per channel");
	tap_ok(gw_config_chan_get(&c, "sms", "auth_token") != NULL &&
	           strcmp(gw_config_chan_get(&c, "sms", "auth_token"), "t") == 0 &&
	           gw_config_chan_get(&c, "line", "channel_secret") == NULL,
	       "gw_config_chan_get");
	gw_config_release(&c);

	tap_ok(load(BASE "[http]\nlisten = [::1]:8443\n", &c, err, sizeof(err)) == 0 &&
	           strcmp(c.http.listen_host, "::1") == 0 && c.http.listen_port == 8443,
	       "IPv6 listen address");
	gw_config_release(&c);
	tap_ok(load(BASE, &c, err, sizeof(err)) == 0 && !c.http.enabled &&
	           c.quiet_start_min == 21 * 60 && c.quiet_end_min == 8 * 60 &&
	           strcmp(c.default_tz, "UTC") == 0 && c.marketing_share == 75,
	       "defaults without [http] and [marketing]");
	gw_config_release(&c);

	expect_err(BASE "[route promo]\ntopic = m/#\nkind = marketing\nreview_levels = a\n",
	           "needs [http] public_url", "a marketing route without public_url");
	expect_err(BASE "[http]\npublic_url = https://x.org\n[route promo]\ntopic = m/#\n"
	                "kind = marketing\n",
	           "missing required key review_levels", "review_levels required");
	expect_err(BASE "[http]\npublic_url = https://x.org\n[route promo]\ntopic = m/#\n"
	                "kind = marketing\nreview_levels = a, b, a\n",
	           "level a repeated", "repeated level");
	expect_err(BASE "[http]\npublic_url = https://x.org\n[route promo]\ntopic = m/#\n"
	                "kind = marketing\nreview_levels = a b\n",
	           "bad level name", "bad level name");
	expect_err(BASE "[http]\nlisten = 0.0.0.0:8080\n", "plain HTTP only on loopback",
	           "plain HTTP on a public address");
	expect_err(BASE "[http]\ncert = /x.pem\n", "cert and key go together", "cert without key");
	expect_err(BASE "[http]\npublic_url = http://gw.example.org\n", "public_url must be",
	           "http:// public_url to a remote host");
	expect_err(BASE "[http]\nlisten = 127.0.0.1\n", "listen must be HOST:PORT",
	           "listen without a port");
	expect_err(BASE "[marketing]\nquiet_hours = 25:00-08:00\n", "quiet_hours must be",
	           "bad quiet hours");
	expect_err(BASE "[marketing]\ndefault_tz = Mars/Olympus\n", "unknown time zone",
	           "unknown time zone");
	expect_err(BASE "[marketing]\ndefault_tz = ../../etc/passwd\n", "unknown time zone",
	           "a path is not a time zone");
	expect_err(BASE "[channel email]\nurl = smtp://127.0.0.1:25\nfrom = a@b.c\nrate = fast\n",
	           "rate must be", "bad rate");
	expect_err(BASE "[channel email]\nurl = smtp://127.0.0.1:25\nfrom = a@b.c\nrate = 0/s\n",
	           "rate must be", "zero rate");
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
	test_medical();
	test_channels();
	test_marketing();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	return tap_exit();
}
