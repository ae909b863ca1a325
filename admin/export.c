/* SPDX-License-Identifier: BSD-3-Clause */
/* export.c - policy export and import (mqsa.h, docs/acl.md): groups,
 * members, rules and unexpired list entries.
 *
 * Export hands every record to the caller from one read transaction (a
 * consistent snapshot); the caller writes the text format:
 *
 *   group GROUP
 *   member GROUP NAME
 *   acl allow|deny pub|sub|read|all NAME|@GROUP FILTER [priority=N]
 *   list allow|deny clientid|username|ip PATTERN [expires=UNIX] [reason=TEXT]
 *
 * Fields are separated by spaces or tabs; inside a field a byte may be
 * written as \xHH.  Devices and secrets are never exported.
 *
 * Import applies a whole text in one transaction: on the first bad line it
 * reports the line, rolls back and changes nothing.  It merges by default
 * (existing groups, members and identical rules are kept, a list entry for
 * the same kind/match/pattern gets the imported expiry and reason);
 * replace first deletes every group, membership, rule and list entry.
 * Entries that expired since the export are skipped.
 *
 * At scale (docs/acl.md, "Import at scale"): the rules already there (in
 * the database and earlier in the file) are kept in a hash set, so finding
 * an identical rule costs no query however many rules share a subject; the
 * other look-ups use indexes, and every statement is prepared once
 * (mqsa_prepare_cached).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_hash.h"
#include "mqs_util.h"
#include "mqsa_int.h"

#define IMPORT_LINE_MAX (4 * MQSA_FILTER_MAX + 4096)
#define IMPORT_FIELDS   8
#define RULE_SET_MIN    1024u      /* slots of a new rule set */
#define RULE_SET_MAX    (1u << 24) /* slots: 8M rules in database and file */

/* ---- export ---- */

/* Step sql (?1 = now) and hand each row to each as an item of kind. */
static enum mqs_err export_rows(struct mqsa_ctx *ctx, const char *sql, enum mqsa_export_kind kind,
                                enum mqs_err (*each)(const struct mqsa_export_item *it, void *arg),
                                void *arg, long long *count, char *why)
{
	struct mqsa_export_item it;
	sqlite3_stmt *st = NULL;
	int step;
	enum mqs_err rc;

	*count = 0;
	rc = mqsa_prepare(ctx, sql, &st, why);
	if (rc != MQS_OK)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = mqsa_db_fail(ctx, why, "read db");
			goto out;
		}
		memset(&it, 0, sizeof(it));
		it.kind = kind;
		it.a = mqsa_col(st, 0);
		it.b = mqsa_col(st, 1);
		it.c = mqsa_col(st, 2);
		it.d = mqsa_col(st, 3);
		it.n = sqlite3_column_int64(st, 4);
		rc = each(&it, arg);
		if (rc != MQS_OK) {
			mqsa_fail(why, rc, "cannot export: %s", mqs_strerror(rc));
			goto out;
		}
		(*count)++;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* Export the policy. */
