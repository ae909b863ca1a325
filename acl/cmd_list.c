/* cmd_list.c - mqttsec-acl list add|rm|show|purge: the allow and deny
 * lists (docs/acl.md).
 *
 * Patterns: ip entries are stored as the canonical text of mqs_cidr_format
 * (IPv4-mapped IPv6 addresses and networks become IPv4, host bits are
 * cleared); username entries must name an enrolled device; clientid
 * entries are exact strings.  expires_at is Unix seconds, 0 = never; an
 * expired entry stops applying on its own and is hidden by list show
 * unless --all (list purge deletes expired entries).  One unexpired entry
 * per kind/match/pattern.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "acl.h"
#include "mqs_cidr.h"

#include "mqs_lists.h"
#include "mqs_error.h"

/* Check kind and match. */
int acl_list_words(const char *kind, const char *match, char *why)
{
	if (strcmp(kind, "allow") != 0 && strcmp(kind, "deny") != 0)
		return acl_fail(why, EX_DATAERR, "invalid list kind: use allow or deny");
	if (strcmp(match, "clientid") != 0 && strcmp(match, "username") != 0 &&
	    strcmp(match, "ip") != 0)
		return acl_fail(why, EX_DATAERR,
		                "invalid list match: use clientid, username or ip");
	return EX_OK;
}

/* Normalise a pattern for its match kind. */
int acl_list_pattern(struct acl_ctx *ctx, const char *match, const char *pattern, char *out,
                     size_t cap, char *why)
{
	struct mqs_cidr net;
	int rc;
	int ex = EX_OK;

	if (strcmp(match, "ip") == 0) {
		int shown = acl_text_check(pattern, MQS_CIDR_TEXT_MAX, 0, "address", why) == EX_OK;

		if (!shown || mqs_cidr_parse(pattern, &net) != MQS_OK) {
			ex = acl_fail(why, EX_DATAERR,
			              "invalid ip pattern %s: use an IPv4 or IPv6 address or CIDR",
			              shown ? pattern : "?");
			goto out;
		}
		if (mqs_cidr_format(&net, out, cap) != MQS_OK)
			ex = acl_fail(why, EX_SOFTWARE, "cannot format network");
		goto out;
	}
	if (strcmp(match, "username") == 0) {
		ex = acl_name_check(pattern, "device", why);
		if (ex != EX_OK)
			goto out;
		rc = acl_device_exists(ctx, pattern);
		if (rc != 1) {
			ex = rc < 0 ? acl_db_fail(ctx, why, "read devices")
			            : acl_fail(why, EX_DATAERR, "unknown device %s", pattern);
			goto out;
		}
	} else {
		ex = acl_text_check(pattern, ACL_PATTERN_MAX, 0, "client id", why);
		if (ex != EX_OK)
			goto out;
	}
	if (strlen(pattern) >= cap) {
		ex = acl_fail(why, EX_DATAERR, "pattern too long");
		goto out;
	}
	memcpy(out, pattern, strlen(pattern) + 1);
out:
	if (ex == EX_OK) {
		/* the broker's own check (lib/mqs_lists.c) */
		int anyone;
		const char *problem = mqs_list_entry_problem(match, out, &anyone);

		if (problem != NULL)
			ex = acl_fail(why, EX_DATAERR, "invalid list entry: %s", problem);
	}
	return ex;
}

/* Find the unexpired entry kind/match/pattern: *id or 0. */
static int find_entry(struct acl_ctx *ctx, const char *kind, const char *match, const char *pattern,
                      long long *id, char *why)
{
	sqlite3_stmt *st = NULL;
	int rc;
	int ex;

	*id = 0;
	ex = acl_prepare(ctx,
	                 "SELECT id FROM list_entries WHERE kind = ?1 AND match = ?2 AND "
	                 "pattern = ?3 AND (expires_at = 0 OR expires_at > ?4) ORDER BY id LIMIT 1",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, match, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, pattern, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)ctx->now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		ex = acl_db_fail(ctx, why, "read list");
out:
	sqlite3_finalize(st);
	return ex;
}

