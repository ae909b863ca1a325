/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-smtp-early.c - the pipelining SMTP client (gateway/gw_smtp.c) against a
 * scripted server thread on 127.0.0.1: a normal delivery, a server that
 * answers the final dot before the message was written (sent from freed
 * memory and counted as sent before the fix), a refusal in the middle of a
 * large message; a fast server answering a stream of marketing emails
 * (each one's end submitting the next, as the dispatcher does): every one
 * sent and reported once, no more than two ended per call on a connection
 * that carries bulk work only, no stall with replies left in the socket
 * (docs/channels.md, "Pipelining"). */
#include "config.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gw_channel.h"
#include "gw_smtp.h"
#include "mqs_error.h"
#include "tap.h"

enum script { S_NORMAL, S_AHEAD, S_REFUSE_MID };

struct server {
	int lfd;
	unsigned port;
	enum script script;
	char *got; /* bytes received after "DATA\r\n" */
	size_t got_len;
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Read until needle was seen (in the bytes read since the call); 0 on EOF. */
static int read_until(int fd, const char *needle, char **acc, size_t *len)
{
	size_t from = *len;
	char buf[65536];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		char *p;

		if (n <= 0)
			return 0;
		p = realloc(*acc, *len + (size_t)n + 1);
		if (p == NULL)
			return 0;
		*acc = p;
		memcpy(*acc + *len, buf, (size_t)n);
		*len += (size_t)n;
		(*acc)[*len] = '\0';
		if (memmem(*acc + from, *len - from, needle, strlen(needle)) != NULL)
			return 1;
	}
}

/* Non-zero: the servers write every reply a byte at a time, 300 us apart
 * (each reply split over many segments: every client read is short). */
static int dribble;

/* send(2) of s, a byte at a time when dribble is set. */
static void put(int fd, const char *s)
{
	if (!dribble) {
		send(fd, s, strlen(s), MSG_NOSIGNAL);
		return;
	}
	for (; *s != '\0'; s++) {
		send(fd, s, 1, MSG_NOSIGNAL);
		usleep(300);
	}
}

/* Greet, read the EHLO and answer it with PIPELINING: 1, or 0 when the
 * client went away. */
static int serve_ehlo(int fd, char **acc, size_t *len)
{
	const char *greet = "220 t ESMTP\r\n", *ehlo = "250-t\r\n250 PIPELINING\r\n";

	put(fd, greet);
	if (!read_until(fd, "\r\n", acc, len))
		return 0;
	put(fd, ehlo);
	return 1;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	char *acc = NULL;
	size_t len = 0;
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (!serve_ehlo(fd, &acc, &len))
		goto out;
	if (!read_until(fd, "DATA\r\n", &acc, &len))
		goto out;
	free(acc);
	acc = NULL;
	len = 0;
	if (s->script == S_AHEAD) {
		/* every reply at once, the final dot's before the message */
		const char *r = "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n";

		send(fd, r, strlen(r), MSG_NOSIGNAL);
	} else if (s->script == S_REFUSE_MID) {
		const char *r = "250 ok\r\n250 ok\r\n354 go\r\n";
		const char *x = "552 too big\r\n";
		ssize_t n;

		send(fd, r, strlen(r), MSG_NOSIGNAL);
		acc = malloc(4096);
		n = acc != NULL ? recv(fd, acc, 4096, 0) : -1; /* a little of the message */
		len = n > 0 ? (size_t)n : 0;
		send(fd, x, strlen(x), MSG_NOSIGNAL);
	} else {
		const char *r = "250 ok\r\n250 ok\r\n354 go\r\n";
		const char *d = "250 queued as T\r\n";

		send(fd, r, strlen(r), MSG_NOSIGNAL);
		if (read_until(fd, "\r\n.\r\n", &acc, &len))
			send(fd, d, strlen(d), MSG_NOSIGNAL);
	}
	/* whatever else comes until the client closes or goes quiet */
	{
		struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
		char buf[65536];

		while (poll(&p, 1, 1000) > 0) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			char *q;

			if (n <= 0)
				break;
			q = realloc(acc, len + (size_t)n + 1);
			if (q == NULL)
				break;
			acc = q;
			memcpy(acc + len, buf, (size_t)n);
			len += (size_t)n;
		}
	}
out:
	s->got = acc;
	s->got_len = len;
	close(fd);
	return NULL;
}

