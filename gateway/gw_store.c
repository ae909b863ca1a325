/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_store.c - gateway database: open, migrations, keys, transactions. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "gw_log.h"
#include "gw_outbox.h"
#include "gw_recipient.h"
#include "gw_store.h"
#include "mqs_alloc.h"
#include "mqs_db.h"
#include "mqs_error.h"
#include "mqs_master_key.h"
#include "mqs_util.h"

#define BODY_VERSION 0x01
#define BODY_NONCE   12
#define BODY_TAG     16
#define BODY_OVER    (1 + BODY_NONCE + BODY_TAG)

/* Migrations: never edit a released entry; append a new one. */
const char *const gw_store_schema[] = {
    /* 1: recipients, groups, outbox, escalations, sensor state */
    "CREATE TABLE recipients ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " email BLOB, email_h BLOB,"
    " phone BLOB, phone_h BLOB,"
    " line BLOB, line_h BLOB,"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX recipients_email_h ON recipients(email_h);"
    "CREATE INDEX recipients_phone_h ON recipients(phone_h);"
    "CREATE INDEX recipients_line_h ON recipients(line_h);"
    "CREATE TABLE groups ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " channels TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE group_members ("
    " group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
    " recipient_id INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,"
    " PRIMARY KEY (group_id, recipient_id));"
    "CREATE TABLE optouts ("
    " recipient_id INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,"
    " channel TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (recipient_id, channel));"
    "CREATE TABLE messages ("
    " id INTEGER PRIMARY KEY,"
    " msg_id TEXT NOT NULL UNIQUE,"
    " route TEXT NOT NULL,"
    " topic TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " severity TEXT NOT NULL,"
    " grp TEXT NOT NULL,"
    " title TEXT,"
    " body TEXT,"
    " origin TEXT,"
    " received_at INTEGER NOT NULL,"
    " acked_at INTEGER);"
    "CREATE TABLE outbox ("
    " id INTEGER PRIMARY KEY,"
    " message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " recipient TEXT NOT NULL,"
    " channel TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('queued','sending','sent','failed','dead')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_at INTEGER NOT NULL,"
    " last_error TEXT,"
    " provider_ref TEXT,"
    " retry_key TEXT NOT NULL,"
    " step INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " UNIQUE (message, recipient, channel));"
    "CREATE INDEX outbox_due ON outbox(state, channel, next_attempt_at);"
    "CREATE TABLE escalations ("
    " message INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " state TEXT NOT NULL CHECK (state IN ('waiting','acked','resolved','exhausted')),"
    " step INTEGER NOT NULL DEFAULT 0,"
    " used INTEGER NOT NULL,"
    " deadline INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX escalations_due ON escalations(state, deadline);"
    "CREATE TABLE sensor_state ("
    " route TEXT NOT NULL,"
    " topic TEXT NOT NULL,"
    " rule INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " since_ms INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " last_value REAL,"
    " PRIMARY KEY (route, topic, rule));"
    "CREATE TABLE kv (key TEXT PRIMARY KEY, value);",
    /* 2: alert ids live in a namespace (route, publisher): messages get a
     * publisher column and UNIQUE (route, publisher, msg_id) instead of a
     * global UNIQUE (msg_id); recipients may be bound to a device (who may
     * acknowledge); a sensor excursion remembers its random alert id.
     * messages is rebuilt with its two child tables stashed aside, so no
     * ON DELETE CASCADE fires (foreign keys stay on inside the migration).
     * Old rows: publisher = their origin, "" when they had none, "$gateway"
     * for sensor alerts (docs/gateway.md, "Message ids"). */
    "CREATE TABLE messages_v2 ("
    " id INTEGER PRIMARY KEY,"
    " msg_id TEXT NOT NULL,"
    " route TEXT NOT NULL,"
    " publisher TEXT NOT NULL DEFAULT '',"
    " topic TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " severity TEXT NOT NULL,"
    " grp TEXT NOT NULL,"
    " title TEXT,"
    " body TEXT,"
    " origin TEXT,"
    " received_at INTEGER NOT NULL,"
    " acked_at INTEGER,"
    " UNIQUE (route, publisher, msg_id));"
    "INSERT INTO messages_v2(id, msg_id, route, publisher, topic, kind, severity, grp, title,"
    " body, origin, received_at, acked_at) SELECT id, msg_id, route,"
    " CASE WHEN kind = 'sensor' THEN '$gateway' ELSE COALESCE(origin, '') END,"
    " topic, kind, severity, grp, title, body, origin, received_at, acked_at FROM messages;"
    "CREATE TABLE outbox_stash AS SELECT * FROM outbox;"
    "CREATE TABLE escalations_stash AS SELECT * FROM escalations;"
    "DROP TABLE escalations;"
    "DROP TABLE outbox;"
    "DROP TABLE messages;"
    "ALTER TABLE messages_v2 RENAME TO messages;"
    "CREATE INDEX messages_msg_id ON messages(msg_id);"
    "CREATE TABLE outbox ("
    " id INTEGER PRIMARY KEY,"
    " message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " recipient TEXT NOT NULL,"
    " channel TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('queued','sending','sent','failed','dead')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_at INTEGER NOT NULL,"
    " last_error TEXT,"
    " provider_ref TEXT,"
    " retry_key TEXT NOT NULL,"
    " step INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " UNIQUE (message, recipient, channel));"
    "INSERT INTO outbox SELECT * FROM outbox_stash;"
    "CREATE INDEX outbox_due ON outbox(state, channel, next_attempt_at);"
    "CREATE TABLE escalations ("
    " message INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " state TEXT NOT NULL CHECK (state IN ('waiting','acked','resolved','exhausted')),"
    " step INTEGER NOT NULL DEFAULT 0,"
    " used INTEGER NOT NULL,"
    " deadline INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "INSERT INTO escalations SELECT * FROM escalations_stash;"
    "CREATE INDEX escalations_due ON escalations(state, deadline);"
    "DROP TABLE outbox_stash;"
    "DROP TABLE escalations_stash;"
    "ALTER TABLE recipients ADD COLUMN device TEXT;"
    "CREATE INDEX recipients_device ON recipients(device);"
    "ALTER TABLE sensor_state ADD COLUMN alert_id TEXT;",
    /* 3: medical records (docs/medical.md): record keys wrapped under the
     * master key, the per-broker publish queue of shares, drop counters of
     * medical-join routes, and sealed bodies of rebuilt records. */
    "CREATE TABLE record_keys (name TEXT PRIMARY KEY, key_id INTEGER NOT NULL UNIQUE,"
    " wrapped BLOB NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE pubq (id INTEGER PRIMARY KEY, broker TEXT NOT NULL, topic TEXT NOT NULL,"
    " payload BLOB NOT NULL, route TEXT NOT NULL, created_at INTEGER NOT NULL);"
    " CREATE INDEX pubq_broker ON pubq(broker, id);"
    "CREATE TABLE medical_counters (route TEXT NOT NULL, reason TEXT NOT NULL,"
    " count INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (route, reason));"
    " ALTER TABLE messages ADD COLUMN body_sealed BLOB;",
    /* 4: marketing (docs/marketing.md): recipients' time zones, marketing
     * consent per channel and the log of every consent and opt-out change
     * (with its source), reviewers (persons with their own TOTP secret,
     * wrapped under the master key, and the principals that act for them),
     * campaigns (the exact submitted bytes, sealed), the review audit,
     * per-channel skip counters of a campaign's fan-out, outbox priority
     * (alerts before marketing) and quiet-hours deferrals, LINE link
     * codes, counters of failed attempts at the HTTP listener and provider
     * event ids already handled. */
    "ALTER TABLE recipients ADD COLUMN tz TEXT;"
    "ALTER TABLE optouts ADD COLUMN source TEXT;"
    "CREATE TABLE consents ("
    " recipient_id INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,"
    " channel TEXT NOT NULL,"
    " state INTEGER NOT NULL CHECK (state IN (0, 1)),"
    " source TEXT NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (recipient_id, channel));"
    "CREATE TABLE consent_log ("
    " id INTEGER PRIMARY KEY,"
    " recipient_id INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,"
    " channel TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " at INTEGER NOT NULL);"
    "CREATE INDEX consent_log_recipient ON consent_log(recipient_id, id);"
    "CREATE TABLE persons ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " totp_wrapped BLOB NOT NULL,"
    " last_step INTEGER NOT NULL DEFAULT 0,"
    " failures INTEGER NOT NULL DEFAULT 0,"
    " locked_until INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE reviewers ("
    " principal TEXT NOT NULL,"
    " level TEXT NOT NULL,"
    " person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (principal, level));"
    "CREATE TABLE campaigns ("
    " id INTEGER PRIMARY KEY,"
    " cid TEXT NOT NULL UNIQUE,"
    " route TEXT NOT NULL,"
    " author TEXT NOT NULL,"
    " author_person TEXT,"
    " body_sealed BLOB NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " grp TEXT NOT NULL,"
    " channels TEXT NOT NULL,"
    " levels TEXT NOT NULL,"
    " level_idx INTEGER NOT NULL DEFAULT 0,"
    " published_level INTEGER NOT NULL DEFAULT -1,"
    " state TEXT NOT NULL CHECK (state IN ('pending_review','approved','scheduled',"
    "'sending','done','rejected','expired','cancelled')),"
    " send_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " message INTEGER REFERENCES messages(id),"
    " cursor INTEGER NOT NULL DEFAULT 0,"
    " fanned_out INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX campaigns_state ON campaigns(state, send_at);"
    "CREATE TABLE campaign_audit ("
    " id INTEGER PRIMARY KEY,"
    " campaign TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " level TEXT,"
    " principal TEXT,"
    " person TEXT,"
    " sha256 TEXT,"
    " reason TEXT,"
    " source TEXT,"
    " at INTEGER NOT NULL);"
    "CREATE INDEX campaign_audit_campaign ON campaign_audit(campaign, id);"
    "CREATE TABLE campaign_stats ("
    " campaign INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,"
    " channel TEXT NOT NULL,"
    " audience INTEGER NOT NULL DEFAULT 0,"
    " no_consent INTEGER NOT NULL DEFAULT 0,"
    " opted_out INTEGER NOT NULL DEFAULT 0,"
    " no_address INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (campaign, channel));"
    "ALTER TABLE outbox ADD COLUMN prio INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE outbox ADD COLUMN deferred INTEGER NOT NULL DEFAULT 0;"
    "DROP INDEX outbox_due;"
    "CREATE INDEX outbox_due ON outbox(state, channel, prio, next_attempt_at);"
    "CREATE TABLE link_codes ("
    " code_h BLOB PRIMARY KEY,"
    " recipient_id INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,"
    " channel TEXT NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE http_limits ("
    " key TEXT PRIMARY KEY,"
    " count INTEGER NOT NULL,"
    " window_start INTEGER NOT NULL);"
    "CREATE INDEX http_limits_window ON http_limits(window_start);"
    "CREATE TABLE webhook_seen ("
    " key TEXT PRIMARY KEY,"
    " at INTEGER NOT NULL);"
    "CREATE INDEX webhook_seen_at ON webhook_seen(at);",
    /* 5: per-recipient SMS key tables of the secure SMS envelope M1
     * (docs/sms-envelope.md, "Key tables"): keys wrapped under the master
     * key; expires_at NULL marks the active key. */
    "CREATE TABLE sms_keys ("
    " recipient_id INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,"
    " key_id INTEGER NOT NULL CHECK (key_id BETWEEN 1 AND 65535),"
    " wrapped BLOB NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " expires_at INTEGER,"
    " PRIMARY KEY (recipient_id, key_id));"
    "ALTER TABLE outbox ADD COLUMN segments INTEGER;",
    /* 6: masked addresses stored next to the sealed ones, written when an
     * address is set, so that a listing needs no decryption
     * (docs/gateway.md, Recipients); rows of older databases are filled
     * once on open (gw_recipient_masks_fill). */
    "ALTER TABLE recipients ADD COLUMN email_m TEXT;"
    "ALTER TABLE recipients ADD COLUMN phone_m TEXT;"
    "ALTER TABLE recipients ADD COLUMN line_m TEXT;",
    /* 7: sealed messages waiting for their topic key (gw_keys.h,
     * docs/payload-encryption.md, "Online keys"): still ciphertext, kept
     * across a restart, arrived_at (Unix ms) starts their 30 s. */
    "CREATE TABLE key_waits ("
    " id INTEGER PRIMARY KEY,"
    " broker TEXT NOT NULL,"
    " topic TEXT NOT NULL,"
    " origin TEXT,"
    " payload BLOB NOT NULL,"
    " qos INTEGER NOT NULL,"
    " retain INTEGER NOT NULL,"
    " key_id INTEGER NOT NULL,"
    " arrived_at INTEGER NOT NULL);"
    "CREATE INDEX key_waits_broker ON key_waits(broker, id);",
};

