/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_totp.h - RFC 6238 TOTP over liboath.
 *
 * Secrets are raw bytes (callers decode base32 with mqs_base32_decode).
 * Code comparison during validation is constant time (CRYPTO_memcmp).
 * Nothing here logs.
 *
 * Ownership: the caller owns every buffer (secrets, codes, AAD); nothing is
 * kept.  mqs_totp_uri() alone allocates: its *uri is the caller's, freed
 * with mqs_secret_free_str(); on failure *uri is left NULL.
 */
#ifndef MQS_TOTP_H
#define MQS_TOTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mqs_error.h"

enum mqs_totp_alg { MQS_TOTP_SHA1 = 0, MQS_TOTP_SHA256, MQS_TOTP_SHA512 };

#define MQS_TOTP_CODE_MAX   8  /* digits */
#define MQS_TOTP_SECRET_MAX 64 /* bytes */
#define MQS_TOTP_SECRET_LEN 20 /* bytes generated for new devices */

struct mqs_totp_params {
	unsigned digits; /* 6 or 8 */
	unsigned period; /* seconds, 1..3600 (default 30) */
	int algorithm;   /* enum mqs_totp_alg */
};

/* Fill p with the defaults: 6 digits, 30 s, SHA1. */
void mqs_totp_params_default(struct mqs_totp_params *p);

/* Return MQS_OK when p is usable, else MQS_ERR_INVAL. */
MQS_MUST_CHECK int mqs_totp_params_check(const struct mqs_totp_params *p);

/* Parse "SHA1", "SHA256", "SHA512" (any case).  MQS_ERR_UNSUPPORTED else. */
int mqs_totp_alg_parse(const char *name, int *alg);

/* Name of alg, "SHA1" for unknown values. */
const char *mqs_totp_alg_name(int alg);

/* Write the code for time now into code (capacity >= digits + 1,
 * NUL-terminated).  Returns MQS_OK, MQS_ERR_INVAL, MQS_ERR_CRYPTO. */
int mqs_totp_generate(const uint8_t *secret, size_t secret_len, const struct mqs_totp_params *p,
                      time_t now, char *code, size_t code_cap);

/* Validate code against now +/- window steps.  On success *step (may be
 * NULL) is the matched time step (now/period + offset).  Returns MQS_OK,
 * MQS_ERR_TOTP (no match or malformed code) or MQS_ERR_INVAL. */
MQS_MUST_CHECK int mqs_totp_validate(const uint8_t *secret, size_t secret_len,
                                     const struct mqs_totp_params *p, time_t now, unsigned window,
                                     const char *code, uint64_t *step);

/* Margin after the start of a step before a client logs in with its code,
 * so that a broker whose clock is slightly behind sees the same step. */
#define MQS_TOTP_STEP_MARGIN_MS 50u

/* Choose the step to log in with at now_ms, given the last step the broker
 * accepted from this client (last_step, -1 for none): a broker refuses a
 * code whose step is not later than the last one it accepted.  Returns the
 * current step (now_ms / 1000 / period) when it is later than last_step;
 * *wait_ms is then 0.  Otherwise returns -1 and sets *wait_ms to the time
 * (Unix milliseconds) to try again: the start of step last_step + 1 plus
 * MQS_TOTP_STEP_MARGIN_MS.  The one step chooser of the tree, used by the
 * gateway and the device CLI.  p must pass mqs_totp_params_check. */
int64_t mqs_totp_step_choose(const struct mqs_totp_params *p, uint64_t now_ms, int64_t last_step,
                             uint64_t *wait_ms);

/* Capacity that holds the AAD of any device name of up to 64 bytes. */
#define MQS_TOTP_AAD_MAX 80

/* Write the AAD a device's wrapped TOTP secret is sealed with,
 * "mqttsec-totp:<name>" (devices.totp_wrapped = mqs_wrap_seal(mk, aad,
 * secret)), NUL-terminated into buf (cap bytes; MQS_TOTP_AAD_MAX is enough
 * for names up to 64 bytes).  Returns MQS_OK, or MQS_ERR_INVAL when buf or
 * name is NULL, name is empty or the text does not fit (buf then holds ""
 * when cap > 0). */
int mqs_totp_wrap_aad(char *buf, size_t cap, const char *name);

/* Build "otpauth://totp/ISSUER:NAME?secret=..&issuer=..&algorithm=..&digits=..&period=.."
 * into a new string *uri (free with mqs_secret_free_str(uri)). */
int mqs_totp_uri(const char *issuer, const char *name, const uint8_t *secret, size_t secret_len,
                 const struct mqs_totp_params *p, char **uri);

#endif
