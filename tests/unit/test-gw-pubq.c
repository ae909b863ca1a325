/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-pubq.c - the durable per-broker publish queue (docs/medical.md,
 * "Sending"): rows inserted inside the caller's transaction, claimed per
 * broker oldest first and never twice while in flight, deleted on PUBACK
 * only, sent again after a dropped connection or a restart, one broker's
 * window independent of the others. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_log.h"
#include "gw_pubq.h"
#include "gw_store.h"
#include "mqs_error.h"
#include "mqs_util.h"
#include "tap.h"

static char dir[] = "/tmp/test-gw-pubq.XXXXXX";
static char db_path[300], key_path[300];

static const char *const names[] = {"", "b", "c"};

/* Rows of broker in the store (gw_pubq_each_broker), 0 when none. */
struct count_arg {
	const char *broker;
	int64_t n;
};
static int count_fn(const char *broker, int64_t n, void *arg)
{
	struct count_arg *ca = arg;

	if (strcmp(broker, ca->broker) == 0)
		ca->n = n;
	return MQS_OK;
}
static int64_t queued_rows(struct gw_store *s, const char *broker)
{
	struct count_arg ca = {broker, 0};

	if (gw_pubq_each_broker(s, count_fn, &ca) != MQS_OK)
		return -1;
	return ca.n;
}

/* Insert one row with payload "<tag>" in its own transaction. */
static int put(struct gw_store *s, const char *broker, const char *topic, const char *tag)
{
	int rc;

	if (gw_store_begin(s) != MQS_OK)
		return MQS_ERR_DB;
	rc = gw_pubq_insert(s, broker, topic, (const uint8_t *)tag, strlen(tag), "vitals", 1);
	if (rc != MQS_OK) {
		gw_store_rollback(s);
		return rc;
	}
	return gw_store_commit(s);
}

/* Claim up to max rows of broker b; the payloads joined by spaces into out. */
static size_t claim(struct gw_pubq *q, struct gw_store *s, size_t b, size_t max, char *out,
                    size_t cap, struct gw_pubq_msg *msgs)
{
	size_t n = 0;

	out[0] = '\0';
	if (gw_pubq_claim(q, s, b, msgs, max, &n) != MQS_OK)
		return (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		size_t used = strlen(out);

		snprintf(out + used, cap - used, "%s%.*s", i ? " " : "", (int)msgs[i].len,
		         (const char *)msgs[i].payload);
	}
	return n;
}

static void release(struct gw_pubq_msg *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		gw_pubq_msg_release(&msgs[i]);
}