/* Number of migrations in gw_store_schema. */
const int gw_store_schema_count = (int)(sizeof(gw_store_schema) / sizeof(gw_store_schema[0]));

/* The lookup key from the master key: MQS_OK or MQS_ERR_CRYPTO. */
static int derive_lookup_key(struct gw_store *s)
{
	static const char label[] = "mqttsec-gateway lookup v1";
	unsigned int len = sizeof(s->lookup_key);

	if (HMAC(EVP_sha256(), s->mk, sizeof(s->mk), (const unsigned char *)label,
	         sizeof(label) - 1, s->lookup_key, &len) == NULL)
		return MQS_ERR_CRYPTO;
	/* the unsubscribe tokens' key, derived once rather than per token */
	len = sizeof(s->unsub_key);
	if (HMAC(EVP_sha256(), s->mk, sizeof(s->mk), (const unsigned char *)GW_STORE_UNSUB_LABEL,
	         sizeof(GW_STORE_UNSUB_LABEL) - 1, s->unsub_key, &len) == NULL)
		return MQS_ERR_CRYPTO;
	if (mqs_master_key_derive(s->mk, GW_STORE_TEXT_LABEL, s->text_key) != MQS_OK)
		return MQS_ERR_CRYPTO;
	return MQS_OK;
}

