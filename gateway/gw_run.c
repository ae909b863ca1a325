/* gw_run.c - `mqttsec-gateway run`: the single-threaded event loop that
 * drives MQTT, deliveries, escalations and sensor timers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
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
#include "mqs_seen.h"
#include "gw_sensor.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define DRAIN_MS        5000 /* how long a stop waits for running transfers */
#define PRUNE_EVERY_MS  3600000
#define STALL_BUCKET_US 100  /* loop turn histogram: 0.1 ms buckets ... */
#define STALL_BUCKETS   2000 /* ... up to 200 ms, then one overflow bucket */
#define STALL_REPORT_MS 60000

static int sig_pipe[2] = {-1, -1};

/* How long the loop works between two polls ("stalls": nothing else is
 * served meanwhile), as a histogram; reported at debug level every minute
 * and at info level at the stop, in all and for the turns that ended while
 * the database refused writes (docs/PERFORMANCE.md). */
struct stalls {
	uint32_t bucket[STALL_BUCKETS + 1];
	uint64_t turns, max_us;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

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

static void stalls_report(struct stalls *st, int level, const char *what)
{
	if (st->turns == 0)
		return;
	gw_log(level,
	       "loop stalls %s: %llu turns, p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms",
	       what, (unsigned long long)st->turns, stalls_quantile(st, 0.5),
	       stalls_quantile(st, 0.99), stalls_quantile(st, 0.999), (double)st->max_us / 1000.0);
}

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* nothing to do: the pipe is full, a stop is already pending */
	}
	errno = saved;
}

