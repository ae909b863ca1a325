/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_recipient.c - `recipient add|set|list|rm|optout|find`. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "gw_cmd.h"
#include "gw_ack.h"
#include "gw_recipient.h"
#include "gw_util.h"
#include "mqs_error.h"

#define MAX_GROUPS 32

#define ADD_USAGE "add NAME [--email E] [--phone P] [--line USERID] [--group G]... [--device DEV]"

/* Print the usage of a subcommand; EX_USAGE. */
static int usage_err(const char *what)
{
	fprintf(stderr, "usage: mqttsec-gateway recipient %s\n", what);
	return EX_USAGE;
}

/* recipient add NAME ... */
static int add(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"email", required_argument, NULL, 'e'},  {"phone", required_argument, NULL, 'p'},
	    {"line", required_argument, NULL, 'l'},   {"group", required_argument, NULL, 'g'},
	    {"device", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
	const char *values[GW_F__COUNT] = {NULL, NULL, NULL};
	const char *device = NULL;
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
	rc = gw_recipient_add(s, argv[optind], values, groups, ngroups, err, sizeof(err));
	if (rc == MQS_OK && device != NULL)
		rc = gw_recipient_set_device(s, argv[optind], device, err, sizeof(err));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot add recipient: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
	return EX_OK;
}

/* recipient set NAME (--device DEV | --no-device) */
static int set(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"device", required_argument, NULL, 'd'},
	                                     {"no-device", no_argument, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	const char *device = NULL;
	char err[256];
	int opt, rc, given = 0;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if ((opt != 'd' && opt != 'n') || given)
			return usage_err("set NAME (--device DEV | --no-device)");
		given = 1;
		device = opt == 'd' ? optarg : NULL;
	}
	if (!given || optind != argc - 1)
		return usage_err("set NAME (--device DEV | --no-device)");
	rc = gw_recipient_set_device(s, argv[optind], device, err, sizeof(err));
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot set recipient: %s\n", err);
		return gw_cmd_exit_code(rc);
	}
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
		fprintf(l->out, "%-20s %-28s %-18s %-14s %-20s %-16s %s\n", ri->name,
		        shown(ri, GW_F_EMAIL), shown(ri, GW_F_PHONE), shown(ri, GW_F_LINE),
		        ri->groups ? ri->groups : "-", ri->optouts ? ri->optouts : "-",
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
		fprintf(out, "%-20s %-28s %-18s %-14s %-20s %-16s %s\n", "NAME", "EMAIL", "PHONE",
		        "LINE", "GROUPS", "OPTOUTS", "DEVICE");
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

/* recipient ...: check the arguments, open the store, run the subcommand. */
int gw_cmd_recipient(struct gw_config *conf, int argc, char **argv)
{
	struct gw_store s;
	const char *sub = argc > 1 ? argv[1] : "";
	char err[256];
	int rc;

	if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "rm") != 0 &&
	    strcmp(sub, "optout") != 0 && strcmp(sub, "find") != 0 && strcmp(sub, "set") != 0)
		return usage_err("add|set|list|rm|optout|find ...");
	if (strcmp(sub, "rm") == 0 && argc != 3)
		return usage_err("rm NAME");
	if (strcmp(sub, "optout") == 0 && (argc != 4 || gw_chan_parse(argv[3]) < 0))
		return usage_err("optout NAME email|sms|phone|line");
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (strcmp(sub, "add") == 0)
		rc = add(&s, argc - 1, argv + 1);
	else if (strcmp(sub, "list") == 0)
		rc = list(&s, argc - 1, argv + 1);
	else if (strcmp(sub, "find") == 0)
		rc = find(&s, argc - 1, argv + 1);
	else if (strcmp(sub, "set") == 0)
		rc = set(&s, argc - 1, argv + 1);
	else {
		int e = strcmp(sub, "rm") == 0
		            ? gw_recipient_rm(&s, argv[2], err, sizeof(err))
		            : gw_recipient_optout(&s, argv[2], gw_chan_parse(argv[3]), err,
		                                  sizeof(err));
		if (e != MQS_OK)
			fprintf(stderr, "mqttsec-gateway: %s\n", err);
		rc = gw_cmd_exit_code(e);
	}
	gw_store_close(&s);
	return rc;
}