static void test_queue(struct gw_store *s)
{
	struct gw_pubq *q = gw_pubq_new(names, 3, 0);
	struct gw_pubq_msg msgs[16];
	char got[256];
	size_t n;
	int64_t ids[3];

	tap_ok(q != NULL, "queue state for three brokers");
	tap_ok(gw_pubq_wants(q, 0) && gw_pubq_wants(q, 1) && gw_pubq_wants(q, 2),
	       "every broker starts with rows that may wait");
	/* one transaction with rows for two brokers, as a record's shares */
	tap_is_int(gw_store_begin(s), MQS_OK, "begin");
	tap_ok(gw_pubq_insert(s, "", "m/0", (const uint8_t *)"a1", 2, "vitals", 1) == MQS_OK &&
	           gw_pubq_insert(s, "b", "m/1", (const uint8_t *)"b1", 2, "vitals", 1) == MQS_OK &&
	           gw_pubq_insert(s, "", "m/0", (const uint8_t *)"a2", 2, "vitals", 1) == MQS_OK,
	       "rows inserted inside the caller's transaction");
	gw_store_rollback(s);
	tap_ok(queued_rows(s, "") == 0 && queued_rows(s, "b") == 0,
	       "a rolled back transaction leaves no row");
	tap_is_int(gw_pubq_insert(s, "", "m/0", (const uint8_t *)"", 0, "vitals", 1), MQS_ERR_INVAL,
	           "an empty payload is refused");
	tap_ok(put(s, "", "m/0", "a1") == MQS_OK && put(s, "b", "m/1", "b1") == MQS_OK &&
	           put(s, "", "m/0", "a2") == MQS_OK && put(s, "", "m/2", "a3") == MQS_OK &&
	           put(s, "c", "m/3", "c1") == MQS_OK,
	       "five rows committed");
	tap_ok(queued_rows(s, "") == 3 && queued_rows(s, "b") == 1 && queued_rows(s, "c") == 1,
	       "counted per broker");

	n = claim(q, s, 0, 16, got, sizeof(got), msgs);
	tap_ok(n == 3 && strcmp(got, "a1 a2 a3") == 0, "broker 0: its rows, oldest first: %s", got);
	tap_ok(n == 3 && strcmp(msgs[2].topic, "m/2") == 0, "topic of each row");
	for (size_t i = 0; i < n && i < 3; i++) {
		ids[i] = msgs[i].id;
		tap_is_int(gw_pubq_sent(q, 0, msgs[i].id, msgs[i].len, (int)(100 + i)), MQS_OK,
		           "row %zu in flight", i);
	}
	release(msgs, n);
	tap_ok(!gw_pubq_wants(q, 0), "broker 0: nothing more waits");
	n = claim(q, s, 0, 16, got, sizeof(got), msgs);
	tap_ok(n == 0, "rows in flight are not claimed twice");
	tap_is_int((int)gw_pubq_inflight(q, 0), 3, "three in flight");

	n = claim(q, s, 1, 16, got, sizeof(got), msgs);
	tap_ok(n == 1 && strcmp(got, "b1") == 0, "broker b: its own row only");
	release(msgs, n);

	tap_is_int(gw_pubq_acked(q, s, 0, 101), MQS_OK, "PUBACK of the second row");
	tap_ok(queued_rows(s, "") == 2, "its row is gone");
	tap_is_int(gw_pubq_acked(q, s, 0, 101), MQS_ERR_NOENT, "a second PUBACK: unknown id");
	tap_is_int(gw_pubq_acked(q, s, 0, 7), MQS_ERR_NOENT, "a status message's PUBACK: ignored");
	tap_is_int(gw_pubq_acked(q, s, 1, 100), MQS_ERR_NOENT,
	           "a PUBACK on another broker does not touch broker 0's rows");
	tap_ok(queued_rows(s, "") == 2, "broker 0 keeps two rows");

	/* the connection drops: the rows in flight go out again */
	gw_pubq_reset(q, 0);
	tap_ok(gw_pubq_wants(q, 0) && gw_pubq_inflight(q, 0) == 0, "after a drop: rows wait again");
	n = claim(q, s, 0, 16, got, sizeof(got), msgs);
	tap_ok(n == 2 && strcmp(got, "a1 a3") == 0 && msgs[0].id == ids[0] && msgs[1].id == ids[2],
	       "the unacknowledged rows are claimed again: %s", got);
	for (size_t i = 0; i < n; i++)
		tap_ok(gw_pubq_sent(q, 0, msgs[i].id, msgs[i].len, (int)(1 + i)) == MQS_OK,
		       "sent again");
	release(msgs, n);
	/* a restart: a fresh state over the same store */
	gw_pubq_free(q);
	q = gw_pubq_new(names, 3, 0);
	n = claim(q, s, 0, 16, got, sizeof(got), msgs);
	tap_ok(n == 2 && strcmp(got, "a1 a3") == 0, "after a restart every row goes again: %s",
	       got);
	for (size_t i = 0; i < n; i++)
		tap_ok(gw_pubq_sent(q, 0, msgs[i].id, msgs[i].len, (int)(1 + i)) == MQS_OK,
		       "in flight");
	release(msgs, n);
	tap_ok(gw_pubq_acked(q, s, 0, 1) == MQS_OK && gw_pubq_acked(q, s, 0, 2) == MQS_OK &&
	           queued_rows(s, "") == 0,
	       "both acknowledged: broker 0's queue is empty");
	/* broker c was never touched */
	tap_ok(queued_rows(s, "c") == 1 && gw_pubq_wants(q, 2), "broker c's row still waits");

	/* the table emptied: SQLite may hand out small row ids again */
	tap_ok(put(s, "", "m/0", "a4") == MQS_OK, "a new row after the queue emptied");
	gw_pubq_wake(q, 0);
	n = claim(q, s, 0, 16, got, sizeof(got), msgs);
	tap_ok(n == 1 && strcmp(got, "a4") == 0, "it is claimed (no id cursor): %s", got);
	release(msgs, n);
	gw_pubq_free(q);
}

