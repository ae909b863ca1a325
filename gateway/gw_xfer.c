/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_xfer.c - libcurl transfers that may block, on a pool of threads
 * (gw_xfer.h; docs/channels.md, "Email over libcurl"). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gw_xfer.h"
#include "mqs_alloc.h"

/* sockets of a pool at most: each thread's connection, and a new one
 * (two while happy eyeballs tries both address families) */
#define XFER_SOCKS_MAX (4 * GW_XFER_THREADS_MAX)
/* thread slots: the live threads and, briefly, those ending (their slot is
 * freed when the next thread starts, or at the stop) */
#define XFER_SLOTS (2 * GW_XFER_THREADS_MAX)

/* A transfer in the pool: waiting, running or finished. */
struct xfer_job {
	CURL *easy;
	CURLcode cc;
	int urgent;
	int interrupted; /* ended by the stop, not by itself: no outcome */
	struct xfer_job *next;
};

/* A list of jobs in order. */
struct xfer_list {
	struct xfer_job *head, *tail;
};

/* What a slot of the pool's workers[] holds. */
enum xfer_slot {
	SLOT_FREE = 0, /* nothing: a new thread may take it */
	SLOT_LIVE,     /* a thread that runs or waits for a job */
	SLOT_ENDING,   /* a thread idle too long, closing its connection itself */
	SLOT_ENDED     /* that thread has returned: join it, then the slot is free */
};

/* One thread and its multi handle (its connection cache). */
struct xfer_worker {
	struct gw_xfer *x;
	pthread_t tid;
	CURLM *multi; /* NULL once an idle thread has cleaned it up itself */
	enum xfer_slot slot;
	pthread_cond_t cond; /* a job for this thread, or the stop */
	int listed;          /* in the pool's idlers[] */
};

/* The worker of the calling thread (NULL in the caller's thread): whose
 * socket xfer_open makes. */
static _Thread_local struct xfer_worker *xfer_self;

struct gw_xfer {
	pthread_mutex_t lock;     /* guards everything below but stop and the workers' multis */
	pthread_condattr_t cattr; /* the workers' conditions: the monotonic clock */
	struct xfer_list urgent, bulk; /* waiting to start, urgent first */
	struct xfer_list done;         /* finished, not yet taken */
	size_t waiting;                /* jobs in urgent and bulk */
	/* threads waiting for a job, the one idle last on top: it is woken
	 * first, so that under light traffic the others reach their idle
	 * time and end */
	struct xfer_worker *idlers[XFER_SLOTS];
	unsigned nidle;
	unsigned woken;                 /* taken off idlers[] by wake_one, not yet running again */
	unsigned nended;                /* slots in SLOT_ENDED, joined by the caller's thread */
	unsigned nworkers, max_threads; /* live threads (SLOT_LIVE), at most */
	unsigned idle_ms;               /* a thread with no job this long ends */
	unsigned bulk_running;          /* non-urgent jobs running */
	struct xfer_worker workers[XFER_SLOTS];
	atomic_int stop;
	int stopped; /* gw_xfer_stop() done (the caller's thread only) */
	CURLM *wake;
	/* the threads' sockets, shut down at the stop so that no wait of
	 * libcurl (a reply, the QUIT of a closing connection) outlasts it;
	 * -1: a free slot */
	int socks[XFER_SOCKS_MAX];
	struct xfer_worker *sock_owner[XFER_SOCKS_MAX]; /* the thread that made it */
	size_t count; /* started, not yet taken (the caller's thread only) */
};