enum mqs_err mqsa_export(struct mqsa_ctx *ctx,
                         enum mqs_err (*each)(const struct mqsa_export_item *it, void *arg),
                         void *arg, long long count[4], char *why)
{
	enum mqs_err rc;

	for (int i = 0; i < 4; i++)
		count[i] = 0;
	rc = mqsa_ctx_db(ctx, why);
	if (rc != MQS_OK)
		goto out;
	/* one read transaction: a consistent snapshot */
	if (sqlite3_exec(ctx->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		rc = mqsa_db_fail(ctx, why, "start transaction");
		goto out;
	}
	/* each query yields (a, b, c, d, n) in the order of mqsa_export_item */
	rc = export_rows(ctx,
	                 "SELECT name, NULL, NULL, NULL, 0 FROM groups WHERE ?1 = ?1 "
	                 "ORDER BY name",
	                 MQSA_EXPORT_GROUP, each, arg, &count[0], why);
	if (rc == MQS_OK)
		rc = export_rows(
		    ctx,
		    "SELECT grp, member, NULL, NULL, 0 FROM group_members WHERE ?1 = ?1 "
		    "ORDER BY grp, member",
		    MQSA_EXPORT_MEMBER, each, arg, &count[1], why);
	if (rc == MQS_OK)
		rc = export_rows(ctx,
		                 "SELECT effect, access, subject, filter, priority FROM acl_rules "
		                 "WHERE ?1 = ?1 ORDER BY priority DESC, effect = 'deny' DESC, id",
		                 MQSA_EXPORT_RULE, each, arg, &count[2], why);
	if (rc == MQS_OK)
		rc =
		    export_rows(ctx,
		                "SELECT kind, match, pattern, reason, expires_at FROM list_entries "
		                "WHERE expires_at = 0 OR expires_at > ?1 ORDER BY id",
		                MQSA_EXPORT_ENTRY, each, arg, &count[3], why);
out:
	mqsa_tx_rollback(ctx);
	return rc;
}

/* ---- import ---- */

/* Split line (modified in place) into at most IMPORT_FIELDS decoded fields. */
static enum mqs_err split_fields(char *line, char **field, int *nfield, char *why)
{
	char *p = line;
	int n = 0;

	for (;;) {
		char *w;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (n == IMPORT_FIELDS)
			return mqsa_fail(why, MQS_ERR_INVAL, "too many fields");
		field[n++] = p;
		w = p;
		while (*p != '\0' && *p != ' ' && *p != '\t') {
			if (*p != '\\') {
				*w++ = *p++;
				continue;
			}
			if (p[1] != 'x' || mqs_hex_digit(p[2]) < 0 || mqs_hex_digit(p[3]) < 0)
				return mqsa_fail(
				    why, MQS_ERR_INVAL,
				    "bad escape: write a byte as \\xHH (a backslash as "
				    "\\x5c)");
			*w = (char)(mqs_hex_digit(p[2]) * 16 + mqs_hex_digit(p[3]));
			if (*w == '\0')
				return mqsa_fail(why, MQS_ERR_INVAL,
				                 "bad escape: \\x00 is not allowed");
			w++;
			p += 4;
		}
		if (*p != '\0')
			p++;
		*w = '\0';
	}
	*nfield = n;
	return MQS_OK;
}

/* Match "key=value" options of fields[from..n-1] against keys; values[i]
 * gets the value of keys[i] or stays NULL. */
static enum mqs_err parse_options(char **field, int from, int n, const char *const *keys,
                                  size_t nkeys, const char **values, char *why)
{
	for (size_t k = 0; k < nkeys; k++)
		values[k] = NULL;
	for (int i = from; i < n; i++) {
		char *eq = strchr(field[i], '=');
		size_t k;

		if (eq == NULL)
			return mqsa_fail(why, MQS_ERR_INVAL,
			                 "unexpected field (options are key=value)");
		*eq = '\0';
		for (k = 0; k < nkeys; k++) {
			if (strcmp(field[i], keys[k]) == 0)
				break;
		}
		if (k == nkeys)
			return mqsa_fail(why, MQS_ERR_INVAL, "unknown option %.32s", field[i]);
		if (values[k] != NULL)
			return mqsa_fail(why, MQS_ERR_INVAL, "option %s given twice", keys[k]);
		values[k] = eq + 1;
	}
	return MQS_OK;
}

/* import: the rules there are (database, then each one the file adds), as
 * keys "EFFECT ACCESS PRIORITY LEN:SUBJECT FILTER" (the subject's length
 * makes the split unambiguous) in an open-addressing table. */
struct rule_set {
	char **key;     /* cap slots, NULL = free; owned */
	uint64_t *hash; /* each key's hash */
	size_t cap;     /* a power of two, 0 = not loaded yet */
	size_t n;       /* keys held */
	uint64_t seed;  /* random: chains stay short whatever the file holds */
};

static void rule_set_release(struct rule_set *rs)
{
	for (size_t i = 0; i < rs->cap; i++)
		mqs_free(rs->key[i]);
	mqs_free(rs->key);
	mqs_free(rs->hash);
	memset(rs, 0, sizeof(*rs));
}

/* The key of a rule (malloc'd; NULL when out of memory). */
static char *rule_key(const char *effect, const char *access, const char *subject,
                      const char *filter, long long priority)
{
	size_t len = strlen(effect) + strlen(access) + strlen(subject) + strlen(filter) + 64;
	char *k = mqs_malloc(len);

	if (k != NULL)
		snprintf(k, len, "%s %s %lld %zu:%s %s", effect, access, priority, strlen(subject),
		         subject, filter);
	return k;
}

/* Slots of the key with hash h: the one holding key, else the free one. */
static size_t rule_set_slot(const struct rule_set *rs, const char *key, uint64_t h)
{
	size_t i = (size_t)h & (rs->cap - 1);

	while (rs->key[i] != NULL && (rs->hash[i] != h || strcmp(rs->key[i], key) != 0))
		i = (i + 1) & (rs->cap - 1);
	return i;
}

/* Make room for cap slots (a power of two) and move the keys there. */
static enum mqs_err rule_set_grow(struct rule_set *rs, size_t cap, char *why)
{
	struct rule_set big = {NULL, NULL, cap, 0, rs->seed};

	if (cap > RULE_SET_MAX)
		return mqsa_fail(why, MQS_ERR_TOOBIG, "too many acl rules (at most %u)",
		                 RULE_SET_MAX / 2);
	big.key = mqs_calloc(cap, sizeof(*big.key));
	big.hash = mqs_calloc(cap, sizeof(*big.hash));
	if (big.key == NULL || big.hash == NULL) {
		mqs_free(big.key);
		mqs_free(big.hash);
		return mqsa_fail(why, MQS_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < rs->cap; i++) {
		size_t j;

		if (rs->key[i] == NULL)
			continue;
		j = rule_set_slot(&big, rs->key[i], rs->hash[i]);
		big.key[j] = rs->key[i];
		big.hash[j] = rs->hash[i];
		big.n++;
	}
	mqs_free(rs->key);
	mqs_free(rs->hash);
	*rs = big;
	return MQS_OK;
}

/* Add the rule unless the set holds it; *added = it was not there. */
static enum mqs_err rule_set_add(struct rule_set *rs, const char *effect, const char *access,
                                 const char *subject, const char *filter, long long priority,
                                 int *added, char *why)
{
	char *key = NULL;
	uint64_t h;
	size_t i;
	enum mqs_err rc = MQS_OK;

	*added = 0;
	if (2 * (rs->n + 1) > rs->cap) {
		rc = rule_set_grow(rs, rs->cap < RULE_SET_MIN ? RULE_SET_MIN : 2 * rs->cap, why);
		if (rc != MQS_OK)
			goto out;
	}
	key = rule_key(effect, access, subject, filter, priority);
	if (key == NULL) {
		rc = mqsa_fail(why, MQS_ERR_NOMEM, "out of memory");
		goto out;
	}
	h = mqs_hash_mix64(mqs_hash_fnv1a(rs->seed, key));
	i = rule_set_slot(rs, key, h);
	if (rs->key[i] != NULL)
		goto out;
	rs->key[i] = key;
	rs->hash[i] = h;
	rs->n++;
	key = NULL;
	*added = 1;
out:
	mqs_free(key);
	return rc;
}

/* Fill the set with the rules of the database (once, at the first rule). */
static enum mqs_err rule_set_load(struct mqsa_ctx *ctx, struct rule_set *rs, char *why)
{
	sqlite3_stmt *st = NULL;
	int added;
	int step;
	enum mqs_err rc;

	if (RAND_bytes((unsigned char *)&rs->seed, sizeof(rs->seed)) != 1)
		return mqsa_fail(why, MQS_ERR_CRYPTO, "cannot draw random bytes");
	rc = rule_set_grow(rs, RULE_SET_MIN, why);
	if (rc == MQS_OK)
		rc = mqsa_prepare(ctx,
		                  "SELECT effect, access, subject, filter, priority FROM acl_rules",
		                  &st, why);
	while (rc == MQS_OK) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = mqsa_db_fail(ctx, why, "read acl rules");
			break;
		}
		rc = rule_set_add(rs, mqsa_col(st, 0), mqsa_col(st, 1), mqsa_col(st, 2),
		                  mqsa_col(st, 3), sqlite3_column_int64(st, 4), &added, why);
	}
	sqlite3_finalize(st);
	return rc;
}

