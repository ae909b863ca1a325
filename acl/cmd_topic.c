/* cmd_topic.c - mqttsec-acl topic protect|unprotect|list.
 *
 * A protected topic filter is a row of protected_topics plus topic keys in
 * the key store (purpose "topic", owner = the filter).  protect creates the
 * first key; unprotect removes the row and retires the filter's active keys
 * for a grace period, so retained messages stay readable for key holders
 * until it ends.  protect ends the grace of the filter's retired keys: a key
 * that was usable while the filter was unprotected is never exported again
 * (docs/payload-encryption.md, "Unprotect and protect again").  The broker seals every message on a
 * matching topic with the newest active key of the most specific matching filter (see docs/acl.md);
 * key rotation and export are in cmd_key.c.
 *
 * Also here, shared with cmd_key.c and device add: the filter check, the
 * grace period and retiring keys, and the "protected" list of credentials.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "acl.h"
#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_keystore.h"

/* A protected topic filter: an ACL filter without %u/%c. */
int acl_protected_filter_check(const char *filter, char *why)
{
	int ex;

	ex = acl_filter_check(filter, why);
	if (ex == EX_OK && strchr(filter, '%') != NULL)
		ex = acl_fail(why, EX_DATAERR,
		              "invalid protected topic filter %s: %%u and %%c are not allowed",
		              filter);
	return ex;
}

/* Grace period: 0 or a TTL (N, Ns, Nm, Nh, Nd). */
int acl_grace_parse(const char *text, long long *seconds, char *why)
{
	int printable;

	if (strcmp(text, "0") == 0) {
		*seconds = 0;
		return EX_OK;
	}
	if (acl_ttl_parse(text, seconds, why) == EX_OK)
		return EX_OK;
	/* name the value only when it is short and printable */
	printable = acl_text_check(text, 64, 0, "grace", why) == EX_OK;
	return acl_fail(
	    why, EX_DATAERR,
	    "invalid grace period%s%s: use 0 or seconds (or a number with unit s, m, h, "
	    "d), at most 10 years",
	    printable ? " " : "", printable ? text : "");
}

/* Is filter protected? */
int acl_topic_is_protected(struct acl_ctx *ctx, const char *filter)
{
	return acl_row_exists(ctx, "SELECT 1 FROM protected_topics WHERE filter = ?1", filter);
}

/* Append every protected filter to c. */
int acl_topic_add_protected(struct acl_ctx *ctx, struct mqs_creds *c, char *why)
{
	sqlite3_stmt *st = NULL;
	int rc;
	int ex;

	ex = acl_prepare(ctx, "SELECT filter FROM protected_topics ORDER BY filter", &st, why);
	if (ex != EX_OK)
		goto out;
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ex = acl_db_fail(ctx, why, "read protected topics");
			goto out;
		}
		rc = mqs_creds_add_protected(c, (const char *)sqlite3_column_text(st, 0));
		if (rc != MQS_OK) {
			ex = acl_fail(why, EX_SOFTWARE, "cannot list protected topics: %s",
			              mqs_strerror(rc));
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	return ex;
}

/* Unix time until which a key retired now stays usable. */
long long acl_retire_after(const struct acl_ctx *ctx, long long grace)
{
	/* a retired key is dead once retire_after < now: grace 0 ends at once */
	return grace > 0 ? (long long)ctx->now + grace : (long long)ctx->now - 1;
}

/* Append ", id" style text to a bounded list. */
void acl_ids_append(char *ids, size_t cap, unsigned long id)
{
	size_t len = strlen(ids);

	if (len + 4 >= cap)
		return;
	if (snprintf(ids + len, cap - len, "%s%lu", len > 0 ? "," : "", id) >= (int)(cap - len))
		snprintf(ids + cap - 4, 4, "...");
}

/* Retire the active topic keys of filter. */
int acl_topic_retire(struct acl_ctx *ctx, const char *filter, long long grace, char *ids,
                     size_t cap, int *n, char *why)
{
	sqlite3_stmt *st = NULL;
	long long until = acl_retire_after(ctx, grace);
	int rc;
	int ex;

	*n = 0;
	if (cap > 0)
		ids[0] = '\0';
	ex = acl_prepare(ctx,
	                 "UPDATE keys SET state = 'retired', retire_after = ?2 "
	                 "WHERE purpose = 'topic' AND owner = ?1 AND state = 'active' RETURNING id",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)until);
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ex = acl_db_fail(ctx, why, "retire topic keys");
			goto out;
		}
		(*n)++;
		if (cap > 0)
			acl_ids_append(ids, cap, (unsigned long)sqlite3_column_int64(st, 0));
	}
