/* SPDX-License-Identifier: BSD-3-Clause */
/* keyaccess.c - the admin library's only calls into the broker's rule
 * evaluator (lib/mqs_rules.c, from libmqttsec): the broker's check of a
 * rule filter (mqsa_rule_problem) and, for key export, may a device
 * receive every message of a topic filter (mqsa_read_covers)?
 *
 * key export hands a device the keys of a protected filter F only when the
 * device's ACL gives it `read` on every topic F matches.  The answer comes
 * from the broker plugin's own rule evaluation (lib/mqs_rules.c, linked
 * into mqttsec-acl): the device's rules and its groups' rules with access
 * read or all go into one rule tree as if they were subscribe rules, and
 * F is evaluated like a subscription: an allow rule applies when its filter
 * covers F, a deny rule when it overlaps F; the greatest (priority, effect)
 * wins, deny beats allow at equal priority, no rule means no access.
 *
 * %u is the device name.  The client id is unknown here, so an allow rule
 * holding %c never counts, and a deny rule holding %c counts as if each
 * level containing %c were '+' (it might deny some client id).
 *
 * The rule tester (mqsa_rule_test, "who may do what on this topic") builds
 * a device's trees as the plugin's snapshot does (broker-plugin/snapshot.c:
 * one tree per subject, the device's and its groups'; an unusable allow
 * rule is left out, an unusable deny rule denies its subject everything)
 * and decides as the plugin's ACL check does (docs/broker-plugin.md,
 * "Topic ACLs").
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"
#include "mqs_arena.h"
#include "mqs_buf.h"
#include "mqs_error.h"
#include "mqsa_int.h"

#include "mqs_keyaccess.h"
#include "mqs_rules.h"
#include "mqs_topic.h"

#define TEST_RULES_MAX (1u << 20) /* rules of one device and its groups */

/* Does name's ACL give read on every topic filter matches?  The rule lives
 * in lib/mqs_keyaccess.c, shared with the plugin's online key answers. */
enum mqs_err mqsa_read_covers(struct mqsa_ctx *ctx, const char *name, const char *filter,
                              int *allowed, char *why)
{
	char err[256];
	int rc;

	err[0] = '\0';
	rc = mqs_keyaccess_read_covers(ctx->db, name, filter, (int64_t)ctx->now, allowed, err,
	                               sizeof(err));
	if (rc == MQS_OK)
		return MQS_OK;
	if (rc == MQS_ERR_DB)
		return mqsa_db_fail(ctx, why, "read acl rules");
	return mqsa_fail(why, rc, "%s", err);
}

/* The plugin's access bits of an access word (0: unknown word). */
static unsigned access_bits(const char *access)
{
	if (strcmp(access, "pub") == 0)
		return MQS_ACCESS_WRITE;
	if (strcmp(access, "sub") == 0)
		return MQS_ACCESS_SUB;
	if (strcmp(access, "read") == 0)
		return MQS_ACCESS_READ;
	if (strcmp(access, "all") == 0)
		return MQS_ACCESS_READ | MQS_ACCESS_WRITE | MQS_ACCESS_SUB;
	return 0;
}

/* The broker's own problem with a rule (NULL: usable). */
const char *mqsa_rule_problem(const char *filter, const char *access, int *known)
{
	unsigned bits = access_bits(access);

	*known = bits != 0;
	if (bits == 0)
		return "unknown access";
	return mqs_rules_problem(filter, bits);
}

/* One rule of the device being tested. */
struct test_rule {
	const char *subject;
	const char *filter;
	unsigned access;
	int deny;
	long long priority;
};

/* qsort: by subject, then level-by-level filter order. */
static int test_rule_cmp(const void *x, const void *y)
{
	const struct test_rule *a = x;
	const struct test_rule *b = y;
	int c = strcmp(a->subject, b->subject);

	return c != 0 ? c : mqs_rules_filter_cmp(a->filter, b->filter);
}

