/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_recipient.c - `recipient add|set|list|rm|optout|find|consent|history|link`. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <openssl/crypto.h>

#include <cjson/cJSON.h>

#include "gw_cmd.h"
#include "gw_ack.h"
#include "gw_consent.h"
#include "gw_link.h"
#include "gw_recipient.h"
#include "gw_unsub.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define MAX_GROUPS 32

#define ADD_USAGE                                                                                  \
	"add NAME [--email E] [--phone P] [--line USERID] [--group G]... [--device DEV] [--tz "    \
	"ZONE]"
#define SET_USAGE "set NAME [--device DEV | --no-device] [--tz ZONE | --no-tz]"

/* Print the usage of a subcommand; EX_USAGE. */
static int usage_err(const char *what)
{
	fprintf(stderr, "usage: mqttsec-gateway recipient %s\n", what);
	return EX_USAGE;
}

/* recipient add NAME ... */
static int add(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"email", required_argument, NULL, 'e'},
	                                     {"phone", required_argument, NULL, 'p'},
	                                     {"line", required_argument, NULL, 'l'},
	                                     {"group", required_argument, NULL, 'g'},
	                                     {"device", required_argument, NULL, 'd'},
	                                     {"tz", required_argument, NULL, 'z'},
	                                     {NULL, 0, NULL, 0}};
	const char *values[GW_F__COUNT] = {NULL, NULL, NULL};
	const char *device = NULL, *tz = NULL;
	const char *groups[MAX_GROUPS];
	size_t ngroups = 0;
	char err[256];
	int opt, rc;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		switch (opt) {
		case 'e':
			values[GW_F_EMAIL] = optarg;
			break;
		case 'p':
			values[GW_F_PHONE] = optarg;
			break;
		case 'l':
			values[GW_F_LINE] = optarg;
			break;
		case 'g':
			if (ngroups == MAX_GROUPS) {
				fprintf(stderr, "mqttsec-gateway: at most %d groups\n", MAX_GROUPS);
				return EX_USAGE;
			}
			groups[ngroups++] = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 'z':
			tz = optarg;
			break;
		default:
			return usage_err(ADD_USAGE);
		}
	}
	if (optind != argc - 1)
		return usage_err(ADD_USAGE);
	if (device != NULL && !gw_ack_device_check(device)) {
		fprintf(stderr, "mqttsec-gateway: cannot add recipient: bad device name\n");
		return EX_DATAERR;
	}
	if (tz != NULL && !gw_tz_valid(tz)) {
		fprintf(stderr, "mqttsec-gateway: cannot add recipient: unknown time zone (give an "
		                "IANA name such as Asia/Taipei)\n");
		return EX_DATAERR;
	}
	rc = gw_recipient_add(s, argv[optind], values, groups, ngroups, err, sizeof(err));
	if (rc == MQS_OK && device != NULL)
		rc = gw_recipient_set_device(s, argv[optind], device, err, sizeof(err));
	if (rc == MQS_OK && tz != NULL)
		rc = gw_recipient_set_tz(s, argv[optind], tz, err, sizeof(err));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot add recipient: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
	return EX_OK;
}

/* recipient set NAME [--device DEV | --no-device] [--tz ZONE | --no-tz] */
static int set(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"device", required_argument, NULL, 'd'},
	                                     {"no-device", no_argument, NULL, 'n'},
	                                     {"tz", required_argument, NULL, 'z'},
	                                     {"no-tz", no_argument, NULL, 'Z'},
	                                     {NULL, 0, NULL, 0}};
	const char *device = NULL, *tz = NULL;
	char err[256];
	int opt, rc = MQS_OK, dev_given = 0, tz_given = 0;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if ((opt == 'd' || opt == 'n') && !dev_given) {
			dev_given = 1;
			device = opt == 'd' ? optarg : NULL;
		} else if ((opt == 'z' || opt == 'Z') && !tz_given) {
			tz_given = 1;
			tz = opt == 'z' ? optarg : NULL;
		} else {
			return usage_err(SET_USAGE);
		}
	}
	if ((!dev_given && !tz_given) || optind != argc - 1)
		return usage_err(SET_USAGE);
	if (dev_given)
		rc = gw_recipient_set_device(s, argv[optind], device, err, sizeof(err));
	if (rc == MQS_OK && tz_given)
		rc = gw_recipient_set_tz(s, argv[optind], tz, err, sizeof(err));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot set recipient: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
	return EX_OK;
}