static void test_window(struct gw_store *s)
{
	struct gw_pubq *q = gw_pubq_new(names, 3, 2);
	struct gw_pubq_msg msgs[16];
	char got[256];
	size_t n;
	int ok = 1;

	ok = gw_store_exec(s, "DELETE FROM pubq") == MQS_OK;
	for (int i = 0; i < 5; i++) {
		char tag[8];

		snprintf(tag, sizeof(tag), "w%d", i);
		ok = ok && put(s, "b", "m/1", tag) == MQS_OK;
	}
	tap_ok(ok, "five rows for broker b");
	n = claim(q, s, 1, 16, got, sizeof(got), msgs);
	tap_ok(n == 2 && strcmp(got, "w0 w1") == 0, "a window of 2: two claimed (%s)", got);
	for (size_t i = 0; i < n; i++)
		ok = ok && gw_pubq_sent(q, 1, msgs[i].id, msgs[i].len, (int)(10 + i)) == MQS_OK;
	release(msgs, n);
	tap_ok(ok && !gw_pubq_wants(q, 1), "window full: broker b wants nothing");
	tap_is_int(gw_pubq_sent(q, 1, 999, 1, 99), MQS_ERR_TOOBIG, "no room beyond the window");
	tap_ok(gw_pubq_wants(q, 2), "broker c is not held back by b's window");
	tap_ok(gw_pubq_acked(q, s, 1, 10) == MQS_OK && gw_pubq_wants(q, 1),
	       "one PUBACK opens the window");
	n = claim(q, s, 1, 16, got, sizeof(got), msgs);
	tap_ok(n == 1 && strcmp(got, "w2") == 0, "the next row: %s", got);
	release(msgs, n);
	gw_pubq_free(q);
}

/* A refused PUBACK (MQTT v5 reason >= 0x80) keeps the row, skipped until
 * its retry time; the other rows of the broker go on; a success deletes it.
 * And the queue cap (gw_pubq_full). */
static void test_refused(struct gw_store *s)
{
	struct gw_pubq *q = gw_pubq_new(names, 3, 0);
	struct gw_pubq_msg msgs[16];
	char got[256], topic[64];
	size_t n;
	int64_t rows = 0, bytes = 0;
	int ok;

	ok = gw_store_exec(s, "DELETE FROM pubq") == MQS_OK && put(s, "b", "m/1", "r0") == MQS_OK &&
	     put(s, "b", "m/2", "r1") == MQS_OK;
	tap_ok(ok, "two rows for broker b");
	n = claim(q, s, 1, 16, got, sizeof(got), msgs);
	tap_ok(n == 2 && strcmp(got, "r0 r1") == 0, "both claimed (%s)", got);
	for (size_t i = 0; i < n; i++)
		ok = ok && gw_pubq_sent(q, 1, msgs[i].id, msgs[i].len, (int)(20 + i)) == MQS_OK;
	release(msgs, n);
	tap_is_int(gw_pubq_refused(q, s, 1, 20, mqs_now_ms(), topic, sizeof(topic)), MQS_OK,
	           "a refused PUBACK is taken");
	tap_ok(strcmp(topic, "m/1") == 0, "its topic is given for the log (%s)", topic);
	tap_ok(queued_rows(s, "b") == 2, "the refused row stays in the store");
	tap_is_int((int)gw_pubq_inflight(q, 1), 1, "and leaves the window");
	n = claim(q, s, 1, 16, got, sizeof(got), msgs);
	tap_ok(n == 0, "the refused row is not claimed again before its retry time");
	tap_ok(!gw_pubq_wants(q, 1), "nothing else waits: no spinning");
	tap_ok(put(s, "b", "m/2", "r2") == MQS_OK, "a new row for b");
	gw_pubq_wake(q, 1);
	n = claim(q, s, 1, 16, got, sizeof(got), msgs);
	tap_ok(n == 1 && strcmp(got, "r2") == 0, "the other rows of b are not held back (%s)", got);
	release(msgs, n);
	tap_is_int(gw_pubq_refused(q, s, 1, 20, mqs_now_ms(), topic, sizeof(topic)), MQS_ERR_NOENT,
	           "a refused mid not in flight is unknown");
	/* due: a retry time in the past */
	tap_is_int(gw_pubq_acked(q, s, 1, 21), MQS_OK, "r1 acknowledged");
	gw_pubq_reset(q, 1);
	n = claim(q, s, 1, 16, got, sizeof(got), msgs);
	tap_ok(n == 1 && strcmp(got, "r2") == 0, "after a reset: r2 again, r0 still waits (%s)",
	       got);
	release(msgs, n);
	tap_ok(gw_pubq_full(q, s, 1, 2, 1000, mqs_now_ms(), &rows, &bytes) && rows == 2 &&
	           bytes == 4,
	       "the cap: 2 rows of 2 is full (%lld rows, %lld bytes)", (long long)rows,
	       (long long)bytes);
	tap_ok(!gw_pubq_full(q, s, 2, 2, 1000, mqs_now_ms(), &rows, &bytes) && rows == 0,
	       "broker c is empty");
	gw_pubq_free(q);
	/* a later claim once the retry time passed */
	q = gw_pubq_new(names, 3, 0);
	n = claim(q, s, 1, 16, got, sizeof(got), msgs);
	for (size_t i = 0; i < n; i++)
		ok = ok && gw_pubq_sent(q, 1, msgs[i].id, msgs[i].len, (int)(30 + i)) == MQS_OK;
	release(msgs, n);
	tap_ok(n == 2 && gw_pubq_refused(q, s, 1, 30, 0, topic, sizeof(topic)) == MQS_OK,
	       "refused with a retry time long past");
	tap_ok(gw_pubq_wants(q, 1), "a due refusal makes the broker want again");
	n = claim(q, s, 1, 16, got, sizeof(got), msgs);
	tap_ok(n == 1 && strcmp(got, "r0") == 0, "and the row is claimed again (%s)", got);
	ok = n == 1 && gw_pubq_sent(q, 1, msgs[0].id, msgs[0].len, 40) == MQS_OK;
	release(msgs, n);
	tap_ok(ok && gw_pubq_acked(q, s, 1, 40) == MQS_OK && queued_rows(s, "b") == 1,
	       "a success deletes it");
	gw_pubq_free(q);
}

