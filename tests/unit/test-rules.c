/* SPDX-License-Identifier: BSD-3-Clause */
/* test-plugin-acl.c - topic ACL trees of the broker plugin (lib/mqs_rules.c):
 * topic matching, subscription cover/overlap, rule ordering, %u/%c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqs_rules.h"
#include "mqs_arena.h"
#include "mqs_error.h"
#include "mqs_topic.h"
#include "tap.h"

#define R  MQS_ACCESS_READ
#define W  MQS_ACCESS_WRITE
#define S  MQS_ACCESS_SUB
#define RW (R | W | S)

struct rule {
	const char *filter;
	unsigned access;
	int deny;
	int64_t priority;
};

/* Build a tree from rules (sorted as the plugin does). */
static int rule_sort(const void *x, const void *y)
{
	return mqs_rules_filter_cmp(((const struct rule *)x)->filter,
	                            ((const struct rule *)y)->filter);
}

static struct mqs_rules_tree *build(struct mqs_arena *a, struct rule *rules, size_t n)
{
	struct mqs_rules_tree *t = mqs_rules_tree_new(a);

	qsort(rules, n, sizeof(*rules), rule_sort);
	for (size_t i = 0; i < n; i++)
		mqs_rules_tree_add(t, a, rules[i].filter, rules[i].access, rules[i].deny,
		                   rules[i].priority);
	mqs_rules_tree_finish(t, a);
	return t;
}

/* Evaluate several trees like the plugin does for a device and its groups. */
static int allowed(struct mqs_rules_tree **trees, size_t n, enum mqs_rules_kind k,
                   const char *topic, const char *user, const char *cid)
{
	int64_t best = MQS_RULES_NONE;

	for (size_t i = 0; i < n; i++)
		mqs_rules_eval(trees[i], k, topic, user, cid, &best);
	return mqs_rules_key_allows(best);
}

static int allowed1(struct mqs_rules_tree *t, enum mqs_rules_kind k, const char *topic)
{
	return allowed(&t, 1, k, topic, "dev1", "cid1");
}

/* ---- exhaustive checks over a small topic space ---- */

static const char *levels[] = {"a", "b", "$x", ""};
#define NLEVELS    4
#define MAX_TOPICS 400

static char topics[MAX_TOPICS][16];
static size_t ntopics;

/* Enumerate every topic of 1..4 levels over the alphabet (but not ""). */
static void topics_make(void)
{
	char buf[32];

	for (int depth = 1; depth <= 4; depth++) {
		int total = 1;

		for (int i = 0; i < depth; i++)
			total *= NLEVELS;
		for (int code = 0; code < total; code++) {
			int c = code;

			buf[0] = '\0';
			for (int i = 0; i < depth; i++) {
				if (i > 0)
					strcat(buf, "/");
				strcat(buf, levels[c % NLEVELS]);
				c /= NLEVELS;
			}
			/* "" is no valid topic; it stays in the space of the
			 * brute-force cover/overlap check only (conservative) */
			if (buf[0] == '\0' && depth > 1)
				continue;
			snprintf(topics[ntopics++], sizeof(topics[0]), "%s", buf);
		}
	}
}

/* A random valid filter of 1..3 levels. */
static void random_filter(char *buf, size_t cap)
{
	static const char *fl[] = {"a", "b", "$x", "", "+", "#"};
	int depth = 1 + rand() % 3;

	buf[0] = '\0';
	for (int i = 0; i < depth; i++) {
		const char *l = fl[rand() % 6];

		if (strcmp(l, "#") == 0 && i != depth - 1)
			l = "+";
		if (i > 0)
			strncat(buf, "/", cap - strlen(buf) - 1);
		strncat(buf, l, cap - strlen(buf) - 1);
	}
	if (buf[0] == '\0')
		snprintf(buf, cap, "a");
}

/* Brute force: does r cover f / overlap f over the enumerated topics? */
static void brute(const char *r, const char *f, int *covers, int *overlaps)
{
	*covers = 1;
	*overlaps = 0;
	for (size_t i = 0; i < ntopics; i++) {
		int fm = mqs_topic_matches(f, topics[i]);
		int rm = mqs_topic_matches(r, topics[i]);

		if (fm && !rm)
			*covers = 0;
		if (fm && rm)
			*overlaps = 1;
	}
}

static void test_cover_overlap(void)
{
	unsigned bad_cover = 0, bad_overlap = 0, n = 0;

	for (int i = 0; i < 20000; i++) {
		char r[32], f[32];
		int c, o;

		random_filter(r, sizeof(r));
		random_filter(f, sizeof(f));
		brute(r, f, &c, &o);
		if (mqs_rules_filter_covers(r, f) != c) {
			if (bad_cover++ < 5)
				tap_diag("covers(%s, %s) = %d, want %d", r, f, !c, c);
		}
		if (mqs_rules_filter_overlaps(r, f) != o) {
			if (bad_overlap++ < 5)
				tap_diag("overlaps(%s, %s) = %d, want %d", r, f, !o, o);
		}
		n++;
	}
	tap_is_int(bad_cover, 0, "filter covers agrees with brute force over %u pairs", n);
	tap_is_int(bad_overlap, 0, "filter overlaps agrees with brute force over %u pairs", n);
}

