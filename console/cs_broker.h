/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_broker.h - what the console's broker pages share (cs_pg_devices.c,
 * cs_pg_lists.c, cs_pg_bans.c, cs_pg_acl.c, cs_pg_topics.c, cs_pg_audit.c;
 * docs/console.md, "Broker pages"): the broker admin context or an error
 * page, times and durations, one-button POST forms, the answer to a change,
 * and each page module's route table.
 *
 * Ownership: nothing is kept between calls; contexts come from
 * cs_req_broker() (owned by the core); strings are borrowed for the call.
 */
#ifndef CS_BROKER_H
#define CS_BROKER_H

#include "cs_page.h"
#include "mqsa.h"

/* The page modules' route tables (listed in cs_routes.c). */
extern const struct cs_route cs_pg_devices_routes[];
extern const struct cs_route cs_pg_lists_routes[];
extern const struct cs_route cs_pg_bans_routes[];
extern const struct cs_route cs_pg_acl_routes[];
extern const struct cs_route cs_pg_topics_routes[];
extern const struct cs_route cs_pg_audit_routes[];

/* The broker admin context of req in *ctx: 0, or after writing an error
 * page titled title (no [broker] section, database or key trouble) the
 * HTTP status to return. */
int cs_broker_open(struct cs_req *req, struct cs_resp *resp, const char *title,
                   struct mqsa_ctx **ctx);

/* Append t (Unix seconds) as "YYYY-MM-DD HH:MM:SS UTC", or none_text when
 * t <= 0. */
void cs_broker_time(struct cs_resp *resp, long long t, const char *none_text);

/* Append a duration of secs seconds ("2d 3h", "4m 5s", "0s"). */
void cs_broker_duration(struct cs_resp *resp, long long secs);

/* Append a one-button form: POST to action (a literal path) with hidden
 * field name=value (value escaped; name NULL: none) and the CSRF token;
 * danger styles the button as destructive. */
void cs_broker_button(struct cs_resp *resp, struct cs_req *req, const char *action,
                      const char *name, const char *value, const char *label, int danger);

/* Finish a change: write the console audit row (what, outcome) and answer
 * 303 to location with flash done (rc MQS_OK) or why. */
int cs_broker_done(struct cs_req *req, struct cs_resp *resp, const char *location, const char *what,
                   enum mqs_err rc, const char *done, const char *why);

/* A POST that removes one row by its "id" form field: open the broker
 * context (error page titled title), parse id (1..INT64_MAX), call
 * remove(ctx, id, why), then cs_broker_done(location, what) with the flash
 * "NOUN ID VERB" ("list entry 7 removed").  Returns the HTTP status. */
int cs_broker_remove_by_id(struct cs_req *req, struct cs_resp *resp, const char *title,
                           enum mqs_err (*remove)(struct mqsa_ctx *ctx, long long id, char *why),
                           const char *noun, const char *verb, const char *location,
                           const char *what);

/* pg for the page the request asks for, of CS_PAGE_ROWS rows: "after",
 * "before" (keys, borrowed from req), "last=1", or "page=N" (docs/console.md,
 * "Long listings"). */
void cs_broker_page(struct cs_req *req, struct mqsa_page *pg);

/* The links of a listing that pg gave (cs_out_pager_keys). */
void cs_broker_pager(struct cs_resp *resp, struct cs_req *req, const struct mqsa_page *pg);

/* A required form parameter, "" when absent. */
const char *cs_broker_param(const struct cs_req *req, const char *name);

#endif
