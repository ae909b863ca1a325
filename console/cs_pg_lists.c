/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_lists.c - the console's allow and deny lists page (docs/console.md,
 * "Lists"; docs/acl.md "Allow and deny lists"): the administrators'
 * entries (the broker plugin's automatic bans are on the bans page,
 * cs_pg_bans.c) with their TTL and reason, add and remove.  Admins only;
 * every change is admin/lists.c's, audited as console:NAME, and reaches
 * the running broker as from mqttsec-acl.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cs_broker.h"

/* A row of the list. */
struct list_arg {
	struct cs_req *req;
	struct cs_resp *resp;
};

/* One entry with its remove button. */
static enum mqs_err entry_row(const struct mqsa_list_entry *e, void *arg)
{
	struct list_arg *a = arg;
	struct cs_resp *resp = a->resp;
	char id[24];

	cs_out_fmt(resp, "<tr><td>%lld</td><td>%s</td><td>%s</td><td class=\"pattern\">%s</td><td>",
	           e->id, e->kind, e->match, e->pattern);
	if (e->expires_at == 0) {
		cs_out_raw(resp, "never");
	} else {
		cs_broker_time(resp, e->expires_at, "-");
		if (e->expired) {
			cs_out_raw(resp, " (expired)");
		} else {
			cs_out_raw(resp, " (");
			cs_broker_duration(resp, e->expires_at - cs_req_now(a->req));
			cs_out_raw(resp, " left)");
		}
	}
	cs_out_fmt(resp, "</td><td class=\"reason\">%s</td><td>", e->reason);
	cs_broker_time(resp, e->created_at, "-");
	cs_out_fmt(resp, "</td><td>%s</td><td>", e->created_by);
	snprintf(id, sizeof(id), "%lld", e->id);
	cs_broker_button(resp, a->req, "/lists/remove", "id", id, "Remove", 1);
	cs_out_raw(resp, "</td></tr>\n");
	return MQS_OK;
}

/* GET /lists[?kind=allow|deny&all=1&page=N] */
static int lists_get(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct list_arg a = {req, resp};
	struct mqsa_page pg = {.offset = cs_req_page_offset(req), .limit = CS_PAGE_ROWS};
	struct mqsa_list_query q = {NULL, 0, 0};
	const char *kind = cs_broker_param(req, "kind");
	char why[MQSA_WHY_MAX];
	enum mqs_err rc;
	int st;

	st = cs_broker_open(req, resp, "Allow and deny lists", &ctx);
	if (st != 0)
		return st;
	if (strcmp(kind, "allow") == 0 || strcmp(kind, "deny") == 0)
		q.kind = kind;
	q.all = strcmp(cs_broker_param(req, "all"), "1") == 0;
	cs_page_begin(resp, req, "Allow and deny lists");
	cs_out_raw(resp, "<p>Entries written by administrators. The broker's automatic bans "
	                 "are on the <a href=\"/bans\">bans page</a>.</p>"
	                 "<form method=\"get\" action=\"/lists\" class=\"search\">"
	                 "<label>Kind <select name=\"kind\"><option value=\"\">both</option>");
	cs_out_raw(resp, q.kind != NULL && strcmp(q.kind, "allow") == 0
	                     ? "<option selected>allow</option>"
	                     : "<option>allow</option>");
	cs_out_raw(resp, q.kind != NULL && strcmp(q.kind, "deny") == 0
	                     ? "<option selected>deny</option>"
	                     : "<option>deny</option>");
	cs_out_raw(resp, "</select></label> ");
	cs_out_raw(resp, q.all ? "<label><input type=\"checkbox\" name=\"all\" value=\"1\" "
	                         "checked> with expired</label> "
	                       : "<label><input type=\"checkbox\" name=\"all\" value=\"1\"> "
	                         "with expired</label> ");
	cs_out_raw(resp, "<button type=\"submit\">Show</button></form>\n");
	cs_out_raw(resp, "<table id=\"lists\"><thead><tr><th>Id</th><th>Kind</th><th>Match</th>"
	                 "<th>Pattern</th><th>Expires</th><th>Reason</th><th>Created</th>"
	                 "<th>By</th><th></th></tr></thead><tbody>\n");
	why[0] = '\0';
	rc = mqsa_list_page(ctx, &q, &pg, entry_row, &a, why);
	cs_out_raw(resp, "</tbody></table>\n");
	if (rc != MQS_OK)
		cs_out_fmt(resp, "<p class=\"error\">%s</p>", why);
	cs_out_fmt(resp, "<p class=\"count\">%lld entries</p>", pg.total);
	cs_out_pager(resp, req, pg.total);
	cs_out_raw(resp, "<h2>Add an entry</h2><form method=\"post\" action=\"/lists/add\">");
	cs_out_csrf(resp, req);
	cs_out_raw(resp, "<label>Kind <select name=\"kind\"><option>deny</option>"
	                 "<option>allow</option></select></label> "
	                 "<label>Match <select name=\"match\"><option>username</option>"
	                 "<option>clientid</option><option>ip</option></select></label> "
	                 "<label>Pattern <input name=\"pattern\" required maxlength=\"256\">"
	                 "</label> <label>TTL <input name=\"ttl\" size=\"6\" "
	                 "placeholder=\"never\" title=\"e.g. 30m, 12h, 7d; empty: never\">"
	                 "</label> <label>Reason <input name=\"reason\" maxlength=\"200\">"
	                 "</label> <button type=\"submit\">Add</button></form>\n");
	cs_page_end(resp);
	return rc == MQS_OK ? 200 : (mqsa_ctx_db_busy(ctx) ? 503 : 500);
}

/* POST /lists/add: kind, match, pattern, ttl, reason. */
static int lists_add(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_list_added res;
	const char *ttl = cs_broker_param(req, "ttl");
	char why[MQSA_WHY_MAX];
	char done[160];
	long long secs = 0;
	enum mqs_err rc = MQS_OK;
	int st;

	st = cs_broker_open(req, resp, "Allow and deny lists", &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	memset(&res, 0, sizeof(res));
	if (ttl[0] != '\0' && strcmp(ttl, "never") != 0)
		rc = mqsa_ttl_parse(ttl, &secs, why);
	if (rc == MQS_OK)
		rc = mqsa_list_add(ctx, cs_broker_param(req, "kind"), cs_broker_param(req, "match"),
		                   cs_broker_param(req, "pattern"), secs,
		                   cs_broker_param(req, "reason"), &res, why);
	snprintf(done, sizeof(done), "list entry %lld added", res.id);
	return cs_broker_done(req, resp, "/lists", "list add", rc, done, why);
}

/* POST /lists/remove: id. */
static int lists_remove(struct cs_req *req, struct cs_resp *resp)
{
	return cs_broker_remove_by_id(req, resp, "Allow and deny lists", mqsa_list_remove,
	                              "list entry", "removed", "/lists", "list rm");
}

const struct cs_route cs_pg_lists_routes[] = {
    {"GET", "/lists", CS_ROLE_ADMIN, "Lists", lists_get},
    {"POST", "/lists/add", CS_ROLE_ADMIN, NULL, lists_add},
    {"POST", "/lists/remove", CS_ROLE_ADMIN, NULL, lists_remove},
    {NULL, NULL, 0, NULL, NULL},
};
