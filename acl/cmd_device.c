/* cmd_device.c - mqttsec-acl device add|list|rm|disable|enable|qr.
 *
 * A device is a row of devices (TOTP parameters, the TOTP secret wrapped
 * under the master key with AAD mqs_totp_wrap_aad(), "mqttsec-totp:<name>")
 * plus a device key in the key store.  add prints or writes the
 * credentials JSON (docs/acl.md, "Devices") once, with the protected topic filters
 * ("protected", so the device knows where to seal); qr shows the
 * otpauth:// URI (and a QR code on a terminal).  These two (and key
 * export) are the only outputs that carry a secret; all are audited
 * without it.  rm also removes the device's keys, group memberships, ACL
 * rules and the list entries naming it as username, so a later device of
 * the same name inherits nothing.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <qrencode.h>

#include "acl.h"
#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_keystore.h"
#include "mqs_master_key.h"
#include "mqs_totp.h"
#include "mqs_util.h"

#define QR_QUIET 4 /* quiet zone, modules */

/* ---- add ---- */

struct add_opts {
	struct mqs_totp_params p;
	const char *out;
	int force;
	char why[ACL_WHY_MAX];
};

static int add_opt(int opt, const char *arg, void *data)
{
	struct add_opts *o = data;
	long long v = 0;
	int ex = EX_OK;

	switch (opt) {
	case 'D':
		ex = acl_int_parse(arg, 6, 8, "digits", &v, o->why);
		if (ex == EX_OK && v != 6 && v != 8)
			ex = acl_fail(o->why, EX_DATAERR, "invalid digits %s: use 6 or 8", arg);
		o->p.digits = (unsigned)v;
		break;
	case 'P':
		ex = acl_int_parse(arg, 1, 3600, "period", &v, o->why);
		o->p.period = (unsigned)v;
		break;
	case 'A':
		if (mqs_totp_alg_parse(arg, &o->p.algorithm) != MQS_OK)
			ex = acl_fail(o->why, EX_DATAERR,
			              "invalid algorithm: use SHA1, SHA256 or SHA512");
		break;
	case 'o':
		o->out = arg;
		break;
	case 'f':
		o->force = 1;
		break;
	}
	if (ex != EX_OK)
		acl_err("%s", o->why);
	return ex;
}

/* Write the credentials JSON to o->out or stdout. */
static int add_write_creds(const struct add_opts *o, char *json, char *why)
{
	size_t len = strlen(json);
	int rc;
	int ex = EX_OK;

	if (o->out == NULL) {
		if (fwrite(json, 1, len, stdout) != len || fputc('\n', stdout) == EOF ||
		    fflush(stdout) != 0)
			ex = acl_fail(why, EX_IOERR, "cannot write credentials to stdout");
		goto out;
	}
	/* json comes from cJSON_Print: its NUL becomes the file's final newline */
	json[len] = '\n';
	rc = mqs_file_write_secret(o->out, json, len + 1, !o->force);
	json[len] = '\0';
	if (rc == MQS_ERR_EXISTS)
		ex = acl_fail(why, EX_CANTCREAT,
		              "cannot write credentials %s: file exists (use --force)", o->out);
	else if (rc != MQS_OK)
		ex = acl_fail(why, EX_CANTCREAT, "cannot write credentials %s: %s", o->out,
		              mqs_strerror(rc));
out:
	return ex;
}

/* device add: the device's secrets while its rows are written. */
struct add_arg {
	const struct add_opts *o;
	const char *name;
	const uint8_t *secret; /* raw TOTP secret, MQS_TOTP_SECRET_LEN bytes */
	const uint8_t *wrapped;
	size_t wrapped_len;
	struct mqs_creds creds;
	struct mqs_key key;
	char *json;
	int wrote; /* o->out was written: remove it unless committed */
};

