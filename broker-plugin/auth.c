/* auth.c - CONNECT: TOTP authentication (stage 1) and the allow/deny lists
 * (stage 2). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uthash.h>

#include "mqs_cidr.h"
#include "mqs_error.h"
#include "mqs_topic.h"
#include "mqs_totp.h"
#include "plugin.h"

/* an accepted TOTP step the current snapshot may not hold yet: a cheap
 * first refusal of replays; the database's compare-and-set decides */
struct mqsp_step {
	UT_hash_handle hh;
	int64_t step;
	char name[];
};

/* The last accepted step of d, from the snapshot or from memory. */
static int64_t last_step(struct mqsp_plugin *p, const struct mqsp_device *d)
{
	struct mqsp_step *s = NULL;
	int64_t last = d->last_step;

	HASH_FIND_STR(p->steps, d->name, s);
	if (s != NULL && s->step > last)
		last = s->step;
	return last;
}

/* Remember a committed step in memory (without memory the refusal of
 * replays rests on the database alone, which is enough). */
static void step_remember(struct mqsp_plugin *p, const char *name, int64_t step)
{
	struct mqsp_step *s = NULL;
	size_t len = strlen(name);

	HASH_FIND_STR(p->steps, name, s);
	if (s == NULL) {
		s = calloc(1, sizeof(*s) + len + 1);
		if (s != NULL) {
			memcpy(s->name, name, len + 1);
			HASH_ADD_STR(p->steps, name, s);
		}
	}
	if (s != NULL && step > s->step)
		s->step = step;
}

/* Forget in-memory steps that the snapshot holds. */
void mqsp_auth_steps_prune(struct mqsp_plugin *p)
{
	struct mqsp_step *s, *tmp;

	HASH_ITER(hh, p->steps, s, tmp)
	{
		const struct mqsp_device *d = mqsp_snapshot_device(p->snap, s->name);

		if (d == NULL || d->last_step >= s->step) {
			HASH_DEL(p->steps, s);
			free(s);
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
		free(s);
	}
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
	if (mqsp_list_match(&p->snap->deny, clientid, username, addr, now))
		return "on the deny list";
	if (mqsp_bans_match(p->bans, username, addr, now))
		return "banned after failed logins";
	if (p->opt.allowlist && !mqsp_list_match(&p->snap->allow, clientid, username, addr, now))
		return "not on the allow list";
	return NULL;
}

/* Why the lists (and the device's state) refuse a client, or NULL. */
const char *mqsp_auth_refusal(struct mqsp_plugin *p, const char *clientid, const char *username,
                              const uint8_t *addr, int64_t now)
{
	return refusal(p, mqsp_snapshot_device(p->snap, username), clientid, username, addr, now);
}

/* Ban the keys that reached their threshold. */
static void ban(struct mqsp_plugin *p, unsigned hits, const char *username, const char *ip,
                int64_t now)
{
	for (unsigned bit = MQSP_BAN_USER; bit <= MQSP_BAN_IP; bit <<= 1) {
		enum mqsp_match match = bit == MQSP_BAN_USER ? MQSP_MATCH_USERNAME : MQSP_MATCH_IP;
		const char *pattern = bit == MQSP_BAN_USER ? username : ip;
		const char *what = bit == MQSP_BAN_USER ? "username" : "address";
		uint64_t seq;
		int e;

		if ((hits & bit) == 0 || pattern == NULL)
			continue;
		seq = mqsp_store_save_ban(p->store, match, pattern, now, p->opt.ban_seconds);
		if (seq == 0) {
			/* never reaches the database: only its expiry drops it */
			seq = MQSP_BAN_SEQ_MEMORY;
			mqsp_log(MOSQ_LOG_WARNING,
			         "mqttsec: cannot queue the ban of %s %s for the database; "
			         "it holds in memory only",
			         what, pattern);
		}
		e = mqsp_bans_add(p->bans, match, pattern, now + (int64_t)p->opt.ban_seconds, seq,
		                  mqsp_store_bans_done(p->store), now);
		if (e != MQS_OK) {
			mqsp_log(MOSQ_LOG_WARNING,
			         "mqttsec: cannot keep the ban of %s %s in memory: %s", what,
			         pattern, mqs_strerror(e));
			continue;
		}
		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: banned %s %s for %u s after %u failed logins",
		         what, pattern, p->opt.ban_seconds,
		         bit == MQSP_BAN_USER ? p->opt.max_auth_failures : p->opt.max_ip_failures);
		p->kick_pending = 1;
	}
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
	const struct mqsp_device *d;
	int64_t now = (int64_t)time(NULL);
	const char *why;
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
	e = mqs_totp_validate(d->secret, d->secret_len, &d->params, (time_t)now, p->opt.totp_window,
	                      ed->password, &step);
	if (e != MQS_OK) {
		why = ed->password == NULL ? "no code" : "wrong code";
		goto refuse;
	}
	if ((int64_t)step <= last_step(p, d)) {
		why = "code of a time step already used";
		goto refuse;
	}
	/* the code is used up only once its step is committed (compare-and-set:
	 * a crash after the CONNACK cannot reopen it) */
	e = mqsp_store_save_step(p->store, d->name, (int64_t)step);
	if (e == MQS_ERR_TOTP_REPLAY) {
		why = "code of a time step already used";
		goto refuse;
	}
	if (e != MQS_OK) {
		/* not the client's doing: no failure counted */
		count_user = count_ip = 0;
		snprintf(why_db, sizeof(why_db), "cannot record the time step: %s",
		         mqsp_store_error(p->store));
		why = why_db;
		goto refuse;
	}
	step_remember(p, d->name, (int64_t)step);
	if (mqsp_clients_add(&p->clients, ed->client, cid, user, addr) != MQS_OK)
		mqsp_log(MOSQ_LOG_WARNING, "mqttsec: out of memory tracking client %s", cid);
	p->stats.auth_ok++;
	return MOSQ_ERR_SUCCESS;
refuse:
	p->stats.auth_failed++;
	/* canonical address text (IPv4-mapped as IPv4) for the log and the counters */
	if (addr != NULL && mqs_cidr_format(&host, ip, sizeof(ip)) != MQS_OK)
		ip[0] = '\0';
	mqsp_log(MOSQ_LOG_NOTICE, "mqttsec: refused %s (client id %s) from %s: %s",
	         mqs_topic_identity_ok(user) ? user : "-", mqs_topic_identity_ok(cid) ? cid : "-",
	         ip[0] != '\0' ? ip : "?", why);
	if (count_user || count_ip) {
		unsigned hits = mqsp_bans_fail(p->bans, count_user ? user : NULL,
		                               count_ip && ip[0] != '\0' ? ip : NULL, now);

		if (hits != 0)
			ban(p, hits, user, ip, now);
	}
	return rc;
}
