/* SPDX-License-Identifier: BSD-3-Clause */
/* store.h - the plugin's two connections to the broker database, used from
 * the broker thread only (the plugin starts no thread: a second thread
 * would switch glibc's malloc into its locked multi-thread mode, which costs
 * the broker about 7% of its message rate).
 *
 * The writer connection:
 *   - records accepted TOTP steps with "UPDATE devices SET last_step = ?1
 *     WHERE name = ?2 AND last_step < ?1", a compare-and-set that only
 *     succeeds when the stored step is older: one step in its own
 *     transaction before the CONNACK (mqsp_store_save_step, with
 *     plugin_opt_totp_step_commit database), or the steps the journal made
 *     durable, many in one transaction on the tick and at start-up
 *     (mqsp_store_save_steps, the default; see journal.h).  In WAL mode with
 *     synchronous=NORMAL a commit is in the WAL file when it returns, so it
 *     survives a crash or SIGKILL of the broker (not a power loss before the
 *     next checkpoint's fsync);
 *   - queues automatic bans (a deny list entry and an audit row);
 *     mqsp_store_flush() writes them in one transaction and never waits for
 *     a lock (busy: they stay queued for the next try);
 *   - answers mqsp_store_changed() with PRAGMA data_version, which changes
 *     only when another connection (mqttsec-acl) committed, never for the
 *     plugin's own writes.
 * The reader connection (read-only) is the one snapshots are built from, so
 * a build's read transaction may stay open while the writer commits.
 *
 * Ownership: mqsp_store_open() returns a store the caller closes with
 * mqsp_store_close() (NULL is fine), which first tries to write the queued
 * bans.
 */
#ifndef MQSP_STORE_H
#define MQSP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "clientids.h"
#include "mqs_lists.h"
#include "mqs_error.h"

struct mqsp_store;

/* Open path twice (writer: migrated, must be writable; reader: read-only).
 * Returns MQS_OK, MQS_ERR_NOENT, MQS_ERR_DB, MQS_ERR_DB_VERSION, MQS_ERR_PERM
 * (read-only file), MQS_ERR_NOMEM; a lowercase message goes to err. */
MQS_MUST_CHECK int mqsp_store_open(const char *path, struct mqsp_store **out, char *err,
                                   size_t errlen);

/* Write the queued bans (waiting up to 1 s for a lock), close both
 * connections, free the store.  NULL is fine.  Returns MQS_OK, or the error
 * of that last write (MQS_ERR_DB: the queued bans are lost; the database
 * keeps the automatic bans written before). */
int mqsp_store_close(struct mqsp_store *s);

/* The read-only connection snapshots are built from. */
sqlite3 *mqsp_store_reader(struct mqsp_store *s);

/* The writer connection, for statements of other modules that commit on
 * the broker thread between the store's own transactions (tokens.h; seal
 * count reservations and automatic key rotations, seals.h; key answers,
 * keysvc.h): its busy timeout is 0 between calls; a user sets its own and
 * resets it; never leave a transaction open. */
sqlite3 *mqsp_store_writer(struct mqsp_store *s);

/* how long a CONNECT may wait for mqttsec-acl's write lock */
#define MQSP_STORE_STEP_BUSY_MS 50

/* Commit "last_step of device name = step" when the stored step is smaller,
 * waiting at most MQSP_STORE_STEP_BUSY_MS for another connection's write
 * lock.  Returns MQS_OK (committed: the code is used up), MQS_ERR_TOTP_REPLAY
 * (the stored step is not smaller, or no such device: nothing written) or
 * MQS_ERR_DB (nothing written; mqsp_store_error() says why). */
MQS_MUST_CHECK int mqsp_store_save_step(struct mqsp_store *s, const char *name, int64_t step);

/* One accepted step for mqsp_store_save_steps(); name is borrowed. */
struct mqsp_step_rec {
	const char *name;
	int64_t step;
};

/* Commit the n steps of recs in one transaction, each only where it is later
 * than the stored step (unknown devices are skipped), waiting at most
 * busy_ms for another connection's write lock.  Returns MQS_OK (also for
 * n == 0) or MQS_ERR_DB (nothing written; mqsp_store_error() says why). */
MQS_MUST_CHECK int mqsp_store_save_steps(struct mqsp_store *s, const struct mqsp_step_rec *recs,
                                         size_t n, int busy_ms);

/* Queue an automatic ban.  Returns its sequence number (> 0), or 0 when it
 * could not be queued (queue full, out of memory, pattern too long): then it
 * never reaches the database. */
MQS_MUST_CHECK uint64_t mqsp_store_save_ban(struct mqsp_store *s, enum mqs_match match,
                                            const char *pattern, int64_t now, unsigned ttl);

/* The same with a reason (list_entries.reason and the audit detail; a
 * static string): "auth-failures" for mqsp_store_save_ban, "key-flood" for
 * key request floods (keysvc.h). */
MQS_MUST_CHECK uint64_t mqsp_store_save_ban_why(struct mqsp_store *s, enum mqs_match match,
                                                const char *pattern, int64_t now, unsigned ttl,
                                                const char *reason);

/* 1 when writes (bans) are queued. */
int mqsp_store_pending(const struct mqsp_store *s);

/* Write the queued bans in one transaction.  Returns MQS_OK
 * (also when nothing was queued) or MQS_ERR_DB (nothing written, all kept;
 * mqsp_store_error() says why). */
MQS_MUST_CHECK int mqsp_store_flush(struct mqsp_store *s);

/* Every ban with a sequence number up to this one is committed. */
uint64_t mqsp_store_bans_done(const struct mqsp_store *s);

/* 1 when another connection committed since the last call that returned 1
 * (or since open), 0 when not, -1 on error. */
MQS_MUST_CHECK int mqsp_store_changed(struct mqsp_store *s);

/* Load the client id bindings (clientids.h) on the writer, waiting at most
 * busy_ms for a lock.  Returns what mqsp_clientids_load() returns. */
MQS_MUST_CHECK int mqsp_store_clientids_load(struct mqsp_store *s, struct mqsp_clientids *t,
                                             int64_t now, int busy_ms, char *err, size_t errlen);

/* Write the queued client id bindings in one transaction, waiting at most
 * busy_ms for a lock.  Returns MQS_OK or MQS_ERR_DB (all kept;
 * mqsp_store_error() says why). */
MQS_MUST_CHECK int mqsp_store_clientids_flush(struct mqsp_store *s, struct mqsp_clientids *t,
                                              int busy_ms);

/* Apply the client id releases mqttsec-acl committed (read on the writer,
 * which no snapshot build holds open).  Returns what
 * mqsp_clientids_merge() returns (mqsp_store_error() says why). */
MQS_MUST_CHECK int mqsp_store_clientids_merge(struct mqsp_store *s, struct mqsp_clientids *t,
                                              size_t *released);

/* The last SQLite error message of the writer. */
const char *mqsp_store_error(const struct mqsp_store *s);

#endif
