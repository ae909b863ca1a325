/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_kdf.h - HKDF-SHA256 (RFC 5869, OpenSSL EVP_KDF) and the keys the
 * product derives from a device's secrets (docs/payload-encryption.md,
 * "One key, one purpose").
 *
 * A device key serves uplink envelopes directly (envelope v1, as devices
 * have always sealed); every other use gets its own derived key, so no raw
 * key serves two purposes:
 *
 *   key answers (online topic keys)  HKDF(device key, salt "", "mqttsec-keys-v1")
 *   downlink to that device          HKDF(device key, salt "", "mqttsec-downlink-v1" | topic)
 *   connect tokens                   HKDF(decoded TOTP secret, salt "", "mqttsec-connect-v1")
 *
 * Ownership: callers own every buffer; lengths are explicit.  On failure
 * the output is wiped (OPENSSL_cleanse).  Thread-safe (the HKDF
 * implementation is fetched once).
 */
#ifndef MQS_KDF_H
#define MQS_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

#define MQS_KDF_KEY_LEN       32
#define MQS_KDF_INFO_KEYS     "mqttsec-keys-v1"
#define MQS_KDF_INFO_DOWNLINK "mqttsec-downlink-v1"
#define MQS_KDF_INFO_CONNECT  "mqttsec-connect-v1"
#define MQS_KDF_INFO_MAX      (64 + 65535) /* a prefix and an MQTT topic */

/* HKDF-SHA256(ikm, salt, info) -> out_len bytes (1..255*32).  salt may be
 * NULL with salt_len 0 (an empty salt); info may be NULL with info_len 0.
 * Returns MQS_OK, MQS_ERR_INVAL or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_kdf_hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
                                size_t salt_len, const uint8_t *info, size_t info_len, uint8_t *out,
                                size_t out_len);

/* The key of key answers for device key dk (info "mqttsec-keys-v1"). */
MQS_MUST_CHECK int mqs_kdf_keys_answer(const uint8_t dk[MQS_KDF_KEY_LEN],
                                       uint8_t out[MQS_KDF_KEY_LEN]);

/* The downlink key of device key dk for topic (topic_len bytes, not
 * NUL-terminated, at most 65535): info "mqttsec-downlink-v1" | topic. */
MQS_MUST_CHECK int mqs_kdf_downlink(const uint8_t dk[MQS_KDF_KEY_LEN], const char *topic,
                                    size_t topic_len, uint8_t out[MQS_KDF_KEY_LEN]);

/* K_conn of a decoded TOTP secret (secret_len 1..128 bytes): info
 * "mqttsec-connect-v1". */
MQS_MUST_CHECK int mqs_kdf_connect(const uint8_t *secret, size_t secret_len,
                                   uint8_t out[MQS_KDF_KEY_LEN]);

#endif
