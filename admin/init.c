/* SPDX-License-Identifier: BSD-3-Clause */
/* init.c - create the master key and the database (mqsa.h): both mode
 * 0600, missing parent folders 0700, when absent.
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

#include "mqs_db.h"
#include "mqs_error.h"
#include "mqsa_int.h"

/* Create the missing parent folders of path with mode 0700. */
static enum mqs_err make_parents(const char *path, char *why)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	enum mqs_err rc = MQS_OK;

	if (n >= sizeof(buf)) {
		rc = mqsa_fail(why, MQS_ERR_IO, "cannot create %s: path too long", path);
		goto out;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i < n; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
			rc = mqsa_fail(why, MQS_ERR_IO, "cannot create folder %s: %s", buf,
			               strerror(errno));
			goto out;
		}
		buf[i] = '/';
	}
out:
	return rc;
}

/* Count rows holding wrapped secrets; -1 on error. */
static long long wrapped_rows(struct mqsa_ctx *ctx)
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
static enum mqs_err init_change(struct mqsa_ctx *ctx, void *arg, char *detail, int *skip, char *why)
{
	snprintf(detail, MQSA_DETAIL_MAX, "%s", (const char *)arg);
	return MQS_OK;
}

/* Create what is missing. */
enum mqs_err mqsa_init(struct mqsa_ctx *ctx, struct mqsa_init_result *res, char *why)
{
	char detail[64];
	struct stat sb;
	long long n;
	enum mqs_err rc;

	memset(res, 0, sizeof(*res));
	why[0] = '\0';
	/* the database first: it tells whether a new key would orphan secrets */
	if (stat(ctx->db_path, &sb) != 0) {
		rc = make_parents(ctx->db_path, why);
		if (rc != MQS_OK)
			goto out;
		res->db_created = 1;
	} else if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		res->db_open_to_others = 1;
	}
	if (ctx->db == NULL) {
		rc = mqs_db_open(ctx->db_path, MQS_DB_CREATE, mqs_broker_schema,
		                 mqs_broker_schema_count, &ctx->db, why, MQSA_WHY_MAX);
		if (rc != MQS_OK) {
			if (why[0] == '\0')
				mqsa_fail(why, rc, "cannot open db %s: %s", ctx->db_path,
				          mqs_strerror(rc));
			if (rc != MQS_ERR_DB_VERSION)
				rc = MQS_ERR_IO;
			goto out;
		}
	}
	if (stat(ctx->key_path, &sb) == 0) {
		rc = mqsa_ctx_master_key(ctx, why); /* checks mode and format */
		goto audit;
	}
	n = wrapped_rows(ctx);
	if (n != 0) {
		rc = n < 0 ? mqsa_db_fail(ctx, why, "read db")
		           : mqsa_fail(why, MQS_ERR_NOENT,
		                       "master key %s is missing but db %s holds %lld wrapped "
		                       "secrets: restore the key file",
		                       ctx->key_path, ctx->db_path, n);
		goto out;
	}
	rc = make_parents(ctx->key_path, why);
	if (rc != MQS_OK)
		goto out;
	errno = 0;
	rc = mqs_master_key_create(ctx->key_path);
	if (rc != MQS_OK && rc != MQS_ERR_EXISTS) {
		rc = mqsa_fail(why, MQS_ERR_IO, "cannot create master key %s: %s", ctx->key_path,
		               errno != 0 ? strerror(errno) : mqs_strerror(rc));
		goto out;
	}
	res->key_created = rc == MQS_OK;
	rc = mqsa_ctx_master_key(ctx, why);
audit:
	if (rc != MQS_OK || (!res->key_created && !res->db_created))
		goto out;
	snprintf(detail, sizeof(detail), "key=%s db=%s", res->key_created ? "created" : "kept",
	         res->db_created ? "created" : "kept");
	rc = mqsa_tx_run(ctx, "init", init_change, detail, NULL, why);
out:
	return rc;
}
