/* SPDX-License-Identifier: BSD-3-Clause */
/* auth.c - CONNECT: TOTP authentication (stage 1) and the allow/deny lists
 * (stage 2). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqs_uthash.h"

#include "journal.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_cidr.h"
#include "mqs_conntoken.h"
#include "mqs_error.h"
#include "mqs_topic.h"
#include "mqs_totp.h"
#include "mqs_util.h"
#include "plugin.h"
#include "reseal.h"

/* an accepted TOTP step the current snapshot may not hold yet; dirty: made
 * durable by the journal, not yet folded into the database */
struct mqsp_step {
	UT_hash_handle hh;
	int64_t step;
	int dirty;
	char name[];
};

#define DIRTY_CAP_KEEP 65536 /* dirty steps array: largest size kept after a fold */
#define LOG_NAME_MAX   64    /* bytes of a username or client id in a refusal line */

/* The in-memory entry of name, created when missing (at step INT64_MIN,
 * which refuses nothing), with room in dirty_steps to mark it.  NULL when
 * out of memory. */
static struct mqsp_step *step_slot(struct mqsp_plugin *p, const char *name)
{
	struct mqsp_step *s = NULL;
	size_t len = strlen(name);

	if (p->steps_dirty == p->dirty_cap) {
		void *a = p->dirty_steps;

		if (mqs_array_reserve(&a, &p->dirty_cap, p->steps_dirty + 1,
		                      sizeof(*p->dirty_steps), SIZE_MAX, 0) != MQS_OK)
			return NULL;
		p->dirty_steps = a;
	}
	HASH_FIND_STR(p->steps, name, s);
	if (s == NULL) {
		s = mqs_calloc(1, sizeof(*s) + len + 1);
		if (s == NULL)
			return NULL;
		s->step = INT64_MIN;
		memcpy(s->name, name, len + 1);
		HASH_ADD_STR(p->steps, name, s);
		if (!mqs_uthash_added(s, hh)) {
			mqs_free(s);
			return NULL;
		}
	}
	return s;
}

/* Raise the entry s (from step_slot, which made room) to step; dirty when
 * only the journal holds it. */
static void step_mark(struct mqsp_plugin *p, struct mqsp_step *s, int64_t step, int dirty)
{
	if (step > s->step)
		s->step = step;
	if (dirty && !s->dirty) {
		s->dirty = 1;
		p->dirty_steps[p->steps_dirty++] = s;
	}
}

/* Forget in-memory steps that the snapshot holds. */
void mqsp_auth_steps_prune(struct mqsp_plugin *p)
{
	struct mqsp_step *s, *tmp;

	HASH_ITER(hh, p->steps, s, tmp)
	{
		const struct mqsp_device *d = mqsp_snapshot_device(p->snap, s->name);

		/* a dirty step stays until folded, even of a removed device
		 * (the fold skips it; a device added again under the name may
		 * already be in the next snapshot) */
		if (!s->dirty && (d == NULL || d->last_step >= s->step)) {
			HASH_DEL(p->steps, s);
			mqs_free(s);
		}
	}
}

/* Free the in-memory steps. */
void mqsp_auth_steps_free(struct mqsp_plugin *p)
{
	struct mqsp_step *s, *tmp;

	HASH_ITER(hh, p->steps, s, tmp)
	{
		HASH_DEL(p->steps, s);
		mqs_free(s);
	}
	mqs_free(p->dirty_steps);
	p->dirty_steps = NULL;
	p->steps_dirty = p->dirty_cap = 0;
}

