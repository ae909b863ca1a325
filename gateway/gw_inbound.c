/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_inbound.c - provider webhooks and unsubscribe links, independent of
 * HTTP (gw_inbound.h; docs/marketing.md, "HTTP listener"). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gw_consent.h"
#include "gw_inbound.h"
#include "gw_link.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_unsub.h"
#include "gw_util.h"
#include "mqs_alloc.h"
#include "mqs_util.h"

#define SEEN_KEEP_MS   (7LL * 24 * 60 * 60 * 1000)
#define PRUNE_EVERY_MS (60LL * 1000)
#define LINE_STALE_MS  (10LL * 60 * 1000)
#define LINE_MAX_EVENT 100
#define SIG_MAX        128 /* base64 of a MAC: far shorter */
#define TWILIO_MAX_P   64
#define ID_MAX         64

static const char *const stop_words[] = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL",
                                         "END",  "QUIT",    NULL};
static const char *const start_words[] = {"START", "UNSTOP", "YES", NULL};

static const char text_plain[] = "text/plain; charset=utf-8";
static const char text_html[] = "text/html; charset=utf-8";
static const char text_xml[] = "text/xml; charset=utf-8";

/* Fill res with status, content type and body. */
static void answer(struct gw_inbound_result *res, int status, const char *ctype, const char *body)
{
	res->status = status;
	res->content_type = ctype;
	snprintf(res->body, sizeof(res->body), "%s", body);
}

/* Compare the base64 MAC sig_b64 with mac in constant time: 1 when equal. */
static int mac_equal(const uint8_t *mac, size_t mlen, const char *sig_b64)
{
	uint8_t *raw = NULL;
	size_t rlen = 0, slen;
	int ok = 0;

	if (sig_b64 == NULL)
		return 0;
	slen = strnlen(sig_b64, SIG_MAX + 1);
	if (slen == 0 || slen > SIG_MAX)
		return 0;
	if (mqs_base64_decode(sig_b64, slen, 64, &raw, &rlen) != MQS_OK)
		return 0;
	ok = rlen == mlen && CRYPTO_memcmp(raw, mac, mlen) == 0;
	mqs_secret_free(raw, rlen);
	return ok;
}

/* qsort order of parameters: by name (byte order), then value. */
static int param_cmp(const void *a, const void *b)
{
	const struct gw_param *pa = *(const struct gw_param *const *)a;
	const struct gw_param *pb = *(const struct gw_param *const *)b;
	int c = strcmp(pa->name, pb->name);

	return c != 0 ? c : strcmp(pa->value, pb->value);
}

/* Twilio's signature check. */
int gw_twilio_signature_ok(const char *auth_token, const char *url, const struct gw_param *params,
                           size_t nparams, const char *sig_b64)
{
	const struct gw_param *sorted[TWILIO_MAX_P];
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;
	size_t total, o = 0;
	char *buf = NULL;
	int ok = 0;

	if (auth_token == NULL || url == NULL || nparams > TWILIO_MAX_P || sig_b64 == NULL)
		return 0;
	total = strlen(url);
	for (size_t i = 0; i < nparams; i++) {
		sorted[i] = &params[i];
		total += strlen(params[i].name) + strlen(params[i].value);
	}
	qsort(sorted, nparams, sizeof(sorted[0]), param_cmp);
	buf = mqs_malloc(total + 1);
	if (buf == NULL)
		goto out;
	memcpy(buf, url, strlen(url));
	o = strlen(url);
	for (size_t i = 0; i < nparams; i++) {
		size_t nl = strlen(sorted[i]->name), vl = strlen(sorted[i]->value);

		memcpy(buf + o, sorted[i]->name, nl);
		o += nl;
		memcpy(buf + o, sorted[i]->value, vl);
		o += vl;
	}
	if (HMAC(EVP_sha1(), auth_token, (int)strlen(auth_token), (const unsigned char *)buf, o,
	         mac, &mlen) != NULL)
		ok = mac_equal(mac, mlen, sig_b64);
out:
	mqs_secret_free(buf, total + 1);
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

/* LINE's signature check. */
int gw_line_signature_ok(const char *secret, const uint8_t *body, size_t len, const char *sig_b64)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;
	int ok = 0;

	if (secret == NULL || secret[0] == '\0' || sig_b64 == NULL)
		return 0;
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, mac, &mlen) != NULL)
		ok = mac_equal(mac, mlen, sig_b64);
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

