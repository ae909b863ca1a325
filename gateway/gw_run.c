/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_run.c - `mqttsec-gateway run`: the orchestrator.  One
 * single-threaded poll loop owns every I/O source and drives MQTT,
 * deliveries, escalations and sensor timers; see "The source table" below.
 *
 * Nothing calls back into the loop: the transports hand messages to the
 * loop's on_message hook (the dispatcher, gw_route.c) and let its pump hook
 * run during long bursts; every module that publishes pushes into the
 * loop's outgoing queue (gw_outq.h), drained into the status broker's
 * transport after every phase of a turn. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#ifdef HAVE_MALLINFO2
#include <malloc.h>
#endif
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <mosquitto.h>

#include "gateway.h"
#include "gw_engine.h"
#include "gw_escalation.h"
#include "gw_listen.h"
#include "gw_log.h"
#include "gw_marketing.h"
#include "gw_medical.h"
#include "gw_medjoin.h"
#include "gw_mqtt.h"
#include "gw_outbox.h"
#include "gw_outq.h"
#include "gw_pubq.h"
#include "gw_route.h"
#include "gw_run.h"
#include "gw_sensor.h"
#include "gw_store.h"
#include "gw_util.h"
#include "mqs_alloc.h"
#include "mqs_creds.h"
#include "mqs_error.h"
#include "mqs_seen.h"
#include "mqs_util.h"

#define DRAIN_MS        5000 /* how long a stop waits for running transfers */
#define PRUNE_EVERY_MS  3600000
#define ALERTS_EARLY_US 250  /* a turn this long serves alerts mid-way */
#define STALL_BUCKET_US 100  /* loop turn histogram: 0.1 ms buckets ... */
#define STALL_BUCKETS   2000 /* ... up to 200 ms, then one overflow bucket */
#define STALL_REPORT_MS 60000
#define PUMP_EVERY_MS   5                     /* the pump works at most this often */
#define STEP_KEY        "mqtt_totp_last_step" /* kv key of [broker]'s TOTP step */

/* The source table: what the loop polls, one entry per file descriptor
 * handed to curl_multi_poll (libcurl adds its own sockets and timers):
 *
 *   SRC_SIGNAL  the self-pipe of SIGTERM/SIGINT: start the stop (drain)
 *   SRC_MQTT    one per broker (struct gw_mqtt, l->mqtt[index]): index 0
 *               is [broker] (the status broker), then each [broker NAME]
 *               in file order (docs/medical.md)
 *   SRC_HTTP    the HTTP listener for provider webhooks and unsubscribe
 *               links ([http], gw_listen.h): its descriptor with POLLIN;
 *               gw_listen_run() when it is ready and when
 *               gw_listen_next_ms() has passed
 *   SRC_ENGINE  the sockets of the email channel's pipelining SMTP client
 *               (gw_engine_fds, gw_smtp.h): ready ones only wake the
 *               loop, whose next turn's gw_engine_perform() does the I/O
 *   SRC_SYNC    the store's syncer finished an fsync (gw_store_sync_fd):
 *               the status messages that waited for it go out
 *
 * Timers (no descriptor): the transports' service (reconnect, keepalive,
 * held messages), the engine's next due time, escalation deadlines,
 * sensor holds, medical-join timeouts (gw_medjoin_tick), campaigns
 * (gw_marketing_tick: review expiry, content for reviewers, scheduling,
 * fan-out), the listener's timeouts, outbox pruning.
 *
 * After every phase of a turn the publish queue of medical shares
 * (gw_pubq.h) is drained into each connected broker, within that broker's
 * window; PUBACKs (on_published) delete rows, a dropped connection
 * (on_down) sends its rows in flight again after the reconnect. */
enum src_kind { SRC_SIGNAL = 0, SRC_MQTT, SRC_HTTP, SRC_ENGINE, SRC_SYNC };

#define MQTT_MAX   GW_BROKERS_MAX /* brokers at most */
#define PUBQ_BATCH 16             /* rows claimed per query */
#define SRC_MAX                                                                                    \
	(1 + MQTT_MAX + 1 + GW_ENGINE_FDS_MAX + 1) /* signal, brokers, HTTP, engine, syncer */
#define SYNCS_MAX 16 /* fsyncs in flight tracked one by one (more: merged) */

struct src {
	int kind;     /* enum src_kind */
	size_t index; /* SRC_MQTT: which transport */
};

/* The write end of the self-pipe: the signal handler's only state (a
 * handler cannot be given an instance). */
static int sig_wr = -1;

/* How long the loop works between two polls ("stalls": nothing else is
 * served meanwhile), as a histogram; reported at debug level every minute
 * and at info level at the stop, in all and for the turns that ended while
 * the database refused writes (docs/PERFORMANCE.md). */
struct stalls {
	uint32_t bucket[STALL_BUCKETS + 1];
	uint64_t turns, max_us;
};

/* Monotonic clock, microseconds. */
static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Count one loop turn of us microseconds. */
static void stalls_add(struct stalls *st, uint64_t us)
{
	uint64_t b = us / STALL_BUCKET_US;

	st->bucket[b < STALL_BUCKETS ? b : STALL_BUCKETS]++;
	st->turns++;
	if (us > st->max_us)
		st->max_us = us;
}

/* The upper edge of the bucket holding quantile q (0..1), in ms. */
static double stalls_quantile(const struct stalls *st, double q)
{
	uint64_t want = (uint64_t)(q * (double)st->turns), seen = 0;

	if (want >= st->turns)
		want = st->turns - 1;
	for (size_t i = 0; i <= STALL_BUCKETS; i++) {
		seen += st->bucket[i];
		if (seen > want)
			return i == STALL_BUCKETS ? (double)st->max_us / 1000.0
			                          : (double)((i + 1) * STALL_BUCKET_US) / 1000.0;
	}
	return (double)st->max_us / 1000.0;
}

/* Log the histogram at level (gw_log drops what the level hides). */
static void stalls_report(struct stalls *st, int level, const char *what)
{
	if (st->turns == 0)
		return;
	gw_log(level,
	       "loop stalls %s: %llu turns, p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms",
	       what, (unsigned long long)st->turns, stalls_quantile(st, 0.5),
	       stalls_quantile(st, 0.99), stalls_quantile(st, 0.999), (double)st->max_us / 1000.0);
}

