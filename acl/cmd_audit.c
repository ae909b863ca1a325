/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_audit.c - mqttsec-acl audit [--limit N] [--json]: the change log
 * (admin/audit.c).
 *
 * Shows the newest N rows (default 100, 0 = all), oldest first: when (UTC),
 * who (OS user, or mqttsec-plugin for automatic bans), action, detail.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <sysexits.h>

#include "acl.h"

#define AUDIT_DEFAULT_LIMIT 100

/* audit options. */
struct audit_opts {
	const struct acl_ctx *ctx;
	long long limit;
	char why[ACL_WHY_MAX];
};

/* --limit N */
static int audit_opt(int opt, const char *arg, void *data)
{
	struct audit_opts *o = data;

	return acl_report(o->ctx, mqsa_int_parse(arg, 0, INT32_MAX, "limit", &o->limit, o->why),
	                  o->why);
}

/* One listing row. */
static enum mqs_err audit_row(const struct mqsa_audit_row *r, void *arg)
{
	cJSON *row;
	char iso[32];

	row = cJSON_CreateObject();
	if (row == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arg, row);
	acl_time_iso(r->at, iso, sizeof(iso));
	if (acl_json_num(row, "id", r->id) && acl_json_num(row, "at", r->at) &&
	    acl_json_str(row, "time", iso) && acl_json_str(row, "who", r->who) &&
	    acl_json_str(row, "action", r->action) && acl_json_str(row, "detail", r->detail))
		return MQS_OK;
	return MQS_ERR_NOMEM;
}

/* audit */
int acl_cmd_audit(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"limit", required_argument, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	static const struct acl_column cols[] = {
	    {"time", "TIME"}, {"who", "WHO"}, {"action", "ACTION"}, {"detail", "DETAIL"}};
	struct audit_opts o = {ctx, AUDIT_DEFAULT_LIMIT, ""};
	cJSON *rows = NULL;
	enum mqs_err rc;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "audit", "[--limit N] [--json]", 1, opts, audit_opt,
	                    &o, 0, 0, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	rows = cJSON_CreateArray();
	rc = rows == NULL ? acl_nomem(o.why, "audit log")
	                  : mqsa_audit_list(ctx->adm, o.limit, audit_row, rows, o.why);
	ex = acl_listed(ctx, rc, rows, o.why, cols, sizeof(cols) / sizeof(cols[0]));
out:
	cJSON_Delete(rows);
	return ex;
}
