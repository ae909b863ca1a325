/* SPDX-License-Identifier: BSD-3-Clause */
/* plugin.h - state shared by the callbacks of mqttsec_plugin.so.
 *
 * One struct mqsp_plugin exists per loaded plugin; mosquitto_plugin_init()
 * creates it and hands it to every callback as userdata.  Everything in it
 * is used by the broker thread only (the plugin starts no thread).
 *
 * Ownership: struct mqsp_plugin owns everything it points to (snapshot,
 * store, journal, bans, keys, reseal state); mosquitto_plugin_cleanup()
 * frees it all.  A failed init frees what it built and returns an error to
 * the broker.
 *
 * Include order for the broker headers: mosquitto_broker.h before
 * mosquitto_plugin.h (2.0.11's plugin header does not include it).
 */
#ifndef MQSP_PLUGIN_H
#define MQSP_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "bans.h"
#include "clientids.h"
#include "clients.h"
#include "journal.h"
#include "seals.h"
#include "mqs_master_key.h"
#include "snapshot.h"
#include "stats.h"
#include "store.h"
#include "tokens.h"
#include "mqs_error.h"

struct mqsp_options {
	const char *db;              /* plugin_opt_db_file / plugin_opt_db (broker-owned) */
	const char *db_key;          /* which of the two names was used, for messages */
	const char *master_key_file; /* plugin_opt_master_key_file */
	unsigned totp_window;        /* plugin_opt_totp_window, steps either side */
	int allowlist;               /* plugin_opt_allowlist on|off */
	unsigned max_auth_failures;  /* plugin_opt_max_auth_failures, 0 = off */
	unsigned max_ip_failures;    /* plugin_opt_max_ip_failures, 0 = off */
	unsigned failure_window;     /* plugin_opt_failure_window, seconds */
	unsigned ban_seconds;        /* plugin_opt_ban_seconds */
	unsigned user_ban_addresses; /* plugin_opt_user_ban_addresses, 0 = never username-wide */
	unsigned user_ban_seconds;   /* plugin_opt_user_ban_seconds, first username-wide ban */
	unsigned max_ip_usernames;   /* plugin_opt_max_ip_usernames, 0 = off */
	unsigned ban_max_seconds;    /* plugin_opt_ban_max_seconds, longest pair or address ban */
	unsigned user_ban_max;       /* plugin_opt_user_ban_max_seconds, longest username ban */
	unsigned ban_decay_seconds;  /* plugin_opt_ban_decay_seconds, 0 = repeats never forgotten */
	unsigned replay_window;      /* plugin_opt_replay_window (payload encryption) */
	int defer_unknown;           /* plugin_opt_defer_unknown on|off */
	unsigned poll_ms;            /* plugin_opt_poll_ms, change polling interval */
	size_t failure_table_max;    /* plugin_opt_failure_table_max */
	size_t replay_cache_max;     /* plugin_opt_replay_cache_max, envelopes (reseal.h) */
	unsigned stats_interval;     /* plugin_opt_stats_interval, seconds, 0 = off */
	int step_commit_db;          /* plugin_opt_totp_step_commit database (1) | journal (0) */
	int clientid_policy;         /* plugin_opt_clientid_policy (enum mqsp_clientid_policy) */
	int64_t clientid_ttl;        /* plugin_opt_clientid_ttl, seconds */
	size_t clientid_max;         /* plugin_opt_clientid_max_per_user */
	uint64_t key_max_seals;      /* plugin_opt_key_max_seals, hard bound per topic key */
	int64_t key_grace;           /* plugin_opt_key_grace, seconds, automatic rotations */
	int64_t key_announce;        /* plugin_opt_key_announce, seconds, automatic rotations */
	int connect_tokens;          /* plugin_opt_connect_tokens on|off (tokens.h) */
};

/* username -> device of the current snapshot, keyed by the broker's own
 * username pointer (stable for a connection); emptied on every swap */
#define MQSP_USER_CACHE 8
struct mqsp_user_cache {
	const char *user;
	struct mqsp_device *d;
};

