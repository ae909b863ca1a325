/* SPDX-License-Identifier: BSD-3-Clause */
/* test-revoke-holders.c - revoking rotates (admin/revoke.c;
 * docs/payload-encryption.md, "Revoking rotates"), as an outside attacker
 * would try to slip past it: a revoked holder listed after 300 others that
 * still read is found (no cap on the holders looked at), adding a
 * holder to a group whose deny rule takes its read right away rotates, and
 * so does revoking a holder of the key that still seals while its
 * successor is announced; the lists count too: a deny entry for a holder
 * (not an automatic ban), and with the allow list on, removing or the
 * expiry of the allow entry that let a holder in (noticed at the next
 * change); and the plugin's pass in slices (mqs_revoke_check_slice)
 * finds a revoked holder listed last, rotating once; and the client id and
 * address recorded with an online fetch: deny entries by client id or ip
 * (one NAT address: every holder seen there), and the client id or ip
 * allow entry that let the fetch in, removed or expired. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqsa_int.h"
#include "mqs_error.h"
#include "mqs_revoke.h"
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

/* Grant name the active key of site/# as the plugin records an online
 * fetch by client id cid from address addr (either NULL: not recorded). */
static int grant_online(struct mqsa_ctx *ctx, const char *name, const char *cid, const char *addr)
{
	sqlite3_stmt *st = NULL;
	int ok;

	if (sqlite3_prepare_v2(ctx->db,
	                       "INSERT OR REPLACE INTO key_grants (username, key_id, filter, via, "
	                       "at, clientid, address) SELECT ?1, max(id), 'site/#', 'online', 0, "
	                       "?2, ?3 FROM keys WHERE purpose = 'topic' AND owner = 'site/#' AND "
	                       "state = 'active'",
	                       -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (cid != NULL)
		sqlite3_bind_text(st, 2, cid, -1, SQLITE_STATIC);
	if (addr != NULL)
		sqlite3_bind_text(st, 3, addr, -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok;
}

/* The number of name's grants of site/#. */
static long long grants_of(struct mqsa_ctx *ctx, const char *name)
{
	return one(ctx, "SELECT count(*) FROM key_grants WHERE username = ?1", name);
}

/* Deny and allow entries by client id or ip: the client id and address of
 * each online fetch count (the allow list is on, every older device has a
 * username allow entry). */
static void fetch_lists(struct mqsa_ctx *ctx)
{
	struct mqsa_list_added la, allow11, ipallow;
	char why[MQSA_WHY_MAX] = "";
	long long k0, k1, k2, k3, k4, k5, k6;
	enum mqs_err rc;
	int ok;

	mqsa_ctx_set_now(ctx, 1800000100);
	/* zz7..zz10 have username allow entries, zz11 and zz12 none */
	ok = exec(ctx,
	          "INSERT INTO devices (name, enabled, totp_wrapped, created_at, generation) "
	          "VALUES ('zz7', 1, x'00', 0, 1), ('zz8', 1, x'00', 0, 1), ('zz9', 1, x'00', 0, "
	          "1), ('zz10', 1, x'00', 0, 1), ('zz11', 1, x'00', 0, 1), ('zz12', 1, x'00', 0, "
	          "1);"
	          "INSERT INTO group_members (grp, member) SELECT 'readers', name FROM devices "
	          "WHERE name IN ('zz7', 'zz8', 'zz9', 'zz10', 'zz11', 'zz12');"
	          "INSERT INTO list_entries (kind, match, pattern, created_at) SELECT 'allow', "
	          "'username', name, 0 FROM devices WHERE name IN ('zz7', 'zz8', 'zz9', 'zz10')");
	ok &= grant_online(ctx, "zz7", "cam-7", "192.0.2.7") &&
	      grant_online(ctx, "zz8", "cam-8", "198.51.100.5") &&
	      grant_online(ctx, "zz9", "cam-9", "198.51.100.5") &&
	      grant_online(ctx, "zz10", "cam-10", "2001:db8::10") && grant(ctx, "r0002");
	k0 = active(ctx);
	tap_ok(ok && k0 > 0, "zz7..zz10 fetched the key of site/# online (key %lld)", k0);

	/* a deny entry for another client id takes nothing away */
	rc = mqsa_list_add(ctx, "deny", "clientid", "cam-70", 0, NULL, &la, why);
	tap_ok(rc == MQS_OK && active(ctx) == k0,
	       "a deny entry for a client id no holder fetched with rotates nothing %s", why);
	/* one for the client id zz7 fetched with rotates */
	rc = mqsa_list_add(ctx, "deny", "clientid", "cam-7", 0, "stolen", &la, why);
	k1 = active(ctx);
	tap_ok(rc == MQS_OK && k1 > k0,
	       "a deny entry for the client id holder zz7 fetched with rotates (key %lld -> %lld) "
	       "%s",
	       k0, k1, why);
	tap_ok(grants_of(ctx, "zz7") == 0 && grants_of(ctx, "zz8") > 0,
	       "zz7's grants are gone, zz8's are kept");
	tap_is_int((int)one(ctx,
	                    "SELECT count(*) FROM audit WHERE action = 'key rotate' AND detail "
	                    "LIKE '%lost=1 reason=revoke holder=' || ?1",
	                    "zz7"),
	           1, "audited with the holder");

	/* an automatic ban of an address (the plugin's lockout) takes nothing */
	ok = grant_online(ctx, "zz8", "cam-8", "198.51.100.5") &&
	     grant_online(ctx, "zz9", "cam-9", "198.51.100.5") &&
	     grant_online(ctx, "zz10", "cam-10", "2001:db8::10") &&
	     exec(ctx, "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, "
	               "created_at, created_by) VALUES ('deny', 'ip', '198.51.100.5', "
	               "1900000000, 'auth-failures', 0, 'mqttsec-plugin')");
	rc = mqsa_group_add(ctx, "g-unrelated4", why);
	tap_ok(ok && rc == MQS_OK && active(ctx) == k1,
	       "an automatic ban of a holder's address rotates nothing %s", why);
	/* an ip deny entry covering the address two holders fetched from (one
	 * NAT address): one rotation, both lose */
	rc = mqsa_list_add(ctx, "deny", "ip", "198.51.100.0/24", 0, NULL, &la, why);
	k2 = active(ctx);
	tap_ok(rc == MQS_OK && k2 > k1,
	       "an ip deny entry covering the address zz8 and zz9 fetched from rotates (key %lld "
	       "-> %lld) %s",
	       k1, k2, why);
	tap_ok(grants_of(ctx, "zz8") == 0 && grants_of(ctx, "zz9") == 0 &&
	           grants_of(ctx, "zz10") > 0 && grants_of(ctx, "r0002") > 0,
	       "zz8's and zz9's grants are gone; zz10's and the exported r0002's are kept");
	tap_is_int((int)one(ctx,
	                    "SELECT count(*) FROM audit WHERE action = 'key rotate' AND detail "
	                    "LIKE '%lost=2 reason=revoke holder=' || ?1",
	                    "zz8"),
	           1, "one rotation for both holders, audited lost=2");
	/* IPv6 */
	ok = grant_online(ctx, "zz10", "cam-10", "2001:db8::10");
	rc = mqsa_list_add(ctx, "deny", "ip", "2001:db8::/64", 0, NULL, &la, why);
	k3 = active(ctx);
	tap_ok(ok && rc == MQS_OK && k3 > k2 && grants_of(ctx, "zz10") == 0,
	       "an IPv6 deny entry covering zz10's address rotates (key %lld -> %lld) %s", k2, k3,
	       why);

	/* allow list on: zz11 let in by its client id, zz12 by its address */
	rc = mqsa_list_add(ctx, "allow", "clientid", "gw-11", 0, NULL, &allow11, why);
	if (rc == MQS_OK)
		rc = mqsa_list_add(ctx, "allow", "ip", "203.0.113.0/24", 60, NULL, &ipallow, why);
	ok = rc == MQS_OK && grant_online(ctx, "zz11", "gw-11", "192.0.2.11") &&
	     grant_online(ctx, "zz12", "gw-12", "203.0.113.12") &&
	     grant_online(ctx, "r0002", "r-2", "192.0.2.2");
	rc = mqsa_group_add(ctx, "g-unrelated5", why);
	k4 = active(ctx);
	tap_ok(ok && rc == MQS_OK && k4 == k3,
	       "holders let in by client id and ip allow entries keep the key (key %lld) %s", k4,
	       why);
	/* the client id entry removed: zz11's fetch is let in by nothing (the
	 * ip entry does not cover its address) */
	rc = mqsa_list_remove(ctx, allow11.id, why);
	k5 = active(ctx);
	tap_ok(rc == MQS_OK && k5 > k4 && grants_of(ctx, "zz11") == 0 &&
	           grants_of(ctx, "zz12") > 0 && grants_of(ctx, "r0002") > 0,
	       "removing the client id allow entry that let zz11 in rotates (key %lld -> %lld), "
	       "zz12 and r0002 (username entry) keep theirs %s",
	       k4, k5, why);
	/* the ip entry expires: the next change rotates for zz12 */
	ok = grant_online(ctx, "zz12", "gw-12", "203.0.113.12");
	mqsa_ctx_set_now(ctx, 1800000100 + 61);
	rc = mqsa_group_add(ctx, "g-unrelated6", why);
	k6 = active(ctx);
	tap_ok(ok && rc == MQS_OK && k6 > k5 && grants_of(ctx, "zz12") == 0 &&
	           grants_of(ctx, "r0002") > 0,
	       "the ip allow entry that let zz12 in expired: the next change rotates (key %lld -> "
	       "%lld) %s",
	       k5, k6, why);
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
	/* announced rotation: the old key, retired, seals for an hour more;
	 * zz2 holds only that one and is revoked */
	{
		struct mqsa_key_rotated kr;
		long long k3, k4;

		memset(&kr, 0, sizeof(kr));
		ok = exec(ctx,
		          "INSERT INTO devices (name, enabled, totp_wrapped, created_at, "
		          "generation) VALUES ('zz2', 1, x'00', 0, 1);"
		          "INSERT INTO group_members (grp, member) VALUES ('readers', 'zz2')") &&
		     grant(ctx, "zz2");
		rc = mqsa_key_rotate_announced(ctx, "site/#", 86400, 3600, &kr, why);
		k3 = active(ctx);
		tap_ok(
		    ok && rc == MQS_OK && k3 > k2 && kr.seals_from > 0,
		    "site/# rotated with a one-hour announce (key %lld announced, %lld seals) %s",
		    k3, k2, why);
		rc = mqsa_device_set_enabled(ctx, "zz2", 0, &changed, why);
		k4 = active(ctx);
		tap_ok(rc == MQS_OK && k4 > k3 &&
		           one(ctx, "SELECT seal_after FROM keys WHERE id = ?1 + 0",
		               (snprintf(sql, sizeof(sql), "%lld", k4), sql)) == 0,
		       "revoking a holder of the still-sealing key rotates: key %lld seals at once",
		       k4);
		k2 = k4;
	}
	/* a reader added to readers again takes nothing away: no rotation */
	rc = mqsa_group_member_add(ctx, "readers", "zz1", why);
	tap_ok(rc == MQS_OK || rc == MQS_ERR_EXISTS, "zz1 added to readers");
	tap_ok(active(ctx) == k2, "a membership that takes nothing away rotates nothing");

	/* lists: a deny entry for a holder's username added by an admin rotates */
	{
		struct mqsa_list_added la, allow3;
		long long k5, k6, k7, k8;

		memset(&la, 0, sizeof(la));
		ok = exec(ctx,
		          "INSERT INTO devices (name, enabled, totp_wrapped, created_at, "
		          "generation) VALUES ('zz3', 1, x'00', 0, 1);"
		          "INSERT INTO group_members (grp, member) VALUES ('readers', 'zz3')") &&
		     grant(ctx, "zz3");
		rc = mqsa_list_add(ctx, "deny", "username", "zz3", 0, "stolen", &la, why);
		k5 = active(ctx);
		tap_ok(ok && rc == MQS_OK && k5 > k2,
		       "a deny entry for holder zz3 rotates (key %lld -> %lld) %s", k2, k5, why);
		/* an automatic ban by the plugin (temporary lockout) does not */
		ok =
		    grant(ctx, "r0001") &&
		    exec(ctx, "INSERT INTO list_entries (kind, match, pattern, expires_at, reason, "
		              "created_at, created_by) VALUES ('deny', 'username', 'r0001', "
		              "1900000000, 'auth-failures', 0, 'mqttsec-plugin')");
		rc = mqsa_group_add(ctx, "g-unrelated", why);
		tap_ok(ok && rc == MQS_OK && active(ctx) == k5,
		       "an automatic ban of a holder rotates nothing (key %lld)", active(ctx));
		/* allow list on (as the plugin records it): zz4 is let in by an
		 * allow entry with a TTL, zz5 by one without */
		ok =
		    exec(ctx, "INSERT INTO settings (name, value) VALUES ('allowlist', 'on');"
		              "INSERT INTO devices (name, enabled, totp_wrapped, created_at, "
		              "generation) VALUES ('zz4', 1, x'00', 0, 1), ('zz5', 1, x'00', 0, 1);"
		              "INSERT INTO group_members (grp, member) VALUES ('readers', 'zz4'), "
		              "('readers', 'zz5');"
		              "INSERT INTO list_entries (kind, match, pattern, created_at) "
		              "VALUES ('allow', 'ip', '127.0.0.1/32', 0)");
		tap_ok(ok, "allow list on; zz4 and zz5 read site/#");
		/* with an ip allow entry any device may come in: remove it, and
		 * give the others a username entry each so they keep reading */
		ok = exec(ctx, "DELETE FROM list_entries WHERE match = 'ip';"
		               "INSERT INTO list_entries (kind, match, pattern, created_at) "
		               "SELECT 'allow', 'username', name, 0 FROM devices "
		               "WHERE name NOT IN ('zz4', 'zz5')");
		rc = mqsa_list_add(ctx, "allow", "username", "zz4", 60, NULL, &la, why);
		if (rc == MQS_OK)
			rc = mqsa_list_add(ctx, "allow", "username", "zz5", 0, NULL, &allow3, why);
		ok &= rc == MQS_OK && grant(ctx, "zz4") && grant(ctx, "zz5");
		rc = mqsa_group_add(ctx, "g-unrelated2", why);
		k6 = active(ctx);
		tap_ok(ok && rc == MQS_OK && k6 == k5,
		       "holders let in by allow entries keep the key (key %lld) %s", k6, why);
		/* zz5's allow entry removed: rotates */
		rc = mqsa_list_remove(ctx, allow3.id, why);
		k7 = active(ctx);
		tap_ok(rc == MQS_OK && k7 > k6,
		       "removing the allow entry that let holder zz5 in rotates (key %lld -> %lld) "
		       "%s",
		       k6, k7, why);
		/* zz4's allow entry expires: the next change, whatever it is, rotates */
		ok = grant(ctx, "zz4");
		mqsa_ctx_set_now(ctx, 1800000000 + 61);
		rc = mqsa_group_add(ctx, "g-unrelated3", why);
		k8 = active(ctx);
		tap_ok(ok && rc == MQS_OK && k8 > k7,
		       "the allow entry of holder zz4 expired: the next change rotates "
		       "(key %lld -> %lld) %s",
		       k7, k8, why);
		tap_is_int((int)one(ctx,
		                    "SELECT count(*) FROM audit WHERE action = 'key rotate' AND "
		                    "detail LIKE '%lost=1 reason=revoke holder=' || ?1",
		                    "zz4"),
		           1, "audited with the holder");
	}

	/* the plugin's pass, 50 holders a slice, each in its own transaction:
	 * zz6, listed last, lost its read behind the admin's back */
	{
		long long k9 = 0, k10;
		char *after = NULL, *next = NULL;
		unsigned slices = 0, rotated = 0, n = 0;
		char err[512];

		ok = exec(ctx, "INSERT INTO devices (name, enabled, totp_wrapped, created_at, "
		               "generation) VALUES ('zz6', 1, x'00', 0, 1);"
		               "INSERT INTO group_members (grp, member) VALUES ('readers', 'zz6');"
		               "INSERT INTO list_entries (kind, match, pattern, created_at) VALUES "
		               "('allow', 'username', 'zz6', 0)") &&
		     grant(ctx, "zz6");
		k9 = active(ctx);
		ok &= exec(ctx, "UPDATE devices SET enabled = 0 WHERE name = 'zz6'");
		rc = MQS_OK;
		do {
			ok &= exec(ctx, "BEGIN IMMEDIATE");
			rc = mqs_revoke_check_slice(ctx->db, ctx->mk, 1800000000 + 62,
			                            1800000000 + 62 + 3600, "tester", after, 50,
			                            &next, &n, err, sizeof(err));
			ok &= exec(ctx, rc == MQS_OK ? "COMMIT" : "ROLLBACK");
			free(after);
			after = next;
			rotated += n;
			slices++;
		} while (rc == MQS_OK && after != NULL && slices < 100);
		free(after);
		k10 = active(ctx);
		tap_ok(ok && rc == MQS_OK && slices >= OTHERS / 50,
		       "the pass took %u slices of 50 holders %s", slices, rc != MQS_OK ? err : "");
		tap_ok(k10 > k9 && rotated == 1,
		       "the slice that reached zz6 rotated the filter once (key %lld -> %lld, %u)",
		       k9, k10, rotated);
		tap_is_int(
		    (int)one(ctx, "SELECT count(*) FROM key_grants WHERE username = ?1", "zz6"), 0,
		    "zz6's grants are gone");
	}

	fetch_lists(ctx);

	mqsa_ctx_close(ctx);
	snprintf(sql, sizeof(sql), "rm -rf '%s'", dir);
	if (system(sql) != 0)
		tap_diag("could not remove %s", dir);
	tap_done();
	return tap_exit();
}