/* recipient consent NAME CHANNEL: print the state of that channel. */
static int consent_show(struct gw_store *s, const char *name, const char *chan)
{
	struct gw_consent_state st;
	int ch = gw_chan_parse(chan), rc;

	if (ch < 0 || GW_CH_NO_RECIPIENT(ch))
		return usage_err("consent NAME email|sms|line [on|off [--source S]]");
	rc = gw_consent_get(s, name, ch, &st);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: %s\n",
		        rc == MQS_ERR_NOENT ? "no such recipient" : mqs_strerror(rc));
		return gw_cmd_exit_code(rc);
	}
	printf("consent %s%s%s%s\n", st.consent ? "on" : "off", st.source ? " (source " : "",
	       st.source ? st.source : "", st.source ? ")" : "");
	printf("opt-out %s\n", st.optout ? "yes" : "no");
	return EX_OK;
}

/* recipient consent NAME CHANNEL [on|off [--source S]] */
static int consent(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"source", required_argument, NULL, 's'},
	                                     {NULL, 0, NULL, 0}};
	static const char use[] = "consent NAME email|sms|line [on|off [--source S]]";
	const char *source = "cli";
	char err[256];
	int opt, rc, ch, on;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 's')
			return usage_err(use);
		source = optarg;
	}
	if (optind == argc - 2)
		return consent_show(s, argv[optind], argv[optind + 1]);
	if (optind != argc - 3)
		return usage_err(use);
	ch = gw_chan_parse(argv[optind + 1]);
	if (strcmp(argv[optind + 2], "on") != 0 && strcmp(argv[optind + 2], "off") != 0)
		return usage_err(use);
	on = strcmp(argv[optind + 2], "on") == 0;
	if (ch < 0)
		return usage_err(use);
	rc = gw_consent_set(s, argv[optind], ch, on, source, (int64_t)mqs_now_ms(), err,
	                    sizeof(err));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot set consent: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
	return EX_OK;
}

/* recipient optout NAME CHANNEL [--lift] [--source S] */
static int optout(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"lift", no_argument, NULL, 'l'},
	                                     {"source", required_argument, NULL, 's'},
	                                     {NULL, 0, NULL, 0}};
	static const char use[] = "optout NAME email|sms|phone|line [--lift] [--source S]";
	const char *source = "cli";
	int64_t rid;
	int opt, rc, ch, lift = 0, changed = 0;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt == 'l')
			lift = 1;
		else if (opt == 's')
			source = optarg;
		else
			return usage_err(use);
	}
	if (optind != argc - 2)
		return usage_err(use);
	ch = gw_chan_parse(argv[optind + 1]);
	if (ch < 0 || GW_CH_NO_RECIPIENT(ch))
		return usage_err(use);
	if (!gw_consent_source_ok(source)) {
		fprintf(stderr, "mqttsec-gateway: bad source (1..64 printable characters)\n");
		return EX_USAGE;
	}
	rid = gw_recipient_id(s, argv[optind]);
	if (rid == -1) {
		fprintf(stderr, "mqttsec-gateway: no recipient %s\n",
		        gw_name_check(argv[optind]) ? argv[optind] : "by that name");
		return gw_cmd_exit_code(MQS_ERR_NOENT);
	}
	if (rid < 0)
		rc = MQS_ERR_DB;
	else if (lift)
		rc = gw_consent_optout_lift(s, rid, ch, source, (int64_t)mqs_now_ms(), &changed);
	else
		rc = gw_consent_optout(s, rid, ch, source, (int64_t)mqs_now_ms(), &changed);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot record the opt-out: %s\n",
		        mqs_strerror(rc));
		return gw_cmd_exit_code(rc);
	}
	if (!changed)
		fprintf(stderr, "mqttsec-gateway: nothing to change (%s)\n",
		        lift ? "not opted out" : "already opted out");
	return EX_OK;
}

/* Unix ms as "YYYY-MM-DDTHH:MM:SSZ". */
static void format_utc(int64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	snprintf(out, cap, "-");
	if (gmtime_r(&t, &tm) != NULL)
		strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One history row: a table line or a JSON object. */
static int history_row(const struct gw_consent_event *ev, void *arg)
{
	cJSON *arr = arg, *o;
	char when[32];

	format_utc(ev->at_ms, when, sizeof(when));
	if (arr == NULL) {
		printf("%-24s %-6s %-14s %s\n", when, ev->channel, ev->event, ev->source);
		return MQS_OK;
	}
	o = cJSON_CreateObject();
	if (o == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arr, o);
	cJSON_AddStringToObject(o, "at", when);
	cJSON_AddNumberToObject(o, "at_ms", (double)ev->at_ms);
	cJSON_AddStringToObject(o, "channel", ev->channel);
	cJSON_AddStringToObject(o, "event", ev->event);
	cJSON_AddStringToObject(o, "source", ev->source);
	return MQS_OK;
}

/* recipient history NAME [--json] */
static int history(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	cJSON *arr = NULL;
	int json = 0, opt, rc;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'j')
			return usage_err("history NAME [--json]");
		json = 1;
	}
	if (optind != argc - 1)
		return usage_err("history NAME [--json]");
	if (json) {
		arr = cJSON_CreateArray();
		if (arr == NULL)
			return EX_OSERR;
	} else {
		printf("%-24s %-6s %-14s %s\n", "AT", "CHAN", "EVENT", "SOURCE");
	}
	rc = gw_consent_each(s, argv[optind], history_row, arr);
	if (rc == MQS_OK && json)
		rc = gw_cmd_json_print(stdout, arr);
	cJSON_Delete(arr);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot show the history: %s\n",
		        rc == MQS_ERR_NOENT ? "no such recipient" : mqs_strerror(rc));
		return gw_cmd_exit_code(rc);
	}
	return EX_OK;
}

