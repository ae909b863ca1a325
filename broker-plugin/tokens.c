/* SPDX-License-Identifier: BSD-3-Clause */
/* tokens.c - connect tokens at CONNECT; the accepted nonces in memory, the
 * token journal and token_seen (tokens.h; docs/broker-plugin.md, "Connect
 * tokens"). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include "mqs_uthash.h"

#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_conntoken.h"
#include "mqs_kdf.h"
#include "mqs_totp.h"
#include "mqs_util.h"
#include "plugin.h"
#include "tokens.h"

#define PRUNE_EVERY_S  10
#define FOLD_EVERY_MS  1000
#define TOKEN_BUSY_MS  50      /* a CONNECT waits a little for mqttsec-acl's lock */
#define SEEN_MAX       1000000 /* nonces held in memory; beyond, each is committed */
#define KEY_MAX        (MQSP_JOURNAL_NAME_MAX + 1)
#define DIRTY_MAX      (SEEN_MAX + MQSP_JOURNAL_RECORDS_MAX) /* nonces the journal alone holds */
#define DIRTY_CAP_KEEP 65536 /* dirty array: largest size kept after a fold */
/* nonces one username may hold in memory: a device that logs in faster
 * than any reconnect loop (over 3 a second for the default window) is
 * refused, so one device's credentials cannot fill the memory (and push
 * every device onto the commit path) */
#define PER_USER_MAX 1000
/* a token more than this ahead of the broker clock is made durable with an
 * fsync before its CONNACK; an unclean start refuses every token up to this
 * far past the start, which then covers every nonce a power loss can have
 * dropped (docs/broker-plugin.md, "Connect tokens", power loss) */
#define AHEAD_MS 1000
/* token journal records that are not nonces (no '/'): a clean stop, and a
 * start (so that the file never ends with a clean stop while a broker runs) */
#define MARK_CLEAN          "clean-stop"
#define MARK_START          "start"
#define FLOOR_READ_EVERY_MS 1000 /* database mode: a peer's token_floor */

/* an accepted (username, nonce): key "username/<nonce hex>" (a username
 * never holds '/'); dirty: only the journal holds it, not token_seen */
struct seen {
	UT_hash_handle hh;
	int64_t at; /* the token's time, seconds */
	int dirty;
	size_t user_len;
	char key[];
};

/* how many nonces of a username memory holds */
struct ucount {
	UT_hash_handle hh;
	unsigned n;
	char name[];
};

struct mqsp_tokens {
	sqlite3 *db; /* the store's writer (borrowed) */
	sqlite3_stmt *insert_st;
	sqlite3_stmt *ignore_st;
	sqlite3_stmt *prune_st;
	sqlite3_stmt *floor_st;
	sqlite3_stmt *floor_read_st;
	struct mqsp_journal *journal; /* <db>-tokens, NULL: commit each nonce */
	struct seen *set;
	size_t count, ndirty;
	struct ucount *uc; /* per username (PER_USER_MAX) */
	/* the dirty nonces (ndirty of them), for the fold */
	struct seen **dirty;
	size_t dirty_cap;
	struct mqs_conntoken_mac *mac; /* HMAC set up once (broker thread) */
	int enabled;
	unsigned window;
	/* token_seen rows and nonces of tokens older than this (seconds) were
	 * pruned (settings token_floor): such a token is refused */
	int64_t floor;
	/* an unclean start (or, in database mode, a peer) raised the floor from
	 * unclean_from: a token in between with a right tag is refused without
	 * counting toward bans (its device did nothing wrong) */
	int unclean;
	int64_t unclean_from;
	int clean_last; /* recovery: the journal's last record is a clean stop */
	uint64_t next_floor_read_ms;
	int running; /* opened: a free is a stop that may be recorded as clean */
	/* a nonce committed but not held in memory (memory full) may be in
	 * token_seen alone until then: every nonce is committed till then */
	int64_t spill_until;
	int64_t next_prune;
	uint64_t next_fold_ms;
};