/* The value of parameter name, or NULL (the first when repeated). */
static const char *param_get(const struct gw_param *params, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(params[i].name, name) == 0)
			return params[i].value;
	}
	return NULL;
}

/* 1 when id is 1..ID_MAX letters, digits, '-' or '_'. */
static int id_ok(const char *id)
{
	size_t n;

	if (id == NULL)
		return 0;
	for (n = 0; id[n] != '\0'; n++) {
		if (n >= ID_MAX || !(isalnum((unsigned char)id[n]) || id[n] == '-' || id[n] == '_'))
			return 0;
	}
	return n > 0;
}

/* 1 when the trimmed body equals one of words (any case). */
static int keyword_in(const char *body, const char *const *words)
{
	size_t n;

	if (body == NULL)
		return 0;
	while (isspace((unsigned char)*body))
		body++;
	n = strnlen(body, 32);
	while (n > 0 && isspace((unsigned char)body[n - 1]))
		n--;
	for (size_t i = 0; words[i] != NULL; i++) {
		if (strlen(words[i]) == n && strncasecmp(body, words[i], n) == 0)
			return 1;
	}
	return 0;
}

/* When the tables of replay memory and failure counters were last pruned
 * (the process serves one store; a clock going back prunes again). */
static int64_t pruned_at = INT64_MIN;

/* Inside the caller's transaction, at most once a minute: drop event keys
 * older than seven days (webhook_seen) and link-code counters whose window
 * is over (http_limits).  MQS_OK or MQS_ERR_DB. */
static int prune(struct gw_store *s, int64_t now_ms)
{
	sqlite3_stmt *st;
	int r;

	if (pruned_at != INT64_MIN && now_ms >= pruned_at && now_ms - pruned_at < PRUNE_EVERY_MS)
		return MQS_OK;
	st = gw_store_stmt(s, "DELETE FROM webhook_seen WHERE at < ?");
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, now_ms - SEEN_KEEP_MS);
	r = sqlite3_step(st);
	gw_store_done(st);
	if (r != SQLITE_DONE || gw_link_prune(s, now_ms) != MQS_OK)
		return MQS_ERR_DB;
	pruned_at = now_ms;
	return MQS_OK;
}

/* Record provider event key as handled unless it was: 1 when new, 0 when
 * seen before, -1 on error. */
