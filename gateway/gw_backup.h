/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_backup.h - encrypted backup and restore of the gateway database
 * (docs/backup.md): the file format and the SQLite copies are
 * lib/mqs_backup.h; this module keeps the gateway's backup key (kv row
 * backup_sign_key, wrapped under the gateway master key) and decides what
 * "current data" is for the gateway (the last change to the database: the
 * newest time column of any row and the database file times).
 *
 * Ownership: callers own every buffer and the store; nothing here prints.
 * On failure err gets a lowercase reason and nothing was changed.
 */
#ifndef GW_BACKUP_H
#define GW_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "gw_store.h"
#include "mqs_backup.h"

/* What a restore found and did. */
struct gw_backup_info {
	int64_t created; /* when the backup was made (Unix seconds) */
	char host[MQS_BACKUP_HOST_MAX + 1];
	int64_t current; /* the last change to the data it replaced (0: none) */
	int mk_changed;  /* the master key file was written: restart the gateway */
	int fresh;       /* the database did not exist before */
};

/* Create the recovery pair and the gateway's backup key (kv row, replacing
 * an earlier one); write out_path (0600, never over an existing file);
 * pub gets the recovery public key.  Returns MQS_OK, MQS_ERR_EXISTS,
 * MQS_ERR_IO, MQS_ERR_DB, MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int gw_backup_keygen(struct gw_store *s, const char *out_path,
                                    uint8_t pub[MQS_BACKUP_KEY_LEN], char *err, size_t errlen);

/* Write an encrypted backup of the store's database and master key to
 * to_path, encrypted to recipient, signed with the backup key, made at
 * now on host.  *size gets the file size.  Returns MQS_OK, MQS_ERR_NOENT
 * (no backup key: run backup keygen), MQS_ERR_UNWRAP, MQS_ERR_DB,
 * MQS_ERR_IO, MQS_ERR_CRYPTO. */
MQS_MUST_CHECK int gw_backup_write(struct gw_store *s, const char *to_path,
                                   const uint8_t recipient[MQS_BACKUP_KEY_LEN], const char *host,
                                   int64_t now, long long *size, char *err, size_t errlen);

/* Verify the whole backup from_path with the recovery key file key_path,
 * then replace the database db_path (created when absent) in one step of
 * SQLite's backup API; a different master key is written to mk_path first
 * (put back on failure).  Without force a backup made before the newest
 * message received is refused (MQS_ERR_PERM).  Errors of the file are
 * those of mqs_backup_read (a signature that does not verify:
 * MQS_ERR_ENV_AUTH).  info is filled as far as known. */
MQS_MUST_CHECK int gw_backup_restore(const char *db_path, const char *mk_path,
                                     const char *from_path, const char *key_path, int force,
                                     struct gw_backup_info *info, char *err, size_t errlen);

#endif
