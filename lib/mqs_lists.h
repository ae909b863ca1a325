/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_lists.h - one allow or deny list (client ids, usernames, IP networks),
 * indexed for lookups at CONNECT time.
 *
 * Client ids and usernames are exact strings in hash tables; networks are
 * grouped by prefix length, one hash table of network addresses per length,
 * so a lookup costs one hash probe per distinct prefix length in use.  Each
 * entry keeps its expiry (Unix seconds, 0 = never): an expired entry stops
 * matching at once, without a rebuild.  Duplicate patterns keep the latest
 * expiry.
 *
 * Ownership: a list owns its entries (malloc); mqs_list_release() frees
 * them.  A list is built by one thread and then only read.
 */
#ifndef MQS_LISTS_H
#define MQS_LISTS_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

enum mqs_match { MQS_MATCH_CLIENTID = 0, MQS_MATCH_USERNAME, MQS_MATCH_IP };

struct mqs_list_key;
struct mqs_list_net;

struct mqs_list {
	struct mqs_list_key *clientids; /* uthash */
	struct mqs_list_key *usernames; /* uthash */
	struct mqs_list_net *nets[129]; /* uthash per prefix length */
	unsigned char prefixes[129];    /* prefix lengths in use, longest first */
	unsigned nprefixes;
	size_t count;        /* distinct entries */
	int64_t next_expiry; /* earliest expires_at > 0, or 0 when none */
	int match_all;       /* fail closed: every client matches (mqs_list_match_all) */
};

/* Start an empty list. */
void mqs_list_init(struct mqs_list *l);

/* Add an entry.  pattern: the exact client id or username, or an address or
 * CIDR for MQS_MATCH_IP.  expires_at: Unix seconds, 0 = never.  Returns
 * MQS_OK, MQS_ERR_PARSE (bad network), MQS_ERR_INVAL, MQS_ERR_NOMEM. */
int mqs_list_add(struct mqs_list *l, enum mqs_match match, const char *pattern, int64_t expires_at);

/* Return NULL when an entry (match "clientid", "username" or "ip", and
 * pattern) can be added with mqs_list_add(), or a static lowercase reason
 * why not; then *anyone is 1 when the entry could have matched any client
 * (unknown match, unparsable address) and 0 when it could match no client
 * (an empty or over-long client id or username).  mqttsec-acl checks every
 * entry it writes with it. */
const char *mqs_list_entry_problem(const char *match, const char *pattern, int *anyone);

/* Make l match every client from now on (a deny entry that cannot be used
 * but could have matched anyone: fail closed). */
void mqs_list_match_all(struct mqs_list *l);

/* Return 1 when an unexpired entry matches the client id, the username or
 * the address (16-byte mapped form).  Any argument may be NULL. */
MQS_MUST_CHECK int mqs_list_match(const struct mqs_list *l, const char *clientid,
                                  const char *username, const uint8_t *addr, int64_t now);

/* Return the earliest expiry later than now, or 0 when none (a scan). */
int64_t mqs_list_next_expiry(const struct mqs_list *l, int64_t now);

/* Parse "clientid", "username", "ip" into *match.  Returns MQS_OK or MQS_ERR_PARSE. */
int mqs_match_parse(const char *text, enum mqs_match *match);

/* Free every entry; the list is empty again. */
void mqs_list_release(struct mqs_list *l);

#endif
