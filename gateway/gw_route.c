/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_route.c - the dispatcher: incoming messages to acknowledgements and
 * to the handler of their route's kind (the kind registry, gw_kind.h). */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway.h"
#include "gw_alert.h"
#include "gw_escalation.h"
#include "gw_log.h"
#include "gw_medical.h"
#include "gw_medjoin.h"
#include "gw_pubq.h"
#include "gw_review.h"
#include "gw_route.h"
#include "gw_sensor.h"
#include "gw_submit.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_topic.h"
#include "mqs_util.h"

/* an acknowledgement's payload is small JSON; anything longer names no namespace */
#define GW_ACK_PAYLOAD_MAX 4096

/* a review's payload: {"decision","level","sha256","reason"} */
#define GW_REVIEW_PAYLOAD_MAX 4096

/* Recognise <status_topic>/<id><suffix> (suffix "/ack", "/review"). */
static int status_id(const char *status_topic, const char *topic, const char *suffix, char *id,
                     size_t cap)
{
	size_t slen = strlen(status_topic), tlen = strlen(topic), xlen = strlen(suffix), idlen;

	if (tlen < slen + xlen + 2 || strncmp(topic, status_topic, slen) != 0 ||
	    topic[slen] != '/' || strcmp(topic + tlen - xlen, suffix) != 0)
		return 0;
	idlen = tlen - slen - 1 - xlen;
	if (idlen == 0 || idlen >= cap)
		return 0;
	memcpy(id, topic + slen + 1, idlen);
	id[idlen] = '\0';
	return gw_id_check(id);
}

/* Recognise <status_topic>/<id>/ack. */
int gw_route_ack_id(const char *status_topic, const char *topic, char *id, size_t cap)
{
	return status_id(status_topic, topic, "/ack", id, cap);
}

/* Recognise <status_topic>/<id>/review (docs/marketing.md, "Review"). */
int gw_route_review_id(const char *status_topic, const char *topic, char *id, size_t cap)
{
	return status_id(status_topic, topic, "/review", id, cap);
}

/* An alert on its way into the store (the arg of its gw_submit job). */
struct alert_job {
	const struct gw_alert *a;
	const struct gw_route *r;
	const char *topic;
	const char *origin;
	size_t nrows;
};

/* Inside the transaction: store and queue the alert. */
static int alert_tx(struct gw_gateway *gw, struct gw_submit_job *job)
{
	struct alert_job *aj = job->arg;

	job->step = 0;
	return gw_alert_queue_tx(&gw->store, gw->conf, aj->a, aj->r->name, aj->topic, "alert",
	                         aj->origin, gw_alert_publisher(aj->origin), (int64_t)mqs_now_ms(),
	                         &job->rowid, &aj->nrows);
}

/* After the commit: the log line. */
static void alert_committed(struct gw_gateway *gw, struct gw_submit_job *job)
{
	struct alert_job *aj = job->arg;

	gw_log(GW_LOG_INFO, "message %s (%s, group %s): %zu deliveries queued", aj->a->id,
	       gw_severity_name(aj->a->severity), aj->a->group, aj->nrows);
}

/* kind = alert: parse, then queue in one transaction (committed with the
 * batch of this read) and publish the queued states. */
static void route_alert(struct gw_gateway *gw, const struct gw_route *r, const char *topic,
                        const uint8_t *payload, size_t len, const char *origin)
{
	struct gw_alert a;
	struct alert_job aj = {&a, r, topic, origin, 0};
	struct gw_submit_job job = {
	    .durability = GW_DURABLE_BATCH, /* one fsync per read (gw_store_sync) */
	    .tx = alert_tx,
	    .committed = alert_committed,
	    .arg = &aj,
	};
	char err[256];
	int rc;

	if (gw_alert_parse(payload, len, r->group, &a, err, sizeof(err)) != MQS_OK) {
		gw_log(GW_LOG_WARN, "route %s: dropped alert on %s: %s", r->name, topic, err);
		return;
	}
	rc = gw_submit(gw, &job);
	if (rc == MQS_ERR_EXISTS)
		gw_log(GW_LOG_INFO, "message %s: duplicate id, already queued (ignored)", a.id);
	else if (rc == MQS_ERR_NOENT)
		gw_log(GW_LOG_WARN,
		       "route %s: refused alert %s on %s: no group %s (nothing recorded)", r->name,
		       a.id, topic, a.group);
	else if (rc != MQS_OK)
		gw_log(GW_LOG_ERR, "message %s: cannot queue: %s", a.id, mqs_strerror(rc));
	gw_alert_release(&a);
}

