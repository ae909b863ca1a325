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
#include "gw_log.h"
#include "gw_mqtt.h"
#include "gw_outbox.h"
#include "gw_outq.h"
#include "gw_route.h"
#include "gw_run.h"
#include "gw_sensor.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_seen.h"
#include "mqs_util.h"

#define DRAIN_MS        5000 /* how long a stop waits for running transfers */
#define PRUNE_EVERY_MS  3600000
#define STALL_BUCKET_US 100  /* loop turn histogram: 0.1 ms buckets ... */
#define STALL_BUCKETS   2000 /* ... up to 200 ms, then one overflow bucket */
#define STALL_REPORT_MS 60000
#define PUMP_EVERY_MS   5                     /* the pump works at most this often */
#define STEP_KEY        "mqtt_totp_last_step" /* kv key of [broker]'s TOTP step */

/* The source table: what the loop polls, one entry per file descriptor
 * handed to curl_multi_poll (libcurl adds its own sockets and timers):
 *
 *   SRC_SIGNAL  the self-pipe of SIGTERM/SIGINT: start the stop (drain)
 *   SRC_MQTT    one per broker (struct gw_mqtt, l->mqtt[index]); the
 *               status broker is index 0 (today the only one, [broker])
 *   SRC_HTTP    reserved: the HTTP listener for provider webhooks
 *               (libmicrohttpd in MHD_USE_EPOLL mode: its epoll fd, from
 *               MHD_get_daemon_info(MHD_DAEMON_INFO_EPOLL_FD), goes here
 *               with POLLIN, and MHD_run() is called when it is ready and
 *               when MHD_get_timeout() expires; not built yet)
 *
 * Timers (no descriptor): the transports' service (reconnect, keepalive,
 * held messages), the engine's next due time, escalation deadlines,
 * sensor holds, outbox pruning. */
enum src_kind { SRC_SIGNAL = 0, SRC_MQTT, SRC_HTTP };

#define MQTT_MAX 8                  /* brokers at most */
#define SRC_MAX  (1 + MQTT_MAX + 1) /* signal, brokers, HTTP */

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

struct gw_loop {
	struct gw_gateway gw; /* the dispatcher context */
	struct gw_mqtt_broker brokers[MQTT_MAX];
	struct gw_mqtt *mqtt[MQTT_MAX];
	size_t nmqtt;
	struct gw_outq out; /* status messages waiting for the transport */
	int sig_pipe[2];
	uint64_t pump_last; /* monotonic ms of the last pump */
	struct stalls all, window, refused;
};

/* SIGTERM/SIGINT: tell the loop through the self-pipe. */
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
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return MQS_OK;
}

/* Hand every queued status message to the status broker's transport (a
 * transport that is down drops and counts them: status is best effort). */
static void flush_out(struct gw_loop *l)
{
	const struct gw_outq_msg *msg = gw_outq_head(&l->out);

	while (msg != NULL) {
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
static int loop_on_message(void *ctx, const char *topic, const uint8_t *payload, size_t len,
                           const char *origin)
{
	struct gw_loop *l = ctx;
	unsigned long before = gw_store_refusals(&l->gw.store);

	gw_route_message(&l->gw, topic, payload, len, origin);
	return gw_store_refusals(&l->gw.store) != before;
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
	flush_out(l);
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
	/* SRC_HTTP: the listener's epoll fd goes here (see the source table) */
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

		for (size_t i = 0; i < l->nmqtt; i++)
			wake = earliest(wake, gw_mqtt_service(l->mqtt[i], now));
		gw_store_sync(&gw->store); /* an fsync still owed (a refused one, a drained hold) */
		gw_engine_perform(gw->engine);
		gw_engine_dispatch(gw->engine, (int64_t)now);
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
		now = mqs_now_ms();
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

				while (got > 0)
					got = read(l->sig_pipe[0], buf, sizeof(buf));
				if (!stopping) {
					stopping = 1;
					begin_stop(l, &stop_by);
				}
				break;
			}
			case SRC_MQTT:
				if (fds[i].revents & CURL_WAIT_POLLIN)
					re |= POLLIN;
				if (fds[i].revents & CURL_WAIT_POLLOUT)
					re |= POLLOUT;
				gw_mqtt_io(l->mqtt[srcs[i].index], re);
				/* one fsync for the messages of this read */
				gw_store_sync(&gw->store);
				flush_out(l);
				break;
			default:
				break;
			}
		}
	}
	stalls_report(&l->all, GW_LOG_INFO, "since the start");
	stalls_report(&l->refused, GW_LOG_INFO, "while the database refused writes");
}

/* The brokers from the configuration: today the one [broker] section. */
static void brokers_from_config(struct gw_loop *l, const struct gw_config *conf)
{
	struct gw_mqtt_broker *b = &l->brokers[0];

	b->name = "";
	b->host = conf->host;
	b->port = conf->port;
	b->cafile = conf->cafile;
	b->client_id = conf->client_id;
	b->keepalive = conf->keepalive;
	b->reconnect_min_ms = conf->reconnect_min_ms;
	b->reconnect_max_ms = conf->reconnect_max_ms;
	b->step_key = STEP_KEY; /* [broker NAME]: "mqtt_totp_last_step:NAME" */
	b->routes = conf->routes;
	b->nroutes = conf->nroutes;
	b->status_topic = conf->status_topic;
}

/* Create every transport.  MQS_OK, or an error logged. */
static int open_transports(struct gw_loop *l, const struct gw_config *conf)
{
	const struct gw_mqtt_hooks hooks = {loop_on_message, loop_pump, l};
	char err[512];

	brokers_from_config(l, conf);
	for (size_t i = 0; i < 1; i++) {
		l->mqtt[i] = gw_mqtt_new(&l->brokers[i], &l->gw.creds, l->gw.replay, &l->gw.store,
		                         &hooks, err, sizeof(err));
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
	for (size_t i = 0; i < l->nmqtt; i++)
		gw_mqtt_free(l->mqtt[i]);
	l->nmqtt = 0; /* from here on flush_out() drops what is queued */
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
	free(l);
}

/* The daemon. */
int gw_run(const struct gw_config *conf)
{
	struct gw_loop *l = calloc(1, sizeof(*l));
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
	n = mqs_creds_load(conf->credentials, &gw->creds, err, sizeof(err));
	if (n != MQS_OK) {
		gw_log(GW_LOG_ERR, "cannot load credentials %s: %s", conf->credentials,
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
	if (open_transports(l, conf) != MQS_OK) {
		rc = EX_CONFIG;
		goto out;
	}
	if (setup_signals(l) != MQS_OK) {
		gw_log(GW_LOG_ERR, "cannot set up signals: %s", strerror(errno));
		goto out;
	}
	gw_log(GW_LOG_INFO, "mqttsec-gateway %s started: %zu routes, broker %s:%d, db %s",
	       PACKAGE_VERSION, conf->nroutes, conf->host, conf->port, conf->db);
	gw_escalation_check_acks(conf, &gw->creds);
	/* start-up may wait for a lock (busy timeout); from here on no lock wait
	 * may stall the loop: a refused write is retried later (docs/gateway.md,
	 * delivery guarantees) */
	gw_store_nowait(&gw->store);
	loop(l);
	gw_store_sync(&gw->store);
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
