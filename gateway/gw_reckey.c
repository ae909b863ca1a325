/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_reckey.c - record keys of medical senders in the gateway store
 * (docs/medical.md, "Record keys"): each key wrapped under the master key
 * with its name and id in the associated data, so a wrapped blob cannot be
 * moved to another row. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "gw_reckey.h"
#include "mqs_envelope.h"
#include "mqs_master_key.h"
#include "mqs_util.h"

#define RECKEY_WRAPPED_LEN (MQS_ENVELOPE_KEY_LEN + MQS_WRAP_OVERHEAD)
#define RECKEY_ID_TRIES    32

/* Name check. */
int gw_reckey_name_ok(const char *name)
{
	size_t len;

	if (name == NULL)
		return 0;
	len = strlen(name);
	if (len < 1 || len > MQS_JOIN_KEY_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* The AAD binding a wrapped key to its row. */
static void reckey_aad(char *aad, size_t cap, const char *name, uint32_t id)
{
	snprintf(aad, cap, "record-key:%s:%u", name, (unsigned)id);
}

/* 1 when a row holds name, 0 when not, -1 on a database error. */
static int name_taken(struct gw_store *s, const char *name)
{
	int64_t id = gw_store_id_of(s, "SELECT key_id FROM record_keys WHERE name = ?", name);

	if (id == -2)
		return -1;
	return id >= 0;
}

/* 1 when a row holds key id, 0 when not, -1 on a database error. */
static int id_taken(struct gw_store *s, uint32_t id)
{
	sqlite3_stmt *st = gw_store_prepare(s, "SELECT 1 FROM record_keys WHERE key_id = ?");
	int rc;
	int ret = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		ret = 1;
	else if (rc == SQLITE_DONE)
		ret = 0;
	sqlite3_finalize(st);
	return ret;
}

/* Wrap key and insert the row, inside the caller's transaction. */
static int insert_row(struct gw_store *s, const char *name, uint32_t id,
                      const uint8_t key[MQS_ENVELOPE_KEY_LEN], char *err, size_t errlen)
{
	uint8_t wrapped[RECKEY_WRAPPED_LEN];
	size_t wlen = 0;
	char aad[MQS_JOIN_KEY_NAME_MAX + 32];
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_CRYPTO;

	reckey_aad(aad, sizeof(aad), name, id);
	if (mqs_wrap_seal(s->mk, aad, key, MQS_ENVELOPE_KEY_LEN, wrapped, sizeof(wrapped), &wlen) !=
	    MQS_OK) {
		snprintf(err, errlen, "cannot wrap record key");
		goto out;
	}
	rc = MQS_ERR_DB;
	st = gw_store_prepare(s, "INSERT INTO record_keys(name, key_id, wrapped, created_at) "
	                         "VALUES (?, ?, ?, ?)");
	if (st == NULL) {
		snprintf(err, errlen, "database error");
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)id);
	sqlite3_bind_blob(st, 3, wrapped, (int)wlen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)mqs_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot store record key: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	OPENSSL_cleanse(wrapped, sizeof(wrapped));
	return rc;
}

/* A random key id in 1..2^31-1: MQS_OK or MQS_ERR_CRYPTO. */
static int random_id(uint32_t *id)
{
	uint8_t b[4];

	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return MQS_ERR_CRYPTO;
		*id = (((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) |
		       (uint32_t)b[3]) &
		      0x7fffffffu;
	} while (*id == 0);
	return MQS_OK;
}

/* Store a key under name and id, refusing a name or id already present:
 * in one transaction of its own, or in the caller's when one is open (the
 * caller then commits or rolls back). */
static int store_key(struct gw_store *s, const char *name, uint32_t id,
                     const uint8_t key[MQS_ENVELOPE_KEY_LEN], int pick_id, char *err, size_t errlen)
{
	int rc = MQS_ERR_DB;
	int taken, own_tx = !s->in_tx;

	if (own_tx && gw_store_begin(s) != MQS_OK) {
		snprintf(err, errlen, "database busy or unwritable");
		goto out;
	}
	taken = name_taken(s, name);
	if (taken < 0) {
		snprintf(err, errlen, "database error");
		goto rollback;
	}
	if (taken) {
		snprintf(err, errlen, "record key %s exists (remove it first)", name);
		rc = MQS_ERR_EXISTS;
		goto rollback;
	}
	for (int tries = 0;; tries++) {
		if (pick_id && random_id(&id) != MQS_OK) {
			snprintf(err, errlen, "cannot draw a key id");
			rc = MQS_ERR_CRYPTO;
			goto rollback;
		}
		taken = id_taken(s, id);
		if (taken < 0) {
			snprintf(err, errlen, "database error");
			goto rollback;
		}
		if (!taken)
			break;
		if (!pick_id || tries >= RECKEY_ID_TRIES) {
			snprintf(err, errlen, "record key id %u is taken by another key",
			         (unsigned)id);
			rc = MQS_ERR_EXISTS;
			goto rollback;
		}
	}
	rc = insert_row(s, name, id, key, err, errlen);
	if (rc != MQS_OK)
		goto rollback;
	if (!own_tx)
		goto out;
	rc = gw_store_commit(s);
	if (rc != MQS_OK)
		snprintf(err, errlen, "cannot commit");
	goto out;
rollback:
	if (own_tx)
		gw_store_rollback(s);
out:
	return rc;
}

/* Add a new random key. */
int gw_reckey_add(struct gw_store *s, const char *name, char *err, size_t errlen)
{
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
	int rc;

	if (!gw_reckey_name_ok(name)) {
		snprintf(err, errlen, "bad record key name (1..64 of A-Z a-z 0-9 . _ -)");
		return MQS_ERR_INVAL;
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		snprintf(err, errlen, "cannot draw a record key");
		return MQS_ERR_CRYPTO;
	}
	rc = store_key(s, name, 0, key, 1, err, errlen);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* Store an imported key. */
int gw_reckey_put(struct gw_store *s, const char *name, uint32_t id, const uint8_t key[32],
                  char *err, size_t errlen)
{
	if (!gw_reckey_name_ok(name)) {
		snprintf(err, errlen, "bad record key name (1..64 of A-Z a-z 0-9 . _ -)");
		return MQS_ERR_INVAL;
	}
	if (id == 0 || id > 0x7fffffffu) {
		snprintf(err, errlen, "bad record key id %u (1..2147483647)", (unsigned)id);
		return MQS_ERR_INVAL;
	}
	return store_key(s, name, id, key, 0, err, errlen);
}

/* Unwrap the row of st (columns name, key_id, wrapped) into *out. */
static int row_unwrap(struct gw_store *s, sqlite3_stmt *st, struct mqs_join_key *out)
{
	const char *name = (const char *)sqlite3_column_text(st, 0);
	int64_t id = sqlite3_column_int64(st, 1);
	const uint8_t *blob = sqlite3_column_blob(st, 2);
	int blen = sqlite3_column_bytes(st, 2);
	char aad[MQS_JOIN_KEY_NAME_MAX + 32];
	size_t klen = 0;

	if (name == NULL || strlen(name) > MQS_JOIN_KEY_NAME_MAX || id < 1 || id > 0x7fffffff ||
	    blob == NULL || blen <= 0)
		return MQS_ERR_DB;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->id = (uint32_t)id;
	reckey_aad(aad, sizeof(aad), out->name, out->id);
	if (mqs_wrap_open(s->mk, aad, blob, (size_t)blen, out->key, sizeof(out->key), &klen) !=
	        MQS_OK ||
	    klen != sizeof(out->key)) {
		OPENSSL_cleanse(out, sizeof(*out));
		return MQS_ERR_UNWRAP;
	}
	return MQS_OK;
}

/* The key of one sender. */
int gw_reckey_get(struct gw_store *s, const char *name, struct mqs_join_key *out)
{
	sqlite3_stmt *st;
	int rc = MQS_ERR_DB;
	int step;

	if (!gw_reckey_name_ok(name))
		return MQS_ERR_NOENT;
	st = gw_store_prepare(s, "SELECT name, key_id, wrapped FROM record_keys WHERE name = ?");
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = row_unwrap(s, st, out);
	else if (step == SQLITE_DONE)
		rc = MQS_ERR_NOENT;
	sqlite3_finalize(st);
	return rc;
}

/* Every key. */
int gw_reckey_all(struct gw_store *s, struct mqs_join_key *out, size_t max, size_t *n)
{
	sqlite3_stmt *st;
	int rc = MQS_OK;
	int step;

	*n = 0;
	st = gw_store_prepare(s, "SELECT name, key_id, wrapped FROM record_keys ORDER BY name");
	if (st == NULL)
		return MQS_ERR_DB;
	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = MQS_ERR_DB;
			break;
		}
		if (*n >= max) {
			rc = MQS_ERR_TOOBIG;
			break;
		}
		rc = row_unwrap(s, st, &out[*n]);
		if (rc != MQS_OK)
			break;
		(*n)++;
	}
	sqlite3_finalize(st);
	if (rc != MQS_OK) {
		if (max > 0)
			OPENSSL_cleanse(out, max * sizeof(*out));
		*n = 0;
	}
	return rc;
}

/* Remove a key. */
int gw_reckey_rm(struct gw_store *s, const char *name, char *err, size_t errlen)
{
	return gw_store_change_named(s, "DELETE FROM record_keys WHERE name = ?", name,
	                             "record key", gw_reckey_name_ok(name), err, errlen);
}

/* Walk the keys without key bytes. */
int gw_reckey_each(struct gw_store *s,
                   int (*fn)(const char *name, uint32_t id, int64_t created_ms, void *arg),
                   void *arg)
{
	sqlite3_stmt *st;
	int rc = MQS_OK;
	int step;

	st = gw_store_prepare(s, "SELECT name, key_id, created_at FROM record_keys ORDER BY name");
	if (st == NULL)
		return MQS_ERR_DB;
	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = MQS_ERR_DB;
			break;
		}
		rc = fn((const char *)sqlite3_column_text(st, 0),
		        (uint32_t)sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), arg);
		if (rc != MQS_OK)
			break;
	}
	sqlite3_finalize(st);
	return rc;
}