/* Insert or (replace) update an entry. */
int acl_list_put(struct acl_ctx *ctx, const char *kind, const char *match, const char *pattern,
                 long long expires_at, const char *reason, int replace, long long *id, char *why)
{
	sqlite3_stmt *st = NULL;
	long long old = 0;
	int ex;

	ex = find_entry(ctx, kind, match, pattern, &old, why);
	if (ex != EX_OK)
		goto out;
	if (old != 0 && !replace) {
		ex = acl_fail(why, EX_DATAERR, "list entry exists: id %lld (%s %s %s)", old, kind,
		              match, pattern);
		goto out;
	}
	if (old != 0)
		ex = acl_prepare(ctx,
		                 "UPDATE list_entries SET expires_at = ?4, reason = ?5, "
		                 "created_at = ?6, created_by = ?7 WHERE id = ?8",
		                 &st, why);
	else
		ex = acl_prepare(
		    ctx,
		    "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, "
		    "created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
		    &st, why);
	if (ex != EX_OK)
		goto out;
	if (old == 0) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, match, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, pattern, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int64(st, 8, old);
	}
	sqlite3_bind_int64(st, 4, expires_at);
	sqlite3_bind_text(st, 5, reason != NULL ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)ctx->now);
	sqlite3_bind_text(st, 7, ctx->who, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "write list entry");
		goto out;
	}
	*id = old != 0 ? old : sqlite3_last_insert_rowid(ctx->db);
out:
	sqlite3_finalize(st);
	return ex;
}

/* ---- add ---- */

struct add_opts {
	long long ttl;
	const char *reason;
	char why[ACL_WHY_MAX];
};

static int add_opt(int opt, const char *arg, void *data)
{
	struct add_opts *o = data;
	int ex = EX_OK;

	if (opt == 't')
		ex = acl_ttl_parse(arg, &o->ttl, o->why);
	else if (opt == 'r')
		ex = acl_text_check(arg, ACL_REASON_MAX, 1, "reason", o->why);
	if (opt == 'r' && ex == EX_OK)
		o->reason = arg;
	if (ex != EX_OK)
		acl_err("%s", o->why);
	return ex;
}

/* The operands of list add and what the change made of them. */
struct list_add_arg {
	char **op; /* kind, match, pattern */
	long long ttl;
	const char *reason;
	char pattern[ACL_PATTERN_MAX + 1]; /* normalised */
	long long expires;
	long long id;
};

static int list_add_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct list_add_arg *a = data;
	int ex;

	ex = acl_list_pattern(ctx, a->op[1], a->op[2], a->pattern, sizeof(a->pattern), why);
	if (ex != EX_OK)
		goto out;
	if (a->ttl > 0)
		a->expires = (long long)ctx->now + a->ttl;
	ex = acl_list_put(ctx, a->op[0], a->op[1], a->pattern, a->expires, a->reason, 0, &a->id,
	                  why);
	if (ex == EX_OK)
		snprintf(detail, ACL_DETAIL_MAX, "id=%lld kind=%s match=%s pattern=%s expires=%lld",
		         a->id, a->op[0], a->op[1], a->pattern, a->expires);
out:
	return ex;
}

static int list_add(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"ttl", required_argument, NULL, 't'},
	                                     {"reason", required_argument, NULL, 'r'},
	                                     {NULL, 0, NULL, 0}};
	struct add_opts o;
	struct list_add_arg a;
	char iso[32];
	int first;
	int ex;

	memset(&o, 0, sizeof(o));
	memset(&a, 0, sizeof(a));
	ex = acl_parse_opts(
	    ctx, argc, argv, "list add",
	    "allow|deny clientid|username|ip PATTERN [--ttl SECONDS] [--reason TEXT]", 0, opts,
	    add_opt, &o, 3, 3, &first);
	if (ex != EX_OK)
		goto out;
	a.op = argv + first;
	a.ttl = o.ttl;
	a.reason = o.reason;
	ex = acl_list_words(a.op[0], a.op[1], o.why);
	if (ex != EX_OK) {
		acl_err("%s", o.why);
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "list add", list_add_change, &a);
	if (ex != EX_OK)
		goto out;
	if (a.expires != 0)
		acl_time_iso(a.expires, iso, sizeof(iso));
	printf("list entry %lld added: %s %s %s, expires %s\n", a.id, a.op[0], a.op[1], a.pattern,
	       a.expires != 0 ? iso : "never");
out:
	return ex;
}

/* ---- rm ---- */

/* list rm: the audit detail of the entry being removed. */
static void entry_describe(sqlite3_stmt *st, long long id, char *detail)
{
	snprintf(detail, ACL_DETAIL_MAX, "id=%lld kind=%s match=%s pattern=%s", id,
	         (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
	         (const char *)sqlite3_column_text(st, 2));
}

static int list_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_row_del del = {
	    "list rm", "list entry", "SELECT kind, match, pattern FROM list_entries WHERE id = ?1",
	    "DELETE FROM list_entries WHERE id = ?1", entry_describe};

	return acl_row_delete(ctx, argc, argv, &del);
}

/* ---- show ---- */

static int show_opt(int opt, const char *arg, void *data)
{
	*(int *)data = 1;
	return EX_OK;
}

