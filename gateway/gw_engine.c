/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_engine.c - outbox rows to channels over a libcurl multi handle. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "gw_config.h"
#include "gw_consent.h"
#include "gw_engine.h"
#include "gw_log.h"
#include "gw_outbox.h"
#include "gw_quiet.h"
#include "gw_rate.h"
#include "gw_recipient.h"
#include "gw_smskey.h"
#include "gw_status.h"
#include "gw_xfer.h"
#include "mqs_alloc.h"
#include "mqs_buf.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define RETRY_AFTER_CAP_S  86400L
#define RECHECK_MS         1000               /* ring rows older than this: consent read again */
#define NONE_SLOT          (GW_CH__COUNT + 1) /* channel not configured */
#define WRITE_RETRY_MIN_MS 10                 /* a refused write: first retry */
#define WRITE_RETRY_MAX_MS 1000               /* ... doubling up to this */
#define DONE_MAX           (1u << 20)         /* finished deliveries kept at most */
#define READY_MAX          32                 /* marketing rows claimed ahead per channel */
#define READY_LOW          12                 /* ... claim more below this */
#define RECORD_BATCH       16                 /* marketing outcomes recorded together ... */
#define RECORD_WAIT_MS     5                  /* ... or after this long */
#define RECORD_DEFER_MS    20                 /* while an alert runs: marketing's writes wait ... */
#define RECORD_DEFER_MAX   64                 /* ... this long at most, this many outcomes */
#define ALERT_GATE_MAX_MS  1000 /* new marketing transfers wait for running alerts ... */
#define ALERT_GATE_REST_MS 1000 /* ... this long in a row at most, then not for this long */

struct inflight {
	struct gw_outbox_row row;
	struct gw_delivery d;
	char address[GW_ADDR_MAX];
	struct gw_smskey smskey; /* sms rows: the recipient's active SMS key, id 0 when none */
	struct gw_channel *ch;
	size_t slot; /* index in owned[], or NONE_SLOT */
	CURL *easy;
	int native; /* running in the channel's own client (native_start) */
	int pooled; /* easy runs in the engine's transfer pool (gw_xfer.h) */
	struct gw_request *req;
	struct gw_result res;
	const char *state;             /* outcome recorded: "sent", "queued", "failed", "dead" */
	int64_t next_at;               /* retry time when state is "queued" */
	struct gw_engine_rendered r;   /* marketing rows: the rendered text */
	uint64_t t_start_us, t_end_us; /* trace: started, transfer ended (Unix us) */
	struct inflight *next;
};

/* Marketing rows of one channel claimed ahead ('sending' in the store,
 * outside quiet hours), started as soon as a slot frees without a store
 * transaction (docs/marketing.md, "Delivery rules"). */
struct ready_ring {
	struct gw_outbox_row *rows; /* READY_MAX, allocated on first use */
	size_t head, n;
	size_t mark; /* n before this turn's claims (dropped when they roll back) */
};

struct gw_engine {
	struct gw_store *store;
	const struct gw_config *conf;
	struct gw_status *status;
	CURLM *multi;
	/* the threaded channels' libcurl transfers (email: libcurl's SMTP
	 * blocks; gw_xfer.h), made at the first one */
	struct gw_xfer *xfer;
	struct gw_channel *by_chan[GW_CH__COUNT];
	struct gw_channel *owned[GW_CH__COUNT + 1];
	size_t nowned;
	unsigned running[GW_CH__COUNT + 2]; /* transfers per owned channel (+ none) */
	struct inflight *list;              /* running transfers */
	size_t nrunning;
	struct inflight **done; /* finished, not yet recorded */
	size_t ndone, done_cap;
	int dirty;               /* new rows or free slots: read the outbox */
	int64_t due_hint;        /* earliest known next attempt (0 = none known) */
	int64_t next_poll;       /* periodic read of the outbox */
	int stopping;            /* claim nothing more */
	int64_t write_after;     /* the store refused a write: not before this */
	uint64_t write_delay_ms; /* the current wait between such retries */
	int write_stuck;         /* refusals since the last successful turn */
	size_t write_logged;     /* outcomes kept, as last logged */
	/* marketing (docs/marketing.md, "Delivery rules") */
	struct gw_rate rate[GW_CH__COUNT];
	unsigned running_mkt[GW_CH__COUNT];   /* marketing transfers per channel */
	unsigned running_alert[GW_CH__COUNT]; /* other transfers per channel: while one
	                                       * runs, no marketing transfer starts there
	                                       * (the loop's time goes to it; bounded:
	                                       * alert_gate) */
	struct gw_quiet quiet;
	gw_engine_render_fn render;
	void *render_arg;
	struct ready_ring ready[GW_CH__COUNT];
	int64_t done_first;  /* when the oldest unrecorded outcome came */
	int done_urgent;     /* an unrecorded outcome is not marketing: record now */
	int kicked;          /* gw_engine_kick since the last claim: new rows to read */
	int64_t defer_since; /* marketing's writes wait for a running alert since */
	/* start_ready's wait for running alerts (alert_gate): since when, per
	 * channel (0: not waiting), and when its rest ends */
	int64_t gate_since[GW_CH__COUNT];
	int64_t gate_rest_until[GW_CH__COUNT];
	/* MQTTSEC_GW_TRACE_ALERTS: one line per recorded outcome that is not
	 * marketing (docs/gateway.md, "Test hooks"), or NULL */
	FILE *trace;
};

/* The wall clock in microseconds (the trace's unit: a publisher's clock
 * on the same machine compares with it). */
static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Open the trace file the environment names, if any: created 0600, never
 * through a symbolic link, a regular file only (a FIFO with no reader
 * would block the start, a device is no trace), appended to.  A file that
 * cannot be opened is logged and the gateway runs without a trace
 * (docs/gateway.md, "Test hooks"). */
static void trace_open(struct gw_engine *e)
{
	const char *path = getenv("MQTTSEC_GW_TRACE_ALERTS");
	const char *why = NULL;
	struct stat st;
	int fd, fl;

	if (path == NULL || path[0] == '\0')
		return;
	/* O_NONBLOCK: opening a FIFO for writing does not wait for a reader */
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0) {
		why = strerror(errno);
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		why = "not a regular file";
		goto out;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		why = strerror(errno);
		goto out;
	}
	e->trace = fdopen(fd, "a");
	if (e->trace == NULL)
		why = "out of memory";
	else
		fd = -1; /* the stream's now */
out:
	if (fd >= 0)
		close(fd);
	if (e->trace == NULL)
		gw_log(GW_LOG_WARN, "cannot open the alert trace %s: %s: no trace", path, why);
	else
		gw_log(GW_LOG_WARN, "test hook: tracing the alerts' outcomes to %s", path);
}