struct outcome {
	int ended, outcome, code;
};

static void done(void *arg, void *token, const struct gw_smtp_result *r)
{
	struct outcome *o = arg;

	(void)token;
	o->ended++;
	o->outcome = r->outcome;
	o->code = r->code;
}

/* One delivery of a message of body_len bytes under script; o gets the
 * outcome, s the bytes the server received after DATA. */
static void run(enum script script, size_t body_len, struct outcome *o, struct server *s,
                char **msg_copy, size_t *msg_len)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	pthread_t th;
	struct gw_smtp *c;
	struct gw_smtp_conf conf;
	char err[160], *body, *msg;
	size_t len = 0;
	int64_t end;

	memset(o, 0, sizeof(*o));
	memset(s, 0, sizeof(*s));
	s->script = script;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->lfd, 1) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0)
		return;
	s->port = ntohs(a.sin_port);
	pthread_create(&th, NULL, server_main, s);
	memset(&conf, 0, sizeof(conf));
	conf.host = "127.0.0.1";
	conf.port = s->port;
	conf.helo = "gw";
	conf.mail_from = "<gw@example.test>";
	conf.timeout_ms = 5000;
	conf.max_conns = 1;
	c = gw_smtp_new(&conf, err, sizeof(err));
	body = malloc(body_len + 1);
	for (size_t i = 0; i < body_len; i++)
		body[i] = (i % 64) == 63 ? '\n' : (char)('a' + i % 26);
	msg = gw_smtp_dot_stuff(body, body_len, 64u * 1024u * 1024u, &len);
	free(body);
	*msg_copy = malloc(len);
	memcpy(*msg_copy, msg, len);
	*msg_len = len;
	if (c == NULL ||
	    gw_smtp_submit(c, "<r@example.test>", msg, len, NULL, 1, now_ms()) != MQS_OK)
		goto out;
	end = now_ms() + 6000;
	while (o->ended == 0 && now_ms() < end) {
		int fds[GW_SMTP_CONNS_MAX];
		short ev[GW_SMTP_CONNS_MAX];
		struct pollfd p[GW_SMTP_CONNS_MAX];
		size_t n = gw_smtp_fds(c, fds, ev, GW_SMTP_CONNS_MAX);

		for (size_t i = 0; i < n; i++) {
			p[i].fd = fds[i];
			p[i].events = ev[i];
			p[i].revents = 0;
		}
		(void)poll(p, n, 20);
		gw_smtp_perform(c, now_ms(), done, o);
		/* what the gateway does meanwhile: the freed message is reused */
		free(calloc(1, len));
	}
	/* a turn more: nothing may be written after the end */
	for (int i = 0; i < 5; i++) {
		gw_smtp_perform(c, now_ms(), done, o);
		usleep(10000);
	}
out:
	gw_smtp_free(c, done, o);
	pthread_join(th, NULL);
	close(s->lfd);
}

#define STREAM_N 100 /* marketing emails of the stream test */

struct stream {
	int lfd;
	int dots; /* messages the server received */
	int ended[STREAM_N];
	int sent;         /* ended as GW_SENT */
	int submitted;    /* submitted so far */
	int call_ended;   /* ended during the current perform */
	int max_per_call; /* the most ended in one perform */
	struct gw_smtp *c;
	char msg[64];
};

/* The server of the stream test: every command answered as soon as it is
 * read (MAIL, RCPT, DATA: 250, 250, 354; a final dot: 250), until the
 * client closes or stays quiet for 10 s. */
