/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_routes.c - the route tables of the console (docs/console.md "Pages"):
 * the core's own pages first, then one table per page module.  A page
 * module adds its table here (declared extern below). */
#include "config.h"

#include <string.h>

#include "cs_broker.h"
#include "cs_int.h"
#include "cs_pg_gw.h"

/* Page modules' tables (one line each, in navigation order). */

/* The tables, in order; NULL-terminated. */
const struct cs_route *const cs_route_tables[] = {
    cs_pg_core_routes,    cs_pg_devices_routes,
    cs_pg_lists_routes,   cs_pg_bans_routes,
    cs_pg_acl_routes,     cs_pg_topics_routes,
    cs_pg_audit_routes,   cs_pg_recipients_routes,
    cs_pg_groups_routes,  cs_pg_campaigns_routes,
    cs_pg_outbox_routes,  cs_pg_status_routes,
    cs_pg_account_routes, NULL,
};

/* The navigation bar. */
void cs_routes_nav(struct cs_resp *resp, unsigned role, const char *path)
{
	for (size_t t = 0; cs_route_tables[t] != NULL; t++) {
		for (const struct cs_route *r = cs_route_tables[t]; r->method != NULL; r++) {
			if (r->nav == NULL || strcmp(r->method, "GET") != 0 ||
			    r->roles == CS_ROLE_PUBLIC || !cs_role_allows(r->roles, role))
				continue;
			cs_out_raw(resp, "<a href=\"");
			cs_out_attr(resp, r->path);
			cs_out_raw(resp, path != NULL && strcmp(path, r->path) == 0
			                     ? "\" class=\"cur\">"
			                     : "\">");
			cs_out_text(resp, r->nav);
			cs_out_raw(resp, "</a>");
		}
	}
}
