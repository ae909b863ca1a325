/* SPDX-License-Identifier: BSD-3-Clause */
/* keyreq.c - key requests and answers (see keyreq.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "keyreq.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_creds.h"
#include "mqs_keyaccess.h"
#include "mqs_keystore.h"
#include "mqs_topic.h"
#include "mqs_util.h"

#define DETAIL_MAX 2048 /* audit detail of one answer */

/* Free a request. */
void mqsp_keyreq_release(struct mqsp_keyreq *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nfilters; i++)
		mqs_free(r->filters[i]);
	mqs_free(r->filters);
	memset(r, 0, sizeof(*r));
}

/* 1 when r already holds filter. */
static int has_filter(const struct mqsp_keyreq *r, const char *filter)
{
	for (size_t i = 0; i < r->nfilters; i++) {
		if (strcmp(r->filters[i], filter) == 0)
			return 1;
	}
	return 0;
}

/* Parse a request plaintext. */
int mqsp_keyreq_parse(const uint8_t *plain, size_t len, struct mqsp_keyreq *out)
{
	cJSON *root = NULL;
	const cJSON *filters, *nonce, *item;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	int rc = MQS_ERR_PARSE;

	memset(out, 0, sizeof(*out));
	if (plain == NULL || len == 0)
		goto out;
	if (len > MQSP_KEYREQ_PLAIN_MAX) {
		rc = MQS_ERR_TOOBIG;
		goto out;
	}
	root = cJSON_ParseWithLength((const char *)plain, len);
	if (root == NULL || !cJSON_IsObject(root))
		goto out;
	filters = cJSON_GetObjectItemCaseSensitive(root, "filters");
	nonce = cJSON_GetObjectItemCaseSensitive(root, "nonce");
	if (!cJSON_IsArray(filters) || !cJSON_IsString(nonce) || nonce->valuestring == NULL)
		goto out;
	if (mqs_base64_decode(nonce->valuestring, strlen(nonce->valuestring), MQSP_KEYREQ_NONCE_LEN,
	                      &raw, &raw_len) != MQS_OK ||
	    raw_len != MQSP_KEYREQ_NONCE_LEN)
		goto out;
	memcpy(out->nonce, raw, MQSP_KEYREQ_NONCE_LEN);
	cJSON_ArrayForEach(item, filters)
	{
		const char *f;
		size_t flen;
		void *arr = out->filters;
		size_t cap = out->nfilters;

		if (!cJSON_IsString(item) || item->valuestring == NULL)
			goto bad;
		f = item->valuestring;
		flen = strlen(f);
		if (flen == 0 || flen > MQSP_KEYREQ_FILTER_LEN) {
			rc = flen == 0 ? MQS_ERR_PARSE : MQS_ERR_TOOBIG;
			goto fail;
		}
		if (has_filter(out, f))
			continue;
		if (out->nfilters >= MQSP_KEYREQ_FILTERS_MAX) {
			rc = MQS_ERR_TOOBIG;
			goto fail;
		}
		rc = mqs_array_reserve(&arr, &cap, out->nfilters + 1, sizeof(char *),
		                       MQSP_KEYREQ_FILTERS_MAX, 0);
		out->filters = arr;
		if (rc != MQS_OK)
			goto fail;
		out->filters[out->nfilters] = mqs_strdup(f);
		if (out->filters[out->nfilters] == NULL) {
			rc = MQS_ERR_NOMEM;
			goto fail;
		}
		out->nfilters++;
	}
	if (out->nfilters == 0)
		goto bad;
	rc = MQS_OK;
	goto out;
bad:
	rc = MQS_ERR_PARSE;
fail:
	mqsp_keyreq_release(out);
out:
	mqs_free(raw);
	cJSON_Delete(root);
	return rc;
}

/* Wipe and free an answer. */
void mqsp_keyreq_answer_release(struct mqsp_keyreq_answer *a)
{
	if (a == NULL)
		return;
	if (a->json != NULL)
		mqs_secret_free(a->json, a->json_len);
	for (size_t i = 0; i < a->ngranted; i++)
		mqs_free(a->granted[i]);
	mqs_free(a->granted);
	memset(a, 0, sizeof(*a));
}

/* Inside the answer's transaction. */
struct answer_ctx {
	sqlite3 *db;
	const uint8_t *mk;
	const char *user;
	const char *cid;  /* NULL: unknown or over MQSP_KEYREQ_CID_MAX */
	const char *addr; /* NULL: unknown or over MQSP_KEYREQ_ADDR_MAX */
	int64_t now;
	struct mqs_creds creds;
	cJSON *refused;
	struct mqs_buf detail; /* granted filters and key ids, for the audit row */
	int detail_cut;        /* detail was too long: cut */
	char *err;
	size_t errlen;
};