#define REFUSED_LOG_TOPICS 8   /* topics whose refusals are rate-limited apart */
#define GW_TOPIC_LOG_MAX   256 /* a topic in a log line, at most */

/* When a broker's refusal of shares on topic is logged again. */
struct refused_log {
	char topic[GW_TOPIC_LOG_MAX];
	uint64_t next;
};

struct gw_loop {
	struct gw_gateway gw; /* the dispatcher context */
	struct refused_log refused_log[MQTT_MAX][REFUSED_LOG_TOPICS];
	struct gw_mqtt_broker brokers[MQTT_MAX];
	struct gw_mqtt *mqtt[MQTT_MAX];
	size_t nmqtt;
	struct mqs_creds creds[MQTT_MAX];  /* [broker NAME]'s (index 0: gw.creds) */
	struct mqs_seen *replay[MQTT_MAX]; /* [broker NAME]'s (index 0: gw.replay) */
	const char **filters[MQTT_MAX];    /* each broker's subscriptions */
	char step_keys[MQTT_MAX][100];
	char ack_filter[1100];            /* <status_topic>/+/ack */
	char review_filter[1100];         /* <status_topic>/+/review (marketing routes) */
	struct gw_listen *listen;         /* [http], or NULL */
	uint64_t pubq_retry[MQTT_MAX];    /* a publish failed: not before (ms) */
	uint64_t pubq_err_next[MQTT_MAX]; /* its error is logged again from (ms) */
	struct gw_outq out;               /* status messages waiting for the transport */
	/* fsyncs handed to the store's syncer, oldest first: each with the
	 * sequence number of the first status message queued after it began
	 * (the messages before it wait for it: flush_out) */
	struct {
		uint64_t gen, upto;
	} syncs[SYNCS_MAX];
	size_t nsyncs;
	uint64_t out_durable; /* status messages before this one may go */
	int sig_pipe[2];
	uint64_t pump_last;   /* monotonic ms of the last pump */
	uint64_t listen_next; /* when the listener wants to run without I/O */
	struct stalls all, window, refused;
};

/* SIGTERM/SIGINT (stop) and SIGUSR1 (memory report): tell the loop
 * through the self-pipe. */
static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(sig_wr, &c, 1) < 0) {
		/* nothing to do: the pipe is full, a stop is already pending */
	}
	errno = saved;
}

