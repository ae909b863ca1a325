/* SPDX-License-Identifier: BSD-3-Clause */
/* bans.h - failed-login counters and the automatic bans they lead to
 * (docs/broker-plugin.md, "Failed logins and automatic bans").
 *
 * Three tables count failures in a sliding window:
 *   - (username, address) pairs: max_user_failures failures ban that pair
 *     only, in memory (a correct code from another address still works);
 *   - usernames: a username-wide ban only when its failures come from at
 *     least user_addresses distinct addresses (shorter first ban);
 *   - addresses: a ban of every username from it when max_ip_failures
 *     failures or max_ip_usernames distinct failing usernames are seen, so
 *     that a NAT whose devices fail now and then is not banned but an
 *     address spraying usernames is.
 * Every ban of a key is longer than the last one (doubling up to
 * ban_max_seconds, user_ban_max for usernames); each decay_seconds without
 * a ban of that key forgets one step.  A successful login clears no count (failures leave the
 * window only).  Each table holds at most table_max keys; the least recently failing key goes first
 * (a pair whose ban is in force is passed over for a few places), so memory stays bounded whatever
 * an attacker sends.
 *
 * Username-wide and address bans are queued for the database (store.h) and
 * kept here in memory too, so they apply from the very next CONNECT; such a
 * ban is dropped from memory once a snapshot that already holds it is in
 * use (or when it expires), so removing it with mqttsec-acl lifts it.  A
 * ban that could not be queued (seq MQSP_BAN_SEQ_MEMORY) stays until it
 * expires.  The in-memory table is capped (MQSP_BANS_MEM_MAX): when it is
 * full, expired bans and then the oldest ban already committed to the
 * database make room, and the caller is told to reload
 * (mqsp_bans_take_reload) so that the database copy applies again (in
 * between, for up to a reload, the evicted ban is not enforced).  A ban not
 * committed yet never leaves memory before it expires; when the table is
 * full of such bans, a new one is refused.  Pair bans live in the pair
 * table only (never in the database: a restart lifts them).
 *
 * Ownership: mqsp_bans_new() returns a table freed by mqsp_bans_free().
 * Broker thread only.
 */
#ifndef MQSP_BANS_H
#define MQSP_BANS_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_lists.h"
#include "mqs_error.h"

#define MQSP_BAN_USER 0x01 /* the username from every address (database) */
#define MQSP_BAN_IP   0x02 /* the address for every username (database) */
#define MQSP_BAN_PAIR 0x04 /* the username from one address (memory only) */

/* what a failure counts for (mqsp_bans_fail) */
#define MQSP_COUNT_USER 0x01 /* its (username, address) pair and its username */
#define MQSP_COUNT_IP   0x02 /* its address */

#define MQSP_BANS_MEM_MAX 4096 /* in-memory bans */

/* seq of a ban that never reaches the database (only its expiry drops it) */
#define MQSP_BAN_SEQ_MEMORY UINT64_MAX

struct mqsp_bans_cfg {
	unsigned max_user_failures; /* per (username, address); 0 = never ban a username */
	unsigned user_addresses;    /* distinct addresses for a username-wide ban; 0 = never */
	unsigned max_ip_failures;   /* failures from one address; 0 = never ban one */
	unsigned max_ip_usernames;  /* distinct usernames failing there; 0 = not this way */
	unsigned window;            /* seconds */
	unsigned ban_seconds;       /* first ban of a pair or an address */
	unsigned user_ban_seconds;  /* first username-wide ban */
	unsigned ban_max_seconds;   /* longest pair or address ban (0: no cap) */
	unsigned user_ban_max;      /* longest username-wide ban (0: no cap) */
	unsigned decay_seconds;     /* quiet seconds that forget one repeat (0: never) */
	size_t table_max;           /* keys per table */
};

/* the bans one failure led to (mqsp_bans_fail) */
struct mqsp_ban_hit {
	unsigned seconds[3];  /* length, by kind: HIT_PAIR, HIT_USER, HIT_IP */
	unsigned strike[3];   /* 1 for a key's first ban, 2 for the next... */
	unsigned failures[3]; /* failures in the window that led to it */
	unsigned distinct[3]; /* distinct addresses (user), usernames (address) */
};

#define MQSP_HIT_PAIR 0
#define MQSP_HIT_USER 1
#define MQSP_HIT_IP   2

struct mqsp_bans;

/* New empty tables, or NULL when out of memory. */
struct mqsp_bans *mqsp_bans_new(const struct mqsp_bans_cfg *cfg);

/* Free everything.  NULL is fine. */
void mqsp_bans_free(struct mqsp_bans *b);

/* Count one failure of username (NULL: none) from address ip (canonical
 * text, IPv4-mapped IPv6 as IPv4; NULL or "": none known) at now, for what
 * count says (MQSP_COUNT_* bits; the address also notes username as one of
 * its failing usernames).  Returns the MQSP_BAN_* bits of the keys that are
 * banned now (their counters restart), with lengths and reasons in *hit
 * (may be NULL).  A pair ban is in force here from now on. */
MQS_MUST_CHECK unsigned mqsp_bans_fail(struct mqsp_bans *b, const char *username, const char *ip,
                                       unsigned count, int64_t now, struct mqsp_ban_hit *hit);

/* Keep a ban in memory until until (Unix seconds).  seq is its sequence
 * number from mqsp_store_save_ban() (MQSP_BAN_SEQ_MEMORY when it could not
 * be queued), seq_done the one of the newest committed ban
 * (mqsp_store_bans_done()).  Returns MQS_OK, MQS_ERR_INVAL (bad pattern),
 * MQS_ERR_PARSE (bad address), MQS_ERR_NOMEM, or MQS_ERR_TOOBIG (the table
 * is full of bans not committed yet: not kept). */
MQS_MUST_CHECK int mqsp_bans_add(struct mqsp_bans *b, enum mqs_match match, const char *pattern,
                                 int64_t until, uint64_t seq, uint64_t seq_done, int64_t now);

/* Return 1 once (then 0 until it happens again) when a ban that is or will
 * be in the database was left out of memory: the view must be reloaded
 * after the queued bans are written. */
int mqsp_bans_take_reload(struct mqsp_bans *b);

/* Return 1 when an in-memory ban matches the username or address, or a
 * pair ban matches both (addr NULL: the pair of no known address). */
MQS_MUST_CHECK int mqsp_bans_match(const struct mqsp_bans *b, const char *username,
                                   const uint8_t *addr, int64_t now);

/* Drop bans with seq <= seq_done (now in a snapshot) and expired ones. */
void mqsp_bans_prune(struct mqsp_bans *b, uint64_t seq_done, int64_t now);

/* Number of keys in the pair, username and address tables (for tests and
 * logs). */
size_t mqsp_bans_tracked(const struct mqsp_bans *b);

/* Number of pair bans in force at now (for logs and tests). */
size_t mqsp_bans_pairs_active(const struct mqsp_bans *b, int64_t now);

#endif
