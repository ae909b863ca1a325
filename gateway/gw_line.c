/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_line.c - LINE Messaging API push (POST {url}/v2/bot/message/push) with
 * a Bearer channel access token and X-Line-Retry-Key for idempotent retries. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gw_http.h"
#include "gw_line.h"
#include "gw_text.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define LINE_PUSH "/v2/bot/message/push"

/* Keys of [channel line]. */
const char *const gw_line_keys[] = {"url",
                                    "token",
                                    "timeout",
                                    "ca_file",
                                    "insecure_skip_verify",
                                    "channel_secret", /* the webhook's (gw_inbound.h) */
                                    NULL};

struct gw_line {
	struct gw_channel head; /* first: the engine sees a struct gw_channel */
	struct gw_net_conf net;
	char *endpoint; /* {url}/v2/bot/message/push */
	char *token;    /* channel access token (secret) */
};

struct gw_request {
	struct gw_http_resp resp;
	struct curl_slist *headers;
};

static const char *const line_schemes[] = {"https", "http", NULL};

/* LINE ids (user U..., group C..., room R...): 1..64 letters and digits. */
static int line_id_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9')))
			return 0;
	}
	return n >= 1 && n <= 64;
}

/* X-Line-Retry-Key must be a UUID: 8-4-4-4-12 hex digits. */
int gw_line_uuid_ok(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		             (c >= 'A' && c <= 'F'))) {
			return 0;
		}
	}
	return 1;
}

/* {"to": USERID, "messages": [{"type": "text", "text": ...}]} */
char *gw_line_body(const struct gw_delivery *d)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *msgs = NULL;
	cJSON *msg = NULL;
	char *text = gw_text_join(d->title, "\n", d->body, GW_LINE_MAX_UNITS, 0);
	char *out = NULL;

	if (root == NULL || text == NULL)
		goto out;
	if (cJSON_AddStringToObject(root, "to", d->address) == NULL)
		goto out;
	msgs = cJSON_AddArrayToObject(root, "messages");
	msg = cJSON_CreateObject();
	if (msgs == NULL || msg == NULL)
		goto out;
	cJSON_AddItemToArray(msgs, msg);
	if (cJSON_AddStringToObject(msg, "type", "text") == NULL ||
	    cJSON_AddStringToObject(msg, "text", text) == NULL) {
		msg = NULL;
		goto out;
	}
	msg = NULL;
	out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(msg);
	cJSON_Delete(root);
	mqs_free(text);
	return out;
}

/* Configure easy for one push of d. */
static int line_prepare(struct gw_channel *ch, const struct gw_delivery *d, CURL *easy,
                        struct gw_request **reqp, struct gw_result *res)
{
	struct gw_line *ln = (struct gw_line *)ch;
	struct gw_request *req = NULL;
	struct curl_slist *h;
	char key[64];
	char *body = NULL;
	CURLcode cc;
	int rc = MQS_ERR_INVAL;

	*reqp = NULL;
	if (!line_id_ok(d->address)) {
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "line: invalid user id");
		goto out;
	}
	if (!gw_line_uuid_ok(d->retry_key)) {
		/* the engine keeps one UUID per delivery; without it retries could double */
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "line: retry key is not a uuid");
		goto out;
	}
	req = mqs_calloc(1, sizeof(*req));
	body = gw_line_body(d);
	if (req == NULL || body == NULL)
		goto nomem;
	snprintf(key, sizeof(key), "X-Line-Retry-Key: %s", d->retry_key);
	req->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (req->headers == NULL)
		goto nomem;
	h = curl_slist_append(req->headers, key);
	if (h == NULL)
		goto nomem;
	h = curl_slist_append(req->headers, "Expect:");
	if (h == NULL)
		goto nomem;

	cc = gw_net_setopt(easy, &ln->net, "https,http");
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_URL, ln->endpoint);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_XOAUTH2_BEARER, ln->token);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body);
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
	mqs_secret_free_str(body);
	if (req != NULL) {
		curl_slist_free_all(req->headers);
		gw_http_resp_release(&req->resp);
		mqs_free(req);
	}
	return rc;
}

