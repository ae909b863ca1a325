/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_envelope_ctx.h - envelope v1 (docs/envelope.md, mqs_envelope.h) for callers
 * that seal and open many envelopes: the OpenSSL algorithms are fetched
 * once and the cipher and HMAC contexts are kept and reused, instead of
 * being looked up and allocated for every call (which costs more than the
 * cryptography itself at small payloads).  The broker plugin re-seals
 * every message on a protected topic with it.
 *
 * Same wire format, same checks and same error codes as mqs_envelope_seal
 * and mqs_envelope_open; the outputs are
 * byte-identical (tests/unit/test-envelope-ctx.c).
 *
 * Each direction (seal, open) keeps the key schedule of the last key it
 * used, so consecutive calls with the same key skip the key setup; the
 * context therefore holds a copy of those two keys until they change or
 * the context is freed.
 *
 * Ownership: mqs_envelope_ctx_new() returns a context freed with
 * mqs_envelope_ctx_free() (NULL is fine), which wipes the keys it holds and
 * the nonce PRF's key state.
 * A context is not thread-safe: one per thread.  Callers own every buffer;
 * on failure outputs are wiped as with mqs_envelope.h.
 */
#ifndef MQS_ENVELOPE_CTX_H
#define MQS_ENVELOPE_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_envelope.h"
#include "mqs_error.h"

struct mqs_envelope_ctx;

/* New context.  Returns MQS_OK, MQS_ERR_NOMEM or MQS_ERR_CRYPTO. */
int mqs_envelope_ctx_new(struct mqs_envelope_ctx **out);

/* Free (and wipe) everything.  NULL is fine. */
void mqs_envelope_ctx_free(struct mqs_envelope_ctx *c);

/* As mqs_envelope_seal().  plain may also lie inside out, exactly where
 * its ciphertext goes (out + MQS_ENVELOPE_HDR_LEN + origin_len): it is then
 * encrypted in place (the broker opens into its output buffer and re-seals
 * there, without a copy). */
int mqs_envelope_ctx_seal(struct mqs_envelope_ctx *c, const uint8_t key[MQS_ENVELOPE_KEY_LEN],
                          uint32_t key_id, uint64_t timestamp_ms, const uint8_t *nonce,
                          const char *origin, size_t origin_len, const char *topic,
                          size_t topic_len, const uint8_t *plain, size_t plain_len, uint8_t *out,
                          size_t out_cap, size_t *out_len);

/* As mqs_envelope_open(). */
MQS_MUST_CHECK int mqs_envelope_ctx_open(struct mqs_envelope_ctx *c,
                                         const uint8_t key[MQS_ENVELOPE_KEY_LEN], uint32_t key_id,
                                         const uint8_t *env, size_t env_len, const char *topic,
                                         size_t topic_len, uint8_t *out, size_t out_cap,
                                         size_t *out_len, struct mqs_envelope_info *info);

/* Set the two keys of mqs_envelope_ctx_reseal_nonce() (kept in the
 * context's cipher states only; use two dedicated keys derived for this,
 * never an envelope key).  Returns MQS_OK, MQS_ERR_INVAL or MQS_ERR_CRYPTO. */
int mqs_envelope_ctx_set_nonce_keys(struct mqs_envelope_ctx *c, const uint8_t hash_key[32],
                                    const uint8_t prp_key[32]);

/* The nonce a broker gives the envelope it re-seals (docs/envelope.md,
 * "Re-seal nonces"): a PRF of everything that output authenticates except
 * the key, and of the nonce of the envelope it re-seals (in_nonce, 12 bytes
 * borrowed; the publisher's own nonce, so that two publications with one
 * plaintext in one millisecond get two nonces), namely
 *   AES-256(prp_key, GMAC(hash_key, IV 0^96, be64(timestamp_ms) ||
 *   u8(origin_len) || be16(topic_len) || u8(12) || in_nonce || origin ||
 *   topic || plain))[0..11].
 * Equal nonces under one key therefore mean the whole output is equal (and
 * the input nonce too).  Returns MQS_OK, MQS_ERR_INVAL (no keys set, a NULL
 * in_nonce, origin over 255 bytes, topic over 65,535, plain over
 * MQS_ENVELOPE_PLAIN_MAX) or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_envelope_ctx_reseal_nonce(struct mqs_envelope_ctx *c, uint64_t timestamp_ms,
                                                 const uint8_t in_nonce[MQS_ENVELOPE_NONCE_LEN],
                                                 const char *origin, size_t origin_len,
                                                 const char *topic, size_t topic_len,
                                                 const uint8_t *plain, size_t plain_len,
                                                 uint8_t nonce[MQS_ENVELOPE_NONCE_LEN]);

#endif