static int seen_mark(struct gw_store *s, const char *key, int64_t now_ms)
{
	sqlite3_stmt *st;
	int r;

	if (prune(s, now_ms) != MQS_OK)
		return -1;
	st = gw_store_stmt(s, "INSERT OR IGNORE INTO webhook_seen(key, at) VALUES (?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now_ms);
	r = sqlite3_step(st);
	gw_store_done(st);
	if (r != SQLITE_DONE)
		return -1;
	return sqlite3_changes(s->db) > 0 ? 1 : 0;
}

/* What an opt-out by address does to each recipient found. */
struct optout_arg {
	struct gw_store *s;
	int ch;            /* enum gw_chan */
	int stop;          /* 1: opt out, 0: lift */
	const char *why;   /* consent_log reason */
	const char *label; /* log prefix: "twilio", "line" */
	int64_t now_ms;
};

/* gw_recipient_find_each() callback: opt recipient id out of (or lift the
 * opt-out of) a->ch. */
static int optout_one(int64_t id, const char *name, void *arg)
{
	const struct optout_arg *a = arg;
	int rc, changed = 0;

	if (a->stop)
		rc = gw_consent_optout(a->s, id, a->ch, a->why, a->now_ms, &changed);
	else
		rc = gw_consent_optout_lift(a->s, id, a->ch, a->why, a->now_ms, &changed);
	if (rc != MQS_OK)
		return MQS_ERR_DB;
	gw_log(GW_LOG_INFO, "%s: recipient %s %s %s%s", a->label, name,
	       a->stop ? "opted out of" : "lifted the opt-out of", gw_chan_name(a->ch),
	       changed ? "" : " (no change)");
	return MQS_OK;
}

/* Twilio: opt out / lift every recipient with the sender's number (STOP
 * applies to the number: docs/marketing.md, "HTTP listener"); inside the
 * caller's transaction.  MQS_OK or MQS_ERR_DB. */
static int twilio_act(struct gw_store *s, const char *from, int stop, int64_t now_ms)
{
	struct optout_arg a = {s,        GW_CH_SMS, stop, stop ? "twilio-stop" : "twilio-start",
	                       "twilio", now_ms};
	char err[160];
	int rc;

	rc = gw_recipient_find_each(s, GW_F_PHONE, from, optout_one, &a, err, sizeof(err));
	if (rc == MQS_ERR_NOENT || rc == MQS_ERR_INVAL) {
		gw_log(GW_LOG_INFO, "twilio: %s from a number of no recipient: ignored",
		       stop ? "STOP" : "START");
		return MQS_OK;
	}
	return rc == MQS_OK ? MQS_OK : MQS_ERR_DB;
}

/* POST /twilio/sms. */
void gw_inbound_twilio(struct gw_store *s, const struct gw_config *c, const struct gw_param *params,
                       size_t nparams, const char *signature, int64_t now_ms,
                       struct gw_inbound_result *res)
{
	const char *token = gw_config_chan_get(c, "sms", "auth_token");
	const char *sid = gw_config_chan_get(c, "sms", "account_sid");
	const char *acct, *msid, *body, *from;
	char url[640], key[ID_MAX + 16];
	int stop, start, r, rc = MQS_OK;

	if (token == NULL || sid == NULL || c->http.public_url == NULL) {
		answer(res, 404, text_plain, "not configured\n");
		return;
	}
	snprintf(url, sizeof(url), "%s/twilio/sms", c->http.public_url);
	if (nparams > TWILIO_MAX_P ||
	    !gw_twilio_signature_ok(token, url, params, nparams, signature)) {
		gw_log(GW_LOG_WARN, "twilio: bad signature: refused");
		answer(res, 403, text_plain, "bad signature\n");
		return;
	}
	acct = param_get(params, nparams, "AccountSid");
	if (acct == NULL || strcmp(acct, sid) != 0) {
		gw_log(GW_LOG_WARN, "twilio: request for another account: refused");
		answer(res, 403, text_plain, "wrong account\n");
		return;
	}
	msid = param_get(params, nparams, "MessageSid");
	body = param_get(params, nparams, "Body");
	from = param_get(params, nparams, "From");
	if (!id_ok(msid) || from == NULL) {
		answer(res, 400, text_plain, "missing MessageSid or From\n");
		return;
	}
	stop = keyword_in(body, stop_words);
	start = keyword_in(body, start_words);
	if (gw_store_begin(s) != MQS_OK) {
		answer(res, 503, text_plain, "busy\n");
		return;
	}
	snprintf(key, sizeof(key), "twilio:%s", msid);
	r = seen_mark(s, key, now_ms);
	if (r < 0)
		rc = MQS_ERR_DB;
	else if (r == 0)
		gw_log(GW_LOG_INFO, "twilio: message already handled: ignored");
	else if (stop || start)
		rc = twilio_act(s, from, stop, now_ms);
	if (rc == MQS_OK && gw_store_commit(s) == MQS_OK) {
		answer(res, 200, text_xml,
		       "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>\n");
		return;
	}
	if (rc != MQS_OK)
		gw_store_rollback(s);
	answer(res, 503, text_plain, "cannot record, try again\n");
}

/* A string member of object o, or NULL. */
static const char *json_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* LINE unfollow: opt every recipient with that user id out of line. */
static int line_unfollow(struct gw_store *s, const char *uid, int64_t now_ms)
{
	struct optout_arg a = {s, GW_CH_LINE, 1, "line-unfollow", "line", now_ms};
	char err[160];
	int rc;

	rc = gw_recipient_find_each(s, GW_F_LINE, uid, optout_one, &a, err, sizeof(err));
	if (rc == MQS_ERR_NOENT || rc == MQS_ERR_INVAL) {
		gw_log(GW_LOG_INFO, "line: unfollow by a user of no recipient: ignored");
		return MQS_OK;
	}
	return rc == MQS_OK ? MQS_OK : MQS_ERR_DB;
}

/* LINE text message: a link code binds the sender. */
static int line_message(struct gw_store *s, const cJSON *ev, const char *uid, int64_t now_ms)
{
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ev, "message");
	const char *type = json_str(msg, "type"), *text = json_str(msg, "text");
	char name[GW_NAME_MAX + 1];
	int rc;

	if (type == NULL || strcmp(type, "text") != 0 || text == NULL ||
	    !gw_link_looks_like_code(text, strlen(text)))
		return MQS_OK;
	rc = gw_link_redeem(s, text, strlen(text), uid, now_ms, name, sizeof(name));
	if (rc == MQS_OK)
		gw_log(GW_LOG_INFO, "line: recipient %s linked to its LINE user", name);
	else if (rc == MQS_ERR_NOENT)
		gw_log(GW_LOG_WARN, "line: unknown or expired link code: ignored");
	else if (rc == MQS_ERR_PERM)
		gw_log(GW_LOG_WARN, "line: too many failed link codes: ignored");
	return rc == MQS_ERR_DB ? MQS_ERR_DB : MQS_OK;
}

