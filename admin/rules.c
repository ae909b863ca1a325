/* SPDX-License-Identifier: BSD-3-Clause */
/* rules.c - topic rules (mqsa.h; the CLI's "acl" commands, docs/acl.md).
 *
 * A rule is effect (allow|deny), access (pub|sub|read|all), subject (a
 * device NAME or @GROUP, which must exist), an MQTT topic filter that may
 * hold %u / %c, and a priority.  The broker applies the first matching rule
 * in the order mqsa_rule_show yields: higher priority first, deny before
 * allow at equal priority; no match = deny.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mqsa_int.h"

/* Check a rule's words, subject and filter, with the plugin's own check
 * (keyaccess.c), so no rule the broker cannot use is written. */
enum mqs_err mqsa_rule_check(struct mqsa_ctx *ctx, const char *effect, const char *access,
                             const char *subject, const char *filter, char *why)
{
	int is_group = subject[0] == '@';
	const char *name = is_group ? subject + 1 : subject;
	const char *problem;
	int known = 0;
	int found;
	enum mqs_err rc = MQS_OK;

	if (strcmp(effect, "allow") != 0 && strcmp(effect, "deny") != 0) {
		rc = mqsa_text_check(effect, (size_t)-1, 1, "effect", why);
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid effect %s: use allow or deny",
		               rc == MQS_OK ? effect : "?");
		goto out;
	}
	mqsa_rule_problem("#", access, &known);
	if (!known) {
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid access: use pub, sub, read or all");
		goto out;
	}
	rc = mqsa_name_check(name, is_group ? "group" : "device", why);
	if (rc == MQS_OK)
		rc = mqsa_filter_check(filter, why);
	if (rc != MQS_OK)
		goto out;
	problem = mqsa_rule_problem(filter, access, &known);
	if (problem != NULL) {
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid rule: %s (the broker could not use it)",
		               problem);
		goto out;
	}
	found = is_group ? mqsa_group_exists(ctx, name) : mqsa_device_exists(ctx, name);
	if (found != 1)
		rc = found < 0 ? mqsa_db_fail(ctx, why, "read db")
		               : mqsa_fail(why, MQS_ERR_NOENT, "unknown %s %s",
		                           is_group ? "group" : "device", name);
out:
	return rc;
}

/* Insert a rule (no duplicate check). */
enum mqs_err mqsa_rule_insert(struct mqsa_ctx *ctx, const char *effect, const char *access,
                              const char *subject, const char *filter, long long priority,
                              long long *id, char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	*id = 0;
	rc =
	    mqsa_prepare_cached(ctx,
	                        "INSERT INTO acl_rules (effect, access, subject, filter, priority, "
	                        "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	                        &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, effect, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, access, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, priority);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "add acl rule");
		goto out;
	}
	*id = sqlite3_last_insert_rowid(ctx->db);
out:
	mqsa_cached_done(st);
	return rc;
}

/* Insert a rule unless an identical one exists. */
enum mqs_err mqsa_rule_put(struct mqsa_ctx *ctx, const char *effect, const char *access,
                           const char *subject, const char *filter, long long priority,
                           int exist_ok, long long *id, char *why)
{
	sqlite3_stmt *st = NULL;
	int step;
	enum mqs_err rc;

	*id = 0;
	rc = mqsa_prepare_cached(ctx,
	                         "SELECT id FROM acl_rules WHERE effect = ?1 AND access = ?2 AND "
	                         "subject = ?3 AND filter = ?4 AND priority = ?5",
	                         &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, effect, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, access, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, priority);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		if (!exist_ok)
			rc = mqsa_fail(why, MQS_ERR_EXISTS, "acl rule exists: id %lld",
			               (long long)sqlite3_column_int64(st, 0));
		goto out;
	}
	if (step != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "read acl rules");
		goto out;
	}
	mqsa_cached_done(st);
	st = NULL;
	rc = mqsa_rule_insert(ctx, effect, access, subject, filter, priority, id, why);
out:
	mqsa_cached_done(st);
	return rc;
}

/* mqsa_rule_add's change: the rule and its new id. */
struct rule_add_arg {
	const char *effect, *access, *subject, *filter;
	long long priority;
	long long id;
};

/* Check and insert the rule. */
static enum mqs_err rule_add_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                    char *why)
{
	struct rule_add_arg *a = data;
	enum mqs_err rc;

	rc = mqsa_rule_check(ctx, a->effect, a->access, a->subject, a->filter, why);
	if (rc == MQS_OK)
		rc = mqsa_rule_put(ctx, a->effect, a->access, a->subject, a->filter, a->priority, 0,
		                   &a->id, why);
	if (rc == MQS_OK)
		snprintf(detail, MQSA_DETAIL_MAX, "id=%lld %s %s %s priority=%lld filter=%.300s",
		         a->id, a->effect, a->access, a->subject, a->priority, a->filter);
	return rc;
}

