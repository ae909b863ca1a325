/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_backup.c - mqttsec-acl backup keygen | backup --to | restore --from
 * (docs/backup.md; the logic is admin/backup.c).
 *
 * Exit codes: 0 done; 64 usage; 65 a backup refused (damaged, truncated,
 * reordered, foreign, the wrong key, the other kind); 66 no such file;
 * 73 cannot create the output; 77 a backup older than the current data
 * without --force.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "mqs_backup.h"
#include "mqs_util.h"

/* Options of the backup commands. */
struct backup_opts {
	const char *out;
	const char *to;
	const char *recipient;
	const char *from;
	const char *key;
	int force;
};

/* Store one option. */
static int backup_opt(int opt, const char *arg, void *data)
{
	struct backup_opts *o = data;

	switch (opt) {
	case 'o':
		o->out = arg;
		break;
	case 't':
		o->to = arg;
		break;
	case 'r':
		o->recipient = arg;
		break;
	case 'f':
		o->from = arg;
		break;
	case 'k':
		o->key = arg;
		break;
	case 'F':
		o->force = 1;
		break;
	default:
		return EX_USAGE;
	}
	return EX_OK;
}

/* The exit code of a failed backup command. */
static int backup_ex(const struct acl_ctx *ctx, enum mqs_err rc)
{
	switch (rc) {
	case MQS_ERR_ENV_TRUNCATED:
	case MQS_ERR_ENV_VERSION:
	case MQS_ERR_ENV_KEYID:
	case MQS_ERR_ENV_AUTH:
	case MQS_ERR_DB_VERSION:
		return EX_DATAERR;
	case MQS_ERR_NOENT:
		return EX_NOINPUT;
	case MQS_ERR_EXISTS:
		return EX_CANTCREAT;
	default:
		return acl_ex(ctx, rc);
	}
}

/* A Unix time as UTC text. */
static void utc(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", t);
}

/* backup keygen --out FILE */
static int backup_keygen(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
	                                     {NULL, 0, NULL, 0}};
	struct backup_opts o = {NULL, NULL, NULL, NULL, NULL, 0};
	uint8_t pub[MQSA_BACKUP_KEY_LEN];
	char why[ACL_WHY_MAX] = "", hex[2 * MQSA_BACKUP_KEY_LEN + 1];
	enum mqs_err rc;
	int first, ex;

	ex = acl_parse_opts(ctx, argc, argv, "backup keygen", "--out FILE", 0, opts, backup_opt, &o,
	                    0, 0, &first);
	if (ex != EX_OK)
		goto out;
	if (o.out == NULL) {
		acl_err("backup keygen: --out FILE is required");
		acl_usage_line(stderr, "backup keygen", "--out FILE");
		ex = EX_USAGE;
		goto out;
	}
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
	if (ex != EX_OK)
		goto out;
	rc = mqsa_backup_keygen(ctx->adm, o.out, pub, why);
	if (rc != MQS_OK) {
		acl_err("%s", why);
		ex = backup_ex(ctx, rc);
		goto out;
	}
	mqs_hex_encode(pub, sizeof(pub), hex);
	printf("recovery key written to %s: keep it offline (it opens every backup)\n", o.out);
	printf("recovery public key (backup --recipient): %s\n", hex);
out:
	return ex;
}

/* backup --to FILE --recipient PUBKEY */
int acl_cmd_backup(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"to", required_argument, NULL, 't'},
	                                     {"recipient", required_argument, NULL, 'r'},
	                                     {NULL, 0, NULL, 0}};
	static const char args[] = "--to FILE --recipient PUBKEY | keygen --out FILE";
	struct backup_opts o = {NULL, NULL, NULL, NULL, NULL, 0};
	uint8_t rcpt[MQSA_BACKUP_KEY_LEN];
	char why[ACL_WHY_MAX] = "", host[MQS_BACKUP_HOST_MAX + 1] = "";
	long long size = 0;
	enum mqs_err rc;
	int first, ex;

	if (argc > 1 && strcmp(argv[1], "keygen") == 0)
		return backup_keygen(ctx, argc - 1, argv + 1);
	ex = acl_parse_opts(ctx, argc, argv, "backup", args, 0, opts, backup_opt, &o, 0, 0, &first);
	if (ex != EX_OK)
		goto out;
	if (o.to == NULL || o.recipient == NULL) {
		acl_err("backup: --to FILE and --recipient PUBKEY are required");
		acl_usage_line(stderr, "backup", args);
		ex = EX_USAGE;
		goto out;
	}
	if (mqs_backup_key_parse(o.recipient, rcpt) != MQS_OK) {
		acl_err(
		    "backup: --recipient must be 64 hexadecimal digits (printed by backup keygen)");
		ex = EX_USAGE;
		goto out;
	}
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	ex = acl_ctx_db(ctx);
	if (ex == EX_OK)
		ex = acl_ctx_master_key(ctx);
	if (ex != EX_OK)
		goto out;
	rc = mqsa_backup_write(ctx->adm, o.to, rcpt, host, &size, why);
	if (rc != MQS_OK) {
		acl_err("%s", why);
		ex = rc == MQS_ERR_IO ? EX_CANTCREAT : backup_ex(ctx, rc);
		goto out;
	}
	printf("backup of %s written to %s (%lld bytes)\n", ctx->db_path, o.to, size);
out:
	return ex;
}

/* restore --from FILE --key recovery.key [--force] */
int acl_cmd_restore(struct acl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
	                                     {"key", required_argument, NULL, 'k'},
	                                     {"force", no_argument, NULL, 'F'},
	                                     {NULL, 0, NULL, 0}};
	static const char args[] = "--from FILE --key RECOVERY_KEY [--force]";
	struct backup_opts o = {NULL, NULL, NULL, NULL, NULL, 0};
	struct mqsa_restore_info info;
	char why[ACL_WHY_MAX] = "", made[32], cur[32];
	enum mqs_err rc;
	int first, ex;

	memset(&info, 0, sizeof(info));
	ex =
	    acl_parse_opts(ctx, argc, argv, "restore", args, 0, opts, backup_opt, &o, 0, 0, &first);
	if (ex != EX_OK)
		goto out;
	if (o.from == NULL || o.key == NULL) {
		acl_err("restore: --from FILE and --key RECOVERY_KEY are required");
		acl_usage_line(stderr, "restore", args);
		ex = EX_USAGE;
		goto out;
	}
	rc = mqsa_restore(ctx->adm, o.from, o.key, o.force, &info, why);
	utc(info.created, made, sizeof(made));
	utc(info.current, cur, sizeof(cur));
	if (info.host[0] != '\0')
		printf("backup made %s on host %s\n", made, info.host);
	if (rc != MQS_OK) {
		acl_err("%s", why);
		ex = backup_ex(ctx, rc);
		goto out;
	}
	printf("restored %s%s (the data it replaced was last changed %s)\n", ctx->db_path,
	       info.fresh ? " (new database)" : "", info.current != 0 ? cur : "never");
	printf("connect tokens made before now are refused (token_floor raised)\n");
	if (info.mk_changed)
		printf("master key %s written: the backup has another master key; restart the "
		       "broker (mosquitto) now\n",
		       ctx->key_path);
	else
		printf("a running broker picks the restored data up within a second\n");
out:
	return ex;
}
