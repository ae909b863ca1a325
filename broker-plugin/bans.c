/* SPDX-License-Identifier: BSD-3-Clause */
/* bans.c - failed-login counters and in-memory automatic bans
 * (docs/broker-plugin.md, "Failed logins and automatic bans"). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mqs_uthash.h"

#include "bans.h"
#include "mqs_alloc.h"
#include "mqs_hash.h"
#include "mqs_cidr.h"
#include "mqs_error.h"

#define KEY_MAX      255
#define PAIR_KEY_MAX (KEY_MAX + 1 + MQS_CIDR_TEXT_MAX) /* username NUL address */
#define EVICT_SCAN   32 /* places passed over to keep a pair ban in force */
#define STRIKES_MAX  32 /* repeats remembered (the length is capped long before) */

/* one distinct value (address or username) seen failing, by hash */
struct seen {
	uint64_t h;
	int64_t t; /* its last failure */
};

struct counter {
	UT_hash_handle hh;
	int64_t until;     /* end of the last ban of this key (0: none) */
	unsigned strikes;  /* bans of this key not yet forgotten */
	unsigned n;        /* failures kept */
	unsigned head;     /* oldest */
	unsigned nseen;    /* distinct values kept */
	int64_t *times;    /* ring of the table's cap_times entries */
	struct seen *seen; /* the table's cap_seen entries */
	char key[];
};

struct table {
	struct counter *head; /* uthash, least recently failing first */
	size_t count;
	unsigned cap_times; /* failures kept per key */
	unsigned cap_seen;  /* distinct values kept per key */
};

struct mem_ban {
	uint64_t seq;
	enum mqs_match match;
	int64_t until;
	char pattern[KEY_MAX + 1];
};

struct mqsp_bans {
	struct mqsp_bans_cfg cfg;
	struct table pairs, users, ips;
	uint64_t seed;       /* of the distinct-value hashes */
	int64_t pairs_until; /* no pair ban lasts beyond this (lookups skipped after) */
	struct mem_ban *mem; /* array of MQSP_BANS_MEM_MAX, oldest first */
	size_t nmem;
	struct mqs_list index; /* lookup over mem */
	int reload;            /* a database ban was left out of memory */
};

/* New tables. */
struct mqsp_bans *mqsp_bans_new(const struct mqsp_bans_cfg *cfg)
{
	struct mqsp_bans *b = mqs_calloc(1, sizeof(*b));
	unsigned f;

	if (b == NULL)
		goto out;
	b->cfg = *cfg;
	if (b->cfg.table_max == 0)
		b->cfg.table_max = 1;
	f = b->cfg.max_user_failures;
	b->pairs.cap_times = f;
	/* a username-wide ban needs as many failures as a pair ban, from
	 * user_addresses distinct addresses */
	b->users.cap_times = f;
	b->users.cap_seen = b->cfg.user_addresses;
	/* max_ip_failures 0 never bans an address, as before the distinct
	 * usernames were counted */
	if (b->cfg.max_ip_failures == 0)
		b->cfg.max_ip_usernames = 0;
	b->ips.cap_times = b->cfg.max_ip_failures;
	b->ips.cap_seen = b->cfg.max_ip_usernames;
	/* an unpredictable seed: chosen names cannot be made to collide on
	 * purpose (a collision only undercounts distinct values) */
	if (getrandom(&b->seed, sizeof(b->seed), GRND_NONBLOCK) != (ssize_t)sizeof(b->seed))
		b->seed = (uint64_t)(uintptr_t)b ^ 0x9e3779b97f4a7c15ULL;
	mqs_list_init(&b->index);
out:
	return b;
}

/* Free one counter. */
static void counter_free(struct counter *c)
{
	mqs_free(c->times);
	mqs_free(c->seen);
	mqs_free(c);
}

/* Free one table. */
static void table_free(struct table *t)
{
	struct counter *c, *tmp;

	HASH_ITER(hh, t->head, c, tmp)
	{
		HASH_DEL(t->head, c);
		counter_free(c);
	}
	t->count = 0;
}

/* Free everything. */
void mqsp_bans_free(struct mqsp_bans *b)
{
	if (b == NULL)
		return;
	table_free(&b->pairs);
	table_free(&b->users);
	table_free(&b->ips);
	mqs_free(b->mem);
	mqs_list_release(&b->index);
	mqs_free(b);
}

/* Drop one key to make room: the least recently failing one, unless its
 * ban is in force and one of the next few is not. */
static void table_evict(struct table *t, int64_t now)
{
	struct counter *victim = t->head;
	struct counter *c = t->head;

	for (unsigned i = 0; c != NULL && i < EVICT_SCAN; i++) {
		if (c->until <= now) {
			victim = c;
			break;
		}
		c = c->hh.next;
	}
	if (victim != NULL) {
		HASH_DEL(t->head, victim);
		counter_free(victim);
		t->count--;
	}
}

