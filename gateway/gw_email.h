/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_email.h - email channel internals exposed for the unit tests.
 *
 * Ownership: gw_email_subject() returns a new string the caller frees with
 * free(); NULL when memory runs out.
 */
#ifndef GW_EMAIL_H
#define GW_EMAIL_H

#include <stddef.h>
#include <time.h>

/* Longest subject kept, in characters (UTF-16 units). */
#define GW_EMAIL_SUBJECT_MAX 250

/* The "Subject: ..." header line for title: one line, capped, printable
 * ASCII as is, anything else as RFC 2047 encoded words (UTF-8, base64, at
 * most 75 characters each, folded with CRLF SP). */
char *gw_email_subject(const char *title);

/* Non-zero when s is a plain addr-spec we accept: local@domain, at most 254
 * bytes, no spaces, controls, quotes, brackets, commas or semicolons. */
int gw_email_addr_ok(const char *s);

/* RFC 5322 "Date: Tue, 01 Jul 2025 12:00:00 +0000" for t into buf. */
void gw_email_date(time_t t, char *buf, size_t buflen);

/* 1 when url can go between <> in a header line (List-Unsubscribe):
 * 1..400 printable ASCII characters without space, '<', '>', ',', '"'. */
int gw_email_header_url_ok(const char *url);

#endif
