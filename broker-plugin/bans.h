/* bans.h - failed-login counters and the automatic bans they lead to.
 *
 * Failures are counted per username and per client address in a sliding
 * window: each key keeps the times of its recent failures (at most the
 * threshold), and when threshold failures fall within the window the key is
 * banned.  Both tables are capped; the least recently failing key is
 * evicted first, so memory stays bounded whatever an attacker sends.
 *
 * Bans are written to the database by the worker and kept here in memory
 * too, so they apply from the very next CONNECT; a ban is dropped from
 * memory once a snapshot that already holds it is in use (or when it
 * expires), so removing it with mqttsec-acl lifts it.
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

/* Forget the failures of username after a successful login. */
void mqsp_bans_success(struct mqsp_bans *b, const char *username);

/* Keep a ban in memory until until (Unix seconds); seq is its worker
 * sequence number.  Returns MQS_OK or MQS_ERR_NOMEM/MQS_ERR_PARSE. */
int mqsp_bans_add(struct mqsp_bans *b, enum mqsp_match match, const char *pattern, int64_t until,
                  uint64_t seq);

/* Return 1 when an in-memory ban matches the username or address. */
int mqsp_bans_match(const struct mqsp_bans *b, const char *username, const uint8_t *addr,
                    int64_t now);

/* Drop bans with seq <= seq_done (now in a snapshot) and expired ones. */
void mqsp_bans_prune(struct mqsp_bans *b, uint64_t seq_done, int64_t now);

/* Number of keys in the username and address tables (for tests and logs). */
size_t mqsp_bans_tracked(const struct mqsp_bans *b);

#endif
