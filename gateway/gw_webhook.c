/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_webhook.c - the webhook channel: one signed HTTPS POST per message
 * (docs/gateway.md, "Webhook channel"). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gw_http.h"
#include "gw_webhook.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define WEBHOOK_SECRET_MAX 1024

/* Keys of [channel webhook]: cafile is the documented spelling, ca_file
 * the one of the other channels. */
const char *const gw_webhook_keys[] = {
    "url", "secret", "timeout", "cafile", "ca_file", "insecure_skip_verify", NULL};

struct gw_webhook {
	struct gw_channel head; /* first: the engine sees a struct gw_channel */
	struct gw_net_conf net;
	uint8_t *secret; /* HMAC key: the secret value's bytes (never logged) */
	size_t secret_len;
};

struct gw_request {
	struct gw_http_resp resp;
	struct curl_slist *headers;
};

static const char *const webhook_schemes[] = {"https", "http", NULL};

/* Percent-encode what could break or smuggle a header. */
int gw_webhook_header_value(const char *s, char *out, size_t cap)
{
	static const char upper[] = "0123456789ABCDEF";
	size_t o = 0;

	if (cap == 0)
		return MQS_ERR_TOOBIG;
	for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p != '\0';
	     p++) {
		if (*p >= 0x21 && *p <= 0x7e && *p != '%') {
			if (o + 1 >= cap)
				goto toobig;
			out[o++] = (char)*p;
			continue;
		}
		if (o + 3 >= cap)
			goto toobig;
		out[o++] = '%';
		out[o++] = upper[*p >> 4];
		out[o++] = upper[*p & 0x0f];
	}
	out[o] = '\0';
	return MQS_OK;
toobig:
	out[0] = '\0';
	return MQS_ERR_TOOBIG;
}

/* v1=HMAC-SHA256 over every header and the body's digest. */
int gw_webhook_sign(const uint8_t *secret, size_t secret_len, long long ts, const char *id,
                    const char *kind, const char *topic, const char *origin, const uint8_t *body,
                    size_t body_len, char out[68])
{
	uint8_t digest[32];
	uint8_t mac[32];
	unsigned int dlen = sizeof(digest);
	unsigned int mlen = sizeof(mac);
	char body_hex[65];
	char *msg = NULL;
	int n;
	int rc = MQS_ERR_CRYPTO;

	out[0] = '\0';
	if (EVP_Digest(body_len > 0 ? body : (const uint8_t *)"", body_len, digest, &dlen,
	               EVP_sha256(), NULL) != 1)
		goto out;
	mqs_hex_encode(digest, sizeof(digest), body_hex);
	n = asprintf(&msg, "v1\n%lld\n%s\n%s\n%s\n%s\n%s", ts, id, kind, topic, origin, body_hex);
	if (n < 0) {
		msg = NULL;
		goto out;
	}
	if (HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg, (size_t)n, mac,
	         &mlen) == NULL)
		goto out;
	memcpy(out, "v1=", 3);
	mqs_hex_encode(mac, sizeof(mac), out + 3);
	rc = MQS_OK;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	free(msg); /* asprintf's: the C library's */
	return rc;
}

/* Append "Name: value" to the request's headers. */
static int add_header(struct gw_request *req, const char *name, const char *value)
{
	char line[GW_WEBHOOK_VALUE_MAX + 64];
	struct curl_slist *h;

	/* curl drops "Name:" without a value; "Name;" sends it empty */
	if (value[0] == '\0' && strcmp(name, "Expect") != 0)
		snprintf(line, sizeof(line), "%s;", name);
	else
		snprintf(line, sizeof(line), "%s: %s", name, value);
	h = curl_slist_append(req->headers, line);
	if (h == NULL)
		return MQS_ERR_NOMEM;
	req->headers = h;
	return MQS_OK;
}

/* Configure easy for one signed POST of d. */
static int webhook_prepare(struct gw_channel *ch, const struct gw_delivery *d, CURL *easy,
                           struct gw_request **reqp, struct gw_result *res)
{
	struct gw_webhook *wh = (struct gw_webhook *)ch;
	struct gw_request *req = NULL;
	char id[GW_WEBHOOK_VALUE_MAX], kind[GW_WEBHOOK_VALUE_MAX];
	char topic[GW_WEBHOOK_VALUE_MAX], origin[GW_WEBHOOK_VALUE_MAX];
	char ts[32], sig[68];
	const uint8_t *body = d->data;
	size_t body_len = d->data_len;
	long long now = (long long)time(NULL);
	int binary = d->kind != NULL && strcmp(d->kind, "medical-join") == 0;
	CURLcode cc;
	int rc = MQS_ERR_INVAL;

