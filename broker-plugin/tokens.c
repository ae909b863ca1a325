/* SPDX-License-Identifier: BSD-3-Clause */
/* tokens.c - connect tokens at CONNECT, replay state in token_seen
 * (tokens.h; docs/broker-plugin.md, "Connect tokens"). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "mqs_conntoken.h"
#include "mqs_kdf.h"
#include "plugin.h"
#include "tokens.h"

#define PRUNE_EVERY_S 10
#define TOKEN_BUSY_MS 50 /* a CONNECT waits a little for mqttsec-acl's lock */

struct mqsp_tokens {
	sqlite3 *db; /* the store's writer (borrowed) */
	sqlite3_stmt *insert_st;
	sqlite3_stmt *prune_st;
	sqlite3_stmt *floor_st;
	int enabled;
	int64_t floor; /* rows of tokens older than this (seconds) were pruned */
	unsigned window;
	int64_t next_prune;
};

/* Prepare the statements and record the setting. */
int mqsp_tokens_open(struct mqsp_store *store, int enabled, unsigned window_s, int busy_ms,
                     struct mqsp_tokens **out, char *err, size_t errlen)
{
	struct mqsp_tokens *t = calloc(1, sizeof(*t));
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_NOMEM;

	*out = NULL;
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	t->db = mqsp_store_writer(store);
	t->enabled = enabled;
	t->window = window_s;
	rc = MQS_ERR_DB;
	if (sqlite3_prepare_v3(t->db,
	                       "INSERT INTO token_seen (username, nonce, at) VALUES (?1, ?2, ?3)",
	                       -1, SQLITE_PREPARE_PERSISTENT, &t->insert_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(t->db, "DELETE FROM token_seen WHERE at < ?1", -1,
	                       SQLITE_PREPARE_PERSISTENT, &t->prune_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(t->db,
	                       "INSERT INTO settings (name, value) VALUES ('token_floor', ?1) "
	                       "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
	                       -1, SQLITE_PREPARE_PERSISTENT, &t->floor_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(t->db,
	                       "INSERT INTO settings (name, value) VALUES ('connect_tokens', ?1) "
	                       "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
	                       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot prepare the connect token statements: %s",
		         sqlite3_errmsg(t->db));
		goto out;
	}
	sqlite3_bind_text(st, 1, enabled ? "on" : "off", -1, SQLITE_STATIC);
	sqlite3_busy_timeout(t->db, busy_ms);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot record the connect token setting: %s",
		         sqlite3_errmsg(t->db));
		sqlite3_busy_timeout(t->db, 0);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* the prune floor of earlier runs, whatever their window */
	if (sqlite3_prepare_v2(t->db, "SELECT value FROM settings WHERE name = 'token_floor'", -1,
	                       &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read the connect token floor: %s",
		         sqlite3_errmsg(t->db));
		sqlite3_busy_timeout(t->db, 0);
		goto out;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		t->floor = sqlite3_column_int64(st, 0);
	sqlite3_busy_timeout(t->db, 0);
	*out = t;
	t = NULL;
	rc = MQS_OK;
out:
	sqlite3_finalize(st);
	mqsp_tokens_free(t);
	return rc;
}

/* Free the state. */
void mqsp_tokens_free(struct mqsp_tokens *t)
{
	if (t == NULL)
		return;
	sqlite3_finalize(t->insert_st);
	sqlite3_finalize(t->prune_st);
	sqlite3_finalize(t->floor_st);
	free(t);
}

/* Commit (username, nonce) at the token's time.  NULL, or why not. */
static const char *nonce_record(struct mqsp_tokens *t, const char *user,
                                const struct mqs_conntoken *tok, char *why, size_t whylen)
{
	const char *res = why;
	int r;

	sqlite3_busy_timeout(t->db, TOKEN_BUSY_MS);
	sqlite3_bind_text(t->insert_st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_blob(t->insert_st, 2, tok->nonce, sizeof(tok->nonce), SQLITE_STATIC);
	sqlite3_bind_int64(t->insert_st, 3, (int64_t)(tok->ts_ms / 1000u));
	r = sqlite3_step(t->insert_st);
	if (r == SQLITE_DONE)
		res = NULL;
	else if ((sqlite3_extended_errcode(t->db) & 0xff) == SQLITE_CONSTRAINT)
		res = "connect token already used";
	else
		snprintf(why, whylen, "cannot record the connect token: %s", sqlite3_errmsg(t->db));
	sqlite3_reset(t->insert_st);
	sqlite3_clear_bindings(t->insert_st);
	sqlite3_busy_timeout(t->db, 0);
	return res;
}

/* Check a token. */
const char *mqsp_tokens_check(struct mqsp_tokens *t, const struct mqsp_device *d, const char *cid,
                              const char *password, uint64_t now_ms, char *why, size_t whylen,
                              int *counts)
{
	struct mqs_conntoken tok;
	uint8_t k[MQS_KDF_KEY_LEN];
	const char *res = NULL;
	int when, e;

	*counts = 1;
	if (!t->enabled) {
		*counts = 0;
		res = "connect tokens are off (plugin_opt_connect_tokens)";
		goto out;
	}
	if (cid == NULL || cid[0] == '\0') {
		res = "connect token with an empty client id";
		goto out;
	}
	if (mqs_conntoken_parse(password, &tok) != MQS_OK) {
		res = "malformed connect token";
		goto out;
	}
	when = mqs_conntoken_when(&tok, now_ms, t->window);
	if (when != 0) {
		res = when < 0 ? "connect token older than the replay window"
		               : "connect token from the future (beyond the replay window)";
		goto out;
	}
	/* token_seen no longer holds the nonces of tokens this old (a wider
	 * window since, or the clock stepped back): a replay would pass */
	if ((int64_t)(tok.ts_ms / 1000u) < t->floor) {
		res = "connect token older than the replay state (token_floor)";
		goto out;
	}
	e = mqs_kdf_connect(d->secret, d->secret_len, k);
	if (e == MQS_OK)
		e = mqs_conntoken_verify(k, d->name, cid, &tok);
	OPENSSL_cleanse(k, sizeof(k));
	if (e == MQS_ERR_TOTP || e == MQS_ERR_INVAL) {
		res = "wrong connect token";
		goto out;
	}
	if (e != MQS_OK) {
		*counts = 0;
		snprintf(why, whylen, "cannot check the connect token: %s", mqs_strerror(e));
		res = why;
		goto out;
	}
	res = nonce_record(t, d->name, &tok, why, whylen);
	if (res == why)
		*counts = 0;
out:
	return res;
}

/* Delete the rows whose window closed.  The floor is committed first: a
 * token older than it is refused from then on, so a later wider window or
 * a clock stepped back cannot reopen a pruned nonce. */
static void tokens_prune(struct mqsp_tokens *t, int64_t now)
{
	/* a token of time ts is accepted until ts + window; one second more
	 * for rounding */
	int64_t cut = now - (int64_t)t->window - 1;
	int r;

	if (now < t->next_prune)
		return;
	t->next_prune = now + PRUNE_EVERY_S;
	if (cut > t->floor) {
		sqlite3_bind_int64(t->floor_st, 1, cut);
		r = sqlite3_step(t->floor_st);
		sqlite3_reset(t->floor_st);
		if (r != SQLITE_DONE)
			return; /* busy: the next prune catches up */
		t->floor = cut;
	}
	/* rows below the recorded floor only */
	sqlite3_bind_int64(t->prune_st, 1, t->floor);
	(void)sqlite3_step(t->prune_st); /* busy: the next prune catches up */
	sqlite3_reset(t->prune_st);
}

/* MOSQ_EVT_TICK: prune token_seen. */
int mqsp_tokens_tick_cb(int event, void *event_data, void *userdata)
{
	struct mqsp_plugin *p = userdata;

	(void)event;
	(void)event_data;
	if (p->tokens != NULL)
		tokens_prune(p->tokens, (int64_t)time(NULL));
	return MOSQ_ERR_SUCCESS;
}