/* import: the text, what applying it did, the rules there are. */
struct import_arg {
	char *data; /* NUL-free, modified in place */
	size_t len;
	const char *name;
	int replace;
	int dry_run;
	struct mqsa_import_result *s;
	struct rule_set rules;
};

static enum mqs_err import_group(struct mqsa_ctx *ctx, char **f, int n,
                                 struct mqsa_import_result *s, char *why)
{
	int created = 0;
	enum mqs_err ex;

	if (n != 2)
		return mqsa_fail(why, MQS_ERR_INVAL, "usage: group GROUP");
	ex = mqsa_group_put(ctx, f[1], 1, &created, why);
	s->groups += created;
	s->kept += !created;
	return ex;
}

static enum mqs_err import_member(struct mqsa_ctx *ctx, char **f, int n,
                                  struct mqsa_import_result *s, char *why)
{
	int created = 0;
	enum mqs_err ex;

	if (n != 3)
		return mqsa_fail(why, MQS_ERR_INVAL, "usage: member GROUP NAME");
	ex = mqsa_member_put(ctx, f[1], f[2], 1, &created, why);
	s->members += created;
	s->kept += !created;
	return ex;
}

static enum mqs_err import_rule(struct mqsa_ctx *ctx, char **f, int n, struct import_arg *a,
                                char *why)
{
	struct mqsa_import_result *s = a->s;
	int added = 0;
	static const char *const keys[] = {"priority"};
	const char *val[1];
	long long priority = 0;
	long long id = 0;
	enum mqs_err ex;

	if (n < 5)
		return mqsa_fail(why, MQS_ERR_INVAL,
		                 "usage: acl allow|deny pub|sub|read|all NAME|@GROUP FILTER "
		                 "[priority=N]");
	ex = parse_options(f, 5, n, keys, 1, val, why);
	if (ex == MQS_OK && val[0] != NULL)
		ex = mqsa_int_parse(val[0], MQSA_PRIORITY_MIN, MQSA_PRIORITY_MAX, "priority",
		                    &priority, why);
	if (ex == MQS_OK)
		ex = mqsa_rule_check(ctx, f[1], f[2], f[3], f[4], why);
	/* an identical rule (effect, access, subject, filter, priority) is kept */
	if (ex == MQS_OK && a->rules.cap == 0)
		ex = rule_set_load(ctx, &a->rules, why);
	if (ex == MQS_OK)
		ex = rule_set_add(&a->rules, f[1], f[2], f[3], f[4], priority, &added, why);
	if (ex == MQS_OK && added)
		ex = mqsa_rule_insert(ctx, f[1], f[2], f[3], f[4], priority, &id, why);
	s->rules += id != 0;
	s->kept += ex == MQS_OK && id == 0;
	return ex;
}

