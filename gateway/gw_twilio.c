/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_twilio.c - Twilio-style REST delivery (Messages.json, Calls.json),
 * shared by gw_sms.c and gw_phone.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "gw_http.h"
#include "gw_twilio.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_error.h"
#include "mqs_util.h"

/* Largest form body: the escaped text (a capped SMS or TwiML, at most 3
 * bytes per byte escaped) with the numbers fits well within it. */
#define GW_TWILIO_FORM_MAX (64 * 1024)

#define TWILIO_API "/2010-04-01/Accounts/"

struct gw_twilio {
	struct gw_channel head;    /* first: the engine sees a struct gw_channel */
	struct gw_channel_ops ops; /* twilio_ops named after the kind */
	const struct gw_twilio_kind *kind;
	struct gw_net_conf net;
	char *endpoint;    /* {url}/2010-04-01/Accounts/{sid}/{resource} */
	char *account_sid; /* Basic auth user */
	char *auth_token;  /* Basic auth password (secret) */
	char *from;        /* From, or NULL with service_sid */
	char *service_sid; /* MessagingServiceSid, or NULL */
	int envelope;      /* sms: enum GW_SMS_ENVELOPE_* */
};

struct gw_request {
	struct gw_http_resp resp;
};

static const char *const twilio_schemes[] = {"https", "http", NULL};

/* E.164: '+' then 6..15 digits, first digit not 0. */
int gw_twilio_e164_ok(const char *s)
{
	size_t n;

	if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	for (n = 1; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9')
			return 0;
	}
	return n - 1 >= 6 && n - 1 <= 15;
}

/* Known Twilio error codes (no personal data in these texts). */
const char *gw_twilio_code_str(long code)
{
	switch (code) {
	case 20003:
		return "authentication failed";
	case 20404:
		return "resource not found";
	case 20429:
		return "too many requests";
	case 21211:
		return "invalid 'to' number";
	case 21212:
		return "invalid 'from' number";
	case 21408:
		return "region not enabled";
	case 21610:
		return "recipient opted out (stop)";
	case 21612:
		return "cannot route to this number";
	case 21614:
		return "number cannot receive sms";
	case 30007:
		return "filtered as spam";
	default:
		return NULL;
	}
}

/* Non-zero when s is 1..64 letters and digits. */
static int sid_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9')))
			return 0;
	}
	return n >= 1 && n <= 64;
}

/* Non-zero when s holds no control characters. */
static int printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	}
	return 1;
}

/* Append "&name=escaped(value)" (no '&' first) to form: MQS_OK or an
 * mqs_buf error (MQS_ERR_NOMEM when curl cannot escape). */
static int form_add(CURL *easy, struct mqs_buf *form, const char *name, const char *value)
{
	char *esc = curl_easy_escape(easy, value, 0);
	int rc = MQS_ERR_NOMEM;

	if (esc == NULL)
		goto out;
	rc = mqs_buf_addf(form, "%s%s=%s", form->len > 0 ? "&" : "", name, esc);
out:
	if (esc != NULL)
		OPENSSL_cleanse(esc, strlen(esc));
	curl_free(esc);
	return rc;
}

/* Configure easy for one POST of d. */
static int twilio_prepare(struct gw_channel *ch, const struct gw_delivery *d, CURL *easy,
                          struct gw_request **reqp, struct gw_result *res)
{
	struct gw_twilio *tw = (struct gw_twilio *)ch;
	struct gw_request *req = NULL;
	char *text = NULL;
	struct mqs_buf form; /* holds the address and the text: secret */
	CURLcode cc;
	int rc = MQS_ERR_INVAL;

	*reqp = NULL;
	mqs_buf_init(&form, GW_TWILIO_FORM_MAX, 1);
	if (!gw_twilio_e164_ok(d->address)) {
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "%s: invalid phone number",
		         tw->kind->name);
		goto out;
	}
	if (tw->kind->sealable) {
		text = gw_sms_body(d, tw->envelope, res);
		if (text == NULL)
			goto out; /* res says why */
	}
	req = mqs_calloc(1, sizeof(*req));
	if (text == NULL)
		text = tw->kind->build(d);
	if (req == NULL || text == NULL)
		goto nomem;
	if (form_add(easy, &form, "To", d->address) != 0)
		goto nomem;
	if (tw->service_sid != NULL) {
		if (form_add(easy, &form, "MessagingServiceSid", tw->service_sid) != 0)
			goto nomem;
	} else if (form_add(easy, &form, "From", tw->from) != 0) {
		goto nomem;
	}
	if (form_add(easy, &form, tw->kind->field, text) != 0)
		goto nomem;

	cc = gw_net_setopt(easy, &tw->net, "https,http");
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_URL, tw->endpoint);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_USERNAME, tw->account_sid);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_PASSWORD, tw->auth_token);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)form.len);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, mqs_buf_str(&form));
	if (cc == CURLE_OK)
		cc = gw_http_resp_setopt(easy, &req->resp);
	if (cc != CURLE_OK) {
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "curl: %s", curl_easy_strerror(cc));
		goto out;
	}
	*reqp = req;
	req = NULL;
	rc = MQS_OK;
	goto out;
nomem:
	res->outcome = GW_RETRY;
	snprintf(res->error, sizeof(res->error), "out of memory");
out:
	mqs_buf_release(&form);
	mqs_secret_free_str(text);
	if (req != NULL) {
		gw_http_resp_release(&req->resp);
		mqs_free(req);
	}
	return rc;
}

