/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_groups.c - the console's groups page (docs/console.md, "Gateway
 * pages"): groups with their default channels, add and remove, members.
 * Every change goes through gw_group.h, as `mqttsec-gateway group` does. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cs_pg_gw.h"
#include "gw_group.h"
#include "gw_recipient.h"
#include "mqs_util.h"

/* A listing being written. */
struct glist {
	struct cs_resp *resp;
	struct cs_req *req;
	long long offset, seen;
	const char *group; /* members of this group (the group page) */
};

/* A small POST form: its start (action, CSRF token). */
static void form_start(struct cs_resp *resp, struct cs_req *req, const char *action)
{
	cs_out_fmt(resp, "<form method=post action=\"%s\" class=inline>", action);
	cs_out_csrf(resp, req);
}

/* gw_group_each: one row of the page. */
static int group_row(const struct gw_group_info *gi, void *arg)
{
	struct glist *l = arg;

	l->seen++;
	if (l->seen <= l->offset || l->seen > l->offset + CS_PAGE_ROWS)
		return MQS_OK;
	cs_out_fmt(l->resp,
	           "<tr><td><a href=\"/groups/show?name=%s\">%s</a></td><td>%s</td><td>%d</td><td>",
	           gi->name, gi->name, gi->channels != NULL ? gi->channels : "", gi->members);
	form_start(l->resp, l->req, "/groups/rm");
	cs_out_fmt(l->resp,
	           "<input type=hidden name=name value=\"%s\"><button type=submit "
	           "class=danger>Remove</button></form></td></tr>\n",
	           gi->name);
	return MQS_OK;
}

/* GET /groups */
static int page_list(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	struct glist l = {resp, req, cs_req_page_offset(req), 0, NULL};
	int status = 200;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	cs_page_begin(resp, req, "Groups");
	cs_out_raw(resp, "<table><thead><tr><th>Name</th><th>Default channels</th>"
	                 "<th>Members</th><th></th></tr></thead><tbody>\n");
	if (gw_group_each(s, group_row, &l) != MQS_OK)
		cs_out_raw(resp, "<tr><td colspan=4 class=error>cannot read the groups</td></tr>");
	cs_out_raw(resp, "</tbody></table>\n");
	cs_out_pager(resp, req, l.seen);
	cs_out_raw(resp, "<h2>Add a group</h2>\n");
	form_start(resp, req, "/groups/add");
	cs_out_raw(resp, "<label>Name <input name=name required maxlength=64></label> "
	                 "<label>Default channels <input name=channels maxlength=64 "
	                 "placeholder=\"email,sms\"></label> <button type=submit>Add</button>"
	                 "</form>\n");
	cs_page_end(resp);
	return status;
}

/* gw_recipient_each: one member of l->group. */
static int member_row(const struct gw_recipient_info *ri, void *arg)
{
	struct glist *l = arg;

	if (!cs_gw_csv_has(ri->groups, l->group))
		return MQS_OK;
	l->seen++;
	if (l->seen <= l->offset || l->seen > l->offset + CS_PAGE_ROWS)
		return MQS_OK;
	cs_out_fmt(l->resp, "<tr><td><a href=\"/recipients/edit?name=%s\">%s</a></td><td>",
	           ri->name, ri->name);
	form_start(l->resp, l->req, "/groups/member");
	cs_out_fmt(l->resp,
	           "<input type=hidden name=group value=\"%s\"><input type=hidden name=recipient "
	           "value=\"%s\"><input type=hidden name=add value=0><button "
	           "type=submit>Remove from the group</button></form></td></tr>\n",
	           l->group, ri->name);
	return MQS_OK;
}

/* GET /groups/show?name=G: the members. */
static int page_show(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *name = cs_req_param(req, "name");
	struct glist l = {resp, req, cs_req_page_offset(req), 0, name};
	int status = 200;

	if (name == NULL || !gw_name_check(name))
		return 404;
	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	if (gw_group_id(s, name) < 0)
		return 404;
	cs_page_begin(resp, req, "Group");
	cs_out_fmt(resp,
	           "<p>Members of group "
	           "<strong>%s</strong></p>\n<table><thead><tr><th>Member</th><th></th></tr>"
	           "</thead><tbody>\n",
	           name);
	if (gw_recipient_each(s, member_row, &l) != MQS_OK)
		cs_out_raw(resp, "<tr><td colspan=2 class=error>cannot read the members</td></tr>");
	cs_out_raw(resp, "</tbody></table>\n");
	cs_out_pager(resp, req, l.seen);
	cs_out_raw(resp, "<h2>Add a member</h2>\n");
	form_start(resp, req, "/groups/member");
	cs_out_fmt(resp,
	           "<input type=hidden name=group value=\"%s\"><input type=hidden name=add "
	           "value=1><label>Recipient <input name=recipient required maxlength=64></label> "
	           "<button type=submit>Add</button></form>\n",
	           name);
	cs_page_end(resp);
	return status;
}

/* POST /groups/add (name, channels) */
static int do_add(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *name = cs_req_param(req, "name"), *chans = cs_req_param(req, "channels");
	char err[256] = "bad name", flash[384];
	int rc = MQS_ERR_INVAL, status = 200;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	if (name != NULL && gw_name_check(name))
		rc = gw_group_add(s, name, chans, err, sizeof(err));
	cs_gw_audit(req, "group add", name, rc == MQS_OK);
	if (rc == MQS_OK)
		snprintf(flash, sizeof(flash), "group %s added", name);
	else
		snprintf(flash, sizeof(flash), "cannot add the group: %s", err);
	return cs_resp_redirect(resp, "/groups", flash, rc == MQS_OK);
}

/* POST /groups/rm (name) */
static int do_rm(struct cs_req *req, struct cs_resp *resp)
{
	return cs_gw_remove_by_name(req, resp, gw_group_rm, "group", "group rm", "/groups");
}

/* POST /groups/member (group, recipient, add 1|0) */
static int do_member(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *group = cs_req_param(req, "group"), *who = cs_req_param(req, "recipient");
	const char *add = cs_req_param(req, "add");
	int on = add != NULL && strcmp(add, "1") == 0;
	char err[256] = "bad group or recipient name", flash[384], back[128] = "/groups";
	int rc = MQS_ERR_INVAL, status = 200;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	if (group != NULL && gw_name_check(group) && who != NULL && gw_name_check(who)) {
		rc = gw_group_member(s, group, who, on, err, sizeof(err));
		snprintf(back, sizeof(back), "/groups/show?name=%s", group);
	}
	cs_gw_audit(req, on ? "group member add" : "group member rm", group, rc == MQS_OK);
	if (rc == MQS_OK)
		snprintf(flash, sizeof(flash), "%s %s group %s", who,
		         on ? "added to" : "removed from", group);
	else
		snprintf(flash, sizeof(flash), "cannot change the members: %s", err);
	return cs_resp_redirect(resp, back, flash, rc == MQS_OK);
}

/* The groups routes (cs_routes.c). */
const struct cs_route cs_pg_groups_routes[] = {
    {"GET", "/groups", CS_ROLES_GW, "Groups", page_list},
    {"GET", "/groups/show", CS_ROLES_GW, NULL, page_show},
    {"POST", "/groups/add", CS_ROLES_GW, NULL, do_add},
    {"POST", "/groups/rm", CS_ROLES_GW, NULL, do_rm},
    {"POST", "/groups/member", CS_ROLES_GW, NULL, do_member},
    {NULL, NULL, 0, NULL, NULL},
};
