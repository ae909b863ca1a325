/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_sms.h - the secure SMS envelope M1 (docs/sms-envelope.md) and the
 * SMS segment count (docs/channels.md, "How much text fits in one SMS").
 *
 *   body  = "#M1" base64url_nopad(key id (u16 BE) | timestamp (u32 BE, Unix
 *           seconds) | nonce (12) | ciphertext | tag (16))
 *   K_msg = HKDF-SHA256(IKM = recipient SMS key, salt = nonce,
 *           info = "mqttsec-sms-v1" | key id | timestamp)
 *   AEAD  = AES-256-GCM(K_msg, nonce), AAD = "#M1" | key id | timestamp |
 *           nonce | to
 *   plain = action (u8) | component length (u8, <= 32) | component | text
 *
 * The body is made only of "#M1" and base64url characters, all in the GSM-7
 * basic alphabet, so one character is one septet.  A body is at most
 * MQS_SMS_BODY_MAX (1600) characters (the provider's limit of concatenated
 * SMS); sealing anything longer is MQS_ERR_TOOBIG, never a shorter
 * plaintext.
 *
 * Ownership: callers own every buffer; nothing here allocates except the
 * OpenSSL contexts, freed before return.  All lengths are explicit and
 * capped.  The per-message key is wiped before return; on any failure of
 * mqs_sms_open() the message is wiped (mqs_sms_msg_wipe), so no plaintext
 * escapes.  Thread-safe.
 */
#ifndef MQS_SMS_H
#define MQS_SMS_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

#define MQS_SMS_PREFIX        "#M1"
#define MQS_SMS_PREFIX_LEN    3
#define MQS_SMS_KEY_LEN       32
#define MQS_SMS_NONCE_LEN     12
#define MQS_SMS_TAG_LEN       16
#define MQS_SMS_HDR_LEN       18 /* key id 2, timestamp 4, nonce 12 */
#define MQS_SMS_INFO          "mqttsec-sms-v1"
#define MQS_SMS_COMPONENT_MAX 32
#define MQS_SMS_TO_MAX        16 /* E.164: '+' and at most 15 digits */
/* Whole body, "#M1" included: the provider's limit of 1600 characters. */
#define MQS_SMS_BODY_MAX 1600
/* Decoded bytes of the longest body: (1600 - 3) * 6 / 8. */
#define MQS_SMS_RAW_MAX 1197
/* Longest plaintext (action, component length, component, text). */
#define MQS_SMS_PLAIN_MAX (MQS_SMS_RAW_MAX - MQS_SMS_HDR_LEN - MQS_SMS_TAG_LEN)
/* Longest text with an empty component. */
#define MQS_SMS_TEXT_MAX (MQS_SMS_PLAIN_MAX - 2)

/* Actions (docs/sms-envelope.md). */
enum mqs_sms_action {
	MQS_SMS_ACTION_TEXT = 0,
	MQS_SMS_ACTION_ALERT = 1,
	MQS_SMS_ACTION_MARKETING = 2,
	MQS_SMS_ACTION_CODE = 3,
	MQS_SMS_ACTION__COUNT
};

/* An opened M1 message.  component and text are NUL-terminated copies
 * (valid UTF-8 without NUL), owned by the struct; wipe it with
 * mqs_sms_msg_wipe() when done. */
struct mqs_sms_msg {
	uint16_t key_id;
	uint32_t timestamp; /* Unix seconds */
	uint8_t nonce[MQS_SMS_NONCE_LEN];
	uint8_t action;
	char component[MQS_SMS_COMPONENT_MAX + 1];
	size_t component_len;
	char text[MQS_SMS_TEXT_MAX + 1];
	size_t text_len;
};

/* Characters of the sealed body (without a terminator) for a component of
 * component_len and a text of text_len bytes, or 0 when the component is
 * longer than MQS_SMS_COMPONENT_MAX or the body would exceed
 * MQS_SMS_BODY_MAX. */
size_t mqs_sms_sealed_len(size_t component_len, size_t text_len);

/* 1 when to (to_len bytes) is an E.164 number: '+' and 1..15 digits. */
int mqs_sms_to_valid(const char *to, size_t to_len);

/* Seal text for the recipient number to under key/key_id at timestamp
 * (Unix seconds).  nonce: 12 bytes to use (test vectors), or NULL to draw a
 * fresh one from RAND_bytes.  component and text are UTF-8 without NUL
 * (component may be NULL when component_len is 0, text when text_len is 0).
 * Writes the body and a NUL into out (capacity out_cap, at least
 * mqs_sms_sealed_len() + 1) and its length into *out_len.  On failure
 * *out_len is 0 and out is an empty string.  Returns MQS_OK, MQS_ERR_INVAL
 * (bad action, number, UTF-8), MQS_ERR_TOOBIG (component over 32 bytes or
 * body over 1600 characters), MQS_ERR_BUFSIZE or MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int mqs_sms_seal(const uint8_t key[MQS_SMS_KEY_LEN], uint16_t key_id,
                                uint32_t timestamp, const uint8_t *nonce, const char *to,
                                size_t to_len, uint8_t action, const char *component,
                                size_t component_len, const char *text, size_t text_len, char *out,
                                size_t out_cap, size_t *out_len);

/* 1 when body (body_len bytes) starts with "#M1": a body meant to be opened
 * (it may still be malformed). */
int mqs_sms_is_sealed(const char *body, size_t body_len);

/* Read key id, timestamp and nonce of body without any cryptography (to
 * pick the key).  Only those three fields of *msg are set.  Returns MQS_OK,
 * MQS_ERR_INVAL, MQS_ERR_TOOBIG (over 1600 characters) or MQS_ERR_PARSE (no
 * "#M1", a character outside base64url, a non-canonical encoding, too
 * short). */
MQS_MUST_CHECK int mqs_sms_parse(const char *body, size_t body_len, struct mqs_sms_msg *msg);

/* Open body for the recipient number to under key (the key of the body's
 * key id, which the caller looked up with mqs_sms_parse).  Fills *msg.
 * Returns MQS_OK, MQS_ERR_INVAL, MQS_ERR_TOOBIG, MQS_ERR_PARSE (malformed
 * body, or an authentic plaintext with an unknown action, a component over
 * 32 bytes or invalid UTF-8), MQS_ERR_ENV_AUTH (altered body, wrong key or
 * wrong number) or MQS_ERR_CRYPTO.  On failure *msg is wiped. */
MQS_MUST_CHECK int mqs_sms_open(const uint8_t key[MQS_SMS_KEY_LEN], const char *body,
                                size_t body_len, const char *to, size_t to_len,
                                struct mqs_sms_msg *msg);

/* Wipe *msg (OPENSSL_cleanse).  NULL is fine. */
void mqs_sms_msg_wipe(struct mqs_sms_msg *msg);

/* Number of SMS segments a body of text (UTF-8, len bytes) needs: in GSM-7
 * when every character is in the GSM 03.38 alphabet (basic set 1 septet,
 * extension 2; 160 in one SMS, 153 per part of a longer one), else in UCS-2
 * (UTF-16 units; 70 in one SMS, 67 per part).  0 for an empty text.  Sets
 * *ucs2 (may be NULL) to 1 when UCS-2 is needed.  Invalid UTF-8 counts as
 * UCS-2 with one unit per byte. */
unsigned mqs_sms_segments(const char *text, size_t len, int *ucs2);

#endif