out:
	sqlite3_finalize(st);
	return ex;
}

/* ---- protect ---- */

/* topic protect: the filter, its first key, the keys whose grace ended. */
struct protect_arg {
	const char *filter;
	struct mqs_key key;
	char ended[128];
	int nended;
};

/* End the grace of filter's retired topic keys (they become dead: never
 * exported again, still known to the broker, see cmd_key.c). */
static int end_grace(struct acl_ctx *ctx, struct protect_arg *a, char *why)
{
	sqlite3_stmt *st = NULL;
	int rc;
	int ex;

	a->nended = 0;
	a->ended[0] = '\0';
	ex = acl_prepare(ctx,
	                 "UPDATE keys SET retire_after = ?2 WHERE purpose = 'topic' AND "
	                 "owner = ?1 AND state = 'retired' AND retire_after > ?2 RETURNING id",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)acl_retire_after(ctx, 0));
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ex = acl_db_fail(ctx, why, "end the grace of old topic keys");
			goto out;
		}
		a->nended++;
		acl_ids_append(a->ended, sizeof(a->ended),
		               (unsigned long)sqlite3_column_int64(st, 0));
	}
out:
	sqlite3_finalize(st);
	return ex;
}

static int protect_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct protect_arg *a = data;
	sqlite3_stmt *st = NULL;
	int rc;
	int ex;

	rc = acl_topic_is_protected(ctx, a->filter);
	if (rc != 0) {
		ex = rc < 0 ? acl_db_fail(ctx, why, "read protected topics")
		            : acl_fail(why, EX_DATAERR, "topic %s is already protected", a->filter);
		goto out;
	}
	ex = acl_prepare(ctx, "INSERT INTO protected_topics (filter, created_at) VALUES (?1, ?2)",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "protect topic");
		goto out;
	}
	ex = end_grace(ctx, a, why);
	if (ex != EX_OK)
		goto out;
	rc = mqs_keystore_create(ctx->db, ctx->mk, MQS_KEY_TOPIC, a->filter, &a->key);
	if (rc != MQS_OK) {
		ex = rc == MQS_ERR_DB ? acl_db_fail(ctx, why, "create topic key")
		                      : acl_fail(why, EX_SOFTWARE, "cannot create topic key: %s",
		                                 mqs_strerror(rc));
		goto out;
	}
	if (a->nended > 0)
		snprintf(detail, ACL_DETAIL_MAX, "filter=%.300s key=%lu grace_ended=%s", a->filter,
		         (unsigned long)a->key.id, a->ended);
	else
		snprintf(detail, ACL_DETAIL_MAX, "filter=%.300s key=%lu", a->filter,
		         (unsigned long)a->key.id);
out:
	sqlite3_finalize(st);
	return ex;
}

static int topic_protect(struct acl_ctx *ctx, int argc, char **argv)
{
	struct protect_arg a;
	char why[ACL_WHY_MAX] = "";
	int first;
	int ex;

	memset(&a, 0, sizeof(a));
	mqs_key_init(&a.key);
	ex = acl_parse_opts(ctx, argc, argv, "topic protect", "TOPICFILTER", 0, NULL, NULL, NULL, 1,
	                    1, &first);
	if (ex != EX_OK)
		goto out;
	a.filter = argv[first];
	ex = acl_protected_filter_check(a.filter, why);
	if (ex != EX_OK) {
		acl_err("%s", why);
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "topic protect", protect_change, &a);
	if (ex == EX_OK)
		printf("topic %s protected, key %lu\n", a.filter, (unsigned long)a.key.id);
	if (ex == EX_OK && a.nended > 0)
		printf("grace ended for key%s %s (usable while the topic was unprotected)\n",
		       a.nended == 1 ? "" : "s", a.ended);
out:
	mqs_key_release(&a.key);
	return ex;
}

/* ---- unprotect ---- */

struct grace_opts {
	long long grace;
	char why[ACL_WHY_MAX];
};

static int grace_opt(int opt, const char *arg, void *data)
{
	struct grace_opts *o = data;
	int ex = EX_OK;

	if (opt == 'g')
		ex = acl_grace_parse(arg, &o->grace, o->why);
	if (ex != EX_OK)
		acl_err("%s", o->why);
	return ex;
}

