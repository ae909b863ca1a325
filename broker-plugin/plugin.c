/* SPDX-License-Identifier: BSD-3-Clause */
/* plugin.c - mqttsec_plugin.so entry points: plugin API version, options,
 * start-up checks, callback registration.
 *
 * Only the three mosquitto_plugin_* functions are exported; everything else
 * has hidden visibility (the broker loads plugins RTLD_GLOBAL).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "mqs_alloc.h"
#include "mqs_db.h"
#include "mqs_error.h"
#include "plugin.h"
#include "keysvc.h"
#include "reseal.h"

#define EXPORT __attribute__((visibility("default")))

#define PLUGIN_API_VERSION 5
#define JOURNAL_SUFFIX     "-steps"  /* the step journal beside the database */
#define TOKENS_SUFFIX      "-tokens" /* the token journal (tokens.h) */
#define CLOSE_BUSY_MS      1000      /* start and stop may wait for a lock */

/* Log through the broker. */
void mqsp_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	mosquitto_log_printf(level, "%s", line);
}

/* Parse an unsigned decimal in [min, max]. */
static int opt_uint(const char *key, const char *value, unsigned long min, unsigned long max,
                    unsigned long *out)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	if (value == NULL || value[0] < '0' || value[0] > '9')
		goto bad;
	v = strtoul(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
		goto bad;
	*out = v;
	return MQS_OK;
bad:
	mqsp_log(MOSQ_LOG_ERR, "mqttsec: bad plugin_opt_%s \"%s\": want a number from %lu to %lu",
	         key, value != NULL ? value : "", min, max);
	return MQS_ERR_INVAL;
}

/* Parse on|off (also true|false, yes|no, 1|0). */
static int opt_bool(const char *key, const char *value, int *out)
{
	static const char *const on[] = {"on", "true", "yes", "1"};
	static const char *const off[] = {"off", "false", "no", "0"};

	for (size_t i = 0; value != NULL && i < sizeof(on) / sizeof(on[0]); i++) {
		if (strcasecmp(value, on[i]) == 0) {
			*out = 1;
			return MQS_OK;
		}
		if (strcasecmp(value, off[i]) == 0) {
			*out = 0;
			return MQS_OK;
		}
	}
	mqsp_log(MOSQ_LOG_ERR, "mqttsec: bad plugin_opt_%s \"%s\": want on or off", key,
	         value != NULL ? value : "");
	return MQS_ERR_INVAL;
}

/* Parse a duration: seconds, or a number with unit s, m, h or d, from 1 s
 * to ten years. */
static int opt_duration(const char *key, const char *value, int64_t *out)
{
	static const char units[] = "smhd";
	static const int64_t mult[] = {1, 60, 3600, 86400};
	char *end = NULL;
	unsigned long long v;
	int64_t m = 1;

	errno = 0;
	if (value == NULL || value[0] < '0' || value[0] > '9')
		goto bad;
	v = strtoull(value, &end, 10);
	if (errno != 0 || end == value)
		goto bad;
	if (*end != '\0') {
		const char *u = strchr(units, *end);

		if (u == NULL || end[1] != '\0')
			goto bad;
		m = mult[u - units];
	}
	if (v < 1 || v > 315360000ULL / (unsigned long long)m)
		goto bad;
	*out = (int64_t)v * m;
	return MQS_OK;
bad:
	mqsp_log(MOSQ_LOG_ERR,
	         "mqttsec: bad plugin_opt_%s \"%s\": want seconds, or a number with unit s, m, "
	         "h or d (at most ten years)",
	         key, value != NULL ? value : "");
	return MQS_ERR_INVAL;
}

