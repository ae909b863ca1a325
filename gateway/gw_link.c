/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_link.c - link codes that bind a LINE user id to a recipient
 * (gw_link.h; docs/marketing.md, "Linking a LINE account"). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "gw_link.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_util.h"
#include "mqs_util.h"

#define CODE_ALPHABET   "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" /* RFC 4648 base32 */
#define LIMIT_WINDOW_MS (60 * 60 * 1000)
#define LIMIT_PER_USER  5
#define HASH_LEN        32

/* Open a transaction unless one is open: 1 when we opened it, 0 when the
 * caller's is used, -1 when it could not begin. */
static int tx_begin(struct gw_store *s)
{
	if (s->in_tx)
		return 0;
	return gw_store_begin(s) == MQS_OK ? 1 : -1;
}

/* Finish what tx_begin() opened: commit on MQS_OK, NOENT and PERM (the
 * failure counters must stay), else roll back. */
static int tx_end(struct gw_store *s, int own, int rc)
{
	if (own != 1)
		return rc;
	if (rc == MQS_OK || rc == MQS_ERR_NOENT || rc == MQS_ERR_PERM)
		return gw_store_commit(s) == MQS_OK ? rc : MQS_ERR_DB;
	gw_store_rollback(s);
	return rc;
}

/* Trim spaces from both ends of text[0..*len): returns the start. */
static const char *trim(const char *text, size_t *len)
{
	size_t n = *len;

	while (n > 0 && isspace((unsigned char)text[0])) {
		text++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)text[n - 1]))
		n--;
	*len = n;
	return text;
}

/* 1 when text is a code in shape. */
int gw_link_looks_like_code(const char *text, size_t len)
{
	const char *t;

	if (text == NULL || len > 64)
		return 0;
	t = trim(text, &len);
	if (len != GW_LINK_CODE_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = (char)toupper((unsigned char)t[i]);

		if (c == '\0' || strchr(CODE_ALPHABET, c) == NULL)
			return 0;
	}
	return 1;
}

/* HMAC-SHA256(lookup key, "link:" | upper-case code): MQS_OK or
 * MQS_ERR_CRYPTO. */
static int code_hash(const struct gw_store *s, const char *code, size_t len, uint8_t out[HASH_LEN])
{
	char buf[8 + GW_LINK_CODE_LEN];
	unsigned int olen = HASH_LEN;
	int rc = MQS_ERR_CRYPTO;

	if (len != GW_LINK_CODE_LEN)
		return rc;
	memcpy(buf, "link:", 5);
	for (size_t i = 0; i < len; i++)
		buf[5 + i] = (char)toupper((unsigned char)code[i]);
	if (HMAC(EVP_sha256(), s->lookup_key, sizeof(s->lookup_key), (const unsigned char *)buf,
	         5 + len, out, &olen) != NULL)
		rc = MQS_OK;
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* Drop codes that have expired. */
static int prune(struct gw_store *s, int64_t now_ms)
{
	sqlite3_stmt *st = gw_store_stmt(s, "DELETE FROM link_codes WHERE expires_at <= ?");
	int r;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, now_ms);
	r = sqlite3_step(st);
	gw_store_done(st);
	return r == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
}

/* Create a code. */
int gw_link_create(struct gw_store *s, const char *name, int ch, int64_t now_ms,
                   char code[GW_LINK_CODE_LEN + 1], char *err, size_t errlen)
{
	uint8_t rnd[GW_LINK_CODE_LEN], hash[HASH_LEN];
	sqlite3_stmt *st;
	int64_t rid;
	int own = 0, rc = MQS_ERR_INVAL, r;

	code[0] = '\0';
	if (ch != GW_CH_LINE) {
		snprintf(err, errlen, "link codes exist for line only");
		goto out;
	}
	rc = MQS_ERR_CRYPTO;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		snprintf(err, errlen, "no randomness");
		goto out;
	}
	for (size_t i = 0; i < GW_LINK_CODE_LEN; i++)
		code[i] = CODE_ALPHABET[rnd[i] & 31]; /* 5 bits each: 50 bits */
	code[GW_LINK_CODE_LEN] = '\0';
	if (code_hash(s, code, GW_LINK_CODE_LEN, hash) != MQS_OK) {
		snprintf(err, errlen, "cannot hash the code");
		goto out;
	}
	own = tx_begin(s);
	rc = MQS_ERR_DB;
	if (own < 0) {
		snprintf(err, errlen, "database busy or unwritable");
		goto out;
	}
	rid = gw_recipient_id(s, name);
	if (rid == -1) {
		snprintf(err, errlen, "no recipient %s",
		         gw_name_check(name) ? name : "by that name");
		rc = MQS_ERR_NOENT;
		goto out;
	}
	if (rid < 0 || prune(s, now_ms) != MQS_OK) {
		snprintf(err, errlen, "database error");
		goto out;
	}
	st = gw_store_stmt(s, "DELETE FROM link_codes WHERE recipient_id = ? AND channel = ?");
	if (st == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	gw_store_done(st);
	if (r != SQLITE_DONE)
		goto out;
	st = gw_store_stmt(s, "INSERT INTO link_codes(code_h, recipient_id, channel, expires_at, "
	                      "created_at) VALUES (?, ?, ?, ?, ?)");
	if (st == NULL)
		goto out;
	sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, rid);
	sqlite3_bind_text(st, 3, gw_chan_name(ch), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ms + GW_LINK_TTL_MS);
	sqlite3_bind_int64(st, 5, now_ms);
	r = sqlite3_step(st);
	gw_store_done(st);
	if (r != SQLITE_DONE) {
		snprintf(err, errlen, "cannot store the code");
		goto out;
	}
	rc = MQS_OK;