/* Find or make the counter of key (taken out of the table: table_put puts
 * it back at the tail, the table being kept least-recent-first); NULL when
 * out of memory. */
static struct counter *counter_take(struct mqsp_bans *b, struct table *t, const char *key,
                                    size_t len, int64_t now)
{
	struct counter *c = NULL;

	HASH_FIND(hh, t->head, key, len, c);
	if (c != NULL) {
		HASH_DEL(t->head, c);
		t->count--;
		goto out;
	}
	if (t->count >= b->cfg.table_max)
		table_evict(t, now);
	c = mqs_calloc(1, sizeof(*c) + len + 1);
	if (c == NULL)
		goto out;
	if (t->cap_times > 0)
		c->times = mqs_calloc(t->cap_times, sizeof(*c->times));
	if (t->cap_seen > 0)
		c->seen = mqs_calloc(t->cap_seen, sizeof(*c->seen));
	if ((t->cap_times > 0 && c->times == NULL) || (t->cap_seen > 0 && c->seen == NULL)) {
		counter_free(c);
		c = NULL;
		goto out;
	}
	memcpy(c->key, key, len);
out:
	return c;
}

/* Put a counter from counter_take back, at the tail; out of memory, it is
 * forgotten (freed: the ban it decided stands, its count starts over). */
static void table_put(struct table *t, struct counter *c, size_t len)
{
	HASH_ADD(hh, t->head, key[0], len, c);
	if (!mqs_uthash_added(c, hh)) {
		counter_free(c);
		return;
	}
	t->count++;
}

/* Count a failure at now in c (its table t): forget what left the window,
 * then note the time and the distinct value h (seen: it has one). */
static void counter_fail(const struct mqsp_bans *b, const struct table *t, struct counter *c,
                         int seen, uint64_t h, int64_t now)
{
	int64_t old = now - (int64_t)b->cfg.window;
	unsigned kept = 0;

	if (t->cap_times > 0) {
		while (c->n > 0 && c->times[c->head] <= old) {
			c->head = (c->head + 1) % t->cap_times;
			c->n--;
		}
		if (c->n == t->cap_times) {
			/* full: the oldest failure gives way */
			c->head = (c->head + 1) % t->cap_times;
			c->n--;
		}
		c->times[(c->head + c->n) % t->cap_times] = now;
		c->n++;
	}
	if (t->cap_seen == 0)
		goto out;
	for (unsigned i = 0; i < c->nseen; i++) {
		if (c->seen[i].t > old)
			c->seen[kept++] = c->seen[i];
	}
	c->nseen = kept;
	if (!seen)
		goto out;
	for (unsigned i = 0; i < c->nseen; i++) {
		if (c->seen[i].h == h) {
			c->seen[i].t = now;
			goto out;
		}
	}
	/* full means the threshold is reached: one more changes nothing */
	if (c->nseen < t->cap_seen)
		c->seen[c->nseen++] = (struct seen){h, now};
out:
	return;
}

/* Ban c at now for base seconds doubled for each remembered repeat (one
 * forgotten per decay_seconds since its last ban ended), capped at max; its
 * counts restart.  Returns the length; *strike is set to 1 for a first
 * ban. */
static unsigned counter_ban(const struct mqsp_bans *b, struct counter *c, unsigned base,
                            unsigned max, int64_t now, unsigned *strike)
{
	uint64_t len = base;
	uint64_t cap = max;

	if (c->strikes > 0 && b->cfg.decay_seconds > 0 && now > c->until) {
		uint64_t quiet = (uint64_t)(now - c->until) / b->cfg.decay_seconds;

		c->strikes = quiet >= c->strikes ? 0 : c->strikes - (unsigned)quiet;
	}
	for (unsigned i = 0; i < c->strikes && (cap == 0 || len < cap); i++)
		len *= 2;
	if (cap != 0 && len > cap)
		len = cap > base ? cap : base;
	if (len > UINT32_MAX)
		len = UINT32_MAX;
	if (c->strikes < STRIKES_MAX)
		c->strikes++;
	*strike = c->strikes;
	c->until = now + (int64_t)len;
	c->n = c->head = c->nseen = 0;
	return (unsigned)len;
}