/* Append j to l. */
static void list_push(struct xfer_list *l, struct xfer_job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

/* The first job of l, taken off it; NULL when empty. */
static struct xfer_job *list_pop(struct xfer_list *l)
{
	struct xfer_job *j = l->head;

	if (j == NULL)
		return NULL;
	l->head = j->next;
	if (l->head == NULL)
		l->tail = NULL;
	j->next = NULL;
	return j;
}

/* Free every job of l (their easy handles are the caller's). */
static void list_free(struct xfer_list *l)
{
	struct xfer_job *j = list_pop(l);

	while (j != NULL) {
		mqs_free(j);
		j = list_pop(l);
	}
}

/* Non-urgent jobs that may run at once: all but one thread, which is kept
 * for urgent ones (docs/channels.md, "Email over libcurl": alerts never
 * wait for a thread behind marketing). */
static unsigned bulk_max(const struct gw_xfer *x)
{
	return x->max_threads > 1 ? x->max_threads - 1 : 1;
}

/* The next job a free thread may run (x->lock held), taken off its list;
 * NULL when none: only non-urgent ones wait and they have their threads. */
static struct xfer_job *job_next(struct gw_xfer *x)
{
	struct xfer_job *j = list_pop(&x->urgent);

	if (j == NULL && x->bulk_running < bulk_max(x)) {
		j = list_pop(&x->bulk);
		if (j != NULL)
			x->bulk_running++;
	}
	if (j != NULL)
		x->waiting--;
	return j;
}

/* CURLOPT_XFERINFOFUNCTION: abort once the pool stops.  libcurl calls it
 * also while it blocks for an SMTP reply, about once a second. */
static int xfer_progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow)
{
	struct gw_xfer *x = p;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&x->stop) ? 1 : 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: a socket, recorded for the stop; none once
 * the pool stops or when every slot is taken (the connection fails, the
 * delivery is retried). */
static curl_socket_t xfer_open(void *p, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct gw_xfer *x = p;
	curl_socket_t fd = CURL_SOCKET_BAD;

	(void)purpose;
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < XFER_SOCKS_MAX && !atomic_load(&x->stop); i++) {
		if (x->socks[i] != -1)
			continue;
		fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
		if (fd >= 0) {
			x->socks[i] = fd;
			x->sock_owner[i] = xfer_self;
		}
		break;
	}
	pthread_mutex_unlock(&x->lock);
	return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: forget fd and close it. */
static int xfer_close(void *p, curl_socket_t fd)
{
	struct gw_xfer *x = p;

	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; i < XFER_SOCKS_MAX; i++) {
		if (x->socks[i] == fd) {
			x->socks[i] = -1;
			break;
		}
	}
	pthread_mutex_unlock(&x->lock);
	return close(fd);
}

/* Wake the thread that became idle last, if any (x->lock held): it takes
 * it off idlers[] so that the next call wakes another one. */
static void wake_one(struct gw_xfer *x)
{
	struct xfer_worker *w;

	if (x->nidle == 0)
		return;
	w = x->idlers[--x->nidle];
	w->listed = 0;
	x->woken++;
	pthread_cond_signal(&w->cond);
}

/* Take w off idlers[] (x->lock held; w->listed). */
static void idle_remove(struct gw_xfer *x, struct xfer_worker *w)
{
	for (unsigned i = 0; i < x->nidle; i++) {
		if (x->idlers[i] != w)
			continue;
		memmove(&x->idlers[i], &x->idlers[i + 1],
		        (x->nidle - i - 1) * sizeof(x->idlers[0]));
		x->nidle--;
		break;
	}
	w->listed = 0;
}

/* Shut down the sockets thread w made (x->lock held): the connection it
 * closes next ends at once, with no wait for a server's reply to QUIT. */
static void socks_shut(struct gw_xfer *x, const struct xfer_worker *w)
{
	for (size_t i = 0; i < XFER_SOCKS_MAX; i++) {
		if (x->socks[i] != -1 && x->sock_owner[i] == w)
			shutdown(x->socks[i], SHUT_RDWR);
	}
}

/* Run j on w's multi handle until it ends or the pool stops. */
static void worker_run(struct xfer_worker *w, struct xfer_job *j)
{
	struct gw_xfer *x = w->x;

	j->cc = CURLE_ABORTED_BY_CALLBACK; /* unless it ends first */
	if (curl_multi_add_handle(w->multi, j->easy) != CURLM_OK) {
		j->cc = CURLE_OUT_OF_MEMORY;
		return;
	}
	for (;;) {
		CURLMsg *msg;
		int running = 0, left = 0, ended = 0;

		curl_multi_perform(w->multi, &running);
		for (;;) {
			msg = curl_multi_info_read(w->multi, &left);
			if (msg == NULL)
				break;
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == j->easy) {
				j->cc = msg->data.result;
				ended = 1;
			}
		}
		if (ended || atomic_load(&x->stop))
			break;
		curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
	}
	curl_multi_remove_handle(w->multi, j->easy);
}