static int add_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct add_arg *a = data;
	const struct add_opts *o = a->o;
	sqlite3_stmt *st = NULL;
	uint64_t generation = 0;
	int rc;
	int ex;

	rc = acl_device_exists(ctx, a->name);
	if (rc != 0) {
		ex = rc < 0 ? acl_db_fail(ctx, why, "read devices")
		            : acl_fail(why, EX_DATAERR, "device %s exists", a->name);
		goto out;
	}
	ex = acl_prepare(ctx,
	                 "INSERT INTO devices (name, enabled, digits, period, algorithm, "
	                 "totp_wrapped, last_step, created_at, generation) VALUES (?1, 1, ?2, "
	                 "?3, ?4, ?5, -1, ?6, ?7)",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	/* a new identity: clients of an earlier device of this name are
	 * disconnected by the plugin (docs/broker-plugin.md, "Identity") */
	if (RAND_bytes((unsigned char *)&generation, sizeof(generation)) != 1) {
		ex = acl_fail(why, EX_SOFTWARE, "cannot draw a random generation");
		goto out;
	}
	generation = (generation & INT64_MAX) | 1;
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)o->p.digits);
	sqlite3_bind_int(st, 3, (int)o->p.period);
	sqlite3_bind_text(st, 4, mqs_totp_alg_name(o->p.algorithm), -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, a->wrapped, (int)a->wrapped_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)ctx->now);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)generation);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "add device");
		goto out;
	}
	rc = mqs_keystore_create(ctx->db, ctx->mk, MQS_KEY_DEVICE, a->name, &a->key);
	if (rc != MQS_OK) {
		ex = rc == MQS_ERR_DB ? acl_db_fail(ctx, why, "create device key")
		                      : acl_fail(why, EX_SOFTWARE, "cannot create device key: %s",
		                                 mqs_strerror(rc));
		goto out;
	}

	a->creds.has_totp = 1;
	a->creds.totp = o->p;
	memcpy(a->creds.totp_secret, a->secret, MQS_TOTP_SECRET_LEN);
	a->creds.totp_secret_len = MQS_TOTP_SECRET_LEN;
	rc = mqs_creds_set_username(&a->creds, a->name);
	if (rc == MQS_OK)
		rc =
		    mqs_creds_add_key(&a->creds, a->key.id, MQS_CREDS_USE_DEVICE, NULL, a->key.key);
	if (rc != MQS_OK) {
		ex = acl_fail(why, EX_SOFTWARE, "cannot build credentials: %s", mqs_strerror(rc));
		goto out;
	}
	/* "protected": the device seals its payloads on these topics */
	ex = acl_topic_add_protected(ctx, &a->creds, why);
	if (ex != EX_OK)
		goto out;
	rc = mqs_creds_to_json(&a->creds, &a->json);
	if (rc != MQS_OK) {
		ex = acl_fail(why, EX_SOFTWARE, "cannot build credentials: %s", mqs_strerror(rc));
		goto out;
	}
	/* written before the commit: a device whose credentials cannot be
	 * delivered is not added */
	ex = add_write_creds(o, a->json, why);
	if (ex != EX_OK)
		goto out;
	a->wrote = o->out != NULL;
	snprintf(detail, ACL_DETAIL_MAX, "name=%s digits=%u period=%u algorithm=%s key=%lu",
	         a->name, o->p.digits, o->p.period, mqs_totp_alg_name(o->p.algorithm),
	         (unsigned long)a->key.id);
out:
	sqlite3_finalize(st);
	return ex;
}

