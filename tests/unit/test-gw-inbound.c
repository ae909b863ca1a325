/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-inbound.c - provider webhooks and unsubscribe links without HTTP
 * (gw_inbound.h): Twilio's documented signature example and our own, LINE
 * signatures, STOP/START, account mismatch, duplicate MessageSid, unfollow,
 * link code binding, stale and replayed LINE events, forged, truncated and
 * oversized unsubscribe tokens, GET changing nothing and POST turning the
 * consent off, 503 while another connection holds the write lock (and the
 * retry working), the status of every answer, STOP and unfollow opting
 * out every recipient with that number / LINE id, unfollows acted on
 * whatever their age, canonical tokens only, a reused row id, pruning. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gw_config.h"
#include "gw_consent.h"
#include "gw_inbound.h"
#include "gw_link.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_store.h"
#include "gw_unsub.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_util.h"
#include "tap.h"

#define PUBLIC  "https://gw.example.org"
#define TOKEN   "sekrit"
#define SECRET  "line-secret"
#define ALICE   "+15550001234"
#define BOB_UID "U0123456789abcdef0123456789abcdef"
#define CAR_UID "Ufedcba9876543210fedcba9876543210"
#define NOW     1800000000000LL

static char dir[] = "/tmp/test-gw-inbound.XXXXXX";
static char conf_path[256], db_path[256], key_path[256];
static struct gw_store s;
static struct gw_config conf;

/* Twilio's signature of params (already sorted by name) for URL under TOKEN,
 * base64 into out: computed here, independently of gw_inbound.c. */
static void twilio_sign(const struct gw_param *p, size_t n, char out[64])
{
	char buf[2048];
	uint8_t mac[20];
	unsigned int mlen = sizeof(mac);
	size_t o = 0;

	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s/twilio/sms", PUBLIC);
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", p[i].name, p[i].value);
	HMAC(EVP_sha1(), TOKEN, (int)strlen(TOKEN), (const unsigned char *)buf, o, mac, &mlen);
	EVP_EncodeBlock((unsigned char *)out, mac, (int)mlen);
}

/* LINE's signature of body under SECRET into out. */
static void line_sign(const char *body, char out[64])
{
	uint8_t mac[32];
	unsigned int mlen = sizeof(mac);

	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)body, strlen(body),
	     mac, &mlen);
	EVP_EncodeBlock((unsigned char *)out, mac, (int)mlen);
}

/* An inbound SMS from `from` with body and MessageSid sid, signed (or not). */
static int twilio(const char *acct, const char *sid, const char *from, const char *body, int sign,
                  struct gw_inbound_result *res)
{
	struct gw_param p[5] = {{"AccountSid", acct},
	                        {"Body", body},
	                        {"From", from},
	                        {"MessageSid", sid},
	                        {"To", "+15550000000"}};
	char sig[64];

	twilio_sign(p, 5, sig);
	if (!sign)
		sig[3] = sig[3] == 'A' ? 'B' : 'A';
	gw_inbound_twilio(&s, &conf, p, 5, sig, NOW, res);
	return res->status;
}

/* A LINE webhook body, signed (or not). */
static int line(const char *body, int sign, int64_t now, struct gw_inbound_result *res)
{
	char sig[64];

	line_sign(body, sig);
	if (!sign)
		sig[5] = sig[5] == 'A' ? 'B' : 'A';
	gw_inbound_line(&s, &conf, (const uint8_t *)body, strlen(body), sig, now, res);
	return res->status;
}

/* Whether recipient name is opted out of ch. */
static int opted_out(const char *name, int ch)
{
	struct gw_consent_state st;

	if (gw_consent_get(&s, name, ch, &st) != MQS_OK)
		return -1;
	return st.optout;
}

/* Whether recipient name's consent on ch is on. */
static int consent_on(const char *name, int ch)
{
	struct gw_consent_state st;

	if (gw_consent_get(&s, name, ch, &st) != MQS_OK)
		return -1;
	return st.consent;
}