/* kind = sensor: a reading for the route's rules. */
static void route_sensor(struct gw_gateway *gw, const struct gw_route *r, const char *topic,
                         const uint8_t *payload, size_t len, const char *origin)
{
	gw_sensor_sample(gw, r, topic, payload, len, mqs_now_ms());
}

/* kind = medical: a record to seal, split and queue (docs/medical.md). */
static void route_medical(struct gw_gateway *gw, const struct gw_route *r, const char *topic,
                          const uint8_t *payload, size_t len, const char *origin)
{
	gw_medical_record(gw, gw->medical, r, topic, payload, len, origin);
}

/* Content for the reviewers of the levels now waiting, published now. */
static void review_publish(struct gw_gateway *gw)
{
	int n = gw_review_publish_due(&gw->store, gw->conf->status_topic, (int64_t)mqs_now_ms());

	if (n > 0 && gw->pubq != NULL)
		gw_pubq_wake(gw->pubq, 0);
	else if (n < 0)
		gw_log(GW_LOG_ERR, "cannot queue campaign content for reviewers");
}

/* kind = marketing: a campaign submitted by its author, the sealed
 * message's broker-stamped origin (docs/marketing.md, "Submitting a
 * campaign"). */
static void route_marketing(struct gw_gateway *gw, const struct gw_route *r, const char *topic,
                            const uint8_t *payload, size_t len, const char *origin)
{
	char author[GW_PRINCIPAL_MAX], cid[GW_ID_MAX + 1], err[512];
	int rc;

	if (origin == NULL) {
		gw_log(GW_LOG_WARN,
		       "route %s: refused campaign on %s: not sealed (the route topic must be "
		       "protected; nothing stored)",
		       r->name, topic);
		return;
	}
	snprintf(author, sizeof(author), "mqtt:%s", origin);
	rc = gw_review_submit(&gw->store, r, payload, len, author, "mqtt", (int64_t)mqs_now_ms(),
	                      cid, err, sizeof(err));
	if (rc != MQS_OK) {
		gw_log(GW_LOG_WARN, "route %s: refused campaign %s from %s: %s", r->name,
		       cid[0] ? cid : "-", author, err);
		return;
	}
	gw_log(GW_LOG_INFO, "campaign %s from %s stored, pending review (route %s)", cid, author,
	       r->name);
	review_publish(gw);
}

/* The state of campaign cid (gw_review_get callback). */
static int campaign_state(const struct gw_campaign_info *ci, void *arg)
{
	snprintf(arg, 20, "%s", ci->state);
	return MQS_OK;
}

/* Test hook (docs/gateway.md, "Test hooks"): MQTTSEC_GW_TEST_KILL =
 * after-approval kills the gateway right after the commit of the final
 * approval of a campaign that arrived over MQTT, before anything schedules
 * it. */
static void test_kill_after_approval(struct gw_gateway *gw, const char *cid)
{
	const char *hook = getenv("MQTTSEC_GW_TEST_KILL");
	char state[20] = "";

	if (hook == NULL || strcmp(hook, "after-approval") != 0)
		return;
	if (gw_review_get(&gw->store, cid, campaign_state, state) == MQS_OK &&
	    strcmp(state, "approved") == 0) {
		gw_log(GW_LOG_WARN, "test hook: killed after the approval of campaign %s", cid);
		raise(SIGKILL);
	}
}

