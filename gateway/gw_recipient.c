/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_recipient.c - recipients: encrypted addresses, HMAC lookups,
 * opt-outs, device bindings, listing rows. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gw_ack.h"
#include "gw_group.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_master_key.h"
#include "mqs_util.h"

#define HASH_LEN 32

static const char *const col_data[GW_F__COUNT] = {"email", "phone", "line"};

/* HMAC of "<field>:<value>" (emails lowercased) under the lookup key:
 * MQS_OK or MQS_ERR_CRYPTO. */
static int lookup_hash(const struct gw_store *s, int field, const char *value,
                       uint8_t out[HASH_LEN])
{
	char buf[GW_ADDR_MAX + 16];
	unsigned int len = HASH_LEN;
	int n;

	n = snprintf(buf, sizeof(buf), "%s:%s", gw_field_name(field), value);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return MQS_ERR_CRYPTO;
	if (field == GW_F_EMAIL) {
		for (char *p = buf; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	if (HMAC(EVP_sha256(), s->lookup_key, sizeof(s->lookup_key), (const unsigned char *)buf,
	         (size_t)n, out, &len) == NULL) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return MQS_ERR_CRYPTO;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return MQS_OK;
}

/* The AAD that binds a sealed field to its recipient and field. */
static void field_aad(char *aad, size_t cap, const char *name, int field)
{
	snprintf(aad, cap, "recipient:%s:%s", name, gw_field_name(field));
}

/* Row id of recipient name: the id, -1 when none, -2 on a database error. */
int64_t gw_recipient_id(struct gw_store *s, const char *name)
{
	return gw_store_id_of(s, "SELECT id FROM recipients WHERE name = ?", name);
}

/* Add a recipient. */
int gw_recipient_add(struct gw_store *s, const char *name, const char *const values[GW_F__COUNT],
                     const char *const *groups, size_t ngroups, char *err, size_t errlen)
{
	char norm[GW_F__COUNT][GW_ADDR_MAX];
	uint8_t sealed[GW_F__COUNT][GW_ADDR_MAX + MQS_WRAP_OVERHEAD];
	size_t sealed_len[GW_F__COUNT] = {0};
	uint8_t hash[GW_F__COUNT][HASH_LEN];
	char mask[GW_F__COUNT][GW_ADDR_MAX];
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_INVAL, have = 0;
	int64_t rid;

	memset(norm, 0, sizeof(norm));
	if (!gw_name_check(name)) {
		snprintf(err, errlen, "bad recipient name (1..64 of A-Z a-z 0-9 _ - . @)");
		goto out;
	}
	for (int f = 0; f < GW_F__COUNT; f++) {
		char aad[128];
		char why[160];

		if (values[f] == NULL)
			continue;
		have = 1;
		if (gw_address_normalize(f, values[f], norm[f], sizeof(norm[f]), why,
		                         sizeof(why)) != MQS_OK) {
			snprintf(err, errlen, "%s", why);
			goto out;
		}
		field_aad(aad, sizeof(aad), name, f);
		if (mqs_wrap_seal(s->mk, aad, (const uint8_t *)norm[f], strlen(norm[f]), sealed[f],
		                  sizeof(sealed[f]), &sealed_len[f]) != MQS_OK ||
		    lookup_hash(s, f, norm[f], hash[f]) != MQS_OK) {
			snprintf(err, errlen, "cannot encrypt %s", gw_field_name(f));
			rc = MQS_ERR_CRYPTO;
			goto out;
		}
		gw_address_mask(f, norm[f], mask[f], sizeof(mask[f]));
	}
	if (!have) {
		snprintf(err, errlen, "give at least one of --email, --phone, --line");
		goto out;
	}
	rc = MQS_ERR_DB;
	if (gw_store_begin(s) != MQS_OK) {
		snprintf(err, errlen, "database busy or unwritable");
		goto out;
	}
	if (gw_recipient_id(s, name) >= 0) {
		snprintf(err, errlen, "recipient %s exists (remove it first)", name);
		rc = MQS_ERR_EXISTS;
		goto rollback;
	}
	for (int f = 0; f < GW_F__COUNT; f++) {
		char sql[96];
		sqlite3_stmt *q;
		int dup;

		if (values[f] == NULL)
			continue;
		snprintf(sql, sizeof(sql), "SELECT name FROM recipients WHERE %s_h = ?",
		         col_data[f]);
		q = gw_store_prepare(s, sql);
		if (q == NULL)
			goto rollback;
		sqlite3_bind_blob(q, 1, hash[f], HASH_LEN, SQLITE_STATIC);
		dup = sqlite3_step(q) == SQLITE_ROW;
		if (dup)
			gw_log(GW_LOG_WARN, "recipient %s has the same %s as recipient %s", name,
			       gw_field_name(f), (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
	}
	st = gw_store_prepare(s, "INSERT INTO recipients(name, email, email_h, phone, phone_h, "
	                         "line, line_h, created_at, email_m, phone_m, line_m) "
	                         "VALUES (?,?,?,?,?,?,?,?,?,?,?)");
	if (st == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	for (int f = 0; f < GW_F__COUNT; f++) {
		if (values[f] == NULL)
			continue;
		sqlite3_bind_blob(st, 2 + 2 * f, sealed[f], (int)sealed_len[f], SQLITE_STATIC);
		sqlite3_bind_blob(st, 3 + 2 * f, hash[f], HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 9 + f, mask[f], -1, SQLITE_STATIC);
	}
	/* milliseconds: unsubscribe tokens carry it to tell a reused row id
	 * (gw_unsub.h) */
	sqlite3_bind_int64(st, 8, (int64_t)mqs_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot add recipient: %s", sqlite3_errmsg(s->db));
		goto rollback;
	}
	rid = sqlite3_last_insert_rowid(s->db);
	for (size_t g = 0; g < ngroups; g++) {
		int64_t gid = gw_group_id(s, groups[g]);
		sqlite3_stmt *m;

		if (gid < 0) {
			snprintf(err, errlen, "no group %s (create it with: group add %s)",
			         groups[g], gw_name_check(groups[g]) ? groups[g] : "NAME");
			rc = MQS_ERR_NOENT;
			goto rollback;
		}
		m = gw_store_prepare(
		    s, "INSERT OR IGNORE INTO group_members(group_id, recipient_id) VALUES (?, ?)");
		if (m == NULL)
			goto rollback;
		sqlite3_bind_int64(m, 1, gid);
		sqlite3_bind_int64(m, 2, rid);
		if (sqlite3_step(m) != SQLITE_DONE) {
			sqlite3_finalize(m);
			snprintf(err, errlen, "cannot add membership: %s", sqlite3_errmsg(s->db));
			goto rollback;
		}
		sqlite3_finalize(m);
	}
	if (gw_store_commit(s) != MQS_OK) {
		snprintf(err, errlen, "cannot commit");
		goto out;
	}
	rc = MQS_OK;
	goto out;
rollback:
	gw_store_rollback(s);
out:
	sqlite3_finalize(st);
	OPENSSL_cleanse(norm, sizeof(norm));
	return rc;
}

/* Remove a recipient. */
int gw_recipient_rm(struct gw_store *s, const char *name, char *err, size_t errlen)
{
	return gw_store_change_named(s, "DELETE FROM recipients WHERE name = ?", name, "recipient",
	                             gw_name_check(name), err, errlen);
}

/* Bind a recipient to the device that acknowledges for them. */
int gw_recipient_set_device(struct gw_store *s, const char *name, const char *device, char *err,
                            size_t errlen)
{
	sqlite3_stmt *st;
	int64_t rid;
	int rc = MQS_ERR_DB;

	if (device != NULL && !gw_ack_device_check(device)) {
		snprintf(err, errlen, "bad device name (1..%d of A-Z a-z 0-9 . _ -)",
		         GW_DEVICE_MAX);
		return MQS_ERR_INVAL;
	}
	rid = gw_recipient_id(s, name);
	if (rid == -1) {
		snprintf(err, errlen, "no recipient %s",
		         gw_name_check(name) ? name : "by that name");
		return MQS_ERR_NOENT;
	}
	st = gw_store_prepare(s, "UPDATE recipients SET device = ? WHERE id = ?");
	if (st == NULL || rid < 0) {
		snprintf(err, errlen, "database error");
		sqlite3_finalize(st);
		return rc;
	}
	if (device != NULL)
		sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, rid);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		snprintf(err, errlen, "cannot set the device: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return rc;
}

/* Decrypt a sealed field. */
int gw_recipient_open(struct gw_store *s, const char *name, int field, const uint8_t *blob,
                      size_t blen, char *out, size_t cap)
{
	size_t plen = 0;
	char aad[128];

	if (blob == NULL || blen == 0)
		return GW_ADDR_NONE;
	field_aad(aad, sizeof(aad), name, field);
	if (cap < 1 ||
	    mqs_wrap_open(s->mk, aad, blob, blen, (uint8_t *)out, cap - 1, &plen) != MQS_OK) {
		gw_log(GW_LOG_ERR, "cannot decrypt %s of recipient %s (wrong master key?)",
		       gw_field_name(field), name);
		return GW_ADDR_ERROR;
	}
	out[plen] = '\0';
	return GW_ADDR_OK;
}

/* Decrypt column col (a sealed field) of the current row into out. */
static int open_field(struct gw_store *s, sqlite3_stmt *st, int col, const char *name, int field,
                      char *out, size_t cap)
{
	return gw_recipient_open(s, name, field, sqlite3_column_blob(st, col),
	                         (size_t)sqlite3_column_bytes(st, col), out, cap);
}

/* Find by address via the lookup hash. */
int gw_recipient_find(struct gw_store *s, int field, const char *value, char *name, size_t cap,
                      char *err, size_t errlen)
{
	char norm[GW_ADDR_MAX];
	uint8_t hash[HASH_LEN];
	char sql[96];
	sqlite3_stmt *st;
	int rc;

	rc = gw_address_normalize(field, value, norm, sizeof(norm), err, errlen);
	if (rc != MQS_OK)
		return rc;
	rc = lookup_hash(s, field, norm, hash);
	OPENSSL_cleanse(norm, sizeof(norm));
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot hash address");
		return MQS_ERR_CRYPTO;
	}
	snprintf(sql, sizeof(sql), "SELECT name FROM recipients WHERE %s_h = ? ORDER BY id",
	         col_data[field]);
	st = gw_store_prepare(s, sql);
	if (st == NULL) {
		snprintf(err, errlen, "database error");
		return MQS_ERR_DB;
	}
	sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(name, cap, "%s", (const char *)sqlite3_column_text(st, 0));
		rc = MQS_OK;
	} else {
		snprintf(err, errlen, "no recipient with that %s", gw_field_name(field));
		rc = MQS_ERR_NOENT;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Every recipient with that address, via the lookup hash. */
int gw_recipient_find_each(struct gw_store *s, int field, const char *value,
                           int (*fn)(int64_t id, const char *name, void *arg), void *arg, char *err,
                           size_t errlen)
{
	char norm[GW_ADDR_MAX], name[GW_NAME_MAX + 1];
	uint8_t hash[HASH_LEN];
	char sql[96];
	sqlite3_stmt *st = NULL;
	int rc, step, n = 0;

	rc = gw_address_normalize(field, value, norm, sizeof(norm), err, errlen);
	if (rc != MQS_OK)
		return rc;
	rc = lookup_hash(s, field, norm, hash);
	OPENSSL_cleanse(norm, sizeof(norm));
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot hash address");
		return MQS_ERR_CRYPTO;
	}
	snprintf(sql, sizeof(sql), "SELECT id, name FROM recipients WHERE %s_h = ? ORDER BY id",
	         col_data[field]);
	st = gw_store_prepare(s, sql);
	if (st == NULL) {
		snprintf(err, errlen, "database error");
		return MQS_ERR_DB;
	}
	sqlite3_bind_blob(st, 1, hash, HASH_LEN, SQLITE_STATIC);
	step = sqlite3_step(st);
	while (step == SQLITE_ROW && rc == MQS_OK) {
		snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 1));
		rc = fn(sqlite3_column_int64(st, 0), name, arg);
		n++;
		if (rc == MQS_OK)
			step = sqlite3_step(st);
	}
	if (rc == MQS_OK && step != SQLITE_DONE) {
		snprintf(err, errlen, "database error");
		rc = MQS_ERR_DB;
	} else if (rc == MQS_OK && n == 0) {
		snprintf(err, errlen, "no recipient with that %s", gw_field_name(field));
		rc = MQS_ERR_NOENT;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Walk the recipients for a listing, addresses masked. */
int gw_recipient_each(struct gw_store *s, int (*fn)(const struct gw_recipient_info *ri, void *arg),
                      void *arg)
{
	sqlite3_stmt *st = gw_store_prepare(
	    s,
	    "SELECT r.name, r.email, r.phone, r.line, "
	    " (SELECT group_concat(name, ',') FROM (SELECT g.name FROM group_members m "
	    "   JOIN groups g ON g.id = m.group_id WHERE m.recipient_id = r.id ORDER BY g.name)),"
	    " (SELECT group_concat(channel, ',') FROM (SELECT channel FROM optouts o "
	    "   WHERE o.recipient_id = r.id ORDER BY channel)), r.device, r.tz,"
	    " (SELECT group_concat(channel, ',') FROM (SELECT channel FROM consents c "
	    "   WHERE c.recipient_id = r.id AND c.state = 1 ORDER BY channel)),"
	    " r.email_m, r.phone_m, r.line_m "
	    "FROM recipients r ORDER BY r.name");
	struct gw_recipient_info ri;
	int rc = MQS_ERR_DB, step;

	if (st == NULL)
		goto out;
	step = sqlite3_step(st);
	while (step == SQLITE_ROW) {
		memset(&ri, 0, sizeof(ri));
		ri.name = (const char *)sqlite3_column_text(st, 0);
		ri.groups = (const char *)sqlite3_column_text(st, 4);
		ri.optouts = (const char *)sqlite3_column_text(st, 5);
		ri.device = (const char *)sqlite3_column_text(st, 6);
		ri.tz = (const char *)sqlite3_column_text(st, 7);
		ri.consents = (const char *)sqlite3_column_text(st, 8);
		for (int f = 0; f < GW_F__COUNT; f++) {
			const char *m = (const char *)sqlite3_column_text(st, 9 + f);
			char plain[GW_ADDR_MAX];

			if (sqlite3_column_type(st, 1 + f) == SQLITE_NULL) {
				ri.status[f] = GW_ADDR_NONE;
				continue;
			}
			if (m != NULL && m[0] != '\0') {
				/* the mask stored with the address: no decryption */
				ri.status[f] = GW_ADDR_OK;
				snprintf(ri.masked[f], sizeof(ri.masked[f]), "%s", m);
				continue;
			}
			ri.status[f] = open_field(s, st, 1 + f, ri.name, f, plain, sizeof(plain));
			if (ri.status[f] == GW_ADDR_OK)
				gw_address_mask(f, plain, ri.masked[f], sizeof(ri.masked[f]));
			OPENSSL_cleanse(plain, sizeof(plain));
		}
		rc = fn(&ri, arg);
		if (rc != MQS_OK)
			goto out;
		step = sqlite3_step(st);
	}
	rc = step == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Store the mask of column f of the current row of q (id, name, email,
 * phone, line), decrypting it once. */
static int mask_fill_row(struct gw_store *s, sqlite3_stmt *q, int f)
{
	static const char *const sql[GW_F__COUNT] = {
	    "UPDATE recipients SET email_m = ? WHERE id = ?",
	    "UPDATE recipients SET phone_m = ? WHERE id = ?",
	    "UPDATE recipients SET line_m = ? WHERE id = ?"};
	const char *name = (const char *)sqlite3_column_text(q, 1);
	char plain[GW_ADDR_MAX], mask[GW_ADDR_MAX];
	sqlite3_stmt *st = NULL;
	int rc = MQS_OK;

	if (sqlite3_column_type(q, 2 + f) == SQLITE_NULL || name == NULL)
		goto out;
	/* an address that does not open keeps no mask (listed unreadable) */
	if (open_field(s, q, 2 + f, name, f, plain, sizeof(plain)) != GW_ADDR_OK)
		goto out;
	gw_address_mask(f, plain, mask, sizeof(mask));
	rc = MQS_ERR_DB;
	st = gw_store_prepare(s, sql[f]);
	if (st == NULL)
		goto out;
	sqlite3_bind_text(st, 1, mask, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, sqlite3_column_int64(q, 0));
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
out:
	sqlite3_finalize(st);
	OPENSSL_cleanse(plain, sizeof(plain));
	return rc;
}

/* Fill the masks of rows written before migration 6 (gw_recipient.h). */
int gw_recipient_masks_fill(struct gw_store *s)
{
	static const char flag[] = "recipient_masks_filled";
	sqlite3_stmt *q = NULL;
	int64_t done = 0;
	int rc = MQS_OK, step;

	if (gw_store_kv_get_int(s, flag, &done) == MQS_OK && done == 1)
		return MQS_OK;
	if (gw_store_begin(s) != MQS_OK)
		return MQS_ERR_DB;
	rc = MQS_ERR_DB;
	q = gw_store_prepare(s, "SELECT id, name, email, phone, line FROM recipients WHERE "
	                        "(email IS NOT NULL AND email_m IS NULL) OR "
	                        "(phone IS NOT NULL AND phone_m IS NULL) OR "
	                        "(line IS NOT NULL AND line_m IS NULL)");
	if (q == NULL)
		goto out;
	step = sqlite3_step(q);
	while (step == SQLITE_ROW) {
		for (int f = 0; f < GW_F__COUNT; f++) {
			if (mask_fill_row(s, q, f) != MQS_OK)
				goto out;
		}
		step = sqlite3_step(q);
	}
	if (step != SQLITE_DONE || gw_store_kv_set_int(s, flag, 1) != MQS_OK)
		goto out;
	rc = MQS_OK;
out:
	sqlite3_finalize(q);
	if (rc == MQS_OK)
		rc = gw_store_commit(s);
	else
		gw_store_rollback(s);
	return rc;
}

/* Set an address field of an existing recipient. */
int gw_recipient_set_address(struct gw_store *s, const char *name, int field, const char *value,
                             char *err, size_t errlen)
{
	static const char *const sql[GW_F__COUNT] = {
	    "UPDATE recipients SET email = ?, email_h = ?, email_m = ? WHERE name = ?",
	    "UPDATE recipients SET phone = ?, phone_h = ?, phone_m = ? WHERE name = ?",
	    "UPDATE recipients SET line = ?, line_h = ?, line_m = ? WHERE name = ?"};
	char norm[GW_ADDR_MAX], aad[128], why[160], mask[GW_ADDR_MAX];
	uint8_t sealed[GW_ADDR_MAX + MQS_WRAP_OVERHEAD], hash[HASH_LEN];
	size_t sealed_len = 0;
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_INVAL;

	memset(norm, 0, sizeof(norm));
	if (field < 0 || field >= GW_F__COUNT || value == NULL || !gw_name_check(name)) {
		snprintf(err, errlen, "bad recipient name or field");
		goto out;
	}
	if (gw_address_normalize(field, value, norm, sizeof(norm), why, sizeof(why)) != MQS_OK) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	field_aad(aad, sizeof(aad), name, field);
	if (mqs_wrap_seal(s->mk, aad, (const uint8_t *)norm, strlen(norm), sealed, sizeof(sealed),
	                  &sealed_len) != MQS_OK ||
	    lookup_hash(s, field, norm, hash) != MQS_OK) {
		snprintf(err, errlen, "cannot encrypt %s", gw_field_name(field));
		rc = MQS_ERR_CRYPTO;
		goto out;
	}
	rc = MQS_ERR_DB;
	st = gw_store_prepare(s, sql[field]);
	if (st == NULL) {
		snprintf(err, errlen, "database error");
		goto out;
	}
	sqlite3_bind_blob(st, 1, sealed, (int)sealed_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, hash, HASH_LEN, SQLITE_STATIC);
	gw_address_mask(field, norm, mask, sizeof(mask));
	sqlite3_bind_text(st, 3, mask, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot set %s: %s", gw_field_name(field),
		         sqlite3_errmsg(s->db));
		goto out;
	}
	if (sqlite3_changes(s->db) == 0) {
		snprintf(err, errlen, "no recipient %s", name);
		rc = MQS_ERR_NOENT;
		goto out;
	}
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	OPENSSL_cleanse(norm, sizeof(norm));
	return rc;
}

/* Set or clear the time zone of a recipient. */
int gw_recipient_set_tz(struct gw_store *s, const char *name, const char *tz, char *err,
                        size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_INVAL;

	if (tz != NULL && (strlen(tz) > 64 || !gw_tz_valid(tz))) {
		snprintf(err, errlen, "unknown time zone (give an IANA name such as Asia/Taipei)");
		goto out;
	}
	rc = MQS_ERR_DB;
	st = gw_store_prepare(s, "UPDATE recipients SET tz = ? WHERE name = ?");
	if (st == NULL) {
		snprintf(err, errlen, "database error");
		goto out;
	}
	if (tz != NULL)
		sqlite3_bind_text(st, 1, tz, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot set the time zone: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	if (sqlite3_changes(s->db) == 0) {
		snprintf(err, errlen, "no recipient %s",
		         gw_name_check(name) ? name : "by that name");
		rc = MQS_ERR_NOENT;
		goto out;
	}
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The name of a recipient row. */
int gw_recipient_name_of(struct gw_store *s, int64_t id, char *name, size_t cap)
{
	sqlite3_stmt *st = gw_store_stmt(s, "SELECT name FROM recipients WHERE id = ?");
	int r, rc = MQS_ERR_DB;

	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		snprintf(name, cap, "%s", (const char *)sqlite3_column_text(st, 0));
		rc = MQS_OK;
	} else if (r == SQLITE_DONE) {
		rc = MQS_ERR_NOENT;
	}
	gw_store_done(st);
	return rc;
}

/* The creation time of a recipient row. */
int gw_recipient_created_at(struct gw_store *s, int64_t id, int64_t *created_at)
{
	sqlite3_stmt *st = gw_store_stmt(s, "SELECT created_at FROM recipients WHERE id = ?");
	int r, rc = MQS_ERR_DB;

	*created_at = -1;
	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*created_at = sqlite3_column_int64(st, 0);
		rc = MQS_OK;
	} else if (r == SQLITE_DONE) {
		rc = MQS_ERR_NOENT;
	}
	gw_store_done(st);
	return rc;
}
