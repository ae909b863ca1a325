/* cmd_acl.c - mqttsec-acl acl add|rm|show: topic ACL rules.
 *
 * A rule is effect (allow|deny), access (pub|sub|read|all), subject (a
 * device NAME or @GROUP, which must exist), an MQTT topic filter that may
 * hold %u / %c, and a priority.  The broker applies the first matching rule
 * in the order acl show prints: higher priority first, deny before allow at
 * equal priority; no match = deny.
 */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "acl.h"

#include "mqs_rules.h"

#define PRIORITY_MIN (-2147483647LL - 1)
#define PRIORITY_MAX 2147483647LL

/* The plugin's access bits of an access word. */
static unsigned access_bits(const char *access)
{
	if (strcmp(access, "pub") == 0)
		return MQS_ACCESS_WRITE;
	if (strcmp(access, "sub") == 0)
		return MQS_ACCESS_SUB;
	if (strcmp(access, "read") == 0)
		return MQS_ACCESS_READ;
	if (strcmp(access, "all") == 0)
		return MQS_ACCESS_READ | MQS_ACCESS_WRITE | MQS_ACCESS_SUB;
	return 0;
}

/* Check a rule's words, subject and filter: with the plugin's own check
 * (lib/mqs_rules.c), so no rule the broker cannot use is written. */
int acl_rule_check(struct acl_ctx *ctx, const char *effect, const char *access, const char *subject,
                   const char *filter, char *why)
{
	int is_group = subject[0] == '@';
	const char *name = is_group ? subject + 1 : subject;
	const char *problem;
	int rc;
	int ex;

	ex = acl_effect_check(effect, why);
	if (ex != EX_OK)
		goto out;
	if (access_bits(access) == 0) {
		ex = acl_fail(why, EX_DATAERR, "invalid access: use pub, sub, read or all");
		goto out;
	}
	ex = acl_name_check(name, is_group ? "group" : "device", why);
	if (ex == EX_OK)
		ex = acl_filter_check(filter, why);
	if (ex != EX_OK)
		goto out;
	problem = mqs_rules_problem(filter, access_bits(access));
	if (problem != NULL) {
		ex = acl_fail(why, EX_DATAERR, "invalid rule: %s (the broker could not use it)",
		              problem);
		goto out;
	}
	rc = is_group ? acl_group_exists(ctx, name) : acl_device_exists(ctx, name);
	if (rc != 1)
		ex = rc < 0 ? acl_db_fail(ctx, why, "read db")
		            : acl_fail(why, EX_DATAERR, "unknown %s %s",
		                       is_group ? "group" : "device", name);
out:
	return ex;
}

/* Insert a rule unless an identical one exists. */
int acl_rule_put(struct acl_ctx *ctx, const char *effect, const char *access, const char *subject,
                 const char *filter, long long priority, int exist_ok, long long *id, char *why)
{
	sqlite3_stmt *st = NULL;
	int rc;
	int ex;

	*id = 0;
	ex = acl_prepare(ctx,
	                 "SELECT id FROM acl_rules WHERE effect = ?1 AND access = ?2 AND "
	                 "subject = ?3 AND filter = ?4 AND priority = ?5",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, effect, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, access, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, priority);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (!exist_ok)
			ex = acl_fail(why, EX_DATAERR, "acl rule exists: id %lld",
			              (long long)sqlite3_column_int64(st, 0));
		goto out;
	}
	if (rc != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "read acl rules");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	ex = acl_prepare(ctx,
	                 "INSERT INTO acl_rules (effect, access, subject, filter, priority, "
	                 "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, effect, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, access, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, priority);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "add acl rule");
		goto out;
	}
	*id = sqlite3_last_insert_rowid(ctx->db);
out:
	sqlite3_finalize(st);
	return ex;
}

struct add_opts {
	long long priority;
	char why[ACL_WHY_MAX];
};

static int add_opt(int opt, const char *arg, void *data)
{
	struct add_opts *o = data;
	int ex;

	ex = acl_int_parse(arg, PRIORITY_MIN, PRIORITY_MAX, "priority", &o->priority, o->why);
	if (ex != EX_OK)
		acl_err("%s", o->why);
	return ex;
}

/* The operands of acl add and the new rule's id. */
struct rule_add_arg {
	char **op; /* effect, access, subject, filter */
	long long priority;
	long long id;
};

