/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_lists.c - allow/deny list index. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mqs_uthash.h"

#include "mqs_alloc.h"
#include "mqs_lists.h"
#include "mqs_cidr.h"
#include "mqs_error.h"

#define PATTERN_MAX 65535

struct mqs_list_key {
	UT_hash_handle hh;
	int64_t until; /* INT64_MAX when it never expires */
	char key[];
};

struct mqs_list_net {
	UT_hash_handle hh;
	int64_t until;
	uint8_t addr[16];
};

/* Start an empty list. */
void mqs_list_init(struct mqs_list *l)
{
	memset(l, 0, sizeof(*l));
}

/* Parse the match column. */
int mqs_match_parse(const char *text, enum mqs_match *match)
{
	int rc = MQS_OK;

	if (text != NULL && strcmp(text, "clientid") == 0)
		*match = MQS_MATCH_CLIENTID;
	else if (text != NULL && strcmp(text, "username") == 0)
		*match = MQS_MATCH_USERNAME;
	else if (text != NULL && strcmp(text, "ip") == 0)
		*match = MQS_MATCH_IP;
	else
		rc = MQS_ERR_PARSE;
	return rc;
}

/* Remember the earliest expiry. */
static void note_expiry(struct mqs_list *l, int64_t expires_at)
{
	if (expires_at > 0 && (l->next_expiry == 0 || expires_at < l->next_expiry))
		l->next_expiry = expires_at;
}

/* Add a client id or username. */
static int key_add(struct mqs_list *l, struct mqs_list_key **table, const char *pattern,
                   int64_t until)
{
	struct mqs_list_key *k = NULL;
	size_t len = strlen(pattern);
	int rc = MQS_ERR_INVAL;

	if (len == 0 || len > PATTERN_MAX)
		goto out;
	rc = MQS_OK;
	HASH_FIND(hh, *table, pattern, len, k);
	if (k != NULL) {
		if (until > k->until)
			k->until = until;
		goto out;
	}
	rc = MQS_ERR_NOMEM;
	k = mqs_malloc(sizeof(*k) + len + 1);
	if (k == NULL)
		goto out;
	memset(k, 0, sizeof(*k));
	k->until = until;
	memcpy(k->key, pattern, len + 1);
	HASH_ADD(hh, *table, key[0], len, k);
	if (!mqs_uthash_added(k, hh)) {
		mqs_free(k);
		goto out;
	}
	l->count++;
	rc = MQS_OK;
out:
	return rc;
}

/* Insert a prefix length into the longest-first array. */
static void prefix_note(struct mqs_list *l, unsigned prefix)
{
	unsigned i = 0;

	while (i < l->nprefixes && l->prefixes[i] > prefix)
		i++;
	if (i < l->nprefixes && l->prefixes[i] == prefix)
		return;
	memmove(l->prefixes + i + 1, l->prefixes + i, l->nprefixes - i);
	l->prefixes[i] = (unsigned char)prefix;
	l->nprefixes++;
}

/* Add an IP network. */
static int net_add(struct mqs_list *l, const char *pattern, int64_t until)
{
	struct mqs_cidr net;
	struct mqs_list_net *n = NULL;
	int rc = MQS_ERR_PARSE;

	if (mqs_cidr_parse(pattern, &net) != MQS_OK)
		goto out;
	rc = MQS_OK;
	HASH_FIND(hh, l->nets[net.prefix], net.addr, 16, n);
	if (n != NULL) {
		if (until > n->until)
			n->until = until;
		goto out;
	}
	rc = MQS_ERR_NOMEM;
	n = mqs_calloc(1, sizeof(*n));
	if (n == NULL)
		goto out;
	n->until = until;
	memcpy(n->addr, net.addr, 16);
	HASH_ADD(hh, l->nets[net.prefix], addr, 16, n);
	if (!mqs_uthash_added(n, hh)) {
		mqs_free(n);
		goto out;
	}
	prefix_note(l, net.prefix);
	l->count++;
	rc = MQS_OK;
out:
	return rc;
}

/* Add one entry. */
int mqs_list_add(struct mqs_list *l, enum mqs_match match, const char *pattern, int64_t expires_at)
{
	int64_t until = expires_at > 0 ? expires_at : INT64_MAX;
	int rc = MQS_ERR_INVAL;

	if (l == NULL || pattern == NULL || expires_at < 0)
		return MQS_ERR_INVAL;
	if (match == MQS_MATCH_CLIENTID)
		rc = key_add(l, &l->clientids, pattern, until);
	else if (match == MQS_MATCH_USERNAME)
		rc = key_add(l, &l->usernames, pattern, until);
	else if (match == MQS_MATCH_IP)
		rc = net_add(l, pattern, until);
	if (rc == MQS_OK)
		note_expiry(l, expires_at);
	return rc;
}

