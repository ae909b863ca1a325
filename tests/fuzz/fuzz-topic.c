/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-topic.c - libFuzzer target for topic filter matching (mqs_topic.h)
 * and the ACL rule tree (mqs_rules.h; docs/acl.md, "Topic rules").
 *
 * Input: byte 0 and 1 seed the rules' access bits, effects and priorities;
 * the rest is lines: every line but the last is a rule filter (at most 16),
 * the last line is the topic.  Checked against a plain reference matcher
 * written from MQTT 3.1.1 section 4.7:
 *   - mqs_topic_filter_check() accepts exactly the reference's valid filters;
 *   - mqs_topic_matches() agrees with the reference for every filter;
 *   - mqs_rules_filter_covers/overlaps of a rule and a concrete topic are
 *     the reference match; covers(f, f) for every valid filter;
 *   - the tree of the valid rules (%u/%c substituted with fixed identities)
 *     gives, for READ, WRITE and SUB of a concrete topic, the greatest key
 *     of the rules the reference says apply; mqs_rules_eval_read() gives the
 *     same READ and SUB keys; mqs_rules_sub_possible() of the topic is
 *     whether SUB allows. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_arena.h"
#include "mqs_error.h"
#include "mqs_rules.h"
#include "mqs_topic.h"

#define NRULES_MAX 16
#define LINE_MAX   512
#define USERNAME   "dev1"
#define CLIENTID   "cid1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rule {
	char filter[LINE_MAX + 1];
	unsigned access;
	int deny;
	int64_t priority;
};

