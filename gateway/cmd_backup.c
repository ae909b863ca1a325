/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_backup.c - `backup keygen --out FILE`, `backup --to FILE --recipient
 * PUBKEY`, `restore --from FILE --key RECOVERY_KEY [--force]` of the
 * gateway database (docs/backup.md; the logic is gw_backup.c).
 *
 * Exit codes as mqttsec-acl's: 0 done; 64 usage; 65 a backup refused
 * (damaged, truncated, reordered, foreign, the wrong key, the other kind);
 * 66 no such file; 73 cannot create the output; 77 a backup older than the
 * current data without --force.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "gw_backup.h"
#include "gw_cmd.h"
#include "mqs_util.h"

#define USAGE_BACKUP                                                                               \
	"usage: mqttsec-gateway [-c CONF] backup --to FILE --recipient PUBKEY\n"                   \
	"       mqttsec-gateway [-c CONF] backup keygen --out FILE\n"
#define USAGE_RESTORE                                                                              \
	"usage: mqttsec-gateway [-c CONF] restore --from FILE --key RECOVERY_KEY [--force]\n"

/* The exit code of a failed backup command. */
static int bk_exit(int rc)
{
	switch (rc) {
	case MQS_ERR_ENV_TRUNCATED:
	case MQS_ERR_ENV_VERSION:
	case MQS_ERR_ENV_KEYID:
	case MQS_ERR_ENV_AUTH:
	case MQS_ERR_PARSE:
	case MQS_ERR_INVAL:
		return EX_DATAERR;
	case MQS_ERR_NOENT:
		return EX_NOINPUT;
	case MQS_ERR_EXISTS:
	case MQS_ERR_IO:
		return EX_CANTCREAT;
	case MQS_ERR_PERM:
		return EX_NOPERM;
	default:
		return gw_cmd_exit_code(rc);
	}
}

/* A Unix time as UTC text. */
static void bk_utc(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* backup keygen --out FILE | backup --to FILE --recipient PUBKEY */
int gw_cmd_backup(struct gw_config *conf, int argc, char **argv)
{
	static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
	                                     {"to", required_argument, NULL, 't'},
	                                     {"recipient", required_argument, NULL, 'r'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *out = NULL, *to = NULL, *rcpt = NULL;
	uint8_t key[MQS_BACKUP_KEY_LEN];
	char err[600] = "", host[MQS_BACKUP_HOST_MAX + 1] = "", hex[2 * MQS_BACKUP_KEY_LEN + 1];
	struct gw_store s;
	long long size = 0;
	int keygen = 0, opt, rc, ex = EX_USAGE;

	memset(&s, 0, sizeof(s));
	if (argc > 1 && strcmp(argv[1], "keygen") == 0) {
		keygen = 1;
		argc--;
		argv++;
	}
	optind = 0;
	for (;;) {
		opt = getopt_long(argc, argv, "h", opts, NULL);
		if (opt == -1)
			break;
		if (opt == 'o')
			out = optarg;
		else if (opt == 't')
			to = optarg;
		else if (opt == 'r')
			rcpt = optarg;
		else if (opt == 'h') {
			fputs(USAGE_BACKUP, stdout);
			return EX_OK;
		} else {
			fputs(USAGE_BACKUP, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc || (keygen && (out == NULL || to != NULL || rcpt != NULL)) ||
	    (!keygen && (to == NULL || rcpt == NULL || out != NULL))) {
		fputs(USAGE_BACKUP, stderr);
		return EX_USAGE;
	}
	if (!keygen && mqs_backup_key_parse(rcpt, key) != MQS_OK) {
		fprintf(stderr,
		        "mqttsec-gateway: --recipient must be 64 hexadecimal digits (printed "
		        "by backup keygen)\n");
		return EX_USAGE;
	}
	ex = gw_cmd_open_store(conf, &s);
	if (ex != EX_OK)
		return ex;
	if (keygen) {
		rc = gw_backup_keygen(&s, out, key, err, sizeof(err));
		if (rc == MQS_OK) {
			mqs_hex_encode(key, sizeof(key), hex);
			printf(
			    "recovery key written to %s: keep it offline (it opens every backup)\n",
			    out);
			printf("recovery public key (backup --recipient): %s\n", hex);
		}
	} else {
		if (gethostname(host, sizeof(host) - 1) != 0)
			snprintf(host, sizeof(host), "unknown");
		rc = gw_backup_write(&s, to, key, host, (int64_t)time(NULL), &size, err,
		                     sizeof(err));
		if (rc == MQS_OK)
			printf("backup of %s written to %s (%lld bytes)\n", conf->db, to, size);
	}
	gw_store_close(&s);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: %s\n", err);
		return bk_exit(rc);
	}
	return EX_OK;
}

/* restore --from FILE --key RECOVERY_KEY [--force] */
int gw_cmd_restore(struct gw_config *conf, int argc, char **argv)
{
	static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
	                                     {"key", required_argument, NULL, 'k'},
	                                     {"force", no_argument, NULL, 'F'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *from = NULL, *key = NULL;
	struct gw_backup_info info;
	char err[600] = "", made[32], cur[32];
	int force = 0, opt, rc;

	optind = 0;
	for (;;) {
		opt = getopt_long(argc, argv, "h", opts, NULL);
		if (opt == -1)
			break;
		if (opt == 'f')
			from = optarg;
		else if (opt == 'k')
			key = optarg;
		else if (opt == 'F')
			force = 1;
		else if (opt == 'h') {
			fputs(USAGE_RESTORE, stdout);
			return EX_OK;
		} else {
			fputs(USAGE_RESTORE, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc || from == NULL || key == NULL) {
		fputs(USAGE_RESTORE, stderr);
		return EX_USAGE;
	}
	rc = gw_backup_restore(conf->db, conf->master_key_file, from, key, force, &info, err,
	                       sizeof(err));
	bk_utc(info.created, made, sizeof(made));
	bk_utc(info.current, cur, sizeof(cur));
	if (info.host[0] != '\0')
		printf("backup made %s on host %s\n", made, info.host);
	if (rc != MQS_OK) {
		fprintf(stderr, "mqttsec-gateway: %s\n", err);
		return bk_exit(rc);
	}
	printf("restored %s%s (the data it replaced last changed: %s)\n", conf->db,
	       info.fresh ? " (new database)" : "", info.current != 0 ? cur : "none");
	if (info.current > info.created)
		printf("the backup is older than the data it replaced: alerts delivered since the "
		       "backup are queued again and will be delivered again, and changes since "
		       "then (opt-outs, recipients) are undone\n");
	if (info.mk_changed)
		printf("master key %s written: the backup has another master key; restart the "
		       "gateway now\n",
		       conf->master_key_file);
	else
		printf("restart the gateway so its queues start from the restored data\n");
	return EX_OK;
}