/* Fill o from the plugin_opt_* lines, with the defaults of docs/broker-plugin.md, "Options". */
static int options_parse(struct mqsp_options *o, struct mosquitto_opt *opts, int count)
{
	unsigned long v = 0;
	int rc = MQS_OK;

	memset(o, 0, sizeof(*o));
	o->totp_window = 1;
	o->max_auth_failures = 5;
	o->max_ip_failures = 50;
	o->failure_window = 60;
	o->ban_seconds = 300;
	o->user_ban_addresses = 3;
	o->user_ban_seconds = 60;
	o->max_ip_usernames = 20;
	o->ban_max_seconds = 86400;
	o->user_ban_max = 3600;
	o->ban_decay_seconds = 86400;
	o->replay_window = 300;
	o->poll_ms = 200;
	o->failure_table_max = 10000;
	o->replay_cache_max = 1000000;
	o->stats_interval = 10;
	o->clientid_policy = MQSP_CLIENTID_OWNED;
	o->clientid_ttl = MQSP_CLIENTIDS_TTL_DEFAULT;
	o->clientid_max = MQSP_CLIENTIDS_PER_USER_DEFAULT;
	o->key_max_seals = MQSP_SEALS_MAX_DEFAULT;
	o->key_grace = 86400;
	o->key_announce = 5;
	o->connect_tokens = 1;
	for (int i = 0; i < count && rc == MQS_OK; i++) {
		const char *k = opts[i].key;
		const char *val = opts[i].value;

		if (k == NULL)
			continue;
		if (strcmp(k, "db") == 0 || strcmp(k, "db_file") == 0) {
			/* mosquitto 2.0.11 refuses option names shorter than three
			 * characters ("plugin_opt_db"): db_file is the same option */
			o->db = val;
			o->db_key = k;
		} else if (strcmp(k, "master_key_file") == 0) {
			o->master_key_file = val;
		} else if (strcmp(k, "allowlist") == 0) {
			rc = opt_bool(k, val, &o->allowlist);
		} else if (strcmp(k, "connect_tokens") == 0) {
			rc = opt_bool(k, val, &o->connect_tokens);
		} else if (strcmp(k, "defer_unknown") == 0) {
			rc = opt_bool(k, val, &o->defer_unknown);
		} else if (strcmp(k, "totp_window") == 0) {
			rc = opt_uint(k, val, 0, 10, &v);
			o->totp_window = (unsigned)v;
		} else if (strcmp(k, "max_auth_failures") == 0) {
			/* each counter keeps this many failure times: capped */
			rc = opt_uint(k, val, 0, 1000, &v);
			o->max_auth_failures = (unsigned)v;
		} else if (strcmp(k, "max_ip_failures") == 0) {
			rc = opt_uint(k, val, 0, 10000, &v);
			o->max_ip_failures = (unsigned)v;
		} else if (strcmp(k, "failure_window") == 0) {
			rc = opt_uint(k, val, 1, 86400, &v);
			o->failure_window = (unsigned)v;
		} else if (strcmp(k, "ban_seconds") == 0) {
			rc = opt_uint(k, val, 1, 31536000, &v);
			o->ban_seconds = (unsigned)v;
		} else if (strcmp(k, "user_ban_addresses") == 0) {
			rc = opt_uint(k, val, 0, 1000, &v);
			o->user_ban_addresses = (unsigned)v;
		} else if (strcmp(k, "user_ban_seconds") == 0) {
			rc = opt_uint(k, val, 1, 31536000, &v);
			o->user_ban_seconds = (unsigned)v;
		} else if (strcmp(k, "max_ip_usernames") == 0) {
			rc = opt_uint(k, val, 0, 10000, &v);
			o->max_ip_usernames = (unsigned)v;
		} else if (strcmp(k, "ban_max_seconds") == 0) {
			rc = opt_uint(k, val, 1, 31536000, &v);
			o->ban_max_seconds = (unsigned)v;
		} else if (strcmp(k, "user_ban_max_seconds") == 0) {
			rc = opt_uint(k, val, 1, 31536000, &v);
			o->user_ban_max = (unsigned)v;
		} else if (strcmp(k, "ban_decay_seconds") == 0) {
			rc = opt_uint(k, val, 0, 31536000, &v);
			o->ban_decay_seconds = (unsigned)v;
		} else if (strcmp(k, "replay_window") == 0) {
			rc = opt_uint(k, val, 1, 86400, &v);
			o->replay_window = (unsigned)v;
		} else if (strcmp(k, "poll_ms") == 0) {
			rc = opt_uint(k, val, 20, 1000, &v);
			o->poll_ms = (unsigned)v;
		} else if (strcmp(k, "failure_table_max") == 0) {
			rc = opt_uint(k, val, 16, 10000000, &v);
			o->failure_table_max = (size_t)v;
		} else if (strcmp(k, "replay_cache_max") == 0) {
			rc = opt_uint(k, val, 100, 1000000000, &v);
			o->replay_cache_max = (size_t)v;
		} else if (strcmp(k, "totp_step_commit") == 0) {
			if (val != NULL && strcmp(val, "journal") == 0) {
				o->step_commit_db = 0;
			} else if (val != NULL && strcmp(val, "database") == 0) {
				o->step_commit_db = 1;
			} else {
				mqsp_log(
				    MOSQ_LOG_ERR,
				    "mqttsec: bad plugin_opt_%s \"%s\": want journal or database",
				    k, val != NULL ? val : "");
				rc = MQS_ERR_INVAL;
			}
		} else if (strcmp(k, "clientid_policy") == 0) {
			if (val != NULL && strcmp(val, "owned") == 0) {
				o->clientid_policy = MQSP_CLIENTID_OWNED;
			} else if (val != NULL && strcmp(val, "prefix") == 0) {
				o->clientid_policy = MQSP_CLIENTID_PREFIX;
			} else if (val != NULL && strcmp(val, "any") == 0) {
				o->clientid_policy = MQSP_CLIENTID_ANY;
			} else {
				mqsp_log(
				    MOSQ_LOG_ERR,
				    "mqttsec: bad plugin_opt_%s \"%s\": want owned, prefix or any",
				    k, val != NULL ? val : "");
				rc = MQS_ERR_INVAL;
			}
		} else if (strcmp(k, "clientid_ttl") == 0) {
			rc = opt_duration(k, val, &o->clientid_ttl);
		} else if (strcmp(k, "clientid_max_per_user") == 0) {
			rc = opt_uint(k, val, 1, 100000, &v);
			o->clientid_max = (size_t)v;
		} else if (strcmp(k, "key_max_seals") == 0) {
			rc = opt_uint(k, val, 4, (unsigned long)MQSP_SEALS_MAX_DEFAULT, &v);
			o->key_max_seals = (uint64_t)v;
		} else if (strcmp(k, "key_grace") == 0) {
			rc = opt_duration(k, val, &o->key_grace);
		} else if (strcmp(k, "key_announce") == 0) {
			rc = opt_uint(k, val, 0, 86400, &v);
			o->key_announce = (int64_t)v;
		} else if (strcmp(k, "stats_interval") == 0) {
			rc = opt_uint(k, val, 0, 86400, &v);
			o->stats_interval = (unsigned)v;
		} else {
			mqsp_log(MOSQ_LOG_ERR, "mqttsec: unknown option plugin_opt_%s", k);
			rc = MQS_ERR_INVAL;
		}
	}
	if (rc == MQS_OK && (o->db == NULL || o->db[0] == '\0')) {
		mqsp_log(MOSQ_LOG_ERR,
		         "mqttsec: plugin_opt_db_file (or plugin_opt_db) is required");
		rc = MQS_ERR_INVAL;
	}
	if (rc == MQS_OK && (o->master_key_file == NULL || o->master_key_file[0] == '\0')) {
		mqsp_log(MOSQ_LOG_ERR, "mqttsec: plugin_opt_master_key_file is required");
		rc = MQS_ERR_INVAL;
	}
	return rc;
}