static int device_add(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"digits", required_argument, NULL, 'D'},    {"period", required_argument, NULL, 'P'},
	    {"algorithm", required_argument, NULL, 'A'}, {"out", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},           {NULL, 0, NULL, 0}};
	struct add_opts o;
	struct add_arg a;
	uint8_t secret[MQS_TOTP_SECRET_LEN];
	uint8_t wrapped[MQS_TOTP_SECRET_LEN + MQS_WRAP_OVERHEAD];
	char aad[MQS_TOTP_AAD_MAX];
	char *why = o.why;
	int first;
	int rc;
	int ex;

	memset(&o, 0, sizeof(o));
	memset(&a, 0, sizeof(a));
	mqs_totp_params_default(&o.p);
	mqs_creds_init(&a.creds);
	mqs_key_init(&a.key);
	ex = acl_parse_opts(ctx, argc, argv, "device add",
	                    "NAME [--digits 6|8] [--period S] [--algorithm SHA1|SHA256|SHA512] "
	                    "[--out FILE [--force]]",
	                    0, opts, add_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	a.o = &o;
	a.name = argv[first];
	a.secret = secret;
	a.wrapped = wrapped;
	ex = acl_name_check(a.name, "device", why);
	if (ex != EX_OK)
		goto fail;
	if (o.force && o.out == NULL) {
		ex = acl_fail(why, EX_USAGE, "device add: --force needs --out FILE");
		goto fail;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
	if (ex != EX_OK)
		goto out;

	if (RAND_bytes(secret, sizeof(secret)) != 1) {
		ex = acl_fail(why, EX_SOFTWARE, "cannot draw a random totp secret");
		goto fail;
	}
	rc = mqs_totp_wrap_aad(aad, sizeof(aad), a.name);
	if (rc == MQS_OK)
		rc = mqs_wrap_seal(ctx->mk, aad, secret, sizeof(secret), wrapped, sizeof(wrapped),
		                   &a.wrapped_len);
	if (rc != MQS_OK) {
		ex = acl_fail(why, EX_SOFTWARE, "cannot wrap totp secret: %s", mqs_strerror(rc));
		goto fail;
	}
	ex = acl_tx_run(ctx, "device add", add_change, &a);
	if (ex != EX_OK) {
		if (a.wrote)
			unlink(o.out); /* the device was not committed: its credentials are void */
		goto out;
	}
	if (o.out != NULL)
		printf("device %s added, credentials written to %s\n", a.name, o.out);
	else
		fprintf(stderr, "device %s added\n", a.name);
	goto out;
fail:
	acl_err("%s", why);
out:
	if (a.json != NULL)
		mqs_secret_free(a.json, strlen(a.json));
	mqs_creds_release(&a.creds);
	mqs_key_release(&a.key);
	OPENSSL_cleanse(secret, sizeof(secret));
	return ex;
}

/* ---- list ---- */

static int list_row(const struct acl_ctx *ctx, sqlite3_stmt *st, cJSON *rows, void *arg)
{
	cJSON *row;
	cJSON *groups;
	char iso[32];
	const char *g;
	long long step;
	long long period;

	row = cJSON_CreateObject();
	if (row == NULL)
		return 0;
	cJSON_AddItemToArray(rows, row);
	step = sqlite3_column_int64(st, 6);
	period = sqlite3_column_int64(st, 3);
	acl_time_iso(sqlite3_column_int64(st, 5), iso, sizeof(iso));
	if (!acl_json_str(row, "name", (const char *)sqlite3_column_text(st, 0)) ||
	    !acl_json_bool(row, "enabled", sqlite3_column_int(st, 1)) ||
	    !acl_json_num(row, "digits", sqlite3_column_int64(st, 2)) ||
	    !acl_json_num(row, "period", period) ||
	    !acl_json_str(row, "algorithm", (const char *)sqlite3_column_text(st, 4)) ||
	    !acl_json_num(row, "created_at", sqlite3_column_int64(st, 5)) ||
	    !acl_json_str(row, "created", iso))
		return 0;
	if (step >= 0)
		acl_time_iso(step * period, iso, sizeof(iso));
	else
		snprintf(iso, sizeof(iso), "never");
	if (!acl_json_str(row, "last_auth", iso))
		return 0;
	groups = cJSON_AddArrayToObject(row, "groups");
	if (groups == NULL)
		return 0;
	g = (const char *)sqlite3_column_text(st, 7);
	while (g != NULL && *g != '\0') {
		const char *comma = strchr(g, ',');
		size_t n = comma != NULL ? (size_t)(comma - g) : strlen(g);
		char buf[ACL_NAME_MAX + 1];
		cJSON *s;

		snprintf(buf, sizeof(buf), "%.*s", (int)(n < ACL_NAME_MAX ? n : ACL_NAME_MAX), g);
		s = cJSON_CreateString(buf);
		if (s == NULL)
			return 0;
		cJSON_AddItemToArray(groups, s);
		g += n + (comma != NULL);
	}
	return 1;
}

static int device_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"name", "NAME"},           {"enabled", "ENABLED"},
	                                         {"digits", "DIGITS"},       {"period", "PERIOD"},
	                                         {"algorithm", "ALG"},       {"created", "CREATED"},
	                                         {"last_auth", "LAST_AUTH"}, {"groups", "GROUPS"}};
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "device list", "[--json]", 1, NULL, NULL, NULL, 0, 0,
	                    &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_list_rows(
		    ctx,
		    "SELECT d.name, d.enabled, d.digits, d.period, d.algorithm, d.created_at, "
		    "d.last_step, (SELECT group_concat(grp, ',') FROM (SELECT grp FROM "
		    "group_members WHERE member = d.name ORDER BY grp)) FROM devices d "
		    "ORDER BY d.name",
		    NULL, list_row, NULL, "devices", cols, sizeof(cols) / sizeof(cols[0]));
	return ex;
}

