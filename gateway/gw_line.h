/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_line.h - LINE channel internals exposed for the unit tests.
 *
 * Ownership: gw_line_body() returns a new string the caller frees with
 * free(); NULL when memory runs out.
 */
#ifndef GW_LINE_H
#define GW_LINE_H

#include "gw_channel.h"

/* Longest text of one LINE message, in UTF-16 units. */
#define GW_LINE_MAX_UNITS 5000

/* JSON body of the push for d: {"to": address, "messages": [{"type":
 * "text", "text": title "\n" body}]} with the text capped. */
char *gw_line_body(const struct gw_delivery *d);

/* Non-zero when s is a UUID (8-4-4-4-12 hex digits), as X-Line-Retry-Key needs. */
int gw_line_uuid_ok(const char *s);

#endif
