/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_topic.c - mqttsec-acl topic protect|unprotect|list: protected topics
 * (admin/topics.c, mqsa_topic_*; docs/payload-encryption.md).
 *
 * protect creates the first topic key (and ends the grace of keys retired
 * earlier); unprotect retires the active keys for a grace period.  Key
 * rotation and export are in cmd_key.c.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "acl.h"

/* topic protect options. */
struct protect_opts {
	const struct acl_ctx *ctx;
	struct mqsa_topic_opts t;
	char why[ACL_WHY_MAX];
};

/* --per-device LEVEL (1..255), --rotate-every DURATION */
static int protect_opt(int opt, const char *arg, void *data)
{
	struct protect_opts *o = data;
	char *end = NULL;
	long v;

	if (opt == 'R')
		return acl_report(o->ctx, mqsa_ttl_parse(arg, &o->t.rotate_every, o->why), o->why);
	if (opt != 'D')
		return EX_USAGE;
	v = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || v < 1 || v > 255) {
		acl_err("invalid device level %s: a topic level 1..255", arg);
		return EX_USAGE;
	}
	o->t.per_device = (int)v;
	return EX_OK;
}

/* topic protect TOPICFILTER [--rotate-every DURATION] [--per-device LEVEL]
 * (the running plugin rotates the key on schedule: rotate.c in the plugin,
 * docs/payload-encryption.md, "Keys that do not wear out") */
static int topic_protect(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"per-device", required_argument, NULL, 'D'},
	                                     {"rotate-every", required_argument, NULL, 'R'},
	                                     {NULL, 0, NULL, 0}};
	struct protect_opts o;
	struct mqsa_topic_protected r;
	const char *filter;
	char *why = o.why;
	int first;
	int ex;

	memset(&r, 0, sizeof(r));
	memset(&o, 0, sizeof(o));
	o.ctx = ctx;
	ex = acl_parse_opts(ctx, argc, argv, "topic protect",
	                    "TOPICFILTER [--rotate-every DURATION] [--per-device LEVEL]", 0, opts,
	                    protect_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	filter = argv[first];
	ex = acl_report(ctx, mqsa_protected_filter_check(filter, why), why);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_topic_protect(ctx->adm, filter, &o.t, &r, why), why);
	if (ex == EX_OK && o.t.per_device > 0)
		printf("topic %s protected per device (level %d names the device; no shared key)\n",
		       filter, o.t.per_device);
	else if (ex == EX_OK)
		printf("topic %s protected, key %lu\n", filter, (unsigned long)r.key_id);
	if (ex == EX_OK && o.t.rotate_every > 0)
		printf("the broker rotates its key every %lld s\n", o.t.rotate_every);
	if (ex == EX_OK && r.nended > 0)
		printf("grace ended for key%s %s (usable while the topic was unprotected)\n",
		       r.nended == 1 ? "" : "s", r.ended);
	if (ex == EX_OK && r.nprotected > MQS_CREDS_KEYS_MAX)
		fprintf(
		    stderr,
		    "mqttsec-acl: warning: %lld topic filters are protected; a credentials file "
		    "lists %d at most, so device add, device rekey, device retotp and key "
		    "export refuse until some are unprotected\n",
		    r.nprotected, MQS_CREDS_KEYS_MAX);
out:
	return ex;
}

/* --grace options. */
struct grace_opts {
	const struct acl_ctx *ctx;
	long long grace;
	char why[ACL_WHY_MAX];
};

/* --grace SECONDS */
static int grace_opt(int opt, const char *arg, void *data)
{
	struct grace_opts *o = data;

	return acl_report(o->ctx, mqsa_grace_parse(arg, &o->grace, o->why), o->why);
}

/* topic unprotect TOPICFILTER [--grace SECONDS] */
static int topic_unprotect(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"grace", required_argument, NULL, 'g'},
	                                     {NULL, 0, NULL, 0}};
	struct grace_opts o = {ctx, MQSA_GRACE_DEFAULT, ""};
	const char *filter;
	int nretired = 0;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "topic unprotect", "TOPICFILTER [--grace SECONDS]", 0,
	                    opts, grace_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	filter = argv[first];
	ex = acl_report(ctx, mqsa_protected_filter_check(filter, o.why), o.why);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_report(
		    ctx, mqsa_topic_unprotect(ctx->adm, filter, o.grace, &nretired, o.why), o.why);
	if (ex == EX_OK)
		printf("topic %s unprotected, %d key%s retired (grace %lld s)\n", filter, nretired,
		       nretired == 1 ? "" : "s", o.grace);
out:
	return ex;
}

/* One listing row. */
static enum mqs_err list_row(const struct mqsa_topic *t, void *arg)
{
	cJSON *row;
	char iso[32];

	row = cJSON_CreateObject();
	if (row == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arg, row);
	acl_time_iso(t->created_at, iso, sizeof(iso));
	if (!acl_json_str(row, "filter", t->filter) ||
	    !acl_json_num(row, "created_at", t->created_at) || !acl_json_str(row, "created", iso) ||
	    !acl_json_num(row, "in_grace", t->in_grace) ||
	    !acl_json_num(row, "per_device", t->per_device))
		return MQS_ERR_NOMEM;
	if (t->active_key == 0)
		return cJSON_AddNullToObject(row, "active_key") != NULL ? MQS_OK : MQS_ERR_NOMEM;
	return acl_json_num(row, "active_key", t->active_key) ? MQS_OK : MQS_ERR_NOMEM;
}

/* topic list */
static int topic_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"filter", "FILTER"},
	                                         {"active_key", "KEY"},
	                                         {"created", "CREATED"},
	                                         {"in_grace", "IN_GRACE"},
	                                         {"per_device", "PER_DEVICE"}};
	char why[ACL_WHY_MAX] = "";
	cJSON *rows = NULL;
	enum mqs_err rc;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "topic list", "[--json]", 1, NULL, NULL, NULL, 0, 0,
	                    &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	rows = cJSON_CreateArray();
	rc = rows == NULL ? acl_nomem(why, "protected topics")
	                  : mqsa_topic_list(ctx->adm, list_row, rows, why);
	ex = acl_listed(ctx, rc, rows, why, cols, sizeof(cols) / sizeof(cols[0]));
out:
	cJSON_Delete(rows);
	return ex;
}

static const struct acl_cmd topic_cmds[] = {
    {"protect", "TOPICFILTER [--rotate-every DURATION] [--per-device LEVEL]",
     "encrypt payloads on matching topics (a topic key, or each device's own)", topic_protect},
    {"unprotect", "TOPICFILTER [--grace SECONDS]",
     "stop encrypting; keys stay usable for the grace period", topic_unprotect},
    {"list", "[--json]", "protected topic filters and their keys", topic_list},
};

/* topic SUBCOMMAND ... */
int acl_cmd_topic(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "topic", topic_cmds, sizeof(topic_cmds) / sizeof(topic_cmds[0]),
	                    argc, argv);
}
