/* acl.h - mqttsec-acl (docs/acl.md): shared state, helpers and the commands.
 *
 * main.c parses the global options (-d DB, -k MASTER_KEY_FILE, --json) and
 * dispatches to one acl_cmd_* function per command group, each in its own
 * file (cmd_init.c, cmd_device.c, cmd_list.c, cmd_group.c, cmd_acl.c,
 * cmd_audit.c, cmd_export.c, cmd_topic.c, cmd_key.c, cmd_clientid.c).  A new group is one
 * more row in main.c's table and one more cmd_*.c file.  keyaccess.c
 * decides key export with the broker plugin's rule evaluation
 * (broker-plugin/acl.c, linked in).
 *
 * ctx.c opens the database and the master key on demand, runs each change
 * in one transaction (BEGIN IMMEDIATE ... COMMIT) that also writes exactly
 * one audit row (acl_tx_run, acl_row_delete), and names the OS user.
 * output.c runs listings (acl_list_rows) and prints them as a table or,
 * with --json, as a JSON array (cJSON).
 *
 * Ownership: struct acl_ctx is owned by main(); commands borrow it.
 * acl_ctx_release() closes the database and wipes the master key.
 * Commands return a sysexits.h code and print their own one-line error on
 * stderr.  Helpers that can fail write a lowercase reason into a caller
 * buffer why[ACL_WHY_MAX] and return a sysexits.h code, so the import
 * command can prefix FILE:LINE.
 */
#ifndef ACL_ACL_H
#define ACL_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "mqs_master_key.h"

#define ACL_PROG          "mqttsec-acl"
#define ACL_WHY_MAX       512
#define ACL_NAME_MAX      64                   /* device and group names */
#define ACL_PATTERN_MAX   256                  /* clientid/username list patterns */
#define ACL_REASON_MAX    200                  /* list entry reasons */
#define ACL_FILTER_MAX    65535                /* ACL topic filters (MQTT limit) */
#define ACL_TTL_MAX       (10 * 365 * 86400LL) /* ten years */
#define ACL_WHO_MAX       64                   /* one user name in the audit "who" */
#define ACL_DETAIL_MAX    1024                 /* audit detail of one change */
#define ACL_OPTS_MAX      12                   /* long options of one command (acl_parse_opts) */
#define ACL_GRACE_DEFAULT 86400                /* seconds a retired topic key stays usable */

/* Defaults of docs/acl.md when neither option nor environment is given. */
#define ACL_DEFAULT_DB  "/var/lib/mqttsec/mqttsec.db"
#define ACL_DEFAULT_KEY "/etc/mqttsec/master.key"

/* State shared by every command. */
struct acl_ctx {
	const char *db_path;  /* -d DB, $MQTTSEC_DB or ACL_DEFAULT_DB */
	const char *key_path; /* -k FILE, $MQTTSEC_MASTER_KEY_FILE or ACL_DEFAULT_KEY */
	int json;             /* --json: listings print a JSON array */
	sqlite3 *db;          /* opened by acl_ctx_db() */
	int have_mk;          /* mk holds the loaded master key */
	uint8_t mk[MQS_MASTER_KEY_LEN];
	/* audit rows and created_by: the OS user, or "SUDO_USER via root" */
	char who[2 * ACL_WHO_MAX + sizeof(" via ")];
	time_t now; /* one clock reading per run */
};

/* One entry of a command table: "name args" is its usage. */
struct acl_cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*fn)(struct acl_ctx *ctx, int argc, char **argv);
};

/* ---- commands: argv[0] is the command name; return a sysexits.h code ---- */

