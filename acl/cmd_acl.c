/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_acl.c - mqttsec-acl acl add|rm|show|test: topic rules (admin/rules.c,
 * mqsa_rule_*; the tester is admin/keyaccess.c, mqsa_rule_test).
 *
 * A rule is effect (allow|deny), access (pub|sub|read|all), subject (a
 * device NAME or @GROUP, which must exist), an MQTT topic filter that may
 * hold %u / %c, and a priority.  The broker applies the first matching rule
 * in the order acl show prints: higher priority first, deny before allow at
 * equal priority; no match = deny.
 */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "acl.h"

/* acl add options. */
struct add_opts {
	const struct acl_ctx *ctx;
	long long priority;
	char why[ACL_WHY_MAX];
};

/* --priority N */
static int add_opt(int opt, const char *arg, void *data)
{
	struct add_opts *o = data;

	return acl_report(o->ctx,
	                  mqsa_int_parse(arg, MQSA_PRIORITY_MIN, MQSA_PRIORITY_MAX, "priority",
	                                 &o->priority, o->why),
	                  o->why);
}

/* acl add */
static int rule_add(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"priority", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	struct add_opts o;
	long long id = 0;
	char **op;
	int first;
	int ex;

	memset(&o, 0, sizeof(o));
	o.ctx = ctx;
	ex = acl_parse_opts(ctx, argc, argv, "acl add",
	                    "allow|deny pub|sub|read|all NAME|@GROUP TOPICFILTER [--priority N]", 0,
	                    opts, add_opt, &o, 4, 4, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	op = argv + first;
	ex = acl_report(ctx,
	                mqsa_rule_add(ctx->adm, op[0], op[1], op[2], op[3], o.priority, &id, o.why),
	                o.why);
	if (ex == EX_OK)
		printf("acl rule %lld added\n", id);
out:
	return ex;
}

/* Parse "WORDS ID", open the db: *id. */
int acl_id_operand(struct acl_ctx *ctx, int argc, char **argv, const char *words, long long *id)
{
	char why[ACL_WHY_MAX] = "";
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, words, "ID", 0, NULL, NULL, NULL, 1, 1, &first);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_int_parse(argv[first], 1, INT64_MAX, "id", id, why), why);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	return ex;
}

/* acl rm ID */
static int rule_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	long long id = 0;
	int ex;

	ex = acl_id_operand(ctx, argc, argv, "acl rm", &id);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_rule_remove(ctx->adm, id, why), why);
	if (ex == EX_OK)
		printf("acl rule %lld removed\n", id);
	return ex;
}

/* acl show: one listing row. */
static enum mqs_err show_row(const struct mqsa_rule *r, void *arg)
{
	cJSON *row = cJSON_CreateObject();

	if (row == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arg, row);
	if (acl_json_num(row, "id", r->id) && acl_json_num(row, "priority", r->priority) &&
	    acl_json_str(row, "effect", r->effect) && acl_json_str(row, "access", r->access) &&
	    acl_json_str(row, "subject", r->subject) && acl_json_str(row, "filter", r->filter) &&
	    acl_json_num(row, "created_at", r->created_at))
		return MQS_OK;
	return MQS_ERR_NOMEM;
}

/* acl show [SUBJECT] */
static int rule_show(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"id", "ID"},           {"priority", "PRIORITY"},
	                                         {"effect", "EFFECT"},   {"access", "ACCESS"},
	                                         {"subject", "SUBJECT"}, {"filter", "FILTER"}};
	char why[ACL_WHY_MAX] = "";
	cJSON *rows = NULL;
	char *subject = NULL;
	enum mqs_err rc;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "acl show", "[NAME|@GROUP] [--json]", 1, NULL, NULL,
	                    NULL, 0, 1, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	if (first < argc)
		subject = argv[first];
	rows = cJSON_CreateArray();
	rc = rows == NULL ? acl_nomem(why, "acl rules")
	                  : mqsa_rule_show(ctx->adm, subject, show_row, rows, why);
	ex = acl_listed(ctx, rc, rows, why, cols, sizeof(cols) / sizeof(cols[0]));
out:
	cJSON_Delete(rows);
	return ex;
}

/* acl test options. */
struct test_opts {
	const struct acl_ctx *ctx;
	const char *device;
	const char *clientid;
	char why[ACL_WHY_MAX];
};

/* --device NAME, --clientid ID */
static int test_opt(int opt, const char *arg, void *data)
{
	struct test_opts *o = data;

	if (opt == 'd')
		o->device = arg;
	else
		o->clientid = arg;
	return EX_OK;
}

/* acl test: one listing row. */
static enum mqs_err test_row(const struct mqsa_access *a, void *arg)
{
	cJSON *row = cJSON_CreateObject();

	if (row == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arg, row);
	if (acl_json_str(row, "device", a->name) && acl_json_bool(row, "enabled", a->enabled) &&
	    acl_json_bool(row, "publish", a->publish) &&
	    acl_json_bool(row, "receive", a->receive) &&
	    acl_json_bool(row, "subscribe", a->subscribe))
		return MQS_OK;
	return MQS_ERR_NOMEM;
}

/* acl test TOPIC [--device NAME] [--clientid ID]: who may do what on TOPIC
 * (every device, a page of MQSA_PAGE_MAX at a time). */
static int rule_test(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"device", required_argument, NULL, 'd'},
	                                     {"clientid", required_argument, NULL, 'c'},
	                                     {NULL, 0, NULL, 0}};
	static const struct acl_column cols[] = {{"device", "DEVICE"},
	                                         {"enabled", "ENABLED"},
	                                         {"publish", "PUBLISH"},
	                                         {"receive", "RECEIVE"},
	                                         {"subscribe", "SUBSCRIBE"}};
	struct test_opts o;
	struct mqsa_page pg = {.offset = 0, .limit = MQSA_PAGE_MAX};
	cJSON *rows = NULL;
	enum mqs_err rc = MQS_OK;
	int first;
	int ex;

	memset(&o, 0, sizeof(o));
	o.ctx = ctx;
	ex = acl_parse_opts(ctx, argc, argv, "acl test",
	                    "TOPIC [--device NAME] [--clientid ID] [--json]", 1, opts, test_opt, &o,
	                    1, 1, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	rows = cJSON_CreateArray();
	if (rows == NULL)
		rc = acl_nomem(o.why, "acl test");
	do {
		if (rc == MQS_OK)
			rc = mqsa_rule_test(ctx->adm, argv[first], o.clientid, o.device, &pg,
			                    test_row, rows, o.why);
		pg.offset += pg.limit;
	} while (rc == MQS_OK && o.device == NULL && pg.offset < pg.total);
	ex = acl_listed(ctx, rc, rows, o.why, cols, sizeof(cols) / sizeof(cols[0]));
out:
	cJSON_Delete(rows);
	return ex;
}

static const struct acl_cmd rule_cmds[] = {
    {"add", "allow|deny pub|sub|read|all NAME|@GROUP TOPICFILTER [--priority N]",
     "add a topic rule", rule_add},
    {"rm", "ID", "remove a rule", rule_rm},
    {"show", "[NAME|@GROUP] [--json]", "show rules in evaluation order", rule_show},
    {"test", "TOPIC [--device NAME] [--clientid ID] [--json]",
     "who may publish, receive, subscribe on a topic", rule_test},
};

/* acl SUBCOMMAND ... */
int acl_cmd_acl(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "acl", rule_cmds, sizeof(rule_cmds) / sizeof(rule_cmds[0]), argc,
	                    argv);
}
