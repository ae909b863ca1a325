/* SPDX-License-Identifier: BSD-3-Clause */
/* mem.h - the plugin's own structures through Mosquitto's allocator
 * (docs/broker-plugin.md, "Memory"): included instead of <uthash.h> by the
 * plugin modules whose tables count toward the broker's memory_limit.
 * uthash then allocates through mqs_malloc (lib/mqs_alloc.h, which the
 * plugin points at mosquitto_malloc at start), and a refused allocation
 * of a hash table leaves the item out instead of ending the process
 * (HASH_NONFATAL_OOM): callers check with mqsp_mem_added().
 *
 * Ownership: what these modules allocate is released with mqs_free(),
 * never free().
 */
#ifndef MQSP_MEM_H
#define MQSP_MEM_H

#include "mqs_uthash.h"

/* 1 when a HASH_ADD grew the table from count_before items (the item is
 * in), 0 when the allocation of the table was refused (the item is not). */
#define mqsp_mem_added(head, count_before) (HASH_COUNT(head) == (count_before) + 1u)

#endif
