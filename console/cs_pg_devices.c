/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_devices.c - the console's devices page (docs/console.md, "Devices"):
 * a paginated, searchable list; add a device, then its credentials file
 * offered once as a download and its QR code shown once (the console
 * keeps neither); disable and enable, rekey with a grace period, retotp,
 * remove.  Admins only.  Every operation is the admin library's
 * (admin/devices.c, admin/rekey.c), audited as console:NAME.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <qrencode.h>

#include "cs_broker.h"
#include "mqs_alloc.h"
#include "mqs_util.h"

#define CREDS_MAX (64 * 1024) /* a credentials file, as delivered */

/* Where mqsa_* delivers new credentials: a copy, wiped after the page. */
struct creds_copy {
	char *json;
};

/* mqsa_deliver: copy the credentials JSON (a secret). */
static enum mqs_err creds_keep(const char *json, void *arg, char *why)
{
	struct creds_copy *c = arg;
	size_t n = strlen(json);

	if (n > CREDS_MAX) {
		snprintf(why, MQSA_WHY_MAX, "cannot deliver credentials: too long");
		return MQS_ERR_TOOBIG;
	}
	c->json = mqs_malloc(n + 1);
	if (c->json == NULL) {
		snprintf(why, MQSA_WHY_MAX, "cannot deliver credentials: out of memory");
		return MQS_ERR_NOMEM;
	}
	memcpy(c->json, json, n + 1);
	return MQS_OK;
}

/* The QR code of text as inline SVG (one path, dark modules only). */
static void qr_svg(struct cs_resp *resp, const char *text)
{
	QRcode *qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
	int w;

	if (qr == NULL) {
		cs_out_raw(resp, "<p class=\"error\">cannot draw the QR code</p>");
		return;
	}
	w = qr->width;
	cs_out_fmt(resp,
	           "<svg id=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	           "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"QR code\">"
	           "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
	           (w + 8) * 6, (w + 8) * 6, w + 8, w + 8, w + 8, w + 8);
	for (int y = 0; y < w; y++) {
		for (int x = 0; x < w; x++) {
			if (qr->data[y * w + x] & 1)
				cs_out_fmt(resp, "M%d %dh1v1h-1z", x + 4, y + 4);
		}
	}
	cs_out_raw(resp, "\"/></svg>");
	OPENSSL_cleanse(qr->data, (size_t)w * (size_t)w);
	QRcode_free(qr);
}

/* The page of new credentials: a download link holding the file (a data:
 * URL, so the console keeps no copy) and, with uri, its QR code. */
static int creds_page(struct cs_req *req, struct cs_resp *resp, const char *title, const char *name,
                      const char *json, const char *uri)
{
	size_t n = strlen(json);
	size_t cap = 4 * ((n + 2) / 3) + 1;
	unsigned char *b64 = mqs_malloc(cap);

	if (b64 == NULL)
		return 500;
	EVP_EncodeBlock(b64, (const unsigned char *)json, (int)n);
	cs_page_begin(resp, req, title);
	cs_out_raw(resp, "<p class=\"warning\" id=\"once\">Shown once: the console keeps no "
	                 "copy of these credentials. Download the file now and keep it secret; "
	                 "when this page is gone, only <em>rekey</em> or <em>retotp</em> "
	                 "issues new ones.</p>");
	cs_out_fmt(resp, "<p><a id=\"creds-download\" class=\"button\" download=\"%s.json\" ",
	           name);
	cs_out_raw(resp, "href=\"data:application/json;base64,");
	cs_out_attr(resp, (const char *)b64);
	cs_out_fmt(resp, "\">Download %s.json</a></p>", name);
	if (uri != NULL) {
		cs_out_raw(resp, "<h2>TOTP</h2><p>Scan with an authenticator app:</p>");
		qr_svg(resp, uri);
	}
	cs_out_raw(resp, "<p><a href=\"/devices\">Back to the devices</a></p>");
	cs_page_end(resp);
	mqs_secret_free(b64, cap);
	return 200;
}

/* One row of the device list. */
struct list_arg {
	struct cs_req *req;
	struct cs_resp *resp;
};

/* A device row with its actions. */
static enum mqs_err device_row(const struct mqsa_device_info *d, void *arg)
{
	struct list_arg *a = arg;
	struct cs_resp *resp = a->resp;

