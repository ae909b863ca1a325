/* cmd_key.c - mqttsec-acl key rotate|export|list: the keys of protected
 * topic filters.
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
 * ACL gives it read on every topic of the filter (keyaccess.c), as the
 * device's credentials file (docs/acl.md, "Devices": TOTP secret, device key, the topic
 * keys and "protected"; --keys-only: the topic keys alone): printed,
 * written, or merged into the device's existing file.  It is audited with
 * the key ids, never the keys.
 */
#include "config.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "acl.h"
#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_totp.h"
#include "mqs_util.h"

#define IDS_MAX 128 /* key id lists in audit details and messages */

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
	ex = acl_protected_filter_check(*filter, why);
	if (ex != EX_OK) {
		acl_err("%s", why);
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
out:
	return ex;
}

/* Inside a transaction: fail unless filter is protected. */
static int need_protected(struct acl_ctx *ctx, const char *filter, char *why)
{
	int rc = acl_topic_is_protected(ctx, filter);

	if (rc < 0)
		return acl_db_fail(ctx, why, "read protected topics");
	if (rc == 0)
		return acl_fail(why, EX_DATAERR, "topic %s is not protected", filter);
	return EX_OK;
}

/* ---- rotate ---- */

struct rotate_opts {
	long long grace;
	char why[ACL_WHY_MAX];
};

static int rotate_opt(int opt, const char *arg, void *data)
{
	struct rotate_opts *o = data;
	int ex = EX_OK;

	if (opt == 'g')
		ex = acl_grace_parse(arg, &o->grace, o->why);
	if (ex != EX_OK)
		acl_err("%s", o->why);
	return ex;
}

/* key rotate: the filter, its grace and what the rotation did. */
struct rotate_arg {
	const char *filter;
	long long grace;
	struct mqs_key key; /* the new active key */
	char ids[IDS_MAX];  /* retired key ids */
	int nretired;
};

static int rotate_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct rotate_arg *a = data;
	int rc;
	int ex;

	ex = need_protected(ctx, a->filter, why);
	if (ex == EX_OK)
		ex = acl_topic_retire(ctx, a->filter, a->grace, a->ids, sizeof(a->ids),
		                      &a->nretired, why);
	if (ex != EX_OK)
		goto out;
	rc = mqs_keystore_create(ctx->db, ctx->mk, MQS_KEY_TOPIC, a->filter, &a->key);
	if (rc != MQS_OK) {
		ex = rc == MQS_ERR_DB ? acl_db_fail(ctx, why, "create topic key")
		                      : acl_fail(why, EX_SOFTWARE, "cannot create topic key: %s",
		                                 mqs_strerror(rc));
		goto out;
	}
	snprintf(detail, ACL_DETAIL_MAX, "filter=%.300s key=%lu retired=%s grace=%lld", a->filter,
	         (unsigned long)a->key.id, a->nretired > 0 ? a->ids : "-", a->grace);
out:
	return ex;
}

static int key_rotate(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"grace", required_argument, NULL, 'g'},
	                                     {NULL, 0, NULL, 0}};
	struct rotate_opts o = {ACL_GRACE_DEFAULT, ""};
	struct rotate_arg a;
	char until[32];
	int ex;

	memset(&a, 0, sizeof(a));
	mqs_key_init(&a.key);
	ex = filter_operand(ctx, argc, argv, "key rotate", "TOPICFILTER [--grace SECONDS]", opts,
	                    rotate_opt, &o, o.why, &a.filter);
	if (ex != EX_OK)
		goto out;
	a.grace = o.grace;
	ex = acl_tx_run(ctx, "key rotate", rotate_change, &a);
	if (ex != EX_OK)
		goto out;
	acl_time_iso(acl_retire_after(ctx, a.grace), until, sizeof(until));
	if (a.nretired == 0)
		printf("topic %s: new key %lu\n", a.filter, (unsigned long)a.key.id);
	else if (a.grace > 0)
		printf("topic %s: new key %lu; retired %s, usable until %s\n", a.filter,
		       (unsigned long)a.key.id, a.ids, until);
	else
		printf("topic %s: new key %lu; retired %s, unusable now\n", a.filter,
		       (unsigned long)a.key.id, a.ids);
