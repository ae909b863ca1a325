/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_sensor.c - sensor routes: readings, the per-topic state machine of
 * each rule (the rule language is gw_rule.c), alerts and recovery notices. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway.h"
#include "gw_alert.h"
#include "gw_ladder.h"
#include "gw_log.h"
#include "gw_outbox.h"
#include "gw_recipient.h"
#include "gw_rule.h"
#include "gw_sensor.h"
#include "gw_submit.h"
#include "gw_util.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_utf8.h"
#include "mqs_util.h"

_Static_assert(GW_RULE_TITLE_MAX == GW_TITLE_MAX, "rule titles are alert titles");

/* The state machine of one rule on one topic. */
int gw_sensor_step(const struct gw_rule *r, double hysteresis, struct gw_sstate *st, int have_value,
                   double v, uint64_t now_ms, int *changed)
{
	*changed = 0;
	if (have_value)
		st->last = v;
	switch (st->state) {
	case GW_SS_NORMAL:
		if (!have_value || !gw_rule_holds(r, v, 0))
			return GW_SE_NONE;
		*changed = 1;
		if (r->hold_ms == 0) {
			st->state = GW_SS_ACTIVE;
			st->seq++;
			return GW_SE_FIRE;
		}
		st->state = GW_SS_PENDING;
		st->since_ms = now_ms;
		return GW_SE_NONE;
	case GW_SS_PENDING:
		if (have_value && !gw_rule_holds(r, v, 0)) {
			st->state = GW_SS_NORMAL;
			*changed = 1;
			return GW_SE_NONE;
		}
		if (now_ms >= st->since_ms && now_ms - st->since_ms >= r->hold_ms) {
			st->state = GW_SS_ACTIVE;
			st->seq++;
			*changed = 1;
			return GW_SE_FIRE;
		}
		return GW_SE_NONE;
	default:
		/* re-arm only once back past threshold -/+ hysteresis */
		if (have_value && !gw_rule_holds(r, v, hysteresis)) {
			st->state = GW_SS_NORMAL;
			*changed = 1;
			return GW_SE_RECOVER;
		}
		return GW_SE_NONE;
	}
}

/* A JSON number, or a string holding one: MQS_OK with *v, else
 * MQS_ERR_PARSE. */
static int json_number(const cJSON *item, double *v)
{
	char *end = NULL;

	if (cJSON_IsNumber(item)) {
		*v = item->valuedouble;
		return isfinite(*v) ? MQS_OK : MQS_ERR_PARSE;
	}
	if (cJSON_IsString(item)) {
		errno = 0;
		*v = strtod(item->valuestring, &end);
		if (end == item->valuestring || errno != 0 || !isfinite(*v))
			return MQS_ERR_PARSE;
		while (isspace((unsigned char)*end))
			end++;
		return *end == '\0' ? MQS_OK : MQS_ERR_PARSE;
	}
	return MQS_ERR_PARSE;
}

/* A reading from a numeric payload or a JSON field. */
int gw_sensor_reading(const char *field, const uint8_t *payload, size_t len, double *v, char *err,
                      size_t errlen)
{
	char buf[64];
	cJSON *root, *item;
	const char *p;
	char *end = NULL;

	if (field == NULL) {
		size_t a = 0, b = len;

		while (a < b && isspace(payload[a]))
			a++;
		while (b > a && isspace(payload[b - 1]))
			b--;
		if (b == a || b - a >= sizeof(buf)) {
			snprintf(err, errlen, "payload is not a number");
			return MQS_ERR_PARSE;
		}
		memcpy(buf, payload + a, b - a);
		buf[b - a] = '\0';
		errno = 0;
		*v = strtod(buf, &end);
		if (end == buf || *end != '\0' || errno != 0 || !isfinite(*v)) {
			snprintf(err, errlen, "payload is not a number");
			return MQS_ERR_PARSE;
		}
		return MQS_OK;
	}
	if (len > 64 * 1024) {
		snprintf(err, errlen, "payload too large");
		return MQS_ERR_PARSE;
	}
	root = cJSON_ParseWithLength((const char *)payload, len);
	if (root == NULL || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		snprintf(err, errlen, "payload is not a JSON object");
		return MQS_ERR_PARSE;
	}
	item = root;
	p = field;
	while (*p != '\0' && item != NULL) {
		char key[128];
		size_t n = 0;

		while (*p != '\0' && *p != '.' && n + 1 < sizeof(key))
			key[n++] = *p++;
		key[n] = '\0';
		if (*p == '.')
			p++;
		item = cJSON_IsObject(item) ? cJSON_GetObjectItemCaseSensitive(item, key) : NULL;
	}
	if (item == NULL || json_number(item, v) != MQS_OK) {
		cJSON_Delete(root);
		snprintf(err, errlen, "field %s missing or not a number", field);
		return MQS_ERR_PARSE;
	}
	cJSON_Delete(root);
	return MQS_OK;
}

