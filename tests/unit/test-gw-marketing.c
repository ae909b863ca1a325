/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-marketing.c - campaigns after approval (gateway/gw_marketing.h):
 * never scheduled without the audit's proof, fan-out with consent,
 * opt-out, missing address and quiet hours, a restart in the middle of a
 * fan-out without duplicates, done, the report's numbers, a batch slower
 * than its budget that stays within [marketing] fanout_batch, the yield to
 * a waiting MQTT read and the cap of the pause for running alerts. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "gw_campaign.h"
#include "gw_config.h"
#include "gw_consent.h"
#include "gw_group.h"
#include "gw_kind.h"
#include "gw_log.h"
#include "gw_marketing.h"
#include "gw_outbox.h"
#include "gw_recipient.h"
#include "gw_review.h"
#include "gw_store.h"
#include "mqs_error.h"
#include "tap.h"

#define SETUP(call)                                                                                \
	do {                                                                                       \
		if ((call) != 0)                                                                   \
			tap_diag("set-up failed: %s", #call);                                      \
	} while (0)

/* 2026-06-15 12:00:00 UTC: night in Tokyo (21:00 JST), day in UTC. */
#define NOW_MS   1781524800000LL
#define TOKYO_08 1781564400000LL /* 2026-06-15 23:00 UTC = 08:00 JST next day */

static char dir[] = "/tmp/test-gw-marketing.XXXXXX";

/* One integer from sql with an optional text parameter. */
static long long q1(struct gw_store *s, const char *sql, const char *arg)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -2;
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Add recipient name with an email (and a phone when phone != NULL), in
 * group customers, with email consent cons and zone tz (NULL: none). */
static void person(struct gw_store *s, const char *name, int email, const char *phone, int cons,
                   const char *tz)
{
	const char *groups[] = {"customers"};
	const char *values[GW_F__COUNT] = {NULL};
	char mail[80], sql[300], err[256];

	snprintf(mail, sizeof(mail), "%s@example.com", name);
	values[GW_F_EMAIL] = email ? mail : NULL;
	values[GW_F_PHONE] = phone;
	if (!email && phone == NULL)
		values[GW_F_LINE] = "U0123456789abcdef0123456789abcdef";
	SETUP(gw_recipient_add(s, name, values, groups, 1, err, sizeof(err)));
	snprintf(sql, sizeof(sql),
	         "INSERT INTO consents(recipient_id, channel, state, source, updated_at) "
	         "SELECT id, 'email', %d, 'import', 1 FROM recipients WHERE name = '%s'",
	         cons, name);
	SETUP(gw_store_exec(s, sql));
	if (tz != NULL) {
		snprintf(sql, sizeof(sql), "UPDATE recipients SET tz = '%s' WHERE name = '%s'", tz,
		         name);
		SETUP(gw_store_exec(s, sql));
	}
}

/* SQL gw_uuid4() replaced by one that takes 6 ms a row: every fan-out
 * batch then runs over its 5 ms budget (gw_marketing.c), as on a loaded
 * machine, without depending on the machine being loaded. */
static void slow_uuid4(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	static unsigned long n;
	struct timespec ts = {0, 6000000};
	char key[40];

	(void)argc;
	(void)argv;
	nanosleep(&ts, NULL);
	snprintf(key, sizeof(key), "slow-%lu", ++n);
	sqlite3_result_text(ctx, key, -1, SQLITE_TRANSIENT);
}

static int count_event(const struct gw_audit_info *ai, void *arg)
{
	int *n = arg;

	if (strcmp(ai->event, "scheduled") == 0)
		n[0]++;
	else if (strcmp(ai->event, "sending") == 0)
		n[1]++;
	else if (strcmp(ai->event, "done") == 0)
		n[2]++;
	return MQS_OK;
}

/* A steady stream of alerts slows the fan-out and never stops it: over 10 s
 * of ticks 1 ms apart with an alert always running, one batch per
 * GW_MARKETING_PAUSE_MAX_MS; none paused once no alert runs. */
static void test_pause_cap(void)
{
	uint64_t since = 0;
	int batches = 0, first = -1, longest = 0, run = 0;

	for (uint64_t t = 1; t <= 10000; t++) {
		if (gw_marketing_pause(&since, 1, t)) {
			run++;
			continue;
		}
		if (first < 0)
			first = (int)t;
		if (run > longest)
			longest = run;
		run = 0;
		batches++;
	}
	tap_ok(first == 1 + GW_MARKETING_PAUSE_MAX_MS,
	       "alerts running: the first batch waits the pause's cap (at %d ms)", first);
	tap_ok(batches >= 9 && batches <= 10 && longest <= GW_MARKETING_PAUSE_MAX_MS,
	       "a steady stream of alerts: %d batches in 10 s, paused %d ms in a row at most",
	       batches, longest);
	tap_ok(gw_marketing_pause(&since, 0, 10001) == 0 && since == 0 &&
	           gw_marketing_pause(&since, 0, 10002) == 0,
	       "no alert running: no pause");
}

int main(void)
{
	static const char campaign[] =
	    "{\"id\":\"c-1\",\"group\":\"customers\",\"channels\":[\"email\"],"
	    "\"subject\":\"Sale\",\"text\":\"Hello {{name}}\",\"html\":\"<p>Hi {{name}}</p>\"}";
	static const char second[] =
	    "{\"id\":\"c-2\",\"group\":\"customers\",\"channels\":[\"email\"],"
	    "\"subject\":\"Sale 2\",\"text\":\"Hello {{name}}\"}";
	static const char forged[] =
	    "{\"id\":\"c-forged\",\"group\":\"customers\",\"channels\":[\"email\"],"
	    "\"subject\":\"Sale\",\"text\":\"Hello {{name}}\"}";
	struct gw_config conf;
	struct gw_gateway gw;
	struct gw_route route;
	struct gw_marketing *m;
	struct gw_report r;
	char db[300], key[300], err[512], secret[64], cid[GW_ID_MAX + 1];
	const char *levels[2] = {"legal", "boss"};
	int newp = 0, ev[3] = {0, 0, 0};
	uint64_t now = (uint64_t)NOW_MS;

	tap_plan(44);
	test_pause_cap();
	gw_log_set_level(GW_LOG_ERR);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db, sizeof(db), "%s/gw.db", dir);
	snprintf(key, sizeof(key), "%s/gw.key", dir);
	memset(&conf, 0, sizeof(conf));
	memset(&gw, 0, sizeof(gw));
	memset(&route, 0, sizeof(route));
	conf.quiet_start_min = 21 * 60;
	conf.quiet_end_min = 8 * 60;
	conf.default_tz = "UTC";
	conf.marketing_share = 75;
	conf.fanout_batch = 3;
	conf.status_topic = "mqttsec/status";
	conf.http.public_url = "https://gw.example.com";
	gw.conf = &conf;
	if (gw_store_open(&gw.store, db, key, 0, err, sizeof(err)) != 0) {
		tap_diag("%s", err);
		return 1;
	}
	route.name = "promo";
	route.kind = GW_KIND_MARKETING;
	route.levels[0] = levels[0];
	route.levels[1] = levels[1];
	route.nlevels = 2;
	route.review_timeout_ms = 3600000;

	SETUP(gw_group_add(&gw.store, "customers", "email", err, sizeof(err)));
	/* ann: consent, UTC (default zone) -> queued now */
	person(&gw.store, "ann", 1, NULL, 1, NULL);
	/* bob: no consent */
	person(&gw.store, "bob", 1, NULL, 0, NULL);
	/* cat: consent, then opted out (the opt-out wins) */
	person(&gw.store, "cat", 1, NULL, 1, NULL);
	SETUP(gw_consent_optout(&gw.store,
	                        q1(&gw.store, "SELECT id FROM recipients WHERE name = ?", "cat"),
	                        GW_CH_EMAIL, "cli", 1, NULL));
	/* dan: consent recorded but no email address */
	person(&gw.store, "dan", 0, "+15550100", 1, NULL);
	/* eve: consent, in Tokyo where it is night */
	person(&gw.store, "eve", 1, NULL, 1, "Asia/Tokyo");
	/* fay, gus, hal: consent, Paris (14:00 there) */
	person(&gw.store, "fay", 1, NULL, 1, "Europe/Paris");
	person(&gw.store, "gus", 1, NULL, 1, "Europe/Paris");
	person(&gw.store, "hal", 1, NULL, 1, "Europe/Paris");

	/* carol submits campaigns (authors act for a person, gw_review.h) */
	SETUP(gw_author_add(&gw.store, "console:carol", "carol", NOW_MS, &newp, secret,
	                    sizeof(secret), err, sizeof(err)));
	/* a campaign whose state says approved without any approval audited */
	tap_ok(gw_review_submit(&gw.store, &route, (const uint8_t *)forged, strlen(forged),
	                        "console:carol", "cli", NOW_MS, NULL, err, sizeof(err)) == MQS_OK,
	       "forged campaign submitted: %s", err);
	SETUP(gw_store_exec(&gw.store, "UPDATE campaigns SET state = 'approved', level_idx = 2 "
	                               "WHERE cid = 'c-forged'"));
	/* a marketing route needs a device key to seal the content for
	 * reviewers with (docs/marketing.md, "Setting it up") */
	route.enabled = 1;
	conf.routes = &route;
	conf.nroutes = 1;
	conf.path = "gw.conf";
	conf.brokers[0].credentials = "gw.json";
	mqs_creds_init(&gw.creds);
	err[0] = '\0';
	m = gw_marketing_new(&gw, err, sizeof(err));
	tap_ok(m == NULL &&
	           strstr(err, "[route promo] credentials gw.json have no device key") != NULL,
	       "a marketing route without a device key is refused: %s", err);
	gw_marketing_free(m);
	{
		static const uint8_t dev[32] = {1};

		SETUP(mqs_creds_add_key(&gw.creds, 1, MQS_CREDS_USE_DEVICE, NULL, dev));
	}
	m = gw_marketing_new(&gw, err, sizeof(err));
	tap_ok(m != NULL, "marketing state");
	if (m == NULL)
		return tap_exit();
	(void)gw_marketing_tick(&gw, m, now);
	tap_is_int(q1(&gw.store,
	              "SELECT count(*) FROM campaigns WHERE cid = 'c-forged' AND "
	              "state = 'approved' AND message IS NULL",
	              NULL),
	           1, "approved without the audit's proof: never scheduled");

	/* the real one: two levels approved by two other persons */
	SETUP(gw_reviewer_add(&gw.store, "console:alice", "legal", "alice", NOW_MS, &newp, secret,
	                      sizeof(secret), err, sizeof(err)));
	SETUP(gw_reviewer_add(&gw.store, "console:bob", "boss", "bobby", NOW_MS, &newp, secret,
	                      sizeof(secret), err, sizeof(err)));
	tap_ok(gw_review_submit(&gw.store, &route, (const uint8_t *)campaign, strlen(campaign),
	                        "console:carol", "cli", NOW_MS, cid, err, sizeof(err)) == MQS_OK,
	       "campaign submitted: %s", err);
	{
		char sha[65];

		gw_campaign_sha256_hex((const uint8_t *)campaign, strlen(campaign), sha);
		tap_ok(gw_review_decide(&gw.store, "c-1", "console:alice", GW_DECIDE_APPROVE, NULL,
		                        sha, NULL, "cli", NOW_MS, err, sizeof(err)) == MQS_OK,
		       "legal approves: %s", err);
		tap_ok(gw_review_decide(&gw.store, "c-1", "console:bob", GW_DECIDE_APPROVE, NULL,
		                        sha, NULL, "cli", NOW_MS, err, sizeof(err)) == MQS_OK,
		       "boss approves: %s", err);
	}
	/* first tick: scheduled, sending, first batch of 3 */
	now += 1000;
	tap_is_int((long long)gw_marketing_tick(&gw, m, now), (long long)now,
	           "a fan-out with recipients left asks to run again now");
	tap_is_int(q1(&gw.store,
	              "SELECT count(*) FROM campaigns WHERE cid = 'c-1' AND "
	              "state = 'sending' AND cursor > 0 AND fanned_out = 0",
	              NULL),
	           1, "sending, one batch done");
	tap_is_int(q1(&gw.store,
	              "SELECT count(*) FROM campaigns WHERE cid = 'c-forged' AND "
	              "state = 'approved'",
	              NULL),
	           1, "the forged one is still not scheduled");
	/* stop in the middle: a new marketing state resumes from the cursor */
	gw_marketing_free(m);
	m = gw_marketing_new(&gw, err, sizeof(err));
	tap_ok(m != NULL, "restarted");
	{
		/* data waits on a broker's socket (set by the loop): the batch
		 * waits, GW_MARKETING_YIELD_MAX ticks in a row at most */
		long long cur =
		    q1(&gw.store, "SELECT cursor FROM campaigns WHERE cid = 'c-1'", NULL);

		gw.input_waits = 1;
		for (int i = 0; i < GW_MARKETING_YIELD_MAX; i++)
			(void)gw_marketing_tick(&gw, m, now);
		tap_is_int(q1(&gw.store, "SELECT cursor FROM campaigns WHERE cid = 'c-1'", NULL),
		           cur, "input waiting: no fan-out batch for %d ticks",
		           GW_MARKETING_YIELD_MAX);
		(void)gw_marketing_tick(&gw, m, now);
		tap_ok(q1(&gw.store, "SELECT cursor FROM campaigns WHERE cid = 'c-1'", NULL) > cur,
		       "then one batch goes although input still waits");
		gw.input_waits = 0;
	}
	/* from here every batch that queues a row is slower than its budget:
	 * it must not grow past [marketing] fanout_batch (3 here; the c-2
	 * checks below count on batches of 3) */
	tap_ok(sqlite3_create_function(gw.store.db, "gw_uuid4", 0, SQLITE_UTF8, NULL, slow_uuid4,
	                               NULL, NULL) == SQLITE_OK,
	       "fan-out batches made slower than their budget");
	for (int i = 0; i < 20; i++)
		(void)gw_marketing_tick(&gw, m, now);
	tap_is_int(q1(&gw.store, "SELECT fanned_out FROM campaigns WHERE cid = 'c-1'", NULL), 1,
	           "fan-out ended after the restart");
	tap_is_int(q1(&gw.store,
	              "SELECT count(*) FROM outbox o JOIN messages g ON g.id = o.message "
	              "WHERE g.msg_id = 'c-1' AND o.prio = 1 AND o.channel = 'email'",
	              NULL),
	           5, "rows for ann, eve, fay, gus, hal only");
	tap_is_int(q1(&gw.store,
	              "SELECT count(*) FROM outbox WHERE recipient IN ('bob','cat','dan')", NULL),
	           0, "no row for no consent, opted out, no address");
	tap_is_int(
	    q1(&gw.store, "SELECT next_attempt_at FROM outbox WHERE recipient = 'eve'", NULL),
	    TOKYO_08, "eve (Tokyo, night) first tried at 08:00 JST");
	tap_is_int(q1(&gw.store, "SELECT deferred FROM outbox WHERE recipient = 'eve'", NULL), 1,
	           "eve's row counted as deferred");
	tap_is_int(
	    q1(&gw.store, "SELECT next_attempt_at FROM outbox WHERE recipient = 'ann'", NULL),
	    (long long)now, "ann (UTC noon) at once");
	tap_is_int(q1(&gw.store, "SELECT count(DISTINCT retry_key) FROM outbox", NULL), 5,
	           "every row has its own retry key");

	tap_ok(gw_marketing_report(&gw.store, "c-1", &r) == MQS_OK, "report");
	tap_ok(r.nchans == 1 && r.chans[0].chan == GW_CH_EMAIL && r.fanned_out == 1 &&
	           strcmp(r.state, "sending") == 0,
	       "report: one channel, fanned out, sending");
	tap_ok(r.chans[0].audience == 8 && r.chans[0].no_consent == 1 &&
	           r.chans[0].opted_out == 1 && r.chans[0].no_address == 1,
	       "report: audience 8, skips 1/1/1 (got %lld %lld %lld %lld)",
	       (long long)r.chans[0].audience, (long long)r.chans[0].no_consent,
	       (long long)r.chans[0].opted_out, (long long)r.chans[0].no_address);
	tap_ok(r.chans[0].queued == 5 && r.chans[0].deferred == 1 && r.chans[0].sent == 0,
	       "report: 5 queued, 1 deferred");
	tap_ok(gw_marketing_report(&gw.store, "nope", &r) == MQS_ERR_NOENT, "report: unknown id");

	/* consent withdrawn after the fan-out (docs/marketing.md, "Delivery
	 * rules"): the claim reports it, and so does the re-check */
	SETUP(gw_store_exec(&gw.store, "UPDATE consents SET state = 0 WHERE recipient_id = "
	                               "(SELECT id FROM recipients WHERE name = 'fay')"));
	{
		struct gw_outbox_row *rows = NULL;
		size_t n = 0;
		int fay = -1, others_on = 1, optout = 0;
		long long fay_id =
		    q1(&gw.store, "SELECT id FROM recipients WHERE name = 'fay'", NULL);
		long long ann_id =
		    q1(&gw.store, "SELECT id FROM recipients WHERE name = 'ann'", NULL);

		tap_ok(gw_outbox_claim_prio(&gw.store, GW_CH_EMAIL, GW_PRIO_MARKETING, now, 10,
		                            &rows, &n) == MQS_OK &&
		           n == 4,
		       "claim: 4 marketing rows due (eve waits for 08:00)");
		for (size_t i = 0; i < n; i++) {
			if (strcmp(rows[i].recipient, "fay") == 0)
				fay = rows[i].consent;
			else if (rows[i].consent != GW_CONSENT_ON)
				others_on = 0;
		}
		tap_is_int(fay, GW_CONSENT_OFF, "claim: fay's withdrawn consent is on her row");
		tap_ok(others_on, "claim: the others' rows carry their consent");
		gw_outbox_rows_free(rows, n);
		tap_is_int(gw_outbox_consent_now(&gw.store, fay_id, GW_CH_EMAIL, &optout),
		           GW_CONSENT_OFF, "re-check: fay withdrawn");
		tap_is_int(gw_outbox_consent_now(&gw.store, ann_id, GW_CH_EMAIL, &optout),
		           GW_CONSENT_ON, "re-check: ann consents");
		tap_ok(gw_consent_optout(&gw.store, ann_id, GW_CH_EMAIL, "test", now, NULL) ==
		               MQS_OK &&
		           gw_outbox_consent_now(&gw.store, ann_id, GW_CH_EMAIL, &optout) >= 0 &&
		           optout == 1,
		       "re-check: ann's opt-out seen");
	}

	/* every row final: done at the next slow tick, audited */
	SETUP(gw_store_exec(&gw.store, "UPDATE outbox SET state = 'sent'"));
	SETUP(
	    gw_store_exec(&gw.store, "UPDATE outbox SET state = 'failed' WHERE recipient = 'hal'"));
	now += 2000;
	(void)gw_marketing_tick(&gw, m, now);
	tap_is_int(q1(&gw.store,
	              "SELECT count(*) FROM campaigns WHERE cid = 'c-1' AND "
	              "state = 'done'",
	              NULL),
	           1, "done once every row is final");
	tap_ok(gw_audit_each(&gw.store, "c-1", 0, count_event, ev) == MQS_OK && ev[0] == 1 &&
	           ev[1] == 1 && ev[2] == 1,
	       "audit: scheduled, sending, done once each");
	tap_ok(gw_marketing_report(&gw.store, "c-1", &r) == MQS_OK && r.chans[0].sent == 4 &&
	           r.chans[0].failed == 1 && strcmp(r.state, "done") == 0,
	       "report after the end: 4 sent, 1 failed");

	/* cancelled while sending (docs/marketing.md, "Delivery rules"): the
	 * fan-out stops, queued rows fail, a claim sees the cancel */
	{
		char sha[65];
		struct gw_outbox_row *rows = NULL;
		size_t n = 0;
		long long cursor;

		gw_campaign_sha256_hex((const uint8_t *)second, strlen(second), sha);
		SETUP(gw_review_submit(&gw.store, &route, (const uint8_t *)second, strlen(second),
		                       "console:carol", "cli", NOW_MS, cid, err, sizeof(err)));
		SETUP(gw_review_decide(&gw.store, "c-2", "console:alice", GW_DECIDE_APPROVE, NULL,
		                       sha, NULL, "cli", NOW_MS, err, sizeof(err)));
		SETUP(gw_review_decide(&gw.store, "c-2", "console:bob", GW_DECIDE_APPROVE, NULL,
		                       sha, NULL, "cli", NOW_MS, err, sizeof(err)));
		now += 2000;
		(void)gw_marketing_tick(&gw, m, now); /* sending, ann..cat: no row */
		(void)gw_marketing_tick(&gw, m, now); /* dan..fay: eve (deferred) */
		cursor = q1(&gw.store, "SELECT cursor FROM campaigns WHERE cid = 'c-2'", NULL);
		tap_is_int(q1(&gw.store,
		              "SELECT count(*) FROM outbox o JOIN campaigns c ON c.message = "
		              "o.message WHERE c.cid = 'c-2' AND o.state = 'queued'",
		              NULL),
		           1, "c-2 sending, one row queued (eve), fan-out not over");
		tap_is_int(
		    gw_review_cancel(&gw.store, "c-2", "cli", (int64_t)now, err, sizeof(err)),
		    MQS_OK, "c-2 cancelled while sending");
		tap_ok(gw_outbox_claim_prio(&gw.store, GW_CH_EMAIL, GW_PRIO_MARKETING, TOKYO_08, 10,
		                            &rows, &n) == MQS_OK &&
		           n == 1 && rows[0].cancelled == 1,
		       "claim: eve's row of the cancelled campaign says cancelled");
		if (n == 1)
			SETUP(gw_outbox_unclaim(&gw.store, rows[0].id, (int64_t)now));
		gw_outbox_rows_free(rows, n);
		now += 2000;
		for (int i = 0; i < 5; i++)
			(void)gw_marketing_tick(&gw, m, now);
		tap_is_int(q1(&gw.store,
		              "SELECT count(*) FROM outbox o JOIN campaigns c ON c.message = "
		              "o.message WHERE c.cid = 'c-2' AND o.state = 'failed' AND "
		              "o.last_error = 'campaign cancelled'",
		              NULL),
		           1, "cancelled: eve's queued row failed as 'campaign cancelled'");
		tap_is_int(q1(&gw.store,
		              "SELECT cursor FROM campaigns WHERE cid = 'c-2' AND "
		              "state = 'cancelled' AND fanned_out = 0",
		              NULL),
		           cursor, "cancelled: the fan-out stopped where it was");
		tap_is_int(q1(&gw.store,
		              "SELECT count(*) FROM outbox o JOIN campaigns c ON c.message = "
		              "o.message WHERE c.cid = 'c-2'",
		              NULL),
		           1, "cancelled: no row for gus and hal");
	}

	gw_marketing_free(m);
	gw_store_close(&gw.store);
	mqs_creds_release(&gw.creds);
	{
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	return tap_exit();
}
