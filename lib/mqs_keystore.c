/* SPDX-License-Identifier: BSD-3-Clause */
/* mqs_keystore.c - AES keys in SQLite, wrapped under the master key. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_keystore.h"

#define WRAPPED_LEN (MQS_ENVELOPE_KEY_LEN + MQS_WRAP_OVERHEAD)

/* AAD binding a wrapped key to its id and purpose. */
static void key_aad(char *buf, size_t cap, uint32_t id, const char *purpose)
{
	snprintf(buf, cap, "mqttsec-key:%u:%s", (unsigned)id, purpose);
}

/* 1 when purpose is a key purpose this store knows. */
static int purpose_ok(const char *purpose)
{
	return purpose != NULL &&
	       (strcmp(purpose, MQS_KEY_DEVICE) == 0 || strcmp(purpose, MQS_KEY_TOPIC) == 0);
}

/* Zero a key struct. */
void mqs_key_init(struct mqs_key *k)
{
	memset(k, 0, sizeof(*k));
}

/* Wipe and free a key struct's contents. */
void mqs_key_release(struct mqs_key *k)
{
	if (k == NULL)
		return;
	mqs_free(k->owner);
	OPENSSL_cleanse(k, sizeof(*k));
}

/* Unwrap one row's key. */
int mqs_keystore_unwrap(const uint8_t mk[MQS_MASTER_KEY_LEN], uint32_t id, const char *purpose,
                        const uint8_t *wrapped, size_t wrapped_len,
                        uint8_t key[MQS_ENVELOPE_KEY_LEN])
{
	char aad[64];
	size_t n = 0;
	int rc;

	if (mk == NULL || key == NULL || wrapped == NULL || !purpose_ok(purpose))
		return MQS_ERR_INVAL;
	key_aad(aad, sizeof(aad), id, purpose);
	rc = mqs_wrap_open(mk, aad, wrapped, wrapped_len, key, MQS_ENVELOPE_KEY_LEN, &n);
	if (rc == MQS_OK && n != MQS_ENVELOPE_KEY_LEN)
		rc = MQS_ERR_UNWRAP;
	if (rc != MQS_OK)
		OPENSSL_cleanse(key, MQS_ENVELOPE_KEY_LEN);
	return rc == MQS_ERR_BUFSIZE ? MQS_ERR_UNWRAP : rc;
}

/* Fill k from a row: id, purpose, owner, state, created_at, retire_after, wrapped. */
static int key_from_row(sqlite3_stmt *st, const uint8_t *mk, struct mqs_key *k)
{
	const char *purpose = (const char *)sqlite3_column_text(st, 1);
	const char *owner = (const char *)sqlite3_column_text(st, 2);
	const char *state = (const char *)sqlite3_column_text(st, 3);
	const uint8_t *wrapped = sqlite3_column_blob(st, 6);
	size_t wrapped_len = (size_t)sqlite3_column_bytes(st, 6);
	if (purpose == NULL || owner == NULL || state == NULL || wrapped == NULL ||
	    !purpose_ok(purpose))
		return MQS_ERR_DB;
	k->id = (uint32_t)sqlite3_column_int64(st, 0);
	snprintf(k->purpose, sizeof(k->purpose), "%s", purpose);
	k->owner = mqs_strdup(owner);
	if (k->owner == NULL)
		return MQS_ERR_NOMEM;
	k->active = strcmp(state, "active") == 0;
	k->created_at = sqlite3_column_int64(st, 4);
	k->retire_after = sqlite3_column_int64(st, 5);
	return mqs_keystore_unwrap(mk, k->id, k->purpose, wrapped, wrapped_len, k->key);
}

