/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_store.h - the gateway database (SQLite, WAL) and its keys.
 *
 * Tables: recipients (PII encrypted, HMAC lookup columns), groups,
 * group_members, optouts, messages (one row per message id, the dedupe
 * key), outbox (one row per message, recipient and channel), escalations,
 * sensor_state, kv, key_waits (sealed messages waiting for their topic key,
 * gw_keys.h).  Schema changes are numbered migrations
 * (PRAGMA user_version, lib/mqs_db.h).
 *
 * Keys: the master key file (mqs_master_key_*) encrypts recipient fields;
 * a lookup key HMAC-SHA256(master key, "mqttsec-gateway lookup v1") keys
 * the lookup hashes.  The master key is created (0600) only together with
 * a new database: a missing key next to an existing database is refused, as
 * the recipients could no longer be read.
 *
 * Return values are enum mqs_err codes (MQS_OK = 0).
 *
 * Ownership: struct gw_store is caller-owned; gw_store_open() fills it,
 * gw_store_close() stops the checkpointer and the syncer (if started),
 * closes the database and wipes the keys (NULL-safe).
 * Statements from gw_store_prepare() belong to the caller (finalize them);
 * those of gw_store_stmt() belong to the store.
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mqs_error.h"
#include "mqs_master_key.h"

#define GW_STMT_CACHE 128
/* The label of the unsubscribe token key derived from the master key
 * (gw_unsub.h); the derived key is kept in the store. */
#define GW_STORE_UNSUB_LABEL "mqttsec-gateway unsubscribe v1"
/* The label of the key that seals stored titles and bodies (gw_outbox.h);
 * the derived key is kept in the store (gw_store_crypt_text). */
#define GW_STORE_TEXT_LABEL "mqttsec-gateway text v1"

struct gw_store_ckpt;
struct gw_store_syncer;

struct gw_store {
	sqlite3 *db;
	struct gw_store_ckpt *ckpt;     /* the checkpointer thread, NULL when none */
	struct gw_store_syncer *syncer; /* the fsync thread, NULL when none */
	uint64_t sync_gen;              /* fsyncs handed to the syncer so far */
	uint64_t sync_known;            /* ... of which known to be done */
	int sync_broken;                /* the syncer failed: fsyncs run in place again */
	uint8_t mk[MQS_MASTER_KEY_LEN];
	uint8_t lookup_key[32];
	uint8_t unsub_key[32]; /* HMAC key of unsubscribe tokens (GW_STORE_UNSUB_LABEL) */
	uint8_t text_key[32];  /* seals titles and bodies (GW_STORE_TEXT_LABEL) */
	int in_tx;
	int sync_full;          /* configured: synchronous = full */
	int cur_full;           /* what the connection uses now */
	int unsynced;           /* messages committed, fsync still owed (gw_store_sync) */
	unsigned long refusals; /* writes refused (lock, full disk): gw_store_refusals */
	struct {
		const char *sql; /* a string literal: compared by address */
		sqlite3_stmt *st;
	} cache[GW_STMT_CACHE];
	size_t ncache;
};

/* The schema as ordered migrations (index i brings user_version i to i+1);
 * released entries never change, so tests can build an old database from
 * the first ones. */
extern const char *const gw_store_schema[];
extern const int gw_store_schema_count;

/* Open (creating when absent) the database at db_path and load the master
 * key from mk_path.  sync_full selects PRAGMA synchronous = FULL.  Returns
 * MQS_OK, or an error with a lowercase reason in err and s closed. */
MQS_MUST_CHECK int gw_store_open(struct gw_store *s, const char *db_path, const char *mk_path,
                                 int sync_full, char *err, size_t errlen);

/* The page cache of the loop's connection is bounded (docs/gateway.md,
 * "Memory"): [store] cache_size, in bytes, default 2 MiB (about SQLite's
 * own default, now stated), at least 64 KiB, at most 1 GiB. */
#define GW_STORE_CACHE_DEFAULT ((size_t)2 * 1024 * 1024)
#define GW_STORE_CACHE_MIN     ((size_t)64 * 1024)
#define GW_STORE_CACHE_MAX     ((size_t)1024 * 1024 * 1024)

/* Bound the page cache of s->db at bytes (PRAGMA cache_size in KiB).
 * MQS_OK or MQS_ERR_DB. */
MQS_MUST_CHECK int gw_store_cache_set(struct gw_store *s, size_t bytes);

/* Close the database and wipe the keys.  NULL is fine. */
void gw_store_close(struct gw_store *s);

