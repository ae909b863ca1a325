/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_xfer.c - libcurl transfers that may block, on a pool of threads
 * (gw_xfer.h; docs/channels.md, "Email over libcurl"). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gw_xfer.h"
#include "mqs_alloc.h"

/* sockets of a pool at most: each thread's connection, and a new one
 * (two while happy eyeballs tries both address families) */
#define XFER_SOCKS_MAX (4 * GW_XFER_THREADS_MAX)

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

/* One thread and its multi handle (its connection cache). */
struct xfer_worker {
	struct gw_xfer *x;
	pthread_t tid;
	CURLM *multi;
};

struct gw_xfer {
	pthread_mutex_t lock; /* guards everything below but stop and the workers' multis */
	pthread_cond_t cond;  /* a job waits, or the stop */
	struct xfer_list urgent, bulk; /* waiting to start, urgent first */
	struct xfer_list done;         /* finished, not yet taken */
	size_t waiting;                /* jobs in urgent and bulk */
	unsigned idle;                 /* threads waiting for a job */
	unsigned nworkers, max_threads;
	unsigned bulk_running; /* non-urgent jobs running */
	struct xfer_worker workers[GW_XFER_THREADS_MAX];
	atomic_int stop;
	int stopped; /* gw_xfer_stop() done (the caller's thread only) */
	CURLM *wake;
	/* the threads' sockets, shut down at the stop so that no wait of
	 * libcurl (a reply, the QUIT of a closing connection) outlasts it;
	 * -1: a free slot */
	int socks[XFER_SOCKS_MAX];
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
		if (fd >= 0)
			x->socks[i] = fd;
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

/* A thread of the pool: one job after the other until the stop. */
static void *worker_main(void *arg)
{
	struct xfer_worker *w = arg;
	struct gw_xfer *x = w->x;

	pthread_mutex_lock(&x->lock);
	for (;;) {
		struct xfer_job *j = NULL;

		while (!atomic_load(&x->stop)) {
			j = job_next(x);
			if (j != NULL)
				break;
			x->idle++;
			pthread_cond_wait(&x->cond, &x->lock);
			x->idle--;
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
				pthread_cond_signal(&x->cond);
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
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* A new pool (gw_xfer.h). */
struct gw_xfer *gw_xfer_new(CURLM *wake, unsigned max_threads, char *err, size_t errlen)
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
	if (pthread_cond_init(&x->cond, NULL) != 0) {
		snprintf(err, errlen, "cannot create the transfer pool: no condition");
		goto fail;
	}
	x->max_threads = max_threads == 0                    ? 1
	                 : max_threads > GW_XFER_THREADS_MAX ? GW_XFER_THREADS_MAX
	                                                     : max_threads;
	x->wake = wake;
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

/* One more thread (x->lock held).  MQS_OK or MQS_ERR_NOMEM. */
static int worker_add(struct gw_xfer *x)
{
	struct xfer_worker *w = &x->workers[x->nworkers];
	sigset_t all, old;
	int rc = MQS_ERR_NOMEM;

	w->x = x;
	w->multi = curl_multi_init();
	if (w->multi == NULL)
		goto out;
	/* signals stay with the loop's thread (its self-pipe) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&w->tid, NULL, worker_main, w) == 0) {
		x->nworkers++;
		rc = MQS_OK;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != MQS_OK) {
		curl_multi_cleanup(w->multi);
		w->multi = NULL;
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
	if (x->waiting + 1 > x->idle && x->nworkers < x->max_threads && worker_add(x) != MQS_OK &&
	    x->nworkers == 0) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	list_push(urgent ? &x->urgent : &x->bulk, j);
	j = NULL;
	x->waiting++;
	x->count++;
	/* one waiting thread looks (which one does not matter: job_next's
	 * rule is the pool's, not a thread's).  A bulk job it may not take yet
	 * is started by the thread whose bulk job ends (worker_main) */
	pthread_cond_signal(&x->cond);
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
	if (x == NULL || x->stopped)
		return;
	pthread_mutex_lock(&x->lock);
	atomic_store(&x->stop, 1);
	pthread_cond_broadcast(&x->cond);
	/* every wait on a socket ends now (the threads still close them) */
	for (size_t i = 0; i < XFER_SOCKS_MAX; i++) {
		if (x->socks[i] != -1)
			shutdown(x->socks[i], SHUT_RDWR);
	}
	pthread_mutex_unlock(&x->lock);
	for (unsigned i = 0; i < x->nworkers; i++) {
		curl_multi_wakeup(x->workers[i].multi);
		pthread_join(x->workers[i].tid, NULL);
		curl_multi_cleanup(x->workers[i].multi);
		x->workers[i].multi = NULL;
	}
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
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	mqs_free(x);
}