/* Reference evaluation: a linear scan with the definitions of acl.h. */
static int64_t reference(const struct rule *rules, size_t n, enum mqs_rules_kind k,
                         const char *topic)
{
	static const unsigned bits[] = {R, W, S};
	int64_t best = MQS_RULES_NONE;

	for (size_t i = 0; i < n; i++) {
		int64_t key = mqs_rules_key(rules[i].priority, rules[i].deny);
		int applies;

		if ((rules[i].access & bits[k]) == 0)
			continue;
		if (k != MQS_RULES_SUB)
			applies = mqs_topic_matches(rules[i].filter, topic);
		else if (rules[i].deny)
			applies = mqs_rules_filter_overlaps(rules[i].filter, topic);
		else
			applies = mqs_rules_filter_covers(rules[i].filter, topic);
		if (applies && key > best)
			best = key;
	}
	return best;
}

static void test_tree_vs_reference(void)
{
	static const unsigned accs[] = {R, W, S, R | S, RW};
	unsigned mismatches = 0, checks = 0;

	for (int round = 0; round < 200; round++) {
		struct mqs_arena a;
		struct rule rules[40];
		char filters[40][32];
		size_t n = 1 + (size_t)(rand() % 40);
		struct mqs_rules_tree *t;

		mqs_arena_init(&a);
		for (size_t i = 0; i < n; i++) {
			random_filter(filters[i], sizeof(filters[i]));
			rules[i].filter = filters[i];
			rules[i].access = accs[rand() % 5];
			rules[i].deny = rand() % 3 == 0;
			rules[i].priority = rand() % 4 - 1;
		}
		t = build(&a, rules, n);
		for (int k = 0; k < MQS_RULES_KINDS; k++) {
			for (size_t i = 0; i < ntopics; i++) {
				char f[32];
				const char *probe = topics[i];
				int64_t got = MQS_RULES_NONE;
				int64_t want;

				if (topics[i][0] == '\0')
					continue;
				if (k == MQS_RULES_SUB && rand() % 2 == 0) {
					random_filter(f, sizeof(f));
					probe = f;
				}
				mqs_rules_eval(t, (enum mqs_rules_kind)k, probe, NULL, NULL, &got);
				want = reference(rules, n, (enum mqs_rules_kind)k, probe);
				checks++;
				if (got != want && mismatches++ < 5)
					tap_diag("round %d kind %d '%s': tree %lld, reference %lld",
					         round, k, probe, (long long)got, (long long)want);
			}
		}
		mqs_arena_release(&a);
	}
	tap_is_int(mismatches, 0, "tree evaluation equals a linear scan (%u checks)", checks);
}

/* ---- rule ordering ---- */

