/* SPDX-License-Identifier: BSD-3-Clause */
/* main.c - mqttsec-device: global options, credentials, command dispatch.
 *
 *   mqttsec-device [-c CREDS] [-K KEYFILE]... COMMAND [ARGS]
 *
 * The credentials file comes from -c or $MQTTSEC_CREDS; every -K KEYFILE
 * (e.g. a record key exported by the gateway) adds its keys.  Commands are in
 * the table below, one file per command group.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "device.h"
#include "mqs_error.h"

struct dev_cmd {
	const char *name;
	const char *args; /* usage after the command name */
	const char *help;
	int (*fn)(struct dev_ctx *ctx, int argc, char **argv);
};

static const struct dev_cmd dev_cmds[] = {
    {"totp", "", "print the current one-time code", dev_cmd_totp},
    {"token", "[-i CLIENTID]", "print a one-time connect token", dev_cmd_token},
    {"seal", "TOPIC < plain > envelope", "seal stdin for TOPIC with the device key", dev_cmd_seal},
    {"open", "TOPIC < envelope > plain", "open an envelope for TOPIC (origin on stderr)",
     dev_cmd_open},
    {"publish",
     "[-h HOST] [-p PORT] -t TOPIC (-m MSG | -f FILE | -l) [-q QOS] [-r] [--seal|--no-seal]",
     "publish, sealing on protected topics", dev_cmd_publish},
    {"subscribe", "[-h HOST] [-p PORT] -t FILTER [-C COUNT] [-q QOS] [-v] [-W SECS] [--no-fetch]",
     "print payloads, opening envelopes", dev_cmd_subscribe},
    {"keys", "fetch [-h HOST] [-p PORT] [-W SECS] [FILTER...]",
     "fetch topic keys online into CREDS", dev_cmd_keys},
    {"join",
     "[-h HOST] [-p PORT] --channels T1,...,Tn --threshold K [-C COUNT] [-o DIR] [-W SECS] "
     "[--join-timeout SECS]",
     "rebuild split medical records", dev_cmd_join},
    {"sms-open", "[--to TO] [--max-age SECS] < body > text",
     "open a secure SMS (-c is the recipient key export)", dev_cmd_sms_open},
};

#define DEV_NCMDS (sizeof(dev_cmds) / sizeof(dev_cmds[0]))