/* topic unprotect: the filter, its grace and the keys retired. */
struct unprotect_arg {
	const char *filter;
	long long grace;
	int nretired;
};

static int unprotect_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct unprotect_arg *a = data;
	char ids[128];
	int n = 0;
	int ex;

	ex = acl_exec_text(ctx, "DELETE FROM protected_topics WHERE filter = ?1", a->filter, NULL,
	                   &n, why);
	if (ex == EX_OK && n == 0)
		ex = acl_fail(why, EX_DATAERR, "topic %s is not protected", a->filter);
	if (ex == EX_OK)
		ex =
		    acl_topic_retire(ctx, a->filter, a->grace, ids, sizeof(ids), &a->nretired, why);
	if (ex == EX_OK)
		snprintf(detail, ACL_DETAIL_MAX, "filter=%.300s retired=%s grace=%lld", a->filter,
		         a->nretired > 0 ? ids : "-", a->grace);
	return ex;
}

static int topic_unprotect(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"grace", required_argument, NULL, 'g'},
	                                     {NULL, 0, NULL, 0}};
	struct grace_opts o = {ACL_GRACE_DEFAULT, ""};
	struct unprotect_arg a = {NULL, 0, 0};
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "topic unprotect", "TOPICFILTER [--grace SECONDS]", 0,
	                    opts, grace_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	a.filter = argv[first];
	a.grace = o.grace;
	ex = acl_protected_filter_check(a.filter, o.why);
	if (ex != EX_OK) {
		acl_err("%s", o.why);
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "topic unprotect", unprotect_change, &a);
	if (ex == EX_OK)
		printf("topic %s unprotected, %d key%s retired (grace %lld s)\n", a.filter,
		       a.nretired, a.nretired == 1 ? "" : "s", a.grace);
out:
	return ex;
}

/* ---- list ---- */

/* topic list: ?1 = now (keys still in grace). */
static void list_bind(const struct acl_ctx *ctx, sqlite3_stmt *st, void *arg)
{
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
}

static int list_row(const struct acl_ctx *ctx, sqlite3_stmt *st, cJSON *rows, void *arg)
{
	cJSON *row;
	char iso[32];

	row = cJSON_CreateObject();
	if (row == NULL)
		return 0;
	cJSON_AddItemToArray(rows, row);
	acl_time_iso(sqlite3_column_int64(st, 1), iso, sizeof(iso));
	if (!acl_json_str(row, "filter", (const char *)sqlite3_column_text(st, 0)) ||
	    !acl_json_num(row, "created_at", sqlite3_column_int64(st, 1)) ||
	    !acl_json_str(row, "created", iso) ||
	    !acl_json_num(row, "in_grace", sqlite3_column_int64(st, 3)))
		return 0;
	if (sqlite3_column_type(st, 2) == SQLITE_NULL)
		return cJSON_AddNullToObject(row, "active_key") != NULL;
	return acl_json_num(row, "active_key", sqlite3_column_int64(st, 2));
}

static int topic_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"filter", "FILTER"},
	                                         {"active_key", "KEY"},
	                                         {"created", "CREATED"},
	                                         {"in_grace", "IN_GRACE"}};
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "topic list", "[--json]", 1, NULL, NULL, NULL, 0, 0,
	                    &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_list_rows(
		    ctx,
		    "SELECT p.filter, p.created_at, "
		    "(SELECT max(id) FROM keys k WHERE k.purpose = 'topic' AND "
		    "k.owner = p.filter AND k.state = 'active'), "
		    "(SELECT count(*) FROM keys k WHERE k.purpose = 'topic' AND "
		    "k.owner = p.filter AND k.state = 'retired' AND k.retire_after >= ?1) "
		    "FROM protected_topics p ORDER BY p.filter",
		    list_bind, list_row, NULL, "protected topics", cols,
		    sizeof(cols) / sizeof(cols[0]));
	return ex;
}

static const struct acl_cmd topic_cmds[] = {
    {"protect", "TOPICFILTER", "encrypt payloads on matching topics (creates a topic key)",
     topic_protect},
    {"unprotect", "TOPICFILTER [--grace SECONDS]",
     "stop encrypting; keys stay usable for the grace period", topic_unprotect},
    {"list", "[--json]", "protected topic filters and their keys", topic_list},
};

/* topic SUBCOMMAND ... */
int acl_cmd_topic(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "topic", topic_cmds, sizeof(topic_cmds) / sizeof(topic_cmds[0]),
	                    argc, argv);
}
