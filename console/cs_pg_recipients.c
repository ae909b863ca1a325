/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_recipients.c - the console's recipients page (docs/console.md,
 * "Gateway pages"): masked addresses only, add and edit with per-channel
 * marketing consent (source "console:NAME") and an IANA time zone, opt-out
 * and its lifting, removal.  Every change goes through gw_recipient.h and
 * gw_consent.h, as `mqttsec-gateway recipient` does. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cs_pg_gw.h"
#include "gw_consent.h"
#include "gw_recipient.h"
#include "gw_review.h"
#include "gw_util.h"
#include "mqs_util.h"

#define MAX_GROUPS 32

/* The marketing channels a consent is given for, in form order. */
static const int consent_chans[] = {GW_CH_EMAIL, GW_CH_SMS, GW_CH_LINE};
/* The channels an opt-out closes. */
static const int optout_chans[] = {GW_CH_EMAIL, GW_CH_SMS, GW_CH_PHONE, GW_CH_LINE};
/* Form names of the address fields, by enum gw_field. */
static const char *const field_names[GW_F__COUNT] = {"email", "phone", "line"};

/* A listing being written: the page, the window and the count. */
struct rlist {
	struct cs_resp *resp;
	long long offset, seen;
	const char *only; /* one recipient (the edit page), or NULL */
	int found;
	struct gw_recipient_info copy; /* the edit page's row (strings dropped) */
	char tz[72];
	char groups[1024];
	char optouts[128];
};

/* A masked address as shown: "-" none, "(unreadable)". */
static const char *shown(const struct gw_recipient_info *ri, int f)
{
	if (ri->status[f] == GW_ADDR_OK)
		return ri->masked[f];
	return ri->status[f] == GW_ADDR_NONE ? "-" : "(unreadable)";
}

/* One row of the listing (only the rows of the page are written). */
static int list_row(const struct gw_recipient_info *ri, void *arg)
{
	struct rlist *l = arg;

	if (l->only != NULL) {
		if (strcmp(ri->name, l->only) != 0)
			return MQS_OK;
		l->found = 1;
		l->copy = *ri;
		snprintf(l->tz, sizeof(l->tz), "%s", ri->tz != NULL ? ri->tz : "");
		snprintf(l->groups, sizeof(l->groups), "%s", ri->groups != NULL ? ri->groups : "");
		snprintf(l->optouts, sizeof(l->optouts), "%s",
		         ri->optouts != NULL ? ri->optouts : "");
		return MQS_ERR_EXISTS; /* found: stop the walk */
	}
	l->seen++;
	if (l->seen <= l->offset || l->seen > l->offset + CS_PAGE_ROWS)
		return MQS_OK;
	cs_out_fmt(l->resp, "<tr><td><a href=\"/recipients/edit?name=%s\">%s</a></td>", ri->name,
	           ri->name);
	for (int f = 0; f < GW_F__COUNT; f++)
		cs_out_fmt(l->resp, "<td>%s</td>", shown(ri, f));
	cs_out_fmt(l->resp, "<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
	           ri->groups != NULL ? ri->groups : "", ri->tz != NULL ? ri->tz : "",
	           ri->consents != NULL ? ri->consents : "",
	           ri->optouts != NULL ? ri->optouts : "");
	return MQS_OK;
}

/* gw_group_each: one checkbox per group. */
static int group_box(const struct gw_group_info *gi, void *arg)
{
	struct cs_resp *resp = arg;

	cs_out_fmt(resp, "<label><input type=checkbox name=group value=\"%s\"> %s</label> ",
	           gi->name, gi->name);
	return MQS_OK;
}

