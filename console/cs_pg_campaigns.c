/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_campaigns.c - the console's campaign pages (docs/console.md,
 * "Campaigns and review"): campaigns by state; a campaign with its
 * per-channel preview for a sample recipient, the SHA-256 being approved,
 * the decision forms of the signed-in reviewer's level and the history of
 * decisions.  Author-supplied HTML is served only by /campaigns/preview/ID
 * with "Content-Security-Policy: sandbox" into an <iframe sandbox>, never
 * inline on the console's origin.  Decisions go through
 * gw_review_decide_code() as principal "console:USER", proven with the
 * person's one-time code, exactly as `mqttsec-gateway campaign approve`:
 * every rule (order, one level per person, the author never approves, hash
 * binding) is the gateway's. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cs_pg_gw.h"
#include "gw_campaign.h"
#include "gw_recipient.h"
#include "gw_review.h"
#include "gw_util.h"
#include "mqs_alloc.h"
#include "mqs_util.h"

/* The sandbox of the preview frame (cs_page.h). */
#define PREVIEW_CSP                                                                                \
	"sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "                  \
	"frame-ancestors 'self'"
/* The unsubscribe link a preview shows in place of the signed one. */
#define PREVIEW_UNSUB "https://unsubscribe.invalid/preview"

static const char *const states[] = {"pending_review", "approved", "scheduled", "sending",
                                     "done",           "rejected", "expired",   "cancelled"};

/* The level at index idx of the comma list levels into out ("" if none). */
static void level_at(const char *levels, int idx, char *out, size_t cap)
{
	const char *p = levels;

	out[0] = '\0';
	for (int i = 0; p != NULL && *p != '\0'; i++) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (i == idx) {
			snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), p);
			return;
		}
		p = comma != NULL ? comma + 1 : NULL;
	}
}

/* 1 when a reviewer of level may see campaign ci: pending at that level. */
static int in_queue(const struct gw_campaign_info *ci, const char *level)
{
	char cur[72];

	if (strcmp(ci->state, "pending_review") != 0)
		return 0;
	level_at(ci->levels, ci->level_idx, cur, sizeof(cur));
	return level[0] != '\0' && strcmp(cur, level) == 0;
}

/* A listing being written. */
struct clist {
	struct cs_resp *resp;
	struct cs_req *req;
	long long offset, seen;
	int reviewer; /* only the reviewer's queue */
};

/* gw_review_each: one row. */
static int list_row(const struct gw_campaign_info *ci, void *arg)
{
	struct clist *l = arg;
	char cur[72] = "", created[48], send_at[48];

	if (l->reviewer && !in_queue(ci, cs_req_level(l->req)))
		return MQS_OK;
	l->seen++;
	if (l->seen <= l->offset || l->seen > l->offset + CS_PAGE_ROWS)
		return MQS_OK;
	if (strcmp(ci->state, "pending_review") == 0)
		level_at(ci->levels, ci->level_idx, cur, sizeof(cur));
	cs_gw_time(ci->created_at, created, sizeof(created));
	cs_gw_time(ci->send_at, send_at, sizeof(send_at));
	cs_out_fmt(l->resp,
	           "<tr><td><a href=\"/campaigns/show?id=%s\">%s</a></td><td>%s</td><td>%s</td>"
	           "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
	           ci->cid, ci->cid, ci->state, cur, ci->group != NULL ? ci->group : "",
	           ci->channels != NULL ? ci->channels : "", ci->author != NULL ? ci->author : "",
	           created, ci->send_at ? send_at : "when approved");
	return MQS_OK;
}

