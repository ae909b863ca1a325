/* SPDX-License-Identifier: BSD-3-Clause */
/* acl.h - mqttsec-acl (docs/acl.md): the command-line front end of the
 * admin library (admin/mqsa.h), which does every operation, its checks,
 * its transaction and its audit row.
 *
 * main.c parses the global options (-d DB, -k MASTER_KEY_FILE, --json),
 * names the OS user, opens the admin context and dispatches to one
 * acl_cmd_* function per command group, each in its own file (cmd_init.c,
 * cmd_device.c, cmd_list.c, cmd_group.c, cmd_acl.c, cmd_audit.c,
 * cmd_export.c, cmd_topic.c, cmd_key.c, cmd_clientid.c): they parse
 * options, call mqsa_* and format the result.  A new group is one more row
 * in main.c's table and one more cmd_*.c file.  output.c prints listings
 * as a table or, with --json, as a JSON array (cJSON); acl_ex() maps the
 * library's enum mqs_err to sysexits.h codes.
 *
 * Ownership: struct acl_ctx is owned by main(); commands borrow it.
 * acl_ctx_release() closes the admin context (database, master key).
 * Commands return a sysexits.h code and print their own one-line error on
 * stderr: the library's reason (why[ACL_WHY_MAX]) when it fails.
 */
#ifndef ACL_ACL_H
#define ACL_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "mqsa.h"

#define ACL_PROG     "mqttsec-acl"
#define ACL_WHY_MAX  MQSA_WHY_MAX
#define ACL_WHO_MAX  64 /* one user name in the audit "who" */
#define ACL_OPTS_MAX 12 /* long options of one command (acl_parse_opts) */

/* Defaults of docs/acl.md when neither option nor environment is given. */
#define ACL_DEFAULT_DB  "/var/lib/mqttsec/mqttsec.db"
#define ACL_DEFAULT_KEY "/etc/mqttsec/master.key"

/* State shared by every command. */
struct acl_ctx {
	const char *db_path;  /* -d DB, $MQTTSEC_DB or ACL_DEFAULT_DB */
	const char *key_path; /* -k FILE, $MQTTSEC_MASTER_KEY_FILE or ACL_DEFAULT_KEY */
	int json;             /* --json: listings print a JSON array */
	/* audit rows and created_by: the OS user, or "SUDO_USER via root" */
	char who[2 * ACL_WHO_MAX + sizeof(" via ")];
	struct mqsa_ctx *adm; /* the admin library context, opened by main() */
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

/* backup keygen|--to ..., restore --from ... (cmd_backup.c) */
int acl_cmd_backup(struct acl_ctx *ctx, int argc, char **argv);
int acl_cmd_restore(struct acl_ctx *ctx, int argc, char **argv);

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

/* ---- main.c: the admin context, errors ---- */

/* Initialise ctx from the environment (paths, OS user).  The user is the
 * name of the effective uid; when the real uid is root and $SUDO_USER is
 * set, "SUDO_USER via NAME" (a non-root caller cannot pose as someone else
 * by setting $SUDO_USER). */
void acl_ctx_init(struct acl_ctx *ctx);

/* Close the admin context.  NULL is fine. */
void acl_ctx_release(struct acl_ctx *ctx);

/* Open the database (mqsa_ctx_db).  Prints the error itself; returns a
 * sysexits.h code. */
int acl_ctx_db(struct acl_ctx *ctx);

/* Load the master key (mqsa_ctx_master_key).  Prints the error itself;
 * returns a sysexits.h code. */
int acl_ctx_master_key(struct acl_ctx *ctx);

/* The sysexits.h code of an admin library result. */
int acl_ex(const struct acl_ctx *ctx, enum mqs_err rc);

/* EX_OK for MQS_OK; otherwise print why (when not empty) and return
 * acl_ex(rc). */
int acl_report(const struct acl_ctx *ctx, enum mqs_err rc, const char *why);

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

/* Finish a listing: on rc != MQS_OK print why and return its code (a
 * partial listing is not printed), else print rows (acl_output). */
int acl_listed(const struct acl_ctx *ctx, enum mqs_err rc, const cJSON *rows, const char *why,
               const struct acl_column *cols, size_t ncols);

/* Fill why with "cannot list WHAT: out of memory"; return MQS_ERR_NOMEM. */
enum mqs_err acl_nomem(char *why, const char *what);

/* cmd_acl.c: parse the operand of "WORDS ID" (a positive integer) and open
 * the database.  Errors are printed; returns a sysexits.h code (-1 after
 * -h, as acl_parse_opts). */
int acl_id_operand(struct acl_ctx *ctx, int argc, char **argv, const char *words, long long *id);

/* Format t as ISO 8601 UTC ("2024-05-01T12:00:00Z") into buf (>= 21 bytes). */
void acl_time_iso(long long t, char *buf, size_t cap);

/* Add a string member to obj; returns 0 on allocation failure. */
int acl_json_str(cJSON *obj, const char *key, const char *value);

/* Add a number member to obj; returns 0 on allocation failure. */
int acl_json_num(cJSON *obj, const char *key, long long value);

/* Add a boolean member to obj; returns 0 on allocation failure. */
int acl_json_bool(cJSON *obj, const char *key, int value);

#endif
