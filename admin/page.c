/* SPDX-License-Identifier: BSD-3-Clause */
/* page.c - one page of a long listing (mqsa.h, "pages"): the checks of a
 * page and its search texts, and the count of the matching rows, shared
 * by the paginated listings of devices.c, lists.c, rules.c, audit.c and
 * keyaccess.c (the web console's pages, docs/console.md).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_buf.h"
#include "mqs_error.h"
#include "mqsa_int.h"

#define KEY_PARAM   10   /* the key's first parameter: ?10.. */
#define LIMIT_PARAM 20   /* LIMIT ?20 OFFSET ?21 */
#define SQL_MAX     4096 /* a listing's statement */

/* Check a page and an optional search text, then open the database. */
enum mqs_err mqsa_page_begin(struct mqsa_ctx *ctx, struct mqsa_page *pg, const char *search,
                             char *why)
{
	enum mqs_err rc;

	if (pg == NULL || pg->offset < 0 || pg->limit < 1 || pg->limit > MQSA_PAGE_MAX)
		return mqsa_fail(why, MQS_ERR_INVAL, "invalid page: offset >= 0, 1..%d rows",
		                 MQSA_PAGE_MAX);
	pg->total = 0;
	pg->key_first[0] = '\0';
	pg->key_last[0] = '\0';
	pg->more_before = 0;
	pg->more_after = 0;
	if (search != NULL) {
		rc = mqsa_text_check(search, MQSA_SEARCH_MAX, 1, "search", why);
		if (rc != MQS_OK)
			return rc;
	}
	return mqsa_ctx_db(ctx, why);
}

/* Step a prepared count statement once into pg->total; finalizes st. */
enum mqs_err mqsa_page_count(struct mqsa_ctx *ctx, sqlite3_stmt *st, struct mqsa_page *pg,
                             const char *what, char *why)
{
	enum mqs_err rc = MQS_OK;

	if (sqlite3_step(st) == SQLITE_ROW)
		pg->total = sqlite3_column_int64(st, 0);
	else
		rc = mqsa_db_fail(ctx, why, what);
	sqlite3_finalize(st);
	return rc;
}

/* Bind the page's LIMIT and OFFSET to parameters ilimit and ilimit + 1. */
void mqsa_page_bind(sqlite3_stmt *st, int ilimit, const struct mqsa_page *pg)
{
	sqlite3_bind_int64(st, ilimit, pg->limit);
	sqlite3_bind_int64(st, ilimit + 1, pg->offset);
}

/* A page key, parsed or read from a row. */
struct page_key {
	long long num[MQSA_PAGE_KEYS];
	char text[MQSA_PAGE_KEY_MAX];
};

/* The number of key columns of spec. */
static int key_columns(const struct mqsa_page_spec *spec)
{
	int n = 0;

	while (n < MQSA_PAGE_KEYS && spec->key[n] != NULL)
		n++;
	return n;
}

/* Parse text, a key that the listing gave ("N,N,...[,TEXT]"). */
static enum mqs_err key_parse(const struct mqsa_page_spec *spec, const char *text,
                              struct page_key *k, char *why)
{
	int n = key_columns(spec);
	size_t len = strnlen(text, MQSA_PAGE_KEY_MAX);
	const char *p = text;
	enum mqs_err rc = MQS_ERR_INVAL;

	memset(k, 0, sizeof(*k));
	if (len >= MQSA_PAGE_KEY_MAX)
		goto out;
	for (int i = 0; i < n; i++) {
		char *end = NULL;

		if (spec->types[i] == 't') {
			memcpy(k->text, p, strlen(p) + 1);
			p += strlen(p);
			continue;
		}
		if (*p != '-' && (*p < '0' || *p > '9'))
			goto out;
		errno = 0;
		k->num[i] = strtoll(p, &end, 10);
		if (errno != 0 || end == p)
			goto out;
		p = end;
		if (i + 1 < n) {
			if (*p != ',')
				goto out;
			p++;
		}
	}
	if (*p == '\0')
		rc = MQS_OK;
out:
	if (rc != MQS_OK)
		mqsa_fail(why, rc, "invalid page key");
	return rc;
}