/* 1 when filter is protected. */
static int is_protected(struct answer_ctx *c, const char *filter, int *yes)
{
	sqlite3_stmt *st = NULL;
	int s;

	*yes = 0;
	if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM protected_topics WHERE filter = ?1", -1, &st,
	                       NULL) != SQLITE_OK)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	s = sqlite3_step(st);
	sqlite3_finalize(st);
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		return MQS_ERR_DB;
	*yes = s == SQLITE_ROW;
	return MQS_OK;
}

/* Record one grant. */
static int grant_record(struct answer_ctx *c, uint32_t id, const char *filter)
{
	sqlite3_stmt *st = NULL;
	int ok;

	if (sqlite3_prepare_v2(c->db,
	                       "INSERT OR REPLACE INTO key_grants (username, key_id, filter, via, "
	                       "at, clientid, address) VALUES (?1, ?2, ?3, 'online', ?4, ?5, ?6)",
	                       -1, &st, NULL) != SQLITE_OK)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, c->user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)id);
	sqlite3_bind_text(st, 3, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)c->now);
	if (c->cid != NULL)
		sqlite3_bind_text(st, 5, c->cid, -1, SQLITE_STATIC);
	if (c->addr != NULL)
		sqlite3_bind_text(st, 6, c->addr, -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok ? MQS_OK : MQS_ERR_DB;
}

/* Add the usable keys of filter to the answer; *n is how many. */
static int filter_keys(struct answer_ctx *c, const char *filter, size_t *n)
{
	sqlite3_stmt *st = NULL;
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
	size_t before = c->creds.nkeys;
	int nactive = 0;
	int rc = MQS_ERR_DB;

	*n = 0;
	if (sqlite3_prepare_v2(c->db,
	                       "SELECT id, state, wrapped FROM keys WHERE purpose = 'topic' AND "
	                       "owner = ?1 AND (state = 'active' OR retire_after >= ?2) "
	                       "ORDER BY id",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)c->now);
	for (;;) {
		int s = sqlite3_step(st);
		uint32_t id;
		const char *state;

		if (s == SQLITE_DONE)
			break;
		if (s != SQLITE_ROW) {
			rc = MQS_ERR_DB;
			goto out;
		}
		id = (uint32_t)sqlite3_column_int64(st, 0);
		state = (const char *)sqlite3_column_text(st, 1);
		rc = mqs_keystore_unwrap(c->mk, id, MQS_KEY_TOPIC, sqlite3_column_blob(st, 2),
		                         (size_t)sqlite3_column_bytes(st, 2), key);
		if (rc != MQS_OK) {
			snprintf(c->err, c->errlen,
			         "cannot unwrap topic key %lu: wrong master key or damaged row",
			         (unsigned long)id);
			rc = MQS_ERR_UNWRAP;
			goto out;
		}
		rc = mqs_creds_add_key(&c->creds, id, MQS_CREDS_USE_TOPIC, filter, key);
		OPENSSL_cleanse(key, sizeof(key));
		if (rc != MQS_OK)
			goto out;
		nactive += state != NULL && strcmp(state, "active") == 0;
	}
	if (nactive == 0) {
		/* no key seals this filter: nothing to hand out (the caller refuses) */
		while (c->creds.nkeys > before) {
			struct mqs_creds_key *k = &c->creds.keys[--c->creds.nkeys];

			OPENSSL_cleanse(k->key, sizeof(k->key));
			mqs_free(k->topic);
			k->topic = NULL;
		}
	}
	*n = c->creds.nkeys - before;
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	if (rc == MQS_ERR_DB)
		snprintf(c->err, c->errlen, "cannot read topic keys: %s", sqlite3_errmsg(c->db));
	return rc;
}

