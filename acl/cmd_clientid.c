/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_clientid.c - mqttsec-acl clientid list|release: owned client ids
 * (admin/clientids.c; docs/acl.md, docs/broker-plugin.md "Client ids").
 *
 * A binding less than a plugin tick old may not be listed yet; release
 * frees an id for any device (the running plugin applies it within a
 * second).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "acl.h"

/* One listing row. */
static enum mqs_err list_row(const struct mqsa_clientid *c, void *arg)
{
	cJSON *row;
	char created[32], seen[32];

	row = cJSON_CreateObject();
	if (row == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arg, row);
	acl_time_iso(c->created_at, created, sizeof(created));
	acl_time_iso(c->last_seen, seen, sizeof(seen));
	if (acl_json_str(row, "clientid", c->clientid) &&
	    acl_json_str(row, "username", c->username) &&
	    acl_json_num(row, "created_at", c->created_at) &&
	    acl_json_str(row, "created", created) &&
	    acl_json_num(row, "last_seen_at", c->last_seen) && acl_json_str(row, "last_seen", seen))
		return MQS_OK;
	return MQS_ERR_NOMEM;
}

/* clientid list */
static int clientid_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"clientid", "CLIENTID"},
	                                         {"username", "DEVICE"},
	                                         {"created", "BOUND"},
	                                         {"last_seen", "LAST_SEEN"}};
	char why[ACL_WHY_MAX] = "";
	cJSON *rows = NULL;
	enum mqs_err rc;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "clientid list", "[--json]", 1, NULL, NULL, NULL, 0, 0,
	                    &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	rows = cJSON_CreateArray();
	rc = rows == NULL ? acl_nomem(why, "client ids")
	                  : mqsa_clientid_list(ctx->adm, list_row, rows, why);
	ex = acl_listed(ctx, rc, rows, why, cols, sizeof(cols) / sizeof(cols[0]));
out:
	cJSON_Delete(rows);
	return ex;
}

/* clientid release CLIENTID */
static int clientid_release(struct acl_ctx *ctx, int argc, char **argv)
{
	char owner[MQSA_NAME_MAX + 1] = "";
	char why[ACL_WHY_MAX] = "";
	const char *clientid;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "clientid release", "CLIENTID", 0, NULL, NULL, NULL, 1,
	                    1, &first);
	if (ex != EX_OK)
		goto out;
	clientid = argv[first];
	/* checked before the database is opened, as every operand */
	ex = acl_report(ctx, mqsa_clientid_check(clientid, why), why);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_clientid_release(ctx->adm, clientid, owner, why), why);
	if (ex != EX_OK)
		goto out;
	if (owner[0] != '\0')
		printf("client id %s released (was bound to %s)\n", clientid, owner);
	else
		printf("client id %s released (no binding stored)\n", clientid);
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
