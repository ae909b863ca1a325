/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_text.h - text helpers for the delivery channels: valid UTF-8, length
 * caps counted the way providers count characters, one-line header values.
 *
 * Ownership: gw_text_join() returns a new NUL-terminated string the caller
 * frees with free(); NULL only when memory runs out.
 */
#ifndef GW_TEXT_H
#define GW_TEXT_H

#include <stddef.h>

/* Flags for gw_text_join(). */
#define GW_TEXT_ONELINE 1 /* every control character (newlines too) becomes a space */

/* Join a, then sep and b when both a and b are non-empty (NULL counts as
 * empty), into a new string that is valid UTF-8: invalid bytes become
 * U+FFFD, CR is dropped, other control characters except LF and TAB become a
 * space (all of them with GW_TEXT_ONELINE).  When the result would exceed
 * max_units UTF-16 code units (how LINE and Twilio count characters; a code
 * point above U+FFFF counts 2) it is cut on a code point boundary and ends
 * with U+2026 (the ellipsis counts in max_units).  max_units 0 means no cap;
 * a cap must be at least 2. */
char *gw_text_join(const char *a, const char *sep, const char *b, size_t max_units, int flags);

/* Copy s into out (outlen bytes, always NUL-terminated) keeping only ASCII
 * letters, digits and the characters in keep; every other byte becomes '_'.
 * A leading '.' also becomes '_'.  Returns out. */
char *gw_text_token(const char *s, const char *keep, char *out, size_t outlen);

#endif