/* Backoff with jitter and Retry-After. */
uint64_t gw_engine_backoff_ms(uint64_t base_ms, uint64_t max_ms, int attempts, long retry_after_s,
                              uint32_t rnd)
{
	uint64_t d = base_ms;

	for (int i = 1; i < attempts && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	d = d / 2 + (d - d / 2) * (rnd % 10001) / 10000;
	if (retry_after_s > 0) {
		uint64_t ra = (uint64_t)(retry_after_s > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S
		                                                           : retry_after_s) *
		              1000u;
		if (d < ra)
			d = ra;
	}
	return d;
}

static void flush_done(struct gw_engine *e);
static void pool_collect(struct gw_engine *e);
static void start_curl(struct gw_engine *e, struct inflight *f);
static void track(struct gw_engine *e, struct inflight *f);

/* Index of channel ch in owned[], or NONE_SLOT. */
static size_t slot_of(const struct gw_engine *e, const struct gw_channel *ch)
{
	for (size_t i = 0; i < e->nowned; i++) {
		if (e->owned[i] == ch)
			return i;
	}
	return NONE_SLOT;
}

/* Create the engine. */
struct gw_engine *gw_engine_new(struct gw_store *store, const struct gw_config *conf,
                                struct gw_status *status, char *err, size_t errlen)
{
	struct gw_engine *e = mqs_calloc(1, sizeof(*e));

	if (e == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->store = store;
	e->conf = conf;
	e->status = status;
	for (int ch = 0; ch < GW_CH__COUNT; ch++)
		gw_rate_init(&e->rate[ch], conf->rate[ch].per_s, conf->rate[ch].burst,
		             mqs_now_ms());
	if (gw_quiet_init(&e->quiet, conf->quiet_start_min, conf->quiet_end_min,
	                  conf->default_tz) != MQS_OK) {
		snprintf(err, errlen, "out of memory");
		mqs_free(e);
		return NULL;
	}
	if (gw_config_channels(conf, e->by_chan, e->owned, &e->nowned, err, errlen) != 0) {
		gw_quiet_release(&e->quiet);
		mqs_free(e);
		return NULL;
	}
	if (e->by_chan[GW_CH_SPOOL] == NULL && e->nowned < GW_CH__COUNT + 1) {
		/* medical-join `deliver = spool` always has the spool folder */
		struct gw_channel *sp = gw_spool_new(conf->spool_dir, err, errlen);

		if (sp == NULL) {
			gw_engine_free(e);
			return NULL;
		}
		if (sp->max_inflight == 0)
			sp->max_inflight = conf->max_inflight;
		e->owned[e->nowned++] = sp;
		e->by_chan[GW_CH_SPOOL] = sp;
	}
	e->multi = curl_multi_init();
	if (e->multi == NULL) {
		snprintf(err, errlen, "cannot create curl multi handle");
		gw_engine_free(e);
		return NULL;
	}
	curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	trace_open(e);
	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		if (e->by_chan[ch] != NULL)
			gw_log(GW_LOG_INFO, "channel %s: %s, at most %u at once", gw_chan_name(ch),
			       e->by_chan[ch]->ops->name, e->by_chan[ch]->max_inflight);
		else
			gw_log(GW_LOG_INFO, "channel %s: not configured", gw_chan_name(ch));
	}
	return e;
}

/* Free a rendering (text wiped). */
static void rendered_release(struct gw_engine_rendered *r)
{
	mqs_secret_free_str(r->subject);
	mqs_secret_free_str(r->text);
	mqs_secret_free_str(r->html);
	mqs_free(r->unsub_url);
	memset(r, 0, sizeof(*r));
}

/* The renderer of marketing rows. */
void gw_engine_set_renderer(struct gw_engine *e, gw_engine_render_fn fn, void *arg)
{
	e->render = fn;
	e->render_arg = arg;
}

/* Free a delivery: its text, its address wiped. */
static void inflight_free(struct inflight *f)
{
	if (f == NULL)
		return;
	rendered_release(&f->r);
	gw_outbox_row_release(&f->row);
	OPENSSL_cleanse(f->address, sizeof(f->address));
	OPENSSL_cleanse(&f->smskey, sizeof(f->smskey));
	mqs_free(f);
}

/* Free the engine; running transfers are abandoned and requeued. */
void gw_engine_free(struct gw_engine *e)
{
	struct inflight *f, *next;

	if (e == NULL)
		return;
	e->stopping = 1; /* nothing starts from here on */
	/* the pool's transfers aborted at once; those that
	 * ended by themselves meanwhile are recorded (an email the server
	 * took is not sent again), the others' handles are ours again, in no
	 * multi handle */
	gw_xfer_stop(e->xfer);
	pool_collect(e);
	flush_done(e);
	/* what is left of the pool's count: interrupted or never started */
	if (e->xfer != NULL && gw_xfer_count(e->xfer) > 0)
		gw_log(GW_LOG_INFO,
		       "%zu of the emails over libcurl did not end before the stop: sent again at "
		       "the next start",
		       gw_xfer_count(e->xfer));
	gw_xfer_free(e->xfer);
	e->xfer = NULL;
	for (f = e->list; f != NULL; f = next) {
		next = f->next;
		/* a row left 'sending' is queued again at the next start
		 * (gw_outbox_requeue_sending): nothing is lost either way */
		if (gw_outbox_update(e->store, f->row.id, "queued", (int64_t)mqs_now_ms(),
		                     "interrupted by shutdown", NULL,
		                     (int64_t)mqs_now_ms()) != MQS_OK)
			gw_log(
			    GW_LOG_WARN,
			    "cannot requeue delivery %lld at the stop: requeued at the next start",
			    (long long)f->row.id);
		if (f->easy != NULL && !f->pooled)
			curl_multi_remove_handle(e->multi, f->easy);
		if (f->ch->ops->request_free != NULL)
			f->ch->ops->request_free(f->req);
		curl_easy_cleanup(f->easy);
		inflight_free(f);
	}
	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		struct ready_ring *r = &e->ready[ch];

		for (; r->n > 0; r->n--, r->head = (r->head + 1) % READY_MAX) {
			struct gw_outbox_row *row = &r->rows[r->head];

			/* claimed ahead, never started: queued again (else at the
			 * next start, gw_outbox_requeue_sending) */
			if (gw_outbox_unclaim(e->store, row->id, (int64_t)mqs_now_ms()) != MQS_OK)
				gw_log(GW_LOG_WARN,
				       "cannot requeue delivery %lld at the stop: requeued at the "
				       "next start",
				       (long long)row->id);
			gw_outbox_row_release(row);
		}
		mqs_free(r->rows);
	}
	mqs_free(e->done);
	if (e->multi != NULL)
		curl_multi_cleanup(e->multi);
	for (size_t i = 0; i < e->nowned; i++)
		e->owned[i]->ops->free(e->owned[i]);
	gw_quiet_release(&e->quiet);
	if (e->trace != NULL)
		fclose(e->trace);
	mqs_free(e);
}

/* The multi handle. */
CURLM *gw_engine_multi(struct gw_engine *e)
{
	return e->multi;
}

/* Transfers running that are not marketing, plus one while such an
 * outcome waits to be recorded. */
