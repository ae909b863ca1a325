/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_review.c - campaigns in the store, reviewers and their one-time codes,
 * the hierarchical review and its audit (gw_review.h; docs/marketing.md,
 * "Review"). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "gw_campaign.h"
#include "gw_log.h"
#include "gw_outbox.h"
#include "gw_pubq.h"
#include "gw_review.h"
#include "gw_util.h"
#include "mqs_alloc.h"
#include "mqs_master_key.h"
#include "mqs_totp.h"
#include "mqs_utf8.h"
#include "mqs_util.h"

#define CAMPAIGN_LABEL  "mqttsec-gateway campaign v1"
#define FAILURES_MAX    5                /* wrong codes before a lock */
#define LOCK_MS         (15 * 60 * 1000) /* how long a person stays locked */
#define REASON_MAX      500              /* characters of a rejection reason */
#define PERSON_AAD_MAX  (sizeof("person:") + 64)
#define WRAPPED_MAX     (MQS_TOTP_SECRET_LEN + MQS_WRAP_OVERHEAD)
#define LEVELS_TEXT_MAX (GW_LEVELS_MAX * 65)
#define AUTHOR_LEVEL    "@author" /* reviewers.level of an author (gw_review.h) */

/* 1 when name is 1..64 of A-Z a-z 0-9 _ - . (persons and levels). */
static int name_ok(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/* 1 for a principal "mqtt:NAME" / "console:NAME". */
int gw_principal_ok(const char *p)
{
	const char *name;
	size_t n;

	if (p == NULL)
		return 0;
	if (strncmp(p, "mqtt:", 5) == 0)
		name = p + 5;
	else if (strncmp(p, "console:", 8) == 0)
		name = p + 8;
	else
		return 0;
	n = strlen(name);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '+' || c == '#')
			return 0;
	}
	return 1;
}

/* 1 when h is 64 hexadecimal characters; lowercased into out. */
static int sha_ok(const char *h, char out[65])
{
	if (h == NULL || strlen(h) != 64)
		return 0;
	for (size_t i = 0; i < 64; i++) {
		if (mqs_hex_digit((unsigned char)h[i]) < 0)
			return 0;
		out[i] = (char)((h[i] >= 'A' && h[i] <= 'F') ? h[i] - 'A' + 'a' : h[i]);
	}
	out[64] = '\0';
	return 1;
}

/* Characters of a reason: strict UTF-8 without control characters, else
 * (size_t)-1. */
static size_t reason_chars(const char *r, size_t len)
{
	size_t n = 0;

	if (!mqs_utf8_valid((const uint8_t *)r, len, 0))
		return (size_t)-1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)r[i];

		if (c < 0x20 || c == 0x7f)
			return (size_t)-1;
		if ((c & 0xc0) != 0x80)
			n++;
	}
	return n;
}

/* The AAD of a person's wrapped secret. */
static void person_aad(char *buf, size_t cap, const char *person)
{
	snprintf(buf, cap, "person:%s", person);
}

/* The person principal acts for at level (NULL: any level) into out (65
 * bytes).  1 found, 0 not, -1 on error. */
static int person_of(struct gw_store *s, const char *principal, const char *level, char out[65])
{
	sqlite3_stmt *st =
	    gw_store_stmt(s, "SELECT p.name FROM reviewers r JOIN persons p ON p.id = r.person_id "
	                     "WHERE r.principal = ?1 AND (?2 IS NULL OR r.level = ?2) LIMIT 1");
	int rc, found = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
	if (level != NULL)
		sqlite3_bind_text(st, 2, level, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out, 65, "%s", (const char *)sqlite3_column_text(st, 0));
		found = 1;
	} else if (rc == SQLITE_DONE) {
		out[0] = '\0';
		found = 0;
	}
	gw_store_done(st);
	return found;
}

/* Map principal to person at level (a review level or AUTHOR_LEVEL),
 * creating the person when new. */
static int principal_add(struct gw_store *s, const char *principal, const char *level,
                         const char *person, int64_t now_ms, int *new_person, char *secret_b32,
                         size_t cap, char *err, size_t errlen)
{
	uint8_t secret[MQS_TOTP_SECRET_LEN], wrapped[WRAPPED_MAX];
	char aad[PERSON_AAD_MAX], other[65];
	char *b32 = NULL;
	size_t wlen = 0;
	int64_t pid;
	sqlite3_stmt *st;
	int rc = MQS_ERR_DB, step;

	*new_person = 0;
	if (cap > 0)
		secret_b32[0] = '\0';
	if (!gw_principal_ok(principal)) {
		snprintf(err, errlen, "principal must be mqtt:USERNAME or console:USER");
		return MQS_ERR_INVAL;
	}
	if (!name_ok(person)) {
		snprintf(err, errlen, "person: 1..64 of A-Z a-z 0-9 _ - .");
		return MQS_ERR_INVAL;
	}
	if (cap < 40) {
		snprintf(err, errlen, "secret buffer too small");
		return MQS_ERR_INVAL;
	}
	if (gw_store_begin(s) != MQS_OK) {
		snprintf(err, errlen, "database busy");
		return MQS_ERR_DB;
	}
	step = person_of(s, principal, NULL, other);
	if (step < 0)
		goto dberr;
	if (step == 1 && strcmp(other, person) != 0) {
		snprintf(err, errlen, "%s already acts for person %s (one person per principal)",
		         principal, other);
		rc = MQS_ERR_INVAL;
		goto fail;
	}
	pid = gw_store_id_of(s, "SELECT id FROM persons WHERE name = ?", person);
	if (pid < 0) {
		if (RAND_bytes(secret, sizeof(secret)) != 1) {
			snprintf(err, errlen, "no random bytes");
			rc = MQS_ERR_CRYPTO;
			goto fail;
		}
		person_aad(aad, sizeof(aad), person);
		if (mqs_wrap_seal(s->mk, aad, secret, sizeof(secret), wrapped, sizeof(wrapped),
		                  &wlen) != MQS_OK ||
		    mqs_base32_encode(secret, sizeof(secret), &b32) != MQS_OK ||
		    strlen(b32) >= cap) {
			snprintf(err, errlen, "cannot create the person's secret");
			rc = MQS_ERR_CRYPTO;
			goto fail;
		}
		st = gw_store_stmt(s, "INSERT INTO persons(name, totp_wrapped, created_at) "
		                      "VALUES (?, ?, ?)");
		if (st == NULL)
			goto dberr;
		sqlite3_bind_text(st, 1, person, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, wrapped, (int)wlen, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now_ms);
		step = sqlite3_step(st);
		gw_store_done(st);
		if (step != SQLITE_DONE)
			goto dberr;
		pid = sqlite3_last_insert_rowid(s->db);
		*new_person = 1;
	}
	st = gw_store_stmt(s, "INSERT INTO reviewers(principal, level, person_id, created_at) "
	                      "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
	if (st == NULL)
		goto dberr;
	sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, level, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, pid);
	sqlite3_bind_int64(st, 4, now_ms);
	step = sqlite3_step(st);
	gw_store_done(st);
	if (step != SQLITE_DONE)
		goto dberr;
	if (sqlite3_changes(s->db) == 0) {
		if (strcmp(level, AUTHOR_LEVEL) == 0)
			snprintf(err, errlen, "%s is already an author", principal);
		else
			snprintf(err, errlen, "%s is already a reviewer of level %s", principal,
			         level);
		rc = MQS_ERR_EXISTS;
		goto fail;
	}
	if (gw_store_commit(s) != MQS_OK) {
		snprintf(err, errlen, "cannot commit");
		rc = MQS_ERR_DB;
		goto out;
	}
	if (*new_person)
		snprintf(secret_b32, cap, "%s", b32);
	rc = MQS_OK;
	goto out;
dberr:
	snprintf(err, errlen, "database error");
	rc = MQS_ERR_DB;
fail:
	gw_store_rollback(s);
	*new_person = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (b32 != NULL)
		mqs_secret_free_str(b32);
	return rc;
}

