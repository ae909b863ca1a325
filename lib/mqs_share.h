/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_share.h - k-of-n shares of a medical record (docs/medical.md, "Wire
 * format"): the record secret, its Shamir split over GF(2^8) (libgfshare,
 * reduction polynomial 0x11D) and the share header with its tag.
 *
 * The secret that is split:
 *   topic length (uint16 BE) | record topic | envelope v1 of the record,
 *   sealed with the sender's record key for that record topic.
 * The envelope's 12-byte nonce binds the record to its record id
 * (docs/medical.md, "Wire format"):
 *   nonce = HMAC-SHA256(nonce key, "mqttsec-share-nonce-v1" | record id)
 *           cut to 12 bytes, where
 *   nonce key = HKDF-SHA256(record key, salt empty,
 *                           info "mqttsec-share-nonce-v1"),
 * a key separate from the tag key.  The receiver refuses a record whose
 * nonce is not the one of the id in the share headers, so the share bodies
 * of one record cannot be passed off under another record's headers.  Ids
 * are 16 fresh random bytes per record, so nonces never repeat for
 * distinct records under one key.
 *
 * One share (the MQTT payload on channel x, before it is sealed for the
 * channel topic):
 *   0 version 0x01 | 1 n | 2 k | 3 x (1..n) | 4 record id (16) |
 *   20 S (uint32 BE, secret length) | 24 reserved (4 zero bytes) |
 *   28 share bytes (S) | 28+S header tag (16)
 * header tag = HMAC-SHA256(tag key, bytes 0..27) cut to 16 bytes, where
 * tag key = HKDF-SHA256(record key, salt empty, info "mqttsec-share-v1").
 *
 * libgfshare draws the random coefficients through its global
 * gfshare_fill_rand, NULL by default; every entry point here that splits
 * installs (once) a wrapper over OpenSSL RAND_bytes that aborts the
 * process when the generator fails, since a share made with predictable
 * coefficients would leak the record.
 *
 * Ownership: callers own every buffer; functions write into caller buffers
 * of the stated sizes, or hand back malloc'd blocks that the caller frees
 * with mqs_secret_free(p, len) (they may hold key-dependent data).  Key
 * material is wiped before return.  Nothing is logged.
 */
#ifndef MQS_SHARE_H
#define MQS_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_envelope.h"
#include "mqs_error.h"

#define MQS_SHARE_VERSION    1
#define MQS_SHARE_N_MIN      2
#define MQS_SHARE_N_MAX      8
#define MQS_SHARE_ID_LEN     16
#define MQS_SHARE_HDR_LEN    28
#define MQS_SHARE_TAG_LEN    16
#define MQS_SHARE_OVERHEAD   (MQS_SHARE_HDR_LEN + MQS_SHARE_TAG_LEN)
#define MQS_SHARE_SECRET_MAX (1024u * 1024u) /* S at most 1 MiB (wire format) */
/* A share must still fit in one channel envelope (MQS_ENVELOPE_PLAIN_MAX):
 * the largest secret a sender produces. */
#define MQS_SHARE_SECRET_SEND_MAX (MQS_ENVELOPE_PLAIN_MAX - MQS_SHARE_OVERHEAD)

/* The fields of a share header (bytes 0..27). */
struct mqs_share_hdr {
	uint8_t n, k, x;
	uint8_t id[MQS_SHARE_ID_LEN];
	uint32_t secret_len; /* S */
};

/* Length of one share of a secret of secret_len bytes (secret_len + 44). */
size_t mqs_share_len(size_t secret_len);

/* Derive the tag key of record key rk.  Returns MQS_OK or MQS_ERR_CRYPTO
 * (tag_key wiped). */
MQS_MUST_CHECK int mqs_share_tag_key(const uint8_t rk[MQS_ENVELOPE_KEY_LEN], uint8_t tag_key[32]);

/* Split secret (secret_len bytes, 1..MQS_SHARE_SECRET_MAX) into n shares
 * (MQS_SHARE_N_MIN <= k <= n <= MQS_SHARE_N_MAX) under record id id (16
 * random bytes: pass NULL to draw fresh ones; the id used is written to
 * id_out when not NULL).  Share x (1..n) is written at out + (x-1) *
 * mqs_share_len(secret_len); out_cap must hold n of them.  Returns MQS_OK,
 * MQS_ERR_INVAL (n, k, lengths), MQS_ERR_TOOBIG, MQS_ERR_BUFSIZE,
 * MQS_ERR_NOMEM or MQS_ERR_CRYPTO; on failure out is wiped. */
