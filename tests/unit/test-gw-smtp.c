/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-smtp.c - the pipelining SMTP client (gateway/gw_smtp.h): dot
 * stuffing, one transaction against a scripted server on loopback (the
 * envelope in one write, the message after 354), and an urgent
 * transaction (an alert) sent while every bulk (marketing) transaction
 * waits for the reply to its final dot; marketing going on, pipelined,
 * while an alert's transaction is open; the write that joins a message's
 * end and the next envelope cut at chosen places (sendmsg and send
 * replaced below); a refusal while the client's writes are blocked, and a
 * greeting waiting when the connect completes, the client driven as the
 * gateway's loop drives it. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gw_channel.h"
#include "gw_smtp.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "tap.h"

/* Dot stuffing: CRLF line ends, leading dots doubled, the final dot. */
static void test_dot_stuff(void)
{
	const char *in = "a\n.b\r\n..c\nd";
	const char *want = "a\r\n..b\r\n...c\r\nd\r\n.\r\n";
	size_t len = 0;
	char *out = gw_smtp_dot_stuff(in, strlen(in), 1000, &len);

	tap_ok(out != NULL && len == strlen(want) && memcmp(out, want, len) == 0,
	       "dot-stuffed message");
	free(out);
	out = gw_smtp_dot_stuff("x", 1, 1000, &len);
	tap_ok(out != NULL && len == 6 && memcmp(out, "x\r\n.\r\n", 6) == 0,
	       "a last line without its line end gets one");
	free(out);
	tap_ok(gw_smtp_dot_stuff("abcdef", 6, 8, &len) == NULL, "over the cap: refused");
}

static struct gw_smtp_result got;
static void *got_token;
static int ndone;
static int64_t test_now = 1000; /* the clock given to the client */

/* done callback: keep the result. */
static void on_done(void *arg, void *token, const struct gw_smtp_result *r)
{
	(void)arg;
	got = *r;
	got_token = token;
	ndone++;
}

/* Read from fd until want appears in buf (bounded: 5 s, cap bytes). */
static int read_until(struct gw_smtp *c, int fd, char *buf, size_t cap, const char *want)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < 500 && strstr(buf, want) == NULL; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};

		gw_smtp_perform(c, test_now, on_done, NULL);
		if (poll(&p, 1, 10) == 1) {
			ssize_t r = read(fd, buf + n, cap - 1 - n);

			if (r <= 0)
				return -1;
			n += (size_t)r;
			buf[n] = '\0';
		}
	}
	return strstr(buf, want) != NULL ? 0 : -1;
}

/* Write a server reply. */
static void say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		tap_diag("short write");
}

