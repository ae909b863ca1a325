/* bans.c - failed-login counters and in-memory automatic bans. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "bans.h"
#include "mqs_error.h"

#define MEM_BANS_MAX 4096
#define KEY_MAX      255

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
	struct mem_ban *mem; /* array */
	size_t nmem;
	struct mqsp_list index; /* lookup over mem */
};

/* New tables. */
struct mqsp_bans *mqsp_bans_new(const struct mqsp_bans_cfg *cfg)
{
	struct mqsp_bans *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->cfg = *cfg;
	if (b->cfg.table_max == 0)
		b->cfg.table_max = 1;
	mqsp_list_init(&b->index);
	return b;
}

/* Free one table. */
static void table_free(struct counter **table)
{
	struct counter *c, *tmp;

	HASH_ITER(hh, *table, c, tmp)
	{
		HASH_DEL(*table, c);
		free(c->times);
		free(c);
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

/* Count a failure in one table; return 1 when the key reached threshold. */
static int table_fail(struct mqsp_bans *b, struct counter **table, size_t *count,
                      unsigned threshold, const char *key, int64_t now)
{
	struct counter *c = NULL;
	size_t len;

	if (threshold == 0 || key == NULL)
		return 0;
	len = strlen(key);
	if (len == 0 || len > KEY_MAX)
		return 0;
	HASH_FIND(hh, *table, key, len, c);
	if (c != NULL) {
		/* move to the tail: the table is kept in least-recent-first order */
		HASH_DEL(*table, c);
	} else {
		if (*count >= b->cfg.table_max) {
			struct counter *oldest = *table;

			HASH_DEL(*table, oldest);
			free(oldest->times);
			free(oldest);
			(*count)--;
		}
		c = calloc(1, sizeof(*c) + len + 1);
		if (c == NULL)
			return 0;
		c->times = calloc(threshold, sizeof(*c->times));
		if (c->times == NULL) {
			free(c);
			return 0;
		}
		memcpy(c->key, key, len + 1);
		(*count)++;
	}
	/* drop failures that left the window */
	while (c->n > 0 && c->times[c->head] <= now - (int64_t)b->cfg.window) {
		c->head = (c->head + 1) % threshold;
		c->n--;
	}
	c->times[(c->head + c->n) % threshold] = now;
	c->n++;
	if (c->n >= threshold) {
		free(c->times);
		free(c);
		(*count)--;
		return 1;
	}
	HASH_ADD(hh, *table, key[0], len, c);
	return 0;
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

/* Forget a username's failures. */
void mqsp_bans_success(struct mqsp_bans *b, const char *username)
{
	struct counter *c = NULL;

	if (username == NULL || b->users == NULL)
		return;
	HASH_FIND(hh, b->users, username, strlen(username), c);
	if (c != NULL) {
		HASH_DEL(b->users, c);
		free(c->times);
		free(c);
		b->nusers--;
	}
}

/* Rebuild the lookup index from the array. */
static void index_rebuild(struct mqsp_bans *b)
{
	mqsp_list_release(&b->index);
	for (size_t i = 0; i < b->nmem; i++)
		mqsp_list_add(&b->index, b->mem[i].match, b->mem[i].pattern, b->mem[i].until);
}

/* Keep a ban in memory. */
int mqsp_bans_add(struct mqsp_bans *b, enum mqsp_match match, const char *pattern, int64_t until,
                  uint64_t seq)
{
	struct mem_ban *m;
	size_t len = strlen(pattern);
	int rc;

	if (len == 0 || len > KEY_MAX)
		return MQS_ERR_INVAL;
	if (b->nmem == MEM_BANS_MAX) {
		/* full: the oldest one is in the database anyway */
		memmove(b->mem, b->mem + 1, (b->nmem - 1) * sizeof(*b->mem));
		b->nmem--;
		index_rebuild(b);
	}
	if (b->mem == NULL) {
		b->mem = calloc(MEM_BANS_MAX, sizeof(*b->mem));
		if (b->mem == NULL)
			return MQS_ERR_NOMEM;
	}
	rc = mqsp_list_add(&b->index, match, pattern, until);
	if (rc != MQS_OK)
		return rc;
	m = &b->mem[b->nmem++];
	m->seq = seq;
	m->match = match;
	m->until = until;
	memcpy(m->pattern, pattern, len + 1);
	return MQS_OK;
}

/* Match the in-memory bans. */
int mqsp_bans_match(const struct mqsp_bans *b, const char *username, const uint8_t *addr,
                    int64_t now)
{
	if (b->nmem == 0)
		return 0;
	return mqsp_list_match(&b->index, NULL, username, addr, now);
}

/* Drop bans a snapshot holds, and expired ones. */
void mqsp_bans_prune(struct mqsp_bans *b, uint64_t seq_done, int64_t now)
{
	size_t keep = 0;

	for (size_t i = 0; i < b->nmem; i++) {
		if (b->mem[i].seq <= seq_done || b->mem[i].until <= now)
			continue;
		b->mem[keep++] = b->mem[i];
	}
	if (keep != b->nmem) {
		b->nmem = keep;
		index_rebuild(b);
	}
}

/* Keys tracked. */
size_t mqsp_bans_tracked(const struct mqsp_bans *b)
{
	return b->nusers + b->nips;
}