/* GET /campaigns[?state=S] */
static int page_list(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *want = cs_req_param(req, "state"), *state = NULL;
	struct clist l = {resp, req, cs_req_page_offset(req), 0,
	                  cs_req_role(req) == CS_ROLE_REVIEWER};
	int status = 200;

	for (size_t i = 0; want != NULL && i < sizeof(states) / sizeof(states[0]); i++) {
		if (strcmp(want, states[i]) == 0)
			state = states[i];
	}
	if (l.reviewer)
		state = "pending_review";
	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	cs_page_begin(resp, req, l.reviewer ? "Review queue" : "Campaigns");
	if (l.reviewer) {
		cs_out_fmt(resp, "<p>Campaigns waiting for level <strong>%s</strong>.</p>\n",
		           cs_req_level(req));
	} else {
		cs_out_raw(resp, "<p>State: <a href=\"/campaigns\">all</a>");
		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			cs_out_fmt(resp, " | <a href=\"/campaigns?state=%s\">%s</a>", states[i],
			           states[i]);
		cs_out_raw(resp, "</p>\n");
	}
	cs_out_raw(resp, "<table><thead><tr><th>Id</th><th>State</th><th>Level to decide</th>"
	                 "<th>Group</th><th>Channels</th><th>Author</th><th>Submitted</th>"
	                 "<th>Send at</th></tr></thead><tbody>\n");
	if (gw_review_each(s, state, list_row, &l) != MQS_OK)
		cs_out_raw(resp,
		           "<tr><td colspan=8 class=error>cannot read the campaigns</td></tr>");
	cs_out_raw(resp, "</tbody></table>\n");
	cs_out_pager(resp, req, l.seen);
	cs_page_end(resp);
	return status;
}

/* The synthetic recipient a reviewer's previews are rendered for: the
 * longest name a recipient may have (GW_NAME_MAX - 1 characters), the
 * worst case of a layout. */
#define REVIEW_SAMPLE "Sample-recipient-with-the-longest-name-a-recipient-may-have-xxx"

/* A campaign as loaded for a page: its row (copied), bytes, parse. */
struct loaded {
	int64_t rowid;
	char cid[GW_ID_MAX + 1], state[32], author[GW_PRINCIPAL_MAX], group[72], channels[64];
	char levels[512], sha256[65], cur[72];
	int level_idx;
	int64_t send_at, expires_at;
	uint8_t *bytes;
	size_t len;
	struct gw_campaign c;
	int parsed;
	char sample[GW_NAME_MAX + 1];
};

/* gw_review_get: copy the row. */
static int copy_row(const struct gw_campaign_info *ci, void *arg)
{
	struct loaded *ld = arg;

	ld->rowid = ci->rowid;
	snprintf(ld->cid, sizeof(ld->cid), "%s", ci->cid);
	snprintf(ld->state, sizeof(ld->state), "%s", ci->state);
	snprintf(ld->author, sizeof(ld->author), "%s", ci->author != NULL ? ci->author : "");
	snprintf(ld->group, sizeof(ld->group), "%s", ci->group != NULL ? ci->group : "");
	snprintf(ld->channels, sizeof(ld->channels), "%s",
	         ci->channels != NULL ? ci->channels : "");
	snprintf(ld->levels, sizeof(ld->levels), "%s", ci->levels != NULL ? ci->levels : "");
	snprintf(ld->sha256, sizeof(ld->sha256), "%s", ci->sha256 != NULL ? ci->sha256 : "");
	ld->level_idx = ci->level_idx;
	ld->send_at = ci->send_at;
	ld->expires_at = ci->expires_at;
	if (strcmp(ci->state, "pending_review") == 0)
		level_at(ci->levels, ci->level_idx, ld->cur, sizeof(ld->cur));
	return MQS_OK;
}

/* gw_recipient_each: the first member of the group is the sample. */
static int first_member(const struct gw_recipient_info *ri, void *arg)
{
	struct loaded *ld = arg;

	if (!cs_gw_csv_has(ri->groups, ld->group))
		return MQS_OK;
	snprintf(ld->sample, sizeof(ld->sample), "%s", ri->name);
	return MQS_ERR_EXISTS; /* found: stop */
}

/* Free what ld holds. */
static void loaded_release(struct loaded *ld)
{
	if (ld->parsed)
		gw_campaign_release(&ld->c);
	ld->parsed = 0;
	if (ld->bytes != NULL) {
		mqs_secret_free(ld->bytes, ld->len);
	}
	ld->bytes = NULL;
}

/* Load campaign cid for this request: 200, 404 (none, or not in a
 * reviewer's queue) or 500.  The stored bytes are parsed; their SHA-256
 * (recomputed) must be the stored one.  The sample recipient: for a
 * reviewer always REVIEW_SAMPLE (no recipient names, docs/console.md
 * "Campaigns"); else as= when it is a recipient, else the group's first
 * member, else "Sample". */
