/* SPDX-License-Identifier: BSD-3-Clause */
/* access.c - MOSQ_EVT_ACL_CHECK: topic ACLs, default deny.
 *
 * This runs for every subscriber of every message (MOSQ_ACL_READ), so it
 * does no I/O: one hash lookup for the device, then one walk of the topic
 * levels per tree (the device's rules, then each of its groups'), see acl.h
 * for the evaluation rules; a delivery needs both the read and the sub
 * rules of its topic to allow it, found in the same walk.  The last READ
 * and the last WRITE decision of each device are remembered with the
 * device, inside the snapshot: a new snapshot starts with no remembered
 * decision.  Devices with %c rules are not remembered (their decisions
 * depend on the client id too).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqs_alloc.h"
#include "keysvc.h"
#include "plugin.h"
#include "reseal.h"

/* Decide with the trees of d.  READ combines the read and the sub rules
 * of the concrete topic; SUB asks whether any topic of the filter is
 * allowed (docs/broker-plugin.md, Topic ACLs). */
static int decide(struct mqsp_device *d, enum mqs_rules_kind kind, const char *topic,
                  const char *user, struct mosquitto *client)
{
	const char *cid = mosquitto_client_id(client);
	int64_t best = MQS_RULES_NONE;
	int64_t best_sub = MQS_RULES_NONE;

	if (kind == MQS_RULES_SUB)
		return mqs_rules_sub_possible(d->trees, d->ntrees, topic, user, cid);
	if (kind == MQS_RULES_READ) {
		for (unsigned i = 0; i < d->ntrees; i++)
			mqs_rules_eval_read(d->trees[i], topic, user, cid, &best, &best_sub);
		return mqs_rules_key_allows(best) && mqs_rules_key_allows(best_sub);
	}
	for (unsigned i = 0; i < d->ntrees; i++)
		mqs_rules_eval(d->trees[i], kind, topic, user, cid, &best);
	return mqs_rules_key_allows(best);
}

/* The filter a subscription is checked as: "$share/GROUP/F" is checked as F
 * (docs/broker-plugin.md).  NULL for a malformed shared subscription. */
static const char *sub_filter(const char *topic)
{
	const char *group;
	const char *e;

	if (strncmp(topic, "$share/", 7) != 0)
		return topic;
	group = topic + 7;
	e = strchr(group, '/');
	if (e == NULL || e == group || e[1] == '\0')
		return NULL;
	for (const char *c = group; c < e; c++) {
		if (*c == '+' || *c == '#')
			return NULL;
	}
	return e + 1;
}

/* Decide, through the device's one-entry cache for READ and WRITE. */
static int decide_cached(struct mqsp_device *d, enum mqs_rules_kind kind, const char *topic,
                         const char *user, struct mosquitto *client)
{
	struct mqs_rules_cache *c;
	size_t len;
	int k = kind == MQS_RULES_READ ? 0 : 1;
	int allowed;

	if (!d->cacheable || kind == MQS_RULES_SUB)
		return decide(d, kind, topic, user, client);
	len = strlen(topic);
	c = d->cache;
	if (c != NULL && c->len[k] == len && memcmp(c->topic[k], topic, len) == 0)
		return c->allowed[k];
	allowed = decide(d, kind, topic, user, client);
	if (len == 0 || len >= MQSP_CACHE_TOPIC_MAX)
		return allowed;
	if (c == NULL) {
		c = mqs_calloc(1, sizeof(*c));
		d->cache = c;
	}
	if (c != NULL) {
		memcpy(c->topic[k], topic, len);
		c->len[k] = (uint16_t)len;
		c->allowed[k] = (int8_t)allowed;
	}
	return allowed;
}

/* Find the device of a username, through a small cache keyed by the
 * broker's username pointer (checked by content, so a reused pointer of
 * another client cannot pick up the wrong device). */
static struct mqsp_device *device_of(struct mqsp_plugin *p, const char *user)
{
	struct mqsp_user_cache *c;

	if (user == NULL)
		return NULL;
	c = &p->ucache[((uintptr_t)user >> 4) % MQSP_USER_CACHE];
	if (c->user == user && c->d != NULL && strcmp(c->d->name, user) == 0)
		return c->d;
	c->user = user;
	c->d = mqsp_snapshot_device(p->snap, user);
	return c->d;
}

/* MOSQ_EVT_ACL_CHECK. */
int mqsp_access_cb(int event, void *event_data, void *userdata)
{
	struct mqsp_plugin *p = userdata;
	struct mosquitto_evt_acl_check *ed = event_data;
	const char *user;
	const char *topic;
	struct mqsp_device *d;
	enum mqs_rules_kind kind;

	(void)event;
	switch (ed->access) {
	case MOSQ_ACL_READ:
		kind = MQS_RULES_READ;
		break;
	case MOSQ_ACL_WRITE:
		kind = MQS_RULES_WRITE;
		break;
	case MOSQ_ACL_SUBSCRIBE:
		kind = MQS_RULES_SUB;
		break;
	case MOSQ_ACL_UNSUBSCRIBE:
		return MOSQ_ERR_SUCCESS;
	default:
		return MOSQ_ERR_ACL_DENIED;
	}
	if (ed->topic == NULL)
		return MOSQ_ERR_ACL_DENIED;
	user = mosquitto_client_username(ed->client);
	d = device_of(p, user);
	/* online keys: mqttsec/keys/ is the plugin's, whatever the rules say */
	{
		const char *t = kind == MQS_RULES_SUB ? sub_filter(ed->topic) : ed->topic;
		int ks = t != NULL ? mqsp_keysvc_access(t, ed->access, ed->retain, user, d) : -1;

		if (ks != -1)
			return ks;
	}
	if (d == NULL && p->opt.defer_unknown && kind == MQS_RULES_WRITE)
		/* no device key: never on a protected topic, whoever else decides */
		return mqsp_reseal_write_check(p, ed->client, ed->topic, ed->payload,
		                               ed->payloadlen) == MOSQ_ERR_SUCCESS
		           ? MOSQ_ERR_PLUGIN_DEFER
		           : MOSQ_ERR_ACL_DENIED;
	if (d == NULL)
		return p->opt.defer_unknown ? MOSQ_ERR_PLUGIN_DEFER : MOSQ_ERR_ACL_DENIED;
	if (!d->enabled)
		return MOSQ_ERR_ACL_DENIED;
	topic = kind == MQS_RULES_SUB ? sub_filter(ed->topic) : ed->topic;
	if (topic == NULL || !decide_cached(d, kind, topic, user, ed->client))
		return MOSQ_ERR_ACL_DENIED;
	/* protected topics: a sealed, fresh envelope of the publisher's own key
	 * (the only check a Last Will gets: it never reaches MOSQ_EVT_MESSAGE) */
	if (kind == MQS_RULES_WRITE)
		return mqsp_reseal_write_check(p, ed->client, ed->topic, ed->payload,
		                               ed->payloadlen);
	return MOSQ_ERR_SUCCESS;
}
