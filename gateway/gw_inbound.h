/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_inbound.h - what the HTTP listener does with provider webhooks and
 * unsubscribe links (docs/marketing.md, "HTTP listener"), independent of
 * HTTP itself so that unit tests and fuzzers drive it directly.
 *
 *   Twilio inbound SMS   X-Twilio-Signature = base64(HMAC-SHA1(auth token,
 *                        URL + each POST parameter name and value, sorted
 *                        by name)); URL = [http] public_url + "/twilio/sms".
 *                        AccountSid must be [channel sms] account_sid.
 *                        Body STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT
 *                        (any case, trimmed) opt the sender out of sms;
 *                        START, UNSTOP, YES lift that opt-out (consent to
 *                        marketing stays off).  MessageSid de-duplicated.
 *   LINE webhook         X-Line-Signature = base64(HMAC-SHA256(channel
 *                        secret, body)).  Events: unfollow -> opt-out of
 *                        line; message (text) with a link code -> the
 *                        sender's user id bound to the recipient
 *                        (gw_link.h).  Events older than 10 minutes are
 *                        ignored; webhookEventId de-duplicated.
 *   Unsubscribe          token (gw_unsub.h) -> marketing consent off for
 *                        that recipient and channel (source
 *                        "unsubscribe-link"); GET only describes.
 *
 * Signatures are compared in constant time; a bad one changes nothing.
 *
 * Pure of HTTP: takes the store and the configuration.
 *
 * Ownership: everything is the caller's; outputs are caller buffers.
 */
#ifndef GW_INBOUND_H
#define GW_INBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"
#include "gw_store.h"
#include "mqs_error.h"

/* One decoded form parameter. */
struct gw_param {
	const char *name;
	const char *value;
};

/* The outcome of a request: an HTTP status and a short body. */
struct gw_inbound_result {
	int status; /* 200, 400, 403, 404, 503, ... */
	const char *content_type;
	char body[2048]; /* no personal data; HTML escaped where HTML */
};

/* 1 when sig_b64 is Twilio's signature of url and params under auth_token,
 * else 0 (constant-time compare). */
int gw_twilio_signature_ok(const char *auth_token, const char *url, const struct gw_param *params,
                           size_t nparams, const char *sig_b64);

/* 1 when sig_b64 is LINE's signature of body under secret, else 0. */
int gw_line_signature_ok(const char *secret, const uint8_t *body, size_t len, const char *sig_b64);

/* POST /twilio/sms with its decoded parameters and signature header. */
void gw_inbound_twilio(struct gw_store *s, const struct gw_config *c, const struct gw_param *params,
                       size_t nparams, const char *signature, int64_t now_ms,
                       struct gw_inbound_result *res);

/* POST /line/webhook with its raw body and signature header. */
void gw_inbound_line(struct gw_store *s, const struct gw_config *c, const uint8_t *body, size_t len,
                     const char *signature, int64_t now_ms, struct gw_inbound_result *res);

/* GET (post = 0: a confirmation page, nothing changes) or POST (post = 1:
 * unsubscribe) /u/TOKEN. */
void gw_inbound_unsub(struct gw_store *s, const struct gw_config *c, const char *token, size_t len,
                      int post, int64_t now_ms, struct gw_inbound_result *res);

#endif
