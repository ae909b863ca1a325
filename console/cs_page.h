/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_page.h - the contract between the console's HTTP core and its pages
 * (docs/console.md).
 *
 * The core (cs_http.c, cs_session.c, cs_csrf.c, cs_html.c) owns the
 * libmicrohttpd daemon, sign-in, sessions, CSRF, roles and the response
 * headers.  A page module (cs_pg_devices.c, cs_pg_lists.c, ...; one file
 * per managed thing) only exports a table of routes and handlers; it never
 * sees the daemon, the session store or the console database.
 *
 * What the core guarantees before a handler runs:
 *   - the request is complete, its body at most CS_BODY_MAX bytes, its
 *     form (application/x-www-form-urlencoded) parsed into parameters,
 *     every value valid UTF-8 without NUL;
 *   - the user is signed in (unless the route has CS_ROLE_PUBLIC), enabled,
 *     and holds one of the route's roles (else 403, audited);
 *   - a POST carried the session's CSRF token (else 403);
 *   - for a route flagged CS_STEP_UP, the user's step-up is fresh (else the
 *     core answers 403 with the step-up form, audited);
 *   - only GET/HEAD and POST reach handlers; the path matched the route
 *     exactly or, for routes ending in '/', as a prefix (cs_req_tail()).
 * What the core adds to every response: Content-Security-Policy
 * "default-src 'self'" (or the handler's cs_resp_csp()), X-Frame-Options
 * DENY, Referrer-Policy no-referrer, X-Content-Type-Options nosniff,
 * Cache-Control no-store.
 *
 * Handlers are called on one thread, one at a time.  They answer through
 * struct cs_resp (a capped buffer, CS_RESP_MAX bytes); every text that did
 * not come from the page's own literals goes through cs_out_text() or
 * cs_out_attr() (escaped).  A change is a POST answered with
 * cs_resp_redirect() (post/redirect/get) carrying a one-line flash message.
 *
 * Ownership: struct cs_req and struct cs_resp belong to the core and live
 * for one call; strings returned by the cs_req_* getters are borrowed for
 * that call.  Contexts returned by cs_req_broker()/cs_req_gateway() are
 * owned by the core (opened once, reused; the audit "who" is set to
 * "console:NAME" for each request); a handler never closes them.
 */
#ifndef CS_PAGE_H
#define CS_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "mqs_error.h"

#define CS_BODY_MAX  (64 * 1024)       /* request body cap */
#define CS_RESP_MAX  (8 * 1024 * 1024) /* response cap (a page, a download) */
#define CS_PAGE_ROWS 50                /* default rows per page of a listing */

struct cs_req;
struct cs_resp;
struct mqsa_ctx;
struct gw_store;
struct gw_config;

/* Roles (docs/console.md "Roles"), as a bit mask in a route. */
enum cs_role {
	CS_ROLE_PUBLIC = 0, /* no sign-in needed (sign-in page, assets) */
	CS_ROLE_ADMIN = 1u << 0,
	CS_ROLE_OPERATOR = 1u << 1,
	CS_ROLE_REVIEWER = 1u << 2,
};
#define CS_ROLES_ALL (CS_ROLE_ADMIN | CS_ROLE_OPERATOR | CS_ROLE_REVIEWER)
/* A flag or'ed into a route's roles: a sensitive POST (docs/console.md
 * "Step-up").  The core calls its handler only when the user entered their
 * password and a new TOTP code within [console] step_up_seconds (signing in
 * counts); otherwise it answers 403 with the step-up form itself. */
#define CS_STEP_UP (1u << 8)

/* One route.  method "GET" (HEAD is served by the same handler) or "POST";
 * path absolute ("/devices", or "/devices/" for a prefix); roles a mask of
 * enum cs_role; nav: label in the navigation bar (NULL: not shown), shown
 * only to users with one of roles.  handle returns an HTTP status
 * (200, 303 via cs_resp_redirect, 400, 404, 409, 500 ...); a status >= 400
 * with an empty body gets the core's error page. */
struct cs_route {
	const char *method;
	const char *path;
	unsigned roles;
	const char *nav;
	int (*handle)(struct cs_req *req, struct cs_resp *resp);
};

/* Each page module exports one table, terminated by a route with a NULL
 * method, and the core lists the tables in cs_routes.c. */

/* ---- the request ---- */

/* "GET" or "POST". */
const char *cs_req_method(const struct cs_req *req);
/* The path, without the query string. */
const char *cs_req_path(const struct cs_req *req);
/* For a prefix route, what follows the prefix ("" if nothing). */
const char *cs_req_tail(const struct cs_req *req);
/* A query (GET) or form (POST) parameter, NULL when absent.  A name given
 * more than once: the first value; cs_req_param_n/_at walk all values. */
const char *cs_req_param(const struct cs_req *req, const char *name);
size_t cs_req_param_n(const struct cs_req *req, const char *name);
const char *cs_req_param_at(const struct cs_req *req, const char *name, size_t i);
/* The signed-in user's name ("" on a public route without a session),
 * role (one enum cs_role bit, 0 when none) and, for a reviewer, level
 * ("" otherwise). */
const char *cs_req_user(const struct cs_req *req);
unsigned cs_req_role(const struct cs_req *req);
const char *cs_req_level(const struct cs_req *req);
/* The time of the request (one clock read per request). */
int64_t cs_req_now(const struct cs_req *req);

/* The broker admin context (mqsa.h; [broker] db and master_key_file),
 * opened on first use, its "who" set to "console:USER" and its clock to
 * the request's.  MQS_ERR_NOENT with a reason when [broker] is not
 * configured; other codes as mqsa_ctx_db()/mqsa_ctx_master_key(). */
MQS_MUST_CHECK enum mqs_err cs_req_broker(struct cs_req *req, struct mqsa_ctx **out, char *why,
                                          size_t whylen);
/* The gateway store and configuration ([gateway] conf), opened on first
 * use.  MQS_ERR_NOENT with a reason when [gateway] is not configured. */
MQS_MUST_CHECK enum mqs_err cs_req_gateway(struct cs_req *req, struct gw_store **store,
                                           const struct gw_config **conf, char *why, size_t whylen);
/* Write one console audit row (console database): the user, the request's
 * method and path, what (short, no secrets or PII) and the outcome. */
void cs_req_audit(struct cs_req *req, const char *what, int ok);

/* ---- the response ---- */

/* Start an HTML page: the layout (head, stylesheet, navigation for the
 * user's role, the flash message of the previous redirect, <main>), with
 * title escaped.  Pages end with cs_page_end(). */
void cs_page_begin(struct cs_resp *resp, struct cs_req *req, const char *title);
void cs_page_end(struct cs_resp *resp);
/* Append a literal of the page's own (trusted, never user data). */
void cs_out_raw(struct cs_resp *resp, const char *html);
/* Append text escaped for element content (& < > " '). */
void cs_out_text(struct cs_resp *resp, const char *text);
/* Append text escaped for a double-quoted attribute value. */
void cs_out_attr(struct cs_resp *resp, const char *text);
/* printf of a number or other trusted format; %s arguments are escaped. */
void cs_out_fmt(struct cs_resp *resp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A hidden input with the session's CSRF token; every <form method=post>
 * contains one (the core refuses a POST without it). */
void cs_out_csrf(struct cs_resp *resp, struct cs_req *req);
/* Prev/next links for a listing of total rows, page size CS_PAGE_ROWS,
 * keeping the request's other query parameters. */
void cs_out_pager(struct cs_resp *resp, struct cs_req *req, long long total);
/* The links of a listing paged by key (docs/console.md, "Long listings"):
 * first, previous (before=key_first) when more_before, next
 * (after=key_last) and last (last=1) when more_after, and the total,
 * keeping the request's filter parameters; keys URL-encoded and escaped. */
void cs_out_pager_keys(struct cs_resp *resp, struct cs_req *req, long long total,
                       const char *key_first, const char *key_last, int more_before,
                       int more_after);
/* Append text URL-encoded (a query parameter's value) and escaped for a
 * double-quoted attribute. */
void cs_out_query(struct cs_resp *resp, const char *text);
/* The page number asked for ("page" parameter, 1-based, clamped), and the
 * offset for a LIMIT CS_PAGE_ROWS OFFSET query. */
long long cs_req_page_offset(const struct cs_req *req);

/* Answer 303 See Other to location (a path of this console) with a flash
 * message shown on the next page (text, escaped there; may be NULL);
 * ok 0 shows it as an error.  Returns 303. */
int cs_resp_redirect(struct cs_resp *resp, const char *location, const char *flash, int ok);
/* Answer a download: Content-Disposition attachment with filename
 * (sanitised by the core), content type, data copied.  Returns 200 or 500. */
int cs_resp_download(struct cs_resp *resp, const char *content_type, const char *filename,
                     const void *data, size_t len);
/* Answer with a body of another type (text/plain, image/svg+xml, ...):
 * data copied.  Returns 200 or 500. */
int cs_resp_body(struct cs_resp *resp, const char *content_type, const void *data, size_t len);
/* Replace the Content-Security-Policy of this response, sent as given (the
 * campaign preview frame uses "sandbox; default-src 'none'; style-src
 * 'unsafe-inline'; img-src data:; frame-ancestors 'self'"); X-Frame-Options
 * becomes SAMEORIGIN so that the console's own page may frame it. */
void cs_resp_csp(struct cs_resp *resp, const char *policy);

#endif