/* cmd_init.c: init - create master key and database when absent. */
int acl_cmd_init(struct acl_ctx *ctx, int argc, char **argv);
/* cmd_device.c: device add|list|rm|disable|enable|qr. */
int acl_cmd_device(struct acl_ctx *ctx, int argc, char **argv);
/* cmd_list.c: list add|rm|show|purge - allow/deny lists. */
int acl_cmd_list(struct acl_ctx *ctx, int argc, char **argv);
/* cmd_group.c: group add|rm|list, group member add|rm. */
int acl_cmd_group(struct acl_ctx *ctx, int argc, char **argv);
/* cmd_acl.c: acl add|rm|show - topic ACL rules. */
int acl_cmd_acl(struct acl_ctx *ctx, int argc, char **argv);
/* cmd_audit.c: audit - the change log. */
int acl_cmd_audit(struct acl_ctx *ctx, int argc, char **argv);
/* cmd_export.c: export - lists, groups and rules as text. */
int acl_cmd_export(struct acl_ctx *ctx, int argc, char **argv);
/* cmd_export.c: import FILE - apply an export in one transaction. */
int acl_cmd_import(struct acl_ctx *ctx, int argc, char **argv);
/* cmd_topic.c: topic protect|unprotect|list - protected topics. */
int acl_cmd_topic(struct acl_ctx *ctx, int argc, char **argv);
/* cmd_key.c: key rotate|export|list - keys of protected topics. */
int acl_cmd_key(struct acl_ctx *ctx, int argc, char **argv);
/* cmd_clientid.c: clientid list|release - owned client ids. */
int acl_cmd_clientid(struct acl_ctx *ctx, int argc, char **argv);

/* ---- main.c: usage and dispatch ---- */

/* Print "mqttsec-acl: " + message + newline on stderr. */
void acl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "usage: mqttsec-acl [OPTIONS] <words> <args>" for a command on
 * stream f (the global options are spelled out once). */
void acl_usage_line(FILE *f, const char *words, const char *args);

/* Dispatch argv[1] (argv[0] = group name, e.g. "device") to the matching
 * entry of cmds; unknown or missing subcommands print the group usage on
 * stderr and return EX_USAGE.  "-h"/"--help"/"help" print it on stdout. */
int acl_dispatch(struct acl_ctx *ctx, const char *group, const struct acl_cmd *cmds, size_t n,
                 int argc, char **argv);

/* Parse a command's options: only -h/--help and --json (when json_ok)
 * plus the long options in extra (may be NULL, terminated by a zero
 * entry; more than ACL_OPTS_MAX is a bug: EX_SOFTWARE).  For each option
 * in extra, handler(opt, optarg, arg) is called and returns EX_OK or an
 * exit code.  On success *first is the index of the first operand and the
 * operand count is checked against min..max (max < 0: unlimited).  words
 * is the usage prefix, e.g. "list add".  Returns EX_OK, EX_USAGE (usage
 * printed) or -1 after -h (usage printed on stdout; the caller exits 0). */
struct option;
int acl_parse_opts(struct acl_ctx *ctx, int argc, char **argv, const char *words, const char *args,
                   int json_ok, const struct option *extra,
                   int (*handler)(int opt, const char *optarg, void *arg), void *arg, int min,
                   int max, int *first);

/* ---- ctx.c: database, master key, transactions, audit ---- */

/* Initialise ctx from the environment (paths, OS user, clock).  The user
 * is the name of the effective uid; when the real uid is root and
 * $SUDO_USER is set, "SUDO_USER via NAME" (a non-root caller cannot pose
 * as someone else by setting $SUDO_USER). */
void acl_ctx_init(struct acl_ctx *ctx);

/* Close the database and wipe the master key.  NULL is fine. */
void acl_ctx_release(struct acl_ctx *ctx);

/* Open ctx->db_path (must exist; migrations applied) unless already open.
 * Prints the error itself; returns a sysexits.h code. */
int acl_ctx_db(struct acl_ctx *ctx);

/* Load the master key from ctx->key_path unless loaded.  Prints the error
 * itself; returns a sysexits.h code. */
int acl_ctx_master_key(struct acl_ctx *ctx);

/* BEGIN IMMEDIATE.  Returns EX_OK or a code with why filled. */
int acl_tx_begin(struct acl_ctx *ctx, char *why);