/* Grant filter to the device, or list it as refused. */
static int one_filter(struct answer_ctx *c, const char *filter, struct mqsp_keyreq_answer *a)
{
	int yes = 0;
	size_t n = 0;
	size_t before = c->creds.nkeys;
	int rc;

	if (mqs_topic_filter_check(filter) != MQS_OK)
		goto refuse;
	rc = is_protected(c, filter, &yes);
	if (rc != MQS_OK) {
		snprintf(c->err, c->errlen, "cannot read protected topics: %s",
		         sqlite3_errmsg(c->db));
		return rc;
	}
	if (!yes)
		goto refuse;
	rc = mqs_keyaccess_read_covers(c->db, c->user, filter, c->now, &yes, c->err, c->errlen);
	if (rc == MQS_ERR_INVAL)
		goto refuse; /* a deny rule it cannot evaluate: fail closed */
	if (rc != MQS_OK)
		return rc;
	if (!yes)
		goto refuse;
	rc = filter_keys(c, filter, &n);
	if (rc != MQS_OK)
		return rc;
	if (n == 0)
		goto refuse;
	rc = mqs_creds_add_protected(&c->creds, filter);
	if (rc != MQS_OK)
		return rc;
	{
		void *arr = a->granted;
		size_t cap = a->ngranted;

		rc = mqs_array_reserve(&arr, &cap, a->ngranted + 1, sizeof(char *),
		                       MQSP_KEYREQ_FILTERS_MAX, 0);
		a->granted = arr;
		if (rc != MQS_OK)
			return rc;
		a->granted[a->ngranted] = mqs_strdup(filter);
		if (a->granted[a->ngranted] == NULL)
			return MQS_ERR_NOMEM;
		a->ngranted++;
	}
	if (mqs_buf_addf(&c->detail, "%s%.200s:", a->ngranted > 1 ? " " : "", filter) != MQS_OK)
		c->detail_cut = 1;
	for (size_t i = before; i < c->creds.nkeys; i++) {
		rc = grant_record(c, c->creds.keys[i].id, filter);
		if (rc != MQS_OK) {
			snprintf(c->err, c->errlen, "cannot record key grants: %s",
			         sqlite3_errmsg(c->db));
			return rc;
		}
		if (mqs_buf_addf(&c->detail, "%s%lu", i > before ? "," : "",
		                 (unsigned long)c->creds.keys[i].id) != MQS_OK)
			c->detail_cut = 1;
	}
	a->nkeys += n;
	return MQS_OK;
refuse:
	a->nrefused++;
	{
		cJSON *f = cJSON_CreateString(filter);

		if (f == NULL || !cJSON_AddItemToArray(c->refused, f)) {
			cJSON_Delete(f);
			return MQS_ERR_NOMEM;
		}
	}
	return MQS_OK;
}

/* MQS_OK when dk_id is a device key of c->user that still opens at c->now
 * (active, or retired with its grace not over), read in the answer's own
 * transaction: a key retired a moment ago (rekey --grace 0) is refused
 * even while the view in use still holds it (docs/payload-encryption.md,
 * "Online keys").  MQS_ERR_NOENT when it does not. */
static int device_key_usable(struct answer_ctx *c, uint32_t dk_id)
{
	sqlite3_stmt *st = NULL;
	int s;

	if (sqlite3_prepare_v2(c->db,
	                       "SELECT 1 FROM keys WHERE id = ?1 AND purpose = 'device' AND "
	                       "owner = ?2 AND (state = 'active' OR retire_after >= ?3)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)dk_id);
	sqlite3_bind_text(st, 2, c->user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)c->now);
	s = sqlite3_step(st);
	sqlite3_finalize(st);
	if (s == SQLITE_ROW)
		return MQS_OK;
	if (s == SQLITE_DONE) {
		snprintf(c->err, c->errlen, "device key %lu of %.64s no longer opens",
		         (unsigned long)dk_id, c->user);
		return MQS_ERR_NOENT;
	}
dberr:
	snprintf(c->err, c->errlen, "cannot read device keys: %s", sqlite3_errmsg(c->db));
	return MQS_ERR_DB;
}

/* The audit row of an answer. */
static int audit_record(struct answer_ctx *c, const struct mqsp_keyreq_answer *a)
{
	sqlite3_stmt *st = NULL;
	char detail[DETAIL_MAX];
	const char *granted = mqs_buf_str(&c->detail);
	int ok;

	snprintf(detail, sizeof(detail), "for=%.64s via=online granted=%s%s refused=%zu", c->user,
	         granted != NULL && granted[0] != '\0' ? granted : "-", c->detail_cut ? "..." : "",
	         a->nrefused);
	if (sqlite3_prepare_v2(c->db,
	                       "INSERT INTO audit (at, who, action, detail) VALUES (?1, "
	                       "'mqttsec-plugin', 'key fetch', ?2)",
	                       -1, &st, NULL) != SQLITE_OK)
		return MQS_ERR_DB;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)c->now);
	sqlite3_bind_text(st, 2, detail, -1, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok ? MQS_OK : MQS_ERR_DB;
}

