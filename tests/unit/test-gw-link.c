/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-link.c - LINE link codes (gw_link.h): shape (>= 40 bits),
 * single use, expiry at 10 minutes, a new code replacing the old one, 5
 * failures locking that LINE user for the hour, no global limit (100
 * failures from 20 users do not stop a genuine code), the window ending,
 * pruning of the counters. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_link.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_store.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "tap.h"

#define NOW  1800000000000LL
#define HOUR (60LL * 60 * 1000)
#define U1   "U0123456789abcdef0123456789abcdef"
#define U2   "U1111111111abcdef0123456789abcdef"

static char dir[] = "/tmp/test-gw-link.XXXXXX";
static struct gw_store s;

/* Redeem code as user at now. */
static int redeem(const char *code, const char *user, int64_t now, char *name)
{
	return gw_link_redeem(&s, code, strlen(code), user, now, name, GW_NAME_MAX + 1);
}

/* The recipient bound to LINE user, or "" */
static const char *bound(const char *user)
{
	static char name[GW_NAME_MAX + 1];
	char err[256];

	if (gw_recipient_find(&s, GW_F_LINE, user, name, sizeof(name), err, sizeof(err)) != MQS_OK)
		name[0] = '\0';
	return name;
}

/* Rows in http_limits, or -1. */
static int count_limits(void)
{
	sqlite3_stmt *st = gw_store_prepare(&s, "SELECT count(*) FROM http_limits");
	int n = -1;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

int main(void)
{
	const char *alice[GW_F__COUNT] = {"alice@example.org", NULL, NULL};
	const char *bob[GW_F__COUNT] = {"bob@example.org", NULL, NULL};
	char db[256], key[256], err[512], code[GW_LINK_CODE_LEN + 1], old[GW_LINK_CODE_LEN + 1];
	char name[GW_NAME_MAX + 1], other[GW_LINK_CODE_LEN + 1];
	int shape = 1, rc;

	tap_plan(34);
	gw_log_set_level(GW_LOG_ERR);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db, sizeof(db), "%s/gw.db", dir);
	snprintf(key, sizeof(key), "%s/gw.key", dir);
	if (gw_store_open(&s, db, key, 0, err, sizeof(err)) != MQS_OK ||
	    gw_recipient_add(&s, "alice", alice, NULL, 0, err, sizeof(err)) != MQS_OK ||
	    gw_recipient_add(&s, "bob", bob, NULL, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("set-up: %s", err);
		return 1;
	}

	/* shape */
	tap_ok(GW_LINK_CODE_LEN * 5 >= 40, "codes carry at least 40 bits");
	for (int i = 0; i < 50; i++) {
		if (gw_link_create(&s, "alice", GW_CH_LINE, NOW, code, err, sizeof(err)) !=
		        MQS_OK ||
		    strlen(code) != GW_LINK_CODE_LEN ||
		    strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != GW_LINK_CODE_LEN)
			shape = 0;
	}
	tap_ok(shape, "50 codes: 10 characters of base32 each");
	tap_ok(gw_link_looks_like_code(" abcdefgh23\n", 12),
	       "a code in lower case with spaces looks like one");
	tap_ok(!gw_link_looks_like_code("ABCDEFGH1", 9) &&
	           !gw_link_looks_like_code("ABCDEFGH18", 10) &&
	           !gw_link_looks_like_code("hello there", 11),
	       "other texts do not");
	tap_is_int(gw_link_create(&s, "nobody", GW_CH_LINE, NOW, code, err, sizeof(err)),
	           MQS_ERR_NOENT, "no code for no recipient");
	tap_is_int(gw_link_create(&s, "alice", GW_CH_SMS, NOW, code, err, sizeof(err)),
	           MQS_ERR_INVAL, "no code for sms");

	/* single use, replacement */
	tap_ok(gw_link_create(&s, "alice", GW_CH_LINE, NOW, old, err, sizeof(err)) == MQS_OK,
	       "a code");
	tap_ok(gw_link_create(&s, "alice", GW_CH_LINE, NOW, code, err, sizeof(err)) == MQS_OK,
	       "a newer code");
	tap_is_int(redeem(old, U1, NOW + 1000, name), MQS_ERR_NOENT,
	           "the older one stopped working");
	tap_is_int(redeem(code, U1, NOW + 1000, name), MQS_OK, "the newer one works");
	tap_ok(strcmp(name, "alice") == 0, "... for alice");
	tap_ok(strcmp(bound(U1), "alice") == 0, "... whose line address is now the user id");
	tap_is_int(redeem(code, U2, NOW + 2000, name), MQS_ERR_NOENT, "a code works once");
	tap_ok(strcmp(bound(U2), "") == 0, "... nothing bound the second time");

	/* expiry */
	tap_ok(gw_link_create(&s, "bob", GW_CH_LINE, NOW, code, err, sizeof(err)) == MQS_OK,
	       "a code for bob");
	tap_is_int(redeem(code, U2, NOW + GW_LINK_TTL_MS, name), MQS_ERR_NOENT,
	           "expired at 10 minutes");
	tap_ok(gw_link_create(&s, "bob", GW_CH_LINE, NOW, code, err, sizeof(err)) == MQS_OK,
	       "another code for bob");
	tap_is_int(redeem(code, U2, NOW + GW_LINK_TTL_MS - 1, name), MQS_OK,
	           "valid just before 10 minutes");

	/* per-user lock: U1 has 2 failures so far (old code, reused code: none;
	 * count from a fresh hour) */
	for (int i = 0; i < 5; i++)
		rc = redeem("AAAAAAAAAA", "Uaaaa", NOW + 2 * HOUR, name);
	tap_is_int(rc, MQS_ERR_NOENT, "five wrong codes are counted");
	tap_ok(gw_link_create(&s, "alice", GW_CH_LINE, NOW + 2 * HOUR, code, err, sizeof(err)) ==
	           MQS_OK,
	       "a good code");
	tap_is_int(redeem(code, "Uaaaa", NOW + 2 * HOUR + 1, name), MQS_ERR_PERM,
	           "after 5 failures that user is refused even a good code");
	tap_is_int(redeem(code, "Ubbbb", NOW + 2 * HOUR + 2, name), MQS_OK, "another user is not");
	tap_ok(gw_link_create(&s, "alice", GW_CH_LINE, NOW + 3 * HOUR + 5, code, err,
	                      sizeof(err)) == MQS_OK,
	       "a good code an hour later");
	tap_is_int(redeem(code, "Uaaaa", NOW + 3 * HOUR + 6, name), MQS_OK,
	           "the lock ends with the hour");

	/* no global cap (docs/marketing.md, "Linking a LINE account"): 100
	 * failures from 20 users do not stop another user's genuine code */
	tap_is_int(gw_link_prune(&s, NOW + 5 * HOUR), MQS_OK, "earlier windows pruned");
	tap_is_int(count_limits(), 0, "no counter row left");
	for (int i = 0; i < 100; i++) {
		char u[16];

		snprintf(u, sizeof(u), "Ux%d", i / 5);
		(void)redeem("AAAAAAAAAA", u, NOW + 5 * HOUR, name);
	}
	tap_ok(gw_link_create(&s, "bob", GW_CH_LINE, NOW + 5 * HOUR, other, err, sizeof(err)) ==
	           MQS_OK,
	       "a good code");
	tap_is_int(redeem(other, "Unew", NOW + 5 * HOUR + 1, name), MQS_OK,
	           "after 100 failures from 20 users a genuine code still links");
	tap_is_int(redeem("AAAAAAAAAA", "Ux3", NOW + 5 * HOUR + 2, name), MQS_ERR_PERM,
	           "the per-user lock still holds for those users");
	tap_is_int(count_limits(), 20, "one counter row per failing user");
	tap_is_int(gw_link_prune(&s, NOW + 6 * HOUR - 1), MQS_OK, "prune before the window ends");
	tap_is_int(count_limits(), 20, "rows of a running window are kept");
	tap_is_int(gw_link_prune(&s, NOW + 6 * HOUR), MQS_OK, "prune after the window");
	tap_is_int(count_limits(), 0, "rows whose window is over are deleted");

	gw_store_close(&s);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	tap_done();
	return tap_exit();
}