/* Fold the dirty steps into the database, then empty the journal. */
int mqsp_auth_steps_fold(struct mqsp_plugin *p, int busy_ms)
{
	struct mqsp_step_rec *recs = NULL;
	size_t n = p->steps_dirty;
	int rc = MQS_ERR_INVAL;

	/* a journal not read to its end holds steps that memory lacks */
	if (!p->journal_recovered)
		goto out;
	rc = MQS_OK;
	if (n > 0) {
		rc = MQS_ERR_NOMEM;
		recs = mqs_malloc(n * sizeof(*recs));
		if (recs == NULL)
			goto out;
		for (size_t i = 0; i < n; i++) {
			recs[i].name = p->dirty_steps[i]->name;
			recs[i].step = p->dirty_steps[i]->step;
		}
		rc = mqsp_store_save_steps(p->store, recs, n, busy_ms);
		if (rc != MQS_OK)
			goto out;
		for (size_t i = 0; i < n; i++)
			p->dirty_steps[i]->dirty = 0;
		p->steps_dirty = 0;
		if (p->dirty_cap > DIRTY_CAP_KEEP) {
			/* after a long lock: give the memory back */
			mqs_free(p->dirty_steps);
			p->dirty_steps = NULL;
			p->dirty_cap = 0;
		}
	}
	/* every record in the file is in the database now */
	if (p->journal != NULL && mqsp_journal_reset(p->journal) != MQS_OK)
		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: cannot empty step journal %s: %s",
		         mqsp_journal_path(p->journal), strerror(errno));
out:
	mqs_free(recs);
	return rc;
}

/* Why the last fold failed, for a log line. */
const char *mqsp_auth_fold_error(struct mqsp_plugin *p, int rc)
{
	return rc == MQS_ERR_DB ? mqsp_store_error(p->store) : mqs_strerror(rc);
}

/* mqsp_journal_read() callback: remember a step a previous run accepted. */
static int recover_one(void *ctx, const char *name, int64_t step)
{
	struct mqsp_plugin *p = ctx;
	struct mqsp_step *s = step_slot(p, name);

	if (s == NULL)
		return MQS_ERR_NOMEM;
	step_mark(p, s, step, 1);
	return MQS_OK;
}

/* Take in what the journal holds from a previous run and fold it. */
int mqsp_auth_steps_recover(struct mqsp_plugin *p, int busy_ms)
{
	const char *path = mqsp_journal_path(p->journal);
	size_t bad = 0;
	int rc = mqsp_journal_read(p->journal, recover_one, p, &bad);
	int e;

	if (rc != MQS_OK) {
		mqsp_log(MOSQ_LOG_ERR, "mqttsec: cannot read step journal %s: %s", path,
		         rc == MQS_ERR_IO ? strerror(errno) : mqs_strerror(rc));
		goto out;
	}
	p->journal_recovered = 1;
	if (bad > 0)
		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: skipped %zu damaged lines of step journal %s",
		         bad, path);
	if (mqsp_journal_records(p->journal) > 0)
		mqsp_log(MOSQ_LOG_NOTICE,
		         "mqttsec: recovered %zu accepted TOTP steps from step journal %s",
		         mqsp_journal_records(p->journal), path);
	e = mqsp_auth_steps_fold(p, busy_ms); /* also empties a file of damaged lines */
	if (e != MQS_OK)
		/* they hold from memory; the tick tries again */
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: cannot fold the step journal into the database yet: %s",
		         mqsp_auth_fold_error(p, e));
out:
	return rc;
}

/* Refuse a step of d that is not later than its last accepted one (from
 * the snapshot or from memory), else make it durable before the CONNACK: a
 * journal line (the default) or a database commit.  NULL, or why not (in
 * why when it is not the client's doing). */
static const char *step_record(struct mqsp_plugin *p, const struct mqsp_device *d, int64_t step,
                               char *why, size_t whylen)
{
	/* room in memory first: a step the journal took must be remembered */
	struct mqsp_step *s = step_slot(p, d->name);
	const char *name = d->name;
	const char *res = why;
	int e;

	if (s == NULL) {
		snprintf(why, whylen, "cannot record the time step: out of memory");
		goto out;
	}
	if (step <= d->last_step || step <= s->step) {
		res = "code of a time step already used";
		goto out;
	}
	if (!p->opt.step_commit_db) {
		if (mqsp_journal_records(p->journal) >= MQSP_JOURNAL_RECORDS_MAX) {
			snprintf(why, whylen,
			         "cannot record the time step: the step journal holds %zu steps "
			         "the database has not taken",
			         mqsp_journal_records(p->journal));
			goto out;
		}
		e = mqsp_journal_append(p->journal, name, step);
		if (e == MQS_OK) {
			step_mark(p, s, step, 1); /* the tick folds it into the database */
			res = NULL;
			goto out;
		}
		if (e == MQS_ERR_IO) {
			snprintf(why, whylen, "cannot record the time step: step journal: %s",
			         strerror(errno));
			goto out;
		}
		/* a name the journal cannot hold: commit it */
	}
	/* the compare-and-set commit */
	e = mqsp_store_save_step(p->store, name, step);
	if (e == MQS_ERR_TOTP_REPLAY) {
		res = "code of a time step already used";
		goto out;
	}
	if (e != MQS_OK) {
		snprintf(why, whylen, "cannot record the time step: %s",
		         mqsp_store_error(p->store));
		goto out;
	}
	step_mark(p, s, step, 0);
	res = NULL;
out:
	return res;
}

