/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-hold.c - the in-memory queue of acknowledged messages waiting for
 * the database: order, copies, caps, backoff. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "gw_hold.h"
#include "tap.h"

static const uint8_t *bytes(const char *s)
{
	return (const uint8_t *)s;
}

static void test_order_and_copies(void)
{
	struct gw_hold *h = gw_hold_new(10, 4096);
	char topic[32] = "alerts/a", payload[32] = "{\"id\":\"a-1\"}";
	const struct gw_hold_msg *m;

	tap_ok(h != NULL, "queue created");
	tap_ok(gw_hold_head(h) == NULL && gw_hold_count(h) == 0 && gw_hold_next_try(h) == 0,
	       "empty at first, no retry due");
	tap_is_int(gw_hold_push(h, topic, bytes(payload), strlen(payload), "alice", 1, 0, 1000), 0,
	           "first message held");
	/* the caller's buffers are reused: the queue must keep copies */
	snprintf(topic, sizeof(topic), "alerts/b");
	snprintf(payload, sizeof(payload), "{\"id\":\"a-2\"}");
	tap_is_int(gw_hold_push(h, topic, bytes(payload), strlen(payload), NULL, 1, 0, 1005), 0,
	           "second message held");
	tap_is_int((long long)gw_hold_count(h), 2, "two held");
	tap_is_int((long long)gw_hold_next_try(h), 1000 + GW_HOLD_RETRY_MIN_MS,
	           "first retry one minimum delay after the first message");
	m = gw_hold_head(h);
	tap_ok(m != NULL && strcmp(m->topic, "alerts/a") == 0 &&
	           strcmp((const char *)m->payload, "{\"id\":\"a-1\"}") == 0 &&
	           m->len == strlen("{\"id\":\"a-1\"}") && m->origin != NULL &&
	           strcmp(m->origin, "alice") == 0 && m->qos == 1 && m->held_at == 1000,
	       "oldest first, copied with its origin and qos");
	gw_hold_pop(h);
	m = gw_hold_head(h);
	tap_ok(m != NULL && strcmp(m->topic, "alerts/b") == 0 && m->origin == NULL,
	       "then the next, without origin");
	gw_hold_pop(h);
	tap_ok(gw_hold_head(h) == NULL && gw_hold_count(h) == 0 && gw_hold_bytes(h) == 0 &&
	           gw_hold_next_try(h) == 0,
	       "empty again, no bytes charged");
	gw_hold_pop(h); /* popping an empty queue is harmless */
	tap_is_int(gw_hold_push(h, "t", bytes(""), 0, NULL, 1, 0, 5000), 0, "empty payload held");
	tap_ok(gw_hold_head(h)->len == 0 && gw_hold_head(h)->payload[0] == '\0',
	       "empty payload NUL-terminated");
	gw_hold_free(h); /* frees what is left */
	gw_hold_free(NULL);
}

static void test_caps(void)
{
	struct gw_hold *h = gw_hold_new(3, 100000);
	uint8_t big[2000];
	int i, kept = 0;

	memset(big, 'x', sizeof(big));
	for (i = 0; i < 5; i++)
		kept += gw_hold_push(h, "t", bytes("p"), 1, NULL, 1, 0, 1) == 0;
	tap_is_int(kept, 3, "count cap: 3 of 5 kept");
	tap_is_int((long long)gw_hold_dropped(h), 2, "two counted as dropped");
	gw_hold_pop(h);
	tap_is_int(gw_hold_push(h, "t", bytes("p"), 1, NULL, 1, 0, 1), 0, "room again after a pop");
	gw_hold_free(h);

	h = gw_hold_new(100, 5000);
	kept = 0;
	for (i = 0; i < 5; i++)
		kept += gw_hold_push(h, "t", big, sizeof(big), NULL, 1, 0, 1) == 0;
	tap_is_int(kept, 2, "byte cap: two 2000-byte payloads fit in 5000 bytes");
	tap_ok(gw_hold_bytes(h) <= 5000 && gw_hold_bytes(h) >= 2 * sizeof(big),
	       "bytes charged: %zu", gw_hold_bytes(h));
	tap_is_int(gw_hold_push(h, "t", bytes("p"), 1, NULL, 1, 0, 1), 0,
	           "a small message still fits");
	gw_hold_free(h);

	h = gw_hold_new(100, 1000);
	tap_ok(gw_hold_push(h, "t", big, sizeof(big), NULL, 1, 0, 1) != 0 && gw_hold_count(h) == 0,
	       "a message larger than the whole cap is refused");
	gw_hold_free(h);
}

static void test_backoff(void)
{
	struct gw_hold *h = gw_hold_new(10, 4096);
	uint64_t now = 10000, prev = GW_HOLD_RETRY_MIN_MS, d;
	int doubling = 1, capped = 0;

	gw_hold_push(h, "t", bytes("p"), 1, NULL, 1, 0, now);
	gw_hold_push(h, "t", bytes("q"), 1, NULL, 1, 0, now);
	for (int i = 0; i < 12; i++) {
		gw_hold_failed(h, now);
		d = gw_hold_next_try(h) - now;
		if (d != (prev * 2 > GW_HOLD_RETRY_MAX_MS ? GW_HOLD_RETRY_MAX_MS : prev * 2))
			doubling = 0;
		capped = d == GW_HOLD_RETRY_MAX_MS;
		prev = d;
		now += d;
	}
	tap_ok(doubling, "each failed retry doubles the wait");
	tap_ok(capped, "the wait is capped at %d ms", GW_HOLD_RETRY_MAX_MS);
	gw_hold_pop(h);
	tap_ok(gw_hold_next_try(h) <= now, "after a commit the next message is due at once");
	gw_hold_failed(h, now);
	tap_is_int((long long)(gw_hold_next_try(h) - now), 2 * GW_HOLD_RETRY_MIN_MS,
	           "and the backoff started over");
	gw_hold_free(h);
}

int main(void)
{
	test_order_and_copies();
	test_caps();
	test_backoff();
	return tap_exit();
}