/* Add a reviewer (and the person when new). */
int gw_reviewer_add(struct gw_store *s, const char *principal, const char *level,
                    const char *person, int64_t now_ms, int *new_person, char *secret_b32,
                    size_t cap, char *err, size_t errlen)
{
	*new_person = 0;
	if (!name_ok(level)) {
		snprintf(err, errlen, "level: 1..64 of A-Z a-z 0-9 _ - .");
		return MQS_ERR_INVAL;
	}
	return principal_add(s, principal, level, person, now_ms, new_person, secret_b32, cap, err,
	                     errlen);
}

/* Add an author (and the person when new). */
int gw_author_add(struct gw_store *s, const char *principal, const char *person, int64_t now_ms,
                  int *new_person, char *secret_b32, size_t cap, char *err, size_t errlen)
{
	return principal_add(s, principal, AUTHOR_LEVEL, person, now_ms, new_person, secret_b32,
	                     cap, err, errlen);
}

/* Remove an author. */
int gw_author_rm(struct gw_store *s, const char *principal, char *err, size_t errlen)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s, "DELETE FROM reviewers WHERE principal = ? AND level = '" AUTHOR_LEVEL "'");
	int rc;

	if (st == NULL) {
		snprintf(err, errlen, "database error");
		return MQS_ERR_DB;
	}
	sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	gw_store_done(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "database error");
		return MQS_ERR_DB;
	}
	if (sqlite3_changes(s->db) == 0) {
		snprintf(err, errlen, "%s is not an author", principal);
		return MQS_ERR_NOENT;
	}
	return MQS_OK;
}

/* Remove a reviewer from a level or from every level (its author
 * mapping stays). */
int gw_reviewer_rm(struct gw_store *s, const char *principal, const char *level, char *err,
                   size_t errlen)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s, "DELETE FROM reviewers WHERE principal = ?1 AND (?2 IS NULL OR level = ?2) AND "
	       "level <> '" AUTHOR_LEVEL "'");
	int rc;

	if (st == NULL) {
		snprintf(err, errlen, "database error");
		return MQS_ERR_DB;
	}
	sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
	if (level != NULL)
		sqlite3_bind_text(st, 2, level, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	rc = sqlite3_step(st);
	gw_store_done(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "database error");
		return MQS_ERR_DB;
	}
	if (sqlite3_changes(s->db) == 0) {
		snprintf(err, errlen, "%s is not a reviewer%s%s", principal,
		         level ? " of level " : "", level ? level : "");
		return MQS_ERR_NOENT;
	}
	return MQS_OK;
}

/* Every row of reviewers, authors (authors = 1) or reviewers, by level
 * then principal. */
static int principal_each(struct gw_store *s, int authors,
                          int (*fn)(const struct gw_reviewer_info *ri, void *arg), void *arg)
{
	sqlite3_stmt *st = gw_store_prepare(
	    s, "SELECT r.principal, r.level, p.name, r.created_at FROM reviewers r "
	       "JOIN persons p ON p.id = r.person_id WHERE (r.level = '" AUTHOR_LEVEL "') = ? "
	       "ORDER BY r.level, r.principal");
	int rc = MQS_OK, step;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int(st, 1, authors);
	for (step = sqlite3_step(st); step == SQLITE_ROW && rc == MQS_OK; step = sqlite3_step(st)) {
		struct gw_reviewer_info ri = {
		    (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2),
		    sqlite3_column_int64(st, 3),
		};

		rc = fn(&ri, arg);
	}
	if (rc == MQS_OK && step != SQLITE_DONE)
		rc = MQS_ERR_DB;
	sqlite3_finalize(st);
	return rc;
}

/* Every reviewer, by level then principal. */
int gw_reviewer_each(struct gw_store *s, int (*fn)(const struct gw_reviewer_info *ri, void *arg),
                     void *arg)
{
	return principal_each(s, 0, fn, arg);
}

/* Every author, by principal. */
int gw_author_each(struct gw_store *s, int (*fn)(const struct gw_reviewer_info *ri, void *arg),
                   void *arg)
{
	return principal_each(s, 1, fn, arg);
}

/* Record the outcome of a code check for person pid. */
static int code_outcome(struct gw_store *s, int64_t pid, int64_t last_step, int64_t failures,
                        int64_t locked_until)
{
	sqlite3_stmt *st = gw_store_stmt(s, "UPDATE persons SET last_step = ?, failures = ?, "
	                                    "locked_until = ? WHERE id = ?");
	int rc;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, last_step);
	sqlite3_bind_int64(st, 2, failures);
	sqlite3_bind_int64(st, 3, locked_until);
	sqlite3_bind_int64(st, 4, pid);
	rc = sqlite3_step(st);
	gw_store_done(st);
	return rc == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
}

