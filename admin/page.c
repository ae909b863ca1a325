/* SPDX-License-Identifier: BSD-3-Clause */
/* page.c - one page of a long listing (mqsa.h, "pages"): the checks of a
 * page and its search texts, and the count of the matching rows, shared
 * by the paginated listings of devices.c, lists.c, rules.c, audit.c and
 * keyaccess.c (the web console's pages, docs/console.md).
 */
#include "config.h"

#include "mqs_error.h"
#include "mqsa_int.h"

/* Check a page and an optional search text, then open the database. */
enum mqs_err mqsa_page_begin(struct mqsa_ctx *ctx, struct mqsa_page *pg, const char *search,
                             char *why)
{
	enum mqs_err rc;

	if (pg == NULL || pg->offset < 0 || pg->limit < 1 || pg->limit > MQSA_PAGE_MAX)
		return mqsa_fail(why, MQS_ERR_INVAL, "invalid page: offset >= 0, 1..%d rows",
		                 MQSA_PAGE_MAX);
	pg->total = 0;
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
