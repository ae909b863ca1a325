/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_audit.c - the console's view of the broker's audit log
 * (docs/console.md, "Audit log"; docs/acl.md "Audit log"): the newest
 * first, paginated, filtered by who (contains), action (starts with) and a
 * time range in UTC.  Read-only; admins only (it names devices and
 * addresses).
 */
#define _GNU_SOURCE /* strptime, timegm */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cs_broker.h"

/* A row of the listing. */
struct audit_arg {
	struct cs_resp *resp;
};

/* One audit row. */
static enum mqs_err audit_row(const struct mqsa_audit_row *r, void *arg)
{
	struct audit_arg *a = arg;

	cs_out_raw(a->resp, "<tr><td>");
	cs_broker_time(a->resp, r->at, "-");
	cs_out_fmt(a->resp,
	           "</td><td class=\"who\">%s</td><td>%s</td><td class=\"detail\">%s</td></tr>\n",
	           r->who, r->action, r->detail);
	return MQS_OK;
}

/* A time of the range, "YYYY-MM-DD" or "YYYY-MM-DD HH:MM[:SS]" (or with
 * 'T'), UTC: 0 when empty, -1 when invalid.  end: a date alone means its
 * last second. */
static long long range_time(const char *text, int end)
{
	static const char *const fmts[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
	                                   "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"};
	struct tm tm;
	const char *e;

	if (text[0] == '\0')
		return 0;
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		e = strptime(text, fmts[i], &tm);
		if (e != NULL && *e == '\0')
			return (long long)timegm(&tm);
	}
	memset(&tm, 0, sizeof(tm));
	e = strptime(text, "%Y-%m-%d", &tm);
	if (e == NULL || *e != '\0')
		return -1;
	return (long long)timegm(&tm) + (end ? 86399 : 0);
}

/* A filter text input. */
static void filter_input(struct cs_resp *resp, const char *label, const char *name,
                         const char *value, const char *placeholder)
{
	cs_out_fmt(resp, "<label>%s <input name=\"%s\" placeholder=\"%s\" value=\"", label, name,
	           placeholder);
	cs_out_attr(resp, value);
	cs_out_raw(resp, "\"></label> ");
}

/* GET /audit[?who=W&action=A&from=T&until=T&page=N] */
static int audit_get(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct audit_arg a = {resp};
	struct mqsa_page pg;
	struct mqsa_audit_query q;
	const char *from = cs_broker_param(req, "from");
	const char *until = cs_broker_param(req, "until");
	char why[MQSA_WHY_MAX];
	enum mqs_err rc = MQS_OK;
	int st;

	cs_broker_page(req, &pg);
	st = cs_broker_open(req, resp, "Audit log", &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	q.who = cs_broker_param(req, "who");
	q.action = cs_broker_param(req, "action");
	q.from = range_time(from, 0);
	q.until = range_time(until, 1);
	if (q.from < 0 || q.until < 0) {
		rc = MQS_ERR_INVAL;
		snprintf(why, sizeof(why),
		         "invalid time: use YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC)");
	}
	cs_page_begin(resp, req, "Audit log");
	cs_out_raw(resp, "<form method=\"get\" action=\"/audit\" class=\"search\">");
	filter_input(resp, "Who", "who", q.who, "console:alice");
	filter_input(resp, "Action", "action", q.action, "device");
	filter_input(resp, "From", "from", from, "YYYY-MM-DD");
	filter_input(resp, "Until", "until", until, "YYYY-MM-DD");
	cs_out_raw(resp, "<button type=\"submit\">Show</button></form>\n");
	cs_out_raw(resp, "<table id=\"audit\"><thead><tr><th>Time</th><th>Who</th><th>Action</th>"
	                 "<th>Detail</th></tr></thead><tbody>\n");
	if (rc == MQS_OK)
		rc = mqsa_audit_page(ctx, &q, &pg, audit_row, &a, why);
	cs_out_raw(resp, "</tbody></table>\n");
	if (rc != MQS_OK)
		cs_out_fmt(resp, "<p class=\"error\">%s</p>", why);
	cs_out_fmt(resp, "<p class=\"count\">%lld rows</p>", pg.total);
	cs_broker_pager(resp, req, &pg);
	cs_page_end(resp);
	return rc == MQS_OK || rc == MQS_ERR_INVAL ? 200 : (mqsa_ctx_db_busy(ctx) ? 503 : 500);
}

const struct cs_route cs_pg_audit_routes[] = {
    {"GET", "/audit", CS_ROLE_ADMIN, "Audit", audit_get},
    {NULL, NULL, 0, NULL, NULL},
};