/* Load the rules of name and its groups into the arena. */
static enum mqs_err test_load(struct mqsa_ctx *ctx, struct mqs_arena *ar, const char *name,
                              struct test_rule **rules, size_t *n, char *why)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int step;
	enum mqs_err rc;

	rc = mqsa_prepare(ctx,
	                  "SELECT subject, effect, access, filter, priority FROM acl_rules WHERE "
	                  "subject = ?1 UNION ALL SELECT subject, effect, access, filter, priority "
	                  "FROM acl_rules WHERE subject IN (SELECT '@' || grp FROM group_members "
	                  "WHERE member = ?1)",
	                  &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	for (;;) {
		struct test_rule *r;
		const char *subject;
		const char *filter;

		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = mqsa_db_fail(ctx, why, "read acl rules");
			goto out;
		}
		if (mqs_array_reserve((void **)rules, &cap, *n + 1, sizeof(**rules), TEST_RULES_MAX,
		                      0) != MQS_OK) {
			rc = mqsa_fail(why, MQS_ERR_NOMEM,
			               "cannot test the acl of %s: too many rules", name);
			goto out;
		}
		r = &(*rules)[*n];
		subject = mqsa_col(st, 0);
		filter = mqsa_col(st, 3);
		r->subject = mqs_arena_strndup(ar, subject, strlen(subject));
		r->filter = mqs_arena_strndup(ar, filter, strlen(filter));
		if (r->subject == NULL || r->filter == NULL) {
			rc = mqsa_fail(why, MQS_ERR_NOMEM, "cannot test the acl: out of memory");
			goto out;
		}
		/* anything but "allow" denies, as in the plugin */
		r->deny = strcmp(mqsa_col(st, 1), "allow") != 0;
		r->access = access_bits(mqsa_col(st, 2));
		r->priority = sqlite3_column_int64(st, 4);
		(*n)++;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* Decide topic for device a->name with its rules and its groups'. */
static enum mqs_err test_device(struct mqsa_ctx *ctx, const char *topic, const char *clientid,
                                struct mqsa_access *a, char *why)
{
	const struct mqs_rules_tree *trees[MQSA_PAGE_MAX + 1];
	struct mqs_rules_tree *cur = NULL;
	struct test_rule *rules = NULL;
	struct mqs_arena ar;
	int wild = strpbrk(topic, "+#") != NULL;
	int broken = 0;
	int64_t best = MQS_RULES_NONE;
	int64_t best_sub = MQS_RULES_NONE;
	unsigned ntrees = 0;
	size_t n = 0;
	enum mqs_err rc;

	mqs_arena_init(&ar);
	a->publish = a->receive = a->subscribe = a->closed = 0;
	rc = test_load(ctx, &ar, a->name, &rules, &n, why);
	if (rc != MQS_OK)
		goto out;
	if (n > 0)
		qsort(rules, n, sizeof(*rules), test_rule_cmp);
	for (size_t i = 0; i < n; i++) {
		int e;

		if (i == 0 || strcmp(rules[i].subject, rules[i - 1].subject) != 0) {
			if (cur != NULL) {
				if (broken)
					mqs_rules_tree_deny_all(cur);
				if (mqs_rules_tree_finish(cur, &ar) != MQS_OK)
					goto nomem;
			}
			if (ntrees >= MQSA_PAGE_MAX) {
				rc = mqsa_fail(why, MQS_ERR_TOOBIG,
				               "cannot test %s: too many groups", a->name);
				goto out;
			}
			cur = mqs_rules_tree_new(&ar);
			if (cur == NULL)
				goto nomem;
			trees[ntrees++] = cur;
			broken = 0;
		}
		e = rules[i].access == 0
		        ? MQS_ERR_INVAL
		        : mqs_rules_tree_add(cur, &ar, rules[i].filter, rules[i].access,
		                             rules[i].deny, rules[i].priority);
		if (e == MQS_ERR_NOMEM)
			goto nomem;
		if (e != MQS_OK && rules[i].deny)
			broken = 1; /* as the plugin: this subject is denied everything */
	}
	if (cur != NULL) {
		if (broken)
			mqs_rules_tree_deny_all(cur);
		if (mqs_rules_tree_finish(cur, &ar) != MQS_OK)
			goto nomem;
	}
	for (unsigned i = 0; i < ntrees; i++)
		a->closed |= mqs_rules_tree_denies_all(trees[i]);
	if (!a->enabled)
		goto out;
	a->subscribe = mqs_rules_sub_possible(trees, ntrees, topic, a->name, clientid);
	if (wild)
		goto out;
	for (unsigned i = 0; i < ntrees; i++)
		mqs_rules_eval_read(trees[i], topic, a->name, clientid, &best, &best_sub);
	a->receive = mqs_rules_key_allows(best) && mqs_rules_key_allows(best_sub);
	best = MQS_RULES_NONE;
	for (unsigned i = 0; i < ntrees; i++)
		mqs_rules_eval(trees[i], MQS_RULES_WRITE, topic, a->name, clientid, &best);
	a->publish = mqs_rules_key_allows(best);
	goto out;
nomem:
	rc = mqsa_fail(why, MQS_ERR_NOMEM, "cannot test the acl of %s: out of memory", a->name);
out:
	mqs_free(rules);
	mqs_arena_release(&ar);
	return rc;
}

/* The devices of one page: names copied out of the statement. */
struct test_names {
	char (*names)[MQSA_NAME_MAX + 1];
	int *enabled;
	size_t n;
};

/* Read the devices to test: name, or a page of every device. */
static enum mqs_err test_names_read(struct mqsa_ctx *ctx, const char *name, struct mqsa_page *pg,
                                    struct test_names *t, char *why)
{
	sqlite3_stmt *st = NULL;
	size_t cap = name != NULL ? 1 : (size_t)pg->limit;
	int step;
	enum mqs_err rc;

	t->names = mqs_calloc(cap, sizeof(*t->names));
	t->enabled = mqs_calloc(cap, sizeof(*t->enabled));
	if (t->names == NULL || t->enabled == NULL)
		return mqsa_fail(why, MQS_ERR_NOMEM, "cannot test the acl: out of memory");
	if (name == NULL) {
		rc = mqsa_prepare(ctx, "SELECT count(*) FROM devices", &st, why);
		if (rc == MQS_OK)
			rc = mqsa_page_count(ctx, st, pg, "count devices", why);
		if (rc != MQS_OK)
			return rc;
	}
	rc = mqsa_prepare(ctx,
	                  "SELECT name, enabled FROM devices WHERE ?1 IS NULL OR name = ?1 "
	                  "ORDER BY name LIMIT ?2 OFFSET ?3",
	                  &st, why);
	if (rc != MQS_OK)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)cap);
	sqlite3_bind_int64(st, 3, name != NULL ? 0 : pg->offset);
	for (;;) {
		const char *nm;

		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW || t->n >= cap) {
			rc = mqsa_db_fail(ctx, why, "read devices");
			break;
		}
		nm = mqsa_col(st, 0);
		snprintf(t->names[t->n], sizeof(t->names[t->n]), "%s", nm);
		t->enabled[t->n] = sqlite3_column_int(st, 1) != 0;
		t->n++;
	}
	sqlite3_finalize(st);
	if (rc == MQS_OK && name != NULL && t->n == 0)
		rc = mqsa_fail(why, MQS_ERR_NOENT, "unknown device %s", name);
	if (rc == MQS_OK && name != NULL && pg != NULL)
		pg->total = 1;
	return rc;
}

