/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_conntoken.h - one-time connect tokens (docs/broker-plugin.md,
 * "Connect tokens"): a password a device can send at any
 * moment instead of waiting for the next TOTP step.
 *
 *   password = "mqs1." base64url_nopad(ts ms, u64 BE | nonce 12 | tag 16)
 *   tag      = HMAC-SHA256(K_conn, "mqs1" | username | 0x00 | client id |
 *                          0x00 | ts (8 bytes BE) | nonce)[0..16]
 *   K_conn   = mqs_kdf_connect(decoded TOTP secret)
 *
 * The 36 bytes encode to exactly 48 characters, so a token is always
 * MQS_CONNTOKEN_TEXT_LEN characters long.  Freshness and replay are the
 * verifier's business (the broker plugin: within plugin_opt_replay_window,
 * each (username, nonce) once).
 *
 * Ownership: callers own every buffer; nothing is allocated except a
 * struct mqs_conntoken_mac, which mqs_conntoken_mac_new() returns and the
 * caller frees with mqs_conntoken_mac_free().  K_conn and secrets are only
 * read; intermediate key material is wiped (OPENSSL_cleanse).  Thread-safe,
 * except that one struct mqs_conntoken_mac serves one thread at a time.
 */
#ifndef MQS_CONNTOKEN_H
#define MQS_CONNTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"
#include "mqs_kdf.h"

#define MQS_CONNTOKEN_PREFIX    "mqs1."
#define MQS_CONNTOKEN_NONCE_LEN 12
#define MQS_CONNTOKEN_TAG_LEN   16
#define MQS_CONNTOKEN_RAW_LEN   (8 + MQS_CONNTOKEN_NONCE_LEN + MQS_CONNTOKEN_TAG_LEN)
#define MQS_CONNTOKEN_TEXT_LEN  (5 + MQS_CONNTOKEN_RAW_LEN / 3 * 4) /* 53 */
#define MQS_CONNTOKEN_ID_MAX    65535 /* longest username or client id bound */

/* A parsed token. */
struct mqs_conntoken {
	uint64_t ts_ms;
	uint8_t nonce[MQS_CONNTOKEN_NONCE_LEN];
	uint8_t tag[MQS_CONNTOKEN_TAG_LEN];
};

/* 1 when password (NULL is fine) starts with "mqs1.": the verifier treats
 * it as a token, never as a TOTP code. */
int mqs_conntoken_is_token(const char *password);

/* Make a token for (username, clientid) at ts_ms with K_conn kconn into out
 * (MQS_CONNTOKEN_TEXT_LEN + 1 bytes, NUL-terminated).  nonce NULL: 12
 * random bytes.  Returns MQS_OK, MQS_ERR_INVAL (empty or longer than
 * MQS_CONNTOKEN_ID_MAX username or client id) or MQS_ERR_CRYPTO; on failure
 * out is an empty string. */
MQS_MUST_CHECK int mqs_conntoken_make(const uint8_t kconn[MQS_KDF_KEY_LEN], const char *username,
                                      const char *clientid, uint64_t ts_ms, const uint8_t *nonce,
                                      char *out);

/* mqs_conntoken_make() from the decoded TOTP secret (1..128 bytes), with a
 * random nonce: what clients call before each connection attempt. */
MQS_MUST_CHECK int mqs_conntoken_make_secret(const uint8_t *secret, size_t secret_len,
                                             const char *username, const char *clientid,
                                             uint64_t ts_ms, char *out);

/* Parse text (exactly "mqs1." and 48 base64url characters, no padding).
 * Returns MQS_OK or MQS_ERR_PARSE (*out zeroed). */
MQS_MUST_CHECK int mqs_conntoken_parse(const char *text, struct mqs_conntoken *out);

/* A reusable HMAC context for checking many tokens on one thread: saves
 * setting up HMAC for every token (docs/PERFORMANCE.md, "Connect tokens").
 * Holds the last K_conn it checked with until freed or used again. */
struct mqs_conntoken_mac;

/* A new context into *out.  Returns MQS_OK, MQS_ERR_NOMEM or
 * MQS_ERR_CRYPTO (*out NULL). */
MQS_MUST_CHECK int mqs_conntoken_mac_new(struct mqs_conntoken_mac **out);

/* Wipe and free m.  NULL is fine. */
void mqs_conntoken_mac_free(struct mqs_conntoken_mac *m);

/* Check the tag of t for (username, clientid) under kconn, in constant
 * time, with the context m (NULL: a fresh one, for a single check).
 * Returns MQS_OK, MQS_ERR_TOTP (wrong tag: another key, username, client
 * id, time or nonce), MQS_ERR_INVAL (empty or too long username or client
 * id) or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_conntoken_verify(struct mqs_conntoken_mac *m,
                                        const uint8_t kconn[MQS_KDF_KEY_LEN], const char *username,
                                        const char *clientid, const struct mqs_conntoken *t);

/* Where t's time lies against now_ms: 0 within window_s seconds either
 * side, -1 older, 1 further in the future. */
int mqs_conntoken_when(const struct mqs_conntoken *t, uint64_t now_ms, unsigned window_s);

#endif