/* key "user/<hex nonce>" into out (KEY_MAX + 1 bytes); 0 when too long. */
static int key_make(const char *user, const uint8_t nonce[MQS_CONNTOKEN_NONCE_LEN], char *out)
{
	size_t n = strlen(user);

	if (n + 1 + 2 * MQS_CONNTOKEN_NONCE_LEN > KEY_MAX - 1)
		return 0;
	memcpy(out, user, n);
	out[n] = '/';
	mqs_hex_encode(nonce, MQS_CONNTOKEN_NONCE_LEN, out + n + 1);
	return 1;
}

/* The nonces memory holds for the username of len bytes at name. */
static struct ucount *ucount_find(struct mqsp_tokens *t, const char *name, size_t len)
{
	struct ucount *u = NULL;

	HASH_FIND(hh, t->uc, name, len, u);
	return u;
}

/* One nonce more (delta 1) or less (-1) for the username of s. */
static void ucount_add(struct mqsp_tokens *t, const struct seen *s, int delta)
{
	struct ucount *u = ucount_find(t, s->key, s->user_len);

	if (u == NULL && delta > 0) {
		u = mqs_calloc(1, sizeof(*u) + s->user_len + 1);
		if (u == NULL)
			return; /* not counted: no cap for it while memory is short */
		memcpy(u->name, s->key, s->user_len);
		HASH_ADD_KEYPTR(hh, t->uc, u->name, s->user_len, u);
		if (!mqs_uthash_added(u, hh)) {
			mqs_free(u);
			return; /* not counted, as above */
		}
	}
	if (u == NULL)
		return;
	if (delta > 0)
		u->n++;
	else if (u->n > 0)
		u->n--;
	if (u->n == 0) {
		HASH_DEL(t->uc, u);
		mqs_free(u);
	}
}

/* Remember key at time at (dirty when only the journal holds it).
 * MQS_OK, MQS_ERR_EXISTS or MQS_ERR_NOMEM. */
static int seen_add(struct mqsp_tokens *t, const char *key, int64_t at, int dirty)
{
	struct seen *s = NULL;
	size_t len = strlen(key);

	HASH_FIND_STR(t->set, key, s);
	if (s != NULL)
		return MQS_ERR_EXISTS;
	if (dirty && t->ndirty == t->dirty_cap) {
		void *a = t->dirty;

		if (mqs_array_reserve(&a, &t->dirty_cap, t->ndirty + 1, sizeof(*t->dirty),
		                      DIRTY_MAX, 0) != MQS_OK)
			return MQS_ERR_NOMEM;
		t->dirty = a;
	}
	s = mqs_calloc(1, sizeof(*s) + len + 1);
	if (s == NULL)
		return MQS_ERR_NOMEM;
	memcpy(s->key, key, len + 1);
	s->user_len = (size_t)(strchr(s->key, '/') - s->key);
	s->at = at;
	s->dirty = dirty;
	HASH_ADD_STR(t->set, key, s);
	if (!mqs_uthash_added(s, hh)) {
		mqs_free(s);
		return MQS_ERR_NOMEM;
	}
	ucount_add(t, s, 1);
	t->count++;
	if (dirty)
		t->dirty[t->ndirty++] = s;
	return MQS_OK;
}

/* K_conn of device d into k: kept in d (snapshot.h), derived on the first
 * token of d in this snapshot, so that a token costs no HKDF. */
static int kconn_get(struct mqsp_device *d, uint8_t k[MQS_KDF_KEY_LEN])
{
	int rc = MQS_OK;

	if (!d->kconn_ok) {
		rc = mqs_kdf_connect(d->secret, d->secret_len, d->kconn);
		d->kconn_ok = rc == MQS_OK;
	}
	if (rc == MQS_OK)
		memcpy(k, d->kconn, MQS_KDF_KEY_LEN);
	return rc;
}

/* Commit every dirty nonce to token_seen (INSERT OR IGNORE) in one
 * transaction, then empty the journal.  MQS_OK or MQS_ERR_DB. */
