/* SPDX-License-Identifier: BSD-3-Clause */
/* mqsa.h - the mqttsec admin API (libmqsadmin): every administrative
 * operation on the broker database (docs/acl.md) as a library call.
 * mqttsec-acl's commands parse options, call these functions and format
 * the results; a long-running process (the web console) calls the same.
 *
 * One file per managed thing, as in Mosquitto's dynamic-security plugin:
 * ctx.c (context, database, master key, transactions, the audit row),
 * validate.c (operand checks), devices.c, lists.c, rules.c (topic rules,
 * the CLI's "acl" command group), groups.c, topics.c (protected topics),
 * keys.c (topic keys and key export), keyaccess.c (the rule evaluation a
 * key export asks), audit.c, clientids.c, export.c (export/import) and
 * init.c (create key and database).
 *
 * Contract shared by every function:
 * - It never prints, never exits, keeps no global state: everything lives
 *   in the struct mqsa_ctx it is given (one per thread of use).
 * - It returns enum mqs_err (MQS_OK on success).  On failure a lowercase
 *   one-line reason is written into why (MQSA_WHY_MAX bytes, the caller's
 *   buffer); MQS_ERR_INVAL/NOENT/EXISTS/TOOBIG/PARSE/UNWRAP mean bad or
 *   conflicting input, MQS_ERR_PERM a refusal, MQS_ERR_DB a database
 *   failure (mqsa_ctx_db_busy() tells whether retrying may help,
 *   mqsa_ctx_db_fault() whether the file or its disk failed).
 * - Every change runs in one transaction (BEGIN IMMEDIATE ... COMMIT)
 *   that also writes exactly one audit row naming the context's "who";
 *   on any failure it is rolled back and nothing changes.
 * - Listings call an iterator for each row; the row and its strings are
 *   only valid during the call.  An iterator that returns other than
 *   MQS_OK stops the listing, which returns that code.
 *
 * Ownership: struct mqsa_ctx is created by mqsa_ctx_open() and freed by
 * mqsa_ctx_close() (NULL is fine), which closes the database and wipes the
 * master key.  The context borrows the path strings given to open; they
 * must outlive it.  Result structs are the caller's: each has an
 * mqsa_*_free()/release() (NULL is fine) that wipes the secrets it holds.
 * Strings passed in are borrowed for the call only.
 */
#ifndef MQSA_H
#define MQSA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_totp.h"

#define MQSA_WHY_MAX       512
#define MQSA_NAME_MAX      64                   /* device and group names */
#define MQSA_PATTERN_MAX   256                  /* clientid/username list patterns */
#define MQSA_REASON_MAX    200                  /* list entry reasons */
#define MQSA_FILTER_MAX    65535                /* topic filters (MQTT limit) */
#define MQSA_TTL_MAX       (10 * 365 * 86400LL) /* ten years */
#define MQSA_WHO_MAX       (2 * 64 + 5)         /* "USER via USER", audit "who" */
#define MQSA_DETAIL_MAX    1024                 /* audit detail of one change */
#define MQSA_GRACE_DEFAULT 86400                /* seconds a retired topic key stays usable */
#define MQSA_IDS_MAX       128                  /* key id lists ("3,4,...") */
#define MQSA_PRIORITY_MIN  (-2147483647LL - 1)
#define MQSA_PRIORITY_MAX  2147483647LL

struct mqsa_ctx;

/* ---- pages: one page of a long listing (the web console) ---- */

#define MQSA_PAGE_MAX   1000 /* rows of one page */
#define MQSA_SEARCH_MAX 256  /* search and filter texts of a listing */

#define MQSA_PAGE_KEY_MAX 160 /* a page key (mqsa_page after, before, key_first) */