size_t gw_engine_alerts_running(const struct gw_engine *e)
{
	size_t n = e->done_urgent ? 1 : 0;

	for (int ch = 0; ch < GW_CH__COUNT; ch++)
		n += e->running_alert[ch];
	return n;
}

/* Threads of the email pool now (gw_engine.h). */
unsigned gw_engine_mail_threads(const struct gw_engine *e)
{
	return e->xfer != NULL ? gw_xfer_threads(e->xfer) : 0;
}

/* Transfers running. */
size_t gw_engine_inflight(const struct gw_engine *e)
{
	return e->nrunning;
}

/* Waiting to retry a refused write. */
int gw_engine_write_refused(const struct gw_engine *e)
{
	return e->write_stuck > 0;
}

/* While an alert's transfer runs and no new rows came, a campaign's
 * outcomes and claims wait, at most RECORD_DEFER_MS and RECORD_DEFER_MAX
 * outcomes (docs/marketing.md, "Delivery rules"): the turns that carry the
 * alert stay short.  Returns when the wait ends (Unix ms), 0 when the
 * engine's writes need not wait. */
static int64_t defer_until(struct gw_engine *e, int64_t now)
{
	int64_t since;
	int alert = 0;

	for (int ch = 0; ch < GW_CH__COUNT; ch++)
		alert |= e->running_alert[ch] > 0;
	if (!alert || e->kicked || e->done_urgent || e->stopping || e->ndone >= RECORD_DEFER_MAX) {
		e->defer_since = 0;
		return 0;
	}
	if (e->defer_since == 0)
		e->defer_since = now;
	since = e->defer_since;
	if (e->ndone > 0 && e->done_first < since)
		since = e->done_first;
	return now < since + RECORD_DEFER_MS ? since + RECORD_DEFER_MS : 0;
}

/* Finished deliveries not recorded yet. */
size_t gw_engine_unrecorded(const struct gw_engine *e)
{
	return e->ndone;
}

/* Keep a finished delivery until its outcome is recorded. */
static void push_done(struct gw_engine *e, struct inflight *f)
{
	size_t need = e->ndone + 1;

	if (e->ndone == 0)
		e->done_first = (int64_t)mqs_now_ms();
	if (f->row.prio != GW_PRIO_MARKETING)
		e->done_urgent = 1;
	if (e->trace != NULL && f->row.prio != GW_PRIO_MARKETING)
		f->t_end_us = wall_us();

	if (need > e->done_cap && need < 64)
		need = 64;
	else if (need > e->done_cap)
		need = e->done_cap * 2;
	if (mqs_array_reserve((void **)&e->done, &e->done_cap, need, sizeof(*e->done), DONE_MAX,
	                      0) != MQS_OK &&
	    mqs_array_reserve((void **)&e->done, &e->done_cap, e->ndone + 1, sizeof(*e->done),
	                      DONE_MAX, 0) != MQS_OK) {
		/* cannot record now: the row stays 'sending' and is retried
		 * after a restart */
		gw_log(GW_LOG_ERR, "out of memory recording delivery %lld", (long long)f->row.id);
		inflight_free(f);
		return;
	}
	e->done[e->ndone++] = f;
}

/* A delivery that fails before it starts. */
static void fail_now(struct gw_engine *e, struct inflight *f, const char *what, const char *arg)
{
	f->res.outcome = GW_FAILED;
	snprintf(f->res.error, sizeof(f->res.error), "%s%s", what, arg);
	push_done(e, f);
}

/* Inside a transaction: write the outcome of every finished delivery.
 * Returns MQS_OK, or MQS_ERR_DB when one could not be written (roll back,
 * keep them all and try again later: a lost outcome would leave the row
 * 'sending'). */
static MQS_MUST_CHECK int record_done(struct gw_engine *e, int64_t now)
{
	const struct gw_config *c = e->conf;

	for (size_t i = 0; i < e->ndone; i++) {
		struct inflight *f = e->done[i];
		uint32_t rnd = 0;

		f->next_at = 0;
		switch (f->res.outcome) {
		case GW_SENT:
			f->state = "sent";
			f->res.error[0] = '\0';
			break;
		case GW_RETRY:
			if ((unsigned)f->row.attempts >= c->max_attempts) {
				f->state = "dead";
				break;
			}
			RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
			f->state = "queued";
			f->next_at = now + (int64_t)gw_engine_backoff_ms(
			                       c->backoff_base_ms, c->backoff_max_ms,
			                       f->row.attempts, f->res.retry_after, rnd);
			if (e->due_hint == 0 || f->next_at < e->due_hint)
				e->due_hint = f->next_at;
			break;
		default:
			f->state = "failed";
			break;
		}
		if (f->res.error[0] == '\0' && f->res.outcome != GW_SENT)
			snprintf(f->res.error, sizeof(f->res.error), "unknown error");
		if (gw_outbox_update(e->store, f->row.id, f->state, f->next_at, f->res.error,
		                     f->res.provider_ref, now) != MQS_OK)
			return MQS_ERR_DB;
		if (f->res.segments > 0 &&
		    gw_outbox_set_segments(e->store, f->row.id, f->res.segments) != MQS_OK)
			return MQS_ERR_DB;
		/* the provider says the number opted out (Twilio 21610): close
		 * the channel with the outcome (docs/marketing.md) */
		if (f->res.optout && f->row.chan == GW_CH_SMS && f->row.recipient_id > 0 &&
		    gw_consent_optout(e->store, f->row.recipient_id, GW_CH_SMS, "twilio-21610", now,
		                      NULL) == MQS_ERR_DB)
			return MQS_ERR_DB;
		/* a delivered payload does not stay in the store */
		if (GW_CH_NO_RECIPIENT(f->row.chan) && strcmp(f->state, "queued") != 0 &&
		    gw_outbox_clear_data(e->store, f->row.id) != MQS_OK)
			return MQS_ERR_DB;
	}
	return MQS_OK;
}