/* The reference: 1 when the valid filter f matches topic t. */
static int ref_match(const char *f, const char *t)
{
	if (t[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return 0;
	for (;;) {
		size_t fl = strcspn(f, "/"), tl = strcspn(t, "/");

		if (fl == 1 && f[0] == '#')
			return 1;
		if (!(fl == 1 && f[0] == '+') && (fl != tl || memcmp(f, t, fl) != 0))
			return 0;
		f += fl;
		t += tl;
		if (*f == '\0' && *t == '\0')
			return 1;
		if (*f == '\0')
			return 0;
		if (*t == '\0')
			return strcmp(f, "/#") == 0;
		f++;
		t++;
	}
}

/* The reference: 1 when f is a valid subscription filter. */
static int ref_valid(const char *f)
{
	size_t len = strlen(f);

	if (len == 0 || len > 65535)
		return 0;
	for (const char *p = f;;) {
		size_t l = strcspn(p, "/");
		int wild = memchr(p, '+', l) != NULL || memchr(p, '#', l) != NULL;

		if (wild && !(l == 1 && (p[0] == '+' || (p[0] == '#' && p[1] == '\0'))))
			return 0;
		if (p[l] == '\0')
			return 1;
		p += l + 1;
	}
}

/* %u and %c of f replaced by the fixed identities into out (cap bytes). */
static void ref_subst(const char *f, char *out, size_t cap)
{
	size_t o = 0;

	for (; *f != '\0' && o + 8 < cap; f++) {
		if (f[0] == '%' && (f[1] == 'u' || f[1] == 'c')) {
			const char *ins = f[1] == 'u' ? USERNAME : CLIENTID;

			memcpy(out + o, ins, strlen(ins));
			o += strlen(ins);
			f++;
		} else {
			out[o++] = *f;
		}
	}
	out[o] = '\0';
}

/* Order rules for mqs_rules_tree_add(). */
static int rule_cmp(const void *a, const void *b)
{
	return mqs_rules_filter_cmp(((const struct rule *)a)->filter,
	                            ((const struct rule *)b)->filter);
}

/* The reference decision of the rules for kind on a concrete topic. */
static int64_t ref_eval(const struct rule *r, size_t n, unsigned bit, const char *topic)
{
	int64_t best = MQS_RULES_NONE;
	char sub[4 * LINE_MAX];

	for (size_t i = 0; i < n; i++) {
		int64_t key = mqs_rules_key(r[i].priority, r[i].deny);

		if ((r[i].access & bit) == 0)
			continue;
		ref_subst(r[i].filter, sub, sizeof(sub));
		if (ref_match(sub, topic) && key > best)
			best = key;
	}
	return best;
}

/* Check the tree of the valid rules against the reference. */
static void check_tree(struct rule *r, size_t n, const char *topic)
{
	static const unsigned bits[MQS_RULES_KINDS] = {MQS_ACCESS_READ, MQS_ACCESS_WRITE,
	                                               MQS_ACCESS_SUB};
	struct mqs_arena a;
	struct mqs_rules_tree *t;
	const struct mqs_rules_tree *trees[1];
	int64_t got[MQS_RULES_KINDS], rd = MQS_RULES_NONE, sb = MQS_RULES_NONE;

	mqs_arena_init(&a);
	qsort(r, n, sizeof(*r), rule_cmp);
	t = mqs_rules_tree_new(&a);
	if (t == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (mqs_rules_tree_add(t, &a, r[i].filter, r[i].access, r[i].deny, r[i].priority) !=
		    MQS_OK)
			abort(); /* mqs_rules_problem() said it could be added */
	}
	if (mqs_rules_tree_finish(t, &a) != MQS_OK)
		abort();
	if (mqs_rules_tree_rules(t) != n)
		abort();
	for (int k = 0; k < MQS_RULES_KINDS; k++) {
		got[k] = MQS_RULES_NONE;
		mqs_rules_eval(t, (enum mqs_rules_kind)k, topic, USERNAME, CLIENTID, &got[k]);
		if (got[k] != ref_eval(r, n, bits[k], topic))
			abort();
	}
	mqs_rules_eval_read(t, topic, USERNAME, CLIENTID, &rd, &sb);
	if (rd != got[MQS_RULES_READ] || sb != got[MQS_RULES_SUB])
		abort();
	trees[0] = t;
	if (mqs_rules_sub_possible(trees, 1, topic, USERNAME, CLIENTID) !=
	    mqs_rules_key_allows(got[MQS_RULES_SUB]))
		abort();
out:
	mqs_arena_release(&a);
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rule *rules = NULL;
	char *lines[NRULES_MAX + 1];
	char *text = NULL;
	size_t nlines = 0, nrules = 0;
	unsigned seed;
	int concrete;
	const char *topic;

	if (size < 2 || size > 4096)
		return 0;
	seed = (unsigned)data[0] << 8 | data[1];
	text = malloc(size - 1);
	rules = calloc(NRULES_MAX, sizeof(*rules));
	if (text == NULL || rules == NULL)
		goto out;
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	if (strlen(text) != size - 2)
		goto out; /* C strings only */
	for (char *p = text; nlines <= NRULES_MAX;) {
		char *nl = strchr(p, '\n');

		lines[nlines++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	topic = lines[nlines - 1];
	concrete = topic[0] != '\0' && strpbrk(topic, "+#") == NULL;
	for (size_t i = 0; i + 1 < nlines; i++) {
		const char *f = lines[i];
		int valid = mqs_topic_filter_check(f) == MQS_OK;

		if (valid != ref_valid(f))
			abort();
		if (!valid)
			continue;
		if (mqs_topic_matches(f, topic) != ref_match(f, topic))
			abort();
		if (!mqs_rules_filter_covers(f, f))
			abort();
		if (concrete && (mqs_rules_filter_covers(f, topic) != ref_match(f, topic) ||
		                 mqs_rules_filter_overlaps(f, topic) != ref_match(f, topic)))
			abort();
		if (strlen(f) > LINE_MAX || mqs_rules_problem(f, MQS_ACCESS_READ) != NULL)
			continue;
		memcpy(rules[nrules].filter, f, strlen(f) + 1);
		rules[nrules].access = 1 + (seed + (unsigned)i) % 7;
		rules[nrules].deny = (seed >> (i % 16)) & 1;
		rules[nrules].priority = (int64_t)((seed >> (2 * (i % 8))) % 3);
		nrules++;
	}
	if (concrete && strlen(topic) <= LINE_MAX)
		check_tree(rules, nrules, topic);
out:
	free(rules);
	free(text);
	return 0;
}