static void test_ordering(void)
{
	struct mqs_arena a;
	struct rule user_rules[] = {
	    {"a/#", RW, 0, 0},           /* allow everything under a */
	    {"a/secret", R, 1, 0},       /* deny read at the same priority: deny wins */
	    {"a/vip", R, 1, 5},          /* deny at 5 ... */
	    {"a/vip", R, 0, 6},          /* ... allow at 6 wins */
	    {"b/+", W, 0, 1},            /* publish only */
	    {"c/#", RW, 0, -3},          /* negative priorities work */
	    {"c/x", RW, 1, -4},          /* lower deny loses */
	    {"users/%u/#", RW, 0, 0},    /* own subtree by username */
	    {"clients/%c", W, 0, 0},     /* own client id */
	    {"mixed/dev-%u/x", R, 0, 0}, /* %u inside a level */
	};
	struct rule group_rules[] = {
	    {"a/group-denied", R, 1, 1}, /* group deny above the user's allow */
	    {"g/#", R, 0, 0},            /* a group grant */
	    {"a/boost", R, 0, 10},       /* group allow above the user's deny */
	};
	struct rule user_deny[] = {{"a/boost", R, 1, 9}};
	struct mqs_rules_tree *trees[3];

	mqs_arena_init(&a);
	trees[0] = build(&a, user_rules, sizeof(user_rules) / sizeof(user_rules[0]));
	trees[1] = build(&a, group_rules, sizeof(group_rules) / sizeof(group_rules[0]));
	trees[2] = build(&a, user_deny, 1);

	tap_ok(allowed1(trees[0], MQS_RULES_READ, "a/b"), "allow rule grants read");
	tap_ok(allowed1(trees[0], MQS_RULES_WRITE, "a/b/c"), "allow rule grants write below #");
	tap_ok(!allowed1(trees[0], MQS_RULES_READ, "a/secret"),
	       "deny beats allow at equal priority");
	tap_ok(allowed1(trees[0], MQS_RULES_WRITE, "a/secret"), "deny read leaves write alone");
	tap_ok(allowed1(trees[0], MQS_RULES_READ, "a/vip"), "higher priority allow beats deny");
	tap_ok(allowed1(trees[0], MQS_RULES_WRITE, "b/x"), "pub rule grants publish");
	tap_ok(!allowed1(trees[0], MQS_RULES_READ, "b/x"), "pub rule does not grant read");
	tap_ok(!allowed1(trees[0], MQS_RULES_SUB, "b/x"), "pub rule does not grant subscribe");
	tap_ok(allowed1(trees[0], MQS_RULES_READ, "c/x"), "lower priority deny loses");
	tap_ok(!allowed1(trees[0], MQS_RULES_READ, "z"), "no rule: deny");
	tap_ok(!allowed1(trees[0], MQS_RULES_READ, "$SYS/x"), "no rule for $SYS: deny");

	/* groups */
	tap_ok(allowed(trees, 1, MQS_RULES_READ, "a/group-denied", "dev1", "c"),
	       "user alone may read a/group-denied");
	tap_ok(!allowed(trees, 2, MQS_RULES_READ, "a/group-denied", "dev1", "c"),
	       "group deny at higher priority wins over user allow");
	tap_ok(allowed(trees, 2, MQS_RULES_READ, "g/1", "dev1", "c"), "group grants read");
	tap_ok(!allowed(trees, 1, MQS_RULES_READ, "g/1", "dev1", "c"), "without the group: denied");
	tap_ok(allowed(trees, 3, MQS_RULES_READ, "a/boost", "dev1", "c"),
	       "group allow at 10 beats user deny at 9");

	/* %u and %c */
	tap_ok(allowed(trees, 1, MQS_RULES_WRITE, "users/dev1/t", "dev1", "c"), "%%u own subtree");
	tap_ok(!allowed(trees, 1, MQS_RULES_WRITE, "users/dev2/t", "dev1", "c"),
	       "%%u other user's subtree denied");
	tap_ok(allowed(trees, 1, MQS_RULES_WRITE, "clients/cid-7", "dev1", "cid-7"),
	       "%%c own client id");
	tap_ok(!allowed(trees, 1, MQS_RULES_WRITE, "clients/cid-8", "dev1", "cid-7"),
	       "%%c other client id denied");
	tap_ok(allowed(trees, 1, MQS_RULES_READ, "mixed/dev-dev1/x", "dev1", "c"),
	       "%%u inside a level");
	tap_ok(!allowed(trees, 1, MQS_RULES_WRITE, "users/x/t", NULL, "c"),
	       "%%u with no username never applies");
	tap_ok(!allowed(trees, 1, MQS_RULES_WRITE, "users/+/t", "+", "c"),
	       "%%u with a wildcard username never applies");
	tap_ok(!allowed(trees, 1, MQS_RULES_WRITE, "users/a/b/t", "a/b", "c"),
	       "%%u with a slash never applies");
	tap_ok(allowed(trees, 1, MQS_RULES_SUB, "users/dev1/+", "dev1", "c"),
	       "%%u subscription inside own subtree");
	tap_ok(!allowed(trees, 1, MQS_RULES_SUB, "users/+/x", "dev1", "c"),
	       "%%u subscription across users denied");
	mqs_arena_release(&a);
}

/* %u/%c with identities that cannot be substituted: allow rules never
 * grant, deny rules hold (fail closed). */