/* ---- runtime ---------------------------------------------------------- */

struct snode {
	const struct gw_route *route;
	size_t rule;
	char *topic;
	struct gw_sstate st;
	char alert_id[GW_ID_MAX + 1]; /* id of the active excursion's alert, "" = none */
	struct snode *next;
};

struct gw_sensor {
	struct snode *head;
	uint64_t next_due; /* earliest hold end found by the last scan (0 = none) */
	int dirty;         /* a hold started since the last scan */
};

/* The enabled sensor route called name, or NULL (a route since removed). */
static const struct gw_route *find_route(const struct gw_config *c, const char *name)
{
	for (size_t i = 0; i < c->nroutes; i++) {
		if (c->routes[i].kind == GW_KIND_SENSOR && c->routes[i].enabled &&
		    strcmp(c->routes[i].name, name) == 0)
			return &c->routes[i];
	}
	return NULL;
}

/* A new state node for (route, rule, topic), in state NORMAL; NULL when out
 * of memory. */
static struct snode *node_add(struct gw_sensor *s, const struct gw_route *r, size_t rule,
                              const char *topic)
{
	struct snode *n = mqs_calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->topic = mqs_strdup(topic);
	if (n->topic == NULL) {
		mqs_free(n);
		return NULL;
	}
	n->route = r;
	n->rule = rule;
	n->next = s->head;
	s->head = n;
	return n;
}

/* Create and load state. */
struct gw_sensor *gw_sensor_new(struct gw_gateway *gw)
{
	struct gw_sensor *s = mqs_calloc(1, sizeof(*s));
	sqlite3_stmt *st;

	if (s == NULL)
		return NULL;
	st = gw_store_prepare(&gw->store, "SELECT route, topic, rule, state, since_ms, seq, "
	                                  "last_value, alert_id FROM sensor_state");
	if (st == NULL) {
		mqs_free(s);
		return NULL;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const struct gw_route *r =
		    find_route(gw->conf, (const char *)sqlite3_column_text(st, 0));
		int rule = sqlite3_column_int(st, 2);
		struct snode *n;

		if (r == NULL || rule < 0 || (size_t)rule >= r->nrules)
			continue;
		n = node_add(s, r, (size_t)rule, (const char *)sqlite3_column_text(st, 1));
		if (n == NULL)
			break;
		n->st.state = sqlite3_column_int(st, 3);
		n->st.since_ms = (uint64_t)sqlite3_column_int64(st, 4);
		n->st.seq = (uint32_t)sqlite3_column_int64(st, 5);
		n->st.last = sqlite3_column_double(st, 6);
		if (sqlite3_column_type(st, 7) == SQLITE_TEXT)
			snprintf(n->alert_id, sizeof(n->alert_id), "%s",
			         (const char *)sqlite3_column_text(st, 7));
		/* a hold in progress needs fresh readings after a restart */
		if (n->st.state == GW_SS_PENDING || n->st.state < 0 || n->st.state > GW_SS_ACTIVE)
			n->st.state = GW_SS_NORMAL;
	}
	sqlite3_finalize(st);
	return s;
}

/* Free. */
void gw_sensor_free(struct gw_sensor *s)
{
	struct snode *n, *next;

	if (s == NULL)
		return;
	for (n = s->head; n != NULL; n = next) {
		next = n->next;
		mqs_free(n->topic);
		mqs_free(n);
	}
	mqs_free(s);
}

