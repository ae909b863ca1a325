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

/* Run a DELETE with one or two text parameters; *n gets the row count. */
static int del(struct acl_ctx *ctx, const char *sql, const char *a, const char *b, int *n,
               char *why)
{
	sqlite3_stmt *st = NULL;
	int ex;

	ex = acl_prepare(ctx, sql, &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "update db");
		goto out;
	}
	*n = sqlite3_changes(ctx->db);
out:
	sqlite3_finalize(st);
	return ex;
}

static int group_add(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	char detail[96];
	const char *group;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "group add", "GROUP", 0, NULL, NULL, NULL, 1, 1,
	                    &first);
	if (ex != EX_OK)
		goto out;
	group = argv[first];
	ex = acl_name_check(group, "group", why);
	if (ex != EX_OK)
		goto fail;
	ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	ex = acl_tx_begin(ctx, why);
	if (ex == EX_OK)
		ex = acl_group_put(ctx, group, 0, NULL, why);
	if (ex != EX_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "group=%s", group);
	ex = acl_tx_commit(ctx, "group add", detail, why);
	if (ex != EX_OK)
		goto fail;
	printf("group %s added\n", group);
	goto out;
fail:
	acl_tx_rollback(ctx);
	acl_err("%s", why);
out:
	return ex;
}

static int group_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	char detail[128];
	char subject[ACL_NAME_MAX + 2];
	const char *group;
	int nmembers = 0;
	int nrules = 0;
	int ngroups = 0;
	int first;
	int ex;

	ex =
	    acl_parse_opts(ctx, argc, argv, "group rm", "GROUP", 0, NULL, NULL, NULL, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	group = argv[first];
	ex = acl_name_check(group, "group", why);
	if (ex != EX_OK)
		goto fail;
	ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	snprintf(subject, sizeof(subject), "@%s", group);
	ex = acl_tx_begin(ctx, why);
	if (ex == EX_OK)
		ex = del(ctx, "DELETE FROM group_members WHERE grp = ?1", group, NULL, &nmembers,
		         why);
	if (ex == EX_OK)
		ex = del(ctx, "DELETE FROM groups WHERE name = ?1", group, NULL, &ngroups, why);
	if (ex != EX_OK)
		goto fail;
	if (ngroups == 0) {
		ex = acl_fail(why, EX_DATAERR, "unknown group %s", group);
		goto fail;
	}
	ex = del(ctx, "DELETE FROM acl_rules WHERE subject = ?1", subject, NULL, &nrules, why);
	if (ex != EX_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "group=%s members=%d rules=%d", group, nmembers, nrules);
	ex = acl_tx_commit(ctx, "group rm", detail, why);
	if (ex != EX_OK)
		goto fail;
	printf("group %s removed (%d members, %d acl rules)\n", group, nmembers, nrules);
	goto out;
fail:
	acl_tx_rollback(ctx);
	acl_err("%s", why);
out:
	return ex;
}