/* The answer text: the credentials fragment with "refused" and "nonce". */
static int answer_json(struct answer_ctx *c, const struct mqsp_keyreq *req,
                       struct mqsp_keyreq_answer *a)
{
	struct mqs_buf b;
	char *creds = NULL;
	char *refused = NULL;
	char *nonce = NULL;
	size_t len;
	int rc;

	mqs_buf_init(&b, MQS_CREDS_FILE_MAX + MQSP_KEYREQ_PLAIN_MAX, 1);
	rc = mqs_creds_to_json(&c->creds, &creds);
	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_NOMEM;
	refused = cJSON_PrintUnformatted(c->refused);
	if (refused == NULL)
		goto out;
	rc = mqs_base64_encode(req->nonce, sizeof(req->nonce), &nonce);
	if (rc != MQS_OK)
		goto out;
	len = strlen(creds);
	while (len > 0 && creds[len - 1] != '}')
		len--;
	if (len == 0) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	rc = mqs_buf_add(&b, creds, len - 1);
	if (rc == MQS_OK)
		rc = mqs_buf_addf(&b, ",\"refused\":%s,\"nonce\":\"%s\"}", refused, nonce);
	if (rc != MQS_OK)
		goto out;
	a->json = mqs_buf_take(&b, &a->json_len);
	rc = a->json != NULL ? MQS_OK : MQS_ERR_NOMEM;
out:
	mqs_buf_release(&b);
	if (creds != NULL)
		mqs_secret_free(creds, strlen(creds));
	cJSON_free(refused);
	mqs_free(nonce);
	return rc;
}

/* Build and record the answer. */
int mqsp_keyreq_answer(sqlite3 *db, const uint8_t mk[MQS_MASTER_KEY_LEN], const char *user,
                       const char *cid, const char *addr, uint32_t dk_id,
                       const struct mqsp_keyreq *req, int64_t now, int busy_ms,
                       struct mqsp_keyreq_answer *out, char *err, size_t errlen)
{
	struct answer_ctx c;
	int in_txn = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.db = db;
	c.mk = mk;
	c.user = user;
	c.cid = cid != NULL && cid[0] != '\0' && strlen(cid) <= MQSP_KEYREQ_CID_MAX ? cid : NULL;
	c.addr =
	    addr != NULL && addr[0] != '\0' && strlen(addr) <= MQSP_KEYREQ_ADDR_MAX ? addr : NULL;
	c.now = now;
	c.err = err;
	c.errlen = errlen;
	err[0] = '\0';
	mqs_creds_init(&c.creds);
	mqs_buf_init(&c.detail, DETAIL_MAX, 0);
	rc = MQS_ERR_NOMEM;
	/* freshness: clients refuse a push older than the newest they took
	 * (docs/payload-encryption.md, "Online keys") */
	c.creds.keys_issued_ms = mqs_now_ms();
	c.refused = cJSON_CreateArray();
	if (c.refused == NULL || mqs_creds_set_username(&c.creds, user) != MQS_OK)
		goto out;
	sqlite3_busy_timeout(db, busy_ms);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = MQS_ERR_DB;
		snprintf(err, errlen, "cannot start a transaction: %s", sqlite3_errmsg(db));
		goto out;
	}
	in_txn = 1;
	rc = device_key_usable(&c, dk_id);
	if (rc != MQS_OK)
		goto out;
	for (size_t i = 0; i < req->nfilters; i++) {
		rc = one_filter(&c, req->filters[i], out);
		if (rc != MQS_OK)
			goto out;
	}
	rc = audit_record(&c, out);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot write the audit row: %s", sqlite3_errmsg(db));
		goto out;
	}
	rc = answer_json(&c, req, out);
	if (rc != MQS_OK)
		goto out;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = MQS_ERR_DB;
		snprintf(err, errlen, "cannot commit the key grants: %s", sqlite3_errmsg(db));
		goto out;
	}
	in_txn = 0;
out:
	if (in_txn)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_busy_timeout(db, 0);
	if (rc != MQS_OK) {
		if (err[0] == '\0')
			snprintf(err, errlen, "cannot build the answer: %s", mqs_strerror(rc));
		mqsp_keyreq_answer_release(out);
	}
	cJSON_Delete(c.refused);
	mqs_buf_release(&c.detail);
	mqs_creds_release(&c.creds);
	return rc;
}