static void test_identity_fail_closed(void)
{
	struct mqs_arena a;
	struct rule rules[] = {
	    {"#", RW, 0, 0},            /* everything allowed ... */
	    {"private/%c/#", RW, 1, 5}, /* ... except other clients' areas */
	    {"own/%c/#", RW, 0, 10},    /* own area by client id */
	    {"%c/#", RW, 0, 10},        /* a careless rule: own top level */
	    {"u/%u-%c/x", RW, 1, 20},   /* deny with both, inside a level */
	};
	struct mqs_rules_tree *t;

	mqs_arena_init(&a);
	t = build(&a, rules, sizeof(rules) / sizeof(rules[0]));
	tap_ok(!allowed(&t, 1, MQS_RULES_WRITE, "private/c1/x", "dev1", "c1"),
	       "deny %%c rule holds for its client id");
	tap_ok(allowed(&t, 1, MQS_RULES_WRITE, "private/c2/x", "dev1", "c1"),
	       "deny %%c rule leaves other client ids alone");
	tap_ok(!allowed(&t, 1, MQS_RULES_WRITE, "private/c2/x", "dev1", NULL),
	       "no client id: the deny %%c rule applies to every topic");
	tap_ok(!allowed(&t, 1, MQS_RULES_WRITE, "anything", "dev1", NULL),
	       "no client id: even topics outside its filter");
	tap_ok(!allowed(&t, 1, MQS_RULES_SUB, "#", "dev1", NULL),
	       "no client id: subscriptions denied too");
	tap_ok(!allowed(&t, 1, MQS_RULES_WRITE, "anything", "dev1", "$SYS"),
	       "client id starting with $: deny rules apply");
	tap_ok(!allowed(&t, 1, MQS_RULES_WRITE, "anything", "dev1", "a/b"),
	       "client id holding /: deny rules apply");
	tap_ok(!allowed(&t, 1, MQS_RULES_WRITE, "anything", "$u", "c1"),
	       "username starting with $: deny rules apply");
	tap_ok(allowed(&t, 1, MQS_RULES_WRITE, "u/dev1-c2/x", "dev1", "c1"),
	       "%%u and %%c inside a level: another pair allowed");
	tap_ok(!allowed(&t, 1, MQS_RULES_WRITE, "u/dev1-c1/x", "dev1", "c1"),
	       "%%u and %%c inside a level: own pair denied");
	mqs_arena_release(&a);

	/* only allow rules: "$SYS" as %c grants nothing under $SYS */
	{
		struct rule allow_only[] = {{"%c/#", RW, 0, 0}, {"x/%u", RW, 0, 0}};

		mqs_arena_init(&a);
		t = build(&a, allow_only, 2);
		tap_ok(allowed(&t, 1, MQS_RULES_WRITE, "c1/t", "dev1", "c1"),
		       "%%c/# grants own level");
		tap_ok(!allowed(&t, 1, MQS_RULES_WRITE, "$SYS/broker/x", "dev1", "$SYS"),
		       "client id $SYS: %%c/# does not grant $SYS/#");
		tap_ok(!allowed(&t, 1, MQS_RULES_SUB, "$CONTROL/#", "dev1", "$CONTROL"),
		       "client id $CONTROL: no subscription to $CONTROL/#");
		tap_ok(!allowed(&t, 1, MQS_RULES_WRITE, "x/$u", "$u", "c1"),
		       "username starting with $: %%u allow rule does not apply");
		mqs_arena_release(&a);
	}
}

/* ---- subscriptions ---- */

static void test_subscribe(void)
{
	struct mqs_arena a;
	struct rule rules[] = {
	    {"#", S, 0, 0},   {"secret/#", S, 1, 0},  {"p/+/x", S, 0, 0},
	    {"q/#", S, 0, 0}, {"q/private", S, 1, 5},
	};
	struct mqs_rules_tree *t;

	mqs_arena_init(&a);
	t = build(&a, rules, sizeof(rules) / sizeof(rules[0]));
	tap_ok(allowed1(t, MQS_RULES_SUB, "a/b"), "sub # covers a/b");
	tap_ok(!allowed1(t, MQS_RULES_SUB, "#"), "sub # overlaps the secret deny: denied");
	tap_ok(!allowed1(t, MQS_RULES_SUB, "secret/+"), "sub inside a deny: denied");
	tap_ok(!allowed1(t, MQS_RULES_SUB, "+/x"), "sub overlapping secret/x: denied");
	tap_ok(allowed1(t, MQS_RULES_SUB, "p/y/x"), "literal covered by +");
	tap_ok(!allowed1(t, MQS_RULES_SUB, "$SYS/#"), "# does not cover $SYS");
	mqs_arena_release(&a);

	{
		struct rule r2[] = {{"p/+/x", S, 0, 0}, {"q/#", S, 0, 0}, {"q/private", S, 1, 5}};

		mqs_arena_init(&a);
		t = build(&a, r2, 3);
		tap_ok(allowed1(t, MQS_RULES_SUB, "p/+/x"), "p/+/x covers p/+/x");
		tap_ok(!allowed1(t, MQS_RULES_SUB, "p/#"), "p/+/x does not cover p/#");
		tap_ok(!allowed1(t, MQS_RULES_SUB, "p/+/+"), "p/+/x does not cover p/+/+");
		tap_ok(allowed1(t, MQS_RULES_SUB, "q"), "q/# covers q");
		tap_ok(allowed1(t, MQS_RULES_SUB, "q/public/#"), "q/# covers q/public/#");
		tap_ok(!allowed1(t, MQS_RULES_SUB, "q/#"), "q/# overlaps a higher deny: denied");
		tap_ok(!allowed1(t, MQS_RULES_SUB, "q/+"), "q/+ overlaps q/private: denied");
		mqs_arena_release(&a);
	}
}

/* ---- bad input ---- */