static int group_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"group", "GROUP"}, {"members", "MEMBERS"}};
	char why[ACL_WHY_MAX] = "";
	sqlite3_stmt *st = NULL;
	cJSON *rows = NULL;
	cJSON *members = NULL;
	const char *only = NULL;
	char last[ACL_NAME_MAX + 1] = "";
	int first;
	int rc;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "group list", "[GROUP] [--json]", 1, NULL, NULL, NULL,
	                    0, 1, &first);
	if (ex != EX_OK)
		goto out;
	if (first < argc) {
		only = argv[first];
		ex = acl_name_check(only, "group", why);
		if (ex != EX_OK)
			goto fail;
	}
	ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	if (only != NULL) {
		rc = acl_group_exists(ctx, only);
		if (rc != 1) {
			ex = rc < 0 ? acl_db_fail(ctx, why, "read groups")
			            : acl_fail(why, EX_DATAERR, "unknown group %s", only);
			goto fail;
		}
	}
	ex = acl_prepare(
	    ctx,
	    "SELECT g.name, m.member FROM groups g LEFT JOIN group_members m "
	    "ON m.grp = g.name WHERE ?1 IS NULL OR g.name = ?1 ORDER BY g.name, m.member",
	    &st, why);
	if (ex != EX_OK)
		goto fail;
	if (only != NULL)
		sqlite3_bind_text(st, 1, only, -1, SQLITE_STATIC);
	rows = cJSON_CreateArray();
	if (rows == NULL)
		goto nomem;
	for (;;) {
		const char *g;
		const char *m;

		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ex = acl_db_fail(ctx, why, "read groups");
			goto fail;
		}
		g = (const char *)sqlite3_column_text(st, 0);
		m = (const char *)sqlite3_column_text(st, 1);
		if (g == NULL)
			continue;
		if (members == NULL || strcmp(g, last) != 0) {
			cJSON *row = cJSON_CreateObject();

			if (row == NULL)
				goto nomem;
			cJSON_AddItemToArray(rows, row);
			if (!acl_json_str(row, "group", g))
				goto nomem;
			members = cJSON_AddArrayToObject(row, "members");
			if (members == NULL)
				goto nomem;
			snprintf(last, sizeof(last), "%s", g);
		}
		if (m != NULL) {
			cJSON *s = cJSON_CreateString(m);

			if (s == NULL)
				goto nomem;
			cJSON_AddItemToArray(members, s);
		}
	}
	ex = acl_output(ctx, rows, cols, sizeof(cols) / sizeof(cols[0]));
	goto out;
nomem:
	ex = acl_fail(why, EX_OSERR, "cannot list groups: out of memory");
fail:
	acl_err("%s", why);
out:
	sqlite3_finalize(st);
	cJSON_Delete(rows);
	return ex;
}

static int member_add(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	char detail[160];
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "group member add", "GROUP NAME", 0, NULL, NULL, NULL,
	                    2, 2, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	ex = acl_tx_begin(ctx, why);
	if (ex == EX_OK)
		ex = acl_member_put(ctx, argv[first], argv[first + 1], 0, NULL, why);
	if (ex != EX_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "group=%s name=%s", argv[first], argv[first + 1]);
	ex = acl_tx_commit(ctx, "group member add", detail, why);
	if (ex != EX_OK)
		goto fail;
	printf("device %s added to group %s\n", argv[first + 1], argv[first]);
	goto out;
fail:
	acl_tx_rollback(ctx);
	acl_err("%s", why);
out:
	return ex;
}

static int member_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	char detail[160];
	const char *group;
	const char *name;
	int n = 0;
	int rc;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "group member rm", "GROUP NAME", 0, NULL, NULL, NULL,
	                    2, 2, &first);
	if (ex != EX_OK)
		goto out;
	group = argv[first];
	name = argv[first + 1];
	ex = acl_name_check(group, "group", why);
	if (ex == EX_OK)
		ex = acl_name_check(name, "device", why);
	if (ex != EX_OK)
		goto fail;
	ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	ex = acl_tx_begin(ctx, why);
	if (ex == EX_OK)
		ex = del(ctx, "DELETE FROM group_members WHERE grp = ?1 AND member = ?2", group,
		         name, &n, why);
	if (ex != EX_OK)
		goto fail;
	if (n == 0) {
		rc = acl_group_exists(ctx, group);
		if (rc < 0)
			ex = acl_db_fail(ctx, why, "read groups");
		else if (rc == 0)
			ex = acl_fail(why, EX_DATAERR, "unknown group %s", group);
		else
			ex = acl_fail(why, EX_DATAERR, "device %s is not a member of %s", name,
			              group);
		goto fail;
	}
	snprintf(detail, sizeof(detail), "group=%s name=%s", group, name);
	ex = acl_tx_commit(ctx, "group member rm", detail, why);
	if (ex != EX_OK)
		goto fail;
	printf("device %s removed from group %s\n", name, group);
	goto out;
fail:
	acl_tx_rollback(ctx);
	acl_err("%s", why);
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