/* One page of a listing: skip offset (>= 0) matching rows, then give at
 * most limit (1..MQSA_PAGE_MAX); total gets the number of matching rows
 * (the listing functions set it before the first row).
 *
 * Keyset paging (the devices, rules and audit listings; docs/console.md,
 * "Long listings"): with after set, the page is the rows that follow the
 * row of that key in the listing's order; with before set, the rows that
 * come just before it; with at_end, the last page.  offset is ignored
 * then, and no page costs more than a seek in an index, however deep.  A
 * key is opaque text of at most MQSA_PAGE_KEY_MAX - 1 bytes that a
 * listing gave in key_first or key_last (a row removed since still works:
 * the page starts at its place); a key that the listing cannot have given
 * is MQS_ERR_INVAL.  The listing sets key_first and key_last to the keys
 * of the first and last row given ("" with no row), more_before and
 * more_after to 1 when rows come before and after this page.  after,
 * before and at_end are borrowed; NULL or "" and 0 are "not set". */
struct mqsa_page {
	long long offset;
	long long limit;
	long long total;
	const char *after;
	const char *before;
	int at_end;
	char key_first[MQSA_PAGE_KEY_MAX];
	char key_last[MQSA_PAGE_KEY_MAX];
	int more_before;
	int more_after;
};

/* ---- ctx.c: the context ---- */

/* Create a context for database db_path and master key key_path (neither
 * is opened yet), acting as who (1..MQSA_WHO_MAX printable bytes: the audit
 * "who" and the created_by of list entries).  The clock is read once here
 * (see mqsa_ctx_set_now).  *out is NULL on failure. */
MQS_MUST_CHECK enum mqs_err mqsa_ctx_open(const char *db_path, const char *key_path,
                                          const char *who, struct mqsa_ctx **out);

/* Act as who from now on (the same rules as mqsa_ctx_open): one context
 * serves requests of different users, e.g. the web console's
 * "console:NAME" (docs/console.md).  MQS_ERR_INVAL leaves who unchanged. */
MQS_MUST_CHECK enum mqs_err mqsa_ctx_set_who(struct mqsa_ctx *ctx, const char *who);

/* Close the database, wipe the master key, free ctx.  NULL is fine. */
void mqsa_ctx_close(struct mqsa_ctx *ctx);

/* Set the time the next operations use (a long-running caller sets it per
 * request; mqsa_ctx_open sets the current time). */
void mqsa_ctx_set_now(struct mqsa_ctx *ctx, time_t now);

/* Open the database (it must exist; migrations are applied) unless open.
 * MQS_ERR_NOENT: no such file; MQS_ERR_DB_VERSION: newer schema. */
MQS_MUST_CHECK enum mqs_err mqsa_ctx_db(struct mqsa_ctx *ctx, char *why);

/* Load the master key unless loaded: MQS_ERR_NOENT (no file), _PERM
 * (readable by group or others, or not readable), _PARSE, _IO. */
MQS_MUST_CHECK enum mqs_err mqsa_ctx_master_key(struct mqsa_ctx *ctx, char *why);

/* 1 when the last MQS_ERR_DB was SQLite being busy or locked. */
int mqsa_ctx_db_busy(const struct mqsa_ctx *ctx);

/* 1 when the last MQS_ERR_DB was the database file or its disk: it could
 * not be opened, is read-only, the disk is full, an I/O error, or the file
 * is corrupted or not a database (docs/acl.md, "Exit status"). */
int mqsa_ctx_db_fault(const struct mqsa_ctx *ctx);

/* ---- validate.c: operand checks (MQS_OK or MQS_ERR_INVAL, why filled) ---- */

/* A device or group name (what = "device"/"group"): 1..MQSA_NAME_MAX bytes
 * of [A-Za-z0-9._-]. */
MQS_MUST_CHECK enum mqs_err mqsa_name_check(const char *name, const char *what, char *why);

/* Free text: 1..max bytes (0 allowed when empty_ok), no control chars. */
MQS_MUST_CHECK enum mqs_err mqsa_text_check(const char *text, size_t max, int empty_ok,
                                            const char *what, char *why);

/* A rule topic filter: a valid MQTT filter of at most MQSA_FILTER_MAX
 * bytes where '%' only appears as %u or %c. */
MQS_MUST_CHECK enum mqs_err mqsa_filter_check(const char *filter, char *why);

/* A protected topic filter: a rule filter without %u/%c. */
MQS_MUST_CHECK enum mqs_err mqsa_protected_filter_check(const char *filter, char *why);

/* A TTL: a positive integer with an optional unit s, m, h or d, at most
 * ten years. */