/* After the commit: log and publish the outcomes, free the deliveries. */
static void publish_done(struct gw_engine *e, int64_t now)
{
	const struct gw_config *c = e->conf;
	uint64_t recorded_us = e->trace != NULL ? wall_us() : 0;

	for (size_t i = 0; i < e->ndone; i++) {
		struct inflight *f = e->done[i];
		const char *ch = gw_chan_name(f->row.chan);
		int bad = strcmp(f->state, "failed") == 0 || strcmp(f->state, "dead") == 0;
		int mkt = f->row.prio == GW_PRIO_MARKETING;

		if (mkt) {
			/* a campaign's deliveries: counted by `campaign report`, not
			 * published one by one (docs/marketing.md); only trouble is
			 * logged at info or above */
			gw_log(bad ? GW_LOG_WARN : GW_LOG_DEBUG,
			       "delivery %lld (%s to %s by %s): %s%s%s", (long long)f->row.id,
			       f->row.msg_id, f->row.recipient, ch, f->state,
			       f->res.error[0] ? ": " : "", f->res.error);
			inflight_free(f);
			continue;
		}
		/* the row id and times only: nothing of the message or the
		 * recipient goes to the trace */
		if (e->trace != NULL) {
			fprintf(e->trace, "%lld %s %llu %llu %llu\n", (long long)f->row.id,
			        f->state, (unsigned long long)f->t_start_us,
			        (unsigned long long)f->t_end_us, (unsigned long long)recorded_us);
			fflush(e->trace);
		}
		if (strcmp(f->state, "queued") == 0)
			gw_log(
			    GW_LOG_INFO,
			    "delivery %lld (%s to %s by %s): %s, attempt %d of %u, retry in %.1fs",
			    (long long)f->row.id, f->row.msg_id, f->row.recipient, ch, f->res.error,
			    f->row.attempts, c->max_attempts, (double)(f->next_at - now) / 1000.0);
		else
			gw_log(bad ? GW_LOG_WARN : GW_LOG_INFO,
			       "delivery %lld (%s to %s by %s): %s%s%s", (long long)f->row.id,
			       f->row.msg_id, f->row.recipient, ch, f->state,
			       f->res.error[0] ? ": " : "", f->res.error);
		gw_status_delivery(e->status, f->row.msg_id, f->row.route, f->row.publisher,
		                   f->row.recipient, ch, f->state, f->row.attempts, f->res.error,
		                   f->res.provider_ref, f->next_at);
		inflight_free(f);
	}
	e->ndone = 0;
	e->done_urgent = 0;
}

/* Record finished deliveries in their own transaction (shutdown).  What
 * cannot be written stays 'sending' and goes out again after a restart. */
static void flush_done(struct gw_engine *e)
{
	int64_t now = (int64_t)mqs_now_ms();

	if (e->ndone == 0)
		return;
	gw_store_durable(e->store, 0);
	if (gw_store_begin(e->store) != 0 || record_done(e, now) != MQS_OK ||
	    gw_store_commit(e->store) != 0) {
		gw_store_rollback(e->store);
		gw_log(GW_LOG_ERR,
		       "cannot record %zu finished deliveries: they go out again after a restart",
		       e->ndone);
		for (size_t i = 0; i < e->ndone; i++)
			inflight_free(e->done[i]);
		e->ndone = 0;
		e->done_urgent = 0;
		return;
	}
	publish_done(e, now);
}

/* The store refused a write of this turn: nothing was recorded or claimed;
 * try again after a backoff, from the loop (docs/gateway.md, delivery
 * guarantees). */
static void write_refused(struct gw_engine *e, int64_t now_ms)
{
	if (e->write_stuck++ == 0) {
		e->write_delay_ms = WRITE_RETRY_MIN_MS;
		if (e->ndone == 0)
			gw_log(GW_LOG_WARN, "database refuses writes: no delivery starts until it "
			                    "accepts them again");
	} else {
		e->write_delay_ms *= 2;
		if (e->write_delay_ms > WRITE_RETRY_MAX_MS)
			e->write_delay_ms = WRITE_RETRY_MAX_MS;
	}
	if (e->ndone > e->write_logged) {
		gw_log(GW_LOG_WARN,
		       "database refuses writes: %zu delivery outcomes kept in memory, retrying",
		       e->ndone);
		e->write_logged = e->ndone;
	}
	e->write_after = now_ms + (int64_t)e->write_delay_ms;
}

/* Start one claimed row. */
static void start(struct gw_engine *e, struct inflight *f)
{
	const char *chname = gw_chan_name(f->row.chan);
	int a;

	if (e->trace != NULL && f->row.prio != GW_PRIO_MARKETING)
		f->t_start_us = wall_us();
	if (f->row.prio != GW_PRIO_MARKETING)
		gw_status_delivery(e->status, f->row.msg_id, f->row.route, f->row.publisher,
		                   f->row.recipient, chname, "sending", f->row.attempts, NULL, NULL,
		                   0);
	if (f->ch == NULL) {
		fail_now(e, f, "channel not configured: ", chname);
		return;
	}
	if (f->row.data_bad) {
		fail_now(e, f, "cannot open the stored payload", "");
		return;
	}
	if (f->row.cancelled) {
		OPENSSL_cleanse(f->row.sealed, sizeof(f->row.sealed));
		fail_now(e, f, "campaign cancelled", "");
		return;
	}
	a = f->row.addr_status;
	if (a == GW_ADDR_OK && f->row.prio == GW_PRIO_MARKETING &&
	    f->row.consent != GW_CONSENT_ON) {
		/* withdrawn since the fan-out (docs/marketing.md, "Delivery
		 * rules"): final, never sent */
		OPENSSL_cleanse(f->row.sealed, sizeof(f->row.sealed));
		if (f->row.consent == GW_CONSENT_OFF) {
			fail_now(e, f, "consent withdrawn", "");
		} else {
			f->res.outcome = GW_RETRY;
			snprintf(f->res.error, sizeof(f->res.error), "cannot read the consent");
			push_done(e, f);
		}
		return;
	}
	if (a == GW_ADDR_OK && !GW_CH_NO_RECIPIENT(f->row.chan))
		a = gw_recipient_open(e->store, f->row.recipient, gw_field_for_chan(f->row.chan),
		                      f->row.sealed, f->row.sealed_len, f->address,
		                      sizeof(f->address));
	OPENSSL_cleanse(f->row.sealed, sizeof(f->row.sealed));
	switch (a) {
	case GW_ADDR_OK:
		break;
	case GW_ADDR_NO_RECIPIENT:
		fail_now(e, f, "recipient removed", "");
		return;
	case GW_ADDR_NONE:
		fail_now(e, f, "recipient has no ", gw_field_name(gw_field_for_chan(f->row.chan)));
		return;
	case GW_ADDR_OPTOUT:
		fail_now(e, f, "recipient opted out of ", chname);
		return;
	default:
		f->res.outcome = GW_RETRY;
		snprintf(f->res.error, sizeof(f->res.error), "cannot read the address");
		push_done(e, f);
		return;
	}
	if (f->row.chan == GW_CH_SMS && f->row.recipient[0] != '\0') {
		/* the SMS channel seals with it (docs/sms-envelope.md, "Gateway") */
		int k = gw_smskey_active(e->store, f->row.recipient, &f->smskey);

		if (k != MQS_OK && k != MQS_ERR_NOENT) {
			f->res.outcome = GW_RETRY;
			snprintf(f->res.error, sizeof(f->res.error), "cannot read the sms key");
			push_done(e, f);
			return;
		}
		f->d.sms_key_id = k == MQS_OK ? f->smskey.id : 0;
		f->d.sms_key = k == MQS_OK ? f->smskey.key : NULL;
	}
	f->d.id = f->row.id;
	f->d.msg_id = f->row.msg_id;
	f->d.channel = chname;
	f->d.recipient = f->row.recipient;
	f->d.address = f->address;
	f->d.severity = gw_severity_name(f->row.severity);
	f->d.title = f->row.title;
	f->d.body = f->row.body;
	f->d.retry_key = f->row.retry_key;
	f->d.attempt = f->row.attempts;
	f->d.data = f->row.data;
	f->d.data_len = f->row.data_len;
	f->d.kind = f->row.kind;
	f->d.topic = f->row.topic;
	f->d.origin = f->row.origin;
	f->d.route = f->row.route;
	if (f->row.prio == GW_PRIO_MARKETING) {
		int rc =
		    e->render != NULL ? e->render(e->render_arg, &f->row, &f->r) : MQS_ERR_INVAL;

		if (rc != MQS_OK) {
			rendered_release(&f->r);
			f->res.outcome =
			    rc == MQS_ERR_DB || rc == MQS_ERR_NOMEM ? GW_RETRY : GW_FAILED;
			snprintf(f->res.error, sizeof(f->res.error),
			         "cannot render the campaign: %s",
			         e->render != NULL ? mqs_strerror(rc) : "no renderer");
			push_done(e, f);
			return;
		}
		f->d.title = f->r.subject != NULL ? f->r.subject : "";
		f->d.body = f->r.text != NULL ? f->r.text : "";
		f->d.html = f->r.html;
		f->d.list_unsubscribe = f->r.unsub_url;
	}
	if (f->ch->ops->deliver != NULL) {
		f->ch->ops->deliver(f->ch, &f->d, &f->res);
		push_done(e, f);
		return;
	}
	if (f->ch->ops->native_start != NULL) {
		int rc = f->ch->ops->native_start(f->ch, &f->d, f, (int64_t)mqs_now_ms(), &f->res);

		if (rc == MQS_OK) {
			f->native = 1;
			track(e, f);
			return;
		}
		if (rc != MQS_ERR_UNSUPPORTED) {
			push_done(e, f);
			return;
		}
	}
	start_curl(e, f);
}

