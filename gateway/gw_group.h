/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_group.h - groups of recipients: data access (docs/gateway.md,
 * Recipients).
 *
 * A group has a name and optional default channels (an alert without
 * "channels" goes to its group's); members are recipients.  Nothing here
 * prints: listings hand rows to a callback (the command files print them).
 *
 * Return values are enum mqs_err codes; functions taking err write a
 * lowercase reason there on failure.
 *
 * Ownership: the store is the caller's; rows passed to a gw_group_each()
 * callback live only during the call.
 */
#ifndef GW_GROUP_H
#define GW_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"
#include "mqs_error.h"

/* Add a group with default channels (csv, may be NULL or ""). */
MQS_MUST_CHECK int gw_group_add(struct gw_store *s, const char *name, const char *channels,
                                char *err, size_t errlen);

/* Remove a group (memberships go with it). */
MQS_MUST_CHECK int gw_group_rm(struct gw_store *s, const char *name, char *err, size_t errlen);

/* Add (add 1) or remove (add 0) a member. */
MQS_MUST_CHECK int gw_group_member(struct gw_store *s, const char *group, const char *recipient,
                                   int add, char *err, size_t errlen);

/* Default channels of group (enum gw_chan bits, 0 = none set).  Returns
 * MQS_OK, MQS_ERR_NOENT (no such group) or MQS_ERR_DB. */
int gw_group_channels(struct gw_store *s, const char *group, unsigned *mask);

/* Row id of group name: the id, -1 when there is none, -2 on a database
 * error. */
int64_t gw_group_id(struct gw_store *s, const char *name);

/* One group as listed. */
struct gw_group_info {
	const char *name;
	const char *channels; /* default channels, "" or NULL when none */
	int members;
};

/* Call fn for every group, by name; fn returns MQS_OK to go on, any other
 * value stops the walk and is returned.  Returns MQS_OK or MQS_ERR_DB. */
int gw_group_each(struct gw_store *s, int (*fn)(const struct gw_group_info *gi, void *arg),
                  void *arg);

#endif
