/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_http.c - shared settings and outcome classification of the network
 * channels (email, sms, phone, line). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_http.h"
#include "mqs_alloc.h"
#include "mqs_error.h"

#define GW_TIMEOUT_DEFAULT 30L
#define GW_TIMEOUT_MAX     3600L
#define GW_CONNECT_TIMEOUT 10L

/* Value of key or NULL when absent or empty. */
const char *gw_conf_str(const struct gw_chan_conf *conf, const char *key)
{
	const char *v = conf->get(conf, key);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Required key. */
int gw_conf_need(const struct gw_chan_conf *conf, const char *section, const char *key,
                 const char **out, char *err, size_t errlen)
{
	*out = gw_conf_str(conf, key);
	if (*out == NULL) {
		snprintf(err, errlen, "[channel %s] missing %s", section, key);
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* Boolean key with a default. */
int gw_conf_bool(const struct gw_chan_conf *conf, const char *section, const char *key, int def,
                 int *out, char *err, size_t errlen)
{
	static const char *const yes[] = {"true", "yes", "on", "1", NULL};
	static const char *const no[] = {"false", "no", "off", "0", NULL};
	const char *v = gw_conf_str(conf, key);
	size_t i;

	*out = def;
	if (v == NULL)
		return MQS_OK;
	for (i = 0; yes[i] != NULL; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return MQS_OK;
		}
	}
	for (i = 0; no[i] != NULL; i++) {
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return MQS_OK;
		}
	}
	snprintf(err, errlen, "[channel %s] %s must be true or false", section, key);
	return MQS_ERR_INVAL;
}

/* Non-zero when host (as curl_url_get returns it) is a loopback name. */
static int host_is_loopback(const char *host)
{
	return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	       strcmp(host, "[::1]") == 0;
}

/* Non-zero when url's host is a loopback name. */
int gw_url_is_loopback(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	int yes = 0;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		yes = host_is_loopback(host);
	curl_free(host);
	curl_url_cleanup(u);
	return yes;
}

/* Check url's scheme against schemes; http only for loopback hosts. */
static int url_check(const char *url, const char *section, const char *const *schemes, char *err,
                     size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	char *host = NULL;
	int rc = MQS_ERR_INVAL;
	size_t i;

	if (u == NULL) {
		snprintf(err, errlen, "[channel %s] out of memory", section);
		goto out;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		snprintf(err, errlen, "[channel %s] url is not a valid url", section);
		goto out;
	}
	for (i = 0; schemes[i] != NULL; i++) {
		if (strcasecmp(scheme, schemes[i]) == 0)
			break;
	}
	if (schemes[i] == NULL) {
		snprintf(err, errlen, "[channel %s] url scheme %s is not supported", section,
		         scheme);
		goto out;
	}
	if (strcasecmp(scheme, "http") == 0 && !host_is_loopback(host)) {
		snprintf(err, errlen,
		         "[channel %s] url must be https:// (http:// only for loopback)", section);
		goto out;
	}
	rc = MQS_OK;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* Load the transport keys of a section. */
int gw_net_conf_load(struct gw_net_conf *nc, const struct gw_chan_conf *conf, const char *section,
                     const char *const *schemes, char *err, size_t errlen)
{
	const char *url;
	const char *v;
	size_t n;

	memset(nc, 0, sizeof(*nc));
	nc->timeout_s = GW_TIMEOUT_DEFAULT;
	if (gw_conf_need(conf, section, "url", &url, err, errlen) != 0)
		goto fail;
	if (url_check(url, section, schemes, err, errlen) != 0)
		goto fail;
	nc->url = mqs_strdup(url);
	if (nc->url == NULL)
		goto nomem;
	n = strlen(nc->url);
	while (n > 0 && nc->url[n - 1] == '/')
		nc->url[--n] = '\0';
	v = gw_conf_str(conf, "timeout");
	if (v != NULL) {
		char *end = NULL;

		errno = 0;
		nc->timeout_s = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || nc->timeout_s < 1 ||
		    nc->timeout_s > GW_TIMEOUT_MAX) {
			snprintf(err, errlen, "[channel %s] timeout must be 1..%ld seconds",
			         section, GW_TIMEOUT_MAX);
			goto fail;
		}
	}
	v = gw_conf_str(conf, "ca_file");
	if (v != NULL) {
		nc->ca_file = mqs_strdup(v);
		if (nc->ca_file == NULL)
			goto nomem;
	}
	if (gw_conf_bool(conf, section, "insecure_skip_verify", 0, &nc->insecure, err, errlen) != 0)
		goto fail;
	return MQS_OK;
nomem:
	snprintf(err, errlen, "[channel %s] out of memory", section);
	gw_net_conf_release(nc);
	return MQS_ERR_NOMEM;
fail:
	gw_net_conf_release(nc);
	return MQS_ERR_INVAL;
}

/* Free the strings of nc. */
void gw_net_conf_release(struct gw_net_conf *nc)
{
	mqs_free(nc->url);
	mqs_free(nc->ca_file);
	nc->url = NULL;
	nc->ca_file = NULL;
}

/* Common curl options of every network channel. */
CURLcode gw_net_setopt(CURL *easy, const struct gw_net_conf *nc, const char *protocols)
{
	CURLcode cc = CURLE_OK;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (cc == CURLE_OK)                                                                \
			cc = curl_easy_setopt(easy, opt, val);                                     \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT, nc->timeout_s);
	SET(CURLOPT_CONNECTTIMEOUT,
	    nc->timeout_s < GW_CONNECT_TIMEOUT ? nc->timeout_s : GW_CONNECT_TIMEOUT);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, protocols);
