/* SPDX-License-Identifier: BSD-3-Clause */
/* clientids.c - owned client ids (mqsa.h, docs/acl.md, docs/broker-plugin.md
 * "Client ids").
 *
 * The broker plugin binds a client id to the first device that connects
 * with it and writes the binding to the clientids table on its next tick
 * (so a binding less than a tick old may not be listed yet); last_seen is
 * written coarsely (at most hourly per id while connected, and at
 * disconnect).  Release deletes the row and adds a clientid_releases row
 * that the running plugin applies within a second (also to a binding it
 * has not written yet); removing a device releases every id of the device
 * the same way (mqsa_clientid_release_rows).  Release rows older than a
 * day are pruned: the plugin merges them within a second, and a plugin
 * that starts later loads the bindings without them.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "mqsa_int.h"

#include "../broker-plugin/clientids.h"

#define RELEASE_KEEP 86400 /* seconds a release row is kept for the plugin */

/* Release clientid (whoever holds it) or, when clientid is NULL, every id
 * of username. */
enum mqs_err mqsa_clientid_release_rows(struct mqsa_ctx *ctx, const char *clientid,
                                        const char *username, int *n, char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	if (clientid != NULL)
		rc = mqsa_exec_text(ctx, "DELETE FROM clientids WHERE clientid = ?1", clientid,
		                    NULL, n, why);
	else
		rc = mqsa_exec_text(ctx, "DELETE FROM clientids WHERE username = ?1", username,
		                    NULL, n, why);
	if (rc != MQS_OK)
		goto out;
	rc = mqsa_prepare(ctx,
	                  "INSERT INTO clientid_releases (clientid, username, at) VALUES (?1, ?2, "
	                  "?3)",
	                  &st, why);
	if (rc != MQS_OK)
		goto out;
	if (clientid != NULL)
		sqlite3_bind_text(st, 1, clientid, -1, SQLITE_STATIC);
	if (clientid == NULL)
		sqlite3_bind_text(st, 2, username, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "record the release");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = mqsa_prepare(ctx, "DELETE FROM clientid_releases WHERE at < ?1", &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now - RELEASE_KEEP);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = mqsa_db_fail(ctx, why, "prune releases");
out:
	sqlite3_finalize(st);
	return rc;
}

/* mqsa_clientid_list's iterator. */
struct clientid_list_arg {
	enum mqs_err (*each)(const struct mqsa_clientid *c, void *arg);
	void *arg;
};

/* One binding row. */
static enum mqs_err clientid_row(sqlite3_stmt *st, void *data)
{
	const struct clientid_list_arg *a = data;
	struct mqsa_clientid c;

	c.clientid = mqsa_col(st, 0);
	c.username = mqsa_col(st, 1);
	c.created_at = sqlite3_column_int64(st, 2);
	c.last_seen = sqlite3_column_int64(st, 3);
	return a->each(&c, a->arg);
}

/* Bindings by device and client id. */
enum mqs_err mqsa_clientid_list(struct mqsa_ctx *ctx,
                                enum mqs_err (*each)(const struct mqsa_clientid *c, void *arg),
                                void *arg, char *why)
{
	struct clientid_list_arg a = {each, arg};
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_prepare(ctx,
		                  "SELECT clientid, username, created_at, last_seen FROM clientids "
		                  "ORDER BY username, clientid",
		                  &st, why);
	if (rc != MQS_OK)
		return rc;
	return mqsa_each_row(ctx, st, clientid_row, &a, "client ids", why);
}

/* clientid release: the id and its owner. */
struct release_arg {
	const char *clientid;
	char *owner; /* MQSA_NAME_MAX + 1 bytes, "" when no binding was stored */
};

/* Note the owner, release the id. */
static enum mqs_err release_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                   char *why)
{
	struct release_arg *a = data;
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_prepare(ctx, "SELECT username FROM clientids WHERE clientid = ?1", &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, a->clientid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(a->owner, MQSA_NAME_MAX + 1, "%s", mqsa_col(st, 0));
	rc = mqsa_clientid_release_rows(ctx, a->clientid, NULL, NULL, why);
	if (rc == MQS_OK)
		snprintf(detail, MQSA_DETAIL_MAX, "clientid=%s owner=%s", a->clientid,
		         a->owner[0] != '\0' ? a->owner : "-");
out:
	sqlite3_finalize(st);
	return rc;
}

/* A client id the broker could bind. */
enum mqs_err mqsa_clientid_check(const char *clientid, char *why)
{
	return mqsa_text_check(clientid, MQSP_CLIENTIDS_LEN_MAX, 0, "client id", why);
}

/* Release a client id. */
enum mqs_err mqsa_clientid_release(struct mqsa_ctx *ctx, const char *clientid, char *owner,
                                   char *why)
{
	struct release_arg a = {clientid, owner};
	enum mqs_err rc;

	owner[0] = '\0';
	rc = mqsa_clientid_check(clientid, why);
	if (rc == MQS_OK)
		rc = mqsa_tx_run(ctx, "clientid release", release_change, &a, NULL, why);
	return rc;
}