MQS_MUST_CHECK enum mqs_err mqsa_ttl_parse(const char *text, long long *seconds, char *why);

/* A grace period: "0" or a TTL. */
MQS_MUST_CHECK enum mqs_err mqsa_grace_parse(const char *text, long long *seconds, char *why);

/* A decimal integer in lo..hi (what names it in the reason). */
MQS_MUST_CHECK enum mqs_err mqsa_int_parse(const char *text, long long lo, long long hi,
                                           const char *what, long long *out, char *why);

/* ---- devices.c ---- */

/* A device as listed.  groups: its groups, sorted, comma-separated ("" none). */
struct mqsa_device_info {
	const char *name;
	int enabled;
	long long digits;
	long long period;
	const char *algorithm;
	long long created_at;
	long long last_step; /* -1: never authenticated */
	const char *groups;
};

/* Called with the credentials JSON of a new device before the commit
 * (json is a secret, valid during the call): deliver it, or return an error
 * (why filled) and the device is not added. */
struct mqsa_deliver {
	enum mqs_err (*fn)(const char *json, void *arg, char *why);
	void *arg;
};

/* Enrol device name with TOTP parameters p (digits 6 or 8, period
 * 1..3600): a random TOTP secret wrapped under the master key, a device
 * key, and credentials (docs/acl.md, "Devices") handed to deliver before
 * the commit.  *key_id (may be NULL) gets the device key id.  Needs the
 * master key.  Audit "device add". */
MQS_MUST_CHECK enum mqs_err mqsa_device_add(struct mqsa_ctx *ctx, const char *name,
                                            const struct mqs_totp_params *p,
                                            const struct mqsa_deliver *deliver, uint32_t *key_id,
                                            char *why);

/* What mqsa_device_rekey / mqsa_device_retotp did. */
struct mqsa_device_rekeyed {
	uint32_t key_id;            /* the device key in the new credentials */
	int nretired;               /* rekey: device keys retired */
	char retired[MQSA_IDS_MAX]; /* ... their ids */
	long long usable_until;     /* rekey: Unix seconds they open until (inclusive) */
};

/* device rekey (admin/rekey.c): a new device key for name; its active
 * keys are retired and still open its envelopes until now + grace
 * seconds (0..MQSA_TTL_MAX), then never.  TOTP, enabled state, groups,
 * rules, list entries and client ids are kept.  The new credentials (as
 * device add writes them) go to deliver before the commit.  Needs the
 * master key.  Audit "device rekey". */
MQS_MUST_CHECK enum mqs_err mqsa_device_rekey(struct mqsa_ctx *ctx, const char *name,
                                              long long grace, const struct mqsa_deliver *deliver,
                                              struct mqsa_device_rekeyed *res, char *why);

/* device retotp: a new random TOTP secret for name (the old codes stop
 * working with the commit; digits, period and algorithm are kept, and so
 * is everything else).  The new credentials, with the current device key,
 * go to deliver before the commit.  Needs the master key.  Audit "device
 * retotp". */
MQS_MUST_CHECK enum mqs_err mqsa_device_retotp(struct mqsa_ctx *ctx, const char *name,
                                               const struct mqsa_deliver *deliver,
                                               struct mqsa_device_rekeyed *res, char *why);

/* Every device, by name. */
MQS_MUST_CHECK enum mqs_err mqsa_device_list(struct mqsa_ctx *ctx,
                                             enum mqs_err (*each)(const struct mqsa_device_info *d,
                                                                  void *arg),
                                             void *arg, char *why);

/* A page of the devices whose name contains search (NULL or "": every
 * device), by name; search is free text of at most MQSA_SEARCH_MAX bytes
 * (no wildcards: a plain substring).  The console's device page. */
MQS_MUST_CHECK enum mqs_err
mqsa_device_page(struct mqsa_ctx *ctx, const char *search, struct mqsa_page *pg,
                 enum mqs_err (*each)(const struct mqsa_device_info *d, void *arg), void *arg,
                 char *why);

/* What mqsa_device_remove removed with the device. */
struct mqsa_device_removed {
	int groups;
	int rules;
	int list_entries;
	int clientids;
};

