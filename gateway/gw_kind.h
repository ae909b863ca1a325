/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_kind.h - the message-kind registry: what a [route NAME] may say in
 * `kind = ...` (docs/gateway.md, Routes).
 *
 * One row per kind: its name, its enum gw_kind value, the route keys that
 * belong to it alone, and whether this build serves it.  gw_config.c looks
 * kinds up here instead of comparing names; the dispatcher (gw_route.c)
 * holds the on_message handler of every served kind, indexed by the same
 * enum.  A new kind is one row here plus one handler there.
 *
 * Rows: alert, sensor, marketing (docs/marketing.md), medical and
 * medical-join, all served.
 *
 * Pure module: no struct gw_gateway, no I/O.
 *
 * Ownership: the table is static and read-only; nothing is allocated.
 */
#ifndef GW_KIND_H
#define GW_KIND_H

#include <stddef.h>

enum gw_kind {
	GW_KIND_ALERT = 0,
	GW_KIND_SENSOR,
	GW_KIND_MARKETING,
	GW_KIND_MEDICAL,
	GW_KIND_MEDICAL_JOIN,
	GW_KIND__COUNT
};

struct gw_kind_info {
	const char *name;        /* the value of `kind =` */
	int kind;                /* enum gw_kind */
	const char *const *keys; /* route keys of this kind only (NULL-terminated) */
	int served;              /* 1 when this build handles the kind's messages */
};

/* The registry row for kind name name, or NULL for an unknown kind. */
const struct gw_kind_info *gw_kind_find(const char *name);

#endif
