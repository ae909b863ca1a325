/* cmd_group.c - mqttsec-acl group add|rm|list and group member add|rm.
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

/* Create a group. */
int acl_group_put(struct acl_ctx *ctx, const char *group, int exist_ok, int *created, char *why)
{
	sqlite3_stmt *st = NULL;
	int ex;

	if (created != NULL)
		*created = 0;
	ex = acl_name_check(group, "group", why);
	if (ex != EX_OK)
		goto out;
	ex = acl_prepare(ctx, "INSERT INTO groups (name) VALUES (?1) ON CONFLICT DO NOTHING", &st,
	                 why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "add group");
		goto out;
	}
	if (sqlite3_changes(ctx->db) == 0 && !exist_ok) {
		ex = acl_fail(why, EX_DATAERR, "group %s exists", group);
		goto out;
	}
	if (created != NULL)
		*created = sqlite3_changes(ctx->db) > 0;
out:
	sqlite3_finalize(st);
	return ex;
}

/* Check that group and device exist. */
static int check_pair(struct acl_ctx *ctx, const char *group, const char *name, char *why)
{
	int rc;
	int ex;

	ex = acl_name_check(group, "group", why);
	if (ex == EX_OK)
		ex = acl_name_check(name, "device", why);
	if (ex != EX_OK)
		goto out;
	rc = acl_group_exists(ctx, group);
	if (rc != 1) {
		ex = rc < 0 ? acl_db_fail(ctx, why, "read groups")
		            : acl_fail(why, EX_DATAERR, "unknown group %s", group);
		goto out;
	}
	rc = acl_device_exists(ctx, name);
	if (rc != 1)
		ex = rc < 0 ? acl_db_fail(ctx, why, "read devices")
		            : acl_fail(why, EX_DATAERR, "unknown device %s", name);
out:
	return ex;
}

/* Add a member. */
int acl_member_put(struct acl_ctx *ctx, const char *group, const char *name, int exist_ok,
                   int *created, char *why)
{
	sqlite3_stmt *st = NULL;
	int ex;

	if (created != NULL)
		*created = 0;
	ex = check_pair(ctx, group, name, why);
	if (ex == EX_OK)
		ex = acl_prepare(ctx,
		                 "INSERT INTO group_members (grp, member) VALUES (?1, ?2) "
		                 "ON CONFLICT DO NOTHING",
		                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "add member");
		goto out;
	}
	if (sqlite3_changes(ctx->db) == 0 && !exist_ok) {
		ex = acl_fail(why, EX_DATAERR, "device %s is already a member of %s", name, group);
		goto out;
	}
	if (created != NULL)
		*created = sqlite3_changes(ctx->db) > 0;
out:
	sqlite3_finalize(st);
	return ex;
}

/* group add: create the group. */
static int group_add_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	const char *group = data;
	int ex;

	ex = acl_group_put(ctx, group, 0, NULL, why);
	snprintf(detail, ACL_DETAIL_MAX, "group=%s", group);
	return ex;
}

static int group_add(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	char *group;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "group add", "GROUP", 0, NULL, NULL, NULL, 1, 1,
	                    &first);
	if (ex != EX_OK)
		goto out;
	group = argv[first];
	ex = acl_name_check(group, "group", why);
	if (ex != EX_OK) {
		acl_err("%s", why);
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "group add", group_add_change, group);
	if (ex == EX_OK)
		printf("group %s added\n", group);
out:
	return ex;
}

/* group rm: the group and what went with it. */
struct group_rm_arg {
	const char *group;
	int nmembers;
	int nrules;
};

static int group_rm_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct group_rm_arg *a = data;
	char subject[ACL_NAME_MAX + 2];
	int ngroups = 0;
	int ex;

	snprintf(subject, sizeof(subject), "@%s", a->group);
	ex = acl_exec_text(ctx, "DELETE FROM group_members WHERE grp = ?1", a->group, NULL,
	                   &a->nmembers, why);
	if (ex == EX_OK)
		ex = acl_exec_text(ctx, "DELETE FROM groups WHERE name = ?1", a->group, NULL,
		                   &ngroups, why);
	if (ex == EX_OK && ngroups == 0)
		ex = acl_fail(why, EX_DATAERR, "unknown group %s", a->group);
	if (ex == EX_OK)
		ex = acl_exec_text(ctx, "DELETE FROM acl_rules WHERE subject = ?1", subject, NULL,
		                   &a->nrules, why);
	if (ex == EX_OK)
		snprintf(detail, ACL_DETAIL_MAX, "group=%s members=%d rules=%d", a->group,
		         a->nmembers, a->nrules);
	return ex;
}

static int group_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	struct group_rm_arg a = {NULL, 0, 0};
	char why[ACL_WHY_MAX] = "";
	int first;
	int ex;

	ex =
	    acl_parse_opts(ctx, argc, argv, "group rm", "GROUP", 0, NULL, NULL, NULL, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	a.group = argv[first];
	ex = acl_name_check(a.group, "group", why);
	if (ex != EX_OK) {
		acl_err("%s", why);
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "group rm", group_rm_change, &a);
	if (ex == EX_OK)
		printf("group %s removed (%d members, %d acl rules)\n", a.group, a.nmembers,
		       a.nrules);
out:
	return ex;
}

/* group list: rows come as (group, member) sorted by group; one listing
 * row per group collects its members. */