/* Check a one-time code of the person behind principal. */
int gw_review_check_code(struct gw_store *s, const char *principal, const char *code,
                         int64_t now_ms, char *err, size_t errlen)
{
	uint8_t wrapped[WRAPPED_MAX + 16], secret[MQS_TOTP_SECRET_MAX];
	char aad[PERSON_AAD_MAX], person[65];
	struct mqs_totp_params p;
	size_t wlen = 0, slen = 0;
	int64_t pid = 0, last_step = 0, failures = 0, locked_until = 0;
	uint64_t step = 0;
	sqlite3_stmt *st;
	int rc = MQS_ERR_DB, r;

	if (!gw_principal_ok(principal) || code == NULL || strlen(code) > MQS_TOTP_CODE_MAX) {
		snprintf(err, errlen, "bad principal or code");
		return MQS_ERR_INVAL;
	}
	if (gw_store_begin(s) != MQS_OK) {
		snprintf(err, errlen, "database busy");
		return MQS_ERR_DB;
	}
	st =
	    gw_store_stmt(s, "SELECT p.id, p.name, p.totp_wrapped, p.last_step, p.failures, "
	                     "p.locked_until FROM reviewers r JOIN persons p ON p.id = r.person_id "
	                     "WHERE r.principal = ? LIMIT 1");
	if (st == NULL)
		goto dberr;
	sqlite3_bind_text(st, 1, principal, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		pid = sqlite3_column_int64(st, 0);
		snprintf(person, sizeof(person), "%s", (const char *)sqlite3_column_text(st, 1));
		wlen = (size_t)sqlite3_column_bytes(st, 2);
		if (wlen <= sizeof(wrapped))
			memcpy(wrapped, sqlite3_column_blob(st, 2), wlen);
		last_step = sqlite3_column_int64(st, 3);
		failures = sqlite3_column_int64(st, 4);
		locked_until = sqlite3_column_int64(st, 5);
	}
	gw_store_done(st);
	if (r == SQLITE_DONE) {
		snprintf(err, errlen, "%s acts for no person (not a reviewer nor an author)",
		         principal);
		rc = MQS_ERR_NOENT;
		goto fail;
	}
	if (r != SQLITE_ROW)
		goto dberr;
	if (locked_until > now_ms) {
		snprintf(err, errlen, "person %s is locked for %lld s after %d wrong codes", person,
		         (long long)((locked_until - now_ms + 999) / 1000), FAILURES_MAX);
		rc = MQS_ERR_PERM;
		goto fail;
	}
	person_aad(aad, sizeof(aad), person);
	if (wlen > sizeof(wrapped) ||
	    mqs_wrap_open(s->mk, aad, wrapped, wlen, secret, sizeof(secret), &slen) != MQS_OK) {
		snprintf(err, errlen, "the secret of person %s does not open (master key?)",
		         person);
		rc = MQS_ERR_UNWRAP;
		goto fail;
	}
	mqs_totp_params_default(&p);
	r = mqs_totp_validate(secret, slen, &p, (time_t)(now_ms / 1000), 1, code, &step);
	if (r != MQS_OK) {
		failures++;
		if (failures >= FAILURES_MAX) {
			locked_until = now_ms + LOCK_MS;
			failures = 0;
			snprintf(err, errlen, "wrong code; person %s locked for 15 minutes",
			         person);
		} else {
			snprintf(err, errlen, "wrong code");
		}
		rc = MQS_ERR_TOTP;
	} else if ((int64_t)step <= last_step) {
		snprintf(err, errlen, "code already used (replay)");
		rc = MQS_ERR_TOTP_REPLAY;
	} else {
		last_step = (int64_t)step;
		failures = 0;
		rc = MQS_OK;
	}
	if (code_outcome(s, pid, last_step, failures, locked_until) != MQS_OK ||
	    gw_store_commit(s) != MQS_OK) {
		snprintf(err, errlen, "database error");
		rc = MQS_ERR_DB;
		gw_store_rollback(s);
	}
	goto out;
dberr:
	snprintf(err, errlen, "database error");
	rc = MQS_ERR_DB;
fail:
	gw_store_rollback(s);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(wrapped, sizeof(wrapped));
	return rc;
}

/* Append an audit row. */
int gw_review_audit(struct gw_store *s, const char *cid, const char *event, const char *level,
                    const char *principal, const char *person, const char *sha256,
                    const char *reason, const char *source, int64_t now_ms)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s, "INSERT INTO campaign_audit(campaign, event, level, principal, person, sha256, "
	       "reason, source, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
	const char *v[8] = {cid, event, level, principal, person, sha256, reason, source};
	int rc;

	if (st == NULL)
		return MQS_ERR_DB;
	for (int i = 0; i < 8; i++) {
		if (v[i] != NULL && v[i][0] != '\0')
			sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, i + 1);
	}
	sqlite3_bind_int64(st, 9, now_ms);
	rc = sqlite3_step(st);
	gw_store_done(st);
	return rc == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
}

/* A refusal in a transaction of its own (after the caller rolled back). */
static void audit_refusal(struct gw_store *s, const char *cid, const char *event, const char *level,
                          const char *principal, const char *person, const char *sha256,
                          const char *reason, const char *source, int64_t now_ms)
{
	if (gw_store_begin(s) != MQS_OK)
		goto fail;
	if (gw_review_audit(s, cid, event, level, principal, person, sha256, reason, source,
	                    now_ms) != MQS_OK) {
		gw_store_rollback(s);
		goto fail;
	}
	if (gw_store_commit(s) != MQS_OK)
		goto fail;
	return;
fail:
	gw_log(GW_LOG_ERR, "campaign %s: cannot audit a refusal", cid);
}

/* The longest recipient name of group (bytes and characters). */
static int longest_name(struct gw_store *s, const char *group, size_t *nb, size_t *nc)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s,
	    "SELECT max(length(CAST(r.name AS BLOB))), max(length(r.name)) FROM group_members gm "
	    "JOIN groups g ON g.id = gm.group_id JOIN recipients r ON r.id = gm.recipient_id "
	    "WHERE g.name = ?");
	int rc = MQS_ERR_DB;

	*nb = *nc = 0;
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*nb = (size_t)sqlite3_column_int64(st, 0);
		*nc = (size_t)sqlite3_column_int64(st, 1);
		rc = MQS_OK;
	}
	gw_store_done(st);
	return rc;
}