/* The self-pipe and the handlers.  MQS_OK or MQS_ERR_IO (errno kept). */
static int setup_signals(struct gw_loop *l)
{
	struct sigaction sa;

	if (pipe(l->sig_pipe) != 0)
		return MQS_ERR_IO;
	for (int i = 0; i < 2; i++) {
		fcntl(l->sig_pipe[i], F_SETFL, fcntl(l->sig_pipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(l->sig_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	sig_wr = l->sig_pipe[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return MQS_OK;
}

/* Hand the fsync owed for the messages committed so far to the store's
 * syncer (docs/gateway.md, "Delivery guarantees") and note where the status
 * messages that depend on it end. */
static void sync_begin(struct gw_loop *l)
{
	struct gw_store *s = &l->gw.store;
	uint64_t gen = s->sync_gen, upto = l->out.popped + l->out.n;

	gw_store_sync_begin(s);
	if (s->sync_gen == gen)
		return; /* nothing owed, or paid in place */
	if (l->nsyncs == SYNCS_MAX) {
		/* merged into the newest: its messages wait a little longer */
		l->syncs[SYNCS_MAX - 1].gen = s->sync_gen;
		l->syncs[SYNCS_MAX - 1].upto = upto;
		return;
	}
	l->syncs[l->nsyncs].gen = s->sync_gen;
	l->syncs[l->nsyncs].upto = upto;
	l->nsyncs++;
}

/* Hand the queued status messages to the status broker's transport (a
 * transport that is down drops and counts them: status is best effort),
 * all but those queued after a commit whose fsync is not done yet: a
 * "queued" status tells the publisher that its message is kept. */
static void flush_out(struct gw_loop *l)
{
	const struct gw_outq_msg *msg = gw_outq_head(&l->out);
	struct gw_store *s = &l->gw.store;
	int pending = gw_store_sync_pending(s);
	size_t done = 0;

	while (done < l->nsyncs && l->syncs[done].gen <= s->sync_known)
		l->out_durable = l->syncs[done++].upto;
	if (done > 0) {
		memmove(&l->syncs[0], &l->syncs[done], (l->nsyncs - done) * sizeof(l->syncs[0]));
		l->nsyncs -= done;
	}
	if (!pending) {
		l->nsyncs = 0;
		l->out_durable = l->out.popped + l->out.n;
	}
	while (msg != NULL && l->out.popped < l->out_durable) {
		if (l->nmqtt > 0) {
			/* a refusal is counted or logged by the transport */
			(void)gw_mqtt_publish(l->mqtt[0], msg->topic, msg->payload, msg->len);
		}
		gw_outq_pop(&l->out);
		msg = gw_outq_head(&l->out);
	}
}

/* Transport hook: one opened message goes to the dispatcher.  1 when the
 * store refused a write on the way (the transport holds the message). */
static int loop_on_message(void *ctx, size_t broker, const char *topic, const uint8_t *payload,
                           size_t len, const char *origin, int retain)
{
	struct gw_loop *l = ctx;
	unsigned long before = gw_store_refusals(&l->gw.store);

	gw_route_message(&l->gw, broker, topic, payload, len, origin, retain);
	return gw_store_refusals(&l->gw.store) != before;
}

/* Log a refused share once per broker and topic per minute. */
static void log_refused(struct gw_loop *l, size_t broker, const char *topic, int reason)
{
	struct refused_log *rl = l->refused_log[broker];
	uint64_t now = mqs_now_ms();
	size_t k = 0;

	for (size_t i = 0; i < REFUSED_LOG_TOPICS; i++) {
		if (strcmp(rl[i].topic, topic) == 0) {
			k = i;
			break;
		}
		if (rl[i].next < rl[k].next)
			k = i; /* else reuse the slot logged longest ago */
	}
	if (strcmp(rl[k].topic, topic) == 0 && now < rl[k].next)
		return;
	snprintf(rl[k].topic, sizeof(rl[k].topic), "%s", topic);
	rl[k].next = now + 60000;
	if (l->brokers[broker].name[0] != '\0')
		gw_log(GW_LOG_ERR,
		       "broker %s (%s:%d) refused share on %s: %s (kept in the queue, retried "
		       "later)",
		       l->brokers[broker].name, l->brokers[broker].host, l->brokers[broker].port,
		       topic, mosquitto_reason_string(reason));
	else
		gw_log(GW_LOG_ERR,
		       "broker %s:%d refused share on %s: %s (kept in the queue, retried later)",
		       l->brokers[broker].host, l->brokers[broker].port, topic,
		       mosquitto_reason_string(reason));
}

/* Transport hook: a PUBACK; for a share, its pubq row goes, unless the
 * broker refused it (MQTT v5 reason code >= 0x80): then the row stays and
 * is retried later (docs/medical.md, "Sending"). */
static void loop_on_published(void *ctx, size_t broker, int mid, int reason)
{
	struct gw_loop *l = ctx;
	char topic[GW_TOPIC_LOG_MAX];

	if (reason >= 0x80) {
		if (gw_pubq_refused(l->gw.pubq, &l->gw.store, broker, mid, mqs_now_ms(), topic,
		                    sizeof(topic)) == MQS_OK)
			log_refused(l, broker, topic, reason);
		return;
	}
	/* MQS_ERR_NOENT: a status message; MQS_ERR_DB: the row goes out again */
	(void)gw_pubq_acked(l->gw.pubq, &l->gw.store, broker, mid);
}

/* Transport hook: the connection dropped; its shares in flight go again. */
static void loop_on_down(void *ctx, size_t broker)
{
	struct gw_loop *l = ctx;

	gw_pubq_reset(l->gw.pubq, broker);
}

/* Publish the n claimed rows of broker b; after the first failure the rest
 * stay queued too.  MQS_OK, or the first failure. */
static int publish_claimed(struct gw_loop *l, size_t b, struct gw_pubq_msg *msgs, size_t n)
{
	struct gw_gateway *gw = &l->gw;
	int rc = MQS_OK;

	for (size_t i = 0; i < n; i++) {
		int mid = 0;

		if (rc == MQS_OK) {
			rc = gw_mqtt_publish_mid(l->mqtt[b], msgs[i].topic, msgs[i].payload,
			                         msgs[i].len, 1, &mid);
			if (rc == MQS_OK)
				rc = gw_pubq_sent(gw->pubq, b, msgs[i].id, msgs[i].len, mid);
			if (rc != MQS_OK && rc != MQS_ERR_IO && rc != MQS_ERR_TOOBIG &&
			    mqs_now_ms() >= l->pubq_err_next[b]) {
				/* e.g. a row queued under an older configuration whose
				 * topic is no longer protected: it is kept, and blocks */
				gw_log(GW_LOG_ERR,
				       "cannot publish a share on %s (broker %s:%d): %s",
				       msgs[i].topic, l->brokers[b].host, l->brokers[b].port,
				       mqs_strerror(rc));
				l->pubq_err_next[b] = mqs_now_ms() + 60000;
			}
		}
		gw_pubq_msg_release(&msgs[i]);
	}
	return rc;
}

/* Publish the queued shares of every connected broker, within its window
 * (docs/medical.md, "Sending"): a broker that is down holds back only its
 * own rows.  A failed publish leaves its rows queued and is tried again a
 * second later. */
static void drain_pubq(struct gw_loop *l)
{
	struct gw_gateway *gw = &l->gw;

	for (size_t b = 0; gw->pubq != NULL && b < l->nmqtt; b++) {
		struct gw_pubq_msg msgs[PUBQ_BATCH];
		size_t n = 0;

		if (l->pubq_retry[b] != 0) {
			if (mqs_now_ms() < l->pubq_retry[b])
				continue;
			l->pubq_retry[b] = 0;
		}
		while (gw_mqtt_up(l->mqtt[b]) && gw_pubq_wants(gw->pubq, b)) {
			if (gw_pubq_claim(gw->pubq, &gw->store, b, msgs, PUBQ_BATCH, &n) !=
			        MQS_OK ||
			    n == 0)
				break;
			if (publish_claimed(l, b, msgs, n) != MQS_OK) {
				gw_pubq_wake(gw->pubq, b);
				l->pubq_retry[b] = mqs_now_ms() + 1000;
				break;
			}
		}
	}
}

/* Transport hook: let deliveries progress, and status go out, while
 * libmosquitto hands over a long burst of messages in one read (it reads as
 * many packets as it has messages queued, so one loop turn can take long).
 * Works at most every PUMP_EVERY_MS. */
static void loop_pump(void *ctx)
{
	struct gw_loop *l = ctx;
	uint64_t now = gw_mono_ms();

	if (l->gw.engine == NULL || now - l->pump_last < PUMP_EVERY_MS)
		return;
	l->pump_last = now;
	gw_engine_perform(l->gw.engine);
	gw_engine_dispatch(l->gw.engine, (int64_t)mqs_now_ms());
	gw_engine_perform(l->gw.engine);
	sync_begin(l);
	flush_out(l);
	drain_pubq(l);
}

/* The earlier of a and b; b == 0 means "no time". */
static uint64_t earliest(uint64_t a, uint64_t b)
{
	if (b == 0)
		return a;
	return b < a ? b : a;
}

/* Messages held by every transport. */
static size_t held(const struct gw_loop *l)
{
	size_t n = 0;

	for (size_t i = 0; i < l->nmqtt; i++)
		n += gw_mqtt_held(l->mqtt[i]);
	return n;
}

/* The brokers' sockets to poll for input now, in p[] (idx[]: each one's
 * broker); with readers_only, only those whose transport reads (it asks
 * for POLLIN) and holds no message.  Returns how many. */
static nfds_t mqtt_pollset(struct gw_loop *l, struct pollfd p[MQTT_MAX], size_t idx[MQTT_MAX],
                           int readers_only)
{
	nfds_t n = 0;

	for (size_t i = 0; i < l->nmqtt; i++) {
		short ev = 0;
		int fd = gw_mqtt_fd(l->mqtt[i], &ev);

		if (fd < 0 || (readers_only && (!(ev & POLLIN) || gw_mqtt_held(l->mqtt[i]) > 0)))
			continue;
		p[n].fd = fd;
		p[n].events = POLLIN;
		p[n].revents = 0;
		idx[n] = i;
		n++;
	}
	return n;
}

/* 1 when a broker's socket has data to read now (a zero-timeout poll): a
 * message may wait there, and a campaign's fan-out batch yields to it. */
static int mqtt_readable(struct gw_loop *l)
{
	struct pollfd p[MQTT_MAX];
	size_t idx[MQTT_MAX];
	nfds_t n = mqtt_pollset(l, p, idx, 0);

	return n > 0 && poll(p, n, 0) > 0;
}

/* Serve broker b's socket for the events re (POLLIN, POLLOUT). */
static void mqtt_serve(struct gw_loop *l, size_t b, short re)
{
	struct gw_gateway *gw = &l->gw;

	gw_mqtt_io(l->mqtt[b], re);
	/* the alerts of this read start before their fsync, which then
	 * overlaps their first round trip */
	gw_engine_dispatch(gw->engine, (int64_t)mqs_now_ms());
	gw_engine_perform(gw->engine);
	/* one fsync for the messages of this read, in the syncer's thread:
	 * their "queued" status waits for it, the loop does not */
	sync_begin(l);
	flush_out(l);
	drain_pubq(l);
}

/* Between the steps of a turn that began at busy_since and has run
 * ALERTS_EARLY_US or more (a campaign's transfers, outcomes, claims and
 * fan-out): read the brokers' sockets that have data now, so that an alert
 * which came meanwhile starts at once rather than after the rest of the
 * turn, and move a running alert on (docs/marketing.md, "Delivery
 * rules").  One zero-timeout poll.  A broker whose messages are held
 * (the database refused them) is not read: the transport leaves it at the
 * start of the next turn and the broker keeps what follows (docs/gateway.md,
 * "Delivery guarantees").  1 when a broker served here went down or now
 * holds messages: the next turn then begins at once, its transport's timers
 * (the hold's disconnect, the reconnect) were computed before. */
static int alerts_early(struct gw_loop *l, uint64_t busy_since)
{
	struct pollfd p[MQTT_MAX];
	size_t idx[MQTT_MAX];
	nfds_t n;
	int again = 0;

	if (mono_us() - busy_since < ALERTS_EARLY_US)
		return 0;
	n = mqtt_pollset(l, p, idx, 1);
	if (n > 0 && poll(p, n, 0) > 0) {
		for (nfds_t k = 0; k < n; k++) {
			short ev = 0;

			if (p[k].revents == 0)
				continue;
			mqtt_serve(l, idx[k], POLLIN);
			if (gw_mqtt_fd(l->mqtt[idx[k]], &ev) < 0 ||
			    gw_mqtt_held(l->mqtt[idx[k]]) > 0)
				again = 1;
		}
	}
	/* an alert's transfer runs, or its outcome waits: its reply is read
	 * and its outcome written now, not after the rest of the turn; what
	 * that dispatch starts (a follow-up alert) starts now too */
	if (gw_engine_alerts_running(l->gw.engine) > 0) {
		gw_engine_perform(l->gw.engine);
		gw_engine_dispatch(l->gw.engine, (int64_t)mqs_now_ms());
		gw_engine_perform(l->gw.engine);
	}
	return again;
}

/* Fill the poll set from the source table: fds[] and what each one is. */
static unsigned poll_set(struct gw_loop *l, struct curl_waitfd fds[SRC_MAX],
                         struct src srcs[SRC_MAX])
{
	unsigned n = 0;

	fds[n].fd = l->sig_pipe[0];
	fds[n].events = CURL_WAIT_POLLIN;
	fds[n].revents = 0;
	srcs[n].kind = SRC_SIGNAL;
	srcs[n].index = 0;
	n++;
	for (size_t i = 0; i < l->nmqtt; i++) {
		short ev = 0;
		int fd = gw_mqtt_fd(l->mqtt[i], &ev);

		if (fd < 0)
			continue;
		fds[n].fd = fd;
		fds[n].events = (short)(((ev & POLLIN) ? CURL_WAIT_POLLIN : 0) |
		                        ((ev & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
		fds[n].revents = 0;
		srcs[n].kind = SRC_MQTT;
		srcs[n].index = i;
		n++;
	}
	if (l->listen != NULL && gw_listen_fd(l->listen) >= 0) {
		fds[n].fd = gw_listen_fd(l->listen);
		fds[n].events = CURL_WAIT_POLLIN;
		fds[n].revents = 0;
		srcs[n].kind = SRC_HTTP;
		srcs[n].index = 0;
		n++;
	}
	if (gw_store_sync_fd(&l->gw.store) >= 0) {
		fds[n].fd = gw_store_sync_fd(&l->gw.store);
		fds[n].events = CURL_WAIT_POLLIN;
		fds[n].revents = 0;
		srcs[n].kind = SRC_SYNC;
		srcs[n].index = 0;
		n++;
	}
	{
		int efd[GW_ENGINE_FDS_MAX];
		short eev[GW_ENGINE_FDS_MAX];
		size_t ne = gw_engine_fds(l->gw.engine, efd, eev, GW_ENGINE_FDS_MAX);

		for (size_t i = 0; i < ne && n < SRC_MAX; i++) {
			fds[n].fd = efd[i];
			fds[n].events = (short)(((eev[i] & POLLIN) ? CURL_WAIT_POLLIN : 0) |
			                        ((eev[i] & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
			fds[n].revents = 0;
			srcs[n].kind = SRC_ENGINE;
			srcs[n].index = i;
			n++;
		}
	}
	return n;
}

/* Turn the stop on: claim nothing more, give transfers DRAIN_MS. */
static void begin_stop(struct gw_loop *l, uint64_t *stop_by)
{
	gw_log(GW_LOG_INFO, "stopping (waiting up to %ds for %zu transfers)", DRAIN_MS / 1000,
	       gw_engine_inflight(l->gw.engine));
	gw_engine_stop(l->gw.engine);
	*stop_by = mqs_now_ms() + DRAIN_MS;
}

/* The resident set in kB from /proc/self/statm (-1 when unknown). */
static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;
	long kb = -1;

	if (f == NULL)
		goto out;
	if (fscanf(f, "%lu %lu", &size, &res) == 2)
		kb = (long)(res * (unsigned long)sysconf(_SC_PAGESIZE) / 1024);
	fclose(f);
out:
	return kb;
}

/* SIGUSR1: one line with the process's memory (docs/gateway.md,
 * "Memory"): the resident set, the C heap (glibc's mallinfo2: in use,
 * free but kept, mmapped blocks) and SQLite's share of it. */
static void mem_report(struct gw_loop *l)
{
	struct gw_store_mem m;
	long long heap_used = -1, heap_free = -1, heap_mmap = -1;

#ifdef HAVE_MALLINFO2
	struct mallinfo2 mi = mallinfo2();

	heap_used = (long long)(mi.uordblks / 1024);
	heap_free = (long long)(mi.fordblks / 1024);
	heap_mmap = (long long)(mi.hblkhd / 1024);
#endif
	gw_store_mem_get(&l->gw.store, &m);
	gw_log(GW_LOG_INFO,
	       "memory: rss %ld kB; heap in use %lld kB, free %lld kB, mmapped %lld kB; sqlite "
	       "%lld kB "
	       "(peak %lld kB), page cache %lld kB (loop) + %lld kB (checkpointer); email "
	       "threads %u",
	       rss_kb(), heap_used, heap_free, heap_mmap, (long long)(m.sqlite_used / 1024),
	       (long long)(m.sqlite_peak / 1024), (long long)(m.cache_loop / 1024),
	       (long long)(m.cache_ckpt / 1024), gw_engine_mail_threads(l->gw.engine));
}

/* The loop, until a signal and the drain that follows it. */
static void loop(struct gw_loop *l)
{
	struct gw_gateway *gw = &l->gw;
	uint64_t next_prune = 0, stop_by = 0, esc_wake = 0, busy_since = mono_us();
	uint64_t next_report = mqs_now_ms() + STALL_REPORT_MS;
	int stopping = 0;

	for (;;) {
		uint64_t now = mqs_now_ms(), wake = now + 1000;
		struct curl_waitfd fds[SRC_MAX];
		struct src srcs[SRC_MAX];
		unsigned nfds;
		long timeout;
		int again = 0; /* alerts_early: a broker's timers changed */

		for (size_t i = 0; i < l->nmqtt; i++)
			wake = earliest(wake, gw_mqtt_service(l->mqtt[i], now));
		sync_begin(l); /* an fsync still owed (a refused one, a drained hold) */
		gw_engine_perform(gw->engine);
		if (!stopping)
			again |= alerts_early(l, busy_since);
		gw_engine_dispatch(gw->engine, (int64_t)now);
		if (!stopping)
			again |= alerts_early(l, busy_since);
		gw_engine_perform(gw->engine); /* start what was just added */
		if (stopping) {
			/* held messages and unwritten outcomes get the drain time too */
			if ((gw_engine_inflight(gw->engine) == 0 &&
			     gw_engine_unrecorded(gw->engine) == 0 && held(l) == 0) ||
			    now >= stop_by)
				break;
		} else {
			if (now >= esc_wake) {
				/* deadlines are checked at least once a second */
				esc_wake = now + 1000;
				esc_wake = earliest(esc_wake,
				                    (uint64_t)gw_escalation_tick(gw, (int64_t)now));
			}
			wake = earliest(wake, esc_wake);
			wake = earliest(wake, gw_sensor_tick(gw, now));
			for (size_t i = 0; gw->joins != NULL && i < gw->conf->nroutes; i++) {
				if (gw->joins[i] != NULL)
					wake =
					    earliest(wake, gw_medjoin_tick(gw, gw->joins[i], now));
			}
			if (gw->marketing != NULL) {
				again |= alerts_early(l, busy_since);
				gw->input_waits = mqtt_readable(l);
				wake = earliest(wake, gw_marketing_tick(gw, gw->marketing, now));
			}
		}
		if (l->listen != NULL) {
			if (now >= l->listen_next) {
				gw_listen_run(l->listen);
				l->listen_next = gw_listen_next_ms(l->listen, mqs_now_ms());
			}
			wake = earliest(wake, l->listen_next);
		}
		wake = earliest(wake, (uint64_t)gw_engine_next_due(gw->engine));
		if (now >= next_prune) {
			int n = gw_outbox_prune(&gw->store,
			                        (int64_t)now - (int64_t)gw->conf->retention_ms);
			if (n > 0)
				gw_log(GW_LOG_INFO, "cleared the text of %d old messages", n);
			next_prune = now + PRUNE_EVERY_MS;
		}
		flush_out(l);
		drain_pubq(l);
		for (size_t b = 0; b < l->nmqtt; b++) {
			if (l->pubq_retry[b] != 0)
				wake = earliest(wake, l->pubq_retry[b]);
		}
		now = mqs_now_ms();
		if (again)
			wake = now;
		timeout = wake > now ? (long)(wake - now) : 0;
		if (timeout > 1000)
			timeout = 1000;
		nfds = poll_set(l, fds, srcs);
		{
			uint64_t us = mono_us() - busy_since;

			stalls_add(&l->all, us);
			/* a turn that ends with writes still refused ran against the lock */
			if (held(l) > 0 || gw_engine_write_refused(gw->engine))
				stalls_add(&l->refused, us);
			stalls_add(&l->window, us);
			if (now >= next_report) {
				stalls_report(&l->window, GW_LOG_DEBUG, "in the last minute");
				memset(&l->window, 0, sizeof(l->window));
				next_report = now + STALL_REPORT_MS;
			}
		}
		curl_multi_poll(gw_engine_multi(gw->engine), fds, nfds, (int)timeout, NULL);
		busy_since = mono_us();
		for (unsigned i = 0; i < nfds; i++) {
			short re = 0;

			if (fds[i].revents == 0)
				continue;
			switch (srcs[i].kind) {
			case SRC_SIGNAL: {
				char buf[16];
				ssize_t got = read(l->sig_pipe[0], buf, sizeof(buf));
				int stop = 0, report = 0;

				while (got > 0) {
					for (ssize_t k = 0; k < got; k++) {
						if (buf[k] == (char)SIGUSR1)
							report = 1;
						else
							stop = 1;
					}
					got = read(l->sig_pipe[0], buf, sizeof(buf));
				}
				if (report)
					mem_report(l);
				if (stop && !stopping) {
					stopping = 1;
					begin_stop(l, &stop_by);
				}
				break;
			}
			case SRC_SYNC:
				/* an fsync of the syncer is done: the status
				 * messages that waited for it go */
				gw_store_sync_collect(&gw->store);
				flush_out(l);
				break;
			case SRC_HTTP:
				gw_listen_run(l->listen);
				l->listen_next = gw_listen_next_ms(l->listen, mqs_now_ms());
				flush_out(l);
				break;
			case SRC_MQTT:
				if (fds[i].revents & CURL_WAIT_POLLIN)
					re |= POLLIN;
				if (fds[i].revents & CURL_WAIT_POLLOUT)
					re |= POLLOUT;
				mqtt_serve(l, srcs[i].index, re);
				break;
			default:
				break;
			}
		}
	}
	stalls_report(&l->all, GW_LOG_INFO, "since the start");
	stalls_report(&l->refused, GW_LOG_INFO, "while the database refused writes");
}

/* Add filter f to broker b's list (n entries so far, no duplicates). */
static void add_filter(const char **list, size_t *n, const char *f)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(list[i], f) == 0)
			return;
	}
	list[(*n)++] = f;
}

/* The brokers from the configuration: [broker] (index 0) and every
 * [broker NAME], each with its subscriptions: on [broker] the topic of
 * every enabled route of kind alert, sensor or medical and
 * <status_topic>/+/ack; on every broker the channel topics of the
 * medical-join routes that live on it.  MQS_OK or MQS_ERR_NOMEM. */
static int brokers_from_config(struct gw_loop *l, const struct gw_config *conf)
{
	size_t cap = 2 + conf->nroutes * (GW_MED_CHAN_MAX + 1);

	snprintf(l->ack_filter, sizeof(l->ack_filter), "%s/+/ack", conf->status_topic);
	for (size_t r = 0; r < conf->nroutes; r++) {
		if (conf->routes[r].kind == GW_KIND_MARKETING && conf->routes[r].enabled)
			snprintf(l->review_filter, sizeof(l->review_filter), "%s/+/review",
			         conf->status_topic);
	}
	for (size_t i = 0; i < conf->nbrokers && i < MQTT_MAX; i++) {
		const struct gw_broker_conf *bc = &conf->brokers[i];
		struct gw_mqtt_broker *b = &l->brokers[i];
		size_t n = 0;

		l->filters[i] = mqs_calloc(cap, sizeof(*l->filters[i]));
		if (l->filters[i] == NULL)
			return MQS_ERR_NOMEM;
		b->index = i;
		b->name = bc->name;
		b->host = bc->host;
		b->port = bc->port;
		b->cafile = bc->cafile;
		b->client_id = bc->client_id;
		b->keepalive = bc->keepalive;
		b->reconnect_min_ms = bc->reconnect_min_ms;
		b->reconnect_max_ms = bc->reconnect_max_ms;
		if (i == 0)
			snprintf(l->step_keys[i], sizeof(l->step_keys[i]), "%s", STEP_KEY);
		else
			snprintf(l->step_keys[i], sizeof(l->step_keys[i]), "%s:%s", STEP_KEY,
			         bc->name);
		b->step_key = l->step_keys[i];
		for (size_t r = 0; r < conf->nroutes; r++) {
			const struct gw_route *rt = &conf->routes[r];

			if (!rt->enabled)
				continue;
			if (rt->kind == GW_KIND_MEDICAL_JOIN) {
				for (size_t c = 0; c < rt->nchans; c++) {
					if (rt->chans[c].broker == i)
						add_filter(l->filters[i], &n, rt->chans[c].topic);
				}
			} else if (i == 0 && rt->topic != NULL) {
				add_filter(l->filters[i], &n, rt->topic);
			}
		}
		if (i == 0)
			add_filter(l->filters[i], &n, l->ack_filter);
		if (i == 0 && l->review_filter[0] != '\0')
			add_filter(l->filters[i], &n, l->review_filter);
		b->filters = l->filters[i];
		b->nfilters = n;
	}
	return MQS_OK;
}

/* Load the credentials of every [broker NAME] (index 0 is gw.creds) and
 * give each its replay set.  MQS_OK, or an error logged. */
static int load_broker_creds(struct gw_loop *l, const struct gw_config *conf)
{
	char err[512];

	for (size_t i = 1; i < conf->nbrokers && i < MQTT_MAX; i++) {
		const struct gw_broker_conf *bc = &conf->brokers[i];
		int n = mqs_creds_load(bc->credentials, &l->creds[i], err, sizeof(err));

		if (n != MQS_OK) {
			gw_log(GW_LOG_ERR, "cannot load credentials %s of [broker %s]: %s",
			       bc->credentials, bc->name,
			       n == MQS_ERR_PARSE ? err : mqs_strerror(n));
			return n;
		}
		l->replay[i] = mqs_seen_new(MQS_SEEN_DEFAULT_MAX);
		if (l->replay[i] == NULL) {
			gw_log(GW_LOG_ERR, "out of memory");
			return MQS_ERR_NOMEM;
		}
	}
	return MQS_OK;
}

/* The credentials of broker index i. */
static const struct mqs_creds *broker_creds(const struct gw_loop *l, size_t i)
{
	return i == 0 ? &l->gw.creds : &l->creds[i];
}

/* Every channel topic of a medical route must be protected on its broker,
 * per that broker's credentials, with a device key to seal with
 * (docs/medical.md, "Sending").  MQS_OK, or MQS_ERR_INVAL logged. */
static int check_medical_channels(const struct gw_loop *l, const struct gw_config *conf)
{
	for (size_t r = 0; r < conf->nroutes; r++) {
		const struct gw_route *rt = &conf->routes[r];

		if (rt->kind != GW_KIND_MEDICAL || !rt->enabled)
			continue;
		for (size_t c = 0; c < rt->nchans; c++) {
			const struct gw_broker_conf *bc = &conf->brokers[rt->chans[c].broker];
			const struct mqs_creds *cr = broker_creds(l, rt->chans[c].broker);

			if (!mqs_creds_topic_protected(cr, rt->chans[c].topic)) {
				gw_log(GW_LOG_ERR,
				       "%s:%d: [route %s] channel %s%s%s is not protected on its "
				       "broker (per credentials %s): protect it there (mqttsec-acl "
				       "topic protect) and export its key to the gateway",
				       conf->path, rt->line, rt->name, rt->chans[c].topic,
				       bc->name[0] ? "@" : "", bc->name, bc->credentials);
				return MQS_ERR_INVAL;
			}
			if (mqs_creds_device_key(cr) == NULL) {
				gw_log(
				    GW_LOG_ERR,
				    "%s:%d: [route %s] credentials %s have no device key to seal "
				    "shares with",
				    conf->path, rt->line, rt->name, bc->credentials);
				return MQS_ERR_INVAL;
			}
		}
	}
	return MQS_OK;
}

/* One marketing topic must be protected on [broker] (its messages then
 * carry the broker-stamped origin).  MQS_OK, or MQS_ERR_INVAL logged. */
static int check_marketing_topic(const struct gw_loop *l, const struct gw_config *conf,
                                 const struct gw_route *rt, const char *topic, const char *what)
{
	char sample[1200];
	size_t j = 0;

	/* a filter is checked through a topic it matches: each wildcard level "x" */
	for (size_t i = 0; topic[i] != '\0' && j + 2 < sizeof(sample); i++)
		sample[j++] = (topic[i] == '+' || topic[i] == '#') ? 'x' : topic[i];
	sample[j] = '\0';
	if (mqs_creds_topic_protected(&l->gw.creds, sample))
		return MQS_OK;
	gw_log(GW_LOG_ERR,
	       "%s:%d: [route %s] %s %s is not protected on [broker] (per credentials %s): "
	       "campaigns and reviews are accepted sealed only and content for reviewers is "
	       "published sealed; protect it (mqttsec-acl topic protect) and export its key to "
	       "the gateway",
	       conf->path, rt->line, rt->name, what, topic, conf->brokers[0].credentials);
	return MQS_ERR_INVAL;
}

/* With a marketing route: its topic, <status_topic>/x/content and
 * <status_topic>/x/review must be protected per the gateway's credentials
 * (docs/marketing.md, "Setting it up").  MQS_OK, or MQS_ERR_INVAL logged. */
static int check_marketing_topics(const struct gw_loop *l, const struct gw_config *conf)
{
	char content[1100], review[1100];

	snprintf(content, sizeof(content), "%s/x/content", conf->status_topic);
	snprintf(review, sizeof(review), "%s/x/review", conf->status_topic);
	for (size_t r = 0; r < conf->nroutes; r++) {
		const struct gw_route *rt = &conf->routes[r];

		if (rt->kind != GW_KIND_MARKETING || !rt->enabled)
			continue;
		if (check_marketing_topic(l, conf, rt, rt->topic, "topic") != MQS_OK ||
		    check_marketing_topic(l, conf, rt, content, "content topic") != MQS_OK ||
		    check_marketing_topic(l, conf, rt, review, "review topic") != MQS_OK)
			return MQS_ERR_INVAL;
	}
	return MQS_OK;
}

/* gw_pubq_each_broker: log what waits for each broker at the start. */
static int queued_report(const char *broker, int64_t n, void *arg)
{
	const struct gw_config *conf = arg;

	for (size_t i = 0; i < conf->nbrokers; i++) {
		const struct gw_broker_conf *bc = &conf->brokers[i];

		if (strcmp(bc->name, broker) != 0)
			continue;
		gw_log(GW_LOG_INFO, "%lld shares wait in the publish queue for broker %s:%d%s%s",
		       (long long)n, bc->host, bc->port, broker[0] ? " " : "", broker);
		return MQS_OK;
	}
	gw_log(GW_LOG_WARN,
	       "%lld shares are queued for broker %s, which is not configured: they stay "
	       "queued until a [broker %s] section names it again",
	       (long long)n, broker, broker);
	return MQS_OK;
}

/* The medical senders and receivers, and the publish queue.  MQS_OK, or
 * an error logged. */
static int open_medical(struct gw_loop *l, const struct gw_config *conf)
{
	struct gw_gateway *gw = &l->gw;
	const char *names[MQTT_MAX];
	char err[512];

	for (size_t i = 0; i < conf->nbrokers && i < MQTT_MAX; i++)
		names[i] = conf->brokers[i].name;
	gw->pubq = gw_pubq_new(names, conf->nbrokers, GW_PUBQ_WINDOW);
	gw->joins = mqs_calloc(conf->nroutes > 0 ? conf->nroutes : 1, sizeof(*gw->joins));
	if (gw->pubq == NULL || gw->joins == NULL) {
		gw_log(GW_LOG_ERR, "out of memory");
		return MQS_ERR_NOMEM;
	}
	if (check_medical_channels(l, conf) != MQS_OK || check_marketing_topics(l, conf) != MQS_OK)
		return MQS_ERR_INVAL;
	gw->medical = gw_medical_new(gw, err, sizeof(err));
	if (gw->medical == NULL) {
		gw_log(GW_LOG_ERR, "%s", err);
		return MQS_ERR_INVAL;
	}
	for (size_t r = 0; r < conf->nroutes; r++) {
		const struct gw_route *rt = &conf->routes[r];

		if (rt->kind != GW_KIND_MEDICAL_JOIN || !rt->enabled)
			continue;
		gw->joins[r] = gw_medjoin_new(gw, rt, err, sizeof(err));
		if (gw->joins[r] == NULL) {
			gw_log(GW_LOG_ERR, "[route %s] %s", rt->name, err);
			return MQS_ERR_INVAL;
		}
	}
	/* what waits from the last run (a count, no query per broker) */
	(void)gw_pubq_each_broker(&gw->store, queued_report, (void *)conf);
	return MQS_OK;
}

/* Create every transport.  MQS_OK, or an error logged. */
static int open_transports(struct gw_loop *l, const struct gw_config *conf)
{
	const struct gw_mqtt_hooks hooks = {loop_on_message, loop_pump, loop_on_published,
	                                    loop_on_down, l};
	char err[512];

	if (brokers_from_config(l, conf) != MQS_OK) {
		gw_log(GW_LOG_ERR, "out of memory");
		return MQS_ERR_NOMEM;
	}
	l->replay[0] = l->gw.replay;
	for (size_t i = 0; i < conf->nbrokers && i < MQTT_MAX; i++) {
		l->mqtt[i] = gw_mqtt_new(&l->brokers[i], broker_creds(l, i), l->replay[i],
		                         &l->gw.store, &hooks, err, sizeof(err));
		if (l->mqtt[i] == NULL) {
			gw_log(GW_LOG_ERR, "%s", err);
			return MQS_ERR_INVAL;
		}
		l->nmqtt++;
	}
	return MQS_OK;
}

/* Free everything the loop created.  NULL is fine. */
static void loop_free(struct gw_loop *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nmqtt; i++) {
		size_t fly = l->gw.pubq != NULL ? gw_pubq_inflight(l->gw.pubq, i) : 0;

		if (fly > 0)
			gw_log(GW_LOG_INFO,
			       "%zu shares for broker %s:%d were not acknowledged yet: they stay "
			       "queued and go out again at the next start",
			       fly, l->brokers[i].host, l->brokers[i].port);
		gw_mqtt_free(l->mqtt[i]);
	}
	l->nmqtt = 0; /* from here on flush_out() drops what is queued */
	for (size_t i = 0; l->gw.joins != NULL && i < l->gw.conf->nroutes; i++)
		gw_medjoin_free(&l->gw, l->gw.joins[i]);
	mqs_free(l->gw.joins);
	gw_medical_free(l->gw.store.db != NULL ? &l->gw : NULL, l->gw.medical);
	gw_listen_free(l->listen);
	gw_marketing_free(l->gw.marketing);
	gw_pubq_free(l->gw.pubq);
	for (size_t i = 1; i < MQTT_MAX; i++) {
		mqs_seen_free(l->replay[i]);
		mqs_creds_release(&l->creds[i]);
	}
	for (size_t i = 0; i < MQTT_MAX; i++)
		mqs_free(l->filters[i]);
	gw_sensor_free(l->gw.sensor);
	mqs_seen_free(l->gw.replay);
	gw_engine_free(l->gw.engine);
	gw_outq_release(&l->out);
	gw_store_close(&l->gw.store);
	mqs_creds_release(&l->gw.creds);
	for (int i = 0; i < 2; i++) {
		if (l->sig_pipe[i] >= 0)
			close(l->sig_pipe[i]);
	}
	mqs_free(l);
}

/* The daemon. */
int gw_run(const struct gw_config *conf)
{
	struct gw_loop *l = mqs_calloc(1, sizeof(*l));
	struct gw_gateway *gw;
	char err[512];
	int rc = EX_SOFTWARE, n, libs = 0;

	if (l == NULL) {
		gw_log(GW_LOG_ERR, "out of memory");
		return EX_OSERR;
	}
	gw = &l->gw;
	l->sig_pipe[0] = -1;
	l->sig_pipe[1] = -1;
	gw_outq_init(&l->out);
	gw->conf = conf;
	mqs_creds_init(&gw->creds);
	n = mqs_creds_load(conf->brokers[0].credentials, &gw->creds, err, sizeof(err));
	if (n != MQS_OK) {
		gw_log(GW_LOG_ERR, "cannot load credentials %s: %s", conf->brokers[0].credentials,
		       n == MQS_ERR_PARSE ? err : mqs_strerror(n));
		rc = EX_CONFIG;
		goto out;
	}
	if (gw_store_open(&gw->store, conf->db, conf->master_key_file, conf->sync_full, err,
	                  sizeof(err)) != 0) {
		gw_log(GW_LOG_ERR, "%s", err);
		rc = EX_IOERR;
		goto out;
	}
	/* not fatal: SQLite's own bound (about the same) stays */
	if (gw_store_cache_set(&gw->store, conf->cache_size) != MQS_OK)
		gw_log(GW_LOG_WARN, "cannot set the page cache size: sqlite's default stays");
	gw_status_init(&gw->status, &gw->store, conf->status_topic, &l->out);
	n = gw_outbox_requeue_sending(&gw->store);
	if (n > 0)
		gw_log(GW_LOG_WARN, "%d deliveries were in flight at the last stop: queued again",
		       n);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		gw_log(GW_LOG_ERR, "cannot initialise libcurl");
		goto out;
	}
	mosquitto_lib_init();
	libs = 1;
	gw->engine = gw_engine_new(&gw->store, conf, &gw->status, err, sizeof(err));
	if (gw->engine == NULL) {
		gw_log(GW_LOG_ERR, "%s", err);
		rc = EX_CONFIG;
		goto out;
	}
	gw->sensor = gw_sensor_new(gw);
	if (gw->sensor == NULL) {
		gw_log(GW_LOG_ERR, "cannot load sensor state");
		goto out;
	}
	gw->replay = mqs_seen_new(MQS_SEEN_DEFAULT_MAX);
	if (gw->replay == NULL) {
		gw_log(GW_LOG_ERR, "out of memory");
		goto out;
	}
	if (load_broker_creds(l, conf) != MQS_OK || open_medical(l, conf) != MQS_OK) {
		rc = EX_CONFIG;
		goto out;
	}
	gw->marketing = gw_marketing_new(gw, err, sizeof(err));
	if (gw->marketing == NULL) {
		gw_log(GW_LOG_ERR, "%s", err);
		rc = EX_CONFIG;
		goto out;
	}
	if (open_transports(l, conf) != MQS_OK) {
		rc = EX_CONFIG;
		goto out;
	}
	l->listen = gw_listen_new(gw, err, sizeof(err));
	if (l->listen == NULL && err[0] != '\0') {
		gw_log(GW_LOG_ERR, "%s", err);
		rc = EX_CONFIG;
		goto out;
	}
	if (setup_signals(l) != MQS_OK) {
		gw_log(GW_LOG_ERR, "cannot set up signals: %s", strerror(errno));
		goto out;
	}
	gw_log(GW_LOG_INFO,
	       "mqttsec-gateway %s started: %zu routes, broker %s:%d (%zu in all), db %s",
	       PACKAGE_VERSION, conf->nroutes, conf->brokers[0].host, conf->brokers[0].port,
	       conf->nbrokers, conf->db);
	gw_escalation_check_acks(conf, &gw->creds);
	/* start-up may wait for a lock (busy timeout); from here on no lock wait
	 * may stall the loop: a refused write is retried later (docs/gateway.md,
	 * delivery guarantees) */
	gw_store_nowait(&gw->store);
	/* checkpoints off the loop; without the thread they stay in it */
	(void)gw_store_checkpointer_start(&gw->store, conf->db);
	/* the fsync of each read off the loop; without the thread it stays */
	(void)gw_store_syncer_start(&gw->store);
	loop(l);
	gw_store_sync(&gw->store);
	flush_out(l); /* what waited for that fsync */
	if (l->out.dropped > 0)
		gw_log(GW_LOG_WARN, "%lu status messages were dropped: the outgoing queue was full",
		       l->out.dropped);
	gw_log(GW_LOG_INFO, "stopped");
	rc = EX_OK;
out:
	loop_free(l);
	if (libs) {
		mosquitto_lib_cleanup();
		curl_global_cleanup();
	}
	return rc;
}
