/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_webhook.h - webhook channel internals exposed for the unit tests
 * (docs/gateway.md, "Webhook channel").
 *
 * A delivery is `POST url` with the payload as body and the headers
 * X-Mqttsec-Id, -Kind, -Topic, -Origin, -Timestamp and -Signature:
 *   v1=<hex HMAC-SHA256(secret, "v1\n" ts "\n" id "\n" kind "\n" topic "\n"
 *        origin "\n" hex SHA-256(body))>
 * over the header values exactly as sent: each value is first reduced to
 * printable ASCII by gw_webhook_header_value() (percent-encoding).
 *
 * Ownership: pure functions over caller buffers; nothing allocates.
 */
#ifndef GW_WEBHOOK_H
#define GW_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "gw_channel.h"

/* Longest header value written (after encoding), NUL included. */
#define GW_WEBHOOK_VALUE_MAX 1024

/* Write s as a safe header value into out (capacity cap): bytes 0x21..0x7e
 * other than '%' are kept, every other byte (controls, CR, LF, space,
 * '%', non-ASCII) becomes %XX (upper-case hex).  NULL is "".  Returns
 * MQS_OK, or MQS_ERR_TOOBIG when it does not fit (out is then ""). */
int gw_webhook_header_value(const char *s, char *out, size_t cap);

/* 1 when url is http:// to a host that is not loopback (localhost,
 * 127.x, [::1]): deliveries would cross a network in clear, and the
 * configuration warns at the start (docs/gateway.md, "Webhook channel");
 * else 0. */
int gw_webhook_url_cleartext(const char *url);

/* The signature "v1=<64 hex digits>" of one request into out (NUL
 * terminated).  id, kind, topic and origin are the header values as sent.
 * Returns MQS_OK or MQS_ERR_CRYPTO. */
int gw_webhook_sign(const uint8_t *secret, size_t secret_len, long long ts, const char *id,
                    const char *kind, const char *topic, const char *origin, const uint8_t *body,
                    size_t body_len, char out[68]);

#endif
