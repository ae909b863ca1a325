/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_unsub.h - one-click unsubscribe tokens (RFC 8058; docs/marketing.md,
 * "Unsubscribe links").
 *
 * A token is an opaque, signed reference to (recipient row id, recipient
 * creation time, channel, campaign row id): no name, no address, nothing
 * personal.  Layout before encoding (42 bytes): version 0x02 | recipient
 * id (8, big-endian) | recipient created_at (8, big-endian, as stored in
 * recipients.created_at: milliseconds) | channel (1, enum gw_chan) |
 * campaign id (8, big-endian) | tag (16) where tag = the first 16 bytes of
 * HMAC-SHA256(K, the first 26 bytes) and K = HMAC-SHA256(master key,
 * "mqttsec-gateway unsubscribe v1").  Encoded with base64url without
 * padding: 56 characters (42 bytes, no spare bits), safe in a URL path;
 * only the canonical spelling is accepted.  The caller compares
 * created_at with the row: a token of a removed recipient whose row id
 * was reused does nothing.  Tokens do not expire (a link in an old email
 * must keep working); they stop working when the master key changes.
 * Tags are compared in constant time.
 *
 * Pure: no store access beyond the master key, no I/O.
 *
 * Ownership: caller-owned buffers only; the derived key is wiped before
 * return.
 */
#ifndef GW_UNSUB_H
#define GW_UNSUB_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"
#include "mqs_error.h"

#define GW_UNSUB_TOKEN_LEN 56 /* characters, without the NUL */

struct gw_unsub_ref {
	int64_t recipient_id; /* recipients.id */
	int64_t created_at;   /* recipients.created_at of that row (>= 0) */
	int channel;          /* enum gw_chan */
	int64_t campaign_id;  /* campaigns.id (0: no campaign) */
};

/* Write the token of ref into out (GW_UNSUB_TOKEN_LEN + 1 bytes).
 * Returns MQS_OK or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int gw_unsub_token_make(const struct gw_store *s, const struct gw_unsub_ref *ref,
                                       char out[GW_UNSUB_TOKEN_LEN + 1]);

/* Check token (len bytes, as taken from the URL path) and fill *ref.
 * Returns MQS_OK, or MQS_ERR_INVAL for anything malformed, of another
 * version, or with a tag that does not verify (one error for all: the
 * caller answers 404 either way). */
MQS_MUST_CHECK int gw_unsub_token_check(const struct gw_store *s, const char *token, size_t len,
                                        struct gw_unsub_ref *ref);

/* The link "<public_url>/u/<token>" into out (cap bytes).  Returns MQS_OK,
 * MQS_ERR_BUFSIZE or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int gw_unsub_url(const struct gw_store *s, const char *public_url,
                                const struct gw_unsub_ref *ref, char *out, size_t cap);

#endif
