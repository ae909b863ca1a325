/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_uthash.h - uthash through the library's allocator (mqs_alloc.h;
 * docs/broker-plugin.md, "Memory"): included instead of <uthash.h> by every
 * file of the library and the plugin that keeps a uthash table, before
 * any header that includes <uthash.h> itself (the first definition of
 * uthash_malloc wins).  The tables then count toward the broker's
 * memory_limit when the plugin points the hook at mosquitto_malloc, and a
 * refused allocation of a table leaves the item out instead of ending the
 * process (HASH_NONFATAL_OOM): after every HASH_ADD / HASH_REPLACE the
 * caller checks mqs_uthash_added() and releases or skips the item.
 *
 * Ownership: the tables' own blocks (table, buckets) are released by
 * HASH_DEL/HASH_CLEAR through mqs_free(); the items stay the caller's.
 */
#ifndef MQS_UTHASH_H
#define MQS_UTHASH_H

#include "mqs_alloc.h"

#define HASH_NONFATAL_OOM    1
#define uthash_malloc(sz)    mqs_malloc(sz)
#define uthash_free(ptr, sz) mqs_free(ptr)

#include <uthash.h>

/* 1 when item went into its table by the last HASH_ADD through handle hh,
 * 0 when the table's allocation was refused (the item is not in it). */
#define mqs_uthash_added(item, hh) ((item)->hh.tbl != NULL)

#endif
