/* SPDX-License-Identifier: BSD-3-Clause */
/* snapshot.h - an immutable in-memory view of the broker database: devices
 * (with their TOTP secrets unwrapped), allow/deny lists, groups and ACL
 * trees.
 *
 * A snapshot is built in one read transaction, a slice at a time
 * (mqsp_build_step() works for a given number of milliseconds and returns),
 * so the broker thread can go on serving clients between slices; once done
 * it replaces the snapshot in use, and is never changed afterwards (list
 * expiry is checked at match time; only the per-device decision caches are
 * written, by the broker thread).
 *
 * Ownership: mqsp_snapshot_load() and a finished build return a snapshot
 * the caller frees with mqsp_snapshot_free() (NULL is fine), which wipes
 * the TOTP secrets.  A build is freed with mqsp_build_free() (finished or
 * not); it must not outlive its database connection.
 */
#ifndef MQSP_SNAPSHOT_H
#define MQSP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>
#include "mqs_uthash.h"

#include "mqs_rules.h"
#include "mqs_arena.h"
#include "keys.h"
#include "mqs_lists.h"
#include "mqs_master_key.h"
#include "mqs_totp.h"
#include "mqs_error.h"
#include "mqs_kdf.h"

/* the last READ and WRITE decision of a device (broker thread only) */
#define MQSP_CACHE_TOPIC_MAX 128
struct mqs_rules_cache {
	uint16_t len[2]; /* 0: empty */
	int8_t allowed[2];
	char topic[2][MQSP_CACHE_TOPIC_MAX];
};

struct mqsp_device {
	UT_hash_handle hh;
	const char *name;
	int enabled;
	int secret_ok; /* 0: the wrapped secret did not open; refuse the device */
	struct mqs_totp_params params;
	int64_t last_step;  /* as read from the database */
	int64_t generation; /* random, new for every device add (clients.h) */
	size_t secret_len;
	uint8_t secret[MQS_TOTP_SECRET_MAX];
	const struct mqs_rules_tree **trees; /* its own rules, then its groups' */
	unsigned ntrees;
	int cacheable; /* no %c rule: a decision depends on the topic alone */
	/* mutable, broker thread only: filled on first use, freed with the
	 * snapshot, so no decision outlives the rules it came from */
	struct mqs_rules_cache *cache;
	/* mutable, broker thread only: K_conn (docs/broker-plugin.md, "Connect
	 * tokens") derived from secret on the first token (tokens.c), wiped
	 * with the snapshot, so a retotp (a new snapshot) never sees it */
	int kconn_ok;
	uint8_t kconn[MQS_KDF_KEY_LEN];
};

struct mqsp_subject;

/* a row the build could not use (logged by the caller, once per load) */
#define MQSP_PROBLEMS_MAX 16
struct mqsp_problem {
	const char *what;    /* "acl rule", "deny list entry", ... (static) */
	int64_t id;          /* the row's id */
	const char *subject; /* rule subject or list match (arena), or NULL */
	const char *why;     /* static lowercase reason */
	const char *outcome; /* static: what the plugin does about it */
};

struct mqsp_snapshot {
	struct mqs_arena arena;
	struct mqsp_device *devices;   /* uthash by name */
	struct mqsp_subject *subjects; /* uthash by subject ("NAME" or "@GROUP") */
	struct mqs_list deny, allow;
	uint64_t ban_seq; /* automatic bans committed before the build */
	unsigned long ndevices, nrules, nentries, nmembers;
	unsigned long bad_rules, bad_entries, bad_secrets; /* rows skipped */
	unsigned long closed_subjects; /* subjects denied everything (a bad deny rule) */
	int deny_everyone;             /* a bad deny list entry: every CONNECT refused */
	struct mqsp_problem problems[MQSP_PROBLEMS_MAX]; /* the first ones */
	unsigned long nproblems;                         /* all of them */
	struct mqsp_keys *keys;                          /* protected topics (keys.h) */
	double build_ms;                                 /* from start to finish */
	double work_ms;                                  /* time spent in mqsp_build_step */
};

#define MQSP_BUILD_AGAIN (-1) /* mqsp_build_step: not finished yet */

struct mqsp_build;

/* Start building a snapshot from db; nothing is read yet.  List entries
 * expired at now are left out.  Returns MQS_OK or MQS_ERR_NOMEM. */
int mqsp_build_start(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], int64_t now,
                     struct mqsp_build **out);

/* Work on b for about budget_ms (a single sort of the rules may take
 * longer).  Returns MQSP_BUILD_AGAIN, MQS_OK with the finished snapshot in
 * *out (then free b), or an error (MQS_ERR_DB, MQS_ERR_NOMEM) with a
 * lowercase message in err (free b).  A row that cannot be used never fails
 * the build (docs/broker-plugin.md, Changes while the broker runs): a bad
 * deny rule makes its subject's tree deny everything, a bad deny list entry
 * that could match anyone makes the deny list match everyone, bad allow
 * rules and entries are left out; each is recorded in problems. */
MQS_MUST_CHECK int mqsp_build_step(struct mqsp_build *b, double budget_ms,
                                   struct mqsp_snapshot **out, char *err, size_t errlen);

/* Free a build, finished or not (ends its read transaction).  NULL is fine. */
void mqsp_build_free(struct mqsp_build *b);

/* Build a snapshot from db in one go (start-up, tests).  Returns what
 * mqsp_build_step() returns, never MQSP_BUILD_AGAIN. */
MQS_MUST_CHECK int mqsp_snapshot_load(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN],
                                      int64_t now, struct mqsp_snapshot **out, char *err,
                                      size_t errlen);

/* Find a device by name, or NULL.  Only its cache may be changed, and only
 * by the broker thread. */
struct mqsp_device *mqsp_snapshot_device(const struct mqsp_snapshot *s, const char *name);

/* Wipe the secrets and free everything.  NULL is fine. */
void mqsp_snapshot_free(struct mqsp_snapshot *s);

#endif
