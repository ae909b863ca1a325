/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_list.c - mqttsec-acl list add|rm|show|purge: the allow and deny
 * lists (admin/lists.c, mqsa_list_*; docs/acl.md).
 *
 * ip patterns are stored as canonical CIDR text, username entries must
 * name an enrolled device, clientid entries are exact strings.  An expired
 * entry is hidden by list show unless --all; list purge deletes them.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "acl.h"

/* list add options. */
struct add_opts {
	const struct acl_ctx *ctx;
	long long ttl;
	const char *reason;
	char why[ACL_WHY_MAX];
};

/* --ttl, --reason */
static int add_opt(int opt, const char *arg, void *data)
{
	struct add_opts *o = data;
	enum mqs_err rc = MQS_OK;

	if (opt == 't')
		rc = mqsa_ttl_parse(arg, &o->ttl, o->why);
	else if (opt == 'r')
		rc = mqsa_text_check(arg, MQSA_REASON_MAX, 1, "reason", o->why);
	if (opt == 'r' && rc == MQS_OK)
		o->reason = arg;
	return acl_report(o->ctx, rc, o->why);
}

/* list add KIND MATCH PATTERN */
static int list_add(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"ttl", required_argument, NULL, 't'},
	                                     {"reason", required_argument, NULL, 'r'},
	                                     {NULL, 0, NULL, 0}};
	struct mqsa_list_added r;
	struct add_opts o;
	char iso[32];
	char **op;
	int first;
	int ex;

	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	o.ctx = ctx;
	ex = acl_parse_opts(
	    ctx, argc, argv, "list add",
	    "allow|deny clientid|username|ip PATTERN [--ttl SECONDS] [--reason TEXT]", 0, opts,
	    add_opt, &o, 3, 3, &first);
	if (ex != EX_OK)
		goto out;
	op = argv + first;
	ex = acl_report(ctx, mqsa_list_words(op[0], op[1], o.why), o.why);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_report(
		    ctx, mqsa_list_add(ctx->adm, op[0], op[1], op[2], o.ttl, o.reason, &r, o.why),
		    o.why);
	if (ex != EX_OK)
		goto out;
	if (r.expires_at != 0)
		acl_time_iso(r.expires_at, iso, sizeof(iso));
	printf("list entry %lld added: %s %s %s, expires %s\n", r.id, op[0], op[1], r.pattern,
	       r.expires_at != 0 ? iso : "never");
out:
	return ex;
}

/* list rm ID */
static int list_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	long long id = 0;
	int ex;

	ex = acl_id_operand(ctx, argc, argv, "list rm", &id);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_list_remove(ctx->adm, id, why), why);
	if (ex == EX_OK)
		printf("list entry %lld removed\n", id);
	return ex;
}

/* --all, --bans */
static int show_opt(int opt, const char *arg, void *data)
{
	*(int *)data |= opt == 'b' ? 2 : 1;
	return EX_OK;
}

/* list show: the rows and whether they print as JSON. */
struct show_arg {
	cJSON *rows;
	int json;
};

/* One listing row. */
static enum mqs_err show_row(const struct mqsa_list_entry *e, void *arg)
{
	const struct show_arg *a = arg;
	cJSON *row;
	char iso[32];
	char expires[48];

	row = cJSON_CreateObject();
	if (row == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(a->rows, row);
	acl_time_iso(e->expires_at, iso, sizeof(iso));
	snprintf(expires, sizeof(expires), "%s%s", e->expires_at == 0 ? "never" : iso,
	         e->expired ? " (expired)" : "");
	if (!acl_json_num(row, "id", e->id) || !acl_json_str(row, "kind", e->kind) ||
	    !acl_json_str(row, "match", e->match) || !acl_json_str(row, "pattern", e->pattern) ||
	    !acl_json_num(row, "expires_at", e->expires_at) ||
	    !acl_json_str(row, "expires", e->expires_at == 0 ? "never" : iso) ||
	    !acl_json_bool(row, "expired", e->expired) || !acl_json_str(row, "reason", e->reason) ||
	    !acl_json_num(row, "created_at", e->created_at) ||
	    !acl_json_str(row, "created_by", e->created_by))
		return MQS_ERR_NOMEM;
	if (!a->json) /* the table shows the flag in the expires column */
		cJSON_ReplaceItemInObjectCaseSensitive(row, "expires", cJSON_CreateString(expires));
	return MQS_OK;
}

/* list show --bans: the plugin's bans (unexpired unless --all), the newest
 * first, a page at a time. */
static enum mqs_err show_bans(struct acl_ctx *ctx, int all, struct show_arg *a, char *why)
{
	struct mqsa_list_query q = {"deny", 1, all};
	struct mqsa_page pg = {.offset = 0, .limit = MQSA_PAGE_MAX};
	enum mqs_err rc;

	do {
		rc = mqsa_list_page(ctx->adm, &q, &pg, show_row, a, why);
		pg.offset += pg.limit;
	} while (rc == MQS_OK && pg.offset < pg.total);
	return rc;
}

/* list show [--all] [--bans] */
static int list_show(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"all", no_argument, NULL, 'a'}, {"bans", no_argument, NULL, 'b'}, {NULL, 0, NULL, 0}};
	static const struct acl_column cols[] = {{"id", "ID"},           {"kind", "KIND"},
	                                         {"match", "MATCH"},     {"pattern", "PATTERN"},
	                                         {"expires", "EXPIRES"}, {"reason", "REASON"},
	                                         {"created_by", "BY"}};
	char why[ACL_WHY_MAX] = "";
	struct show_arg a = {NULL, 0};
	enum mqs_err rc;
	int all = 0;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "list show", "[--all] [--bans] [--json]", 1, opts,
	                    show_opt, &all, 0, 0, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	a.json = ctx->json;
	a.rows = cJSON_CreateArray();
	if (a.rows == NULL)
		rc = acl_nomem(why, "list entries");
	else if (all & 2)
		rc = show_bans(ctx, all & 1, &a, why);
	else
		rc = mqsa_list_show(ctx->adm, all, show_row, &a, why);
	ex = acl_listed(ctx, rc, a.rows, why, cols, sizeof(cols) / sizeof(cols[0]));
out:
	cJSON_Delete(a.rows);
	return ex;
}

/* list purge */
static int list_purge(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	int n = 0;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "list purge", "", 0, NULL, NULL, NULL, 0, 0, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_list_purge(ctx->adm, &n, why), why);
	if (ex == EX_OK && n == 0)
		printf("no expired list entries\n");
	else if (ex == EX_OK)
		printf("%d expired list entries removed\n", n);
	return ex;
}

static const struct acl_cmd list_cmds[] = {
    {"add", "allow|deny clientid|username|ip PATTERN [--ttl SECONDS] [--reason TEXT]",
     "add an allow or deny entry", list_add},
    {"rm", "ID", "remove an entry", list_rm},
    {"show", "[--all] [--bans] [--json]",
     "show entries (--all: with expired ones, --bans: only the broker's bans)", list_show},
    {"purge", "", "delete expired entries", list_purge},
};

/* list SUBCOMMAND ... */
int acl_cmd_list(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "list", list_cmds, sizeof(list_cmds) / sizeof(list_cmds[0]), argc,
	                    argv);
}