struct mqsp_plugin {
	mosquitto_plugin_id_t *id;
	struct mqsp_options opt;
	uint8_t mk[MQS_MASTER_KEY_LEN];
	struct mqsp_snapshot *snap; /* the view in use; never NULL after init */
	struct mqsp_store *store;
	struct mqsp_build *build;  /* a reload in progress, or NULL */
	uint64_t next_poll_ms;     /* when to look for committed changes again */
	uint64_t last_call_ms;     /* the previous tick callback (idle detection) */
	uint64_t last_slice_ms;    /* the end of the previous build slice */
	uint64_t build_ban_seq;    /* bans committed when the build started */
	double build_max_slice_ms; /* longest slice of the build (for the log) */
	int rebuild;               /* build again even without a new commit */
	char last_error[256];      /* last database error logged (logged once) */
	struct mqsp_bans *bans;
	struct mqsp_clients clients;
	struct mqsp_step *steps; /* accepted TOTP steps not yet in snap (uthash) */
	/* the entries of steps only the journal holds (not folded yet);
	 * borrowed from steps, which never drops a dirty entry */
	struct mqsp_step **dirty_steps;
	size_t steps_dirty;           /* entries in dirty_steps */
	size_t dirty_cap;             /* room in dirty_steps */
	struct mqsp_journal *journal; /* <db>-steps (journal.h); NULL in database mode */
	int journal_recovered;        /* the journal was read to its end at start */
	uint64_t fold_failing_ms;     /* coarse time the folds began to fail, 0: they work */
	uint64_t fold_warned_ms;      /* last warning about failing folds */
	int kick_pending;             /* re-check connected clients on the next tick */
	int64_t next_expiry;          /* when an allow entry of snap expires (0: none) */
	int revoke_pending;           /* run the revoke rule on the tick (rotate.c) */
	char *revoke_after;           /* the pass in progress: the last holder looked at */
	int revoke_again;             /* ... and another pass after it */
	unsigned revoke_rotated;      /* filters rotated by the pass so far */
	struct mqsp_user_cache ucache[MQSP_USER_CACHE];
	uint64_t last_tick_ms;       /* coarse monotonic time of the last real tick */
	struct mqsp_reseal *reseal;  /* protected topics (reseal.h) */
	struct mqsp_keysvc *keysvc;  /* online topic keys (keysvc.h) */
	struct mqsp_stats stats;     /* $SYS counters (stats.h) */
	struct mqsp_clientids *cids; /* owned client ids (clientids.h); NULL unless owned */
	int64_t cids_next_sweep;     /* when to drop expired ids and refresh connected ones */
	int64_t cids_flush_warned;   /* last warning about failing binding writes */
	int cids_merge;              /* releases to merge (mqttsec-acl committed) */
	struct mqsp_seals *seals;    /* durable seal counts per topic key (seals.h) */
	int64_t next_schedule;       /* when to look for rotate_every rotations (rotate.c) */
	int64_t seal_checked;        /* announced keys looked at up to then (rotate.c) */
	struct mqsp_tokens *tokens;  /* connect tokens (tokens.h) */
	int64_t mem_warned;          /* last warning about a refused allocation (seconds) */
	unsigned long mem_quiet;     /* refused allocations not logged since */
};

/* Log through the broker with the "mqttsec: " prefix (broker thread only). */
void mqsp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The broker's allocator refused the plugin memory (memory_limit,
 * docs/broker-plugin.md, "Memory") and what ("connections", "publishes")
 * was refused for it: one warning every 10 s at most, with the number of
 * refusals not logged; now in seconds. */
void mqsp_mem_refused(struct mqsp_plugin *p, const char *what, int64_t now);

/* MOSQ_EVT_BASIC_AUTH (auth.c). */
int mqsp_auth_cb(int event, void *event_data, void *userdata);

/* Why the current lists refuse a client, or NULL when they let it in
 * (deny list, automatic bans, allow list when on, device enabled).  Used at
 * CONNECT and when re-checking connected clients (auth.c). */
const char *mqsp_auth_refusal(struct mqsp_plugin *p, const char *clientid, const char *username,
                              const uint8_t *addr, int64_t now);

/* Forget in-memory accepted steps that snap now holds (auth.c). */
void mqsp_auth_steps_prune(struct mqsp_plugin *p);

/* Free the in-memory accepted steps (auth.c). */
void mqsp_auth_steps_free(struct mqsp_plugin *p);