/* Free the plugin state (callbacks must be unregistered already). */
static void plugin_free(struct mqsp_plugin *p)
{
	if (p == NULL)
		return;
	mqsp_build_free(p->build);
	/* the steps only the journal holds: into the database while it can
	 * wait a little; otherwise the next start folds the journal */
	if (p->store != NULL && p->journal_recovered && p->steps_dirty > 0) {
		int e = mqsp_auth_steps_fold(p, CLOSE_BUSY_MS);

		if (e != MQS_OK)
			mqsp_log(MOSQ_LOG_WARNING,
			         "mqttsec: accepted TOTP steps stay in step journal %s%s for the "
			         "next start: %s",
			         p->opt.db, JOURNAL_SUFFIX, mqsp_auth_fold_error(p, e));
	}
	mqsp_journal_free(p->journal);
	mqsp_tokens_free(p->tokens); /* before the store it borrows */
	if (p->store != NULL && p->cids != NULL) {
		int e;

		mqsp_clientids_settle(p->cids); /* exact last uses for the next start */
		e = mqsp_store_clientids_flush(p->store, p->cids, CLOSE_BUSY_MS);
		if (e != MQS_OK)
			mqsp_log(MOSQ_LOG_WARNING,
			         "mqttsec: cannot write the client id bindings and last uses of "
			         "the last tick: %s",
			         mqsp_store_error(p->store));
	}
	/* writes what is still queued */
	if (mqsp_store_close(p->store) != MQS_OK)
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: cannot write the queued automatic bans at exit");
	mqsp_snapshot_free(p->snap);
	mqsp_bans_free(p->bans);
	mqsp_clients_release(&p->clients);
	mqsp_auth_steps_free(p);
	mqsp_rotate_revoke_reset(p);
	mqsp_reseal_free(p->reseal);
	mqsp_keysvc_free(p->keysvc);
	mqsp_seals_free(p->seals);
	mqsp_clientids_free(p->cids);
	OPENSSL_cleanse(p->mk, sizeof(p->mk));
	mqs_free(p);
}

