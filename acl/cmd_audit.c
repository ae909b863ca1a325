/* cmd_audit.c - mqttsec-acl audit [--limit N] [--json]: the change log.
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

struct audit_opts {
	long long limit;
	char why[ACL_WHY_MAX];
};

static int audit_opt(int opt, const char *arg, void *data)
{
	struct audit_opts *o = data;
	int ex;

	ex = acl_int_parse(arg, 0, INT32_MAX, "limit", &o->limit, o->why);
	if (ex != EX_OK)
		acl_err("%s", o->why);
	return ex;
}

/* audit: ?1 = the limit (-1 = all). */
static void audit_bind(const struct acl_ctx *ctx, sqlite3_stmt *st, void *arg)
{
	long long limit = *(const long long *)arg;

	sqlite3_bind_int64(st, 1, limit > 0 ? limit : -1);
}

static int audit_row(const struct acl_ctx *ctx, sqlite3_stmt *st, cJSON *rows, void *arg)
{
	cJSON *row;
	char iso[32];

	row = cJSON_CreateObject();
	if (row == NULL)
		return 0;
	cJSON_AddItemToArray(rows, row);
	acl_time_iso(sqlite3_column_int64(st, 1), iso, sizeof(iso));
	return acl_json_num(row, "id", sqlite3_column_int64(st, 0)) &&
	       acl_json_num(row, "at", sqlite3_column_int64(st, 1)) &&
	       acl_json_str(row, "time", iso) &&
	       acl_json_str(row, "who", (const char *)sqlite3_column_text(st, 2)) &&
	       acl_json_str(row, "action", (const char *)sqlite3_column_text(st, 3)) &&
	       acl_json_str(row, "detail", (const char *)sqlite3_column_text(st, 4));
}

/* audit */
int acl_cmd_audit(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"limit", required_argument, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	static const struct acl_column cols[] = {
	    {"time", "TIME"}, {"who", "WHO"}, {"action", "ACTION"}, {"detail", "DETAIL"}};
	struct audit_opts o = {AUDIT_DEFAULT_LIMIT, ""};
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "audit", "[--limit N] [--json]", 1, opts, audit_opt,
	                    &o, 0, 0, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_list_rows(ctx,
		                   "SELECT id, at, who, action, detail FROM (SELECT * FROM audit "
		                   "ORDER BY id DESC LIMIT ?1) ORDER BY id",
		                   audit_bind, audit_row, &o.limit, "audit log", cols,
		                   sizeof(cols) / sizeof(cols[0]));
	return ex;
}
