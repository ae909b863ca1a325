/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_buf.c - capped growable buffers and arrays (mqs_buf.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mqs_alloc.h"
#include "mqs_buf.h"

/* The one growth path: make *block hold at least need bytes (need <= max),
 * doubling from 64, never beyond max.  The first used bytes are kept and the
 * rest of the new block is zeroed.  A secret block is copied and the old one
 * wiped instead of realloc'd.  On failure nothing changes. */
static int grow(void **block, size_t *cap, size_t used, size_t need, size_t max, int secret)
{
	size_t ncap = *cap < 64 ? 64 : *cap;
	void *nb = NULL;
	int rc = MQS_OK;

	if (need <= *cap)
		goto out;
	if (need > max) {
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	while (ncap < need)
		ncap = ncap > max / 2 ? max : ncap * 2;
	if (ncap > max)
		ncap = max;
	if (secret) {
		nb = mqs_malloc(ncap);
		if (nb != NULL && *block != NULL)
			memcpy(nb, *block, used);
	} else {
		nb = mqs_realloc(*block, ncap);
	}
	if (nb == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	memset((uint8_t *)nb + used, 0, ncap - used);
	if (secret && *block != NULL) {
		OPENSSL_cleanse(*block, *cap);
		mqs_free(*block);
	}
	*block = nb;
	*cap = ncap;
out:
	return rc;
}

/* Start empty with a hard maximum. */
void mqs_buf_init(struct mqs_buf *b, size_t max, int secret)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max < SIZE_MAX ? max : SIZE_MAX - 1; /* room for the NUL */
	b->secret = secret;
}

/* Append n bytes, all or nothing. */
int mqs_buf_add(struct mqs_buf *b, const void *p, size_t n)
{
	void *block = b->data;
	int rc = MQS_OK;

	if (n > b->max - b->len) {
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	/* +1 for the NUL; the cap on the block is max + 1 */
	rc = grow(&block, &b->cap, b->len, b->len + n + 1, b->max + 1, b->secret);
	if (rc != MQS_OK)
		goto out;
	b->data = block;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
out:
	return rc;
}

/* Append a string. */
int mqs_buf_adds(struct mqs_buf *b, const char *s)
{
	return mqs_buf_add(b, s, strlen(s));
}

/* Append formatted text, all or nothing. */
int mqs_buf_vaddf(struct mqs_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	void *block = b->data;
	int n;
	int rc = MQS_OK;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	if ((size_t)n > b->max - b->len) {
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	rc = grow(&block, &b->cap, b->len, b->len + (size_t)n + 1, b->max + 1, b->secret);
	if (rc != MQS_OK)
		goto out;
	b->data = block;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
out:
	return rc;
}

/* Append formatted text. */
int mqs_buf_addf(struct mqs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = mqs_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

/* Contents as a string. */
const char *mqs_buf_str(const struct mqs_buf *b)
{
	return b->data != NULL ? (const char *)b->data : "";
}

/* Empty the buffer, keeping its block. */
void mqs_buf_reset(struct mqs_buf *b)
{
	if (b->data != NULL) {
		if (b->secret)
			OPENSSL_cleanse(b->data, b->len);
		b->data[0] = '\0';
	}
	b->len = 0;
}

/* Free the block. */
void mqs_buf_release(struct mqs_buf *b)
{
	if (b->data != NULL) {
		if (b->secret)
			OPENSSL_cleanse(b->data, b->cap);
		mqs_free(b->data);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* Give the block to the caller. */
char *mqs_buf_take(struct mqs_buf *b, size_t *len)
{
	char *s = (char *)b->data;

	if (s == NULL)
		s = mqs_calloc(1, 1);
	if (s != NULL && len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return s;
}

/* Reserve array room through the same growth path. */
int mqs_array_reserve(void **arr, size_t *cap, size_t need, size_t elem, size_t max, int secret)
{
	size_t bytes = *cap * elem;
	size_t maxbytes;
	int rc = MQS_OK;

	if (elem == 0) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	/* no array can have more than SIZE_MAX bytes: a larger max (SIZE_MAX
	 * for "memory is the only limit") is that many elements */
	if (max > SIZE_MAX / elem)
		max = SIZE_MAX / elem;
	if (need <= *cap)
		goto out;
	if (need > max) {
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	maxbytes = max * elem;
	rc = grow(arr, &bytes, *cap * elem, need * elem, maxbytes, secret);
	if (rc != MQS_OK)
		goto out;
	*cap = bytes / elem;
out:
	return rc;
}
