/* acl.c - topic ACL rules of one subject as a tree of topic levels. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "mqs_error.h"
#include "mqs_topic.h"

#define MAX_LEVELS  1000 /* deepest rule filter accepted (bounds recursion) */
#define SUBST_STACK 512  /* substituted filters up to this size stay on the stack */

/* best keys of the rules that end at one node, per evaluation kind */
struct acl_term {
	int64_t best[MQSP_ACL_KINDS]; /* allow and deny rules */
	int64_t deny[MQSP_ACL_KINDS]; /* deny rules only */
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

struct mqsp_acl_tree {
	struct acl_node root;
	struct acl_pattern *patterns;
	unsigned long nrules;
};

static const unsigned kind_bits[MQSP_ACL_KINDS] = {MQSP_ACCESS_READ, MQSP_ACCESS_WRITE,
                                                   MQSP_ACCESS_SUB};

/* Compute the key of a rule. */
int64_t mqsp_acl_key(int64_t priority, int deny)
{
	if (priority > MQSP_PRIORITY_MAX)
		priority = MQSP_PRIORITY_MAX;
	if (priority < -MQSP_PRIORITY_MAX)
		priority = -MQSP_PRIORITY_MAX;
	return priority * 2 + (deny ? 1 : 0);
}

/* Return 1 when key means allow. */
int mqsp_acl_key_allows(int64_t key)
{
	return key != MQSP_ACL_NONE && ((uint64_t)key & 1u) == 0;
}

/* Compare level by level: '/' sorts below every other byte. */
int mqsp_acl_filter_cmp(const char *a, const char *b)
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
struct mqsp_acl_tree *mqsp_acl_tree_new(struct mqsp_arena *a)
{
	return mqsp_arena_alloc(a, sizeof(struct mqsp_acl_tree));
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
static struct acl_node *node_new(struct mqsp_arena *a, const char *s, size_t len)
{
	struct acl_node *n = mqsp_arena_alloc(a, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->label = mqsp_arena_strndup(a, s, len);
	if (n->label == NULL)
		return NULL;
	n->len = len;
	return n;
}

/* Find or create the exact child of n for a level (build time). */
static struct acl_node *child_get(struct mqsp_arena *a, struct acl_node *n, const char *s,
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
static struct acl_node *wild_get(struct mqsp_arena *a, struct acl_node **slot, const char *s)
{
	if (*slot == NULL)
		*slot = node_new(a, s, 1);
	return *slot;
}

/* Add a %u/%c rule to the pattern list. */
static int pattern_add(struct mqsp_acl_tree *t, struct mqsp_arena *a, const char *filter,
                       unsigned access, int64_t key)
{
	struct acl_pattern *p = mqsp_arena_alloc(a, sizeof(*p));

	if (p == NULL)
		return MQS_ERR_NOMEM;
	p->len = strlen(filter);
	p->filter = mqsp_arena_strndup(a, filter, p->len);
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

/* Add one rule. */
int mqsp_acl_tree_add(struct mqsp_acl_tree *t, struct mqsp_arena *a, const char *filter,
                      unsigned access, int deny, int64_t priority)
{
	int64_t key = mqsp_acl_key(priority, deny);
	struct acl_node *n = &t->root;
	const char *s = filter;
	int rc = MQS_ERR_INVAL;

	access &= MQSP_ACCESS_READ | MQSP_ACCESS_WRITE | MQSP_ACCESS_SUB;
	if (filter == NULL || access == 0 || mqs_topic_filter_check(filter) != MQS_OK ||
	    level_count(filter) > MAX_LEVELS)
		goto out;
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
		n->term = mqsp_arena_alloc(a, sizeof(*n->term));
		if (n->term == NULL)
			goto out;
		for (int k = 0; k < MQSP_ACL_KINDS; k++) {
			n->term->best[k] = MQSP_ACL_NONE;
			n->term->deny[k] = MQSP_ACL_NONE;
		}
	}
	for (int k = 0; k < MQSP_ACL_KINDS; k++) {
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
static int node_finish(struct acl_node *n, struct mqsp_arena *a)
{
	size_t i = 0;

	if (n->nchild > 0) {
		int sorted = 1;

		n->child = mqsp_arena_alloc(a, n->nchild * sizeof(*n->child));
		if (n->child == NULL)
			return MQS_ERR_NOMEM;
		for (struct acl_node *c = n->b_first; c != NULL; c = c->b_next) {
			if (i > 0 && child_cmp(&n->child[i - 1], &c) > 0)
				sorted = 0;
			n->child[i++] = c;
		}
		/* rules added in mqsp_acl_filter_cmp() order arrive sorted */
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
int mqsp_acl_tree_finish(struct mqsp_acl_tree *t, struct mqsp_arena *a)
{
	return node_finish(&t->root, a);
}

/* Return 1 when a %c rule is in t. */
int mqsp_acl_tree_uses_clientid(const struct mqsp_acl_tree *t)
{
	for (const struct acl_pattern *p = t != NULL ? t->patterns : NULL; p != NULL; p = p->next) {
		if (strstr(p->filter, "%c") != NULL)
			return 1;
	}
	return 0;
}

/* Number of rules in t. */
unsigned long mqsp_acl_tree_rules(const struct mqsp_acl_tree *t)
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
			/* "+/#" covers "#" (see mqsp_acl_filter_covers) */
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

/* Apply the %u/%c rules of t. */
static void eval_patterns(const struct mqsp_acl_tree *t, int k, const char *topic,
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
			buf = malloc(need);
			if (buf == NULL) {
				/* cannot evaluate: a deny rule must still hold */
				if (!mqsp_acl_key_allows(p->key))
					upd(best, p->key);
				continue;
			}
		}
		if (subst(p->filter, username, clientid, buf, need) == (size_t)-1)
			/* no usable identity: an allow rule cannot grant, a deny rule
			 * must still hold (fail closed) */
			applies = !mqsp_acl_key_allows(p->key);
		else if (k != MQSP_ACL_SUB)
			applies = mqs_topic_matches(buf, topic);
		else if (mqsp_acl_key_allows(p->key))
			applies = mqsp_acl_filter_covers(buf, topic);
		else
			applies = mqsp_acl_filter_overlaps(buf, topic);
		if (applies)
			upd(best, p->key);
		if (buf != stack)
			free(buf);
	}
}

/* Fold the rules of t that apply into *best. */
void mqsp_acl_eval(const struct mqsp_acl_tree *t, enum mqsp_acl_kind kind, const char *topic,
                   const char *username, const char *clientid, int64_t *best)
{
	int k = (int)kind;

	if (t == NULL || topic == NULL || topic[0] == '\0' || k < 0 || k >= MQSP_ACL_KINDS)
		return;
	if (k == MQSP_ACL_SUB)
		walk_sub(&t->root, topic, 1, 1, k, best);
	else
		walk_topic(&t->root, topic, 1, k, best);
	if (t->patterns != NULL)
		eval_patterns(t, k, topic, username, clientid, best);
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
int mqsp_acl_filter_covers(const char *r, const char *f)
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
int mqsp_acl_filter_overlaps(const char *r, const char *f)
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
