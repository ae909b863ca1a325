/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_topics.c - the console's protected topics and keys page
 * (docs/console.md, "Protected topics"; docs/acl.md "Protected topics",
 * "Topic keys"): the protected filters, protect one (optionally rotated
 * every DURATION, or sealed per device), rotate a filter's key with a
 * grace period, unprotect, and the key ids with their states.  Key bytes
 * are never read: the listings of admin/topics.c and admin/keys.c carry
 * none.  Admins only.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cs_broker.h"

#define KEYS_SHOWN 2000 /* rows of the key table */

/* A row of a listing. */
struct topic_arg {
	struct cs_req *req;
	struct cs_resp *resp;
	long long n;
};

/* One protected filter with its actions. */
static enum mqs_err topic_row(const struct mqsa_topic *t, void *arg)
{
	struct topic_arg *a = arg;
	struct cs_resp *resp = a->resp;

	cs_out_fmt(resp, "<tr><td class=\"filter\">%s</td><td>", t->filter);
	if (t->per_device > 0)
		cs_out_fmt(resp, "per device (level %d)", t->per_device);
	else if (t->active_key > 0)
		cs_out_fmt(resp, "%lld", t->active_key);
	else
		cs_out_raw(resp, "none");
	cs_out_fmt(resp, "</td><td>%lld</td><td>", t->in_grace);
	if (t->rotate_every > 0)
		cs_broker_duration(resp, t->rotate_every);
	else
		cs_out_raw(resp, "by hand");
	cs_out_raw(resp, "</td><td>");
	cs_broker_time(resp, t->created_at, "-");
	cs_out_raw(resp, "</td><td class=\"actions\">");
	if (t->per_device == 0) {
		cs_out_raw(resp,
		           "<form method=\"post\" class=\"inline\" action=\"/topics/rotate\">");
		cs_out_csrf(resp, a->req);
		cs_out_fmt(resp,
		           "<input type=\"hidden\" name=\"filter\" value=\"%s\"><input "
		           "name=\"grace\" value=\"1d\" size=\"4\" aria-label=\"grace\" "
		           "title=\"old keys usable for\"><button type=\"submit\">Rotate</button>"
		           "</form>",
		           t->filter);
	}
	cs_broker_button(resp, a->req, "/topics/unprotect", "filter", t->filter, "Unprotect", 1);
	cs_out_raw(resp, "</td></tr>\n");
	return MQS_OK;
}

/* One key: id, filter, state, times (never its bytes). */
static enum mqs_err key_row(const struct mqsa_key_info *k, void *arg)
{
	struct topic_arg *a = arg;
	struct cs_resp *resp = a->resp;

	if (++a->n > KEYS_SHOWN)
		return MQS_OK;
	cs_out_fmt(resp, "<tr><td>%lld</td><td class=\"filter\">%s</td><td>%s</td><td>", k->id,
	           k->filter, k->state);
	cs_broker_time(resp, k->created_at, "-");
	cs_out_raw(resp, "</td><td>");
	cs_broker_time(resp, k->retire_after, "-");
	cs_out_raw(resp, "</td><td>");
	cs_broker_time(resp, k->seal_after, "at once");
	cs_out_raw(resp, "</td></tr>\n");
	return MQS_OK;
}

/* GET /topics */
static int topics_get(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct topic_arg a = {req, resp, 0};
	char why[MQSA_WHY_MAX];
	enum mqs_err rc;
	int st;

	st = cs_broker_open(req, resp, "Protected topics", &ctx);
	if (st != 0)
		return st;
	cs_page_begin(resp, req, "Protected topics");
	cs_out_raw(resp, "<table id=\"topics\"><thead><tr><th>Filter</th><th>Sealing key</th>"
	                 "<th>Keys in grace</th><th>Rotation</th><th>Protected since</th>"
	                 "<th>Actions</th></tr></thead><tbody>\n");
	why[0] = '\0';
	rc = mqsa_topic_list(ctx, topic_row, &a, why);
	cs_out_raw(resp, "</tbody></table>\n");
	if (rc != MQS_OK)
		cs_out_fmt(resp, "<p class=\"error\">%s</p>", why);
	cs_out_raw(resp, "<h2>Protect a topic filter</h2>"
	                 "<form method=\"post\" action=\"/topics/protect\">");
	cs_out_csrf(resp, req);
	cs_out_raw(resp, "<label>Filter <input name=\"filter\" required></label> "
	                 "<label>Rotate every <input name=\"rotate_every\" size=\"6\" "
	                 "placeholder=\"by hand\" title=\"e.g. 30d\"></label> "
	                 "<label>Per device, level <input name=\"per_device\" size=\"3\" "
	                 "placeholder=\"no\"></label> <button type=\"submit\">Protect</button>"
	                 "</form>\n");
	cs_out_raw(resp, "<h2>Topic keys</h2><p>Key ids and states only: the console never "
	                 "reads key bytes.</p><table id=\"keys\"><thead><tr><th>Id</th>"
	                 "<th>Filter</th><th>State</th><th>Created</th><th>Retires</th>"
	                 "<th>Seals from</th></tr></thead><tbody>\n");
	if (rc == MQS_OK)
		rc = mqsa_key_list(ctx, NULL, key_row, &a, why);
	cs_out_raw(resp, "</tbody></table>\n");
	if (a.n > KEYS_SHOWN)
		cs_out_fmt(resp,
		           "<p class=\"note\">%d of %lld keys shown (mqttsec-acl key list "
		           "shows them all)</p>",
		           KEYS_SHOWN, a.n);
	if (rc != MQS_OK)
		cs_out_fmt(resp, "<p class=\"error\">%s</p>", why);
	cs_page_end(resp);
	return rc == MQS_OK ? 200 : (mqsa_ctx_db_busy(ctx) ? 503 : 500);
}

