/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_html.c - the response side of cs_page.h: escaping, the page layout,
 * redirects with a flash message, downloads (docs/console.md "Pages"). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_int.h"
#include "mqs_alloc.h"
#include "mqs_util.h"

/* Start an empty response. */
void cs_resp_init(struct cs_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	mqs_buf_init(&resp->body, CS_RESP_MAX, 0);
	snprintf(resp->content_type, sizeof(resp->content_type), "text/html; charset=utf-8");
}

/* Free a response. */
void cs_resp_release(struct cs_resp *resp)
{
	if (resp == NULL)
		return;
	mqs_buf_release(&resp->body);
	mqs_free(resp->disposition);
	resp->disposition = NULL;
}

/* Escape text for HTML. */
int cs_html_escape(struct mqs_buf *b, const char *text)
{
	const char *p = text, *run = text;
	int rc = MQS_OK;

	if (text == NULL)
		goto out;
	for (; *p != '\0' && rc == MQS_OK; p++) {
		const char *rep = mqs_html_entity((unsigned char)*p);

		if (rep == NULL)
			continue;
		rc = mqs_buf_add(b, run, (size_t)(p - run));
		if (rc == MQS_OK)
			rc = mqs_buf_adds(b, rep);
		run = p + 1;
	}
	if (rc == MQS_OK)
		rc = mqs_buf_add(b, run, (size_t)(p - run));
out:
	return rc;
}

static void add_raw(struct cs_resp *resp, const char *s)
{
	if (resp->failed)
		return;
	if (mqs_buf_adds(&resp->body, s) != MQS_OK)
		resp->failed = 1;
}

/* Append a trusted literal. */
void cs_out_raw(struct cs_resp *resp, const char *html)
{
	if (html != NULL)
		add_raw(resp, html);
}

/* Append escaped text. */
void cs_out_text(struct cs_resp *resp, const char *text)
{
	if (resp->failed || text == NULL)
		return;
	if (cs_html_escape(&resp->body, text) != MQS_OK)
		resp->failed = 1;
}

/* Append an escaped attribute value (the same escaping covers both). */
void cs_out_attr(struct cs_resp *resp, const char *text)
{
	cs_out_text(resp, text);
}

/* printf with %s arguments escaped: each conversion is expanded on its
 * own, and the text of %s goes through cs_out_text. */
void cs_out_fmt(struct cs_resp *resp, const char *fmt, ...)
{
	va_list ap;
	const char *p = fmt;

	va_start(ap, fmt);
	while (*p != '\0' && !resp->failed) {
		const char *pct = strchr(p, '%');
		char spec[32];
		size_t n;

		if (pct == NULL) {
			add_raw(resp, p);
			break;
		}
		if (mqs_buf_add(&resp->body, p, (size_t)(pct - p)) != MQS_OK) {
			resp->failed = 1;
			break;
		}
		if (pct[1] == '%') {
			add_raw(resp, "%");
			p = pct + 2;
			continue;
		}
		n = strspn(pct + 1, "0123456789.-+ #lhzjt");
		if (pct[1 + n] == '\0' || n + 3 > sizeof(spec)) {
			resp->failed = 1;
			break;
		}
		memcpy(spec, pct, n + 2);
		spec[n + 2] = '\0';
		{
			char conv = pct[1 + n];
			char tmp[128];
			int lmod = 0;

			for (size_t i = 1; i <= n; i++)
				lmod += spec[i] == 'l';
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			if (conv == 's') {
				cs_out_text(resp, va_arg(ap, const char *));
			} else if (conv == 'c') {
				char s[2] = {(char)va_arg(ap, int), '\0'};

				cs_out_text(resp, s);
			} else if (conv == 'f' || conv == 'g' || conv == 'e') {
				snprintf(tmp, sizeof(tmp), spec, va_arg(ap, double));
				add_raw(resp, tmp);
			} else if (conv == 'd' || conv == 'i' || conv == 'u' || conv == 'x' ||
			           conv == 'X' || conv == 'o') {
				if (strchr(spec, 'z') != NULL)
					snprintf(tmp, sizeof(tmp), spec, va_arg(ap, size_t));
				else if (lmod >= 2)
					snprintf(tmp, sizeof(tmp), spec, va_arg(ap, long long));
				else if (lmod == 1)
					snprintf(tmp, sizeof(tmp), spec, va_arg(ap, long));
				else
					snprintf(tmp, sizeof(tmp), spec, va_arg(ap, int));
				add_raw(resp, tmp);
			} else {
				resp->failed = 1;
			}
#pragma GCC diagnostic pop
		}
		p = pct + 2 + n;
	}
	va_end(ap);
}

