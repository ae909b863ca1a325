/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_outbox.c - the console's outbox page (docs/console.md, "Gateway
 * pages"): deliveries filtered by state and channel, with attempts, errors
 * and provider references (no address, no message text), and the requeue
 * of a dead delivery through gw_outbox_requeue(), as `mqttsec-gateway
 * outbox requeue ID` does. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_pg_gw.h"
#include "gw_outbox.h"
#include "gw_util.h"
#include "mqs_util.h"

static const char *const states[] = {"queued", "sending", "sent", "failed", "dead"};

/* A page being written. */
struct olist {
	struct cs_resp *resp;
	struct cs_req *req;
};

/* gw_outbox_page: one row. */
static int row(const struct gw_outbox_info *oi, void *arg)
{
	struct olist *l = arg;
	char next[48], upd[48];

	cs_gw_time(strcmp(oi->state, "queued") == 0 ? oi->next_attempt_at : 0, next, sizeof(next));
	cs_gw_time(oi->updated_at, upd, sizeof(upd));
	cs_out_fmt(l->resp,
	           "<tr><td>%lld</td><td>%s</td><td>%s:%s</td><td>%s</td><td>%s</td><td>%s</td>"
	           "<td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>",
	           (long long)oi->id, oi->msg_id, oi->route != NULL ? oi->route : "",
	           oi->publisher != NULL && *oi->publisher != '\0' ? oi->publisher : "-",
	           oi->recipient, oi->channel, oi->state, oi->attempts, oi->step, next, upd,
	           oi->error != NULL ? oi->error : "",
	           oi->provider_ref != NULL ? oi->provider_ref : "");
	if (strcmp(oi->state, "dead") == 0) {
		cs_out_raw(l->resp, "<form method=post action=\"/outbox/requeue\" class=inline>");
		cs_out_csrf(l->resp, l->req);
		cs_out_fmt(l->resp,
		           "<input type=hidden name=id value=\"%lld\"><button "
		           "type=submit>Requeue</button></form>",
		           (long long)oi->id);
	}
	cs_out_raw(l->resp, "</td></tr>\n");
	return MQS_OK;
}

/* GET /outbox[?state=S][&channel=C][&page=N] */
static int page_list(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *want = cs_req_param(req, "state"), *wch = cs_req_param(req, "channel");
	const char *state = NULL, *chan = NULL;
	struct olist l = {resp, req};
	int64_t total;
	int status = 200;

	for (size_t i = 0; want != NULL && i < sizeof(states) / sizeof(states[0]); i++) {
		if (strcmp(want, states[i]) == 0)
			state = states[i];
	}
	if (wch != NULL && gw_chan_parse(wch) >= 0)
		chan = gw_chan_name(gw_chan_parse(wch));
	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	total = gw_outbox_count(s, state, chan);
	cs_page_begin(resp, req, "Outbox");
	cs_out_raw(resp, "<form method=get action=\"/outbox\"><label>State "
	                 "<select name=state><option value=\"\">any</option>");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		cs_out_fmt(resp, "<option%s>%s</option>",
		           state != NULL && strcmp(state, states[i]) == 0 ? " selected" : "",
		           states[i]);
	cs_out_raw(resp, "</select></label> <label>Channel <select name=channel><option "
	                 "value=\"\">any</option>");
	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		const char *n = gw_chan_name(ch);

		if (n != NULL && gw_chan_parse(n) == ch)
			cs_out_fmt(resp, "<option%s>%s</option>",
			           chan != NULL && strcmp(chan, n) == 0 ? " selected" : "", n);
	}
	cs_out_fmt(resp,
	           "</select></label> <button type=submit>Filter</button></form>\n<p>%lld "
	           "deliveries</p>\n",
	           (long long)(total > 0 ? total : 0));
	cs_out_raw(resp, "<table><thead><tr><th>Id</th><th>Message</th><th>From</th>"
	                 "<th>Recipient</th><th>Channel</th><th>State</th><th>Attempts</th>"
	                 "<th>Step</th><th>Next attempt</th><th>Updated</th><th>Error</th>"
	                 "<th>Provider reference</th><th></th></tr></thead><tbody>\n");
	if (total < 0 || gw_outbox_page(s, state, chan, CS_PAGE_ROWS, cs_req_page_offset(req), row,
	                                &l) != MQS_OK)
		cs_out_raw(resp, "<tr><td colspan=13 class=error>cannot read the outbox</td></tr>");
	cs_out_raw(resp, "</tbody></table>\n");
	cs_out_pager(resp, req, total > 0 ? total : 0);
	cs_page_end(resp);
	return status;
}

/* POST /outbox/requeue (id) */
static int do_requeue(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *arg = cs_req_param(req, "id");
	char *end = NULL, err[256] = "bad delivery id", flash[320];
	long long id = arg != NULL ? strtoll(arg, &end, 10) : 0;
	int rc = MQS_ERR_INVAL, status = 200;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	if (arg != NULL && end != arg && *end == '\0' && id > 0)
		rc = gw_outbox_requeue(s, (int64_t)id, cs_gw_now_ms(req), err, sizeof(err));
	cs_gw_audit(req, "outbox requeue", arg, rc == MQS_OK);
	if (rc == MQS_OK)
		snprintf(flash, sizeof(flash), "delivery %lld queued again", id);
	else
		snprintf(flash, sizeof(flash), "cannot requeue: %s", err);
	return cs_resp_redirect(resp, "/outbox", flash, rc == MQS_OK);
}

/* The outbox routes (cs_routes.c). */
const struct cs_route cs_pg_outbox_routes[] = {
    {"GET", "/outbox", CS_ROLES_GW, "Outbox", page_list},
    {"POST", "/outbox/requeue", CS_ROLES_GW, NULL, do_requeue},
    {NULL, NULL, 0, NULL, NULL},
};