/* list show: ?1 = --all, ?2 = now. */
static void show_bind(const struct acl_ctx *ctx, sqlite3_stmt *st, void *arg)
{
	sqlite3_bind_int(st, 1, *(const int *)arg);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ctx->now);
}

static int show_row(const struct acl_ctx *ctx, sqlite3_stmt *st, cJSON *rows, void *arg)
{
	cJSON *row;
	char iso[32];
	char expires[48];
	long long at;
	int expired;

	row = cJSON_CreateObject();
	if (row == NULL)
		return 0;
	cJSON_AddItemToArray(rows, row);
	at = sqlite3_column_int64(st, 4);
	expired = at != 0 && at <= (long long)ctx->now;
	acl_time_iso(at, iso, sizeof(iso));
	snprintf(expires, sizeof(expires), "%s%s", at == 0 ? "never" : iso,
	         expired ? " (expired)" : "");
	if (!acl_json_num(row, "id", sqlite3_column_int64(st, 0)) ||
	    !acl_json_str(row, "kind", (const char *)sqlite3_column_text(st, 1)) ||
	    !acl_json_str(row, "match", (const char *)sqlite3_column_text(st, 2)) ||
	    !acl_json_str(row, "pattern", (const char *)sqlite3_column_text(st, 3)) ||
	    !acl_json_num(row, "expires_at", at) ||
	    !acl_json_str(row, "expires", at == 0 ? "never" : iso) ||
	    !acl_json_bool(row, "expired", expired) ||
	    !acl_json_str(row, "reason", (const char *)sqlite3_column_text(st, 5)) ||
	    !acl_json_num(row, "created_at", sqlite3_column_int64(st, 6)) ||
	    !acl_json_str(row, "created_by", (const char *)sqlite3_column_text(st, 7)))
		return 0;
	if (!ctx->json) /* the table shows the flag in the expires column */
		cJSON_ReplaceItemInObjectCaseSensitive(row, "expires", cJSON_CreateString(expires));
	return 1;
}

static int list_show(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"all", no_argument, NULL, 'a'}, {NULL, 0, NULL, 0}};
	static const struct acl_column cols[] = {{"id", "ID"},           {"kind", "KIND"},
	                                         {"match", "MATCH"},     {"pattern", "PATTERN"},
	                                         {"expires", "EXPIRES"}, {"reason", "REASON"},
	                                         {"created_by", "BY"}};
	int all = 0;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "list show", "[--all] [--json]", 1, opts, show_opt,
	                    &all, 0, 0, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_list_rows(
		    ctx,
		    "SELECT id, kind, match, pattern, expires_at, reason, created_at, "
		    "created_by FROM list_entries WHERE ?1 OR expires_at = 0 OR "
		    "expires_at > ?2 ORDER BY id",
		    show_bind, show_row, &all, "list entries", cols,
		    sizeof(cols) / sizeof(cols[0]));
	return ex;
}

/* ---- purge ---- */

/* Delete the expired entries; nothing expired: ACL_TX_SKIP. */
static int purge_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	int *n = data;
	sqlite3_stmt *st = NULL;
	int ex;

	ex = acl_prepare(ctx, "DELETE FROM list_entries WHERE expires_at != 0 AND expires_at <= ?1",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "purge list");
		goto out;
	}
	*n = sqlite3_changes(ctx->db);
	if (*n == 0)
		ex = ACL_TX_SKIP;
	snprintf(detail, ACL_DETAIL_MAX, "entries=%d", *n);
out:
	sqlite3_finalize(st);
	return ex;
}

static int list_purge(struct acl_ctx *ctx, int argc, char **argv)
{
	int n = 0;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "list purge", "", 0, NULL, NULL, NULL, 0, 0, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "list purge", purge_change, &n);
	if (ex == ACL_TX_SKIP) {
		printf("no expired list entries\n");
		ex = EX_OK;
	} else if (ex == EX_OK) {
		printf("%d expired list entries removed\n", n);
	}
	return ex;
}

static const struct acl_cmd list_cmds[] = {
    {"add", "allow|deny clientid|username|ip PATTERN [--ttl SECONDS] [--reason TEXT]",
     "add an allow or deny entry", list_add},
    {"rm", "ID", "remove an entry", list_rm},
    {"show", "[--all] [--json]", "show entries (--all: with expired ones)", list_show},
    {"purge", "", "delete expired entries", list_purge},
};

/* list SUBCOMMAND ... */
int acl_cmd_list(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "list", list_cmds, sizeof(list_cmds) / sizeof(list_cmds[0]), argc,
	                    argv);
}
