/* SPDX-License-Identifier: BSD-3-Clause */
/* keys.h - the part of a snapshot that protected topics need: the protected
 * filters with the key the broker seals with, the device keys by key id,
 * and the expiry times of automatic bans (for statistics).
 *
 * Loaded inside the snapshot's read transaction, in time slices
 * (mqsp_keys_load_start/step: one unwrap per device key is the bulk of the
 * work, about 3 ms per 1,000 devices) or in one go (mqsp_keys_load), and
 * read-only afterwards.
 *
 *   - Protected filters are kept most specific first: most levels, then
 *     fewest wildcards ('+', '#'), then strcmp order; the first filter that
 *     matches a topic is the one whose key seals it (docs/acl.md).  Each
 *     carries the topic key that seals: the newest (highest id) key of
 *     that filter whose seal_after has passed and that is active or still
 *     in its grace (an announced key seals only from its seal_after on).
 *   - Device keys: active keys, and retired ones still in their grace, of
 *     ENABLED devices only, so a disabled or removed device's key stops
 *     opening with the next snapshot.  Also by device name, the newest
 *     active key of each (the key of its per-device downlink, downlink.h).
 *   - Topic keys: EVERY topic key the database holds, whatever its state
 *     (active, in grace, retired past its grace) and whether its filter is
 *     still protected, by key id: subscribers keep old keys in their
 *     credentials files, so the broker must recognise an envelope sealed
 *     with any of them on any topic (forged.h).  Never used to seal.
 *
 * Ownership: mqsp_keys_load() returns a struct freed with mqsp_keys_free()
 * (NULL is fine), which wipes every key byte.  Nothing here is shared with
 * the snapshot's arena.
 */
#ifndef MQSP_KEYS_H
#define MQSP_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>
#include "mqs_uthash.h"

#include "mqs_envelope.h"
#include "mqs_master_key.h"
#include "mqs_error.h"

#define MQSP_DEVICE_NAME_MAX 64

struct mqsp_protected {
	char *filter; /* malloc'd */
	unsigned levels;
	unsigned wildcards;
	uint32_t key_id;     /* 0: the filter has no active key (messages are dropped) */
	unsigned per_device; /* 1-based topic level naming the device (downlink.h), 0: shared key */
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
};

struct mqsp_device_key {
	UT_hash_handle hh;
	UT_hash_handle hh_name; /* in by_name: the newest active key of each device */
	uint32_t id;
	int64_t until; /* 0: active; else a retired key that opens while now <= until */
	char device[MQSP_DEVICE_NAME_MAX + 1];
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
};

struct mqsp_topic_key {
	UT_hash_handle hh;
	uint32_t id;
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
};

struct mqsp_keys {
	struct mqsp_protected *protected; /* array, most specific first */
	size_t nprotected;
	struct mqsp_device_key *dkeys;   /* array of ndkeys */
	struct mqsp_device_key *by_id;   /* uthash over dkeys */
	struct mqsp_device_key *by_name; /* uthash (hh_name): newest active key per device */
	size_t ndkeys;
	struct mqsp_topic_key *tkeys;       /* array of ntkeys: every topic key */
	struct mqsp_topic_key *tkeys_by_id; /* uthash over tkeys */
	size_t ntkeys;
	int64_t *bans; /* expires_at of automatic bans unexpired at load (0 = never) */
	size_t nbans;
	unsigned long bad_keys; /* rows skipped: key does not unwrap, name too long */
};

#define MQSP_KEYS_AGAIN 1 /* mqsp_keys_load_step: not finished yet */

struct mqsp_keys_load;

/* Start a load from db, in slices: the caller holds one read transaction
 * from the first mqsp_keys_load_step() to the last.  Keys and bans already
 * expired at now are left out.  Returns MQS_OK or MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqsp_keys_load_start(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN],
                                        int64_t now, struct mqsp_keys_load **out);

/* Load until done or until the monotonic clock (CLOCK_MONOTONIC, in ms)
 * passes deadline_ms (checked every few rows; one unwrap per device key is
 * the bulk of the work).  Returns MQSP_KEYS_AGAIN, MQS_OK with the result in
 * *out (the caller owns it), MQS_ERR_DB or MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqsp_keys_load_step(struct mqsp_keys_load *l, double deadline_ms,
                                       struct mqsp_keys **out);

/* Abandon or finish a load (wipes what it holds).  NULL is fine. */
void mqsp_keys_load_free(struct mqsp_keys_load *l);

/* Load in one go (the caller holds a read transaction): start, step
 * without deadline, free.  Returns MQS_OK, MQS_ERR_DB or MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqsp_keys_load(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                                  struct mqsp_keys **out);

/* Wipe every key and free everything.  NULL is fine. */
void mqsp_keys_free(struct mqsp_keys *k);

/* The most specific protected filter that matches topic, or NULL (also when
 * k is NULL or holds none). */
const struct mqsp_protected *mqsp_keys_match(const struct mqsp_keys *k, const char *topic);

/* The device key with this id that opens at now_s, or NULL. */
const struct mqsp_device_key *mqsp_keys_device(const struct mqsp_keys *k, uint32_t id,
                                               int64_t now_s);

/* The newest active key of the enabled device called name (name_len
 * bytes, not NUL-terminated), or NULL (also when k is NULL). */
const struct mqsp_device_key *mqsp_keys_device_named(const struct mqsp_keys *k, const char *name,
                                                     size_t name_len);

/* The topic key with this id, whatever its state, or NULL (also when k
 * is NULL).  For recognising forged envelopes only (forged.h). */
const struct mqsp_topic_key *mqsp_keys_topic(const struct mqsp_keys *k, uint32_t id);

/* Number of automatic bans still in force at now. */
size_t mqsp_keys_bans_active(const struct mqsp_keys *k, int64_t now);

/* Order protected filters most specific first (qsort comparator over
 * struct mqsp_protected). */
int mqsp_keys_protected_cmp(const void *a, const void *b);

#endif
