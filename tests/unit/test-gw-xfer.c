/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-xfer.c - the transfer pool (gateway/gw_xfer.c) with libcurl's
 * SMTP against a scripted server on 127.0.0.1 that does not pipeline and
 * holds its reply to the end of a message to "slow" recipients until the
 * test releases it.  libcurl waits for that reply inside
 * curl_multi_perform; in the pool the wait holds only its own transfer: the
 * caller's thread goes on, another email is sent meanwhile, the caller's
 * multi handle is woken when a transfer ends, urgent transfers start ahead
 * of waiting bulk ones and never wait for a thread behind them, the stop
 * aborts a held transfer within seconds, does not wait for a host name
 * lookup that hangs, and keeps the outcome of a transfer that ended before
 * it (docs/channels.md, "Email over libcurl"). */
#include "config.h"

#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "gw_http.h"
#include "gw_xfer.h"
#include "mqs_error.h"
#include "tap.h"

#define CONNS_MAX 32

/* Host name lookups of *.hang.invalid hang until lookup_release is set
 * (or 60 s), then resolve to 127.0.0.1: libcurl's resolver thread calls
 * this getaddrinfo, which takes the C library's place (exported despite
 * -fvisibility=hidden). */
static atomic_int lookup_hanging;
static atomic_int lookup_release;

__attribute__((visibility("default"))) int getaddrinfo(const char *node, const char *service,
                                                       const struct addrinfo *hints,
                                                       struct addrinfo **res)
{
	int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

	*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (real == NULL)
		return EAI_FAIL;
	if (node != NULL && strstr(node, ".hang.invalid") != NULL) {
		for (int i = 0; i < 6000 && !atomic_load(&lookup_release); i++) {
			if (i == 0)
				atomic_fetch_add(&lookup_hanging, 1);
			usleep(10000);
		}
		node = "127.0.0.1";
	}
	return real(node, service, hints, res);
}

struct server {
	int lfd;
	unsigned port;
	atomic_int release;  /* held replies may go */
	atomic_int stalling; /* replies held so far */
	atomic_int quit;     /* the accept loop ends */
	atomic_int closed;   /* connections the client closed (QUIT or end of file) */
	atomic_int mute;     /* QUIT gets no reply: the client must not wait for one */
	pthread_t acceptor;
	pthread_t conn[CONNS_MAX];
	int fds[CONNS_MAX];
	int nconn;
};

struct conn_arg {
	struct server *s;
	int fd;
};

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void say(int fd, const char *line)
{
	(void)send(fd, line, strlen(line), MSG_NOSIGNAL);
}

/* One line (without CRLF) into buf: 1, or 0 on EOF. */
static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		char c;

		if (recv(fd, &c, 1, 0) != 1)
			return 0;
		if (c == '\n')
			break;
		if (c != '\r' && n + 1 < cap)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return 1;
}

/* One SMTP session without PIPELINING; the end of a message to a "slow"
 * recipient is answered once s->release is set (or after 60 s). */
static void *serve_conn(void *arg)
{
	struct conn_arg *a = arg;
	struct server *s = a->s;
	int fd = a->fd, slow = 0;
	char line[1024];

	free(a);
	say(fd, "220 t ESMTP\r\n");
	while (read_line(fd, line, sizeof(line))) {
		if (strncasecmp(line, "EHLO", 4) == 0) {
			say(fd, "250-t\r\n250 SIZE 1000000\r\n");
		} else if (strncasecmp(line, "MAIL", 4) == 0) {
			slow = 0;
			say(fd, "250 ok\r\n");
		} else if (strncasecmp(line, "RCPT", 4) == 0) {
			if (strstr(line, "slow") != NULL)
				slow = 1;
			say(fd, "250 ok\r\n");
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			say(fd, "354 go\r\n");
			while (read_line(fd, line, sizeof(line)) && strcmp(line, ".") != 0)
				;
			if (slow) {
				double until = mono_s() + 60;

				atomic_fetch_add(&s->stalling, 1);
				while (!atomic_load(&s->release) && mono_s() < until)
					usleep(10000);
			}
			say(fd, "250 2.0.0 ok queued as QT1\r\n");
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			if (atomic_load(&s->mute))
				continue; /* until the client closes */
			say(fd, "221 bye\r\n");
			break;
		} else {
			say(fd, "250 ok\r\n");
		}
	}
	atomic_fetch_add(&s->closed, 1);
	return NULL;
}