/* Remove device name with its keys, memberships, rules, username list
 * entries and client ids (a later device of that name inherits nothing).
 * Audit "device rm". */
MQS_MUST_CHECK enum mqs_err mqsa_device_remove(struct mqsa_ctx *ctx, const char *name,
                                               struct mqsa_device_removed *res, char *why);

/* Enable or disable device name; *changed is 0 when it already was (no
 * audit row then).  Audit "device enable" / "device disable". */
MQS_MUST_CHECK enum mqs_err mqsa_device_set_enabled(struct mqsa_ctx *ctx, const char *name,
                                                    int enabled, int *changed, char *why);

/* The otpauth:// URI of device name (a secret: *uri is the caller's, free
 * it with mqs_secret_free_str).  Showing it is audited ("device qr")
 * before it is returned.  Needs the master key. */
MQS_MUST_CHECK enum mqs_err mqsa_device_totp_uri(struct mqsa_ctx *ctx, const char *name, char **uri,
                                                 char *why);

/* ---- lists.c: allow and deny lists ---- */

/* A list entry as listed. */
struct mqsa_list_entry {
	long long id;
	const char *kind;  /* allow|deny */
	const char *match; /* clientid|username|ip */
	const char *pattern;
	long long expires_at; /* 0 = never */
	int expired;
	const char *reason;
	long long created_at;
	const char *created_by;
};

/* What mqsa_list_add stored. */
struct mqsa_list_added {
	long long id;
	long long expires_at;               /* 0 = never */
	char pattern[MQSA_PATTERN_MAX + 1]; /* normalised (ip: canonical CIDR) */
};

/* Check kind (allow|deny) and match (clientid|username|ip). */
MQS_MUST_CHECK enum mqs_err mqsa_list_words(const char *kind, const char *match, char *why);

/* Add an entry expiring ttl seconds from now (0 = never) with reason (may
 * be NULL); an unexpired entry kind/match/pattern must not exist.
 * Audit "list add". */
MQS_MUST_CHECK enum mqs_err mqsa_list_add(struct mqsa_ctx *ctx, const char *kind, const char *match,
                                          const char *pattern, long long ttl, const char *reason,
                                          struct mqsa_list_added *res, char *why);

/* Remove entry id.  Audit "list rm". */
MQS_MUST_CHECK enum mqs_err mqsa_list_remove(struct mqsa_ctx *ctx, long long id, char *why);

/* Entries by id; expired ones only when all. */
MQS_MUST_CHECK enum mqs_err mqsa_list_show(struct mqsa_ctx *ctx, int all,
                                           enum mqs_err (*each)(const struct mqsa_list_entry *e,
                                                                void *arg),
                                           void *arg, char *why);

/* The created_by of the deny entries the broker plugin writes for its
 * automatic bans (docs/broker-plugin.md, "Failed logins and automatic
 * bans"; reasons auth-failures and key-flood). */
#define MQSA_BAN_AUTHOR "mqttsec-plugin"

/* Which entries mqsa_list_page gives. */
struct mqsa_list_query {
	const char *kind; /* allow|deny, NULL: both */
	int bans;         /* 1: only the plugin's bans, 0: only the other entries,
	                   * -1: both */
	int all;          /* with the expired entries */
};

/* A page of the entries q selects, by id (bans: the newest first). */
MQS_MUST_CHECK enum mqs_err
mqsa_list_page(struct mqsa_ctx *ctx, const struct mqsa_list_query *q, struct mqsa_page *pg,
               enum mqs_err (*each)(const struct mqsa_list_entry *e, void *arg), void *arg,
               char *why);

/* Delete expired entries; *n gets their count (0: no audit row).
 * Audit "list purge". */
MQS_MUST_CHECK enum mqs_err mqsa_list_purge(struct mqsa_ctx *ctx, int *n, char *why);

/* ---- rules.c: topic rules (the CLI's "acl" commands) ---- */

/* A rule as listed (evaluation order). */
struct mqsa_rule {
	long long id;
	long long priority;
	const char *effect;  /* allow|deny */
	const char *access;  /* pub|sub|read|all */
	const char *subject; /* NAME or @GROUP */
	const char *filter;
	long long created_at;
};