out:
	mqs_key_release(&a.key);
	return ex;
}

/* ---- export ---- */

struct export_opts {
	const char *name;
	const char *out;
	int keys_only; /* --keys-only: the topic keys without TOTP and device key */
	int with_totp; /* --with-totp: the default now, kept for old scripts */
	char why[ACL_WHY_MAX];
};

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

/* Inside a transaction: name must be an enabled device.  With totp, fill
 * creds' TOTP parameters and secret from the devices row. */
static int export_device(struct acl_ctx *ctx, const char *name, int totp, struct mqs_creds *c,
                         char *why)
{
	sqlite3_stmt *st = NULL;
	char aad[MQS_TOTP_AAD_MAX];
	int rc;
	int ex;

	ex = acl_prepare(ctx,
	                 "SELECT enabled, digits, period, algorithm, totp_wrapped FROM devices "
	                 "WHERE name = ?1",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ex = rc == SQLITE_DONE ? acl_fail(why, EX_DATAERR, "unknown device %s", name)
		                       : acl_db_fail(ctx, why, "read device");
		goto out;
	}
	if (sqlite3_column_int(st, 0) == 0) {
		ex = acl_fail(why, EX_NOPERM, "device %s is disabled: no keys exported", name);
		goto out;
	}
	if (!totp)
		goto out;
	c->totp.digits = (unsigned)sqlite3_column_int(st, 1);
	c->totp.period = (unsigned)sqlite3_column_int(st, 2);
	if (mqs_totp_alg_parse((const char *)sqlite3_column_text(st, 3), &c->totp.algorithm) !=
	    MQS_OK) {
		ex = acl_fail(why, EX_DATAERR, "device %s has an unknown algorithm", name);
		goto out;
	}
	rc = mqs_totp_wrap_aad(aad, sizeof(aad), name);
	if (rc == MQS_OK)
		rc = mqs_wrap_open(ctx->mk, aad, sqlite3_column_blob(st, 4),
		                   (size_t)sqlite3_column_bytes(st, 4), c->totp_secret,
		                   sizeof(c->totp_secret), &c->totp_secret_len);
	if (rc != MQS_OK) {
		ex = acl_fail(
		    why, EX_DATAERR,
		    "cannot unwrap the totp secret of %s: wrong master key or damaged row", name);
		goto out;
	}
	c->has_totp = 1;
out:
	sqlite3_finalize(st);
	return ex;
}

/* Append the active and in-grace keys of filter to c; their ids go to ids. */
static int export_topic_keys(struct acl_ctx *ctx, const char *filter, struct mqs_creds *c,
                             char *ids, size_t cap, char *why)
{
	sqlite3_stmt *st = NULL;
	struct mqs_key key;
	int nactive = 0;
	int rc;
	int ex;

	mqs_key_init(&key);
	ids[0] = '\0';
	ex = acl_prepare(ctx,
	                 "SELECT id FROM keys WHERE purpose = 'topic' AND owner = ?1 AND "
	                 "(state = 'active' OR retire_after >= ?2) ORDER BY id",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ctx->now);
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ex = acl_db_fail(ctx, why, "read topic keys");
			goto out;
		}
		mqs_key_release(&key);
		rc =
		    mqs_keystore_get(ctx->db, ctx->mk, (uint32_t)sqlite3_column_int64(st, 0), &key);
		if (rc != MQS_OK) {
			ex = rc == MQS_ERR_DB
			         ? acl_db_fail(ctx, why, "read topic key")
			         : acl_fail(why, EX_DATAERR,
			                    "cannot unwrap topic key %lld: wrong master key "
			                    "or damaged row",
			                    (long long)sqlite3_column_int64(st, 0));
			goto out;
		}
		nactive += key.active;
		rc = mqs_creds_add_key(c, key.id, MQS_CREDS_USE_TOPIC, filter, key.key);
		if (rc != MQS_OK) {
			ex = acl_fail(why, EX_SOFTWARE, "cannot build credentials: %s",
			              mqs_strerror(rc));
			goto out;
		}
		acl_ids_append(ids, cap, (unsigned long)key.id);
	}
	if (nactive == 0)
		ex = acl_fail(why, EX_SOFTWARE, "topic %s has no active key (run key rotate)",
		              filter);