MQS_MUST_CHECK int mqs_share_split(const uint8_t *secret, size_t secret_len, unsigned n, unsigned k,
                                   const uint8_t tag_key[32], const uint8_t *id,
                                   uint8_t id_out[MQS_SHARE_ID_LEN], uint8_t *out, size_t out_cap);

/* Check the structure of share p (len bytes) without any key: version 1,
 * 2 <= n <= 8, 2 <= k <= n, 1 <= x <= n, reserved bytes zero, S <=
 * MQS_SHARE_SECRET_MAX, len == S + 44.  Fills *h.  Returns MQS_OK,
 * MQS_ERR_PARSE (a field out of range or reserved bytes set),
 * MQS_ERR_ENV_TRUNCATED (len does not match S), MQS_ERR_TOOBIG (S over the
 * cap). */
MQS_MUST_CHECK int mqs_share_parse(const uint8_t *p, size_t len, struct mqs_share_hdr *h);

/* 1 when the header tag of share p (len bytes, already accepted by
 * mqs_share_parse) verifies under tag_key, else 0.  Constant time in the
 * tag bytes. */
int mqs_share_tag_ok(const uint8_t *p, size_t len, const uint8_t tag_key[32]);

/* Rebuild the secret from k share bodies: xs[i] is the share number of
 * bodies[i] (distinct, 1..255), each body secret_len bytes (the share bytes
 * at offset 28).  Writes secret_len bytes to out.  Returns MQS_OK,
 * MQS_ERR_INVAL (k < 2, duplicate or zero x) or MQS_ERR_NOMEM.  A wrong or
 * tampered body gives a wrong secret, not an error: the record envelope
 * inside tells. */
MQS_MUST_CHECK int mqs_share_combine(unsigned k, const uint8_t *xs, const uint8_t *const *bodies,
                                     size_t secret_len, uint8_t *out);

/* Seal record plain (plain_len bytes) for record topic topic with record
 * key rk / key_id, origin origin (NULL or "" for none), under record id id
 * (16 fresh random bytes the caller drew, then passes to mqs_share_split:
 * the envelope nonce is derived from it), and frame it as the secret to
 * split.  *secret gets a new buffer (free with mqs_secret_free) and
 * *secret_len its length (at most MQS_SHARE_SECRET_SEND_MAX).  Returns
 * MQS_OK, MQS_ERR_INVAL, MQS_ERR_ENV_TOPIC, MQS_ERR_TOOBIG, MQS_ERR_NOMEM
 * or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_share_record_seal(const uint8_t rk[MQS_ENVELOPE_KEY_LEN], uint32_t key_id,
                                         const uint8_t id[MQS_SHARE_ID_LEN], const char *topic,
                                         const char *origin, const uint8_t *plain, size_t plain_len,
                                         uint8_t **secret, size_t *secret_len);

/* Open a rebuilt secret (secret_len bytes) with record key rk / key_id as
 * record id id (the id of the share headers): check the framing, check
 * that the envelope nonce is the one of id, open the envelope for the
 * framed topic.  topic
 * (capacity topic_cap) gets the record topic NUL-terminated, origin the
 * envelope's origin NUL-terminated ("" when none; non-UTF-8 refused),
 * *plain a new buffer (free with mqs_secret_free) with *plain_len bytes,
 * *ts_ms the sealing time.  Returns MQS_OK, MQS_ERR_PARSE (framing,
 * origin), MQS_ERR_BUFSIZE (topic longer than topic_cap - 1),
 * MQS_ERR_ENV_AUTH also when the nonce is not the one of id (a record
 * under another record's id; checked before any decryption, and the nonce
 * is authenticated by the envelope), the envelope's refusal (MQS_ERR_ENV_*:
 * tampered, wrong key), MQS_ERR_NOMEM, MQS_ERR_CRYPTO.  Nothing is written
 * on failure. */
MQS_MUST_CHECK int mqs_share_record_open(const uint8_t rk[MQS_ENVELOPE_KEY_LEN], uint32_t key_id,
                                         const uint8_t id[MQS_SHARE_ID_LEN], const uint8_t *secret,
                                         size_t secret_len, char *topic, size_t topic_cap,
                                         char origin[MQS_ENVELOPE_ORIGIN_MAX + 1], uint8_t **plain,
                                         size_t *plain_len, uint64_t *ts_ms);

#endif