	cs_out_fmt(resp, "<tr><td class=\"name\">%s</td><td>%s</td><td>%s</td>", d->name,
	           d->enabled ? "enabled" : "disabled", d->groups);
	cs_out_fmt(resp, "<td>%lld digits, %lld s, %s</td><td>", d->digits, d->period,
	           d->algorithm);
	cs_broker_time(resp, d->created_at, "-");
	cs_out_raw(resp, "</td><td>");
	cs_broker_time(resp, d->last_step >= 0 ? d->last_step * d->period : 0, "never");
	cs_out_raw(resp, "</td><td class=\"actions\">");
	if (d->enabled)
		cs_broker_button(resp, a->req, "/devices/disable", "name", d->name, "Disable", 0);
	else
		cs_broker_button(resp, a->req, "/devices/enable", "name", d->name, "Enable", 0);
	cs_out_raw(resp, "<form method=\"post\" class=\"inline\" action=\"/devices/rekey\">");
	cs_out_csrf(resp, a->req);
	cs_out_fmt(resp,
	           "<input type=\"hidden\" name=\"name\" value=\"%s\"><input name=\"grace\" "
	           "value=\"1d\" size=\"4\" aria-label=\"grace\" title=\"old key usable for\">"
	           "<button type=\"submit\">Rekey</button></form>",
	           d->name);
	cs_broker_button(resp, a->req, "/devices/retotp", "name", d->name, "Retotp", 0);
	cs_broker_button(resp, a->req, "/devices/remove", "name", d->name, "Remove", 1);
	cs_out_raw(resp, "</td></tr>\n");
	return MQS_OK;
}

/* GET /devices[?q=SEARCH&page=N] */
static int devices_get(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct list_arg a = {req, resp};
	struct mqsa_page pg;
	const char *q = cs_broker_param(req, "q");
	char why[MQSA_WHY_MAX];
	enum mqs_err rc;
	int st;

	cs_broker_page(req, &pg);
	st = cs_broker_open(req, resp, "Devices", &ctx);
	if (st != 0)
		return st;
	cs_page_begin(resp, req, "Devices");
	cs_out_raw(resp, "<form method=\"get\" action=\"/devices\" class=\"search\">"
	                 "<label>Search <input name=\"q\" value=\"");
	cs_out_attr(resp, q);
	cs_out_raw(resp, "\"></label> <button type=\"submit\">Search</button></form>\n");
	cs_out_raw(resp, "<table id=\"devices\"><thead><tr><th>Name</th><th>State</th>"
	                 "<th>Groups</th><th>TOTP</th><th>Created</th><th>Last login</th>"
	                 "<th>Actions</th></tr></thead><tbody>\n");
	why[0] = '\0';
	rc = mqsa_device_page(ctx, q, &pg, device_row, &a, why);
	cs_out_raw(resp, "</tbody></table>\n");
	if (rc != MQS_OK)
		cs_out_fmt(resp, "<p class=\"error\">%s</p>", why);
	cs_out_fmt(resp, "<p class=\"count\">%lld devices</p>", pg.total);
	cs_broker_pager(resp, req, &pg);
	cs_out_raw(resp, "<h2>Add a device</h2><form method=\"post\" action=\"/devices/add\">");
	cs_out_csrf(resp, req);
	cs_out_raw(resp, "<label>Name <input name=\"name\" required maxlength=\"64\" "
	                 "title=\"A-Z a-z 0-9 . _ -\"></label> "
	                 "<label>Digits <select name=\"digits\"><option>6</option>"
	                 "<option>8</option></select></label> "
	                 "<label>Period <input name=\"period\" value=\"30\" size=\"4\"></label> "
	                 "<button type=\"submit\">Add</button></form>\n");
	cs_page_end(resp);
	return rc == MQS_OK || rc == MQS_ERR_INVAL ? 200 : (mqsa_ctx_db_busy(ctx) ? 503 : 500);
}

