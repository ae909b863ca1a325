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

/* audit */
int acl_cmd_audit(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"limit", required_argument, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	static const struct acl_column cols[] = {
	    {"time", "TIME"}, {"who", "WHO"}, {"action", "ACTION"}, {"detail", "DETAIL"}};
	struct audit_opts o = {AUDIT_DEFAULT_LIMIT, ""};
	char *why = o.why;
	sqlite3_stmt *st = NULL;
	cJSON *rows = NULL;
	int first;
	int rc;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "audit", "[--limit N] [--json]", 1, opts, audit_opt,
	                    &o, 0, 0, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	ex = acl_prepare(ctx,
	                 "SELECT id, at, who, action, detail FROM (SELECT * FROM audit "
	                 "ORDER BY id DESC LIMIT ?1) ORDER BY id",
	                 &st, why);
	if (ex != EX_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, o.limit > 0 ? o.limit : -1);
	rows = cJSON_CreateArray();
	if (rows == NULL)
		goto nomem;
	for (;;) {
		cJSON *row;
		char iso[32];

		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ex = acl_db_fail(ctx, why, "read audit log");
			goto fail;
		}
		row = cJSON_CreateObject();
		if (row == NULL)
			goto nomem;
		cJSON_AddItemToArray(rows, row);
		acl_time_iso(sqlite3_column_int64(st, 1), iso, sizeof(iso));
		if (!acl_json_num(row, "id", sqlite3_column_int64(st, 0)) ||
		    !acl_json_num(row, "at", sqlite3_column_int64(st, 1)) ||
		    !acl_json_str(row, "time", iso) ||
		    !acl_json_str(row, "who", (const char *)sqlite3_column_text(st, 2)) ||
		    !acl_json_str(row, "action", (const char *)sqlite3_column_text(st, 3)) ||
		    !acl_json_str(row, "detail", (const char *)sqlite3_column_text(st, 4)))
			goto nomem;
	}
	ex = acl_output(ctx, rows, cols, sizeof(cols) / sizeof(cols[0]));
	goto out;
nomem:
	ex = acl_fail(why, EX_OSERR, "cannot list audit log: out of memory");
fail:
	acl_err("%s", why);
out:
	sqlite3_finalize(st);
	cJSON_Delete(rows);
	return ex;
}