/* One LINE event, inside the caller's transaction. */
static int line_event(struct gw_store *s, const cJSON *ev, int64_t now_ms)
{
	const char *type = json_str(ev, "type"), *eid = json_str(ev, "webhookEventId");
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(ev, "timestamp");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(ev, "source");
	const char *uid = json_str(src, "userId");
	char key[ID_MAX + 16];
	double t;
	int r;

	if (type == NULL || !cJSON_IsNumber(ts))
		return MQS_OK;
	t = ts->valuedouble;
	/* the window applies to link codes only: an unfollow is acted on
	 * whatever its age (LINE redelivers failed events with their original
	 * timestamp; the request is signed and replays are caught by
	 * webhookEventId) */
	if (strcmp(type, "message") == 0 &&
	    (t < (double)(now_ms - LINE_STALE_MS) || t > (double)(now_ms + LINE_STALE_MS))) {
		gw_log(GW_LOG_WARN,
		       "line: message older than 10 minutes (or from the future): ignored");
		return MQS_OK;
	}
	if (eid != NULL) {
		if (!id_ok(eid))
			return MQS_OK;
		snprintf(key, sizeof(key), "line:%s", eid);
		r = seen_mark(s, key, now_ms);
		if (r < 0)
			return MQS_ERR_DB;
		if (r == 0) {
			gw_log(GW_LOG_INFO, "line: event already handled: ignored");
			return MQS_OK;
		}
	}
	if (uid == NULL || !id_ok(uid))
		return MQS_OK;
	if (strcmp(type, "unfollow") == 0)
		return line_unfollow(s, uid, now_ms);
	if (strcmp(type, "message") == 0)
		return line_message(s, ev, uid, now_ms);
	return MQS_OK;
}

/* POST /line/webhook. */
void gw_inbound_line(struct gw_store *s, const struct gw_config *c, const uint8_t *body, size_t len,
                     const char *signature, int64_t now_ms, struct gw_inbound_result *res)
{
	const char *secret = gw_config_chan_get(c, "line", "channel_secret");
	cJSON *root = NULL;
	const cJSON *events, *ev;
	int rc = MQS_OK, n;

	if (secret == NULL) {
		answer(res, 404, text_plain, "not configured\n");
		return;
	}
	if (!gw_line_signature_ok(secret, body, len, signature)) {
		gw_log(GW_LOG_WARN, "line: bad signature: refused");
		answer(res, 403, text_plain, "bad signature\n");
		return;
	}
	root = cJSON_ParseWithLength((const char *)body, len);
	events = cJSON_GetObjectItemCaseSensitive(root, "events");
	if (!cJSON_IsArray(events)) {
		answer(res, 400, text_plain, "no events\n");
		goto out;
	}
	n = cJSON_GetArraySize(events);
	if (n > LINE_MAX_EVENT) {
		answer(res, 400, text_plain, "too many events\n");
		goto out;
	}
	if (n == 0) { /* the console's "Verify" */
		answer(res, 200, text_plain, "ok\n");
		goto out;
	}
	if (gw_store_begin(s) != MQS_OK) {
		answer(res, 503, text_plain, "busy\n");
		goto out;
	}
	cJSON_ArrayForEach(ev, events)
	{
		if (rc == MQS_OK && cJSON_IsObject(ev))
			rc = line_event(s, ev, now_ms);
	}
	if (rc == MQS_OK && gw_store_commit(s) == MQS_OK) {
		answer(res, 200, text_plain, "ok\n");
		goto out;
	}
	if (rc != MQS_OK)
		gw_store_rollback(s);
	answer(res, 503, text_plain, "cannot record, try again\n");
out:
	cJSON_Delete(root);
}

