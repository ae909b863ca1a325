/* cmd_clientid.c - mqttsec-acl clientid list|release: owned client ids
 * (docs/acl.md, docs/broker-plugin.md "Client ids").
 *
 * The broker plugin binds a client id to the first device that connects
 * with it and writes the binding to the clientids table on its next tick
 * (so a binding less than a tick old may not be listed yet); last_seen is
 * written coarsely (at most hourly per id while connected, and at
 * disconnect).  release deletes the row and adds a clientid_releases row
 * that the running plugin applies within a second (also to a binding it
 * has not written yet); device rm releases every id of the device the same
 * way (acl_clientid_release).  Release rows older than a day are pruned:
 * the plugin merges them within a second, and a plugin that starts later
 * loads the bindings without them.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "acl.h"

#include "../broker-plugin/clientids.h"

#define RELEASE_KEEP 86400 /* seconds a release row is kept for the plugin */

/* Release clientid (whoever holds it) or, when clientid is NULL, every id
 * of username. */
int acl_clientid_release(struct acl_ctx *ctx, const char *clientid, const char *username, int *n,
                         char *why)
{
	sqlite3_stmt *st = NULL;
	int ex;

	if (clientid != NULL)
		ex = acl_exec_text(ctx, "DELETE FROM clientids WHERE clientid = ?1", clientid, NULL,
		                   n, why);
	else
		ex = acl_exec_text(ctx, "DELETE FROM clientids WHERE username = ?1", username, NULL,
		                   n, why);
	if (ex != EX_OK)
		goto out;
	ex = acl_prepare(ctx,
	                 "INSERT INTO clientid_releases (clientid, username, at) VALUES (?1, ?2, "
	                 "?3)",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	if (clientid != NULL)
		sqlite3_bind_text(st, 1, clientid, -1, SQLITE_STATIC);
	if (clientid == NULL)
		sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "record the release");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	ex = acl_prepare(ctx, "DELETE FROM clientid_releases WHERE at < ?1", &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now - RELEASE_KEEP);
	if (sqlite3_step(st) != SQLITE_DONE)
		ex = acl_db_fail(ctx, why, "prune releases");
out:
	sqlite3_finalize(st);
	return ex;
}

/* ---- list ---- */

static int list_row(const struct acl_ctx *ctx, sqlite3_stmt *st, cJSON *rows, void *arg)
{
	cJSON *row;
	char created[32], seen[32];

	(void)ctx;
	(void)arg;
	row = cJSON_CreateObject();
	if (row == NULL)
		return 0;
	cJSON_AddItemToArray(rows, row);
	acl_time_iso(sqlite3_column_int64(st, 2), created, sizeof(created));
	acl_time_iso(sqlite3_column_int64(st, 3), seen, sizeof(seen));
	return acl_json_str(row, "clientid", (const char *)sqlite3_column_text(st, 0)) &&
	       acl_json_str(row, "username", (const char *)sqlite3_column_text(st, 1)) &&
	       acl_json_num(row, "created_at", sqlite3_column_int64(st, 2)) &&
	       acl_json_str(row, "created", created) &&
	       acl_json_num(row, "last_seen_at", sqlite3_column_int64(st, 3)) &&
	       acl_json_str(row, "last_seen", seen);
}

static int clientid_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"clientid", "CLIENTID"},
	                                         {"username", "DEVICE"},
	                                         {"created", "BOUND"},
	                                         {"last_seen", "LAST_SEEN"}};
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "clientid list", "[--json]", 1, NULL, NULL, NULL, 0, 0,
	                    &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_list_rows(
		    ctx,
		    "SELECT clientid, username, created_at, last_seen FROM clientids "
		    "ORDER BY username, clientid",
		    NULL, list_row, NULL, "client ids", cols, sizeof(cols) / sizeof(cols[0]));
	return ex;
}

/* ---- release ---- */

struct release_arg {
	const char *clientid;
	char owner[ACL_NAME_MAX + 1]; /* "" when no binding was stored */
};

static int release_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct release_arg *a = data;
	sqlite3_stmt *st = NULL;
	int ex;

	ex = acl_prepare(ctx, "SELECT username FROM clientids WHERE clientid = ?1", &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->clientid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(a->owner, sizeof(a->owner), "%s",
		         (const char *)sqlite3_column_text(st, 0));
	ex = acl_clientid_release(ctx, a->clientid, NULL, NULL, why);
	if (ex == EX_OK)
		snprintf(detail, ACL_DETAIL_MAX, "clientid=%s owner=%s", a->clientid,
		         a->owner[0] != '\0' ? a->owner : "-");
out:
	sqlite3_finalize(st);
	return ex;
}

static int clientid_release(struct acl_ctx *ctx, int argc, char **argv)
{
	struct release_arg a;
	char why[ACL_WHY_MAX];
	int first;
	int ex;

	memset(&a, 0, sizeof(a));
	ex = acl_parse_opts(ctx, argc, argv, "clientid release", "CLIENTID", 0, NULL, NULL, NULL, 1,
	                    1, &first);
	if (ex != EX_OK)
		goto out;
	a.clientid = argv[first];
	ex = acl_text_check(a.clientid, MQSP_CLIENTIDS_LEN_MAX, 0, "client id", why);
	if (ex != EX_OK) {
		acl_err("%s", why);
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "clientid release", release_change, &a);
	if (ex != EX_OK)
		goto out;
	if (a.owner[0] != '\0')
		printf("client id %s released (was bound to %s)\n", a.clientid, a.owner);
	else
		printf("client id %s released (no binding stored)\n", a.clientid);
out:
	return ex;
}

static const struct acl_cmd clientid_cmds[] = {
    {"list", "[--json]", "client ids and the device each is bound to", clientid_list},
    {"release", "CLIENTID", "free a client id for any device", clientid_release},
};

/* clientid list|release */
int acl_cmd_clientid(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "clientid", clientid_cmds,
	                    sizeof(clientid_cmds) / sizeof(clientid_cmds[0]), argc, argv);
}