/* BEGIN IMMEDIATE: MQS_OK or MQS_ERR_DB (logged). */
MQS_MUST_CHECK int gw_store_begin(struct gw_store *s);

/* COMMIT: MQS_OK, or MQS_ERR_DB (logged) with the transaction rolled back:
 * nothing of it was stored. */
MQS_MUST_CHECK int gw_store_commit(struct gw_store *s);

/* ROLLBACK (no-op outside a transaction). */
void gw_store_rollback(struct gw_store *s);

/* Prepare sql (logged on failure); NULL on failure.  The caller finalizes. */
sqlite3_stmt *gw_store_prepare(struct gw_store *s, const char *sql);

/* A cached prepared statement for sql, which must be a string literal (the
 * cache compares addresses), reset and with its bindings cleared; NULL on
 * failure (logged).  The store owns it: release it with gw_store_done(),
 * never finalize it. */
sqlite3_stmt *gw_store_stmt(struct gw_store *s, const char *sql);

/* Reset a statement from gw_store_stmt() so it holds no read lock.  NULL ok. */
void gw_store_done(sqlite3_stmt *st);

/* Run one statement without results; MQS_OK or MQS_ERR_DB (logged). */
int gw_store_exec(struct gw_store *s, const char *sql);

/* Durability of the next commits.  With [store] synchronous = full, new
 * messages are committed with an fsync (durable=1); the engine's state
 * changes (claim, outcome) use durable=0, written to the WAL without an
 * fsync: safe against a process crash, while an OS crash or power loss may
 * lose the latest ones (the delivery then goes out again).  No-op with
 * synchronous = normal. */
void gw_store_durable(struct gw_store *s, int durable);

/* A new message was committed without an fsync: gw_store_sync() owes one. */
void gw_store_sync_later(struct gw_store *s);

/* With synchronous = full and messages committed since the last call: make
 * them durable now, with one fsync for all of them (a small write in a
 * FULL transaction syncs the whole WAL), in the caller's thread; fsyncs
 * handed to the syncer and not done yet are covered too.  The gateway
 * calls it when it stops. */
void gw_store_sync(struct gw_store *s);

/* For the daemon: a thread that makes the messages committed by s durable
 * (one fdatasync of the WAL file per request, covering every frame
 * written before it) while the caller's thread goes on (docs/gateway.md,
 * "Delivery guarantees").  Only with synchronous = full (else MQS_OK and
 * no thread).  MQS_OK, or an error (logged) with fsyncs left in place. */
int gw_store_syncer_start(struct gw_store *s);

/* The fsync owed (gw_store_sync_later): handed to the syncer, which does
 * it while the caller goes on; without a syncer (or after it failed) done
 * in place as gw_store_sync().  Watch gw_store_sync_pending(). */
void gw_store_sync_begin(struct gw_store *s);

/* 1 while an fsync is owed or handed to the syncer and not done: what
 * depends on the durability of the latest messages (their "queued"
 * status) waits; 0 when everything committed so far is durable (or
 * synchronous = normal).  Should the syncer's fsync fail, the fsync is
 * owed again (gw_store_sync_begin then runs it in place) and the syncer
 * is no longer used. */
int gw_store_sync_pending(struct gw_store *s);

/* A descriptor that becomes readable when the syncer finished an fsync
 * (for the caller's poll), -1 without a syncer; gw_store_sync_collect()
 * empties it. */
int gw_store_sync_fd(const struct gw_store *s);
void gw_store_sync_collect(struct gw_store *s);

/* For the daemon's event loop: never wait for another connection's lock
 * longer than about a millisecond (the busy timeout of gw_store_open is
 * replaced); a write that meets a lock fails at once and the caller retries
 * it later (docs/gateway.md, delivery guarantees). */
void gw_store_nowait(struct gw_store *s);

/* For the daemon: move WAL checkpoints off the caller's thread
 * (docs/gateway.md, "Delivery guarantees"): a thread with a connection of
 * its own folds the WAL into the database (PASSIVE checkpoints: it never
 * takes the write lock, so no write of s waits for it) whenever s's commits
 * have grown the WAL by GW_STORE_CKPT_PAGES pages, and at least once a
 * second while the WAL is not empty; s's automatic checkpoints are turned
 * off, but at GW_STORE_CKPT_MAX_PAGES s checkpoints itself.  db_path is
 * the database s opened.  MQS_OK, or an error (logged) with the automatic
 * checkpoints of s left on. */