static int fold(struct mqsp_tokens *t, int busy_ms)
{
	uint8_t nonce[MQS_CONNTOKEN_NONCE_LEN];
	int rc = MQS_OK, in_txn = 0;

	if (t->ndirty == 0)
		goto reset;
	rc = MQS_ERR_DB;
	sqlite3_busy_timeout(t->db, busy_ms);
	if (sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	in_txn = 1;
	for (size_t j = 0; j < t->ndirty; j++) {
		const struct seen *s = t->dirty[j];
		const char *hex = s->key + s->user_len + 1;
		int r;

		for (size_t i = 0; i < sizeof(nonce); i++)
			nonce[i] = (uint8_t)(mqs_hex_digit(hex[2 * i]) << 4 |
			                     mqs_hex_digit(hex[2 * i + 1]));
		sqlite3_bind_text(t->ignore_st, 1, s->key, (int)s->user_len, SQLITE_STATIC);
		sqlite3_bind_blob(t->ignore_st, 2, nonce, sizeof(nonce), SQLITE_TRANSIENT);
		sqlite3_bind_int64(t->ignore_st, 3, s->at);
		r = sqlite3_step(t->ignore_st);
		sqlite3_reset(t->ignore_st);
		if (r != SQLITE_DONE)
			goto out;
	}
	sqlite3_clear_bindings(t->ignore_st);
	if (sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	in_txn = 0;
	for (size_t j = 0; j < t->ndirty; j++)
		t->dirty[j]->dirty = 0;
	t->ndirty = 0;
	if (t->dirty_cap > DIRTY_CAP_KEEP) {
		/* after a long lock: give the memory back */
		mqs_free(t->dirty);
		t->dirty = NULL;
		t->dirty_cap = 0;
	}
	rc = MQS_OK;
reset:
	/* every record in the file is in the database now */
	if (t->journal != NULL && mqsp_journal_records(t->journal) > 0 &&
	    mqsp_journal_reset(t->journal) != MQS_OK)
		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: cannot empty token journal %s: %s",
		         mqsp_journal_path(t->journal), strerror(errno));
out:
	if (in_txn) {
		sqlite3_clear_bindings(t->ignore_st);
		sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_busy_timeout(t->db, 0);
	return rc;
}

/* A nonce of token time at is in token_seen but not in memory. */
static void spilled(struct mqsp_tokens *t, int64_t at)
{
	int64_t until = at + (int64_t)t->window + 1;

	if (until > t->spill_until)
		t->spill_until = until;
}

/* mqsp_journal_read() callback: a nonce a previous run accepted. */
static int recover_one(void *ctx, const char *name, int64_t ts_ms)
{
	struct mqsp_tokens *t = ctx;
	const char *slash = strchr(name, '/');
	int e;

	t->clean_last = strcmp(name, MARK_CLEAN) == 0;
	if (slash == NULL || strlen(slash + 1) != 2 * MQS_CONNTOKEN_NONCE_LEN)
		return MQS_OK; /* not a record of this journal: skipped */
	e = seen_add(t, name, ts_ms / 1000, 1);
	return e == MQS_ERR_EXISTS ? MQS_OK : e;
}

/* Commit token_floor = max(token_floor, f) with synchronous=FULL, so that
 * the WAL (this commit and every earlier one) is on the disk when it
 * returns.  MQS_OK or MQS_ERR_DB. */
static int floor_commit_durable(struct mqsp_tokens *t, int64_t f, int busy_ms)
{
	int r;

	sqlite3_busy_timeout(t->db, busy_ms);
	(void)sqlite3_exec(t->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	sqlite3_bind_int64(t->floor_st, 1, f);
	r = sqlite3_step(t->floor_st);
	sqlite3_reset(t->floor_st);
	(void)sqlite3_exec(t->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	sqlite3_busy_timeout(t->db, 0);
	return r == SQLITE_DONE ? MQS_OK : MQS_ERR_DB;
}

/* The last run did not stop cleanly (or database mode, where a start
 * cannot tell): nonces it accepted in its last seconds may be lost with a
 * power loss, so refuse every token made before now + AHEAD_MS (those made
 * further ahead were fsynced) - docs/broker-plugin.md, "Connect tokens". */
static void unclean_start(struct mqsp_tokens *t, uint64_t now_ms, int busy_ms)
{
	int64_t f = (int64_t)((now_ms + AHEAD_MS) / 1000u) + 1;

	if (f <= t->floor)
		return;
	if (floor_commit_durable(t, f, busy_ms) != MQS_OK)
		/* held in memory for this run; the next start raises it again */
		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: cannot record token_floor: %s",
		         sqlite3_errmsg(t->db));
	t->unclean = 1;
	t->unclean_from = t->floor;
	t->floor = f;
	mqsp_log(MOSQ_LOG_WARNING,
	         "mqttsec: %s: connect tokens made before %" PRId64
	         " (unix time) are refused (token_floor), not counted toward bans",
	         t->journal != NULL ? "the last run did not stop cleanly" : "database mode start",
	         f);
}

/* Append the record name to the journal and fsync it.  MQS_OK or
 * MQS_ERR_IO (errno kept). */
static int journal_mark(struct mqsp_tokens *t, const char *name, uint64_t now_ms)
{
	int e = mqsp_journal_append(t->journal, name, (int64_t)now_ms);

	if (e == MQS_OK)
		e = mqsp_journal_sync(t->journal);
	return e;
}

/* Load the nonces of token_seen still inside the window, then what the
 * journal holds from a previous run, and fold it. */
static int recover(struct mqsp_tokens *t, int64_t now, int busy_ms, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char key[KEY_MAX + 1];
	size_t bad = 0;
	int rc = MQS_ERR_DB, r;

	if (sqlite3_prepare_v2(t->db, "SELECT username, nonce, at FROM token_seen WHERE at >= ?1",
	                       -1, &st, NULL) != SQLITE_OK)
		goto db;
	sqlite3_bind_int64(st, 1, now - (int64_t)t->window - 1);
	for (;;) {
		const char *u;
		const void *n;

		r = sqlite3_step(st);
		if (r != SQLITE_ROW)
			break;
		u = (const char *)sqlite3_column_text(st, 0);
		n = sqlite3_column_blob(st, 1);

		if (u == NULL || n == NULL ||
		    sqlite3_column_bytes(st, 1) != MQS_CONNTOKEN_NONCE_LEN || !key_make(u, n, key))
			continue;
		if (t->count >= SEEN_MAX) {
			spilled(t, sqlite3_column_int64(st, 2));
			continue;
		}
		if (seen_add(t, key, sqlite3_column_int64(st, 2), 0) == MQS_ERR_NOMEM) {
			rc = MQS_ERR_NOMEM;
			snprintf(err, errlen,
			         "cannot load the connect token nonces: out of memory");
			goto out;
		}
	}
	if (r != SQLITE_DONE)
		goto db;
	if (t->journal == NULL)
		goto done; /* database mode: token_seen is the only record */
	rc = mqsp_journal_read(t->journal, recover_one, t, &bad);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot read token journal %s: %s",
		         mqsp_journal_path(t->journal),
		         rc == MQS_ERR_IO ? strerror(errno) : mqs_strerror(rc));
		goto out;
	}
	if (bad > 0)
		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: skipped %zu damaged lines of token journal %s",
		         bad, mqsp_journal_path(t->journal));
	if (fold(t, busy_ms) != MQS_OK)
		/* they hold from memory and the journal; the tick tries again */
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: cannot fold the token journal into the database yet: %s",
		         sqlite3_errmsg(t->db));