/* Store a submitted campaign. */
int gw_review_submit(struct gw_store *s, const struct gw_route *r, const uint8_t *bytes, size_t len,
                     const char *author, const char *source, int64_t now_ms, char *cid_out,
                     char *err, size_t errlen)
{
	struct gw_campaign c;
	char chans[64] = "", levels[LEVELS_TEXT_MAX] = "", aperson[65];
	uint8_t *sealed = NULL;
	size_t sealed_len = 0, nb = 0, nc = 0, off = 0;
	sqlite3_stmt *st;
	int rc, parsed = 0, step;

	memset(&c, 0, sizeof(c));
	if (cid_out != NULL)
		cid_out[0] = '\0';
	if (r == NULL || r->kind != GW_KIND_MARKETING || r->nlevels == 0) {
		snprintf(err, errlen, "not a marketing route");
		return MQS_ERR_INVAL;
	}
	if (!gw_principal_ok(author)) {
		snprintf(err, errlen, "author must be mqtt:USERNAME or console:USER");
		return MQS_ERR_INVAL;
	}
	rc = gw_campaign_parse(bytes, len, &c, err, errlen);
	if (rc != MQS_OK)
		return rc;
	parsed = 1;
	if (cid_out != NULL)
		snprintf(cid_out, GW_ID_MAX + 1, "%s", c.id);
	/* the author rule needs a person: an unmapped principal submits nothing */
	step = person_of(s, author, NULL, aperson);
	if (step < 0) {
		snprintf(err, errlen, "database error");
		rc = MQS_ERR_DB;
		goto out;
	}
	if (step == 0) {
		snprintf(err, errlen,
		         "author: %s acts for no person (mqttsec-gateway author add %s --person "
		         "PERSON)",
		         author, author);
		rc = MQS_ERR_PERM;
		goto refused;
	}
	step = gw_outbox_group_exists(s, c.group);
	if (step < 0) {
		snprintf(err, errlen, "database error");
		rc = MQS_ERR_DB;
		goto out;
	}
	if (step == 0) {
		snprintf(err, errlen, "group: no group %s", c.group);
		rc = MQS_ERR_NOENT;
		goto refused;
	}
	/* a campaign that never names its recipient does not depend on names */
	if ((gw_template_uses_name(c.text) ||
	     (c.subject != NULL && gw_template_uses_name(c.subject)) ||
	     (c.html != NULL && gw_template_uses_name(c.html))) &&
	    longest_name(s, c.group, &nb, &nc) != MQS_OK) {
		snprintf(err, errlen, "database error");
		rc = MQS_ERR_DB;
		goto out;
	}
	rc = gw_campaign_check_limits(&c, nb, nc, r->sms_sealed, err, errlen);
	if (rc != MQS_OK)
		goto refused;
	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		if (c.chan_mask & GW_CH_BIT(ch))
			off += (size_t)snprintf(chans + off, sizeof(chans) - off, "%s%s",
			                        off ? "," : "", gw_chan_name(ch));
	}
	off = 0;
	for (size_t i = 0; i < r->nlevels; i++)
		off += (size_t)snprintf(levels + off, sizeof(levels) - off, "%s%s", i ? "," : "",
		                        r->levels[i]);
	rc = gw_store_crypt(s, CAMPAIGN_LABEL, 1, c.id, strlen(c.id), bytes, len, &sealed,
	                    &sealed_len);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot seal the campaign");
		goto out;
	}
	if (gw_store_begin(s) != MQS_OK) {
		snprintf(err, errlen, "database busy");
		rc = MQS_ERR_DB;
		goto out;
	}
	if (person_of(s, author, NULL, aperson) != 1) {
		/* removed since the check above: refuse as well */
		gw_store_rollback(s);
		snprintf(err, errlen, "author: %s acts for no person", author);
		rc = MQS_ERR_PERM;
		goto refused;
	}
	st = gw_store_stmt(
	    s, "INSERT INTO campaigns(cid, route, author, author_person, body_sealed, sha256, grp, "
	       "channels, levels, state, send_at, expires_at, created_at, updated_at) VALUES "
	       "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending_review', ?, ?, ?, ?) "
	       "ON CONFLICT(cid) DO NOTHING");
	if (st == NULL)
		goto dberr;
	sqlite3_bind_text(st, 1, c.id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, author, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, aperson, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, sealed, (int)sealed_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c.sha256_hex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, c.group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, chans, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, levels, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, c.send_at_ms);
	sqlite3_bind_int64(st, 11, now_ms + (int64_t)r->review_timeout_ms);
	sqlite3_bind_int64(st, 12, now_ms);
	sqlite3_bind_int64(st, 13, now_ms);
	step = sqlite3_step(st);
	gw_store_done(st);
	if (step != SQLITE_DONE)
		goto dberr;
	if (sqlite3_changes(s->db) == 0) {
		gw_store_rollback(s);
		snprintf(err, errlen, "id: campaign %s exists (a changed campaign needs a new id)",
		         c.id);
		rc = MQS_ERR_EXISTS;
		goto refused;
	}
	if (gw_review_audit(s, c.id, "submitted", NULL, author, aperson, c.sha256_hex, NULL, source,
	                    now_ms) != MQS_OK)
		goto dberr;
	if (gw_store_commit(s) != MQS_OK) {
		snprintf(err, errlen, "cannot commit");
		rc = MQS_ERR_DB;
		goto out;
	}
	rc = MQS_OK;
	goto out;
dberr:
	gw_store_rollback(s);
	snprintf(err, errlen, "database error");
	rc = MQS_ERR_DB;
	goto out;
refused:
	audit_refusal(s, c.id, "submit_refused", NULL, author, NULL, c.sha256_hex, err, source,
	              now_ms);
out:
	if (sealed != NULL)
		mqs_secret_free(sealed, sealed_len);
	if (parsed)
		gw_campaign_release(&c);
	return rc;
}

/* A campaign row as the decision reads it. */
struct decide_row {
	int64_t rowid;
	char state[20];
	char levels[LEVELS_TEXT_MAX];
	int level_idx;
	char sha256[65];
	char author[GW_PRINCIPAL_MAX];
	char author_person[65];
	int64_t expires_at;
};

/* Read the row of cid.  1 found, 0 not, -1 on error. */
static int decide_row_get(struct gw_store *s, const char *cid, struct decide_row *d)
{
	sqlite3_stmt *st = gw_store_stmt(
	    s, "SELECT id, state, levels, level_idx, sha256, author, author_person, expires_at "
	       "FROM campaigns WHERE cid = ?");
	int r, found = -1;

	if (st == NULL)
		return -1;
	memset(d, 0, sizeof(*d));
	sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		const char *ap = (const char *)sqlite3_column_text(st, 6);

		d->rowid = sqlite3_column_int64(st, 0);
		snprintf(d->state, sizeof(d->state), "%s",
		         (const char *)sqlite3_column_text(st, 1));
		snprintf(d->levels, sizeof(d->levels), "%s",
		         (const char *)sqlite3_column_text(st, 2));
		d->level_idx = sqlite3_column_int(st, 3);
		snprintf(d->sha256, sizeof(d->sha256), "%s",
		         (const char *)sqlite3_column_text(st, 4));
		snprintf(d->author, sizeof(d->author), "%s",
		         (const char *)sqlite3_column_text(st, 5));
		snprintf(d->author_person, sizeof(d->author_person), "%s", ap ? ap : "");
		d->expires_at = sqlite3_column_int64(st, 7);
		found = 1;
	} else if (r == SQLITE_DONE) {
		found = 0;
	}
	gw_store_done(st);
	return found;
}

/* Split a comma list of levels into names (pointers into buf, which is
 * modified).  Returns how many. */
static size_t split_levels(char *buf, char *names[GW_LEVELS_MAX])
{
	size_t n = 0;
	char *p = buf;

	while (p != NULL && *p != '\0' && n < GW_LEVELS_MAX) {
		char *comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		names[n++] = p;
		p = comma != NULL ? comma + 1 : NULL;
	}
	return n;
}

/* 1 when person approved some level of cid, 0 not, -1 on error. */
static int person_approved(struct gw_store *s, const char *cid, const char *person)
{
	sqlite3_stmt *st = gw_store_stmt(s, "SELECT 1 FROM campaign_audit WHERE campaign = ? AND "
	                                    "event = 'approved' AND person = ? LIMIT 1");
	int r, found = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, person, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		found = 1;
	else if (r == SQLITE_DONE)
		found = 0;
	gw_store_done(st);
	return found;
}

