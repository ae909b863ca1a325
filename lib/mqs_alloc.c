/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_alloc.c - the allocator hook (mqs_alloc.h). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"

static void *(*hook_malloc)(size_t) = malloc;
static void *(*hook_realloc)(void *, size_t) = realloc;
static void (*hook_free)(void *) = free;

/* Set the hook. */
void mqs_alloc_set(void *(*m)(size_t), void *(*r)(void *, size_t), void (*f)(void *))
{
	if (m == NULL || r == NULL || f == NULL) {
		hook_malloc = malloc;
		hook_realloc = realloc;
		hook_free = free;
		return;
	}
	hook_malloc = m;
	hook_realloc = r;
	hook_free = f;
}

/* malloc through the hook. */
void *mqs_malloc(size_t len)
{
	void *p = hook_malloc(len > 0 ? len : 1);

	return p;
}

/* calloc through the hook. */
void *mqs_calloc(size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	p = mqs_malloc(n * size);
	if (p != NULL)
		memset(p, 0, n * size > 0 ? n * size : 1);
	return p;
}

/* realloc through the hook. */
void *mqs_realloc(void *p, size_t len)
{
	return hook_realloc(p, len > 0 ? len : 1);
}

/* free through the hook. */
void mqs_free(void *p)
{
	if (p != NULL)
		hook_free(p);
}

/* strdup through the hook. */
char *mqs_strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *c = mqs_malloc(len);

	if (c != NULL)
		memcpy(c, s, len);
	return c;
}

/* strndup through the hook. */
char *mqs_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *c = mqs_malloc(len + 1);

	if (c != NULL) {
		memcpy(c, s, len);
		c[len] = '\0';
	}
	return c;
}