/* POST /devices/add: name, digits, period. */
static int devices_add(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct creds_copy c = {NULL};
	struct mqsa_deliver dl = {creds_keep, &c};
	struct mqs_totp_params p;
	const char *name = cs_broker_param(req, "name");
	const char *digits = cs_req_param(req, "digits");
	const char *period = cs_req_param(req, "period");
	char why[MQSA_WHY_MAX];
	char *uri = NULL;
	long long v = 0;
	enum mqs_err rc = MQS_OK;
	int st;

	st = cs_broker_open(req, resp, "Devices", &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	mqs_totp_params_default(&p);
	if (digits != NULL && digits[0] != '\0') {
		rc = mqsa_int_parse(digits, 6, 8, "digits", &v, why);
		if (rc == MQS_OK && v != 6 && v != 8)
			rc = MQS_ERR_INVAL;
		if (rc != MQS_OK)
			snprintf(why, sizeof(why), "invalid digits: use 6 or 8");
		p.digits = (unsigned)v;
	}
	if (rc == MQS_OK && period != NULL && period[0] != '\0') {
		rc = mqsa_int_parse(period, 1, 3600, "period", &v, why);
		p.period = (unsigned)v;
	}
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_device_add(ctx, name, &p, &dl, NULL, why);
	cs_req_audit(req, "device add", rc == MQS_OK);
	/* the QR code is shown once more by the library's audited call */
	if (rc == MQS_OK && mqsa_device_totp_uri(ctx, name, &uri, why) != MQS_OK)
		uri = NULL;
	if (rc == MQS_OK && c.json != NULL)
		st = creds_page(req, resp, "New device", name, c.json, uri);
	else
		st = cs_resp_redirect(resp, "/devices", why, 0);
	if (c.json != NULL)
		mqs_secret_free_str(c.json);
	if (uri != NULL)
		mqs_secret_free_str(uri);
	return st;
}

/* POST /devices/enable and /devices/disable: name. */
static int devices_enable(struct cs_req *req, struct cs_resp *resp, int enabled)
{
	struct mqsa_ctx *ctx = NULL;
	const char *name = cs_broker_param(req, "name");
	char why[MQSA_WHY_MAX];
	char done[128];
	int changed = 0;
	enum mqs_err rc;
	int st;

	st = cs_broker_open(req, resp, "Devices", &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	rc = mqsa_device_set_enabled(ctx, name, enabled, &changed, why);
	snprintf(done, sizeof(done), "device %s %s%s", name, changed ? "" : "was already ",
	         enabled ? "enabled" : "disabled");
	return cs_broker_done(req, resp, "/devices", enabled ? "device enable" : "device disable",
	                      rc, done, why);
}

/* POST /devices/enable */
static int devices_on(struct cs_req *req, struct cs_resp *resp)
{
	return devices_enable(req, resp, 1);
}

/* POST /devices/disable */
static int devices_off(struct cs_req *req, struct cs_resp *resp)
{
	return devices_enable(req, resp, 0);
}

/* POST /devices/rekey (name, grace) and /devices/retotp (name). */
static int devices_renew(struct cs_req *req, struct cs_resp *resp, int retotp)
{
	struct mqsa_ctx *ctx = NULL;
	struct creds_copy c = {NULL};
	struct mqsa_deliver dl = {creds_keep, &c};
	struct mqsa_device_rekeyed res;
	const char *name = cs_broker_param(req, "name");
	const char *grace = cs_req_param(req, "grace");
	char why[MQSA_WHY_MAX];
	char *uri = NULL;
	long long g = MQSA_GRACE_DEFAULT;
	enum mqs_err rc = MQS_OK;
	int st;

	st = cs_broker_open(req, resp, "Devices", &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	memset(&res, 0, sizeof(res));
	if (!retotp && grace != NULL && grace[0] != '\0')
		rc = mqsa_grace_parse(grace, &g, why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc == MQS_OK)
		rc = retotp ? mqsa_device_retotp(ctx, name, &dl, &res, why)
		            : mqsa_device_rekey(ctx, name, g, &dl, &res, why);
	cs_req_audit(req, retotp ? "device retotp" : "device rekey", rc == MQS_OK);
	if (rc == MQS_OK && retotp && mqsa_device_totp_uri(ctx, name, &uri, why) != MQS_OK)
		uri = NULL;
	if (rc == MQS_OK && c.json != NULL)
		st = creds_page(req, resp, retotp ? "New TOTP secret" : "New device key", name,
		                c.json, uri);
	else
		st = cs_resp_redirect(resp, "/devices", why, 0);
	if (c.json != NULL)
		mqs_secret_free_str(c.json);
	if (uri != NULL)
		mqs_secret_free_str(uri);
	return st;
}

/* POST /devices/rekey */
static int devices_rekey(struct cs_req *req, struct cs_resp *resp)
{
	return devices_renew(req, resp, 0);
}

/* POST /devices/retotp */
static int devices_retotp(struct cs_req *req, struct cs_resp *resp)
{
	return devices_renew(req, resp, 1);
}

/* POST /devices/remove: name. */
static int devices_remove(struct cs_req *req, struct cs_resp *resp)
{
	struct mqsa_ctx *ctx = NULL;
	struct mqsa_device_removed res;
	const char *name = cs_broker_param(req, "name");
	char why[MQSA_WHY_MAX];
	char done[160];
	enum mqs_err rc;
	int st;

	st = cs_broker_open(req, resp, "Devices", &ctx);
	if (st != 0)
		return st;
	why[0] = '\0';
	memset(&res, 0, sizeof(res));
	rc = mqsa_device_remove(ctx, name, &res, why);
	snprintf(done, sizeof(done), "device %s removed (%d rules, %d list entries)", name,
	         res.rules, res.list_entries);
	return cs_broker_done(req, resp, "/devices", "device rm", rc, done, why);
}

const struct cs_route cs_pg_devices_routes[] = {
    {"GET", "/devices", CS_ROLE_ADMIN, "Devices", devices_get},
    {"POST", "/devices/add", CS_ROLE_ADMIN | CS_STEP_UP, NULL, devices_add},
    {"POST", "/devices/enable", CS_ROLE_ADMIN, NULL, devices_on},
    {"POST", "/devices/disable", CS_ROLE_ADMIN, NULL, devices_off},
    {"POST", "/devices/rekey", CS_ROLE_ADMIN | CS_STEP_UP, NULL, devices_rekey},
    {"POST", "/devices/retotp", CS_ROLE_ADMIN | CS_STEP_UP, NULL, devices_retotp},
    {"POST", "/devices/remove", CS_ROLE_ADMIN | CS_STEP_UP, NULL, devices_remove},
    {NULL, NULL, 0, NULL, NULL},
};
