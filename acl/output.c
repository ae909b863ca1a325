/* SPDX-License-Identifier: BSD-3-Clause */
/* output.c - mqttsec-acl listings: a JSON array (--json) or an aligned
 * table built from the same cJSON rows, so both views always agree.
 * acl_listed prints the rows a command built from a library listing.  Everything is
 * linear in the number of rows (no cJSON_GetArrayItem in a loop).
 *
 * Table cells never carry control characters to the terminal (each is
 * shown as '?'), so stored text cannot inject escape sequences.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "acl.h"
#include "mqs_alloc.h"

/* ISO 8601 UTC. */
void acl_time_iso(long long t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%lld", t);
}

/* Add a string member. */
int acl_json_str(cJSON *obj, const char *key, const char *value)
{
	return cJSON_AddStringToObject(obj, key, value != NULL ? value : "") != NULL;
}

/* Add a number member (exact for |value| < 2^53). */
int acl_json_num(cJSON *obj, const char *key, long long value)
{
	return cJSON_AddNumberToObject(obj, key, (double)value) != NULL;
}

/* Add a boolean member. */
int acl_json_bool(cJSON *obj, const char *key, int value)
{
	return cJSON_AddBoolToObject(obj, key, value ? 1 : 0) != NULL;
}

/* Render one cell into a new string (malloc'd; NULL on allocation failure). */
static char *cell_text(const cJSON *item)
{
	char *s = NULL;
	size_t len = 0;
	size_t cap;

	if (item == NULL || cJSON_IsNull(item))
		return mqs_strdup("-");
	if (cJSON_IsBool(item))
		return mqs_strdup(cJSON_IsTrue(item) ? "yes" : "no");
	if (cJSON_IsNumber(item)) {
		s = mqs_malloc(32);
		if (s != NULL)
			snprintf(s, 32, "%.0f", item->valuedouble);
		return s;
	}
	if (cJSON_IsString(item))
		return mqs_strdup(item->valuestring);
	if (cJSON_IsArray(item)) {
		const cJSON *el;

		cap = 1;
		cJSON_ArrayForEach(el, item)
		{
			if (cJSON_IsString(el))
				cap += strlen(el->valuestring) + 1;
		}
		s = mqs_malloc(cap);
		if (s == NULL)
			return NULL;
		s[0] = '\0';
		cJSON_ArrayForEach(el, item)
		{
			size_t n;

			if (!cJSON_IsString(el))
				continue;
			n = strlen(el->valuestring);
			if (len > 0)
				s[len++] = ',';
			memcpy(s + len, el->valuestring, n);
			len += n;
			s[len] = '\0';
		}
		if (len == 0) {
			mqs_free(s);
			s = mqs_strdup("-");
		}
		return s;
	}
	return mqs_strdup("?");
}

/* Replace control characters so nothing reaches the terminal raw. */
static void defang(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
}

/* Print the table. */
static int print_table(const cJSON *rows, const struct acl_column *cols, size_t ncols)
{
	size_t nrows = (size_t)cJSON_GetArraySize(rows);
	size_t width[16];
	size_t r = 0;
	const cJSON *row;
	char **cells = NULL;
	int ex = EX_OSERR;

	if (ncols > 16)
		goto out;
	cells = mqs_calloc(nrows * ncols + 1, sizeof(*cells));
	if (cells == NULL)
		goto out;
	for (size_t c = 0; c < ncols; c++)
		width[c] = strlen(cols[c].header);
	cJSON_ArrayForEach(row, rows)
	{
		for (size_t c = 0; c < ncols; c++) {
			char *t = cell_text(cJSON_GetObjectItemCaseSensitive(row, cols[c].key));

			if (t == NULL)
				goto out;
			defang(t);
			cells[r * ncols + c] = t;
			if (strlen(t) > width[c])
				width[c] = strlen(t);
		}
		r++;
	}
	for (size_t c = 0; c < ncols; c++)
		printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cols[c].header,
		       c + 1 < ncols ? "  " : "\n");
	for (r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncols; c++)
			printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cells[r * ncols + c],
			       c + 1 < ncols ? "  " : "\n");
	}
	ex = ferror(stdout) ? EX_IOERR : EX_OK;
out:
	if (cells != NULL) {
		for (size_t i = 0; i < nrows * ncols; i++)
			mqs_free(cells[i]);
		mqs_free(cells);
	}
	if (ex == EX_OSERR)
		acl_err("cannot print table: out of memory");
	return ex;
}

/* Print rows as JSON or as a table. */
int acl_output(const struct acl_ctx *ctx, const cJSON *rows, const struct acl_column *cols,
               size_t ncols)
{
	char *text = NULL;
	int ex = EX_OK;

	if (!ctx->json) {
		ex = print_table(rows, cols, ncols);
		goto out;
	}
	text = cJSON_Print(rows);
	if (text == NULL) {
		acl_err("cannot print json: out of memory");
		ex = EX_OSERR;
		goto out;
	}
	if (fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF)
		ex = EX_IOERR;
out:
	cJSON_free(text);
	if (ex == EX_IOERR)
		acl_err("cannot write to stdout");
	return ex;
}

/* Finish a listing. */
int acl_listed(const struct acl_ctx *ctx, enum mqs_err rc, const cJSON *rows, const char *why,
               const struct acl_column *cols, size_t ncols)
{
	if (rc != MQS_OK)
		return acl_report(ctx, rc, why);
	return acl_output(ctx, rows, cols, ncols);
}

/* Out of memory while building a listing. */
enum mqs_err acl_nomem(char *why, const char *what)
{
	snprintf(why, ACL_WHY_MAX, "cannot list %s: out of memory", what);
	return MQS_ERR_NOMEM;
}
