/* cmd_export.c - mqttsec-acl export and import: groups, members, ACL rules
 * and unexpired list entries as line-based text (docs/acl.md).
 *
 *   # comment                    (blank lines and '#' lines are ignored)
 *   group GROUP
 *   member GROUP NAME
 *   acl allow|deny pub|sub|read|all NAME|@GROUP FILTER [priority=N]
 *   list allow|deny clientid|username|ip PATTERN [expires=UNIX] [reason=TEXT]
 *
 * Fields are separated by spaces or tabs.  Inside a field a byte may be
 * written as \xHH; export writes every space, control byte, DEL and '\'
 * that way, so any value survives a round trip.  Devices and secrets are
 * never exported.
 *
 * import applies a whole file in one transaction: on the first bad line it
 * prints "FILE:LINE: reason", rolls back and changes nothing.  It merges by
 * default (existing groups, members and identical rules are kept, a list
 * entry for the same kind/match/pattern gets the imported expiry and
 * reason); --replace first deletes every group, membership, rule and list
 * entry.  Entries that expired since the export are skipped.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "acl.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define IMPORT_FILE_MAX (64u * 1024u * 1024u)
#define IMPORT_LINE_MAX (4 * ACL_FILTER_MAX + 4096)
#define IMPORT_FIELDS   8

/* ---- export ---- */

/* Print s as one field: bytes <= ' ', DEL and '\' as \xHH. */
static void put_field(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == '\\')
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

/* Step st and print each row with emit; returns EX_OK or a db error. */
static int export_rows(struct acl_ctx *ctx, const char *sql, void (*emit)(sqlite3_stmt *st),
                       long long *count, char *why)
{
	sqlite3_stmt *st = NULL;
	int rc;
	int ex;

	*count = 0;
	ex = acl_prepare(ctx, sql, &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ex = acl_db_fail(ctx, why, "read db");
			goto out;
		}
		emit(st);
		(*count)++;
	}
out:
	sqlite3_finalize(st);
	return ex;
}

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s != NULL ? s : "";
}

static void emit_group(sqlite3_stmt *st)
{
	fputs("group ", stdout);
	put_field(stdout, col(st, 0));
	fputc('\n', stdout);
}

static void emit_member(sqlite3_stmt *st)
{
	fputs("member ", stdout);
	put_field(stdout, col(st, 0));
	fputc(' ', stdout);
	put_field(stdout, col(st, 1));
	fputc('\n', stdout);
}

static void emit_rule(sqlite3_stmt *st)
{
	printf("acl %s %s ", col(st, 0), col(st, 1));
	put_field(stdout, col(st, 2));
	fputc(' ', stdout);
	put_field(stdout, col(st, 3));
	printf(" priority=%lld\n", (long long)sqlite3_column_int64(st, 4));
}

static void emit_entry(sqlite3_stmt *st)
{
	long long expires = sqlite3_column_int64(st, 3);

	printf("list %s %s ", col(st, 0), col(st, 1));
	put_field(stdout, col(st, 2));
	if (expires != 0)
		printf(" expires=%lld", expires);
	if (col(st, 4)[0] != '\0') {
		fputs(" reason=", stdout);
		put_field(stdout, col(st, 4));
	}
	fputc('\n', stdout);
}

