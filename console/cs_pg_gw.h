/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_pg_gw.h - the console's gateway pages (docs/console.md, "Gateway
 * pages"): recipients, groups, campaigns and their review, outbox, delivery
 * status.  Each module exports its route table (cs_page.h); this header
 * also names the few helpers they share (cs_pg_gw.c).
 *
 * Every page reads and changes the gateway store only through the gateway's
 * data modules (gw_recipient.h, gw_group.h, gw_consent.h, gw_review.h,
 * gw_outbox.h), the same calls as `mqttsec-gateway`, so every rule is the
 * gateway's.  The console user NAME acts as principal "console:NAME" and
 * records consent changes with source "console:NAME".
 *
 * Ownership: the tables are static data.  The store and configuration
 * handed out by cs_gw_open() are the core's (cs_req_gateway()); strings
 * written into caller buffers are the caller's.
 */
#ifndef CS_PG_GW_H
#define CS_PG_GW_H

#include <stddef.h>
#include <stdint.h>

#include "cs_page.h"

extern const struct cs_route cs_pg_recipients_routes[];
extern const struct cs_route cs_pg_groups_routes[];
extern const struct cs_route cs_pg_campaigns_routes[];
extern const struct cs_route cs_pg_outbox_routes[];
extern const struct cs_route cs_pg_status_routes[];

/* Roles that manage the gateway's data (docs/console.md, "Roles"). */
#define CS_ROLES_GW (CS_ROLE_ADMIN | CS_ROLE_OPERATOR)

/* The gateway store and configuration for this request.  On failure the
 * page is answered (an error page with the reason, status 503) and the
 * status returned in *status; returns 0 then, 1 on success. */
int cs_gw_open(struct cs_req *req, struct cs_resp *resp, struct gw_store **store,
               const struct gw_config **conf, int *status);

/* ms since the epoch as "YYYY-MM-DD HH:MM:SS UTC" into out ("-" for 0). */
void cs_gw_time(int64_t ms, char *out, size_t cap);

/* The time of the request in milliseconds since the epoch (what the
 * gateway's data modules take), from cs_req_now() (seconds). */
int64_t cs_gw_now_ms(const struct cs_req *req);

/* "console:" + the signed-in user into out (cap >= GW_PRINCIPAL_MAX);
 * returns 0 when the name does not fit. */
int cs_gw_principal(struct cs_req *req, char *out, size_t cap);

/* One console audit row "ACTION TARGET" (target a recipient, group or
 * campaign name or a delivery id, never an address; NULL or a name that is
 * not one: left out), " refused" added when ok is 0. */
void cs_gw_audit(struct cs_req *req, const char *action, const char *target, int ok);

/* A POST that removes one named row ("name" form field, gw_name_check):
 * open the store, call rm(store, name, err, errlen), audit what, answer 303
 * to location with "NOUN NAME removed" or "cannot remove the NOUN: why".
 * Returns the HTTP status. */
int cs_gw_remove_by_name(struct cs_req *req, struct cs_resp *resp,
                         int (*rm)(struct gw_store *s, const char *name, char *err, size_t errlen),
                         const char *noun, const char *what, const char *location);

/* 1 when the comma-separated list csv (may be NULL) holds item exactly. */
int cs_gw_csv_has(const char *csv, const char *item);

#endif