/* Open the database and the master key. */
int gw_store_open(struct gw_store *s, const char *db_path, const char *mk_path, int sync_full,
                  char *err, size_t errlen)
{
	int db_exists = access(db_path, F_OK) == 0;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = mqs_master_key_load(mk_path, s->mk);
	if (rc == MQS_ERR_NOENT && !db_exists) {
		rc = mqs_master_key_create(mk_path);
		if (rc != MQS_OK) {
			snprintf(err, errlen, "cannot create master key %s: %s", mk_path,
			         rc == MQS_ERR_IO ? strerror(errno) : mqs_strerror(rc));
			goto fail;
		}
		gw_log(GW_LOG_INFO, "created master key %s", mk_path);
		rc = mqs_master_key_load(mk_path, s->mk);
	}
	if (rc == MQS_ERR_NOENT) {
		snprintf(err, errlen,
		         "cannot load master key %s: no such file (the database %s exists; "
		         "restore the key file)",
		         mk_path, db_path);
		goto fail;
	}
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot load master key %s: %s", mk_path, mqs_strerror(rc));
		goto fail;
	}
	rc = derive_lookup_key(s);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "cannot derive lookup key");
		goto fail;
	}
	rc = mqs_db_open(db_path, MQS_DB_CREATE, gw_store_schema, gw_store_schema_count, &s->db,
	                 err, errlen);
	if (rc != MQS_OK)
		goto fail;
	/* not fatal: a listing decrypts the addresses whose mask is missing */
	if (gw_recipient_masks_fill(s) != MQS_OK)
		gw_log(GW_LOG_WARN, "cannot store the masked addresses yet (retried on next open)");
	if (gw_outbox_text_seal_old(s) != MQS_OK)
		gw_log(GW_LOG_WARN,
		       "cannot seal the stored message text yet (retried on next open)");
	if (sync_full && gw_store_exec(s, "PRAGMA synchronous = FULL") != MQS_OK) {
		snprintf(err, errlen, "cannot set synchronous on db %s", db_path);
		rc = MQS_ERR_DB;
		goto fail;
	}
	s->sync_full = sync_full;
	s->cur_full = sync_full;
	return MQS_OK;