/* Why device d (NULL: unknown) and the lists refuse a client, or NULL. */
static const char *refusal(struct mqsp_plugin *p, const struct mqsp_device *d, const char *clientid,
                           const char *username, const uint8_t *addr, int64_t now)
{
	if (d == NULL)
		return "unknown device";
	if (!d->enabled)
		return "device disabled";
	if (!d->secret_ok)
		return "device secret does not open under the master key";
	if (mqs_list_match(&p->snap->deny, clientid, username, addr, now))
		return "on the deny list";
	if (mqsp_bans_match(p->bans, username, addr, now))
		return "banned after failed logins";
	if (p->opt.allowlist && !mqs_list_match(&p->snap->allow, clientid, username, addr, now))
		return "not on the allow list";
	return NULL;
}

/* Why the lists (and the device's state) refuse a client, or NULL. */
const char *mqsp_auth_refusal(struct mqsp_plugin *p, const char *clientid, const char *username,
                              const uint8_t *addr, int64_t now)
{
	return refusal(p, mqsp_snapshot_device(p->snap, username), clientid, username, addr, now);
}

/* The enrolled device a client id is reserved for, or NULL: the gateway's
 * id mqttsec-gateway-NAME, else the longest enrolled NAME that the id is or
 * starts with as "NAME-" (docs/broker-plugin.md, "Client ids"). */
static const char *reserved_for(struct mqsp_plugin *p, const char *cid)
{
	static const char gw[] = "mqttsec-gateway-";
	char name[MQSP_CLIENTIDS_LEN_MAX + 1];
	size_t n = strlen(cid);
	const struct mqsp_device *d = NULL;

	if (n > MQSP_CLIENTIDS_LEN_MAX)
		goto out;
	if (strncmp(cid, gw, sizeof(gw) - 1) == 0)
		d = mqsp_snapshot_device(p->snap, cid + sizeof(gw) - 1);
	memcpy(name, cid, n + 1);
	while (d == NULL && n > 0) {
		name[n] = '\0';
		d = mqsp_snapshot_device(p->snap, name);
		while (n > 0 && name[n - 1] != '-')
			n--;
		if (n > 0)
			n--; /* the dash */
	}
out:
	return d != NULL ? d->name : NULL;
}

/* Why the client id policy refuses client id cid for device user at now,
 * or NULL; under owned, binds a free id to user (docs/broker-plugin.md,
 * "Client ids"). */
static const char *clientid_refusal(struct mqsp_plugin *p, const char *cid, const char *user,
                                    int64_t now)
{
	const char *owner;

	if (p->opt.clientid_policy == MQSP_CLIENTID_ANY)
		return NULL;
	owner = reserved_for(p, cid);
	if (owner != NULL && strcmp(owner, user) != 0)
		return "client id reserved for another enrolled device";
	if (owner != NULL && p->cids != NULL)
		mqsp_clientids_reclaim(p->cids, cid, user);
	if (p->opt.clientid_policy == MQSP_CLIENTID_PREFIX)
		return mqsp_clientids_prefix_ok(cid, user)
		           ? NULL
		           : "client id is neither the username nor username-...";
	if (p->cids == NULL)
		return NULL;
	switch (mqsp_clientids_claim(p->cids, cid, user, now, mqsp_session_clientid_in_use, p)) {
	case MQSP_CLAIM_OK:
		return NULL;
	case MQSP_CLAIM_TAKEN:
		return "client id owned by another device";
	case MQSP_CLAIM_FULL:
		return "device holds its maximum of client ids, all connected";
	case MQSP_CLAIM_TOOLONG:
		return "client id longer than 256 bytes";
	default:
		return "cannot bind the client id: out of memory";
	}
}