/* ---- rm ---- */

/* Parse "device VERB NAME" and open the db. */
static int name_operand(struct acl_ctx *ctx, int argc, char **argv, const char *words,
                        const char **name)
{
	char why[ACL_WHY_MAX];
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, words, "NAME", 0, NULL, NULL, NULL, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	*name = argv[first];
	ex = acl_name_check(*name, "device", why);
	if (ex != EX_OK) {
		acl_err("%s", why);
		goto out;
	}
	ex = acl_ctx_db(ctx);
out:
	return ex;
}

/* device rm: the device and how many rows went with it. */
struct rm_arg {
	const char *name;
	int ngroups;
	int nrules;
	int nentries;
	int nclientids;
};

static int rm_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct rm_arg *a = data;
	int ndev = 0;
	int rc;
	int ex;

	ex = acl_exec_text(ctx, "DELETE FROM devices WHERE name = ?1", a->name, NULL, &ndev, why);
	if (ex != EX_OK)
		goto out;
	if (ndev == 0) {
		ex = acl_fail(why, EX_DATAERR, "unknown device %s", a->name);
		goto out;
	}
	rc = mqs_keystore_delete_owner(ctx->db, MQS_KEY_DEVICE, a->name);
	if (rc != MQS_OK) {
		ex = acl_db_fail(ctx, why, "delete device keys");
		goto out;
	}
	ex = acl_exec_text(ctx, "DELETE FROM group_members WHERE member = ?1", a->name, NULL,
	                   &a->ngroups, why);
	if (ex == EX_OK)
		ex = acl_exec_text(ctx, "DELETE FROM acl_rules WHERE subject = ?1", a->name, NULL,
		                   &a->nrules, why);
	/* a device enrolled later under the same name must not inherit them */
	if (ex == EX_OK)
		ex = acl_exec_text(
		    ctx, "DELETE FROM list_entries WHERE match = 'username' AND pattern = ?1",
		    a->name, NULL, &a->nentries, why);
	/* its client ids are free again (docs/broker-plugin.md, "Client ids") */
	if (ex == EX_OK)
		ex = acl_clientid_release(ctx, NULL, a->name, &a->nclientids, why);
	if (ex == EX_OK)
		snprintf(detail, ACL_DETAIL_MAX,
		         "name=%s groups=%d rules=%d list_entries=%d clientids=%d", a->name,
		         a->ngroups, a->nrules, a->nentries, a->nclientids);
out:
	return ex;
}

static int device_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	struct rm_arg a = {NULL, 0, 0, 0, 0};
	int ex;

	ex = name_operand(ctx, argc, argv, "device rm", &a.name);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "device rm", rm_change, &a);
	if (ex == EX_OK)
		printf("device %s removed (%d group memberships, %d acl rules, %d list entries)\n",
		       a.name, a.ngroups, a.nrules, a.nentries);
	return ex;
}

/* ---- disable / enable ---- */

/* device enable|disable: the device and the new state. */
struct enable_arg {
	const char *name;
	int enabled;
};

/* Set enabled; already in that state: ACL_TX_SKIP. */
static int enable_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	const struct enable_arg *a = data;
	sqlite3_stmt *st = NULL;
	int rc;
	int ex;

	ex = acl_prepare(ctx, "UPDATE devices SET enabled = ?2 WHERE name = ?1 AND enabled != ?2",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, a->enabled);
	if (sqlite3_step(st) != SQLITE_DONE) {
		ex = acl_db_fail(ctx, why, "update device");
		goto out;
	}
	if (sqlite3_changes(ctx->db) == 0) {
		rc = acl_device_exists(ctx, a->name);
		if (rc == 1)
			ex = ACL_TX_SKIP;
		else
			ex = rc < 0 ? acl_db_fail(ctx, why, "read devices")
			            : acl_fail(why, EX_DATAERR, "unknown device %s", a->name);
		goto out;
	}
	snprintf(detail, ACL_DETAIL_MAX, "name=%s", a->name);