/* HTML-escape in into out (cap bytes, truncated). */
static void html_escape(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; *in != '\0' && o + 7 < cap; in++) {
		const char *rep = mqs_html_entity((unsigned char)*in);

		if (rep != NULL) {
			memcpy(out + o, rep, strlen(rep));
			o += strlen(rep);
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

/* An HTML page with title and paragraph (both escaped here); with_form
 * adds the button that posts to the page's own URL. */
static void page(struct gw_inbound_result *res, int status, const char *title, const char *para,
                 int with_form)
{
	char t[128], p[512];

	html_escape(title, t, sizeof(t));
	html_escape(para, p, sizeof(p));
	res->status = status;
	res->content_type = text_html;
	if (!with_form) {
		snprintf(res->body, sizeof(res->body),
		         "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
		         "</head><body><h1>%s</h1><p>%s</p></body></html>\n",
		         t, t, p);
		return;
	}
	/* no action: the form posts to the page's own URL, which also works
	 * behind a proxy that mounts the gateway under a path prefix */
	snprintf(res->body, sizeof(res->body),
	         "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>"
	         "<body><h1>%s</h1><p>%s</p><form method=\"post\">"
	         "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
	         "<button type=\"submit\">Unsubscribe</button></form></body></html>\n",
	         t, t, p);
}

/* GET or POST /u/TOKEN. */
void gw_inbound_unsub(struct gw_store *s, const struct gw_config *c, const char *token, size_t len,
                      int post, int64_t now_ms, struct gw_inbound_result *res)
{
	struct gw_unsub_ref ref;
	char name[GW_NAME_MAX + 1], err[256], para[160];
	const char *chname;
	int rc;

	(void)c;
	if (token == NULL || len != GW_UNSUB_TOKEN_LEN ||
	    gw_unsub_token_check(s, token, len, &ref) != MQS_OK ||
	    (ref.channel != GW_CH_EMAIL && ref.channel != GW_CH_SMS && ref.channel != GW_CH_LINE)) {
		page(res, 404, "Link not valid", "This unsubscribe link is not valid.", 0);
		return;
	}
	rc = gw_recipient_name_of(s, ref.recipient_id, name, sizeof(name));
	if (rc == MQS_OK) {
		int64_t born = -1;

		rc = gw_recipient_created_at(s, ref.recipient_id, &born);
		/* a token of a removed recipient whose row id was reused */
		if (rc == MQS_OK && born != ref.created_at)
			rc = MQS_ERR_NOENT;
	}
	if (rc == MQS_ERR_NOENT) {
		page(res, 404, "Link not valid", "This unsubscribe link is not valid.", 0);
		return;
	}
	if (rc != MQS_OK) {
		page(res, 503, "Try again later", "Please try again in a few minutes.", 0);
		return;
	}
	chname = gw_chan_name(ref.channel);
	if (!post) {
		snprintf(para, sizeof(para),
		         "Press the button to stop receiving marketing messages by %s.", chname);
		page(res, 200, "Unsubscribe", para, 1);
		return;
	}
	rc = gw_consent_set(s, name, ref.channel, 0, "unsubscribe-link", now_ms, err, sizeof(err));
	if (rc == MQS_ERR_NOENT) {
		page(res, 404, "Link not valid", "This unsubscribe link is not valid.", 0);
		return;
	}
	if (rc != MQS_OK) {
		page(res, 503, "Try again later", "Please try again in a few minutes.", 0);
		return;
	}
	gw_log(GW_LOG_INFO, "unsubscribe link: recipient %s consent to %s marketing off", name,
	       chname);
	snprintf(para, sizeof(para), "You will no longer receive marketing messages by %s.",
	         chname);
	page(res, 200, "You are unsubscribed", para, 0);
}
