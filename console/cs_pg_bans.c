/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_bans.c - the console's active bans page (docs/console.md, "Bans";
 * docs/broker-plugin.md "Failed logins and automatic bans"): the deny
 * entries the broker plugin wrote (reasons auth-failures and key-flood),
 * the newest first, with the time left and a lift button (the entry is
 * removed, as mqttsec-acl list rm does).  Pair bans live only in the
 * broker's memory and cannot be listed: the page says so.  Admins only.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cs_broker.h"

/* A row of the list. */
struct ban_arg {
	struct cs_req *req;
	struct cs_resp *resp;
};

/* One ban with its lift button. */
static enum mqs_err ban_row(const struct mqsa_list_entry *e, void *arg)
{
	struct ban_arg *a = arg;
	struct cs_resp *resp = a->resp;
	char id[24];

	cs_out_fmt(resp,
	           "<tr><td>%lld</td><td>%s</td><td class=\"pattern\">%s</td>"
	           "<td class=\"reason\">%s</td><td>",
	           e->id, e->match, e->pattern, e->reason);
	cs_broker_time(resp, e->created_at, "-");
	cs_out_raw(resp, "</td><td class=\"left\">");
	if (e->expires_at == 0)
		cs_out_raw(resp, "until lifted");
	else
		cs_broker_duration(resp, e->expires_at - cs_req_now(a->req));
	cs_out_raw(resp, "</td><td>");
	snprintf(id, sizeof(id), "%lld", e->id);
	cs_broker_button(resp, a->req, "/bans/lift", "id", id, "Lift", 1);
	cs_out_raw(resp, "</td></tr>\n");
	return MQS_OK;
}

/* GET /bans[?page=N] */
static int bans_get(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct ban_arg a = {req, resp};
	struct mqsa_page pg = {.offset = cs_req_page_offset(req), .limit = CS_PAGE_ROWS};
	struct mqsa_list_query q = {"deny", 1, 0};
	char why[MQSA_WHY_MAX];
	enum mqs_err rc;
	int st;

	st = cs_broker_open(req, resp, "Active bans", &ctx);
	if (st != 0)
		return st;
	cs_page_begin(resp, req, "Active bans");
	cs_out_raw(resp,
	           "<p>Username-wide and address bans the broker wrote after repeated failed "
	           "logins (<code>auth-failures</code>) or key request floods "
	           "(<code>key-flood</code>). Lifting one removes its deny entry: the next "
	           "connect is accepted again; the broker still remembers the repeat for the "
	           "length of the next ban.</p><p class=\"note\" id=\"pair-bans\">Bans of one "
	           "(username, address) pair are held in the broker's memory only and are "
	           "<strong>not listed here</strong>; they end on their own, and restarting "
	           "the broker lifts them.</p>\n");
	cs_out_raw(resp, "<table id=\"bans\"><thead><tr><th>Id</th><th>Match</th><th>Pattern</th>"
	                 "<th>Reason</th><th>Banned at</th><th>Time left</th><th></th></tr>"
	                 "</thead><tbody>\n");
	why[0] = '\0';
	rc = mqsa_list_page(ctx, &q, &pg, ban_row, &a, why);
	cs_out_raw(resp, "</tbody></table>\n");
	if (rc != MQS_OK)
		cs_out_fmt(resp, "<p class=\"error\">%s</p>", why);
	cs_out_fmt(resp, "<p class=\"count\">%lld active bans</p>", pg.total);
	cs_out_pager(resp, req, pg.total);
	cs_page_end(resp);
	return rc == MQS_OK ? 200 : (mqsa_ctx_db_busy(ctx) ? 503 : 500);
}

/* POST /bans/lift: id. */
static int bans_lift(struct cs_req *req, struct cs_resp *resp)
{
	return cs_broker_remove_by_id(req, resp, "Active bans", mqsa_list_remove, "ban", "lifted",
	                              "/bans", "ban lift");
}

const struct cs_route cs_pg_bans_routes[] = {
    {"GET", "/bans", CS_ROLE_ADMIN, "Bans", bans_get},
    {"POST", "/bans/lift", CS_ROLE_ADMIN, NULL, bans_lift},
    {NULL, NULL, 0, NULL, NULL},
};