/* GET /recipients: the listing and the add form. */
static int page_list(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	struct rlist l;
	int status = 200;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	memset(&l, 0, sizeof(l));
	l.resp = resp;
	l.offset = cs_req_page_offset(req);
	cs_page_begin(resp, req, "Recipients");
	cs_out_raw(resp, "<p>Addresses are shown masked; the full address "
	                 "is never shown.</p>\n<table><thead><tr><th>Name</th><th>Email</th>"
	                 "<th>Phone</th><th>LINE</th><th>Groups</th><th>Time zone</th>"
	                 "<th>Marketing consent</th><th>Opted out</th></tr></thead><tbody>\n");
	if (gw_recipient_each(s, list_row, &l) != MQS_OK)
		cs_out_raw(resp,
		           "<tr><td colspan=8 class=error>cannot read the recipients</td></tr>");
	cs_out_raw(resp, "</tbody></table>\n");
	cs_out_pager(resp, req, l.seen);
	cs_out_raw(resp, "<h2>Add a recipient</h2>\n<form method=post action=\"/recipients/add\">");
	cs_out_csrf(resp, req);
	cs_out_raw(resp,
	           "<p><label>Name <input name=name required maxlength=64></label></p>"
	           "<p><label>Email <input name=email type=email maxlength=254></label></p>"
	           "<p><label>Phone <input name=phone maxlength=32 placeholder=\"+15550001111\">"
	           "</label></p>"
	           "<p><label>LINE user id <input name=line maxlength=64></label></p>"
	           "<p><label>Time zone <input name=tz maxlength=64 placeholder=\"Asia/Taipei\">"
	           "</label></p><p>Groups: ");
	if (gw_group_each(s, group_box, resp) != MQS_OK)
		cs_out_raw(resp, "<span class=error>cannot read the groups</span>");
	cs_out_raw(resp, "</p><p>Marketing consent: "
	                 "<label><input type=checkbox name=consent_email value=on> email</label> "
	                 "<label><input type=checkbox name=consent_sms value=on> sms</label> "
	                 "<label><input type=checkbox name=consent_line value=on> line</label></p>"
	                 "<p><button type=submit>Add</button></p></form>\n");
	cs_page_end(resp);
	return status;
}

/* The consent changes asked by the form (consent_email, ...), source
 * "console:USER"; all_given: an unchecked box turns consent off. */
static int apply_consents(struct cs_req *req, struct gw_store *s, const char *name, int all_given,
                          char *err, size_t errlen)
{
	char source[GW_PRINCIPAL_MAX];
	int rc = MQS_OK;

	if (!cs_gw_principal(req, source, sizeof(source)) || !gw_consent_source_ok(source)) {
		snprintf(err, errlen, "user name too long for a consent source");
		return MQS_ERR_INVAL;
	}
	for (size_t i = 0; rc == MQS_OK && i < sizeof(consent_chans) / sizeof(consent_chans[0]);
	     i++) {
		char key[32];
		const char *v;

		snprintf(key, sizeof(key), "consent_%s", gw_chan_name(consent_chans[i]));
		v = cs_req_param(req, key);
		if (v == NULL && !all_given)
			continue;
		rc = gw_consent_set(s, name, consent_chans[i], v != NULL && strcmp(v, "on") == 0,
		                    source, cs_gw_now_ms(req), err, errlen);
	}
	return rc;
}

/* POST /recipients/add */
static int do_add(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *name = cs_req_param(req, "name"), *tz = cs_req_param(req, "tz");
	const char *values[GW_F__COUNT] = {NULL, NULL, NULL};
	const char *groups[MAX_GROUPS];
	size_t ngroups = cs_req_param_n(req, "group");
	char err[256] = "", flash[384];
	int rc = MQS_ERR_INVAL, status = 200;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	if (name == NULL || !gw_name_check(name)) {
		snprintf(err, sizeof(err), "bad name (1..64 of A-Z a-z 0-9 _ - . @)");
		goto out;
	}
	if (ngroups > MAX_GROUPS) {
		snprintf(err, sizeof(err), "at most %d groups", MAX_GROUPS);
		goto out;
	}
	for (size_t i = 0; i < ngroups; i++)
		groups[i] = cs_req_param_at(req, "group", i);
	for (int f = 0; f < GW_F__COUNT; f++) {
		const char *v = cs_req_param(req, field_names[f]);

		values[f] = v != NULL && *v != '\0' ? v : NULL;
	}
	if (tz != NULL && *tz != '\0' && !gw_tz_valid(tz)) {
		snprintf(err, sizeof(err),
		         "unknown time zone (give an IANA name such as Asia/Taipei)");
		goto out;
	}
	rc = gw_recipient_add(s, name, values, groups, ngroups, err, sizeof(err));
	if (rc == MQS_OK && tz != NULL && *tz != '\0')
		rc = gw_recipient_set_tz(s, name, tz, err, sizeof(err));
	if (rc == MQS_OK)
		rc = apply_consents(req, s, name, 0, err, sizeof(err));
out:
	cs_gw_audit(req, "recipient add", name, rc == MQS_OK);
	if (rc == MQS_OK)
		snprintf(flash, sizeof(flash), "recipient %s added", name);
	else
		snprintf(flash, sizeof(flash), "cannot add the recipient: %s", err);
	return cs_resp_redirect(resp, "/recipients", flash, rc == MQS_OK);
}

