/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_revoke.h - the one rule "a holder that lost its read right rotates
 * the filter" (docs/payload-encryption.md, "Revoking rotates"), shared by
 * every mqttsec-acl change (admin/revoke.c) and the broker plugin when an
 * allow entry expires (broker-plugin/rotate.c).
 *
 * After a change: for each protected filter (not per-device), take the
 * holders of its current keys (key_grants rows of its active or announced
 * keys and of the key that seals now, i.e. those who fetched or were
 * exported a key still in use), recompute whether each may still read the
 * whole filter (mqs_keyaccess_read_covers: enabled device, not kept out by
 * the lists, ACL read on every topic of the filter; and for a grant of an
 * online fetch, whose client id and peer address key_grants records: no
 * administrator's deny entry for that client id or covering that address,
 * and with the allow list on an allow entry for that client id, address or
 * the holder's username), drop the grants of
 * those that lost it, and rotate each such filter once (seal_after 0: the
 * new key seals at once) with an audit row ("key rotate", reason=revoke,
 * the first holder that lost it and how many did).
 *
 * Ownership: nothing is kept; the caller owns db and runs this inside its
 * own write transaction (nothing is committed here).  The name
 * mqs_revoke_check_slice() returns in *next is malloc'd: the caller frees
 * it.
 */
#ifndef MQS_REVOKE_H
#define MQS_REVOKE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mqs_error.h"
#include "mqs_master_key.h"

/* Run the rule at now (Unix seconds) inside the caller's transaction on db:
 * keys created with mk (NULL: none loaded; MQS_ERR_NOENT when a filter
 * must be rotated), a replaced key opens until
 * retire_after, audit rows by who.  *nrotated (may be NULL) is the number
 * of filters rotated.  Returns MQS_OK, MQS_ERR_DB (sqlite3_errcode(db)
 * tells busy), MQS_ERR_NOMEM, MQS_ERR_INVAL (a deny rule that cannot be
 * evaluated: fail closed counts as lost, not as an error) or a key store
 * error; a lowercase message in err. */
MQS_MUST_CHECK int mqs_revoke_check(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                                    int64_t retire_after, const char *who, unsigned *nrotated,
                                    char *err, size_t errlen);

/* mqs_revoke_check() over one slice of the holders, so that a caller that
 * must not stop for long (the broker plugin, on its tick) can spread the
 * work: the holders whose name sorts after `after` (NULL: from the first),
 * at most max of them (0 counts as 1), all of one holder's filters
 * together.  *next gets the name of the last holder of the slice, where the
 * next slice starts (malloc'd), or NULL when no holder came after this
 * slice (the pass is done).  Each slice decides and rotates alone, in the
 * caller's transaction; a filter a holder lost in an earlier slice has a
 * new key, and the grants of its old one are not looked at again.  Returns
 * what mqs_revoke_check() returns (*next NULL on failure). */
MQS_MUST_CHECK int mqs_revoke_check_slice(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN],
                                          int64_t now, int64_t retire_after, const char *who,
                                          const char *after, unsigned max, char **next,
                                          unsigned *nrotated, char *err, size_t errlen);

#endif