/* Write one audit row (action, detail) and COMMIT; on failure roll back.
 * Returns EX_OK or a code with why filled. */
int acl_tx_commit(struct acl_ctx *ctx, const char *action, const char *detail, char *why);

/* ROLLBACK when a transaction is open; never fails. */
void acl_tx_rollback(struct acl_ctx *ctx);

/* Returned by an acl_tx_run change that finds nothing to change: the
 * transaction is rolled back without an audit row and acl_tx_run returns
 * it (not a sysexits.h code: the caller reports and exits 0). */
#define ACL_TX_SKIP (-2)

/* Run one change as BEGIN IMMEDIATE, change(), one audit row (action and
 * the detail change wrote), COMMIT; roll back on any failure.  change gets
 * arg, detail (ACL_DETAIL_MAX bytes, "" when untouched: a non-secret
 * summary) and why, and returns EX_OK, ACL_TX_SKIP or a code with why
 * filled.  On failure the error is printed (one line; nothing when change
 * left why empty because it printed its own).  Returns EX_OK after the
 * commit, ACL_TX_SKIP or the failure's code.  Nothing is printed on
 * success: the caller reports. */
int acl_tx_run(struct acl_ctx *ctx, const char *action,
               int (*change)(struct acl_ctx *ctx, void *arg, char *detail, char *why), void *arg);

/* A "... rm ID" command: the row it deletes and how the audit names it. */
struct acl_row_del {
	const char *words;  /* usage words and audit action, e.g. "acl rm" */
	const char *what;   /* the row in messages: "unknown acl rule 7" */
	const char *select; /* reads the row with id ?1 for describe */
	const char *del;    /* deletes the row with id ?1 */
	/* write the audit detail of row st (id) into detail (ACL_DETAIL_MAX) */
	void (*describe)(sqlite3_stmt *st, long long id, char *detail);
};

/* Run "WORDS ID" (argv[0] is the subcommand): check ID, then in one
 * transaction (acl_tx_run) read the row (unknown: EX_DATAERR), delete it
 * and write the audit row; print "WHAT ID removed".  Errors are printed.
 * Returns a sysexits.h code (-1 after -h, as acl_parse_opts). */
int acl_row_delete(struct acl_ctx *ctx, int argc, char **argv, const struct acl_row_del *d);

/* Fill why with "cannot WHAT: <sqlite message>" and return EX_TEMPFAIL
 * when the database is busy, else EX_SOFTWARE. */
int acl_db_fail(struct acl_ctx *ctx, char *why, const char *what);

