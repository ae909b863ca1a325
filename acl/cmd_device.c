/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_device.c - mqttsec-acl device add|list|rm|disable|enable|qr
 * (admin/devices.c, mqsa_device_*).
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

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <qrencode.h>

#include "acl.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_totp.h"
#include "mqs_util.h"

#define QR_QUIET 4 /* quiet zone, modules */

/* ---- add ---- */

struct add_opts {
	const struct acl_ctx *ctx;
	struct mqs_totp_params p;
	const char *out;
	int force;
	char why[ACL_WHY_MAX];
};

static int add_opt(int opt, const char *arg, void *data)
{
	struct add_opts *o = data;
	long long v = 0;
	enum mqs_err rc = MQS_OK;

	switch (opt) {
	case 'D':
		rc = mqsa_int_parse(arg, 6, 8, "digits", &v, o->why);
		if (rc == MQS_OK && v != 6 && v != 8) {
			snprintf(o->why, ACL_WHY_MAX, "invalid digits %s: use 6 or 8", arg);
			rc = MQS_ERR_INVAL;
		}
		o->p.digits = (unsigned)v;
		break;
	case 'P':
		rc = mqsa_int_parse(arg, 1, 3600, "period", &v, o->why);
		o->p.period = (unsigned)v;
		break;
	case 'A':
		if (mqs_totp_alg_parse(arg, &o->p.algorithm) != MQS_OK) {
			snprintf(o->why, ACL_WHY_MAX,
			         "invalid algorithm: use SHA1, SHA256 or SHA512");
			rc = MQS_ERR_INVAL;
		}
		break;
	case 'o':
		o->out = arg;
		break;
	case 'f':
		o->force = 1;
		break;
	}
	return acl_report(o->ctx, rc, o->why);
}

/* device add: where the credentials go and what writing them did. */
struct deliver_arg {
	const struct add_opts *o;
	int ex;            /* the exit code of a failed delivery */
	int wrote;         /* staged was written: renamed over o->out once committed */
	char staged[4096]; /* o->out + ".PID.new": two runs never share it */
};

/* Write the credentials JSON to o->out or stdout (mqsa_deliver). */
static enum mqs_err deliver(const char *json, void *arg, char *why)
{
	struct deliver_arg *d = arg;
	const struct add_opts *o = d->o;
	size_t len = strlen(json);
	char *line = NULL;
	int rc;

	if (o->out == NULL) {
		if (fwrite(json, 1, len, stdout) != len || fputc('\n', stdout) == EOF ||
		    fflush(stdout) != 0) {
			snprintf(why, ACL_WHY_MAX, "cannot write credentials to stdout");
			d->ex = EX_IOERR;
		}
		goto out;
	}
	/* the file ends in a newline */
	line = mqs_malloc(len + 1);
	if (line == NULL) {
		rc = MQS_ERR_NOMEM;
	} else {
		memcpy(line, json, len);
		line[len] = '\n';
		/* written beside o->out and renamed over it only after the commit, so
		 * a failed change leaves the credentials file the database still
		 * honours (device rekey --out OLD --force) */
		if (!o->force && access(o->out, F_OK) == 0)
			rc = MQS_ERR_EXISTS;
		else if ((size_t)snprintf(d->staged, sizeof(d->staged), "%s.%ld.new", o->out,
		                          (long)getpid()) >= sizeof(d->staged))
			rc = MQS_ERR_TOOBIG;
		else
			rc = mqs_file_write_secret(d->staged, line, len + 1, 0);
	}
	if (rc == MQS_ERR_EXISTS)
		snprintf(why, ACL_WHY_MAX, "cannot write credentials %s: file exists (use --force)",
		         o->out);
	else if (rc != MQS_OK)
		snprintf(why, ACL_WHY_MAX, "cannot write credentials %s: %s", o->out,
		         mqs_strerror(rc));
	if (rc != MQS_OK)
		d->ex = EX_CANTCREAT;
	d->wrote = rc == MQS_OK;
out:
	if (line != NULL)
		mqs_secret_free(line, len + 1);
	return d->ex != EX_OK ? MQS_ERR_IO : MQS_OK;
}

/* After the change: rename the staged credentials over o->out when
 * committed, else remove them.  Returns EX_OK or EX_CANTCREAT. */
