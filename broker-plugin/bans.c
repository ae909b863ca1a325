/* bans.c - failed-login counters and in-memory automatic bans. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "bans.h"
#include "mqs_error.h"

#define KEY_MAX 255

struct counter {
	UT_hash_handle hh;
	unsigned n;     /* failures kept */
	unsigned head;  /* oldest */
	int64_t *times; /* ring of threshold entries */
	char key[];
};

struct mem_ban {
	uint64_t seq;
	enum mqsp_match match;
	int64_t until;
	char pattern[KEY_MAX + 1];
};

struct mqsp_bans {
	struct mqsp_bans_cfg cfg;
	struct counter *users;
	struct counter *ips;
	size_t nusers, nips;
	struct mem_ban *mem; /* array of MQSP_BANS_MEM_MAX, oldest first */
	size_t nmem;
	struct mqsp_list index; /* lookup over mem */
	int reload;             /* a database ban was left out of memory */
};

/* New tables. */
struct mqsp_bans *mqsp_bans_new(const struct mqsp_bans_cfg *cfg)
{
	struct mqsp_bans *b = calloc(1, sizeof(*b));

	if (b != NULL) {
		b->cfg = *cfg;
		if (b->cfg.table_max == 0)
			b->cfg.table_max = 1;
		mqsp_list_init(&b->index);
	}
	return b;
}

/* Free one counter. */
static void counter_free(struct counter *c)
{
	free(c->times);
	free(c);
}

/* Free one table. */
static void table_free(struct counter **table)
{
	struct counter *c, *tmp;

	HASH_ITER(hh, *table, c, tmp)
	{
		HASH_DEL(*table, c);
		counter_free(c);
	}
}

/* Free everything. */
void mqsp_bans_free(struct mqsp_bans *b)
{
	if (b == NULL)
		return;
	table_free(&b->users);
	table_free(&b->ips);
	free(b->mem);
	mqsp_list_release(&b->index);
	free(b);
}

/* Find or make the counter of key (moved to the tail: the table is kept in
 * least-recent-first order); NULL when out of memory. */
static struct counter *counter_get(struct mqsp_bans *b, struct counter **table, size_t *count,
                                   unsigned threshold, const char *key, size_t len)
{
	struct counter *c = NULL;

	HASH_FIND(hh, *table, key, len, c);
	if (c != NULL) {
		HASH_DEL(*table, c);
		goto out;
	}
	if (*count >= b->cfg.table_max) {
		struct counter *oldest = *table;

		HASH_DEL(*table, oldest);
		counter_free(oldest);
		(*count)--;
	}
	c = calloc(1, sizeof(*c) + len + 1);
	if (c == NULL)
		goto out;
	c->times = calloc(threshold, sizeof(*c->times));
	if (c->times == NULL) {
		free(c);
		c = NULL;
		goto out;
	}
	memcpy(c->key, key, len + 1);
	(*count)++;
out:
	return c;
}

/* Count a failure in one table; return 1 when the key reached threshold. */
static int table_fail(struct mqsp_bans *b, struct counter **table, size_t *count,
                      unsigned threshold, const char *key, int64_t now)
{
	struct counter *c;
	size_t len = key != NULL ? strlen(key) : 0;
	int hit = 0;

	if (threshold == 0 || len == 0 || len > KEY_MAX)
		goto out;
	c = counter_get(b, table, count, threshold, key, len);
	if (c == NULL)
		goto out;
	/* drop failures that left the window */
	while (c->n > 0 && c->times[c->head] <= now - (int64_t)b->cfg.window) {
		c->head = (c->head + 1) % threshold;
		c->n--;
	}
	c->times[(c->head + c->n) % threshold] = now;
	c->n++;
	if (c->n >= threshold) {
		/* banned: the counter restarts */
		counter_free(c);
		(*count)--;
		hit = 1;
		goto out;
	}
	HASH_ADD(hh, *table, key[0], len, c);
out:
	return hit;
}

/* Count one failure. */
unsigned mqsp_bans_fail(struct mqsp_bans *b, const char *username, const char *ip, int64_t now)
{
	unsigned hit = 0;

	if (table_fail(b, &b->users, &b->nusers, b->cfg.max_user_failures, username, now))
		hit |= MQSP_BAN_USER;
	if (table_fail(b, &b->ips, &b->nips, b->cfg.max_ip_failures, ip, now))
		hit |= MQSP_BAN_IP;
	return hit;
}

/* Rebuild the lookup index from the array. */
static void index_rebuild(struct mqsp_bans *b)
{
	mqsp_list_release(&b->index);
	for (size_t i = 0; i < b->nmem; i++)
		mqsp_list_add(&b->index, b->mem[i].match, b->mem[i].pattern, b->mem[i].until);
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
int mqsp_bans_add(struct mqsp_bans *b, enum mqsp_match match, const char *pattern, int64_t until,
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
		b->mem = calloc(MQSP_BANS_MEM_MAX, sizeof(*b->mem));
		if (b->mem == NULL)
			goto out;
	}
	rc = mem_make_room(b, seq_done, now);
	if (b->nmem != before)
		index_rebuild(b);
	if (rc != MQS_OK)
		goto out;
	rc = mqsp_list_add(&b->index, match, pattern, until);
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
	return b->nmem > 0 && mqsp_list_match(&b->index, NULL, username, addr, now);
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
	return b->nusers + b->nips;
}
