/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_group.c - mqttsec-acl group add|rm|list and group member add|rm
 * (admin/groups.c, mqsa_group_*).
 *
 * A group is a named set of devices; ACL rules name it as "@GROUP".
 * Members must be enrolled devices.  group rm also removes the group's
 * memberships and its ACL rules, so every rule always names an existing
 * subject.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "acl.h"

/* Parse "WORDS GROUP", check the name, open the db. */
static int group_operand(struct acl_ctx *ctx, int argc, char **argv, const char *words,
                         const char **group)
{
	char why[ACL_WHY_MAX] = "";
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, words, "GROUP", 0, NULL, NULL, NULL, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	*group = argv[first];
	ex = acl_report(ctx, mqsa_name_check(*group, "group", why), why);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
out:
	return ex;
}

/* group add GROUP */
static int group_add(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	const char *group = NULL;
	int ex;

	ex = group_operand(ctx, argc, argv, "group add", &group);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_group_add(ctx->adm, group, why), why);
	if (ex == EX_OK)
		printf("group %s added\n", group);
	return ex;
}

/* group rm GROUP */
static int group_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	struct mqsa_group_removed r = {0, 0};
	char why[ACL_WHY_MAX] = "";
	const char *group = NULL;
	int ex;

	ex = group_operand(ctx, argc, argv, "group rm", &group);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_group_remove(ctx->adm, group, &r, why), why);
	if (ex == EX_OK)
		printf("group %s removed (%d members, %d acl rules)\n", group, r.members, r.rules);
	return ex;
}

/* group list: one listing row per group. */
static enum mqs_err list_row(const struct mqsa_group *g, void *arg)
{
	cJSON *row;
	cJSON *members;
	cJSON *s;

	row = cJSON_CreateObject();
	if (row == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arg, row);
	if (!acl_json_str(row, "group", g->name))
		return MQS_ERR_NOMEM;
	members = cJSON_AddArrayToObject(row, "members");
	if (members == NULL)
		return MQS_ERR_NOMEM;
	for (size_t i = 0; i < g->nmembers; i++) {
		s = cJSON_CreateString(g->members[i]);
		if (s == NULL)
			return MQS_ERR_NOMEM;
		cJSON_AddItemToArray(members, s);
	}
	return MQS_OK;
}

/* group list [GROUP] */
static int group_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"group", "GROUP"}, {"members", "MEMBERS"}};
	char why[ACL_WHY_MAX] = "";
	const char *only = NULL;
	cJSON *rows = NULL;
	enum mqs_err rc;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "group list", "[GROUP] [--json]", 1, NULL, NULL, NULL,
	                    0, 1, &first);
	if (ex != EX_OK)
		goto out;
	if (first < argc) {
		only = argv[first];
		ex = acl_report(ctx, mqsa_name_check(only, "group", why), why);
		if (ex != EX_OK)
			goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	rows = cJSON_CreateArray();
	rc = rows == NULL ? acl_nomem(why, "groups")
	                  : mqsa_group_list(ctx->adm, only, list_row, rows, why);
	ex = acl_listed(ctx, rc, rows, why, cols, sizeof(cols) / sizeof(cols[0]));
out:
	cJSON_Delete(rows);
	return ex;
}

/* group member add GROUP NAME */
static int member_add(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "group member add", "GROUP NAME", 0, NULL, NULL, NULL,
	                    2, 2, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	ex = acl_report(ctx, mqsa_group_member_add(ctx->adm, argv[first], argv[first + 1], why),
	                why);
	if (ex == EX_OK)
		printf("device %s added to group %s\n", argv[first + 1], argv[first]);
out:
	return ex;
}

/* group member rm GROUP NAME */
static int member_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "group member rm", "GROUP NAME", 0, NULL, NULL, NULL,
	                    2, 2, &first);
	if (ex != EX_OK)
		goto out;
	ex = acl_report(ctx, mqsa_name_check(argv[first], "group", why), why);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_name_check(argv[first + 1], "device", why), why);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_report(
		    ctx, mqsa_group_member_remove(ctx->adm, argv[first], argv[first + 1], why),
		    why);
	if (ex == EX_OK)
		printf("device %s removed from group %s\n", argv[first + 1], argv[first]);
out:
	return ex;
}

static const struct acl_cmd member_cmds[] = {
    {"add", "GROUP NAME", "add device NAME to GROUP", member_add},
    {"rm", "GROUP NAME", "remove device NAME from GROUP", member_rm},
};

/* group member add|rm */
static int group_member(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "group member", member_cmds,
	                    sizeof(member_cmds) / sizeof(member_cmds[0]), argc, argv);
}

static const struct acl_cmd group_cmds[] = {
    {"add", "GROUP", "create a group", group_add},
    {"rm", "GROUP", "remove a group, its memberships and its acl rules", group_rm},
    {"list", "[GROUP] [--json]", "list groups and their members", group_list},
    {"member", "add|rm GROUP NAME", "add or remove a member", group_member},
};

/* group SUBCOMMAND ... */
int acl_cmd_group(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "group", group_cmds, sizeof(group_cmds) / sizeof(group_cmds[0]),
	                    argc, argv);
}