/* A decision on campaign id by a reviewer over MQTT, on
 * <status_topic>/<id>/review: sealed only, strict JSON. */
static void route_review(struct gw_gateway *gw, const char *id, const uint8_t *payload, size_t len,
                         const char *origin, int retain)
{
	const cJSON *dec, *lvl, *sha, *why;
	cJSON *j = NULL;
	char principal[GW_PRINCIPAL_MAX], err[512];
	int decision, rc;

	if (origin == NULL || retain) {
		gw_log(GW_LOG_WARN, "campaign %s: refused %s review (nothing recorded)", id,
		       origin == NULL ? "an unsealed" : "a retained");
		return;
	}
	snprintf(principal, sizeof(principal), "mqtt:%s", origin);
	if (payload != NULL && len > 0 && len <= GW_REVIEW_PAYLOAD_MAX)
		j = cJSON_ParseWithLength((const char *)payload, len);
	dec = cJSON_GetObjectItemCaseSensitive(j, "decision");
	lvl = cJSON_GetObjectItemCaseSensitive(j, "level");
	sha = cJSON_GetObjectItemCaseSensitive(j, "sha256");
	why = cJSON_GetObjectItemCaseSensitive(j, "reason");
	if (!cJSON_IsObject(j) || !cJSON_IsString(dec) || !cJSON_IsString(sha) ||
	    (lvl != NULL && !cJSON_IsString(lvl)) || (why != NULL && !cJSON_IsString(why)) ||
	    cJSON_GetArraySize(j) != 2 + (lvl != NULL) + (why != NULL)) {
		gw_log(GW_LOG_WARN, "campaign %s: refused a malformed review from %s", id,
		       principal);
		goto out;
	}
	if (strcmp(dec->valuestring, "approve") == 0) {
		decision = GW_DECIDE_APPROVE;
	} else if (strcmp(dec->valuestring, "reject") == 0) {
		decision = GW_DECIDE_REJECT;
	} else {
		gw_log(GW_LOG_WARN, "campaign %s: refused a review from %s: unknown decision", id,
		       principal);
		goto out;
	}
	rc = gw_review_decide(&gw->store, id, principal, decision,
	                      lvl != NULL ? lvl->valuestring : NULL, sha->valuestring,
	                      why != NULL ? why->valuestring : NULL, "mqtt", (int64_t)mqs_now_ms(),
	                      err, sizeof(err));
	if (rc != MQS_OK) {
		gw_log(GW_LOG_WARN, "campaign %s: refused a review from %s: %s", id, principal,
		       err);
		goto out;
	}
	gw_log(GW_LOG_INFO, "campaign %s: %s by %s", id,
	       decision == GW_DECIDE_APPROVE ? "approved a level" : "rejected", principal);
	if (decision == GW_DECIDE_APPROVE) {
		test_kill_after_approval(gw, id);
		review_publish(gw);
	}
out:
	cJSON_Delete(j);
}

/* The on_message handler of every served kind, indexed by enum gw_kind
 * (names and route keys: gw_kind.c).
 * medical-join routes are matched by channel, not by topic filter (see
 * route_shares). */
struct kind_handler {
	void (*on_message)(struct gw_gateway *gw, const struct gw_route *r, const char *topic,
	                   const uint8_t *payload, size_t len, const char *origin);
};
static const struct kind_handler handlers[GW_KIND__COUNT] = {
    [GW_KIND_ALERT] = {route_alert},         [GW_KIND_SENSOR] = {route_sensor},
    [GW_KIND_MARKETING] = {route_marketing}, [GW_KIND_MEDICAL] = {route_medical},
    [GW_KIND_MEDICAL_JOIN] = {NULL}, /* route_shares */
};

/* A share on a channel (topic, broker) of medical-join routes: to each
 * such route's receiver with the channel index.  1 when some route took
 * it, else 0. */