/* Open <db>-steps and take in what a previous run left in it; in database
 * mode close it again (other brokers on the database may need it). */
static int journal_open(struct mqsp_plugin *p)
{
	char err[512];
	size_t len = strlen(p->opt.db) + sizeof(JOURNAL_SUFFIX);
	char *path = mqs_malloc(len);
	int rc = MQS_ERR_NOMEM;

	if (path == NULL)
		goto out;
	snprintf(path, len, "%s%s", p->opt.db, JOURNAL_SUFFIX);
	rc = mqsp_journal_open(path, &p->journal, err, sizeof(err));
	if (rc != MQS_OK) {
		mqsp_log(MOSQ_LOG_ERR, "mqttsec: %s", err);
		goto out;
	}
	rc = mqsp_auth_steps_recover(p, CLOSE_BUSY_MS);
	if (rc == MQS_OK && p->opt.step_commit_db) {
		mqsp_journal_free(p->journal);
		p->journal = NULL;
	}
out:
	mqs_free(path);
	return rc;
}

/* Connect tokens: open <db>-tokens and take in the nonces of the window. */
static int tokens_open(struct mqsp_plugin *p)
{
	char err[512];
	size_t len = strlen(p->opt.db) + sizeof(TOKENS_SUFFIX);
	char *path = mqs_malloc(len);
	int rc = MQS_ERR_NOMEM;

	if (path == NULL)
		goto out;
	snprintf(path, len, "%s%s", p->opt.db, TOKENS_SUFFIX);
	err[0] = '\0';
	/* database mode: other brokers on the database commit their nonces too */
	rc = mqsp_tokens_open(p->store, p->opt.step_commit_db ? NULL : path, p->opt.connect_tokens,
	                      p->opt.replay_window, CLOSE_BUSY_MS, &p->tokens, err, sizeof(err));
	if (rc != MQS_OK)
		mqsp_log(MOSQ_LOG_ERR, "mqttsec: %s", err[0] != '\0' ? err : mqs_strerror(rc));
out:
	mqs_free(path);
	return rc;
}

/* Record plugin_opt_allowlist in the database (settings "allowlist"): the
 * read rule of topic keys needs it (lib/mqs_keyaccess.h).  A failure is
 * logged, not fatal: the rule then uses the value last recorded (none: off). */
static void allowlist_record(struct mqsp_plugin *p)
{
	sqlite3 *db = mqsp_store_writer(p->store);
	sqlite3_stmt *st = NULL;

	int done = 0;

	sqlite3_busy_timeout(db, CLOSE_BUSY_MS);
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO settings (name, value) VALUES ('allowlist', ?1) "
	                       "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, p->opt.allowlist ? "on" : "off", -1, SQLITE_STATIC);
		done = sqlite3_step(st) == SQLITE_DONE;
	}
	if (!done)
		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: cannot record the allowlist setting: %s",
		         sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_busy_timeout(db, 0);
}

/* Open the master key and the database, load the first snapshot.  Every
 * failure names the option and the path. */