	*reqp = NULL;
	if (body == NULL) {
		/* no payload stored with the message: its text */
		body = (const uint8_t *)(d->body != NULL ? d->body : "");
		body_len = strlen((const char *)body);
	}
	if (gw_webhook_header_value(d->msg_id, id, sizeof(id)) != MQS_OK ||
	    gw_webhook_header_value(d->kind, kind, sizeof(kind)) != MQS_OK ||
	    gw_webhook_header_value(d->topic, topic, sizeof(topic)) != MQS_OK ||
	    gw_webhook_header_value(d->origin, origin, sizeof(origin)) != MQS_OK) {
		res->outcome = GW_FAILED;
		snprintf(res->error, sizeof(res->error), "webhook: header value too long");
		goto out;
	}
	snprintf(ts, sizeof(ts), "%lld", now);
	if (gw_webhook_sign(wh->secret, wh->secret_len, now, id, kind, topic, origin, body,
	                    body_len, sig) != MQS_OK) {
		res->outcome = GW_RETRY;
		snprintf(res->error, sizeof(res->error), "webhook: cannot sign");
		goto out;
	}
	req = mqs_calloc(1, sizeof(*req));
	if (req == NULL)
		goto nomem;
	if (add_header(req, "Content-Type",
	               binary ? "application/octet-stream" : "application/json") != MQS_OK ||
	    add_header(req, "X-Mqttsec-Id", id) != MQS_OK ||
	    add_header(req, "X-Mqttsec-Kind", kind) != MQS_OK ||
	    add_header(req, "X-Mqttsec-Topic", topic) != MQS_OK ||
	    add_header(req, "X-Mqttsec-Origin", origin) != MQS_OK ||
	    add_header(req, "X-Mqttsec-Timestamp", ts) != MQS_OK ||
	    add_header(req, "X-Mqttsec-Signature", sig) != MQS_OK ||
	    add_header(req, "Expect", "") != MQS_OK)
		goto nomem;
	cc = gw_net_setopt(easy, &wh->net, "https,http");
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_URL, wh->net.url);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	/* the engine keeps d->data until finish(): no copy of the record */
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_POSTFIELDS, (const char *)body);
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
	OPENSSL_cleanse(sig, sizeof(sig));
	if (req != NULL) {
		curl_slist_free_all(req->headers);
		gw_http_resp_release(&req->resp);
		mqs_free(req);
	}
	return rc;
}

/* 2xx sent; 408, 429 and 5xx retried (Retry-After honoured); other 4xx
 * failed. */
static void webhook_finish(struct gw_channel *ch, struct gw_request *req, CURL *easy, CURLcode cc,
                           struct gw_result *res)
{
	long status = gw_http_classify(easy, cc, res);
	curl_off_t ra = 0;

	(void)ch;
	(void)req;
	res->provider_ref[0] = '\0';
	if (cc == CURLE_OK && status == 408) {
		res->outcome = GW_RETRY;
		if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
			res->retry_after = ra > 86400 ? 86400 : (long)ra;
	}
}

/* Free per-transfer state. */
static void webhook_request_free(struct gw_request *req)
{
	if (req == NULL)
		return;
	curl_slist_free_all(req->headers);
	gw_http_resp_release(&req->resp);
	mqs_free(req);
}

/* Free the channel. */
static void webhook_free(struct gw_channel *ch)
{
	struct gw_webhook *wh = (struct gw_webhook *)ch;

	if (wh == NULL)
		return;
	gw_net_conf_release(&wh->net);
	mqs_secret_free(wh->secret, wh->secret_len);
	mqs_free(wh);
}

static const struct gw_channel_ops webhook_ops = {
    .name = "webhook",
    .prepare = webhook_prepare,
    .finish = webhook_finish,
    .deliver = NULL,
    .request_free = webhook_request_free,
    .free = webhook_free,
};

/* 1 when url is http:// to a host that is not loopback. */
int gw_webhook_url_cleartext(const char *url)
{
	static const char *const loopback[] = {"localhost", "127.", "[::1]", NULL};
	const char *host;

	if (url == NULL || strncasecmp(url, "http://", 7) != 0)
		return 0;
	host = url + 7;
	if (strchr(host, '@') != NULL && strchr(host, '@') < host + strcspn(host, "/"))
		host = strchr(host, '@') + 1; /* user:pass@host */
	for (size_t i = 0; loopback[i] != NULL; i++) {
		size_t n = strlen(loopback[i]);

		if (strncasecmp(host, loopback[i], n) != 0)
			continue;
		if (loopback[i][n - 1] == '.' || host[n] == '\0' || host[n] == ':' ||
		    host[n] == '/')
			return 0;
	}
	return 1;
}

/* New webhook channel from [channel webhook]. */
struct gw_channel *gw_webhook_new(const struct gw_chan_conf *conf, char *err, size_t errlen)
{
	struct gw_webhook *wh = mqs_calloc(1, sizeof(*wh));
	const char *secret = NULL;
	const char *cafile;

	if (wh == NULL) {
		snprintf(err, errlen, "[channel webhook] out of memory");
		return NULL;
	}
	wh->head.ops = &webhook_ops;
	wh->head.max_inflight = 4;
	if (gw_net_conf_load(&wh->net, conf, "webhook", webhook_schemes, err, errlen) != 0)
		goto fail;
	if (gw_conf_need(conf, "webhook", "secret", &secret, err, errlen) != 0)
		goto fail;

	wh->secret_len = strlen(secret);
	if (wh->secret_len < 16 || wh->secret_len > WEBHOOK_SECRET_MAX) {
		snprintf(err, errlen, "[channel webhook] secret must be 16..%d bytes",
		         WEBHOOK_SECRET_MAX);
		goto fail;
	}
	cafile = gw_conf_str(conf, "cafile");
	if (cafile != NULL && wh->net.ca_file == NULL) {
		wh->net.ca_file = mqs_strdup(cafile);
		if (wh->net.ca_file == NULL)
			goto nomem;
	}
	wh->secret = mqs_malloc(wh->secret_len);
	if (wh->secret == NULL)
		goto nomem;
	memcpy(wh->secret, secret, wh->secret_len);
	return &wh->head;
nomem:
	snprintf(err, errlen, "[channel webhook] out of memory");
fail:
	if (wh->secret == NULL)
		wh->secret_len = 0;
	webhook_free(&wh->head);
	return NULL;
}