static int rule_add_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct rule_add_arg *a = data;
	int ex;

	ex = acl_rule_check(ctx, a->op[0], a->op[1], a->op[2], a->op[3], why);
	if (ex == EX_OK)
		ex = acl_rule_put(ctx, a->op[0], a->op[1], a->op[2], a->op[3], a->priority, 0,
		                  &a->id, why);
	if (ex == EX_OK)
		snprintf(detail, ACL_DETAIL_MAX, "id=%lld %s %s %s priority=%lld filter=%.300s",
		         a->id, a->op[0], a->op[1], a->op[2], a->priority, a->op[3]);
	return ex;
}

static int rule_add(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"priority", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	struct add_opts o;
	struct rule_add_arg a = {NULL, 0, 0};
	int first;
	int ex;

	memset(&o, 0, sizeof(o));
	ex = acl_parse_opts(ctx, argc, argv, "acl add",
	                    "allow|deny pub|sub|read|all NAME|@GROUP TOPICFILTER [--priority N]", 0,
	                    opts, add_opt, &o, 4, 4, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	a.op = argv + first;
	a.priority = o.priority;
	ex = acl_tx_run(ctx, "acl add", rule_add_change, &a);
	if (ex == EX_OK)
		printf("acl rule %lld added\n", a.id);
out:
	return ex;
}

/* acl rm: the audit detail of the rule being removed. */
static void rule_describe(sqlite3_stmt *st, long long id, char *detail)
{
	snprintf(detail, ACL_DETAIL_MAX, "id=%lld %s %s %s priority=%lld filter=%.300s", id,
	         (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
	         (const char *)sqlite3_column_text(st, 2), (long long)sqlite3_column_int64(st, 3),
	         (const char *)sqlite3_column_text(st, 4));
}

static int rule_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_row_del del = {
	    "acl rm", "acl rule",
	    "SELECT effect, access, subject, priority, filter FROM acl_rules WHERE id = ?1",
	    "DELETE FROM acl_rules WHERE id = ?1", rule_describe};

	return acl_row_delete(ctx, argc, argv, &del);
}

/* acl show [SUBJECT]: bind the subject (NULL = every rule). */
static void show_bind(const struct acl_ctx *ctx, sqlite3_stmt *st, void *arg)
{
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
}

static int show_row(const struct acl_ctx *ctx, sqlite3_stmt *st, cJSON *rows, void *arg)
{
	cJSON *row = cJSON_CreateObject();

	if (row == NULL)
		return 0;
	cJSON_AddItemToArray(rows, row);
	return acl_json_num(row, "id", sqlite3_column_int64(st, 0)) &&
	       acl_json_num(row, "priority", sqlite3_column_int64(st, 1)) &&
	       acl_json_str(row, "effect", (const char *)sqlite3_column_text(st, 2)) &&
	       acl_json_str(row, "access", (const char *)sqlite3_column_text(st, 3)) &&
	       acl_json_str(row, "subject", (const char *)sqlite3_column_text(st, 4)) &&
	       acl_json_str(row, "filter", (const char *)sqlite3_column_text(st, 5)) &&
	       acl_json_num(row, "created_at", sqlite3_column_int64(st, 6));
}

static int rule_show(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"id", "ID"},           {"priority", "PRIORITY"},
	                                         {"effect", "EFFECT"},   {"access", "ACCESS"},
	                                         {"subject", "SUBJECT"}, {"filter", "FILTER"}};
	char *subject = NULL;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "acl show", "[NAME|@GROUP] [--json]", 1, NULL, NULL,
	                    NULL, 0, 1, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	if (first < argc)
		subject = argv[first];
	ex = acl_list_rows(ctx,
	                   "SELECT id, priority, effect, access, subject, filter, created_at "
	                   "FROM acl_rules WHERE ?1 IS NULL OR subject = ?1 "
	                   "ORDER BY priority DESC, effect = 'deny' DESC, id",
	                   show_bind, show_row, subject, "acl rules", cols,
	                   sizeof(cols) / sizeof(cols[0]));
out:
	return ex;
}

static const struct acl_cmd rule_cmds[] = {
    {"add", "allow|deny pub|sub|read|all NAME|@GROUP TOPICFILTER [--priority N]",
     "add a topic rule", rule_add},
    {"rm", "ID", "remove a rule", rule_rm},
    {"show", "[NAME|@GROUP] [--json]", "show rules in evaluation order", rule_show},
};

/* acl SUBCOMMAND ... */
int acl_cmd_acl(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "acl", rule_cmds, sizeof(rule_cmds) / sizeof(rule_cmds[0]), argc,
	                    argv);
}
