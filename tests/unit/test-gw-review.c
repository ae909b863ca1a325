/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-review.c - the rules of the hierarchical review (gw_review.h;
 * docs/marketing.md, "Review"): every refusal, the audit that proves an
 * approval, persons' one-time codes, content queued once per level. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_campaign.h"
#include "gw_group.h"
#include "gw_kind.h"
#include "gw_review.h"
#include "gw_store.h"
#include "mqs_error.h"
#include "mqs_totp.h"
#include "mqs_util.h"
#include "tap.h"

#define T0   1800000000000LL /* a fixed "now" (ms) */
#define HOUR 3600000LL

static char dir[] = "/tmp/test-gw-review-XXXXXX";
static struct gw_store st;
static struct gw_route route;
static const char *const levels2[] = {"editors", "managers"};

/* One integer from sql. */
static long long count(const char *sql)
{
	sqlite3_stmt *q = gw_store_prepare(&st, sql);
	long long n = -1;

	if (q != NULL && sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* The state of campaign cid. */
static int state_cb(const struct gw_campaign_info *ci, void *arg)
{
	snprintf(arg, 20, "%s", ci->state);
	return MQS_OK;
}

/* 1 when cid is in state want. */
static int state_is(const char *cid, const char *want)
{
	char state[20] = "";

	if (gw_review_get(&st, cid, state_cb, state) != MQS_OK)
		return 0;
	if (strcmp(state, want) != 0)
		tap_diag("%s is %s, not %s", cid, state, want);
	return strcmp(state, want) == 0;
}

/* The campaign text for id. */
static void doc(char *buf, size_t cap, const char *id)
{
	snprintf(buf, cap,
	         "{\"id\": \"%s\", \"group\": \"customers\", \"channels\": [\"line\"], "
	         "\"text\": \"Hello {{name}}, winter sale\"}",
	         id);
}

/* Submit campaign id by author; its sha256 into sha (65). */
static int submit(const char *id, const char *author, int64_t now, char *sha)
{
	char text[512], err[256], cid[GW_ID_MAX + 1];
	int rc;

	doc(text, sizeof(text), id);
	gw_campaign_sha256_hex((const uint8_t *)text, strlen(text), sha);
	rc = gw_review_submit(&st, &route, (const uint8_t *)text, strlen(text), author, "mqtt", now,
	                      cid, err, sizeof(err));
	if (rc != MQS_OK)
		tap_diag("submit %s: %s", id, err);
	return rc;
}

/* One decision; the error code. */
static int decide(const char *cid, const char *who, int d, const char *level, const char *sha,
                  int64_t now)
{
	char err[256];
	int rc = gw_review_decide(
	    &st, cid, who, d, level, sha, d == GW_DECIDE_REJECT ? "not on brand" : NULL,
	    strncmp(who, "console:", 8) == 0 ? "console" : "mqtt", now, err, sizeof(err));

	if (rc != MQS_OK)
		tap_diag("%s by %s: %s", cid, who, err);
	return rc;
}

/* Secrets of the persons created by add(). */
static char secrets[8][80];
static const char *secret_names[8];
static size_t nsecrets;

/* Add a reviewer, keeping the secret of a new person. */
static int add(const char *principal, const char *level, const char *person)
{
	char secret[80], err[256];
	int fresh = 0;
	int rc = gw_reviewer_add(&st, principal, level, person, T0, &fresh, secret, sizeof(secret),
	                         err, sizeof(err));

	if (rc != MQS_OK)
		tap_diag("reviewer add %s: %s", principal, err);
	if (rc == MQS_OK && fresh && nsecrets < 8) {
		snprintf(secrets[nsecrets], sizeof(secrets[0]), "%s", secret);
		secret_names[nsecrets++] = person;
	}
	return rc;
}

/* The code of person at now_ms. */
static void code_of(const char *person, int64_t now_ms, char code[9])
{
	struct mqs_totp_params p;
	uint8_t *raw = NULL;
	size_t raw_len = 0;

	code[0] = '\0';
	mqs_totp_params_default(&p);
	for (size_t i = 0; i < nsecrets; i++) {
		if (strcmp(secret_names[i], person) != 0)
			continue;
		if (mqs_base32_decode(secrets[i], strlen(secrets[i]), &raw, &raw_len) == MQS_OK &&
		    mqs_totp_generate(raw, raw_len, &p, (time_t)(now_ms / 1000), code, 9) != MQS_OK)
			code[0] = '\0';
		mqs_secret_free(raw, raw_len);
	}
}

static void test_reviewers(void)
{
	char err[256], secret[80];
	int fresh = 1;

	tap_ok(gw_principal_ok("mqtt:ed1") && gw_principal_ok("console:alice") &&
	           !gw_principal_ok("ed1") && !gw_principal_ok("mqtt:") &&
	           !gw_principal_ok("mqtt:a/b") && !gw_principal_ok("mqtt:a b") &&
	           !gw_principal_ok("web:x"),
	       "principals: mqtt:NAME or console:NAME only");
	tap_ok(add("mqtt:ed1", "editors", "alice") == MQS_OK, "ed1 edits for alice");
	tap_is_int(nsecrets, 1, "alice is new: her secret is given once");
	tap_ok(strlen(secrets[0]) == 32, "20 random bytes in base32");
	tap_ok(add("console:alice", "managers", "alice") == MQS_OK,
	       "alice manages from the console");
	tap_is_int(nsecrets, 1, "alice is not new the second time");
	tap_ok(add("mqtt:ed2", "editors", "carol") == MQS_OK, "ed2 edits for carol");
	tap_ok(add("mqtt:mgr1", "managers", "bob") == MQS_OK, "mgr1 manages for bob");
	tap_ok(add("mqtt:author", "editors", "dave") == MQS_OK, "the author edits too (dave)");
	tap_ok(add("mqtt:dave2", "editors", "dave") == MQS_OK, "dave has a second principal");
	tap_ok(add("mqtt:mgr2", "managers", "erin") == MQS_OK, "mgr2 manages for erin");
	tap_is_int(gw_reviewer_add(&st, "mqtt:ed1", "editors", "alice", T0, &fresh, secret,
	                           sizeof(secret), err, sizeof(err)),
	           MQS_ERR_EXISTS, "a principal once per level");
	tap_is_int(gw_reviewer_add(&st, "mqtt:ed1", "managers", "bob", T0, &fresh, secret,
	                           sizeof(secret), err, sizeof(err)),
	           MQS_ERR_INVAL, "a principal acts for one person");
	tap_is_int(count("SELECT count(*) FROM persons WHERE length(totp_wrapped) = 49"), 5,
	           "five persons, each secret wrapped");
}

static void test_submit(void)
{
	char sha[65], err[256], cid[GW_ID_MAX + 1], text[512];
	uint8_t *bytes = NULL;
	size_t len = 0;
	const char *bad =
	    "{\"id\": \"c-nogroup\", \"group\": \"nobody\", \"channels\": [\"line\"], "
	    "\"text\": \"x\"}";

	tap_ok(submit("c-1", "mqtt:author", T0, sha) == MQS_OK, "c-1 stored");
	tap_ok(state_is("c-1", "pending_review"), "c-1 pending_review");
	tap_is_int(submit("c-1", "mqtt:author", T0, sha), MQS_ERR_EXISTS, "an id is used once");
	tap_is_int(gw_review_submit(&st, &route, (const uint8_t *)bad, strlen(bad), "mqtt:author",
	                            "mqtt", T0, cid, err, sizeof(err)),
	           MQS_ERR_NOENT, "the group must exist");
	tap_is_int(count("SELECT count(*) FROM campaigns WHERE cid = 'c-nogroup'"), 0,
	           "nothing stored for it");
	tap_is_int(count("SELECT count(*) FROM campaign_audit WHERE campaign = 'c-nogroup' AND "
	                 "event = 'submit_refused'"),
	           1, "the refused submission is audited");
	/* a 600-byte SMS text fits a plain SMS, not a sealed one (docs/marketing.md,
	 * "Length limits") */
	{
		char zeros[601], doc1[900], doc2[900];

		memset(zeros, '0', 600);
		zeros[600] = '\0';
		snprintf(doc1, sizeof(doc1),
		         "{\"id\": \"c-sms1\", \"group\": \"customers\", \"channels\": [\"sms\"], "
		         "\"text\": \"%s\"}",
		         zeros);
		snprintf(doc2, sizeof(doc2),
		         "{\"id\": \"c-sms2\", \"group\": \"customers\", \"channels\": [\"sms\"], "
		         "\"text\": \"%s\"}",
		         zeros);
		route.sms_sealed = 1;
		err[0] = '\0';
		tap_is_int(gw_review_submit(&st, &route, (const uint8_t *)doc1, strlen(doc1),
		                            "mqtt:author", "mqtt", T0, cid, err, sizeof(err)),
		           MQS_ERR_TOOBIG,
		           "600 bytes of SMS text refused when the SMS channel seals");
		tap_ok(strstr(err, "sms: sealed text") != NULL,
		       "the reason names the sealed limit");
		route.sms_sealed = 0;
		tap_is_int(gw_review_submit(&st, &route, (const uint8_t *)doc2, strlen(doc2),
		                            "mqtt:author", "mqtt", T0, cid, err, sizeof(err)),
		           MQS_OK, "the same text is accepted for plain SMS");
		tap_is_int(gw_review_cancel(&st, "c-sms2", "cli", T0, err, sizeof(err)), MQS_OK,
		           "and cancelled (out of the way of the expiry checks)");
	}
	tap_is_int(count("SELECT count(*) FROM campaigns WHERE cid = 'c-1' AND author_person = "
	                 "'dave' AND levels = 'editors,managers' AND expires_at = 1800259200000"),
	           1, "author's person, levels and expiry kept");
	tap_is_int(count("SELECT count(*) FROM campaigns WHERE cid = 'c-1' AND "
	                 "instr(CAST(body_sealed AS TEXT), 'winter') > 0"),
	           0, "bytes sealed at rest");
	doc(text, sizeof(text), "c-1");
	tap_ok(gw_review_load(&st, count("SELECT id FROM campaigns WHERE cid = 'c-1'"), &bytes,
	                      &len) == MQS_OK &&
	           len == strlen(text) && memcmp(bytes, text, len) == 0,
	       "gw_review_load gives the exact bytes");
	free(bytes);
}

static void test_rules(void)
{
	char sha[65];
	const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
	int64_t t = T0 + 1000;

	gw_campaign_sha256_hex((const uint8_t *)"", 0, sha);
	{
		char text[512];

		doc(text, sizeof(text), "c-1");
		gw_campaign_sha256_hex((const uint8_t *)text, strlen(text), sha);
	}
	tap_is_int(decide("c-1", "mqtt:ed1", GW_DECIDE_APPROVE, "editors", zero, t), MQS_ERR_PERM,
	           "approval of another hash refused");
	tap_is_int(decide("c-1", "mqtt:author", GW_DECIDE_APPROVE, "editors", sha, t), MQS_ERR_PERM,
	           "the author principal never approves");
	tap_is_int(decide("c-1", "mqtt:dave2", GW_DECIDE_APPROVE, "editors", sha, t), MQS_ERR_PERM,
	           "nor the author's person through another principal");
	tap_is_int(decide("c-1", "mqtt:mgr1", GW_DECIDE_APPROVE, NULL, sha, t), MQS_ERR_PERM,
	           "a reviewer of another level is refused");
	tap_is_int(decide("c-1", "mqtt:mgr1", GW_DECIDE_APPROVE, "managers", sha, t), MQS_ERR_PERM,
	           "level 2 before level 1 refused");
	tap_is_int(decide("c-1", "mqtt:nobody", GW_DECIDE_APPROVE, "editors", sha, t), MQS_ERR_PERM,
	           "a stranger is refused");
	tap_is_int(count("SELECT level_idx FROM campaigns WHERE cid = 'c-1'"), 0,
	           "nothing changed");
	tap_is_int(count("SELECT count(*) FROM campaign_audit WHERE campaign = 'c-1' AND event = "
	                 "'refused'"),
	           6, "every refusal audited");
	tap_is_int(count("SELECT count(*) FROM campaign_audit WHERE campaign = 'c-1' AND event = "
	                 "'refused' AND sha256 = '"
	                 "0000000000000000000000000000000000000000000000"
	                 "000000000000000000'"),
	           1, "with the hash presented");
	tap_is_int(decide("c-1", "mqtt:ed1", GW_DECIDE_APPROVE, "editors", sha, t), MQS_OK,
	           "alice approves editors over MQTT");
	tap_ok(state_is("c-1", "pending_review"), "still pending: one level left");
	tap_is_int(gw_review_fully_approved(&st, "c-1", "editors,managers", sha, "mqtt:author"), 0,
	           "not fully approved after one level");
	tap_is_int(decide("c-1", "console:alice", GW_DECIDE_APPROVE, "managers", sha, t),
	           MQS_ERR_PERM, "alice (console) may not approve a second level");
	tap_is_int(decide("c-1", "mqtt:ed2", GW_DECIDE_APPROVE, "editors", sha, t), MQS_ERR_PERM,
	           "editors is decided: a second approval there is refused");
	tap_is_int(decide("c-1", "mqtt:mgr1", GW_DECIDE_APPROVE, "managers", sha, t), MQS_OK,
	           "bob approves managers");
	tap_ok(state_is("c-1", "approved"), "c-1 approved");
	tap_is_int(decide("c-1", "mqtt:mgr2", GW_DECIDE_APPROVE, NULL, sha, t), MQS_ERR_PERM,
	           "nothing left to approve");
	tap_is_int(gw_review_fully_approved(&st, "c-1", "editors,managers", sha, "mqtt:author"), 1,
	           "the audit proves c-1");
	tap_is_int(gw_review_fully_approved(&st, "c-1", "editors,managers", zero, "mqtt:author"), 0,
	           "but not for another hash");
	tap_is_int(
	    gw_review_fully_approved(&st, "c-1", "editors,managers,board", sha, "mqtt:author"), 0,
	    "nor for more levels");
	/* forge: another hash in one approval row */
	gw_store_exec(&st, "UPDATE campaign_audit SET sha256 = '" /* zero */
	                   "1111111111111111111111111111111111111111111111111111111111111111' "
	                   "WHERE campaign = 'c-1' AND event = 'approved' AND level = 'managers'");
	tap_is_int(gw_review_fully_approved(&st, "c-1", "editors,managers", sha, "mqtt:author"), 0,
	           "an approval row forged with another hash proves nothing");
	gw_store_exec(&st, "DELETE FROM campaign_audit WHERE campaign = 'c-1' AND event = "
	                   "'approved' AND level = 'managers'");
	tap_is_int(gw_review_fully_approved(&st, "c-1", "editors,managers", sha, "mqtt:author"), 0,
	           "a missing approval row: not approved, whatever the state says");
	gw_store_exec(&st, "INSERT INTO campaign_audit(campaign, event, level, principal, person, "
	                   "sha256, at) SELECT campaign, event, 'managers', 'mqtt:mgr9', person, "
	                   "sha256, at FROM campaign_audit WHERE campaign = 'c-1' AND event = "
	                   "'approved' AND level = 'editors'");
	tap_is_int(gw_review_fully_approved(&st, "c-1", "editors,managers", sha, "mqtt:author"), 0,
	           "a forged row by the same person for both levels: refused");
	gw_store_exec(&st, "INSERT INTO campaign_audit(campaign, event, level, principal, person, "
	                   "sha256, at) SELECT campaign, event, 'managers', 'mqtt:dave2', 'dave', "
	                   "sha256, at FROM campaign_audit WHERE campaign = 'c-1' AND event = "
	                   "'approved' AND level = 'editors'");
	tap_is_int(gw_review_fully_approved(&st, "c-1", "editors,managers", sha, "mqtt:author"), 0,
	           "a forged row by the author's person: refused");
}

static void test_reject_expire_cancel(void)
{
	char sha[65], err[256];
	int64_t t = T0 + 2000;

	tap_ok(submit("c-2", "mqtt:ed2", T0, sha) == MQS_OK, "c-2 by ed2 (carol)");
	tap_is_int(decide("c-2", "mqtt:ed2", GW_DECIDE_REJECT, NULL, sha, t), MQS_ERR_PERM,
	           "the author does not reject her own campaign either");
	tap_is_int(gw_review_decide(&st, "c-2", "mqtt:ed1", GW_DECIDE_REJECT, NULL, sha, "", "mqtt",
	                            t, err, sizeof(err)),
	           MQS_ERR_INVAL, "a rejection needs a reason");
	tap_is_int(decide("c-2", "mqtt:ed1", GW_DECIDE_REJECT, "editors", sha, t), MQS_OK,
	           "alice rejects c-2 at level 1");
	tap_ok(state_is("c-2", "rejected"), "c-2 rejected");
	tap_is_int(decide("c-2", "mqtt:dave2", GW_DECIDE_APPROVE, "editors", sha, t), MQS_ERR_PERM,
	           "a rejection ends it");
	tap_is_int(decide("c-2", "mqtt:mgr1", GW_DECIDE_APPROVE, "managers", sha, t), MQS_ERR_PERM,
	           "at every level");
	tap_is_int(gw_review_fully_approved(&st, "c-2", "editors,managers", sha, "mqtt:ed2"), 0,
	           "a rejected campaign is never proven");
	tap_is_int(count("SELECT count(*) FROM campaign_audit WHERE campaign = 'c-2' AND event = "
	                 "'rejected' AND reason = 'not on brand' AND person = 'alice'"),
	           1, "the rejection audited with its reason");

	tap_ok(submit("c-3", "mqtt:mgr2", T0, sha) == MQS_OK, "c-3");
	tap_is_int(gw_review_expire(&st, T0 + 72 * HOUR - 1), 0, "not expired before 72 h");
	tap_is_int(gw_review_expire(&st, T0 + 72 * HOUR), 1, "expired at 72 h");
	tap_ok(state_is("c-3", "expired"), "c-3 expired");
	tap_is_int(decide("c-3", "mqtt:ed1", GW_DECIDE_APPROVE, "editors", sha, T0 + 72 * HOUR + 1),
	           MQS_ERR_PERM, "no decision after expiry");
	tap_is_int(gw_review_expire(&st, T0 + 73 * HOUR), 0, "expired once");

	tap_ok(submit("c-4", "mqtt:mgr2", T0, sha) == MQS_OK, "c-4");
	tap_is_int(decide("c-4", "mqtt:ed1", GW_DECIDE_APPROVE, "editors", sha, T0 + 72 * HOUR),
	           MQS_ERR_PERM, "a decision at the deadline is refused");
	tap_is_int(gw_review_cancel(&st, "c-4", "cli", t, err, sizeof(err)), MQS_OK,
	           "c-4 cancelled");
	tap_ok(state_is("c-4", "cancelled"), "state cancelled");
	tap_is_int(gw_review_cancel(&st, "c-4", "cli", t, err, sizeof(err)), MQS_ERR_PERM,
	           "cancelled once");
	tap_is_int(decide("c-4", "mqtt:ed1", GW_DECIDE_APPROVE, "editors", sha, t), MQS_ERR_PERM,
	           "no approval of a cancelled campaign");
	tap_is_int(gw_review_cancel(&st, "c-none", "cli", t, err, sizeof(err)), MQS_ERR_NOENT,
	           "no such campaign");
}

static void test_codes(void)
{
	char code[9], err[256];
	int64_t t = T0 + 10 * 60000;

	code_of("bob", t, code);
	tap_is_int(gw_review_check_code(&st, "mqtt:mgr1", code, t, err, sizeof(err)), MQS_OK,
	           "bob's code accepted");
	tap_is_int(gw_review_check_code(&st, "mqtt:mgr1", code, t + 1000, err, sizeof(err)),
	           MQS_ERR_TOTP_REPLAY, "the same code again is a replay");
	code_of("bob", t - 30000, code);
	tap_is_int(gw_review_check_code(&st, "mqtt:mgr1", code, t + 2000, err, sizeof(err)),
	           MQS_ERR_TOTP_REPLAY, "an earlier step (in the window) is a replay too");
	code_of("alice", t, code);
	tap_is_int(gw_review_check_code(&st, "console:alice", code, t, err, sizeof(err)), MQS_OK,
	           "one secret per person, any of her principals");
	tap_is_int(gw_review_check_code(&st, "mqtt:ed1", code, t, err, sizeof(err)),
	           MQS_ERR_TOTP_REPLAY, "and one last step per person");
	tap_is_int(gw_review_check_code(&st, "mqtt:nobody", "123456", t, err, sizeof(err)),
	           MQS_ERR_NOENT, "no such reviewer");
	code_of("erin", t + 60000, code);
	for (int i = 0; i < 4; i++)
		tap_is_int(gw_review_check_code(&st, "mqtt:mgr2", "000000", t + 60000, err,
		                                sizeof(err)) == MQS_ERR_TOTP ||
		               strcmp(code, "000000") == 0,
		           1, "wrong code %d", i + 1);
	tap_is_int(gw_review_check_code(&st, "mqtt:mgr2", "999999", t + 60000, err, sizeof(err)) ==
	                   MQS_ERR_TOTP ||
	               strcmp(code, "999999") == 0,
	           1, "fifth wrong code");
	tap_ok(count("SELECT locked_until FROM persons WHERE name = 'erin'") == t + 60000 + 900000,
	       "erin locked for 15 minutes");
	code_of("erin", t + 120000, code);
	tap_is_int(gw_review_check_code(&st, "mqtt:mgr2", code, t + 120000, err, sizeof(err)),
	           MQS_ERR_PERM, "even the right code is refused while locked");
	code_of("erin", t + 60000 + 900000, code);
	tap_is_int(
	    gw_review_check_code(&st, "mqtt:mgr2", code, t + 60000 + 900000, err, sizeof(err)),
	    MQS_OK, "accepted again after 15 minutes");
}

static void test_publish(void)
{
	char sha[65];
	int64_t t = T0 + 5000;

	/* c-1 (approved), c-2 (rejected), c-3 (expired), c-4 (cancelled): nothing due but c-5 */
	tap_ok(submit("c-5", "mqtt:mgr2", T0, sha) == MQS_OK, "c-5");
	tap_is_int(gw_review_publish_due(&st, "gw/status", t), 1, "c-5 queued for editors");
	tap_is_int(gw_review_publish_due(&st, "gw/status", t), 0, "once");
	tap_is_int(count("SELECT count(*) FROM pubq WHERE topic = 'gw/status/c-5/content' AND "
	                 "broker = '' AND instr(CAST(payload AS TEXT), '\"level\":\"editors\"') > "
	                 "0"),
	           1, "on <status_topic>/c-5/content for level editors");
	tap_ok(decide("c-5", "mqtt:ed1", GW_DECIDE_APPROVE, "editors", sha, t) == MQS_OK,
	       "c-5 level 1 approved");
	tap_is_int(gw_review_publish_due(&st, "gw/status", t), 1, "c-5 queued for managers");
	tap_is_int(gw_review_publish_due(&st, "gw/status", t), 0, "once");
	tap_is_int(count("SELECT count(*) FROM pubq WHERE topic = 'gw/status/c-5/content'"), 2,
	           "two rows: one per level");
	tap_ok(decide("c-5", "mqtt:mgr1", GW_DECIDE_APPROVE, "managers", sha, t) == MQS_OK,
	       "c-5 approved");
	tap_is_int(gw_review_publish_due(&st, "gw/status", t), 0, "nothing after the last level");
}

/* A reviewers row as listed: counts rows and remembers whether principal
 * was seen. */
struct seen {
	const char *principal;
	int rows, found;
};

/* gw_reviewer_each / gw_author_each callback. */
static int seen_cb(const struct gw_reviewer_info *ri, void *arg)
{
	struct seen *sn = arg;

	sn->rows++;
	if (strcmp(ri->principal, sn->principal) == 0)
		sn->found = 1;
	return MQS_OK;
}

/* Authors are known persons (finding 6 of the issue 13 review): an
 * unmapped principal submits nothing, and the author's person never
 * decides, whichever principal it uses. */
static void test_authors(void)
{
	char sha[65], err[256], secret[80], code[9];
	struct seen sn = {"mqtt:mpc", 0, 0};
	int64_t t = T0 + 30 * 60000;
	int fresh = 0;

	tap_is_int(submit("c-6", "mqtt:mpc", T0, sha), MQS_ERR_PERM,
	           "an origin that acts for no person cannot submit");
	tap_is_int(count("SELECT count(*) FROM campaigns WHERE cid = 'c-6'"), 0,
	           "nothing stored for it");
	tap_is_int(count("SELECT count(*) FROM campaign_audit WHERE campaign = 'c-6' AND event = "
	                 "'submit_refused' AND principal = 'mqtt:mpc' AND "
	                 "instr(reason, 'acts for no person') > 0"),
	           1, "the refusal is audited");
	tap_is_int(gw_reviewer_add(&st, "mqtt:mpc", "@author", "carol", T0, &fresh, secret,
	                           sizeof(secret), err, sizeof(err)),
	           MQS_ERR_INVAL, "@author is no review level");
	tap_is_int(gw_author_add(&st, "mqtt:mpc", "carol", T0, &fresh, secret, sizeof(secret), err,
	                         sizeof(err)),
	           MQS_OK, "mqtt:mpc submits for carol");
	tap_is_int(fresh, 0, "carol exists: no new secret");
	tap_is_int(gw_author_add(&st, "mqtt:mpc", "carol", T0, &fresh, secret, sizeof(secret), err,
	                         sizeof(err)),
	           MQS_ERR_EXISTS, "an author once");
	tap_is_int(gw_author_add(&st, "mqtt:ed1", "bob", T0, &fresh, secret, sizeof(secret), err,
	                         sizeof(err)),
	           MQS_ERR_INVAL, "an author acts for the one person of its principal");
	tap_ok(add("mqtt:mgr1", "editors", "bob") == MQS_OK, "(bob edits too)");
	tap_is_int(gw_author_add(&st, "console:frank", "frank", T0, &fresh, secret, sizeof(secret),
	                         err, sizeof(err)),
	           MQS_OK, "console:frank submits for frank (new)");
	tap_ok(fresh == 1 && strlen(secret) == 32, "frank's secret is given once");
	if (fresh && nsecrets < 8) {
		snprintf(secrets[nsecrets], sizeof(secrets[0]), "%s", secret);
		secret_names[nsecrets++] = "frank";
	}
	tap_ok(gw_reviewer_each(&st, seen_cb, &sn) == MQS_OK && !sn.found,
	       "reviewer list does not show authors");
	sn.rows = sn.found = 0;
	tap_ok(gw_author_each(&st, seen_cb, &sn) == MQS_OK && sn.found && sn.rows == 2,
	       "author list shows them (%d)", sn.rows);
	code_of("frank", t, code);
	tap_is_int(gw_review_check_code(&st, "console:frank", code, t, err, sizeof(err)), MQS_OK,
	           "an author proves himself with his code (campaign submit --code)");

	tap_is_int(submit("c-6", "mqtt:mpc", T0, sha), MQS_OK, "now mqtt:mpc submits c-6");
	tap_is_int(count("SELECT count(*) FROM campaigns WHERE cid = 'c-6' AND author_person = "
	                 "'carol'"),
	           1, "carol stored as the author's person");
	tap_is_int(decide("c-6", "mqtt:ed2", GW_DECIDE_APPROVE, "editors", sha, t), MQS_ERR_PERM,
	           "carol cannot approve it through her editor principal");
	tap_is_int(decide("c-6", "mqtt:ed2", GW_DECIDE_REJECT, "editors", sha, t), MQS_ERR_PERM,
	           "nor reject it");
	tap_is_int(decide("c-6", "mqtt:ed1", GW_DECIDE_APPROVE, "editors", sha, t), MQS_OK,
	           "alice approves editors");
	tap_is_int(gw_reviewer_rm(&st, "mqtt:mpc", NULL, err, sizeof(err)), MQS_ERR_NOENT,
	           "reviewer rm leaves an author alone");
	tap_is_int(gw_author_rm(&st, "mqtt:mpc", err, sizeof(err)), MQS_OK, "author rm");
	tap_is_int(gw_author_rm(&st, "mqtt:mpc", err, sizeof(err)), MQS_ERR_NOENT, "once");
	tap_ok(add("mqtt:ed2", "managers", "carol") == MQS_OK, "(carol manages too)");
	tap_is_int(decide("c-6", "mqtt:ed2", GW_DECIDE_APPROVE, "managers", sha, t), MQS_ERR_PERM,
	           "the stored author's person still never approves");
	tap_is_int(decide("c-6", "mqtt:mgr2", GW_DECIDE_APPROVE, "managers", sha, t), MQS_OK,
	           "erin approves managers");
	tap_is_int(gw_review_fully_approved(&st, "c-6", "editors,managers", sha, "mqtt:mpc"), 1,
	           "c-6 proven");
	gw_store_exec(&st, "UPDATE campaigns SET author_person = NULL WHERE cid = 'c-6'");
	tap_is_int(gw_review_fully_approved(&st, "c-6", "editors,managers", sha, "mqtt:mpc"), 0,
	           "without the author's person nothing is proven");
	tap_is_int(submit("c-7", "mqtt:mpc", T0, sha), MQS_ERR_PERM,
	           "after author rm mqtt:mpc submits nothing");

	/* cancel in one statement: before and while sending, never after */
	tap_is_int(submit("c-8", "mqtt:mgr1", T0, sha), MQS_OK, "c-8");
	gw_store_exec(&st, "UPDATE campaigns SET state = 'done' WHERE cid = 'c-8'");
	tap_is_int(gw_review_cancel(&st, "c-8", "cli", t, err, sizeof(err)), MQS_ERR_PERM,
	           "a campaign that is done is not cancelled (%s)", err);
	tap_ok(state_is("c-8", "done"), "still done");
	tap_is_int(count("SELECT count(*) FROM campaign_audit WHERE campaign = 'c-8' AND event = "
	                 "'refused' AND instr(reason, 'too late') > 0"),
	           1, "the refusal audited");
	gw_store_exec(&st, "UPDATE campaigns SET state = 'sending' WHERE cid = 'c-8'");
	tap_is_int(gw_review_cancel(&st, "c-8", "cli", t, err, sizeof(err)), MQS_OK,
	           "a sending campaign is cancelled (its queued rows fail on the tick)");
	tap_ok(state_is("c-8", "cancelled"), "cancelled");
}

/* gw_review_decide_code: the code first (a wrong one audited, nothing
 * decided), then the rules at the given level (the console's way). */
static void test_decide_code(void)
{
	int64_t t = T0 + 10 * HOUR;
	char sha[65], code[9], err[256], secret[80];
	int fresh = 0;
	long long refused;

	tap_is_int(gw_author_add(&st, "mqtt:dc-author", "dcauthor", t, &fresh, secret,
	                         sizeof(secret), err, sizeof(err)),
	           MQS_OK, "decide_code: an author");
	tap_is_int(add("console:dc-ed", "editors", "dced"), MQS_OK, "decide_code: an editor");
	tap_is_int(add("console:dc-mgr", "managers", "dcmgr"), MQS_OK, "decide_code: a manager");
	tap_is_int(submit("c-dc", "mqtt:dc-author", t, sha), MQS_OK, "decide_code: submitted");
	code_of("dcmgr", t, code);
	tap_is_int(gw_review_decide_code(&st, "c-dc", "console:dc-mgr", code, GW_DECIDE_APPROVE,
	                                 "managers", sha, NULL, "console", t, err, sizeof(err)),
	           MQS_ERR_PERM, "decide_code: a level out of order is refused (%s)", err);
	refused = count("SELECT count(*) FROM campaign_audit WHERE campaign = 'c-dc' AND event = "
	                "'refused'");
	tap_is_int(gw_review_decide_code(&st, "c-dc", "console:dc-ed", "000000", GW_DECIDE_APPROVE,
	                                 "editors", sha, NULL, "console", t, err,
	                                 sizeof(err)) == MQS_ERR_PERM ||
	               strcmp(code, "000000") == 0,
	           1, "decide_code: a wrong code is refused");
	tap_ok(count("SELECT count(*) FROM campaign_audit WHERE campaign = 'c-dc' AND event = "
	             "'refused'") == refused + 1,
	       "decide_code: and audited");
	tap_ok(state_is("c-dc", "pending_review"), "decide_code: nothing decided");
	code_of("dced", t + 30000, code);
	tap_is_int(gw_review_decide_code(&st, "c-dc", "console:dc-ed", code, GW_DECIDE_APPROVE,
	                                 "editors", sha, NULL, "console", t + 30000, err,
	                                 sizeof(err)),
	           MQS_OK, "decide_code: the editor approves its level");
	code_of("dcmgr", t + 60000, code);
	tap_is_int(gw_review_decide_code(&st, "c-dc", "console:dc-mgr", code, GW_DECIDE_REJECT,
	                                 "managers", NULL, "off brand", "console", t + 60000, err,
	                                 sizeof(err)),
	           MQS_OK, "decide_code: the manager rejects (sha256 of the stored campaign)");
	tap_ok(state_is("c-dc", "rejected"), "decide_code: rejected");
}

int main(void)
{
	char db[300], key[300], err[512];

	if (mkdtemp(dir) == NULL) {
		tap_ok(0, "mkdtemp");
		return tap_exit();
	}
	snprintf(db, sizeof(db), "%s/gw.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	if (gw_store_open(&st, db, key, 0, err, sizeof(err)) != MQS_OK ||
	    gw_group_add(&st, "customers", NULL, err, sizeof(err)) != MQS_OK) {
		tap_ok(0, "store: %s", err);
		return tap_exit();
	}
	route.name = "promo";
	route.topic = "marketing/#";
	route.kind = GW_KIND_MARKETING;
	route.enabled = 1;
	route.levels[0] = levels2[0];
	route.levels[1] = levels2[1];
	route.nlevels = 2;
	route.review_timeout_ms = 72 * HOUR;
	test_reviewers();
	test_submit();
	test_rules();
	test_reject_expire_cancel();
	test_codes();
	test_publish();
	test_authors();
	test_decide_code();
	gw_store_close(&st);
	unlink(db);
	{
		char p[320];

		snprintf(p, sizeof(p), "%s-wal", db);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", db);
		unlink(p);
	}
	unlink(key);
	rmdir(dir);
	tap_done();
	return tap_exit();
}