static int deliver_finish(struct deliver_arg *d, int committed)
{
	if (!d->wrote)
		return EX_OK;
	if (!committed) {
		unlink(d->staged); /* not committed: these credentials are void */
		return EX_OK;
	}
	/* without --force never replace a file that appeared meanwhile: link()
	 * refuses an existing name, rename() does not */
	if (d->o->force ? rename(d->staged, d->o->out) != 0
	                : link(d->staged, d->o->out) != 0 || unlink(d->staged) != 0) {
		acl_err("cannot write credentials %s: %s (the new credentials are in %s)",
		        d->o->out, strerror(errno), d->staged);
		return EX_CANTCREAT;
	}
	return EX_OK;
}

/* The exit code of a change that delivered credentials through d: puts
 * them in place or removes them (deliver_finish), reports a failure. */
static int change_result(struct acl_ctx *ctx, struct deliver_arg *d, enum mqs_err rc,
                         const char *why)
{
	int ex = deliver_finish(d, rc == MQS_OK);

	if (rc != MQS_OK) {
		ex = acl_report(ctx, rc, why);
		if (d->ex != EX_OK)
			ex = d->ex;
	}
	return ex;
}

/* device add NAME [options] */
static int device_add(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"digits", required_argument, NULL, 'D'},    {"period", required_argument, NULL, 'P'},
	    {"algorithm", required_argument, NULL, 'A'}, {"out", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},           {NULL, 0, NULL, 0}};
	struct add_opts o;
	struct deliver_arg d;
	struct mqsa_deliver dl = {deliver, &d};
	const char *name;
	char *why = o.why;
	enum mqs_err rc;
	int first;
	int ex;

	memset(&o, 0, sizeof(o));
	memset(&d, 0, sizeof(d));
	o.ctx = ctx;
	d.o = &o;
	mqs_totp_params_default(&o.p);
	ex = acl_parse_opts(ctx, argc, argv, "device add",
	                    "NAME [--digits 6|8] [--period S] [--algorithm SHA1|SHA256|SHA512] "
	                    "[--out FILE [--force]]",
	                    0, opts, add_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	name = argv[first];
	ex = acl_report(ctx, mqsa_name_check(name, "device", why), why);
	if (ex != EX_OK)
		goto out;
	if (o.force && o.out == NULL) {
		acl_err("device add: --force needs --out FILE");
		ex = EX_USAGE;
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
	if (ex != EX_OK)
		goto out;
	rc = mqsa_device_add(ctx->adm, name, &o.p, &dl, NULL, why);
	ex = change_result(ctx, &d, rc, why);
	if (ex != EX_OK)
		goto out;
	if (o.out != NULL)
		printf("device %s added, credentials written to %s\n", name, o.out);
	else
		fprintf(stderr, "device %s added\n", name);
out:
	return ex;
}

/* ---- rekey, retotp ---- */

/* device rekey / retotp options: --out and --force as device add. */
struct rekey_opts {
	struct add_opts a;
	long long grace;
};

/* --grace D, --out FILE, --force */
static int rekey_opt(int opt, const char *arg, void *data)
{
	struct rekey_opts *o = data;

	if (opt == 'g')
		return acl_report(o->a.ctx, mqsa_grace_parse(arg, &o->grace, o->a.why), o->a.why);
	return add_opt(opt, arg, &o->a);
}

/* device rekey NAME [--grace D] [--out FILE [--force]] and device retotp
 * NAME [--out FILE [--force]] (retotp: grace < 0). */
static int rekey_run(struct acl_ctx *ctx, int argc, char **argv, int retotp)
{
	static const struct option long_opts[] = {{"grace", required_argument, NULL, 'g'},
	                                          {"out", required_argument, NULL, 'o'},
	                                          {"force", no_argument, NULL, 'f'},
	                                          {NULL, 0, NULL, 0}};
	const char *words = retotp ? "device retotp" : "device rekey";
	struct mqsa_device_rekeyed r;
	struct rekey_opts o;
	struct deliver_arg d;
	struct mqsa_deliver dl = {deliver, &d};
	const char *name;
	char *why = o.a.why;
	char iso[32];
	enum mqs_err rc;
	int first;
	int ex;

	memset(&o, 0, sizeof(o));
	memset(&d, 0, sizeof(d));
	memset(&r, 0, sizeof(r));
	o.a.ctx = ctx;
	o.grace = MQSA_GRACE_DEFAULT;
	d.o = &o.a;
	ex = acl_parse_opts(ctx, argc, argv, words,
	                    retotp ? "NAME [--out FILE [--force]]"
	                           : "NAME [--grace D] [--out FILE [--force]]",
	                    0, retotp ? long_opts + 1 : long_opts, rekey_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	name = argv[first];
	ex = acl_report(ctx, mqsa_name_check(name, "device", why), why);
	if (ex != EX_OK)
		goto out;
	if (o.a.force && o.a.out == NULL) {
		acl_err("%s: --force needs --out FILE", words);
		ex = EX_USAGE;
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
	if (ex != EX_OK)
		goto out;
	rc = retotp ? mqsa_device_retotp(ctx->adm, name, &dl, &r, why)
	            : mqsa_device_rekey(ctx->adm, name, o.grace, &dl, &r, why);
	ex = change_result(ctx, &d, rc, why);
	if (ex != EX_OK)
		goto out;
	/* stdout may hold the credentials: the report goes to stderr then */
	acl_time_iso(r.usable_until, iso, sizeof(iso));
	if (retotp)
		fprintf(o.a.out != NULL ? stdout : stderr, "device %s has a new totp secret\n",
		        name);
	else if (r.nretired > 0)
		fprintf(o.a.out != NULL ? stdout : stderr,
		        "device %s rekeyed: key %lu; old key%s %s open%s until %s (grace %lld s)\n",
		        name, (unsigned long)r.key_id, r.nretired == 1 ? "" : "s", r.retired,
		        r.nretired == 1 ? "s" : "", iso, o.grace);
	else
		fprintf(o.a.out != NULL ? stdout : stderr, "device %s rekeyed: key %lu\n", name,
		        (unsigned long)r.key_id);
	if (o.a.out != NULL)
		printf("credentials written to %s\n", o.a.out);
out:
	return ex;
}

/* device rekey NAME [--grace D] [--out FILE [--force]] */
static int device_rekey(struct acl_ctx *ctx, int argc, char **argv)
{
	return rekey_run(ctx, argc, argv, 0);
}

/* device retotp NAME [--out FILE [--force]] */
static int device_retotp(struct acl_ctx *ctx, int argc, char **argv)
{
	return rekey_run(ctx, argc, argv, 1);
}

/* ---- list ---- */

/* One listing row. */
static enum mqs_err list_row(const struct mqsa_device_info *dev, void *arg)
{
	cJSON *row;
	cJSON *groups;
	char iso[32];
	const char *g;

	row = cJSON_CreateObject();
	if (row == NULL)
		return MQS_ERR_NOMEM;
	cJSON_AddItemToArray(arg, row);
	acl_time_iso(dev->created_at, iso, sizeof(iso));
	if (!acl_json_str(row, "name", dev->name) || !acl_json_bool(row, "enabled", dev->enabled) ||
	    !acl_json_num(row, "digits", dev->digits) ||
	    !acl_json_num(row, "period", dev->period) ||
	    !acl_json_str(row, "algorithm", dev->algorithm) ||
	    !acl_json_num(row, "created_at", dev->created_at) || !acl_json_str(row, "created", iso))
		return MQS_ERR_NOMEM;
	if (dev->last_step >= 0)
		acl_time_iso(dev->last_step * dev->period, iso, sizeof(iso));
	else
		snprintf(iso, sizeof(iso), "never");
	if (!acl_json_str(row, "last_auth", iso))
		return MQS_ERR_NOMEM;
	groups = cJSON_AddArrayToObject(row, "groups");
	if (groups == NULL)
		return MQS_ERR_NOMEM;
	g = dev->groups;
	while (*g != '\0') {
		const char *comma = strchr(g, ',');
		size_t n = comma != NULL ? (size_t)(comma - g) : strlen(g);
		char buf[MQSA_NAME_MAX + 1];
		cJSON *s;

		snprintf(buf, sizeof(buf), "%.*s", (int)(n < MQSA_NAME_MAX ? n : MQSA_NAME_MAX), g);
		s = cJSON_CreateString(buf);
		if (s == NULL)
			return MQS_ERR_NOMEM;
		cJSON_AddItemToArray(groups, s);
		g += n + (comma != NULL);
	}
	return MQS_OK;
}

/* device list */
static int device_list(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct acl_column cols[] = {{"name", "NAME"},           {"enabled", "ENABLED"},
	                                         {"digits", "DIGITS"},       {"period", "PERIOD"},
	                                         {"algorithm", "ALG"},       {"created", "CREATED"},
	                                         {"last_auth", "LAST_AUTH"}, {"groups", "GROUPS"}};
	char why[ACL_WHY_MAX] = "";
	cJSON *rows = NULL;
	enum mqs_err rc;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "device list", "[--json]", 1, NULL, NULL, NULL, 0, 0,
	                    &first);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex != EX_OK)
		goto out;
	rows = cJSON_CreateArray();
	rc = rows == NULL ? acl_nomem(why, "devices")
	                  : mqsa_device_list(ctx->adm, list_row, rows, why);
	ex = acl_listed(ctx, rc, rows, why, cols, sizeof(cols) / sizeof(cols[0]));
out:
	cJSON_Delete(rows);
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
	ex = acl_report(ctx, mqsa_name_check(*name, "device", why), why);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
out:
	return ex;
}

/* device rm NAME */
static int device_rm(struct acl_ctx *ctx, int argc, char **argv)
{
	struct mqsa_device_removed r;
	char why[ACL_WHY_MAX] = "";
	const char *name = NULL;
	int ex;

	memset(&r, 0, sizeof(r));
	ex = name_operand(ctx, argc, argv, "device rm", &name);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_device_remove(ctx->adm, name, &r, why), why);
	if (ex == EX_OK)
		printf("device %s removed (%d group memberships, %d acl rules, %d list entries)\n",
		       name, r.groups, r.rules, r.list_entries);
	return ex;
}

