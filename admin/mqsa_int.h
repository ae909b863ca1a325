/* SPDX-License-Identifier: BSD-3-Clause */
/* mqsa_int.h - internals shared by the files of the admin library
 * (admin/): the context layout, error helpers, statement helpers and the
 * one transaction runner.  Not for callers of mqsa.h.
 *
 * Ownership: helpers borrow the context and the strings they are given;
 * a statement prepared with mqsa_prepare is the caller's to finalize
 * (also after failure: it is NULL then); one from mqsa_prepare_cached
 * stays the context's (the caller resets it with mqsa_cached_done, never
 * finalizes it; mqsa_ctx_close finalizes it).
 */
#ifndef MQSA_INT_H
#define MQSA_INT_H

#include <sqlite3.h>

#include "mqs_master_key.h"
#include "mqsa.h"

#define MQSA_STMT_CACHE 16 /* statements mqsa_prepare_cached keeps */

/* The admin context (mqsa.h). */
struct mqsa_ctx {
	const char *db_path;
	const char *key_path;
	sqlite3 *db;  /* opened by mqsa_ctx_db() or mqsa_init() */
	int have_mk;  /* mk holds the loaded master key */
	int db_busy;  /* the last MQS_ERR_DB was SQLITE_BUSY/LOCKED */
	int db_fault; /* ... the file or disk: read-only, full, I/O, corrupt */
	uint8_t mk[MQS_MASTER_KEY_LEN];
	char who[MQSA_WHO_MAX + 1];
	time_t now;
	/* prepared statements reused by the hot paths (import): the SQL text
	 * (a string literal, compared by address) and its statement */
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} stmts[MQSA_STMT_CACHE];
	unsigned next_stmt; /* the slot to replace when all are taken */
};

