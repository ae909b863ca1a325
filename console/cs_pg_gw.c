/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_gw.c - helpers shared by the console's gateway pages
 * (docs/console.md, "Gateway pages"). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cs_pg_gw.h"
#include "gw_address.h"
#include "gw_util.h"
#include "gw_config.h"
#include "gw_store.h"

/* The gateway store and configuration, or an error page. */
int cs_gw_open(struct cs_req *req, struct cs_resp *resp, struct gw_store **store,
               const struct gw_config **conf, int *status)
{
	char why[256] = "";
	int ok = 0;

	if (cs_req_gateway(req, store, conf, why, sizeof(why)) == MQS_OK) {
		ok = 1;
		goto out;
	}
	cs_page_begin(resp, req, "Gateway");
	cs_out_raw(resp, "<p class=error>The gateway is not available: ");
	cs_out_text(resp, why[0] != '\0' ? why : "cannot open its store");
	cs_out_raw(resp, "</p>");
	cs_page_end(resp);
	*status = 503;
out:
	return ok;
}

/* ms since the epoch as UTC text. */
void cs_gw_time(int64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	snprintf(out, cap, "-");
	if (ms > 0 && gmtime_r(&t, &tm) != NULL)
		strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* "console:USER". */
int cs_gw_principal(struct cs_req *req, char *out, size_t cap)
{
	int n = snprintf(out, cap, "console:%s", cs_req_user(req));

	return n > 0 && (size_t)n < cap;
}

/* Exact membership in a comma-separated list. */
int cs_gw_csv_has(const char *csv, const char *item)
{
	size_t n = strlen(item);
	const char *p = csv;

	while (p != NULL && *p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, item, n) == 0)
			return 1;
		p = comma != NULL ? comma + 1 : NULL;
	}
	return 0;
}

/* An audit row naming what changed. */
void cs_gw_audit(struct cs_req *req, const char *action, const char *target, int ok)
{
	char what[256];
	int named = target != NULL && (gw_name_check(target) || gw_id_check(target));

	snprintf(what, sizeof(what), "%s%s%s%s", action, named ? " " : "", named ? target : "",
	         ok ? "" : " refused");
	cs_req_audit(req, what, ok);
}

/* The request's time in ms. */
int64_t cs_gw_now_ms(const struct cs_req *req)
{
	int64_t now = cs_req_now(req);

	/* seconds (cs_page.h); a value already in ms is kept as it is */
	return now < 100000000000LL ? now * 1000 : now;
}

/* Remove one named row (see cs_pg_gw.h). */
int cs_gw_remove_by_name(struct cs_req *req, struct cs_resp *resp,
                         int (*rm)(struct gw_store *s, const char *name, char *err, size_t errlen),
                         const char *noun, const char *what, const char *location)
{
	struct gw_store *s;
	const struct gw_config *conf;
	const char *name = cs_req_param(req, "name");
	char err[256] = "bad name", flash[384];
	int rc = MQS_ERR_INVAL, status = 200;

	if (!cs_gw_open(req, resp, &s, &conf, &status))
		return status;
	if (name != NULL && gw_name_check(name))
		rc = rm(s, name, err, sizeof(err));
	cs_gw_audit(req, what, name, rc == MQS_OK);
	if (rc == MQS_OK)
		snprintf(flash, sizeof(flash), "%s %s removed", noun, name);
	else
		snprintf(flash, sizeof(flash), "cannot remove the %s: %s", noun, err);
	return cs_resp_redirect(resp, location, flash, rc == MQS_OK);
}
