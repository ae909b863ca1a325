/* SPDX-License-Identifier: BSD-3-Clause */
/* creds.c - the one place the admin library turns device credentials into
 * the JSON of a credentials file (docs/acl.md, "Devices";
 * docs/broker-plugin.md, "Connect tokens"). */
#include "config.h"

#include <string.h>

#include "mqs_creds.h"
#include "mqsa_int.h"

/* 1 when the plugin running on this database last said it accepts connect
 * tokens (settings row connect_tokens = on), 0 when not or never said. */
static enum mqs_err tokens_accepted(struct mqsa_ctx *ctx, int *on, char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;
	int r;

	*on = 0;
	rc =
	    mqsa_prepare(ctx, "SELECT value FROM settings WHERE name = 'connect_tokens'", &st, why);
	if (rc != MQS_OK)
		goto out;
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);

		*on = v != NULL && strcmp((const char *)v, "on") == 0;
	} else if (r != SQLITE_DONE) {
		rc = mqsa_db_fail(ctx, why, "read the connect token setting");
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* Serialise device credentials c for a credentials file. */
enum mqs_err mqsa_creds_json(struct mqsa_ctx *ctx, struct mqs_creds *c, char **json, char *why)
{
	enum mqs_err rc;
	int on = 0;

	*json = NULL;
	rc = tokens_accepted(ctx, &on, why);
	if (rc != MQS_OK)
		goto out;
	/* clients use tokens only where the broker accepts them */
	c->connect_tokens = on && c->has_totp;
	rc = mqs_creds_to_json(c, json);
	if (rc != MQS_OK)
		rc = mqsa_fail(why, rc, "cannot build credentials: %s", mqs_strerror(rc));
out:
	return rc;
}