/* Print an error line on stderr. */
void dev_err(const char *fmt, ...)
{
	va_list ap;

	fputs(DEV_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Print the usage text on f. */
static void usage(FILE *f)
{
	fprintf(f, "usage: " DEV_PROG " [-c CREDS] [-K KEYFILE]... COMMAND [ARGS]\n");
	fprintf(f, "  -c CREDS    credentials file (default $MQTTSEC_CREDS)\n");
	fprintf(f, "  -K KEYFILE  more keys (e.g. record keys), repeatable\n");
	fprintf(f, "commands:\n");
	for (size_t i = 0; i < DEV_NCMDS; i++) {
		char left[64];

		snprintf(left, sizeof(left), "%s %s", dev_cmds[i].name, dev_cmds[i].args);
		fprintf(f, "  %-34s %s\n", left, dev_cmds[i].help);
	}
	fprintf(f, "TLS (publish, subscribe, join, keys fetch; as mosquitto_pub, -p defaults to "
	           "8883):\n"
	           "  --cafile FILE | --capath DIR  [--cert FILE --key FILE] "
	           "[--tls-version tlsv1.2|tlsv1.3] [--insecure]\n");
	fprintf(f, "  publish --split T1,...,Tn --threshold K [--record-key ID|NAME] "
	           "[-h HOST] [-p PORT]\n"
	           "          -t TOPIC (-m MSG | -f FILE | -l) [-q QOS]   "
	           "split medical records k-of-n\n");
}

/* Print the usage line of one command and return EX_USAGE. */
int dev_usage_cmd(const char *name)
{
	const struct dev_cmd *cmd = NULL;

	for (size_t i = 0; i < DEV_NCMDS; i++) {
		if (strcmp(dev_cmds[i].name, name) == 0)
			cmd = &dev_cmds[i];
	}
	if (cmd != NULL)
		fprintf(stderr, "usage: " DEV_PROG " [-c CREDS] [-K KEYFILE]... %s %s\n", cmd->name,
		        cmd->args);
	else
		usage(stderr);
	return EX_USAGE;
}

/* Load ctx->creds from ctx->creds_path; print the reason and return a
 * sysexits code on failure. */
static int load_creds(struct dev_ctx *ctx)
{
	char why[256] = "";
	int rc;
	int ex;

	if (ctx->creds_path == NULL || ctx->creds_path[0] == '\0') {
		dev_err("no credentials file: use -c CREDS or set MQTTSEC_CREDS");
		ex = EX_USAGE;
		goto out;
	}
	errno = 0;
	rc = mqs_creds_load(ctx->creds_path, &ctx->creds, why, sizeof(why));
	switch (rc) {
	case MQS_OK:
		ex = EX_OK;
		break;
	case MQS_ERR_NOENT:
		dev_err("cannot read credentials %s: no such file", ctx->creds_path);
		ex = EX_NOINPUT;
		break;
	case MQS_ERR_PERM:
		dev_err("cannot use credentials %s: readable by group or others (chmod 600 it)",
		        ctx->creds_path);
		ex = EX_NOPERM;
		break;
	case MQS_ERR_IO:
		dev_err("cannot read credentials %s: %s", ctx->creds_path,
		        errno != 0 ? strerror(errno) : mqs_strerror(rc));
		ex = EX_IOERR;
		break;
	default:
		dev_err("cannot parse credentials %s: %s", ctx->creds_path,
		        why[0] != '\0' ? why : mqs_strerror(rc));
		ex = EX_CONFIG;
		break;
	}
out:
	return ex;
}

/* Append the keys of every -K file to ctx->creds; print the reason and
 * return a sysexits code on failure. */
static int load_keyfiles(struct dev_ctx *ctx)
{
	char why[256];
	int ex = EX_OK;
	int rc;

	for (size_t i = 0; i < ctx->nkeyfiles && ex == EX_OK; i++) {
		const char *path = ctx->keyfiles[i];

		why[0] = '\0';
		errno = 0;
		rc = mqs_creds_load_keys(path, &ctx->creds, why, sizeof(why));
		switch (rc) {
		case MQS_OK:
			break;
		case MQS_ERR_NOENT:
			dev_err("cannot read key file %s: no such file", path);
			ex = EX_NOINPUT;
			break;
		case MQS_ERR_PERM:
			dev_err(
			    "cannot use key file %s: readable by group or others (chmod 600 it)",
			    path);
			ex = EX_NOPERM;
			break;
		case MQS_ERR_EXISTS:
			dev_err("cannot use key file %s: a key id is already loaded", path);
			ex = EX_DATAERR;
			break;
		case MQS_ERR_IO:
			dev_err("cannot read key file %s: %s", path,
			        errno != 0 ? strerror(errno) : mqs_strerror(rc));
			ex = EX_IOERR;
			break;
		default:
			dev_err("cannot parse key file %s: %s", path,
			        why[0] != '\0' ? why : mqs_strerror(rc));
			ex = EX_CONFIG;
			break;
		}
	}
	return ex;
}

/* mqttsec-device: dispatch to the command named by argv[1]. */
int main(int argc, char **argv)
{
	struct dev_ctx ctx;
	const struct dev_cmd *cmd = NULL;
	int opt;
	int rc = EX_USAGE;

	memset(&ctx, 0, sizeof(ctx));
	mqs_creds_init(&ctx.creds);
	ctx.creds_path = getenv("MQTTSEC_CREDS");

	for (;;) {
		/* '+': stop at the command name, its options are its own */
		opt = getopt(argc, argv, "+c:K:hV");
		if (opt == -1)
			break;
		switch (opt) {
		case 'c':
			ctx.creds_path = optarg;
			break;
		case 'K':
			if (ctx.nkeyfiles >= DEV_KEYFILES_MAX) {
				dev_err("too many -K files (at most %d)", DEV_KEYFILES_MAX);
				goto out;
			}
			ctx.keyfiles[ctx.nkeyfiles++] = optarg;
			break;
		case 'h':
			usage(stdout);
			rc = EX_OK;
			goto out;
		case 'V':
			printf(DEV_PROG " %s\n", PACKAGE_VERSION);
			rc = EX_OK;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		goto out;
	}
	for (size_t i = 0; i < DEV_NCMDS; i++) {
		if (strcmp(dev_cmds[i].name, argv[optind]) == 0)
			cmd = &dev_cmds[i];
	}
	if (cmd == NULL) {
		dev_err("unknown command %s", argv[optind]);
		usage(stderr);
		goto out;
	}
	/* sms-open reads -c itself: a key export is not a credentials file */
	rc = cmd->fn == dev_cmd_sms_open ? EX_OK : load_creds(&ctx);
	if (rc != EX_OK)
		goto out;
	rc = load_keyfiles(&ctx);
	if (rc != EX_OK)
		goto out;
	argc -= optind;
	argv += optind;
	optind = 0; /* glibc: full re-initialisation for the command's getopt */
	rc = cmd->fn(&ctx, argc, argv);
out:
	mqs_creds_release(&ctx.creds);
	return rc;
}