static void test_bad_input(void)
{
	struct mqs_arena a;
	struct mqs_rules_tree *t;
	int64_t best = MQS_RULES_NONE;

	mqs_arena_init(&a);
	t = mqs_rules_tree_new(&a);
	tap_is_int(mqs_rules_tree_add(t, &a, "a/#/b", R, 0, 0), MQS_ERR_INVAL, "refuses a/#/b");
	tap_is_int(mqs_rules_tree_add(t, &a, "a+", R, 0, 0), MQS_ERR_INVAL, "refuses a+");
	tap_is_int(mqs_rules_tree_add(t, &a, "", R, 0, 0), MQS_ERR_INVAL, "refuses empty filter");
	tap_is_int(mqs_rules_tree_add(t, &a, "a", 0, 0, 0), MQS_ERR_INVAL, "refuses no access");
	tap_is_int(mqs_rules_tree_add(t, &a, "a", R, 0, 0), MQS_OK, "accepts a");
	mqs_rules_tree_finish(t, &a);
	tap_is_int(mqs_rules_tree_rules(t), 1, "one rule counted");
	mqs_rules_eval(t, MQS_RULES_READ, "", "u", "c", &best);
	tap_ok(best == MQS_RULES_NONE, "empty topic matches nothing");
	tap_ok(mqs_rules_key(INT64_MAX, 1) > mqs_rules_key(INT64_MAX, 0),
	       "priority clamp keeps deny above allow");
	tap_ok(mqs_rules_filter_cmp("a/b", "ab") < 0 && mqs_rules_filter_cmp("a", "a/b") < 0 &&
	           mqs_rules_filter_cmp("a/b", "a/b") == 0,
	       "filters sort level by level");
	mqs_arena_release(&a);
}

/* ---- the rule check shared with mqttsec-acl ---- */

/* A filter of n levels "a/a/.../a" (caller frees). */
static char *deep_filter(size_t n, const char *last)
{
	char *f = malloc(n * 2 + strlen(last) + 1);
	size_t o = 0;

	for (size_t i = 0; i + 1 < n; i++) {
		f[o++] = 'a';
		f[o++] = '/';
	}
	strcpy(f + o, last);
	return f;
}

static void test_rule_problem(void)
{
	static const struct {
		const char *filter;
		unsigned access;
		int ok;
	} cases[] = {
	    {"a", R, 1},         {"a/+/b", W, 1},  {"#", S, 1},    {"%u/#", RW, 1},
	    {"dev-%c/in", R, 1}, {"$SYS/#", R, 1}, {"a//b", R, 1}, {"a/#/b", R, 0},
	    {"a+", R, 0},        {"a/b#", R, 0},   {"", R, 0},     {"a", 0, 0},
	};
	struct mqs_arena a;
	struct mqs_rules_tree *t;
	char *f1000 = deep_filter(1000, "#");
	char *f1001 = deep_filter(1001, "#");

	mqs_arena_init(&a);
	t = mqs_rules_tree_new(&a);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = mqs_rules_problem(cases[i].filter, cases[i].access);

		tap_ok((why == NULL) == cases[i].ok, "rule check '%s' access %u: %s",
		       cases[i].filter, cases[i].access, why != NULL ? why : "usable");
		/* the tree refuses exactly what the check refuses */
		tap_ok((mqs_rules_tree_add(t, &a, cases[i].filter, cases[i].access, 1, 0) ==
		        MQS_OK) == cases[i].ok,
		       "tree agrees with the check on '%s'", cases[i].filter);
	}
	tap_ok(mqs_rules_problem(f1000, S) == NULL, "1000 levels are usable");
	tap_ok(mqs_rules_problem(f1001, S) != NULL, "1001 levels are refused: %s",
	       mqs_rules_problem(f1001, S));
	tap_is_int(mqs_rules_tree_add(t, &a, f1001, S, 1, 0), MQS_ERR_INVAL,
	           "tree refuses 1001 levels too");
	free(f1000);
	free(f1001);
	mqs_arena_release(&a);
}

/* ---- deny everything (fail closed for one subject) ---- */

static void test_deny_all(void)
{
	struct mqs_arena a;
	struct rule rules[] = {{"#", RW, 0, 100}, {"$SYS/#", RW, 0, 100}};
	struct rule other[] = {{"#", RW, 0, 0}};
	struct mqs_rules_tree *t[2];
	const struct mqs_rules_tree *ct[2];
	int64_t br = MQS_RULES_NONE, bs = MQS_RULES_NONE;

	mqs_arena_init(&a);
	t[0] = build(&a, other, 1);
	t[1] = build(&a, rules, 2);
	mqs_rules_tree_deny_all(t[1]);
	ct[0] = t[0];
	ct[1] = t[1];
	tap_ok(mqs_rules_tree_denies_all(t[1]) && !mqs_rules_tree_denies_all(t[0]),
	       "deny-all flag set on one tree only");
	tap_ok(!allowed(t, 2, MQS_RULES_WRITE, "a", "u", "c"), "deny-all: no publish");
	tap_ok(!allowed(t, 2, MQS_RULES_READ, "$SYS/x", "u", "c"), "deny-all: no $-topic read");
	tap_ok(!allowed(t, 2, MQS_RULES_SUB, "#", "u", "c"), "deny-all: no subscribe");
	mqs_rules_eval_read(t[1], "a/b", "u", "c", &br, &bs);
	tap_ok(!mqs_rules_key_allows(br) && !mqs_rules_key_allows(bs), "deny-all: no delivery");
	tap_ok(!mqs_rules_sub_possible(ct, 2, "a/b", "u", "c"), "deny-all: nothing could match");
	tap_ok(mqs_rules_sub_possible(ct, 1, "a/b", "u", "c"), "the other tree alone allows");
	mqs_arena_release(&a);
}

