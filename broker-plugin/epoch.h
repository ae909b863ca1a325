/* SPDX-License-Identifier: BSD-3-Clause */
/* epoch.h - which connection a client id is on, for the retransmission
 * rule of protected topics (docs/payload-encryption.md, "Retransmissions").
 *
 * The plugin sees neither the DUP flag nor the packet id of a PUBLISH, and
 * Mosquitto runs MOSQ_EVT_MESSAGE before its own QoS 2 duplicate check, so
 * refusing a real resend would strand a QoS 2 flow.  A repeated envelope is
 * therefore accepted only as the same bytes, from the same client id, at
 * the same QoS >= 1, within the same session: the same connection, or a
 * persistent session that the new connection resumed.  Each client id has
 * an epoch, a number that names that session:
 *   - every accepted CONNECT with clean session (clean start) on gets a new
 *     epoch;
 *   - a CONNECT with clean session off keeps the epoch when the previous
 *     connection of that client id also had clean session off (Mosquitto
 *     resumes that session: its in-flight QoS 2 messages move to the new
 *     connection), else gets a new one.
 * Epochs come from one 64-bit counter and are never reused.
 *
 * Bounded: an entry is forgotten when a clean-session connection ends (its
 * epoch can never be resumed); persistent-session entries stay until the
 * map holds max entries, then the entry least recently connected goes (its
 * client, should it resume, gets a new epoch: its resend of an envelope
 * already accepted is refused as a replay - the first copy was delivered).
 * Client ids are kept as a seeded 64-bit hash, never as text.
 *
 * Ownership: mqsp_epochs_new() returns a map freed by mqsp_epochs_free()
 * (NULL is fine).  conn pointers are compared, never dereferenced.  Broker
 * thread only.
 */
#ifndef MQSP_EPOCH_H
#define MQSP_EPOCH_H

#include <stddef.h>
#include <stdint.h>

#define MQSP_EPOCHS_MAX 262144 /* entries (about 90 bytes each) */

struct mqsp_epochs;

/* New empty map holding at most max (>= 1) entries.  NULL when out of
 * memory or without randomness. */
struct mqsp_epochs *mqsp_epochs_new(size_t max);

/* Free everything.  NULL is fine. */
void mqsp_epochs_free(struct mqsp_epochs *e);

/* A CONNECT of clientid was accepted on connection conn, clean = its clean
 * session flag: returns the epoch of that connection (see above).  Out of
 * memory: a fresh epoch that is not remembered (a later resend is then
 * refused as a replay).  Never returns 0. */
uint64_t mqsp_epochs_connect(struct mqsp_epochs *e, const char *clientid, const void *conn,
                             int clean);

/* The epoch of clientid's current connection conn; when the map does not
 * know it (evicted, or let in by another plugin), the connection is
 * recorded now with a fresh epoch, as mqsp_epochs_connect() would. */
uint64_t mqsp_epochs_get(struct mqsp_epochs *e, const char *clientid, const void *conn, int clean);

/* The connection conn of clientid ended: a clean session is forgotten, a
 * persistent one kept for a resume.  An entry a newer connection owns is
 * left alone (Mosquitto ends the old connection after the new one is
 * authenticated). */
void mqsp_epochs_disconnect(struct mqsp_epochs *e, const char *clientid, const void *conn);

/* Entries held. */
size_t mqsp_epochs_count(const struct mqsp_epochs *e);

#endif
