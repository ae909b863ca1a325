/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_util.c - files with secrets, encodings, time. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <liboath/oath.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_buf.h"
#include "mqs_util.h"

/* Wipe and free a secret buffer. */
void mqs_secret_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	mqs_free(p);
}

/* Wipe and free a secret string. */
void mqs_secret_free_str(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	mqs_free(s);
}

/* Write all bytes, retrying on EINTR. */
int mqs_write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return MQS_ERR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return MQS_OK;
}

/* Read all of fd, up to max bytes, into a NUL-terminated new buffer. */
int mqs_read_all(int fd, size_t max, uint8_t **data, size_t *len)
{
	uint8_t *buf = NULL;
	void *block;
	size_t cap = 0;
	size_t used = 0;
	int rc = MQS_OK;

	*data = NULL;
	*len = 0;
	for (;;) {
		size_t want;
		ssize_t n;

		/* keep room for one byte past max (to detect oversize) and the NUL */
		if (cap - used < 2) {
			size_t need = used + (used < 65536 ? 4096 : used);
			if (need > max + 2)
				need = max + 2;
			if (need <= used + 1) {
				rc = MQS_ERR_TOOBIG;
				goto out;
			}
			/* secret: what was read may be a key file; growth wipes */
			block = buf;
			rc = mqs_array_reserve(&block, &cap, need, 1, max + 2, 1);
			buf = block;
			if (rc != MQS_OK)
				goto out;
		}
		want = cap - used - 1;
		n = read(fd, buf + used, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = MQS_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max) {
			rc = MQS_ERR_TOOBIG;
			goto out;
		}
	}
	if (buf == NULL) {
		block = NULL;
		rc = mqs_array_reserve(&block, &cap, 1, 1, 1, 1);
		buf = block;
		if (rc != MQS_OK)
			goto out;
	}
	buf[used] = 0;
	*data = buf;
	*len = used;
	buf = NULL;
out:
	mqs_secret_free(buf, cap);
	return rc;
}

/* Read a whole file (optionally a secret one) into a new buffer. */
int mqs_file_read(const char *path, size_t max, int secret, uint8_t **data, size_t *len)
{
	struct stat st;
	int fd = -1;
	int rc;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = errno == ENOENT ? MQS_ERR_NOENT : MQS_ERR_IO;
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = MQS_ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		rc = MQS_ERR_IO;
		goto out;
	}
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		rc = MQS_ERR_PERM;
		goto out;
	}
	if ((uint64_t)st.st_size > (uint64_t)max) {
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	rc = mqs_read_all(fd, max, data, len);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Write a secret file atomically with mode 0600. */
int mqs_file_write_secret(const char *path, const void *data, size_t len, int exclusive)
{
	char tmp[PATH_MAX];
	int fd = -1;
	int rc = MQS_ERR_IO;
	int made = 0;

	if (exclusive && access(path, F_OK) == 0) {
		rc = MQS_ERR_EXISTS;
		goto out;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		goto out;
	}
	fd = mkstemp(tmp); /* mkstemp creates with mode 0600 */
	if (fd < 0)
		goto out;
	made = 1;
	if (fchmod(fd, S_IRUSR | S_IWUSR) != 0)
		goto out;
	if (mqs_write_all(fd, data, len) != MQS_OK)
		goto out;
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (exclusive) {
		/* link() fails if path appeared meanwhile: never overwrite */
		if (link(tmp, path) != 0) {
			rc = errno == EEXIST ? MQS_ERR_EXISTS : MQS_ERR_IO;
			goto out;
		}
		unlink(tmp);
		made = 0;
	} else if (rename(tmp, path) != 0) {
		goto out;
	} else {
		made = 0;
	}
	rc = MQS_OK;
out:
	if (fd >= 0)
		close(fd);
	if (made) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
	}
	return rc;
}

/* Base64-encode with padding into a new string. */
int mqs_base64_encode(const uint8_t *in, size_t in_len, char **out)
{
	size_t olen;
	char *buf;

	*out = NULL;
	if (in_len > (size_t)INT_MAX / 2)
		return MQS_ERR_TOOBIG;
	olen = 4 * ((in_len + 2) / 3);
	buf = mqs_malloc(olen + 1);
	if (buf == NULL)
		return MQS_ERR_NOMEM;
	EVP_EncodeBlock((unsigned char *)buf, in, (int)in_len);
	buf[olen] = 0;
	*out = buf;
	return MQS_OK;
}

