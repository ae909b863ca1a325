/* arena.h - a bump allocator for the immutable parts of a plugin snapshot.
 *
 * Everything allocated from an arena lives until mqsp_arena_release(), which
 * frees every block at once.  Memory is zeroed.  Not thread-safe: one arena
 * is filled by one thread, then only read.
 */
#ifndef MQSP_ARENA_H
#define MQSP_ARENA_H

#include <stddef.h>

struct mqsp_arena_block;

struct mqsp_arena {
	struct mqsp_arena_block *head; /* newest block first */
	size_t used;                   /* bytes used in head */
	size_t total;                  /* bytes allocated from the system, all blocks */
};

/* Start an empty arena (allocates nothing yet). */
void mqsp_arena_init(struct mqsp_arena *a);

/* Return len zeroed bytes aligned for any type, or NULL when out of memory. */
void *mqsp_arena_alloc(struct mqsp_arena *a, size_t len);

/* Copy len bytes of s into the arena and NUL-terminate; NULL when out of memory. */
char *mqsp_arena_strndup(struct mqsp_arena *a, const char *s, size_t len);

/* Free every block; the arena is empty again afterwards. */
void mqsp_arena_release(struct mqsp_arena *a);

#endif
