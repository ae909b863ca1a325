/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_backup.c - backup and restore of the gateway database (gw_backup.h,
 * docs/backup.md). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gw_backup.h"
#include "mqs_db.h"
#include "mqs_master_key.h"
#include "mqs_util.h"

#define GW_BK_KEY "backup_sign_key"

/* backup keygen (gw_backup.h). */
int gw_backup_keygen(struct gw_store *s, const char *out_path, uint8_t pub[MQS_BACKUP_KEY_LEN],
                     char *err, size_t errlen)
{
	uint8_t x_priv[MQS_BACKUP_KEY_LEN], x_pub[MQS_BACKUP_KEY_LEN], ed_priv[MQS_BACKUP_KEY_LEN];
	uint8_t ed_pub[MQS_BACKUP_KEY_LEN];
	char hex[MQS_BACKUP_SIGN_HEX + 1];
	sqlite3_stmt *st = NULL;
	int rc, wrote = 0;

	rc = mqs_backup_x25519_keygen(x_priv, x_pub);
	if (rc == MQS_OK)
		rc = mqs_backup_ed25519_keygen(ed_priv, ed_pub);
	if (rc == MQS_OK)
		rc = mqs_backup_sign_wrap(s->mk, ed_priv, hex);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot generate the backup keys");
		goto out;
	}
	rc = MQS_ERR_DB;
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
	                       "INSERT INTO kv (key, value) VALUES (?1, ?2) "
	                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	                       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot store the backup key: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	sqlite3_bind_text(st, 1, GW_BK_KEY, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hex, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot store the backup key: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	errno = 0;
	rc = mqs_backup_recovery_write(out_path, x_priv, ed_pub);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot write %s: %s", out_path,
		         rc == MQS_ERR_EXISTS ? "file exists"
		         : errno != 0         ? strerror(errno)
		                              : mqs_strerror(rc));
		goto out;
	}
	wrote = 1;
	rc = MQS_ERR_DB;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot store the backup key: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	memcpy(pub, x_pub, MQS_BACKUP_KEY_LEN);
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	if (rc != MQS_OK) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		if (wrote)
			unlink(out_path);
	}
	OPENSSL_cleanse(x_priv, sizeof(x_priv));
	OPENSSL_cleanse(ed_priv, sizeof(ed_priv));
	OPENSSL_cleanse(hex, sizeof(hex));
	return rc;
}

/* backup --to (gw_backup.h). */
int gw_backup_write(struct gw_store *s, const char *to_path,
                    const uint8_t recipient[MQS_BACKUP_KEY_LEN], const char *host, int64_t now,
                    long long *size, char *err, size_t errlen)
{
	uint8_t priv[MQS_BACKUP_KEY_LEN];
	sqlite3_stmt *st = NULL;
	const char *reason = "";
	int rc = MQS_ERR_DB;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM kv WHERE key = '" GW_BK_KEY "'", -1, &st,
	                       NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read the backup key: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_text(st, 0) == NULL) {
		rc = MQS_ERR_NOENT;
		snprintf(err, errlen,
		         "no backup key in the gateway database (run backup keygen first)");
		goto out;
	}
	rc = mqs_backup_sign_unwrap(s->mk, (const char *)sqlite3_column_text(st, 0), priv);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != MQS_OK) {
		rc = MQS_ERR_UNWRAP;
		snprintf(err, errlen, "the backup key does not open under this master key");
		goto out;
	}
	errno = 0;
	rc = mqs_backup_file_write(to_path, MQS_BACKUP_KIND_GATEWAY, now, host, recipient, priv,
	                           s->mk, MQS_MASTER_KEY_LEN, s->db, size, &reason);
	if (rc != MQS_OK)
		snprintf(err, errlen, "cannot write %s: %s%s%s", to_path, reason,
		         errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
out:
	sqlite3_finalize(st);
	OPENSSL_cleanse(priv, sizeof(priv));
	return rc;
}