/* 1 when c is a base64 alphabet character. */
static int b64_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of base64url character c, or -1. */
static int b64url_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Length of unpadded base64url (mqs_util.h). */
size_t mqs_base64url_len(size_t n)
{
	return (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

/* Unpadded base64url encoding (mqs_util.h). */
void mqs_base64url_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];

		*out++ = b64url[(v >> 18) & 63];
		*out++ = b64url[(v >> 12) & 63];
		*out++ = b64url[(v >> 6) & 63];
		*out++ = b64url[v & 63];
	}
	if (n - i == 1) {
		*out++ = b64url[in[i] >> 2];
		*out++ = b64url[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = ((uint32_t)in[i] << 8) | in[i + 1];

		*out++ = b64url[(v >> 10) & 63];
		*out++ = b64url[(v >> 4) & 63];
		*out++ = b64url[(v << 2) & 63];
	}
}

/* Canonical unpadded base64url decoding (mqs_util.h). */
int mqs_base64url_decode(const char *s, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	*out_len = 0;
	if (len % 4 == 1)
		return MQS_ERR_PARSE;
	if (len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1) > cap)
		return MQS_ERR_TOOBIG;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value((unsigned char)s[i]);

		if (v < 0)
			return MQS_ERR_PARSE;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return MQS_ERR_PARSE;
	*out_len = n;
	return MQS_OK;
}

/* Decode canonical padded base64 of at most max decoded bytes. */
int mqs_base64_decode(const char *in, size_t in_len, size_t max, uint8_t **out, size_t *out_len)
{
	size_t pad = 0;
	size_t dlen;
	uint8_t *buf = NULL;
	int n;

	*out = NULL;
	*out_len = 0;
	if (in == NULL || in_len % 4 != 0)
		return MQS_ERR_PARSE;
	if (in_len / 4 * 3 > max + 2 || in_len > (size_t)INT_MAX)
		return MQS_ERR_TOOBIG;
	if (in_len > 0 && in[in_len - 1] == '=')
		pad++;
	if (in_len > 1 && in[in_len - 2] == '=')
		pad++;
	for (size_t i = 0; i < in_len - pad; i++) {
		if (!b64_char_ok(in[i]))
			return MQS_ERR_PARSE;
	}
	dlen = in_len / 4 * 3 - pad;
	if (dlen > max)
		return MQS_ERR_TOOBIG;
	buf = mqs_malloc(in_len / 4 * 3 + 1);
	if (buf == NULL)
		return MQS_ERR_NOMEM;
	n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)in_len);
	if (n < 0 || (size_t)n != in_len / 4 * 3) {
		mqs_secret_free(buf, in_len / 4 * 3 + 1);
		return MQS_ERR_PARSE;
	}
	*out = buf;
	*out_len = dlen;
	return MQS_OK;
}

/* Base32-encode (liboath) into a new string. */
int mqs_base32_encode(const uint8_t *in, size_t in_len, char **out)
{
	char *enc = NULL;
	size_t enc_len = 0;

	char *copy;
	int rc = MQS_OK;

	*out = NULL;
	if (oath_base32_encode((const char *)in, in_len, &enc, &enc_len) != OATH_OK) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	/* strip padding: authenticator apps and oathtool accept it unpadded */
	while (enc_len > 0 && enc[enc_len - 1] == '=')
		enc[--enc_len] = 0;
	/* liboath allocates with malloc(): hand out a block of mqs_alloc.h */
	copy = mqs_malloc(enc_len + 1);
	if (copy == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	memcpy(copy, enc, enc_len + 1);
	*out = copy;
out:
	if (enc != NULL) {
		OPENSSL_cleanse(enc, enc_len);
		free(enc);
	}
	return rc;
}

/* Base32-decode (liboath) into a new buffer. */
int mqs_base32_decode(const char *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	char *dec = NULL;
	size_t dec_len = 0;

	uint8_t *copy;
	int r, rc = MQS_OK;

	*out = NULL;
	*out_len = 0;
	if (in == NULL || in_len == 0 || in_len > 1024)
		return MQS_ERR_PARSE;
	r = oath_base32_decode(in, in_len, &dec, &dec_len);
	if (r != OATH_OK) {
		rc = r == OATH_MALLOC_ERROR ? MQS_ERR_NOMEM : MQS_ERR_PARSE;
		goto out;
	}
	/* liboath allocates with malloc(): hand out a block of mqs_alloc.h */
	copy = mqs_malloc(dec_len > 0 ? dec_len : 1);
	if (copy == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	memcpy(copy, dec, dec_len);
	*out = copy;
	*out_len = dec_len;
out:
	if (dec != NULL) {
		OPENSSL_cleanse(dec, dec_len);
		free(dec);
	}
	return rc;
}

/* Value of one hexadecimal digit, -1 for anything else. */
int mqs_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Lower-case hex of n bytes. */
void mqs_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* Current Unix time in milliseconds. */
uint64_t mqs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The HTML entity for ch, or NULL (see mqs_util.h). */
const char *mqs_html_entity(unsigned char ch)
{
	switch (ch) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&#39;";
	default:
		return NULL;
	}
}