/* One pipelined transaction against a scripted server. */
static void test_transaction(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int ls = socket(AF_INET, SOCK_STREAM, 0), fd;
	char buf[4096], err[128];
	struct gw_smtp_conf conf = {.host = "127.0.0.1",
	                            .helo = "gw.test",
	                            .mail_from = "<a@example.com>",
	                            .timeout_ms = 60000,
	                            .max_conns = 1,
	                            .starttls_wanted = 1};
	struct gw_smtp *c;
	char *msg;
	size_t len = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 4) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
		tap_skip(6, "no loopback socket");
		return;
	}
	conf.port = ntohs(sa.sin_port);
	c = gw_smtp_new(&conf, err, sizeof(err));
	tap_ok(c != NULL, "client created");
	if (c == NULL)
		return;
	msg = gw_smtp_dot_stuff("Subject: t\n\nhello\n", 18, 1000, &len);
	tap_is_int(gw_smtp_submit(c, "<b@example.net>", msg, len, NULL, 1, 1000), MQS_OK,
	           "submitted");
	gw_smtp_perform(c, 1000, on_done, NULL);
	fd = accept(ls, NULL, NULL);
	say(fd, "220 test ESMTP\r\n");
	tap_ok(read_until(c, fd, buf, sizeof(buf), "EHLO gw.test\r\n") == 0, "EHLO with the name");
	say(fd, "250-test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
	tap_ok(read_until(c, fd, buf, sizeof(buf), "DATA\r\n") == 0 &&
	           strcmp(buf,
	                  "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n") == 0,
	       "MAIL, RCPT and DATA pipelined");
	say(fd, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n");
	tap_ok(read_until(c, fd, buf, sizeof(buf), "\r\n.\r\n") == 0 &&
	           strcmp(buf, "Subject: t\r\n\r\nhello\r\n.\r\n") == 0,
	       "the message after 354");
	say(fd, "250 2.0.0 Ok: queued as Q1\r\n");
	for (int i = 0; i < 500 && ndone == 0; i++) {
		struct pollfd p = {.fd = -1, .events = 0, .revents = 0};

		gw_smtp_perform(c, 1000, on_done, NULL);
		poll(&p, 0, 2);
	}
	tap_ok(ndone == 1 && got.outcome == GW_SENT && strstr(got.reply, "queued as Q1") != NULL,
	       "sent, with the server's final reply");
	gw_smtp_free(c, on_done, NULL);
	close(fd);
	close(ls);
}

/* Accept the client's next connection (bounded: 5 s), driving it. */
static int accept_conn(struct gw_smtp *c, int ls)
{
	for (int i = 0; i < 500; i++) {
		struct pollfd p = {.fd = ls, .events = POLLIN, .revents = 0};

		gw_smtp_perform(c, 1000, on_done, NULL);
		if (poll(&p, 1, 10) == 1)
			return accept(ls, NULL, NULL);
	}
	return -1;
}

/* 1 when the client opened no further connection (after driving it a
 * little). */
static int no_new_conn(struct gw_smtp *c, int ls)
{
	struct pollfd p = {.fd = ls, .events = POLLIN, .revents = 0};

	for (int i = 0; i < 20; i++) {
		gw_smtp_perform(c, 1000, on_done, NULL);
		poll(NULL, 0, 1);
	}
	return poll(&p, 1, 0) == 0;
}

/* Greeting, EHLO with PIPELINING, the envelope answered, the message
 * read: 0, or -1. */
static int serve_to_dot(struct gw_smtp *c, int fd, char *buf, size_t cap)
{
	say(fd, "220 test ESMTP\r\n");
	if (read_until(c, fd, buf, cap, "EHLO gw.test\r\n") != 0)
		return -1;
	say(fd, "250-test\r\n250 PIPELINING\r\n");
	if (read_until(c, fd, buf, cap, "DATA\r\n") != 0)
		return -1;
	say(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
	return read_until(c, fd, buf, cap, "\r\n.\r\n");
}

/* Submit one message to rcpt. */
static int submit(struct gw_smtp *c, const char *rcpt, void *token, int urgent)
{
	size_t len = 0;
	char *msg = gw_smtp_dot_stuff("Subject: t\n\nhello\n", 18, 1000, &len);

	return gw_smtp_submit(c, rcpt, msg, len, token, urgent, 1000);
}

/* Every bulk transaction waits for the reply to its final dot (a server
 * holding the marketing connections): an urgent one submitted then still
 * goes out at once on the connection kept for it and is sent, before any
 * bulk one ends (docs/channels.md, "Pipelining"). */
static void test_urgent_not_behind_bulk(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int ls = socket(AF_INET, SOCK_STREAM, 0), fd[4] = {-1, -1, -1, -1};
	char buf[4096], err[128];
	struct gw_smtp_conf conf = {.host = "127.0.0.1",
	                            .helo = "gw.test",
	                            .mail_from = "<a@example.com>",
	                            .timeout_ms = 60000,
	                            .max_conns = 4,
	                            .starttls_wanted = 0};
	struct gw_smtp *c;
	int alert = 0, bulk[7], ok = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 8) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
		tap_skip(9, "no loopback socket");
		return;
	}
	conf.port = ntohs(sa.sin_port);
	c = gw_smtp_new(&conf, err, sizeof(err));
	if (c == NULL) {
		tap_skip(9, "no client");
		return;
	}
	ndone = 0;
	tap_is_int((int)gw_smtp_bulk_max(c), 3,
	           "before PIPELINING: one bulk per connection, one kept");
	/* three bulk transactions: three connections, not the kept one */
	for (int i = 0; i < 3; i++)
		ok = ok && submit(c, "<m@example.net>", &bulk[i], 0) == MQS_OK;
	for (int i = 0; i < 3 && ok; i++) {
		fd[i] = accept_conn(c, ls);
		ok = fd[i] >= 0 && serve_to_dot(c, fd[i], buf, sizeof(buf)) == 0;
	}
	tap_ok(ok && no_new_conn(c, ls), "three bulk transactions on three connections, one kept");
	/* the final dots stay unanswered; a next bulk one queues behind each */
	tap_is_int((int)gw_smtp_bulk_max(c), 6, "pipelining: two bulk per connection, one kept");
	for (int i = 3; i < 6; i++)
		ok = ok && submit(c, "<m@example.net>", &bulk[i], 0) == MQS_OK;
	tap_ok(ok, "three more bulk transactions queued behind them");
	tap_is_int(submit(c, "<m@example.net>", &bulk[6], 0), MQS_ERR_UNSUPPORTED,
	           "a seventh bulk one finds no place (never the kept connection)");
	tap_is_int(submit(c, "<ops@example.org>", &alert, 1), MQS_OK, "the alert submitted");
	fd[3] = accept_conn(c, ls);
	tap_ok(fd[3] >= 0 && serve_to_dot(c, fd[3], buf, sizeof(buf)) == 0 &&
	           strstr(buf, "hello") != NULL,
	       "the alert goes out at once on its own connection");
	say(fd[3], "250 2.0.0 Ok: queued as A1\r\n");
	for (int i = 0; i < 500 && ndone == 0; i++) {
		gw_smtp_perform(c, 1000, on_done, NULL);
		poll(NULL, 0, 2);
	}
	tap_ok(ndone == 1 && got_token == &alert && got.outcome == GW_SENT,
	       "the alert is sent while every bulk transaction still waits");
	gw_smtp_free(c, on_done, NULL);
	tap_is_int(ndone, 7, "the six bulk transactions end as retries at the free");
	for (int i = 0; i < 4; i++) {
		if (fd[i] >= 0)
			close(fd[i]);
	}
	close(ls);
}

/* Submit one message to rcpt at test_now. */
static int submit_at(struct gw_smtp *c, const char *rcpt, void *token, int urgent)
{
	size_t len = 0;
	char *msg = gw_smtp_dot_stuff("Subject: t\n\nhello\n", 18, 1000, &len);

	return gw_smtp_submit(c, rcpt, msg, len, token, urgent, test_now);
}

/* A listening loopback socket (*ls, -1 when none) and a client of it with
 * two connections (one kept for alerts); NULL when either failed. */
static struct gw_smtp *test_client(int *ls)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char err[128];
	struct gw_smtp_conf conf = {.host = "127.0.0.1",
	                            .helo = "gw.test",
	                            .mail_from = "<a@example.com>",
	                            .timeout_ms = 60000,
	                            .max_conns = 2,
	                            .starttls_wanted = 0};

	*ls = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (*ls < 0 || bind(*ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(*ls, 8) != 0 ||
	    getsockname(*ls, (struct sockaddr *)&sa, &sl) != 0)
		return NULL;
	conf.port = ntohs(sa.sin_port);
	ndone = 0;
	return gw_smtp_new(&conf, err, sizeof(err));
}