fail:
	gw_store_close(s);
	return rc;
}

/* Bound the page cache. */
int gw_store_cache_set(struct gw_store *s, size_t bytes)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%zu", bytes / 1024);
	return gw_store_exec(s, sql);
}

/* The checkpointer (gw_store_checkpointer_start): its own connection and
 * thread; the loop's commits wake it through the WAL hook. */
struct gw_store_ckpt {
	sqlite3 *db; /* used by the thread only */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_mutex_t run; /* held while a checkpoint runs (thread or hook) */
	pthread_cond_t cv;
	int wake, stop; /* under mu */
	int last_pages; /* WAL size at the last wake-up (loop's thread only) */
	int prev_pages; /* WAL size at the hook's last call (loop's thread only) */
	unsigned epoch; /* the WAL's restarts seen by the loop (written by the loop under mu) */
	/* the thread's last pass (under run): the epoch it began in, the
	 * WAL's frames then and how many of them are in the database (-1 when
	 * it failed) */
	unsigned pass_epoch;
	int pass_log, pass_done;
};

#define CKPT_IDLE_S 1 /* a checkpoint at least this often while the WAL has frames */

/* The thread: a PASSIVE checkpoint whenever woken, or each CKPT_IDLE_S. */
static void *ckpt_main(void *arg)
{
	struct gw_store_ckpt *c = arg;
	unsigned epoch;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		if (!c->wake) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts); /* the cv's clock */
			ts.tv_sec += CKPT_IDLE_S;
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
			if (c->stop)
				break;
		}
		c->wake = 0;
		epoch = c->epoch;
		pthread_mutex_unlock(&c->mu);
		/* busy (another checkpoint, a restore) or an error: next time */
		pthread_mutex_lock(&c->run);
		c->pass_epoch = epoch;
		if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &c->pass_log,
		                              &c->pass_done) != SQLITE_OK)
			c->pass_log = c->pass_done = -1;
		pthread_mutex_unlock(&c->run);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Wake the thread. */
static void ckpt_wake(struct gw_store_ckpt *c)
{
	pthread_mutex_lock(&c->mu);
	c->wake = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* WAL hook of the loop's connection: after each commit, with the WAL's
 * size in pages; wakes the checkpointer every GW_STORE_CKPT_PAGES.  From
 * GW_STORE_CKPT_MAX_PAGES on, the connection finishes the thread's work
 * itself: the thread's checkpoints run while the loop keeps committing, so
 * under a steady stream of writes they never catch up with the last frame,
 * and SQLite only starts the WAL over when a write begins on a fully
 * checkpointed WAL; without this the file grows as long as the writes go
 * on (docs/gateway.md, "Checkpoints").  The loop's part stays small: it
 * never waits for a pass of the thread (one runs: the next commit looks
 * again), and it copies only the frames committed since the thread's last
 * pass, GW_STORE_CKPT_CATCHUP_PAGES at most (or a quarter of the WAL's
 * growth past GW_STORE_CKPT_MAX_PAGES, when the writes come so fast that
 * every pass leaves more); more than that, and the thread is woken to copy
 * them.  Only at GW_STORE_CKPT_HARD_PAGES does the loop wait for a pass
 * and copy everything itself, whatever it costs. */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct gw_store_ckpt *c = arg;

	(void)name;
	if (pages < c->prev_pages) {
		/* the WAL restarted from its beginning: the thread's last pass
		 * says nothing of this one */
		c->last_pages = 0;
		pthread_mutex_lock(&c->mu);
		c->epoch++;
		pthread_mutex_unlock(&c->mu);
	}
	c->prev_pages = pages;
	if (pages >= GW_STORE_CKPT_HARD_PAGES) {
		pthread_mutex_lock(&c->run);
		(void)sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_unlock(&c->run);
		return SQLITE_OK;
	}
	if (pages >= GW_STORE_CKPT_MAX_PAGES) {
		/* the loop's share: the catch-up allowance, or a quarter of the
		 * WAL's growth past the cap when its commits come so fast that
		 * the thread's passes always leave more */
		int left, allow = (pages - GW_STORE_CKPT_MAX_PAGES) / 4;

		if (allow < GW_STORE_CKPT_CATCHUP_PAGES)
			allow = GW_STORE_CKPT_CATCHUP_PAGES;
		if (pthread_mutex_trylock(&c->run) != 0)
			return SQLITE_OK; /* a pass runs: the next commit looks again */
		/* what the thread's last pass left, if it was of this WAL */
		left = c->pass_epoch == c->epoch && c->pass_done >= 0 && c->pass_log <= pages
		           ? pages - c->pass_done
		           : pages;
		if (left <= allow)
			(void)sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
			                                NULL);
		pthread_mutex_unlock(&c->run);
		if (left > allow)
			ckpt_wake(c);
		return SQLITE_OK;
	}
	if (pages - c->last_pages >= GW_STORE_CKPT_PAGES) {
		c->last_pages = pages;
		ckpt_wake(c);
	}
	return SQLITE_OK;
}

