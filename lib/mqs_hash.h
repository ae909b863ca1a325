/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_hash.h - the hash helpers shared by the plugin's tables (replay set,
 * bans, session epochs) and lib/mqs_seen.c: the splitmix64 finaliser and a
 * seeded 64-bit FNV-1a of a string.  Not cryptographic: tables keep their
 * chains short against chosen keys by seeding them with random values.
 *
 * Ownership: pure functions; nothing is allocated, freed or kept.
 */
#ifndef MQS_HASH_H
#define MQS_HASH_H

#include <stdint.h>

/* splitmix64 finaliser: every bit of x affects every bit of the result. */
static inline uint64_t mqs_hash_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* 64-bit FNV-1a of the NUL-terminated s (NULL hashes as ""), with seed
 * XORed into the offset basis.  Not finalised: callers that need every bit
 * mixed pass the result through mqs_hash_mix64(). */
static inline uint64_t mqs_hash_fnv1a(uint64_t seed, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (const char *c = s; c != NULL && *c != '\0'; c++) {
		h ^= (uint8_t)*c;
		h *= 0x100000001b3ULL;
	}
	return h;
}

#endif