/* Save n's state (inside the caller's transaction, if any): MQS_OK or
 * MQS_ERR_DB (logged). */
static int persist(struct gw_gateway *gw, const struct snode *n)
{
	sqlite3_stmt *st = gw_store_stmt(
	    &gw->store, "INSERT INTO sensor_state(route, topic, rule, state, since_ms, seq, "
	                "last_value, alert_id) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(route, topic, "
	                "rule) DO UPDATE SET state = excluded.state, since_ms = excluded.since_ms, "
	                "seq = excluded.seq, last_value = excluded.last_value, "
	                "alert_id = excluded.alert_id");
	int rc = MQS_ERR_DB;

	if (st == NULL)
		return MQS_ERR_DB;
	sqlite3_bind_text(st, 1, n->route->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, n->topic, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)n->rule);
	sqlite3_bind_int(st, 4, n->st.state);
	sqlite3_bind_int64(st, 5, (int64_t)n->st.since_ms);
	sqlite3_bind_int64(st, 6, n->st.seq);
	sqlite3_bind_double(st, 7, n->st.last);
	if (n->alert_id[0] != '\0')
		sqlite3_bind_text(st, 8, n->alert_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = MQS_OK;
	else
		gw_log(GW_LOG_ERR, "db: cannot save sensor state: %s",
		       sqlite3_errmsg(gw->store.db));
	gw_store_done(st);
	return rc;
}

/* Expand {value} {topic} {threshold} {route} in tmpl into out. */
static void expand(const char *tmpl, const struct snode *n, char *out, size_t cap)
{
	const struct gw_rule *r = &n->route->rules[n->rule];
	size_t used = 0;

	out[0] = '\0';
	for (const char *p = tmpl; *p != '\0' && used + 1 < cap;) {
		char piece[256];
		const char *rep = NULL;
		size_t skip = 0;

		if (strncmp(p, "{value}", 7) == 0) {
			snprintf(piece, sizeof(piece), "%g", n->st.last);
			rep = piece;
			skip = 7;
		} else if (strncmp(p, "{threshold}", 11) == 0) {
			snprintf(piece, sizeof(piece), "%g", r->threshold);
			rep = piece;
			skip = 11;
		} else if (strncmp(p, "{topic}", 7) == 0) {
			rep = n->topic;
			skip = 7;
		} else if (strncmp(p, "{route}", 7) == 0) {
			rep = n->route->name;
			skip = 7;
		}
		if (rep != NULL) {
			int w = snprintf(out + used, cap - used, "%s", rep);
			used += w < 0 ? 0 : (size_t)w;
			if (used >= cap)
				used = cap - 1;
			p += skip;
		} else {
			out[used++] = *p++;
			out[used] = '\0';
		}
	}
}

/* The alert id of an excursion started before ids were random (state
 * saved by an older version): its recovery must still find it. */
static void legacy_id(const struct snode *n, char *out, size_t cap)
{
	snprintf(out, cap, "sensor-%s-r%zu-%08x-%u", n->route->name, n->rule + 1,
	         gw_fnv1a(n->topic), n->st.seq);
}

/* Sensor alert ids are unpredictable: "sensor-<route>-<128 random bits>",
 * the recovery "<alert id>-ok" (docs/gateway.md, "Message ids"). */
int gw_sensor_make_id(const char *route, char *out, size_t cap)
{
	char prefix[GW_NAME_MAX + 16];

	snprintf(prefix, sizeof(prefix), "sensor-%s", route);
	return gw_alert_random_id(prefix, out, cap);
}

/* A sensor alert or recovery on its way into the store (the arg of its
 * gw_submit job). */
struct emit_job {
	struct snode *n;
	const struct gw_alert *a;
	const char *alert_id; /* the excursion's alert */
	int event;
	int64_t now;
	size_t nrows;
};

/* Inside the transaction: the message, the end of its escalation (a
 * recovery) and the new state.  Failures are logged here. */