/* gw_consent_each: one history row. */
static int history_row(const struct gw_consent_event *ev, void *arg)
{
	struct cs_resp *resp = arg;
	char when[48];

	cs_gw_time(ev->at_ms, when, sizeof(when));
	cs_out_fmt(resp, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", when,
	           ev->channel, ev->event, ev->source);
	return MQS_OK;
}

/* A hidden name input and the CSRF token: the start of a small form. */
static void form_start(struct cs_resp *resp, struct cs_req *req, const char *action,
                       const char *name)
{
	cs_out_fmt(resp, "<form method=post action=\"%s\" class=inline>", action);
	cs_out_csrf(resp, req);
	cs_out_fmt(resp, "<input type=hidden name=name value=\"%s\">", name);
}

/* GET /recipients/edit?name=NAME */
static int page_edit(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *name = cs_req_param(req, "name");
	struct rlist l;
	int status = 200;

	if (name == NULL || !gw_name_check(name))
		return 404;
	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	memset(&l, 0, sizeof(l));
	l.resp = resp;
	l.only = name;
	if (gw_recipient_each(s, list_row, &l) == MQS_ERR_DB)
		return 500;
	if (!l.found)
		return 404;
	cs_page_begin(resp, req, "Recipient");
	cs_out_fmt(resp, "<p>Recipient <strong>%s</strong></p>\n", name);
	cs_out_raw(resp, "<form method=post action=\"/recipients/edit\">");
	cs_out_csrf(resp, req);
	cs_out_fmt(resp, "<input type=hidden name=name value=\"%s\">", name);
	cs_out_raw(resp, "<p>Leave an address empty to keep it.</p>");
	for (int f = 0; f < GW_F__COUNT; f++)
		cs_out_fmt(resp,
		           "<p><label>%s (now %s) <input name=%s maxlength=254 "
		           "autocomplete=off></label></p>",
		           field_names[f], shown(&l.copy, f), field_names[f]);
	cs_out_fmt(resp,
	           "<p><label>Time zone <input name=tz maxlength=64 value=\"%s\"></label> "
	           "(empty: the gateway's)</p><p>Marketing consent: ",
	           l.tz);
	for (size_t i = 0; i < sizeof(consent_chans) / sizeof(consent_chans[0]); i++) {
		struct gw_consent_state st;
		const char *ch = gw_chan_name(consent_chans[i]);
		int on = gw_consent_get(s, name, consent_chans[i], &st) == MQS_OK && st.consent;

		cs_out_fmt(
		    resp, "<label><input type=checkbox name=\"consent_%s\" value=on%s> %s</label> ",
		    ch, on ? " checked" : "", ch);
	}
	cs_out_raw(resp, "</p><p><button type=submit>Save</button></p></form>\n<h2>Opt-outs</h2>"
	                 "<p>An opt-out closes a channel, alerts included; lifting it does not "
	                 "give marketing consent back.</p><p>");
	for (size_t i = 0; i < sizeof(optout_chans) / sizeof(optout_chans[0]); i++) {
		const char *ch = gw_chan_name(optout_chans[i]);
		int out = cs_gw_csv_has(l.optouts, ch);

		form_start(resp, req, "/recipients/optout", name);
		cs_out_fmt(resp,
		           "<input type=hidden name=channel value=\"%s\">%s<button type=submit>%s "
		           "%s</button></form> ",
		           ch, out ? "<input type=hidden name=lift value=1>" : "",
		           out ? "Lift the opt-out of" : "Opt out of", ch);
	}
	cs_out_raw(resp, "</p>\n<h2>History</h2>\n<table><thead><tr><th>When</th><th>Channel</th>"
	                 "<th>Event</th><th>Source</th></tr></thead><tbody>\n");
	if (gw_consent_each(s, name, history_row, resp) != MQS_OK)
		cs_out_raw(resp, "<tr><td colspan=4 class=error>cannot read the history</td></tr>");
	cs_out_raw(resp, "</tbody></table>\n<h2>Remove</h2>");
	form_start(resp, req, "/recipients/rm", name);
	cs_out_raw(resp,
	           "<button type=submit class=danger>Remove this recipient</button></form>\n");
	cs_page_end(resp);
	OPENSSL_cleanse(&l.copy, sizeof(l.copy));
	return status;
}