/* export */
int acl_cmd_export(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	long long n[4] = {0, 0, 0, 0};
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "export", "", 0, NULL, NULL, NULL, 0, 0, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	/* one read transaction: a consistent snapshot */
	if (sqlite3_exec(ctx->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		ex = acl_db_fail(ctx, why, "start transaction");
		goto fail;
	}
	printf("# mqttsec-acl export, format 1: groups, members, acl rules, list entries.\n"
	       "# devices and their secrets are not exported.\n");
	ex = export_rows(ctx, "SELECT name FROM groups WHERE ?1 = ?1 ORDER BY name", emit_group,
	                 &n[0], why);
	if (ex == EX_OK)
		ex = export_rows(ctx,
		                 "SELECT grp, member FROM group_members WHERE ?1 = ?1 "
		                 "ORDER BY grp, member",
		                 emit_member, &n[1], why);
	if (ex == EX_OK)
		ex = export_rows(ctx,
		                 "SELECT effect, access, subject, filter, priority FROM acl_rules "
		                 "WHERE ?1 = ?1 ORDER BY priority DESC, effect = 'deny' DESC, id",
		                 emit_rule, &n[2], why);
	if (ex == EX_OK)
		ex =
		    export_rows(ctx,
		                "SELECT kind, match, pattern, expires_at, reason FROM list_entries "
		                "WHERE expires_at = 0 OR expires_at > ?1 ORDER BY id",
		                emit_entry, &n[3], why);
	if (ex != EX_OK)
		goto fail;
	acl_tx_rollback(ctx);
	printf("# end: %lld groups, %lld members, %lld acl rules, %lld list entries\n", n[0], n[1],
	       n[2], n[3]);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ex = acl_fail(why, EX_IOERR, "cannot write to stdout");
		goto fail;
	}
	goto out;
fail:
	acl_tx_rollback(ctx);
	acl_err("%s", why);
out:
	return ex;
}

/* ---- import ---- */

struct import_stats {
	long long groups, members, rules, entries, kept, skipped;
};

/* Split line (modified in place) into at most IMPORT_FIELDS decoded fields. */
static int split_fields(char *line, char **field, int *nfield, char *why)
{
	char *p = line;
	int n = 0;

	for (;;) {
		char *w;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (n == IMPORT_FIELDS)
			return acl_fail(why, EX_DATAERR, "too many fields");
		field[n++] = p;
		w = p;
		while (*p != '\0' && *p != ' ' && *p != '\t') {
			if (*p != '\\') {
				*w++ = *p++;
				continue;
			}
			if (p[1] != 'x' || mqs_hex_digit(p[2]) < 0 || mqs_hex_digit(p[3]) < 0)
				return acl_fail(why, EX_DATAERR,
				                "bad escape: write a byte as \\xHH (a backslash as "
				                "\\x5c)");
			*w = (char)(mqs_hex_digit(p[2]) * 16 + mqs_hex_digit(p[3]));
			if (*w == '\0')
				return acl_fail(why, EX_DATAERR,
				                "bad escape: \\x00 is not allowed");
			w++;
			p += 4;
		}
		if (*p != '\0')
			p++;
		*w = '\0';
	}
	*nfield = n;
	return EX_OK;
}

/* Match "key=value" options of fields[from..n-1] against keys; values[i]
 * gets the value of keys[i] or stays NULL. */
static int parse_options(char **field, int from, int n, const char *const *keys, size_t nkeys,
                         const char **values, char *why)
{
	for (size_t k = 0; k < nkeys; k++)
		values[k] = NULL;
	for (int i = from; i < n; i++) {
		char *eq = strchr(field[i], '=');
		size_t k;

		if (eq == NULL)
			return acl_fail(why, EX_DATAERR,
			                "unexpected field (options are key=value)");
		*eq = '\0';
		for (k = 0; k < nkeys; k++) {
			if (strcmp(field[i], keys[k]) == 0)
				break;
		}
		if (k == nkeys)
			return acl_fail(why, EX_DATAERR, "unknown option %.32s", field[i]);
		if (values[k] != NULL)
			return acl_fail(why, EX_DATAERR, "option %s given twice", keys[k]);
		values[k] = eq + 1;
	}
	return EX_OK;
}

static int import_group(struct acl_ctx *ctx, char **f, int n, struct import_stats *s, char *why)
{
	int created = 0;
	int ex;

	if (n != 2)
		return acl_fail(why, EX_DATAERR, "usage: group GROUP");
	ex = acl_group_put(ctx, f[1], 1, &created, why);
	s->groups += created;
	s->kept += !created;
	return ex;
}

static int import_member(struct acl_ctx *ctx, char **f, int n, struct import_stats *s, char *why)
{
	int created = 0;
	int ex;

	if (n != 3)
		return acl_fail(why, EX_DATAERR, "usage: member GROUP NAME");
	ex = acl_member_put(ctx, f[1], f[2], 1, &created, why);
	s->members += created;
	s->kept += !created;
	return ex;
}