/* ---- could a subscription match an allowed topic? ---- */

static void test_sub_possible_table(void)
{
	static const struct {
		const char *rules; /* "A:filter:prio" or "D:filter:prio", ';' separated */
		const char *filter;
		const char *user;
		int want;
	} cases[] = {
	    {"A:#:0;D:secret/#:0", "#", "u", 1},
	    {"A:#:0;D:secret/#:0", "secret/#", "u", 0},
	    {"A:#:0;D:secret/#:0", "secret/+", "u", 0},
	    {"A:#:0;D:secret/#:0", "secret", "u", 0},
	    {"A:#:0;D:secret/#:0", "+/x", "u", 1},
	    {"A:#:0;D:secret/#:0", "+/+", "u", 1},
	    {"A:#:0;D:secret/#:0", "$SYS/#", "u", 0},
	    {"A:#:0;D:secret/#:0", "+", "u", 1},
	    {"A:$SYS/#:0", "#", "u", 0},
	    {"A:$SYS/#:0", "+/x", "u", 0},
	    {"A:$SYS/#:0", "$SYS/x", "u", 1},
	    {"A:$SYS/#:0", "$SYS/+/y", "u", 1},
	    {"A:+/x:0", "#", "u", 1},
	    {"A:+/x:0", "$SYS/#", "u", 0},
	    {"A:+/x:0", "a/+", "u", 1},
	    {"A:+/x:0", "a/y", "u", 0},
	    {"A:+/x:0", "+", "u", 0},
	    {"A:a/#:0;D:a/+:5;D:a:5", "a/#", "u", 1},
	    {"A:a/#:0;D:a/+:5;D:a:5", "a/+", "u", 0},
	    {"A:a/#:0;D:a/+:5;D:a:5", "a", "u", 0},
	    {"A:a/#:0;D:#:5", "a/#", "u", 0},
	    {"A:a/#:5;D:#:5", "a/#", "u", 0},
	    {"A:a/#:6;D:#:5", "+/#", "u", 1},
	    {"A:a/+/c:0;D:a/b/c:0", "a/+/c", "u", 1},
	    {"A:a/+/c:0;D:a/b/c:0", "a/b/+", "u", 0},
	    {"A:#:0;D:+/#:0", "#", "u", 0},
	    {"A:#:0;D:+:0;D:+/+:0;D:+/+/+/#:0", "#", "u", 0},
	    {"A:#:0;D:+:0;D:+/+:0;D:+/+/+/+/#:0", "#", "u", 1},
	    {"A:#:0;D:+:0;D:+/+:0;D:+/+/+/+/#:0", "+/+", "u", 0},
	    {"A:#:0;D:+:0;D:+/+:0;D:+/+/+/+/#:0", "+/+/+", "u", 1},
	    {"A:#:0;D:+:0;D:+/+:0;D:+/+/+/+/#:0", "a/#", "u", 1},
	    {"A:a:0;D:a:0", "a", "u", 0},
	    {"A:a:0;D:a:0", "+", "u", 0},
	    {"A:a:1;D:a:0", "+", "u", 1},
	    {"A:users/%u/#:0", "users/dev1/x", "dev1", 1},
	    {"A:users/%u/#:0", "users/+/x", "dev1", 1},
	    {"A:users/%u/#:0", "users/dev2/#", "dev1", 0},
	    {"A:users/%u/#:0", "#", "dev1", 1},
	    {"A:users/%u/#:0", "#", "$bad", 0},
	    {"A:#:0;D:users/%u/#:0", "users/dev1/#", "dev1", 0},
	    {"A:#:0;D:users/%u/#:0", "users/+/#", "dev1", 1},
	    {"A:#:0;D:users/%u/#:0", "#", "a/b", 0},
	    {"A:#:0;D:%c/#:0", "cid1/x", "dev1", 0},
	    {"A:#:0;D:%c/#:0", "+/x", "dev1", 1},
	    {"", "#", "u", 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mqs_arena a;
		struct rule rules[8];
		char buf[256];
		char *save = NULL;
		size_t n = 0;
		struct mqs_rules_tree *t;
		const struct mqs_rules_tree *ct;

		snprintf(buf, sizeof(buf), "%s", cases[i].rules);
		for (char *tok = strtok_r(buf, ";", &save); tok != NULL && n < 8;
		     tok = strtok_r(NULL, ";", &save)) {
			char *c1 = strchr(tok, ':');
			char *c2 = strrchr(tok, ':');

			*c1 = '\0';
			*c2 = '\0';
			rules[n].filter = c1 + 1;
			rules[n].access = S;
			rules[n].deny = tok[0] == 'D';
			rules[n].priority = atoi(c2 + 1);
			n++;
		}
		mqs_arena_init(&a);
		t = build(&a, rules, n);
		ct = t;
		tap_is_int(mqs_rules_sub_possible(&ct, 1, cases[i].filter, cases[i].user, "cid1"),
		           cases[i].want, "could match: rules [%s] subscription %s (user %s)",
		           cases[i].rules, cases[i].filter, cases[i].user);
		mqs_arena_release(&a);
	}
}

static double now_ms(void);

/* A search over its budget grants (safe: deliveries are checked). */
static void test_sub_possible_budget(void)
{
	enum { NALLOW = 200 };
	struct mqs_arena a;
	struct mqs_rules_tree *t;
	const struct mqs_rules_tree *ct;
	char *deep = deep_filter(1000, "z");
	char names[NALLOW][16];
	double t0;
	int got;

	mqs_arena_init(&a);
	t = mqs_rules_tree_new(&a);
	/* 200 allow rules k<i>/# all beaten by a deny '#', and one rule of 1000
	 * levels: each candidate is tried at every depth up to 1001 */
	mqs_rules_tree_add(t, &a, "#", S, 1, 5);
	mqs_rules_tree_add(t, &a, deep, S, 1, 0);
	for (int i = 0; i < NALLOW; i++) {
		snprintf(names[i], sizeof(names[i]), "k%03d/#", i);
		mqs_rules_tree_add(t, &a, names[i], S, 0, 0);
	}
	mqs_rules_tree_finish(t, &a);
	ct = t;
	t0 = now_ms();
	got = mqs_rules_sub_possible(&ct, 1, "#", "u", "c");
	tap_ok(got == 1, "a search over its budget grants (%.1f ms)", now_ms() - t0);
	tap_ok(!mqs_rules_sub_possible(&ct, 1, "k001/x", "u", "c"),
	       "a small search is still exact (k001/x denied)");
	free(deep);
	mqs_arena_release(&a);
}

/* Topics over {a, b, $x, "", c} of 1..4 levels: c is named by no rule. */
static char wtopics[800][16];
static size_t nwtopics;

static void wtopics_make(void)
{
	static const char *wl[] = {"a", "b", "$x", "", "c"};
	char buf[32];

	for (int depth = 1; depth <= 4; depth++) {
		int total = 1;

		for (int i = 0; i < depth; i++)
			total *= 5;
		for (int code = 0; code < total; code++) {
			int c = code;

			buf[0] = '\0';
			for (int i = 0; i < depth; i++) {
				if (i > 0)
					strcat(buf, "/");
				strcat(buf, wl[c % 5]);
				c /= 5;
			}
			if (buf[0] == '\0' && depth == 1)
				continue;
			snprintf(wtopics[nwtopics++], sizeof(wtopics[0]), "%s", buf);
		}
	}
}

/* Copy filter with each level "a" written %u and each level "b" %c. */
static void pattern_of(const char *filter, char *out, size_t cap)
{
	const char *s = filter;

	out[0] = '\0';
	for (;;) {
		const char *e = strchr(s, '/');
		size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
		char lv[32];

		snprintf(lv, sizeof(lv), "%.*s", (int)len, s);
		if (strcmp(lv, "a") == 0)
			snprintf(lv, sizeof(lv), "%%u");
		else if (strcmp(lv, "b") == 0)
			snprintf(lv, sizeof(lv), "%%c");
		strncat(out, lv, cap - strlen(out) - 1);
		if (e == NULL)
			break;
		strncat(out, "/", cap - strlen(out) - 1);
		s = e + 1;
	}
}

/* Brute force against a linear scan of two rule sets: is some topic of f
 * allowed (SUB)?  And are READ+SUB decisions of eval_read right? */
static void test_sub_possible_random(void)
{
	static const unsigned accs[] = {R, S, R | S, RW};
	unsigned bad = 0, bad_read = 0, checks = 0, granted = 0;

	wtopics_make();
	for (int round = 0; round < 300; round++) {
		struct mqs_arena a;
		struct rule rules[2][12];
		struct rule trules[2][12];
		char filters[2][12][32];
		char pfilters[12][64];
		size_t n[2];
		struct mqs_rules_tree *t[2];
		const struct mqs_rules_tree *ct[2];

		mqs_arena_init(&a);
		for (int k = 0; k < 2; k++) {
			n[k] = (size_t)(rand() % 12) + (k == 0 ? 1 : 0);
			for (size_t i = 0; i < n[k]; i++) {
				random_filter(filters[k][i], sizeof(filters[k][i]));
				rules[k][i].filter = filters[k][i];
				rules[k][i].access = accs[rand() % 4];
				rules[k][i].deny = rand() % 2 == 0;
				rules[k][i].priority = rand() % 3;
			}
			/* the second tree writes some levels a and b as %u and %c
			 * (username "a", client id "b"): the same rules */
			for (size_t i = 0; i < n[k]; i++) {
				trules[k][i] = rules[k][i];
				if (k == 1 && rand() % 2 == 0) {
					pattern_of(filters[k][i], pfilters[i], sizeof(pfilters[i]));
					trules[k][i].filter = pfilters[i];
				}
			}
			t[k] = build(&a, trules[k], n[k]);
			ct[k] = t[k];
		}
		for (int q = 0; q < 30; q++) {
			char f[32];
			int want = 0;
			int got;

			random_filter(f, sizeof(f));
			for (size_t i = 0; i < nwtopics && !want; i++) {
				int64_t b0, b1;

				if (!mqs_topic_matches(f, wtopics[i]))
					continue;
				b0 = reference(rules[0], n[0], MQS_RULES_SUB, wtopics[i]);
				b1 = reference(rules[1], n[1], MQS_RULES_SUB, wtopics[i]);
				want = mqs_rules_key_allows(b0 > b1 ? b0 : b1);
			}
			got = mqs_rules_sub_possible(ct, 2, f, "a", "b");
			granted += got;
			checks++;
			if (got != want && bad++ < 5)
				tap_diag("round %d: could-match '%s' = %d, brute force %d", round,
				         f, got, want);
		}
		for (size_t i = 0; i < nwtopics; i += 7) {
			int64_t r = MQS_RULES_NONE, sb = MQS_RULES_NONE;
			int64_t wr = reference(rules[0], n[0], MQS_RULES_READ, wtopics[i]);
			int64_t ws = reference(rules[0], n[0], MQS_RULES_SUB, wtopics[i]);
			int64_t wr1 = reference(rules[1], n[1], MQS_RULES_READ, wtopics[i]);
			int64_t ws1 = reference(rules[1], n[1], MQS_RULES_SUB, wtopics[i]);

			if (wtopics[i][0] == '\0')
				continue;
			mqs_rules_eval_read(t[0], wtopics[i], "a", "b", &r, &sb);
			mqs_rules_eval_read(t[1], wtopics[i], "a", "b", &r, &sb);
			if ((r != (wr > wr1 ? wr : wr1) || sb != (ws > ws1 ? ws : ws1)) &&
			    bad_read++ < 5)
				tap_diag("round %d: eval_read '%s' differs", round, wtopics[i]);
		}
		mqs_arena_release(&a);
	}
	tap_is_int(bad, 0, "could-match equals brute force (%u filters, %u granted)", checks,
	           granted);
	tap_is_int(bad_read, 0, "eval_read equals a linear scan of read and sub rules");
}

/* ---- scale (figures only, no timing assertion) ---- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_scale(void)
{
	enum { N = 100000 };
	struct mqs_arena a;
	struct rule *rules = calloc(N, sizeof(*rules));
	char(*filters)[48] = calloc(N, sizeof(*filters));
	struct mqs_rules_tree *t;
	double t0, t1, t2;
	unsigned hits = 0;

	if (rules == NULL || filters == NULL) {
		tap_skip(2, "out of memory");
		free(rules);
		free(filters);
		return;
	}
	for (int i = 0; i < N; i++) {
		snprintf(filters[i], sizeof(filters[i]), "site%d/dev%d/%s", i % 100, i,
		         i % 3 == 0 ? "#" : "data");
		rules[i].filter = filters[i];
		rules[i].access = RW;
		rules[i].deny = i % 7 == 0;
		rules[i].priority = i % 5;
	}
	mqs_arena_init(&a);
	t0 = now_ms();
	t = build(&a, rules, N);
	t1 = now_ms();
	for (int i = 0; i < 1000000; i++) {
		char topic[48];

		snprintf(topic, sizeof(topic), "site%d/dev%d/data", (i * 7) % 100, (i * 7) % N);
		hits += allowed1(t, MQS_RULES_READ, topic);
	}
	t2 = now_ms();
	for (int i = 0; i < 1000000; i++) {
		char topic[48];
		int64_t br = MQS_RULES_NONE, bs = MQS_RULES_NONE;

		snprintf(topic, sizeof(topic), "site%d/dev%d/data", (i * 7) % 100, (i * 7) % N);
		mqs_rules_eval_read(t, topic, "dev1", "cid1", &br, &bs);
		hits += mqs_rules_key_allows(br) && mqs_rules_key_allows(bs);
	}
	tap_diag("1e6 delivery checks (read and sub in one walk) %.1f ms (%.0f ns each)",
	         now_ms() - t2, (now_ms() - t2) * 1e6 / 1e6);
	tap_is_int(mqs_rules_tree_rules(t), N, "100000 rules in one tree");
	tap_ok(hits > 0, "lookups find rules");
	tap_diag(
	    "build %.1f ms for %d rules (%.1f MB arena); 1e6 READ checks %.1f ms (%.0f ns each)",
	    t1 - t0, N, (double)a.total / 1048576.0, t2 - t1, (t2 - t1) * 1e6 / 1e6);
	mqs_arena_release(&a);
	free(rules);
	free(filters);
}

int main(void)
{
	srand(12345);
	topics_make();
	test_cover_overlap();
	test_tree_vs_reference();
	test_ordering();
	test_identity_fail_closed();
	test_subscribe();
	test_bad_input();
	test_rule_problem();
	test_deny_all();
	test_sub_possible_table();
	test_sub_possible_random();
	test_sub_possible_budget();
	test_scale();
	return tap_exit();
}