static int load(struct cs_req *req, struct gw_store *s, const char *cid, struct loaded *ld)
{
	const char *as = cs_req_param(req, "as");
	char err[256], sha[65];
	int rc;

	memset(ld, 0, sizeof(*ld));
	if (cid == NULL || !gw_id_check(cid))
		return 404;
	rc = gw_review_get(s, cid, copy_row, ld);
	if (rc != MQS_OK)
		return rc == MQS_ERR_NOENT ? 404 : 500;
	if (cs_req_role(req) == CS_ROLE_REVIEWER &&
	    (strcmp(ld->state, "pending_review") != 0 || strcmp(ld->cur, cs_req_level(req)) != 0))
		return 404;
	if (gw_review_load(s, ld->rowid, &ld->bytes, &ld->len) != MQS_OK)
		return 500;
	gw_campaign_sha256_hex(ld->bytes, ld->len, sha);
	if (strcmp(sha, ld->sha256) != 0)
		return 500;
	if (gw_campaign_parse(ld->bytes, ld->len, &ld->c, err, sizeof(err)) != MQS_OK)
		return 500;
	ld->parsed = 1;
	if (cs_req_role(req) == CS_ROLE_REVIEWER)
		snprintf(ld->sample, sizeof(ld->sample), "%s", REVIEW_SAMPLE);
	else if (as != NULL && gw_name_check(as) && gw_recipient_id(s, as) > 0)
		snprintf(ld->sample, sizeof(ld->sample), "%s", as);
	else if (gw_recipient_each(s, first_member, ld) == MQS_ERR_DB || ld->sample[0] == '\0')
		snprintf(ld->sample, sizeof(ld->sample), "Sample");
	return 200;
}

/* gw_audit_each: one history row. */
static int audit_row(const struct gw_audit_info *ai, void *arg)
{
	struct cs_resp *resp = arg;
	char when[48];

	cs_gw_time(ai->at, when, sizeof(when));
	cs_out_fmt(resp,
	           "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
	           "<td><code>%s</code></td><td>%s</td></tr>\n",
	           when, ai->event, ai->level != NULL ? ai->level : "",
	           ai->principal != NULL ? ai->principal : "", ai->person != NULL ? ai->person : "",
	           ai->source != NULL ? ai->source : "", ai->sha256 != NULL ? ai->sha256 : "",
	           ai->reason != NULL ? ai->reason : "");
	return MQS_OK;
}

/* The text preview of one channel (escaped, in <pre>). */
static void preview_channel(struct cs_resp *resp, struct loaded *ld, int ch)
{
	struct gw_rendered r = {NULL, NULL, NULL};
	const char *name = gw_chan_name(ch);

	if (!(ld->c.chan_mask & GW_CH_BIT(ch)))
		return;
	cs_out_fmt(resp, "<section class=preview><h3>%s</h3>\n", name);
	if (gw_campaign_render(&ld->c, ch, ld->sample, ch == GW_CH_EMAIL ? PREVIEW_UNSUB : NULL,
	                       &r) != MQS_OK) {
		cs_out_raw(resp, "<p class=error>cannot render this channel</p></section>\n");
		return;
	}
	if (r.subject != NULL)
		cs_out_fmt(resp, "<p>Subject: <strong>%s</strong></p>\n", r.subject);
	cs_out_fmt(resp, "<h4>%s</h4><pre class=message>%s</pre>\n",
	           ch == GW_CH_EMAIL ? "Text part" : "Text", r.text != NULL ? r.text : "");
	if (r.html != NULL) {
		cs_out_raw(resp, "<h4>HTML part (sandboxed)</h4>");
		cs_out_fmt(resp, "<iframe sandbox src=\"/campaigns/preview/%s?as=%s\" ", ld->cid,
		           ld->sample);
		cs_out_raw(resp, "title=\"HTML part\" class=preview width=\"100%\" "
		                 "height=400></iframe>\n");
	}
	cs_out_raw(resp, "</section>\n");
	gw_rendered_release(&r);
}

