/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_buf.h - the one capped growable buffer of the tree.
 *
 * Modelled on curl's dynbuf: every buffer has a hard maximum fixed at init,
 * and all growth, of byte buffers (struct mqs_buf) and of arrays
 * (mqs_array_reserve), goes through one growth path.  A buffer made with
 * secret != 0 never leaves a copy behind: growth allocates, copies and wipes
 * the old block instead of realloc(), and reset/release wipe what was used.
 *
 * Ownership: struct mqs_buf is owned by whoever holds it (usually embedded
 * in a larger struct or on the stack); its data block is owned by the buffer
 * until mqs_buf_take() hands it to the caller, who then frees it with free(),
 * or with mqs_secret_free(p, len) for a secret buffer.  mqs_buf_release()
 * frees the block and leaves the buffer empty and reusable with the same
 * maximum.  On any failure the buffer keeps its previous contents (nothing
 * is appended in part) and the caller still owns it.
 *
 * The bytes are always followed by a NUL that is not counted in len, so a
 * text buffer can be read with mqs_buf_str().
 */
#ifndef MQS_BUF_H
#define MQS_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

struct mqs_buf {
	uint8_t *data; /* NULL until the first append */
	size_t len;    /* bytes used, without the trailing NUL */
	size_t cap;    /* bytes allocated */
	size_t max;    /* hard cap on len */
	int secret;    /* wipe on growth, reset and release */
};

/* Make b empty with a hard maximum of max bytes (max >= 1). */
void mqs_buf_init(struct mqs_buf *b, size_t max, int secret);

/* Append n bytes.  MQS_OK, MQS_ERR_TOOBIG (len + n > max; nothing is
 * appended) or MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqs_buf_add(struct mqs_buf *b, const void *p, size_t n);

/* Append a NUL-terminated string (without its NUL); as mqs_buf_add. */
MQS_MUST_CHECK int mqs_buf_adds(struct mqs_buf *b, const char *s);

/* Append printf-formatted text; as mqs_buf_add, and MQS_ERR_INVAL when the
 * format cannot be expanded. */
MQS_MUST_CHECK int mqs_buf_addf(struct mqs_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
MQS_MUST_CHECK int mqs_buf_vaddf(struct mqs_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The contents as a C string ("" when empty); valid until the next call
 * that changes b. */
const char *mqs_buf_str(const struct mqs_buf *b);

/* Drop the contents (wiped when secret), keeping the block for reuse. */
void mqs_buf_reset(struct mqs_buf *b);

/* Wipe (when secret) and free the block; b is empty again, same maximum. */
void mqs_buf_release(struct mqs_buf *b);

/* Hand the NUL-terminated block to the caller (*len may be NULL) and leave
 * b empty.  Returns a new empty string for an empty buffer; NULL only when
 * that allocation fails. */
char *mqs_buf_take(struct mqs_buf *b, size_t *len);

/* Make room for at least need elements of elem bytes in the array *arr of
 * *cap elements, never more than max elements: on success *arr and *cap may
 * change (the first *cap elements are kept; new ones are zeroed).  With
 * secret != 0 the old block is wiped and freed instead of realloc'd.
 * max is clamped to SIZE_MAX / elem (SIZE_MAX means "memory is the only
 * limit").  MQS_OK, MQS_ERR_TOOBIG (need > max), MQS_ERR_NOMEM or
 * MQS_ERR_INVAL (elem 0); on failure *arr and *cap are unchanged. */
MQS_MUST_CHECK int mqs_array_reserve(void **arr, size_t *cap, size_t need, size_t elem, size_t max,
                                     int secret);

#endif