static void *accept_loop(void *arg)
{
	struct server *s = arg;

	while (!atomic_load(&s->quit) && s->nconn < CONNS_MAX) {
		int fd = accept(s->lfd, NULL, NULL);
		struct conn_arg *a;

		if (fd < 0 || atomic_load(&s->quit)) {
			if (fd >= 0)
				close(fd);
			break;
		}
		a = malloc(sizeof(*a));
		if (a == NULL) {
			close(fd);
			break;
		}
		a->s = s;
		a->fd = fd;
		s->fds[s->nconn] = fd;
		if (pthread_create(&s->conn[s->nconn], NULL, serve_conn, a) != 0) {
			free(a);
			close(fd);
			break;
		}
		s->nconn++;
	}
	return NULL;
}

static int server_start(struct server *s)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(s->lfd, 16) != 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	s->port = ntohs(sa.sin_port);
	return pthread_create(&s->acceptor, NULL, accept_loop, s) == 0 ? 0 : -1;
}

static void server_stop(struct server *s)
{
	atomic_store(&s->release, 1);
	atomic_store(&s->quit, 1);
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->acceptor, NULL);
	for (int i = 0; i < s->nconn; i++) {
		shutdown(s->fds[i], SHUT_RDWR);
		pthread_join(s->conn[i], NULL);
		close(s->fds[i]);
	}
	close(s->lfd);
}

struct msg {
	struct curl_slist *rcpt;
	size_t off;
};

static const char body[] = "Subject: t\r\n\r\nhello\r\n";

static size_t read_body(char *buf, size_t size, size_t n, void *p)
{
	struct msg *m = p;
	size_t left = sizeof(body) - 1 - m->off, k = size * n < left ? size * n : left;

	memcpy(buf, body + m->off, k);
	m->off += k;
	return k;
}

/* An easy handle sending one email to rcpt on s, reached as host. */
static CURL *email_at(const struct server *s, struct msg *m, const char *rcpt, const char *host)
{
	CURL *e = curl_easy_init();
	char url[96];

	snprintf(url, sizeof(url), "smtp://%s:%u/t", host, s->port);
	m->rcpt = curl_slist_append(NULL, rcpt);
	m->off = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(e, CURLOPT_MAIL_FROM, "<a@t>");
	curl_easy_setopt(e, CURLOPT_MAIL_RCPT, m->rcpt);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, read_body);
	curl_easy_setopt(e, CURLOPT_READDATA, m);
	curl_easy_setopt(e, CURLOPT_PRIVATE, m);
	return e;
}

/* An easy handle sending one email to rcpt on s. */
static CURL *email(const struct server *s, struct msg *m, const char *rcpt)
{
	return email_at(s, m, rcpt, "127.0.0.1");
}

static void email_free(CURL *e, struct msg *m)
{
	curl_easy_cleanup(e);
	curl_slist_free_all(m->rcpt);
	m->rcpt = NULL;
}

/* The next finished transfer, waiting on wake for at most secs. */
static CURL *take_wait(struct gw_xfer *x, CURLM *wake, double secs, CURLcode *cc)
{
	double until = mono_s() + secs;
	CURL *e = gw_xfer_take(x, cc);

	while (e == NULL && mono_s() < until) {
		curl_multi_poll(wake, NULL, 0, 1000, NULL);
		e = gw_xfer_take(x, cc);
	}
	return e;
}

/* The next finished transfer is want, sent. */
static void take_is(struct gw_xfer *x, CURLM *wake, CURL *want, const char *what)
{
	CURLcode cc = CURLE_OK;
	CURL *got = take_wait(x, wake, 30, &cc);

	tap_ok(got == want && cc == CURLE_OK, "%s", what);
}

/* Forget the wake-ups of earlier transfers (call before starting the
 * transfer woken() waits for). */
static void wake_drain(CURLM *wake)
{
	curl_multi_poll(wake, NULL, 0, 0, NULL);
}

/* Whether a transfer ended within secs: the pool wakes the multi handle,
 * which has nothing else to wait for. */
static int woken(CURLM *wake, double secs)
{
	double t0 = mono_s();

	curl_multi_poll(wake, NULL, 0, (int)(secs * 1000), NULL);
	return mono_s() - t0 < secs - 0.5;
}

/* A new pool of threads threads; s holds its replies again. */
static struct gw_xfer *pool_fresh(struct server *s, CURLM *wake, unsigned threads, unsigned idle_ms)
{
	char err[128];

	atomic_store(&s->release, 0);
	atomic_store(&s->stalling, 0);
	return gw_xfer_new(wake, threads, idle_ms, err, sizeof(err));
}

