/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_rules.c - topic ACL rules of one subject as a tree of topic levels. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"
#include "mqs_rules.h"
#include "mqs_error.h"
#include "mqs_topic.h"

#define MAX_LEVELS  MQS_RULES_LEVELS_MAX
#define SUBST_STACK 512 /* substituted filters up to this size stay on the stack */
/* steps (witness levels walked) one mqs_rules_sub_possible() may take */
#define SEARCH_BUDGET (1ul << 20)

/* best keys of the rules that end at one node, per evaluation kind */
struct acl_term {
	int64_t best[MQS_RULES_KINDS]; /* allow and deny rules */
	int64_t deny[MQS_RULES_KINDS]; /* deny rules only */
};

struct acl_node {
	const char *label; /* one topic level, not NUL-terminated in general */
	size_t len;
	size_t nchild;
	struct acl_node **child; /* exact levels, sorted (after finish) */
	struct acl_node *plus;   /* '+' */
	struct acl_node *hash;   /* '#' */
	struct acl_term *term;   /* rules ending here, or NULL */
	/* build time: exact children in a list */
	struct acl_node *b_first, *b_last, *b_next;
};

/* a rule whose filter holds %u or %c */
struct acl_pattern {
	const char *filter;
	size_t len;    /* strlen(filter) */
	unsigned nsub; /* occurrences of %u and %c */
	unsigned access;
	int64_t key;
	struct acl_pattern *next;
};

struct mqs_rules_tree {
	struct acl_node root;
	struct acl_pattern *patterns;
	unsigned long nrules;
	size_t maxlev; /* levels of the deepest rule filter */
	int deny_all;  /* fail closed: deny everything (mqs_rules_tree_deny_all) */
};

static const unsigned kind_bits[MQS_RULES_KINDS] = {MQS_ACCESS_READ, MQS_ACCESS_WRITE,
                                                    MQS_ACCESS_SUB};

/* Compute the key of a rule. */
int64_t mqs_rules_key(int64_t priority, int deny)
{
	if (priority > MQS_RULES_PRIORITY_MAX)
		priority = MQS_RULES_PRIORITY_MAX;
	if (priority < -MQS_RULES_PRIORITY_MAX)
		priority = -MQS_RULES_PRIORITY_MAX;
	return priority * 2 + (deny ? 1 : 0);
}

/* Return 1 when key means allow. */
int mqs_rules_key_allows(int64_t key)
{
	return key != MQS_RULES_NONE && ((uint64_t)key & 1u) == 0;
}

/* Compare level by level: '/' sorts below every other byte. */
int mqs_rules_filter_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;

	while (*x != '\0' && *x == *y) {
		x++;
		y++;
	}
	if (*x == *y)
		return 0;
	if (*x == '\0')
		return -1;
	if (*y == '\0')
		return 1;
	if (*x == '/')
		return -1;
	if (*y == '/')
		return 1;
	return *x < *y ? -1 : 1;
}

/* New empty tree. */
struct mqs_rules_tree *mqs_rules_tree_new(struct mqs_arena *a)
{
	return mqs_arena_alloc(a, sizeof(struct mqs_rules_tree));
}

/* Return 1 when the level [s, s+len) equals text. */
static int level_is(const char *s, size_t len, const char *text)
{
	return strlen(text) == len && memcmp(s, text, len) == 0;
}

/* Compare a level with a node label. */
static int label_cmp(const char *s, size_t len, const struct acl_node *n)
{
	size_t m = len < n->len ? len : n->len;
	int c = memcmp(s, n->label, m);

	if (c != 0)
		return c;
	return len < n->len ? -1 : (len > n->len ? 1 : 0);
}

