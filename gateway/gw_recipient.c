/* gw_recipient.c - recipients (encrypted addresses, HMAC lookups), groups,
 * opt-outs. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gw_ack.h"
#include "gw_log.h"
#include "gw_recipient.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_master_key.h"
#include "mqs_util.h"

#define HASH_LEN 32

static const char *const field_names[GW_F__COUNT] = {"email", "phone", "line"};
static const char *const col_data[GW_F__COUNT] = {"email", "phone", "line"};

/* Name of an address field. */
const char *gw_field_name(int field)
{
	if (field < 0 || field >= GW_F__COUNT)
		return "?";
	return field_names[field];
}

/* Channel to field: sms and phone share the phone number. */
int gw_field_for_chan(int ch)
{
	switch (ch) {
	case GW_CH_EMAIL:
		return GW_F_EMAIL;
	case GW_CH_SMS:
	case GW_CH_PHONE:
		return GW_F_PHONE;
	case GW_CH_LINE:
		return GW_F_LINE;
	default:
		return -1;
	}
}

/* Names are ASCII words: they appear in logs and status messages. */
int gw_name_check(const char *name)
{
	size_t len = 0;

	if (name == NULL)
		return 0;
	for (; name[len] != '\0'; len++) {
		unsigned char c = (unsigned char)name[len];
		if (len >= GW_NAME_MAX)
			return 0;
		if (!isalnum(c) && c != '_' && c != '-' && c != '.' && c != '@')
			return 0;
	}
	return len > 0;
}