/* test_client; when it failed, nskip tests skipped, the socket closed and
 * NULL. */
static struct gw_smtp *client_or_skip(int *ls, int nskip)
{
	struct gw_smtp *c = test_client(ls);

	if (c == NULL) {
		tap_skip(nskip, "no loopback client");
		if (*ls >= 0)
			close(*ls);
		*ls = -1;
	}
	return c;
}

/* Greeting and EHLO with PIPELINING on fd, then the envelope read: 1, or 0. */
static int greet_to_envelope(struct gw_smtp *c, int fd, char *buf, size_t cap)
{
	say(fd, "220 test ESMTP\r\n");
	if (read_until(c, fd, buf, cap, "EHLO gw.test\r\n") != 0)
		return 0;
	say(fd, "250-test\r\n250 PIPELINING\r\n");
	return read_until(c, fd, buf, cap, "DATA\r\n") == 0;
}

/* A marketing transaction's envelope out on *fb, then an alert's on its own
 * connection *fa (submitted at test_now): 1, or 0. */
static int open_bulk_then_alert(struct gw_smtp *c, int ls, int *fb, int *fa, void *bulk,
                                void *alert, char *buf, size_t cap)
{
	int ok = submit(c, "<m@example.net>", bulk, 0) == MQS_OK;

	*fb = ok ? accept_conn(c, ls) : -1;
	ok = ok && *fb >= 0 && greet_to_envelope(c, *fb, buf, cap);
	ok = ok && submit_at(c, "<ops@example.org>", alert, 1) == MQS_OK;
	*fa = ok ? accept_conn(c, ls) : -1;
	return ok && *fa >= 0 && greet_to_envelope(c, *fa, buf, cap);
}

/* The open alert on fa accepted, its message read and answered, the
 * client driven until a transaction ended (ndone was 0): 1, or 0. */
static int alert_sent(struct gw_smtp *c, int fa, char *buf, size_t cap)
{
	int ok;

	say(fa, "250 ok\r\n250 ok\r\n354 go\r\n");
	ok = read_until(c, fa, buf, cap, "\r\n.\r\n") == 0;
	say(fa, "250 2.0.0 Ok: queued as A1\r\n");
	for (int i = 0; i < 500 && ndone == 0; i++) {
		gw_smtp_perform(c, test_now, on_done, NULL);
		poll(NULL, 0, 2);
	}
	return ok;
}

/* End the client (its open transactions reported), close the sockets. */
static void client_done(struct gw_smtp *c, int fa, int fb, int ls)
{
	gw_smtp_free(c, on_done, NULL);
	test_now = 1000;
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	close(ls);
}

/* An alert's transaction open on the connection kept for it holds nothing
 * back: on its own connection marketing goes on, its message and the next
 * envelope in the same write (docs/channels.md, "Pipelining"); the client
 * asks to be woken only for a transaction's deadline; the alert is sent
 * while marketing is still open, and marketing after it. */
static void test_alert_open_bulk_goes_on(void)
{
	int ls = -1, fa = -1, fb = -1;
	char buf[4096];
	struct gw_smtp *c = client_or_skip(&ls, 7);
	int alert = 0, bulk[2], ok;

	if (c == NULL)
		return;
	test_now = 1000;
	ok = open_bulk_then_alert(c, ls, &fb, &fa, &bulk[0], &alert, buf, sizeof(buf));
	tap_ok(ok, "a marketing envelope out, then an alert's envelope on the kept connection");
	tap_is_int(gw_smtp_next_ms(c), test_now + 60000,
	           "the only wake-up asked for is the transactions' deadline");
	/* the marketing envelope accepted, a second one queued behind it */
	say(fb, "250 ok\r\n250 ok\r\n354 go\r\n");
	ok = ok && submit(c, "<m2@example.net>", &bulk[1], 0) == MQS_OK;
	tap_ok(ok &&
	           read_until(c, fb, buf, sizeof(buf), "RCPT TO:<m2@example.net>\r\nDATA\r\n") ==
	               0 &&
	           strncmp(buf, "Subject: t\r\n", 12) == 0,
	       "alert open: the marketing message goes out, then the next envelope, at once");
	tap_is_int(ndone, 0, "nothing ended yet");
	ok = alert_sent(c, fa, buf, sizeof(buf));
	tap_ok(ok && ndone == 1 && got_token == &alert && got.outcome == GW_SENT,
	       "the alert is sent while marketing is still open");
	say(fb, "250 2.0.0 Ok: queued as M1\r\n250 ok\r\n250 ok\r\n354 go\r\n");
	ok = read_until(c, fb, buf, sizeof(buf), "\r\n.\r\n") == 0;
	say(fb, "250 2.0.0 Ok: queued as M2\r\n");
	for (int i = 0; i < 500 && ok && ndone < 3; i++) {
		gw_smtp_perform(c, test_now, on_done, NULL);
		poll(NULL, 0, 2);
	}
	tap_ok(ok && ndone == 3 && got_token == &bulk[1] && got.outcome == GW_SENT,
	       "both marketing messages sent");
	client_done(c, fa, fb, ls);
	tap_is_int(ndone, 3, "every transaction ended exactly once");
}

/* A server that never ends a reply (continuation lines without end, here
 * GW_SMTP_REPLY_LINES_MAX + 1 of them): the connection is dropped as a bad
 * reply and the transaction retried, not kept until its deadline (or
 * forever on an idle connection). */