/* Classify the reply: sid on success, Twilio error code otherwise. */
static void twilio_finish(struct gw_channel *ch, struct gw_request *req, CURL *easy, CURLcode cc,
                          struct gw_result *res)
{
	cJSON *json = NULL;
	long status = gw_http_classify(easy, cc, res);

	res->provider_ref[0] = '\0';
	if (cc != CURLE_OK || req->resp.body.data == NULL || req->resp.truncated)
		goto out;
	json = cJSON_ParseWithLength(mqs_buf_str(&req->resp.body), req->resp.body.len);
	if (json == NULL)
		goto out;
	if (res->outcome == GW_SENT) {
		const cJSON *sid = cJSON_GetObjectItemCaseSensitive(json, "sid");

		if (cJSON_IsString(sid))
			gw_result_ref(res, sid->valuestring);
	} else {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(json, "code");

		if (cJSON_IsNumber(code) && code->valuedouble > 0 && code->valuedouble < 1e9) {
			long c = (long)code->valuedouble;
			const char *what = gw_twilio_code_str(c);

			if (c == 21610) {
				/* the number replied STOP: permanent, and the engine
				 * closes the channel (docs/marketing.md) */
				res->outcome = GW_FAILED;
				res->optout = 1;
			}

			if (what != NULL)
				snprintf(res->error, sizeof(res->error),
				         "http %ld: twilio %ld (%s)", status, c, what);
			else
				snprintf(res->error, sizeof(res->error), "http %ld: twilio %ld",
				         status, c);
		}
	}
out:
	cJSON_Delete(json);
}

/* Free per-transfer state. */
static void twilio_request_free(struct gw_request *req)
{
	if (req == NULL)
		return;
	gw_http_resp_release(&req->resp);
	mqs_free(req);
}

/* Free the channel. */
static void twilio_free(struct gw_channel *ch)
{
	struct gw_twilio *tw = (struct gw_twilio *)ch;

	if (tw == NULL)
		return;
	gw_net_conf_release(&tw->net);
	mqs_free(tw->endpoint);
	mqs_free(tw->account_sid);
	mqs_secret_free_str(tw->auth_token);
	mqs_free(tw->from);
	mqs_free(tw->service_sid);
	mqs_free(tw);
}

static const struct gw_channel_ops twilio_ops = {
    .name = "twilio", /* replaced by the kind's name */
    .prepare = twilio_prepare,
    .finish = twilio_finish,
    .deliver = NULL,
    .request_free = twilio_request_free,
    .free = twilio_free,
};

/* Build a Twilio-style channel from its [channel NAME] section. */
struct gw_channel *gw_twilio_new(const struct gw_twilio_kind *kind, const struct gw_chan_conf *conf,
                                 char *err, size_t errlen)
{
	struct gw_twilio *tw = mqs_calloc(1, sizeof(*tw));
	const char *sid = NULL;
	const char *token = NULL;
	const char *from = gw_conf_str(conf, "from");
	const char *service = kind->service_sid ? gw_conf_str(conf, "messaging_service_sid") : NULL;
	size_t n;

	if (tw == NULL) {
		snprintf(err, errlen, "[channel %s] out of memory", kind->name);
		return NULL;
	}
	tw->ops = twilio_ops;
	tw->ops.name = kind->name;
	tw->head.ops = &tw->ops;
	tw->head.max_inflight = 4;
	tw->kind = kind;
	if (gw_net_conf_load(&tw->net, conf, kind->name, twilio_schemes, err, errlen) != 0)
		goto fail;
	if (gw_conf_need(conf, kind->name, "account_sid", &sid, err, errlen) != 0 ||
	    gw_conf_need(conf, kind->name, "auth_token", &token, err, errlen) != 0)
		goto fail;
	if (!sid_ok(sid)) {
		snprintf(err, errlen, "[channel %s] account_sid must be letters and digits",
		         kind->name);
		goto fail;
	}
	tw->envelope = kind->sealable ? gw_sms_envelope_parse(gw_conf_str(conf, "envelope")) : 0;
	if (tw->envelope < 0) {
		snprintf(err, errlen, "[channel %s] envelope must be off, on or required",
		         kind->name);
		goto fail;
	}
	if (from == NULL && service == NULL) {
		snprintf(err, errlen, "[channel %s] missing from%s", kind->name,
		         kind->service_sid ? " (or messaging_service_sid)" : "");
		goto fail;
	}
	if ((from != NULL && !printable(from)) || (service != NULL && !sid_ok(service)) ||
	    !printable(token)) {
		snprintf(err, errlen,
		         "[channel %s] from, auth_token or messaging_service_sid "
		         "holds invalid characters",
		         kind->name);
		goto fail;
	}
	n = strlen(tw->net.url) + strlen(TWILIO_API) + strlen(sid) + 1 + strlen(kind->resource) + 1;
	tw->endpoint = mqs_malloc(n);
	tw->account_sid = mqs_strdup(sid);
	tw->auth_token = mqs_strdup(token);
	tw->from = from != NULL ? mqs_strdup(from) : NULL;
	tw->service_sid = service != NULL ? mqs_strdup(service) : NULL;
	if (tw->endpoint == NULL || tw->account_sid == NULL || tw->auth_token == NULL ||
	    (from != NULL && tw->from == NULL) || (service != NULL && tw->service_sid == NULL)) {
		snprintf(err, errlen, "[channel %s] out of memory", kind->name);
		goto fail;
	}
	snprintf(tw->endpoint, n, "%s%s%s/%s", tw->net.url, TWILIO_API, sid, kind->resource);
	return &tw->head;
fail:
	twilio_free(&tw->head);
	return NULL;
}