/* The decision forms of a reviewer at the campaign's current level. */
static void decision_forms(struct cs_resp *resp, struct cs_req *req, struct loaded *ld)
{
	cs_out_fmt(resp,
	           "<h2>Your decision (level %s)</h2>\n<p>Approving approves exactly the "
	           "content whose SHA-256 is <code>%s</code>. Give the one-time code of your "
	           "reviewer person.</p>\n",
	           ld->cur, ld->sha256);
	cs_out_raw(resp, "<form method=post action=\"/campaigns/decide\" id=approve-form>");
	cs_out_csrf(resp, req);
	cs_out_fmt(resp,
	           "<input type=hidden name=id value=\"%s\"><input type=hidden name=decision "
	           "value=approve><input type=hidden name=sha256 value=\"%s\">",
	           ld->cid, ld->sha256);
	cs_out_raw(resp, "<label>Code <input name=code required inputmode=numeric "
	                 "autocomplete=one-time-code maxlength=8></label> "
	                 "<button type=submit name=approve>Approve</button></form>\n"
	                 "<form method=post action=\"/campaigns/decide\" id=reject-form>");
	cs_out_csrf(resp, req);
	cs_out_fmt(resp,
	           "<input type=hidden name=id value=\"%s\"><input type=hidden name=decision "
	           "value=reject><input type=hidden name=sha256 value=\"%s\">",
	           ld->cid, ld->sha256);
	cs_out_raw(resp, "<label>Reason <input name=reason required maxlength=500></label> "
	                 "<label>Code <input name=code required inputmode=numeric "
	                 "autocomplete=one-time-code maxlength=8></label> "
	                 "<button type=submit name=reject class=danger>Reject</button></form>\n");
}

/* GET /campaigns/show?id=ID[&as=NAME] */
static int page_show(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	struct loaded ld;
	char t1[48], t2[48];
	int status = 200;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	status = load(req, s, cs_req_param(req, "id"), &ld);
	if (status != 200)
		goto out;
	cs_gw_time(ld.send_at, t1, sizeof(t1));
	cs_gw_time(ld.expires_at, t2, sizeof(t2));
	cs_page_begin(resp, req, "Campaign");
	cs_out_fmt(resp,
	           "<p>Campaign <strong>%s</strong></p>\n<table "
	           "class=facts><tr><th>State</th><td>%s</td></tr>"
	           "<tr><th>Levels</th><td>%s</td></tr><tr><th>Level to decide</th><td>%s</td>"
	           "</tr><tr><th>Author</th><td>%s</td></tr><tr><th>Group</th><td>%s</td></tr>"
	           "<tr><th>Channels</th><td>%s</td></tr><tr><th>Send at</th><td>%s</td></tr>"
	           "<tr><th>Review expires</th><td>%s</td></tr><tr><th>SHA-256</th><td><code "
	           "id=sha256>%s</code></td></tr></table>\n",
	           ld.cid, ld.state, ld.levels, ld.cur[0] != '\0' ? ld.cur : "-", ld.author,
	           ld.group, ld.channels, ld.send_at ? t1 : "when approved", t2, ld.sha256);
	if (cs_req_role(req) == CS_ROLE_REVIEWER) {
		cs_out_fmt(resp,
		           "<h2>Preview</h2>\n<p class=muted id=sample>Rendered for a sample "
		           "recipient <code>%s</code>.</p>\n",
		           ld.sample);
	} else {
		cs_out_raw(resp, "<h2>Preview</h2>\n<form method=get action=\"/campaigns/show\">");
		cs_out_fmt(resp,
		           "<input type=hidden name=id value=\"%s\"><label>Rendered for recipient "
		           "<input name=as value=\"%s\" maxlength=64></label> <button "
		           "type=submit>Render</button></form>\n",
		           ld.cid, ld.sample);
	}
	preview_channel(resp, &ld, GW_CH_EMAIL);
	preview_channel(resp, &ld, GW_CH_SMS);
	preview_channel(resp, &ld, GW_CH_LINE);
	if (cs_req_role(req) == CS_ROLE_REVIEWER && ld.cur[0] != '\0')
		decision_forms(resp, req, &ld);
	cs_out_raw(resp, "<h2>History</h2>\n<table><thead><tr><th>When</th><th>Event</th>"
	                 "<th>Level</th><th>Principal</th><th>Person</th><th>Source</th>"
	                 "<th>SHA-256</th><th>Reason</th></tr></thead><tbody>\n");
	if (gw_audit_each(s, ld.cid, 0, audit_row, resp) != MQS_OK)
		cs_out_raw(resp, "<tr><td colspan=8 class=error>cannot read the history</td></tr>");
	cs_out_raw(resp, "</tbody></table>\n");
	cs_page_end(resp);
out:
	loaded_release(&ld);
	return status;
}

