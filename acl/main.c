/* SPDX-License-Identifier: BSD-3-Clause */
/* main.c - mqttsec-acl: global options, usage, command dispatch.
 *
 *   mqttsec-acl [-d DB] [-k MASTER_KEY_FILE] [--json] COMMAND [ARGS]
 *
 * DB comes from -d, $MQTTSEC_DB or /var/lib/mqttsec/mqttsec.db; the master
 * key from -k, $MQTTSEC_MASTER_KEY_FILE or /etc/mqttsec/master.key.  Every
 * command opens what it needs itself (only device add, device qr, topic
 * protect and key rotate/export read the master key), so list, group and
 * ACL administration works without access to the key file.
 */
#include "config.h"

#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "acl.h"

/* One row per command group; a new group (topic, key) is one more row. */
static const struct acl_cmd acl_cmds[] = {
    {"init", "", "create the master key and the database (0600) if absent", acl_cmd_init},
    {"device", "add|list|rm|disable|enable|qr ...", "enrol and manage devices", acl_cmd_device},
    {"list", "add|rm|show|purge ...", "allow and deny lists (client id, username, IP/CIDR)",
     acl_cmd_list},
    {"group", "add|rm|list|member ...", "device groups", acl_cmd_group},
    {"acl", "add|rm|show ...", "topic ACL rules", acl_cmd_acl},
    {"topic", "protect|unprotect|list ...", "protected (encrypted) topics", acl_cmd_topic},
    {"key", "rotate|export|list ...", "keys of protected topics", acl_cmd_key},
    {"clientid", "list|release ...", "client ids bound to devices", acl_cmd_clientid},
    {"audit", "[--limit N]", "who changed what, when", acl_cmd_audit},
    {"export", "", "print lists, groups and ACL rules as text", acl_cmd_export},
    {"import", "[--replace] FILE", "apply an export, all or nothing", acl_cmd_import},
    {"backup", "keygen --out F | --to F --recipient PUBKEY", "encrypted, signed backup",
     acl_cmd_backup},
    {"restore", "--from F --key RECOVERY_KEY [--force]", "verify and restore a backup",
     acl_cmd_restore},
};

#define ACL_NCMDS (sizeof(acl_cmds) / sizeof(acl_cmds[0]))

#define ACL_GLOBAL_USAGE "[-d DB] [-k MASTER_KEY_FILE] [--json]"