static int setup_signals(void)
{
	struct sigaction sa;

	if (pipe(sig_pipe) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		fcntl(sig_pipe[i], F_SETFL, fcntl(sig_pipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return 0;
}

/* Let deliveries progress while libmosquitto hands over a long burst of
 * messages in one read (it reads as many packets as it has messages
 * queued, so one loop turn can take long). */
void gw_run_pump(struct gw_gateway *gw)
{
	static uint64_t last;
	uint64_t now = gw_mono_ms();

	if (gw->engine == NULL || now - last < 5)
		return;
	last = now;
	gw_engine_perform(gw->engine);
	gw_engine_dispatch(gw->engine, (int64_t)mqs_now_ms());
	gw_engine_perform(gw->engine);
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	if (b == 0)
		return a;
	return b < a ? b : a;
}

static void loop(struct gw_gateway *gw)
{
	static struct stalls all, window, refused;
	uint64_t next_prune = 0, stop_by = 0, esc_wake = 0, busy_since = mono_us();
	uint64_t next_report = mqs_now_ms() + STALL_REPORT_MS;
	int stopping = 0;

	for (;;) {
		uint64_t now = mqs_now_ms(), wake = now + 1000;
		struct curl_waitfd fds[2];
		unsigned nfds = 0;
		int mfd;
		short ev;
		long timeout;

		wake = earliest(wake, gw_mqtt_service(gw->mqtt, now));
		gw_store_sync(&gw->store); /* an fsync still owed (a refused one) */
		gw_engine_perform(gw->engine);
		gw_engine_dispatch(gw->engine, (int64_t)now);
		gw_engine_perform(gw->engine); /* start what was just added */
		if (stopping) {
			/* held messages and unwritten outcomes get the drain time too */
			if ((gw_engine_inflight(gw->engine) == 0 &&
			     gw_engine_unrecorded(gw->engine) == 0 &&
			     gw_mqtt_held(gw->mqtt) == 0) ||
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
		now = mqs_now_ms();
		timeout = wake > now ? (long)(wake - now) : 0;
		if (timeout > 1000)
			timeout = 1000;
		fds[nfds].fd = sig_pipe[0];
		fds[nfds].events = CURL_WAIT_POLLIN;
		fds[nfds].revents = 0;
		nfds++;
		mfd = gw_mqtt_fd(gw->mqtt, &ev);
		if (mfd >= 0) {
			fds[nfds].fd = mfd;
			fds[nfds].events = (short)(((ev & POLLIN) ? CURL_WAIT_POLLIN : 0) |
			                           ((ev & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
			fds[nfds].revents = 0;
			nfds++;
		}
		{
			uint64_t us = mono_us() - busy_since;

			stalls_add(&all, us);
			/* a turn that ends with writes still refused ran against the lock */
			if (gw_mqtt_held(gw->mqtt) > 0 || gw_engine_write_refused(gw->engine))
				stalls_add(&refused, us);
			stalls_add(&window, us);
			if (now >= next_report) {
				if (gw_log_level() >= GW_LOG_DEBUG)
					stalls_report(&window, GW_LOG_DEBUG, "in the last minute");
				memset(&window, 0, sizeof(window));
				next_report = now + STALL_REPORT_MS;
			}
		}
		curl_multi_poll(gw_engine_multi(gw->engine), fds, nfds, (int)timeout, NULL);
		busy_since = mono_us();
		if (fds[0].revents) {
			char buf[16];

			while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
				;
			if (!stopping) {
				gw_log(GW_LOG_INFO,
				       "stopping (waiting up to %ds for %zu transfers)",
				       DRAIN_MS / 1000, gw_engine_inflight(gw->engine));
				stopping = 1;
				gw_engine_stop(gw->engine);
				stop_by = mqs_now_ms() + DRAIN_MS;
			}
		}
		if (mfd >= 0 && fds[1].revents) {
			short re = 0;

			if (fds[1].revents & CURL_WAIT_POLLIN)
				re |= POLLIN;
			if (fds[1].revents & CURL_WAIT_POLLOUT)
				re |= POLLOUT;
			gw_mqtt_io(gw->mqtt, re);
			/* one fsync for the messages of this read */
			gw_store_sync(&gw->store);
		}
	}
	stalls_report(&all, GW_LOG_INFO, "since the start");
	stalls_report(&refused, GW_LOG_INFO, "while the database refused writes");
}

/* The daemon. */
int gw_run(struct gw_config *conf)
{
	struct gw_gateway gw;
	char err[512];
	int rc = EX_SOFTWARE, n, libs = 0;

	memset(&gw, 0, sizeof(gw));
	gw.conf = conf;
	mqs_creds_init(&gw.creds);
	n = mqs_creds_load(conf->credentials, &gw.creds, err, sizeof(err));
	if (n != MQS_OK) {
		gw_log(GW_LOG_ERR, "cannot load credentials %s: %s", conf->credentials,
		       n == MQS_ERR_PARSE ? err : mqs_strerror(n));
		rc = EX_CONFIG;
		goto out;
	}
	if (gw_store_open(&gw.store, conf->db, conf->master_key_file, conf->sync_full, err,
	                  sizeof(err)) != 0) {
		gw_log(GW_LOG_ERR, "%s", err);
		rc = EX_IOERR;
		goto out;
	}
	n = gw_outbox_requeue_sending(&gw.store);
	if (n > 0)
		gw_log(GW_LOG_WARN, "%d deliveries were in flight at the last stop: queued again",
		       n);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		gw_log(GW_LOG_ERR, "cannot initialise libcurl");
		goto out;
	}
	mosquitto_lib_init();
	libs = 1;
	gw.engine = gw_engine_new(&gw, err, sizeof(err));
	if (gw.engine == NULL) {
		gw_log(GW_LOG_ERR, "%s", err);
		rc = EX_CONFIG;
		goto out;
	}
	gw.sensor = gw_sensor_new(&gw);
	if (gw.sensor == NULL) {
		gw_log(GW_LOG_ERR, "cannot load sensor state");
		goto out;
	}
	gw.replay = mqs_seen_new(MQS_SEEN_DEFAULT_MAX);
	if (gw.replay == NULL) {
		gw_log(GW_LOG_ERR, "out of memory");
		goto out;
	}
	gw.mqtt = gw_mqtt_new(&gw, err, sizeof(err));
	if (gw.mqtt == NULL) {
		gw_log(GW_LOG_ERR, "%s", err);
		rc = EX_CONFIG;
		goto out;
	}
	if (setup_signals() != 0) {
		gw_log(GW_LOG_ERR, "cannot set up signals: %s", strerror(errno));
		goto out;
	}
	gw_log(GW_LOG_INFO, "mqttsec-gateway %s started: %zu routes, broker %s:%d, db %s",
	       PACKAGE_VERSION, conf->nroutes, conf->host, conf->port, conf->db);
	gw_escalation_check_acks(&gw);
	/* start-up may wait for a lock (busy timeout); from here on no lock wait
	 * may stall the loop: a refused write is retried later (docs/gateway.md,
	 * delivery guarantees) */
	gw_store_nowait(&gw.store);
	loop(&gw);
	gw_store_sync(&gw.store);
	gw_log(GW_LOG_INFO, "stopped");
	rc = EX_OK;
out:
	gw_mqtt_free(gw.mqtt);
	gw_sensor_free(gw.sensor);
	mqs_seen_free(gw.replay);
	gw_engine_free(gw.engine);
	gw_store_close(&gw.store);
	mqs_creds_release(&gw.creds);
	if (libs) {
		mosquitto_lib_cleanup();
		curl_global_cleanup();
	}
	return rc;
}
