/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_alloc.h - the allocator hook of the library (docs/broker-plugin.md,
 * "Memory"): the broker plugin routes its own structures (replay set,
 * views, client tables, token tables) through Mosquitto's allocator, so
 * that the broker's memory_limit covers them, while the command-line
 * tools, which do not link Mosquitto, keep the C library's.  Every module
 * of the library allocates through it (tests/unit/test-alloc-faults.c
 * refuses each allocation in turn): what the library hands out is
 * released with mqs_free() or mqs_secret_free(), never free() (the same
 * thing only while the hook is the C library's).
 *
 * Ownership: a pointer from mqs_malloc/mqs_calloc/mqs_realloc/mqs_strdup
 * belongs to the caller and is released with mqs_free() (NULL is fine).
 * The hook is process-wide: set it once, before anything is allocated
 * through it, and put the C library's back (mqs_alloc_set(NULL, NULL,
 * NULL)) only after everything allocated through it was freed.  A refused
 * allocation returns NULL like malloc().
 */
#ifndef MQS_ALLOC_H
#define MQS_ALLOC_H

#include <stddef.h>

/* Route the allocations of this module to m/r/f (all three, or all NULL
 * for the C library's malloc/realloc/free). */
void mqs_alloc_set(void *(*m)(size_t), void *(*r)(void *, size_t), void (*f)(void *));

/* malloc(len) through the hook; NULL when refused. */
void *mqs_malloc(size_t len);

/* n zeroed elements of size bytes; NULL when refused or n * size overflows. */
void *mqs_calloc(size_t n, size_t size);

/* realloc(p, len) through the hook; NULL when refused (p is then intact). */
void *mqs_realloc(void *p, size_t len);

/* Free p (NULL is fine). */
void mqs_free(void *p);

/* A copy of s; NULL when refused. */
char *mqs_strdup(const char *s);

/* A copy of the first n bytes of s (fewer when s ends before), NUL-terminated;
 * NULL when refused. */
char *mqs_strndup(const char *s, size_t n);

#endif