/* ---- disable / enable ---- */

/* device enable|disable NAME */
static int device_set_enabled(struct acl_ctx *ctx, int argc, char **argv, int enabled)
{
	const char *words = enabled ? "device enable" : "device disable";
	const char *state = enabled ? "enabled" : "disabled";
	char why[ACL_WHY_MAX] = "";
	const char *name = NULL;
	int changed = 0;
	int ex;

	ex = name_operand(ctx, argc, argv, words, &name);
	if (ex == EX_OK)
		ex = acl_report(
		    ctx, mqsa_device_set_enabled(ctx->adm, name, enabled, &changed, why), why);
	if (ex == EX_OK && !changed)
		printf("device %s is already %s\n", name, state);
	else if (ex == EX_OK)
		printf("device %s %s\n", name, state);
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

/* device qr NAME [--qr|--no-qr] [--invert] */
static int device_qr(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"qr", no_argument, NULL, 'q'},
	                                     {"no-qr", no_argument, NULL, 'n'},
	                                     {"invert", no_argument, NULL, 'i'},
	                                     {NULL, 0, NULL, 0}};
	struct qr_opts o = {-1, 0};
	char why[ACL_WHY_MAX] = "";
	const char *name = NULL;
	char *uri = NULL;
	QRcode *qr = NULL;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "device qr", "NAME [--qr|--no-qr] [--invert]", 0, opts,
	                    qr_opt, &o, 1, 1, &first);
	if (ex != EX_OK)
		goto out;
	name = argv[first];
	ex = acl_report(ctx, mqsa_name_check(name, "device", why), why);
	if (ex == EX_OK)
		ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
	if (ex == EX_OK)
		ex = acl_report(ctx, mqsa_device_totp_uri(ctx->adm, name, &uri, why), why);
	if (ex != EX_OK)
		goto out;

	fprintf(stderr,
	        ACL_PROG ": warning: this shows the totp secret of %s; anyone who sees it can "
	                 "log in as %s\n",
	        name, name);
	if (o.draw == 1 || (o.draw == -1 && isatty(STDOUT_FILENO))) {
		qr = QRcode_encodeString8bit(uri, 0, QR_ECLEVEL_M);
		if (qr == NULL) {
			snprintf(why, ACL_WHY_MAX, "cannot encode qr code");
			ex = EX_SOFTWARE;
			goto fail;
		}
		ex = qr_draw(qr, o.invert);
		if (ex != EX_OK) {
			snprintf(why, ACL_WHY_MAX, "cannot write to stdout");
			goto fail;
		}
	}
	if (printf("%s\n", uri) < 0) {
		snprintf(why, ACL_WHY_MAX, "cannot write to stdout");
		ex = EX_IOERR;
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
	mqs_secret_free_str(uri);
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
    {"rekey", "NAME [--grace D] [--out FILE [--force]]",
     "new device key; the old one opens until the grace ends", device_rekey},
    {"retotp", "NAME [--out FILE [--force]]", "new totp secret", device_retotp},
};

/* device SUBCOMMAND ... */
int acl_cmd_device(struct acl_ctx *ctx, int argc, char **argv)
{
	return acl_dispatch(ctx, "device", device_cmds,
	                    sizeof(device_cmds) / sizeof(device_cmds[0]), argc, argv);
}
