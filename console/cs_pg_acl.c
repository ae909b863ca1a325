/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_acl.c - the console's ACL rules page (docs/console.md, "ACL rules";
 * docs/acl.md "Topic ACL rules"): the rules in evaluation order, paginated
 * (a database may hold 100,000), filtered by subject and filter text; add
 * and remove; and the tester "who may do what on this topic", answered by
 * the admin library with the broker plugin's own rule evaluation
 * (mqsa_rule_test, as mqttsec-acl acl test).  Admins only.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cs_broker.h"

/* A row of a listing. */
struct acl_arg {
	struct cs_req *req;
	struct cs_resp *resp;
};

/* One rule with its remove button. */
static enum mqs_err rule_row(const struct mqsa_rule *r, void *arg)
{
	struct acl_arg *a = arg;
	struct cs_resp *resp = a->resp;
	char id[24];

	cs_out_fmt(resp,
	           "<tr><td>%lld</td><td>%lld</td><td>%s</td><td>%s</td><td>%s</td>"
	           "<td class=\"filter\">%s</td><td>",
	           r->id, r->priority, r->effect, r->access, r->subject, r->filter);
	snprintf(id, sizeof(id), "%lld", r->id);
	cs_broker_button(resp, a->req, "/acl/remove", "id", id, "Remove", 1);
	cs_out_raw(resp, "</td></tr>\n");
	return MQS_OK;
}

/* The tester's form, with the values asked. */
static void tester_form(struct cs_resp *resp, const char *topic, const char *device,
                        const char *clientid)
{
	cs_out_raw(resp, "<h2>Who may do what on this topic</h2>"
	                 "<form method=\"get\" action=\"/acl/test\" id=\"tester\">"
	                 "<label>Topic <input name=\"topic\" required value=\"");
	cs_out_attr(resp, topic);
	cs_out_raw(resp, "\"></label> <label>Device <input name=\"device\" placeholder=\"every "
	                 "device\" value=\"");
	cs_out_attr(resp, device);
	cs_out_raw(resp, "\"></label> <label>Client id <input name=\"clientid\" value=\"");
	cs_out_attr(resp, clientid);
	cs_out_raw(resp, "\"></label> <button type=\"submit\">Test</button></form>\n");
}

/* GET /acl[?subject=S&q=TEXT&page=N] */
static int acl_get(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct acl_arg a = {req, resp};
	struct mqsa_page pg;
	const char *subject = cs_broker_param(req, "subject");
	const char *q = cs_broker_param(req, "q");
	char why[MQSA_WHY_MAX];
	enum mqs_err rc;
	int st;

	cs_broker_page(req, &pg);
	st = cs_broker_open(req, resp, "ACL rules", &ctx);
	if (st != 0)
		return st;
	cs_page_begin(resp, req, "ACL rules");
	cs_out_raw(resp, "<p>The broker takes the first rule that applies, in this order: higher "
	                 "priority first, deny before allow at equal priority; no rule means "
	                 "deny.</p>");
	tester_form(resp, "", "", "");
	cs_out_raw(resp, "<h2>Rules</h2><form method=\"get\" action=\"/acl\" class=\"search\">"
	                 "<label>Subject <input name=\"subject\" placeholder=\"NAME or @GROUP\" "
	                 "value=\"");
	cs_out_attr(resp, subject);
	cs_out_raw(resp, "\"></label> <label>Filter contains <input name=\"q\" value=\"");
	cs_out_attr(resp, q);
	cs_out_raw(resp, "\"></label> <button type=\"submit\">Show</button></form>\n");
	cs_out_raw(resp, "<table id=\"rules\"><thead><tr><th>Id</th><th>Priority</th>"
	                 "<th>Effect</th><th>Access</th><th>Subject</th><th>Filter</th><th></th>"
	                 "</tr></thead><tbody>\n");
	why[0] = '\0';
	rc = mqsa_rule_page(ctx, subject, q, &pg, rule_row, &a, why);
	cs_out_raw(resp, "</tbody></table>\n");
	if (rc != MQS_OK)
		cs_out_fmt(resp, "<p class=\"error\">%s</p>", why);
	cs_out_fmt(resp, "<p class=\"count\">%lld rules</p>", pg.total);
	cs_broker_pager(resp, req, &pg);
	cs_out_raw(resp, "<h2>Add a rule</h2><form method=\"post\" action=\"/acl/add\">");
	cs_out_csrf(resp, req);
	cs_out_raw(resp, "<label>Effect <select name=\"effect\"><option>allow</option>"
	                 "<option>deny</option></select></label> "
	                 "<label>Access <select name=\"access\"><option>pub</option>"
	                 "<option>sub</option><option>read</option><option>all</option>"
	                 "</select></label> <label>Subject <input name=\"subject\" required "
	                 "placeholder=\"NAME or @GROUP\"></label> <label>Filter <input "
	                 "name=\"filter\" required></label> <label>Priority <input "
	                 "name=\"priority\" value=\"0\" size=\"6\"></label> "
	                 "<button type=\"submit\">Add</button></form>\n");
	cs_page_end(resp);
	/* an invalid subject or search is the asker's mistake, shown in the page */
	return rc == MQS_OK || rc == MQS_ERR_INVAL ? 200 : (mqsa_ctx_db_busy(ctx) ? 503 : 500);
}