/* Stop the thread, close its connection; the automatic checkpoints of
 * s->db come back. */
static void ckpt_stop(struct gw_store *s)
{
	struct gw_store_ckpt *c = s->ckpt;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	if (s->db != NULL)
		sqlite3_wal_autocheckpoint(s->db, 1000); /* replaces ckpt_hook */
	sqlite3_close_v2(c->db);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->run);
	free(c);
	s->ckpt = NULL;
}

/* The page cache of db in bytes (0 for NULL or an error). */
static int64_t cache_used(sqlite3 *db)
{
	int cur = 0, hi = 0;

	if (db == NULL ||
	    sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_USED, &cur, &hi, 0) != SQLITE_OK)
		return 0;
	return cur;
}

/* Memory held by SQLite. */
void gw_store_mem_get(struct gw_store *s, struct gw_store_mem *m)
{
	sqlite3_int64 cur = 0, hi = 0;

	memset(m, 0, sizeof(*m));
	if (sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &hi, 0) == SQLITE_OK) {
		m->sqlite_used = cur;
		m->sqlite_peak = hi;
	}
	m->cache_loop = cache_used(s->db);
	/* the thread only uses it; sqlite3_db_status takes its mutex */
	if (s->ckpt != NULL)
		m->cache_ckpt = cache_used(s->ckpt->db);
}

/* Start a thread of the store with every signal blocked in it: SIGTERM and
 * SIGINT reach the loop's thread, and no handler interrupts the thread's
 * I/O.  Returns pthread_create's result (0 or an error number). */
static int thread_start_nosig(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int perr;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	perr = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return perr;
}