/* Check every rule of a decision inside the transaction.  MQS_OK, or
 * MQS_ERR_PERM with the reason in err, or MQS_ERR_DB. */
static int decide_rules(struct gw_store *s, const char *cid, const struct decide_row *d,
                        const char *cur, const char *principal, const char *level, const char *sha,
                        char person[65], int64_t now_ms, char *err, size_t errlen)
{
	char aperson[65];
	int r;

	if (strcmp(d->state, "pending_review") != 0) {
		snprintf(err, errlen, "campaign %s is %s, not pending_review", cid, d->state);
		return MQS_ERR_PERM;
	}
	if (now_ms >= d->expires_at) {
		snprintf(err, errlen, "the review of campaign %s expired", cid);
		return MQS_ERR_PERM;
	}
	if (cur == NULL) {
		snprintf(err, errlen, "campaign %s has no level left to decide", cid);
		return MQS_ERR_PERM;
	}
	if (level != NULL && strcmp(level, cur) != 0) {
		snprintf(err, errlen,
		         "level %s is not the current level (%s): levels are decided in "
		         "order",
		         level, cur);
		return MQS_ERR_PERM;
	}
	r = person_of(s, principal, cur, person);
	if (r < 0)
		return MQS_ERR_DB;
	if (r == 0) {
		person_of(s, principal, NULL, person);
		snprintf(err, errlen, "%s is not a reviewer of level %s", principal, cur);
		return MQS_ERR_PERM;
	}
	if (CRYPTO_memcmp(sha, d->sha256, 64) != 0) {
		snprintf(err, errlen, "sha256 does not match the stored campaign");
		return MQS_ERR_PERM;
	}
	if (d->author_person[0] == '\0') {
		snprintf(err, errlen, "campaign %s has no author's person: it cannot be reviewed",
		         cid);
		return MQS_ERR_PERM;
	}
	if (strcmp(principal, d->author) == 0 || strcmp(person, d->author_person) == 0) {
		snprintf(err, errlen, "the author of a campaign never reviews it");
		return MQS_ERR_PERM;
	}
	r = person_of(s, d->author, NULL, aperson);
	if (r < 0)
		return MQS_ERR_DB;
	if (r == 1 && strcmp(person, aperson) == 0) {
		snprintf(err, errlen, "the author of a campaign never reviews it (same person %s)",
		         person);
		return MQS_ERR_PERM;
	}
	r = person_approved(s, cid, person);
	if (r < 0)
		return MQS_ERR_DB;
	if (r == 1) {
		snprintf(err, errlen, "person %s already approved a level of campaign %s", person,
		         cid);
		return MQS_ERR_PERM;
	}
	return MQS_OK;
}

/* One decision on a campaign. */
int gw_review_decide(struct gw_store *s, const char *cid, const char *principal, int decision,
                     const char *level, const char *sha256_hex, const char *reason,
                     const char *source, int64_t now_ms, char *err, size_t errlen)
{
	struct decide_row d;
	char sha[65] = "", person[65] = "", levels[LEVELS_TEXT_MAX];
	char *names[GW_LEVELS_MAX];
	const char *cur = NULL, *event;
	size_t nlevels, rlen = reason != NULL ? strlen(reason) : 0;
	sqlite3_stmt *st;
	int rc, r;

	if (cid == NULL || !gw_id_check(cid) || !gw_principal_ok(principal) ||
	    (decision != GW_DECIDE_APPROVE && decision != GW_DECIDE_REJECT) || source == NULL ||
	    (strcmp(source, "mqtt") != 0 && strcmp(source, "cli") != 0 &&
	     strcmp(source, "console") != 0)) {
		snprintf(err, errlen, "bad campaign id, principal, decision or source");
		return MQS_ERR_INVAL;
	}
	if (gw_store_begin(s) != MQS_OK) {
		snprintf(err, errlen, "database busy");
		return MQS_ERR_DB;
	}
	r = decide_row_get(s, cid, &d);
	if (r <= 0) {
		gw_store_rollback(s);
		snprintf(err, errlen, r == 0 ? "no campaign %s" : "database error", cid);
		if (r == 0)
			audit_refusal(s, cid, "refused",
			              level != NULL && name_ok(level) ? level : NULL, principal,
			              NULL, sha_ok(sha256_hex, sha) ? sha : NULL, err, source,
			              now_ms);
		return r == 0 ? MQS_ERR_NOENT : MQS_ERR_DB;
	}
	snprintf(levels, sizeof(levels), "%s", d.levels);
	nlevels = split_levels(levels, names);
	if (d.level_idx >= 0 && (size_t)d.level_idx < nlevels)
		cur = names[d.level_idx];
	if (!sha_ok(sha256_hex, sha)) {
		snprintf(err, errlen, "sha256: 64 hexadecimal characters required");
		rc = MQS_ERR_INVAL;
		goto refused;
	}
	if (level != NULL && !name_ok(level)) {
		snprintf(err, errlen, "level: not a level name");
		rc = MQS_ERR_INVAL;
		goto refused;
	}
	if (decision == GW_DECIDE_REJECT &&
	    (rlen == 0 || reason_chars(reason, rlen) > REASON_MAX)) {
		snprintf(err, errlen, "reason: 1..500 characters required for a rejection");
		rc = MQS_ERR_INVAL;
		goto refused;
	}
	rc = decide_rules(s, cid, &d, cur, principal, level, sha, person, now_ms, err, errlen);
	if (rc == MQS_ERR_DB)
		goto dberr;
	if (rc != MQS_OK)
		goto refused;
	if (decision == GW_DECIDE_APPROVE) {
		event = "approved";
		st =
		    gw_store_stmt(s, "UPDATE campaigns SET level_idx = level_idx + 1, state = CASE "
		                     "WHEN level_idx + 1 >= ?2 THEN 'approved' ELSE state END, "
		                     "updated_at = ?3 WHERE id = ?1 AND state = 'pending_review'");
	} else {
		event = "rejected";
		st = gw_store_stmt(s, "UPDATE campaigns SET state = 'rejected', updated_at = ?3 "
		                      "WHERE id = ?1 AND state = 'pending_review' AND ?2 = ?2");
	}
	if (st == NULL)
		goto dberr;
	sqlite3_bind_int64(st, 1, d.rowid);
	sqlite3_bind_int64(st, 2, (int64_t)nlevels);
	sqlite3_bind_int64(st, 3, now_ms);
	r = sqlite3_step(st);
	gw_store_done(st);
	if (r != SQLITE_DONE || sqlite3_changes(s->db) != 1)
		goto dberr;
	if (gw_review_audit(s, cid, event, cur, principal, person, sha,
	                    decision == GW_DECIDE_REJECT ? reason : NULL, source, now_ms) != MQS_OK)
		goto dberr;
	if (gw_store_commit(s) != MQS_OK) {
		snprintf(err, errlen, "cannot commit");
		return MQS_ERR_DB;
	}
	return MQS_OK;
dberr:
	gw_store_rollback(s);
	snprintf(err, errlen, "database error");
	return MQS_ERR_DB;
refused:
	gw_store_rollback(s);
	audit_refusal(s, cid, "refused", level != NULL && name_ok(level) ? level : cur, principal,
	              person, sha[0] ? sha : NULL, err, source, now_ms);
	return rc;
}