/* The monotonic clock idle_ms from now, for pthread_cond_timedwait. */
static struct timespec idle_deadline(unsigned idle_ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)(idle_ms / 1000);
	t.tv_nsec += (long)(idle_ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* A thread of the pool: one job after the other until the stop, or until
 * it had no job for x->idle_ms (then it ends, its connection with it). */
static void *worker_main(void *arg)
{
	struct xfer_worker *w = arg;
	struct gw_xfer *x = w->x;
	int retire = 0;

	xfer_self = w;
	pthread_mutex_lock(&x->lock);
	for (;;) {
		struct xfer_job *j = NULL;
		/* idle from now: a wake-up that brings no job does not restart it */
		struct timespec until = idle_deadline(x->idle_ms);

		while (!atomic_load(&x->stop)) {
			int rc;

			j = job_next(x);
			if (j != NULL)
				break;
			x->idlers[x->nidle++] = w;
			w->listed = 1;
			rc = pthread_cond_timedwait(&w->cond, &x->lock, &until);
			if (w->listed)
				idle_remove(x, w); /* a time-out, the stop */
			else
				x->woken--; /* wake_one's: it counted this thread */
			if (rc == ETIMEDOUT && !atomic_load(&x->stop)) {
				/* a job may have come with the time-out */
				j = job_next(x);
				if (j == NULL)
					retire = 1;
				break;
			}
		}
		if (j == NULL)
			break;
		pthread_mutex_unlock(&x->lock);
		worker_run(w, j);
		pthread_mutex_lock(&x->lock);
		if (!j->urgent) {
			/* a waiting bulk job may start: in this thread, or in an
			 * idle one when this one takes an urgent job next */
			x->bulk_running--;
			if (x->bulk.head != NULL)
				wake_one(x);
		}
		/* a failure once the stop began may be the stop's doing (its
		 * sockets shut down): no outcome, the caller sends it again.  A
		 * success is the server's word: kept */
		if (atomic_load(&x->stop) && j->cc != CURLE_OK)
			j->interrupted = 1;
		list_push(&x->done, j);
		if (x->wake != NULL)
			curl_multi_wakeup(x->wake);
	}
	if (retire) {
		/* no longer counted: a new job gets a new thread.  The stop
		 * (which cannot have begun: it is checked under the lock)
		 * leaves this multi handle to this thread */
		x->nworkers--;
		w->slot = SLOT_ENDING;
		/* no QUIT exchange: a server that never answers it would keep
		 * this thread (libcurl waits up to its response timeout) */
		socks_shut(x, w);
		pthread_mutex_unlock(&x->lock);
		/* outside the lock: closing the connection calls xfer_close */
		curl_multi_cleanup(w->multi);
		pthread_mutex_lock(&x->lock);
		w->multi = NULL;
		w->slot = SLOT_ENDED;
		x->nended++;
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* A new pool (gw_xfer.h). */
struct gw_xfer *gw_xfer_new(CURLM *wake, unsigned max_threads, unsigned idle_ms, char *err,
                            size_t errlen)
{
	struct gw_xfer *x = mqs_calloc(1, sizeof(*x));
	int locked = 0;

	if (x == NULL) {
		snprintf(err, errlen, "cannot create the transfer pool: out of memory");
		goto out;
	}
	if (pthread_mutex_init(&x->lock, NULL) != 0) {
		snprintf(err, errlen, "cannot create the transfer pool: no mutex");
		goto fail;
	}
	locked = 1;
	/* idle time-outs on the monotonic clock: a clock step neither ends
	 * every thread nor keeps them forever */
	if (pthread_condattr_init(&x->cattr) != 0) {
		snprintf(err, errlen, "cannot create the transfer pool: no condition");
		goto fail;
	}
	if (pthread_condattr_setclock(&x->cattr, CLOCK_MONOTONIC) != 0) {
		pthread_condattr_destroy(&x->cattr);
		snprintf(err, errlen, "cannot create the transfer pool: no monotonic clock");
		goto fail;
	}
	x->max_threads = max_threads == 0                    ? 1
	                 : max_threads > GW_XFER_THREADS_MAX ? GW_XFER_THREADS_MAX
	                                                     : max_threads;
	x->wake = wake;
	x->idle_ms = idle_ms == 0 ? GW_XFER_IDLE_MS : idle_ms;
	atomic_init(&x->stop, 0);
	for (size_t i = 0; i < XFER_SOCKS_MAX; i++)
		x->socks[i] = -1;
	goto out;
fail:
	if (locked)
		pthread_mutex_destroy(&x->lock);
	mqs_free(x);
	x = NULL;
out:
	return x;
}

/* Join the thread of slot w (it has returned, or is returning without
 * the lock) and free the slot. */
static void slot_free(struct xfer_worker *w)
{
	pthread_join(w->tid, NULL);
	pthread_cond_destroy(&w->cond);
	w->slot = SLOT_FREE;
}

/* Join every thread that ended by itself (x->lock held): their stacks go
 * now, not at the next thread's start or the stop. */
static void slots_reap(struct gw_xfer *x)
{
	for (size_t i = 0; i < XFER_SLOTS && x->nended > 0; i++) {
		if (x->workers[i].slot == SLOT_ENDED) {
			slot_free(&x->workers[i]);
			x->nended--;
		}
	}
}

/* A slot for a new thread (x->lock held), after joining every thread that
 * ended by itself (it no longer needs the lock).  NULL when every slot
 * holds a live or an ending thread. */
static struct xfer_worker *slot_take(struct gw_xfer *x)
{
	slots_reap(x);
	for (size_t i = 0; i < XFER_SLOTS; i++) {
		if (x->workers[i].slot == SLOT_FREE)
			return &x->workers[i];
	}
	return NULL;
}

/* One more thread (x->lock held).  MQS_OK or MQS_ERR_NOMEM (no memory,
 * no thread, or no slot while idle threads are still ending). */
static int worker_add(struct gw_xfer *x)
{
	struct xfer_worker *w = slot_take(x);
	sigset_t all, old;
	int rc = MQS_ERR_NOMEM;

	if (w == NULL)
		goto out;
	w->x = x;
	w->listed = 0;
	if (pthread_cond_init(&w->cond, &x->cattr) != 0)
		goto out;
	w->multi = curl_multi_init();
	if (w->multi == NULL) {
		pthread_cond_destroy(&w->cond);
		goto out;
	}
	/* signals stay with the loop's thread (its self-pipe) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&w->tid, NULL, worker_main, w) == 0) {
		x->nworkers++;
		w->slot = SLOT_LIVE;
		rc = MQS_OK;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != MQS_OK) {
		curl_multi_cleanup(w->multi);
		w->multi = NULL;
		pthread_cond_destroy(&w->cond);
	}
out:
	return rc;
}

/* CURLOPT_QUICK_EXIT (libcurl 7.87): at the stop, a host name lookup still
 * running is left to its thread instead of waited for (the resolver's
 * timeouts, tens of seconds with a silent name server). */
static CURLcode quick_exit(CURL *easy)
{
#if LIBCURL_VERSION_NUM >= 0x075700
	return curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
#else
	(void)easy;
	return CURLE_OK;
#endif
}

/* Hand easy to the pool (gw_xfer.h). */
int gw_xfer_start(struct gw_xfer *x, CURL *easy, int urgent)
{
	struct xfer_job *j = mqs_calloc(1, sizeof(*j));
	int rc = MQS_OK;

	if (j == NULL)
		return MQS_ERR_NOMEM;
	j->easy = easy;
	j->urgent = urgent != 0;
	if (curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, xfer_progress) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, x) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, xfer_open) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, x) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, xfer_close) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, x) != CURLE_OK ||
	    quick_exit(easy) != CURLE_OK) {
		mqs_free(j);
		return MQS_ERR_NOMEM;
	}
	pthread_mutex_lock(&x->lock);
	if (x->stopped) {
		rc = MQS_ERR_INVAL;
		goto out;
	}
	/* a thread for it unless one waits for work already */
	if (x->waiting + 1 > x->nidle + x->woken && x->nworkers < x->max_threads &&
	    worker_add(x) != MQS_OK && x->nworkers == 0) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	list_push(urgent ? &x->urgent : &x->bulk, j);
	j = NULL;
	x->waiting++;
	x->count++;
	/* the thread idle last looks (job_next's rule is the pool's, not a
	 * thread's).  A bulk job it may not take yet is started by the thread
	 * whose bulk job ends (worker_main) */
	wake_one(x);