/* Add a rule (subject must exist; the broker's own check applies);
 * *id gets its id.  Audit "acl add". */
MQS_MUST_CHECK enum mqs_err mqsa_rule_add(struct mqsa_ctx *ctx, const char *effect,
                                          const char *access, const char *subject,
                                          const char *filter, long long priority, long long *id,
                                          char *why);

/* Remove rule id.  Audit "acl rm". */
MQS_MUST_CHECK enum mqs_err mqsa_rule_remove(struct mqsa_ctx *ctx, long long id, char *why);

/* Rules of subject (NULL: all) in evaluation order. */
MQS_MUST_CHECK enum mqs_err
mqsa_rule_show(struct mqsa_ctx *ctx, const char *subject,
               enum mqs_err (*each)(const struct mqsa_rule *r, void *arg), void *arg, char *why);

/* A page of the rules of subject (NULL: all) whose filter contains search
 * (NULL or "": any; at most MQSA_SEARCH_MAX bytes), in evaluation order. */
MQS_MUST_CHECK enum mqs_err
mqsa_rule_page(struct mqsa_ctx *ctx, const char *subject, const char *search, struct mqsa_page *pg,
               enum mqs_err (*each)(const struct mqsa_rule *r, void *arg), void *arg, char *why);

/* What one device may do on a topic (mqsa_rule_test).  Each is 1 when its
 * rules allow it, 0 when not. */
struct mqsa_access {
	const char *name;
	int enabled;   /* a disabled device may do nothing, whatever its rules */
	int publish;   /* publish on the topic (no wildcard in it) */
	int receive;   /* be delivered a message of the topic (read and sub rules) */
	int subscribe; /* subscribe to the topic as a filter (some topic of it) */
	int closed;    /* a deny rule the broker cannot use denies it everything */
};

/* "Who may do what on this topic": for device name (NULL: a page of every
 * device, by name), decide topic (an MQTT topic or filter; with a
 * wildcard only subscribe is decided, publish and receive are 0) with the
 * broker plugin's own rule evaluation (lib/mqs_rules.c, keyaccess.c), as
 * for a client with client id clientid (NULL: unknown; then an allow rule
 * holding %c never applies and a deny rule holding %c applies to every
 * topic, docs/broker-plugin.md).  Only the rules and the enabled flag are
 * looked at, not the lists or bans.  pg may be NULL with a name. */
MQS_MUST_CHECK enum mqs_err
mqsa_rule_test(struct mqsa_ctx *ctx, const char *topic, const char *clientid, const char *name,
               struct mqsa_page *pg, enum mqs_err (*each)(const struct mqsa_access *a, void *arg),
               void *arg, char *why);

/* ---- groups.c ---- */

/* A group as listed: members sorted, members[nmembers]. */
struct mqsa_group {
	const char *name;
	const char *const *members;
	size_t nmembers;
};

/* Create group.  Audit "group add". */
MQS_MUST_CHECK enum mqs_err mqsa_group_add(struct mqsa_ctx *ctx, const char *group, char *why);

/* What mqsa_group_remove removed with the group. */
struct mqsa_group_removed {
	int members;
	int rules;
};

/* Remove group, its memberships and its rules.  Audit "group rm". */
MQS_MUST_CHECK enum mqs_err mqsa_group_remove(struct mqsa_ctx *ctx, const char *group,
                                              struct mqsa_group_removed *res, char *why);

/* Groups by name (only: that one, which must exist; NULL: all). */
MQS_MUST_CHECK enum mqs_err
mqsa_group_list(struct mqsa_ctx *ctx, const char *only,
                enum mqs_err (*each)(const struct mqsa_group *g, void *arg), void *arg, char *why);

/* Add device name to group.  Audit "group member add". */
MQS_MUST_CHECK enum mqs_err mqsa_group_member_add(struct mqsa_ctx *ctx, const char *group,
                                                  const char *name, char *why);

/* Remove device name from group.  Audit "group member rm". */
MQS_MUST_CHECK enum mqs_err mqsa_group_member_remove(struct mqsa_ctx *ctx, const char *group,
                                                     const char *name, char *why);

/* ---- topics.c: protected topics ---- */

