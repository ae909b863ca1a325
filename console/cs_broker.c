/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_broker.c - helpers of the console's broker pages (cs_broker.h,
 * docs/console.md "Broker pages").
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cs_broker.h"

/* The broker admin context, or an error page. */
int cs_broker_open(struct cs_req *req, struct cs_resp *resp, const char *title,
                   struct mqsa_ctx **ctx)
{
	char why[MQSA_WHY_MAX];
	enum mqs_err rc;

	why[0] = '\0';
	*ctx = NULL;
	rc = cs_req_broker(req, ctx, why, sizeof(why));
	if (rc == MQS_OK)
		rc = mqsa_ctx_db(*ctx, why);
	if (rc == MQS_OK)
		return 0;
	cs_page_begin(resp, req, title);
	cs_out_fmt(resp, "<p class=\"error\">cannot open the broker database: %s</p>", why);
	cs_page_end(resp);
	return rc == MQS_ERR_NOENT ? 404 : 500;
}

/* A time in UTC. */
void cs_broker_time(struct cs_resp *resp, long long t, const char *none_text)
{
	char buf[40];
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
		cs_out_text(resp, none_text);
		return;
	}
	cs_out_text(resp, buf);
}

/* A duration in the two largest units. */
void cs_broker_duration(struct cs_resp *resp, long long secs)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		cs_out_fmt(resp, "%lldd %lldh", secs / 86400, secs % 86400 / 3600);
	else if (secs >= 3600)
		cs_out_fmt(resp, "%lldh %lldm", secs / 3600, secs % 3600 / 60);
	else if (secs >= 60)
		cs_out_fmt(resp, "%lldm %llds", secs / 60, secs % 60);
	else
		cs_out_fmt(resp, "%llds", secs);
}

/* A one-button POST form. */
void cs_broker_button(struct cs_resp *resp, struct cs_req *req, const char *action,
                      const char *name, const char *value, const char *label, int danger)
{
	cs_out_fmt(resp, "<form method=\"post\" class=\"inline\" action=\"%s\">", action);
	cs_out_csrf(resp, req);
	if (name != NULL)
		cs_out_fmt(resp, "<input type=\"hidden\" name=\"%s\" value=\"%s\">", name, value);
	cs_out_raw(resp, danger ? "<button type=\"submit\" class=\"danger\">"
	                        : "<button type=\"submit\">");
	cs_out_text(resp, label);
	cs_out_raw(resp, "</button></form>");
}

/* Audit, then post/redirect/get. */
int cs_broker_done(struct cs_req *req, struct cs_resp *resp, const char *location, const char *what,
                   enum mqs_err rc, const char *done, const char *why)
{
	cs_req_audit(req, what, rc == MQS_OK);
	return cs_resp_redirect(resp, location, rc == MQS_OK ? done : why, rc == MQS_OK);
}

/* Remove one row by id (see cs_broker.h). */
int cs_broker_remove_by_id(struct cs_req *req, struct cs_resp *resp, const char *title,
                           enum mqs_err (*remove)(struct mqsa_ctx *ctx, long long id, char *why),
                           const char *noun, const char *verb, const char *location,
                           const char *what)
{
	struct mqsa_ctx *ctx = NULL;
	char why[MQSA_WHY_MAX];
	char done[64];
	long long id = 0;
	enum mqs_err rc;
	int st;

	st = cs_broker_open(req, resp, title, &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	rc = mqsa_int_parse(cs_broker_param(req, "id"), 1, INT64_MAX, "id", &id, why);
	if (rc == MQS_OK)
		rc = remove(ctx, id, why);
	snprintf(done, sizeof(done), "%s %lld %s", noun, id, verb);
	return cs_broker_done(req, resp, location, what, rc, done, why);
}

/* The page asked for. */
void cs_broker_page(struct cs_req *req, struct mqsa_page *pg)
{
	const char *last = cs_req_param(req, "last");

	memset(pg, 0, sizeof(*pg));
	pg->offset = cs_req_page_offset(req);
	pg->limit = CS_PAGE_ROWS;
	pg->after = cs_req_param(req, "after");
	pg->before = cs_req_param(req, "before");
	pg->at_end = last != NULL && strcmp(last, "1") == 0;
}

/* A listing's links. */
void cs_broker_pager(struct cs_resp *resp, struct cs_req *req, const struct mqsa_page *pg)
{
	cs_out_pager_keys(resp, req, pg->total, pg->key_first, pg->key_last, pg->more_before,
	                  pg->more_after);
}

/* A form parameter or "". */
const char *cs_broker_param(const struct cs_req *req, const char *name)
{
	const char *v = cs_req_param(req, name);

	return v != NULL ? v : "";
}