out:
	pthread_mutex_unlock(&x->lock);
	mqs_free(j);
	return rc;
}

/* A finished transfer (gw_xfer.h). */
CURL *gw_xfer_take(struct gw_xfer *x, CURLcode *cc)
{
	struct xfer_job *j;
	CURL *easy = NULL;

	pthread_mutex_lock(&x->lock);
	slots_reap(x);
	j = list_pop(&x->done);
	if (j != NULL)
		x->count--;
	pthread_mutex_unlock(&x->lock);
	if (j != NULL) {
		easy = j->easy;
		*cc = j->cc;
		mqs_free(j);
	}
	return easy;
}

/* Live threads (gw_xfer.h). */
unsigned gw_xfer_threads(struct gw_xfer *x)
{
	unsigned n;

	pthread_mutex_lock(&x->lock);
	n = x->nworkers;
	pthread_mutex_unlock(&x->lock);
	return n;
}

/* Transfers not yet taken back (gw_xfer.h). */
size_t gw_xfer_count(const struct gw_xfer *x)
{
	return x->count;
}

/* Drop the interrupted jobs of l (their handles are the caller's again). */
static void list_drop_interrupted(struct xfer_list *l)
{
	struct xfer_list kept = {NULL, NULL};
	struct xfer_job *j = list_pop(l);

	while (j != NULL) {
		if (j->interrupted)
			mqs_free(j);
		else
			list_push(&kept, j);
		j = list_pop(l);
	}
	*l = kept;
}

