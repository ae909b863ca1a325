/* SPDX-License-Identifier: BSD-3-Clause */
/* test-revoke-holders.c - revoking rotates (admin/revoke.c;
 * docs/payload-encryption.md, "Revoking rotates"), as an outside attacker
 * would try to slip past it: a revoked holder listed after 300 others that
 * still read is found (no cap on the holders looked at), and adding a
 * holder to a group whose deny rule takes its read right away rotates. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqsa_int.h"
#include "mqs_error.h"
#include "tap.h"

#define OTHERS 300

/* Run sql; 0 on failure (diagnosed). */
static int exec(struct mqsa_ctx *ctx, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(ctx->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		tap_diag("sql failed: %s: %s", sql, err != NULL ? err : "?");
		sqlite3_free(err);
		return 0;
	}
	return 1;
}

/* The integer sql selects (one text parameter), or -1. */
static long long one(struct mqsa_ctx *ctx, const char *sql, const char *param)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (param != NULL)
		sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The active key id of site/#. */
static long long active(struct mqsa_ctx *ctx)
{
	return one(ctx,
	           "SELECT max(id) FROM keys WHERE purpose = 'topic' AND owner = 'site/#' AND "
	           "state = 'active'",
	           NULL);
}

/* Grant name the active key of site/# (as key export records it). */
static int grant(struct mqsa_ctx *ctx, const char *name)
{
	char sql[300];

	snprintf(sql, sizeof(sql),
	         "INSERT OR REPLACE INTO key_grants (username, key_id, filter, via, at) SELECT "
	         "'%s', max(id), 'site/#', 'export', 0 FROM keys WHERE purpose = 'topic' AND "
	         "owner = 'site/#' AND state = 'active'",
	         name);
	return exec(ctx, sql);
}

int main(void)
{
	char dir[256], db[300], key[300], sql[300];
	char why[MQSA_WHY_MAX] = "";
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_init_result ir;
	struct mqsa_topic_protected tp;
	long long id = 0, k0, k1, k2;
	int changed = 0;
	int ok = 1;
	enum mqs_err rc;
	const char *base = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/mqs-test-revoke-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(dir) == NULL)
		return 99;
	snprintf(db, sizeof(db), "%s/db.sqlite", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	rc = mqsa_ctx_open(db, key, "tester", &ctx);
	if (rc == MQS_OK)
		rc = mqsa_init(ctx, &ir, why);
	tap_is_int(rc, MQS_OK, "init %s", why);
	if (rc != MQS_OK)
		return tap_exit();
	mqsa_ctx_set_now(ctx, 1800000000);
	memset(&tp, 0, sizeof(tp));
	rc = mqsa_topic_protect(ctx, "site/#", NULL, &tp, why);
	if (rc == MQS_OK)
		rc = mqsa_group_add(ctx, "readers", why);
	if (rc == MQS_OK)
		rc = mqsa_group_add(ctx, "blocked", why);
	if (rc == MQS_OK)
		rc = mqsa_rule_add(ctx, "allow", "read", "@readers", "site/#", 0, &id, why);
	if (rc == MQS_OK)
		rc = mqsa_rule_add(ctx, "deny", "read", "@blocked", "site/#", 10, &id, why);
	tap_is_int(rc, MQS_OK, "site/# protected, groups readers and blocked %s", why);
	/* OTHERS readers that keep reading, and two holders named to sort last */
	ok &= exec(ctx, "BEGIN");
	for (int i = 0; i < OTHERS + 2 && ok; i++) {
		char name[32];

		if (i < OTHERS)
			snprintf(name, sizeof(name), "r%04d", i);
		else
			snprintf(name, sizeof(name), "zz%d", i - OTHERS);
		snprintf(
		    sql, sizeof(sql),
		    "INSERT INTO devices (name, enabled, totp_wrapped, created_at, generation) "
		    "VALUES ('%s', 1, x'00', 0, 1);"
		    "INSERT INTO group_members (grp, member) VALUES ('readers', '%s')",
		    name, name);
		ok &= exec(ctx, sql) && grant(ctx, name);
	}
	ok &= exec(ctx, "COMMIT");
	tap_ok(ok, "%d readers hold the key of site/#", OTHERS + 2);
	k0 = active(ctx);

	/* device disable of the last holder */
	rc = mqsa_device_set_enabled(ctx, "zz0", 0, &changed, why);
	tap_is_int(rc, MQS_OK, "zz0 disabled %s", why);
	k1 = active(ctx);
	tap_ok(k1 > k0, "site/# rotated although zz0 is listed after %d holders (key %lld -> %lld)",
	       OTHERS, k0, k1);
	tap_is_int((int)one(ctx, "SELECT count(*) FROM key_grants WHERE username = ?1", "zz0"), 0,
	           "zz0's grants are gone");

	/* group member add of a holder to a group whose deny rule applies */
	tap_ok(grant(ctx, "zz1"), "zz1 holds the new key");
	rc = mqsa_group_member_add(ctx, "blocked", "zz1", why);
	tap_is_int(rc, MQS_OK, "zz1 added to group blocked %s", why);
	k2 = active(ctx);
	tap_ok(k2 > k1, "site/# rotated when a deny group took zz1's read right (key %lld -> %lld)",
	       k1, k2);
	tap_is_int(
	    (int)one(ctx,
	             "SELECT count(*) FROM audit WHERE action = 'key rotate' AND detail LIKE "
	             "'%reason=revoke holder=' || ?1",
	             "zz1"),
	    1, "the rotation is audited with the holder");
	/* a reader added to readers again takes nothing away: no rotation */
	rc = mqsa_group_member_add(ctx, "readers", "zz1", why);
	tap_ok(rc == MQS_OK || rc == MQS_ERR_EXISTS, "zz1 added to readers");
	tap_ok(active(ctx) == k2, "a membership that takes nothing away rotates nothing");

	mqsa_ctx_close(ctx);
	snprintf(sql, sizeof(sql), "rm -rf '%s'", dir);
	if (system(sql) != 0)
		tap_diag("could not remove %s", dir);
	tap_done();
	return tap_exit();
}
