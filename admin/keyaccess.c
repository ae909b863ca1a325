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
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mqs_buf.h"
#include "mqs_error.h"
#include "mqsa_int.h"

#include "mqs_rules.h"
#include "mqs_arena.h"

#define RULES_MAX (1u << 20) /* read rules of one device */

/* one rule with read access */
struct read_rule {
	char *filter;
	int deny;
	long long priority;
};

/* qsort: level-by-level filter order, as mqs_rules_tree_add() expects. */
static int rule_cmp(const void *x, const void *y)
{
	const struct read_rule *a = x;
	const struct read_rule *b = y;

	return mqs_rules_filter_cmp(a->filter, b->filter);
}

/* Copy filter, replacing every level that holds %c with '+'.  NULL when
 * out of memory. */
static char *widen_clientid(const char *filter)
{
	size_t n = strlen(filter);
	char *out = malloc(n + 1);
	size_t o = 0;
	const char *s = filter;

	if (out == NULL)
		return NULL;
	for (;;) {
		const char *e = strchr(s, '/');
		size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
		int has_c = 0;

		for (size_t i = 0; i + 1 < len; i++) {
			if (s[i] == '%' && s[i + 1] == 'c')
				has_c = 1;
		}
		if (has_c) {
			out[o++] = '+';
		} else {
			memcpy(out + o, s, len);
			o += len;
		}
		if (e == NULL)
			break;
		out[o++] = '/';
		s = e + 1;
	}
	out[o] = '\0';
	return out;
}

/* Load name's read rules (its own and its groups'). */
static enum mqs_err load_rules(struct mqsa_ctx *ctx, const char *name, struct read_rule **rules,
                               size_t *n, char *why)
{
	sqlite3_stmt *st = NULL;
	struct read_rule *r = NULL;
	size_t cap = 0;
	int rc;
	enum mqs_err ex;

	*n = 0;
	ex = mqsa_prepare(ctx,
	                  "SELECT effect, filter, priority FROM acl_rules WHERE access IN "
	                  "('read', 'all') AND (subject = ?1 OR subject IN "
	                  "(SELECT '@' || grp FROM group_members WHERE member = ?1))",
	                  &st, why);
	if (ex != MQS_OK)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	for (;;) {
		const char *effect;
		const char *filter;
		struct read_rule *rule;

		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			ex = mqsa_db_fail(ctx, why, "read acl rules");
			goto out;
		}
		if (mqs_array_reserve((void **)&r, &cap, *n + 1, sizeof(*r), RULES_MAX, 0) !=
		    MQS_OK)
			goto nomem;
		effect = (const char *)sqlite3_column_text(st, 0);
		filter = (const char *)sqlite3_column_text(st, 1);
		rule = &r[*n];
		/* anything but "allow" denies, as in the plugin */
		rule->deny = effect == NULL || strcmp(effect, "allow") != 0;
		rule->priority = sqlite3_column_int64(st, 2);
		if (filter == NULL)
			filter = "";
		if (strstr(filter, "%c") != NULL) {
			if (!rule->deny)
				continue; /* an unknown client id never gains access */
			rule->filter = widen_clientid(filter);
		} else {
			rule->filter = strdup(filter);
		}
		if (rule->filter == NULL)
			goto nomem;
		(*n)++;
	}
	goto out;
nomem:
	ex = mqsa_fail(why, MQS_ERR_NOMEM, "cannot read acl rules: out of memory");
out:
	sqlite3_finalize(st);
	*rules = r;
	return ex;
}

/* Does name's ACL give read on every topic filter matches? */
enum mqs_err mqsa_read_covers(struct mqsa_ctx *ctx, const char *name, const char *filter,
                              int *allowed, char *why)
{
	struct mqs_arena arena;
	struct mqs_rules_tree *tree;
	struct read_rule *rules = NULL;
	int64_t best = MQS_RULES_NONE;
	size_t n = 0;
	int rc;
	enum mqs_err ex;

	*allowed = 0;
	mqs_arena_init(&arena);
	ex = load_rules(ctx, name, &rules, &n, why);
	if (ex != MQS_OK)
		goto out;
	if (n > 0)
		qsort(rules, n, sizeof(*rules), rule_cmp);
	tree = mqs_rules_tree_new(&arena);
	if (tree == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		rc = mqs_rules_tree_add(tree, &arena, rules[i].filter, MQS_ACCESS_SUB,
		                        rules[i].deny, rules[i].priority);
		if (rc == MQS_ERR_NOMEM)
			goto nomem;
		if (rc != MQS_OK && rules[i].deny) {
			/* an unusable deny rule could hide a refusal: fail closed */
			ex = mqsa_fail(why, MQS_ERR_INVAL,
			               "cannot evaluate the acl of %s: bad rule filter", name);
			goto out;
		}
	}
	if (mqs_rules_tree_finish(tree, &arena) != MQS_OK)
		goto nomem;
	mqs_rules_eval(tree, MQS_RULES_SUB, filter, name, NULL, &best);
	*allowed = mqs_rules_key_allows(best);
	goto out;
nomem:
	ex = mqsa_fail(why, MQS_ERR_NOMEM, "cannot evaluate the acl of %s: out of memory", name);
out:
	for (size_t i = 0; i < n; i++)
		free(rules[i].filter);
	free(rules);
	mqs_arena_release(&arena);
	return ex;
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