/* Cancel a campaign before sending. */
int gw_review_cancel(struct gw_store *s, const char *cid, const char *who, int64_t now_ms,
                     char *err, size_t errlen)
{
	struct decide_row d;
	sqlite3_stmt *st;
	int r, rc;

	if (cid == NULL || !gw_id_check(cid) || who == NULL) {
		snprintf(err, errlen, "bad campaign id");
		return MQS_ERR_INVAL;
	}
	if (gw_store_begin(s) != MQS_OK) {
		snprintf(err, errlen, "database busy");
		return MQS_ERR_DB;
	}
	r = decide_row_get(s, cid, &d);
	if (r <= 0) {
		gw_store_rollback(s);
		snprintf(err, errlen, r == 0 ? "no campaign %s" : "database error", cid);
		return r == 0 ? MQS_ERR_NOENT : MQS_ERR_DB;
	}
	/* atomic: the delivery side moves scheduled -> sending in a transaction
	 * of its own, so the state is read and changed in one statement; a
	 * sending campaign may be cancelled too: its tick then fails the rows
	 * still queued (docs/marketing.md, "Delivery rules") */
	st = gw_store_stmt(s,
	                   "UPDATE campaigns SET state = 'cancelled', updated_at = ? WHERE id = ? "
	                   "AND state IN ('pending_review', 'approved', 'scheduled', 'sending')");
	if (st == NULL)
		goto dberr;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, d.rowid);
	rc = sqlite3_step(st);
	gw_store_done(st);
	if (rc == SQLITE_DONE && sqlite3_changes(s->db) != 1) {
		gw_store_rollback(s);
		snprintf(err, errlen, "campaign %s is %s: too late to cancel", cid, d.state);
		audit_refusal(s, cid, "refused", NULL, who, NULL, NULL, err, "cli", now_ms);
		return MQS_ERR_PERM;
	}
	if (rc != SQLITE_DONE ||
	    gw_review_audit(s, cid, "cancelled", NULL, who, NULL, NULL, NULL,
	                    strncmp(who, "console:", 8) == 0 ? "console" : "cli", now_ms) != MQS_OK)
		goto dberr;
	if (gw_store_commit(s) != MQS_OK) {
		snprintf(err, errlen, "cannot commit");
		return MQS_ERR_DB;
	}
	return MQS_OK;
dberr:
	gw_store_rollback(s);
	snprintf(err, errlen, "database error");
	return MQS_ERR_DB;
}

/* Expire pending reviews past their deadline. */
int gw_review_expire(struct gw_store *s, int64_t now_ms)
{
	sqlite3_stmt *st;
	char cids[64][GW_ID_MAX + 1];
	int n = 0, r;

	/* a cheap read first: nothing to do is the common case */
	st = gw_store_stmt(s, "SELECT cid FROM campaigns WHERE state = 'pending_review' AND "
	                      "expires_at <= ? ORDER BY id LIMIT 64");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms);
	for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st))
		snprintf(cids[n++], sizeof(cids[0]), "%s",
		         (const char *)sqlite3_column_text(st, 0));
	gw_store_done(st);
	if (r != SQLITE_DONE)
		return -1;
	if (n == 0)
		return 0;
	if (gw_store_begin(s) != MQS_OK)
		return -1;
	for (int i = 0; i < n; i++) {
		st = gw_store_stmt(s, "UPDATE campaigns SET state = 'expired', updated_at = ?1 "
		                      "WHERE cid = ?2 AND state = 'pending_review' AND "
		                      "expires_at <= ?1");
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, now_ms);
		sqlite3_bind_text(st, 2, cids[i], -1, SQLITE_STATIC);
		r = sqlite3_step(st);
		gw_store_done(st);
		if (r != SQLITE_DONE)
			goto fail;
		if (sqlite3_changes(s->db) == 1 &&
		    gw_review_audit(s, cids[i], "expired", NULL, NULL, NULL, NULL,
		                    "review_timeout reached", NULL, now_ms) != MQS_OK)
			goto fail;
	}
	if (gw_store_commit(s) != MQS_OK)
		return -1;
	for (int i = 0; i < n; i++)
		gw_log(GW_LOG_INFO, "campaign %s: review expired", cids[i]);
	return n;
fail:
	gw_store_rollback(s);
	return -1;
}

/* Build the content payload of one campaign for its current level.
 * *out malloc'd (NUL-terminated). */
static int content_payload(struct gw_store *s, int64_t rowid, const char *cid, const char *level,
                           const char *sha, const char *author, char **out)
{
	uint8_t *bytes = NULL;
	size_t len = 0;
	cJSON *o = NULL;
	char *text = NULL;
	int rc;

	*out = NULL;
	rc = gw_review_load(s, rowid, &bytes, &len);
	if (rc != MQS_OK)
		return rc;
	rc = MQS_ERR_NOMEM;
	text = mqs_malloc(len + 1);
	o = cJSON_CreateObject();
	if (text == NULL || o == NULL)
		goto out;
	memcpy(text, bytes, len);
	text[len] = '\0';
	if (cJSON_AddStringToObject(o, "id", cid) == NULL ||
	    cJSON_AddStringToObject(o, "level", level) == NULL ||
	    cJSON_AddStringToObject(o, "sha256", sha) == NULL ||
	    cJSON_AddStringToObject(o, "author", author) == NULL ||
	    cJSON_AddStringToObject(o, "campaign", text) == NULL)
		goto out;
	*out = cJSON_PrintUnformatted(o);
	if (*out != NULL)
		rc = MQS_OK;
out:
	cJSON_Delete(o);
	mqs_free(text);
	if (bytes != NULL)
		mqs_secret_free(bytes, len);
	return rc;
}

