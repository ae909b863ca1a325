/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_init.c - mqttsec-acl init: create the master key and the database
 * (both mode 0600, missing parent folders 0700) when absent (admin/init.c,
 * mqsa_init).
 *
 * Idempotent: existing files are checked, never replaced.  An existing
 * master key readable by group or others is refused, and no new master key
 * is made for a database that already holds secrets wrapped under another
 * one (that would orphan them; restore the key file instead).
 */
#include "config.h"

#include <stdio.h>
#include <sysexits.h>

#include "acl.h"

/* The exit code of a failed init. */
static int init_ex(const struct acl_ctx *ctx, enum mqs_err rc)
{
	switch (rc) {
	case MQS_ERR_IO:
		return EX_CANTCREAT;
	case MQS_ERR_NOENT: /* a missing key for a db holding wrapped secrets */
	case MQS_ERR_PARSE:
	case MQS_ERR_DB_VERSION:
		return EX_CONFIG;
	default:
		return acl_ex(ctx, rc);
	}
}

/* init */
int acl_cmd_init(struct acl_ctx *ctx, int argc, char **argv)
{
	struct mqsa_init_result r = {0, 0, 0};
	char why[ACL_WHY_MAX] = "";
	enum mqs_err rc;
	int first;
	int ex;

	ex = acl_parse_opts(ctx, argc, argv, "init", "", 0, NULL, NULL, NULL, 0, 0, &first);
	if (ex != EX_OK)
		goto out;
	rc = mqsa_init(ctx->adm, &r, why);
	if (r.db_open_to_others)
		acl_err("warning: db %s is accessible by group or others (chmod 600 it)",
		        ctx->db_path);
	if (rc != MQS_OK) {
		if (why[0] != '\0')
			acl_err("%s", why);
		ex = init_ex(ctx, rc);
		goto out;
	}
	printf("master key %s: %s\n", ctx->key_path, r.key_created ? "created" : "exists");
	printf("db %s: %s\n", ctx->db_path, r.db_created ? "created" : "exists");
out:
	return ex;
}