/* Print an error line on stderr. */
void acl_err(const char *fmt, ...)
{
	va_list ap;

	fputs(ACL_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Copy a user name when it is 1..ACL_WHO_MAX printable ASCII bytes
 * without spaces; return 1 on success. */
static int who_copy(char *dst, const char *src)
{
	size_t n;

	if (src == NULL)
		return 0;
	n = strlen(src);
	if (n == 0 || n > ACL_WHO_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (src[i] <= ' ' || src[i] >= 0x7f)
			return 0;
	}
	memcpy(dst, src, n + 1);
	return 1;
}

/* The name of uid into dst (ACL_WHO_MAX + 1 bytes), "uid:N" when it has
 * no usable name. */
static void who_name(char *dst, uid_t uid)
{
	struct passwd *pw = getpwuid(uid);

	if (pw == NULL || !who_copy(dst, pw->pw_name))
		snprintf(dst, ACL_WHO_MAX + 1, "uid:%lu", (unsigned long)uid);
}

/* Initialise paths from the environment and the OS user. */
void acl_ctx_init(struct acl_ctx *ctx)
{
	char sudo[ACL_WHO_MAX + 1];
	char real[ACL_WHO_MAX + 1];
	const char *env;

	memset(ctx, 0, sizeof(*ctx));
	env = getenv("MQTTSEC_DB");
	ctx->db_path = env != NULL && env[0] != '\0' ? env : ACL_DEFAULT_DB;
	env = getenv("MQTTSEC_MASTER_KEY_FILE");
	ctx->key_path = env != NULL && env[0] != '\0' ? env : ACL_DEFAULT_KEY;
	/* anyone can set $SUDO_USER: believe it only when root runs us */
	if (getuid() == 0 && who_copy(sudo, getenv("SUDO_USER"))) {
		who_name(real, getuid());
		snprintf(ctx->who, sizeof(ctx->who), "%s via %s", sudo, real);
	} else {
		who_name(ctx->who, geteuid());
	}
}

/* Close the admin context. */
void acl_ctx_release(struct acl_ctx *ctx)
{
	if (ctx == NULL)
		return;
	mqsa_ctx_close(ctx->adm);
	ctx->adm = NULL;
}

/* The sysexits.h code of a library result. */
int acl_ex(const struct acl_ctx *ctx, enum mqs_err rc)
{
	switch (rc) {
	case MQS_OK:
		return EX_OK;
	case MQS_ERR_INVAL:
	case MQS_ERR_NOENT:
	case MQS_ERR_EXISTS:
	case MQS_ERR_TOOBIG:
	case MQS_ERR_PARSE:
	case MQS_ERR_UNWRAP:
		return EX_DATAERR;
	case MQS_ERR_PERM:
		return EX_NOPERM;
	case MQS_ERR_NOMEM:
		return EX_OSERR;
	case MQS_ERR_IO:
		return EX_IOERR;
	case MQS_ERR_DB_VERSION:
		return EX_CONFIG;
	case MQS_ERR_DB:
		if (mqsa_ctx_db_busy(ctx->adm))
			return EX_TEMPFAIL;
		return mqsa_ctx_db_fault(ctx->adm) ? EX_IOERR : EX_SOFTWARE;
	default:
		return EX_SOFTWARE;
	}
}

/* Print a library failure and return its code. */
int acl_report(const struct acl_ctx *ctx, enum mqs_err rc, const char *why)
{
	if (rc != MQS_OK && why[0] != '\0')
		acl_err("%s", why);
	return acl_ex(ctx, rc);
}

/* Open the database. */
int acl_ctx_db(struct acl_ctx *ctx)
{
	char why[ACL_WHY_MAX] = "";
	enum mqs_err rc;

	rc = mqsa_ctx_db(ctx->adm, why);
	if (rc == MQS_ERR_NOENT) {
		acl_err("%s (run " ACL_PROG " init)", why);
		return EX_NOINPUT;
	}
	if (rc != MQS_OK) {
		acl_err("%s", why);
		return rc == MQS_ERR_DB_VERSION ? EX_CONFIG : EX_UNAVAILABLE;
	}
	return EX_OK;
}

/* Load the master key. */
int acl_ctx_master_key(struct acl_ctx *ctx)
{
	char why[ACL_WHY_MAX] = "";
	enum mqs_err rc;

	rc = mqsa_ctx_master_key(ctx->adm, why);
	switch (rc) {
	case MQS_OK:
		return EX_OK;
	case MQS_ERR_NOENT:
		acl_err("%s (run " ACL_PROG " init)", why);
		return EX_NOINPUT;
	case MQS_ERR_PERM:
		acl_err("%s", why);
		return EX_NOPERM;
	case MQS_ERR_PARSE:
		acl_err("%s", why);
		return EX_CONFIG;
	default:
		acl_err("%s", why);
		return EX_IOERR;
	}
}

/* Print the usage line of one command. */
void acl_usage_line(FILE *f, const char *words, const char *args)
{
	fprintf(f, "usage: " ACL_PROG " " ACL_GLOBAL_USAGE " %s%s%s\n", words,
	        args[0] != '\0' ? " " : "", args);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " ACL_PROG " " ACL_GLOBAL_USAGE " COMMAND [ARGS]\n");
	fprintf(f, "  -d DB              database (default $MQTTSEC_DB or " ACL_DEFAULT_DB ")\n");
	fprintf(
	    f,
	    "  -k FILE            master key (default $MQTTSEC_MASTER_KEY_FILE or " ACL_DEFAULT_KEY
	    ")\n");
	fprintf(f, "  --json             listings print a JSON array\n");
	fprintf(f, "commands:\n");
	for (size_t i = 0; i < ACL_NCMDS; i++) {
		char left[80];

		snprintf(left, sizeof(left), "%s %s", acl_cmds[i].name, acl_cmds[i].args);
		fprintf(f, "  %-40s %s\n", left, acl_cmds[i].help);
	}
	fprintf(f, "run '" ACL_PROG " COMMAND --help' for the subcommands\n");
}

/* Print the subcommands of a group. */
static void group_usage(FILE *f, const char *group, const struct acl_cmd *cmds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char words[64];

		snprintf(words, sizeof(words), "%s %s", group, cmds[i].name);
		acl_usage_line(f, words, cmds[i].args);
	}
}

/* Dispatch to a subcommand of a group. */
int acl_dispatch(struct acl_ctx *ctx, const char *group, const struct acl_cmd *cmds, size_t n,
                 int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	int ex = EX_USAGE;

	if (sub == NULL) {
		acl_err("%s: missing subcommand", group);
		group_usage(stderr, group, cmds, n);
		goto out;
	}
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
		group_usage(stdout, group, cmds, n);
		ex = EX_OK;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(cmds[i].name, sub) == 0) {
			ex = cmds[i].fn(ctx, argc - 1, argv + 1);
			goto out;
		}
	}
	acl_err("%s: unknown subcommand %s", group, sub);
	group_usage(stderr, group, cmds, n);
out:
	return ex;
}

enum { OPT_JSON = 0x100 };