/* One device's answer. */
static enum mqs_err access_row(const struct mqsa_access *x, void *arg)
{
	struct acl_arg *a = arg;

	cs_out_fmt(a->resp,
	           "<tr><td class=\"name\">%s</td><td>%s</td><td class=\"%s\">%s</td>"
	           "<td class=\"%s\">%s</td><td class=\"%s\">%s</td></tr>\n",
	           x->name, x->enabled ? "enabled" : "disabled", x->publish ? "yes" : "no",
	           x->publish ? "yes" : "no", x->receive ? "yes" : "no", x->receive ? "yes" : "no",
	           x->subscribe ? "yes" : "no", x->subscribe ? "yes" : "no");
	return MQS_OK;
}

/* GET /acl/test?topic=T[&device=NAME&clientid=ID&page=N] */
static int acl_test(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct acl_arg a = {req, resp};
	struct mqsa_page pg = {.offset = cs_req_page_offset(req), .limit = CS_PAGE_ROWS};
	const char *topic = cs_broker_param(req, "topic");
	const char *device = cs_broker_param(req, "device");
	const char *clientid = cs_broker_param(req, "clientid");
	char why[MQSA_WHY_MAX];
	enum mqs_err rc;
	int st;

	st = cs_broker_open(req, resp, "ACL tester", &ctx);
	if (st != 0)
		return st;
	cs_page_begin(resp, req, "ACL tester");
	tester_form(resp, topic, device, clientid);
	cs_out_raw(resp, "<p>Decided with the broker's own rule evaluation, from the rules only "
	                 "(the allow and deny lists and bans are not looked at). With a wildcard "
	                 "in the topic only subscribe is decided.</p>");
	cs_out_raw(resp, "<table id=\"access\"><thead><tr><th>Device</th><th>State</th>"
	                 "<th>Publish</th><th>Receive</th><th>Subscribe</th></tr></thead>"
	                 "<tbody>\n");
	why[0] = '\0';
	rc = mqsa_rule_test(ctx, topic, clientid, device, &pg, access_row, &a, why);
	cs_out_raw(resp, "</tbody></table>\n");
	if (rc != MQS_OK)
		cs_out_fmt(resp, "<p class=\"error\">%s</p>", why);
	else
		cs_out_pager(resp, req, pg.total);
	cs_out_raw(resp, "<p><a href=\"/acl\">Back to the rules</a></p>");
	cs_page_end(resp);
	return rc == MQS_OK || rc == MQS_ERR_INVAL || rc == MQS_ERR_NOENT
	           ? 200
	           : (mqsa_ctx_db_busy(ctx) ? 503 : 500);
}

/* POST /acl/add: effect, access, subject, filter, priority. */
static int acl_add(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	const char *prio = cs_broker_param(req, "priority");
	char why[MQSA_WHY_MAX];
	char done[64];
	long long priority = 0;
	long long id = 0;
	enum mqs_err rc = MQS_OK;
	int st;

	st = cs_broker_open(req, resp, "ACL rules", &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	if (prio[0] != '\0')
		rc = mqsa_int_parse(prio, MQSA_PRIORITY_MIN, MQSA_PRIORITY_MAX, "priority",
		                    &priority, why);
	if (rc == MQS_OK)
		rc = mqsa_rule_add(ctx, cs_broker_param(req, "effect"),
		                   cs_broker_param(req, "access"), cs_broker_param(req, "subject"),
		                   cs_broker_param(req, "filter"), priority, &id, why);
	snprintf(done, sizeof(done), "acl rule %lld added", id);
	return cs_broker_done(req, resp, "/acl", "acl add", rc, done, why);
}

/* POST /acl/remove: id. */
static int acl_remove(struct cs_req *req, struct cs_resp *resp)
{
	return cs_broker_remove_by_id(req, resp, "ACL rules", mqsa_rule_remove, "acl rule",
	                              "removed", "/acl", "acl rm");
}

const struct cs_route cs_pg_acl_routes[] = {
    {"GET", "/acl", CS_ROLE_ADMIN, "ACL", acl_get},
    {"GET", "/acl/test", CS_ROLE_ADMIN, NULL, acl_test},
    {"POST", "/acl/add", CS_ROLE_ADMIN, NULL, acl_add},
    {"POST", "/acl/remove", CS_ROLE_ADMIN, NULL, acl_remove},
    {NULL, NULL, 0, NULL, NULL},
};