static void test_endless_reply(void)
{
	int ls = -1, fb = -1, bulk = 0, closed = 0;
	char buf[4096];
	struct gw_smtp *c = client_or_skip(&ls, 2);

	if (c == NULL)
		return;
	test_now = 1000;
	fb = submit(c, "<m@example.net>", &bulk, 0) == MQS_OK ? accept_conn(c, ls) : -1;
	if (fb >= 0) {
		say(fb, "220 test ESMTP\r\n");
		(void)read_until(c, fb, buf, sizeof(buf), "EHLO gw.test\r\n");
		for (int i = 0; i <= GW_SMTP_REPLY_LINES_MAX; i++)
			say(fb, "250-X-PAD\r\n");
	}
	for (int i = 0; i < 500 && fb >= 0 && !closed; i++) {
		struct pollfd p = {.fd = fb, .events = POLLIN, .revents = 0};

		gw_smtp_perform(c, test_now, on_done, NULL);
		if (poll(&p, 1, 10) == 1)
			closed = read(fb, buf, sizeof(buf)) <= 0;
	}
	tap_ok(closed, "endless reply: the client closes the connection");
	tap_ok(ndone == 1 && got_token == &bulk && got.outcome == GW_RETRY,
	       "endless reply: the transaction ends as a retry");
	client_done(c, -1, fb, ls);
}

/* A refused envelope (550 to MAIL FROM) while a next transaction waits
 * behind it on the same connection: the refused one fails, the connection
 * closes and the next one follows on a new connection, where it is sent;
 * the same after a DATA accepted despite the refusal (the lone "." then
 * the close), and after a server that answers the final dot before the
 * message was written (mode 2: a retry).  Each ends exactly once. */
static void test_refused_with_next(int mode)
{
	int ls = -1, f1 = -1, f2 = -1, t1 = 0, t2 = 0, ok;
	char buf[4096];
	struct gw_smtp *c = client_or_skip(&ls, 3);
	const char *what = mode == 2   ? "dot answered ahead"
	                   : mode == 1 ? "refused envelope, 354"
	                               : "refused envelope";
	int want = mode == 2 ? GW_RETRY : GW_FAILED;

	if (c == NULL)
		return;
	test_now = 1000;
	ok = submit(c, "<m@example.net>", &t1, 0) == MQS_OK;
	f1 = ok ? accept_conn(c, ls) : -1;
	ok = ok && f1 >= 0 && greet_to_envelope(c, f1, buf, sizeof(buf));
	/* the second one queues behind the first (one bulk connection) */
	ok = ok && submit(c, "<m2@example.net>", &t2, 0) == MQS_OK;
	if (mode == 2) {
		say(f1, "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n");
	} else if (mode == 1) {
		say(f1, "550 5.1.0 no\r\n503 5.5.1 no\r\n354 go\r\n");
		ok = ok && read_until(c, f1, buf, sizeof(buf), ".\r\n") == 0;
		say(f1, "250 ok\r\n");
	} else {
		say(f1, "550 5.1.0 no\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n");
	}
	f2 = ok ? accept_conn(c, ls) : -1;
	tap_ok(ok && f2 >= 0 && ndone == 1 && got_token == &t1 && got.outcome == want,
	       "%s: the first one ends (%d), the next opens a new connection", what, got.outcome);
	ok = f2 >= 0 && serve_to_dot(c, f2, buf, sizeof(buf)) == 0 && strstr(buf, "hello") != NULL;
	if (ok)
		say(f2, "250 2.0.0 Ok: queued as M2\r\n");
	for (int i = 0; i < 500 && ok && ndone == 1; i++) {
		gw_smtp_perform(c, test_now, on_done, NULL);
		poll(NULL, 0, 2);
	}
	tap_ok(ok && ndone == 2 && got_token == &t2 && got.outcome == GW_SENT,
	       "%s: the next one is sent on the new connection", what);
	client_done(c, f2, f1, ls);
	tap_is_int(ndone, 2, "%s: every transaction ended exactly once", what);
}

/* The final dot answered in time, but the client looks only after the
 * transaction's deadline (the loop was busy for its whole timeout): the
 * reply in the socket counts, the message is sent, not retried as a
 * timeout (which sends it twice); a transaction with no reply still times
 * out. */
static void test_reply_before_deadline(void)
{
	int ls = -1, fb = -1, t1 = 0, t2 = 0, ok;
	char buf[4096];
	struct gw_smtp *c = client_or_skip(&ls, 3);

	if (c == NULL)
		return;
	test_now = 1000;
	ok = submit_at(c, "<m@example.net>", &t1, 0) == MQS_OK;
	fb = ok ? accept_conn(c, ls) : -1;
	ok = ok && fb >= 0 && serve_to_dot(c, fb, buf, sizeof(buf)) == 0;
	if (ok)
		say(fb, "250 2.0.0 Ok: queued as L1\r\n");
	/* the reply is in the client's socket before it looks again */
	for (int i = 0; i < 500 && ok; i++) {
		struct pollfd p = {.fd = -1, .events = 0, .revents = 0};
		int fds[4];
		short ev[4];
		size_t n = gw_smtp_fds(c, fds, ev, 4);

		if (n == 1) {
			p.fd = fds[0];
			p.events = POLLIN;
		}
		if (poll(&p, 1, 10) == 1)
			break;
	}
	test_now = 1000 + 60000; /* the client's timeout_ms */
	gw_smtp_perform(c, test_now, on_done, NULL);
	tap_ok(ok && ndone == 1 && got_token == &t1 && got.outcome == GW_SENT,
	       "deadline passed with the reply waiting: sent (outcome %d)", got.outcome);
	/* a second one on the same connection gets no reply at all */
	ok = submit_at(c, "<m2@example.net>", &t2, 0) == MQS_OK &&
	     read_until(c, fb, buf, sizeof(buf), "DATA\r\n") == 0;
	test_now += 60000;
	gw_smtp_perform(c, test_now, on_done, NULL);
	tap_ok(ok && ndone == 2 && got_token == &t2 && got.outcome == GW_RETRY &&
	           strstr(got.error, "timeout") != NULL,
	       "no reply by the deadline: a timeout (retry)");
	client_done(c, -1, fb, ls);
	tap_is_int(ndone, 2, "deadline: every transaction ended exactly once");
}

