/* SPDX-License-Identifier: BSD-3-Clause */
/* clientids.h - owned client ids (docs/broker-plugin.md, "Client ids").
 *
 * Under plugin_opt_clientid_policy owned, a client id belongs to the
 * username that first connected with it until it has been unused for the
 * TTL (plugin_opt_clientid_ttl) or an admin releases it (mqttsec-acl
 * clientid release, device rm).  A binding is NOT dropped when its
 * connection ends: otherwise anyone could take a device's fixed id while
 * the device is offline.  An id that is connected is in use whatever its
 * last use time (the caller says which ids are connected, in_use()).
 *
 * The bindings live in memory (loaded at start) so that a CONNECT never
 * waits for the database: new bindings, removals and coarse last-use times
 * (at most every touch interval per id, connected or not; all of them when
 * the broker stops, mqsp_clientids_settle()) are queued and written by
 * mqsp_clientids_flush() on the tick, in one transaction.  A binding made
 * less than a tick before a crash is lost (the device that owns it binds it
 * again on its next CONNECT), and after a crash a last use time may be up
 * to one touch interval old.  Memory always holds the exact last use.  Releases made by
 * mqttsec-acl are rows of clientid_releases (a client id, whoever holds
 * it; or every id of a username); mqsp_clientids_merge() applies the ones
 * it has not seen yet.
 *
 * One username holds at most per_user_max ids: when it claims one more,
 * its least recently used id that is not connected is dropped, so random
 * ids (mosquitto_pub without -i) keep working and the table stays bounded
 * (at most per_user_max ids per device).
 *
 * This module knows nothing of the rest of the plugin; its SQL runs on the
 * connection it is given (the plugin's writer).
 *
 * Ownership: mqsp_clientids_new() returns a table freed by
 * mqsp_clientids_free() (NULL is fine), which drops what is still queued.
 * Broker thread only.
 */
#ifndef MQSP_CLIENTIDS_H
#define MQSP_CLIENTIDS_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "mqs_error.h"

enum mqsp_clientid_policy {
	MQSP_CLIENTID_OWNED = 0, /* bound to the first username that uses it */
	MQSP_CLIENTID_PREFIX,    /* must be the username or start with "username-" */
	MQSP_CLIENTID_ANY,       /* no binding */
};

#define MQSP_CLIENTIDS_TTL_DEFAULT      (30 * 86400)
#define MQSP_CLIENTIDS_PER_USER_DEFAULT 100
#define MQSP_CLIENTIDS_TOUCH_MAX        3600 /* last use written at most hourly per id */

struct mqsp_clientids_cfg {
	int64_t ttl;         /* seconds without use before an id is free */
	size_t per_user_max; /* ids one username holds at most */
};

/* mqsp_clientids_claim() results */
enum mqsp_claim {
	MQSP_CLAIM_OK = 0, /* bound to username (now or already) */
	MQSP_CLAIM_TAKEN,  /* bound to another username and in use or not expired */
	MQSP_CLAIM_FULL,   /* username holds per_user_max ids, all connected */
	MQSP_CLAIM_NOMEM,
	MQSP_CLAIM_TOOLONG, /* longer than MQSP_CLIENTIDS_LEN_MAX bytes */
};

#define MQSP_CLIENTIDS_LEN_MAX 256 /* longer client ids are refused under owned */

/* 1 when the client id cid is connected now (the caller's table). */
typedef int (*mqsp_clientids_in_use_fn)(const char *cid, void *arg);

struct mqsp_clientids;

/* A new empty table.  Returns MQS_OK or MQS_ERR_NOMEM. */
int mqsp_clientids_new(const struct mqsp_clientids_cfg *cfg, struct mqsp_clientids **out);

/* Free the table and its queue.  NULL is fine. */
void mqsp_clientids_free(struct mqsp_clientids *t);

/* Start-up: load the bindings not unused for the TTL at now (keeping
 * per_user_max per username, the most recently used; the rest are queued
 * for deletion) and remember the newest release.  Reads only (may wait for
 * db's busy timeout).  Returns MQS_OK,
 * MQS_ERR_DB or MQS_ERR_NOMEM with a lowercase message in err. */
MQS_MUST_CHECK int mqsp_clientids_load(struct mqsp_clientids *t, sqlite3 *db, int64_t now,
                                       char *err, size_t errlen);

/* 1 when cid is username or starts with "username-" (policy prefix). */
int mqsp_clientids_prefix_ok(const char *cid, const char *username);

/* A CONNECT of username with client id cid at now: bind a free id (also
 * one whose owner let it expire and that is not in_use), refresh the last
 * use of an id username owns, refuse an id another username holds.
 * Returns an enum mqsp_claim value. */
MQS_MUST_CHECK int mqsp_clientids_claim(struct mqsp_clientids *t, const char *cid,
                                        const char *username, int64_t now,
                                        mqsp_clientids_in_use_fn in_use, void *arg);

/* Drop the binding of cid when a username other than username holds it
 * (an id reserved for username, docs/broker-plugin.md "Client ids"); its
 * row is deleted on the next flush. */
void mqsp_clientids_reclaim(struct mqsp_clientids *t, const char *cid, const char *username);

/* Record a use of cid by username at now (a disconnect, or a connected
 * id refreshed periodically): queued for the database when the stored
 * time is a touch interval old (a client that connects and disconnects
 * again and again costs no write per connection).  Nothing when cid is not
 * bound to username. */
void mqsp_clientids_touch(struct mqsp_clientids *t, const char *cid, const char *username,
                          int64_t now);

/* Queue every last use time the database does not hold yet (before the
 * last flush, when the broker stops). */
void mqsp_clientids_settle(struct mqsp_clientids *t);

/* The touch interval: min(MQSP_CLIENTIDS_TOUCH_MAX, ttl / 4), at least 1 s. */
int64_t mqsp_clientids_touch_every(const struct mqsp_clientids *t);

/* Drop the bindings unused for the TTL at now that are not in_use (their
 * rows are deleted on the next flush). */
void mqsp_clientids_sweep(struct mqsp_clientids *t, int64_t now, mqsp_clientids_in_use_fn in_use,
                          void *arg);

/* 1 when writes are queued. */
int mqsp_clientids_pending(const struct mqsp_clientids *t);

/* Write the queued removals and bindings in one transaction without
 * waiting for a lock.  Returns MQS_OK (also when nothing was queued) or
 * MQS_ERR_DB (all kept for another try). */
MQS_MUST_CHECK int mqsp_clientids_flush(struct mqsp_clientids *t, sqlite3 *db);

/* Apply the releases committed since the last call (or the load): drop
 * those bindings from memory and queue their deletion again (a binding
 * the plugin wrote after the release must not come back).  *released gets
 * how many bindings went (may be NULL).  Returns MQS_OK, MQS_ERR_DB or
 * MQS_ERR_NOMEM (not applied; try again). */
MQS_MUST_CHECK int mqsp_clientids_merge(struct mqsp_clientids *t, sqlite3 *db, size_t *released);

/* Bindings in memory. */
size_t mqsp_clientids_count(const struct mqsp_clientids *t);

/* The username cid is bound to, or NULL (borrowed until the next change). */
const char *mqsp_clientids_owner(const struct mqsp_clientids *t, const char *cid);

#endif
