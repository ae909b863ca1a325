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
#include <unistd.h>

#include <curl/curl.h>
#include <mosquitto.h>

#include "gateway.h"
#include "gw_engine.h"
#include "gw_escalation.h"
#include "gw_log.h"
#include "gw_mqtt.h"
#include "gw_outbox.h"
#include "gw_replay.h"
#include "gw_sensor.h"
#include "gw_util.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define DRAIN_MS       5000 /* how long a stop waits for running transfers */
#define PRUNE_EVERY_MS 3600000

static int sig_pipe[2] = {-1, -1};

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
	uint64_t next_prune = 0, stop_by = 0, esc_wake = 0;
	int stopping = 0;

	for (;;) {
		uint64_t now = mqs_now_ms(), wake = now + 1000;
		struct curl_waitfd fds[2];
		unsigned nfds = 0;
		int mfd;
		short ev;
		long timeout;

		wake = earliest(wake, gw_mqtt_service(gw->mqtt, now));
		gw_engine_perform(gw->engine);
		gw_engine_dispatch(gw->engine, (int64_t)now);
		gw_engine_perform(gw->engine); /* start what was just added */
		if (stopping) {
			if (gw_engine_inflight(gw->engine) == 0 || now >= stop_by)
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
		curl_multi_poll(gw_engine_multi(gw->engine), fds, nfds, (int)timeout, NULL);
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
	gw.replay = gw_replay_new(GW_REPLAY_MAX);
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
	loop(&gw);
	gw_store_sync(&gw.store);
	gw_log(GW_LOG_INFO, "stopped");
	rc = EX_OK;
out:
	gw_mqtt_free(gw.mqtt);
	gw_sensor_free(gw.sensor);
	gw_replay_free(gw.replay);
	gw_engine_free(gw.engine);
	gw_store_close(&gw.store);
	mqs_creds_release(&gw.creds);
	if (libs) {
		mosquitto_lib_cleanup();
		curl_global_cleanup();
	}
	return rc;
}
