/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_link.h - link codes that bind a LINE user id to a recipient
 * (docs/marketing.md, "Linking a LINE account").
 *
 * `recipient link NAME --line` creates a code: 10 characters of the
 * base32 alphabet without padding (50 bits), shown once, valid 10
 * minutes, single use; only HMAC-SHA256(lookup key, code) is stored.  The
 * customer sends the code to the LINE bot; the webhook (gw_inbound.h)
 * redeems it with the sender's LINE user id, which becomes the
 * recipient's line address (encrypted as every address).  Failed attempts
 * (a message that looks like a code and is not a live one) are counted per
 * LINE user id: after 5 failures in an hour that user's codes are ignored
 * for the hour (table http_limits).  There is no global cap (it would let
 * a few throw-away accounts lock linking for everybody): at 5 guesses per
 * account and hour, even 10^5 accounts make about 4*10^9 guesses a year,
 * a chance of about 4*10^-6 per live code (2^50 codes, 10 minutes) a year.
 * Rows whose window is over are pruned by gw_link_prune().
 *
 * Pure store module.  Codes and user ids are never logged.
 *
 * Ownership: caller-owned buffers; codes are wiped by the caller.
 */
#ifndef GW_LINK_H
#define GW_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"
#include "mqs_error.h"

#define GW_LINK_CODE_LEN 10
#define GW_LINK_TTL_MS   (10 * 60 * 1000)

/* Create a code for recipient name on channel ch (GW_CH_LINE) into code
 * (GW_LINK_CODE_LEN + 1).  Earlier codes of that recipient and channel
 * stop working.  Returns MQS_OK, MQS_ERR_NOENT, MQS_ERR_INVAL,
 * MQS_ERR_CRYPTO or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_link_create(struct gw_store *s, const char *name, int ch, int64_t now_ms,
                                  char code[GW_LINK_CODE_LEN + 1], char *err, size_t errlen);

/* 1 when text (len bytes, trimmed of spaces) has the shape of a code
 * (case-insensitive), else 0. */
int gw_link_looks_like_code(const char *text, size_t len);

/* Redeem text as a code sent by LINE user user_id: on success the
 * recipient's line address becomes user_id, the code is deleted and name
 * (cap bytes) gets the recipient.  Returns MQS_OK, MQS_ERR_NOENT (no live
 * code: counted as a failure), MQS_ERR_PERM (too many failures: ignored),
 * MQS_ERR_DB. */
MQS_MUST_CHECK int gw_link_redeem(struct gw_store *s, const char *text, size_t len,
                                  const char *user_id, int64_t now_ms, char *name, size_t cap);

/* Delete the http_limits rows whose window ended before now_ms (failure
 * counters of link codes).  Works inside the caller's transaction.
 * Returns MQS_OK or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_link_prune(struct gw_store *s, int64_t now_ms);

#endif
