/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_utf8.h - the one strict UTF-8 decoder of the tree.
 *
 * Strict means: shortest form only (no overlongs), no UTF-16 surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence.  Every
 * component that has to accept, print or cut UTF-8 text goes through these
 * functions (docs/architecture.md, "lib/").
 *
 * Ownership: nothing here allocates, frees or keeps a pointer; the caller
 * owns every buffer.  A NULL pointer is only allowed with a length of 0.
 */
#ifndef MQS_UTF8_H
#define MQS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decode the code point at s (len bytes available).  Returns the length of
 * its sequence (1..4) and stores the code point in *cp, or 0 when the bytes
 * at s are not a complete strict sequence (len 0 included; *cp untouched). */
size_t mqs_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);

/* 1 when s[0..len) is strict UTF-8 throughout, else 0.  When allow_nul is 0
 * a NUL byte makes the text invalid (text that goes into C strings). */
int mqs_utf8_valid(const uint8_t *s, size_t len, int allow_nul);

/* The largest n <= max at which s[0..len) can be cut without splitting a
 * sequence: s[0..n) is what remains.  s need not be valid; a cut only moves
 * back over continuation bytes (at most 3).  Returns len when len <= max. */
size_t mqs_utf8_cut(const uint8_t *s, size_t len, size_t max);

#endif