/* Start the checkpointer. */
int gw_store_checkpointer_start(struct gw_store *s, const char *db_path)
{
	struct gw_store_ckpt *c = NULL;
	pthread_condattr_t ca;
	char err[512];
	int rc = MQS_OK, perr, sync_made = 0;

	if (s->ckpt != NULL)
		goto out;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		gw_log(GW_LOG_WARN, "cannot start the checkpointer: out of memory");
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	rc = mqs_db_open(db_path, 0, NULL, 0, &c->db, err, sizeof(err));
	if (rc != MQS_OK) {
		gw_log(GW_LOG_WARN, "cannot start the checkpointer: %s", err);
		goto out;
	}
	sqlite3_busy_timeout(c->db, 0);
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		gw_log(GW_LOG_WARN, "cannot start the checkpointer: out of memory");
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	sync_made = 1; /* the mutex */
	if (pthread_mutex_init(&c->run, NULL) != 0) {
		gw_log(GW_LOG_WARN, "cannot start the checkpointer: out of memory");
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	sync_made = 2; /* and the run mutex */
	/* the once-a-second wait on CLOCK_MONOTONIC: a wall clock set back
	 * must not stall it */
	if (pthread_condattr_init(&ca) != 0) {
		gw_log(GW_LOG_WARN, "cannot start the checkpointer: out of memory");
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	perr = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (perr == 0)
		perr = pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (perr != 0) {
		gw_log(GW_LOG_WARN, "cannot start the checkpointer: %s", strerror(perr));
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	sync_made = 3; /* and the condition variable */
	/* the thread takes no signal: SIGTERM and SIGINT reach the loop's
	 * thread, and no handler interrupts a checkpoint's I/O */
	perr = thread_start_nosig(&c->thread, ckpt_main, c);
	if (perr != 0) {
		/* pthread_create returns its error; errno is not set */
		gw_log(GW_LOG_WARN, "cannot start the checkpointer: %s", strerror(perr));
		rc = MQS_ERR_IO;
		goto out;
	}
	s->ckpt = c;
	c = NULL;
	/* replaces the automatic checkpoints (they are a WAL hook too) */
	sqlite3_wal_hook(s->db, ckpt_hook, s->ckpt);
out:
	if (c != NULL) {
		if (sync_made > 2)
			pthread_cond_destroy(&c->cv);
		if (sync_made > 1)
			pthread_mutex_destroy(&c->run);
		if (sync_made > 0)
			pthread_mutex_destroy(&c->mu);
		sqlite3_close_v2(c->db); /* NULL-safe */
		free(c);
	}
	return rc;
}

/* The syncer (gw_store_syncer_start): makes the WAL durable off the
 * loop's thread. */
struct gw_store_syncer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *wal;     /* the WAL file's path */
	uint64_t want; /* under mu: the latest request */
	uint64_t done; /* under mu: the latest request made durable */
	int failed;    /* under mu: an fsync failed, the thread takes no more */
	int stop;      /* under mu */
	int wake[2];   /* a byte after each fsync, for the loop's poll */
};

/* One fdatasync of the WAL file: every frame written to it before (by
 * any connection: the page cache is the file's) is durable after.  1 on
 * success. */
static int wal_fsync(const char *wal)
{
	int fd = open(wal, O_RDONLY | O_CLOEXEC), ok = 0;

	if (fd < 0)
		return 0;
	ok = fdatasync(fd) == 0;
	close(fd);
	return ok;
}

/* The thread: an fsync whenever a request is newer than the last one done. */
static void *syncer_main(void *arg)
{
	struct gw_store_syncer *c = arg;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		uint64_t gen;
		int ok;
		ssize_t w;

		if (c->want == c->done || c->failed) {
			pthread_cond_wait(&c->cv, &c->mu);
			continue;
		}
		gen = c->want;
		pthread_mutex_unlock(&c->mu);
		ok = wal_fsync(c->wal);
		pthread_mutex_lock(&c->mu);
		if (ok)
			c->done = gen;
		else
			c->failed = 1;
		/* full pipe: a byte is there already, the loop wakes anyway */
		w = write(c->wake[1], "s", 1);
		(void)w;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Stop the syncer (what it has not done is covered by gw_store_sync). */
static void syncer_stop(struct gw_store *s)
{
	struct gw_store_syncer *c = s->syncer;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	close(c->wake[0]);
	close(c->wake[1]);
	free(c->wal);
	free(c);
	s->syncer = NULL;
}

/* Start the syncer. */
int gw_store_syncer_start(struct gw_store *s)
{
	struct gw_store_syncer *c = NULL;
	const char *wal;
	int rc = MQS_OK, perr, made = 0;

	if (s->syncer != NULL || !s->sync_full)
		goto out;
	wal = sqlite3_filename_wal(sqlite3_db_filename(s->db, "main"));
	c = calloc(1, sizeof(*c));
	if (c != NULL && wal != NULL)
		c->wal = strdup(wal);
	if (c == NULL || c->wal == NULL) {
		gw_log(GW_LOG_WARN, "cannot start the syncer: out of memory");
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		gw_log(GW_LOG_WARN, "cannot start the syncer: %s", strerror(errno));
		rc = MQS_ERR_IO;
		goto out;
	}
	made = 1; /* the pipe */
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		gw_log(GW_LOG_WARN, "cannot start the syncer: out of memory");
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	made = 2; /* and the mutex */
	if (pthread_cond_init(&c->cv, NULL) != 0) {
		gw_log(GW_LOG_WARN, "cannot start the syncer: out of memory");
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	made = 3; /* and the condition variable */
	/* no signal reaches the thread (as the checkpointer) */
	perr = thread_start_nosig(&c->thread, syncer_main, c);
	if (perr != 0) {
		gw_log(GW_LOG_WARN, "cannot start the syncer: %s", strerror(perr));
		rc = MQS_ERR_IO;
		goto out;
	}
	s->syncer = c;
	c = NULL;
out:
	if (c != NULL) {
		if (made > 2)
			pthread_cond_destroy(&c->cv);
		if (made > 1)
			pthread_mutex_destroy(&c->mu);
		if (made > 0) {
			close(c->wake[0]);
			close(c->wake[1]);
		}
		free(c->wal);
		free(c);
	}
	return rc;
}

/* Hand the owed fsync to the syncer (or pay it now). */
void gw_store_sync_begin(struct gw_store *s)
{
	struct gw_store_syncer *c = s->syncer;

	if (!s->unsynced || s->in_tx)
		return;
	if (c == NULL || s->sync_broken) {
		gw_store_sync(s);
		return;
	}
	pthread_mutex_lock(&c->mu);
	c->want = ++s->sync_gen;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	s->unsynced = 0;
}

/* An fsync owed or not done yet. */
int gw_store_sync_pending(struct gw_store *s)
{
	struct gw_store_syncer *c = s->syncer;
	uint64_t done;
	int failed;

	if (s->unsynced)
		return 1;
	if (c == NULL || s->sync_known >= s->sync_gen)
		return 0;
	pthread_mutex_lock(&c->mu);
	done = c->done;
	failed = c->failed;
	pthread_mutex_unlock(&c->mu);
	if (done > s->sync_known)
		s->sync_known = done;
	if (s->sync_known >= s->sync_gen)
		return 0;
	if (failed) {
		/* owed again, paid in place from now on; the failed requests
		 * stay unknown (their "queued" statuses wait) until that fsync
		 * is done: gw_store_sync() then marks them known */
		if (!s->sync_broken)
			gw_log(GW_LOG_WARN, "db: the syncer's fsync failed: fsyncs run in the "
			                    "event loop from now on");
		s->sync_broken = 1;
		s->unsynced = 1;
	}
	return 1;
}

/* The syncer's wake-up descriptor. */
int gw_store_sync_fd(const struct gw_store *s)
{
	return s->syncer != NULL ? s->syncer->wake[0] : -1;
}

/* Empty the wake-up descriptor. */
void gw_store_sync_collect(struct gw_store *s)
{
	char buf[64];
	ssize_t got;

	if (s->syncer == NULL)
		return;
	got = read(s->syncer->wake[0], buf, sizeof(buf));
	while (got > 0)
		got = read(s->syncer->wake[0], buf, sizeof(buf));
}

/* Checkpoint soon. */
void gw_store_checkpoint(struct gw_store *s)
{
	if (s->ckpt != NULL) {
		ckpt_wake(s->ckpt);
		return;
	}
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

/* Close and wipe. */
void gw_store_close(struct gw_store *s)
{
	if (s == NULL)
		return;
	syncer_stop(s);
	ckpt_stop(s);
	for (size_t i = 0; i < s->ncache; i++)
		sqlite3_finalize(s->cache[i].st);
	s->ncache = 0;
	if (s->db != NULL)
		sqlite3_close_v2(s->db);
	s->db = NULL;
	OPENSSL_cleanse(s->mk, sizeof(s->mk));
	OPENSSL_cleanse(s->lookup_key, sizeof(s->lookup_key));
	OPENSSL_cleanse(s->unsub_key, sizeof(s->unsub_key));
	OPENSSL_cleanse(s->text_key, sizeof(s->text_key));
}

/* Count a refusal that may pass (docs/gateway.md, delivery guarantees). */
static void note_refusal(struct gw_store *s, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_NOMEM:
	case SQLITE_PROTOCOL:
	case SQLITE_CORRUPT: /* held until the file is restored: never dropped */
	case SQLITE_NOTADB:
		s->refusals++;
		break;
	default:
		break;
	}
}

/* Busy handler of the event loop's connection: one 1 ms wait, then give up
 * (the default handler of a busy timeout would block the loop). */
static int busy_once(void *arg, int count)
{
	struct gw_store *s = arg;

	if (count == 0) {
		usleep(1000);
		return 1;
	}
	s->refusals++;
	return 0;
}

/* No lock waits for the event loop. */
void gw_store_nowait(struct gw_store *s)
{
	sqlite3_busy_handler(s->db, busy_once, s);
}

/* Refusals so far. */
unsigned long gw_store_refusals(const struct gw_store *s)
{
	return s->refusals;
}

/* Run one statement. */
int gw_store_exec(struct gw_store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		note_refusal(s, rc);
		gw_log(GW_LOG_ERR, "db: %s", msg != NULL ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return MQS_ERR_DB;
	}
	return MQS_OK;
}

/* Step a cached statement that returns no row (BEGIN, COMMIT): prepared
 * once rather than parsed by sqlite3_exec on every transaction (a few per
 * cent of a campaign's CPU, docs/PERFORMANCE.md). */
static int exec_cached(struct gw_store *s, const char *sql)
{
	sqlite3_stmt *st = gw_store_stmt(s, sql);
	int rc;

	if (st == NULL)
		return MQS_ERR_DB;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		note_refusal(s, rc);
		gw_log(GW_LOG_ERR, "db: %s", sqlite3_errmsg(s->db));
		return MQS_ERR_DB;
	}
	return MQS_OK;
}

/* Start a write transaction. */
int gw_store_begin(struct gw_store *s)
{
	static const char sql[] = "BEGIN IMMEDIATE";

	if (exec_cached(s, sql) != MQS_OK)
		return MQS_ERR_DB;
	s->in_tx = 1;
	return MQS_OK;
}

/* Commit; on failure the transaction is rolled back. */
int gw_store_commit(struct gw_store *s)
{
	static const char sql[] = "COMMIT";

	s->in_tx = 0;
	if (exec_cached(s, sql) != MQS_OK) {
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return MQS_ERR_DB;
	}
	return MQS_OK;
}

/* Roll back (no-op outside a transaction). */
void gw_store_rollback(struct gw_store *s)
{
	/* the statement that failed left its code on the connection */
	note_refusal(s, sqlite3_extended_errcode(s->db));
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_tx = 0;
}

/* Prepare a statement, logging failures. */
sqlite3_stmt *gw_store_prepare(struct gw_store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		gw_log(GW_LOG_ERR, "db: cannot prepare: %s", sqlite3_errmsg(s->db));
		return NULL;
	}
	return st;
}

/* Cached statements for the hot paths. */
sqlite3_stmt *gw_store_stmt(struct gw_store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;

	for (size_t i = 0; i < s->ncache; i++) {
		if (s->cache[i].sql == sql) {
			st = s->cache[i].st;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		gw_log(GW_LOG_ERR, "db: cannot prepare: %s", sqlite3_errmsg(s->db));
		return NULL;
	}
	if (s->ncache == GW_STMT_CACHE) {
		/* full (should not happen): drop the oldest */
		sqlite3_finalize(s->cache[0].st);
		memmove(&s->cache[0], &s->cache[1], (GW_STMT_CACHE - 1) * sizeof(s->cache[0]));
		s->ncache--;
	}
	s->cache[s->ncache].sql = sql;
	s->cache[s->ncache].st = st;
	s->ncache++;
	return st;
}

/* Switch between FULL and NORMAL for the following commits. */
void gw_store_durable(struct gw_store *s, int durable)
{
	static const char full[] = "PRAGMA synchronous = FULL";
	static const char normal[] = "PRAGMA synchronous = NORMAL";
	sqlite3_stmt *st;
	int want = s->sync_full && durable;

	if (want == s->cur_full || s->in_tx)
		return;
	st = gw_store_stmt(s, want ? full : normal);
	if (st != NULL && sqlite3_step(st) == SQLITE_DONE)
		s->cur_full = want;
	gw_store_done(st);
}

/* Remember that an fsync is owed. */
void gw_store_sync_later(struct gw_store *s)
{
	if (s->sync_full)
		s->unsynced = 1;
}

/* Pay the owed fsync. */
void gw_store_sync(struct gw_store *s)
{
	static const char sql[] = "INSERT INTO kv(key, value) VALUES ('synced_at', ?) "
	                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value";
	sqlite3_stmt *st;
	uint64_t gen = s->sync_gen;

	if (s->in_tx)
		return;
	if (gen > s->sync_known && gw_store_sync_pending(s))
		s->unsynced = 1; /* the syncer's latest is not done: covered here */
	if (!s->unsynced)
		return;
	gw_store_durable(s, 1);
	if (gw_store_begin(s) != MQS_OK)
		return;
	st = gw_store_stmt(s, sql);
	if (st == NULL) {
		gw_store_rollback(s);
		return;
	}
	sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		gw_store_done(st);
		gw_store_rollback(s);
		return;
	}
	gw_store_done(st);
	if (gw_store_commit(s) == MQS_OK) {
		s->unsynced = 0;
		if (s->sync_known < gen)
			s->sync_known = gen;
	}
}

/* Release a cached statement. */
void gw_store_done(sqlite3_stmt *st)
{
	if (st != NULL)
		sqlite3_reset(st);
}

/* Read an integer from kv. */
int gw_store_kv_get_int(struct gw_store *s, const char *key, int64_t *value)
{
	sqlite3_stmt *st = gw_store_prepare(s, "SELECT value FROM kv WHERE key = ?");
	int rc = MQS_ERR_NOENT;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*value = sqlite3_column_int64(st, 0);
		rc = MQS_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Store an integer in kv. */
int gw_store_kv_set_int(struct gw_store *s, const char *key, int64_t value)
{
	sqlite3_stmt *st =
	    gw_store_prepare(s, "INSERT INTO kv(key, value) VALUES (?, ?) "
	                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		gw_log(GW_LOG_ERR, "db: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return rc;
}

/* Id of the row named name by sql. */
int64_t gw_store_id_of(struct gw_store *s, const char *sql, const char *name)
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

/* Run a change of the row named name. */
int gw_store_change_named(struct gw_store *s, const char *sql, const char *name, const char *what,
                          int name_ok, char *err, size_t errlen)
{
	sqlite3_stmt *st = gw_store_prepare(s, sql);
	int rc = MQS_ERR_DB;

	if (st == NULL) {
		snprintf(err, errlen, "database error");
		return rc;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		snprintf(err, errlen, "cannot change %s: %s", what, sqlite3_errmsg(s->db));
	} else if (sqlite3_changes(s->db) == 0) {
		snprintf(err, errlen, "no %s %s", what, name_ok ? name : "by that name");
		rc = MQS_ERR_NOENT;
	} else {
		rc = MQS_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Seal or open a blob under key (gw_store.h, gw_store_crypt). */
static int crypt_key(const uint8_t key[MQS_MASTER_KEY_LEN], int encrypt, const char *aad,
                     size_t aad_len, const uint8_t *in, size_t in_len, uint8_t **out,
                     size_t *out_len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	size_t cap;
	int n = 0, rc = MQS_ERR_CRYPTO;

	*out = NULL;
	*out_len = 0;
	if (!encrypt && (in_len < BODY_OVER || in[0] != BODY_VERSION))
		return MQS_ERR_UNWRAP;
	if (in_len > GW_STORE_CRYPT_MAX + BODY_OVER)
		return MQS_ERR_TOOBIG;
	cap = encrypt ? in_len + BODY_OVER : in_len - BODY_OVER;
	buf = mqs_malloc(cap > 0 ? cap : 1);
	if (buf == NULL)
		return MQS_ERR_NOMEM;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		goto out;
	if (encrypt) {
		buf[0] = BODY_VERSION;
		if (RAND_bytes(buf + 1, BODY_NONCE) != 1 ||
		    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf + 1) != 1 ||
		    EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, (int)aad_len) != 1 ||
		    (in_len > 0 &&
		     EVP_EncryptUpdate(ctx, buf + 1 + BODY_NONCE, &n, in, (int)in_len) != 1) ||
		    EVP_EncryptFinal_ex(ctx, buf + 1 + BODY_NONCE + in_len, &n) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BODY_TAG,
		                        buf + 1 + BODY_NONCE + in_len) != 1)
			goto out;
	} else {
		size_t ct_len = in_len - BODY_OVER;

		if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in + 1) != 1 ||
		    EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)aad, (int)aad_len) != 1 ||
		    (ct_len > 0 &&
		     EVP_DecryptUpdate(ctx, buf, &n, in + 1 + BODY_NONCE, (int)ct_len) != 1) ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BODY_TAG,
		                        (void *)(in + 1 + BODY_NONCE + ct_len)) != 1)
			goto out;
		if (EVP_DecryptFinal_ex(ctx, buf + ct_len, &n) != 1) {
			rc = MQS_ERR_UNWRAP;
			goto out;
		}
	}
	*out = buf;
	*out_len = cap;
	buf = NULL;
	rc = MQS_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	mqs_secret_free(buf, cap);
	return rc;
}

/* Seal or open a blob under a key derived from the master key (gw_store.h). */
int gw_store_crypt(const struct gw_store *s, const char *label, int encrypt, const char *aad,
                   size_t aad_len, const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	uint8_t key[MQS_MASTER_KEY_LEN];
	int rc;

	*out = NULL;
	*out_len = 0;
	rc = mqs_master_key_derive(s->mk, label, key);
	if (rc == MQS_OK)
		rc = crypt_key(key, encrypt, aad, aad_len, in, in_len, out, out_len);
	else
		rc = MQS_ERR_CRYPTO;
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* Seal or open a title or body under the key derived at open (gw_store.h). */
int gw_store_crypt_text(const struct gw_store *s, int encrypt, const char *aad, size_t aad_len,
                        const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
	return crypt_key(s->text_key, encrypt, aad, aad_len, in, in_len, out, out_len);
}
