/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_session.c - console sessions (docs/console.md "Sessions and CSRF"):
 * a 256-bit random id in the cookie, only its SHA-256 in the database; idle
 * and absolute limits; a CSRF token and a flash message per session. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cs_int.h"
#include "mqs_util.h"

static int sid_hash(const char *sid_text, uint8_t out[32])
{
	uint8_t raw[CS_SID_LEN];
	size_t n = 0;
	unsigned int hl = 0;
	int rc = MQS_ERR_NOENT;

	if (sid_text == NULL || strlen(sid_text) != CS_SID_TEXT)
		goto out;
	if (mqs_base64url_decode(sid_text, CS_SID_TEXT, raw, sizeof(raw), &n) != MQS_OK ||
	    n != CS_SID_LEN)
		goto out;
	if (EVP_Digest(raw, sizeof(raw), out, &hl, EVP_sha256(), NULL) != 1 || hl != 32) {
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	rc = MQS_OK;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* Create a session. */
int cs_session_create(sqlite3 *db, long long user_id, long long now, char sid_text[CS_SID_TEXT + 1])
{
	uint8_t raw[CS_SID_LEN], h[32];
	char csrf[CS_CSRF_TEXT + 1];
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_CRYPTO;

	sid_text[0] = '\0';
	if (RAND_bytes(raw, sizeof(raw)) != 1 || cs_csrf_random(csrf) != MQS_OK)
		goto out;
	mqs_base64url_encode(raw, sizeof(raw), sid_text);
	sid_text[CS_SID_TEXT] = '\0';
	rc = sid_hash(sid_text, h);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_DB;
	if (sqlite3_prepare_v2(
	        db,
	        "INSERT INTO sessions (id_hash, user_id, created_at, last_seen, csrf, stepup_at) "
	        "VALUES (?1, ?2, ?3, ?3, ?4, ?3)",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_text(st, 4, csrf, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	if (rc != MQS_OK)
		OPENSSL_cleanse(sid_text, CS_SID_TEXT + 1);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(csrf, sizeof(csrf));
	return rc;
}

/* Find a valid session. */
int cs_session_find(sqlite3 *db, const char *sid_text, long long now, long long idle, long long max,
                    struct cs_session *s)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = sid_hash(sid_text, s->id_hash);
	if (rc != MQS_OK) {
		rc = MQS_ERR_NOENT;
		goto out;
	}
	rc = MQS_ERR_DB;
	if (sqlite3_prepare_v2(db,
	                       "SELECT user_id, created_at, last_seen, csrf, flash, flash_ok, "
	                       "stepup_at FROM sessions WHERE id_hash = ?1",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, s->id_hash, sizeof(s->id_hash), SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = MQS_ERR_NOENT;
		goto out;
	}
	s->user_id = sqlite3_column_int64(st, 0);
	s->created_at = sqlite3_column_int64(st, 1);
	s->last_seen = sqlite3_column_int64(st, 2);
	snprintf(s->csrf, sizeof(s->csrf), "%s", (const char *)sqlite3_column_text(st, 3));
	snprintf(s->flash, sizeof(s->flash), "%s", (const char *)sqlite3_column_text(st, 4));
	s->flash_ok = sqlite3_column_int(st, 5);
	s->stepup_at = sqlite3_column_int64(st, 6);
	sqlite3_finalize(st);
	st = NULL;
	if (now - s->last_seen >= idle || now - s->created_at >= max || now < s->created_at) {
		cs_session_drop(db, s->id_hash);
		rc = MQS_ERR_NOENT;
		goto out;
	}
	rc = MQS_ERR_DB;
	if (sqlite3_prepare_v2(db, "UPDATE sessions SET last_seen = ?2 WHERE id_hash = ?1", -1, &st,
	                       NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, s->id_hash, sizeof(s->id_hash), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	s->last_seen = now;
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	if (rc != MQS_OK) {
		OPENSSL_cleanse(s->csrf, sizeof(s->csrf));
		s->user_id = 0;
	}
	return rc;
}

static void by_hash(sqlite3 *db, const char *sql, const uint8_t h[32], const char *text, int num)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
	if (text != NULL) {
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, num);
	}
	(void)sqlite3_step(st);
out:
	sqlite3_finalize(st);
}

/* Delete one session. */
void cs_session_drop(sqlite3 *db, const uint8_t id_hash[32])
{
	by_hash(db, "DELETE FROM sessions WHERE id_hash = ?1", id_hash, NULL, 0);
}

/* Delete a user's sessions. */
void cs_session_drop_user(sqlite3 *db, long long user_id)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, "DELETE FROM sessions WHERE user_id = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	(void)sqlite3_step(st);
out:
	sqlite3_finalize(st);
}

/* Delete a user's sessions but one. */
int cs_session_drop_others(sqlite3 *db, long long user_id, const uint8_t keep_hash[32])
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;

	if (sqlite3_prepare_v2(db, "DELETE FROM sessions WHERE user_id = ?1 AND id_hash != ?2", -1,
	                       &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, user_id);
	sqlite3_bind_blob(st, 2, keep_hash, 32, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Record a step-up. */
int cs_session_stepup(sqlite3 *db, const uint8_t id_hash[32], long long now)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_DB;

	if (sqlite3_prepare_v2(db, "UPDATE sessions SET stepup_at = ?2 WHERE id_hash = ?1", -1, &st,
	                       NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, id_hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(db) != 1)
		goto out;
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Whether a step-up is still valid. */
int cs_stepup_fresh(long long stepup_at, long long now, long long window)
{
	return stepup_at > 0 && now >= stepup_at && now - stepup_at < window;
}

/* Store the flash message. */
void cs_session_flash_set(sqlite3 *db, const uint8_t id_hash[32], const char *msg, int ok)
{
	by_hash(db,
	        "UPDATE sessions SET flash = substr(?2, 1, 200), flash_ok = ?3 WHERE id_hash = ?1",
	        id_hash, msg != NULL ? msg : "", ok ? 1 : 0);
}

/* Clear the flash message once shown. */
void cs_session_flash_clear(sqlite3 *db, const uint8_t id_hash[32])
{
	by_hash(db, "UPDATE sessions SET flash = '' WHERE id_hash = ?1 AND flash != ''", id_hash,
	        NULL, 0);
}

/* Delete expired sessions. */
void cs_session_gc(sqlite3 *db, long long now, long long idle, long long max)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, "DELETE FROM sessions WHERE last_seen <= ?1 OR created_at <= ?2",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now - idle);
	sqlite3_bind_int64(st, 2, now - max);
	(void)sqlite3_step(st);
out:
	sqlite3_finalize(st);
}