/* POST /topics/protect: filter, rotate_every, per_device. */
static int topics_protect(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_topic_opts o = {0, 0};
	struct mqsa_topic_protected res;
	const char *every = cs_broker_param(req, "rotate_every");
	const char *level = cs_broker_param(req, "per_device");
	char why[MQSA_WHY_MAX];
	char done[96];
	long long v = 0;
	enum mqs_err rc = MQS_OK;
	int st;

	st = cs_broker_open(req, resp, "Protected topics", &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	memset(&res, 0, sizeof(res));
	if (every[0] != '\0')
		rc = mqsa_ttl_parse(every, &o.rotate_every, why);
	if (rc == MQS_OK && level[0] != '\0') {
		rc = mqsa_int_parse(level, 1, 255, "device level", &v, why);
		o.per_device = (int)v;
	}
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_topic_protect(ctx, cs_broker_param(req, "filter"), &o, &res, why);
	if (res.key_id != 0)
		snprintf(done, sizeof(done), "topic protected with key %lu",
		         (unsigned long)res.key_id);
	else
		snprintf(done, sizeof(done), "topic protected, sealed per device");
	return cs_broker_done(req, resp, "/topics", "topic protect", rc, done, why);
}

/* POST /topics/rotate: filter, grace. */
static int topics_rotate(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_key_rotated res;
	const char *grace = cs_broker_param(req, "grace");
	char why[MQSA_WHY_MAX];
	char done[96];
	long long g = MQSA_GRACE_DEFAULT;
	enum mqs_err rc = MQS_OK;
	int st;

	st = cs_broker_open(req, resp, "Protected topics", &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	memset(&res, 0, sizeof(res));
	if (grace[0] != '\0')
		rc = mqsa_grace_parse(grace, &g, why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_key_rotate(ctx, cs_broker_param(req, "filter"), g, &res, why);
	snprintf(done, sizeof(done), "new key %lu, %d retired", (unsigned long)res.key_id,
	         res.nretired);
	return cs_broker_done(req, resp, "/topics", "key rotate", rc, done, why);
}

/* POST /topics/unprotect: filter (its keys stay usable for a day). */
static int topics_unprotect(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	char why[MQSA_WHY_MAX];
	char done[96];
	int n = 0;
	enum mqs_err rc;
	int st;

	st = cs_broker_open(req, resp, "Protected topics", &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	rc = mqsa_topic_unprotect(ctx, cs_broker_param(req, "filter"), MQSA_GRACE_DEFAULT, &n, why);
	snprintf(done, sizeof(done), "topic unprotected, %d keys retired", n);
	return cs_broker_done(req, resp, "/topics", "topic unprotect", rc, done, why);
}

const struct cs_route cs_pg_topics_routes[] = {
    {"GET", "/topics", CS_ROLE_ADMIN, "Topics", topics_get},
    {"POST", "/topics/protect", CS_ROLE_ADMIN, NULL, topics_protect},
    {"POST", "/topics/rotate", CS_ROLE_ADMIN | CS_STEP_UP, NULL, topics_rotate},
    {"POST", "/topics/unprotect", CS_ROLE_ADMIN | CS_STEP_UP, NULL, topics_unprotect},
    {NULL, NULL, 0, NULL, NULL},
};
