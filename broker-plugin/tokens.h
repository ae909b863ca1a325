/* SPDX-License-Identifier: BSD-3-Clause */
/* tokens.h - connect tokens at CONNECT (docs/broker-plugin.md, "Connect
 * tokens"; the token format is in lib/mqs_conntoken.h).
 *
 * A token is accepted when its tag opens under the device's K_conn for the
 * username and the (non-empty) client id of the CONNECT, its time is within
 * plugin_opt_replay_window of the broker clock, and its (username, nonce)
 * was never accepted before.  The accepted nonces of the window are held in
 * memory (at most a million; beyond, each is committed on its own); each
 * new one is made durable before the CONNACK by one line in the token
 * journal <db>-tokens (the step journal's format and rules, journal.h: one
 * write(2), survives a crash or SIGKILL of the broker), which the tick folds
 * into the table token_seen once a second and then empties.  At start the
 * nonces of token_seen still inside the window and what the journal holds
 * are loaded before any CONNECT, so a replay is refused also after a
 * restart.  The tick deletes nonces whose token time left the window;
 * before it does, it commits the time it deletes below (settings
 * token_floor), and a token older than that floor is refused: a restart
 * with a wider plugin_opt_replay_window, or a clock stepped back, cannot
 * bring a pruned nonce back into the window.  While token_seen may hold a
 * nonce memory does not (memory was full), every nonce is committed, so
 * the primary key still refuses a replay.
 * With plugin_opt_totp_step_commit database (several brokers on one
 * database) there is no token journal: each nonce is committed to
 * token_seen before the CONNACK, whose primary key refuses a second one
 * from any broker.
 *
 * Power loss (docs/broker-plugin.md, "Connect tokens"): a clean stop commits
 * with synchronous=FULL and ends the journal with a fsynced clean-stop
 * record; a start whose existing journal does not end with one (and every
 * start in database mode) raises token_floor past the start time, so a
 * nonce the power loss dropped cannot be replayed; tokens over a second
 * ahead of the broker clock are fsynced before the CONNACK instead.  In
 * database mode the floor is re-read once a second, so a peer's raise
 * applies here too.
 *
 * At start the plugin records whether it accepts tokens in the settings
 * table (name connect_tokens, value on|off), which mqttsec-acl reads when it
 * writes credentials ("connect_tokens": true).
 *
 * K_conn of up to 4096 devices is kept in memory, so a token costs no
 * HKDF; an entry is used only while the device's TOTP secret is the one it
 * was derived from, and wiped when dropped.
 *
 * Ownership: mqsp_tokens_open() returns a state the caller frees with
 * mqsp_tokens_free() (NULL is fine) before the store is closed; it borrows
 * the store's writer connection.  Broker thread only.
 */
#ifndef MQSP_TOKENS_H
#define MQSP_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "mqs_error.h"
#include "snapshot.h"
#include "store.h"

struct mqsp_tokens;

/* Prepare the statements on the store's writer, record "connect_tokens
 * on|off" in the settings table, open and lock the token journal at
 * journal_path (NULL: none, commit each nonce), load the nonces of the window and fold the journal
 * (waiting up to busy_ms for a lock).  Returns MQS_OK, MQS_ERR_NOMEM,
 * MQS_ERR_DB, or a mqsp_journal_open() error (a lowercase message in err):
 * the broker must not start then, or tokens could be replayed. */
MQS_MUST_CHECK int mqsp_tokens_open(struct mqsp_store *store, const char *journal_path, int enabled,
                                    unsigned window_s, int busy_ms, struct mqsp_tokens **out,
                                    char *err, size_t errlen);

/* Fold what only the journal holds (waiting up to a second), record a
 * clean stop (journal mode), close the journal, finalize the statements and
 * free t.  NULL is fine. */
void mqsp_tokens_free(struct mqsp_tokens *t);

/* Why the token password of device d for client id cid is refused at
 * now_ms, or NULL when it is accepted (its nonce is committed then).  When
 * the refusal is not the client's doing (a database problem) the reason is
 * written to why (whylen bytes) and why is returned; tokens being off is
 * reported with *counts = 0, and so is a right token made before an unclean
 * start; every other refusal with *counts = 1 (it counts toward bans).
 * Keeps d's K_conn in d (snapshot.h).  Never logs. */
const char *mqsp_tokens_check(struct mqsp_tokens *t, struct mqsp_device *d, const char *cid,
                              const char *password, uint64_t now_ms, char *why, size_t whylen,
                              int *counts);

#endif
