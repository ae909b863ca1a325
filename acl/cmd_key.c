/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_key.c - mqttsec-acl key rotate|export|list: the keys of protected
 * topic filters (admin/keys.c, mqsa_key_*).
 *
 * rotate creates a new active key for a protected filter and retires the
 * previous active key(s) for a grace period, in one transaction, so the
 * broker switches at once and subscribers holding the old key can still
 * open what was sealed with it (retained messages) until the grace ends.
 * A retired key with retire_after < now is dead: export leaves it out, but
 * it is never deleted: subscribers keep old keys in their credentials
 * files, and the broker must still recognise (and drop) an envelope a
 * client seals with one (docs/payload-encryption.md, "Forged origins").
 *
 * export hands the active and in-grace keys of a filter to a device whose
 * ACL gives it read on every topic of the filter (admin/keyaccess.c), as the
 * device's credentials file (docs/acl.md, "Devices": TOTP secret, device key, the topic
 * keys and "protected"; --keys-only: the topic keys alone): printed,
 * written, or merged into the device's existing file.  It is audited with
 * the key ids, never the keys.
 */
#include "config.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "acl.h"
#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_util.h"

/* Parse "key VERB TOPICFILTER ..." options, check the filter, open the db. */
static int filter_operand(struct acl_ctx *ctx, int argc, char **argv, const char *words,
                          const char *args, const struct option *opts,
                          int (*handler)(int, const char *, void *), void *arg, char *why,
                          const char **filter)
{
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, words, args, 0, opts, handler, arg, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	*filter = argv[first];
	ex = acl_report(ctx, mqsa_protected_filter_check(*filter, why), why);
	if (ex != EX_OK)
		goto out;
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
out:
	return ex;
}

/* Fill why and return EX_CANTCREAT. */
static int cantcreat(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cantcreat(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, ACL_WHY_MAX, fmt, ap);
	va_end(ap);
	return EX_CANTCREAT;
}

/* --announce without a duration: seconds before the new key seals */
#define ACL_ANNOUNCE_DEFAULT 5

/* key rotate options. */
struct rotate_opts {
	const struct acl_ctx *ctx;
	long long grace;
	long long announce; /* --announce: seconds before the new key seals */
	char why[ACL_WHY_MAX];
};

/* --grace SECONDS, --announce[=DURATION] */
static int rotate_opt(int opt, const char *arg, void *data)
{
	struct rotate_opts *o = data;

	if (opt == 'a' && arg == NULL) {
		o->announce = ACL_ANNOUNCE_DEFAULT;
		return EX_OK;
	}
	if (opt == 'a')
		return acl_report(o->ctx, mqsa_ttl_parse(arg, &o->announce, o->why), o->why);
	return acl_report(o->ctx, mqsa_grace_parse(arg, &o->grace, o->why), o->why);
}

/* key rotate TOPICFILTER [--grace SECONDS] [--announce[=DURATION]] */
static int key_rotate(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"grace", required_argument, NULL, 'g'},
	                                     {"announce", optional_argument, NULL, 'a'},
	                                     {NULL, 0, NULL, 0}};
	struct rotate_opts o = {ctx, MQSA_GRACE_DEFAULT, 0, ""};
	struct mqsa_key_rotated r;
	const char *filter = NULL;
	char until[32];
	int ex;

	memset(&r, 0, sizeof(r));
	ex = filter_operand(ctx, argc, argv, "key rotate",
	                    "TOPICFILTER [--grace SECONDS] [--announce[=DURATION]]", opts,
	                    rotate_opt, &o, o.why, &filter);
	if (ex == EX_OK && o.announce > 0)
		ex = acl_report(
		    ctx,
		    mqsa_key_rotate_announced(ctx->adm, filter, o.grace, o.announce, &r, o.why),
		    o.why);
	else if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_key_rotate(ctx->adm, filter, o.grace, &r, o.why), o.why);
	if (ex != EX_OK)
		goto out;
	if (r.seals_from > 0) {
		acl_time_iso(r.seals_from, until, sizeof(until));
		printf("topic %s: key %lu announced, seals from %s\n", filter,
		       (unsigned long)r.key_id, until);
	}
	acl_time_iso(r.usable_until, until, sizeof(until));
	if (r.nretired == 0)
		printf("topic %s: new key %lu\n", filter, (unsigned long)r.key_id);
	else if (o.grace > 0)
		printf("topic %s: new key %lu; retired %s, usable until %s\n", filter,
		       (unsigned long)r.key_id, r.retired, until);
	else
		printf("topic %s: new key %lu; retired %s, unusable now\n", filter,
		       (unsigned long)r.key_id, r.retired);
