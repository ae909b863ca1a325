/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_error.h - the one error type of the mqttsec library.
 *
 * Every library function that can fail returns an enum mqs_err; MQS_OK is 0.
 *
 * Ownership: mqs_strerror() returns a static, lowercase string; never NULL,
 * never freed.
 */
#ifndef MQS_ERROR_H
#define MQS_ERROR_H

/* MQS_MUST_CHECK marks a function whose result decides security or
 * durability (a signature check, a commit, a replay verdict): ignoring it is
 * a compile warning, and CI builds with -Werror=unused-result. */
#if defined(__GNUC__) || defined(__clang__)
#define MQS_MUST_CHECK __attribute__((warn_unused_result))
#else
#define MQS_MUST_CHECK
#endif

enum mqs_err {
	MQS_OK = 0,
	MQS_ERR_NOMEM,         /* allocation failed */
	MQS_ERR_INVAL,         /* bad argument (NULL, out of range) */
	MQS_ERR_TOOBIG,        /* input exceeds a hard cap */
	MQS_ERR_BUFSIZE,       /* output buffer too small */
	MQS_ERR_CRYPTO,        /* OpenSSL failure (not an authentication failure) */
	MQS_ERR_IO,            /* file I/O failed; errno is kept */
	MQS_ERR_PERM,          /* file permissions unsafe (group/other can read a secret) */
	MQS_ERR_NOENT,         /* file or record does not exist */
	MQS_ERR_EXISTS,        /* file or record already exists */
	MQS_ERR_DB,            /* SQLite failure */
	MQS_ERR_DB_VERSION,    /* database schema is newer than this build understands */
	MQS_ERR_PARSE,         /* malformed text or JSON */
	MQS_ERR_ENV_TRUNCATED, /* envelope shorter than its header says */
	MQS_ERR_ENV_VERSION,   /* envelope version is not 1 */
	MQS_ERR_ENV_KEYID,     /* envelope key id is not the key offered */
	MQS_ERR_ENV_AUTH,      /* GCM tag mismatch: tampered, wrong topic or wrong key bytes */
	MQS_ERR_ENV_TOPIC,     /* topic empty, too long, or contains a wildcard or NUL */
	MQS_ERR_UNWRAP,        /* wrapped secret does not open under this master key */
	MQS_ERR_TOTP,          /* TOTP code did not validate */
	MQS_ERR_TOTP_REPLAY,   /* TOTP code matched a step already used */
	MQS_ERR_UNSUPPORTED,   /* algorithm or option not supported */
	MQS_ERR__COUNT
};

/* Return a static lowercase description of err; unknown values give "unknown error". */
const char *mqs_strerror(int err);

#endif