static int emit_tx(struct gw_gateway *gw, struct gw_submit_job *job)
{
	struct emit_job *ej = job->arg;
	struct snode *n = ej->n;
	int rc, stopped = 0;

	job->step = 0;
	rc = gw_alert_queue_tx(&gw->store, gw->conf, ej->a, n->route->name, n->topic, "sensor",
	                       NULL, GW_PUBLISHER_SELF, ej->now, &job->rowid, &ej->nrows);
	if (rc == MQS_ERR_EXISTS) {
		gw_log(GW_LOG_WARN, "message %s already exists (sensor state was reset?)",
		       ej->a->id);
		rc = MQS_OK;
		job->rowid = 0;
	}
	if (rc == MQS_OK && ej->event == GW_SE_RECOVER)
		rc = gw_ladder_resolve_tx(&gw->store, n->route->name, GW_PUBLISHER_SELF,
		                          ej->alert_id, ej->now, &stopped);
	if (rc == MQS_OK && persist(gw, n) != 0)
		rc = MQS_ERR_DB;
	if (rc == MQS_ERR_NOENT)
		gw_log(GW_LOG_WARN,
		       "route %s: refused sensor %s on %s: no group %s "
		       "(nothing recorded; the next reading tries again)",
		       n->route->name, ej->event == GW_SE_FIRE ? "alert" : "recovery", n->topic,
		       ej->a->group);
	else if (rc != MQS_OK)
		gw_log(GW_LOG_ERR, "route %s: cannot queue sensor %s", n->route->name,
		       ej->event == GW_SE_FIRE ? "alert" : "recovery");
	return rc;
}

/* Queue the alert (or recovery notice) of an excursion, with the new state,
 * in one transaction.  Returns 0, or -1 when nothing was stored. */
static int emit(struct gw_gateway *gw, struct snode *n, int event)
{
	const struct gw_rule *r = &n->route->rules[n->rule];
	char title[GW_TITLE_MAX * 2], body[GW_BODY_MAX], desc[96], alert_id[GW_ID_MAX + 1];
	char saved_id[GW_ID_MAX + 1];
	struct gw_alert a;
	struct emit_job ej = {n, &a, alert_id, event, (int64_t)mqs_now_ms(), 0};
	struct gw_submit_job job = {.durability = GW_DURABLE_NOW, .tx = emit_tx, .arg = &ej};

	memset(&a, 0, sizeof(a));
	gw_rule_describe(r, desc, sizeof(desc));
	if (r->title != NULL)
		expand(r->title, n, title, sizeof(title));
	else
		snprintf(title, sizeof(title), "%s: %s", n->route->name, desc);
	if (event == GW_SE_FIRE) {
		if (r->body != NULL)
			expand(r->body, n, body, sizeof(body));
		else
			snprintf(body, sizeof(body), "%.300s: value %g (rule: %s)", n->topic,
			         n->st.last, desc);
		if (gw_sensor_make_id(n->route->name, a.id, sizeof(a.id)) != 0) {
			gw_log(GW_LOG_ERR, "route %s: cannot draw a random alert id",
			       n->route->name);
			return -1;
		}
		snprintf(alert_id, sizeof(alert_id), "%s", a.id);
		a.severity = r->severity;
	} else {
		char t2[sizeof(title)];

		snprintf(t2, sizeof(t2), "Recovered: %.380s", title);
		memcpy(title, t2, sizeof(title));
		title[sizeof(title) - 1] = '\0';
		snprintf(body, sizeof(body), "%.300s: value %g is back within limits (rule: %s)",
		         n->topic, n->st.last, desc);
		if (n->alert_id[0] != '\0')
			snprintf(alert_id, sizeof(alert_id), "%s", n->alert_id);
		else
			legacy_id(n, alert_id, sizeof(alert_id));
		snprintf(a.id, sizeof(a.id), "%.*s-ok", GW_ID_MAX - 3, alert_id);
		a.severity = GW_SEV_INFO;
	}
	title[mqs_utf8_cut((const uint8_t *)title, strlen(title), GW_TITLE_MAX)] = '\0';
	for (char *p = title; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	}
	snprintf(a.group, sizeof(a.group), "%s", r->group != NULL ? r->group : n->route->group);
	a.title = title;
	a.body = body;
	a.chan_mask = r->chan_mask;
	a.has_channels = r->has_channels;
	/* the excursion's alert id is saved with the state, for its recovery */
	snprintf(saved_id, sizeof(saved_id), "%s", n->alert_id);
	if (event == GW_SE_FIRE)
		snprintf(n->alert_id, sizeof(n->alert_id), "%s", alert_id);
	else
		n->alert_id[0] = '\0';
	/* committed durable at once: nobody would send this excursion again */
	if (gw_submit(gw, &job) != MQS_OK) {
		snprintf(n->alert_id, sizeof(n->alert_id), "%s", saved_id);
		return -1;
	}
	gw_log(GW_LOG_INFO, "route %s: %s on %s (%s): message %s, %zu deliveries queued",
	       n->route->name, event == GW_SE_FIRE ? "alert" : "recovery", n->topic, desc, a.id,
	       ej.nrows);
	return 0;
}