/* A protected topic as listed. */
struct mqsa_topic {
	const char *filter;
	long long created_at;
	long long active_key;   /* 0: none */
	long long in_grace;     /* retired keys still usable */
	long long rotate_every; /* seconds, 0: none */
	int per_device;         /* topic level, 0: shared key */
};

/* What mqsa_topic_protect did. */
struct mqsa_topic_protected {
	uint32_t key_id;
	int nended; /* retired keys whose grace it ended */
	char ended[MQSA_IDS_MAX];
	long long nprotected; /* protected filters now, this one included; past
	                       * MQS_CREDS_KEYS_MAX no credentials file can list them
	                       * all (docs/payload-encryption.md, "Limits") */
};

/* How a filter is protected (docs/payload-encryption.md, "Keys and
 * identity"); all zero = a shared topic key rotated by hand (and before it
 * wears out). */
struct mqsa_topic_opts {
	long long rotate_every; /* seconds between automatic rotations, 0 = none */
	int per_device;         /* 1-based topic level naming the device whose own key
	                         * seals the downlink, 0 = the shared topic key */
};

/* Protect filter: a first topic key; ends the grace of the filter's
 * retired keys.  opts may be NULL (all zero).  With opts->per_device (a
 * level the filter has, or one under its trailing '#') no topic key is
 * made (res->key_id 0): each device's own downlink key seals instead, and
 * key rotate/export refuse the filter.  Needs the master key.
 * Audit "topic protect". */
MQS_MUST_CHECK enum mqs_err mqsa_topic_protect(struct mqsa_ctx *ctx, const char *filter,
                                               const struct mqsa_topic_opts *opts,
                                               struct mqsa_topic_protected *res, char *why);

/* Unprotect filter; its active keys stay usable for grace seconds;
 * *nretired gets their count.  Audit "topic unprotect". */
MQS_MUST_CHECK enum mqs_err mqsa_topic_unprotect(struct mqsa_ctx *ctx, const char *filter,
                                                 long long grace, int *nretired, char *why);

/* Protected topics by filter. */
MQS_MUST_CHECK enum mqs_err
mqsa_topic_list(struct mqsa_ctx *ctx, enum mqs_err (*each)(const struct mqsa_topic *t, void *arg),
                void *arg, char *why);

/* ---- keys.c: topic keys ---- */

/* A topic key as listed. */
struct mqsa_key_info {
	long long id;
	const char *filter;
	const char *state; /* announced|active|grace|dead (docs/acl.md, "key list") */
	long long created_at;
	long long retire_after;
	long long seal_after; /* Unix seconds from which it seals (0: at once) */
};

/* What mqsa_key_rotate did. */
struct mqsa_key_rotated {
	uint32_t key_id;
	int nretired;
	char retired[MQSA_IDS_MAX];
	long long usable_until; /* retire_after of the retired keys */
	long long seals_from;   /* seal_after of the new key, 0: at once */
};

/* New active key for protected filter; the old ones stay usable for grace
 * seconds.  Needs the master key.  Audit "key rotate". */
MQS_MUST_CHECK enum mqs_err mqsa_key_rotate(struct mqsa_ctx *ctx, const char *filter,
                                            long long grace, struct mqsa_key_rotated *res,
                                            char *why);

/* As mqsa_key_rotate, the new key "announced": it is exported (and handed
 * out online) at once but seals only announce seconds from now, so
 * subscribers can fetch it first; the old keys seal until then and stay
 * usable for grace seconds after it.  announce 0: mqsa_key_rotate. */
MQS_MUST_CHECK enum mqs_err mqsa_key_rotate_announced(struct mqsa_ctx *ctx, const char *filter,
                                                      long long grace, long long announce,
                                                      struct mqsa_key_rotated *res, char *why);

/* A key export request. */
struct mqsa_key_export_req {
	const char *filter; /* a protected filter */
	const char *name;   /* the device */
	int full;           /* with TOTP secret and device key (else topic keys only) */
	const char *out;    /* the file the caller will write (NULL: "stdout" in the
	                     * audit); when it exists it is merged: it must be name's */
};