static int email_normalize(const char *in, char *out, size_t cap, char *err, size_t errlen)
{
	const char *at, *dot;
	size_t len;

	while (isspace((unsigned char)*in))
		in++;
	len = strlen(in);
	while (len > 0 && isspace((unsigned char)in[len - 1]))
		len--;
	if (len < 3 || len > 254 || len >= cap) {
		snprintf(err, errlen, "email address must be 3..254 characters");
		return MQS_ERR_INVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c <= ' ' || c == 0x7f || strchr("<>()[]\\,;:\"", c) != NULL) {
			snprintf(err, errlen, "email address contains a character not allowed");
			return MQS_ERR_INVAL;
		}
	}
	memcpy(out, in, len);
	out[len] = '\0';
	at = strchr(out, '@');
	if (at == NULL || at == out || strchr(at + 1, '@') != NULL || at - out > 64) {
		snprintf(err, errlen, "email address needs one @ after a local part of 1..64");
		return MQS_ERR_INVAL;
	}
	dot = strrchr(at + 1, '.');
	if (dot == NULL || dot == at + 1 || dot[1] == '\0') {
		snprintf(err, errlen, "email domain needs a dot (e.g. example.com)");
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

static int phone_normalize(const char *in, char *out, size_t cap, char *err, size_t errlen)
{
	size_t n = 0, digits = 0;

	while (isspace((unsigned char)*in))
		in++;
	if (*in != '+') {
		snprintf(err, errlen, "phone number must be in international form (+15550000000)");
		return MQS_ERR_INVAL;
	}
	out[n++] = '+';
	for (in++; *in != '\0'; in++) {
		if (isdigit((unsigned char)*in)) {
			if (n + 1 >= cap || digits >= 15) {
				snprintf(err, errlen, "phone number has more than 15 digits");
				return MQS_ERR_INVAL;
			}
			out[n++] = *in;
			digits++;
		} else if (strchr(" -.()", *in) == NULL) {
			snprintf(err, errlen, "phone number may only hold digits after +");
			return MQS_ERR_INVAL;
		}
	}
	out[n] = '\0';
	if (digits < 8 || out[1] == '0') {
		snprintf(err, errlen, "phone number must have 8..15 digits and no leading 0");
		return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

static int line_normalize(const char *in, char *out, size_t cap, char *err, size_t errlen)
{
	size_t len = strlen(in);

	if (len == 0 || len > 64 || len >= cap) {
		snprintf(err, errlen, "line user id must be 1..64 letters and digits");
		return MQS_ERR_INVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (!isalnum((unsigned char)in[i])) {
			snprintf(err, errlen, "line user id must be 1..64 letters and digits");
			return MQS_ERR_INVAL;
		}
	}
	memcpy(out, in, len + 1);
	return MQS_OK;
}

/* Validate and normalise one address. */
int gw_field_normalize(int field, const char *in, char *out, size_t cap, char *err, size_t errlen)
{
	if (in == NULL || cap < 2) {
		snprintf(err, errlen, "empty address");
		return MQS_ERR_INVAL;
	}
	switch (field) {
	case GW_F_EMAIL:
		return email_normalize(in, out, cap, err, errlen);
	case GW_F_PHONE:
		return phone_normalize(in, out, cap, err, errlen);
	case GW_F_LINE:
		return line_normalize(in, out, cap, err, errlen);
	default:
		snprintf(err, errlen, "unknown address field");
		return MQS_ERR_INVAL;
	}
}

/* Masked display form. */
void gw_field_mask(int field, const char *v, char *out, size_t cap)
{
	size_t len = strlen(v);

	if (cap == 0)
		return;
	if (field == GW_F_EMAIL) {
		const char *at = strchr(v, '@');
		const char *dot = at != NULL ? strrchr(at, '.') : NULL;

		if (at == NULL || at == v || at[1] == '\0') {
			snprintf(out, cap, "***");
			return;
		}
		if (dot != NULL && dot > at + 1)
			snprintf(out, cap, "%c***@%c***%.16s", v[0], at[1], dot);
		else
			snprintf(out, cap, "%c***@%c***", v[0], at[1]);
	} else if (field == GW_F_PHONE) {
		char stars[16];
		size_t digits = len > 0 ? len - 1 : 0;
		size_t nstars = digits > 5 ? digits - 5 : 0;

		if (len < 7 || v[0] != '+') {
			snprintf(out, cap, "***");
			return;
		}
		if (nstars >= sizeof(stars))
			nstars = sizeof(stars) - 1;
		memset(stars, '*', nstars);
		stars[nstars] = '\0';
		snprintf(out, cap, "+%c%s%s", v[1], stars, v + len - 4);
	} else {
		if (len < 6)
			snprintf(out, cap, "***");
		else
			snprintf(out, cap, "%c***%s", v[0], v + len - 4);
	}
}

/* HMAC of "<field>:<value>" (emails lowercased) under the lookup key. */
static int lookup_hash(const struct gw_store *s, int field, const char *value,
                       uint8_t out[HASH_LEN])
{
	char buf[GW_ADDR_MAX + 16];
	unsigned int len = HASH_LEN;
	int n;

	n = snprintf(buf, sizeof(buf), "%s:%s", field_names[field], value);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	if (field == GW_F_EMAIL) {
		for (char *p = buf; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	if (HMAC(EVP_sha256(), s->lookup_key, sizeof(s->lookup_key), (const unsigned char *)buf,
	         (size_t)n, out, &len) == NULL) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static void field_aad(char *aad, size_t cap, const char *name, int field)
{
	snprintf(aad, cap, "recipient:%s:%s", name, field_names[field]);
}

static int64_t id_of(struct gw_store *s, const char *sql, const char *name)
{
	sqlite3_stmt *st = gw_store_prepare(s, sql);
	int64_t id = -1;

	if (st == NULL)
		return -2;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

static int64_t recipient_id(struct gw_store *s, const char *name)
{
	return id_of(s, "SELECT id FROM recipients WHERE name = ?", name);
}

static int64_t group_id(struct gw_store *s, const char *name)
{
	return id_of(s, "SELECT id FROM groups WHERE name = ?", name);
}

/* Add a recipient. */
int gw_recipient_add(struct gw_store *s, const char *name, const char *const values[GW_F__COUNT],
                     const char *const *groups, size_t ngroups, char *err, size_t errlen)
{
	char norm[GW_F__COUNT][GW_ADDR_MAX];
	uint8_t sealed[GW_F__COUNT][GW_ADDR_MAX + MQS_WRAP_OVERHEAD];
	size_t sealed_len[GW_F__COUNT] = {0};
	uint8_t hash[GW_F__COUNT][HASH_LEN];
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
		if (gw_field_normalize(f, values[f], norm[f], sizeof(norm[f]), why, sizeof(why)) !=
		    MQS_OK) {
			snprintf(err, errlen, "%s", why);
			goto out;
		}
		field_aad(aad, sizeof(aad), name, f);
		if (mqs_wrap_seal(s->mk, aad, (const uint8_t *)norm[f], strlen(norm[f]), sealed[f],
		                  sizeof(sealed[f]), &sealed_len[f]) != MQS_OK ||
		    lookup_hash(s, f, norm[f], hash[f]) != 0) {
			snprintf(err, errlen, "cannot encrypt %s", field_names[f]);
			rc = MQS_ERR_CRYPTO;
			goto out;
		}
	}
	if (!have) {
		snprintf(err, errlen, "give at least one of --email, --phone, --line");
		goto out;
	}
	rc = MQS_ERR_DB;
	if (gw_store_begin(s) != 0) {
		snprintf(err, errlen, "database busy or unwritable");
		goto out;
	}
	if (recipient_id(s, name) >= 0) {
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
			       field_names[f], (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
	}
	st = gw_store_prepare(s, "INSERT INTO recipients(name, email, email_h, phone, phone_h, "
	                         "line, line_h, created_at) VALUES (?,?,?,?,?,?,?,?)");
	if (st == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	for (int f = 0; f < GW_F__COUNT; f++) {
		if (values[f] == NULL)
			continue;
		sqlite3_bind_blob(st, 2 + 2 * f, sealed[f], (int)sealed_len[f], SQLITE_STATIC);
		sqlite3_bind_blob(st, 3 + 2 * f, hash[f], HASH_LEN, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 8, (int64_t)(mqs_now_ms() / 1000));
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot add recipient: %s", sqlite3_errmsg(s->db));
		goto rollback;
	}
	rid = sqlite3_last_insert_rowid(s->db);
	for (size_t g = 0; g < ngroups; g++) {
		int64_t gid = group_id(s, groups[g]);
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
	if (gw_store_commit(s) != 0) {
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

static int simple_change(struct gw_store *s, const char *sql, const char *name, const char *what,
                         char *err, size_t errlen)
{
	sqlite3_stmt *st = gw_store_prepare(s, sql);
	int rc = MQS_ERR_DB;

	if (st == NULL) {
		snprintf(err, errlen, "database error");
		return rc;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		snprintf(err, errlen, "cannot change %s: %s", what, sqlite3_errmsg(s->db));
	else if (sqlite3_changes(s->db) == 0) {
		snprintf(err, errlen, "no %s %s", what,
		         gw_name_check(name) ? name : "by that name");
		rc = MQS_ERR_NOENT;
	} else
		rc = MQS_OK;
	sqlite3_finalize(st);
	return rc;
}

/* Remove a recipient. */
int gw_recipient_rm(struct gw_store *s, const char *name, char *err, size_t errlen)
{
	return simple_change(s, "DELETE FROM recipients WHERE name = ?", name, "recipient", err,
	                     errlen);
}

/* Opt out of a channel. */
int gw_recipient_optout(struct gw_store *s, const char *name, int ch, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int64_t rid = recipient_id(s, name);
	int rc = MQS_ERR_DB;

	if (rid == -1) {
		snprintf(err, errlen, "no recipient %s",
		         gw_name_check(name) ? name : "by that name");
		return MQS_ERR_NOENT;
	}
	st = gw_store_prepare(s, "INSERT OR IGNORE INTO optouts(recipient_id, channel, created_at) "
	                         "VALUES (?, ?, ?)");
	if (st == NULL || rid < 0) {
		snprintf(err, errlen, "database error");
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_text(st, 2, gw_chan_name(ch), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)(mqs_now_ms() / 1000));
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		snprintf(err, errlen, "cannot record opt-out: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return rc;
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
	rid = recipient_id(s, name);
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
		       field_names[field], name);
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

/* Decrypt one address for a delivery. */
int gw_recipient_address(struct gw_store *s, const char *name, int ch, char *out, size_t cap)
{
	int field = gw_field_for_chan(ch);
	sqlite3_stmt *st;
	int rc = GW_ADDR_ERROR;

	if (field < 0)
		return GW_ADDR_ERROR;
	st = gw_store_stmt(s, "SELECT r.email, r.phone, r.line, "
	                      " EXISTS (SELECT 1 FROM optouts o WHERE o.recipient_id = r.id "
	                      "         AND o.channel = ?) "
	                      "FROM recipients r WHERE r.name = ?");
	if (st == NULL)
		return GW_ADDR_ERROR;
	sqlite3_bind_text(st, 1, gw_chan_name(ch), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		if (sqlite3_column_int(st, 3))
			rc = GW_ADDR_OPTOUT;
		else
			rc = open_field(s, st, field, name, field, out, cap);
		break;
	case SQLITE_DONE:
		rc = GW_ADDR_NO_RECIPIENT;
		break;
	default:
		gw_log(GW_LOG_ERR, "db: %s", sqlite3_errmsg(s->db));
	}
	gw_store_done(st);
	return rc;
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

	rc = gw_field_normalize(field, value, norm, sizeof(norm), err, errlen);
	if (rc != MQS_OK)
		return rc;
	rc = lookup_hash(s, field, norm, hash);
	OPENSSL_cleanse(norm, sizeof(norm));
	if (rc != 0) {
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
		snprintf(err, errlen, "no recipient with that %s", field_names[field]);
		rc = MQS_ERR_NOENT;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Print recipients with masked addresses. */
int gw_recipient_list(struct gw_store *s, FILE *out, int json)
{
	sqlite3_stmt *st = gw_store_prepare(
	    s,
	    "SELECT r.name, r.email, r.phone, r.line, "
	    " (SELECT group_concat(name, ',') FROM (SELECT g.name FROM group_members m "
	    "   JOIN groups g ON g.id = m.group_id WHERE m.recipient_id = r.id ORDER BY g.name)),"
	    " (SELECT group_concat(channel, ',') FROM (SELECT channel FROM optouts o "
	    "   WHERE o.recipient_id = r.id ORDER BY channel)), r.device "
	    "FROM recipients r ORDER BY r.name");
	cJSON *arr = json ? cJSON_CreateArray() : NULL;
	int rc = MQS_ERR_DB, step;

	if (st == NULL || (json && arr == NULL))
		goto out;
	if (!json)
		fprintf(out, "%-20s %-28s %-18s %-14s %-20s %-16s %s\n", "NAME", "EMAIL", "PHONE",
		        "LINE", "GROUPS", "OPTOUTS", "DEVICE");
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *groups = (const char *)sqlite3_column_text(st, 4);
		const char *optouts = (const char *)sqlite3_column_text(st, 5);
		const char *device = (const char *)sqlite3_column_text(st, 6);
		char masked[GW_F__COUNT][GW_ADDR_MAX];
		cJSON *o = NULL;

		for (int f = 0; f < GW_F__COUNT; f++) {
			char plain[GW_ADDR_MAX];
			int r = open_field(s, st, 1 + f, name, f, plain, sizeof(plain));

			if (r == GW_ADDR_OK)
				gw_field_mask(f, plain, masked[f], sizeof(masked[f]));
			else
				snprintf(masked[f], sizeof(masked[f]), "%s",
				         r == GW_ADDR_NONE ? "" : "(unreadable)");
			OPENSSL_cleanse(plain, sizeof(plain));
		}
		if (!json) {
			fprintf(out, "%-20s %-28s %-18s %-14s %-20s %-16s %s\n", name,
			        masked[0][0] ? masked[0] : "-", masked[1][0] ? masked[1] : "-",
			        masked[2][0] ? masked[2] : "-", groups ? groups : "-",
			        optouts ? optouts : "-", device ? device : "-");
			continue;
		}
		o = cJSON_CreateObject();
		if (o == NULL)
			goto out;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", name);
		for (int f = 0; f < GW_F__COUNT; f++) {
			if (masked[f][0])
				cJSON_AddStringToObject(o, field_names[f], masked[f]);
			else
				cJSON_AddNullToObject(o, field_names[f]);
		}
		cJSON_AddStringToObject(o, "groups", groups ? groups : "");
		cJSON_AddStringToObject(o, "optouts", optouts ? optouts : "");
		if (device != NULL)
			cJSON_AddStringToObject(o, "device", device);
		else
			cJSON_AddNullToObject(o, "device");
	}
	if (step != SQLITE_DONE)
		goto out;
	if (json) {
		char *text = cJSON_Print(arr);
		if (text == NULL)
			goto out;
		fprintf(out, "%s\n", text);
		cJSON_free(text);
	}
	rc = MQS_OK;
out:
	cJSON_Delete(arr);
	sqlite3_finalize(st);
	return rc;
}

/* Add a group. */
int gw_group_add(struct gw_store *s, const char *name, const char *channels, char *err,
                 size_t errlen)
{
	char why[128], norm[64] = "";
	unsigned mask = 0;
	sqlite3_stmt *st;
	int rc = MQS_ERR_DB, step;

	if (!gw_name_check(name)) {
		snprintf(err, errlen, "bad group name (1..64 of A-Z a-z 0-9 _ - . @)");
		return MQS_ERR_INVAL;
	}
	if (channels != NULL &&
	    gw_chan_list_parse(channels, &mask, NULL, NULL, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "--channels: %s", why);
		return MQS_ERR_INVAL;
	}
	gw_chan_mask_format(mask, norm, sizeof(norm));
	st = gw_store_prepare(s, "INSERT INTO groups(name, channels, created_at) VALUES (?,?,?)");
	if (st == NULL) {
		snprintf(err, errlen, "database error");
		return rc;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, norm, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)(mqs_now_ms() / 1000));
	step = sqlite3_step(st);
	if (step == SQLITE_DONE)
		rc = MQS_OK;
	else if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE) {
		snprintf(err, errlen, "group %s exists", name);
		rc = MQS_ERR_EXISTS;
	} else
		snprintf(err, errlen, "cannot add group: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return rc;
}

/* Remove a group. */
int gw_group_rm(struct gw_store *s, const char *name, char *err, size_t errlen)
{
	return simple_change(s, "DELETE FROM groups WHERE name = ?", name, "group", err, errlen);
}

/* Add or remove a member. */
int gw_group_member(struct gw_store *s, const char *group, const char *recipient, int add,
                    char *err, size_t errlen)
{
	int64_t gid = group_id(s, group), rid = recipient_id(s, recipient);
	sqlite3_stmt *st;
	int rc = MQS_ERR_DB;

	if (gid == -1 || rid == -1) {
		snprintf(err, errlen, "no %s %s", gid == -1 ? "group" : "recipient",
		         gid == -1 ? (gw_name_check(group) ? group : "by that name")
		                   : (gw_name_check(recipient) ? recipient : "by that name"));
		return MQS_ERR_NOENT;
	}
	if (gid < 0 || rid < 0) {
		snprintf(err, errlen, "database error");
		return rc;
	}
	st =
	    gw_store_prepare(s, add ? "INSERT OR IGNORE INTO group_members(group_id, recipient_id) "
	                              "VALUES (?, ?)"
	                            : "DELETE FROM group_members WHERE group_id = ? AND "
	                              "recipient_id = ?");
	if (st == NULL) {
		snprintf(err, errlen, "database error");
		return rc;
	}
	sqlite3_bind_int64(st, 1, gid);
	sqlite3_bind_int64(st, 2, rid);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		snprintf(err, errlen, "cannot change membership: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return rc;
}

/* Print groups. */
int gw_group_list(struct gw_store *s, FILE *out, int json)
{
	sqlite3_stmt *st =
	    gw_store_prepare(s, "SELECT g.name, g.channels, (SELECT count(*) FROM group_members m "
	                        " WHERE m.group_id = g.id) FROM groups g ORDER BY g.name");
	cJSON *arr = json ? cJSON_CreateArray() : NULL;
	int rc = MQS_ERR_DB, step;

	if (st == NULL || (json && arr == NULL))
		goto out;
	if (!json)
		fprintf(out, "%-20s %-24s %s\n", "GROUP", "CHANNELS", "MEMBERS");
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *ch = (const char *)sqlite3_column_text(st, 1);
		int members = sqlite3_column_int(st, 2);
		cJSON *o;

		if (!json) {
			fprintf(out, "%-20s %-24s %d\n", name, ch && *ch ? ch : "-", members);
			continue;
		}
		o = cJSON_CreateObject();
		if (o == NULL)
			goto out;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "channels", ch ? ch : "");
		cJSON_AddNumberToObject(o, "members", members);
	}
	if (step != SQLITE_DONE)
		goto out;
	if (json) {
		char *text = cJSON_Print(arr);
		if (text == NULL)
			goto out;
		fprintf(out, "%s\n", text);
		cJSON_free(text);
	}
	rc = MQS_OK;
out:
	cJSON_Delete(arr);
	sqlite3_finalize(st);
	return rc;
}

/* Default channels of a group. */
int gw_group_channels(struct gw_store *s, const char *group, unsigned *mask)
{
	sqlite3_stmt *st = gw_store_stmt(s, "SELECT channels FROM groups WHERE name = ?");
	int rc = MQS_ERR_DB;
	char why[64];

	*mask = 0;
	if (st == NULL)
		return rc;
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		rc = MQS_OK;
		if (sqlite3_column_text(st, 0) != NULL &&
		    gw_chan_list_parse((const char *)sqlite3_column_text(st, 0), mask, NULL, NULL,
		                       why, sizeof(why)) != 0)
			*mask = 0;
		break;
	case SQLITE_DONE:
		rc = MQS_ERR_NOENT;
		break;
	default:
		break;
	}
	gw_store_done(st);
	return rc;
}
