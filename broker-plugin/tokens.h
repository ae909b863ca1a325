/* SPDX-License-Identifier: BSD-3-Clause */
/* tokens.h - connect tokens at CONNECT (docs/broker-plugin.md, "Connect
 * tokens"; the token format is in lib/mqs_conntoken.h).
 *
 * A token is accepted when its tag opens under the device's K_conn for the
 * username and the (non-empty) client id of the CONNECT, its time is within
 * plugin_opt_replay_window of the broker clock, and its (username, nonce)
 * was never accepted before.  The replay state is the broker database's
 * table token_seen: each accepted nonce is committed there before the
 * CONNACK (an INSERT whose primary key refuses a second one, in its own
 * transaction; in WAL mode with synchronous=NORMAL the commit survives a
 * crash or SIGKILL of the broker, like a committed TOTP step), so a replay
 * is refused also after a restart.  The tick deletes rows whose token time
 * left the window, which bounds the table by the connect rate times two
 * windows.  Before it deletes, it commits the time it deletes below
 * (settings token_floor), and a token older than that floor is refused:
 * a restart with a wider plugin_opt_replay_window, or a clock stepped
 * back, cannot bring a pruned nonce back into the window.
 *
 * At start the plugin records whether it accepts tokens in the settings
 * table (name connect_tokens, value on|off), which mqttsec-acl reads when it
 * writes credentials ("connect_tokens": true).
 *
 * Ownership: mqsp_tokens_open() returns a state the caller frees with
 * mqsp_tokens_free() (NULL is fine) before the store is closed; it borrows
 * the store's writer connection.  Broker thread only.
 */
#ifndef MQSP_TOKENS_H
#define MQSP_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"
#include "snapshot.h"
#include "store.h"

struct mqsp_tokens;

/* Prepare the statements on the store's writer and record "connect_tokens
 * on|off" in the settings table (waiting up to busy_ms for a lock).
 * Returns MQS_OK, MQS_ERR_NOMEM or MQS_ERR_DB (a lowercase message in err). */
MQS_MUST_CHECK int mqsp_tokens_open(struct mqsp_store *store, int enabled, unsigned window_s,
                                    int busy_ms, struct mqsp_tokens **out, char *err,
                                    size_t errlen);

/* Finalize the statements and free t.  NULL is fine. */
void mqsp_tokens_free(struct mqsp_tokens *t);

/* Why the token password of device d for client id cid is refused at
 * now_ms, or NULL when it is accepted (its nonce is committed then).  When
 * the refusal is not the client's doing (a database problem) the reason is
 * written to why (whylen bytes) and why is returned; tokens being off is
 * reported with *counts = 0, every other refusal with *counts = 1 (it counts
 * toward bans).  Never logs. */
const char *mqsp_tokens_check(struct mqsp_tokens *t, const struct mqsp_device *d, const char *cid,
                              const char *password, uint64_t now_ms, char *why, size_t whylen,
                              int *counts);

#endif