/* Run f->easy: in the transfer pool for a threaded channel (its libcurl
 * transfers may block, gw_xfer.h), else on the loop's multi handle.
 * MQS_OK, or an error with f->easy still ours and in no multi handle. */
static int start_easy(struct gw_engine *e, struct inflight *f)
{
	char err[128];

	f->pooled = 0;
	if (!f->ch->ops->threaded)
		return curl_multi_add_handle(e->multi, f->easy) == CURLM_OK ? MQS_OK
		                                                            : MQS_ERR_NOMEM;
	if (e->xfer == NULL) {
		e->xfer =
		    gw_xfer_new(e->multi, GW_XFER_THREADS_MAX, GW_XFER_IDLE_MS, err, sizeof(err));
		if (e->xfer == NULL) {
			gw_log(GW_LOG_WARN, "%s", err);
			return MQS_ERR_NOMEM;
		}
	}
	if (gw_xfer_start(e->xfer, f->easy, f->row.prio != GW_PRIO_MARKETING) != MQS_OK)
		return MQS_ERR_NOMEM;
	f->pooled = 1;
	return MQS_OK;
}

/* Start f's transfer over libcurl (f->d filled). */
static void start_curl(struct gw_engine *e, struct inflight *f)
{
	f->native = 0;
	f->easy = curl_easy_init();
	if (f->easy == NULL) {
		f->res.outcome = GW_RETRY;
		snprintf(f->res.error, sizeof(f->res.error), "cannot create curl handle");
		push_done(e, f);
		return;
	}
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, (long)e->conf->timeout_ms);
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(e->conf->timeout_ms < 10000 ? e->conf->timeout_ms : 10000));
	if (f->ch->ops->prepare(f->ch, &f->d, f->easy, &f->req, &f->res) != 0) {
		if (f->ch->ops->request_free != NULL)
			f->ch->ops->request_free(f->req);
		f->req = NULL;
		curl_easy_cleanup(f->easy);
		f->easy = NULL;
		push_done(e, f);
		return;
	}
	if (start_easy(e, f) != MQS_OK) {
		if (f->ch->ops->request_free != NULL)
			f->ch->ops->request_free(f->req);
		f->req = NULL;
		curl_easy_cleanup(f->easy);
		f->easy = NULL;
		f->res.outcome = GW_RETRY;
		snprintf(f->res.error, sizeof(f->res.error), "cannot start transfer");
		push_done(e, f);
		return;
	}
	track(e, f);
}

/* f runs: count it and keep it in the list. */
static void track(struct gw_engine *e, struct inflight *f)
{
	e->running[f->slot]++;
	e->nrunning++;
	if (f->row.prio == GW_PRIO_MARKETING)
		e->running_mkt[f->row.chan]++;
	else
		e->running_alert[f->row.chan]++;
	f->next = e->list;
	e->list = f;
}

/* f no longer runs: out of the list and the counts. */
static void untrack(struct gw_engine *e, struct inflight *f)
{
	for (struct inflight **pp = &e->list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	e->running[f->slot]--;
	e->nrunning--;
	if (f->row.prio == GW_PRIO_MARKETING) {
		if (e->running_mkt[f->row.chan] > 0)
			e->running_mkt[f->row.chan]--;
	} else if (e->running_alert[f->row.chan] > 0) {
		e->running_alert[f->row.chan]--;
	}
}

/* Fail the marketing rows of messages row msg_rowid waiting in the rings
 * (their campaign was cancelled); they are recorded at the next turn. */
size_t gw_engine_cancel_message(struct gw_engine *e, int64_t msg_rowid, const char *why)
{
	size_t dropped = 0;

	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		struct ready_ring *r = &e->ready[ch];
		size_t kept = 0, n = r->n;

		for (size_t i = 0; i < n; i++) {
			struct gw_outbox_row *row = &r->rows[(r->head + i) % READY_MAX];
			struct inflight *f = NULL;

			if (row->msg_rowid == msg_rowid)
				f = mqs_calloc(1, sizeof(*f));
			if (f == NULL) {
				/* kept (another message, or no memory: failed when started) */
				struct gw_outbox_row *to = &r->rows[(r->head + kept) % READY_MAX];

				if (row->msg_rowid == msg_rowid)
					row->cancelled = 1;
				if (to != row) {
					*to = *row;
					memset(row, 0, sizeof(*row));
				}
				kept++;
				continue;
			}
			f->row = *row; /* takes its strings */
			memset(row, 0, sizeof(*row));
			f->ch = e->by_chan[ch];
			f->slot = f->ch != NULL ? slot_of(e, f->ch) : NONE_SLOT;
			OPENSSL_cleanse(f->row.sealed, sizeof(f->row.sealed));
			fail_now(e, f, why, "");
			dropped++;
		}
		r->n = kept;
		if (r->mark > kept)
			r->mark = kept;
	}
	if (dropped > 0)
		e->dirty = 1;
	return dropped;
}

/* Free places in ring r. */
static size_t ready_room(const struct ready_ring *r)
{
	return READY_MAX - r->n;
}

/* The ring's rows, allocated on first use.  MQS_OK or MQS_ERR_NOMEM. */
static int ready_alloc(struct ready_ring *r)
{
	if (r->rows == NULL)
		r->rows = mqs_calloc(READY_MAX, sizeof(*r->rows));
	return r->rows != NULL ? MQS_OK : MQS_ERR_NOMEM;
}