/* Ban the keys mqsp_bans_fail() reported in hits (docs/broker-plugin.md,
 * "Failed logins and automatic bans"): a pair ban holds in memory only, a
 * username-wide or address ban goes to the database too. */
static void ban(struct mqsp_plugin *p, unsigned hits, const struct mqsp_ban_hit *h,
                const char *username, const char *ip, int64_t now)
{
	if ((hits & MQSP_BAN_PAIR) != 0) {
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: banned username %s from address %s for %u s after %u failed "
		         "logins (ban %u of this pair, in memory only)",
		         username, ip[0] != '\0' ? ip : "?", h->seconds[MQSP_HIT_PAIR],
		         h->failures[MQSP_HIT_PAIR], h->strike[MQSP_HIT_PAIR]);
		p->kick_pending = 1;
	}
	for (unsigned bit = MQSP_BAN_USER; bit <= MQSP_BAN_IP; bit <<= 1) {
		int user = bit == MQSP_BAN_USER;
		unsigned k = user ? MQSP_HIT_USER : MQSP_HIT_IP;
		enum mqs_match match = user ? MQS_MATCH_USERNAME : MQS_MATCH_IP;
		const char *pattern = user ? username : ip;
		const char *what = user ? "username" : "address";
		uint64_t seq;
		int e;

		if ((hits & bit) == 0 || pattern == NULL || pattern[0] == '\0')
			continue;
		seq = mqsp_store_save_ban(p->store, match, pattern, now, h->seconds[k]);
		if (seq == 0) {
			/* never reaches the database: only its expiry drops it */
			seq = MQSP_BAN_SEQ_MEMORY;
			mqsp_log(MOSQ_LOG_WARNING,
			         "mqttsec: cannot queue the ban of %s %s for the database; "
			         "it holds in memory only",
			         what, pattern);
		}
		e = mqsp_bans_add(p->bans, match, pattern, now + (int64_t)h->seconds[k], seq,
		                  mqsp_store_bans_done(p->store), now);
		if (e != MQS_OK) {
			mqsp_log(MOSQ_LOG_WARNING,
			         "mqttsec: cannot keep the ban of %s %s in memory: %s", what,
			         pattern, mqs_strerror(e));
			continue;
		}
		mqsp_log(MOSQ_LOG_WARNING,
		         "mqttsec: banned %s %s for %u s after %u failed logins %s %u %s (ban %u "
		         "of this %s)",
		         what, pattern, h->seconds[k], h->failures[k], user ? "from" : "for",
		         h->distinct[k], user ? "addresses" : "usernames", h->strike[k], what);
		p->kick_pending = 1;
	}
}

/* Bytes of s a refusal logs: anyone can send a 64 KiB username, and one
 * line per refused CONNECT must not fill the disk. */
static int log_len(const char *s)
{
	size_t n = strlen(s);

	return n > LOG_NAME_MAX ? LOG_NAME_MAX : (int)n;
}

/* "..." when log_len() cut s. */
static const char *log_more(const char *s)
{
	return strlen(s) > LOG_NAME_MAX ? "..." : "";
}