/* Format into why (ACL_WHY_MAX bytes) and return ex. */
int acl_fail(char *why, int ex, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepare sql on ctx->db; on failure fill why and return non-EX_OK. */
int acl_prepare(struct acl_ctx *ctx, const char *sql, sqlite3_stmt **st, char *why);

/* Run sql with text parameter ?1 = param: return 1 when it yields a row, 0
 * when not, -1 on a database error. */
int acl_row_exists(struct acl_ctx *ctx, const char *sql, const char *param);

/* Run a statement (DELETE, UPDATE, INSERT) with text parameters ?1 = a and,
 * unless b is NULL, ?2 = b; *n (may be NULL) gets the changed row count.
 * Returns EX_OK or a code with why filled. */
int acl_exec_text(struct acl_ctx *ctx, const char *sql, const char *a, const char *b, int *n,
                  char *why);

/* Return 1 when device name exists, 0 when not, -1 on a database error. */
int acl_device_exists(struct acl_ctx *ctx, const char *name);

/* Return 1 when group name exists, 0 when not, -1 on a database error. */
int acl_group_exists(struct acl_ctx *ctx, const char *name);

/* ---- validate.c: operands shared by commands and import ---- */

/* A device or group name: 1..ACL_NAME_MAX bytes of [A-Za-z0-9._-].
 * Returns EX_OK or EX_DATAERR with why filled (what = "device"/"group"). */
int acl_name_check(const char *name, const char *what, char *why);

/* Text for a list reason, a clientid pattern and the like: 1..max bytes
 * (0 allowed when empty_ok), no control characters.  Returns EX_OK or
 * EX_DATAERR with why filled. */
int acl_text_check(const char *text, size_t max, int empty_ok, const char *what, char *why);

/* "allow"/"deny".  Returns EX_OK or EX_DATAERR. */
int acl_effect_check(const char *effect, char *why);

/* An ACL topic filter: a valid MQTT filter of at most ACL_FILTER_MAX
 * bytes where '%' only appears as %u or %c.  Returns EX_OK or EX_DATAERR. */
int acl_filter_check(const char *filter, char *why);

/* Parse a TTL: a positive integer with an optional unit s, m, h or d, at
 * most ten years.  Returns EX_OK or EX_DATAERR. */
int acl_ttl_parse(const char *text, long long *seconds, char *why);

/* Parse a decimal integer in lo..hi.  Returns EX_OK or EX_DATAERR. */
int acl_int_parse(const char *text, long long lo, long long hi, const char *what, long long *out,
                  char *why);

/* ---- output.c: listings ---- */

/* A table column: key of the JSON object member, header text. */
struct acl_column {
	const char *key;
	const char *header;
};

/* Print rows (a cJSON array of objects) as JSON when ctx->json, else as a
 * table of the given columns (strings with control characters shown as
 * '?', booleans as yes/no, arrays joined with ','; "-" for absent).  An
 * empty table prints only the header.  Takes no ownership.  Returns EX_OK
 * or EX_IOERR (stdout failed). */
int acl_output(const struct acl_ctx *ctx, const cJSON *rows, const struct acl_column *cols,
               size_t ncols);

/* Run a listing: prepare sql, call bind (may be NULL) to bind its
 * parameters, call row for every result row (it appends an object to rows,
 * or extends the last one; returns 1, or 0 when out of memory), then print
 * rows with acl_output.  bind and row get arg.  what names the rows in
 * errors ("cannot read WHAT: ...", "cannot list WHAT: out of memory"),
 * which are printed.  Returns a sysexits.h code. */
int acl_list_rows(struct acl_ctx *ctx, const char *sql,
                  void (*bind)(const struct acl_ctx *ctx, sqlite3_stmt *st, void *arg),
                  int (*row)(const struct acl_ctx *ctx, sqlite3_stmt *st, cJSON *rows, void *arg),
                  void *arg, const char *what, const struct acl_column *cols, size_t ncols);

/* Format t as ISO 8601 UTC ("2024-05-01T12:00:00Z") into buf (>= 21 bytes). */
void acl_time_iso(long long t, char *buf, size_t cap);

/* Add a string member to obj; returns 0 on allocation failure. */
int acl_json_str(cJSON *obj, const char *key, const char *value);

/* Add a number member to obj; returns 0 on allocation failure. */
int acl_json_num(cJSON *obj, const char *key, long long value);

/* Add a boolean member to obj; returns 0 on allocation failure. */
int acl_json_bool(cJSON *obj, const char *key, int value);

/* ---- shared by a command and import ---- */

/* cmd_list.c: normalise a list pattern for match ("clientid", "username",
 * "ip") into out (cap bytes): ip patterns become the canonical CIDR text,
 * username patterns must name an existing device.  Returns EX_OK or a code
 * with why filled. */
int acl_list_pattern(struct acl_ctx *ctx, const char *match, const char *pattern, char *out,
                     size_t cap, char *why);

/* cmd_list.c: check kind and match words.  Returns EX_OK or EX_DATAERR. */
int acl_list_words(const char *kind, const char *match, char *why);

/* cmd_list.c: insert or, when replace is non-zero, update the unexpired
 * entry with the same kind/match/pattern (expires_at 0 = never).  Without
 * replace an existing unexpired entry is an error.  *id gets the row id.
 * Inside a transaction.  Returns EX_OK or a code with why filled. */
int acl_list_put(struct acl_ctx *ctx, const char *kind, const char *match, const char *pattern,
                 long long expires_at, const char *reason, int replace, long long *id, char *why);

/* cmd_clientid.c: release clientid (whoever holds it) or, when clientid
 * is NULL, every client id bound to device username: delete the bindings
 * (*n gets how many, n may be NULL) and record the release for the running
 * plugin.  Inside a transaction.  Returns EX_OK or a code with why filled. */
int acl_clientid_release(struct acl_ctx *ctx, const char *clientid, const char *username, int *n,
                         char *why);

/* cmd_group.c: create group (must not exist unless exist_ok).  *created
 * (may be NULL) is 1 when a row was added.  Inside a transaction. */
int acl_group_put(struct acl_ctx *ctx, const char *group, int exist_ok, int *created, char *why);

/* cmd_group.c: add device name to group (both must exist; already a
 * member is an error unless exist_ok).  Inside a transaction. */
int acl_member_put(struct acl_ctx *ctx, const char *group, const char *name, int exist_ok,
                   int *created, char *why);

/* cmd_acl.c: check an ACL rule's words, subject (existing device or
 * @group) and filter. */
int acl_rule_check(struct acl_ctx *ctx, const char *effect, const char *access, const char *subject,
                   const char *filter, char *why);

/* cmd_acl.c: insert a checked rule; an identical rule (effect, access,
 * subject, filter, priority) is an error unless exist_ok, which skips it.
 * *id gets the row id (0 when skipped).  Inside a transaction. */
int acl_rule_put(struct acl_ctx *ctx, const char *effect, const char *access, const char *subject,
                 const char *filter, long long priority, int exist_ok, long long *id, char *why);

/* cmd_topic.c: a protected topic filter: an ACL filter without %u/%c.
 * Returns EX_OK or EX_DATAERR with why filled. */
int acl_protected_filter_check(const char *filter, char *why);

/* cmd_topic.c: parse a grace period: "0" or a TTL (see acl_ttl_parse).
 * Returns EX_OK or EX_DATAERR with why filled. */
int acl_grace_parse(const char *text, long long *seconds, char *why);

/* cmd_topic.c: return 1 when filter is protected, 0 when not, -1 on a
 * database error (acl_row_exists). */
int acl_topic_is_protected(struct acl_ctx *ctx, const char *filter);

/* cmd_topic.c: append every protected filter (sorted) to c's "protected"
 * list.  Returns EX_OK or a code with why filled. */
struct mqs_creds;
int acl_topic_add_protected(struct acl_ctx *ctx, struct mqs_creds *c, char *why);

/* cmd_topic.c: the retire_after of a key retired now with grace seconds:
 * now + grace, or now - 1 for grace 0 (a retired key with retire_after <
 * now is dead). */
long long acl_retire_after(const struct acl_ctx *ctx, long long grace);

/* cmd_topic.c: append id to the comma-separated list ids (cap bytes,
 * NUL-terminated; ends in "..." when full). */
void acl_ids_append(char *ids, size_t cap, unsigned long id);

/* cmd_topic.c: retire every active topic key of filter for grace seconds;
 * *n gets the count and ids (cap bytes, may be 0) their ids.  Inside a
 * transaction.  Returns EX_OK or a code with why filled. */
int acl_topic_retire(struct acl_ctx *ctx, const char *filter, long long grace, char *ids,
                     size_t cap, int *n, char *why);

/* keyaccess.c: *allowed = 1 when device name's ACL (its rules and its
 * groups') gives read on every topic filter matches, with the broker
 * plugin's evaluation (allow rules covering filter against deny rules
 * overlapping it).  Returns EX_OK or a code with why filled. */
int acl_read_covers(struct acl_ctx *ctx, const char *name, const char *filter, int *allowed,
                    char *why);

#endif
