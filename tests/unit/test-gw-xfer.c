/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-xfer.c - the transfer pool (gateway/gw_xfer.c) with libcurl's
 * SMTP against a scripted server on 127.0.0.1 that does not pipeline and
 * holds its reply to the end of a message to "slow" recipients until the
 * test releases it.  libcurl waits for that reply inside
 * curl_multi_perform; in the pool the wait holds only its own transfer: the
 * caller's thread goes on, another email is sent meanwhile, the caller's
 * multi handle is woken when a transfer ends, urgent transfers start ahead
 * of waiting bulk ones, and the stop aborts a held transfer within seconds
 * (docs/channels.md, "Email over libcurl"). */
#include "config.h"

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

#include "gw_xfer.h"
#include "mqs_error.h"
#include "tap.h"

#define CONNS_MAX 16

struct server {
	int lfd;
	unsigned port;
	atomic_int release;  /* held replies may go */
	atomic_int stalling; /* replies held so far */
	atomic_int quit;     /* the accept loop ends */
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
			say(fd, "221 bye\r\n");
			break;
		} else {
			say(fd, "250 ok\r\n");
		}
	}
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

/* An easy handle sending one email to rcpt on s. */
static CURL *email(const struct server *s, struct msg *m, const char *rcpt)
{
	CURL *e = curl_easy_init();
	char url[64];

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%u/t", s->port);
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

	tap_plan(20);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	wake = curl_multi_init();
	if (server_start(&s) != 0) {
		tap_ok(0, "scripted server");
		return tap_exit();
	}

	/* a held reply holds only its own transfer */
	x = gw_xfer_new(wake, 4, err, sizeof(err));
	tap_ok(x != NULL, "pool made");
	slow = email(&s, &ms, "<slow@t>");
	fast = email(&s, &mf, "<fast@t>");
	t0 = mono_s();
	tap_is_int(gw_xfer_start(x, slow, 1), MQS_OK, "held email started");
	tap_ok(stalled(&s, 1, 30), "the server holds its reply");
	tap_is_int(gw_xfer_start(x, fast, 1), MQS_OK, "second email started");
	tap_ok(mono_s() - t0 < 25, "starting does not wait for the held reply");
	tap_is_int((long long)gw_xfer_count(x), 2, "two transfers in the pool");
	got = take_wait(x, wake, 30, &cc);
	tap_ok(got == fast && cc == CURLE_OK, "the second email is sent while the first is held");
	tap_ok(gw_xfer_take(x, &cc) == NULL, "the held one is not back");
	atomic_store(&s.release, 1);
	got = take_wait(x, wake, 30, &cc);
	tap_ok(got == slow && cc == CURLE_OK, "the held email is sent once released");
	tap_is_int((long long)gw_xfer_count(x), 0, "pool empty");
	email_free(slow, &ms);
	email_free(fast, &mf);

	/* urgent ahead of waiting bulk: one thread, held by a bulk email */
	gw_xfer_free(x);
	x = gw_xfer_new(wake, 1, err, sizeof(err));
	atomic_store(&s.release, 0);
	atomic_store(&s.stalling, 0);
	a = email(&s, &ma, "<slow-a@t>");
	b = email(&s, &mb, "<b@t>");
	c = email(&s, &mc, "<c@t>");
	tap_is_int(gw_xfer_start(x, a, 0), MQS_OK, "bulk email started");
	tap_ok(stalled(&s, 1, 30), "its reply is held");
	tap_ok(gw_xfer_start(x, b, 0) == MQS_OK && gw_xfer_start(x, c, 1) == MQS_OK,
	       "a bulk and an urgent one wait");
	atomic_store(&s.release, 1);
	got = take_wait(x, wake, 30, &cc);
	tap_ok(got == a && cc == CURLE_OK, "the held one ends first");
	got = take_wait(x, wake, 30, &cc);
	tap_ok(got == c && cc == CURLE_OK, "then the urgent one");
	got = take_wait(x, wake, 30, &cc);
	tap_ok(got == b && cc == CURLE_OK, "then the bulk one");
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

	server_stop(&s);
	curl_multi_cleanup(wake);
	curl_global_cleanup();
	return tap_exit();
}