static void *stream_server(void *arg)
{
	struct stream *st = arg;
	char *acc = NULL;
	size_t len = 0, scan = 0;
	int fd = accept(st->lfd, NULL, NULL);
	const char *env = "250 ok\r\n250 ok\r\n354 go\r\n", *dot = "250 queued\r\n";

	if (fd < 0)
		return NULL;
	if (!serve_ehlo(fd, &acc, &len))
		goto out;
	scan = len;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
		char buf[65536];
		ssize_t n;
		char *q;

		for (;;) {
			char *d = memmem(acc + scan, len - scan, "DATA\r\n", 6);
			char *e = memmem(acc + scan, len - scan, "\r\n.\r\n", 5);

			if (d == NULL && e == NULL)
				break;
			if (d != NULL && (e == NULL || d < e)) {
				put(fd, env);
				scan = (size_t)(d - acc) + 6;
			} else {
				st->dots++;
				put(fd, dot);
				scan = (size_t)(e - acc) + 5;
			}
		}
		if (poll(&p, 1, 10000) <= 0)
			break;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		q = realloc(acc, len + (size_t)n + 1);
		if (q == NULL)
			break;
		acc = q;
		memcpy(acc + len, buf, (size_t)n);
		len += (size_t)n;
		acc[len] = '\0';
	}
out:
	free(acc);
	close(fd);
	return NULL;
}

/* Submit the next marketing emails of the stream (token: the index) while
 * the client has a place for them (the dispatcher's refill). */
static void stream_refill(struct stream *st)
{
	while (st->c != NULL && st->submitted < STREAM_N) {
		size_t len = 0;
		char *msg = gw_smtp_dot_stuff(st->msg, strlen(st->msg), 1000, &len);
		intptr_t i = st->submitted;

		if (msg == NULL || gw_smtp_submit(st->c, "<m@example.test>", msg, len, (void *)i, 0,
		                                  now_ms()) != MQS_OK)
			return;
		st->submitted++;
	}
}

/* done of the stream test: count, and submit the next one at once (the
 * dispatcher's refill). */
static void stream_done(void *arg, void *token, const struct gw_smtp_result *r)
{
	struct stream *st = arg;
	intptr_t i = (intptr_t)token;

	if (i >= 0 && i < STREAM_N)
		st->ended[i]++;
	if (r->outcome == GW_SENT)
		st->sent++;
	st->call_ended++;
	stream_refill(st);
}

/* The stream test: STREAM_N marketing emails on one connection (slow:
 * every reply dribbled a byte at a time). */