#else
	{
		long mask = 0;

		if (strstr(protocols, "smtp") != NULL)
			mask |= CURLPROTO_SMTP | CURLPROTO_SMTPS;
		if (strstr(protocols, "http") != NULL)
			mask |= CURLPROTO_HTTP | CURLPROTO_HTTPS;
		SET(CURLOPT_PROTOCOLS, mask);
	}
#endif
	SET(CURLOPT_SSL_VERIFYPEER, nc->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, nc->insecure ? 0L : 2L);
	if (nc->ca_file != NULL)
		SET(CURLOPT_CAINFO, nc->ca_file);
#if LIBCURL_VERSION_NUM >= 0x075700
	/* a host name lookup still running when the transfer ends (its
	 * connect timeout, the stop) is left to its thread: libcurl otherwise
	 * waits for it inside the call, holding the loop for as long as the
	 * resolver's timeouts (docs/gateway.md, "Concurrency") */
	SET(CURLOPT_QUICK_EXIT, 1L);
#endif
#undef SET
	return cc;
}

/* CURLOPT_WRITEFUNCTION: keep at most GW_HTTP_RESP_MAX bytes. */
static size_t resp_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct gw_http_resp *r = userp;
	size_t n = size * nmemb;
	size_t take = n;

	if (r->body.len + take > GW_HTTP_RESP_MAX) {
		take = GW_HTTP_RESP_MAX - r->body.len;
		r->truncated = 1;
	}
	if (take > 0 && mqs_buf_add(&r->body, data, take) != MQS_OK)
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	return n;
}

/* Capture the response body into r. */
CURLcode gw_http_resp_setopt(CURL *easy, struct gw_http_resp *r)
{
	CURLcode cc;

	mqs_buf_release(&r->body);
	mqs_buf_init(&r->body, GW_HTTP_RESP_MAX, 1);
	r->truncated = 0;
	cc = curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, resp_write);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
	return cc;
}

/* Free (and wipe) the captured body. */
void gw_http_resp_release(struct gw_http_resp *r)
{
	mqs_buf_release(&r->body);
}

/* Transport errors that a later attempt may not hit. */
int gw_curl_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_LOGIN_DENIED:
		return 0;
	default:
		return 1;
	}
}

/* Classify a finished HTTP transfer. */
long gw_http_classify(CURL *easy, CURLcode cc, struct gw_result *res)
{
	long status = 0;
	curl_off_t ra = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	res->retry_after = 0;
	if (cc != CURLE_OK) {
		/* a transfer cut short after the status line still counts as lost */
		res->outcome = gw_curl_transient(cc) ? GW_RETRY : GW_FAILED;
		snprintf(res->error, sizeof(res->error), "curl: %s", curl_easy_strerror(cc));
		return status;
	}
	if (status >= 200 && status < 300) {
		res->outcome = GW_SENT;
		res->error[0] = '\0';
		return status;
	}
	if (status == 429 || (status >= 500 && status < 600)) {
		res->outcome = GW_RETRY;
		if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
			res->retry_after = ra > 86400 ? 86400 : (long)ra;
	} else {
		res->outcome = GW_FAILED;
	}
	snprintf(res->error, sizeof(res->error), "http %ld", status);
	return status;
}

/* Keep s as provider reference when it is a short plain token. */
void gw_result_ref(struct gw_result *res, const char *s)
{
	size_t i;

	res->provider_ref[0] = '\0';
	if (s == NULL)
		return;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i + 1 >= sizeof(res->provider_ref))
			return;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return;
	}
	memcpy(res->provider_ref, s, i + 1);
}
