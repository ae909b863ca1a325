/* cmd_topic.c - mqttsec-acl topic protect|unprotect|list.
 *
 * A protected topic filter is a row of protected_topics plus topic keys in
 * the key store (purpose "topic", owner = the filter).  protect creates the
 * first key; unprotect removes the row and retires the filter's active keys
 * for a grace period, so retained messages stay readable for key holders
 * until it ends.  The broker seals every message on a matching topic with
 * the newest active key of the most specific matching filter (see
 * docs/acl.md); key rotation and export are in cmd_key.c.
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
	sqlite3_stmt *st = NULL;
	int found = -1;
	int rc;

	if (sqlite3_prepare_v2(ctx->db, "SELECT 1 FROM protected_topics WHERE filter = ?1", -1, &st,
	                       NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		found = 1;
	else if (rc == SQLITE_DONE)
		found = 0;
out:
	sqlite3_finalize(st);
	return found;
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

static int topic_protect(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	char detail[400];
	struct mqs_key key;
	sqlite3_stmt *st = NULL;
	const char *filter;
	int first;
	int rc;
	int ex;

	mqs_key_init(&key);
	ex = acl_parse_opts(ctx, argc, argv, "topic protect", "TOPICFILTER", 0, NULL, NULL, NULL, 1,
	                    1, &first);
	if (ex != EX_OK)
		goto out;
	filter = argv[first];
	ex = acl_protected_filter_check(filter, why);
	if (ex != EX_OK)
		goto fail;
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
	if (ex != EX_OK)
		goto out;
	ex = acl_tx_begin(ctx, why);
	if (ex != EX_OK)
		goto fail;
	rc = acl_topic_is_protected(ctx, filter);
	if (rc != 0) {
		ex = rc < 0 ? acl_db_fail(ctx, why, "read protected topics")
		            : acl_fail(why, EX_DATAERR, "topic %s is already protected", filter);
		goto fail;
	}
	ex = acl_prepare(ctx, "INSERT INTO protected_topics (filter, created_at) VALUES (?1, ?2)",
	                 &st, why);
	if (ex != EX_OK)
		goto fail;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "protect topic");
		goto fail;
	}
	rc = mqs_keystore_create(ctx->db, ctx->mk, MQS_KEY_TOPIC, filter, &key);
	if (rc != MQS_OK) {
		ex = rc == MQS_ERR_DB ? acl_db_fail(ctx, why, "create topic key")
		                      : acl_fail(why, EX_SOFTWARE, "cannot create topic key: %s",
		                                 mqs_strerror(rc));
		goto fail;
	}
	snprintf(detail, sizeof(detail), "filter=%.300s key=%lu", filter, (unsigned long)key.id);
	ex = acl_tx_commit(ctx, "topic protect", detail, why);
	if (ex != EX_OK)
		goto fail;
	printf("topic %s protected, key %lu\n", filter, (unsigned long)key.id);
	goto out;
fail:
	acl_tx_rollback(ctx);
	acl_err("%s", why);
out:
	sqlite3_finalize(st);
	mqs_key_release(&key);
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

static int topic_unprotect(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"grace", required_argument, NULL, 'g'},
	                                     {NULL, 0, NULL, 0}};
	struct grace_opts o = {ACL_GRACE_DEFAULT, ""};
	char *why = o.why;
	char detail[600];
	char ids[128];
	sqlite3_stmt *st = NULL;
	const char *filter;
	int nretired = 0;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "topic unprotect", "TOPICFILTER [--grace SECONDS]", 0,
	                    opts, grace_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	filter = argv[first];
	ex = acl_protected_filter_check(filter, why);
	if (ex != EX_OK)
		goto fail;
	ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	ex = acl_tx_begin(ctx, why);
	if (ex == EX_OK)
		ex = acl_prepare(ctx, "DELETE FROM protected_topics WHERE filter = ?1", &st, why);
	if (ex != EX_OK)
		goto fail;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "unprotect topic");
		goto fail;
	}
	if (sqlite3_changes(ctx->db) == 0) {
		ex = acl_fail(why, EX_DATAERR, "topic %s is not protected", filter);
		goto fail;
	}
	ex = acl_topic_retire(ctx, filter, o.grace, ids, sizeof(ids), &nretired, why);
	if (ex != EX_OK)
		goto fail;
	snprintf(detail, sizeof(detail), "filter=%.300s retired=%s grace=%lld", filter,
	         nretired > 0 ? ids : "-", o.grace);
	ex = acl_tx_commit(ctx, "topic unprotect", detail, why);
	if (ex != EX_OK)
		goto fail;
	printf("topic %s unprotected, %d key%s retired (grace %lld s)\n", filter, nretired,
	       nretired == 1 ? "" : "s", o.grace);
	goto out;
fail:
	acl_tx_rollback(ctx);
	acl_err("%s", why);
out:
	sqlite3_finalize(st);
	return ex;
}

/* ---- list ---- */

static int topic_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"filter", "FILTER"},
	                                         {"active_key", "KEY"},
	                                         {"created", "CREATED"},
	                                         {"in_grace", "IN_GRACE"}};
	char why[ACL_WHY_MAX] = "";
	sqlite3_stmt *st = NULL;
	cJSON *rows = NULL;
	int first;
	int rc;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "topic list", "[--json]", 1, NULL, NULL, NULL, 0, 0,
	                    &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	ex = acl_prepare(ctx,
	                 "SELECT p.filter, p.created_at, "
	                 "(SELECT max(id) FROM keys k WHERE k.purpose = 'topic' AND "
	                 "k.owner = p.filter AND k.state = 'active'), "
	                 "(SELECT count(*) FROM keys k WHERE k.purpose = 'topic' AND "
	                 "k.owner = p.filter AND k.state = 'retired' AND k.retire_after >= ?1) "
	                 "FROM protected_topics p ORDER BY p.filter",
	                 &st, why);
	if (ex != EX_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
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
			ex = acl_db_fail(ctx, why, "read protected topics");
			goto fail;
		}
		row = cJSON_CreateObject();
		if (row == NULL)
			goto nomem;
		cJSON_AddItemToArray(rows, row);
		acl_time_iso(sqlite3_column_int64(st, 1), iso, sizeof(iso));
		if (!acl_json_str(row, "filter", (const char *)sqlite3_column_text(st, 0)) ||
		    !acl_json_num(row, "created_at", sqlite3_column_int64(st, 1)) ||
		    !acl_json_str(row, "created", iso) ||
		    !acl_json_num(row, "in_grace", sqlite3_column_int64(st, 3)))
			goto nomem;
		if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
			if (cJSON_AddNullToObject(row, "active_key") == NULL)
				goto nomem;
		} else if (!acl_json_num(row, "active_key", sqlite3_column_int64(st, 2))) {
			goto nomem;
		}
	}
	ex = acl_output(ctx, rows, cols, sizeof(cols) / sizeof(cols[0]));
	goto out;
nomem:
	ex = acl_fail(why, EX_OSERR, "cannot list protected topics: out of memory");
fail:
	acl_err("%s", why);
out:
	sqlite3_finalize(st);
	cJSON_Delete(rows);
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
