/* cmd_init.c - mqttsec-acl init: create the master key and the database
 * (both mode 0600, missing parent folders 0700) when absent.
 *
 * Idempotent: existing files are checked, never replaced.  An existing
 * master key readable by group or others is refused, and no new master key
 * is made for a database that already holds secrets wrapped under another
 * one (that would orphan them; restore the key file instead).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "acl.h"
#include "mqs_db.h"
#include "mqs_error.h"

/* Create the missing parent folders of path with mode 0700. */
static int make_parents(const char *path, char *why)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	int ex = EX_OK;

	if (n >= sizeof(buf)) {
		ex = acl_fail(why, EX_CANTCREAT, "cannot create %s: path too long", path);
		goto out;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i < n; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
			ex = acl_fail(why, EX_CANTCREAT, "cannot create folder %s: %s", buf,
			              strerror(errno));
			goto out;
		}
		buf[i] = '/';
	}
out:
	return ex;
}

/* Count rows holding wrapped secrets; -1 on error. */
static long long wrapped_rows(struct acl_ctx *ctx)
{
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (sqlite3_prepare_v2(
	        ctx->db, "SELECT (SELECT count(*) FROM keys) + (SELECT count(*) FROM devices)", -1,
	        &st, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return n;
}

/* init: nothing to change but the audit row, whose detail is arg. */
static int init_change(struct acl_ctx *ctx, void *arg, char *detail, char *why)
{
	snprintf(detail, ACL_DETAIL_MAX, "%s", (const char *)arg);
	return EX_OK;
}

/* init */
int acl_cmd_init(struct acl_ctx *ctx, int argc, char **argv)
{
	char why[ACL_WHY_MAX] = "";
	char detail[64];
	struct stat sb;
	int key_exists;
	int db_created = 0;
	int key_created = 0;
	int rc;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "init", "", 0, NULL, NULL, NULL, 0, 0, &first);
	if (ex != EX_OK)
		goto out;

	/* the database first: it tells whether a new key would orphan secrets */
	if (stat(ctx->db_path, &sb) != 0) {
		ex = make_parents(ctx->db_path, why);
		if (ex != EX_OK)
			goto fail;
		db_created = 1;
	} else if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		acl_err("warning: db %s is accessible by group or others (chmod 600 it)",
		        ctx->db_path);
	}
	rc = mqs_db_open(ctx->db_path, MQS_DB_CREATE, mqs_broker_schema, mqs_broker_schema_count,
	                 &ctx->db, why, ACL_WHY_MAX);
	if (rc != MQS_OK) {
		if (why[0] == '\0')
			acl_fail(why, 0, "cannot open db %s: %s", ctx->db_path, mqs_strerror(rc));
		ex = rc == MQS_ERR_DB_VERSION ? EX_CONFIG : EX_CANTCREAT;
		goto fail;
	}

	key_exists = stat(ctx->key_path, &sb) == 0;
	if (key_exists) {
		ex = acl_ctx_master_key(ctx); /* checks mode and format */
		if (ex != EX_OK)
			goto out;
	} else {
		long long n = wrapped_rows(ctx);

		if (n != 0) {
			ex = n < 0
			         ? acl_db_fail(ctx, why, "read db")
			         : acl_fail(why, EX_CONFIG,
			                    "master key %s is missing but db %s holds %lld wrapped "
			                    "secrets: restore the key file",
			                    ctx->key_path, ctx->db_path, n);
			goto fail;
		}
		ex = make_parents(ctx->key_path, why);
		if (ex != EX_OK)
			goto fail;
		errno = 0;
		rc = mqs_master_key_create(ctx->key_path);
		if (rc != MQS_OK && rc != MQS_ERR_EXISTS) {
			ex = acl_fail(why, EX_CANTCREAT, "cannot create master key %s: %s",
			              ctx->key_path,
			              errno != 0 ? strerror(errno) : mqs_strerror(rc));
			goto fail;
		}
		key_created = rc == MQS_OK;
		ex = acl_ctx_master_key(ctx);
		if (ex != EX_OK)
			goto out;
	}

	if (key_created || db_created) {
		snprintf(detail, sizeof(detail), "key=%s db=%s", key_created ? "created" : "kept",
		         db_created ? "created" : "kept");
		ex = acl_tx_run(ctx, "init", init_change, detail);
		if (ex != EX_OK)
			goto out;
	}
	printf("master key %s: %s\n", ctx->key_path, key_created ? "created" : "exists");
	printf("db %s: %s\n", ctx->db_path, db_created ? "created" : "exists");
	ex = EX_OK;
	goto out;
fail:
	acl_err("%s", why);
out:
	return ex;
}