/* Drop the rows claimed into the rings since the marks (their claims were
 * rolled back). */
static void ready_rollback(struct gw_engine *e)
{
	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		struct ready_ring *r = &e->ready[ch];

		while (r->n > r->mark) {
			r->n--;
			gw_outbox_row_release(&r->rows[(r->head + r->n) % READY_MAX]);
		}
	}
}

static void start(struct gw_engine *e, struct inflight *f);
static size_t marketing_room(const struct gw_engine *e, int ch, const struct gw_channel *impl,
                             size_t left);

/* Whether new marketing transfers on channel ch wait for a running alert
 * now: yes while an alert transfer runs there (the loop's time goes to
 * it), but ALERT_GATE_MAX_MS in a row at most, then not for
 * ALERT_GATE_REST_MS whatever the alerts do; alerts that follow one another
 * before a marketing start saw the channel free count as one series
 * (docs/marketing.md, "Delivery rules").  So an alert whose server is slow
 * to answer, or a steady stream of them, slows a campaign and never stops
 * it until the alert's timeout.  While waiting, the wait's end is made a
 * due time of the engine (the loop wakes for it). */
static int alert_gate(struct gw_engine *e, int ch, int64_t now)
{
	int64_t until;

	if (e->running_alert[ch] == 0) {
		e->gate_since[ch] = 0;
		return 0;
	}
	if (now < e->gate_rest_until[ch])
		return 0;
	if (e->gate_since[ch] == 0)
		e->gate_since[ch] = now;
	until = e->gate_since[ch] + ALERT_GATE_MAX_MS;
	if (now < until) {
		if (e->due_hint == 0 || until < e->due_hint)
			e->due_hint = until;
		return 1;
	}
	e->gate_since[ch] = 0;
	e->gate_rest_until[ch] = now + ALERT_GATE_REST_MS;
	return 0;
}

/* Start marketing rows of channel ch from its ring while the channel has
 * room for marketing and tokens (no store access: the rows are claimed). */
static void start_ready(struct gw_engine *e, int ch, int64_t now)
{
	struct gw_channel *impl = e->by_chan[ch];
	size_t slot = impl != NULL ? slot_of(e, impl) : NONE_SLOT;
	struct ready_ring *r = &e->ready[ch];

	if (e->running_alert[ch] == 0)
		e->gate_since[ch] = 0; /* the series ended, ring empty or not */
	while (r->n > 0 && !e->stopping && !alert_gate(e, ch, now)) {
		size_t left = 1;
		struct inflight *f;

		if (impl != NULL) {
			unsigned max = impl->max_inflight ? impl->max_inflight : 1;

			left = e->running[slot] >= max ? 0 : max - e->running[slot];
		}
		if (marketing_room(e, ch, impl, left) == 0)
			break;
		if (gw_rate_available(&e->rate[ch], (uint64_t)now, 1) == 0) {
			int64_t t = (int64_t)gw_rate_next_ms(&e->rate[ch], (uint64_t)now);

			if (e->due_hint == 0 || t < e->due_hint)
				e->due_hint = t;
			break;
		}
		f = mqs_calloc(1, sizeof(*f));
		if (f == NULL)
			break; /* the row stays in the ring */
		gw_rate_take(&e->rate[ch], (uint64_t)now, 1, 0);
		f->row = r->rows[r->head]; /* takes its strings */
		memset(&r->rows[r->head], 0, sizeof(r->rows[r->head]));
		r->head = (r->head + 1) % READY_MAX;
		r->n--;
		if (now - f->row.claimed_at >= RECHECK_MS && f->row.recipient_id > 0 &&
		    f->row.addr_status == GW_ADDR_OK && f->row.consent == GW_CONSENT_ON) {
			/* claimed a while ago (rate limit, a slow channel): the
			 * consent or an opt-out may have changed since (one read
			 * of two primary keys); a row claimed less than
			 * RECHECK_MS ago counts as checked, like a transfer
			 * already running */
			int optout = 0;

			f->row.consent =
			    gw_outbox_consent_now(e->store, f->row.recipient_id, ch, &optout);
			if (optout)
				f->row.addr_status = GW_ADDR_OPTOUT;
		}
		f->ch = impl;
		f->slot = slot;
		start(e, f);
	}
}

/* Slots marketing may still take on channel ch (impl NULL: not
 * configured), out of free slots left: [marketing] marketing_share percent
 * of max_inflight, one slot always left to alerts when max_inflight > 1,
 * and no more than the channel's own max_marketing. */
static size_t marketing_room(const struct gw_engine *e, int ch, const struct gw_channel *impl,
                             size_t left)
{
	unsigned max, share = e->conf->marketing_share, cap;

	if (impl == NULL)
		return left;
	max = impl->max_inflight ? impl->max_inflight : 1;
	if (share == 0 || share > 100)
		share = 100;
	cap = max * share / 100;
	if (max > 1 && cap > max - 1)
		cap = max - 1;
	if (cap < 1)
		cap = 1;
	if (impl->max_marketing > 0 && cap > impl->max_marketing)
		cap = impl->max_marketing;
	if (e->running_mkt[ch] >= cap)
		return 0;
	cap -= e->running_mkt[ch];
	return cap < left ? cap : left;
}

/* Inside the turn's transaction: claim up to room rows of channel ch,
 * alerts first, then marketing within its share and the channel's tokens;
 * marketing rows inside their recipient's quiet hours go back to the
 * queue.  *more = 1 when there may be more due rows, *mkt_open = 1 when
 * marketing could take more now.  Returns MQS_OK, MQS_ERR_DB (a read
 * failed: nothing claimed is lost) or MQS_ERR_IO (a deferral was refused:
 * roll the turn back). */