/* Queue content for the reviewers of each level not published yet. */
int gw_review_publish_due(struct gw_store *s, const char *status_topic, int64_t now_ms)
{
	struct due {
		int64_t rowid;
		int level_idx;
		char cid[GW_ID_MAX + 1], levels[LEVELS_TEXT_MAX], sha[65], author[GW_PRINCIPAL_MAX];
		char route[128];
	} *due = NULL;
	size_t ndue = 0, cap = 16;
	sqlite3_stmt *st;
	int n = -1, r;

	st = gw_store_stmt(
	    s, "SELECT id, cid, levels, level_idx, sha256, author, route FROM "
	       "campaigns WHERE state = 'pending_review' AND published_level < level_idx "
	       "AND expires_at > ? ORDER BY id LIMIT 16");
	if (st == NULL)
		return -1;
	due = mqs_calloc(cap, sizeof(*due));
	if (due == NULL) {
		gw_store_done(st);
		return -1;
	}
	sqlite3_bind_int64(st, 1, now_ms);
	for (r = sqlite3_step(st); r == SQLITE_ROW && ndue < cap; r = sqlite3_step(st)) {
		struct due *d = &due[ndue++];

		d->rowid = sqlite3_column_int64(st, 0);
		snprintf(d->cid, sizeof(d->cid), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(d->levels, sizeof(d->levels), "%s",
		         (const char *)sqlite3_column_text(st, 2));
		d->level_idx = sqlite3_column_int(st, 3);
		snprintf(d->sha, sizeof(d->sha), "%s", (const char *)sqlite3_column_text(st, 4));
		snprintf(d->author, sizeof(d->author), "%s",
		         (const char *)sqlite3_column_text(st, 5));
		snprintf(d->route, sizeof(d->route), "%s",
		         (const char *)sqlite3_column_text(st, 6));
	}
	gw_store_done(st);
	if (r != SQLITE_DONE && r != SQLITE_ROW)
		goto out;
	n = 0;
	if (ndue == 0)
		goto out;
	if (gw_store_begin(s) != MQS_OK) {
		n = -1;
		goto out;
	}
	for (size_t i = 0; i < ndue; i++) {
		struct due *d = &due[i];
		char *names[GW_LEVELS_MAX], topic[1200], *payload = NULL;
		size_t nl = split_levels(d->levels, names);

		if (d->level_idx < 0 || (size_t)d->level_idx >= nl)
			continue;
		if (content_payload(s, d->rowid, d->cid, names[d->level_idx], d->sha, d->author,
		                    &payload) != MQS_OK) {
			gw_log(GW_LOG_ERR, "campaign %s: cannot open its stored bytes", d->cid);
			continue;
		}
		snprintf(topic, sizeof(topic), "%s/%s/content", status_topic, d->cid);
		r = gw_pubq_insert(s, "", topic, (const uint8_t *)payload, strlen(payload),
		                   d->route, now_ms);
		mqs_free(payload);
		if (r != MQS_OK)
			goto fail;
		st = gw_store_stmt(s,
		                   "UPDATE campaigns SET published_level = level_idx WHERE id = ?");
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, d->rowid);
		r = sqlite3_step(st);
		gw_store_done(st);
		if (r != SQLITE_DONE)
			goto fail;
		n++;
	}
	if (gw_store_commit(s) != MQS_OK) {
		n = -1;
		goto out;
	}
	goto out;
fail:
	gw_store_rollback(s);
	n = -1;
out:
	mqs_free(due);
	return n;
}

/* Columns of a campaign row as listed. */
#define CAMPAIGN_COLS                                                                              \
	"SELECT id, cid, route, author, state, sha256, grp, channels, levels, level_idx, "         \
	"send_at, "                                                                                \
	"expires_at, created_at, updated_at, coalesce(message, 0) FROM campaigns "

/* Fill ci from a CAMPAIGN_COLS row. */
static void campaign_info(sqlite3_stmt *st, struct gw_campaign_info *ci)
{
	ci->rowid = sqlite3_column_int64(st, 0);
	ci->cid = (const char *)sqlite3_column_text(st, 1);
	ci->route = (const char *)sqlite3_column_text(st, 2);
	ci->author = (const char *)sqlite3_column_text(st, 3);
	ci->state = (const char *)sqlite3_column_text(st, 4);
	ci->sha256 = (const char *)sqlite3_column_text(st, 5);
	ci->group = (const char *)sqlite3_column_text(st, 6);
	ci->channels = (const char *)sqlite3_column_text(st, 7);
	ci->levels = (const char *)sqlite3_column_text(st, 8);
	ci->level_idx = sqlite3_column_int(st, 9);
	ci->send_at = sqlite3_column_int64(st, 10);
	ci->expires_at = sqlite3_column_int64(st, 11);
	ci->created_at = sqlite3_column_int64(st, 12);
	ci->updated_at = sqlite3_column_int64(st, 13);
	ci->message = sqlite3_column_int64(st, 14);
}

/* Every campaign (of a state), newest first. */
int gw_review_each(struct gw_store *s, const char *state,
                   int (*fn)(const struct gw_campaign_info *ci, void *arg), void *arg)
{
	sqlite3_stmt *st =
	    gw_store_prepare(s, CAMPAIGN_COLS "WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC");
	int rc = MQS_OK, r;

	if (st == NULL)
		return MQS_ERR_DB;
	if (state != NULL)
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	for (r = sqlite3_step(st); r == SQLITE_ROW && rc == MQS_OK; r = sqlite3_step(st)) {
		struct gw_campaign_info ci;

		campaign_info(st, &ci);
		rc = fn(&ci, arg);
	}
	if (rc == MQS_OK && r != SQLITE_DONE)
		rc = MQS_ERR_DB;
	sqlite3_finalize(st);
	return rc;
}

/* One campaign. */
int gw_review_get(struct gw_store *s, const char *cid,
                  int (*fn)(const struct gw_campaign_info *ci, void *arg), void *arg)
{
	sqlite3_stmt *st = gw_store_prepare(s, CAMPAIGN_COLS "WHERE cid = ?");
	int rc, r;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		struct gw_campaign_info ci;

		campaign_info(st, &ci);
		rc = fn(&ci, arg);
	} else {
		rc = r == SQLITE_DONE ? MQS_ERR_NOENT : MQS_ERR_DB;
	}
	sqlite3_finalize(st);
	return rc;
}

/* The exact submitted bytes of a campaign. */
int gw_review_load(struct gw_store *s, int64_t rowid, uint8_t **bytes, size_t *len)
{
	sqlite3_stmt *st = gw_store_stmt(s, "SELECT cid, body_sealed FROM campaigns WHERE id = ?");
	char cid[GW_ID_MAX + 1];
	uint8_t *sealed = NULL;
	size_t slen = 0;
	int rc = MQS_ERR_DB, r;

	*bytes = NULL;
	*len = 0;
	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, rowid);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		snprintf(cid, sizeof(cid), "%s", (const char *)sqlite3_column_text(st, 0));
		slen = (size_t)sqlite3_column_bytes(st, 1);
		sealed = mqs_malloc(slen > 0 ? slen : 1);
		if (sealed != NULL)
			memcpy(sealed, sqlite3_column_blob(st, 1), slen);
		rc = sealed != NULL ? MQS_OK : MQS_ERR_NOMEM;
	} else if (r == SQLITE_DONE) {
		rc = MQS_ERR_NOENT;
	}
	gw_store_done(st);
	if (rc == MQS_OK) {
		rc = gw_store_crypt(s, CAMPAIGN_LABEL, 0, cid, strlen(cid), sealed, slen, bytes,
		                    len);
		if (rc != MQS_OK && rc != MQS_ERR_NOMEM)
			rc = MQS_ERR_UNWRAP;
	}
	mqs_free(sealed);
	return rc;
}