static int route_shares(struct gw_gateway *gw, size_t broker, const char *topic,
                        const uint8_t *payload, size_t len, const char *origin, int retain)
{
	const struct gw_config *c = gw->conf;
	int taken = 0;

	for (size_t i = 0; gw->joins != NULL && i < c->nroutes; i++) {
		const struct gw_route *r = &c->routes[i];

		if (r->kind != GW_KIND_MEDICAL_JOIN || !r->enabled || gw->joins[i] == NULL)
			continue;
		for (size_t ch = 0; ch < r->nchans; ch++) {
			if (r->chans[ch].broker != broker || strcmp(r->chans[ch].topic, topic) != 0)
				continue;
			gw_medjoin_share(gw, gw->joins[i], (unsigned)ch, payload, len,
			                 (retain ? GW_MEDJOIN_RETAINED : 0) |
			                     (origin != NULL ? GW_MEDJOIN_SEALED : 0));
			taken = 1;
		}
	}
	return taken;
}

/* An acknowledgement: its payload may name the namespace it is for, as the
 * status messages give it ("route", "publisher"; docs/gateway.md,
 * "Acknowledgements"); otherwise every namespace of the id. */
static void route_ack(struct gw_gateway *gw, const char *id, const uint8_t *payload, size_t len,
                      const char *origin)
{
	cJSON *j = NULL;
	const char *route = NULL, *publisher = NULL;

	if (payload != NULL && len > 0 && len <= GW_ACK_PAYLOAD_MAX)
		j = cJSON_ParseWithLength((const char *)payload, len);
	if (cJSON_IsObject(j)) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "route");
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "publisher");

		if (cJSON_IsString(r))
			route = r->valuestring;
		if (cJSON_IsString(p))
			publisher = strcmp(p->valuestring, "-") == 0 ? "" : p->valuestring;
	}
	gw_escalation_ack_in(gw, id, origin, route, publisher, (int64_t)mqs_now_ms());
	cJSON_Delete(j);
}

/* Dispatch one message. */
void gw_route_message(struct gw_gateway *gw, size_t broker, const char *topic,
                      const uint8_t *payload, size_t len, const char *origin, int retain)
{
	const struct gw_config *c = gw->conf;
	size_t slen = strlen(c->status_topic);
	char id[GW_ID_MAX + 1];
	int matched;

	matched = route_shares(gw, broker, topic, payload, len, origin, retain);
	if (matched)
		return; /* a channel topic carries shares only, whatever else matches it */
	if (broker != 0) {
		/* [broker NAME] carries medical channels only */
		gw_log(GW_LOG_DEBUG, "message on %s from broker %s matches no route", topic,
		       c->brokers[broker < c->nbrokers ? broker : 0].name);
		return;
	}
	if (strncmp(topic, c->status_topic, slen) == 0 &&
	    (topic[slen] == '/' || topic[slen] == '\0')) {
		if (gw_route_ack_id(c->status_topic, topic, id, sizeof(id)))
			route_ack(gw, id, payload, len, origin);
		else if (gw_route_review_id(c->status_topic, topic, id, sizeof(id)))
			route_review(gw, id, payload, len, origin, retain);
		return; /* our own status tree is never routed */
	}
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct gw_route *r = &c->routes[i];

		if (!r->enabled || r->topic == NULL || r->kind == GW_KIND_MEDICAL_JOIN ||
		    !mqs_topic_matches(r->topic, topic))
			continue;
		matched = 1;
		if (retain && r->kind == GW_KIND_MEDICAL) {
			gw_medical_retained(gw, gw->medical, r, topic);
			continue;
		}
		if (retain && r->kind == GW_KIND_MARKETING) {
			gw_log(GW_LOG_WARN,
			       "route %s: refused a retained campaign on %s (nothing stored)",
			       r->name, topic);
			continue;
		}
		if (r->kind >= 0 && r->kind < GW_KIND__COUNT &&
		    handlers[r->kind].on_message != NULL)
			handlers[r->kind].on_message(gw, r, topic, payload, len, origin);
	}
	if (!matched)
		gw_log(GW_LOG_DEBUG, "message on %s matches no route", topic);
}