static int claim_chan(struct gw_engine *e, int ch, const struct gw_channel *impl, size_t room,
                      int64_t now, struct gw_outbox_row **rowsp, size_t *np, int *more,
                      int *mkt_open)
{
	struct gw_outbox_row *a = NULL, *b = NULL;
	size_t na = 0, nb = 0, kept = 0, mroom;
	unsigned avail = 0;
	int rc;

	*rowsp = NULL;
	*np = 0;
	*mkt_open = 0;
	rc = gw_outbox_claim_prio(e->store, ch, GW_PRIO_ALERT, now, room, &a, &na);
	if (rc != MQS_OK)
		return rc;
	if (na > 0)
		gw_rate_take(&e->rate[ch], (uint64_t)now, (unsigned)na, 1); /* never waits */
	if (na == room || (na > 0 && e->ready[ch].n > 0)) {
		/* no room left; or alerts came and marketing rows are still
		 * claimed ahead: the marketing claim waits for a later turn, so
		 * this transaction, and the alerts' start, stay short
		 * (docs/marketing.md, "Delivery rules") */
		*more = 1;
		*rowsp = a;
		*np = na;
		return MQS_OK;
	}
	mroom = marketing_room(e, ch, impl, room - na);
	if (impl == NULL || e->rate[ch].per_s > 0) {
		/* rate-limited (or failing) channel: claim what can start now */
		if (mroom > 0)
			avail = gw_rate_available(&e->rate[ch], (uint64_t)now, (unsigned)mroom);
		if (mroom > 0 && avail == 0) {
			/* out of tokens: look again when the next one is there */
			int64_t t = (int64_t)gw_rate_next_ms(&e->rate[ch], (uint64_t)now);

			if (e->due_hint == 0 || t < e->due_hint)
				e->due_hint = t;
		}
		if (avail > ready_room(&e->ready[ch]))
			avail = (unsigned)ready_room(&e->ready[ch]);
	} else if (e->ready[ch].n < READY_LOW) {
		/* claim ahead: slots that free are refilled without a transaction */
		avail = (unsigned)ready_room(&e->ready[ch]);
	}
	if (avail > 0 && ready_alloc(&e->ready[ch]) != MQS_OK)
		avail = 0;
	if (avail > 0) {
		rc = gw_outbox_claim_prio(e->store, ch, GW_PRIO_MARKETING, now, avail, &b, &nb);
		if (rc != MQS_OK) {
			nb = 0;
			b = NULL;
		}
		if (nb == avail)
			*more = e->rate[ch].per_s > 0 || impl == NULL;
		else
			*mkt_open = 1;
	}
	for (size_t i = 0; i < nb; i++) {
		int64_t open = gw_quiet_next_open(&e->quiet, b[i].tz, now);

		if (open > now) {
			/* quiet hours of the recipient: wait, no attempt counted */
			if (gw_outbox_defer(e->store, b[i].id, open, now) != MQS_OK) {
				gw_outbox_rows_free(a, na);
				gw_outbox_rows_free(b, nb);
				return MQS_ERR_IO;
			}
			gw_log(GW_LOG_DEBUG, "delivery %lld (%s to %s by %s): quiet hours, at %lld",
			       (long long)b[i].id, b[i].msg_id, b[i].recipient, gw_chan_name(ch),
			       (long long)open);
			gw_outbox_row_release(&b[i]);
			continue;
		}
		b[kept++] = b[i];
	}
	/* the marketing rows wait in the ring; started after the commit */
	for (size_t i = 0; i < kept; i++) {
		struct ready_ring *r = &e->ready[ch];

		r->rows[(r->head + r->n) % READY_MAX] = b[i];
		r->n++;
	}
	mqs_free(b);
	*rowsp = a;
	*np = na;
	return MQS_OK;
}

/* One turn: in one transaction, record the deliveries that finished and
 * claim due rows for the free slots; then publish and start them.  The
 * outbox is read only when something may have become due: new rows
 * (gw_engine_kick), a free slot, a retry time that passed, or once a
 * second as a safety net. */
void gw_engine_dispatch(struct gw_engine *e, int64_t now_ms)
{
	struct gw_store *s = e->store;
	struct gw_outbox_row *claimed[GW_CH__COUNT] = {NULL};
	size_t nclaimed[GW_CH__COUNT] = {0};
	int periodic = now_ms >= e->next_poll, in_tx = 0;
	int claim = e->dirty || periodic || (e->due_hint != 0 && now_ms >= e->due_hint);
	unsigned open_mask = 0, mkt_mask = 0;
	int abort_turn = 0;

	if (e->stopping)
		claim = 0;
	if (!claim && e->ndone == 0)
		return;
	/* a campaign's outcomes are written together (fewer transactions);
	 * anything else at once */
	if (!claim && !e->done_urgent && !e->stopping && e->ndone < RECORD_BATCH &&
	    now_ms < e->done_first + RECORD_WAIT_MS)
		return;
	if (now_ms < e->write_after)
		return; /* the store refused the last attempt: wait */
	if (defer_until(e, now_ms) != 0)
		return; /* an alert runs: a campaign's writes wait a little */
	e->defer_since = 0;
	gw_store_durable(s, 0); /* a lost 'sending' or outcome only repeats a delivery */
	in_tx = gw_store_begin(s) == 0;
	if (!in_tx || record_done(e, now_ms) != MQS_OK) {
		gw_store_rollback(s);
		write_refused(e, now_ms);
		return; /* outcomes stay in e->done for the next turn */
	}
	for (int ch = 0; ch < GW_CH__COUNT; ch++)
		e->ready[ch].mark = e->ready[ch].n;
	if (claim) {
		e->dirty = 0;
		e->kicked = 0;
		e->due_hint = 0;
		if (periodic)
			e->next_poll = now_ms + 1000;
		for (int ch = 0; ch < GW_CH__COUNT; ch++) {
			struct gw_channel *impl = e->by_chan[ch];
			size_t slot = impl != NULL ? slot_of(e, impl) : NONE_SLOT;
			size_t room = 64;

			if (impl != NULL) {
				unsigned max = impl->max_inflight ? impl->max_inflight : 1;
				room = e->running[slot] >= max ? 0 : max - e->running[slot];
			} else if (!periodic) {
				room = 0; /* rare: such rows are failed once a second */
			}
			if (room == 0)
				continue;
			{
				int more = 0, mkt_open = 0;
				int rc = claim_chan(e, ch, impl, room, now_ms, &claimed[ch],
				                    &nclaimed[ch], &more, &mkt_open);

				if (rc == MQS_ERR_IO) {
					abort_turn = 1;
					break;
				}
				if (rc != MQS_OK) {
					e->due_hint = now_ms + 100; /* try again soon */
					continue;
				}
				if (more)
					e->dirty = 1; /* there may be more */
				if (mkt_open)
					mkt_mask |= GW_CH_BIT(ch);
			}
			if (impl != NULL && impl->ops->deliver == NULL &&
			    e->running[slot] + nclaimed[ch] < impl->max_inflight)
				open_mask |= GW_CH_BIT(ch);
		}
		/* the next retry among channels that still have room: alerts,
		 * and marketing where its share and tokens allow (one indexed
		 * lookup per channel and priority) */
		if (!abort_turn && open_mask != 0) {
			int64_t next = gw_outbox_next_due_prio(s, open_mask, GW_PRIO_ALERT);

			if (next > 0 && (e->due_hint == 0 || next < e->due_hint))
				e->due_hint = next;
			if ((open_mask & mkt_mask) != 0) {
				next = gw_outbox_next_due_prio(s, open_mask & mkt_mask,
				                               GW_PRIO_MARKETING);
				if (next > 0 && (e->due_hint == 0 || next < e->due_hint))
					e->due_hint = next;
			}
		}
	}
	if (abort_turn) {
		/* a deferral was refused: undo every claim of this turn */
		for (int ch = 0; ch < GW_CH__COUNT; ch++) {
			gw_outbox_rows_free(claimed[ch], nclaimed[ch]);
			claimed[ch] = NULL;
			nclaimed[ch] = 0;
		}
		ready_rollback(e);
		gw_store_rollback(s);
		e->dirty = 1;
		write_refused(e, now_ms);
		return;
	}
	if (gw_store_commit(s) != 0) {
		for (int ch = 0; ch < GW_CH__COUNT; ch++) {
			gw_outbox_rows_free(claimed[ch], nclaimed[ch]);
			claimed[ch] = NULL;
			nclaimed[ch] = 0;
		}
		ready_rollback(e);
		e->dirty = 1; /* the claims were rolled back */
		write_refused(e, now_ms);
		return; /* outcomes stay in e->done for the next turn */
	}
	if (e->write_stuck > 0) {
		gw_log(GW_LOG_INFO, "database accepts writes again: delivery outcomes recorded");
		e->write_stuck = 0;
		e->write_logged = 0;
	}
	e->write_after = 0;
	publish_done(e, now_ms);
	for (int ch = 0; ch < GW_CH__COUNT; ch++) {
		struct gw_channel *impl = e->by_chan[ch];
		size_t slot = impl != NULL ? slot_of(e, impl) : NONE_SLOT;

		for (size_t i = 0; i < nclaimed[ch]; i++) {
			struct inflight *f = mqs_calloc(1, sizeof(*f));

			if (f == NULL) {
				gw_log(GW_LOG_ERR, "out of memory starting delivery %lld",
				       (long long)claimed[ch][i].id);
				gw_outbox_row_release(&claimed[ch][i]);
				continue;
			}
			f->row = claimed[ch][i]; /* takes title and body */
			f->ch = impl;
			f->slot = slot;
			start(e, f);
		}
		mqs_free(claimed[ch]);
		start_ready(e, ch, now_ms);
	}
}

