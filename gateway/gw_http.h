/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_http.h - what the network channels share: [channel] key helpers,
 * transport settings (base URL, timeout, CA file), bounded response capture
 * and classification of HTTP outcomes.
 *
 * Ownership: struct gw_net_conf strings are owned by the struct and freed by
 * gw_net_conf_release().  struct gw_http_resp owns its buffer, freed by
 * gw_http_resp_release().  Nothing here logs.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "gw_channel.h"
#include "mqs_buf.h"

/* Largest response body kept (the rest is read and dropped). */
#define GW_HTTP_RESP_MAX (16 * 1024)

/* Transport settings of one [channel NAME] section. */
struct gw_net_conf {
	char *url;      /* url key without trailing '/' */
	long timeout_s; /* whole transfer, `timeout` key, default 30 */
	char *ca_file;  /* `ca_file` key or NULL (system store) */
	int insecure;   /* `insecure_skip_verify = true`: no peer/host check */
};

/* Value of key in conf, or NULL when absent or empty. */
const char *gw_conf_str(const struct gw_chan_conf *conf, const char *key);

/* Required key: MQS_OK with *out set, or MQS_ERR_INVAL with "[channel NAME]
 * missing KEY" in err. */
int gw_conf_need(const struct gw_chan_conf *conf, const char *section, const char *key,
                 const char **out, char *err, size_t errlen);

/* Boolean key (true/false/yes/no/on/off/1/0); absent gives def.  MQS_OK or
 * MQS_ERR_INVAL with err. */
int gw_conf_bool(const struct gw_chan_conf *conf, const char *section, const char *key, int def,
                 int *out, char *err, size_t errlen);

/* Read url (required; its scheme must be one of the NULL-terminated
 * schemes; http:// is only accepted for a loopback host), timeout, ca_file
 * and insecure_skip_verify.  MQS_OK, or MQS_ERR_INVAL / MQS_ERR_NOMEM with
 * err filled and nc released. */
int gw_net_conf_load(struct gw_net_conf *nc, const struct gw_chan_conf *conf, const char *section,
                     const char *const *schemes, char *err, size_t errlen);

/* Non-zero when url's host is localhost, 127.0.0.0/8 or ::1. */
int gw_url_is_loopback(const char *url);

/* Free the strings of nc (safe on a zeroed or released struct). */
void gw_net_conf_release(struct gw_net_conf *nc);

/* Apply nc to easy: timeouts, TLS verification, CA file, no signals, no
 * redirects, only the comma-separated protocols (e.g. "https,http"). */
CURLcode gw_net_setopt(CURL *easy, const struct gw_net_conf *nc, const char *protocols);

/* Bounded response body: the first GW_HTTP_RESP_MAX bytes, in a secret
 * buffer (responses may echo personal data). */
struct gw_http_resp {
	struct mqs_buf body; /* body.data NULL until data arrives; mqs_buf_str() */
	int truncated;       /* more than GW_HTTP_RESP_MAX bytes came */
};

/* Make easy write its response body into r (which must outlive the
 * transfer; a zeroed or released r is fine, it is made empty here). */
CURLcode gw_http_resp_setopt(CURL *easy, struct gw_http_resp *r);

/* Free r's buffer (wiped: it may hold personal data). */
void gw_http_resp_release(struct gw_http_resp *r);

/* Non-zero when a transfer that ended with cc (no usable response) may
 * succeed later: network, TLS and timeout errors. */
int gw_curl_transient(CURLcode cc);

/* Classify a finished HTTP transfer: 2xx GW_SENT, 429 and 5xx GW_RETRY
 * (retry_after from the Retry-After header), transport errors GW_RETRY
 * unless permanent (bad URL), everything else GW_FAILED.  res->error gets
 * "http STATUS" or "curl: ...".  Returns the HTTP status (0 when none). */
long gw_http_classify(CURL *easy, CURLcode cc, struct gw_result *res);

/* Copy s into res->provider_ref when it is a short token of letters,
 * digits, '-', '_' and '.'; otherwise leave it empty. */
void gw_result_ref(struct gw_result *res, const char *s);

#endif
