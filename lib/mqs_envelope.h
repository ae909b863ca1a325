/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_envelope.h - envelope v1 (docs/envelope.md): AES-256-GCM sealed MQTT payloads.
 *
 *   0  1  version (1)
 *   1  1  L, origin length
 *   2  4  key id (big-endian)
 *   6  8  timestamp, Unix milliseconds (big-endian)
 *  14 12  nonce
 *  26  L  origin (UTF-8, not NUL-terminated)
 *     n   ciphertext
 *     16  GCM tag
 *  AAD = bytes 0..26+L-1 followed by the topic bytes.
 *
 * Ownership: callers own every buffer; nothing here allocates except the
 * OpenSSL cipher context, freed before return.  All lengths are explicit.
 * On any failure of mqs_envelope_open() the output buffer is wiped
 * (OPENSSL_cleanse) over the full length written, so no plaintext escapes.
 */
#ifndef MQS_ENVELOPE_H
#define MQS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

#define MQS_ENVELOPE_VERSION    1
#define MQS_ENVELOPE_HDR_LEN    26
#define MQS_ENVELOPE_NONCE_LEN  12
#define MQS_ENVELOPE_TAG_LEN    16
#define MQS_ENVELOPE_KEY_LEN    32
#define MQS_ENVELOPE_ORIGIN_MAX 255
/* Hard caps: plaintext 1 MiB, topic 65535 bytes (the MQTT limit). */
#define MQS_ENVELOPE_PLAIN_MAX (1024u * 1024u)
#define MQS_ENVELOPE_TOPIC_MAX 65535u
/* Smallest and largest possible envelopes. */
#define MQS_ENVELOPE_MIN_LEN (MQS_ENVELOPE_HDR_LEN + MQS_ENVELOPE_TAG_LEN)
#define MQS_ENVELOPE_MAX_LEN                                                                       \
	(MQS_ENVELOPE_HDR_LEN + MQS_ENVELOPE_ORIGIN_MAX + MQS_ENVELOPE_PLAIN_MAX +                 \
	 MQS_ENVELOPE_TAG_LEN)

/* Parsed header of an envelope.  origin points into the envelope buffer
 * (not NUL-terminated) and is valid only while that buffer lives. */
struct mqs_envelope_info {
	uint8_t version;
	uint32_t key_id;
	uint64_t timestamp_ms;
	uint8_t nonce[MQS_ENVELOPE_NONCE_LEN];
	const uint8_t *origin;
	size_t origin_len;
	const uint8_t *ciphertext;
	size_t ciphertext_len; /* equals the plaintext length */
};

/* Return the envelope size for an origin of origin_len and plain_len bytes
 * of plaintext, or 0 when either exceeds its cap. */
size_t mqs_envelope_sealed_len(size_t origin_len, size_t plain_len);

/* Check that topic (topic_len bytes) is a valid MQTT topic name for sealing:
 * 1..MQS_ENVELOPE_TOPIC_MAX bytes, no '+', '#' or NUL.  Returns MQS_OK or
 * MQS_ERR_ENV_TOPIC. */
MQS_MUST_CHECK int mqs_envelope_topic_check(const char *topic, size_t topic_len);

/* Seal plain (plain_len bytes) for topic under key/key_id.
 * nonce: 12 bytes to use, or NULL to draw a fresh one from RAND_bytes.
 * origin/origin_len: publisher's username (origin may be NULL when 0).
 * Writes mqs_envelope_sealed_len() bytes into out (capacity out_cap) and
 * stores the length in *out_len.  On failure *out_len is 0 and out holds no
 * plaintext.  Returns MQS_OK, MQS_ERR_INVAL, MQS_ERR_TOOBIG,
 * MQS_ERR_ENV_TOPIC, MQS_ERR_BUFSIZE or MQS_ERR_CRYPTO. */
int mqs_envelope_seal(const uint8_t key[MQS_ENVELOPE_KEY_LEN], uint32_t key_id,
                      uint64_t timestamp_ms, const uint8_t *nonce, const char *origin,
                      size_t origin_len, const char *topic, size_t topic_len, const uint8_t *plain,
                      size_t plain_len, uint8_t *out, size_t out_cap, size_t *out_len);

/* Parse the header of env (env_len bytes) without any cryptography, e.g. to
 * find the key id.  Returns MQS_OK, MQS_ERR_INVAL, MQS_ERR_ENV_TRUNCATED,
 * MQS_ERR_ENV_VERSION or MQS_ERR_TOOBIG. */
MQS_MUST_CHECK int mqs_envelope_parse(const uint8_t *env, size_t env_len,
                                      struct mqs_envelope_info *info);

/* Open env for topic with key/key_id.  Writes the plaintext into out
 * (capacity out_cap, at least info->ciphertext_len) and its length into
 * *out_len; fills *info when info is not NULL.  Refusals, each distinct:
 * MQS_ERR_ENV_TRUNCATED, MQS_ERR_ENV_VERSION, MQS_ERR_ENV_KEYID (key id is
 * not key_id), MQS_ERR_ENV_TOPIC, MQS_ERR_ENV_AUTH (tag mismatch: tampered
 * bytes, another topic, or other key bytes - GCM cannot tell these apart),
 * MQS_ERR_BUFSIZE.  On failure *out_len is 0 and out is wiped. */
MQS_MUST_CHECK int mqs_envelope_open(const uint8_t key[MQS_ENVELOPE_KEY_LEN], uint32_t key_id,
                                     const uint8_t *env, size_t env_len, const char *topic,
                                     size_t topic_len, uint8_t *out, size_t out_cap,
                                     size_t *out_len, struct mqs_envelope_info *info);

/* A deterministic nonce: the first 12 bytes of HMAC-SHA256(prf_key, in).
 * The same input always gives the same nonce and distinct inputs give
 * unrelated nonces.  Safe only when in covers everything the sealed output
 * authenticates (equal in means equal output) or in is used once.  The
 * broker's re-seal uses mqs_envelope_ctx_reseal_nonce() instead
 * (docs/envelope.md, "Re-seal nonces").  prf_key must be secret and used
 * for nothing else.  Returns MQS_OK, MQS_ERR_INVAL or MQS_ERR_CRYPTO. */
int mqs_envelope_derive_nonce(const uint8_t prf_key[32], const uint8_t *in, size_t in_len,
                              uint8_t nonce[MQS_ENVELOPE_NONCE_LEN]);

#endif