/* 2xx and 409 (already accepted under this retry key) are sent. */
static void line_finish(struct gw_channel *ch, struct gw_request *req, CURL *easy, CURLcode cc,
                        struct gw_result *res)
{
	long status = gw_http_classify(easy, cc, res);
	const char *hname = "x-line-request-id";
	cJSON *json = NULL;

	res->provider_ref[0] = '\0';
	if (cc != CURLE_OK)
		return;
	if (status == 409) {
		/* the push with this retry key was accepted before */
		res->outcome = GW_SENT;
		res->error[0] = '\0';
		hname = "x-line-accepted-request-id";
	}
	if (res->outcome == GW_SENT && req->resp.body.data != NULL && !req->resp.truncated) {
		/* newer API versions return {"sentMessages": [{"id": ...}]} */
		const cJSON *sent;
		const cJSON *id;

		json = cJSON_ParseWithLength(mqs_buf_str(&req->resp.body), req->resp.body.len);
		sent = cJSON_GetObjectItemCaseSensitive(json, "sentMessages");
		id = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sent, 0), "id");
		if (cJSON_IsString(id))
			gw_result_ref(res, id->valuestring);
	}
#if LIBCURL_VERSION_NUM >= 0x075400
	if (res->outcome == GW_SENT && res->provider_ref[0] == '\0') {
		struct curl_header *hdr = NULL;

		if (curl_easy_header(easy, hname, 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK)
			gw_result_ref(res, hdr->value);
	}
#else
	(void)hname;
#endif
	cJSON_Delete(json);
}

/* Free per-transfer state. */
static void line_request_free(struct gw_request *req)
{
	if (req == NULL)
		return;
	curl_slist_free_all(req->headers);
	gw_http_resp_release(&req->resp);
	mqs_free(req);
}

/* Free the channel. */
static void line_free(struct gw_channel *ch)
{
	struct gw_line *ln = (struct gw_line *)ch;

	if (ln == NULL)
		return;
	gw_net_conf_release(&ln->net);
	mqs_free(ln->endpoint);
	mqs_secret_free_str(ln->token);
	mqs_free(ln);
}

static const struct gw_channel_ops line_ops = {
    .name = "line",
    .prepare = line_prepare,
    .finish = line_finish,
    .deliver = NULL,
    .request_free = line_request_free,
    .free = line_free,
};

/* New LINE channel from [channel line]. */
struct gw_channel *gw_line_new(const struct gw_chan_conf *conf, char *err, size_t errlen)
{
	struct gw_line *ln = mqs_calloc(1, sizeof(*ln));
	const char *token = NULL;
	size_t i;
	size_t n;

	if (ln == NULL) {
		snprintf(err, errlen, "[channel line] out of memory");
		return NULL;
	}
	ln->head.ops = &line_ops;
	ln->head.max_inflight = 4;
	if (gw_net_conf_load(&ln->net, conf, "line", line_schemes, err, errlen) != 0)
		goto fail;
	if (gw_conf_need(conf, "line", "token", &token, err, errlen) != 0)
		goto fail;
	for (i = 0; token[i] != '\0'; i++) {
		/* tokens are base64-ish; refuse anything that could break the header */
		if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f) {
			snprintf(err, errlen, "[channel line] token holds invalid characters");
			goto fail;
		}
	}
	n = strlen(ln->net.url) + strlen(LINE_PUSH) + 1;
	ln->endpoint = mqs_malloc(n);
	ln->token = mqs_strdup(token);
	if (ln->endpoint == NULL || ln->token == NULL) {
		snprintf(err, errlen, "[channel line] out of memory");
		goto fail;
	}
	snprintf(ln->endpoint, n, "%s%s", ln->net.url, LINE_PUSH);
	return &ln->head;
fail:
	line_free(&ln->head);
	return NULL;
}