static int plugin_open(struct mqsp_plugin *p)
{
	struct mqsp_bans_cfg bc;
	char err[512];
	int rc;

	errno = 0;
	rc = mqs_master_key_load(p->opt.master_key_file, p->mk);
	if (rc != MQS_OK) {
		int e = errno;

		/* mosquitto started as root has already switched to its "user" here */
		mqsp_log(MOSQ_LOG_ERR, "mqttsec: cannot read plugin_opt_master_key_file %s: %s%s%s",
		         p->opt.master_key_file, mqs_strerror(rc),
		         rc == MQS_ERR_IO && e != 0 ? ": " : "",
		         rc == MQS_ERR_IO && e != 0
		             ? strerror(e)
		             : (rc == MQS_ERR_NOENT ? "" : " (want mode 0600, 32 bytes)"));
		return rc;
	}
	err[0] = '\0';
	rc = mqsp_store_open(p->opt.db, &p->store, err, sizeof(err));
	if (rc != MQS_OK) {
		mqsp_log(MOSQ_LOG_ERR, "mqttsec: cannot open plugin_opt_%s %s: %s", p->opt.db_key,
		         p->opt.db, rc == MQS_ERR_NOENT ? "no such file" : err);
		return rc;
	}
	rc = journal_open(p);
	if (rc != MQS_OK)
		return rc;
	rc = tokens_open(p);
	if (rc != MQS_OK)
		return rc;
	allowlist_record(p);
	p->revoke_pending = p->opt.allowlist; /* allow entries may have expired while down */
	rc = mqsp_snapshot_load(mqsp_store_reader(p->store), p->mk, (int64_t)time(NULL), &p->snap,
	                        err, sizeof(err));
	if (rc != MQS_OK) {
		mqsp_log(MOSQ_LOG_ERR, "mqttsec: cannot load plugin_opt_%s %s: %s", p->opt.db_key,
		         p->opt.db, err);
		return rc;
	}
	if (p->snap->ndevices > 0 && p->snap->bad_secrets == p->snap->ndevices) {
		/* most likely the master key of another installation */
		mqsp_log(MOSQ_LOG_ERR,
		         "mqttsec: plugin_opt_master_key_file %s does not open the TOTP secret "
		         "of any device in %s",
		         p->opt.master_key_file, p->opt.db);
		return MQS_ERR_UNWRAP;
	}
	if (p->snap->bad_secrets > 0)
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: %lu devices have a TOTP secret that does not open; they "
		         "are refused",
		         p->snap->bad_secrets);
	p->next_expiry = p->snap->allow.next_expiry;
	mqsp_log(MOSQ_LOG_INFO,
	         "mqttsec: loaded %lu devices, %lu acl rules, %lu list entries from %s in %.1f ms",
	         p->snap->ndevices, p->snap->nrules, p->snap->nentries, p->opt.db,
	         p->snap->build_ms);
	mqsp_reload_log_problems(p->snap);
	memset(&bc, 0, sizeof(bc));
	bc.max_user_failures = p->opt.max_auth_failures;
	bc.user_addresses = p->opt.user_ban_addresses;
	bc.max_ip_failures = p->opt.max_ip_failures;
	bc.max_ip_usernames = p->opt.max_ip_usernames;
	bc.window = p->opt.failure_window;
	bc.ban_seconds = p->opt.ban_seconds;
	bc.user_ban_seconds = p->opt.user_ban_seconds;
	bc.ban_max_seconds = p->opt.ban_max_seconds;
	bc.user_ban_max = p->opt.user_ban_max;
	bc.decay_seconds = p->opt.ban_decay_seconds;
	bc.table_max = p->opt.failure_table_max;
	p->bans = mqsp_bans_new(&bc);
	if (p->bans == NULL)
		return MQS_ERR_NOMEM;
	if (p->opt.clientid_policy == MQSP_CLIENTID_OWNED) {
		struct mqsp_clientids_cfg cc = {p->opt.clientid_ttl, p->opt.clientid_max};

		rc = mqsp_clientids_new(&cc, &p->cids);
		if (rc == MQS_OK)
			rc = mqsp_store_clientids_load(p->store, p->cids, (int64_t)time(NULL),
			                               CLOSE_BUSY_MS, err, sizeof(err));
		if (rc != MQS_OK) {
			mqsp_log(MOSQ_LOG_ERR, "mqttsec: %s",
			         rc == MQS_ERR_NOMEM ? "out of memory" : err);
			return rc;
		}
		mqsp_log(MOSQ_LOG_INFO, "mqttsec: loaded %zu client id bindings",
		         mqsp_clientids_count(p->cids));
	}
	rc = mqsp_reseal_new(p->mk, p->opt.replay_window, p->opt.replay_cache_max, &p->reseal);
	if (rc == MQS_OK) {
		p->seals = mqsp_seals_new(p->opt.key_max_seals);
		if (p->seals == NULL)
			rc = MQS_ERR_NOMEM;
	}
	if (rc != MQS_OK) {
		mqsp_log(MOSQ_LOG_ERR, "mqttsec: cannot set up protected topics: %s",
		         mqs_strerror(rc));
		return rc;
	}
	rc = mqsp_keysvc_new(&p->keysvc);
	if (rc != MQS_OK) {
		mqsp_log(MOSQ_LOG_ERR, "mqttsec: cannot set up online keys: %s", mqs_strerror(rc));
		return rc;
	}
	return MQS_OK;
}