static int stalled(struct server *s, int n, double secs)
{
	double until = mono_s() + secs;

	while (atomic_load(&s->stalling) < n && mono_s() < until)
		usleep(10000);
	return atomic_load(&s->stalling) >= n;
}

int main(void)
{
	struct server s;
	struct msg ms, mf, ma, mb, mc;
	CURLM *wake;
	struct gw_xfer *x;
	CURL *slow, *fast, *got, *a, *b, *c;
	CURLcode cc = CURLE_OK;
	char err[128];
	double t0, dt;

	tap_plan(64);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	wake = curl_multi_init();
	if (server_start(&s) != 0) {
		tap_ok(0, "scripted server");
		return tap_exit();
	}

	/* a held reply holds only its own transfer */
	x = gw_xfer_new(wake, 4, 0, err, sizeof(err));
	tap_ok(x != NULL, "pool made");
	slow = email(&s, &ms, "<slow@t>");
	fast = email(&s, &mf, "<fast@t>");
	t0 = mono_s();
	tap_is_int(gw_xfer_start(x, slow, 1), MQS_OK, "held email started");
	tap_ok(stalled(&s, 1, 30), "the server holds its reply");
	tap_is_int(gw_xfer_start(x, fast, 1), MQS_OK, "second email started");
	tap_ok(mono_s() - t0 < 25, "starting does not wait for the held reply");
	tap_is_int((long long)gw_xfer_count(x), 2, "two transfers in the pool");
	take_is(x, wake, fast, "the second email is sent while the first is held");
	tap_ok(gw_xfer_take(x, &cc) == NULL, "the held one is not back");
	atomic_store(&s.release, 1);
	take_is(x, wake, slow, "the held email is sent once released");
	tap_is_int((long long)gw_xfer_count(x), 0, "pool empty");
	email_free(slow, &ms);
	email_free(fast, &mf);

	/* urgent ahead of waiting bulk: one thread, held by a bulk email */
	gw_xfer_free(x);
	x = pool_fresh(&s, wake, 1, 0);
	a = email(&s, &ma, "<slow-a@t>");
	b = email(&s, &mb, "<b@t>");
	c = email(&s, &mc, "<c@t>");
	tap_is_int(gw_xfer_start(x, a, 0), MQS_OK, "bulk email started");
	tap_ok(stalled(&s, 1, 30), "its reply is held");
	tap_ok(gw_xfer_start(x, b, 0) == MQS_OK && gw_xfer_start(x, c, 1) == MQS_OK,
	       "a bulk and an urgent one wait");
	atomic_store(&s.release, 1);
	take_is(x, wake, a, "the held one ends first");
	take_is(x, wake, c, "then the urgent one");
	take_is(x, wake, b, "then the bulk one");
	email_free(a, &ma);
	email_free(b, &mb);
	email_free(c, &mc);

	/* the stop aborts a held transfer */
	atomic_store(&s.release, 0);
	atomic_store(&s.stalling, 0);
	slow = email(&s, &ms, "<slow@t>");
	tap_is_int(gw_xfer_start(x, slow, 1), MQS_OK, "another held email");
	tap_ok(stalled(&s, 1, 30), "its reply is held");
	t0 = mono_s();
	gw_xfer_free(x);
	dt = mono_s() - t0;
	tap_ok(dt < 10, "the stop ends within seconds (%.2f s)", dt);
	email_free(slow, &ms); /* ours again, in no multi handle */
	gw_xfer_free(NULL);
	tap_ok(1, "free accepts NULL");

	/* bulk transfers never take the last thread: two threads, the first
	 * held by a bulk email; another bulk one waits, an urgent one goes */
	x = pool_fresh(&s, wake, 2, 0);
	a = email(&s, &ma, "<slow-a@t>");
	b = email(&s, &mb, "<slow-b@t>");
	c = email(&s, &mc, "<c@t>");
	tap_is_int(gw_xfer_start(x, a, 0), MQS_OK, "bulk email started on two threads");
	tap_ok(stalled(&s, 1, 30), "its reply is held");
	tap_ok(gw_xfer_start(x, b, 0) == MQS_OK && gw_xfer_start(x, c, 1) == MQS_OK,
	       "another bulk one and an urgent one started");
	take_is(x, wake, c, "the urgent one is sent on the thread kept for it");
	tap_is_int(atomic_load(&s.stalling), 1, "the second bulk one did not take that thread");
	atomic_store(&s.release, 1);
	take_is(x, wake, a, "released: the held bulk one ends");
	take_is(x, wake, b, "then the waiting bulk one");
	email_free(a, &ma);
	email_free(b, &mb);
	email_free(c, &mc);
	gw_xfer_free(x);

	/* the stop keeps the outcome of a transfer that ended before it (an
	 * email the server took is not sent again); a held one is the
	 * caller's again, without an outcome */
	x = pool_fresh(&s, wake, 2, 0);
	slow = email(&s, &ms, "<slow@t>");
	fast = email(&s, &mf, "<fast@t>");
	tap_is_int(gw_xfer_start(x, slow, 1), MQS_OK, "a held email");
	tap_ok(stalled(&s, 1, 30), "its reply is held");
	wake_drain(wake);
	tap_is_int(gw_xfer_start(x, fast, 1), MQS_OK, "a second email");
	tap_ok(woken(wake, 30), "it ended: the pool woke the caller");
	gw_xfer_stop(x);
	got = gw_xfer_take(x, &cc);
	tap_ok(got == fast && cc == CURLE_OK, "after the stop it is handed back, sent");
	tap_ok(gw_xfer_take(x, &cc) == NULL, "the held one is not: it goes again");
	tap_is_int((long long)gw_xfer_count(x), 1, "one left unfinished to the caller");
	a = email(&s, &ma, "<a@t>");
	tap_is_int(gw_xfer_start(x, a, 1), MQS_ERR_INVAL, "a stopped pool starts nothing");
	gw_xfer_stop(x);
	gw_xfer_free(x);
	email_free(a, &ma);
	email_free(slow, &ms);
	email_free(fast, &mf);

	/* a thread with no transfer for its idle time ends and closes its
	 * connection; the next transfer gets a new thread in a freed slot */
	atomic_store(&s.release, 1);
	x = gw_xfer_new(wake, 2, 50, err, sizeof(err));
	tap_ok(x != NULL, "pool made for the idle test");
	for (int round = 0; round < 3; round++) {
		int closed = atomic_load(&s.closed);

		/* last round: a server that never answers QUIT (libcurl would
		 * wait 120 s for it, the thread's slot held meanwhile) */
		atomic_store(&s.mute, round == 2);
		a = email(&s, &ma, "<idle@t>");
		tap_is_int(gw_xfer_start(x, a, round == 1 ? 0 : 1), MQS_OK,
		           "round %d: email started", round);
		take_is(x, wake, a, "an email sent by the pool");
		email_free(a, &ma);
		t0 = mono_s();
		while ((gw_xfer_threads(x) > 0 || atomic_load(&s.closed) == closed) &&
		       mono_s() - t0 < 20)
			usleep(10000);
		tap_is_int(gw_xfer_threads(x), 0, "round %d: the idle thread ended", round);
		tap_ok(atomic_load(&s.closed) > closed, "round %d: its connection was closed",
		       round);
		if (round == 2)
			tap_ok(mono_s() - t0 < 10, "and no wait for a reply to QUIT (%.2f s)",
			       mono_s() - t0);
	}
	atomic_store(&s.mute, 0);
	/* under light traffic the thread idle last takes each email: the
	 * others reach their idle time and end */
	gw_xfer_free(x);
	x = pool_fresh(&s, wake, 4, 300);
	{
		struct msg mh[4];
		CURL *h[4];
		int n = 0;

		for (int i = 0; i < 4; i++) {
			h[i] = email(&s, &mh[i], "<slow-idle@t>");
			if (gw_xfer_start(x, h[i], 1) == MQS_OK)
				n++;
		}
		tap_ok(n == 4 && stalled(&s, 4, 30), "four threads busy at once");
		atomic_store(&s.release, 1);
		for (int i = 0; i < 4; i++) {
			got = take_wait(x, wake, 30, &cc);
			if (got != NULL)
				n--;
		}
		for (int i = 0; i < 4; i++)
			email_free(h[i], &mh[i]);
		tap_ok(n == 0, "all four back (%u threads)", gw_xfer_threads(x));
	}
	t0 = mono_s();
	while (mono_s() - t0 < 1.5) {
		a = email(&s, &ma, "<light@t>");
		if (gw_xfer_start(x, a, 1) != MQS_OK || take_wait(x, wake, 30, &cc) != a)
			break;
		email_free(a, &ma);
		a = NULL;
		usleep(20000);
	}
	tap_ok(a == NULL, "an email every 20 ms for 1.5 s, each sent");
	if (a != NULL)
		email_free(a, &ma);
	/* one, or none if the machine held the test past the idle time */
	tap_ok(gw_xfer_threads(x) <= 1, "one thread left: the other three ended (%u)",
	       gw_xfer_threads(x));

	/* bursts: a thread woken for an email counts as taken, so a burst of
	 * four never starts a fifth thread */
	gw_xfer_free(x);
	x = pool_fresh(&s, wake, 16, 0);
	atomic_store(&s.release, 1);
	{
		int sent = 0;

		for (int burst = 0; burst < 5; burst++) {
			struct msg mh[4];
			CURL *h[4];
			int started = 0;

			for (int i = 0; i < 4; i++) {
				h[i] = email(&s, &mh[i], "<burst@t>");
				if (gw_xfer_start(x, h[i], 1) == MQS_OK)
					started++;
			}
			for (int i = 0; i < started; i++) {
				if (take_wait(x, wake, 30, &cc) != NULL && cc == CURLE_OK)
					sent++;
			}
			for (int i = 0; i < 4; i++)
				email_free(h[i], &mh[i]);
		}
		tap_is_int(sent, 20, "five bursts of four emails sent");
		tap_ok(gw_xfer_threads(x) <= 4, "four threads at most (%u)", gw_xfer_threads(x));
	}

	/* the stop while a thread ends by itself */
	gw_xfer_free(x);
	x = gw_xfer_new(wake, 1, 1, err, sizeof(err));
	a = email(&s, &ma, "<idle@t>");
	tap_is_int(gw_xfer_start(x, a, 1), MQS_OK, "email started before the stop");
	take_is(x, wake, a, "and sent");
	gw_xfer_free(x);
	email_free(a, &ma);

	/* the stop does not wait for a host name lookup that hangs (libcurl
	 * waited for its resolver thread: the resolver's timeouts) */
	atomic_store(&s.release, 1);
	x = gw_xfer_new(wake, 1, 0, err, sizeof(err));
	a = email_at(&s, &ma, "<a@t>", "mx.hang.invalid");
	tap_is_int(gw_xfer_start(x, a, 1), MQS_OK, "an email to a host whose lookup hangs");
	t0 = mono_s();
	while (atomic_load(&lookup_hanging) == 0 && mono_s() - t0 < 30)
		usleep(10000);
	tap_ok(atomic_load(&lookup_hanging) > 0, "the lookup hangs");
	t0 = mono_s();
	gw_xfer_free(x);
	dt = mono_s() - t0;
	tap_ok(dt < 10, "the stop ends within seconds all the same (%.2f s)", dt);
	email_free(a, &ma);

	/* on the loop's multi handle, a channel's transfer (gw_net_setopt)
	 * whose lookup hangs ends at its timeout, and no call of
	 * curl_multi_perform waits for the lookup meanwhile (libcurl waited
	 * for its resolver thread inside the call: the whole loop held) */
	{
		struct gw_net_conf nc = {
		    .url = NULL, .timeout_s = 1, .ca_file = NULL, .insecure = 0};
		CURLM *loop = curl_multi_init();
		CURL *h = curl_easy_init();
		double longest = 0;
		int running = 1, hanging = atomic_load(&lookup_hanging);
		CURLMsg *msg;
		int left = 0;

		curl_easy_setopt(h, CURLOPT_URL, "http://api.hang.invalid:9/");
		tap_is_int(gw_net_setopt(h, &nc, "https,http"), CURLE_OK,
		           "a channel's options set");
		curl_multi_add_handle(loop, h);
		t0 = mono_s();
		while (running && mono_s() - t0 < 60) {
			double c0 = mono_s();

			curl_multi_perform(loop, &running);
			if (mono_s() - c0 > longest)
				longest = mono_s() - c0;
			if (running)
				curl_multi_poll(loop, NULL, 0, 100, NULL);
		}
		msg = curl_multi_info_read(loop, &left);
		tap_ok(atomic_load(&lookup_hanging) > hanging, "its lookup hung");
		tap_ok(msg != NULL && msg->data.result == CURLE_OPERATION_TIMEDOUT,
		       "it ended at its timeout");
		tap_ok(longest < 5, "no call waited for the lookup (longest %.2f s)", longest);
		curl_multi_remove_handle(loop, h);
		curl_easy_cleanup(h);
		curl_multi_cleanup(loop);
	}
	atomic_store(&lookup_release, 1);

	server_stop(&s);
	curl_multi_cleanup(wake);
	curl_global_cleanup();
	return tap_exit();
}
