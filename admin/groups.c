/* SPDX-License-Identifier: BSD-3-Clause */
/* groups.c - device groups (mqsa.h, docs/acl.md).
 *
 * A group is a named set of devices; rules name it as "@GROUP".  Members
 * must be enrolled devices.  Removing a group also removes its memberships
 * and its rules, so every rule always names an existing subject.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqsa_int.h"

#define MEMBERS_MAX (1u << 20) /* members of one listed group */

/* Create a group. */
enum mqs_err mqsa_group_put(struct mqsa_ctx *ctx, const char *group, int exist_ok, int *created,
                            char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	if (created != NULL)
		*created = 0;
	rc = mqsa_name_check(group, "group", why);
	if (rc == MQS_OK)
		rc = mqsa_prepare_cached(
		    ctx, "INSERT INTO groups (name) VALUES (?1) ON CONFLICT DO NOTHING", &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "add group");
		goto out;
	}
	if (sqlite3_changes(ctx->db) == 0 && !exist_ok) {
		rc = mqsa_fail(why, MQS_ERR_EXISTS, "group %s exists", group);
		goto out;
	}
	if (created != NULL)
		*created = sqlite3_changes(ctx->db) > 0;
out:
	mqsa_cached_done(st);
	return rc;
}

/* Check that group and device exist. */
static enum mqs_err check_pair(struct mqsa_ctx *ctx, const char *group, const char *name, char *why)
{
	int found;
	enum mqs_err rc;

	rc = mqsa_name_check(group, "group", why);
	if (rc == MQS_OK)
		rc = mqsa_name_check(name, "device", why);
	if (rc != MQS_OK)
		goto out;
	found = mqsa_group_exists(ctx, group);
	if (found != 1) {
		rc = found < 0 ? mqsa_db_fail(ctx, why, "read groups")
		               : mqsa_fail(why, MQS_ERR_NOENT, "unknown group %s", group);
		goto out;
	}
	found = mqsa_device_exists(ctx, name);
	if (found != 1)
		rc = found < 0 ? mqsa_db_fail(ctx, why, "read devices")
		               : mqsa_fail(why, MQS_ERR_NOENT, "unknown device %s", name);
out:
	return rc;
}

/* Add a member. */
enum mqs_err mqsa_member_put(struct mqsa_ctx *ctx, const char *group, const char *name,
                             int exist_ok, int *created, char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	if (created != NULL)
		*created = 0;
	rc = check_pair(ctx, group, name, why);
	if (rc == MQS_OK)
		rc = mqsa_prepare_cached(ctx,
		                         "INSERT INTO group_members (grp, member) VALUES (?1, ?2) "
		                         "ON CONFLICT DO NOTHING",
		                         &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "add member");
		goto out;
	}
	if (sqlite3_changes(ctx->db) == 0 && !exist_ok) {
		rc = mqsa_fail(why, MQS_ERR_EXISTS, "device %s is already a member of %s", name,
		               group);
		goto out;
	}
	if (created != NULL)
		*created = sqlite3_changes(ctx->db) > 0;
out:
	mqsa_cached_done(st);
	return rc;
}

/* group add: create the group. */
static enum mqs_err group_add_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                     char *why)
{
	const char *group = data;

	snprintf(detail, MQSA_DETAIL_MAX, "group=%s", group);
	return mqsa_group_put(ctx, group, 0, NULL, why);
}

/* Create a group. */
enum mqs_err mqsa_group_add(struct mqsa_ctx *ctx, const char *group, char *why)
{
	enum mqs_err rc;

	rc = mqsa_name_check(group, "group", why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "group add", group_add_change, (void *)group, NULL, why);
	return rc;
}

/* group rm: the group and what went with it. */
struct group_rm_arg {
	const char *group;
	struct mqsa_group_removed *res;
};

/* Delete the group, its memberships and its rules. */
static enum mqs_err group_rm_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                    char *why)
{
	struct group_rm_arg *a = data;
	char subject[MQSA_NAME_MAX + 2];
	int ngroups = 0;
	enum mqs_err rc;

	snprintf(subject, sizeof(subject), "@%s", a->group);
	rc = mqsa_exec_text(ctx, "DELETE FROM group_members WHERE grp = ?1", a->group, NULL,
	                    &a->res->members, why);
	if (rc == MQS_OK)
		rc = mqsa_exec_text(ctx, "DELETE FROM groups WHERE name = ?1", a->group, NULL,
		                    &ngroups, why);
	if (rc == MQS_OK && ngroups == 0)
		rc = mqsa_fail(why, MQS_ERR_NOENT, "unknown group %s", a->group);
	if (rc == MQS_OK)
		rc = mqsa_exec_text(ctx, "DELETE FROM acl_rules WHERE subject = ?1", subject, NULL,
		                    &a->res->rules, why);
	if (rc == MQS_OK)
		snprintf(detail, MQSA_DETAIL_MAX, "group=%s members=%d rules=%d", a->group,
		         a->res->members, a->res->rules);
	return rc;
}

/* Remove a group. */
enum mqs_err mqsa_group_remove(struct mqsa_ctx *ctx, const char *group,
                               struct mqsa_group_removed *res, char *why)
{
	struct group_rm_arg a = {group, res};
	enum mqs_err rc;

	memset(res, 0, sizeof(*res));
	rc = mqsa_name_check(group, "group", why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "group rm", group_rm_change, &a, NULL, why);
	return rc;
}

/* group list: rows come as (group, member) sorted by group; members of
 * the current group are collected, the group is handed on when the next
 * starts. */
struct group_list_arg {
	enum mqs_err (*each)(const struct mqsa_group *g, void *arg);
	void *arg;
	char *name;
	char **members;
	size_t nmembers;
	size_t cap;
};