out:
	return ex;
}

/* key export options. */
struct export_opts {
	const char *name;
	const char *out;
	int keys_only; /* --keys-only: the topic keys without TOTP and device key */
	int with_totp; /* --with-totp: the default now, kept for old scripts */
	char why[ACL_WHY_MAX];
};

/* --for, --out, --keys-only, --with-totp */
static int export_opt(int opt, const char *arg, void *data)
{
	struct export_opts *o = data;

	if (opt == 'F')
		o->name = arg;
	else if (opt == 'o')
		o->out = arg;
	else if (opt == 'K')
		o->keys_only = 1;
	else if (opt == 'T')
		o->with_totp = 1;
	return EX_OK;
}

/* Can a file be created beside path?  Checked before the audit row is
 * written, so a typo in --out leaves no record of an export. */
static int out_dir_ok(const char *path, char *why)
{
	char copy[PATH_MAX];
	const char *dir;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return cantcreat(why, "cannot write credentials %s: path too long", path);
	dir = dirname(copy);
	if (access(dir, W_OK | X_OK) != 0)
		return cantcreat(why,
		                 "cannot write credentials %s: folder %s is missing or not "
		                 "writable",
		                 path, dir);
	return EX_OK;
}

/* key export TOPICFILTER --for NAME [--out FILE] [--keys-only] */
static int key_export(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"for", required_argument, NULL, 'F'},
	                                     {"out", required_argument, NULL, 'o'},
	                                     {"keys-only", no_argument, NULL, 'K'},
	                                     {"with-totp", no_argument, NULL, 'T'},
	                                     {NULL, 0, NULL, 0}};
	static const char args[] = "TOPICFILTER --for NAME [--out FILE] [--keys-only]";
	struct mqsa_key_export_req req;
	struct mqsa_key_export a;
	struct export_opts o;
	char *why = o.why;
	int rc;
	int ex;

	memset(&o, 0, sizeof(o));
	memset(&req, 0, sizeof(req));
	memset(&a, 0, sizeof(a));
	mqs_creds_init(&a.creds);
	ex = filter_operand(ctx, argc, argv, "key export", args, opts, export_opt, &o, why,
	                    &req.filter);
	if (ex != EX_OK)
		goto out;
	if (o.name == NULL || (o.keys_only && o.with_totp)) {
		acl_err("key export: %s", o.name == NULL ? "--for NAME is missing"
		                                         : "--keys-only and --with-totp exclude "
		                                           "each other");
		acl_usage_line(stderr, "key export", args);
		ex = EX_USAGE;
		goto out;
	}
	req.full = !o.keys_only;
	req.name = o.name;
	req.out = o.out;
	ex = acl_report(ctx, mqsa_name_check(o.name, "device", why), why);
	if (ex == EX_OK && o.out != NULL) {
		ex = out_dir_ok(o.out, why);
		if (ex != EX_OK)
			acl_err("%s", why);
	}
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_key_export(ctx->adm, &req, &a, why), why);
	if (ex != EX_OK)
		goto out;

	if (req.full)
		fprintf(stderr,
		        ACL_PROG
		        ": warning: the credentials hold the totp secret and device key of "
		        "%s; anyone who has them can log in as %s (--keys-only exports the "
		        "topic keys alone)\n",
		        o.name, o.name);
	if (o.out == NULL) {
		size_t len = strlen(a.json);

		if (fwrite(a.json, 1, len, stdout) != len || fputc('\n', stdout) == EOF ||
		    fflush(stdout) != 0) {
			snprintf(why, ACL_WHY_MAX, "cannot write credentials to stdout");
			ex = EX_IOERR;
			goto fail;
		}
		goto out;
	}
	rc = mqs_creds_save(o.out, &a.creds);
	if (rc != MQS_OK) {
		ex = cantcreat(why, "cannot write credentials %s: %s", o.out, mqs_strerror(rc));
		goto fail;
	}
	printf("%s %s of %s for %s %s %s\n", req.full ? "credentials with keys" : "keys", a.ids,
	       req.filter, o.name, a.merged ? "merged into" : "written to", o.out);
	goto out;