static const struct {
	int event;
	MOSQ_FUNC_generic_callback cb;
} callbacks[] = {
    {MOSQ_EVT_BASIC_AUTH, mqsp_auth_cb},
    {MOSQ_EVT_ACL_CHECK, mqsp_access_cb},
    {MOSQ_EVT_TICK, mqsp_tick_cb},
    {MOSQ_EVT_DISCONNECT, mqsp_disconnect_cb},
    {MOSQ_EVT_MESSAGE, mqsp_keysvc_message_cb}, /* mqttsec/keys/req (keysvc.c) */
    {MOSQ_EVT_MESSAGE, mqsp_message_cb},        /* protected topics (reseal.c) */
    {MOSQ_EVT_TICK, mqsp_reseal_tick_cb},       /* replay set, $SYS statistics */
    {MOSQ_EVT_TICK, mqsp_tokens_tick_cb},       /* connect token nonces (tokens.c) */
};

#define NCALLBACKS (sizeof(callbacks) / sizeof(callbacks[0]))

/* Unregister the first n callbacks. */
static void callbacks_unregister(struct mqsp_plugin *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mosquitto_callback_unregister(p->id, callbacks[i].event, callbacks[i].cb, NULL);
}

/* Tell the broker which plugin API this plugin speaks. */
EXPORT int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++) {
		if (supported_versions[i] == PLUGIN_API_VERSION)
			return PLUGIN_API_VERSION;
	}
	return -1;
}

/* A refused allocation: warn, rate-limited. */
void mqsp_mem_refused(struct mqsp_plugin *p, const char *what, int64_t now)
{
	if (p->mem_warned != 0 && now - p->mem_warned < 10) {
		p->mem_quiet++;
		return;
	}
	mqsp_log(MOSQ_LOG_WARNING,
	         "mqttsec: out of memory (the broker's memory_limit): refusing %s (%lu more "
	         "refused since the last such warning)",
	         what, p->mem_quiet);
	p->mem_warned = now != 0 ? now : 1;
	p->mem_quiet = 0;
}

/* Parse the options, open the key and the database, register callbacks. */
EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                                 struct mosquitto_opt *options, int option_count)
{
	struct mqsp_plugin *p;
	size_t i;
	int rc;

	/* the plugin's own structures (views, replay set, client table) count
	 * toward the broker's memory_limit (docs/broker-plugin.md, "Memory");
	 * set before anything is allocated through the hook, never put back
	 * (the library goes with the plugin) */
	mqs_alloc_set(mosquitto_malloc, mosquitto_realloc, mosquitto_free);
	p = mqs_calloc(1, sizeof(*p));
	*userdata = NULL;
	if (p == NULL)
		return MOSQ_ERR_NOMEM;
	p->id = identifier;
	mqsp_clients_init(&p->clients);
	if (options_parse(&p->opt, options, option_count) != MQS_OK || plugin_open(p) != MQS_OK) {
		mqsp_log(MOSQ_LOG_ERR, "mqttsec: plugin not started");
		plugin_free(p);
		return MOSQ_ERR_INVAL;
	}
	for (i = 0; i < NCALLBACKS; i++) {
		rc = mosquitto_callback_register(p->id, callbacks[i].event, callbacks[i].cb, NULL,
		                                 p);
		if (rc != MOSQ_ERR_SUCCESS) {
			mqsp_log(MOSQ_LOG_ERR, "mqttsec: cannot register callback %d: error %d",
			         callbacks[i].event, rc);
			callbacks_unregister(p, i);
			plugin_free(p);
			return rc;
		}
	}
	*userdata = p;
	return MOSQ_ERR_SUCCESS;
}

/* Unregister, flush queued writes, free everything. */
EXPORT int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	struct mqsp_plugin *p = userdata;

	(void)options;
	(void)option_count;
	if (p == NULL)
		return MOSQ_ERR_SUCCESS;
	callbacks_unregister(p, NCALLBACKS);
	plugin_free(p);
	return MOSQ_ERR_SUCCESS;
}