/* Create and store a new random key. */
int mqs_keystore_create(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], const char *purpose,
                        const char *owner, struct mqs_key *out)
{
	struct mqs_key k;
	sqlite3_stmt *st = NULL;
	uint8_t wrapped[WRAPPED_LEN];
	size_t wrapped_len = 0;
	char aad[64];
	int64_t now = (int64_t)time(NULL);
	int rc = MQS_ERR_DB;

	mqs_key_init(&k);
	if (out != NULL)
		mqs_key_init(out);
	if (db == NULL || mk == NULL || !purpose_ok(purpose) || owner == NULL) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	/* insert a placeholder to learn the id (the AAD needs it), then fill it */
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO keys(purpose, owner, state, created_at, wrapped) "
	                       "VALUES (?1, ?2, 'active', ?3, x'')",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, purpose, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	k.id = (uint32_t)sqlite3_last_insert_rowid(db);
	snprintf(k.purpose, sizeof(k.purpose), "%s", purpose);
	k.active = 1;
	k.created_at = now;
	if (RAND_bytes(k.key, sizeof(k.key)) != 1) {
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	key_aad(aad, sizeof(aad), k.id, purpose);
	rc = mqs_wrap_seal(mk, aad, k.key, sizeof(k.key), wrapped, sizeof(wrapped), &wrapped_len);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_DB;
	if (sqlite3_prepare_v2(db, "UPDATE keys SET wrapped = ?1 WHERE id = ?2", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, wrapped, (int)wrapped_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, k.id);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	if (out != NULL) {
		k.owner = mqs_strdup(owner);
		if (k.owner == NULL) {
			rc = MQS_ERR_NOMEM;
			goto out;
		}
		*out = k;
		mqs_key_init(&k);
	}
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	mqs_key_release(&k);
	OPENSSL_cleanse(wrapped, sizeof(wrapped));
	return rc;
}

static const char *const key_cols =
    "SELECT id, purpose, owner, state, created_at, retire_after, wrapped FROM keys ";

/* Fetch and unwrap the one key row selected by where. */
static int fetch_one(sqlite3 *db, const uint8_t *mk, const char *where, uint32_t id,
                     const char *purpose, const char *owner, struct mqs_key *out)
{
	sqlite3_stmt *st = NULL;
	char sql[256];
	int rc = MQS_ERR_DB;
	int step;

	mqs_key_init(out);
	if (db == NULL || mk == NULL) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	snprintf(sql, sizeof(sql), "%s%s", key_cols, where);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	if (purpose != NULL) {
		sqlite3_bind_text(st, 1, purpose, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int64(st, 1, id);
	}
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = MQS_ERR_NOENT;
		goto out;
	}
	if (step != SQLITE_ROW)
		goto out;
	rc = key_from_row(st, mk, out);
out:
	sqlite3_finalize(st);
	if (rc != MQS_OK)
		mqs_key_release(out);
	return rc;
}

/* Load and unwrap key id. */
int mqs_keystore_get(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], uint32_t id,
                     struct mqs_key *out)
{
	return fetch_one(db, mk, "WHERE id = ?1", id, NULL, NULL, out);
}

/* Load the newest active key of purpose/owner. */
int mqs_keystore_active(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], const char *purpose,
                        const char *owner, struct mqs_key *out)
{
	if (!purpose_ok(purpose) || owner == NULL) {
		mqs_key_init(out);
		return MQS_ERR_INVAL;
	}
	return fetch_one(db, mk,
	                 "WHERE purpose = ?1 AND owner = ?2 AND state = 'active' "
	                 "ORDER BY id DESC LIMIT 1",
	                 0, purpose, owner, out);
}

/* Retire key id, usable until retire_after. */
int mqs_keystore_retire(sqlite3 *db, uint32_t id, int64_t retire_after)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;

	if (sqlite3_prepare_v2(db,
	                       "UPDATE keys SET state = 'retired', retire_after = ?1 WHERE id = ?2",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, retire_after);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	rc = sqlite3_changes(db) > 0 ? MQS_OK : MQS_ERR_NOENT;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Delete all keys of purpose/owner. */
int mqs_keystore_delete_owner(sqlite3 *db, const char *purpose, const char *owner)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;

	if (!purpose_ok(purpose) || owner == NULL)
		return MQS_ERR_INVAL;
	if (sqlite3_prepare_v2(db, "DELETE FROM keys WHERE purpose = ?1 AND owner = ?2", -1, &st,
	                       NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, purpose, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}
