/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_outq.c - the outgoing MQTT queue (gw_outq.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gw_outq.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"

/* An empty queue. */
void gw_outq_init(struct gw_outq *q)
{
	memset(q, 0, sizeof(*q));
}

/* Free one message's copies. */
static void msg_free(struct gw_outq_msg *m)
{
	mqs_free(m->topic);
	mqs_free(m->payload);
	m->topic = NULL;
	m->payload = NULL;
}

/* Free every message and the ring. */
void gw_outq_release(struct gw_outq *q)
{
	if (q == NULL)
		return;
	while (q->n > 0)
		gw_outq_pop(q);
	mqs_free(q->msgs);
	q->msgs = NULL;
	q->cap = 0;
	q->head = 0;
}

/* Make room for one more message: unwrap the ring into a bigger block. */
static int grow(struct gw_outq *q)
{
	struct gw_outq_msg *old = q->msgs, *arr = NULL;
	size_t cap = 0, oldcap = q->cap;
	int rc;

	if (q->n < q->cap)
		return MQS_OK;
	rc = mqs_array_reserve((void **)&arr, &cap, q->n + 1 < 64 ? 64 : q->n * 2, sizeof(*arr),
	                       GW_OUTQ_MAX, 0);
	if (rc == MQS_ERR_TOOBIG && q->n < GW_OUTQ_MAX)
		rc = mqs_array_reserve((void **)&arr, &cap, GW_OUTQ_MAX, sizeof(*arr), GW_OUTQ_MAX,
		                       0);
	if (rc != MQS_OK)
		return rc;
	for (size_t i = 0; i < q->n; i++)
		arr[i] = old[(q->head + i) % oldcap];
	mqs_free(old);
	q->msgs = arr;
	q->cap = cap;
	q->head = 0;
	return MQS_OK;
}

/* Append a copy. */
int gw_outq_push(struct gw_outq *q, const char *topic, const void *payload, size_t len)
{
	struct gw_outq_msg m = {NULL, NULL, len};
	int rc = grow(q);

	if (rc != MQS_OK)
		goto out;
	rc = MQS_ERR_NOMEM;
	m.topic = mqs_strdup(topic);
	m.payload = mqs_malloc(len + 1);
	if (m.topic == NULL || m.payload == NULL)
		goto out;
	memcpy(m.payload, payload, len);
	m.payload[len] = '\0';
	q->msgs[(q->head + q->n) % q->cap] = m;
	q->n++;
	rc = MQS_OK;
out:
	if (rc != MQS_OK) {
		msg_free(&m);
		q->dropped++;
	}
	return rc;
}

/* The oldest message. */
const struct gw_outq_msg *gw_outq_head(const struct gw_outq *q)
{
	return q->n > 0 ? &q->msgs[q->head] : NULL;
}

/* Drop the oldest message. */
void gw_outq_pop(struct gw_outq *q)
{
	if (q->n == 0)
		return;
	msg_free(&q->msgs[q->head]);
	q->head = (q->head + 1) % q->cap;
	q->n--;
	q->popped++;
}