static int import_rule(struct acl_ctx *ctx, char **f, int n, struct import_stats *s, char *why)
{
	static const char *const keys[] = {"priority"};
	const char *val[1];
	long long priority = 0;
	long long id = 0;
	int ex;

	if (n < 5)
		return acl_fail(why, EX_DATAERR,
		                "usage: acl allow|deny pub|sub|read|all NAME|@GROUP FILTER "
		                "[priority=N]");
	ex = parse_options(f, 5, n, keys, 1, val, why);
	if (ex == EX_OK && val[0] != NULL)
		ex = acl_int_parse(val[0], -2147483647LL - 1, 2147483647LL, "priority", &priority,
		                   why);
	if (ex == EX_OK)
		ex = acl_rule_check(ctx, f[1], f[2], f[3], f[4], why);
	if (ex == EX_OK)
		ex = acl_rule_put(ctx, f[1], f[2], f[3], f[4], priority, 1, &id, why);
	s->rules += id != 0;
	s->kept += ex == EX_OK && id == 0;
	return ex;
}

static int import_entry(struct acl_ctx *ctx, char **f, int n, struct import_stats *s, char *why)
{
	static const char *const keys[] = {"expires", "reason"};
	const char *val[2];
	char pattern[ACL_PATTERN_MAX + 1];
	long long expires = 0;
	long long id = 0;
	int ex;

	if (n < 4)
		return acl_fail(
		    why, EX_DATAERR,
		    "usage: list allow|deny clientid|username|ip PATTERN [expires=UNIX] "
		    "[reason=TEXT]");
	ex = parse_options(f, 4, n, keys, 2, val, why);
	if (ex == EX_OK && val[0] != NULL)
		ex = acl_int_parse(val[0], 0, (long long)ctx->now + ACL_TTL_MAX, "expires",
		                   &expires, why);
	if (ex == EX_OK && val[1] != NULL)
		ex = acl_text_check(val[1], ACL_REASON_MAX, 1, "reason", why);
	if (ex == EX_OK)
		ex = acl_list_words(f[1], f[2], why);
	if (ex == EX_OK)
		ex = acl_list_pattern(ctx, f[2], f[3], pattern, sizeof(pattern), why);
	if (ex != EX_OK)
		return ex;
	if (expires != 0 && expires <= (long long)ctx->now) {
		s->skipped++;
		return EX_OK;
	}
	ex = acl_list_put(ctx, f[1], f[2], pattern, expires, val[1], 1, &id, why);
	s->entries += ex == EX_OK;
	return ex;
}

/* Apply one line (modified in place). */
static int import_line(struct acl_ctx *ctx, char *line, struct import_stats *s, char *why)
{
	char *f[IMPORT_FIELDS];
	int n = 0;
	int ex;

	line += strspn(line, " \t");
	if (line[0] == '#' || line[0] == '\0')
		return EX_OK;
	ex = split_fields(line, f, &n, why);
	if (ex != EX_OK || n == 0)
		return ex;
	if (strcmp(f[0], "group") == 0)
		return import_group(ctx, f, n, s, why);
	if (strcmp(f[0], "member") == 0)
		return import_member(ctx, f, n, s, why);
	if (strcmp(f[0], "acl") == 0)
		return import_rule(ctx, f, n, s, why);
	if (strcmp(f[0], "list") == 0)
		return import_entry(ctx, f, n, s, why);
	return acl_fail(why, EX_DATAERR, "unknown keyword (use group, member, acl or list)");
}

/* Delete everything import --replace replaces. */
static int import_clear(struct acl_ctx *ctx, char *why)
{
	if (sqlite3_exec(ctx->db,
	                 "DELETE FROM acl_rules; DELETE FROM group_members; DELETE FROM groups; "
	                 "DELETE FROM list_entries",
	                 NULL, NULL, NULL) != SQLITE_OK)
		return acl_db_fail(ctx, why, "clear policy");
	return EX_OK;
}