/* Hundreds of refused rows of one topic (a channel ACL-blocked for long)
 * cost one refusal entry: the rows of the broker's other topics are still
 * claimed at once, and the refused topic is not sent again before its
 * retry time (no spinning). */
static void test_refused_many(struct gw_store *s)
{
	struct gw_pubq *q = gw_pubq_new(names, 3, 0);
	struct gw_pubq_msg msgs[GW_PUBQ_WINDOW];
	char got[GW_PUBQ_WINDOW * 8], topic[64], tag[16];
	size_t n;
	int ok = gw_store_exec(s, "DELETE FROM pubq") == MQS_OK;

	for (int i = 0; ok && i < 300; i++) {
		snprintf(tag, sizeof(tag), "a%d", i);
		ok = put(s, "b", "blocked/1", tag) == MQS_OK;
	}
	ok = ok && put(s, "b", "open/2", "z") == MQS_OK;
	tap_ok(ok, "300 rows on a blocked topic, then one on another topic");
	n = claim(q, s, 1, GW_PUBQ_WINDOW, got, sizeof(got), msgs);
	tap_is_int((int)n, GW_PUBQ_WINDOW, "a full window of the blocked topic's rows");
	for (size_t i = 0; i < n; i++)
		ok = ok && gw_pubq_sent(q, 1, msgs[i].id, msgs[i].len, (int)(100 + i)) == MQS_OK;
	release(msgs, n);
	for (size_t i = 0; i < n; i++)
		ok = ok && gw_pubq_refused(q, s, 1, (int)(100 + i), mqs_now_ms(), topic,
		                           sizeof(topic)) == MQS_OK;
	tap_ok(ok, "all of them refused");
	n = claim(q, s, 1, GW_PUBQ_WINDOW, got, sizeof(got), msgs);
	tap_ok(n == 1 && strcmp(got, "z") == 0, "the other topic's row goes out at once (%s)", got);
	ok = n == 1 && gw_pubq_sent(q, 1, msgs[0].id, msgs[0].len, 500) == MQS_OK;
	release(msgs, n);
	n = claim(q, s, 1, GW_PUBQ_WINDOW, got, sizeof(got), msgs);
	tap_ok(ok && n == 0, "the blocked topic waits for its retry time (%zu: %s)", n,
	       n > 0 ? got : "");
	tap_ok(!gw_pubq_wants(q, 1), "and nothing spins");
	tap_ok(queued_rows(s, "b") == 301, "every row is still queued");
	gw_pubq_free(q);
}

int main(void)
{
	struct gw_store s;
	char err[256];

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db_path, sizeof(db_path), "%s/gw.db", dir);
	snprintf(key_path, sizeof(key_path), "%s/gw.key", dir);
	gw_log_set_level(GW_LOG_ERR);
	memset(&s, 0, sizeof(s));
	if (gw_store_open(&s, db_path, key_path, 0, err, sizeof(err)) != MQS_OK) {
		tap_diag("%s", err);
		tap_ok(0, "store opens");
		return tap_exit();
	}
	test_queue(&s);
	test_window(&s);
	test_refused(&s);
	test_refused_many(&s);
	gw_store_close(&s);
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", dir);
	}
	return tap_exit();
}