out:
	sqlite3_finalize(st);
	mqs_key_release(&key);
	return ex;
}

/* Start the credentials from FILE when it exists (it must be name's):
 * keep its TOTP and keys except the topic keys of filter.  *merged is 1
 * when FILE existed. */
static int export_merge_base(const char *path, const char *name, const char *filter,
                             struct mqs_creds *c, int *merged, char *why)
{
	struct mqs_creds old;
	char err[256] = "";
	int rc;
	int ex = EX_OK;

	*merged = 0;
	rc = mqs_creds_load(path, &old, err, sizeof(err));
	if (rc == MQS_ERR_NOENT)
		goto out;
	if (rc == MQS_ERR_PERM) {
		ex = acl_fail(why, EX_NOPERM,
		              "cannot merge into %s: readable by group or others (chmod 600 it)",
		              path);
		goto out;
	}
	if (rc != MQS_OK) {
		ex = acl_fail(why, EX_DATAERR, "cannot merge into %s: not a credentials file (%s)",
		              path, err[0] != '\0' ? err : mqs_strerror(rc));
		goto out;
	}
	if (strcmp(old.username, name) != 0) {
		ex = acl_fail(why, EX_DATAERR,
		              "cannot merge into %s: it holds the credentials of another device",
		              path);
		goto out;
	}
	*merged = 1;
	c->has_totp = old.has_totp;
	c->totp = old.totp;
	memcpy(c->totp_secret, old.totp_secret, sizeof(c->totp_secret));
	c->totp_secret_len = old.totp_secret_len;
	for (size_t i = 0; i < old.nkeys; i++) {
		const struct mqs_creds_key *k = &old.keys[i];

		if (k->use == MQS_CREDS_USE_TOPIC && strcmp(k->topic, filter) == 0)
			continue;
		rc = mqs_creds_add_key(c, k->id, k->use, k->topic, k->key);
		if (rc != MQS_OK) {
			ex = acl_fail(why, EX_SOFTWARE, "cannot merge into %s: %s", path,
			              mqs_strerror(rc));
			goto out;
		}
	}
out:
	mqs_creds_release(&old);
	return ex;
}

/* Replace the device keys of c with name's active device key. */
static int export_device_key(struct acl_ctx *ctx, const char *name, struct mqs_creds *c, char *why)
{
	struct mqs_creds tmp;
	struct mqs_key key;
	int rc;
	int ex = EX_OK;

	mqs_creds_init(&tmp);
	mqs_key_init(&key);
	rc = mqs_keystore_active(ctx->db, ctx->mk, MQS_KEY_DEVICE, name, &key);
	if (rc == MQS_ERR_NOENT)
		goto out; /* a device without a key: nothing to add */
	if (rc != MQS_OK) {
		ex = rc == MQS_ERR_DB ? acl_db_fail(ctx, why, "read device key")
		                      : acl_fail(why, EX_DATAERR,
		                                 "cannot unwrap the device key of %s: wrong master "
		                                 "key or damaged row",
		                                 name);
		goto out;
	}
	rc = mqs_creds_add_key(&tmp, key.id, MQS_CREDS_USE_DEVICE, NULL, key.key);
	for (size_t i = 0; rc == MQS_OK && i < c->nkeys; i++) {
		const struct mqs_creds_key *k = &c->keys[i];

		if (k->use != MQS_CREDS_USE_DEVICE)
			rc = mqs_creds_add_key(&tmp, k->id, k->use, k->topic, k->key);
	}
	if (rc != MQS_OK) {
		ex = acl_fail(why, EX_SOFTWARE, "cannot build credentials: %s", mqs_strerror(rc));
		goto out;
	}
	/* swap the key lists: c keeps everything else */
	{
		struct mqs_creds_key *keys = c->keys;
		size_t nkeys = c->nkeys;

		c->keys = tmp.keys;
		c->nkeys = tmp.nkeys;
		tmp.keys = keys;
		tmp.nkeys = nkeys;
	}
out:
	mqs_creds_release(&tmp);
	mqs_key_release(&key);
	return ex;
}