/* Return 1 when an unexpired key matches s. */
static int key_match(const struct mqs_list_key *table, const char *s, int64_t now)
{
	const struct mqs_list_key *k = NULL;

	if (table != NULL && s != NULL)
		HASH_FIND(hh, table, s, strlen(s), k);
	return k != NULL && k->until > now;
}

/* Return 1 when an unexpired network holds addr. */
static int net_match(const struct mqs_list *l, const uint8_t *addr, int64_t now)
{
	int found = 0;

	for (unsigned i = 0; !found && i < l->nprefixes; i++) {
		struct mqs_cidr probe;
		const struct mqs_list_net *n = NULL;

		/* mask the address to this length, then probe the table */
		memcpy(probe.addr, addr, 16);
		probe.prefix = l->prefixes[i];
		for (unsigned b = 0; b < 16; b++) {
			unsigned bit = b * 8;

			if (bit >= probe.prefix)
				probe.addr[b] = 0;
			else if (probe.prefix - bit < 8)
				probe.addr[b] &= (uint8_t)(0xff << (8 - (probe.prefix - bit)));
		}
		HASH_FIND(hh, l->nets[probe.prefix], probe.addr, 16, n);
		found = n != NULL && n->until > now;
	}
	return found;
}

/* Match a client against the list. */
int mqs_list_match(const struct mqs_list *l, const char *clientid, const char *username,
                   const uint8_t *addr, int64_t now)
{
	if (l == NULL)
		return 0;
	if (l->match_all)
		return 1;
	return l->count > 0 &&
	       (key_match(l->clientids, clientid, now) || key_match(l->usernames, username, now) ||
	        (addr != NULL && net_match(l, addr, now)));
}

/* Why an entry cannot be used, or NULL. */
const char *mqs_list_entry_problem(const char *match, const char *pattern, int *anyone)
{
	enum mqs_match m;
	struct mqs_cidr net;
	size_t len;

	*anyone = 1;
	if (mqs_match_parse(match, &m) != MQS_OK)
		return "unknown match (want clientid, username or ip)";
	if (m == MQS_MATCH_IP) {
		if (pattern == NULL || mqs_cidr_parse(pattern, &net) != MQS_OK)
			return "not an IPv4 or IPv6 address or network";
		return NULL;
	}
	*anyone = 0;
	len = pattern != NULL ? strlen(pattern) : 0;
	if (len == 0 || len > PATTERN_MAX)
		return "empty or longer than 65535 bytes";
	return NULL;
}

/* Match every client. */
void mqs_list_match_all(struct mqs_list *l)
{
	l->match_all = 1;
}

/* Fold one expiry into *next when it is later than now and earlier. */
static void expiry_fold(int64_t until, int64_t now, int64_t *next)
{
	if (until != INT64_MAX && until > now && (*next == 0 || until < *next))
		*next = until;
}

/* Earliest expiry later than now. */
int64_t mqs_list_next_expiry(const struct mqs_list *l, int64_t now)
{
	const struct mqs_list_key *k, *ktmp;
	const struct mqs_list_net *n, *ntmp;
	int64_t next = 0;

	HASH_ITER(hh, l->clientids, k, ktmp)
	{
		expiry_fold(k->until, now, &next);
	}
	HASH_ITER(hh, l->usernames, k, ktmp)
	{
		expiry_fold(k->until, now, &next);
	}
	for (unsigned i = 0; i < l->nprefixes; i++) {
		HASH_ITER(hh, l->nets[l->prefixes[i]], n, ntmp)
		{
			expiry_fold(n->until, now, &next);
		}
	}
	return next;
}

/* Free every entry. */
void mqs_list_release(struct mqs_list *l)
{
	struct mqs_list_key *k, *ktmp;
	struct mqs_list_net *n, *ntmp;

	if (l == NULL)
		return;
	HASH_ITER(hh, l->clientids, k, ktmp)
	{
		HASH_DEL(l->clientids, k);
		mqs_free(k);
	}
	HASH_ITER(hh, l->usernames, k, ktmp)
	{
		HASH_DEL(l->usernames, k);
		mqs_free(k);
	}
	for (unsigned p = 0; p < 129; p++) {
		HASH_ITER(hh, l->nets[p], n, ntmp)
		{
			HASH_DEL(l->nets[p], n);
			mqs_free(n);
		}
	}
	mqs_list_init(l);
}