/* Stop the pool's threads (gw_xfer.h). */
void gw_xfer_stop(struct gw_xfer *x)
{
	unsigned char join[XFER_SLOTS];

	if (x == NULL || x->stopped)
		return;
	pthread_mutex_lock(&x->lock);
	atomic_store(&x->stop, 1);
	for (unsigned i = 0; i < x->nidle; i++)
		pthread_cond_signal(&x->idlers[i]->cond);
	/* every wait on a socket ends now (the threads still close them) */
	for (size_t i = 0; i < XFER_SOCKS_MAX; i++) {
		if (x->socks[i] != -1)
			shutdown(x->socks[i], SHUT_RDWR);
	}
	/* a live thread keeps its multi handle until joined here (no thread
	 * starts ending once the stop is set); an ending one cleans up its
	 * own, so only live ones are woken.  Which slots to join is read
	 * under the lock: an ending thread still changes its slot */
	for (size_t i = 0; i < XFER_SLOTS; i++) {
		join[i] = x->workers[i].slot != SLOT_FREE;
		if (x->workers[i].slot == SLOT_LIVE)
			curl_multi_wakeup(x->workers[i].multi);
	}
	pthread_mutex_unlock(&x->lock);
	for (size_t i = 0; i < XFER_SLOTS; i++) {
		struct xfer_worker *w = &x->workers[i];

		if (!join[i])
			continue;
		pthread_join(w->tid, NULL);
		curl_multi_cleanup(w->multi); /* NULL (ended by itself) is fine */
		w->multi = NULL;
		pthread_cond_destroy(&w->cond);
		w->slot = SLOT_FREE;
	}
	x->nworkers = 0;
	x->nended = 0;
	/* the threads are gone: no lock needed from here on.  The jobs
	 * dropped stay counted: never taken back */
	x->stopped = 1;
	list_drop_interrupted(&x->done);
	list_free(&x->urgent);
	list_free(&x->bulk);
	x->waiting = 0;
}

/* Stop and free the pool (gw_xfer.h). */
void gw_xfer_free(struct gw_xfer *x)
{
	if (x == NULL)
		return;
	gw_xfer_stop(x);
	list_free(&x->done);
	pthread_condattr_destroy(&x->cattr);
	pthread_mutex_destroy(&x->lock);
	mqs_free(x);
}