/* Return a new node for level [s, s+len) or NULL. */
static struct acl_node *node_new(struct mqs_arena *a, const char *s, size_t len)
{
	struct acl_node *n = mqs_arena_alloc(a, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->label = mqs_arena_strndup(a, s, len);
	if (n->label == NULL)
		return NULL;
	n->len = len;
	return n;
}

/* Find or create the exact child of n for a level (build time). */
static struct acl_node *child_get(struct mqs_arena *a, struct acl_node *n, const char *s,
                                  size_t len)
{
	struct acl_node *c;

	/* sorted input: the child is the last one created, or a new one */
	if (n->b_last != NULL && label_cmp(s, len, n->b_last) == 0)
		return n->b_last;
	if (n->b_last != NULL && label_cmp(s, len, n->b_last) < 0) {
		/* out of order: fall back to a scan (finish sorts anyway) */
		for (c = n->b_first; c != NULL; c = c->b_next) {
			if (label_cmp(s, len, c) == 0)
				return c;
		}
	}
	c = node_new(a, s, len);
	if (c == NULL)
		return NULL;
	if (n->b_last == NULL)
		n->b_first = c;
	else
		n->b_last->b_next = c;
	n->b_last = c;
	n->nchild++;
	return c;
}

/* Find or create the '+' or '#' child slot. */
static struct acl_node *wild_get(struct mqs_arena *a, struct acl_node **slot, const char *s)
{
	if (*slot == NULL)
		*slot = node_new(a, s, 1);
	return *slot;
}

/* Add a %u/%c rule to the pattern list. */
static int pattern_add(struct mqs_rules_tree *t, struct mqs_arena *a, const char *filter,
                       unsigned access, int64_t key)
{
	struct acl_pattern *p = mqs_arena_alloc(a, sizeof(*p));

	if (p == NULL)
		return MQS_ERR_NOMEM;
	p->len = strlen(filter);
	p->filter = mqs_arena_strndup(a, filter, p->len);
	if (p->filter == NULL)
		return MQS_ERR_NOMEM;
	for (const char *s = filter; *s != '\0'; s++) {
		if (s[0] == '%' && (s[1] == 'u' || s[1] == 'c'))
			p->nsub++;
	}
	p->access = access;
	p->key = key;
	p->next = t->patterns;
	t->patterns = p;
	return MQS_OK;
}

/* Count the levels of a filter. */
static size_t level_count(const char *filter)
{
	size_t n = 1;

	for (const char *s = filter; *s != '\0'; s++) {
		if (*s == '/')
			n++;
	}
	return n;
}

/* Why a rule cannot be used, or NULL. */
const char *mqs_rules_problem(const char *filter, unsigned access)
{
	if ((access & (MQS_ACCESS_READ | MQS_ACCESS_WRITE | MQS_ACCESS_SUB)) == 0)
		return "unknown access";
	if (filter == NULL || filter[0] == '\0')
		return "empty topic filter";
	if (mqs_topic_filter_check(filter) != MQS_OK)
		return "invalid topic filter ('+' must be a whole level, '#' the whole last level, "
		       "at most 65535 bytes)";
	if (level_count(filter) > MAX_LEVELS)
		return "topic filter deeper than 1000 levels";
	return NULL;
}

/* Deny everything. */
void mqs_rules_tree_deny_all(struct mqs_rules_tree *t)
{
	if (t != NULL)
		t->deny_all = 1;
}

/* Was t made to deny everything? */
int mqs_rules_tree_denies_all(const struct mqs_rules_tree *t)
{
	return t != NULL && t->deny_all;
}

/* Add one rule. */
int mqs_rules_tree_add(struct mqs_rules_tree *t, struct mqs_arena *a, const char *filter,
                       unsigned access, int deny, int64_t priority)
{
	int64_t key = mqs_rules_key(priority, deny);
	struct acl_node *n = &t->root;
	const char *s = filter;
	int rc = MQS_ERR_INVAL;
	size_t nlev;

	access &= MQS_ACCESS_READ | MQS_ACCESS_WRITE | MQS_ACCESS_SUB;
	if (mqs_rules_problem(filter, access) != NULL)
		goto out;
	nlev = level_count(filter);
	if (nlev > t->maxlev)
		t->maxlev = nlev;
	if (strstr(filter, "%u") != NULL || strstr(filter, "%c") != NULL) {
		rc = pattern_add(t, a, filter, access, key);
		if (rc == MQS_OK)
			t->nrules++;
		goto out;
	}
	rc = MQS_ERR_NOMEM;
	for (;;) {
		const char *e = strchr(s, '/');
		size_t len = e != NULL ? (size_t)(e - s) : strlen(s);

		if (level_is(s, len, "+"))
			n = wild_get(a, &n->plus, "+");
		else if (level_is(s, len, "#"))
			n = wild_get(a, &n->hash, "#");
		else
			n = child_get(a, n, s, len);
		if (n == NULL)
			goto out;
		if (e == NULL)
			break;
		s = e + 1;
	}
	if (n->term == NULL) {
		n->term = mqs_arena_alloc(a, sizeof(*n->term));
		if (n->term == NULL)
			goto out;
		for (int k = 0; k < MQS_RULES_KINDS; k++) {
			n->term->best[k] = MQS_RULES_NONE;
			n->term->deny[k] = MQS_RULES_NONE;
		}
	}
	for (int k = 0; k < MQS_RULES_KINDS; k++) {
		if ((access & kind_bits[k]) == 0)
			continue;
		if (key > n->term->best[k])
			n->term->best[k] = key;
		if (deny && key > n->term->deny[k])
			n->term->deny[k] = key;
	}
	t->nrules++;
	rc = MQS_OK;
out:
	return rc;
}

/* qsort comparator for child pointers. */
static int child_cmp(const void *x, const void *y)
{
	const struct acl_node *a = *(struct acl_node *const *)x;
	const struct acl_node *b = *(struct acl_node *const *)y;

	return label_cmp(a->label, a->len, b);
}

/* Turn the build lists below n into sorted arrays. */
static int node_finish(struct acl_node *n, struct mqs_arena *a)
{
	size_t i = 0;

	if (n->nchild > 0) {
		int sorted = 1;

		n->child = mqs_arena_alloc(a, n->nchild * sizeof(*n->child));
		if (n->child == NULL)
			return MQS_ERR_NOMEM;
		for (struct acl_node *c = n->b_first; c != NULL; c = c->b_next) {
			if (i > 0 && child_cmp(&n->child[i - 1], &c) > 0)
				sorted = 0;
			n->child[i++] = c;
		}
		/* rules added in mqs_rules_filter_cmp() order arrive sorted */
		if (!sorted)
			qsort(n->child, n->nchild, sizeof(*n->child), child_cmp);
	}
	for (i = 0; i < n->nchild; i++) {
		if (node_finish(n->child[i], a) != MQS_OK)
			return MQS_ERR_NOMEM;
	}
	if (n->plus != NULL && node_finish(n->plus, a) != MQS_OK)
		return MQS_ERR_NOMEM;
	n->b_first = n->b_last = n->b_next = NULL;
	return MQS_OK;
}

/* Freeze the tree. */
int mqs_rules_tree_finish(struct mqs_rules_tree *t, struct mqs_arena *a)
{
	return node_finish(&t->root, a);
}

/* Return 1 when a %c rule is in t. */
int mqs_rules_tree_uses_clientid(const struct mqs_rules_tree *t)
{
	for (const struct acl_pattern *p = t != NULL ? t->patterns : NULL; p != NULL; p = p->next) {
		if (strstr(p->filter, "%c") != NULL)
			return 1;
	}
	return 0;
}

/* Number of rules in t. */
unsigned long mqs_rules_tree_rules(const struct mqs_rules_tree *t)
{
	return t != NULL ? t->nrules : 0;
}

/* Binary search the exact child of n for a level. */
static const struct acl_node *child_find(const struct acl_node *n, const char *s, size_t len)
{
	size_t lo = 0;
	size_t hi = n->nchild;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = label_cmp(s, len, n->child[mid]);

		if (c == 0)
			return n->child[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Raise *best to v. */
static inline void upd(int64_t *best, int64_t v)
{
	if (v > *best)
		*best = v;
}

/* Apply the rules ending at n: all of them (cover) or the deny ones. */
static inline void term_apply(const struct acl_node *n, int k, int cover, int64_t *best)
{
	if (n != NULL && n->term != NULL)
		upd(best, cover ? n->term->best[k] : n->term->deny[k]);
}

/* Walk a topic; t is the start of the next level below n. */
static void walk_topic(const struct acl_node *n, const char *t, int level0, int k, int64_t *best)
{
	const char *e = strchr(t, '/');
	size_t len = e != NULL ? (size_t)(e - t) : strlen(t);
	int dollar = level0 && t[0] == '$';
	const struct acl_node *c[2];

	if (!dollar)
		term_apply(n->hash, k, 1, best);
	c[0] = n->nchild > 0 ? child_find(n, t, len) : NULL;
	c[1] = dollar ? NULL : n->plus;
	for (int i = 0; i < 2; i++) {
		if (c[i] == NULL)
			continue;
		if (e == NULL) {
			term_apply(c[i], k, 1, best);
			term_apply(c[i]->hash, k, 1, best); /* "a/#" matches "a" */
		} else {
			walk_topic(c[i], e + 1, 0, k, best);
		}
	}
}

/* Apply every deny rule at and below n. */
static void subtree_deny(const struct acl_node *n, int level0, int k, int64_t *best)
{
	term_apply(n, k, 0, best);
	for (size_t i = 0; i < n->nchild; i++) {
		if (level0 && n->child[i]->len > 0 && n->child[i]->label[0] == '$')
			continue;
		subtree_deny(n->child[i], 0, k, best);
	}
	if (n->plus != NULL)
		subtree_deny(n->plus, 0, k, best);
	term_apply(n->hash, k, 0, best);
}

static void walk_sub(const struct acl_node *n, const char *f, int level0, int cover, int k,
                     int64_t *best);

/* Continue a subscription walk into child c; e is the end of the level. */
static void sub_descend(const struct acl_node *c, const char *e, int cover, int k, int64_t *best)
{
	if (e == NULL) {
		term_apply(c, k, cover, best);
		term_apply(c->hash, k, cover, best);
	} else {
		walk_sub(c, e + 1, 0, cover, k, best);
	}
}

/* Walk a subscription filter; f is the start of the next level below n.
 * cover is 1 while the rules reached still cover the filter, 0 once the
 * filter is wider (then only deny rules, which overlap, apply). */
static void walk_sub(const struct acl_node *n, const char *f, int level0, int cover, int k,
                     int64_t *best)
{
	const char *e = strchr(f, '/');
	size_t len = e != NULL ? (size_t)(e - f) : strlen(f);
	int dollar = level0 && f[0] == '$';
	const struct acl_node *c;

	if (!dollar)
		term_apply(n->hash, k, cover, best); /* rule '#' covers the rest */
	if (level_is(f, len, "#")) {
		/* the filter also matches the topic ending at n, and all below */
		if (!level0)
			term_apply(n, k, 0, best);
		for (size_t i = 0; i < n->nchild; i++) {
			if (level0 && n->child[i]->len > 0 && n->child[i]->label[0] == '$')
				continue;
			subtree_deny(n->child[i], 0, k, best);
		}
		if (n->plus != NULL) {
			subtree_deny(n->plus, 0, k, best);
			/* "+/#" covers "#" (see mqs_rules_filter_covers) */
			if (level0)
				term_apply(n->plus->hash, k, cover, best);
		}
		return;
	}
	if (level_is(f, len, "+")) {
		for (size_t i = 0; i < n->nchild; i++) {
			if (level0 && n->child[i]->len > 0 && n->child[i]->label[0] == '$')
				continue;
			sub_descend(n->child[i], e, 0, k, best);
		}
	} else if (n->nchild > 0) {
		c = child_find(n, f, len);
		if (c != NULL)
			sub_descend(c, e, cover, k, best);
	}
	if (n->plus != NULL && !dollar)
		sub_descend(n->plus, e, cover, k, best);
}

/* Substitute %u and %c in filter into out (cap bytes); return the length or
 * (size_t)-1 when it does not fit or an identity is missing or unusable
 * (mqs_topic_identity_ok). */
static size_t subst(const char *filter, const char *username, const char *clientid, char *out,
                    size_t cap)
{
	size_t o = 0;

	for (const char *s = filter; *s != '\0'; s++) {
		const char *ins = NULL;

		if (s[0] == '%' && s[1] == 'u')
			ins = username;
		else if (s[0] == '%' && s[1] == 'c')
			ins = clientid;
		if (ins != NULL || (s[0] == '%' && (s[1] == 'u' || s[1] == 'c'))) {
			size_t l;

			if (!mqs_topic_identity_ok(ins))
				return (size_t)-1;
			l = strlen(ins);
			if (cap - o <= l)
				return (size_t)-1;
			memcpy(out + o, ins, l);
			o += l;
			s++;
			continue;
		}
		if (cap - o <= 1)
			return (size_t)-1;
		out[o++] = *s;
	}
	out[o] = '\0';
	return o;
}

/* Apply the %u/%c rules of t; concrete: topic is a topic name even for
 * k == MQS_RULES_SUB (plain matching). */
static void eval_patterns(const struct mqs_rules_tree *t, int k, int concrete, const char *topic,
                          const char *username, const char *clientid, int64_t *best)
{
	char stack[SUBST_STACK];

	for (const struct acl_pattern *p = t->patterns; p != NULL; p = p->next) {
		size_t need;
		char *buf = stack;
		int applies;

		if ((p->access & kind_bits[k]) == 0 || p->key <= *best)
			continue;
		/* each %u/%c becomes at most the longer of the two identities */
		need = strlen(username != NULL ? username : "");
		if (clientid != NULL && strlen(clientid) > need)
			need = strlen(clientid);
		need = p->len + p->nsub * need + 1;
		if (need > sizeof(stack)) {
			buf = mqs_malloc(need);
			if (buf == NULL) {
				/* cannot evaluate: a deny rule must still hold */
				if (!mqs_rules_key_allows(p->key))
					upd(best, p->key);
				continue;
			}
		}
		if (subst(p->filter, username, clientid, buf, need) == (size_t)-1)
			/* no usable identity: an allow rule cannot grant, a deny rule
			 * must still hold (fail closed) */
			applies = !mqs_rules_key_allows(p->key);
		else if (k != MQS_RULES_SUB || concrete)
			applies = mqs_topic_matches(buf, topic);
		else if (mqs_rules_key_allows(p->key))
			applies = mqs_rules_filter_covers(buf, topic);
		else
			applies = mqs_rules_filter_overlaps(buf, topic);
		if (applies)
			upd(best, p->key);
		if (buf != stack)
			mqs_free(buf);
	}
}

/* Fold the rules of t that apply into *best. */
void mqs_rules_eval(const struct mqs_rules_tree *t, enum mqs_rules_kind kind, const char *topic,
                    const char *username, const char *clientid, int64_t *best)
{
	int k = (int)kind;

	if (t == NULL || topic == NULL || topic[0] == '\0' || k < 0 || k >= MQS_RULES_KINDS)
		return;
	if (t->deny_all) {
		upd(best, mqs_rules_key(MQS_RULES_PRIORITY_MAX, 1));
		return;
	}
	if (k == MQS_RULES_SUB)
		walk_sub(&t->root, topic, 1, 1, k, best);
	else
		walk_topic(&t->root, topic, 1, k, best);
	if (t->patterns != NULL)
		eval_patterns(t, k, 0, topic, username, clientid, best);
}

/* Apply the rules ending at n to the READ and SUB keys. */
static inline void term_apply_rs(const struct acl_node *n, int64_t *br, int64_t *bs)
{
	if (n != NULL && n->term != NULL) {
		upd(br, n->term->best[MQS_RULES_READ]);
		upd(bs, n->term->best[MQS_RULES_SUB]);
	}
}

/* walk_topic() for READ and SUB at once. */
static void walk_topic_rs(const struct acl_node *n, const char *t, int level0, int64_t *br,
                          int64_t *bs)
{
	const char *e = strchr(t, '/');
	size_t len = e != NULL ? (size_t)(e - t) : strlen(t);
	int dollar = level0 && t[0] == '$';
	const struct acl_node *c[2];

	if (!dollar)
		term_apply_rs(n->hash, br, bs);
	c[0] = n->nchild > 0 ? child_find(n, t, len) : NULL;
	c[1] = dollar ? NULL : n->plus;
	for (int i = 0; i < 2; i++) {
		if (c[i] == NULL)
			continue;
		if (e == NULL) {
			term_apply_rs(c[i], br, bs);
			term_apply_rs(c[i]->hash, br, bs); /* "a/#" matches "a" */
		} else {
			walk_topic_rs(c[i], e + 1, 0, br, bs);
		}
	}
}

/* Fold READ and SUB rules for a concrete topic. */
void mqs_rules_eval_read(const struct mqs_rules_tree *t, const char *topic, const char *username,
                         const char *clientid, int64_t *best_read, int64_t *best_sub)
{
	if (t == NULL || topic == NULL || topic[0] == '\0')
		return;
	if (t->deny_all) {
		upd(best_read, mqs_rules_key(MQS_RULES_PRIORITY_MAX, 1));
		upd(best_sub, mqs_rules_key(MQS_RULES_PRIORITY_MAX, 1));
		return;
	}
	walk_topic_rs(&t->root, topic, 1, best_read, best_sub);
	if (t->patterns != NULL) {
		eval_patterns(t, MQS_RULES_READ, 1, topic, username, clientid, best_read);
		eval_patterns(t, MQS_RULES_SUB, 1, topic, username, clientid, best_sub);
	}
}

/* One level of a filter: start, length, and whether more follow. */
struct level {
	const char *s;
	size_t len;
	int more;
};

/* Read the level starting at s. */
static struct level level_at(const char *s)
{
	struct level l;
	const char *e = strchr(s, '/');

	l.s = s;
	l.len = e != NULL ? (size_t)(e - s) : strlen(s);
	l.more = e != NULL;
	return l;
}

/* Return 1 when the level is exactly "+" or "#". */
static int level_wild(struct level l)
{
	return l.len == 1 && (l.s[0] == '+' || l.s[0] == '#');
}

/* Return 1 when every topic matched by filter f is matched by rule r. */
int mqs_rules_filter_covers(const char *r, const char *f)
{
	struct level rl, fl;

	if (r == NULL || f == NULL || r[0] == '\0' || f[0] == '\0')
		return 0;
	rl = level_at(r);
	fl = level_at(f);
	/* a leading wildcard rule never matches $-topics */
	if (level_wild(rl) && !level_wild(fl) && f[0] == '$')
		return 0;
	for (int level0 = 1;; level0 = 0) {
		if (level_is(rl.s, rl.len, "#"))
			return 1;
		if (level_is(fl.s, fl.len, "#")) {
			/* only "+/#" at the first level also matches everything
			 * (deeper, f matches the parent topic, "+/#" does not) */
			return level0 && level_is(rl.s, rl.len, "+") && rl.more &&
			       strcmp(rl.s + rl.len + 1, "#") == 0;
		}
		if (!level_is(rl.s, rl.len, "+")) {
			if (level_is(fl.s, fl.len, "+"))
				return 0;
			if (rl.len != fl.len || memcmp(rl.s, fl.s, rl.len) != 0)
				return 0;
		}
		if (!rl.more && !fl.more)
			return 1;
		if (!rl.more)
			return 0;
		if (!fl.more)
			return strcmp(rl.s + rl.len + 1, "#") == 0;
		rl = level_at(rl.s + rl.len + 1);
		fl = level_at(fl.s + fl.len + 1);
	}
}

/* Return 1 when some topic is matched by both r and f. */
int mqs_rules_filter_overlaps(const char *r, const char *f)
{
	struct level rl, fl;

	if (r == NULL || f == NULL || r[0] == '\0' || f[0] == '\0')
		return 0;
	rl = level_at(r);
	fl = level_at(f);
	if (level_wild(rl) && !level_wild(fl) && f[0] == '$')
		return 0;
	if (level_wild(fl) && !level_wild(rl) && r[0] == '$')
		return 0;
	for (;;) {
		if (level_is(rl.s, rl.len, "#") || level_is(fl.s, fl.len, "#"))
			return 1;
		if (!level_is(rl.s, rl.len, "+") && !level_is(fl.s, fl.len, "+") &&
		    (rl.len != fl.len || memcmp(rl.s, fl.s, rl.len) != 0))
			return 0;
		if (!rl.more && !fl.more)
			return 1;
		if (!rl.more)
			return strcmp(fl.s + fl.len + 1, "#") == 0;
		if (!fl.more)
			return strcmp(rl.s + rl.len + 1, "#") == 0;
		rl = level_at(rl.s + rl.len + 1);
		fl = level_at(fl.s + fl.len + 1);
	}
}

/* ---- is some topic of a subscription filter allowed? ----
 *
 * A topic T matching filter F is allowed when some allow rule A matches T
 * and no rule with a greater key does.  So F holds an allowed topic only if
 * the intersection G of F and some allow rule A (itself a filter) does.
 * Within G a wildcard level is best filled with a fresh label, one no rule
 * names: every rule that matches the fresh label matches any label there,
 * so the fresh topic is matched by the fewest rules.  A trailing '#' in G is
 * tried at every depth from its parent down to one level below the deepest
 * rule (deeper topics are matched by the same rules).  Each such candidate
 * is evaluated with every rule; the first one allowed answers 1.  Allow
 * rules whose key is beaten by a deny rule of the same filter are never
 * candidates (they can win nowhere). */

/* One level: in a filter, plus marks '+'; in a candidate topic, s == NULL
 * stands for a fresh label. */
struct lv {
	const char *s;
	size_t len;
	int plus;
};

struct search {
	const struct mqs_rules_tree *const *trees;
	unsigned ntrees;
	const char *user, *cid;
	struct lv *f; /* the subscription's levels, a trailing '#' left out */
	size_t nf;
	int fh;       /* f ends with '#' */
	struct lv *a; /* the levels of the allow rule being tried */
	struct lv *g; /* the intersection, then the candidate topic */
	size_t maxd;  /* levels of the deepest rule */
	unsigned long budget;
	int found;
};

/* Split filter f into levels; a trailing '#' sets *hash instead. */
static size_t split_levels(const char *f, struct lv *out, int *hash)
{
	size_t n = 0;

	*hash = 0;
	for (;;) {
		const char *e = strchr(f, '/');
		size_t len = e != NULL ? (size_t)(e - f) : strlen(f);

		if (e == NULL && level_is(f, len, "#")) {
			*hash = 1;
			break;
		}
		out[n].s = f;
		out[n].len = len;
		out[n].plus = level_is(f, len, "+");
		n++;
		if (e == NULL)
			break;
		f = e + 1;
	}
	return n;
}

/* Return 1 for a literal level starting with '$'. */
static int lv_dollar(const struct lv *l)
{
	return l->s != NULL && !l->plus && l->len > 0 && l->s[0] == '$';
}

/* A level of G: '+' becomes a fresh label. */
static struct lv lv_topic(const struct lv *l)
{
	struct lv r = *l;

	if (r.plus)
		r.s = NULL;
	r.plus = 0;
	return r;
}

/* Intersect the subscription with the allow rule a[0..na) (+ '#' when ah)
 * into s->g; return its length (*gh: it ends with '#'), or -1 when no topic
 * matches both. */
static long intersect(struct search *s, size_t na, int ah, int *gh)
{
	const struct lv *f = s->f;
	const struct lv *a = s->a;

	for (size_t i = 0;; i++) {
		int fhash = i == s->nf && s->fh;
		int ahash = i == na && ah;
		const struct lv *rest = NULL;
		size_t nrest = 0;
		int rh = 0;

		if (fhash && ahash) {
			*gh = 1;
			return (long)i;
		}
		if (fhash) {
			rest = a;
			nrest = na;
			rh = ah;
		} else if (ahash) {
			rest = f;
			nrest = s->nf;
			rh = s->fh;
		}
		if (rest != NULL) {
			/* the '#' takes the other's remaining levels (or its
			 * parent); a leading '#' never matches a $-topic */
			if (i == 0 && nrest > 0 && lv_dollar(&rest[0]))
				return -1;
			for (size_t j = i; j < nrest; j++)
				s->g[j] = lv_topic(&rest[j]);
			*gh = rh;
			return (long)nrest;
		}
		if (i == s->nf || i == na) {
			*gh = 0;
			return i == s->nf && i == na ? (long)i : -1;
		}
		if (f[i].plus && a[i].plus) {
			s->g[i] = lv_topic(&f[i]);
		} else if (f[i].plus || a[i].plus) {
			const struct lv *lit = f[i].plus ? &a[i] : &f[i];

			if (i == 0 && lv_dollar(lit))
				return -1;
			s->g[i] = *lit;
		} else if (f[i].len != a[i].len || memcmp(f[i].s, a[i].s, f[i].len) != 0) {
			return -1;
		} else {
			s->g[i] = f[i];
		}
	}
}

/* Fold the SUB rules of the tree below n matching candidate w[i..nw). */
static void walk_witness(const struct acl_node *n, const struct lv *w, size_t i, size_t nw,
                         int64_t *best)
{
	int dollar = i == 0 && lv_dollar(&w[0]);
	const struct acl_node *c[2];

	if (!dollar)
		term_apply(n->hash, MQS_RULES_SUB, 1, best);
	c[0] = w[i].s != NULL && n->nchild > 0 ? child_find(n, w[i].s, w[i].len) : NULL;
	c[1] = dollar ? NULL : n->plus;
	for (int j = 0; j < 2; j++) {
		if (c[j] == NULL)
			continue;
		if (i + 1 == nw) {
			term_apply(c[j], MQS_RULES_SUB, 1, best);
			term_apply(c[j]->hash, MQS_RULES_SUB, 1, best);
		} else {
			walk_witness(c[j], w, i + 1, nw, best);
		}
	}
}

/* Does filter (no %u/%c left) match candidate w[0..nw)? */
static int match_witness(const char *filter, const struct lv *w, size_t nw)
{
	const char *f = filter;

	if (lv_dollar(&w[0]) && (f[0] == '+' || f[0] == '#'))
		return 0;
	for (size_t i = 0;; i++) {
		const char *e = strchr(f, '/');
		size_t fl = e != NULL ? (size_t)(e - f) : strlen(f);

		if (level_is(f, fl, "#"))
			return e == NULL;
		if (!level_is(f, fl, "+") &&
		    (w[i].s == NULL || fl != w[i].len || memcmp(f, w[i].s, fl) != 0))
			return 0;
		if (e == NULL)
			return i + 1 == nw;
		if (i + 1 == nw)
			return strcmp(e + 1, "#") == 0; /* "a/#" matches "a" */
		f = e + 1;
	}
}

/* Substitute a pattern's %u/%c into stack or a new buffer (*buf, free it
 * when it is not stack).  Returns 1 when substituted, 0 when an identity is
 * missing or unusable, -1 when out of memory. */
static int pattern_subst(const struct acl_pattern *p, const char *user, const char *cid,
                         char *stack, size_t stack_cap, char **buf)
{
	size_t need = strlen(user != NULL ? user : "");

	if (cid != NULL && strlen(cid) > need)
		need = strlen(cid);
	need = p->len + p->nsub * need + 1;
	*buf = stack;
	if (need > stack_cap) {
		*buf = malloc(need);
		if (*buf == NULL)
			return -1;
	}
	return subst(p->filter, user, cid, *buf, need) != (size_t)-1;
}

/* Evaluate candidate topic w[0..nw) with every SUB rule; 1 when allowed. */
static int witness_allowed(const struct search *s, const struct lv *w, size_t nw)
{
	char stack[SUBST_STACK];
	int64_t best = MQS_RULES_NONE;

	for (unsigned i = 0; i < s->ntrees; i++) {
		const struct mqs_rules_tree *t = s->trees[i];

		if (t == NULL)
			continue;
		if (t->deny_all)
			return 0;
		walk_witness(&t->root, w, 0, nw, &best);
		for (const struct acl_pattern *p = t->patterns; p != NULL; p = p->next) {
			char *buf;
			int r;

			if ((p->access & MQS_ACCESS_SUB) == 0 || p->key <= best)
				continue;
			r = pattern_subst(p, s->user, s->cid, stack, sizeof(stack), &buf);
			if (r < 0) {
				if (!mqs_rules_key_allows(p->key))
					upd(&best, p->key); /* cannot evaluate: deny holds */
				continue;
			}
			/* no usable identity: only a deny rule applies, to all */
			if (r == 0 ? !mqs_rules_key_allows(p->key) : match_witness(buf, w, nw))
				upd(&best, p->key);
			if (buf != stack)
				mqs_free(buf);
		}
	}
	return mqs_rules_key_allows(best);
}

/* Try one candidate topic s->g[0..nw). */
static void try_witness(struct search *s, size_t nw)
{
	if (nw == 1 && s->g[0].s != NULL && s->g[0].len == 0)
		return; /* "" is no topic */
	if (s->budget <= nw) {
		s->found = 1; /* too much work: grant, delivery is checked anyway */
		return;
	}
	s->budget -= nw + 1;
	if (witness_allowed(s, s->g, nw))
		s->found = 1;
}

/* Try the allow rule s->a[0..na) (+ '#' when ah). */
static void candidate(struct search *s, size_t na, int ah)
{
	int gh;
	long ng = intersect(s, na, ah, &gh);
	size_t lo, hi;

	if (ng < 0)
		return;
	if (!gh) {
		try_witness(s, (size_t)ng);
		return;
	}
	lo = ng > 0 ? (size_t)ng : 1;
	hi = (size_t)ng > s->maxd + 1 ? (size_t)ng : s->maxd + 1;
	for (size_t m = lo; m <= hi && !s->found; m++) {
		for (size_t j = (size_t)ng; j < m; j++) {
			s->g[j].s = NULL;
			s->g[j].len = 0;
			s->g[j].plus = 0;
		}
		try_witness(s, m);
	}
}

/* Visit the allow rules of the tree below n (path s->a[0..d)) that can
 * meet the subscription. */
static void search_tree(struct search *s, const struct acl_node *n, size_t d)
{
	int any;

	if (s->found)
		return;
	if (d > 0 && n->term != NULL && mqs_rules_key_allows(n->term->best[MQS_RULES_SUB]))
		candidate(s, d, 0);
	if (n->hash != NULL && n->hash->term != NULL &&
	    mqs_rules_key_allows(n->hash->term->best[MQS_RULES_SUB]))
		candidate(s, d, 1);
	if (s->found || (d >= s->nf && !s->fh))
		return; /* deeper rules cannot meet the subscription */
	any = d >= s->nf || s->f[d].plus;
	s->a[d].plus = 0;
	if (!any) {
		const struct acl_node *c =
		    n->nchild > 0 ? child_find(n, s->f[d].s, s->f[d].len) : NULL;

		if (c != NULL) {
			s->a[d].s = c->label;
			s->a[d].len = c->len;
			search_tree(s, c, d + 1);
		}
	} else {
		for (size_t i = 0; i < n->nchild && !s->found; i++) {
			const struct acl_node *c = n->child[i];

			/* a leading wildcard never matches a $-topic */
			if (d == 0 && c->len > 0 && c->label[0] == '$')
				continue;
			s->a[d].s = c->label;
			s->a[d].len = c->len;
			s->a[d].plus = 0;
			search_tree(s, c, d + 1);
		}
	}
	if (n->plus != NULL && !s->found && !(d == 0 && !any && lv_dollar(&s->f[0]))) {
		s->a[d].s = n->plus->label;
		s->a[d].len = 1;
		s->a[d].plus = 1;
		search_tree(s, n->plus, d + 1);
	}
}

/* Try the allow %u/%c rules of t. */
static void search_patterns(struct search *s, const struct mqs_rules_tree *t)
{
	char stack[SUBST_STACK];

	for (const struct acl_pattern *p = t->patterns; p != NULL && !s->found; p = p->next) {
		char *buf;
		int ah;
		size_t na;
		int r;

		if ((p->access & MQS_ACCESS_SUB) == 0 || !mqs_rules_key_allows(p->key))
			continue;
		r = pattern_subst(p, s->user, s->cid, stack, sizeof(stack), &buf);
		if (r < 0) {
			s->found = 1; /* out of memory: grant, delivery is checked */
			break;
		}
		if (r > 0) {
			na = split_levels(buf, s->a, &ah);
			candidate(s, na, ah);
		}
		if (buf != stack)
			mqs_free(buf);
	}
}

/* Is some topic matched by f allowed by the SUB rules of the trees? */
int mqs_rules_sub_possible(const struct mqs_rules_tree *const *trees, unsigned n, const char *f,
                           const char *username, const char *clientid)
{
	struct search s;
	int64_t best = MQS_RULES_NONE;
	size_t nlev, cap;
	int rc = 1;

	if (f == NULL || f[0] == '\0' || mqs_topic_filter_check(f) != MQS_OK)
		return 0;
	/* the common case: an allow rule covers f and beats every deny rule
	 * that overlaps it, so every topic of f is allowed */
	for (unsigned i = 0; i < n; i++)
		mqs_rules_eval(trees[i], MQS_RULES_SUB, f, username, clientid, &best);
	if (mqs_rules_key_allows(best))
		return 1;
	memset(&s, 0, sizeof(s));
	for (unsigned i = 0; i < n; i++) {
		if (trees[i] != NULL && trees[i]->deny_all)
			return 0;
		if (trees[i] != NULL && trees[i]->maxlev > s.maxd)
			s.maxd = trees[i]->maxlev;
	}
	nlev = level_count(f);
	cap = (nlev > s.maxd ? nlev : s.maxd) + 2;
	s.trees = trees;
	s.ntrees = n;
	s.user = username;
	s.cid = clientid;
	s.budget = SEARCH_BUDGET;
	s.f = mqs_malloc(nlev * sizeof(*s.f));
	s.a = mqs_malloc(cap * sizeof(*s.a));
	s.g = mqs_malloc(cap * sizeof(*s.g));
	if (s.f == NULL || s.a == NULL || s.g == NULL)
		goto out; /* out of memory: grant, delivery is checked */
	s.nf = split_levels(f, s.f, &s.fh);
	for (unsigned i = 0; i < n && !s.found; i++) {
		if (trees[i] == NULL)
			continue;
		search_tree(&s, &trees[i]->root, 0);
		search_patterns(&s, trees[i]);
	}
	rc = s.found;
out:
	mqs_free(s.f);
	mqs_free(s.a);
	mqs_free(s.g);
	return rc;
}