out:
	sqlite3_finalize(st);
	return ex;
}

static int device_set_enabled(struct acl_ctx *ctx, int argc, char **argv, int enabled)
{
	const char *words = enabled ? "device enable" : "device disable";
	const char *state = enabled ? "enabled" : "disabled";
	struct enable_arg a = {NULL, enabled};
	int ex;

	ex = name_operand(ctx, argc, argv, words, &a.name);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, words, enable_change, &a);
	if (ex == ACL_TX_SKIP) {
		printf("device %s is already %s\n", a.name, state);
		ex = EX_OK;
	} else if (ex == EX_OK) {
		printf("device %s %s\n", a.name, state);
	}
	return ex;
}

static int device_disable(struct acl_ctx *ctx, int argc, char **argv)
{
	return device_set_enabled(ctx, argc, argv, 0);
}

static int device_enable(struct acl_ctx *ctx, int argc, char **argv)
{
	return device_set_enabled(ctx, argc, argv, 1);
}

/* ---- qr ---- */

struct qr_opts {
	int draw; /* -1 = when stdout is a terminal, 0 = never, 1 = always */
	int invert;
};

static int qr_opt(int opt, const char *arg, void *data)
{
	struct qr_opts *o = data;

	if (opt == 'q')
		o->draw = 1;
	else if (opt == 'n')
		o->draw = 0;
	else if (opt == 'i')
		o->invert = 1;
	return EX_OK;
}

/* Is module (x, y) of a symbol with a quiet zone drawn as a block?  By
 * default light modules are drawn (light text on a dark terminal); with
 * invert the dark ones.  Outside the symbol and its quiet zone: never. */
static int qr_block(const QRcode *qr, int x, int y, int invert)
{
	int size = qr->width + 2 * QR_QUIET;
	int dark;

	if (x < 0 || y < 0 || x >= size || y >= size)
		return 0;
	x -= QR_QUIET;
	y -= QR_QUIET;
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		dark = 0;
	else
		dark = qr->data[y * qr->width + x] & 1;
	return invert ? dark : !dark;
}

/* Draw qr with UTF-8 half blocks, two module rows per line. */
static int qr_draw(const QRcode *qr, int invert)
{
	static const char *const glyph[4] = {" ", "\u2584", "\u2580", "\u2588"};
	int size = qr->width + 2 * QR_QUIET;

	for (int y = 0; y < size; y += 2) {
		for (int x = 0; x < size; x++) {
			int top = qr_block(qr, x, y, invert);
			int bottom = qr_block(qr, x, y + 1, invert);

			fputs(glyph[top * 2 + bottom], stdout);
		}
		fputc('\n', stdout);
	}
	return ferror(stdout) ? EX_IOERR : EX_OK;
}

/* device qr: the device and its otpauth:// URI (a secret). */
struct qr_arg {
	const char *name;
	char *uri;
};

/* Read and unwrap the TOTP secret, build the URI; audited before it is
 * shown, so showing a secret is always on record. */