/* Every audit row of a campaign (or all), oldest first. */
int gw_audit_each(struct gw_store *s, const char *cid, int limit,
                  int (*fn)(const struct gw_audit_info *ai, void *arg), void *arg)
{
	sqlite3_stmt *st = gw_store_prepare(
	    s, "SELECT id, campaign, event, level, principal, person, sha256, reason, source, at "
	       "FROM (SELECT * FROM campaign_audit WHERE ?1 IS NULL OR campaign = ?1 "
	       "ORDER BY id DESC LIMIT ?2) ORDER BY id");
	int rc = MQS_OK, r;

	if (st == NULL)
		return MQS_ERR_DB;
	if (cid != NULL)
		sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
	for (r = sqlite3_step(st); r == SQLITE_ROW && rc == MQS_OK; r = sqlite3_step(st)) {
		struct gw_audit_info ai = {
		    sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2),
		    (const char *)sqlite3_column_text(st, 3),
		    (const char *)sqlite3_column_text(st, 4),
		    (const char *)sqlite3_column_text(st, 5),
		    (const char *)sqlite3_column_text(st, 6),
		    (const char *)sqlite3_column_text(st, 7),
		    (const char *)sqlite3_column_text(st, 8),
		    sqlite3_column_int64(st, 9),
		};

		rc = fn(&ai, arg);
	}
	if (rc == MQS_OK && r != SQLITE_DONE)
		rc = MQS_ERR_DB;
	sqlite3_finalize(st);
	return rc;
}

/* 1 when the audit proves every level approved for sha256_hex. */
int gw_review_fully_approved(struct gw_store *s, const char *cid, const char *levels,
                             const char *sha256_hex, const char *author)
{
	char buf[LEVELS_TEXT_MAX], *names[GW_LEVELS_MAX], persons[GW_LEVELS_MAX][65];
	char aperson[65] = "", sha[65];
	size_t nl, seen = 0;
	sqlite3_stmt *st;
	int ok = 1, r;

	if (cid == NULL || levels == NULL || author == NULL || !sha_ok(sha256_hex, sha) ||
	    strlen(levels) >= sizeof(buf))
		return 0;
	snprintf(buf, sizeof(buf), "%s", levels);
	nl = split_levels(buf, names);
	if (nl == 0)
		return 0;
	/* the author's person: as stored at submission, and as it is now */
	st = gw_store_stmt(s, "SELECT coalesce(author_person, '') FROM campaigns WHERE cid = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		snprintf(aperson, sizeof(aperson), "%s", (const char *)sqlite3_column_text(st, 0));
	gw_store_done(st);
	if (r != SQLITE_ROW)
		return r == SQLITE_DONE ? 0 : -1;
	if (aperson[0] == '\0')
		return 0; /* no author's person: the author rule cannot be proven */
	st = gw_store_prepare(s, "SELECT event, level, principal, coalesce(person, ''), "
	                         "coalesce(sha256, '') FROM campaign_audit WHERE campaign = ? AND "
	                         "event IN ('approved', 'rejected') ORDER BY id");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cid, -1, SQLITE_STATIC);
	for (r = sqlite3_step(st); r == SQLITE_ROW && ok; r = sqlite3_step(st)) {
		const char *ev = (const char *)sqlite3_column_text(st, 0);
		const char *lv = (const char *)sqlite3_column_text(st, 1);
		const char *pr = (const char *)sqlite3_column_text(st, 2);
		const char *pe = (const char *)sqlite3_column_text(st, 3);
		const char *sh = (const char *)sqlite3_column_text(st, 4);

		if (strcmp(ev, "approved") != 0 || seen >= nl || lv == NULL ||
		    strcmp(lv, names[seen]) != 0 || pr == NULL || strcmp(pr, author) == 0 ||
		    pe[0] == '\0' || (aperson[0] != '\0' && strcmp(pe, aperson) == 0) ||
		    strlen(sh) != 64 || CRYPTO_memcmp(sh, sha, 64) != 0) {
			ok = 0;
			break;
		}
		for (size_t i = 0; i < seen; i++) {
			if (strcmp(persons[i], pe) == 0)
				ok = 0;
		}
		snprintf(persons[seen], sizeof(persons[0]), "%s", pe);
		seen++;
	}
	if (ok && r != SQLITE_DONE && r != SQLITE_ROW) {
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	if (!ok || seen != nl)
		return 0;
	/* a person the author principal acts for now approved nothing either */
	if (person_of(s, author, NULL, aperson) < 0)
		return -1;
	for (size_t i = 0; i < seen; i++) {
		if (aperson[0] != '\0' && strcmp(persons[i], aperson) == 0)
			return 0;
	}
	return 1;
}

/* gw_review_get: the stored sha256 into arg (65 bytes). */
static int decide_code_sha(const struct gw_campaign_info *ci, void *arg)
{
	snprintf(arg, 65, "%s", ci->sha256);
	return MQS_OK;
}

/* A decision proven with the person's one-time code. */
int gw_review_decide_code(struct gw_store *s, const char *cid, const char *principal,
                          const char *code, int decision, const char *level, const char *sha256_hex,
                          const char *reason, const char *source, int64_t now_ms, char *err,
                          size_t errlen)
{
	char cur_sha[65] = "";
	int rc;

	if (code == NULL || cid == NULL || principal == NULL) {
		snprintf(err, errlen, "missing campaign, reviewer or code");
		rc = MQS_ERR_INVAL;
		goto out;
	}
	rc = gw_review_check_code(s, principal, code, now_ms, err, errlen);
	if (rc != MQS_OK) {
		/* a wrong code changes nothing but the audit and the person's counters */
		if (gw_id_check(cid) && gw_review_audit(s, cid, "refused", NULL, principal, NULL,
		                                        sha256_hex, err, source, now_ms) != MQS_OK)
			gw_log(GW_LOG_ERR, "campaign %s: cannot audit a refusal", cid);
		rc = rc == MQS_ERR_DB ? MQS_ERR_DB : MQS_ERR_PERM;
		goto out;
	}
	if (sha256_hex == NULL) {
		/* a rejection names no content: of the stored campaign */
		rc = gw_review_get(s, cid, decide_code_sha, cur_sha);
		if (rc != MQS_OK) {
			snprintf(err, errlen, "no such campaign");
			goto out;
		}
		sha256_hex = cur_sha;
	}
	rc = gw_review_decide(s, cid, principal, decision, level, sha256_hex, reason, source,
	                      now_ms, err, errlen);
out:
	return rc;
}
