/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_group.c - groups of recipients: add, remove, members, default
 * channels, listing rows. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "gw_address.h"
#include "gw_group.h"
#include "gw_recipient.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_util.h"

/* Row id of a group. */
int64_t gw_group_id(struct gw_store *s, const char *name)
{
	return gw_store_id_of(s, "SELECT id FROM groups WHERE name = ?", name);
}

/* Add a group. */
int gw_group_add(struct gw_store *s, const char *name, const char *channels, char *err,
                 size_t errlen)
{
	char why[128], norm[64] = "";
	unsigned mask = 0;
	sqlite3_stmt *st;
	int rc = MQS_ERR_DB, step;

	if (!gw_name_check(name)) {
		snprintf(err, errlen, "bad group name (1..64 of A-Z a-z 0-9 _ - . @)");
		return MQS_ERR_INVAL;
	}
	if (channels != NULL &&
	    gw_chan_list_parse(channels, &mask, NULL, NULL, why, sizeof(why)) != MQS_OK) {
		snprintf(err, errlen, "--channels: %s", why);
		return MQS_ERR_INVAL;
	}
	gw_chan_mask_format(mask, norm, sizeof(norm));
	st = gw_store_prepare(s, "INSERT INTO groups(name, channels, created_at) VALUES (?,?,?)");
	if (st == NULL) {
		snprintf(err, errlen, "database error");
		return rc;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, norm, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)(mqs_now_ms() / 1000));
	step = sqlite3_step(st);
	if (step == SQLITE_DONE)
		rc = MQS_OK;
	else if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE) {
		snprintf(err, errlen, "group %s exists", name);
		rc = MQS_ERR_EXISTS;
	} else
		snprintf(err, errlen, "cannot add group: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return rc;
}

/* Remove a group. */
int gw_group_rm(struct gw_store *s, const char *name, char *err, size_t errlen)
{
	return gw_store_change_named(s, "DELETE FROM groups WHERE name = ?", name, "group",
	                             gw_name_check(name), err, errlen);
}

/* Add or remove a member. */
int gw_group_member(struct gw_store *s, const char *group, const char *recipient, int add,
                    char *err, size_t errlen)
{
	int64_t gid = gw_group_id(s, group), rid = gw_recipient_id(s, recipient);
	sqlite3_stmt *st;
	int rc = MQS_ERR_DB;

	if (gid == -1 || rid == -1) {
		snprintf(err, errlen, "no %s %s", gid == -1 ? "group" : "recipient",
		         gid == -1 ? (gw_name_check(group) ? group : "by that name")
		                   : (gw_name_check(recipient) ? recipient : "by that name"));
		return MQS_ERR_NOENT;
	}
	if (gid < 0 || rid < 0) {
		snprintf(err, errlen, "database error");
		return rc;
	}
	st =
	    gw_store_prepare(s, add ? "INSERT OR IGNORE INTO group_members(group_id, recipient_id) "
	                              "VALUES (?, ?)"
	                            : "DELETE FROM group_members WHERE group_id = ? AND "
	                              "recipient_id = ?");
	if (st == NULL) {
		snprintf(err, errlen, "database error");
		return rc;
	}
	sqlite3_bind_int64(st, 1, gid);
	sqlite3_bind_int64(st, 2, rid);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		snprintf(err, errlen, "cannot change membership: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return rc;
}

/* Default channels of a group. */
int gw_group_channels(struct gw_store *s, const char *group, unsigned *mask)
{
	sqlite3_stmt *st = gw_store_stmt(s, "SELECT channels FROM groups WHERE name = ?");
	int rc = MQS_ERR_DB;
	char why[64];

	*mask = 0;
	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		rc = MQS_OK;
		if (sqlite3_column_text(st, 0) != NULL &&
		    gw_chan_list_parse((const char *)sqlite3_column_text(st, 0), mask, NULL, NULL,
		                       why, sizeof(why)) != 0)
			*mask = 0;
		break;
	case SQLITE_DONE:
		rc = MQS_ERR_NOENT;
		break;
	default:
		break;
	}
	gw_store_done(st);
	return rc;
}

/* Walk the groups for a listing. */
int gw_group_each(struct gw_store *s, int (*fn)(const struct gw_group_info *gi, void *arg),
                  void *arg)
{
	sqlite3_stmt *st =
	    gw_store_prepare(s, "SELECT g.name, g.channels, (SELECT count(*) FROM group_members m "
	                        " WHERE m.group_id = g.id) FROM groups g ORDER BY g.name");
	int rc = MQS_ERR_DB, step;

	if (st == NULL)
		goto out;
	step = sqlite3_step(st);
	while (step == SQLITE_ROW) {
		struct gw_group_info gi;

		gi.name = (const char *)sqlite3_column_text(st, 0);
		gi.channels = (const char *)sqlite3_column_text(st, 1);
		gi.members = sqlite3_column_int(st, 2);
		rc = fn(&gi, arg);
		if (rc != MQS_OK)
			goto out;
		step = sqlite3_step(st);
	}
	rc = step == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
out:
	sqlite3_finalize(st);
	return rc;
}
