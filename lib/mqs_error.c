/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_error.c - descriptions for enum mqs_err. */
#include "config.h"
#include <stddef.h>

#include "mqs_error.h"

static const char *const mqs_err_text[MQS_ERR__COUNT] = {
    [MQS_OK] = "success",
    [MQS_ERR_NOMEM] = "out of memory",
    [MQS_ERR_INVAL] = "invalid argument",
    [MQS_ERR_TOOBIG] = "input exceeds size limit",
    [MQS_ERR_BUFSIZE] = "output buffer too small",
    [MQS_ERR_CRYPTO] = "cryptographic library failure",
    [MQS_ERR_IO] = "i/o error",
    [MQS_ERR_PERM] = "unsafe file permissions (readable by group or others)",
    [MQS_ERR_NOENT] = "not found",
    [MQS_ERR_EXISTS] = "already exists",
    [MQS_ERR_DB] = "database error",
    [MQS_ERR_DB_VERSION] = "database schema is newer than this program",
    [MQS_ERR_PARSE] = "malformed input",
    [MQS_ERR_ENV_TRUNCATED] = "envelope truncated",
    [MQS_ERR_ENV_VERSION] = "unsupported envelope version",
    [MQS_ERR_ENV_KEYID] = "envelope sealed with another key",
    [MQS_ERR_ENV_AUTH] = "envelope authentication failed (tampered, wrong topic or wrong key)",
    [MQS_ERR_ENV_TOPIC] = "invalid topic",
    [MQS_ERR_UNWRAP] = "cannot unwrap secret (wrong master key or corrupted)",
    [MQS_ERR_TOTP] = "one-time code not valid",
    [MQS_ERR_TOTP_REPLAY] = "one-time code already used",
    [MQS_ERR_UNSUPPORTED] = "not supported",
};

/* Return a static lowercase description of err. */
const char *mqs_strerror(int err)
{
	if (err < 0 || err >= MQS_ERR__COUNT || mqs_err_text[err] == NULL)
		return "unknown error";
	return mqs_err_text[err];
}