struct group_list_arg {
	const char *only; /* GROUP operand or NULL */
	cJSON *members;   /* members array of the last listing row */
	char last[ACL_NAME_MAX + 1];
};

static void list_bind(const struct acl_ctx *ctx, sqlite3_stmt *st, void *arg)
{
	const struct group_list_arg *a = arg;

	if (a->only != NULL)
		sqlite3_bind_text(st, 1, a->only, -1, SQLITE_STATIC);
}

static int list_row(const struct acl_ctx *ctx, sqlite3_stmt *st, cJSON *rows, void *arg)
{
	struct group_list_arg *a = arg;
	const char *g = (const char *)sqlite3_column_text(st, 0);
	const char *m = (const char *)sqlite3_column_text(st, 1);

	if (g == NULL)
		return 1;
	if (a->members == NULL || strcmp(g, a->last) != 0) {
		cJSON *row = cJSON_CreateObject();

		if (row == NULL)
			return 0;
		cJSON_AddItemToArray(rows, row);
		if (!acl_json_str(row, "group", g))
			return 0;
		a->members = cJSON_AddArrayToObject(row, "members");
		if (a->members == NULL)
			return 0;
		snprintf(a->last, sizeof(a->last), "%s", g);
	}
	if (m != NULL) {
		cJSON *s = cJSON_CreateString(m);

		if (s == NULL)
			return 0;
		cJSON_AddItemToArray(a->members, s);
	}
	return 1;
}

static int group_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"group", "GROUP"}, {"members", "MEMBERS"}};
	struct group_list_arg a;
	char why[ACL_WHY_MAX] = "";
	int first;
	int rc;
	int ex;

	memset(&a, 0, sizeof(a));
	ex = acl_parse_opts(ctx, argc, argv, "group list", "[GROUP] [--json]", 1, NULL, NULL, NULL,
	                    0, 1, &first);
	if (ex != EX_OK)
		goto out;
	if (first < argc) {
		a.only = argv[first];
		ex = acl_name_check(a.only, "group", why);
		if (ex != EX_OK)
			goto fail;
	}
	ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	if (a.only != NULL) {
		rc = acl_group_exists(ctx, a.only);
		if (rc != 1) {
			ex = rc < 0 ? acl_db_fail(ctx, why, "read groups")
			            : acl_fail(why, EX_DATAERR, "unknown group %s", a.only);
			goto fail;
		}
	}
	ex = acl_list_rows(
	    ctx,
	    "SELECT g.name, m.member FROM groups g LEFT JOIN group_members m "
	    "ON m.grp = g.name WHERE ?1 IS NULL OR g.name = ?1 ORDER BY g.name, m.member",
	    list_bind, list_row, &a, "groups", cols, sizeof(cols) / sizeof(cols[0]));
	goto out;
fail:
	acl_err("%s", why);
out:
	return ex;
}

/* group member add|rm: the pair. */
struct member_arg {
	const char *group;
	const char *name;
};

static int member_add_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	const struct member_arg *a = data;
	int ex;

	ex = acl_member_put(ctx, a->group, a->name, 0, NULL, why);
	snprintf(detail, ACL_DETAIL_MAX, "group=%s name=%s", a->group, a->name);
	return ex;
}

static int member_add(struct acl_ctx *ctx, int argc, char **argv)
{
	struct member_arg a;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "group member add", "GROUP NAME", 0, NULL, NULL, NULL,
	                    2, 2, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	a.group = argv[first];
	a.name = argv[first + 1];
	ex = acl_tx_run(ctx, "group member add", member_add_change, &a);
	if (ex == EX_OK)
		printf("device %s added to group %s\n", a.name, a.group);
out:
	return ex;
}

static int member_rm_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	const struct member_arg *a = data;
	int n = 0;
	int rc;
	int ex;

	ex = acl_exec_text(ctx, "DELETE FROM group_members WHERE grp = ?1 AND member = ?2",
	                   a->group, a->name, &n, why);
	if (ex != EX_OK)
		goto out;
	if (n == 0) {
		rc = acl_group_exists(ctx, a->group);
		if (rc < 0)
			ex = acl_db_fail(ctx, why, "read groups");
		else if (rc == 0)
			ex = acl_fail(why, EX_DATAERR, "unknown group %s", a->group);
		else
			ex = acl_fail(why, EX_DATAERR, "device %s is not a member of %s", a->name,
			              a->group);
		goto out;
	}
	snprintf(detail, ACL_DETAIL_MAX, "group=%s name=%s", a->group, a->name);
out:
	return ex;
}

static int member_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	struct member_arg a;
	char why[ACL_WHY_MAX] = "";
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "group member rm", "GROUP NAME", 0, NULL, NULL, NULL,
	                    2, 2, &first);
	if (ex != EX_OK)
		goto out;
	a.group = argv[first];
	a.name = argv[first + 1];
	ex = acl_name_check(a.group, "group", why);
	if (ex == EX_OK)
		ex = acl_name_check(a.name, "device", why);
	if (ex != EX_OK) {
		acl_err("%s", why);
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "group member rm", member_rm_change, &a);
	if (ex == EX_OK)
		printf("device %s removed from group %s\n", a.name, a.group);
out:
	return ex;
}

static const struct acl_cmd member_cmds[] = {
    {"add", "GROUP NAME", "add device NAME to GROUP", member_add},
    {"rm", "GROUP NAME", "remove device NAME from GROUP", member_rm},
};

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
