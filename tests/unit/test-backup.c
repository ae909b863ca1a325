/* SPDX-License-Identifier: BSD-3-Clause */
/* test-backup.c - the backup file of lib/mqs_backup.c (docs/backup.md):
 * round trip, truncation at every chunk boundary, one bit flipped at many
 * positions, chunks swapped or dropped, the wrong recovery key, the other
 * kind, a backup signed by another box or made by someone holding only the
 * public recovery key; and the SQLite copies (online image, install into a
 * live WAL database seen by another connection); and the admin library's
 * backup keygen, backup and restore (admin/backup.c): an older backup is
 * refused without --force, a refused restore changes nothing, a restore
 * raises token_floor and is seen by an open connection. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mqs_backup.h"
#include "mqs_util.h"
#include "mqsa.h"
#include "tap.h"

#define CHUNK 4096

static uint8_t rpriv[32], rpub[32], spriv[32], spub[32];
static uint8_t mk[32];
static const char *p_other_key;

/* Write a backup of image to a new temporary file; return it (rewound). */
static FILE *make_backup(unsigned kind, const uint8_t *sign, const uint8_t *rcpt,
                         const uint8_t *image, size_t len)
{
	FILE *f = tmpfile();

	if (f == NULL)
		return NULL;
	if (mqs_backup_write(fileno(f), kind, 1700000000, "box-1", rcpt, sign, mk, sizeof(mk),
	                     image, len, CHUNK) != MQS_OK) {
		fclose(f);
		return NULL;
	}
	rewind(f);
	return f;
}

/* Read a whole file into memory. */
static uint8_t *slurp(FILE *f, size_t *len)
{
	uint8_t *data = NULL;

	rewind(f);
	if (mqs_read_all(fileno(f), 1u << 26, &data, len) != MQS_OK)
		return NULL;
	return data;
}

/* Verify len bytes of data as a broker backup with the box's keys; return
 * the result code. */
static int verify_bytes(const uint8_t *data, size_t len, unsigned kind, const uint8_t *key,
                        const uint8_t *signer)
{
	FILE *f = tmpfile();
	uint8_t *m = NULL, *img = NULL;
	size_t ml = 0, il = 0;
	const char *why = NULL;
	int rc;

	if (f == NULL)
		return -1;
	if (len > 0 && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	fflush(f);
	rewind(f);
	rc = mqs_backup_read(fileno(f), kind, key, signer, 0, NULL, &m, &ml, &img, &il, &why);
	if (rc != MQS_OK && (m != NULL || img != NULL || ml != 0 || il != 0))
		rc = -2; /* out-parameters must be empty on failure */
	mqs_secret_free(m, ml);
	mqs_secret_free(img, il);
	fclose(f);
	return rc;
}

/* Verify len bytes (at most a pipe's buffer) read from a pipe: the one
 * pass path of mqs_backup_read (no seeking). */
static int verify_pipe(const uint8_t *data, size_t len, const uint8_t *key, const uint8_t *signer)
{
	uint8_t *m = NULL, *img = NULL;
	size_t ml = 0, il = 0;
	int fds[2], rc;

	if (pipe(fds) != 0)
		return -1;
	if (fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) < 0 ||
	    mqs_write_all(fds[1], data, len) != MQS_OK) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	close(fds[1]);
	rc = mqs_backup_read(fds[0], MQS_BACKUP_KIND_BROKER, key, signer, 0, NULL, &m, &ml, &img,
	                     &il, NULL);
	mqs_secret_free(m, ml);
	mqs_secret_free(img, il);
	close(fds[0]);
	return rc;
}

/* Make a small WAL database at path with n rows; return its connection. */
static sqlite3 *make_db(const char *path, int n)
{
	sqlite3 *db = NULL;
	char sql[128];

	unlink(path);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return NULL;
	sqlite3_exec(db,
	             "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
	             NULL, NULL, NULL);
	for (int i = 0; i < n; i++) {
		snprintf(sql, sizeof(sql),
		         "INSERT INTO t (v) VALUES ('row %d padded to some length')", i);
		sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	return db;
}

/* Run sql on the database at path; non-zero when it ran. */
static int db_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int ok;

	ok = sqlite3_open(path, &db) == SQLITE_OK &&
	     sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	return ok;
}