/* Read the key from the columns col.. of the row st is on. */
static void key_read(const struct mqsa_page_spec *spec, sqlite3_stmt *st, int col,
                     struct page_key *k)
{
	int n = key_columns(spec);

	for (int i = 0; i < n; i++) {
		if (spec->types[i] == 't')
			snprintf(k->text, sizeof(k->text), "%s", mqsa_col(st, col + i));
		else
			k->num[i] = sqlite3_column_int64(st, col + i);
	}
}

/* The text of key k into out (MQSA_PAGE_KEY_MAX bytes). */
static void key_format(const struct mqsa_page_spec *spec, const struct page_key *k, char *out)
{
	int n = key_columns(spec);
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < n && used < MQSA_PAGE_KEY_MAX; i++) {
		int w;

		if (spec->types[i] == 't')
			w = snprintf(out + used, MQSA_PAGE_KEY_MAX - used, "%s%s", i > 0 ? "," : "",
			             k->text);
		else
			w = snprintf(out + used, MQSA_PAGE_KEY_MAX - used, "%s%lld",
			             i > 0 ? "," : "", k->num[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* Bind key k to ?10.. */
static void key_bind(const struct mqsa_page_spec *spec, sqlite3_stmt *st, const struct page_key *k)
{
	int n = key_columns(spec);

	for (int i = 0; i < n; i++) {
		if (spec->types[i] == 't')
			sqlite3_bind_text(st, KEY_PARAM + i, k->text, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, KEY_PARAM + i, k->num[i]);
	}
}

/* " ORDER BY key" (each column DESC when desc) into b; with pos > 0 the
 * columns by their place in the result, from pos. */
static int order_by(const struct mqsa_page_spec *spec, struct mqs_buf *b, int desc, int pos)
{
	int n = key_columns(spec);
	int r = mqs_buf_adds(b, " ORDER BY ");

	for (int i = 0; r == MQS_OK && i < n; i++) {
		if (pos > 0)
			r = mqs_buf_addf(b, "%s%d%s", i > 0 ? ", " : "", pos + i,
			                 desc ? " DESC" : "");
		else
			r = mqs_buf_addf(b, "%s%s%s", i > 0 ? ", " : "", spec->key[i],
			                 desc ? " DESC" : "");
	}
	return r;
}

/* "SELECT head FROM from WHERE (where) [AND key cmp (?10, ..)] ORDER BY
 * key [reversed] tail" into b; the key columns are at result column keypos
 * (1-based) of head.  With a key of several columns, the comparison is
 * written as one seek per column (k1 = ?10 AND k2 > ?11, then k1 > ?10),
 * each at most ?22 rows, merged in order: SQLite does not seek an index on
 * a row-value comparison past its equal leading columns. */
static int sql_build(const struct mqsa_page_spec *spec, struct mqs_buf *b, const char *head,
                     int keypos, const char *cmp, int reverse, const char *tail)
{
	int n = key_columns(spec);
	int desc = reverse ? !spec->desc : spec->desc;
	const char *strict = cmp != NULL && cmp[0] == '<' ? "<" : ">";
	int r;

	if (cmp == NULL || n == 1) {
		r = mqs_buf_addf(b, "SELECT %s FROM %s WHERE (%s)", head, spec->from, spec->where);
		if (r == MQS_OK && cmp != NULL)
			r = mqs_buf_addf(b, " AND %s %s ?%d", spec->key[0], cmp, KEY_PARAM);
		if (r == MQS_OK)
			r = order_by(spec, b, desc, 0);
		if (r == MQS_OK)
			r = mqs_buf_addf(b, " %s", tail);
		return r;
	}
	r = mqs_buf_adds(b, "SELECT * FROM (");
	for (int j = n - 1; r == MQS_OK && j >= 0; j--) {
		r = mqs_buf_addf(b, "%sSELECT * FROM (SELECT %s FROM %s WHERE (%s)",
		                 j < n - 1 ? " UNION ALL " : "", head, spec->from, spec->where);
		for (int i = 0; r == MQS_OK && i < j; i++)
			r = mqs_buf_addf(b, " AND %s = ?%d", spec->key[i], KEY_PARAM + i);
		if (r == MQS_OK)
			r = mqs_buf_addf(b, " AND %s %s ?%d", spec->key[j],
			                 j == n - 1 ? cmp : strict, KEY_PARAM + j);
		if (r == MQS_OK)
			r = order_by(spec, b, desc, 0);
		if (r == MQS_OK)
			r = mqs_buf_addf(b, " LIMIT ?%d)", LIMIT_PARAM + 2);
	}
	if (r == MQS_OK)
		r = mqs_buf_adds(b, ")");
	if (r == MQS_OK)
		r = order_by(spec, b, desc, keypos);
	if (r == MQS_OK)
		r = mqs_buf_addf(b, " %s", tail);
	return r;
}

/* The key columns as a select list into b. */
static int key_list(const struct mqsa_page_spec *spec, struct mqs_buf *b, const char *before)
{
	int n = key_columns(spec);
	int r = mqs_buf_adds(b, before);

	for (int i = 0; r == MQS_OK && i < n; i++)
		r = mqs_buf_addf(b, "%s%s", i > 0 ? ", " : "", spec->key[i]);
	return r;
}

/* Where a page that ends before key k (NULL: at the end) starts: *found 1
 * with its first row's key in start, and *more 1 when rows come before
 * it; *found 0 when fewer than a page of rows come before k. */
static enum mqs_err page_start(struct mqsa_ctx *ctx, const struct mqsa_page_spec *spec,
                               const struct mqsa_page *pg, const struct page_key *k,
                               struct page_key *start, int *found, int *more, char *why)
{
	struct mqs_buf head;
	struct mqs_buf sql;
	sqlite3_stmt *st = NULL;
	int step;
	enum mqs_err rc = MQS_ERR_NOMEM;

	*found = 0;
	*more = 0;
	mqs_buf_init(&head, SQL_MAX, 0);
	mqs_buf_init(&sql, SQL_MAX, 0);
	if (key_list(spec, &head, "") != MQS_OK ||
	    sql_build(spec, &sql, mqs_buf_str(&head), 1,
	              k == NULL ? NULL : (spec->desc ? ">" : "<"), 1,
	              "LIMIT 2 OFFSET ?21") != MQS_OK) {
		mqsa_fail(why, rc, "cannot read %s: statement too long", spec->what);
		goto out;
	}
	rc = mqsa_prepare(ctx, mqs_buf_str(&sql), &st, why);
	if (rc != MQS_OK)
		goto out;
	spec->bind(st, spec->bind_arg);
	if (k != NULL)
		key_bind(spec, st, k);
	sqlite3_bind_int64(st, LIMIT_PARAM + 1, pg->limit - 1);
	if (k != NULL && key_columns(spec) > 1)
		sqlite3_bind_int64(st, LIMIT_PARAM + 2, pg->limit + 1);
	for (int i = 0; i < 2; i++) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			char what[64];

			snprintf(what, sizeof(what), "read %s", spec->what);
			rc = mqsa_db_fail(ctx, why, what);
			goto out;
		}
		if (i == 0) {
			key_read(spec, st, 0, start);
			*found = 1;
		} else {
			*more = 1;
		}
	}
out:
	sqlite3_finalize(st);
	mqs_buf_release(&head);
	mqs_buf_release(&sql);
	return rc;
}

/* The number of columns of spec's select list into *n. */
static enum mqs_err select_columns(struct mqsa_ctx *ctx, const struct mqsa_page_spec *spec, int *n,
                                   char *why)
{
	struct mqs_buf sql;
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	mqs_buf_init(&sql, SQL_MAX, 0);
	if (mqs_buf_addf(&sql, "SELECT %s FROM %s LIMIT 0", spec->select, spec->from) != MQS_OK) {
		rc =
		    mqsa_fail(why, MQS_ERR_NOMEM, "cannot read %s: statement too long", spec->what);
		goto out;
	}
	rc = mqsa_prepare(ctx, mqs_buf_str(&sql), &st, why);
	if (rc == MQS_OK)
		*n = sqlite3_column_count(st);
out:
	sqlite3_finalize(st);
	mqs_buf_release(&sql);
	return rc;
}

/* Count, then the page. */
enum mqs_err mqsa_page_run(struct mqsa_ctx *ctx, const struct mqsa_page_spec *spec,
                           struct mqsa_page *pg, enum mqs_err (*row)(sqlite3_stmt *st, void *arg),
                           void *arg, char *why)
{
	struct page_key k;
	struct page_key start;
	struct mqs_buf head;
	struct mqs_buf sql;
	sqlite3_stmt *st = NULL;
	const char *cmp = NULL;
	char what[64];
	long long offset = 0;
	int ncols;
	int nsel = 0;
	int found = 0;
	int step;
	enum mqs_err rc;

	mqs_buf_init(&head, SQL_MAX, 0);
	mqs_buf_init(&sql, SQL_MAX, 0);
	rc = mqs_buf_addf(&sql, "SELECT count(*) FROM %s WHERE (%s)", spec->from, spec->where);
	if (rc != MQS_OK) {
		rc =
		    mqsa_fail(why, MQS_ERR_NOMEM, "cannot read %s: statement too long", spec->what);
		goto out;
	}
	rc = mqsa_prepare(ctx, mqs_buf_str(&sql), &st, why);
	if (rc != MQS_OK)
		goto out;
	spec->bind(st, spec->bind_arg);
	snprintf(what, sizeof(what), "count %s", spec->what);
	rc = mqsa_page_count(ctx, st, pg, what, why);
	st = NULL;
	if (rc != MQS_OK)
		goto out;
	if (pg->after != NULL && pg->after[0] != '\0') {
		rc = key_parse(spec, pg->after, &k, why);
		cmp = spec->desc ? "<" : ">";
		pg->more_before = 1;
	} else if ((pg->before != NULL && pg->before[0] != '\0') || pg->at_end) {
		int have = pg->before != NULL && pg->before[0] != '\0';

		if (have)
			rc = key_parse(spec, pg->before, &k, why);
		if (rc == MQS_OK)
			rc = page_start(ctx, spec, pg, have ? &k : NULL, &start, &found,
			                &pg->more_before, why);
		if (rc == MQS_OK && found) {
			k = start;
			cmp = spec->desc ? "<=" : ">=";
		}
	} else {
		offset = pg->offset;
		pg->more_before = offset > 0;
	}
	if (rc != MQS_OK)
		goto out;
	mqs_buf_reset(&sql);
	rc = select_columns(ctx, spec, &nsel, why);
	if (rc != MQS_OK)
		goto out;
	if (mqs_buf_addf(&head, "%s", spec->select) != MQS_OK ||
	    key_list(spec, &head, ", ") != MQS_OK ||
	    sql_build(spec, &sql, mqs_buf_str(&head), nsel + 1, cmp, 0, "LIMIT ?20 OFFSET ?21") !=
	        MQS_OK) {
		rc =
		    mqsa_fail(why, MQS_ERR_NOMEM, "cannot read %s: statement too long", spec->what);
		goto out;
	}
	rc = mqsa_prepare(ctx, mqs_buf_str(&sql), &st, why);
	if (rc != MQS_OK)
		goto out;
	spec->bind(st, spec->bind_arg);
	if (cmp != NULL)
		key_bind(spec, st, &k);
	sqlite3_bind_int64(st, LIMIT_PARAM, pg->limit + 1);
	sqlite3_bind_int64(st, LIMIT_PARAM + 1, offset);
	if (cmp != NULL && key_columns(spec) > 1)
		sqlite3_bind_int64(st, LIMIT_PARAM + 2, pg->limit + 1);
	ncols = sqlite3_column_count(st) - key_columns(spec);
	for (long long n = 0;; n++) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			snprintf(what, sizeof(what), "read %s", spec->what);
			rc = mqsa_db_fail(ctx, why, what);
			break;
		}
		if (n == pg->limit) {
			pg->more_after = 1;
			break;
		}
		key_read(spec, st, ncols, &k);
		key_format(spec, &k, pg->key_last);
		if (n == 0)
			memcpy(pg->key_first, pg->key_last, sizeof(pg->key_first));
		rc = row(st, arg);
		if (rc != MQS_OK) {
			mqsa_fail(why, rc, "cannot list %s: %s", spec->what, mqs_strerror(rc));
			break;
		}
	}
out:
	sqlite3_finalize(st);
	mqs_buf_release(&head);
	mqs_buf_release(&sql);
	return rc;
}