/* MOSQ_EVT_BASIC_AUTH. */
int mqsp_auth_cb(int event, void *event_data, void *userdata)
{
	struct mqsp_plugin *p = userdata;
	struct mosquitto_evt_basic_auth *ed = event_data;
	const char *user = ed->username;
	const char *cid = mosquitto_client_id(ed->client);
	const char *addr_text = mosquitto_client_address(ed->client);
	struct mqs_cidr host;
	const uint8_t *addr = NULL;
	char ip[MQS_CIDR_TEXT_MAX];
	struct mqsp_device *d;
	int64_t now = (int64_t)time(NULL);
	const char *why;
	const char *user_log = user, *cid_log = cid;
	char why_db[160];
	uint64_t step = 0;
	int count_user = 0, count_ip = 0;
	int rc = MOSQ_ERR_AUTH;
	int e;

	(void)event;
	ip[0] = '\0';
	if (addr_text != NULL && mqs_cidr_parse(addr_text, &host) == MQS_OK && host.prefix == 128)
		addr = host.addr;
	if (user == NULL) {
		if (p->opt.defer_unknown)
			return MOSQ_ERR_PLUGIN_DEFER;
		why = "no username";
		goto refuse;
	}
	if (!mqs_topic_identity_ok(user) || !mqs_topic_identity_ok(cid)) {
		why = "username or client id empty, starting with $ or holding + # /";
		count_ip = 1;
		goto refuse;
	}
	d = mqsp_snapshot_device(p->snap, user);
	if (d == NULL && p->opt.defer_unknown)
		return MOSQ_ERR_PLUGIN_DEFER;
	if (d == NULL) {
		why = "unknown device";
		count_ip = 1;
		goto refuse;
	}
	why = refusal(p, d, cid, user, addr, now);
	if (why != NULL)
		goto refuse;
	count_user = count_ip = 1;
	if (mqs_conntoken_is_token(ed->password)) {
		/* a connect token (docs/broker-plugin.md, "Connect tokens"):
		 * committed before the CONNACK like a TOTP step */
		int counts = 1;

		why = mqsp_tokens_check(p->tokens, d, cid, ed->password, mqs_now_ms(), why_db,
		                        sizeof(why_db), &counts);
		if (why != NULL) {
			if (!counts)
				count_user = count_ip = 0;
			goto refuse;
		}
	} else {
		e = mqs_totp_validate(d->secret, d->secret_len, &d->params, (time_t)now,
		                      p->opt.totp_window, ed->password, &step);
		if (e != MQS_OK) {
			why = ed->password == NULL ? "no code" : "wrong code";
			goto refuse;
		}
		/* a replay is refused; otherwise the code is used up once its
		 * step is durable: a crash after the CONNACK cannot reopen it */
		why = step_record(p, d, (int64_t)step, why_db, sizeof(why_db));
		if (why != NULL) {
			/* a database or disk problem is not the client's doing */
			if (why == why_db)
				count_user = count_ip = 0;
			goto refuse;
		}
	}
	/* before the broker takes over any session with this id */
	why = clientid_refusal(p, cid, user, now);
	if (why != NULL) {
		count_user = count_ip = 0; /* the device proved itself */
		goto refuse;
	}
	if (mqsp_clients_add(&p->clients, ed->client, cid, user, addr, d->generation, now) !=
	    MQS_OK) {
		/* the broker's memory_limit refused the allocation
		 * (docs/broker-plugin.md, "Memory"): refused, never half-tracked */
		mqsp_mem_refused(p, "connections", now);
		why = "out of memory (memory_limit)";
		count_user = count_ip = 0;
		goto refuse;
	}
	mqsp_reseal_connected(p, ed->client); /* session epoch (epoch.h) */
	p->stats.auth_ok++;
	return MOSQ_ERR_SUCCESS;
refuse:
	p->stats.auth_failed++;
	/* canonical address text (IPv4-mapped as IPv4) for the log and the counters */
	if (addr != NULL && mqs_cidr_format(&host, ip, sizeof(ip)) != MQS_OK)
		ip[0] = '\0';
	if (!mqs_topic_identity_ok(user))
		user_log = "-";
	if (!mqs_topic_identity_ok(cid))
		cid_log = "-";
	mqsp_log(MOSQ_LOG_NOTICE, "mqttsec: refused %.*s%s (client id %.*s%s) from %s: %s",
	         log_len(user_log), user_log, log_more(user_log), log_len(cid_log), cid_log,
	         log_more(cid_log), ip[0] != '\0' ? ip : "?", why);
	if (count_user || count_ip) {
		/* per (username, address) first; the address also notes the
		 * username (even a malformed one) among its failing ones */
		struct mqsp_ban_hit h;
		unsigned hits = mqsp_bans_fail(
		    p->bans, user, ip,
		    (count_user ? MQSP_COUNT_USER : 0u) | (count_ip ? MQSP_COUNT_IP : 0u), now, &h);

		if (hits != 0)
			ban(p, hits, &h, user, ip, now);
	}
	return rc;
}