/* Add a rule. */
enum mqs_err mqsa_rule_add(struct mqsa_ctx *ctx, const char *effect, const char *access,
                           const char *subject, const char *filter, long long priority,
                           long long *id, char *why)
{
	struct rule_add_arg a = {effect, access, subject, filter, priority, 0};
	enum mqs_err rc;

	*id = 0;
	if (priority < MQSA_PRIORITY_MIN || priority > MQSA_PRIORITY_MAX)
		return mqsa_fail(why, MQS_ERR_INVAL, "invalid priority %lld", priority);
	rc = mqsa_tx_run(ctx, "acl add", rule_add_change, &a, NULL, why);
	if (rc == MQS_OK)
		*id = a.id;
	return rc;
}

/* acl rm: the audit detail of the rule being removed. */
static void rule_describe(sqlite3_stmt *st, long long id, char *detail)
{
	snprintf(detail, MQSA_DETAIL_MAX, "id=%lld %s %s %s priority=%lld filter=%.300s", id,
	         mqsa_col(st, 0), mqsa_col(st, 1), mqsa_col(st, 2),
	         (long long)sqlite3_column_int64(st, 3), mqsa_col(st, 4));
}

/* Remove a rule. */
enum mqs_err mqsa_rule_remove(struct mqsa_ctx *ctx, long long id, char *why)
{
	static const struct mqsa_row_del del = {
	    "acl rm", "acl rule",
	    "SELECT effect, access, subject, priority, filter FROM acl_rules WHERE id = ?1",
	    "DELETE FROM acl_rules WHERE id = ?1", rule_describe};

	return mqsa_row_delete(ctx, &del, id, why);
}

/* mqsa_rule_show's iterator. */
struct rule_show_arg {
	enum mqs_err (*each)(const struct mqsa_rule *r, void *arg);
	void *arg;
};

/* One rule row. */
static enum mqs_err rule_row(sqlite3_stmt *st, void *data)
{
	const struct rule_show_arg *a = data;
	struct mqsa_rule r;

	r.id = sqlite3_column_int64(st, 0);
	r.priority = sqlite3_column_int64(st, 1);
	r.effect = mqsa_col(st, 2);
	r.access = mqsa_col(st, 3);
	r.subject = mqsa_col(st, 4);
	r.filter = mqsa_col(st, 5);
	r.created_at = sqlite3_column_int64(st, 6);
	return a->each(&r, a->arg);
}

/* Bind a rule page's subject (?1) and search (?2), NULL when absent. */
static void rule_page_bind(sqlite3_stmt *st, const void *arg)
{
	const char *const *params = arg;

	if (params[0] != NULL)
		sqlite3_bind_text(st, 1, params[0], -1, SQLITE_STATIC);
	if (params[1] != NULL)
		sqlite3_bind_text(st, 2, params[1], -1, SQLITE_STATIC);
}

/* Rules in evaluation order. */
enum mqs_err mqsa_rule_show(struct mqsa_ctx *ctx, const char *subject,
                            enum mqs_err (*each)(const struct mqsa_rule *r, void *arg), void *arg,
                            char *why)
{
	struct rule_show_arg a = {each, arg};
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc =
		    mqsa_prepare(ctx,
		                 "SELECT id, priority, effect, access, subject, filter, created_at "
		                 "FROM acl_rules WHERE ?1 IS NULL OR subject = ?1 "
		                 "ORDER BY priority DESC, effect = 'deny' DESC, id",
		                 &st, why);
	if (rc != MQS_OK)
		return rc;
	if (subject != NULL)
		sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
	return mqsa_each_row(ctx, st, rule_row, &a, "acl rules", why);
}

/* A page of the rules of subject whose filter contains search. */
enum mqs_err mqsa_rule_page(struct mqsa_ctx *ctx, const char *subject, const char *search,
                            struct mqsa_page *pg,
                            enum mqs_err (*each)(const struct mqsa_rule *r, void *arg), void *arg,
                            char *why)
{
	/* ?1 subject, ?2 search; an absent filter is left out of the
	 * statement so that the subject's uses the index acl_rules_subject_order
	 * (schema 6) and the listing acl_rules_order */
	static const char *const where[] = {"1", "subject = ?1", "instr(filter, ?2) > 0",
	                                    "subject = ?1 AND instr(filter, ?2) > 0"};
	struct rule_show_arg a = {each, arg};
	const char *params[2];
	struct mqsa_page_spec spec = {
	    "acl rules",
	    "id, priority, effect, access, subject, filter, created_at",
	    "acl_rules",
	    NULL,
	    {"page_prio", "page_allow", "id", NULL},
	    "iii",
	    0,
	    rule_page_bind,
	    params,
	};
	enum mqs_err rc;

	if (search != NULL && search[0] == '\0')
		search = NULL;
	if (subject != NULL && subject[0] == '\0')
		subject = NULL;
	params[0] = subject;
	params[1] = search;
	spec.where = where[(subject != NULL ? 1 : 0) + (search != NULL ? 2 : 0)];
	rc = mqsa_page_begin(ctx, pg, search, why);
	if (rc == MQS_OK && subject != NULL)
		rc = mqsa_name_check(subject[0] == '@' ? subject + 1 : subject,
		                     subject[0] == '@' ? "group" : "device", why);
	if (rc == MQS_OK)
		rc = mqsa_page_run(ctx, &spec, pg, rule_row, &a, why);
	return rc;
}