/* Can a file be created beside path?  Checked before the audit row is
 * written, so a typo in --out leaves no record of an export. */
static int out_dir_ok(const char *path, char *why)
{
	char copy[PATH_MAX];
	const char *dir;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return acl_fail(why, EX_CANTCREAT, "cannot write credentials %s: path too long",
		                path);
	dir = dirname(copy);
	if (access(dir, W_OK | X_OK) != 0)
		return acl_fail(why, EX_CANTCREAT,
		                "cannot write credentials %s: folder %s is missing or not writable",
		                path, dir);
	return EX_OK;
}

/* key export: the request and the credentials built for it. */
struct export_arg {
	const struct export_opts *o;
	const char *filter;
	int full; /* TOTP secret and device key too (not --keys-only) */
	struct mqs_creds creds;
	char ids[IDS_MAX]; /* exported topic key ids */
	char *json;
	int merged;
};

/* Check the device and its read access, build the credentials JSON and
 * write the audit detail: handing out keys is on record before the output
 * is written. */
static int export_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct export_arg *a = data;
	const struct export_opts *o = a->o;
	int allowed = 0;
	int rc;
	int ex;

	ex = need_protected(ctx, a->filter, why);
	if (ex == EX_OK && o->out != NULL)
		ex = export_merge_base(o->out, o->name, a->filter, &a->creds, &a->merged, why);
	if (ex == EX_OK)
		ex = export_device(ctx, o->name, a->full, &a->creds, why);
	if (ex == EX_OK)
		ex = acl_read_covers(ctx, o->name, a->filter, &allowed, why);
	if (ex == EX_OK && !allowed)
		ex = acl_fail(why, EX_NOPERM,
		              "device %s may not read every topic of %s: no keys exported", o->name,
		              a->filter);
	if (ex != EX_OK)
		goto out;
	rc = mqs_creds_set_username(&a->creds, o->name);
	if (rc != MQS_OK) {
		ex = acl_fail(why, EX_SOFTWARE, "cannot build credentials: %s", mqs_strerror(rc));
		goto out;
	}
	if (a->full)
		ex = export_device_key(ctx, o->name, &a->creds, why);
	if (ex == EX_OK)
		ex = export_topic_keys(ctx, a->filter, &a->creds, a->ids, sizeof(a->ids), why);
	if (ex == EX_OK) {
		/* the current list replaces the file's */
		for (size_t i = 0; i < a->creds.nprotected; i++)
			free(a->creds.protected_filters[i]);
		a->creds.nprotected = 0;
		ex = acl_topic_add_protected(ctx, &a->creds, why);
	}
	if (ex != EX_OK)
		goto out;
	rc = mqs_creds_to_json(&a->creds, &a->json);
	if (rc != MQS_OK) {
		ex = acl_fail(why, EX_SOFTWARE, "cannot build credentials: %s", mqs_strerror(rc));
		goto out;
	}
	snprintf(detail, ACL_DETAIL_MAX, "filter=%.300s for=%s key_ids=%s out=%.300s%s totp=%s",
	         a->filter, o->name, a->ids, o->out != NULL ? o->out : "stdout",
	         a->merged ? " (merged)" : "", a->full ? "yes" : "no");
out:
	return ex;
}