fail:
	acl_err("%s", why);
out:
	mqsa_key_export_release(&a);
	return ex;
}

/* One listing row. */
static enum mqs_err list_row(const struct mqsa_key_info *k, void *arg)
{
	cJSON *row;
	char created[32];
	char until[32];

	row = cJSON_CreateObject();
	if (row == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arg, row);
	if (strcmp(k->state, "announced") == 0)
		acl_time_iso(k->seal_after, until, sizeof(until)); /* when it starts sealing */
	else if (strcmp(k->state, "active") == 0)
		snprintf(until, sizeof(until), "-");
	else
		acl_time_iso(k->retire_after, until, sizeof(until));
	acl_time_iso(k->created_at, created, sizeof(created));
	if (acl_json_num(row, "id", k->id) && acl_json_str(row, "filter", k->filter) &&
	    acl_json_str(row, "state", k->state) &&
	    acl_json_num(row, "created_at", k->created_at) &&
	    acl_json_str(row, "created", created) &&
	    acl_json_num(row, "retire_after", k->retire_after) &&
	    acl_json_num(row, "seal_after", k->seal_after) && acl_json_str(row, "until", until))
		return MQS_OK;
	return MQS_ERR_NOMEM;
}

/* key list [TOPICFILTER] */
static int key_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"id", "ID"},
	                                         {"filter", "FILTER"},
	                                         {"state", "STATE"},
	                                         {"created", "CREATED"},
	                                         {"until", "UNTIL"}};
	char why[ACL_WHY_MAX] = "";
	char *filter = NULL;
	cJSON *rows = NULL;
	enum mqs_err rc;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "key list", "[TOPICFILTER] [--json]", 1, NULL, NULL,
	                    NULL, 0, 1, &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	if (first < argc)
		filter = argv[first];
	rows = cJSON_CreateArray();
	rc = rows == NULL ? acl_nomem(why, "topic keys")
	                  : mqsa_key_list(ctx->adm, filter, list_row, rows, why);
	ex = acl_listed(ctx, rc, rows, why, cols, sizeof(cols) / sizeof(cols[0]));
out:
	cJSON_Delete(rows);
	return ex;
}

static const struct acl_cmd key_cmds[] = {
    {"rotate", "TOPICFILTER [--grace SECONDS] [--announce[=DURATION]]",
     "new active topic key (announced first: sealing later); the old one stays usable for the "
     "grace period",
     key_rotate},
    {"export", "TOPICFILTER --for NAME [--out FILE] [--keys-only]",
     "a device's credentials with the topic's keys, if it may read the topic", key_export},
    {"list", "[TOPICFILTER] [--json]",
     "topic keys: id, state (announced, active, grace, dead), seal start or grace end (never key "
     "bytes)",
     key_list},
};

/* key SUBCOMMAND ... */
int acl_cmd_key(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "key", key_cmds, sizeof(key_cmds) / sizeof(key_cmds[0]), argc,
	                    argv);
}