/* Unix seconds of a stored time: the gateway keeps milliseconds, a few
 * tables seconds (a value past the year 5000 in seconds is milliseconds). */
static int64_t gw_secs(int64_t v)
{
	return v > 100000000000LL ? v / 1000 : v;
}

/* The newest of the time columns that record a change (created_at,
 * updated_at, received_at, acked_at) over every table of db, in Unix
 * seconds, into *at. */
static int gw_newest_row(sqlite3 *db, int64_t *at)
{
	static const char *const cols[] = {"created_at", "updated_at", "received_at", "acked_at"};
	sqlite3_stmt *tabs = NULL, *st = NULL;
	char sql[512];
	size_t i;
	int rc = MQS_ERR_DB;

	if (sqlite3_prepare_v2(
	        db,
	        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
	        "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
	        -1, &tabs, NULL) != SQLITE_OK)
		goto out;
	for (;;) {
		const char *tab, *col;
		int step = sqlite3_step(tabs), want = 0;

		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW)
			goto out;
		tab = (const char *)sqlite3_column_text(tabs, 0);
		col = (const char *)sqlite3_column_text(tabs, 1);
		if (tab == NULL || col == NULL || strlen(tab) > 100 || strchr(tab, '"') != NULL)
			continue;
		for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
			if (strcmp(col, cols[i]) == 0)
				want = 1;
		if (!want)
			continue;
		snprintf(sql, sizeof(sql), "SELECT coalesce(max(%s), 0) FROM \"%s\"", col, tab);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW)
			goto out;
		if (gw_secs(sqlite3_column_int64(st, 0)) > *at)
			*at = gw_secs(sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
		st = NULL;
	}
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(tabs);
	return rc;
}

/* The time of the last change to the data at db_path, in Unix seconds
 * (0 when none): the newest time column of any row, and the modification
 * time of the database and its write-ahead log, which also move on a change
 * that writes no time (a deletion, an opt-out).  docs/backup.md. */
static int gw_current_time(sqlite3 *db, const char *db_path, int fresh, int64_t *at)
{
	char side[4096];
	struct stat sb;
	int rc;

	*at = 0;
	rc = gw_newest_row(db, at);
	if (rc != MQS_OK || fresh)
		goto out;
	if (stat(db_path, &sb) == 0 && (int64_t)sb.st_mtime > *at)
		*at = (int64_t)sb.st_mtime;
	if (snprintf(side, sizeof(side), "%s-wal", db_path) < (int)sizeof(side) &&
	    stat(side, &sb) == 0 && sb.st_size > 0 && (int64_t)sb.st_mtime > *at)
		*at = (int64_t)sb.st_mtime;
out:
	return rc;
}