/* A key export: credentials (secrets) for the caller to deliver. */
struct mqsa_key_export {
	struct mqs_creds creds;
	char *json; /* creds as JSON (a secret) */
	char ids[MQSA_IDS_MAX];
	int merged; /* out existed and was merged */
};

/* Build name's credentials with the keys of filter when name is enabled
 * and its rules give read on every topic of filter (MQS_ERR_PERM when
 * not).  Audited ("key export", ids only) before it returns.  Needs the
 * master key.  res is filled on success; release it with
 * mqsa_key_export_release (also after failure). */
MQS_MUST_CHECK enum mqs_err mqsa_key_export(struct mqsa_ctx *ctx,
                                            const struct mqsa_key_export_req *req,
                                            struct mqsa_key_export *res, char *why);

/* Wipe and free what res holds.  NULL is fine. */
void mqsa_key_export_release(struct mqsa_key_export *res);

/* Topic keys of filter (NULL: all) by filter and id; never key bytes. */
MQS_MUST_CHECK enum mqs_err
mqsa_key_list(struct mqsa_ctx *ctx, const char *filter,
              enum mqs_err (*each)(const struct mqsa_key_info *k, void *arg), void *arg, char *why);

/* ---- audit.c ---- */

/* An audit row. */
struct mqsa_audit_row {
	long long id;
	long long at;
	const char *who;
	const char *action;
	const char *detail;
};

/* The newest limit rows (0: all), oldest first. */
MQS_MUST_CHECK enum mqs_err mqsa_audit_list(struct mqsa_ctx *ctx, long long limit,
                                            enum mqs_err (*each)(const struct mqsa_audit_row *r,
                                                                 void *arg),
                                            void *arg, char *why);

/* Which audit rows mqsa_audit_page gives. */
struct mqsa_audit_query {
	const char *who;    /* contains this (NULL or "": anyone) */
	const char *action; /* starts with this ("device" finds "device add"; NULL or "": any) */
	long long from;     /* at >= from (0: no bound) */
	long long until;    /* at <= until (0: no bound) */
};

/* A page of the rows q selects, the newest first; who and action are free
 * text of at most MQSA_SEARCH_MAX bytes. */
MQS_MUST_CHECK enum mqs_err
mqsa_audit_page(struct mqsa_ctx *ctx, const struct mqsa_audit_query *q, struct mqsa_page *pg,
                enum mqs_err (*each)(const struct mqsa_audit_row *r, void *arg), void *arg,
                char *why);

/* ---- clientids.c ---- */

/* A client id binding as listed. */
struct mqsa_clientid {
	const char *clientid;
	const char *username;
	long long created_at;
	long long last_seen;
};

/* Bindings by device and client id. */
MQS_MUST_CHECK enum mqs_err mqsa_clientid_list(struct mqsa_ctx *ctx,
                                               enum mqs_err (*each)(const struct mqsa_clientid *c,
                                                                    void *arg),
                                               void *arg, char *why);

/* A client id the broker could bind: 1..MQSP_CLIENTIDS_LEN_MAX bytes
 * without control characters.  MQS_OK or MQS_ERR_INVAL. */
MQS_MUST_CHECK enum mqs_err mqsa_clientid_check(const char *clientid, char *why);

/* Release clientid (whoever holds it); owner (MQSA_NAME_MAX + 1 bytes)
 * gets the device it was bound to, "" when none was stored.
 * Audit "clientid release". */
MQS_MUST_CHECK enum mqs_err mqsa_clientid_release(struct mqsa_ctx *ctx, const char *clientid,
                                                  char *owner, char *why);

/* ---- export.c: policy export and import (docs/acl.md) ---- */

enum mqsa_export_kind {
	MQSA_EXPORT_GROUP,
	MQSA_EXPORT_MEMBER,
	MQSA_EXPORT_RULE,
	MQSA_EXPORT_ENTRY
};

/* One exported record.  GROUP: a = group.  MEMBER: a = group, b = device.
 * RULE: a = effect, b = access, c = subject, d = filter, n = priority.
 * ENTRY: a = kind, b = match, c = pattern, d = reason, n = expires_at. */
struct mqsa_export_item {
	enum mqsa_export_kind kind;
	const char *a, *b, *c, *d;
	long long n;
};