/* The hidden CSRF input. */
void cs_out_csrf(struct cs_resp *resp, struct cs_req *req)
{
	(void)req;
	cs_out_raw(resp, "<input type=\"hidden\" name=\"csrf\" value=\"");
	cs_out_attr(resp, resp->csrf != NULL ? resp->csrf : "");
	cs_out_raw(resp, "\">");
}

/* Start a page. */
void cs_page_begin(struct cs_resp *resp, struct cs_req *req, const char *title)
{
	cs_out_raw(resp, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	                 "<title>");
	cs_out_text(resp, title);
	cs_out_raw(resp, " - mqttsec console</title>"
	                 "<link rel=\"stylesheet\" href=\"/assets/console.css\"></head><body>"
	                 "<header><span class=\"brand\">mqttsec console</span>");
	if (resp->user != NULL && resp->user[0] != '\0') {
		cs_out_raw(resp, "<nav>");
		cs_routes_nav(resp, resp->nav_role, cs_req_path(req));
		cs_out_raw(resp,
		           "</nav><form class=\"signout\" method=\"post\" action=\"/signout\">");
		cs_out_csrf(resp, req);
		cs_out_raw(resp, "<span class=\"who\">");
		cs_out_text(resp, resp->user);
		cs_out_raw(resp, " (");
		cs_out_text(resp, cs_role_name(resp->nav_role));
		cs_out_raw(resp, ")</span> <button type=\"submit\">Sign out</button></form>");
	}
	cs_out_raw(resp, "</header><main>");
	if (resp->flash[0] != '\0') {
		cs_out_raw(resp, resp->flash_ok ? "<p class=\"flash ok\" role=\"status\">"
		                                : "<p class=\"flash err\" role=\"alert\">");
		cs_out_text(resp, resp->flash);
		cs_out_raw(resp, "</p>");
	}
	cs_out_raw(resp, "<h1>");
	cs_out_text(resp, title);
	cs_out_raw(resp, "</h1>\n");
}

/* End a page. */
void cs_page_end(struct cs_resp *resp)
{
	cs_out_raw(resp, "</main></body></html>\n");
}

/* The requested page's offset. */
long long cs_req_page_offset(const struct cs_req *req)
{
	const char *p = cs_req_param(req, "page");
	long long page = 1;
	char *end = NULL;

	if (p != NULL && p[0] != '\0' && strlen(p) <= 9) {
		page = strtoll(p, &end, 10);
		if (end == NULL || *end != '\0' || page < 1)
			page = 1;
	}
	return (page - 1) * CS_PAGE_ROWS;
}

/* A link to the request's path with its listing filters and name=value
 * (both URL-encoded). */
static void pager_link(struct cs_resp *resp, struct cs_req *req, const char *name,
                       const char *value, const char *label)
{
	static const char *const names[] = {"q",     "state", "filter", "who",      "action",
	                                    "kind",  "level", "group",  "subject",  "from",
	                                    "until", "topic", "device", "clientid", "channel"};

	cs_out_raw(resp, "<a href=\"");
	cs_out_attr(resp, cs_req_path(req));
	cs_out_raw(resp, "?");
	cs_out_raw(resp, name);
	cs_out_raw(resp, "=");
	cs_out_query(resp, value);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = cs_req_param(req, names[i]);

		if (v == NULL)
			continue;
		cs_out_raw(resp, "&amp;");
		cs_out_raw(resp, names[i]);
		cs_out_raw(resp, "=");
		cs_out_query(resp, v);
	}
	cs_out_raw(resp, "\">");
	cs_out_text(resp, label);
	cs_out_raw(resp, "</a>");
}

/* Text URL-encoded for a query value, then escaped for an attribute. */
void cs_out_query(struct cs_resp *resp, const char *text)
{
	struct mqs_buf enc;

	mqs_buf_init(&enc, 4096, 0);
	for (const char *c = text; *c != '\0'; c++) {
		unsigned char ch = (unsigned char)*c;
		int r;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')
			r = mqs_buf_add(&enc, c, 1);
		else
			r = mqs_buf_addf(&enc, "%%%02X", ch);
		if (r != MQS_OK)
			break;
	}
	cs_out_attr(resp, mqs_buf_str(&enc));
	mqs_buf_release(&enc);
}

/* Prev/next links. */
void cs_out_pager(struct cs_resp *resp, struct cs_req *req, long long total)
{
	long long off = cs_req_page_offset(req);
	long long page = off / CS_PAGE_ROWS + 1;
	long long pages = total <= 0 ? 1 : (total + CS_PAGE_ROWS - 1) / CS_PAGE_ROWS;
	char num[24];

	cs_out_raw(resp, "<nav class=\"pager\">");
	if (page > 1) {
		snprintf(num, sizeof(num), "%lld", page - 1);
		pager_link(resp, req, "page", num, "previous");
	}
	cs_out_fmt(resp, " page %lld of %lld (%lld rows) ", page, pages, total);
	if (page < pages) {
		snprintf(num, sizeof(num), "%lld", page + 1);
		pager_link(resp, req, "page", num, "next");
	}
	cs_out_raw(resp, "</nav>");
}

