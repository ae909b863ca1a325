/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_status.c - the console's delivery status page (docs/console.md,
 * "Gateway pages"): outbox rows by channel and state, and campaigns by
 * state; counts only, as `mqttsec-gateway status` shows them. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cs_pg_gw.h"
#include "gw_outbox.h"
#include "gw_review.h"
#include "gw_util.h"

static const char *const states[] = {"queued", "sending", "sent", "failed", "dead"};
static const char *const cstates[] = {"pending_review", "approved", "scheduled", "sending",
                                      "done",           "rejected", "expired",   "cancelled"};

/* gw_review_each: count one campaign. */
static int count_campaign(const struct gw_campaign_info *ci, void *arg)
{
	long long *n = arg;

	(void)ci;
	(*n)++;
	return MQS_OK;
}

/* One table cell: a count linked to its outbox filter. */
static void cell(struct cs_resp *resp, const char *state, const char *chan, int64_t n)
{
	if (n < 0) {
		cs_out_raw(resp, "<td class=error>?</td>");
		return;
	}
	cs_out_raw(resp, "<td><a href=\"/outbox?");
	if (state != NULL)
		cs_out_fmt(resp, "state=%s&amp;", state);
	if (chan != NULL)
		cs_out_fmt(resp, "channel=%s", chan);
	cs_out_fmt(resp, "\">%lld</a></td>", (long long)n);
}

/* GET /status */
static int page_status(struct cs_req *req, struct cs_resp *resp)
{
	struct gw_store *s;
	const struct gw_config *conf;
	int status = 200;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	cs_page_begin(resp, req, "Delivery status");
	cs_out_raw(resp, "<h2>Outbox</h2>\n<table id=outbox-counts>"
	                 "<thead><tr><th>Channel</th>");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		cs_out_fmt(resp, "<th>%s</th>", states[i]);
	cs_out_raw(resp, "</tr></thead><tbody>\n");
	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		const char *n = gw_chan_name(ch);

		if (n == NULL || gw_chan_parse(n) != ch)
			continue;
		cs_out_fmt(resp, "<tr><th>%s</th>", n);
		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			cell(resp, states[i], n, gw_outbox_count(s, states[i], n));
		cs_out_raw(resp, "</tr>\n");
	}
	cs_out_raw(resp, "<tr><th>all</th>");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		cell(resp, states[i], NULL, gw_outbox_count(s, states[i], NULL));
	cs_out_raw(resp, "</tr>\n</tbody></table>\n<h2>Campaigns</h2>\n<table id=campaign-counts>"
	                 "<thead><tr><th>State</th><th>Campaigns</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < sizeof(cstates) / sizeof(cstates[0]); i++) {
		long long n = 0;

		if (gw_review_each(s, cstates[i], count_campaign, &n) != MQS_OK)
			n = -1;
		cs_out_fmt(
		    resp, "<tr><th><a href=\"/campaigns?state=%s\">%s</a></th><td>%lld</td></tr>\n",
		    cstates[i], cstates[i], n);
	}
	cs_out_raw(resp, "</tbody></table>\n");
	cs_page_end(resp);
	return status;
}

/* The delivery status route (cs_routes.c). */
const struct cs_route cs_pg_status_routes[] = {
    {"GET", "/status", CS_ROLES_GW, "Delivery status", page_status},
    {NULL, NULL, 0, NULL, NULL},
};
