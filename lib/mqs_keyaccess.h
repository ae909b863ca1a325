/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_keyaccess.h - may a device receive every message of a topic filter?
 * The one rule behind handing out topic keys, used by `key export`
 * (mqttsec-acl) and by online key answers (the broker plugin): see
 * docs/payload-encryption.md, "Online keys".
 *
 * The device's rules and its groups' rules with access read or all go into
 * one rule tree (lib/mqs_rules.h) as if they were subscribe rules, and the
 * filter F is evaluated like a subscription: an allow rule applies when its
 * filter covers F, a deny rule when it overlaps F; the greatest (priority,
 * effect) wins, deny beats allow at equal priority, no rule means no
 * access.  %u is the device name.  The client id is not used, so an allow
 * rule holding %c never counts, and a deny rule holding %c counts as if
 * each level containing %c were '+' (it might deny some client id).
 *
 * Lists: a device the lists keep out cannot connect, so it reads nothing
 * either: an unexpired deny entry for its username written by an
 * administrator (not the plugin's automatic bans: temporary lockouts), and,
 * when the allow list is on (settings "allowlist", recorded by the plugin
 * at start; no row: off, the plugin never ran), no unexpired allow entry that could
 * admit it (its username, a client id bound to it in table clientids, or
 * any ip entry: an address is nobody's in the database).
 *
 * Ownership: nothing is kept; the caller owns db and holds whatever
 * transaction it wants the rules read in.
 */
#ifndef MQS_KEYACCESS_H
#define MQS_KEYACCESS_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mqs_error.h"

/* Read name's read rules from db (tables acl_rules, group_members) and set
 * *allowed to 1 when name is an enabled device (table devices) that the
 * lists do not keep out at now (Unix seconds; see "Lists" above) and its
 * rules give read on every topic filter matches, else 0.
 * Returns MQS_OK, MQS_ERR_DB, MQS_ERR_NOMEM or MQS_ERR_INVAL (a deny rule
 * that cannot be evaluated: fail closed); a lowercase message goes to err. */
MQS_MUST_CHECK int mqs_keyaccess_read_covers(sqlite3 *db, const char *name, const char *filter,
                                             int64_t now, int *allowed, char *err, size_t errlen);

/* mqs_keyaccess_read_covers for nfilters filters at once (allowed[i] for
 * filters[i]): the device, the lists and its rules are read once.  Same
 * returns; on an error every allowed[i] is 0. */
MQS_MUST_CHECK int mqs_keyaccess_read_covers_many(sqlite3 *db, const char *name,
                                                  const char *const *filters, size_t nfilters,
                                                  int64_t now, int *allowed, char *err,
                                                  size_t errlen);

#endif
