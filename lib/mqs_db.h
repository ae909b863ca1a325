/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_db.h - SQLite helpers: open with safe pragmas, versioned migrations.
 *
 * Ownership: mqs_db_open() hands back a connection the caller closes with
 * sqlite3_close_v2().  On failure *db is NULL and nothing is left open.
 */
#ifndef MQS_DB_H
#define MQS_DB_H

#include <stddef.h>

#include <sqlite3.h>

#include "mqs_error.h"

#define MQS_DB_CREATE   0x01 /* create the file (mode 0600) when absent */
#define MQS_DB_READONLY 0x02 /* open read-only; no migration is run */

/* Open path with WAL journaling, busy timeout 5 s, foreign keys on, then
 * bring the schema to the newest version with mqs_db_migrate(migrations,
 * count) unless MQS_DB_READONLY.  Returns MQS_OK, MQS_ERR_NOENT (absent and
 * no MQS_DB_CREATE), MQS_ERR_DB, MQS_ERR_DB_VERSION.  When errbuf is not NULL
 * a lowercase message is written there on failure. */
int mqs_db_open(const char *path, int flags, const char *const *migrations, int count, sqlite3 **db,
                char *errbuf, size_t errlen);

/* Apply migrations[user_version .. count-1], each in its own transaction
 * that also sets PRAGMA user_version.  A database whose user_version is
 * above count gives MQS_ERR_DB_VERSION and is left untouched. */
MQS_MUST_CHECK int mqs_db_migrate(sqlite3 *db, const char *const *migrations, int count);

/* The broker database schema (keys, devices, lists, ACLs, audit), shared by
 * mqttsec-acl and the broker plugin. */
extern const char *const mqs_broker_schema[];
extern const int mqs_broker_schema_count;

#endif
