/* SPDX-License-Identifier: BSD-3-Clause */
/* backup.c - encrypted backup and restore of the broker database
 * (docs/backup.md): the box's backup key, the backup file, and a restore
 * that verifies everything before it replaces the live database through
 * SQLite's backup API. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mqs_backup.h"
#include "mqs_db.h"
#include "mqs_util.h"
#include "mqsa_int.h"

#define BK_SETTING_KEY  "backup_sign_key"
#define BK_SETTING_PUB  "backup_sign_pub"
#define BK_RESTORE_NAME "backup restore"

/* backup keygen's change: store the wrapped signing key, write the file. */
struct keygen_arg {
	const char *out_path;
	uint8_t x_priv[MQS_BACKUP_KEY_LEN];
	uint8_t x_pub[MQS_BACKUP_KEY_LEN];
	uint8_t ed_priv[MQS_BACKUP_KEY_LEN];
	uint8_t ed_pub[MQS_BACKUP_KEY_LEN];
	int wrote;
};

/* Upsert settings row name = value. */
static enum mqs_err setting_put(struct mqsa_ctx *ctx, sqlite3 *db, const char *name,
                                const char *value, char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc = MQS_ERR_DB;

	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO settings (name, value) VALUES (?1, ?2) "
	                       "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
	                       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	rc = MQS_OK;
	goto out;
fail:
	rc = mqsa_fail(why, MQS_ERR_DB, "cannot write setting %s: %s", name, sqlite3_errmsg(db));
	(void)ctx;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Store the signing key wrapped under the master key, then write the
 * recovery key file. */
static enum mqs_err keygen_change(struct mqsa_ctx *ctx, void *data, char *detail, int *skip,
                                  char *why)
{
	struct keygen_arg *a = data;
	char hex[MQS_BACKUP_SIGN_HEX + 1], pubhex[2 * MQS_BACKUP_KEY_LEN + 1];
	enum mqs_err rc;

	(void)skip;
	rc = mqs_backup_sign_wrap(ctx->mk, a->ed_priv, hex);
	if (rc != MQS_OK) {
		rc = mqsa_fail(why, MQS_ERR_CRYPTO, "cannot wrap the backup key");
		goto out;
	}
	mqs_hex_encode(a->ed_pub, MQS_BACKUP_KEY_LEN, pubhex);
	rc = setting_put(ctx, ctx->db, BK_SETTING_KEY, hex, why);
	if (rc == MQS_OK)
		rc = setting_put(ctx, ctx->db, BK_SETTING_PUB, pubhex, why);
	if (rc != MQS_OK)
		goto out;
	errno = 0;
	rc = mqs_backup_recovery_write(a->out_path, a->x_priv, a->ed_pub);
	if (rc == MQS_ERR_EXISTS) {
		rc = mqsa_fail(why, rc, "cannot write %s: file exists", a->out_path);
		goto out;
	}
	if (rc != MQS_OK) {
		rc = mqsa_fail(why, MQS_ERR_IO, "cannot write %s: %s", a->out_path,
		               errno != 0 ? strerror(errno) : mqs_strerror(rc));
		goto out;
	}
	a->wrote = 1;
	snprintf(detail, MQSA_DETAIL_MAX, "signing key %.16s", pubhex);
out:
	OPENSSL_cleanse(hex, sizeof(hex));
	return rc;
}

/* backup keygen (mqsa.h). */
enum mqs_err mqsa_backup_keygen(struct mqsa_ctx *ctx, const char *out_path,
                                uint8_t pub[MQS_BACKUP_KEY_LEN], char *why)
{
	struct keygen_arg a;
	enum mqs_err rc;

	memset(&a, 0, sizeof(a));
	why[0] = '\0';
	a.out_path = out_path;
	rc = mqsa_ctx_master_key(ctx, why);
	if (rc != MQS_OK)
		goto out;
	if (mqs_backup_x25519_keygen(a.x_priv, a.x_pub) != MQS_OK ||
	    mqs_backup_ed25519_keygen(a.ed_priv, a.ed_pub) != MQS_OK) {
		rc = mqsa_fail(why, MQS_ERR_CRYPTO, "cannot generate the backup keys");
		goto out;
	}
	rc = mqsa_tx_run(ctx, "backup keygen", keygen_change, &a, NULL, why);
	if (rc != MQS_OK && a.wrote)
		unlink(out_path);
	if (rc == MQS_OK)
		memcpy(pub, a.x_pub, MQS_BACKUP_KEY_LEN);
out:
	OPENSSL_cleanse(&a, sizeof(a));
	return rc;
}

/* Load and unwrap the box's signing key. */
static enum mqs_err sign_key_load(struct mqsa_ctx *ctx, uint8_t priv[MQS_BACKUP_KEY_LEN], char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	rc = mqsa_prepare(ctx, "SELECT value FROM settings WHERE name = '" BK_SETTING_KEY "'", &st,
	                  why);
	if (rc != MQS_OK)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = mqsa_fail(why, MQS_ERR_NOENT, "no backup key in %s (run backup keygen first)",
		               ctx->db_path);
		goto out;
	}
	rc = mqs_backup_sign_unwrap(ctx->mk, mqsa_col(st, 0), priv);
	if (rc != MQS_OK)
		rc = mqsa_fail(why, MQS_ERR_UNWRAP,
		               "the backup key in %s does not open under this master key",
		               ctx->db_path);
out:
	sqlite3_finalize(st);
	return rc;
}