struct import_opts {
	int replace;
	int dry_run;
};

static int import_opt(int opt, const char *arg, void *data)
{
	struct import_opts *o = data;

	if (opt == 'r')
		o->replace = 1;
	else if (opt == 'n')
		o->dry_run = 1;
	return EX_OK;
}

/* import: the file's text and what applying it did. */
struct import_arg {
	const struct import_opts *o;
	const char *shown; /* file name in messages, "<stdin>" for "-" */
	char *data;        /* the file, NUL-free, modified in place */
	size_t len;
	struct import_stats s;
};

/* Apply every line (the first bad one is printed as FILE:LINE: reason);
 * --dry-run: ACL_TX_SKIP. */
static int import_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct import_arg *a = data;
	const char *base;
	char *end = a->data + a->len;
	char *p = a->data;
	size_t lineno = 0;
	int ex = EX_OK;

	if (a->o->replace)
		ex = import_clear(ctx, why);
	if (ex != EX_OK)
		goto out;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (nl != NULL)
			*nl = '\0';
		n = strlen(p);
		lineno++;
		if (n > 0 && p[n - 1] == '\r')
			p[--n] = '\0';
		if (n > IMPORT_LINE_MAX)
			ex = acl_fail(why, EX_DATAERR, "line too long");
		else
			ex = import_line(ctx, p, &a->s, why);
		if (ex != EX_OK) {
			fprintf(stderr, "%s:%zu: %s\n", a->shown, lineno, why);
			why[0] = '\0'; /* printed */
			goto out;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (a->o->dry_run) {
		ex = ACL_TX_SKIP;
		goto out;
	}
	base = strrchr(a->shown, '/') != NULL ? strrchr(a->shown, '/') + 1 : a->shown;
	snprintf(detail, ACL_DETAIL_MAX,
	         "file=%.100s replace=%d groups=%lld members=%lld rules=%lld entries=%lld "
	         "skipped=%lld",
	         base, a->o->replace, a->s.groups, a->s.members, a->s.rules, a->s.entries,
	         a->s.skipped);
out:
	return ex;
}

/* import */
int acl_cmd_import(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"replace", no_argument, NULL, 'r'},
	                                     {"dry-run", no_argument, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	struct import_opts o = {0, 0};
	struct import_arg a;
	const char *path;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;
	int first;
	int ex;

	memset(&a, 0, sizeof(a));
	a.o = &o;
	ex = acl_parse_opts(ctx, argc, argv, "import", "[--replace] [--dry-run] FILE|-", 0, opts,
	                    import_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	path = argv[first];
	a.shown = strcmp(path, "-") == 0 ? "<stdin>" : path;
	if (strcmp(path, "-") == 0)
		rc = mqs_read_all(STDIN_FILENO, IMPORT_FILE_MAX, &data, &len);
	else
		rc = mqs_file_read(path, IMPORT_FILE_MAX, 0, &data, &len);
	if (rc != MQS_OK) {
		acl_err("cannot read %s: %s", a.shown, mqs_strerror(rc));
		ex = rc == MQS_ERR_NOENT ? EX_NOINPUT : EX_IOERR;
		goto out;
	}
	if (memchr(data, '\0', len) != NULL) {
		acl_err("%s: not a text file (contains NUL bytes)", a.shown);
		ex = EX_DATAERR;
		goto out;
	}
	a.data = (char *)data;
	a.len = len;
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "import", import_change, &a);
	if (ex == ACL_TX_SKIP) {
		printf("%s: ok (dry run, nothing changed)\n", a.shown);
		ex = EX_OK;
	} else if (ex == EX_OK) {
		printf("imported %s: %lld groups, %lld members, %lld acl rules, %lld list entries "
		       "(%lld already present, %lld expired skipped)%s\n",
		       a.shown, a.s.groups, a.s.members, a.s.rules, a.s.entries, a.s.kept,
		       a.s.skipped, o.replace ? ", replacing the previous policy" : "");
	}
out:
	mqs_secret_free(data, len);
	return ex;
}
