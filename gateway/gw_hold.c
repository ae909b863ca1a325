/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_hold.c - acknowledged messages waiting for the database, in memory. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gw_hold.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define MSG_OVERHEAD 64 /* charged per message besides its strings */

struct gw_hold {
	struct gw_hold_msg *head, *tail;
	size_t count, bytes;
	size_t max_msgs, max_bytes;
	unsigned long dropped;
	uint64_t next_try;
	uint64_t delay_ms; /* the wait before next_try */
};

/* Create an empty queue. */
struct gw_hold *gw_hold_new(size_t max_msgs, size_t max_bytes)
{
	struct gw_hold *h = mqs_calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->max_msgs = max_msgs;
	h->max_bytes = max_bytes;
	h->delay_ms = GW_HOLD_RETRY_MIN_MS;
	return h;
}

/* Free one message, its payload wiped.  NULL is fine. */
static void msg_free(struct gw_hold_msg *m)
{
	if (m == NULL)
		return;
	mqs_free(m->topic);
	if (m->payload != NULL)
		mqs_secret_free(m->payload, m->len + 1);
	mqs_free(m->origin);
	mqs_free(m);
}

/* Free with every message. */
void gw_hold_free(struct gw_hold *h)
{
	if (h == NULL)
		return;
	while (h->head != NULL)
		gw_hold_pop(h);
	mqs_free(h);
}

/* Append a copy. */
int gw_hold_push(struct gw_hold *h, const char *topic, const uint8_t *payload, size_t len,
                 const char *origin, int qos, int retain, uint64_t now_ms)
{
	struct gw_hold_msg *m = NULL;
	size_t tlen = strlen(topic), olen = origin != NULL ? strlen(origin) : 0;
	size_t cost = MSG_OVERHEAD + tlen + len + olen;
	int rc = MQS_ERR_TOOBIG;

	if (h->count >= h->max_msgs || cost > h->max_bytes || h->bytes > h->max_bytes - cost)
		goto out;
	rc = MQS_ERR_NOMEM;
	m = mqs_calloc(1, sizeof(*m));
	if (m == NULL)
		goto out;
	m->topic = mqs_strdup(topic);
	m->payload = mqs_malloc(len + 1);
	if (origin != NULL)
		m->origin = mqs_strdup(origin);
	if (m->topic == NULL || m->payload == NULL || (origin != NULL && m->origin == NULL))
		goto out;
	if (len > 0)
		memcpy(m->payload, payload, len);
	m->payload[len] = '\0';
	m->len = len;
	m->qos = qos;
	m->retain = retain;
	m->held_at = now_ms;
	m->cost = cost;
	if (h->head == NULL) {
		h->head = m;
		h->delay_ms = GW_HOLD_RETRY_MIN_MS;
		h->next_try = now_ms + h->delay_ms;
	} else {
		h->tail->next = m;
	}
	h->tail = m;
	h->count++;
	h->bytes += cost;
	m = NULL;
	rc = MQS_OK;
out:
	if (rc != MQS_OK)
		h->dropped++;
	msg_free(m);
	return rc;
}

/* The oldest. */
const struct gw_hold_msg *gw_hold_head(const struct gw_hold *h)
{
	return h->head;
}

/* Drop the oldest. */
void gw_hold_pop(struct gw_hold *h)
{
	struct gw_hold_msg *m = h->head;

	if (m == NULL)
		return;
	h->head = m->next;
	if (h->head == NULL) {
		h->tail = NULL;
		h->next_try = 0;
	}
	h->count--;
	h->bytes -= m->cost;
	h->delay_ms = GW_HOLD_RETRY_MIN_MS;
	msg_free(m);
}

/* Messages held (0 for NULL). */
size_t gw_hold_count(const struct gw_hold *h)
{
	return h != NULL ? h->count : 0;
}

/* Bytes held. */
size_t gw_hold_bytes(const struct gw_hold *h)
{
	return h->bytes;
}

/* Messages refused. */
unsigned long gw_hold_dropped(const struct gw_hold *h)
{
	return h->dropped;
}

/* Next retry. */
uint64_t gw_hold_next_try(const struct gw_hold *h)
{
	return h->head != NULL ? h->next_try : 0;
}

/* A retry failed: back off. */
void gw_hold_failed(struct gw_hold *h, uint64_t now_ms)
{
	h->delay_ms *= 2;
	if (h->delay_ms > GW_HOLD_RETRY_MAX_MS)
		h->delay_ms = GW_HOLD_RETRY_MAX_MS;
	h->next_try = now_ms + h->delay_ms;
}