/* GET /campaigns/preview/ID[?as=NAME]: the email's HTML part alone, for
 * the sandboxed frame of the campaign page. */
static int page_preview(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	struct gw_rendered r = {NULL, NULL, NULL};
	struct loaded ld;
	int status = 200;

	cs_resp_csp(resp, PREVIEW_CSP);
	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	status = load(req, s, cs_req_tail(req), &ld);
	if (status != 200)
		goto out;
	if (ld.c.html == NULL || !(ld.c.chan_mask & GW_CH_BIT(GW_CH_EMAIL))) {
		status = 404;
		goto out;
	}
	if (gw_campaign_render(&ld.c, GW_CH_EMAIL, ld.sample, PREVIEW_UNSUB, &r) != MQS_OK ||
	    r.html == NULL) {
		status = 500;
		goto out;
	}
	status = cs_resp_body(resp, "text/html; charset=utf-8", r.html, strlen(r.html));
out:
	gw_rendered_release(&r);
	loaded_release(&ld);
	return status;
}

/* POST /campaigns/decide (id, decision approve|reject, sha256, reason,
 * code) */
static int do_decide(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *cid = cs_req_param(req, "id"), *dec = cs_req_param(req, "decision");
	const char *sha = cs_req_param(req, "sha256"), *code = cs_req_param(req, "code");
	const char *reason = cs_req_param(req, "reason");
	char principal[GW_PRINCIPAL_MAX], err[512] = "bad request", flash[640], back[200];
	int rc = MQS_ERR_INVAL, status = 200, decision;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	decision = dec != NULL && strcmp(dec, "reject") == 0 ? GW_DECIDE_REJECT : GW_DECIDE_APPROVE;
	snprintf(back, sizeof(back), "/campaigns");
	if (cid == NULL || !gw_id_check(cid) || dec == NULL ||
	    (strcmp(dec, "approve") != 0 && strcmp(dec, "reject") != 0) || code == NULL ||
	    (decision == GW_DECIDE_APPROVE && sha == NULL) ||
	    !cs_gw_principal(req, principal, sizeof(principal)) || !gw_principal_ok(principal))
		goto out;
	if (sha != NULL && *sha == '\0')
		sha = NULL;
	rc = gw_review_decide_code(s, cid, principal, code, decision, cs_req_level(req), sha,
	                           reason, "console", cs_gw_now_ms(req), err, sizeof(err));
out:
	cs_gw_audit(req, decision == GW_DECIDE_APPROVE ? "campaign approve" : "campaign reject",
	            cid, rc == MQS_OK);
	if (rc == MQS_OK)
		snprintf(flash, sizeof(flash), "campaign %s: %s", cid,
		         decision == GW_DECIDE_APPROVE ? "level approved" : "rejected");
	else
		snprintf(flash, sizeof(flash), "%s refused: %s",
		         decision == GW_DECIDE_APPROVE ? "approval" : "rejection", err);
	return cs_resp_redirect(resp, back, flash, rc == MQS_OK);
}

/* The campaign routes (cs_routes.c). */
const struct cs_route cs_pg_campaigns_routes[] = {
    {"GET", "/campaigns", CS_ROLES_ALL, "Campaigns", page_list},
    {"GET", "/campaigns/show", CS_ROLES_ALL, NULL, page_show},
    {"GET", "/campaigns/preview/", CS_ROLES_ALL, NULL, page_preview},
    {"POST", "/campaigns/decide", CS_ROLE_REVIEWER, NULL, do_decide},
    {NULL, NULL, 0, NULL, NULL},
};