/* Stop claiming (shutdown); finished deliveries are still recorded. */
void gw_engine_stop(struct gw_engine *e)
{
	e->stopping = 1;
}

/* New rows were committed. */
void gw_engine_kick(struct gw_engine *e)
{
	if (e != NULL) {
		e->dirty = 1;
		e->kicked = 1;
	}
}

/* New marketing rows were committed: no end of a deferral. */
void gw_engine_kick_marketing(struct gw_engine *e)
{
	if (e != NULL)
		e->dirty = 1;
}

/* f's transfer ended (untracked, outcome in f->res): keep the outcome,
 * give the slot to the next row. */
static void transfer_ended(struct gw_engine *e, struct inflight *f)
{
	OPENSSL_cleanse(f->address, sizeof(f->address));
	OPENSSL_cleanse(&f->smskey, sizeof(f->smskey));
	if (f->row.prio == GW_PRIO_MARKETING) {
		int ch = f->row.chan;

		push_done(e, f);
		/* the free slot goes to the next claimed row at once; the
		 * outbox is read again when the ring runs low.  But while an
		 * alert runs on the channel (its slot is taken) and new rows
		 * came, the slot waits for the next turn's claim, alerts first
		 * (docs/marketing.md, "Delivery rules") */
		if (!e->kicked || e->running_alert[ch] == 0)
			start_ready(e, ch, (int64_t)mqs_now_ms());
		if (e->ready[ch].n < READY_LOW)
			e->dirty = 1;
		return;
	}
	e->dirty = 1; /* a free slot (and marketing may start again) */
	push_done(e, f);
}

/* A channel's own transfer ended (native_perform's done). */
static void native_done(void *arg, void *token, const struct gw_result *res, int fallback)
{
	struct gw_engine *e = arg;
	struct inflight *f = token;

	untrack(e, f);
	if (fallback) {
		/* nothing was sent: the same delivery through libcurl */
		start_curl(e, f);
		return;
	}
	f->res = *res;
	transfer_ended(e, f);
}

/* f's libcurl transfer ended with cc (f->easy in no multi handle):
 * classify it, free the handle, record the outcome. */
static void curl_ended(struct gw_engine *e, struct inflight *f, CURLcode cc)
{
	f->ch->ops->finish(f->ch, f->req, f->easy, cc, &f->res);
	if (f->ch->ops->request_free != NULL)
		f->ch->ops->request_free(f->req);
	f->req = NULL;
	curl_easy_cleanup(f->easy);
	f->easy = NULL;
	f->pooled = 0;
	untrack(e, f);
	transfer_ended(e, f);
}

/* The transfer pool's finished transfers: their outcomes. */
static void pool_collect(struct gw_engine *e)
{
	for (;;) {
		struct inflight *f = NULL;
		CURLcode cc = CURLE_OK;
		CURL *easy = e->xfer != NULL ? gw_xfer_take(e->xfer, &cc) : NULL;

		if (easy == NULL)
			break;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&f);
		if (f != NULL)
			curl_ended(e, f, cc);
	}
}

/* Drive transfers and collect finished ones. */
void gw_engine_perform(struct gw_engine *e)
{
	CURLMsg *msg;
	int running = 0, left = 0;

	curl_multi_perform(e->multi, &running);
	for (;;) {
		struct inflight *f = NULL;

		msg = curl_multi_info_read(e->multi, &left);
		if (msg == NULL)
			break;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		if (f == NULL)
			continue;
		curl_multi_remove_handle(e->multi, f->easy);
		curl_ended(e, f, msg->data.result);
	}
	pool_collect(e);
	for (size_t i = 0; i < e->nowned; i++) {
		struct gw_channel *ch = e->owned[i];

		if (ch->ops->native_perform != NULL)
			ch->ops->native_perform(ch, (int64_t)mqs_now_ms(), native_done, e);
	}
}

/* Descriptors of the channels' own transfers (gw_engine.h). */
size_t gw_engine_fds(const struct gw_engine *e, int *fd, short *events, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < e->nowned && n < cap; i++) {
		struct gw_channel *ch = e->owned[i];

		if (ch->ops->native_fds != NULL)
			n += ch->ops->native_fds(ch, fd + n, events + n, cap - n);
	}
	return n;
}

/* Next time the engine wants to run (Unix ms), or 0. */
int64_t gw_engine_next_due(struct gw_engine *e)
{
	int64_t now = (int64_t)mqs_now_ms(), due, until = defer_until(e, now);

	if (e->stopping)
		due = now + 1000; /* nothing to claim: the outbox's times do not count
		                   * (a past next_poll spun the drain) */
	else if (e->dirty)
		due = now;
	else if (e->due_hint == 0 || e->due_hint > e->next_poll)
		due = e->next_poll;
	else
		due = e->due_hint;
	if (e->ndone > 0) {
		/* outcomes: at once, or a campaign's after a short batching wait */
		int64_t rec = e->done_urgent || e->stopping || e->ndone >= RECORD_BATCH
		                  ? now
		                  : e->done_first + RECORD_WAIT_MS;

		if (rec < due)
			due = rec;
	}
	if (until != 0 && due < until)
		due = until; /* a campaign's writes wait for the running alert */
	for (size_t i = 0; i < e->nowned; i++) {
		struct gw_channel *ch = e->owned[i];
		int64_t t = ch->ops->native_next != NULL ? ch->ops->native_next(ch) : 0;

		if (t > 0 && t < due)
			due = t;
	}
	/* after a refused write nothing happens before the retry */
	return due < e->write_after ? e->write_after : due;
}