out:
	if (own == 1 && rc == MQS_OK && gw_store_commit(s) != MQS_OK) {
		snprintf(err, errlen, "cannot commit");
		rc = MQS_ERR_DB;
	} else if (own == 1 && rc != MQS_OK) {
		gw_store_rollback(s);
	}
	if (rc != MQS_OK)
		OPENSSL_cleanse(code, GW_LINK_CODE_LEN + 1);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return rc;
}

/* The counter key of a LINE user id: "link-user:" and 16 bytes of its
 * HMAC under the lookup key, in hex (no user id stored in the clear). */
static int user_key(const struct gw_store *s, const char *user_id, char *out, size_t cap)
{
	uint8_t mac[HASH_LEN];
	unsigned int mlen = HASH_LEN;
	char hex[33];

	if (HMAC(EVP_sha256(), s->lookup_key, sizeof(s->lookup_key), (const unsigned char *)user_id,
	         strlen(user_id), mac, &mlen) == NULL)
		return MQS_ERR_CRYPTO;
	mqs_hex_encode(mac, 16, hex);
	snprintf(out, cap, "link-user:%s", hex);
	return MQS_OK;
}

/* The failure count of key in the current window (0 when the window is
 * over), or -1 on error. */
static int64_t limit_get(struct gw_store *s, const char *key, int64_t now_ms)
{
	sqlite3_stmt *st =
	    gw_store_stmt(s, "SELECT count, window_start FROM http_limits WHERE key = ?");
	int64_t n = 0;
	int r;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW && now_ms - sqlite3_column_int64(st, 1) < LIMIT_WINDOW_MS)
		n = sqlite3_column_int64(st, 0);
	gw_store_done(st);
	return r == SQLITE_ROW || r == SQLITE_DONE ? n : -1;
}

/* Count one failure for key (a new window when the old one is over). */
static int limit_bump(struct gw_store *s, const char *key, int64_t now_ms)
{
	static const char sql[] =
	    "INSERT INTO http_limits(key, count, window_start) VALUES (?1, 1, ?2) "
	    "ON CONFLICT (key) DO UPDATE SET "
	    "count = CASE WHEN ?2 - window_start >= ?3 THEN 1 ELSE count + 1 END, "
	    "window_start = CASE WHEN ?2 - window_start >= ?3 THEN ?2 ELSE window_start END";
	sqlite3_stmt *st = gw_store_stmt(s, sql);
	int r;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, LIMIT_WINDOW_MS);
	r = sqlite3_step(st);
	gw_store_done(st);
	return r == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
}

/* Redeem a code. */
int gw_link_redeem(struct gw_store *s, const char *text, size_t len, const char *user_id,
                   int64_t now_ms, char *name, size_t cap)
{
	uint8_t hash[HASH_LEN];
	char ukey[64], err[160];
	const char *t;
	sqlite3_stmt *st;
	int64_t rid = -1, nu;
	int own, rc = MQS_ERR_DB, r;

	if (cap > 0)
		name[0] = '\0';
	if (user_id == NULL || text == NULL || len > 64)
		return MQS_ERR_NOENT;
	t = trim(text, &len);
	if (user_key(s, user_id, ukey, sizeof(ukey)) != MQS_OK)
		return MQS_ERR_DB;
	own = tx_begin(s);
	if (own < 0)
		return MQS_ERR_DB;
	nu = limit_get(s, ukey, now_ms);
	if (nu < 0)
		goto out;
	if (nu >= LIMIT_PER_USER) {
		rc = MQS_ERR_PERM;
		goto out;
	}
	if (!gw_link_looks_like_code(t, len) || code_hash(s, t, len, hash) != MQS_OK)
		goto fail;
	st = gw_store_stmt(s, "SELECT recipient_id FROM link_codes WHERE code_h = ? AND "
	                      "channel = 'line' AND expires_at > ?");
	if (st == NULL)
		goto out;
	sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		rid = sqlite3_column_int64(st, 0);
	gw_store_done(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		goto out;
	if (r == SQLITE_DONE)
		goto fail;
	if (gw_recipient_name_of(s, rid, name, cap) != MQS_OK)
		goto out;
	rc = gw_recipient_set_address(s, name, GW_F_LINE, user_id, err, sizeof(err));
	if (rc == MQS_ERR_INVAL) {
		gw_log(GW_LOG_WARN, "link code for recipient %s: the sender's LINE id is unusable",
		       name);
		goto fail;
	}
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_DB;
	st = gw_store_stmt(s, "DELETE FROM link_codes WHERE code_h = ?");
	if (st == NULL)
		goto out;
	sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_STATIC);
	r = sqlite3_step(st);
	gw_store_done(st);
	if (r == SQLITE_DONE)
		rc = MQS_OK;
	goto out;
fail:
	if (cap > 0)
		name[0] = '\0';
	rc = MQS_ERR_DB;
	if (limit_bump(s, ukey, now_ms) == MQS_OK)
		rc = MQS_ERR_NOENT;
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	if (rc != MQS_OK && cap > 0)
		name[0] = '\0';
	return tx_end(s, own, rc);
}

/* Prune counters whose window is over. */
int gw_link_prune(struct gw_store *s, int64_t now_ms)
{
	sqlite3_stmt *st = gw_store_stmt(s, "DELETE FROM http_limits WHERE window_start <= ?");
	int r;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, now_ms - LIMIT_WINDOW_MS);
	r = sqlite3_step(st);
	gw_store_done(st);
	return r == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
}