/* Step one rule on one topic and apply the outcome: emit an alert or a
 * recovery, or save the new state; on failure the state is as before. */
static void advance(struct gw_gateway *gw, struct snode *n, int have_value, double v,
                    uint64_t now_ms)
{
	const struct gw_rule *r = &n->route->rules[n->rule];
	double h = r->has_hysteresis ? r->hysteresis : n->route->hysteresis;
	struct gw_sstate before = n->st;
	int changed = 0;
	int ev = gw_sensor_step(r, h, &n->st, have_value, v, now_ms, &changed);

	if (n->st.state == GW_SS_PENDING && before.state != GW_SS_PENDING)
		gw->sensor->dirty = 1;
	if (ev != GW_SE_NONE) {
		/* on failure the reading is as if unseen: the next one retries */
		if (emit(gw, n, ev) != 0)
			n->st = before;
		return;
	}
	if (changed && persist(gw, n) != 0)
		n->st = before;
}

/* A reading for a sensor route. */
void gw_sensor_sample(struct gw_gateway *gw, const struct gw_route *r, const char *topic,
                      const uint8_t *payload, size_t len, uint64_t now_ms)
{
	struct gw_sensor *s = gw->sensor;
	char err[160];
	double v;

	if (s == NULL)
		return;
	if (gw_sensor_reading(r->field, payload, len, &v, err, sizeof(err)) != 0) {
		gw_log(GW_LOG_WARN, "route %s: dropped reading on %s: %s", r->name, topic, err);
		return;
	}
	for (size_t i = 0; i < r->nrules; i++) {
		struct snode *n;

		for (n = s->head; n != NULL; n = n->next) {
			if (n->route == r && n->rule == i && strcmp(n->topic, topic) == 0)
				break;
		}
		if (n == NULL) {
			n = node_add(s, r, i, topic);
			if (n == NULL) {
				gw_log(GW_LOG_ERR, "out of memory");
				return;
			}
		}
		advance(gw, n, 1, v, now_ms);
	}
}

/* Fire rules whose hold time passed without new readings. */
uint64_t gw_sensor_tick(struct gw_gateway *gw, uint64_t now_ms)
{
	struct gw_sensor *s = gw->sensor;
	uint64_t next = 0;

	if (s == NULL)
		return 0;
	if (!s->dirty && (s->next_due == 0 || now_ms < s->next_due))
		return s->next_due; /* nothing can be due: no scan */
	s->dirty = 0;
	for (struct snode *n = s->head; n != NULL; n = n->next) {
		const struct gw_rule *r = &n->route->rules[n->rule];
		uint64_t due;

		if (n->st.state != GW_SS_PENDING)
			continue;
		due = n->st.since_ms + r->hold_ms;
		if (due <= now_ms)
			advance(gw, n, 0, 0, now_ms);
		if (n->st.state == GW_SS_PENDING) {
			/* still pending: not due yet, or a failed write to retry */
			due = due > now_ms ? due : now_ms + 1000;
			if (next == 0 || due < next)
				next = due;
		}
	}
	s->next_due = next;
	return next;
}
