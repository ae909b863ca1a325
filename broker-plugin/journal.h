/* SPDX-License-Identifier: BSD-3-Clause */
/* journal.h - the step journal: an append-only file that makes an accepted
 * TOTP time step durable before its CONNACK at the cost of one write(2).
 *
 * Why: committing each accepted step to SQLite before the CONNACK costs the
 * broker thread 13-15 us per CONNECT (locks, two pwrites, page work), a
 * quarter of what Mosquitto itself spends on a connection.  Appending one
 * short line to a file is one write(2) (bench-plugin.sh: 76 us of broker
 * CPU per CONNECT against 90 us with the commit) and gives the same
 * durability as a WAL commit with synchronous=NORMAL: the line is in the
 * kernel's page cache when write() returns, so it survives a crash or
 * SIGKILL of the broker, not a power loss before the kernel writes it
 * back.  The tick folds the remembered steps into the database in one
 * transaction and then empties the journal; at start-up the plugin reads
 * what a previous run left in it (mqsp_journal_read) before it accepts any
 * CONNECT.
 *
 * File format (text, one record per line, written by one write(2)):
 *
 *     <step> <device name> <check>\n
 *
 * step is a decimal time step, the name a device name (1-255 bytes, no
 * space, no control character), check is 8 lowercase hex digits of the
 * 32-bit FNV-1a hash of "<step> <device name>".  A line that does not parse
 * or whose check does not match (a torn write after a power loss, zeroes
 * left by the filesystem) is skipped and counted; later steps of a device
 * supersede earlier ones.
 *
 * The file is created 0600 next to the database (<db>-steps, beside SQLite's
 * <db>-wal) and must be a regular file; it is opened O_APPEND, written by
 * the broker thread only, and locked (flock) while open: one broker per
 * journal, since a fold empties it.
 *
 * Ownership: mqsp_journal_open() returns a journal the caller frees with
 * mqsp_journal_free() (NULL is fine); the path is copied.  On failure
 * nothing is allocated and a lowercase message is in err.
 */
#ifndef MQSP_JOURNAL_H
#define MQSP_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

struct mqsp_journal;

/* longest device name a record holds */
#define MQSP_JOURNAL_NAME_MAX 255

/* Open (creating 0600) and lock the journal at path, waiting up to a
 * second for the lock.  Returns MQS_OK, MQS_ERR_IO (cannot open, create or
 * lock; errno kept), MQS_ERR_PERM (not a regular file, or a symbolic link),
 * MQS_ERR_EXISTS (another process holds the lock), MQS_ERR_NOMEM. */
MQS_MUST_CHECK int mqsp_journal_open(const char *path, struct mqsp_journal **out, char *err,
                                     size_t errlen);

/* Close the file and free j.  NULL is fine.  Records stay in the file. */
void mqsp_journal_free(struct mqsp_journal *j);

/* Called once per valid record in file order; a nonzero return stops the
 * read with that value. */
typedef int (*mqsp_journal_fn)(void *ctx, const char *name, int64_t step);

/* Read every record in the file and hand each valid one to fn.  *bad (may
 * be NULL) gets the number of lines skipped as damaged.  A last line
 * without its newline (a write cut short) is cut off the file, so that the
 * next record starts a line of its own.  Returns MQS_OK, MQS_ERR_IO (read
 * error; errno kept) or what fn returned. */
int mqsp_journal_read(struct mqsp_journal *j, mqsp_journal_fn fn, void *ctx, size_t *bad);

/* Append one record with a single write(2).  Returns MQS_OK (the record is
 * in the file), MQS_ERR_INVAL (name empty, too long, or holding a space or
 * control character; step negative: nothing written) or MQS_ERR_IO (errno
 * kept; any partial line is cut off again so that the next record starts
 * on a line of its own). */
MQS_MUST_CHECK int mqsp_journal_append(struct mqsp_journal *j, const char *name, int64_t step);

/* Records appended (or found at open) since the file was last emptied. */
size_t mqsp_journal_records(const struct mqsp_journal *j);

/* Empty the file (every record in it is in the database now).  Returns
 * MQS_OK or MQS_ERR_IO (errno kept; the records stay, which is harmless:
 * folding them again changes nothing). */
MQS_MUST_CHECK int mqsp_journal_reset(struct mqsp_journal *j);

/* Make what the file holds durable (fdatasync): the records appended and
 * an emptying.  For the rare records that must survive a power loss too
 * (docs/broker-plugin.md, "Connect tokens").  Returns MQS_OK or MQS_ERR_IO
 * (errno kept). */
MQS_MUST_CHECK int mqsp_journal_sync(struct mqsp_journal *j);

/* The path the journal was opened with. */
const char *mqsp_journal_path(const struct mqsp_journal *j);

#endif