static enum mqs_err import_entry(struct mqsa_ctx *ctx, char **f, int n,
                                 struct mqsa_import_result *s, char *why)
{
	static const char *const keys[] = {"expires", "reason"};
	const char *val[2];
	char pattern[MQSA_PATTERN_MAX + 1];
	long long expires = 0;
	long long id = 0;
	enum mqs_err ex;

	if (n < 4)
		return mqsa_fail(
		    why, MQS_ERR_INVAL,
		    "usage: list allow|deny clientid|username|ip PATTERN [expires=UNIX] "
		    "[reason=TEXT]");
	ex = parse_options(f, 4, n, keys, 2, val, why);
	if (ex == MQS_OK && val[0] != NULL)
		ex = mqsa_int_parse(val[0], 0, (long long)ctx->now + MQSA_TTL_MAX, "expires",
		                    &expires, why);
	if (ex == MQS_OK && val[1] != NULL)
		ex = mqsa_text_check(val[1], MQSA_REASON_MAX, 1, "reason", why);
	if (ex == MQS_OK)
		ex = mqsa_list_words(f[1], f[2], why);
	if (ex == MQS_OK)
		ex = mqsa_list_pattern(ctx, f[2], f[3], pattern, sizeof(pattern), why);
	if (ex != MQS_OK)
		return ex;
	if (expires != 0 && expires <= (long long)ctx->now) {
		s->skipped++;
		return MQS_OK;
	}
	ex = mqsa_list_put(ctx, f[1], f[2], pattern, expires, val[1], 1, &id, why);
	s->entries += ex == MQS_OK;
	return ex;
}