/* Parse a command's options and check its operand count. */
int acl_parse_opts(struct acl_ctx *ctx, int argc, char **argv, const char *words, const char *args,
                   int json_ok, const struct option *extra,
                   int (*handler)(int opt, const char *optarg, void *arg), void *arg, int min,
                   int max, int *first)
{
	struct option opts[ACL_OPTS_MAX + 3]; /* + help, json, terminator */
	size_t n = 0;
	int opt;
	int ex = EX_USAGE;
	int nops;

	for (; extra != NULL && extra[n].name != NULL; n++) {
		if (n == ACL_OPTS_MAX) {
			/* a command table bug: never drop an option silently */
			acl_err("%s: internal error: more than %d options", words, ACL_OPTS_MAX);
			ex = EX_SOFTWARE;
			goto out;
		}
		opts[n] = extra[n];
	}
	opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	if (json_ok)
		opts[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
	opts[n] = (struct option){NULL, 0, NULL, 0};

	optind = 0; /* glibc: full re-initialisation for every command */
	opterr = 0;
	for (;;) {
		opt = getopt_long(argc, argv, ":h", opts, NULL);
		if (opt == -1)
			break;
		if (opt == 'h') {
			acl_usage_line(stdout, words, args);
			ex = -1;
			goto out;
		}
		if (opt == OPT_JSON) {
			ctx->json = 1;
			continue;
		}
		if (opt == ':') {
			acl_err("%s: option %s needs a value", words, argv[optind - 1]);
			acl_usage_line(stderr, words, args);
			goto out;
		}
		if (opt == '?' || handler == NULL) {
			acl_err("%s: unknown option %s", words, argv[optind - 1]);
			acl_usage_line(stderr, words, args);
			goto out;
		}
		ex = handler(opt, optarg, arg);
		if (ex != EX_OK)
			goto out;
		ex = EX_USAGE;
	}
	nops = argc - optind;
	if (nops < min || (max >= 0 && nops > max)) {
		acl_err("%s: %s operands", words, nops < min ? "missing" : "too many");
		acl_usage_line(stderr, words, args);
		goto out;
	}
	*first = optind;
	ex = EX_OK;
out:
	return ex;
}

int main(int argc, char **argv)
{
	static const struct option gopts[] = {{"json", no_argument, NULL, OPT_JSON},
	                                      {"help", no_argument, NULL, 'h'},
	                                      {"version", no_argument, NULL, 'V'},
	                                      {NULL, 0, NULL, 0}};
	struct acl_ctx ctx;
	const struct acl_cmd *cmd = NULL;
	int opt;
	int rc = EX_USAGE;

	acl_ctx_init(&ctx);
	opterr = 0;
	for (;;) {
		/* '+': stop at the command name, its options are its own */
		opt = getopt_long(argc, argv, "+:d:k:hV", gopts, NULL);
		if (opt == -1)
			break;
		switch (opt) {
		case 'd':
			ctx.db_path = optarg;
			break;
		case 'k':
			ctx.key_path = optarg;
			break;
		case OPT_JSON:
			ctx.json = 1;
			break;
		case 'h':
			usage(stdout);
			rc = EX_OK;
			goto out;
		case 'V':
			printf(ACL_PROG " %s\n", PACKAGE_VERSION);
			rc = EX_OK;
			goto out;
		case ':':
			acl_err("option %s needs a value", argv[optind - 1]);
			usage(stderr);
			goto out;
		default:
			acl_err("unknown option %s", argv[optind - 1]);
			usage(stderr);
			goto out;
		}
	}
	if (optind >= argc) {
		acl_err("missing command");
		usage(stderr);
		goto out;
	}
	for (size_t i = 0; i < ACL_NCMDS; i++) {
		if (strcmp(acl_cmds[i].name, argv[optind]) == 0)
			cmd = &acl_cmds[i];
	}
	if (cmd == NULL) {
		acl_err("unknown command %s", argv[optind]);
		usage(stderr);
		goto out;
	}
	if (ctx.db_path[0] == '\0' || ctx.key_path[0] == '\0') {
		acl_err("empty database or master key path");
		goto out;
	}
	if (mqsa_ctx_open(ctx.db_path, ctx.key_path, ctx.who, &ctx.adm) != MQS_OK) {
		acl_err("cannot start: out of memory");
		rc = EX_OSERR;
		goto out;
	}
	rc = cmd->fn(&ctx, argc - optind, argv + optind);
	if (rc == -1) /* -h of a subcommand */
		rc = EX_OK;
	if (fflush(stdout) != 0 && rc == EX_OK) {
		acl_err("cannot write to stdout");
		rc = EX_IOERR;
	}
out:
	acl_ctx_release(&ctx);
	return rc;
}