/* Free the collected members. */
static void list_reset(struct group_list_arg *a)
{
	for (size_t i = 0; i < a->nmembers; i++)
		mqs_free(a->members[i]);
	a->nmembers = 0;
	mqs_free(a->name);
	a->name = NULL;
}

/* Hand the collected group on. */
static enum mqs_err list_flush(struct group_list_arg *a)
{
	struct mqsa_group g;
	enum mqs_err rc = MQS_OK;

	if (a->name != NULL) {
		g.name = a->name;
		g.members = (const char *const *)a->members;
		g.nmembers = a->nmembers;
		rc = a->each(&g, a->arg);
	}
	list_reset(a);
	return rc;
}

/* One (group, member) row. */
static enum mqs_err group_row(sqlite3_stmt *st, void *data)
{
	struct group_list_arg *a = data;
	const char *g = (const char *)sqlite3_column_text(st, 0);
	const char *m = (const char *)sqlite3_column_text(st, 1);
	enum mqs_err rc = MQS_OK;

	if (g == NULL)
		goto out;
	if (a->name == NULL || strcmp(g, a->name) != 0) {
		rc = list_flush(a);
		if (rc != MQS_OK)
			goto out;
		a->name = mqs_strdup(g);
		if (a->name == NULL) {
			rc = MQS_ERR_NOMEM;
			goto out;
		}
	}
	if (m == NULL)
		goto out;
	rc = mqs_array_reserve((void **)&a->members, &a->cap, a->nmembers + 1, sizeof(char *),
	                       MEMBERS_MAX, 0);
	if (rc != MQS_OK)
		goto out;
	a->members[a->nmembers] = mqs_strdup(m);
	if (a->members[a->nmembers] == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	a->nmembers++;
out:
	return rc;
}

/* Groups and their members. */
enum mqs_err mqsa_group_list(struct mqsa_ctx *ctx, const char *only,
                             enum mqs_err (*each)(const struct mqsa_group *g, void *arg), void *arg,
                             char *why)
{
	struct group_list_arg a;
	sqlite3_stmt *st = NULL;
	int found;
	enum mqs_err rc = MQS_OK;

	memset(&a, 0, sizeof(a));
	a.each = each;
	a.arg = arg;
	if (only != NULL)
		rc = mqsa_name_check(only, "group", why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_db(ctx, why);
	if (rc != MQS_OK)
		goto out;
	if (only != NULL) {
		found = mqsa_group_exists(ctx, only);
		if (found != 1) {
			rc = found < 0 ? mqsa_db_fail(ctx, why, "read groups")
			               : mqsa_fail(why, MQS_ERR_NOENT, "unknown group %s", only);
			goto out;
		}
	}
	rc = mqsa_prepare(ctx,
	                  "SELECT g.name, m.member FROM groups g LEFT JOIN group_members m "
	                  "ON m.grp = g.name WHERE ?1 IS NULL OR g.name = ?1 ORDER BY g.name, "
	                  "m.member",
	                  &st, why);
	if (rc != MQS_OK)
		goto out;
	if (only != NULL)
		sqlite3_bind_text(st, 1, only, -1, SQLITE_STATIC);
	rc = mqsa_each_row(ctx, st, group_row, &a, "groups", why);
	if (rc == MQS_OK) {
		rc = list_flush(&a);
		if (rc != MQS_OK)
			mqsa_fail(why, rc, "cannot list groups: %s", mqs_strerror(rc));
	}
out:
	list_reset(&a);
	mqs_free(a.members);
	return rc;
}

/* group member add|rm: the pair. */
struct member_arg {
	const char *group;
	const char *name;
};

/* Add the member. */
static enum mqs_err member_add_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                      char *why)
{
	const struct member_arg *a = data;

	snprintf(detail, MQSA_DETAIL_MAX, "group=%s name=%s", a->group, a->name);
	return mqsa_member_put(ctx, a->group, a->name, 0, NULL, why);
}

/* Add device name to group. */
enum mqs_err mqsa_group_member_add(struct mqsa_ctx *ctx, const char *group, const char *name,
                                   char *why)
{
	struct member_arg a = {group, name};

	return mqsa_tx_run(ctx, "group member add", member_add_change, &a, NULL, why);
}

/* Remove the member. */
static enum mqs_err member_rm_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                     char *why)
{
	const struct member_arg *a = data;
	int n = 0;
	int found;
	enum mqs_err rc;

	rc = mqsa_exec_text(ctx, "DELETE FROM group_members WHERE grp = ?1 AND member = ?2",
	                    a->group, a->name, &n, why);
	if (rc != MQS_OK)
		goto out;
	if (n == 0) {
		found = mqsa_group_exists(ctx, a->group);
		if (found < 0)
			rc = mqsa_db_fail(ctx, why, "read groups");
		else if (found == 0)
			rc = mqsa_fail(why, MQS_ERR_NOENT, "unknown group %s", a->group);
		else
			rc = mqsa_fail(why, MQS_ERR_NOENT, "device %s is not a member of %s",
			               a->name, a->group);
		goto out;
	}
	snprintf(detail, MQSA_DETAIL_MAX, "group=%s name=%s", a->group, a->name);
out:
	return rc;
}

/* Remove device name from group. */
enum mqs_err mqsa_group_member_remove(struct mqsa_ctx *ctx, const char *group, const char *name,
                                      char *why)
{
	struct member_arg a = {group, name};
	enum mqs_err rc;

	rc = mqsa_name_check(group, "group", why);
	if (rc == MQS_OK)
		rc = mqsa_name_check(name, "device", why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "group member rm", member_rm_change, &a, NULL, why);
	return rc;
}