static int key_export(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"for", required_argument, NULL, 'F'},
	                                     {"out", required_argument, NULL, 'o'},
	                                     {"keys-only", no_argument, NULL, 'K'},
	                                     {"with-totp", no_argument, NULL, 'T'},
	                                     {NULL, 0, NULL, 0}};
	static const char args[] = "TOPICFILTER --for NAME [--out FILE] [--keys-only]";
	struct export_opts o;
	struct export_arg a;
	char *why = o.why;
	int rc;
	int ex;

	memset(&o, 0, sizeof(o));
	memset(&a, 0, sizeof(a));
	mqs_creds_init(&a.creds);
	a.o = &o;
	ex = filter_operand(ctx, argc, argv, "key export", args, opts, export_opt, &o, why,
	                    &a.filter);
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
	a.full = !o.keys_only;
	ex = acl_name_check(o.name, "device", why);
	if (ex == EX_OK && o.out != NULL)
		ex = out_dir_ok(o.out, why);
	if (ex != EX_OK) {
		acl_err("%s", why);
		goto out;
	}
	ex = acl_tx_run(ctx, "key export", export_change, &a);
	if (ex != EX_OK)
		goto out;

	if (a.full)
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
			ex = acl_fail(why, EX_IOERR, "cannot write credentials to stdout");
			goto fail;
		}
		goto out;
	}
	rc = mqs_creds_save(o.out, &a.creds);
	if (rc != MQS_OK) {
		ex = acl_fail(why, EX_CANTCREAT, "cannot write credentials %s: %s", o.out,
		              mqs_strerror(rc));
		goto fail;
	}
	printf("%s %s of %s for %s %s %s\n", a.full ? "credentials with keys" : "keys", a.ids,
	       a.filter, o.name, a.merged ? "merged into" : "written to", o.out);
	goto out;
fail:
	acl_err("%s", why);
out:
	if (a.json != NULL)
		mqs_secret_free(a.json, strlen(a.json));
	mqs_creds_release(&a.creds);
	return ex;
}

/* ---- list ---- */

/* key list [TOPICFILTER]: ?1 = the filter (NULL = every topic key). */
static void list_bind(const struct acl_ctx *ctx, sqlite3_stmt *st, void *arg)
{
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
}

static int list_row(const struct acl_ctx *ctx, sqlite3_stmt *st, cJSON *rows, void *arg)
{
	cJSON *row;
	char created[32];
	char until[32];
	const char *state;
	long long retire_after;

	row = cJSON_CreateObject();
	if (row == NULL)
		return 0;
	cJSON_AddItemToArray(rows, row);
	retire_after = sqlite3_column_int64(st, 4);
	state = (const char *)sqlite3_column_text(st, 2);
	if (state != NULL && strcmp(state, "active") == 0) {
		state = "active";
		snprintf(until, sizeof(until), "-");
	} else {
		state = retire_after >= (long long)ctx->now ? "grace" : "dead";
		acl_time_iso(retire_after, until, sizeof(until));
	}
	acl_time_iso(sqlite3_column_int64(st, 3), created, sizeof(created));
	return acl_json_num(row, "id", sqlite3_column_int64(st, 0)) &&
	       acl_json_str(row, "filter", (const char *)sqlite3_column_text(st, 1)) &&
	       acl_json_str(row, "state", state) &&
	       acl_json_num(row, "created_at", sqlite3_column_int64(st, 3)) &&
	       acl_json_str(row, "created", created) &&
	       acl_json_num(row, "retire_after", retire_after) && acl_json_str(row, "until", until);
}

static int key_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"id", "ID"},
	                                         {"filter", "FILTER"},
	                                         {"state", "STATE"},
	                                         {"created", "CREATED"},
	                                         {"until", "UNTIL"}};
	char *filter = NULL;
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
	ex = acl_list_rows(ctx,
	                   "SELECT id, owner, state, created_at, retire_after FROM keys "
	                   "WHERE purpose = 'topic' AND (?1 IS NULL OR owner = ?1) "
	                   "ORDER BY owner, id",
	                   list_bind, list_row, filter, "topic keys", cols,
	                   sizeof(cols) / sizeof(cols[0]));
out:
	return ex;
}

static const struct acl_cmd key_cmds[] = {
    {"rotate", "TOPICFILTER [--grace SECONDS]",
     "new active topic key; the old one stays usable for the grace period", key_rotate},
    {"export", "TOPICFILTER --for NAME [--out FILE] [--keys-only]",
     "a device's credentials with the topic's keys, if it may read the topic", key_export},
    {"list", "[TOPICFILTER] [--json]", "topic keys: id, state, grace end (never key bytes)",
     key_list},
};

/* key SUBCOMMAND ... */
int acl_cmd_key(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "key", key_cmds, sizeof(key_cmds) / sizeof(key_cmds[0]), argc,
	                    argv);
}