/* Apply one line (modified in place). */
static enum mqs_err import_line(struct mqsa_ctx *ctx, char *line, struct import_arg *a, char *why)
{
	struct mqsa_import_result *s = a->s;
	char *f[IMPORT_FIELDS];
	int n = 0;
	enum mqs_err ex;

	line += strspn(line, " \t");
	if (line[0] == '#' || line[0] == '\0')
		return MQS_OK;
	ex = split_fields(line, f, &n, why);
	if (ex != MQS_OK || n == 0)
		return ex;
	if (strcmp(f[0], "group") == 0)
		return import_group(ctx, f, n, s, why);
	if (strcmp(f[0], "member") == 0)
		return import_member(ctx, f, n, s, why);
	if (strcmp(f[0], "acl") == 0)
		return import_rule(ctx, f, n, a, why);
	if (strcmp(f[0], "list") == 0)
		return import_entry(ctx, f, n, s, why);
	return mqsa_fail(why, MQS_ERR_INVAL, "unknown keyword (use group, member, acl or list)");
}

/* Delete everything import --replace replaces. */
static enum mqs_err import_clear(struct mqsa_ctx *ctx, char *why)
{
	if (sqlite3_exec(ctx->db,
	                 "DELETE FROM acl_rules; DELETE FROM group_members; DELETE FROM groups; "
	                 "DELETE FROM list_entries",
	                 NULL, NULL, NULL) != SQLITE_OK)
		return mqsa_db_fail(ctx, why, "clear policy");
	return MQS_OK;
}

/* Apply every line; the first bad one is reported in s->line. */
static enum mqs_err import_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                  char *why)
{
	struct import_arg *a = data;
	const char *base;
	char *end = a->data + a->len;
	char *p = a->data;
	size_t lineno = 0;
	enum mqs_err rc = MQS_OK;

	if (a->replace)
		rc = import_clear(ctx, why);
	if (rc != MQS_OK)
		goto out;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (nl != NULL)
			*nl = '\0';
		n = strlen(p);
		lineno++;
		if (n > 0 && p[n - 1] == '\r')
			p[--n] = '\0';
		if (n > IMPORT_LINE_MAX)
			rc = mqsa_fail(why, MQS_ERR_TOOBIG, "line too long");
		else
			rc = import_line(ctx, p, a, why);
		if (rc != MQS_OK) {
			a->s->line = lineno;
			goto out;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (a->dry_run) {
		*skip = 1;
		goto out;
	}
	base = strrchr(a->name, '/') != NULL ? strrchr(a->name, '/') + 1 : a->name;
	snprintf(detail, MQSA_DETAIL_MAX,
	         "file=%.100s replace=%d groups=%lld members=%lld rules=%lld entries=%lld "
	         "skipped=%lld",
	         base, a->replace, a->s->groups, a->s->members, a->s->rules, a->s->entries,
	         a->s->skipped);
out:
	return rc;
}

/* Apply an export. */
enum mqs_err mqsa_import(struct mqsa_ctx *ctx, char *text, size_t len, const char *name,
                         int replace, int dry_run, struct mqsa_import_result *res, char *why)
{
	struct import_arg a = {text, len, name, replace != 0, dry_run != 0, res, {0}};
	enum mqs_err rc;

	memset(res, 0, sizeof(*res));
	if (memchr(text, '\0', len) != NULL)
		return mqsa_fail(why, MQS_ERR_PARSE, "%s: not a text file (contains NUL bytes)",
		                 name);
	rc = mqsa_tx_run(ctx, "import", import_change, &a, NULL, why);
	rule_set_release(&a.rules);
	return rc;
}