/* Who may do what on topic. */
enum mqs_err mqsa_rule_test(struct mqsa_ctx *ctx, const char *topic, const char *clientid,
                            const char *name, struct mqsa_page *pg,
                            enum mqs_err (*each)(const struct mqsa_access *a, void *arg), void *arg,
                            char *why)
{
	struct test_names t = {NULL, NULL, 0};
	struct mqsa_page one = {.offset = 0, .limit = 1};
	enum mqs_err rc;

	if (name != NULL && name[0] == '\0')
		name = NULL;
	if (clientid != NULL && clientid[0] == '\0')
		clientid = NULL;
	if (name != NULL && pg == NULL)
		pg = &one;
	rc = mqsa_page_begin(ctx, pg, NULL, why);
	if (rc == MQS_OK && name != NULL)
		rc = mqsa_name_check(name, "device", why);
	if (rc == MQS_OK)
		rc = mqsa_text_check(topic, MQSA_FILTER_MAX, 0, "topic", why);
	if (rc == MQS_OK && mqs_topic_filter_check(topic) != MQS_OK)
		rc = mqsa_fail(why, MQS_ERR_INVAL, "invalid topic: not an mqtt topic or filter");
	if (rc == MQS_OK && clientid != NULL)
		rc = mqsa_clientid_check(clientid, why);
	if (rc == MQS_OK)
		rc = test_names_read(ctx, name, pg, &t, why);
	for (size_t i = 0; rc == MQS_OK && i < t.n; i++) {
		struct mqsa_access a;

		memset(&a, 0, sizeof(a));
		a.name = t.names[i];
		a.enabled = t.enabled[i];
		rc = test_device(ctx, topic, clientid, &a, why);
		if (rc == MQS_OK)
			rc = each(&a, arg);
	}
	mqs_free(t.names);
	mqs_free(t.enabled);
	return rc;
}
