/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_master_key.h - the master key file and secrets wrapped under it.
 *
 * The master key is 32 random bytes kept in a file of mode 0600, written as
 * 64 hex digits and a newline (a raw 32-byte file is also accepted).  A file
 * readable by group or others is refused.
 *
 * Wrapped secret format: 1 byte version (1) || 12 byte nonce || ciphertext
 * || 16 byte tag, AES-256-GCM under the master key with caller-supplied AAD
 * (e.g. "key:17:topic") so a wrapped blob cannot be moved to another row.
 *
 * Ownership: callers own all buffers.  Key buffers should be wiped with
 * OPENSSL_cleanse when no longer needed.
 */
#ifndef MQS_MASTER_KEY_H
#define MQS_MASTER_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

#define MQS_MASTER_KEY_LEN 32
#define MQS_WRAP_OVERHEAD  (1 + 12 + 16)
#define MQS_WRAP_MAX_PLAIN 4096

/* Load the master key from path into key.  Returns MQS_OK, MQS_ERR_NOENT,
 * MQS_ERR_PERM (group/other may read it), MQS_ERR_PARSE (not 32 bytes of
 * raw or hex), MQS_ERR_IO. On failure key is wiped. */
MQS_MUST_CHECK int mqs_master_key_load(const char *path, uint8_t key[MQS_MASTER_KEY_LEN]);

/* Create a new master key file at path (mode 0600, never overwrites).
 * Returns MQS_OK, MQS_ERR_EXISTS, MQS_ERR_IO or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_master_key_create(const char *path);

/* Wrap plain (plain_len <= MQS_WRAP_MAX_PLAIN) into out (capacity out_cap >=
 * plain_len + MQS_WRAP_OVERHEAD).  Returns MQS_OK, MQS_ERR_INVAL,
 * MQS_ERR_TOOBIG, MQS_ERR_BUFSIZE, MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_wrap_seal(const uint8_t mk[MQS_MASTER_KEY_LEN], const char *aad,
                                 const uint8_t *plain, size_t plain_len, uint8_t *out,
                                 size_t out_cap, size_t *out_len);

/* Unwrap; aad must equal the one used to wrap.  Returns MQS_OK,
 * MQS_ERR_UNWRAP (wrong master key, wrong aad, corrupted), MQS_ERR_BUFSIZE,
 * MQS_ERR_INVAL.  On failure out is wiped and *out_len is 0. */
MQS_MUST_CHECK int mqs_wrap_open(const uint8_t mk[MQS_MASTER_KEY_LEN], const char *aad,
                                 const uint8_t *wrapped, size_t wrapped_len, uint8_t *out,
                                 size_t out_cap, size_t *out_len);

/* Derive a 32-byte subkey for one purpose: HMAC-SHA256(mk, label).  Distinct
 * labels give independent keys; the master key itself never leaves this
 * module's callers' memory.  Returns MQS_OK, MQS_ERR_INVAL, MQS_ERR_CRYPTO;
 * on failure out is wiped. */
MQS_MUST_CHECK int mqs_master_key_derive(const uint8_t mk[MQS_MASTER_KEY_LEN], const char *label,
                                         uint8_t out[MQS_MASTER_KEY_LEN]);

#endif