/* Bytes the next sendmsg() may write at most (0: no cap), the sendmsg()
 * calls that wrote, and those that ended inside the envelope: the
 * client's writes at chosen boundaries. */
static size_t sendmsg_cap;
static unsigned nsendmsg, nsendmsg_env_cut;

/* sendmsg(2) as the client under test sees it: the next call capped at
 * sendmsg_cap bytes (a partial write at a chosen place), then the kernel's. */
ssize_t sendmsg(int fd, const struct msghdr *mh, int flags)
{
	struct msghdr m = *mh;
	struct iovec iov[8];
	size_t left = sendmsg_cap;

	if (sendmsg_cap > 0 && mh->msg_iovlen <= 8) {
		m.msg_iov = iov;
		m.msg_iovlen = 0;
		for (size_t i = 0; i < mh->msg_iovlen && left > 0; i++) {
			iov[i] = mh->msg_iov[i];
			if (iov[i].iov_len > left)
				iov[i].iov_len = left;
			left -= iov[i].iov_len;
			m.msg_iovlen++;
		}
		sendmsg_cap = 0;
	}
	{
		ssize_t w = (ssize_t)syscall(SYS_sendmsg, fd, &m, flags);

		if (w > 0)
			nsendmsg++; /* calls that wrote (not those that found the socket full) */
		/* a write that ended inside the second buffer (the envelope) */
		if (w > 0 && m.msg_iovlen == 2 && (size_t)w > m.msg_iov[0].iov_len &&
		    (size_t)w < m.msg_iov[0].iov_len + m.msg_iov[1].iov_len)
			nsendmsg_env_cut++;
		return w;
	}
}

/* Non-zero: send(2) of the client under test finds the socket full. */
static int send_blocked;

/* send(2) as the client under test sees it: EAGAIN while send_blocked,
 * else the kernel's. */
ssize_t send(int fd, const void *b, size_t n, int flags)
{
	if (send_blocked) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)syscall(SYS_sendto, fd, b, n, flags, NULL, 0);
}

/* A message larger than the socket buffers goes out over many writes, each
 * carrying the next transaction's envelope along (one system call per
 * write): the server receives the message, its final dot and that
 * envelope exactly once, in order, and both transactions end as sent. */
static void test_big_message_then_envelope(void)
{
	static char buf[(1u << 21) + (1u << 17)];
	static const char env2[] =
	    "MAIL FROM:<a@example.com>\r\nRCPT TO:<n2@example.net>\r\nDATA\r\n";
	size_t text_len = 1u << 21, msg_len = 0, len2 = 0, want_len;
	char *text = malloc(text_len), *msg = NULL, *msg2, *want = NULL;
	int ls = -1, fd = -1, rcv = 1 << 17, t1 = 1, t2 = 2, ok;
	struct gw_smtp *c = client_or_skip(&ls, 4);

	nsendmsg = 0;
	nsendmsg_env_cut = 0;

	if (c == NULL || text == NULL) {
		if (c != NULL)
			tap_skip(4, "out of memory");
		free(text);
		gw_smtp_free(c, NULL, NULL);
		if (ls >= 0)
			close(ls);
		return;
	}
	for (size_t i = 0; i < text_len; i++)
		text[i] = i % 100 == 99 ? '\n' : (i % 100 == 0 ? '.' : 'x'); /* dot-stuffed lines */
	msg = gw_smtp_dot_stuff(text, text_len, 1u << 23, &msg_len);
	msg2 = gw_smtp_dot_stuff("Subject: t\n\nhello\n", 18, 1000, &len2);
	want_len = msg_len + strlen(env2);
	want = malloc(want_len + 1);
	ok = msg != NULL && msg2 != NULL && want != NULL;
	if (ok) {
		memcpy(want, msg, msg_len);
		memcpy(want + msg_len, env2, strlen(env2) + 1);
		/* the client takes the buffer: its copy in want is what is
		 * checked */
		ok = gw_smtp_submit(c, "<n1@example.net>", msg, msg_len, &t1, 0, 1000) == MQS_OK;
		msg = NULL;
	}
	fd = ok ? accept_conn(c, ls) : -1;
	ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) == 0 &&
	     greet_to_envelope(c, fd, buf, sizeof(buf));
	if (ok) {
		/* the client's send buffer fixed at 64 KiB (no autotuning up to
		 * tcp_wmem's 4 MiB, which takes the whole message at once) */
		int cfd[2], snd = 1 << 16;
		short ev[2];

		ok = gw_smtp_fds(c, cfd, ev, 2) == 1 &&
		     setsockopt(cfd[0], SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)) == 0;
	}
	/* the server pipelines: the second one is the connection's next */
	if (ok) {
		ok = gw_smtp_submit(c, "<n2@example.net>", msg2, len2, &t2, 0, 1000) == MQS_OK;
		msg2 = NULL;
	}
	if (ok) {
		say(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
		ok = read_until(c, fd, buf, sizeof(buf), env2) == 0;
	}
	tap_ok(ok && strlen(buf) == want_len && memcmp(buf, want, want_len) == 0,
	       "a message over many writes, then the next envelope once");
	tap_ok(nsendmsg > 1,
	       "big message (64 KiB send buffer): over more than one write (%u sendmsg, %u ended "
	       "inside the envelope)",
	       nsendmsg, nsendmsg_env_cut);
	if (ok) {
		say(fd, "250 ok: queued\r\n250 ok\r\n250 ok\r\n354 go\r\n");
		ok = read_until(c, fd, buf, sizeof(buf), "\r\n.\r\n") == 0 &&
		     strcmp(buf, "Subject: t\r\n\r\nhello\r\n.\r\n") == 0;
	}
	tap_ok(ok, "the next message after its 354");
	if (ok) {
		say(fd, "250 ok: queued\r\n");
		for (int i = 0; i < 500 && ndone < 2; i++) {
			gw_smtp_perform(c, 1000, on_done, NULL);
			poll(NULL, 0, 2);
		}
	}
	tap_ok(ok && ndone == 2 && got_token == &t2 && got.outcome == GW_SENT, "both sent");
	free(text);
	free(want);
	mqs_free(msg);
	mqs_free(msg2);
	gw_smtp_free(c, on_done, NULL);
	if (fd >= 0)
		close(fd);
	close(ls);
}