/* SELECT count(*) FROM t. */
static int count_rows(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* One integer from sql on the database at path (-1 on error). */
static long long db_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close_v2(db);
	return v;
}

/* A credentials delivery that drops them (the test never logs in). */
static enum mqs_err deliver_none(const char *json, void *arg, char *why)
{
	(void)json;
	(void)arg;
	(void)why;
	return MQS_OK;
}

/* The admin library: keygen, backup, restore (older, forced, fresh). */
static void admin_tests(const char *dir)
{
	char db[256], key[256], rk[256], bak[256], db2[256], key2[256], why[MQSA_WHY_MAX];
	struct mqsa_init_result ir;
	struct mqsa_restore_info info;
	struct mqsa_ctx *ctx = NULL, *ctx2 = NULL;
	uint8_t pub[MQSA_BACKUP_KEY_LEN];
	sqlite3 *watch = NULL;
	long long size = 0;

	snprintf(db, sizeof(db), "%s/a.db", dir);
	snprintf(key, sizeof(key), "%s/a.key", dir);
	snprintf(rk, sizeof(rk), "%s/recovery.key", dir);
	snprintf(bak, sizeof(bak), "%s/a.bak", dir);
	snprintf(db2, sizeof(db2), "%s/b.db", dir);
	snprintf(key2, sizeof(key2), "%s/b.key", dir);
	tap_is_int(mqsa_ctx_open(db, key, "tester", &ctx), MQS_OK, "admin context");
	mqsa_ctx_set_now(ctx, 1000000);
	tap_is_int(mqsa_init(ctx, &ir, why), MQS_OK, "init");
	tap_is_int(mqsa_group_add(ctx, "g1", why), MQS_OK, "group g1");
	{
		struct mqs_totp_params tp;
		const struct mqsa_deliver dl = {deliver_none, NULL};

		mqs_totp_params_default(&tp);
		tap_is_int(mqsa_device_add(ctx, "d1", &tp, &dl, NULL, why), MQS_OK, "device d1");
	}
	{
		struct mqsa_topic_protected tp;

		tap_is_int(mqsa_topic_protect(ctx, "site/#", NULL, &tp, why), MQS_OK,
		           "a protected filter (a topic key)");
	}
	tap_is_int(mqsa_backup_write(ctx, bak, pub, "h", &size, why), MQS_ERR_NOENT,
	           "backup without keygen: refused (%s)", why);
	tap_is_int(mqsa_backup_keygen(ctx, rk, pub, why), MQS_OK, "backup keygen");
	tap_is_int(mqsa_backup_keygen(ctx, rk, pub, why), MQS_ERR_EXISTS,
	           "keygen never overwrites a recovery key file");
	mqsa_ctx_set_now(ctx, 1000010);
	tap_is_int(mqsa_backup_write(ctx, bak, pub, "box-a", &size, why), MQS_OK, "backup written");
	tap_ok(size > 0, "backup size %lld", size);
	mqsa_ctx_set_now(ctx, 1000020);
	tap_is_int(mqsa_group_add(ctx, "g2", why), MQS_OK, "group g2 after the backup");
	mqsa_ctx_close(ctx);
	ctx = NULL;

	/* the plugin counts seals without an audit row */
	tap_ok(db_exec(db, "UPDATE keys SET sealed = 5000 WHERE purpose = 'topic'"),
	       "the broker sealed 5000 times since the backup");
	/* older than the current data: refused, nothing changed; forced: done */
	tap_is_int(mqsa_ctx_open(db, key, "tester", &ctx), MQS_OK, "admin context again");
	mqsa_ctx_set_now(ctx, 1000030);
	tap_ok(sqlite3_open(db, &watch) == SQLITE_OK, "a connection that stays open");
	tap_is_int(mqsa_restore(ctx, bak, rk, 0, &info, why), MQS_ERR_PERM,
	           "older backup without --force: refused (%s)", why);
	tap_is_int(db_int(db, "SELECT count(*) FROM groups"), 2, "refused: nothing changed");
	tap_ok(info.created == 1000010 && strcmp(info.host, "box-a") == 0 &&
	           info.current == 1000020,
	       "restore shows the backup's time and host and the current data's time");
	tap_is_int(mqsa_restore(ctx, bak, p_other_key, 1, &info, why), MQS_ERR_ENV_KEYID,
	           "the wrong recovery key: refused");
	tap_is_int(db_int(db, "SELECT count(*) FROM groups"), 2, "refused: nothing changed");
	tap_is_int(mqsa_restore(ctx, bak, rk, 1, &info, why), MQS_OK, "older backup with --force");
	tap_is_int(info.mk_changed, 0, "same master key: nothing to restart");
	{
		sqlite3_stmt *st = NULL;
		int n = -1;

		if (sqlite3_prepare_v2(watch, "SELECT count(*) FROM groups", -1, &st, NULL) ==
		        SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		tap_is_int(n, 1, "an open connection sees the restored data");
	}
	tap_is_int(db_int(db, "SELECT CAST(value AS INTEGER) FROM settings WHERE name = "
	                      "'token_floor'"),
	           1000030, "token_floor raised to the restore time");
	tap_is_int(db_int(db, "SELECT min(last_step) FROM devices"), 1000030 / 30,
	           "every device's last TOTP step raised to the current one");
	tap_is_int(db_int(db, "SELECT min(sealed) FROM keys WHERE purpose = 'topic'"), 5000,
	           "the restore keeps the live seal counts of the topic keys");
	tap_is_int(db_int(db, "SELECT count(*) FROM audit WHERE action = 'backup restore'"), 1,
	           "the restore is audited");
	tap_is_int(mqsa_restore(ctx, bak, rk, 0, &info, why), MQS_OK,
	           "the same backup again without --force (a restore is not newer data)");
	sqlite3_close_v2(watch);
	mqsa_ctx_close(ctx);
	ctx = NULL;

	/* onto a fresh machine: database and master key written */
	tap_is_int(mqsa_ctx_open(db2, key2, "tester", &ctx2), MQS_OK, "fresh context");
	tap_is_int(mqsa_restore(ctx2, bak, rk, 0, &info, why), MQS_OK, "restore onto a fresh box");
	tap_ok(info.fresh && info.mk_changed, "fresh database, master key written");
	tap_is_int(db_int(db2, "SELECT count(*) FROM groups"), 1, "fresh box has the data");
	tap_is_int(mqsa_backup_write(ctx2, bak, pub, "box-b", &size, why), MQS_OK,
	           "the restored box backs up with the same backup key");
	mqsa_ctx_close(ctx2);
}

int main(void)
{
	char p1[] = "/tmp/test-backup-XXXXXX", p2[64], p3[96];
	uint8_t opriv[32], opub[32], xpriv[32], xpub[32], id[8];
	uint8_t *image = NULL, *data = NULL, *copy = NULL, *m = NULL, *img = NULL;
	size_t img_len = 0, len = 0, ml = 0, il = 0, nrec, recsz;
	struct mqs_backup_header hd;
	sqlite3 *live = NULL, *other = NULL, *mem = NULL, *reader = NULL;
	const char *why = NULL;
	FILE *f;
	int fd, bad;

	fd = mkstemp(p1);
	close(fd);
	snprintf(p2, sizeof(p2), "%s-b", p1);
	snprintf(p3, sizeof(p3), "%s-c", p1);
	for (size_t i = 0; i < sizeof(mk); i++)
		mk[i] = (uint8_t)(0xa0 + i);
	tap_is_int(mqs_backup_x25519_keygen(rpriv, rpub), MQS_OK, "recovery pair");
	tap_is_int(mqs_backup_ed25519_keygen(spriv, spub), MQS_OK, "box signing pair");
	tap_is_int(mqs_backup_x25519_keygen(opriv, opub), MQS_OK, "another recovery pair");
	tap_is_int(mqs_backup_ed25519_keygen(xpriv, xpub), MQS_OK, "another box's signing pair");
	tap_is_int(mqs_backup_public(0, rpriv, opub), MQS_OK, "x25519 public of private");
	tap_is_mem(opub, rpub, 32, "public half matches keygen");
	tap_is_int(mqs_backup_x25519_keygen(opriv, opub), MQS_OK, "another recovery pair again");

	/* the online image of a live WAL database */
	live = make_db(p1, 600);
	tap_ok(live != NULL, "live database");
	tap_is_int(mqs_backup_db_image(live, &image, &img_len), MQS_OK, "online image");
	tap_ok(img_len > 5 * CHUNK, "image spans several chunks (%zu bytes)", img_len);

	/* round trip */
	f = make_backup(MQS_BACKUP_KIND_BROKER, spriv, rpub, image, img_len);
	tap_ok(f != NULL, "backup written");
	tap_is_int(mqs_backup_read(fileno(f), MQS_BACKUP_KIND_BROKER, rpriv, spub, 0, &hd, &m, &ml,
	                           &img, &il, &why),
	           MQS_OK, "backup reads back");
	tap_ok(ml == sizeof(mk) && memcmp(m, mk, ml) == 0, "master key round trip");
	tap_ok(il == img_len && memcmp(img, image, il) == 0, "image round trip");
	tap_ok(hd.created == 1700000000 && strcmp(hd.host, "box-1") == 0 &&
	           hd.kind == MQS_BACKUP_KIND_BROKER && hd.chunk_size == CHUNK,
	       "header: time, host, kind, chunk size");
	mqs_secret_free(m, ml);
	mqs_secret_free(img, il);
	m = img = NULL;
	data = slurp(f, &len);
	fclose(f);
	tap_ok(data != NULL, "backup bytes");
	recsz = 5 + CHUNK + 16;
	nrec = (1 + sizeof(mk) + img_len + CHUNK - 1) / CHUNK;
	tap_is_int((long long)len,
	           (long long)(MQS_BACKUP_HEADER_LEN + nrec * 21 + 1 + sizeof(mk) + img_len + 64),
	           "size: header, %zu chunks, signature", nrec);
	tap_is_int(verify_bytes(data, len, MQS_BACKUP_KIND_BROKER, rpriv, spub), MQS_OK,
	           "the bytes verify");
	tap_ok(memmem(data, len, "padded to some length", 21) == NULL, "no plaintext in the file");
	tap_ok(memmem(data, len, mk, sizeof(mk)) == NULL, "no master key in the file");

	/* truncated at every chunk boundary, at every header byte, before
	 * and inside the signature */
	bad = 0;
	for (size_t i = 0; i <= nrec; i++) {
		size_t cut = MQS_BACKUP_HEADER_LEN + i * recsz;

		if (cut >= len)
			cut = len - 64;
		if (verify_bytes(data, cut, MQS_BACKUP_KIND_BROKER, rpriv, spub) == MQS_OK)
			bad++;
		if (verify_bytes(data, cut + 3, MQS_BACKUP_KIND_BROKER, rpriv, spub) == MQS_OK)
			bad++;
	}
	for (size_t cut = 0; cut < MQS_BACKUP_HEADER_LEN; cut += 7)
		if (verify_bytes(data, cut, MQS_BACKUP_KIND_BROKER, rpriv, spub) == MQS_OK)
			bad++;
	if (verify_bytes(data, len - 1, MQS_BACKUP_KIND_BROKER, rpriv, spub) == MQS_OK)
		bad++;
	tap_is_int(bad, 0,
	           "truncated at every chunk boundary (%zu), in the header and signature: "
	           "refused",
	           nrec + 1);

	/* one bit flipped at many positions: every header byte, then a
	 * stride through chunks and signature */
	copy = malloc(len + 1);
	bad = 0;
	for (size_t pos = 0; pos < len; pos += pos < MQS_BACKUP_HEADER_LEN + 40 ? 1 : 211) {
		memcpy(copy, data, len);
		copy[pos] ^= (uint8_t)(1u << (pos % 8));
		if (verify_bytes(copy, len, MQS_BACKUP_KIND_BROKER, rpriv, spub) == MQS_OK) {
			tap_diag("flip at %zu accepted", pos);
			bad++;
		}
	}
	memcpy(copy, data, len);
	copy[len - 1] ^= 0x80;
	if (verify_bytes(copy, len, MQS_BACKUP_KIND_BROKER, rpriv, spub) == MQS_OK)
		bad++;
	tap_is_int(bad, 0, "one bit flipped anywhere: refused");

	/* a byte appended */
	memcpy(copy, data, len);
	copy[len] = 0;
	tap_ok(verify_bytes(copy, len + 1, MQS_BACKUP_KIND_BROKER, rpriv, spub) != MQS_OK,
	       "data after the signature: refused");

	/* chunks 1 and 2 swapped (both full), chunk 1 dropped, the last
	 * chunk's flag moved */
	memcpy(copy, data, len);
	memcpy(copy + MQS_BACKUP_HEADER_LEN + recsz, data + MQS_BACKUP_HEADER_LEN + 2 * recsz,
	       recsz);
	memcpy(copy + MQS_BACKUP_HEADER_LEN + 2 * recsz, data + MQS_BACKUP_HEADER_LEN + recsz,
	       recsz);
	tap_is_int(verify_bytes(copy, len, MQS_BACKUP_KIND_BROKER, rpriv, spub), MQS_ERR_PERM,
	           "chunks swapped: refused (signature, before any decryption)");
	tap_is_int(verify_pipe(copy, len, rpriv, spub), MQS_ERR_ENV_AUTH,
	           "chunks swapped, read from a pipe (one pass): refused (chunk index)");
	tap_is_int(verify_pipe(data, len, rpriv, spub), MQS_OK, "the intact file read from a pipe");
	memcpy(copy, data, MQS_BACKUP_HEADER_LEN + recsz);
	memcpy(copy + MQS_BACKUP_HEADER_LEN + recsz, data + MQS_BACKUP_HEADER_LEN + 2 * recsz,
	       len - MQS_BACKUP_HEADER_LEN - 2 * recsz);
	tap_ok(verify_bytes(copy, len - recsz, MQS_BACKUP_KIND_BROKER, rpriv, spub) != MQS_OK,
	       "a chunk dropped: refused");
	memcpy(copy, data, len);
	copy[MQS_BACKUP_HEADER_LEN + 4] |= 1; /* first chunk claims to be the last */
	tap_ok(verify_bytes(copy, len, MQS_BACKUP_KIND_BROKER, rpriv, spub) != MQS_OK,
	       "last-chunk flag set early: refused");

	/* wrong recovery key, other kind */
	tap_is_int(verify_bytes(data, len, MQS_BACKUP_KIND_BROKER, opriv, spub), MQS_ERR_ENV_KEYID,
	           "the wrong recovery key: refused");
	tap_is_int(verify_bytes(data, len, MQS_BACKUP_KIND_GATEWAY, rpriv, spub), MQS_ERR_INVAL,
	           "a broker backup restored as a gateway one: refused");
	free(data);
	data = NULL;

	/* signed by another box */
	f = make_backup(MQS_BACKUP_KIND_BROKER, xpriv, rpub, image, img_len);
	data = f != NULL ? slurp(f, &len) : NULL;
	if (f != NULL)
		fclose(f);
	tap_is_int(verify_bytes(data, len, MQS_BACKUP_KIND_BROKER, rpriv, spub), MQS_ERR_PERM,
	           "a backup signed by another box: refused");
	/* someone holding only the public recovery key claims this box as signer */
	tap_is_int(mqs_backup_key_id(spub, id), MQS_OK, "box key id");
	memcpy(data + 125, id, 8);
	tap_is_int(
	    verify_bytes(data, len, MQS_BACKUP_KIND_BROKER, rpriv, spub), MQS_ERR_PERM,
	    "a backup encrypted to the public key by someone else, naming this box: refused");
	free(data);
	data = NULL;

	/* gateway kind round trip; bad arguments */
	f = make_backup(MQS_BACKUP_KIND_GATEWAY, spriv, rpub, image, img_len);
	data = f != NULL ? slurp(f, &len) : NULL;
	if (f != NULL)
		fclose(f);
	tap_is_int(verify_bytes(data, len, MQS_BACKUP_KIND_GATEWAY, rpriv, spub), MQS_OK,
	           "gateway kind round trip");
	tap_is_int(verify_bytes(data, len, MQS_BACKUP_KIND_BROKER, rpriv, spub), MQS_ERR_INVAL,
	           "a gateway backup restored as a broker one: refused");
	free(data);
	data = NULL;
	tap_is_int(verify_bytes((const uint8_t *)"hello", 5, MQS_BACKUP_KIND_BROKER, rpriv, spub),
	           MQS_ERR_PARSE, "not a backup: refused");
	tap_is_int(mqs_backup_write(1, 7, 0, "h", rpub, spriv, mk, sizeof(mk), image, img_len, 0),
	           MQS_ERR_INVAL, "unknown kind: refused");
	tap_is_int(mqs_backup_write(1, 1, 0, "h", rpub, spriv, mk, 0, image, img_len, 0),
	           MQS_ERR_INVAL, "empty master key: refused");

	/* the image opens, and installs into another live WAL database that
	 * another connection is reading */
	tap_is_int(mqs_backup_db_open(image, img_len, &mem), MQS_OK, "image opens in memory");
	tap_is_int(count_rows(mem), 600, "image holds the rows");
	other = make_db(p2, 3);
	tap_ok(sqlite3_open(p2, &reader) == SQLITE_OK && count_rows(reader) == 3,
	       "second connection sees the old data");
	tap_is_int(mqs_backup_db_install(mem, other), MQS_OK, "installed into the live file");
	tap_is_int(count_rows(reader), 600, "second connection sees the restored data");
	sqlite3_close_v2(mem);
	mem = NULL;
	memcpy(copy, image, 512);
	copy[0] ^= 1;
	tap_is_int(mqs_backup_db_open(copy, 512, &mem), MQS_ERR_PARSE, "not a database: refused");
	tap_ok(mem == NULL, "nothing opened");

	{
		char dir[] = "/tmp/test-backup-admin-XXXXXX";
		char okey[160], cmd[200];

		if (mkdtemp(dir) != NULL) {
			snprintf(okey, sizeof(okey), "%s/other.key", dir);
			tap_is_int(mqs_backup_recovery_write(okey, opriv, spub), MQS_OK,
			           "another recovery key file");
			p_other_key = okey;
			admin_tests(dir);
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
			if (system(cmd) != 0)
				tap_diag("cannot remove %s", dir);
		}
	}
	free(copy);
	mqs_secret_free(image, img_len);
	sqlite3_close_v2(reader);
	sqlite3_close_v2(other);
	sqlite3_close_v2(live);
	unlink(p1);
	unlink(p2);
	unlink(p3);
	snprintf(p3, sizeof(p3), "%s-wal", p1);
	unlink(p3);
	snprintf(p3, sizeof(p3), "%s-shm", p1);
	unlink(p3);
	snprintf(p3, sizeof(p3), "%s-wal", p2);
	unlink(p3);
	snprintf(p3, sizeof(p3), "%s-shm", p2);
	unlink(p3);
	tap_done();
	return tap_exit();
}
