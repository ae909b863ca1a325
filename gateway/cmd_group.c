/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_group.c - `group add|list|rm|member`. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "gw_cmd.h"
#include "gw_group.h"
#include "mqs_error.h"

/* Print the usage of a subcommand; EX_USAGE. */
static int usage_err(const char *what)
{
	fprintf(stderr, "usage: mqttsec-gateway group %s\n", what);
	return EX_USAGE;
}

/* group add G [--channels ...] */
static int add(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"channels", required_argument, NULL, 'c'},
	                                     {NULL, 0, NULL, 0}};
	const char *channels = NULL;
	char err[256];
	int opt, rc;

	for (opt = getopt_long(argc, argv, "", opts, NULL); opt != -1;
	     opt = getopt_long(argc, argv, "", opts, NULL)) {
		if (opt != 'c')
			return usage_err("add G [--channels email,sms,...]");
		channels = optarg;
	}
	if (optind != argc - 1)
		return usage_err("add G [--channels email,sms,...]");
	rc = gw_group_add(s, argv[optind], channels, err, sizeof(err));
	if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: cannot add group: %s\n", err);
	return gw_cmd_exit_code(rc);
}

/* What a listing accumulates: the JSON array, or nothing for a table. */
struct listing {
	FILE *out;
	cJSON *arr; /* NULL: a table */
};

/* One group: a table line or a JSON object. */
static int list_row(const struct gw_group_info *gi, void *arg)
{
	struct listing *l = arg;
	cJSON *o;

	if (l->arr == NULL) {
		fprintf(l->out, "%-20s %-24s %d\n", gi->name,
		        gi->channels && *gi->channels ? gi->channels : "-", gi->members);
		return MQS_OK;
	}
	o = cJSON_CreateObject();
	if (o == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(l->arr, o);
	cJSON_AddStringToObject(o, "name", gi->name);
	cJSON_AddStringToObject(o, "channels", gi->channels ? gi->channels : "");
	cJSON_AddNumberToObject(o, "members", gi->members);
	return MQS_OK;
}

/* Print every group with its default channels and member count. */
static int print_groups(struct gw_store *s, FILE *out, int json)
{
	struct listing l = {out, NULL};
	int rc = MQS_ERR_NOMEM;

	if (json) {
		l.arr = cJSON_CreateArray();
		if (l.arr == NULL)
			goto out;
	} else {
		fprintf(out, "%-20s %-24s %s\n", "GROUP", "CHANNELS", "MEMBERS");
	}
	rc = gw_group_each(s, list_row, &l);
	if (rc == MQS_OK && json)
		rc = gw_cmd_json_print(out, l.arr);
out:
	cJSON_Delete(l.arr);
	return rc;
}

/* group list [--json] */
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
	if (print_groups(s, stdout, json) != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot list groups\n");
		return EX_IOERR;
	}
	return EX_OK;
}

/* group ...: check the arguments, open the store, run the subcommand. */
int gw_cmd_group(struct gw_config *conf, int argc, char **argv)
{
	struct gw_store s;
	const char *sub = argc > 1 ? argv[1] : "";
	char err[256];
	int rc, e;

	if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "rm") != 0 &&
	    strcmp(sub, "member") != 0)
		return usage_err("add|list|rm|member ...");
	if (strcmp(sub, "rm") == 0 && argc != 3)
		return usage_err("rm G");
	if (strcmp(sub, "member") == 0 &&
	    (argc != 5 || (strcmp(argv[2], "add") != 0 && strcmp(argv[2], "rm") != 0)))
		return usage_err("member add|rm G NAME");
	rc = gw_cmd_open_store(conf, &s);
	if (rc != EX_OK)
		return rc;
	if (strcmp(sub, "add") == 0) {
		rc = add(&s, argc - 1, argv + 1);
	} else if (strcmp(sub, "list") == 0) {
		rc = list(&s, argc - 1, argv + 1);
	} else {
		if (strcmp(sub, "rm") == 0)
			e = gw_group_rm(&s, argv[2], err, sizeof(err));
		else
			e = gw_group_member(&s, argv[3], argv[4], strcmp(argv[2], "add") == 0, err,
			                    sizeof(err));
		if (e != MQS_OK)
			fprintf(stderr, "mqttsec-gateway: %s\n", err);
		rc = gw_cmd_exit_code(e);
	}
	gw_store_close(&s);
	return rc;
}
