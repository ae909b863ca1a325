/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_keyaccess.c - read access over a whole filter (see mqs_keyaccess.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"
#include "mqs_arena.h"
#include "mqs_buf.h"
#include "mqs_error.h"
#include "mqs_keyaccess.h"
#include "mqs_rules.h"

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
	char *out = mqs_malloc(n + 1);
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
static int load_rules(sqlite3 *db, const char *name, struct read_rule **rules, size_t *n, char *err,
                      size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct read_rule *r = NULL;
	size_t cap = 0;
	int rc = MQS_ERR_DB;

	*n = 0;
	if (sqlite3_prepare_v2(
	        db,
	        /* two indexed lookups (acl_rules_subject), not an OR */
	        "SELECT effect, filter, priority FROM acl_rules WHERE access IN "
	        "('read', 'all') AND subject = ?1 UNION ALL SELECT effect, filter, "
	        "priority FROM acl_rules WHERE access IN ('read', 'all') AND "
	        "subject IN (SELECT '@' || grp FROM group_members WHERE member = ?1)",
	        -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	for (;;) {
		const char *effect;
		const char *filter;
		struct read_rule *rule;
		int s = sqlite3_step(st);

		if (s == SQLITE_DONE)
			break;
		if (s != SQLITE_ROW)
			goto dberr;
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
			rule->filter = mqs_strdup(filter);
		}
		if (rule->filter == NULL)
			goto nomem;
		(*n)++;
	}
	rc = MQS_OK;
	goto out;
dberr:
	snprintf(err, errlen, "cannot read acl rules: %s", sqlite3_errmsg(db));
	goto out;
nomem:
	rc = MQS_ERR_NOMEM;
	snprintf(err, errlen, "cannot read acl rules: out of memory");
out:
	sqlite3_finalize(st);
	*rules = r;
	return rc;
}

/* *enabled = 1 when name is a device row with enabled set, read in the
 * caller's transaction: the database, not a cached view, decides (a device
 * disabled a moment ago gets no key; docs/payload-encryption.md, "Revoking
 * rotates"). */
static int device_enabled(sqlite3 *db, const char *name, int *enabled, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int step;
	int rc = MQS_OK;

	*enabled = 0;
	if (sqlite3_prepare_v2(db, "SELECT enabled FROM devices WHERE name = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*enabled = sqlite3_column_int(st, 0) != 0;
	else if (step != SQLITE_DONE)
		goto fail;
	goto out;
fail:
	rc = MQS_ERR_DB;
	snprintf(err, errlen, "cannot read device %s: %s", name, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	return rc;
}

/* *admitted = 0 when the lists keep name out at now, as far as the database
 * tells without a client id or address (docs/payload-encryption.md,
 * "Revoking rotates"): an unexpired deny entry for the username written by
 * an administrator (the plugin's automatic bans are temporary lockouts,
 * not revocations); with the allow list on (settings "allowlist", written
 * by the plugin at start; no row: off, the plugin never ran) no unexpired allow entry
 * that could admit it: one for its username, one for a client id bound to
 * it (table clientids), or any ip entry (an address is not a device's). */
static int lists_admit(sqlite3 *db, const char *name, int64_t now, int *admitted, char *err,
                       size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_OK;

	*admitted = 0;
	if (sqlite3_prepare_v2(
	        db,
	        "SELECT NOT EXISTS (SELECT 1 FROM list_entries WHERE kind = 'deny' AND match = "
	        "'username' AND pattern = ?1 AND created_by <> 'mqttsec-plugin' AND (expires_at = "
	        "0 "
	        "OR expires_at > ?2)) AND (coalesce((SELECT value FROM settings WHERE name = "
	        "'allowlist'), 'off') = 'off' OR EXISTS (SELECT 1 FROM list_entries e WHERE e.kind "
	        "= "
	        "'allow' AND (e.expires_at = 0 OR e.expires_at > ?2) AND ((e.match = 'username' "
	        "AND "
	        "e.pattern = ?1) OR e.match = 'ip' OR (e.match = 'clientid' AND EXISTS (SELECT 1 "
	        "FROM clientids c WHERE c.clientid = e.pattern AND c.username = ?1)))))",
	        -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto fail;
	*admitted = sqlite3_column_int(st, 0) != 0;
	goto out;
fail:
	rc = MQS_ERR_DB;
	snprintf(err, errlen, "cannot read the lists: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	return rc;
}

/* Does name's ACL give read on every topic filter matches? */
int mqs_keyaccess_read_covers(sqlite3 *db, const char *name, const char *filter, int64_t now,
                              int *allowed, char *err, size_t errlen)
{
	return mqs_keyaccess_read_covers_many(db, name, &filter, 1, now, allowed, err, errlen);
}

/* The same for nfilters filters, the device and its rules read once. */
int mqs_keyaccess_read_covers_many(sqlite3 *db, const char *name, const char *const *filters,
                                   size_t nfilters, int64_t now, int *allowed, char *err,
                                   size_t errlen)
{
	struct mqs_arena arena;
	struct mqs_rules_tree *tree;
	struct read_rule *rules = NULL;
	int64_t best = MQS_RULES_NONE;
	size_t n = 0;
	int enabled = 0;
	int rc;

	for (size_t i = 0; i < nfilters; i++)
		allowed[i] = 0;
	mqs_arena_init(&arena);
	rc = device_enabled(db, name, &enabled, err, errlen);
	if (rc != MQS_OK || !enabled)
		goto out; /* unknown or disabled: reads nothing */
	rc = lists_admit(db, name, now, &enabled, err, errlen);
	if (rc != MQS_OK || !enabled)
		goto out; /* kept out by the lists: reads nothing */
	rc = load_rules(db, name, &rules, &n, err, errlen);
	if (rc != MQS_OK)
		goto out;
	if (n > 0)
		qsort(rules, n, sizeof(*rules), rule_cmp);
	tree = mqs_rules_tree_new(&arena);
	if (tree == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		int e = mqs_rules_tree_add(tree, &arena, rules[i].filter, MQS_ACCESS_SUB,
		                           rules[i].deny, rules[i].priority);

		if (e == MQS_ERR_NOMEM)
			goto nomem;
		if (e != MQS_OK && rules[i].deny) {
			/* an unusable deny rule could hide a refusal: fail closed */
			rc = MQS_ERR_INVAL;
			snprintf(err, errlen, "cannot evaluate the acl of %s: bad rule filter",
			         name);
			goto out;
		}
	}
	if (mqs_rules_tree_finish(tree, &arena) != MQS_OK)
		goto nomem;
	for (size_t i = 0; i < nfilters; i++) {
		best = MQS_RULES_NONE;
		mqs_rules_eval(tree, MQS_RULES_SUB, filters[i], name, NULL, &best);
		allowed[i] = mqs_rules_key_allows(best);
	}
	rc = MQS_OK;
	goto out;
nomem:
	rc = MQS_ERR_NOMEM;
	snprintf(err, errlen, "cannot evaluate the acl of %s: out of memory", name);
out:
	for (size_t i = 0; i < n; i++)
		mqs_free(rules[i].filter);
	mqs_free(rules);
	mqs_arena_release(&arena);
	return rc;
}
