/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_util.h - small helpers shared by every component: files with secrets,
 * encodings, time.
 *
 * Ownership: functions returning a pointer through an out-parameter hand
 * the caller a malloc'd buffer; free it with mqs_secret_free() (wipes, then
 * frees; NULL is fine).  On failure out-parameters are left NULL/0.
 */
#ifndef MQS_UTIL_H
#define MQS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

/* Wipe len bytes at p with OPENSSL_cleanse, then free(p).  NULL is fine. */
void mqs_secret_free(void *p, size_t len);

/* Wipe the NUL-terminated string s (strlen bytes) and free it.  NULL is
 * fine.  The one way to drop a secret string (passwords, tokens, codes). */
void mqs_secret_free_str(char *s);

/* Read a whole file of at most max bytes into a new buffer, NUL-terminated
 * (the NUL is not counted in *len).  When secret is non-zero the file must
 * not be readable by group or others (MQS_ERR_PERM).  Returns MQS_OK,
 * MQS_ERR_NOENT, MQS_ERR_IO, MQS_ERR_PERM, MQS_ERR_TOOBIG, MQS_ERR_NOMEM. */
int mqs_file_read(const char *path, size_t max, int secret, uint8_t **data, size_t *len);

/* Write len bytes to path with mode 0600, atomically (temporary file in the
 * same folder, fsync, rename).  When exclusive is non-zero an existing path
 * gives MQS_ERR_EXISTS.  Returns MQS_OK, MQS_ERR_EXISTS or MQS_ERR_IO. */
MQS_MUST_CHECK int mqs_file_write_secret(const char *path, const void *data, size_t len,
                                         int exclusive);

/* Write len bytes to fd, retrying on EINTR and short writes.  Returns MQS_OK
 * or MQS_ERR_IO. */
MQS_MUST_CHECK int mqs_write_all(int fd, const void *data, size_t len);

/* Read all of fd (up to max bytes) into a new buffer.  Returns MQS_OK,
 * MQS_ERR_TOOBIG (more than max bytes available), MQS_ERR_IO, MQS_ERR_NOMEM. */
int mqs_read_all(int fd, size_t max, uint8_t **data, size_t *len);

/* Standard base64 (with padding).  Encoding: *out is a NUL-terminated new
 * string.  Decoding accepts only canonical padded base64 of at most max
 * decoded bytes; whitespace is refused. */
int mqs_base64_encode(const uint8_t *in, size_t in_len, char **out);
int mqs_base64_decode(const char *in, size_t in_len, size_t max, uint8_t **out, size_t *out_len);

/* Unpadded base64url (RFC 4648 section 5) into caller buffers, no
 * allocation.  mqs_base64url_len(n): characters encoding n bytes.
 * mqs_base64url_encode writes exactly that many characters to out, no NUL.
 * mqs_base64url_decode accepts only the canonical spelling (a length of 1
 * mod 4 and nonzero unused bits are refused, so every value has one
 * spelling); MQS_OK, MQS_ERR_PARSE, or MQS_ERR_TOOBIG when the result
 * would not fit cap bytes (nothing written then). */
size_t mqs_base64url_len(size_t n);
void mqs_base64url_encode(const uint8_t *in, size_t n, char *out);
MQS_MUST_CHECK int mqs_base64url_decode(const char *s, size_t len, uint8_t *out, size_t cap,
                                        size_t *out_len);

/* RFC 4648 base32 (liboath); decoding ignores case, spaces and padding. */
int mqs_base32_encode(const uint8_t *in, size_t in_len, char **out);
int mqs_base32_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len);

/* Value of the hexadecimal digit c ('0'-'9', 'a'-'f', 'A'-'F'): 0..15, or
 * -1 for any other value (negative chars included). */
int mqs_hex_digit(int c);

/* Lower-case hexadecimal of in (n bytes) into out, which holds 2n + 1
 * bytes: 2n digits and a NUL. */
void mqs_hex_encode(const uint8_t *in, size_t n, char *out);

/* The HTML entity that replaces byte ch in element content and quoted
 * attribute values (& < > " '), or NULL when ch stays as it is: the one
 * table behind every HTML escape of the gateway and the console. */
const char *mqs_html_entity(unsigned char ch);

/* Current Unix time in milliseconds (CLOCK_REALTIME). */
uint64_t mqs_now_ms(void);

#endif
