/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_status.c - JSON status messages on <status_topic>/<message id>. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gw_log.h"
#include "gw_outq.h"
#include "gw_recipient.h"
#include "gw_store.h"
#include "gw_status.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_util.h"

/* The id's namespace (docs/gateway.md, "Message ids"): two publishers may
 * use the same id on the same status topic; these fields tell them apart. */
static void add_ns(cJSON *o, const char *msg_id, const char *route, const char *publisher)
{
	cJSON_AddStringToObject(o, "id", msg_id);
	cJSON_AddStringToObject(o, "route", route != NULL ? route : "");
	cJSON_AddStringToObject(o, "publisher", publisher != NULL ? publisher : "");
}

/* Point st at its store, topic and queue. */
void gw_status_init(struct gw_status *st, struct gw_store *store, const char *topic,
                    struct gw_outq *out)
{
	st->store = store;
	st->status_topic = topic;
	st->out = out;
}

/* Queue o (consumed) on <status_topic>/<msg_id>. */
static void publish(struct gw_status *st, const char *msg_id, cJSON *o)
{
	char topic[1200];
	char *text;

	if (st == NULL || st->out == NULL || o == NULL) {
		cJSON_Delete(o);
		return;
	}
	cJSON_AddNumberToObject(o, "ts", (double)mqs_now_ms());
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL)
		return;
	snprintf(topic, sizeof(topic), "%s/%s", st->status_topic, msg_id);
	/* a full queue counts the drop (gw_outq.h): status is best effort */
	if (gw_outq_push(st->out, topic, text, strlen(text)) != MQS_OK)
		gw_log(GW_LOG_DEBUG, "cannot queue status for %s", msg_id);
	cJSON_free(text);
}

/* Publish one delivery state. */
void gw_status_delivery(struct gw_status *st, const char *msg_id, const char *route,
                        const char *publisher, const char *recipient, const char *channel,
                        const char *state, int attempts, const char *error,
                        const char *provider_ref, int64_t next_attempt_at)
{
	cJSON *o;

	if (st == NULL || st->out == NULL)
		return;
	o = cJSON_CreateObject();
	if (o == NULL)
		return;
	add_ns(o, msg_id, route, publisher);
	cJSON_AddStringToObject(o, "recipient", recipient);
	cJSON_AddStringToObject(o, "channel", channel);
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddNumberToObject(o, "attempts", attempts);
	if (provider_ref != NULL && *provider_ref != '\0')
		cJSON_AddStringToObject(o, "provider_ref", provider_ref);
	else
		cJSON_AddNullToObject(o, "provider_ref");
	if (error != NULL && *error != '\0')
		cJSON_AddStringToObject(o, "error", error);
	else
		cJSON_AddNullToObject(o, "error");
	cJSON_AddNumberToObject(o, "next_attempt_at", (double)next_attempt_at);
	publish(st, msg_id, o);
}

/* "queued" for the fresh rows of a message. */
void gw_status_queued(struct gw_status *s, int64_t msg_rowid, int step)
{
	sqlite3_stmt *st;

	if (s == NULL || s->out == NULL)
		return;
	st = gw_store_stmt(
	    s->store, "SELECT m.msg_id, o.recipient, o.channel, o.next_attempt_at, m.route, "
	              "m.publisher FROM outbox o "
	              "JOIN messages m ON m.id = o.message WHERE o.message = ? AND +o.step = ? "
	              "AND +o.state = 'queued' AND +o.attempts = 0");

	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, msg_rowid);
	sqlite3_bind_int(st, 2, step);
	while (sqlite3_step(st) == SQLITE_ROW)
		gw_status_delivery(s, (const char *)sqlite3_column_text(st, 0),
		                   (const char *)sqlite3_column_text(st, 4),
		                   (const char *)sqlite3_column_text(st, 5),
		                   (const char *)sqlite3_column_text(st, 1),
		                   (const char *)sqlite3_column_text(st, 2), "queued", 0, NULL,
		                   NULL, sqlite3_column_int64(st, 3));
	gw_store_done(st);
}

/* Escalation events. */
void gw_status_event(struct gw_status *s, int64_t msg_rowid, const char *event, const char *channel,
                     int step, const char *by)
{
	char msg_id[GW_ID_MAX + 1], route[GW_NAME_MAX + 1], publisher[256];
	sqlite3_stmt *st;
	cJSON *o;

	if (s == NULL || s->out == NULL)
		return;
	st = gw_store_stmt(s->store, "SELECT msg_id, route, publisher FROM messages WHERE id = ?");
	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, msg_rowid);
	if (sqlite3_step(st) != SQLITE_ROW) {
		gw_store_done(st);
		return;
	}
	snprintf(msg_id, sizeof(msg_id), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(route, sizeof(route), "%s", (const char *)sqlite3_column_text(st, 1));
	snprintf(publisher, sizeof(publisher), "%s", (const char *)sqlite3_column_text(st, 2));
	gw_store_done(st);
	o = cJSON_CreateObject();
	if (o == NULL)
		return;
	add_ns(o, msg_id, route, publisher);
	cJSON_AddStringToObject(o, "event", event);
	if (by != NULL)
		cJSON_AddStringToObject(o, "by", by);
	if (channel != NULL)
		cJSON_AddStringToObject(o, "channel", channel);
	if (step >= 0)
		cJSON_AddNumberToObject(o, "step", step);
	publish(s, msg_id, o);
}