/* restore --from (gw_backup.h). */
int gw_backup_restore(const char *db_path, const char *mk_path, const char *from_path,
                      const char *key_path, int force, struct gw_backup_info *info, char *err,
                      size_t errlen)
{
	struct mqs_backup_header hd;
	uint8_t mk[MQS_MASTER_KEY_LEN], old_mk[MQS_MASTER_KEY_LEN];
	const char *reason = "";
	sqlite3 *mem = NULL, *live = NULL;
	struct stat sb;
	int rc, have_old, installed = 0;

	memset(info, 0, sizeof(*info));
	memset(&hd, 0, sizeof(hd));
	rc = mqs_backup_file_read(from_path, MQS_BACKUP_KIND_GATEWAY, key_path, &hd, mk, &mem,
	                          &reason);
	info->created = hd.created;
	snprintf(info->host, sizeof(info->host), "%s", hd.host);
	if (rc != MQS_OK) {
		rc = rc == MQS_ERR_PERM ? MQS_ERR_ENV_AUTH : rc;
		snprintf(err, errlen, "refusing %s: %s; nothing changed", from_path, reason);
		goto out;
	}
	/* the database inside: brought to this build's schema in memory; a newer
	 * one is refused before anything is touched */
	rc = mqs_db_migrate(mem, gw_store_schema, gw_store_schema_count);
	if (rc != MQS_OK) {
		snprintf(
		    err, errlen, "refusing %s: the database in it %s; nothing changed", from_path,
		    rc == MQS_ERR_DB_VERSION ? "is newer than this build" : "does not migrate");
		goto out;
	}
	info->fresh = stat(db_path, &sb) != 0;
	if (info->fresh) {
		/* created 0600 before SQLite opens it, never with the umask's mode */
		int fd = open(db_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0) {
			rc = MQS_ERR_DB;
			snprintf(err, errlen, "cannot create db %s: %s; nothing changed", db_path,
			         strerror(errno));
			info->fresh = 0; /* not ours to remove */
			goto out;
		}
		close(fd);
	}
	if (sqlite3_open_v2(db_path, &live, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = MQS_ERR_DB;
		snprintf(err, errlen, "cannot open db %s: %s", db_path,
		         live != NULL ? sqlite3_errmsg(live) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(live, 5000);
	rc = gw_current_time(live, db_path, info->fresh, &info->current);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot read db %s: %s", db_path, sqlite3_errmsg(live));
		goto out;
	}
	if (!force && hd.created < info->current) {
		rc = MQS_ERR_PERM;
		snprintf(err, errlen,
		         "refusing %s: the backup (made at %lld) is older than the current data "
		         "(last changed at %lld); use --force; nothing changed",
		         from_path, (long long)hd.created, (long long)info->current);
		goto out;
	}
	/* the master key: staged as KEY.new, the database installed, then KEY.new
	 * renamed over KEY (docs/backup.md) */
	have_old = mqs_master_key_load(mk_path, old_mk) == MQS_OK;
	info->mk_changed = !have_old || CRYPTO_memcmp(old_mk, mk, sizeof(mk)) != 0;
	if (info->mk_changed) {
		errno = 0;
		rc = mqs_backup_mk_stage(mk_path, mk);
		if (rc != MQS_OK) {
			snprintf(err, errlen, "cannot write master key %s.new: %s; nothing changed",
			         mk_path, errno != 0 ? strerror(errno) : mqs_strerror(rc));
			goto out;
		}
	}
	rc = mqs_backup_db_install(mem, live);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot replace db %s: %s; nothing changed", db_path,
		         sqlite3_errmsg(live));
		if (info->mk_changed && mqs_backup_mk_commit(mk_path, 1) != MQS_OK)
			snprintf(err, errlen,
			         "cannot replace db %s, and cannot remove master key %s.new",
			         db_path, mk_path);
		goto out;
	}
	installed = 1;
	if (info->mk_changed) {
		errno = 0;
		rc = mqs_backup_mk_commit(mk_path, 0);
		if (rc != MQS_OK)
			snprintf(
			    err, errlen,
			    "the database is restored but cannot rename master key %s.new over %s: "
			    "%s; rename it by hand before starting the gateway",
			    mk_path, mk_path, errno != 0 ? strerror(errno) : mqs_strerror(rc));
	}
out:
	if (mem != NULL)
		sqlite3_close_v2(mem);
	if (live != NULL)
		sqlite3_close_v2(live);
	if (rc != MQS_OK && info->fresh && !installed) {
		/* nothing changed: not even an empty database left behind */
		char side[4096];

		unlink(db_path);
		if (snprintf(side, sizeof(side), "%s-wal", db_path) < (int)sizeof(side))
			unlink(side);
		if (snprintf(side, sizeof(side), "%s-shm", db_path) < (int)sizeof(side))
			unlink(side);
	}
	OPENSSL_cleanse(mk, sizeof(mk));
	OPENSSL_cleanse(old_mk, sizeof(old_mk));
	return rc;
}