/* Format a reason into why (MQSA_WHY_MAX bytes) and return err. */
enum mqs_err mqsa_fail(char *why, enum mqs_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* why = "cannot WHAT: <sqlite message>"; remembers whether the database
 * was busy; returns MQS_ERR_DB. */
enum mqs_err mqsa_db_fail(struct mqsa_ctx *ctx, char *why, const char *what);

/* Prepare sql on ctx->db; MQS_ERR_DB with why filled on failure. */
MQS_MUST_CHECK enum mqs_err mqsa_prepare(struct mqsa_ctx *ctx, const char *sql, sqlite3_stmt **st,
                                         char *why);

/* Like mqsa_prepare, but sql must be a string literal and the statement
 * (reset, bindings cleared) stays the context's, prepared once per
 * context: hand it back with mqsa_cached_done after the last step. */
MQS_MUST_CHECK enum mqs_err mqsa_prepare_cached(struct mqsa_ctx *ctx, const char *sql,
                                                sqlite3_stmt **st, char *why);

/* Reset a statement of mqsa_prepare_cached (NULL: nothing). */
void mqsa_cached_done(sqlite3_stmt *st);

/* Finalize the context's cached statements (before closing ctx->db). */
void mqsa_ctx_stmts_drop(struct mqsa_ctx *ctx);

/* Run sql (a string literal: its statement is cached) with text
 * parameter ?1 = param: 1 when it yields a row, 0 when not, -1 on a
 * database error. */
int mqsa_row_exists(struct mqsa_ctx *ctx, const char *sql, const char *param);

/* Run a statement with text parameters ?1 = a and, unless b is NULL,
 * ?2 = b; *n (may be NULL) gets the changed row count. */
MQS_MUST_CHECK enum mqs_err mqsa_exec_text(struct mqsa_ctx *ctx, const char *sql, const char *a,
                                           const char *b, int *n, char *why);

/* 1 when device / group name exists, 0 when not, -1 on a database error. */
int mqsa_device_exists(struct mqsa_ctx *ctx, const char *name);
int mqsa_group_exists(struct mqsa_ctx *ctx, const char *name);

/* A change run by mqsa_tx_run: writes its audit detail (MQSA_DETAIL_MAX
 * bytes, no secret) and sets *skip when there is nothing to change (rolled
 * back, no audit row, MQS_OK returned). */
typedef enum mqs_err (*mqsa_change_fn)(struct mqsa_ctx *ctx, void *arg, char *detail, int *skip,
                                       char *why);

/* Open the database, then BEGIN IMMEDIATE, change(), one audit row
 * (action, detail), COMMIT; roll back on any failure.  *skipped (may be
 * NULL) is 1 when change skipped. */
MQS_MUST_CHECK enum mqs_err mqsa_tx_run(struct mqsa_ctx *ctx, const char *action,
                                        mqsa_change_fn change, void *arg, int *skipped, char *why);

/* ROLLBACK when a transaction is open; never fails. */
void mqsa_tx_rollback(struct mqsa_ctx *ctx);

/* Delete row id in one transaction with its audit row: select reads it
 * (unknown: MQS_ERR_NOENT "unknown WHAT ID"), describe writes the audit
 * detail from it, del deletes it. */
struct mqsa_row_del {
	const char *action;
	const char *what;
	const char *select;
	const char *del;
	void (*describe)(sqlite3_stmt *st, long long id, char *detail);
};
MQS_MUST_CHECK enum mqs_err mqsa_row_delete(struct mqsa_ctx *ctx, const struct mqsa_row_del *d,
                                            long long id, char *why);

/* Step a prepared listing statement and call row(st, arg) per row;
 * what names the rows in errors ("cannot read WHAT", "cannot list WHAT").
 * Finalizes st. */
MQS_MUST_CHECK enum mqs_err mqsa_each_row(struct mqsa_ctx *ctx, sqlite3_stmt *st,
                                          enum mqs_err (*row)(sqlite3_stmt *st, void *arg),
                                          void *arg, const char *what, char *why);

/* Column text, "" for NULL. */
const char *mqsa_col(sqlite3_stmt *st, int i);

/* ---- page.c: paginated listings ---- */

/* Check pg (offset, limit) and search (NULL: none; free text of at most
 * MQSA_SEARCH_MAX bytes), set pg->total to 0, open the database. */
MQS_MUST_CHECK enum mqs_err mqsa_page_begin(struct mqsa_ctx *ctx, struct mqsa_page *pg,
                                            const char *search, char *why);

/* Step the prepared count statement st (one integer) into pg->total;
 * finalizes st; what names it in errors ("count WHAT" as "cannot WHAT"). */
MQS_MUST_CHECK enum mqs_err mqsa_page_count(struct mqsa_ctx *ctx, sqlite3_stmt *st,
                                            struct mqsa_page *pg, const char *what, char *why);

/* Bind pg's limit to parameter ilimit and its offset to ilimit + 1. */
void mqsa_page_bind(sqlite3_stmt *st, int ilimit, const struct mqsa_page *pg);

#define MQSA_PAGE_KEYS 4 /* columns of a page key */

/* A listing paged by key (mqsa_page_run): the parts of its statements.
 * The key columns are unique together and an index holds them in this
 * order (with the filter's equality columns first), so a page is a seek. */
struct mqsa_page_spec {
	const char *what;   /* in errors: "read WHAT", "count WHAT" */
	const char *select; /* the row's columns, read by the row function from 0 */
	const char *from;   /* FROM clause */
	const char *where;  /* the filter, a condition ("1": none), parameters ?1..?9 */
	const char *key[MQSA_PAGE_KEYS]; /* key columns in the listing's order, NULL-ended */
	const char *types;               /* per key column: 'i' integer, 't' text (only the last) */
	int desc;                        /* the listing is in descending key order */
	/* bind the filter's parameters (called for every statement) */
	void (*bind)(sqlite3_stmt *st, const void *arg);
	const void *bind_arg;
};

/* Count the rows of spec into pg->total, then give the page pg asks for
 * (offset, or after/before/at_end: mqsa.h, struct mqsa_page) to row, in
 * the listing's order, and set pg's keys and more_before/more_after.
 * Call after mqsa_page_begin. */
MQS_MUST_CHECK enum mqs_err mqsa_page_run(struct mqsa_ctx *ctx, const struct mqsa_page_spec *spec,
                                          struct mqsa_page *pg,
                                          enum mqs_err (*row)(sqlite3_stmt *st, void *arg),
                                          void *arg, char *why);

/* ---- lists.c, shared with import ---- */

/* Normalise a list pattern for match into out (cap bytes): ip patterns
 * become canonical CIDR text, username patterns must name a device. */
MQS_MUST_CHECK enum mqs_err mqsa_list_pattern(struct mqsa_ctx *ctx, const char *match,
                                              const char *pattern, char *out, size_t cap,
                                              char *why);

/* Insert or (replace) update the unexpired entry kind/match/pattern;
 * without replace an existing one is an error.  Inside a transaction. */
MQS_MUST_CHECK enum mqs_err mqsa_list_put(struct mqsa_ctx *ctx, const char *kind, const char *match,
                                          const char *pattern, long long expires_at,
                                          const char *reason, int replace, long long *id,
                                          char *why);

/* ---- groups.c, shared with import ---- */

/* Create group (exists: error unless exist_ok); *created = row added. */
MQS_MUST_CHECK enum mqs_err mqsa_group_put(struct mqsa_ctx *ctx, const char *group, int exist_ok,
                                           int *created, char *why);

/* Add device name to group (both must exist). */
MQS_MUST_CHECK enum mqs_err mqsa_member_put(struct mqsa_ctx *ctx, const char *group,
                                            const char *name, int exist_ok, int *created,
                                            char *why);

/* ---- rules.c, shared with import ---- */

/* Check a rule's words, subject (existing device or @group) and filter. */
MQS_MUST_CHECK enum mqs_err mqsa_rule_check(struct mqsa_ctx *ctx, const char *effect,
                                            const char *access, const char *subject,
                                            const char *filter, char *why);

/* Insert a checked rule without looking for an identical one (import
 * keeps its own set of the rules there are); *id = the new row. */
MQS_MUST_CHECK enum mqs_err mqsa_rule_insert(struct mqsa_ctx *ctx, const char *effect,
                                             const char *access, const char *subject,
                                             const char *filter, long long priority, long long *id,
                                             char *why);

/* Insert a checked rule; an identical one is an error unless exist_ok
 * (then *id = 0). */
MQS_MUST_CHECK enum mqs_err mqsa_rule_put(struct mqsa_ctx *ctx, const char *effect,
                                          const char *access, const char *subject,
                                          const char *filter, long long priority, int exist_ok,
                                          long long *id, char *why);

/* ---- creds.c: every credentials file the library writes ---- */

/* Serialise device credentials c into a new JSON string *json (free with
 * mqs_secret_free(*json, strlen(*json))), setting "connect_tokens" when the
 * plugin on this database accepts connect tokens (settings table;
 * docs/broker-plugin.md, "Connect tokens").  Every command that writes a
 * device's credentials calls this.  Returns MQS_OK, MQS_ERR_DB or
 * MQS_ERR_NOMEM (why set). */
MQS_MUST_CHECK enum mqs_err mqsa_creds_json(struct mqsa_ctx *ctx, struct mqs_creds *c, char **json,
                                            char *why);

/* ---- topics.c, shared with keys.c and devices.c ---- */

/* 1 when filter is protected, 0 when not, -1 on a database error. */
int mqsa_topic_is_protected(struct mqsa_ctx *ctx, const char *filter);

/* Append every protected filter (sorted) to c's "protected" list. */
MQS_MUST_CHECK enum mqs_err mqsa_topic_add_protected(struct mqsa_ctx *ctx, struct mqs_creds *c,
                                                     char *why);

/* retire_after of a key retired now with grace: now + grace, or now - 1. */
long long mqsa_retire_after(const struct mqsa_ctx *ctx, long long grace);

/* Append id to the comma-separated list ids (cap bytes; "..." when full). */
void mqsa_ids_append(char *ids, size_t cap, unsigned long id);

/* Retire every active topic key of filter for grace seconds. */
MQS_MUST_CHECK enum mqs_err mqsa_topic_retire(struct mqsa_ctx *ctx, const char *filter,
                                              long long grace, char *ids, size_t cap, int *n,
                                              char *why);

/* ---- clientids.c, shared with devices.c ---- */

/* Release clientid or, when NULL, every id of device username. */
MQS_MUST_CHECK enum mqs_err mqsa_clientid_release_rows(struct mqsa_ctx *ctx, const char *clientid,
                                                       const char *username, int *n, char *why);

/* ---- devices.c, shared with rekey.c ---- */

struct mqs_key;

/* The credentials JSON of device name (docs/acl.md, "Devices"): username,
 * TOTP parameters p with secret (secret_len bytes), the device key and the
 * protected filters.  The one builder of a device's credentials (device
 * add, rekey, retotp).  *json is a secret (mqs_secret_free_str). */
MQS_MUST_CHECK enum mqs_err mqsa_device_creds_json(struct mqsa_ctx *ctx, const char *name,
                                                   const struct mqs_totp_params *p,
                                                   const uint8_t *secret, size_t secret_len,
                                                   const struct mqs_key *key, char **json,
                                                   char *why);

/* ---- devices.c ---- */

/* Inside a transaction (master key loaded): read name's TOTP parameters into
 * *p and unwrap its secret into secret (cap bytes), its length in
 * *secret_len.  Returns MQS_OK, MQS_ERR_NOENT (unknown device), MQS_ERR_DB,
 * MQS_ERR_PARSE or MQS_ERR_UNWRAP with a message in why; the caller wipes
 * secret. */
MQS_MUST_CHECK enum mqs_err mqsa_device_totp_load(struct mqsa_ctx *ctx, const char *name,
                                                  struct mqs_totp_params *p, uint8_t *secret,
                                                  size_t cap, size_t *secret_len, char *why);

/* ---- revoke.c: revoking a key holder rotates the key ---- */

/* Inside key export's transaction: record that device name was given
 * filter's active and in-grace topic keys (key_grants, via "export"). */
MQS_MUST_CHECK enum mqs_err mqsa_grants_record(struct mqsa_ctx *ctx, const char *name,
                                               const char *filter, char *why);

/* Inside the transaction of a change called action, before its audit row:
 * when action can take a read right away (device rm/disable, acl rm/add,
 * group member rm, group rm, import), every filter whose current key a
 * holder in key_grants may no longer read (disabled, removed, or without
 * read on the whole filter) gets a new key at once, audited; the holder's
 * grants of it are dropped.  Loads the master key only when a rotation is
 * needed. */
MQS_MUST_CHECK enum mqs_err mqsa_revoke_rotate(struct mqsa_ctx *ctx, const char *action, char *why);

/* ---- keyaccess.c: the only calls into the rule evaluator ---- */

/* The broker's own problem with a rule filter for access word access
 * (NULL: usable); *known = 0 for an unknown access word. */
const char *mqsa_rule_problem(const char *filter, const char *access, int *known);

/* *allowed = 1 when device name's rules (its own and its groups') give
 * read on every topic filter matches. */
MQS_MUST_CHECK enum mqs_err mqsa_read_covers(struct mqsa_ctx *ctx, const char *name,
                                             const char *filter, int *allowed, char *why);

#endif