/* backup --to (mqsa.h). */
enum mqs_err mqsa_backup_write(struct mqsa_ctx *ctx, const char *to_path,
                               const uint8_t recipient[MQS_BACKUP_KEY_LEN], const char *host,
                               long long *size, char *why)
{
	uint8_t priv[MQS_BACKUP_KEY_LEN];
	const char *reason = "";
	enum mqs_err rc;

	why[0] = '\0';
	if (size != NULL)
		*size = 0;
	rc = mqsa_ctx_db(ctx, why);
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(ctx, why);
	if (rc == MQS_OK)
		rc = sign_key_load(ctx, priv, why);
	if (rc != MQS_OK)
		goto out;
	errno = 0;
	rc = mqs_backup_file_write(to_path, MQS_BACKUP_KIND_BROKER, (int64_t)ctx->now, host,
	                           recipient, priv, ctx->mk, MQS_MASTER_KEY_LEN, ctx->db, size,
	                           &reason);
	if (rc == MQS_ERR_DB)
		mqsa_db_fail(ctx, why, "copy the database");
	else if (rc != MQS_OK)
		mqsa_fail(why, rc, "cannot write %s: %s%s%s", to_path, reason,
		          errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
out:
	OPENSSL_cleanse(priv, sizeof(priv));
	return rc;
}

/* The time of the current data: the newest audit row that is not a
 * restore (docs/backup.md, "Restore"); 0 for an empty database. */
static enum mqs_err current_time(struct mqsa_ctx *ctx, long long *at, char *why)
{
	sqlite3_stmt *st = NULL;
	enum mqs_err rc;

	*at = 0;
	rc = mqsa_prepare(
	    ctx, "SELECT coalesce(max(at), 0) FROM audit WHERE action <> '" BK_RESTORE_NAME "'",
	    &st, why);
	if (rc != MQS_OK)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = mqsa_db_fail(ctx, why, "read the audit log");
		goto out;
	}
	*at = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Keep every topic key's seal count at least what the live database counts:
 * the plugin counts seals without an audit row, and a restored lower count
 * would let a key seal past plugin_opt_key_max_seals (docs/backup.md). */
static int restore_seals(struct mqsa_ctx *ctx, sqlite3 *mem)
{
	sqlite3_stmt *sel = NULL, *up = NULL;
	int rc = MQS_ERR_DB, step;

	if (sqlite3_prepare_v2(ctx->db, "SELECT id, sealed FROM keys WHERE purpose = 'topic'", -1,
	                       &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(mem,
	                       "UPDATE keys SET sealed = max(sealed, ?2) WHERE id = ?1 AND "
	                       "purpose = 'topic'",
	                       -1, &up, NULL) != SQLITE_OK)
		goto out;
	for (;;) {
		step = sqlite3_step(sel);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW)
			goto out;
		sqlite3_bind_int64(up, 1, sqlite3_column_int64(sel, 0));
		sqlite3_bind_int64(up, 2, sqlite3_column_int64(sel, 1));
		if (sqlite3_step(up) != SQLITE_DONE)
			goto out;
		sqlite3_reset(up);
	}
	rc = MQS_OK;
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(up);
	return rc;
}

/* Raise token_floor to now, every device's last TOTP step to the current
 * one, each topic key's seal count to the live one (restore_seals), and
 * write the restore's audit row, in the restored copy before it
 * is installed. */
static enum mqs_err restore_mark(struct mqsa_ctx *ctx, sqlite3 *mem,
                                 const struct mqs_backup_header *hd, char *why)
{
	sqlite3_stmt *st = NULL;
	char detail[MQSA_DETAIL_MAX];
	enum mqs_err rc = MQS_ERR_DB;

	snprintf(detail, sizeof(detail), "from %s made at %lld", hd->host, (long long)hd->created);
	if (sqlite3_exec(mem, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_prepare_v2(mem,
	                       "INSERT INTO settings (name, value) VALUES ('token_floor', ?1) "
	                       "ON CONFLICT (name) DO UPDATE SET value = max(CAST(settings.value "
	                       "AS INTEGER), CAST(excluded.value AS INTEGER))",
	                       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (restore_seals(ctx, mem) != MQS_OK)
		goto fail;
	/* TOTP codes up to the current step may have been used since the
	 * backup: the restored last_step must not let them in again */
	if (sqlite3_prepare_v2(mem,
	                       "UPDATE devices SET last_step = max(last_step, ?1 / period) "
	                       "WHERE period > 0",
	                       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(
	        mem, "INSERT INTO audit (at, who, action, detail) VALUES (?1, ?2, ?3, ?4)", -1, &st,
	        NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ctx->now);
	sqlite3_bind_text(st, 2, ctx->who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, BK_RESTORE_NAME, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	if (sqlite3_exec(mem, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	rc = MQS_OK;
	goto out;
fail:
	mqsa_fail(why, rc, "cannot prepare the restored copy: %s", sqlite3_errmsg(mem));
	sqlite3_exec(mem, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Remove a database file and its WAL and shared-memory files. */
static void bk_unlink_db(const char *path)
{
	char side[4096];

	unlink(path);
	if (snprintf(side, sizeof(side), "%s-wal", path) < (int)sizeof(side))
		unlink(side);
	if (snprintf(side, sizeof(side), "%s-shm", path) < (int)sizeof(side))
		unlink(side);
}

/* restore --from (mqsa.h). */
enum mqs_err mqsa_restore(struct mqsa_ctx *ctx, const char *from_path, const char *key_path,
                          int force, struct mqsa_restore_info *info, char *why)
{
	struct mqs_backup_header hd;
	uint8_t old_mk[MQS_MASTER_KEY_LEN], mk[MQS_MASTER_KEY_LEN];
	const char *reason = "";
	sqlite3 *mem = NULL;
	struct stat sb;
	int have_old = 0, installed = 0;
	enum mqs_err rc;

	memset(info, 0, sizeof(*info));
	memset(&hd, 0, sizeof(hd));
	why[0] = '\0';
	rc = mqs_backup_file_read(from_path, MQS_BACKUP_KIND_BROKER, key_path, &hd, mk, &mem,
	                          &reason);
	info->created = hd.created;
	snprintf(info->host, sizeof(info->host), "%s", hd.host);
	if (rc != MQS_OK) {
		/* MQS_ERR_PERM is kept for "older than the current data" */
		rc = rc == MQS_ERR_PERM ? MQS_ERR_ENV_AUTH : rc;
		mqsa_fail(why, rc, "refusing %s: %s; nothing changed", from_path, reason);
		goto out;
	}
	rc = mqs_db_migrate(mem, mqs_broker_schema, mqs_broker_schema_count);
	if (rc != MQS_OK) {
		mqsa_fail(why, rc, "refusing %s: the database in it %s; nothing changed", from_path,
		          rc == MQS_ERR_DB_VERSION ? "is newer than this build"
		                                   : "does not migrate");
		goto out;
	}
	/* the live database: open it, or create it on a fresh machine */
	if (stat(ctx->db_path, &sb) != 0) {
		info->fresh = 1;
		rc = mqs_db_open(ctx->db_path, MQS_DB_CREATE, mqs_broker_schema,
		                 mqs_broker_schema_count, &ctx->db, why, MQSA_WHY_MAX);
	} else {
		rc = mqsa_ctx_db(ctx, why);
	}
	if (rc != MQS_OK)
		goto out;
	rc = current_time(ctx, &info->current, why);
	if (rc != MQS_OK)
		goto out;
	if (!force && hd.created < info->current) {
		rc = mqsa_fail(why, MQS_ERR_PERM,
		               "refusing %s: the backup (made at %lld) is older than the current "
		               "data (last change at %lld); use --force; nothing changed",
		               from_path, (long long)hd.created, info->current);
		goto out;
	}
	rc = restore_mark(ctx, mem, &hd, why);
	if (rc != MQS_OK)
		goto out;
	/* the master key: staged as KEY.new, the database installed, then KEY.new
	 * renamed over KEY (docs/backup.md) */
	have_old = mqs_master_key_load(ctx->key_path, old_mk) == MQS_OK;
	info->mk_changed = !have_old || CRYPTO_memcmp(old_mk, mk, MQS_MASTER_KEY_LEN) != 0;
	if (info->mk_changed) {
		errno = 0;
		rc = mqs_backup_mk_stage(ctx->key_path, mk);
		if (rc != MQS_OK) {
			mqsa_fail(why, rc, "cannot write master key %s.new: %s; nothing changed",
			          ctx->key_path, errno != 0 ? strerror(errno) : mqs_strerror(rc));
			goto out;
		}
	}
	rc = mqs_backup_db_install(mem, ctx->db);
	if (rc != MQS_OK) {
		mqsa_db_fail(ctx, why, "replace the database (nothing changed)");
		if (info->mk_changed && mqs_backup_mk_commit(ctx->key_path, 1) != MQS_OK)
			mqsa_fail(
			    why, MQS_ERR_IO,
			    "cannot replace the database, and cannot remove master key %s.new",
			    ctx->key_path);
		rc = MQS_ERR_DB;
		goto out;
	}
	installed = 1;
	if (info->mk_changed) {
		errno = 0;
		rc = mqs_backup_mk_commit(ctx->key_path, 0);
		if (rc != MQS_OK) {
			mqsa_fail(
			    why, rc,
			    "the database is restored but cannot rename master key %s.new over "
			    "%s: %s; rename it by hand before starting the broker",
			    ctx->key_path, ctx->key_path,
			    errno != 0 ? strerror(errno) : mqs_strerror(rc));
			goto out;
		}
	}
	memcpy(ctx->mk, mk, MQS_MASTER_KEY_LEN);
	ctx->have_mk = 1;
out:
	if (rc != MQS_OK && info->fresh && ctx->db != NULL && !installed) {
		/* nothing changed: not even an empty database left behind */
		mqsa_ctx_stmts_drop(ctx);
		sqlite3_close_v2(ctx->db);
		ctx->db = NULL;
		bk_unlink_db(ctx->db_path);
	}
	if (mem != NULL)
		sqlite3_close_v2(mem);
	OPENSSL_cleanse(mk, sizeof(mk));
	OPENSSL_cleanse(old_mk, sizeof(old_mk));
	return rc;
}