/* recipient link NAME --line */
static int link_cmd(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"line", no_argument, NULL, 'l'}, {NULL, 0, NULL, 0}};
	char code[GW_LINK_CODE_LEN + 1], err[256];
	int opt, rc, line = 0;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'l')
			return usage_err("link NAME --line");
		line = 1;
	}
	if (!line || optind != argc - 1)
		return usage_err("link NAME --line");
	rc = gw_link_create(s, argv[optind], GW_CH_LINE, (int64_t)mqs_now_ms(), code, err,
	                    sizeof(err));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot create a link code: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
	printf("%s\n", code);
	fprintf(stderr,
	        "send this code to the LINE bot from the customer's LINE account within %d "
	        "minutes; it works once\n",
	        GW_LINK_TTL_MS / 60000);
	OPENSSL_cleanse(code, sizeof(code));
	return EX_OK;
}

/* recipient find (--email E | --phone P | --line USERID) */
static int find(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"email", required_argument, NULL, 'e'},
	                                     {"phone", required_argument, NULL, 'p'},
	                                     {"line", required_argument, NULL, 'l'},
	                                     {NULL, 0, NULL, 0}};
	const char *value = NULL;
	char name[GW_NAME_MAX + 1], err[256];
	int opt, field = -1, rc;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (field >= 0 || (opt != 'e' && opt != 'p' && opt != 'l'))
			return usage_err("find (--email E | --phone P | --line USERID)");
		field = opt == 'e' ? GW_F_EMAIL : opt == 'p' ? GW_F_PHONE : GW_F_LINE;
		value = optarg;
	}
	if (field < 0 || optind != argc)
		return usage_err("find (--email E | --phone P | --line USERID)");
	rc = gw_recipient_find(s, field, value, name, sizeof(name), err, sizeof(err));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
	printf("%s\n", name);
	return EX_OK;
}

/* What a listing accumulates: the JSON array, or nothing for a table. */
struct listing {
	FILE *out;
	cJSON *arr; /* NULL: a table */
};

/* A masked address as the table shows it: "-" none, "(unreadable)". */
static const char *shown(const struct gw_recipient_info *ri, int f)
{
	if (ri->status[f] == GW_ADDR_OK)
		return ri->masked[f];
	return ri->status[f] == GW_ADDR_NONE ? "-" : "(unreadable)";
}

/* One recipient: a table line or a JSON object. */
static int list_row(const struct gw_recipient_info *ri, void *arg)
{
	struct listing *l = arg;
	cJSON *o;

	if (l->arr == NULL) {
		fprintf(l->out, "%-20s %-28s %-18s %-14s %-20s %-16s %-16s %-20s %s\n", ri->name,
		        shown(ri, GW_F_EMAIL), shown(ri, GW_F_PHONE), shown(ri, GW_F_LINE),
		        ri->groups ? ri->groups : "-", ri->optouts ? ri->optouts : "-",
		        ri->consents ? ri->consents : "-", ri->tz ? ri->tz : "-",
		        ri->device ? ri->device : "-");
		return MQS_OK;
	}
	o = cJSON_CreateObject();
	if (o == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(l->arr, o);
	cJSON_AddStringToObject(o, "name", ri->name);
	for (int f = 0; f < GW_F__COUNT; f++) {
		if (ri->status[f] == GW_ADDR_OK)
			cJSON_AddStringToObject(o, gw_field_name(f), ri->masked[f]);
		else if (ri->status[f] == GW_ADDR_NONE)
			cJSON_AddNullToObject(o, gw_field_name(f));
		else
			cJSON_AddStringToObject(o, gw_field_name(f), "(unreadable)");
	}
	cJSON_AddStringToObject(o, "groups", ri->groups ? ri->groups : "");
	cJSON_AddStringToObject(o, "optouts", ri->optouts ? ri->optouts : "");
	cJSON_AddStringToObject(o, "consents", ri->consents ? ri->consents : "");
	if (ri->tz != NULL)
		cJSON_AddStringToObject(o, "tz", ri->tz);
	else
		cJSON_AddNullToObject(o, "tz");
	if (ri->device != NULL)
		cJSON_AddStringToObject(o, "device", ri->device);
	else
		cJSON_AddNullToObject(o, "device");
	return MQS_OK;
}

/* Print every recipient, masked, as a table or a JSON array. */
static int print_recipients(struct gw_store *s, FILE *out, int json)
{
	struct listing l = {out, NULL};
	int rc = MQS_ERR_NOMEM;

	if (json) {
		l.arr = cJSON_CreateArray();
		if (l.arr == NULL)
			goto out;
	} else {
		fprintf(out, "%-20s %-28s %-18s %-14s %-20s %-16s %-16s %-20s %s\n", "NAME",
		        "EMAIL", "PHONE", "LINE", "GROUPS", "OPTOUTS", "CONSENT", "TZ", "DEVICE");
	}
	rc = gw_recipient_each(s, list_row, &l);
	if (rc == MQS_OK && json)
		rc = gw_cmd_json_print(out, l.arr);
out:
	cJSON_Delete(l.arr);
	return rc;
}

/* recipient list [--json] */
static int list(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	int json = 0, opt;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'j')
			return usage_err("list [--json]");
		json = 1;
	}
	if (optind != argc)
		return usage_err("list [--json]");
	if (print_recipients(s, stdout, json) != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot list recipients\n");
		return EX_IOERR;
	}
	return EX_OK;
}