#define GW_STORE_CKPT_PAGES 256
/* ... and from this WAL size on the connection s checkpoints itself after
 * a commit, so that the WAL is bounded however long the writes go on: the
 * frames committed since the thread's last pass, when they are no more
 * than GW_STORE_CKPT_CATCHUP_PAGES (or than a quarter of the WAL's growth
 * past this size) and no pass runs; else the thread is woken, s never
 * waits for it ... */
#define GW_STORE_CKPT_MAX_PAGES     4096
#define GW_STORE_CKPT_CATCHUP_PAGES 64
/* ... and at this size all of them, waiting for a pass that runs */
#define GW_STORE_CKPT_HARD_PAGES 16384
int gw_store_checkpointer_start(struct gw_store *s, const char *db_path);

/* Memory held by SQLite (docs/gateway.md, "Memory"), in bytes: its whole
 * heap in this process (every connection) and that heap's high-water
 * mark; the page cache of the loop's connection s->db and of the
 * checkpointer's (0 when none). */
struct gw_store_mem {
	int64_t sqlite_used, sqlite_peak;
	int64_t cache_loop, cache_ckpt;
};

/* Fill *m (thread-safe: the checkpointer's connection is only read). */
void gw_store_mem_get(struct gw_store *s, struct gw_store_mem *m);

/* Fold the WAL into the database soon: the checkpointer is woken, or
 * (without one) a PASSIVE checkpoint runs now on s. */
void gw_store_checkpoint(struct gw_store *s);

/* How many times the database refused a write for a reason that may pass
 * (busy or locked, disk full, I/O error, read-only): a counter that only
 * grows.  Compare it before and after an operation to learn whether the
 * operation met such a refusal and is worth retrying. */
unsigned long gw_store_refusals(const struct gw_store *s);

/* kv table: small persistent values (e.g. the last TOTP step used).
 * get: MQS_OK, MQS_ERR_NOENT (absent) or MQS_ERR_DB.  set: MQS_OK or
 * MQS_ERR_DB (logged). */
int gw_store_kv_get_int(struct gw_store *s, const char *key, int64_t *value);
MQS_MUST_CHECK int gw_store_kv_set_int(struct gw_store *s, const char *key, int64_t value);

/* Id of the row that sql ("SELECT id FROM t WHERE name = ?") finds for
 * name: the id, -1 when there is none, -2 on a database error. */
int64_t gw_store_id_of(struct gw_store *s, const char *sql, const char *name);

/* Run sql (an UPDATE or DELETE with one parameter, name) and require it to
 * change a row.  MQS_OK, MQS_ERR_NOENT ("no <what> <name>" in err, name
 * shown only when name_ok) or MQS_ERR_DB. */
int gw_store_change_named(struct gw_store *s, const char *sql, const char *name, const char *what,
                          int name_ok, char *err, size_t errlen);

/* Largest blob gw_store_crypt() seals (a medical record with its topic,
 * a campaign). */
#define GW_STORE_CRYPT_MAX (2u * 1024 * 1024)

/* AES-256-GCM under HMAC-derived key mqs_master_key_derive(master key,
 * label), binding aad (aad_len bytes): encrypt = 1 seals in into *out =
 * version 0x01 | 12-byte random nonce | ciphertext | 16-byte tag;
 * encrypt = 0 opens such a blob into *out.  *out is malloc'd (*out_len
 * bytes), owned by the caller, who wipes it (mqs_secret_free) when it
 * holds an opened payload; NULL on failure.  Used for stored payloads
 * (gw_outbox.h, label "mqttsec-gateway body v1") and campaigns
 * (gw_review.h, "mqttsec-gateway campaign v1").  Returns MQS_OK,
 * MQS_ERR_UNWRAP (does not open: wrong key, label or aad, damaged),
 * MQS_ERR_TOOBIG (more than GW_STORE_CRYPT_MAX), MQS_ERR_NOMEM or
 * MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int gw_store_crypt(const struct gw_store *s, const char *label, int encrypt,
                                  const char *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                                  uint8_t **out, size_t *out_len);

/* gw_store_crypt(s, GW_STORE_TEXT_LABEL, ...) with the key derived once at
 * open rather than per call (a delivery opens a title and a body): the
 * same blobs, the same returns and ownership. */
MQS_MUST_CHECK int gw_store_crypt_text(const struct gw_store *s, int encrypt, const char *aad,
                                       size_t aad_len, const uint8_t *in, size_t in_len,
                                       uint8_t **out, size_t *out_len);

#endif