static int qr_change(struct acl_ctx *ctx, void *data, char *detail, char *why)
{
	struct qr_arg *a = data;
	struct mqs_totp_params p;
	uint8_t secret[MQS_TOTP_SECRET_MAX];
	size_t secret_len = 0;
	char aad[MQS_TOTP_AAD_MAX];
	sqlite3_stmt *st = NULL;
	int rc;
	int ex;

	ex = acl_prepare(ctx,
	                 "SELECT digits, period, algorithm, totp_wrapped FROM devices "
	                 "WHERE name = ?1",
	                 &st, why);
	if (ex != EX_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		ex = rc == SQLITE_DONE ? acl_fail(why, EX_DATAERR, "unknown device %s", a->name)
		                       : acl_db_fail(ctx, why, "read device");
		goto out;
	}
	p.digits = (unsigned)sqlite3_column_int(st, 0);
	p.period = (unsigned)sqlite3_column_int(st, 1);
	if (mqs_totp_alg_parse((const char *)sqlite3_column_text(st, 2), &p.algorithm) != MQS_OK) {
		ex = acl_fail(why, EX_DATAERR, "device %s has an unknown algorithm", a->name);
		goto out;
	}
	rc = mqs_totp_wrap_aad(aad, sizeof(aad), a->name);
	if (rc == MQS_OK)
		rc = mqs_wrap_open(ctx->mk, aad, sqlite3_column_blob(st, 3),
		                   (size_t)sqlite3_column_bytes(st, 3), secret, sizeof(secret),
		                   &secret_len);
	if (rc != MQS_OK) {
		ex =
		    acl_fail(why, EX_DATAERR,
		             "cannot unwrap the totp secret of %s: wrong master key or damaged row",
		             a->name);
		goto out;
	}
	rc = mqs_totp_uri("mqttsec", a->name, secret, secret_len, &p, &a->uri);
	if (rc != MQS_OK) {
		ex = acl_fail(why, EX_SOFTWARE, "cannot build otpauth uri: %s", mqs_strerror(rc));
		goto out;
	}
	snprintf(detail, ACL_DETAIL_MAX, "name=%s", a->name);
out:
	sqlite3_finalize(st);
	OPENSSL_cleanse(secret, sizeof(secret));
	return ex;
}

static int device_qr(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"qr", no_argument, NULL, 'q'},
	                                     {"no-qr", no_argument, NULL, 'n'},
	                                     {"invert", no_argument, NULL, 'i'},
	                                     {NULL, 0, NULL, 0}};
	struct qr_opts o = {-1, 0};
	struct qr_arg a = {NULL, NULL};
	char why[ACL_WHY_MAX] = "";
	QRcode *qr = NULL;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "device qr", "NAME [--qr|--no-qr] [--invert]", 0, opts,
	                    qr_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	a.name = argv[first];
	ex = acl_name_check(a.name, "device", why);
	if (ex != EX_OK)
		goto fail;
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
	if (ex == EX_OK)
		ex = acl_tx_run(ctx, "device qr", qr_change, &a);
	if (ex != EX_OK)
		goto out;

	fprintf(stderr,
	        ACL_PROG ": warning: this shows the totp secret of %s; anyone who sees it can "
	                 "log in as %s\n",
	        a.name, a.name);
	if (o.draw == 1 || (o.draw == -1 && isatty(STDOUT_FILENO))) {
		qr = QRcode_encodeString8bit(a.uri, 0, QR_ECLEVEL_M);
		if (qr == NULL) {
			ex = acl_fail(why, EX_SOFTWARE, "cannot encode qr code");
			goto fail;
		}
		ex = qr_draw(qr, o.invert);
		if (ex != EX_OK) {
			acl_fail(why, ex, "cannot write to stdout");
			goto fail;
		}
	}
	if (printf("%s\n", a.uri) < 0) {
		ex = acl_fail(why, EX_IOERR, "cannot write to stdout");
		goto fail;
	}
	goto out;
fail:
	acl_err("%s", why);
out:
	if (qr != NULL) {
		OPENSSL_cleanse(qr->data, (size_t)qr->width * (size_t)qr->width);
		QRcode_free(qr);
	}
	if (a.uri != NULL)
		mqs_secret_free(a.uri, strlen(a.uri));
	return ex;
}

static const struct acl_cmd device_cmds[] = {
    {"add",
     "NAME [--digits 6|8] [--period S] [--algorithm SHA1|SHA256|SHA512] [--out FILE "
     "[--force]]",
     "enrol a device; print or write its credentials", device_add},
    {"list", "[--json]", "list devices (never secrets)", device_list},
    {"rm", "NAME", "remove a device, its keys, memberships, rules and list entries", device_rm},
    {"disable", "NAME", "refuse a device's logins", device_disable},
    {"enable", "NAME", "accept a device's logins again", device_enable},
    {"qr", "NAME [--qr|--no-qr] [--invert]", "show the otpauth:// uri (and a qr code)", device_qr},
};

/* device SUBCOMMAND ... */
int acl_cmd_device(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "device", device_cmds,
	                    sizeof(device_cmds) / sizeof(device_cmds[0]), argc, argv);
}
