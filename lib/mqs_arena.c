/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_arena.c - bump allocator for snapshot data. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"
#include "mqs_arena.h"

#define BLOCK_SIZE (256 * 1024)
#define ALIGN      16

struct mqs_arena_block {
	struct mqs_arena_block *next;
	size_t cap;
	_Alignas(ALIGN) unsigned char data[];
};

/* Start an empty arena. */
void mqs_arena_init(struct mqs_arena *a)
{
	a->head = NULL;
	a->used = 0;
	a->total = 0;
}

/* Allocate len zeroed, aligned bytes. */
void *mqs_arena_alloc(struct mqs_arena *a, size_t len)
{
	struct mqs_arena_block *b;
	size_t need = (len + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	void *p;

	if (len == 0)
		need = ALIGN;
	if (need < len)
		return NULL;
	if (a->head == NULL || a->head->cap - a->used < need) {
		size_t cap = need > BLOCK_SIZE / 4 ? need : BLOCK_SIZE;

		b = mqs_malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->cap = cap;
		a->total += sizeof(*b) + cap;
		if (cap != BLOCK_SIZE && a->head != NULL) {
			/* a large one-off block goes behind the current one */
			b->next = a->head->next;
			a->head->next = b;
			memset(b->data, 0, need);
			return b->data;
		}
		b->next = a->head;
		a->head = b;
		a->used = 0;
	}
	p = a->head->data + a->used;
	a->used += need;
	memset(p, 0, need);
	return p;
}

/* Copy a string of len bytes into the arena. */
char *mqs_arena_strndup(struct mqs_arena *a, const char *s, size_t len)
{
	char *d = mqs_arena_alloc(a, len + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* Free every block. */
void mqs_arena_release(struct mqs_arena *a)
{
	struct mqs_arena_block *b = a->head;

	while (b != NULL) {
		struct mqs_arena_block *next = b->next;

		mqs_free(b);
		b = next;
	}
	mqs_arena_init(a);
}
