/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_smskey.c - per-recipient SMS key tables (gw_smskey.h;
 * docs/sms-envelope.md, "Key tables"): each key wrapped under the master
 * key with the recipient's row id and the key id in the associated data,
 * so a wrapped blob cannot be moved to another row. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "gw_recipient.h"
#include "gw_smskey.h"
#include "mqs_master_key.h"
#include "mqs_util.h"

#define SMSKEY_WRAPPED_LEN (GW_SMSKEY_LEN + MQS_WRAP_OVERHEAD)

/* The AAD binding a wrapped key to its row. */
static void smskey_aad(char *aad, size_t cap, int64_t rid, unsigned id)
{
	snprintf(aad, cap, GW_SMSKEY_AAD ":%lld:%u", (long long)rid, id);
}

/* Delete the expired keys of recipient rid (inside the caller's
 * transaction).  MQS_OK or MQS_ERR_DB. */
static int prune(struct gw_store *s, int64_t rid, int64_t now)
{
	sqlite3_stmt *st = gw_store_prepare(s, "DELETE FROM sms_keys WHERE recipient_id = ? AND "
	                                       "expires_at IS NOT NULL AND expires_at <= ?");
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int64(st, 2, now);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	sqlite3_finalize(st);
	return rc;
}

/* Add the next key of recipient rid, inside the caller's transaction. */
static int insert_next(struct gw_store *s, int64_t rid, int64_t now, uint16_t *id, char *err,
                       size_t errlen)
{
	uint8_t key[GW_SMSKEY_LEN], wrapped[SMSKEY_WRAPPED_LEN];
	size_t wlen = 0;
	char aad[64];
	int64_t next = 0;
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;

	st = gw_store_prepare(s, "SELECT coalesce(max(key_id), 0) FROM sms_keys WHERE "
	                         "recipient_id = ?");
	if (st == NULL)
		goto db;
	sqlite3_bind_int64(st, 1, rid);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto db;
	next = sqlite3_column_int64(st, 0) + 1;
	sqlite3_finalize(st);
	st = NULL;
	if (next > 65535) {
		snprintf(err, errlen, "sms key ids of this recipient are used up (65535)");
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	rc = MQS_ERR_CRYPTO;
	smskey_aad(aad, sizeof(aad), rid, (unsigned)next);
	if (RAND_bytes(key, sizeof(key)) != 1 ||
	    mqs_wrap_seal(s->mk, aad, key, sizeof(key), wrapped, sizeof(wrapped), &wlen) !=
	        MQS_OK) {
		snprintf(err, errlen, "cannot make an sms key");
		goto out;
	}
	rc = MQS_ERR_DB;
	st = gw_store_prepare(s, "INSERT INTO sms_keys(recipient_id, key_id, wrapped, created_at) "
	                         "VALUES (?, ?, ?, ?)");
	if (st == NULL)
		goto db;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_int64(st, 2, next);
	sqlite3_bind_blob(st, 3, wrapped, (int)wlen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto db;
	if (id != NULL)
		*id = (uint16_t)next;
	rc = MQS_OK;
	goto out;
db:
	snprintf(err, errlen, "database error");
out:
	sqlite3_finalize(st);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(wrapped, sizeof(wrapped));
	return rc;
}

/* add (rotate 0) or rotate (rotate 1) in one transaction. */
static int add_or_rotate(struct gw_store *s, const char *name, int rotate, int64_t grace_ms,
                         uint16_t *id, char *err, size_t errlen)
{
	int64_t now = (int64_t)mqs_now_ms(), rid;
	sqlite3_stmt *st = NULL;
	int has, rc = MQS_ERR_DB;

	if (gw_store_begin(s) != MQS_OK) {
		snprintf(err, errlen, "database busy or unwritable");
		goto out;
	}
	rid = gw_recipient_id(s, name);
	if (rid < 0) {
		rc = rid == -1 ? MQS_ERR_NOENT : MQS_ERR_DB;
		snprintf(err, errlen, rid == -1 ? "no recipient %s" : "database error", name);
		goto rollback;
	}
	if (prune(s, rid, now) != MQS_OK)
		goto db;
	has = gw_smskey_has(s, name);
	if (has < 0)
		goto db;
	if (!rotate && has) {
		snprintf(err, errlen, "recipient %s has an sms key (use recipient key rotate)",
		         name);
		rc = MQS_ERR_EXISTS;
		goto rollback;
	}
	if (rotate && !has) {
		snprintf(err, errlen, "recipient %s has no sms key (use recipient key add)", name);
		rc = MQS_ERR_NOENT;
		goto rollback;
	}
	if (rotate) {
		/* grace 0: expired at once, never returned, pruned by the next change */
		st =
		    gw_store_prepare(s, "UPDATE sms_keys SET expires_at = ? WHERE recipient_id = ? "
		                        "AND expires_at IS NULL");
		if (st == NULL)
			goto db;
		sqlite3_bind_int64(st, 1, now + grace_ms);
		sqlite3_bind_int64(st, 2, rid);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto db;
	}
	rc = insert_next(s, rid, now, id, err, errlen);
	if (rc != MQS_OK)
		goto rollback;
	rc = gw_store_commit(s);
	if (rc != MQS_OK)
		snprintf(err, errlen, "cannot commit");
	goto out;
db:
	rc = MQS_ERR_DB;
	snprintf(err, errlen, "database error");
rollback:
	gw_store_rollback(s);
out:
	sqlite3_finalize(st);
	return rc;
}

/* New first key; see header. */
int gw_smskey_add(struct gw_store *s, const char *name, uint16_t *id, char *err, size_t errlen)
{
	return add_or_rotate(s, name, 0, 0, id, err, errlen);
}

/* Rotate; see header. */
int gw_smskey_rotate(struct gw_store *s, const char *name, int64_t grace_ms, uint16_t *id,
                     char *err, size_t errlen)
{
	if (grace_ms < 0 || grace_ms > 366LL * 86400 * 1000) {
		snprintf(err, errlen, "grace must be 0..366 days");
		return MQS_ERR_INVAL;
	}
	return add_or_rotate(s, name, 1, grace_ms, id, err, errlen);
}

/* Active key present; see header. */
int gw_smskey_has(struct gw_store *s, const char *name)
{
	sqlite3_stmt *st = gw_store_prepare(s, "SELECT 1 FROM sms_keys k JOIN recipients r ON "
	                                       "r.id = k.recipient_id WHERE r.name = ? AND "
	                                       "k.expires_at IS NULL");
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		ret = 1;
	else if (rc == SQLITE_DONE)
		ret = 0;
	sqlite3_finalize(st);
	return ret;
}

/* Unwrap the row of st (recipient_id, key_id, wrapped, created_at,
 * expires_at) into *out. */
static int row_unwrap(struct gw_store *s, sqlite3_stmt *st, struct gw_smskey *out)
{
	int64_t rid = sqlite3_column_int64(st, 0), id = sqlite3_column_int64(st, 1);
	const uint8_t *blob = sqlite3_column_blob(st, 2);
	int blen = sqlite3_column_bytes(st, 2);
	char aad[64];
	size_t klen = 0;

	if (id < 1 || id > 65535 || blob == NULL || blen <= 0)
		return MQS_ERR_UNWRAP;
	smskey_aad(aad, sizeof(aad), rid, (unsigned)id);
	if (mqs_wrap_open(s->mk, aad, blob, (size_t)blen, out->key, sizeof(out->key), &klen) !=
	        MQS_OK ||
	    klen != GW_SMSKEY_LEN) {
		OPENSSL_cleanse(out->key, sizeof(out->key));
		return MQS_ERR_UNWRAP;
	}
	out->id = (uint16_t)id;
	out->created_ms = sqlite3_column_int64(st, 3);
	out->expires_ms =
	    sqlite3_column_type(st, 4) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 4);
	return MQS_OK;
}

/* Walk the keys of name (active only when active_only) into out[max]. */
static int keys_read(struct gw_store *s, const char *name, int active_only, struct gw_smskey *out,
                     size_t max, size_t *n)
{
	sqlite3_stmt *st;
	int64_t rid;
	int step, rc = MQS_ERR_DB;

	*n = 0;
	rid = gw_recipient_id(s, name);
	if (rid < 0)
		return rid == -1 ? MQS_ERR_NOENT : MQS_ERR_DB;
	st = gw_store_prepare(
	    s, active_only ? "SELECT recipient_id, key_id, wrapped, created_at, expires_at "
	                     "FROM sms_keys WHERE recipient_id = ? AND expires_at IS NULL"
	                   : "SELECT recipient_id, key_id, wrapped, created_at, expires_at "
	                     "FROM sms_keys WHERE recipient_id = ? AND (expires_at IS NULL "
	                     "OR expires_at > ?) ORDER BY key_id DESC");
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, rid);
	if (!active_only)
		sqlite3_bind_int64(st, 2, (int64_t)mqs_now_ms());
	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_DONE) {
			rc = MQS_OK;
			break;
		}
		if (step != SQLITE_ROW)
			break;
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
		OPENSSL_cleanse(out, max * sizeof(*out));
		*n = 0;
	}
	return rc;
}

/* Active key; see header. */
int gw_smskey_active(struct gw_store *s, const char *name, struct gw_smskey *out)
{
	size_t n = 0;
	int rc = keys_read(s, name, 1, out, 1, &n);

	if (rc == MQS_OK && n == 0)
		rc = MQS_ERR_NOENT;
	return rc;
}

/* Every unexpired key; see header. */
int gw_smskey_all(struct gw_store *s, const char *name, struct gw_smskey *out, size_t max,
                  size_t *n)
{
	return keys_read(s, name, 0, out, max, n);
}
