/* cmd_group.c - `group add|list|rm|member`. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "gw_recipient.h"
#include "mqs_error.h"

static int usage_err(const char *what)
{
	fprintf(stderr, "usage: mqttsec-gateway group %s\n", what);
	return EX_USAGE;
}

static int add(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"channels", required_argument, NULL, 'c'},
	                                     {NULL, 0, NULL, 0}};
	const char *channels = NULL;
	char err[256];
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'c')
			return usage_err("add G [--channels email,sms,...]");
		channels = optarg;
	}
	if (optind != argc - 1)
		return usage_err("add G [--channels email,sms,...]");
	rc = gw_group_add(s, argv[optind], channels, err, sizeof(err));
	if (rc != MQS_OK)
		fprintf(stderr, "mqttsec-gateway: cannot add group: %s\n", err);
	return cmd_exit_code(rc);
}

static int list(struct gw_store *s, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	int json = 0, opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j')
			return usage_err("list [--json]");
		json = 1;
	}
	if (optind != argc)
		return usage_err("list [--json]");
	if (gw_group_list(s, stdout, json) != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: cannot list groups\n");
		return EX_IOERR;
	}
	return EX_OK;
}

/* group ... */
int cmd_group(struct gw_config *conf, int argc, char **argv)
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
	rc = cmd_open_store(conf, &s);
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
		rc = cmd_exit_code(e);
	}
	gw_store_close(&s);
	return rc;
}