/* A transaction (msg1, token t1) on a new connection, its envelope read,
 * and a second one (msg2, t2) queued behind it (both buffers taken): the
 * server's socket, or -1. */
static int two_on_one(struct gw_smtp *c, int ls, char *msg1, size_t len1, void *t1, char *msg2,
                      size_t len2, void *t2, char *buf, size_t cap)
{
	int fd, ok = gw_smtp_submit(c, "<n1@example.net>", msg1, len1, t1, 0, 1000) == MQS_OK;

	fd = ok ? accept_conn(c, ls) : -1;
	ok = fd >= 0 && greet_to_envelope(c, fd, buf, cap);
	if (ok)
		ok = gw_smtp_submit(c, "<n2@example.net>", msg2, len2, t2, 0, 1000) == MQS_OK;
	else
		mqs_free(msg2);
	if (!ok && fd >= 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The second transaction's envelope answered with replies (354 last), its
 * message read and answered, the client driven until two ended: 1, or 0. */
static int second_sent(struct gw_smtp *c, int fd, const char *replies, char *buf, size_t cap)
{
	say(fd, replies);
	if (read_until(c, fd, buf, cap, "\r\n.\r\n") != 0 ||
	    strcmp(buf, "Subject: t\r\n\r\nhello\r\n.\r\n") != 0)
		return 0;
	say(fd, "250 ok: queued\r\n");
	for (int i = 0; i < 500 && ndone < 2; i++) {
		gw_smtp_perform(c, 1000, on_done, NULL);
		poll(NULL, 0, 2);
	}
	return 1;
}

/* The write that carries the end of a message and the next envelope
 * stops at cut bytes past the message's start (cut - msg_len into the
 * envelope when positive): the server receives the message and the
 * envelope exactly once, in order, and the next message after its 354. */
static void test_envelope_cut(long cut_off)
{
	static const char env2[] =
	    "MAIL FROM:<a@example.com>\r\nRCPT TO:<n2@example.net>\r\nDATA\r\n";
	char buf[8192], want[8192];
	size_t len1 = 0, len2 = 0, want_len;
	char *msg1 = gw_smtp_dot_stuff("Subject: one\n\nfirst\n", 20, 1000, &len1);
	char *msg2 = gw_smtp_dot_stuff("Subject: t\n\nhello\n", 18, 1000, &len2);
	int ls = -1, fd = -1, t1 = 1, t2 = 2, ok;
	struct gw_smtp *c = client_or_skip(&ls, 2);

	if (c == NULL || msg1 == NULL || msg2 == NULL) {
		if (c != NULL)
			tap_skip(2, "out of memory");
		mqs_free(msg1);
		mqs_free(msg2);
		gw_smtp_free(c, NULL, NULL);
		if (ls >= 0)
			close(ls);
		return;
	}
	memcpy(want, msg1, len1);
	memcpy(want + len1, env2, sizeof(env2));
	want_len = len1 + strlen(env2);
	fd = two_on_one(c, ls, msg1, len1, &t1, msg2, len2, &t2, buf, sizeof(buf));
	ok = fd >= 0;
	if (ok) {
		nsendmsg = 0;
		sendmsg_cap = (size_t)((long)len1 + cut_off);
		say(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
		ok = read_until(c, fd, buf, sizeof(buf), env2) == 0;
		sendmsg_cap = 0;
	}
	tap_ok(ok && strlen(buf) == want_len && memcmp(buf, want, want_len) == 0,
	       "write cut at message%+ld: the message, then the envelope once (%u sendmsg)",
	       cut_off, nsendmsg);
	ok = ok && second_sent(c, fd, "250 ok: queued\r\n250 ok\r\n250 ok\r\n354 go\r\n", buf,
	                       sizeof(buf));
	tap_ok(ok && ndone == 2 && got_token == &t2 && got.outcome == GW_SENT,
	       "write cut at message%+ld: both sent", cut_off);
	gw_smtp_free(c, on_done, NULL);
	if (fd >= 0)
		close(fd);
	close(ls);
}

/* The write carrying the end of a message stops 10 bytes into the next
 * envelope and the socket is then full; the reply to the message's dot
 * comes before the rest of the envelope could be written: the message is
 * sent, and once the socket drains the rest of the envelope goes out
 * (exactly once, nothing rebuilt over it), then the next message. */
static void test_envelope_rest_after_reply(void)
{
	static const char env2[] =
	    "MAIL FROM:<a@example.com>\r\nRCPT TO:<n2@example.net>\r\nDATA\r\n";
	char buf[8192];
	size_t len1 = 0, len2 = 0;
	char *msg1 = gw_smtp_dot_stuff("Subject: one\n\nfirst\n", 20, 1000, &len1);
	char *msg2 = gw_smtp_dot_stuff("Subject: t\n\nhello\n", 18, 1000, &len2);
	int ls = -1, fd = -1, t1 = 1, t2 = 2, ok;
	struct gw_smtp *c = client_or_skip(&ls, 3);

	if (c == NULL || msg1 == NULL || msg2 == NULL) {
		if (c != NULL)
			tap_skip(3, "out of memory");
		mqs_free(msg1);
		mqs_free(msg2);
		gw_smtp_free(c, NULL, NULL);
		if (ls >= 0)
			close(ls);
		return;
	}
	fd = two_on_one(c, ls, msg1, len1, &t1, msg2, len2, &t2, buf, sizeof(buf));
	ok = fd >= 0;
	if (ok) {
		sendmsg_cap = len1 + 10;
		send_blocked = 1;
		say(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
		ok = read_until(c, fd, buf, sizeof(buf), "MAIL FROM:") == 0 &&
		     strlen(buf) == len1 + 10;
		sendmsg_cap = 0;
		say(fd, "250 ok: queued\r\n");
		for (int i = 0; i < 500 && ok && ndone == 0; i++) {
			gw_smtp_perform(c, 1000, on_done, NULL);
			poll(NULL, 0, 2);
		}
	}
	tap_ok(ok && ndone == 1 && got_token == &t1 && got.outcome == GW_SENT,
	       "envelope cut, socket full: the first message sent on its reply");
	send_blocked = 0;
	ok = ok && read_until(c, fd, buf, sizeof(buf), "DATA\r\n") == 0 &&
	     strcmp(buf, env2 + 10) == 0;
	tap_ok(ok, "the rest of the envelope once the socket drains, exactly once");
	ok = ok && second_sent(c, fd, "250 ok\r\n250 ok\r\n354 go\r\n", buf, sizeof(buf));
	tap_ok(ok && ndone == 2 && got_token == &t2 && got.outcome == GW_SENT,
	       "envelope cut, socket full: the next message sent");
	send_blocked = 0;
	gw_smtp_free(c, on_done, NULL);
	if (fd >= 0)
		close(fd);
	close(ls);
}

/* Drive c as the gateway's loop does: poll only the events gw_smtp_fds
 * asks for (up to ms), perform only when one is ready.  1 when something
 * was ready. */
static int loop_turn(struct gw_smtp *c, int ms)
{
	int fds[GW_SMTP_CONNS_MAX];
	short ev[GW_SMTP_CONNS_MAX];
	struct pollfd p[GW_SMTP_CONNS_MAX];
	size_t n = gw_smtp_fds(c, fds, ev, GW_SMTP_CONNS_MAX);

	for (size_t i = 0; i < n; i++) {
		p[i].fd = fds[i];
		p[i].events = ev[i];
		p[i].revents = 0;
	}
	if (poll(p, n, ms) <= 0)
		return 0;
	gw_smtp_perform(c, 1000, on_done, NULL);
	return 1;
}

/* A server that refuses a large message in its middle (552) and then
 * reads no more, waiting for the client to read its reply (RFC 2920 3.1):
 * a client driven as the gateway's loop drives it (woken only by the
 * events it asks for) sees the refusal, not only at its deadline. */
static void test_refusal_while_write_blocked(void)
{
	static char buf[1 << 16];
	size_t text_len = 4u << 20, msg_len = 0;
	char *text = malloc(text_len), *msg = NULL;
	int ls = -1, fd = -1, t1 = 1, ok, rcv = 1 << 14, turns = 0;
	struct gw_smtp *c = client_or_skip(&ls, 1);

	if (c == NULL || text == NULL) {
		if (c != NULL)
			tap_skip(1, "out of memory");
		free(text);
		gw_smtp_free(c, NULL, NULL);
		if (ls >= 0)
			close(ls);
		return;
	}
	memset(text, 'x', text_len);
	for (size_t i = 99; i < text_len; i += 100)
		text[i] = '\n';
	msg = gw_smtp_dot_stuff(text, text_len, 1u << 24, &msg_len);
	free(text);
	ok = msg != NULL &&
	     gw_smtp_submit(c, "<n1@example.net>", msg, msg_len, &t1, 0, 1000) == MQS_OK;
	fd = ok ? accept_conn(c, ls) : -1;
	ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) == 0 &&
	     greet_to_envelope(c, fd, buf, sizeof(buf));
	if (ok) {
		/* the client's send buffer bounded too (no autotuning) */
		int cfd[2];
		short ev[2];
		int snd = 1 << 16;

		ok = gw_smtp_fds(c, cfd, ev, 2) == 1 &&
		     setsockopt(cfd[0], SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)) == 0;
	}
	if (ok) {
		say(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
		/* some of the message, then the client's writes block */
		for (int i = 0; i < 20; i++) {
			struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};

			gw_smtp_perform(c, 1000, on_done, NULL);
			if (poll(&p, 1, 10) == 1 && read(fd, buf, sizeof(buf)) <= 0)
				break;
		}
		for (int i = 0; i < 20; i++) {
			gw_smtp_perform(c, 1000, on_done, NULL);
			poll(NULL, 0, 5);
		}
		say(fd, "552 5.3.4 message too big\r\n");
		/* the server reads no more; the client's loop, 3 s at most */
		for (int i = 0; i < 60 && ndone == 0; i++)
			turns += loop_turn(c, 50);
	}
	tap_ok(ok && ndone == 1 && got.outcome == GW_FAILED && got.code == 552,
	       "552 mid-message, server reads no more: the loop sees the refusal (ended %d, "
	       "%d wake-ups)",
	       ndone, turns);
	if (ok && ndone == 0) {
		/* at its deadline the reply waiting in the socket is read */
		gw_smtp_perform(c, 1000 + 60000, on_done, NULL);
		tap_diag("at the deadline: ended %d, outcome %d, code %d (%s)", ndone, got.outcome,
		         got.code, got.error);
	}
	gw_smtp_free(c, on_done, NULL);
	if (fd >= 0)
		close(fd);
	close(ls);
}

/* The connection is set up (connect done) and the greeting already waits
 * in the socket: the pass that sees the connect done also reads the
 * greeting and sends EHLO (no extra loop turn per new connection). */
static void test_greeting_same_pass(void)
{
	char buf[512];
	int ls = -1, fd = -1, t1 = 1, ok, got_ehlo = 0;
	struct gw_smtp *c = client_or_skip(&ls, 1);

	if (c == NULL)
		return;
	ok = submit(c, "<m@example.net>", &t1, 0) == MQS_OK; /* connecting */
	if (ok) {
		struct pollfd q = {.fd = ls, .events = POLLIN, .revents = 0};

		fd = poll(&q, 1, 5000) == 1 ? accept(ls, NULL, NULL) : -1;
	}
	if (fd >= 0) {
		int cfd[2];
		short ev[2];
		struct pollfd p;

		say(fd, "220 test ESMTP\r\n");
		/* the greeting is in the client's socket */
		ok = gw_smtp_fds(c, cfd, ev, 2) == 1;
		p.fd = cfd[0];
		p.events = POLLIN;
		p.revents = 0;
		ok = ok && poll(&p, 1, 2000) == 1;
		gw_smtp_perform(c, 1000, on_done, NULL); /* one pass */
		p.fd = fd;
		if (ok && poll(&p, 1, 200) == 1) {
			ssize_t r = read(fd, buf, sizeof(buf) - 1);

			got_ehlo = r > 5 && strncmp(buf, "EHLO ", 5) == 0;
		}
	}
	tap_ok(ok && got_ehlo, "greeting waiting when the connect completes: EHLO in that pass");
	gw_smtp_free(c, on_done, NULL);
	if (fd >= 0)
		close(fd);
	close(ls);
}

/* A server that answers MAIL, RCPT and DATA (354) before the client could
 * write its envelope (the socket full): the stream is out of step, so the
 * transaction is a retry, the connection is closed, and no byte of the
 * envelope's rest or of the message is written. */
static void test_data_answered_ahead(void)
{
	char buf[512];
	int ls = -1, fd = -1, t1 = 1, ok, closed = 0;
	struct gw_smtp *c = client_or_skip(&ls, 2);

	if (c == NULL)
		return;
	ok = submit(c, "<m@example.net>", &t1, 0) == MQS_OK;
	fd = ok ? accept_conn(c, ls) : -1;
	ok = fd >= 0;
	if (ok) {
		say(fd, "220 test ESMTP\r\n");
		ok = read_until(c, fd, buf, sizeof(buf), "EHLO gw.test\r\n") == 0;
	}
	if (ok) {
		send_blocked = 1; /* the envelope cannot be written */
		say(fd, "250-test\r\n250 PIPELINING\r\n");
		for (int i = 0; i < 20; i++) {
			gw_smtp_perform(c, 1000, on_done, NULL);
			poll(NULL, 0, 1);
		}
		say(fd, "250 ok\r\n250 ok\r\n354 go\r\n");
		for (int i = 0; i < 500 && ndone == 0; i++) {
			gw_smtp_perform(c, 1000, on_done, NULL);
			poll(NULL, 0, 2);
		}
		send_blocked = 0;
	}
	tap_ok(ok && ndone == 1 && got_token == &t1 && got.outcome == GW_RETRY &&
	           strcmp(got.error, "smtp: bad reply from server") == 0,
	       "DATA answered before the envelope was written: a retry (%s)", got.error);
	for (int i = 0; ok && i < 200; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
		ssize_t r;

		gw_smtp_perform(c, 1000, on_done, NULL);
		if (poll(&p, 1, 10) != 1)
			continue;
		r = read(fd, buf, sizeof(buf));
		closed = r == 0;
		break; /* bytes (r > 0) are a failure: nothing may follow */
	}
	tap_ok(closed, "the connection closed with nothing written after EHLO");
	gw_smtp_free(c, on_done, NULL);
	if (fd >= 0)
		close(fd);
	close(ls);
}

int main(void)
{
	test_dot_stuff();
	test_transaction();
	test_urgent_not_behind_bulk();
	test_alert_open_bulk_goes_on();
	test_endless_reply();
	test_refused_with_next(0);
	test_refused_with_next(1);
	test_refused_with_next(2);
	test_reply_before_deadline();
	test_big_message_then_envelope();
	test_envelope_cut(-1);
	test_envelope_cut(0);
	test_envelope_cut(1);
	test_envelope_cut(58);
	test_envelope_rest_after_reply();
	test_refusal_while_write_blocked();
	test_greeting_same_pass();
	test_data_answered_ahead();
	tap_done();
	return tap_exit();
}