/* POST /recipients/edit */
static int do_edit(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *name = cs_req_param(req, "name"), *tz = cs_req_param(req, "tz");
	char err[256] = "", flash[384], back[128];
	int rc = MQS_OK, status = 200;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	if (name == NULL || !gw_name_check(name)) {
		snprintf(err, sizeof(err), "bad name");
		rc = MQS_ERR_INVAL;
		goto out;
	}
	if (gw_recipient_id(s, name) < 0) {
		snprintf(err, sizeof(err), "no such recipient");
		rc = MQS_ERR_NOENT;
		goto out;
	}
	for (int f = 0; rc == MQS_OK && f < GW_F__COUNT; f++) {
		const char *v = cs_req_param(req, field_names[f]);

		if (v != NULL && *v != '\0')
			rc = gw_recipient_set_address(s, name, f, v, err, sizeof(err));
	}
	if (rc == MQS_OK && tz != NULL)
		rc = gw_recipient_set_tz(s, name, *tz != '\0' ? tz : NULL, err, sizeof(err));
	if (rc == MQS_OK)
		rc = apply_consents(req, s, name, 1, err, sizeof(err));
out:
	cs_gw_audit(req, "recipient edit", name, rc == MQS_OK);
	if (rc == MQS_OK)
		snprintf(flash, sizeof(flash), "recipient %s saved", name);
	else
		snprintf(flash, sizeof(flash), "cannot save the recipient: %s", err);
	if (rc != MQS_ERR_INVAL && rc != MQS_ERR_NOENT)
		snprintf(back, sizeof(back), "/recipients/edit?name=%s", name);
	else
		snprintf(back, sizeof(back), "/recipients");
	return cs_resp_redirect(resp, back, flash, rc == MQS_OK);
}

/* POST /recipients/optout (name, channel, lift) */
static int do_optout(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *name = cs_req_param(req, "name"), *chan = cs_req_param(req, "channel");
	int lift = cs_req_param(req, "lift") != NULL;
	char source[GW_PRINCIPAL_MAX], flash[256], back[128] = "/recipients";
	int rc = MQS_ERR_INVAL, status = 200, changed = 0,
	    ch = chan != NULL ? gw_chan_parse(chan) : -1;
	int64_t rid;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	if (name == NULL || !gw_name_check(name) || ch < 0 || GW_CH_NO_RECIPIENT(ch) ||
	    !cs_gw_principal(req, source, sizeof(source)) || !gw_consent_source_ok(source))
		goto out;
	rid = gw_recipient_id(s, name);
	if (rid < 0) {
		rc = rid == -1 ? MQS_ERR_NOENT : MQS_ERR_DB;
		goto out;
	}
	snprintf(back, sizeof(back), "/recipients/edit?name=%s", name);
	if (lift)
		rc = gw_consent_optout_lift(s, rid, ch, source, cs_gw_now_ms(req), &changed);
	else
		rc = gw_consent_optout(s, rid, ch, source, cs_gw_now_ms(req), &changed);
out:
	cs_gw_audit(req, lift ? "recipient optout lift" : "recipient optout", name, rc == MQS_OK);
	if (rc == MQS_OK)
		snprintf(flash, sizeof(flash), "%s",
		         !changed ? "nothing to change"
		         : lift   ? "opt-out lifted"
		                  : "opted out");
	else
		snprintf(flash, sizeof(flash), "cannot change the opt-out: %s",
		         rc == MQS_ERR_NOENT ? "no such recipient" : mqs_strerror(rc));
	return cs_resp_redirect(resp, back, flash, rc == MQS_OK);
}

/* POST /recipients/rm (name) */
static int do_rm(struct cs_req *req, struct cs_resp *resp)
{
	return cs_gw_remove_by_name(req, resp, gw_recipient_rm, "recipient", "recipient rm",
	                            "/recipients");
}

/* The recipients routes (cs_routes.c). */
const struct cs_route cs_pg_recipients_routes[] = {
    {"GET", "/recipients", CS_ROLES_GW, "Recipients", page_list},
    {"GET", "/recipients/edit", CS_ROLES_GW, NULL, page_edit},
    {"POST", "/recipients/add", CS_ROLES_GW, NULL, do_add},
    {"POST", "/recipients/edit", CS_ROLES_GW, NULL, do_edit},
    {"POST", "/recipients/optout", CS_ROLES_GW, NULL, do_optout},
    {"POST", "/recipients/rm", CS_ROLES_GW, NULL, do_rm},
    {NULL, NULL, 0, NULL, NULL},
};