/* Count one failure. */
unsigned mqsp_bans_fail(struct mqsp_bans *b, const char *username, const char *ip, unsigned count,
                        int64_t now, struct mqsp_ban_hit *hit)
{
	struct mqsp_ban_hit dummy;
	char key[PAIR_KEY_MAX + 1];
	size_t ulen = username != NULL ? strlen(username) : 0;
	size_t iplen = ip != NULL ? strlen(ip) : 0;
	struct counter *c;
	unsigned bits = 0;

	if (hit == NULL)
		hit = &dummy;
	memset(hit, 0, sizeof(*hit));
	if (iplen >= MQS_CIDR_TEXT_MAX)
		goto out;
	/* a username too long to keep as a key still counts for the address */
	if ((count & MQSP_COUNT_USER) != 0 && ulen > 0 && ulen <= KEY_MAX &&
	    b->cfg.max_user_failures > 0) {
		/* the pair: username NUL address ("" when none is known) */
		size_t len = ulen + 1 + iplen;

		memcpy(key, username, ulen);
		key[ulen] = '\0';
		memcpy(key + ulen + 1, ip != NULL ? ip : "", iplen);
		c = counter_take(b, &b->pairs, key, len, now);
		if (c != NULL) {
			counter_fail(b, &b->pairs, c, 0, 0, now);
			if (c->n >= b->cfg.max_user_failures) {
				hit->failures[MQSP_HIT_PAIR] = c->n;
				hit->seconds[MQSP_HIT_PAIR] =
				    counter_ban(b, c, b->cfg.ban_seconds, b->cfg.ban_max_seconds,
				                now, &hit->strike[MQSP_HIT_PAIR]);
				bits |= MQSP_BAN_PAIR;
				if (c->until > b->pairs_until)
					b->pairs_until = c->until;
			}
			table_put(&b->pairs, c, len);
		}
		/* the username, noting the address as one of its failing ones */
		c = b->cfg.user_addresses > 0 ? counter_take(b, &b->users, username, ulen, now)
		                              : NULL;
		if (c != NULL) {
			counter_fail(b, &b->users, c, 1,
			             mqs_hash_fnv1a(b->seed, ip != NULL ? ip : ""), now);
			if (c->n >= b->cfg.max_user_failures && c->nseen >= b->cfg.user_addresses) {
				hit->failures[MQSP_HIT_USER] = c->n;
				hit->distinct[MQSP_HIT_USER] = c->nseen;
				hit->seconds[MQSP_HIT_USER] =
				    counter_ban(b, c, b->cfg.user_ban_seconds, b->cfg.user_ban_max,
				                now, &hit->strike[MQSP_HIT_USER]);
				bits |= MQSP_BAN_USER;
			}
			table_put(&b->users, c, ulen);
		}
	}
	if ((count & MQSP_COUNT_IP) != 0 && iplen > 0 &&
	    (b->cfg.max_ip_failures > 0 || b->cfg.max_ip_usernames > 0)) {
		c = counter_take(b, &b->ips, ip, iplen, now);
		if (c != NULL) {
			counter_fail(b, &b->ips, c, ulen > 0,
			             ulen > 0 ? mqs_hash_fnv1a(b->seed, username) : 0, now);
			if ((b->cfg.max_ip_failures > 0 && c->n >= b->cfg.max_ip_failures) ||
			    (b->cfg.max_ip_usernames > 0 && c->nseen >= b->cfg.max_ip_usernames)) {
				hit->failures[MQSP_HIT_IP] = c->n;
				hit->distinct[MQSP_HIT_IP] = c->nseen;
				hit->seconds[MQSP_HIT_IP] =
				    counter_ban(b, c, b->cfg.ban_seconds, b->cfg.ban_max_seconds,
				                now, &hit->strike[MQSP_HIT_IP]);
				bits |= MQSP_BAN_IP;
			}
			table_put(&b->ips, c, iplen);
		}
	}
out:
	return bits;
}

/* The pair counter of username and addr (NULL: none known), or NULL. */
static struct counter *pair_find(const struct mqsp_bans *b, const char *username,
                                 const uint8_t *addr)
{
	char key[PAIR_KEY_MAX + 1];
	struct mqs_cidr host;
	size_t ulen = strlen(username);
	struct counter *c = NULL;

	if (ulen > KEY_MAX)
		goto out;
	key[ulen + 1] = '\0';
	if (addr != NULL) {
		memcpy(host.addr, addr, sizeof(host.addr));
		host.prefix = 128;
		/* the same canonical text as the caller of mqsp_bans_fail */
		if (mqs_cidr_format(&host, key + ulen + 1, MQS_CIDR_TEXT_MAX) != MQS_OK)
			goto out;
	}
	memcpy(key, username, ulen);
	key[ulen] = '\0';
	HASH_FIND(hh, b->pairs.head, key, ulen + 1 + strlen(key + ulen + 1), c);
out:
	return c;
}

/* Rebuild the lookup index from the array. */
static void index_rebuild(struct mqsp_bans *b)
{
	mqs_list_release(&b->index);
	for (size_t i = 0; i < b->nmem; i++)
		mqs_list_add(&b->index, b->mem[i].match, b->mem[i].pattern, b->mem[i].until);
}