/* First/previous/next/last links of a listing paged by key. */
void cs_out_pager_keys(struct cs_resp *resp, struct cs_req *req, long long total,
                       const char *key_first, const char *key_last, int more_before, int more_after)
{
	cs_out_raw(resp, "<nav class=\"pager\">");
	if (more_before) {
		pager_link(resp, req, "page", "1", "first");
		cs_out_raw(resp, " ");
		pager_link(resp, req, "before", key_first, "previous");
	}
	cs_out_fmt(resp, " %lld rows ", total);
	if (more_after) {
		pager_link(resp, req, "after", key_last, "next");
		cs_out_raw(resp, " ");
		pager_link(resp, req, "last", "1", "last");
	}
	cs_out_raw(resp, "</nav>");
}

/* 303 with a flash message. */
int cs_resp_redirect(struct cs_resp *resp, const char *location, const char *flash, int ok)
{
	if (location == NULL || location[0] != '/' || location[1] == '/' || location[1] == '\\' ||
	    strlen(location) >= sizeof(resp->location))
		location = "/";
	snprintf(resp->location, sizeof(resp->location), "%s", location);
	if (flash != NULL) {
		snprintf(resp->flash, sizeof(resp->flash), "%s", flash);
		resp->flash_ok = ok;
		resp->set_flash = 1;
	}
	mqs_buf_reset(&resp->body);
	return 303;
}

/* A body of another type. */
int cs_resp_body(struct cs_resp *resp, const char *content_type, const void *data, size_t len)
{
	mqs_buf_reset(&resp->body);
	if (content_type == NULL || strlen(content_type) >= sizeof(resp->content_type) ||
	    strpbrk(content_type, "\r\n") != NULL)
		return 500;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", content_type);
	if (len > 0 && mqs_buf_add(&resp->body, data, len) != MQS_OK) {
		resp->failed = 1;
		return 500;
	}
	return 200;
}

/* A download. */
int cs_resp_download(struct cs_resp *resp, const char *content_type, const char *filename,
                     const void *data, size_t len)
{
	char name[128];
	size_t j = 0;
	int status;

	for (const char *c = filename != NULL ? filename : ""; *c != '\0' && j + 1 < sizeof(name);
	     c++) {
		char ch = *c;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || (ch == '.' && j > 0))
			name[j++] = ch;
		else
			name[j++] = '_';
	}
	name[j] = '\0';
	if (j == 0)
		snprintf(name, sizeof(name), "download");
	status = cs_resp_body(resp, content_type, data, len);
	if (status != 200)
		return status;
	mqs_free(resp->disposition);
	resp->disposition = mqs_malloc(sizeof(name) + 32);
	if (resp->disposition == NULL)
		return 500;
	snprintf(resp->disposition, sizeof(name) + 32, "attachment; filename=\"%s\"", name);
	return 200;
}

/* Replace the CSP. */
void cs_resp_csp(struct cs_resp *resp, const char *policy)
{
	if (policy == NULL || strlen(policy) >= sizeof(resp->csp) ||
	    strpbrk(policy, "\r\n") != NULL)
		return;
	snprintf(resp->csp, sizeof(resp->csp), "%s", policy);
}

/* The core's error page. */
void cs_html_error_page(struct cs_resp *resp, int status)
{
	const char *what = "error";

	switch (status) {
	case 400:
		what = "bad request";
		break;
	case 403:
		what = "forbidden";
		break;
	case 404:
		what = "not found";
		break;
	case 405:
		what = "method not allowed";
		break;
	case 409:
		what = "conflict";
		break;
	case 413:
		what = "request too large";
		break;
	default:
		what = status >= 500 ? "internal error" : "error";
		break;
	}
	mqs_buf_reset(&resp->body);
	resp->failed = 0;
	snprintf(resp->content_type, sizeof(resp->content_type), "text/html; charset=utf-8");
	cs_out_raw(resp,
	           "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
	cs_out_fmt(resp, "%d %s", status, what);
	cs_out_raw(resp, "</title><link rel=\"stylesheet\" href=\"/assets/console.css\"></head>"
	                 "<body><main><h1>");
	cs_out_fmt(resp, "%d %s", status, what);
	cs_out_raw(resp, "</h1><p><a href=\"/\">mqttsec console</a></p></main></body></html>\n");
}
