/* bans.h - failed-login counters and the automatic bans they lead to.
 *
 * Failures are counted per username and per client address in a sliding
 * window: each key keeps the times of its recent failures (at most the
 * threshold), and when threshold failures fall within the window the key is
 * banned.  A successful login does not clear a username's failures (they
 * leave the window), so logins in between give an attacker no extra
 * guesses.  Both tables are capped; the least recently failing key is
 * evicted first, so memory stays bounded whatever an attacker sends.
 *
 * Bans are queued for the database (store.h) and kept here in memory too,
 * so they apply from the very next CONNECT; a ban is dropped from memory
 * once a snapshot that already holds it is in use (or when it expires), so
 * removing it with mqttsec-acl lifts it.  A ban that could not be queued
 * (seq MQSP_BAN_SEQ_MEMORY) stays until it expires.  The in-memory table is
 * capped (MQSP_BANS_MEM_MAX): when it is full, expired bans and then the
 * oldest ban already committed to the database make room, and the caller is
 * told to reload (mqsp_bans_take_reload) so that the database copy applies
 * again (in between, for up to a reload, the evicted ban is not enforced).
 * A ban not committed yet never leaves memory before it expires; when the
 * table is full of such bans, a new one is refused.
 *
 * Ownership: mqsp_bans_new() returns a table freed by mqsp_bans_free().
 * Broker thread only.
 */
#ifndef MQSP_BANS_H
#define MQSP_BANS_H

#include <stddef.h>
#include <stdint.h>

#include "lists.h"

#define MQSP_BAN_USER 0x01
#define MQSP_BAN_IP   0x02

#define MQSP_BANS_MEM_MAX 4096 /* in-memory bans */

/* seq of a ban that never reaches the database (only its expiry drops it) */
#define MQSP_BAN_SEQ_MEMORY UINT64_MAX

struct mqsp_bans_cfg {
	unsigned max_user_failures; /* 0 = never ban a username */
	unsigned max_ip_failures;   /* 0 = never ban an address */
	unsigned window;            /* seconds */
	size_t table_max;           /* keys per table */
};

struct mqsp_bans;

/* New empty tables, or NULL when out of memory. */
struct mqsp_bans *mqsp_bans_new(const struct mqsp_bans_cfg *cfg);

/* Free everything.  NULL is fine. */
void mqsp_bans_free(struct mqsp_bans *b);

/* Count one failure of username (NULL: none counted) from address ip
 * (canonical text, NULL: none counted) at now.  Returns MQSP_BAN_* bits of
 * the keys that reached their threshold (their counters restart). */
unsigned mqsp_bans_fail(struct mqsp_bans *b, const char *username, const char *ip, int64_t now);

/* Keep a ban in memory until until (Unix seconds).  seq is its sequence
 * number from mqsp_store_save_ban() (MQSP_BAN_SEQ_MEMORY when it could not
 * be queued), seq_done the one of the newest committed ban
 * (mqsp_store_bans_done()).  Returns MQS_OK, MQS_ERR_INVAL (bad pattern),
 * MQS_ERR_PARSE (bad address), MQS_ERR_NOMEM, or MQS_ERR_TOOBIG (the table
 * is full of bans not committed yet: not kept). */
int mqsp_bans_add(struct mqsp_bans *b, enum mqsp_match match, const char *pattern, int64_t until,
                  uint64_t seq, uint64_t seq_done, int64_t now);

/* Return 1 once (then 0 until it happens again) when a ban that is or will
 * be in the database was left out of memory: the view must be reloaded
 * after the queued bans are written. */
int mqsp_bans_take_reload(struct mqsp_bans *b);

/* Return 1 when an in-memory ban matches the username or address. */
int mqsp_bans_match(const struct mqsp_bans *b, const char *username, const uint8_t *addr,
                    int64_t now);

/* Drop bans with seq <= seq_done (now in a snapshot) and expired ones. */
void mqsp_bans_prune(struct mqsp_bans *b, uint64_t seq_done, int64_t now);

/* Number of keys in the username and address tables (for tests and logs). */
size_t mqsp_bans_tracked(const struct mqsp_bans *b);

#endif