/* Export groups, members, rules (evaluation order) and unexpired list
 * entries from one consistent snapshot; count[kind] gets the counts. */
MQS_MUST_CHECK enum mqs_err mqsa_export(struct mqsa_ctx *ctx,
                                        enum mqs_err (*each)(const struct mqsa_export_item *it,
                                                             void *arg),
                                        void *arg, long long count[4], char *why);

/* What an import did; line is the 1-based line of the failure (0 when the
 * failure is not a line's). */
struct mqsa_import_result {
	long long groups, members, rules, entries, kept, skipped;
	size_t line;
};

/* Apply the text of an export (text, len: NUL-free; modified in place) in
 * one transaction: merge, or replace the whole policy.  dry_run checks
 * every line and changes nothing.  name is the file name for the audit.
 * Audit "import". */
MQS_MUST_CHECK enum mqs_err mqsa_import(struct mqsa_ctx *ctx, char *text, size_t len,
                                        const char *name, int replace, int dry_run,
                                        struct mqsa_import_result *res, char *why);

/* ---- init.c ---- */

/* What mqsa_init found and did. */
struct mqsa_init_result {
	int db_created;
	int key_created;
	int db_open_to_others; /* existing db accessible by group or others */
};

/* Create the database and the master key (both 0600, missing parent
 * folders 0700) when absent; never replace them; refuse a new key for a
 * database holding wrapped secrets (MQS_ERR_NOENT).  Creation failures
 * return MQS_ERR_IO.  Audit "init" when something was created. */
MQS_MUST_CHECK enum mqs_err mqsa_init(struct mqsa_ctx *ctx, struct mqsa_init_result *res,
                                      char *why);

/* ---- backup.c: encrypted backup and restore (docs/backup.md) ---- */

#define MQSA_BACKUP_KEY_LEN 32

/* What a restore found and did. */
struct mqsa_restore_info {
	long long created; /* when the backup was made (Unix seconds) */
	char host[65];     /* the host that made it */
	long long current; /* time of the current data it replaced (0: none) */
	int mk_changed;    /* the master key file was written: restart the broker */
	int fresh;         /* the database did not exist before */
};

/* Create the recovery X25519 pair and the box's Ed25519 backup key: the
 * signing key is stored wrapped under the master key (settings
 * backup_sign_key, replacing an earlier one), the file out_path (0600,
 * never over an existing file) gets the recovery private key and the
 * signing public key; pub gets the recovery public key.  Needs the master
 * key.  Audit "backup keygen". */
MQS_MUST_CHECK enum mqs_err mqsa_backup_keygen(struct mqsa_ctx *ctx, const char *out_path,
                                               uint8_t pub[MQSA_BACKUP_KEY_LEN], char *why);

/* Write an encrypted backup of the database (an online copy) and the
 * master key to to_path (0600; written beside it, then renamed), encrypted
 * to recipient and signed with the box's backup key; host names the box
 * in the header.  *size (may be NULL) gets the file size.  Needs the
 * master key and a backup key (MQS_ERR_NOENT: run backup keygen). */
MQS_MUST_CHECK enum mqs_err mqsa_backup_write(struct mqsa_ctx *ctx, const char *to_path,
                                              const uint8_t recipient[MQSA_BACKUP_KEY_LEN],
                                              const char *host, long long *size, char *why);

/* Verify the whole backup from_path with the recovery key file key_path,
 * then replace the database (created when absent) through SQLite's backup
 * API in one step, raising settings token_floor to now and each device's
 * last TOTP step to the current one, and writing an audit row "backup
 * restore"; a different master key is written to the
 * key file (0600, atomically) first and put back when the database cannot
 * be replaced.  Refused, nothing changed: damaged, foreign or other-kind
 * backups, the wrong key (MQS_ERR_ENV_*, _PERM, _INVAL, _PARSE), and
 * without force a backup made before the newest audit row that is not a
 * restore (MQS_ERR_PERM).  info is filled as far as known. */
MQS_MUST_CHECK enum mqs_err mqsa_restore(struct mqsa_ctx *ctx, const char *from_path,
                                         const char *key_path, int force,
                                         struct mqsa_restore_info *info, char *why);

#endif
