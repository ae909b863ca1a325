/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-smtp.c - the pipelining SMTP client (gateway/gw_smtp.h): dot
 * stuffing, and one transaction against a scripted server on loopback
 * (the envelope in one write, the message after 354). */
#include "config.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gw_channel.h"
#include "gw_smtp.h"
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
static int ndone;

/* done callback: keep the result. */
static void on_done(void *arg, void *token, const struct gw_smtp_result *r)
{
	(void)arg;
	(void)token;
	got = *r;
	ndone++;
}

/* Read from fd until want appears in buf (bounded: 5 s, cap bytes). */
static int read_until(struct gw_smtp *c, int fd, char *buf, size_t cap, const char *want)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < 500 && strstr(buf, want) == NULL; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};

		gw_smtp_perform(c, 1000, on_done, NULL);
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
	tap_is_int(gw_smtp_submit(c, "<b@example.net>", msg, len, NULL, 1000), MQS_OK, "submitted");
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

int main(void)
{
	test_dot_stuff();
	test_transaction();
	tap_done();
	return tap_exit();
}