/* Commit the accepted steps only the journal holds in one transaction
 * (waiting at most busy_ms for a lock), then empty the journal.  Returns
 * MQS_OK, MQS_ERR_DB or MQS_ERR_NOMEM (all kept for another try), or
 * MQS_ERR_INVAL (the journal was not read to its end at start: nothing
 * done) (auth.c). */
MQS_MUST_CHECK int mqsp_auth_steps_fold(struct mqsp_plugin *p, int busy_ms);

/* while the database does not take the journal, CONNECTs are accepted until
 * it holds this many steps (about 40 MB), then refused */
#define MQSP_JOURNAL_RECORDS_MAX 1000000

/* The message for a failed mqsp_auth_steps_fold() result rc (auth.c). */
const char *mqsp_auth_fold_error(struct mqsp_plugin *p, int rc);

/* At start-up, before the first CONNECT: remember the steps a previous run
 * left in the journal and fold them.  Returns MQS_OK (also when the fold
 * must wait for the tick) or MQS_ERR_IO / MQS_ERR_NOMEM (logged; the broker
 * must not start: codes could be replayed) (auth.c). */
MQS_MUST_CHECK int mqsp_auth_steps_recover(struct mqsp_plugin *p, int busy_ms);

/* MOSQ_EVT_TICK: delete connect token nonces whose window closed
 * (tokens.c). */
int mqsp_tokens_tick_cb(int event, void *event_data, void *userdata);
/* MOSQ_EVT_ACL_CHECK (access.c). */
int mqsp_access_cb(int event, void *event_data, void *userdata);

/* Log the rows of s that cannot be used and what is done about them, once
 * per load: at start-up and after each reload (reload.c). */
void mqsp_reload_log_problems(const struct mqsp_snapshot *s);

/* MOSQ_EVT_TICK: take a new snapshot, log, re-check clients (reload.c). */
int mqsp_tick_cb(int event, void *event_data, void *userdata);

/* Rotate the topic key id that seals a protected filter of the view in
 * use (it reached its rotate_at count), through the same key store
 * operation as "key rotate", with an audit row; the new key seals at once
 * (the view is patched) and a new view is built.  A key no longer in use,
 * or already rotated by mqttsec-acl, is forgotten; a busy database leaves
 * it for the next tick (rotate.c). */
void mqsp_rotate_key(struct mqsp_plugin *p, uint32_t id, int64_t now);

/* On the tick: keys waiting for a rotation, and once a second the filters
 * whose rotate_every has passed since their key was created (rotate.c). */
void mqsp_rotate_tick(struct mqsp_plugin *p, int64_t now);

/* On the tick, after an allow entry expired (or at start) with the allow
 * list on: the rule of lib/mqs_revoke.h on the writer connection, one
 * slice of holders per tick until the pass is done (busy timeout 0: a
 * locked database leaves the slice for the next tick); a filter rotated
 * gets a new view and its push (rotate.c). */
void mqsp_rotate_revoke_tick(struct mqsp_plugin *p, int64_t now);

/* Ask for a pass of the revoke rule (an allow entry expired): a new pass,
 * or one more after the pass in progress. */
void mqsp_rotate_revoke_want(struct mqsp_plugin *p);

/* Forget the pass in progress (frees revoke_after). */
void mqsp_rotate_revoke_reset(struct mqsp_plugin *p);

/* MOSQ_EVT_DISCONNECT: forget the client (session.c). */
int mqsp_disconnect_cb(int event, void *event_data, void *userdata);

/* Disconnect every tracked client the current state refuses, or whose
 * device was removed or added again since it connected (session.c). */
void mqsp_session_kick_denied(struct mqsp_plugin *p, int64_t now);

/* On the tick: apply client id releases once mqttsec-acl committed
 * (cids_merge, set by the poll; retried until it works), write queued bindings, and now and
 * then drop expired ids and refresh the last use of connected ones
 * (session.c). */
void mqsp_session_clientids_tick(struct mqsp_plugin *p, int64_t now);

/* 1 when a client with id cid is connected (clientids.h in_use) (session.c). */
int mqsp_session_clientid_in_use(const char *cid, void *arg);

#endif