/* recipient unsubscribe-link NAME CHANNEL: the link of NAME on CHANNEL
 * (no campaign), for messages sent outside campaigns. */
static int unsub_link(struct gw_store *s, const struct gw_config *conf, int argc, char **argv)
{
	static const char use[] = "unsubscribe-link NAME email|sms|line";
	struct gw_unsub_ref ref = {.recipient_id = 0, .channel = -1};
	char url[1024];
	int rc;

	if (argc != 3)
		return usage_err(use);
	ref.channel = gw_chan_parse(argv[2]);
	if (ref.channel != GW_CH_EMAIL && ref.channel != GW_CH_SMS && ref.channel != GW_CH_LINE)
		return usage_err(use);
	if (conf->http.public_url == NULL) {
		fprintf(stderr, "mqttsec-gateway: unsubscribe links need [http] public_url\n");
		return EX_CONFIG;
	}
	ref.recipient_id = gw_recipient_id(s, argv[1]);
	if (ref.recipient_id < 0) {
		fprintf(stderr, "mqttsec-gateway: %s\n",
		        ref.recipient_id == -1 ? "no such recipient" : "database error");
		return gw_cmd_exit_code(ref.recipient_id == -1 ? MQS_ERR_NOENT : MQS_ERR_DB);
	}
	rc = gw_recipient_created_at(s, ref.recipient_id, &ref.created_at);
	if (rc == MQS_OK)
		rc = gw_unsub_url(s, conf->http.public_url, &ref, url, sizeof(url));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot make the link: %s\n", mqs_strerror(rc));
		return gw_cmd_exit_code(rc);
	}
	printf("%s\n", url);
	return EX_OK;
}

/* recipient ...: check the arguments, open the store, run the subcommand. */
int gw_cmd_recipient(struct gw_config *conf, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct gw_store *s, int argc, char **argv);
	} subs[] = {{"add", add},
	            {"list", list},
	            {"find", find},
	            {"set", set},
	            {"consent", consent},
	            {"optout", optout},
	            {"history", history},
	            {"link", link_cmd},
	            {"rm", NULL},
	            {"unsubscribe-link", NULL},
	            {"key", gw_cmd_recipient_key}};
	struct gw_store s;
	const char *sub = argc > 1 ? argv[1] : "";
	char err[256];
	int rc, which = -1;

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(sub, subs[i].name) == 0)
			which = (int)i;
	}
	if (which < 0)
		return usage_err(
		    "add|set|list|rm|optout|find|consent|history|link|unsubscribe-link|key ...");
	if (strcmp(sub, "rm") == 0 && argc != 3)
		return usage_err("rm NAME");
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (subs[which].fn != NULL) {
		rc = subs[which].fn(&s, argc - 1, argv + 1);
	} else if (strcmp(sub, "unsubscribe-link") == 0) {
		rc = unsub_link(&s, conf, argc - 1, argv + 1);
	} else {
		int e = gw_recipient_rm(&s, argv[2], err, sizeof(err));

		if (e != MQS_OK)
			fprintf(stderr, "mqttsec-gateway: %s\n", err);
		rc = gw_cmd_exit_code(e);
	}
	gw_store_close(&s);
	return rc;
}