static void test_stream(int slow)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	pthread_t th;
	struct gw_smtp_conf conf;
	struct stream *st = calloc(1, sizeof(*st));
	char err[160];
	int64_t end;
	int once = 1, total = 0, timeouts = 0, ok = 0;

	if (st == NULL) {
		tap_skip(4, "no memory");
		return;
	}
	dribble = slow;
	snprintf(st->msg, sizeof(st->msg), "Subject: m\n\nhello\n");
	st->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(st->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(st->lfd, 1) != 0 ||
	    getsockname(st->lfd, (struct sockaddr *)&a, &al) != 0) {
		tap_skip(4, "no loopback socket");
		close(st->lfd);
		free(st);
		return;
	}
	pthread_create(&th, NULL, stream_server, st);
	memset(&conf, 0, sizeof(conf));
	conf.host = "127.0.0.1";
	conf.port = ntohs(a.sin_port);
	conf.helo = "gw";
	conf.mail_from = "<gw@example.test>";
	conf.timeout_ms = 120000;
	conf.max_conns = 1; /* one connection, bulk work only */
	st->c = gw_smtp_new(&conf, err, sizeof(err));
	ok = st->c != NULL;
	/* driven like the loop: poll what the client asks for, then perform;
	 * a stall (replies left in the socket, output with no POLLOUT) costs
	 * the 2 s poll each time and overruns the bound */
	end = now_ms() + 120000;
	while (ok && now_ms() < end) {
		int fds[GW_SMTP_CONNS_MAX];
		short ev[GW_SMTP_CONNS_MAX];
		struct pollfd p[GW_SMTP_CONNS_MAX];
		size_t n;
		int sum = 0;

		for (int i = 0; i < STREAM_N; i++)
			sum += st->ended[i];
		if (sum >= STREAM_N)
			break;
		stream_refill(st); /* the dispatcher's turn */
		n = gw_smtp_fds(st->c, fds, ev, GW_SMTP_CONNS_MAX);
		for (size_t i = 0; i < n; i++) {
			p[i].fd = fds[i];
			p[i].events = ev[i];
			p[i].revents = 0;
		}
		if (poll(p, n, 2000) == 0) {
			/* a stall only when a socket had input the client did
			 * not ask to hear of (a slow server thread on a busy
			 * machine is not one) */
			for (size_t i = 0; i < n; i++) {
				struct pollfd q = {.fd = fds[i], .events = POLLIN, .revents = 0};

				if (!(ev[i] & POLLIN) && poll(&q, 1, 0) == 1) {
					timeouts++;
					break;
				}
			}
		}
		st->call_ended = 0;
		gw_smtp_perform(st->c, now_ms(), stream_done, st);
		if (st->call_ended > st->max_per_call)
			st->max_per_call = st->call_ended;
	}
	{
		struct gw_smtp *c = st->c;

		st->c = NULL; /* no refill while it is freed */
		gw_smtp_free(c, stream_done, st);
	}
	pthread_join(th, NULL);
	close(st->lfd);
	for (int i = 0; i < STREAM_N; i++) {
		total += st->ended[i];
		once = once && st->ended[i] == 1;
	}
	tap_ok(ok && once && total == STREAM_N,
	       "stream: each of %d marketing emails ended exactly once (%d ends)", STREAM_N, total);
	tap_ok(st->sent == STREAM_N && st->dots == STREAM_N,
	       "stream: every one sent (%d), the server got %d messages", st->sent, st->dots);
	tap_ok(st->max_per_call <= 2,
	       "stream: at most 2 ended per call on the bulk connection (%d)", st->max_per_call);
	tap_diag("stream%s: %d polls timed out with input the client did not poll for",
	         slow ? " (dribbled)" : "", timeouts);
	tap_ok(timeouts == 0, "stream%s: no stall (no input left unwatched at a poll timeout)",
	       slow ? " (dribbled)" : "");
	dribble = 0;
	free(st);
}

int main(void)
{
	struct outcome o;
	struct server s;
	char *msg = NULL;
	size_t len = 0;

	run(S_NORMAL, 1000, &o, &s, &msg, &len);
	tap_is_int(o.ended, 1, "normal: one end");
	tap_is_int(o.outcome, GW_SENT, "normal: sent");
	tap_ok(s.got_len == len && memcmp(s.got, msg, len) == 0,
	       "normal: the server got the message exactly");
	free(s.got);
	free(msg);

	run(S_AHEAD, 1000, &o, &s, &msg, &len);
	tap_is_int(o.ended, 1, "final dot answered ahead: one end");
	tap_ok(o.outcome != GW_SENT, "final dot answered ahead: not counted as sent (got %d)",
	       o.outcome);
	tap_ok(s.got_len <= len && (s.got_len == 0 || memcmp(s.got, msg, s.got_len) == 0),
	       "final dot answered ahead: nothing but the message written (%zu bytes)", s.got_len);
	free(s.got);
	free(msg);

	run(S_REFUSE_MID, 8u * 1024u * 1024u, &o, &s, &msg, &len);
	tap_is_int(o.ended, 1, "refused mid-message: one end");
	tap_is_int(o.outcome, GW_FAILED, "refused mid-message: failed (5xx)");
	tap_is_int(o.code, 552, "refused mid-message: its code");
	tap_ok(s.got_len <= len && (s.got_len == 0 || memcmp(s.got, msg, s.got_len) == 0),
	       "refused mid-message: nothing but a prefix of the message written");
	free(s.got);
	free(msg);

	test_stream(0);
	test_stream(1);
	tap_done();
	return tap_exit();
}
