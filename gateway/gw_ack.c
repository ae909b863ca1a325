/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_ack.c - who may acknowledge an alert: route ack_from lists and
 * recipients bound to devices (docs/gateway.md, "Acknowledgements"). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "gw_ack.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "mqs_error.h"

/* A device name. */
int gw_ack_device_check(const char *name)
{
	size_t len = 0;

	if (name == NULL)
		return 0;
	for (; name[len] != '\0'; len++) {
		unsigned char c = (unsigned char)name[len];

		if (len >= GW_DEVICE_MAX)
			return 0;
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return 0;
	}
	return len > 0;
}

/* Next list entry into item (cap bytes); returns the rest, or NULL at the
 * end.  *bad is set when an entry does not fit. */
static const char *next_item(const char *p, char *item, size_t cap, int *bad)
{
	size_t n = 0;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	if (*p == '\0')
		return NULL;
	while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t') {
		if (n + 1 < cap)
			item[n++] = *p;
		else
			*bad = 1;
		p++;
	}
	item[n] = '\0';
	return p;
}

/* One ack_from entry: a device name or @GROUP. */
static int item_ok(const char *item)
{
	if (item[0] == '@')
		return gw_name_check(item + 1);
	return gw_ack_device_check(item);
}

/* Validate an ack_from value. */
int gw_ack_list_check(const char *list, char *why, size_t whylen)
{
	char item[GW_DEVICE_MAX + 2];
	const char *p = list;
	int count = 0, bad = 0;

	for (p = next_item(p, item, sizeof(item), &bad); p != NULL;
	     p = next_item(p, item, sizeof(item), &bad)) {
		if (bad || !item_ok(item)) {
			snprintf(why, whylen,
			         "entries are device names (1..%d of A-Z a-z 0-9 . _ -) or @GROUP",
			         GW_DEVICE_MAX);
			return MQS_ERR_INVAL;
		}
		count++;
	}
	if (count == 0) {
		snprintf(why, whylen, "empty list");
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* Is device bound to a member of group?  *bound 1 or 0; MQS_OK or
 * MQS_ERR_DB (logged). */
static int bound_member(struct gw_store *s, const char *group, const char *device, int *bound)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s, "SELECT 1 FROM recipients r JOIN group_members m ON m.recipient_id = r.id "
	       "JOIN groups g ON g.id = m.group_id WHERE r.device = ? AND g.name = ? LIMIT 1");
	int r, rc = MQS_ERR_DB;

	*bound = 0;
	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW || r == SQLITE_DONE) {
		*bound = r == SQLITE_ROW;
		rc = MQS_OK;
	} else {
		gw_log(GW_LOG_ERR, "db: %s", sqlite3_errmsg(s->db));
	}
	gw_store_done(st);
	return rc;
}

/* May device acknowledge? */
int gw_ack_allowed(struct gw_store *s, const char *ack_from, const char *group, const char *device,
                   int *allowed)
{
	char item[GW_DEVICE_MAX + 2];
	const char *p = ack_from;
	int bad = 0, rc;

	*allowed = 0;
	if (!gw_ack_device_check(device))
		return MQS_OK;
	for (p = p != NULL ? next_item(p, item, sizeof(item), &bad) : NULL; p != NULL;
	     p = next_item(p, item, sizeof(item), &bad)) {
		if (bad)
			return MQS_OK; /* checked at start: cannot happen */
		if (item[0] != '@') {
			if (strcmp(item, device) == 0) {
				*allowed = 1;
				return MQS_OK;
			}
			continue;
		}
		rc = bound_member(s, item + 1, device, allowed);
		if (rc != MQS_OK || *allowed)
			return rc;
	}
	return bound_member(s, group, device, allowed);
}