static void test_signatures(void)
{
	/* Twilio's documented example (their "Webhooks security" page) */
	const struct gw_param doc[] = {{"CallSid", "CA1234567890ABCDE"},
	                               {"Caller", "+12349013030"},
	                               {"Digits", "1234"},
	                               {"From", "+12349013030"},
	                               {"To", "+18005551212"}};
	const struct gw_param shuffled[] = {{"To", "+18005551212"},
	                                    {"Digits", "1234"},
	                                    {"CallSid", "CA1234567890ABCDE"},
	                                    {"From", "+12349013030"},
	                                    {"Caller", "+12349013030"}};
	const struct gw_param ours[] = {{"AccountSid", "ACtest"},
	                                {"Body", "STOP"},
	                                {"From", ALICE},
	                                {"MessageSid", "SM0001"},
	                                {"To", "+15550000000"}};
	const char *url = "https://mycompany.com/myapp.php?foo=1&bar=2";
	const char *body = "{\"events\":[]}";

	tap_ok(gw_twilio_signature_ok("12345", url, doc, 5, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
	       "twilio: the documented example verifies");
	tap_ok(gw_twilio_signature_ok("12345", url, shuffled, 5, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
	       "twilio: parameters are sorted before signing");
	tap_ok(!gw_twilio_signature_ok("12346", url, doc, 5, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
	       "twilio: another token does not verify");
	tap_ok(!gw_twilio_signature_ok("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", doc,
	                               5, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
	       "twilio: another URL does not verify");
	tap_ok(!gw_twilio_signature_ok("12345", url, doc, 4, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
	       "twilio: a dropped parameter does not verify");
	tap_ok(!gw_twilio_signature_ok("12345", url, doc, 5, "0/KCTR6DLpKmkAf8muzZqo1nDg"),
	       "twilio: a truncated signature does not verify");
	tap_ok(!gw_twilio_signature_ok("12345", url, doc, 5, ""), "twilio: an empty one neither");
	tap_ok(!gw_twilio_signature_ok("12345", url, doc, 5, NULL), "twilio: nor a missing one");
	tap_ok(gw_twilio_signature_ok(TOKEN, PUBLIC "/twilio/sms", ours, 5,
	                              "0aANOntQgvM3pJ01uI/cBZPTBzw="),
	       "twilio: our own vector (python hmac) verifies");
	tap_ok(gw_line_signature_ok(SECRET, (const uint8_t *)body, strlen(body),
	                            "PPa4QqevUGV8UO2apjR9ZWG24X4aYwLsG3KzECKE81c="),
	       "line: our vector (python hmac) verifies");
	tap_ok(!gw_line_signature_ok(SECRET, (const uint8_t *)body, strlen(body) - 1,
	                             "PPa4QqevUGV8UO2apjR9ZWG24X4aYwLsG3KzECKE81c="),
	       "line: a changed body does not verify");
	tap_ok(!gw_line_signature_ok("other", (const uint8_t *)body, strlen(body),
	                             "PPa4QqevUGV8UO2apjR9ZWG24X4aYwLsG3KzECKE81c="),
	       "line: another secret does not verify");
	tap_ok(!gw_line_signature_ok(SECRET, (const uint8_t *)body, strlen(body), "!!!"),
	       "line: garbage does not verify");
}

static void test_twilio(void)
{
	struct gw_inbound_result res;

	tap_is_int(twilio("ACtest", "SM0001", ALICE, "STOP", 0, &res), 403,
	           "twilio: bad signature is 403");
	tap_is_int(opted_out("alice", GW_CH_SMS), 0, "... nothing changed");
	tap_is_int(twilio("ACother", "SM0002", ALICE, "STOP", 1, &res), 403,
	           "twilio: another account is 403");
	tap_is_int(opted_out("alice", GW_CH_SMS), 0, "... nothing changed");
	tap_is_int(twilio("ACtest", "SM0003", ALICE, "  unsubscribe \n", 1, &res), 200,
	           "twilio: UNSUBSCRIBE is 200");
	tap_ok(strcmp(res.content_type, "text/xml; charset=utf-8") == 0 &&
	           strstr(res.body, "<Response/>") != NULL,
	       "twilio: the answer is empty TwiML");
	tap_is_int(opted_out("alice", GW_CH_SMS), 1, "twilio: alice opted out of sms");
	tap_is_int(consent_on("alice", GW_CH_SMS), 0, "twilio: ... and her sms consent is off");
	tap_is_int(twilio("ACtest", "SM0004", ALICE, "start", 1, &res), 200,
	           "twilio: START is 200");
	tap_is_int(opted_out("alice", GW_CH_SMS), 0, "twilio: START lifted the opt-out");
	tap_is_int(consent_on("alice", GW_CH_SMS), 0, "twilio: ... consent stays off");
	tap_is_int(twilio("ACtest", "SM0003", ALICE, "STOP", 1, &res), 200,
	           "twilio: a duplicate MessageSid is 200");
	tap_is_int(opted_out("alice", GW_CH_SMS), 0, "twilio: ... and changes nothing");
	tap_is_int(twilio("ACtest", "SM0005", ALICE, "stop please", 1, &res), 200,
	           "twilio: another text is 200");
	tap_is_int(opted_out("alice", GW_CH_SMS), 0, "twilio: ... and changes nothing");
	tap_is_int(twilio("ACtest", "SM0006", "+15559999999", "STOP", 1, &res), 200,
	           "twilio: STOP from an unknown number is 200");
	tap_is_int(twilio("ACtest", "SM 7", ALICE, "STOP", 1, &res), 400,
	           "twilio: a malformed MessageSid is 400");
}

static void test_line(void)
{
	struct gw_inbound_result res;
	char body[1024], code[GW_LINK_CODE_LEN + 1], err[256], name[GW_NAME_MAX + 1];
	char *big;
	size_t o;

	tap_is_int(line("{\"events\":[]}", 0, NOW, &res), 403, "line: bad signature is 403");
	tap_is_int(line("{\"destination\":\"U1\",\"events\":[]}", 1, NOW, &res), 200,
	           "line: the verify request is 200");
	tap_is_int(line("[1,2]", 1, NOW, &res), 400, "line: no events array is 400");
	tap_is_int(line("{\"events\":", 1, NOW, &res), 400, "line: broken JSON is 400");
	snprintf(body, sizeof(body),
	         "{\"events\":[{\"type\":\"unfollow\",\"timestamp\":%lld,\"webhookEventId\":"
	         "\"EV1\",\"source\":{\"type\":\"user\",\"userId\":\"%s\"}}]}",
	         (long long)(NOW - 11 * 60 * 1000), BOB_UID);
	tap_is_int(line(body, 1, NOW - 2 * 60 * 1000, &res), 200, "line: an unfollow is 200");
	tap_is_int(opted_out("bob", GW_CH_LINE), 1, "line: unfollow opted bob out of line");
	{
		int64_t rid = gw_recipient_id(&s, "bob");
		int changed = 0;

		tap_ok(gw_consent_optout_lift(&s, rid, GW_CH_LINE, "cli", NOW, &changed) ==
		               MQS_OK &&
		           changed,
		       "lift bob's opt-out");
	}
	/* a redelivered unfollow keeps its original timestamp: acted on
	 * whatever its age (attack finding 5) */
	snprintf(body, sizeof(body),
	         "{\"events\":[{\"type\":\"unfollow\",\"timestamp\":%lld,\"webhookEventId\":"
	         "\"EV1b\",\"deliveryContext\":{\"isRedelivery\":true},"
	         "\"source\":{\"type\":\"user\",\"userId\":\"%s\"}}]}",
	         (long long)(NOW - 3 * 60 * 60 * 1000), BOB_UID);
	tap_is_int(line(body, 1, NOW, &res), 200, "line: an unfollow 3 hours old is 200");
	tap_is_int(opted_out("bob", GW_CH_LINE), 1, "line: ... and opts bob out all the same");
	{
		int64_t rid = gw_recipient_id(&s, "bob");
		int changed = 0;

		tap_ok(gw_consent_optout_lift(&s, rid, GW_CH_LINE, "cli", NOW, &changed) ==
		               MQS_OK &&
		           changed,
		       "lift bob's opt-out");
	}
	tap_is_int(line(body, 1, NOW - 2 * 60 * 1000, &res), 200,
	           "line: a replayed webhookEventId is 200");
	tap_is_int(opted_out("bob", GW_CH_LINE), 0, "line: ... and changes nothing");

	tap_ok(gw_link_create(&s, "carol", GW_CH_LINE, NOW, code, err, sizeof(err)) == MQS_OK,
	       "a link code for carol");
	snprintf(body, sizeof(body),
	         "{\"events\":[{\"type\":\"message\",\"timestamp\":%lld,\"webhookEventId\":"
	         "\"EV2s\",\"source\":{\"type\":\"user\",\"userId\":\"%s\"},\"message\":"
	         "{\"type\":\"text\",\"id\":\"1\",\"text\":\"%s\"}}]}",
	         (long long)(NOW - 11 * 60 * 1000), CAR_UID, code);
	tap_is_int(line(body, 1, NOW, &res), 200, "line: a stale code message is 200");
	tap_ok(gw_recipient_find(&s, GW_F_LINE, CAR_UID, name, sizeof(name), err, sizeof(err)) ==
	           MQS_ERR_NOENT,
	       "line: ... and binds nobody (the window applies to messages)");
	snprintf(body, sizeof(body),
	         "{\"events\":[{\"type\":\"message\",\"timestamp\":%lld,\"webhookEventId\":\"EV2\","
	         "\"source\":{\"type\":\"user\",\"userId\":\"%s\"},\"message\":{\"type\":\"text\","
	         "\"id\":\"1\",\"text\":\"%s\"}}]}",
	         (long long)NOW, CAR_UID, code);
	tap_is_int(line(body, 1, NOW + 1000, &res), 200, "line: the code message is 200");
	tap_ok(gw_recipient_find(&s, GW_F_LINE, CAR_UID, name, sizeof(name), err, sizeof(err)) ==
	               MQS_OK &&
	           strcmp(name, "carol") == 0,
	       "line: carol is bound to the sender's user id");

	/* 101 events: refused whole */
	big = malloc(101 * 64 + 32);
	o = (size_t)sprintf(big, "{\"events\":[");
	for (int i = 0; i < 101; i++)
		o += (size_t)sprintf(big + o, "%s{\"type\":\"x\",\"timestamp\":1}", i ? "," : "");
	sprintf(big + o, "]}");
	tap_is_int(line(big, 1, NOW, &res), 400, "line: more than 100 events is 400");
	free(big);
}

static void test_unsub(void)
{
	struct gw_inbound_result res;
	struct gw_unsub_ref ref = {
	    .recipient_id = gw_recipient_id(&s, "carol"), .channel = GW_CH_EMAIL, .campaign_id = 7};
	char tok[GW_UNSUB_TOKEN_LEN + 1], forged[GW_UNSUB_TOKEN_LEN + 1], err[256];
	char longtok[1024];

	tap_ok(gw_consent_set(&s, "carol", GW_CH_EMAIL, 1, "cli", NOW, err, sizeof(err)) == MQS_OK,
	       "carol consents to email marketing");
	tap_ok(gw_recipient_created_at(&s, ref.recipient_id, &ref.created_at) == MQS_OK &&
	           gw_unsub_token_make(&s, &ref, tok) == MQS_OK,
	       "a token for carol's email");
	gw_inbound_unsub(&s, &conf, tok, strlen(tok), 0, NOW, &res);
	tap_is_int(res.status, 200, "unsubscribe: GET is 200");
	tap_ok(strstr(res.body, "method=\"post\"") != NULL && strstr(res.body, "email") != NULL,
	       "unsubscribe: GET shows a POST form naming the channel");
	tap_ok(strstr(res.body, "action=") == NULL,
	       "unsubscribe: ... posting to its own URL (no action: works under a path prefix)");
	{
		/* canonical spelling only (attack finding 8): every other last
		 * character is refused */
		static const char alpha[] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		int accepted = 0;

		for (size_t i = 0; i < 64; i++) {
			struct gw_unsub_ref r2;

			memcpy(forged, tok, sizeof(tok));
			if (forged[GW_UNSUB_TOKEN_LEN - 1] == alpha[i])
				continue;
			forged[GW_UNSUB_TOKEN_LEN - 1] = alpha[i];
			if (gw_unsub_token_check(&s, forged, GW_UNSUB_TOKEN_LEN, &r2) == MQS_OK)
				accepted++;
		}
		tap_is_int(accepted, 0, "unsubscribe: no other spelling of the token is accepted");
	}
	ref.created_at++;
	tap_ok(gw_unsub_token_make(&s, &ref, forged) == MQS_OK, "a token with another created_at");
	gw_inbound_unsub(&s, &conf, forged, strlen(forged), 0, NOW, &res);
	tap_is_int(res.status, 404, "unsubscribe: a token of another row with that id is 404");
	ref.created_at--;
	tap_ok(strstr(res.body, "carol") == NULL, "unsubscribe: ... and no name");
	tap_is_int(consent_on("carol", GW_CH_EMAIL), 1, "unsubscribe: GET changes nothing");
	memcpy(forged, tok, sizeof(tok));
	forged[10] = forged[10] == 'A' ? 'B' : 'A';
	gw_inbound_unsub(&s, &conf, forged, strlen(forged), 1, NOW, &res);
	tap_is_int(res.status, 404, "unsubscribe: a forged token is 404");
	gw_inbound_unsub(&s, &conf, tok, strlen(tok) - 1, 1, NOW, &res);
	tap_is_int(res.status, 404, "unsubscribe: a truncated token is 404");
	memset(longtok, 'A', sizeof(longtok) - 1);
	longtok[sizeof(longtok) - 1] = '\0';
	gw_inbound_unsub(&s, &conf, longtok, strlen(longtok), 1, NOW, &res);
	tap_is_int(res.status, 404, "unsubscribe: an oversized token is 404");
	gw_inbound_unsub(&s, &conf, "", 0, 1, NOW, &res);
	tap_is_int(res.status, 404, "unsubscribe: an empty token is 404");
	tap_is_int(consent_on("carol", GW_CH_EMAIL), 1, "unsubscribe: ... nothing changed");
	gw_inbound_unsub(&s, &conf, tok, strlen(tok), 1, NOW, &res);
	tap_is_int(res.status, 200, "unsubscribe: POST is 200");
	tap_is_int(consent_on("carol", GW_CH_EMAIL), 0, "unsubscribe: POST turned consent off");
	gw_inbound_unsub(&s, &conf, tok, strlen(tok), 1, NOW, &res);
	tap_is_int(res.status, 200, "unsubscribe: a second POST is 200 too");
	ref.recipient_id = 999999;
	tap_ok(gw_unsub_token_make(&s, &ref, tok) == MQS_OK, "a token for no recipient");
	gw_inbound_unsub(&s, &conf, tok, strlen(tok), 0, NOW, &res);
	tap_is_int(res.status, 404, "unsubscribe: a recipient removed since is 404");
	{
		/* a removed recipient's row id reused by a new one: the old link
		 * does nothing (attack finding 9) */
		const char *zed[GW_F__COUNT] = {"zed@example.org", NULL, NULL};
		int64_t t0;

		tap_ok(gw_recipient_add(&s, "zed", zed, NULL, 0, err, sizeof(err)) == MQS_OK,
		       "add zed");
		ref.recipient_id = gw_recipient_id(&s, "zed");
		tap_ok(gw_recipient_created_at(&s, ref.recipient_id, &ref.created_at) == MQS_OK &&
		           gw_unsub_token_make(&s, &ref, tok) == MQS_OK,
		       "zed's token");
		t0 = (int64_t)mqs_now_ms();
		while ((int64_t)mqs_now_ms() == t0) /* the next millisecond */
			;
		tap_ok(gw_recipient_rm(&s, "zed", err, sizeof(err)) == MQS_OK &&
		           gw_recipient_add(&s, "zoe", zed, NULL, 0, err, sizeof(err)) == MQS_OK &&
		           gw_consent_set(&s, "zoe", GW_CH_EMAIL, 1, "cli", NOW, err,
		                          sizeof(err)) == MQS_OK,
		       "zed removed, zoe added (consenting)");
		tap_is_int(gw_recipient_id(&s, "zoe"), ref.recipient_id, "zoe got zed's row id");
		gw_inbound_unsub(&s, &conf, tok, strlen(tok), 1, NOW, &res);
		tap_is_int(res.status, 404, "unsubscribe: zed's old link is 404");
		tap_is_int(consent_on("zoe", GW_CH_EMAIL), 1,
		           "unsubscribe: ... zoe still consents");
	}
}

/* STOP and unfollow apply to the number / LINE id: every recipient with it
 * is opted out (attack finding 4); pruning of webhook_seen. */
static void test_shared(void)
{
	const char *dad[GW_F__COUNT] = {NULL, "+15550005678", "Uaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	const char *kid[GW_F__COUNT] = {NULL, "+15550005678", "Uaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	struct gw_inbound_result res;
	char body[512], err[256];
	sqlite3_stmt *st;
	int n = -1;

	tap_ok(gw_recipient_add(&s, "dad", dad, NULL, 0, err, sizeof(err)) == MQS_OK &&
	           gw_recipient_add(&s, "kid", kid, NULL, 0, err, sizeof(err)) == MQS_OK &&
	           gw_consent_set(&s, "dad", GW_CH_SMS, 1, "cli", NOW, err, sizeof(err)) ==
	               MQS_OK &&
	           gw_consent_set(&s, "kid", GW_CH_SMS, 1, "cli", NOW, err, sizeof(err)) == MQS_OK,
	       "dad and kid share a phone and a LINE id, both consent to sms");
	tap_is_int(twilio("ACtest", "SM0200", "+15550005678", "STOP", 1, &res), 200,
	           "shared: STOP is 200");
	tap_ok(opted_out("dad", GW_CH_SMS) == 1 && opted_out("kid", GW_CH_SMS) == 1,
	       "shared: STOP opts out both recipients with that number");
	tap_ok(consent_on("dad", GW_CH_SMS) == 0 && consent_on("kid", GW_CH_SMS) == 0,
	       "shared: ... and turns both consents off");
	tap_is_int(twilio("ACtest", "SM0201", "+15550005678", "START", 1, &res), 200,
	           "shared: START is 200");
	tap_ok(opted_out("dad", GW_CH_SMS) == 0 && opted_out("kid", GW_CH_SMS) == 0,
	       "shared: START lifts both");
	snprintf(body, sizeof(body),
	         "{\"events\":[{\"type\":\"unfollow\",\"timestamp\":%lld,\"webhookEventId\":"
	         "\"EV300\",\"source\":{\"type\":\"user\",\"userId\":\"%s\"}}]}",
	         (long long)NOW, dad[GW_F_LINE]);
	tap_is_int(line(body, 1, NOW, &res), 200, "shared: unfollow is 200");
	tap_ok(opted_out("dad", GW_CH_LINE) == 1 && opted_out("kid", GW_CH_LINE) == 1,
	       "shared: unfollow opts out both recipients with that LINE id");

	/* a week and a day later the old event keys are pruned */
	snprintf(body, sizeof(body),
	         "{\"events\":[{\"type\":\"unfollow\",\"timestamp\":%lld,\"webhookEventId\":"
	         "\"EV301\",\"source\":{\"type\":\"user\",\"userId\":\"%s\"}}]}",
	         (long long)NOW, dad[GW_F_LINE]);
	tap_is_int(line(body, 1, NOW + 8LL * 24 * 60 * 60 * 1000, &res), 200,
	           "prune: an event a week later is 200");
	st = gw_store_prepare(&s, "SELECT count(*) FROM webhook_seen");
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	tap_is_int(n, 1, "prune: keys older than 7 days are gone");
}

/* Another connection holds the write lock: every handler that must write
 * answers 503 (the provider retries) and changes nothing. */
static void test_refused(void)
{
	struct gw_inbound_result res;
	struct gw_unsub_ref ref = {.recipient_id = gw_recipient_id(&s, "alice"),
	                           .channel = GW_CH_EMAIL};
	char tok[GW_UNSUB_TOKEN_LEN + 1], body[512], err[256];
	sqlite3 *other = NULL;

	tap_ok(gw_consent_set(&s, "alice", GW_CH_EMAIL, 1, "cli", NOW, err, sizeof(err)) ==
	               MQS_OK &&
	           gw_recipient_created_at(&s, ref.recipient_id, &ref.created_at) == MQS_OK &&
	           gw_unsub_token_make(&s, &ref, tok) == MQS_OK,
	       "alice consents to email; her token");
	tap_ok(sqlite3_open(db_path, &other) == SQLITE_OK &&
	           sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK,
	       "another connection takes the write lock");
	gw_store_nowait(&s);
	tap_is_int(twilio("ACtest", "SM0100", ALICE, "STOP", 1, &res), 503,
	           "refused: twilio STOP is 503");
	snprintf(body, sizeof(body),
	         "{\"events\":[{\"type\":\"unfollow\",\"timestamp\":%lld,\"webhookEventId\":"
	         "\"EV100\",\"source\":{\"type\":\"user\",\"userId\":\"%s\"}}]}",
	         (long long)NOW, BOB_UID);
	tap_is_int(line(body, 1, NOW, &res), 503, "refused: line unfollow is 503");
	gw_inbound_unsub(&s, &conf, tok, strlen(tok), 1, NOW, &res);
	tap_is_int(res.status, 503, "refused: unsubscribe POST is 503");
	gw_inbound_unsub(&s, &conf, tok, strlen(tok), 0, NOW, &res);
	tap_is_int(res.status, 200, "refused: the GET page still works (it writes nothing)");
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	tap_ok(opted_out("alice", GW_CH_SMS) == 0 && opted_out("bob", GW_CH_LINE) == 0 &&
	           consent_on("alice", GW_CH_EMAIL) == 1,
	       "refused: nothing changed");
	tap_is_int(twilio("ACtest", "SM0100", ALICE, "STOP", 1, &res), 200,
	           "the provider's retry is 200 (its MessageSid was not recorded)");
	tap_is_int(opted_out("alice", GW_CH_SMS), 1, "... and opts alice out");
	tap_is_int(line(body, 1, NOW, &res), 200, "the LINE retry is 200");
	tap_is_int(opted_out("bob", GW_CH_LINE), 1, "... and opts bob out");
	gw_inbound_unsub(&s, &conf, tok, strlen(tok), 1, NOW, &res);
	tap_ok(res.status == 200 && consent_on("alice", GW_CH_EMAIL) == 0,
	       "the unsubscribe retry works");
}

int main(void)
{
	const char *alice[GW_F__COUNT] = {"alice@example.org", ALICE, NULL};
	const char *bob[GW_F__COUNT] = {NULL, NULL, BOB_UID};
	const char *carol[GW_F__COUNT] = {"carol@example.org", NULL, NULL};
	char err[512];
	FILE *f;

	tap_plan(96);
	gw_log_set_level(GW_LOG_ERR);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(conf_path, sizeof(conf_path), "%s/gw.conf", dir);
	snprintf(db_path, sizeof(db_path), "%s/gw.db", dir);
	snprintf(key_path, sizeof(key_path), "%s/gw.key", dir);
	f = fopen(conf_path, "w");
	if (f == NULL)
		return 1;
	fprintf(f,
	        "[broker]\ncredentials = %s/c.json\n[store]\ndb = %s\nmaster_key_file = %s\n"
	        "[channel sms]\nurl = http://127.0.0.1:9\naccount_sid = ACtest\nauth_token = %s\n"
	        "from = +15550000000\n[channel line]\nurl = http://127.0.0.1:9\ntoken = t\n"
	        "channel_secret = %s\n[http]\nlisten = 127.0.0.1:0\npublic_url = %s\n",
	        dir, db_path, key_path, TOKEN, SECRET, PUBLIC);
	fclose(f);
	if (gw_config_load(conf_path, &conf, err, sizeof(err)) != MQS_OK) {
		tap_diag("config: %s", err);
		return 1;
	}
	if (gw_store_open(&s, db_path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("store: %s", err);
		return 1;
	}
	if (gw_recipient_add(&s, "alice", alice, NULL, 0, err, sizeof(err)) != MQS_OK ||
	    gw_recipient_add(&s, "bob", bob, NULL, 0, err, sizeof(err)) != MQS_OK ||
	    gw_recipient_add(&s, "carol", carol, NULL, 0, err, sizeof(err)) != MQS_OK ||
	    gw_consent_set(&s, "alice", GW_CH_SMS, 1, "cli", NOW, err, sizeof(err)) != MQS_OK) {
		tap_diag("recipients: %s", err);
		return 1;
	}
	test_signatures();
	test_twilio();
	test_line();
	test_unsub();
	test_refused();
	test_shared();
	gw_store_close(&s);
	gw_config_release(&conf);
	unlink(conf_path);
	unlink(db_path);
	unlink(key_path);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	tap_done();
	return tap_exit();
}