done:
	rc = MQS_OK;
	goto out;
db:
	snprintf(err, errlen, "cannot load the connect token nonces: %s", sqlite3_errmsg(t->db));
out:
	sqlite3_finalize(st);
	return rc;
}

/* Prepare the statements, record the setting, recover the nonces. */
int mqsp_tokens_open(struct mqsp_store *store, const char *journal_path, int enabled,
                     unsigned window_s, int busy_ms, struct mqsp_tokens **out, char *err,
                     size_t errlen)
{
	struct mqsp_tokens *t = mqs_calloc(1, sizeof(*t));
	sqlite3_stmt *st = NULL;
	int rc = MQS_ERR_NOMEM, fresh = 0;

	*out = NULL;
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	t->db = mqsp_store_writer(store);
	t->enabled = enabled;
	t->window = window_s;
	rc = mqs_conntoken_mac_new(&t->mac);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot set up HMAC for connect tokens: %s",
		         mqs_strerror(rc));
		goto out;
	}
	rc = MQS_ERR_DB;
	if (sqlite3_prepare_v3(t->db,
	                       "INSERT INTO token_seen (username, nonce, at) VALUES (?1, ?2, ?3)",
	                       -1, SQLITE_PREPARE_PERSISTENT, &t->insert_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(
	        t->db, "INSERT OR IGNORE INTO token_seen (username, nonce, at) VALUES (?1, ?2, ?3)",
	        -1, SQLITE_PREPARE_PERSISTENT, &t->ignore_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(t->db, "DELETE FROM token_seen WHERE at < ?1", -1,
	                       SQLITE_PREPARE_PERSISTENT, &t->prune_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(t->db,
	                       /* never lowered: brokers sharing the database (clocks
	                        * a little apart) each prune below their own floor */
	                       "INSERT INTO settings (name, value) VALUES ('token_floor', ?1) "
	                       "ON CONFLICT (name) DO UPDATE SET value = max(CAST(settings.value "
	                       "AS INTEGER), CAST(excluded.value AS INTEGER))",
	                       -1, SQLITE_PREPARE_PERSISTENT, &t->floor_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(t->db, "SELECT value FROM settings WHERE name = 'token_floor'", -1,
	                       SQLITE_PREPARE_PERSISTENT, &t->floor_read_st, NULL) != SQLITE_OK ||
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
	if (journal_path != NULL) {
		struct stat jst;

		fresh = stat(journal_path, &jst) != 0 && errno == ENOENT;
		rc = mqsp_journal_open(journal_path, &t->journal, err, errlen);
		if (rc != MQS_OK)
			goto out;
	}
	rc = recover(t, (int64_t)time(NULL), busy_ms, err, errlen);
	if (rc != MQS_OK)
		goto out;
	/* a journal that did not exist: nothing was ever accepted with it */
	if (journal_path == NULL || (!fresh && !t->clean_last))
		unclean_start(t, mqs_now_ms(), busy_ms);
	/* from now on the file does not end with a clean stop */
	if (t->journal != NULL && journal_mark(t, MARK_START, mqs_now_ms()) != MQS_OK) {
		rc = MQS_ERR_IO;
		snprintf(err, errlen, "cannot write token journal %s: %s",
		         mqsp_journal_path(t->journal), strerror(errno));
		goto out;
	}
	t->running = 1;
	*out = t;
	t = NULL;
out:
	sqlite3_finalize(st);
	mqsp_tokens_free(t); /* not running: a failed start records no clean stop */
	return rc;
}

/* A clean stop: fold, make the database durable (a commit with
 * synchronous=FULL), then end the journal with a clean-stop record and
 * fsync it, so that the next start need not raise the floor. */
static void clean_stop(struct mqsp_tokens *t)
{
	int folded = t->ndirty == 0 || fold(t, 1000) == MQS_OK;

	if (!folded)
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: accepted connect token nonces stay in the token journal for the "
		         "next start");
	/* the nonces not folded are in the journal, which the mark fsyncs */
	if (floor_commit_durable(t, t->floor, 1000) != MQS_OK ||
	    journal_mark(t, MARK_CLEAN, mqs_now_ms()) != MQS_OK)
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: cannot record a clean stop in token journal %s: the next start "
		         "refuses the tokens made before it",
		         mqsp_journal_path(t->journal));
}

/* Fold, finalize the statements and free t. */
void mqsp_tokens_free(struct mqsp_tokens *t)
{
	struct seen *s, *tmp;

	if (t == NULL)
		return;
	if (t->running && t->journal != NULL)
		clean_stop(t);
	else if (t->ndirty > 0 && t->insert_st != NULL && fold(t, 1000) != MQS_OK)
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: accepted connect token nonces stay in the token journal for the "
		         "next start");
	mqsp_journal_free(t->journal);
	sqlite3_finalize(t->insert_st);
	sqlite3_finalize(t->ignore_st);
	sqlite3_finalize(t->prune_st);
	sqlite3_finalize(t->floor_st);
	sqlite3_finalize(t->floor_read_st);
	HASH_ITER(hh, t->set, s, tmp)
	{
		HASH_DEL(t->set, s);
		mqs_free(s);
	}
	{
		struct ucount *u, *utmp;

		HASH_ITER(hh, t->uc, u, utmp)
		{
			HASH_DEL(t->uc, u);
			mqs_free(u);
		}
	}
	mqs_free(t->dirty);
	mqs_conntoken_mac_free(t->mac);
	mqs_free(t);
}

/* Commit (username, nonce) at the token's time.  NULL, or why not. */
static const char *nonce_commit(struct mqsp_tokens *t, const char *user,
                                const struct mqs_conntoken *tok, int durable, char *why,
                                size_t whylen)
{
	const char *res = why;
	int r;

	if (durable)
		(void)sqlite3_exec(t->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
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
	if (durable)
		(void)sqlite3_exec(t->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	return res;
}

/* Refuse a nonce seen before, else make it durable before the CONNACK: a
 * journal line (one write(2)), or a commit when the memory is full or the
 * name too long for the journal; a token over AHEAD_MS ahead of the broker
 * clock (now_ms) with an fsync too (its nonce is above the floor an unclean
 * start raises).  NULL, or why not. */
static const char *nonce_record(struct mqsp_tokens *t, const char *user,
                                const struct mqs_conntoken *tok, uint64_t now_ms, char *why,
                                size_t whylen)
{
	char key[KEY_MAX + 1];
	struct seen *s = NULL;
	int have_key = key_make(user, tok->nonce, key);
	int durable = tok->ts_ms > now_ms + AHEAD_MS;
	int64_t at = (int64_t)(tok->ts_ms / 1000u);
	const char *res;
	int e;

	if (have_key) {
		struct ucount *u;

		HASH_FIND_STR(t->set, key, s);
		if (s != NULL)
			return "connect token already used";
		u = ucount_find(t, key, strlen(user));
		if (u != NULL && u->n >= PER_USER_MAX)
			return "too many connect tokens of this device within the replay window";
	}
	/* while token_seen may hold nonces memory does not, only its primary
	 * key can tell a replay */
	if (have_key && t->journal != NULL && t->count < SEEN_MAX &&
	    (int64_t)(mqs_now_ms() / 1000u) > t->spill_until &&
	    mqsp_journal_records(t->journal) < MQSP_JOURNAL_RECORDS_MAX) {
		e = mqsp_journal_append(t->journal, key, (int64_t)tok->ts_ms);
		if (e == MQS_OK && durable && mqsp_journal_sync(t->journal) != MQS_OK) {
			/* in the file (a replay is refused) but maybe not on the disk */
			(void)seen_add(t, key, at, 1);
			snprintf(why, whylen, "cannot record the connect token: token journal: %s",
			         strerror(errno));
			return why;
		}
		if (e == MQS_OK) {
			if (seen_add(t, key, at, 1) == MQS_OK)
				return NULL;
			/* out of memory: the journal has it; commit it as well */
		} else if (e == MQS_ERR_IO) {
			snprintf(why, whylen, "cannot record the connect token: token journal: %s",
			         strerror(errno));
			return why;
		}
	}
	/* the primary key refuses a nonce folded before (and always decides
	 * for a username too long for a key, which memory never holds) */
	res = nonce_commit(t, user, tok, durable, why, whylen);
	if (res == NULL && have_key && (t->count >= SEEN_MAX || seen_add(t, key, at, 0) != MQS_OK))
		spilled(t, at);
	return res;
}

/* Whether memory holds the nonce of tok for user. */
static int nonce_known(struct mqsp_tokens *t, const char *user, const struct mqs_conntoken *tok)
{
	char key[KEY_MAX + 1];
	struct seen *s = NULL;

	if (!key_make(user, tok->nonce, key))
		return 0;
	HASH_FIND_STR(t->set, key, s);
	return s != NULL;
}

/* Check a token. */
const char *mqsp_tokens_check(struct mqsp_tokens *t, struct mqsp_device *d, const char *cid,
                              const char *password, uint64_t now_ms, char *why, size_t whylen,
                              int *counts)
{
	struct mqs_conntoken tok;
	uint8_t k[MQS_KDF_KEY_LEN];
	const char *res = NULL;
	int when, e, below;

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
	/* the replay state no longer holds the nonces of tokens this old (a
	 * wider window since, or the clock stepped back): a replay would pass */
	below = (int64_t)(tok.ts_ms / 1000u) < t->floor;
	if (below && !(t->unclean && (int64_t)(tok.ts_ms / 1000u) >= t->unclean_from)) {
		res = "connect token older than the replay state (token_floor)";
		goto out;
	}
	e = kconn_get(d, k);
	if (e == MQS_OK)
		e = mqs_conntoken_verify(t->mac, k, d->name, cid, &tok);
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
	if (below) {
		/* made before an unclean start (or a peer's floor): the device
		 * did nothing wrong, unless it is a replay */
		res = "connect token already used";
		if (!nonce_known(t, d->name, &tok)) {
			*counts = 0;
			res = "connect token made before the broker's unclean start (token_floor)";
		}
		goto out;
	}
	res = nonce_record(t, d->name, &tok, now_ms, why, whylen);
	if (res == why)
		*counts = 0;
out:
	return res;
}

/* Database mode: take up a token_floor another broker on the database
 * raised (its unclean start, or its prune) - docs/broker-plugin.md,
 * "Connect tokens". */
static void floor_reread(struct mqsp_tokens *t)
{
	int64_t v;

	if (sqlite3_step(t->floor_read_st) != SQLITE_ROW) {
		sqlite3_reset(t->floor_read_st);
		return; /* busy or no row: the next read catches up */
	}
	v = sqlite3_column_int64(t->floor_read_st, 0);
	sqlite3_reset(t->floor_read_st);
	if (v <= t->floor)
		return;
	if (!t->unclean) {
		t->unclean = 1;
		t->unclean_from = t->floor;
	}
	t->floor = v;
	if (v > (int64_t)time(NULL) - (int64_t)t->window) /* not a prune: an unclean start */
		mqsp_log(MOSQ_LOG_INFO,
		         "mqttsec: token_floor raised to %" PRId64 " by another broker", v);
}

/* Fold the journal now and then; forget nonces whose window closed. */
static void tokens_tick(struct mqsp_tokens *t, int64_t now, uint64_t now_ms)
{
	struct seen *s, *tmp;
	int64_t cut, below;
	int r;

	if (t == NULL)
		return;
	if (t->ndirty > 0 && now_ms >= t->next_fold_ms) {
		t->next_fold_ms = now_ms + FOLD_EVERY_MS;
		(void)fold(t, 0); /* busy: they hold from the journal; the next tick retries */
	}
	if (t->journal == NULL && now_ms >= t->next_floor_read_ms) {
		t->next_floor_read_ms = now_ms + FLOOR_READ_EVERY_MS;
		floor_reread(t);
	}
	if (now < t->next_prune)
		return;
	cut = now - (int64_t)t->window - 1;
	t->next_prune = now + PRUNE_EVERY_S;
	/* a token of time ts is accepted until ts + window; one second more
	 * for rounding.  The floor is committed first: a token older than it
	 * is refused from then on, so a later wider window or a clock stepped
	 * back cannot reopen a pruned nonce. */
	if (cut > t->floor) {
		sqlite3_bind_int64(t->floor_st, 1, cut);
		r = sqlite3_step(t->floor_st);
		sqlite3_reset(t->floor_st);
		if (r != SQLITE_DONE)
			return; /* busy: the next prune catches up */
		t->floor = cut;
	}
	/* below the window's cut only: nonces between it and a floor an
	 * unclean start raised still tell a replay from an honest token */
	below = cut < t->floor ? cut : t->floor;
	HASH_ITER(hh, t->set, s, tmp)
	{
		if (!s->dirty && s->at < below) {
			ucount_add(t, s, -1);
			HASH_DEL(t->set, s);
			mqs_free(s);
			t->count--;
		}
	}
	sqlite3_bind_int64(t->prune_st, 1, below);
	(void)sqlite3_step(t->prune_st); /* busy: the next prune catches up */
	sqlite3_reset(t->prune_st);
}

/* MOSQ_EVT_TICK: fold and prune the connect token nonces. */
int mqsp_tokens_tick_cb(int event, void *event_data, void *userdata)
{
	struct mqsp_plugin *p = userdata;

	(void)event;
	(void)event_data;
	tokens_tick(p->tokens, (int64_t)time(NULL), mqs_now_ms());
	return MOSQ_ERR_SUCCESS;
}
