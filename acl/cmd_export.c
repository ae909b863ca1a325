/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_export.c - mqttsec-acl export and import: groups, members, ACL rules
 * and unexpired list entries as line-based text (docs/acl.md); the
 * records and the import come from admin/export.c.
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

/* Print one exported record as a line. */
static enum mqs_err emit(const struct mqsa_export_item *it, void *arg)
{
	switch (it->kind) {
	case MQSA_EXPORT_GROUP:
		fputs("group ", stdout);
		put_field(stdout, it->a);
		break;
	case MQSA_EXPORT_MEMBER:
		fputs("member ", stdout);
		put_field(stdout, it->a);
		fputc(' ', stdout);
		put_field(stdout, it->b);
		break;
	case MQSA_EXPORT_RULE:
		printf("acl %s %s ", it->a, it->b);
		put_field(stdout, it->c);
		fputc(' ', stdout);
		put_field(stdout, it->d);
		printf(" priority=%lld", it->n);
		break;
	case MQSA_EXPORT_ENTRY:
		printf("list %s %s ", it->a, it->b);
		put_field(stdout, it->c);
		if (it->n != 0)
			printf(" expires=%lld", it->n);
		if (it->d[0] != '\0') {
			fputs(" reason=", stdout);
			put_field(stdout, it->d);
		}
		break;
	}
	fputc('\n', stdout);
	return MQS_OK;
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
	printf("# mqttsec-acl export, format 1: groups, members, acl rules, list entries.\n"
	       "# devices and their secrets are not exported.\n");
	ex = acl_report(ctx, mqsa_export(ctx->adm, emit, NULL, n, why), why);
	if (ex != EX_OK)
		goto out;
	printf("# end: %lld groups, %lld members, %lld acl rules, %lld list entries\n", n[0], n[1],
	       n[2], n[3]);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		acl_err("cannot write to stdout");
		ex = EX_IOERR;
	}
out:
	return ex;
}

/* ---- import ---- */

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

/* import */
int acl_cmd_import(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"replace", no_argument, NULL, 'r'},
	                                     {"dry-run", no_argument, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	struct import_opts o = {0, 0};
	struct mqsa_import_result r;
	char why[ACL_WHY_MAX] = "";
	const char *shown;
	const char *path;
	enum mqs_err rc2;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;
	int first;
	int ex;

	memset(&r, 0, sizeof(r));
	ex = acl_parse_opts(ctx, argc, argv, "import", "[--replace] [--dry-run] FILE|-", 0, opts,
	                    import_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	path = argv[first];
	shown = strcmp(path, "-") == 0 ? "<stdin>" : path;
	if (strcmp(path, "-") == 0)
		rc = mqs_read_all(STDIN_FILENO, IMPORT_FILE_MAX, &data, &len);
	else
		rc = mqs_file_read(path, IMPORT_FILE_MAX, 0, &data, &len);
	if (rc != MQS_OK) {
		acl_err("cannot read %s: %s", shown, mqs_strerror(rc));
		ex = rc == MQS_ERR_NOENT ? EX_NOINPUT : EX_IOERR;
		goto out;
	}
	if (memchr(data, '\0', len) != NULL) {
		acl_err("%s: not a text file (contains NUL bytes)", shown);
		ex = EX_DATAERR;
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	rc2 = mqsa_import(ctx->adm, (char *)data, len, shown, o.replace, o.dry_run, &r, why);
	if (rc2 != MQS_OK && r.line > 0) {
		fprintf(stderr, "%s:%zu: %s\n", shown, r.line, why);
		ex = acl_ex(ctx, rc2);
	} else if (rc2 != MQS_OK) {
		ex = acl_report(ctx, rc2, why);
	} else if (o.dry_run) {
		printf("%s: ok (dry run, nothing changed)\n", shown);
	} else {
		printf("imported %s: %lld groups, %lld members, %lld acl rules, %lld list entries "
		       "(%lld already present, %lld expired skipped)%s\n",
		       shown, r.groups, r.members, r.rules, r.entries, r.kept, r.skipped,
		       o.replace ? ", replacing the previous policy" : "");
	}
out:
	mqs_secret_free(data, len);
	return ex;
}
