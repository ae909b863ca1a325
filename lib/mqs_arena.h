/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_arena.h - a bump allocator for the immutable parts of a plugin snapshot.
 *
 * Everything allocated from an arena lives until mqs_arena_release(), which
 * frees every block at once.  Memory is zeroed.  Not thread-safe: one arena
 * is filled by one thread, then only read.  Used by the rule trees
 * (mqs_rules.h) and the plugin's snapshots.
 *
 * Ownership: struct mqs_arena is owned by whoever embeds it; every block
 * and every pointer handed out belongs to the arena and is freed only by
 * mqs_arena_release() (never free() one).  A failed allocation returns NULL
 * and leaves what was allocated before intact.  Blocks come from
 * mqs_malloc (mqs_alloc.h): in the broker plugin, Mosquitto's allocator.
 */
#ifndef MQS_ARENA_H
#define MQS_ARENA_H

#include <stddef.h>

struct mqs_arena_block;

struct mqs_arena {
	struct mqs_arena_block *head; /* newest block first */
	size_t used;                  /* bytes used in head */
	size_t total;                 /* bytes allocated from the system, all blocks */
};

/* Start an empty arena (allocates nothing yet). */
void mqs_arena_init(struct mqs_arena *a);

/* Return len zeroed bytes aligned for any type, or NULL when out of memory. */
void *mqs_arena_alloc(struct mqs_arena *a, size_t len);

/* Copy len bytes of s into the arena and NUL-terminate; NULL when out of memory. */
char *mqs_arena_strndup(struct mqs_arena *a, const char *s, size_t len);

/* Free every block; the arena is empty again afterwards. */
void mqs_arena_release(struct mqs_arena *a);

#endif