/* Drop the bans keep() refuses; return how many were dropped. */
static size_t mem_filter(struct mqsp_bans *b,
                         int (*keep)(const struct mem_ban *m, uint64_t seq, int64_t now),
                         uint64_t seq, int64_t now)
{
	size_t kept = 0, dropped;

	for (size_t i = 0; i < b->nmem; i++) {
		if (keep(&b->mem[i], seq, now))
			b->mem[kept++] = b->mem[i];
	}
	dropped = b->nmem - kept;
	b->nmem = kept;
	return dropped;
}

/* Keep a ban unless it expired at now. */
static int keep_unexpired(const struct mem_ban *m, uint64_t seq, int64_t now)
{
	(void)seq;
	return m->until > now;
}

/* Keep a ban unless a snapshot with bans up to seq holds it, or it expired. */
static int keep_unheld(const struct mem_ban *m, uint64_t seq, int64_t now)
{
	return m->seq > seq && m->until > now;
}

/* Make room for one ban: expired ones first, then the oldest committed one
 * (seq <= seq_done).  Returns MQS_OK or MQS_ERR_TOOBIG. */
static int mem_make_room(struct mqsp_bans *b, uint64_t seq_done, int64_t now)
{
	int rc = MQS_OK;

	if (b->nmem < MQSP_BANS_MEM_MAX)
		goto out;
	if (mem_filter(b, keep_unexpired, 0, now) > 0)
		goto out;
	rc = MQS_ERR_TOOBIG;
	for (size_t i = 0; i < b->nmem; i++) {
		if (b->mem[i].seq > seq_done)
			continue;
		/* committed: the database copy applies again after a reload */
		memmove(b->mem + i, b->mem + i + 1, (b->nmem - i - 1) * sizeof(*b->mem));
		b->nmem--;
		b->reload = 1;
		rc = MQS_OK;
		break;
	}
out:
	return rc;
}

/* Keep a ban in memory. */
int mqsp_bans_add(struct mqsp_bans *b, enum mqs_match match, const char *pattern, int64_t until,
                  uint64_t seq, uint64_t seq_done, int64_t now)
{
	struct mem_ban *m;
	size_t len = pattern != NULL ? strlen(pattern) : 0;
	size_t before = b->nmem;
	int rc = MQS_ERR_INVAL;

	if (len == 0 || len > KEY_MAX)
		goto out;
	rc = MQS_ERR_NOMEM;
	if (b->mem == NULL) {
		b->mem = mqs_calloc(MQSP_BANS_MEM_MAX, sizeof(*b->mem));
		if (b->mem == NULL)
			goto out;
	}
	rc = mem_make_room(b, seq_done, now);
	if (b->nmem != before)
		index_rebuild(b);
	if (rc != MQS_OK)
		goto out;
	rc = mqs_list_add(&b->index, match, pattern, until);
	if (rc != MQS_OK)
		goto out;
	m = &b->mem[b->nmem++];
	m->seq = seq;
	m->match = match;
	m->until = until;
	memcpy(m->pattern, pattern, len + 1);
out:
	/* a queued ban not kept here applies once it is committed and reloaded */
	if (rc != MQS_OK && seq != MQSP_BAN_SEQ_MEMORY)
		b->reload = 1;
	return rc;
}

/* A database ban left out of memory? */
int mqsp_bans_take_reload(struct mqsp_bans *b)
{
	int r = b->reload;

	b->reload = 0;
	return r;
}

/* Match the in-memory bans. */
int mqsp_bans_match(const struct mqsp_bans *b, const char *username, const uint8_t *addr,
                    int64_t now)
{
	const struct counter *c;
	int hit = 0;

	if (b->nmem > 0 && mqs_list_match(&b->index, NULL, username, addr, now)) {
		hit = 1;
		goto out;
	}
	if (username == NULL || b->pairs_until <= now)
		goto out;
	c = pair_find(b, username, addr);
	hit = c != NULL && c->until > now;
out:
	return hit;
}

/* Drop bans a snapshot holds, and expired ones. */
void mqsp_bans_prune(struct mqsp_bans *b, uint64_t seq_done, int64_t now)
{
	if (mem_filter(b, keep_unheld, seq_done, now) > 0)
		index_rebuild(b);
}

/* Keys tracked. */
size_t mqsp_bans_tracked(const struct mqsp_bans *b)
{
	return b->pairs.count + b->users.count + b->ips.count;
}

/* Pair bans in force. */
size_t mqsp_bans_pairs_active(const struct mqsp_bans *b, int64_t now)
{
	const struct counter *c;
	size_t n = 0;

	for (c = b->pairs.head; c != NULL; c = c->hh.next) {
		if (c->until > now)
			n++;
	}
	return n;
}
