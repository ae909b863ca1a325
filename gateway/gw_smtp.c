/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_smtp.c - pipelining SMTP client (RFC 2920) for the email channel; see
 * gw_smtp.h and docs/channels.md, "Pipelining".  Hand-written because
 * libcurl's SMTP has no command pipelining: it waits for each reply, about
 * four round trips and loop turns per message (docs/PERFORMANCE.md). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gw_channel.h"
#include "gw_smtp.h"
#include "mqs_alloc.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define IN_MAX        4096 /* read buffer of a connection */
#define CMD_MAX       800  /* MAIL FROM + RCPT TO + DATA */
#define IN_MAX_READS  16   /* reads of one connection per pass (gw_smtp_perform) */
#define BULK_TURN_MAX 2    /* bulk transactions ended per connection per pass */

enum conn_state {
	C_FREE = 0, /* no socket */
	C_CONNECT,  /* connect() in progress */
	C_GREET,    /* waiting for 220 */
	C_EHLO,     /* waiting for the EHLO reply */
	C_IDLE,     /* ready for a transaction */
	C_CMDS,     /* MAIL, RCPT, DATA sent: their three replies */
	C_BODY,     /* message sent: the reply to the final dot */
	C_ABORT,    /* a lone "." after a refused envelope: its reply, then close */
};

struct txn {
	void *token;
	char *msg; /* dot-stuffed message with its final dot (secret: wiped) */
	size_t msg_len;
	char rcpt[264];
	int64_t deadline;
	int requeued; /* moved once to a new connection (a stale idle one) */
	int urgent;   /* an alert: never queued behind other work when avoidable */
};

struct conn {
	int fd;
	int state; /* enum conn_state */
	struct txn *tx;
	/* the next transaction on this connection: its MAIL, RCPT and DATA
	 * go out right after tx's final dot (RFC 2920 3.1: message content
	 * may open a group); next_sent once they did */
	struct txn *next;
	int next_sent;
	char cmd[CMD_MAX];
	const char *wp; /* pending output (cmd or tx->msg) */
	size_t wleft;
	char in[IN_MAX];
	size_t inlen;
	int replies;     /* replies of the transaction so far */
	unsigned lines;  /* continuation lines of the reply being read */
	int bad_code;    /* first refusal among MAIL / RCPT / DATA */
	const char *bad; /* which command */
	int ehlo_pipe, ehlo_tls;
	unsigned ntx; /* transactions that ended on this connection */
	int connerr;  /* submit could not open it: reported by perform */
	unsigned gen; /* sockets closed so far: a reply that closed (and maybe
	               * reopened) k ends the reading of the old socket */
	int readable; /* this pass's poll saw input (or an error) on fd; a read
	               * that emptied the socket clears it */
};

struct gw_smtp {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char helo[256];
	char mail_from[264];
	long timeout_ms;
	int starttls_wanted;
	int fallback;
	int ready; /* a server announced PIPELINING */
	unsigned nconns;
	unsigned first_bulk; /* conns[0..first_bulk-1] carry urgent transactions only */
	struct conn *conns;
};

/* Client from conf (gw_smtp.h). */
struct gw_smtp *gw_smtp_new(const struct gw_smtp_conf *conf, char *err, size_t errlen)
{
	struct gw_smtp *c = mqs_calloc(1, sizeof(*c));
	struct addrinfo hints, *ai = NULL;
	char port[16];
	int rc;

	if (c == NULL)
		goto nomem;
	c->nconns = conf->max_conns == 0 ? 1 : conf->max_conns;
	if (c->nconns > GW_SMTP_CONNS_MAX)
		c->nconns = GW_SMTP_CONNS_MAX;
	c->conns = mqs_calloc(c->nconns, sizeof(*c->conns));
	if (c->conns == NULL)
		goto nomem;
	for (unsigned i = 0; i < c->nconns; i++)
		c->conns[i].fd = -1;
	/* one connection kept for urgent transactions when there are two or
	 * more (docs/channels.md, "Pipelining") */
	c->first_bulk = c->nconns > 1 ? 1 : 0;
	if (strlen(conf->helo) >= sizeof(c->helo) ||
	    strlen(conf->mail_from) >= sizeof(c->mail_from)) {
		snprintf(err, errlen, "smtp: name too long");
		goto fail;
	}
	snprintf(c->helo, sizeof(c->helo), "%s", conf->helo);
	snprintf(c->mail_from, sizeof(c->mail_from), "%s", conf->mail_from);
	c->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 30000;
	c->starttls_wanted = conf->starttls_wanted;
	if (conf->addr != NULL) {
		/* resolved by the caller, off the loop (docs/channels.md, "Pipelining") */
		if (conf->addrlen > sizeof(c->addr)) {
			snprintf(err, errlen, "smtp: address too long");
			goto fail;
		}
		memcpy(&c->addr, conf->addr, conf->addrlen);
		c->addrlen = (socklen_t)conf->addrlen;
		return c;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV; /* never a lookup */
	snprintf(port, sizeof(port), "%u", conf->port);
	rc = getaddrinfo(conf->host, port, &hints, &ai);
	if (rc != 0 || ai == NULL || ai->ai_addrlen > sizeof(c->addr)) {
		snprintf(err, errlen, "smtp: not a numeric address: %s",
		         rc != 0 ? gai_strerror(rc) : "no address");
		goto fail;
	}
	memcpy(&c->addr, ai->ai_addr, ai->ai_addrlen);
	c->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return c;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	if (ai != NULL)
		freeaddrinfo(ai);
	if (c != NULL)
		mqs_free(c->conns);
	mqs_free(c);
	return NULL;
}

/* Free a transaction (its message wiped). */
static void txn_free(struct txn *t)
{
	if (t == NULL)
		return;
	if (t->msg != NULL)
		OPENSSL_cleanse(t->msg, t->msg_len);
	mqs_free(t->msg);
	OPENSSL_cleanse(t->rcpt, sizeof(t->rcpt));
	mqs_free(t);
}

/* Close the socket of k (its transaction, if any, stays). */
static void conn_close(struct conn *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	k->state = C_FREE;
	k->wp = NULL;
	k->wleft = 0;
	k->inlen = 0;
	k->ntx = 0;
	k->connerr = 0;
	k->gen++;
	OPENSSL_cleanse(k->cmd, sizeof(k->cmd));
	OPENSSL_cleanse(k->in, sizeof(k->in));
}

/* Report t (detached from its connection) as ended, free it. */
static void txn_report(struct txn *t, int outcome, int fallback, int code, const char *reply,
                       const char *error, gw_smtp_done_fn done, void *arg)
{
	struct gw_smtp_result r;

	if (t == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.outcome = outcome;
	r.fallback = fallback;
	r.code = code;
	snprintf(r.reply, sizeof(r.reply), "%s", reply != NULL ? reply : "");
	snprintf(r.error, sizeof(r.error), "%s", error != NULL ? error : "");
	if (done != NULL)
		done(arg, t->token, &r);
	txn_free(t);
}

/* End k's transaction with outcome and the error text. */
static void txn_end(struct conn *k, int outcome, int fallback, int code, const char *reply,
                    const char *error, gw_smtp_done_fn done, void *arg)
{
	struct txn *t = k->tx;

	k->tx = NULL;
	k->ntx++;
	txn_report(t, outcome, fallback, code, reply, error, done, arg);
}

/* Free the client (gw_smtp.h). */
void gw_smtp_free(struct gw_smtp *c, gw_smtp_done_fn done, void *arg)
{
	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->nconns; i++) {
		struct conn *k = &c->conns[i];

		txn_end(k, GW_RETRY, 0, 0, NULL, "smtp: interrupted", done, arg);
		txn_report(k->next, GW_RETRY, 0, 0, NULL, "smtp: interrupted", done, arg);
		k->next = NULL;
		conn_close(k);
	}
	mqs_free(c->conns);
	mqs_free(c);
}

/* A server announced PIPELINING (gw_smtp.h). */
int gw_smtp_ready(const struct gw_smtp *c)
{
	return c->ready && !c->fallback;
}

/* Fallback decided (gw_smtp.h). */
int gw_smtp_fallback(const struct gw_smtp *c)
{
	return c->fallback;
}

/* k wants to write now. */
static int conn_writes(const struct conn *k)
{
	if (k->wleft > 0)
		return 1;
	return k->state == C_BODY && k->next != NULL && !k->next_sent;
}

/* Open a connection for k: MQS_OK (connecting) or MQS_ERR_IO. */
static int conn_open(struct gw_smtp *c, struct conn *k)
{
	int one = 1;
	int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return MQS_ERR_IO;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = connect(fd, (const struct sockaddr *)&c->addr, c->addrlen);
	if (rc != 0 && errno != EINPROGRESS) {
		close(fd);
		return MQS_ERR_IO;
	}
	k->fd = fd;
	k->state = C_CONNECT;
	k->inlen = 0;
	k->lines = 0;
	k->wleft = 0;
	k->ntx = 0;
	return MQS_OK;
}

/* MAIL FROM, RCPT TO and DATA for t into k->cmd: their length, 0 when
 * they do not fit (never: both addresses are capped well below CMD_MAX). */
static size_t envelope_fmt(const struct gw_smtp *c, struct conn *k, const struct txn *t)
{
	int n = snprintf(k->cmd, sizeof(k->cmd), "MAIL FROM:%s\r\nRCPT TO:%s\r\nDATA\r\n",
	                 c->mail_from, t->rcpt);

	return n > 0 && (size_t)n < sizeof(k->cmd) ? (size_t)n : 0;
}

/* Queue MAIL FROM, RCPT TO and DATA on k in one write (RFC 2920). */
static void txn_begin(struct gw_smtp *c, struct conn *k)
{
	k->wp = k->cmd;
	k->wleft = envelope_fmt(c, k, k->tx);
	k->replies = 0;
	k->bad_code = 0;
	k->bad = NULL;
	k->state = C_CMDS;
}

/* The connection among conns[from..] with no transaction in state lo..hi,
 * or NULL. */
static struct conn *conn_free_in(struct gw_smtp *c, unsigned from, int lo, int hi)
{
	for (unsigned i = from; i < c->nconns; i++) {
		struct conn *k = &c->conns[i];

		if (k->tx == NULL && k->state >= lo && k->state <= hi)
			return k;
	}
	return NULL;
}

/* The connection among conns[from..] whose running transaction is in
 * state want with no next one, urgent or not as asked (-1: either), or
 * NULL. */
static struct conn *conn_behind(struct gw_smtp *c, unsigned from, int want, int urgent)
{
	for (unsigned i = from; i < c->nconns; i++) {
		struct conn *k = &c->conns[i];

		if (k->tx != NULL && k->next == NULL && k->state == want &&
		    (urgent < 0 || k->tx->urgent == urgent))
			return k;
	}
	return NULL;
}

/* Where a new transaction goes: an idle connection, then one being set
 * up, then a new one; then behind a running transaction, its message sent
 * first, then one still waiting for DATA's 354.  A bulk transaction never
 * takes the connections kept for urgent ones; an urgent one takes them
 * first and queues behind another urgent one before it queues behind bulk
 * work (docs/channels.md, "Pipelining").  NULL when every place is taken. */
static struct conn *pick_conn(struct gw_smtp *c, int urgent)
{
	unsigned from = urgent ? 0 : c->first_bulk;
	struct conn *k = conn_free_in(c, from, C_IDLE, C_IDLE);

	if (k == NULL)
		k = conn_free_in(c, from, C_CONNECT, C_EHLO);
	if (k == NULL)
		k = conn_free_in(c, from, C_FREE, C_FREE);
	for (int want = C_BODY; urgent && want >= C_CMDS && k == NULL; want--)
		k = conn_behind(c, 0, want, 1);
	for (int want = C_BODY; want >= C_CMDS && k == NULL; want--)
		k = conn_behind(c, from, want, -1);
	return k;
}

/* Transactions that are not urgent at most at once: every place but the
 * connections kept for urgent ones (gw_smtp.h). */
unsigned gw_smtp_bulk_max(const struct gw_smtp *c)
{
	unsigned n = c->nconns - c->first_bulk;

	return c->ready ? 2 * n : n;
}

/* Start a transaction (gw_smtp.h). */
int gw_smtp_submit(struct gw_smtp *c, const char *rcpt, char *msg, size_t msg_len, void *token,
                   int urgent, int64_t now_ms)
{
	struct conn *k = NULL;
	struct txn *t = NULL;
	int rc = MQS_ERR_UNSUPPORTED;

	if (c->fallback || strlen(rcpt) >= sizeof(t->rcpt))
		goto out;
	k = pick_conn(c, urgent);
	if (k == NULL)
		goto out;
	t = mqs_calloc(1, sizeof(*t));
	if (t == NULL) {
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	t->token = token;
	t->msg = msg;
	t->msg_len = msg_len;
	msg = NULL;
	snprintf(t->rcpt, sizeof(t->rcpt), "%s", rcpt);
	t->deadline = now_ms + c->timeout_ms;
	t->urgent = urgent != 0;
	if (k->tx != NULL) {
		k->next = t; /* its commands go out after tx's final dot */
		k->next_sent = 0;
		rc = MQS_OK;
		goto out;
	}
	k->tx = t;
	if (k->state == C_FREE && conn_open(c, k) != MQS_OK)
		k->connerr = 1; /* reported as a retry by the next perform */
	else if (k->state == C_IDLE)
		txn_begin(c, k);
	rc = MQS_OK;
out:
	if (msg != NULL) {
		OPENSSL_cleanse(msg, msg_len);
		mqs_free(msg);
	}
	return rc;
}

/* Descriptors to poll (gw_smtp.h). */
size_t gw_smtp_fds(const struct gw_smtp *c, int *fd, short *events, size_t cap)
{
	size_t n = 0;

	for (unsigned i = 0; i < c->nconns && n < cap; i++) {
		const struct conn *k = &c->conns[i];

		if (k->fd < 0)
			continue;
		fd[n] = k->fd;
		/* replies are always watched, also while writes wait for room
		 * (a refusal in the middle of a long message, RFC 2920 3.1) */
		if (k->state == C_CONNECT)
			events[n] = POLLOUT;
		else
			events[n] = (short)(POLLIN | (conn_writes(k) ? POLLOUT : 0));
		n++;
	}
	return n;
}

/* Earliest deadline (gw_smtp.h). */
int64_t gw_smtp_next_ms(const struct gw_smtp *c)
{
	int64_t t = 0;

	for (unsigned i = 0; i < c->nconns; i++) {
		const struct txn *x = c->conns[i].tx;

		if (x != NULL && (t == 0 || x->deadline < t))
			t = x->deadline;
		x = c->conns[i].next;
		if (x != NULL && (t == 0 || x->deadline < t))
			t = x->deadline;
		if ((c->conns[i].tx != NULL || x != NULL) && c->conns[i].connerr)
			t = 1; /* at once: a socket() failure is reported as a retry */
	}
	return t;
}

/* The class of a refusal: 5xx failed, anything else a retry. */
static int refusal_outcome(int code)
{
	return code >= 500 && code < 600 ? GW_FAILED : GW_RETRY;
}

/* The connection broke (or must close) while it had a transaction: a
 * transaction that got no reply yet on a connection reused from an
 * earlier one (the server closed it while idle) moves once to a new
 * connection; any other ends as a retry with why. */
static void conn_lost(struct gw_smtp *c, struct conn *k, const char *why, int64_t now_ms,
                      gw_smtp_done_fn done, void *arg)
{
	struct txn *t = k->tx, *n = k->next, *n_lost = NULL;
	int stale = t != NULL && !t->requeued && k->ntx > 0 && k->replies == 0 &&
	            (k->state == C_CMDS || k->state == C_IDLE);

	conn_close(k);
	k->tx = NULL;
	k->next = NULL;
	if (n != NULL && k->next_sent)
		n_lost = n; /* its envelope went out: a retry */
	else if (n != NULL)
		k->next = n; /* nothing of it was sent: it follows on a new connection */
	k->next_sent = 0;
	if (stale && now_ms < t->deadline && conn_open(c, k) == MQS_OK) {
		t->requeued = 1;
		k->tx = t; /* it starts once the new connection is ready */
		t = NULL;
	} else if (k->next != NULL) {
		k->tx = k->next;
		k->next = NULL;
		if (conn_open(c, k) != MQS_OK)
			k->connerr = 1;
	}
	/* reported last: k is consistent when done runs */
	txn_report(t, GW_RETRY, 0, 0, NULL, why, done, arg);
	txn_report(n_lost, GW_RETRY, 0, 0, NULL, why, done, arg);
}

/* k was closed: a next transaction that never went out moves to a new
 * connection. */
static void conn_follow(struct gw_smtp *c, struct conn *k)
{
	if (k->tx != NULL || k->next == NULL)
		return;
	k->tx = k->next;
	k->next = NULL;
	k->next_sent = 0;
	if (conn_open(c, k) != MQS_OK)
		k->connerr = 1;
}

/* One complete reply (its final line, code) on k. */
static void on_reply(struct gw_smtp *c, struct conn *k, int code, const char *line, int64_t now_ms,
                     gw_smtp_done_fn done, void *arg)
{
	char err[128];

	switch (k->state) {
	case C_GREET:
		if (code != 220) {
			snprintf(err, sizeof(err), "smtp %d: greeting refused", code);
			k->replies = 1; /* never moved to another connection */
			conn_lost(c, k, err, now_ms, done, arg);
			return;
		}
		k->ehlo_pipe = 0;
		k->ehlo_tls = 0;
		snprintf(k->cmd, sizeof(k->cmd), "EHLO %s\r\n", c->helo);
		k->wp = k->cmd;
		k->wleft = strlen(k->cmd);
		k->state = C_EHLO;
		return;
	case C_EHLO:
		if (code != 250 || !k->ehlo_pipe || (k->ehlo_tls && c->starttls_wanted)) {
			/* HELO only, no PIPELINING, or STARTTLS to do: libcurl's
			 * job from now on; nothing of the message was sent */
			struct txn *n = k->next;

			c->fallback = 1;
			k->next = NULL;
			conn_close(k);
			txn_end(k, GW_RETRY, 1, 0, NULL, "smtp: server does not pipeline", done,
			        arg);
			txn_report(n, GW_RETRY, 1, 0, NULL, "smtp: server does not pipeline", done,
			           arg);
			return;
		}
		c->ready = 1;
		k->state = C_IDLE;
		if (k->tx != NULL)
			txn_begin(c, k);
		return;
	case C_CMDS:
		k->replies++;
		if (k->replies >= 3 && k->wleft > 0) {
			/* DATA answered before the envelope was all written (a
			 * server answering ahead): the stream is out of step and
			 * nothing of the message went out: a retry, the connection
			 * closed, the next transaction follows on a new one */
			struct txn *t = k->tx;

			k->tx = NULL;
			conn_close(k); /* reported last, as conn_lost does */
			conn_follow(c, k);
			txn_report(t, GW_RETRY, 0, 0, NULL, "smtp: bad reply from server", done,
			           arg);
			return;
		}
		if (k->replies < 3) {
			if (code / 100 != 2 && k->bad == NULL) {
				k->bad_code = code;
				k->bad = k->replies == 1 ? "mail from" : "rcpt to";
			}
			return;
		}
		if (code == 354 && k->bad == NULL) {
			k->wp = k->tx->msg;
			k->wleft = k->tx->msg_len;
			k->state = C_BODY;
			return;
		}
		if (k->bad == NULL) {
			k->bad_code = code;
			k->bad = "data";
		}
		snprintf(err, sizeof(err), "smtp %d: %s refused", k->bad_code, k->bad);
		txn_end(k, refusal_outcome(k->bad_code), 0, k->bad_code, NULL, err, done, arg);
		if (code == 354) {
			/* DATA accepted after a refused envelope: an empty message
			 * ends it, then the connection closes */
			snprintf(k->cmd, sizeof(k->cmd), ".\r\n");
			k->wp = k->cmd;
			k->wleft = 3;
			k->state = C_ABORT;
			return;
		}
		conn_close(k); /* no RSET dialogue: a new connection is cheaper to get right */
		conn_follow(c, k);
		return;
	case C_BODY: {
		/* the transaction is over whatever the reply; the next one's
		 * replies follow */
		struct txn *t = k->tx;

		if (k->wleft > 0 && !k->next_sent) {
			/* a reply before the message and its final dot were all
			 * written (a server refusing mid-message, or one answering
			 * ahead): it cannot accept this message, the stream is out
			 * of step, and the rest of the message (freed with t below)
			 * must never be written: a 2xx is a retry, a refusal
			 * counts; close, the next transaction (nothing of it went
			 * out) follows on a new connection */
			struct txn *n = k->next;

			k->tx = NULL;
			k->next = NULL;
			conn_close(k);
			k->next = n;
			k->next_sent = 0;
			conn_follow(c, k);
			if (code / 100 == 2)
				snprintf(err, sizeof(err),
				         "smtp %d: reply before the message was sent", code);
			else
				snprintf(err, sizeof(err), "smtp %d: message refused", code);
			txn_report(t, code / 100 == 2 ? GW_RETRY : refusal_outcome(code), 0, code,
			           NULL, err, done, arg);
			return;
		}
		k->tx = k->next;
		k->next = NULL;
		k->ntx++;
		k->replies = 0;
		if (k->tx == NULL) {
			k->state = C_IDLE;
		} else if (!k->next_sent) {
			txn_begin(c, k);
		} else {
			k->state = C_CMDS;
			k->bad_code = 0;
			k->bad = NULL;
		}
		k->next_sent = 0;
		if (code / 100 == 2) {
			txn_report(t, GW_SENT, 0, code, line, NULL, done, arg);
			return;
		}
		snprintf(err, sizeof(err), "smtp %d: message refused", code);
		txn_report(t, refusal_outcome(code), 0, code, NULL, err, done, arg);
		return;
	}
	default:
		/* C_ABORT's reply, or something unasked on an idle connection
		 * (421 before a timeout close): close */
		conn_close(k);
		conn_follow(c, k);
		return;
	}
}

/* Parse the complete lines in k->in.  MQS_OK, or MQS_ERR_PARSE (a line
 * over GW_SMTP_LINE_MAX or without a code, a reply of more than
 * GW_SMTP_REPLY_LINES_MAX lines: the connection is done).  A reply that
 * closed k's socket ends the parse: the rest belonged to that socket, and
 * a socket opened meanwhile for the next transaction (conn_follow,
 * conn_lost) starts with an empty buffer. */
static int read_lines(struct gw_smtp *c, struct conn *k, int64_t now_ms, gw_smtp_done_fn done,
                      void *arg)
{
	size_t off = 0;
	unsigned gen = k->gen;
	int rc = MQS_OK;

	while (k->gen == gen && off < k->inlen) {
		char *line = k->in + off;
		char *nl = memchr(line, '\n', k->inlen - off);
		size_t len;
		int code;

		if (nl == NULL) {
			if (k->inlen - off >= GW_SMTP_LINE_MAX)
				rc = MQS_ERR_PARSE;
			break;
		}
		len = (size_t)(nl - line) + 1;
		if (len > GW_SMTP_LINE_MAX || len < 4 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' ||
		    (line[3] != ' ' && line[3] != '-' && line[3] != '\r' && line[3] != '\n')) {
			rc = MQS_ERR_PARSE;
			break;
		}
		off += len;
		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (k->state == C_EHLO && code == 250) {
			const char *kw = line + 4;

			if (len > 4 && strncasecmp(kw, "PIPELINING", 10) == 0 &&
			    (kw[10] == '\0' || kw[10] == ' '))
				k->ehlo_pipe = 1;
			if (len > 4 && strncasecmp(kw, "STARTTLS", 8) == 0 &&
			    (kw[8] == '\0' || kw[8] == ' '))
				k->ehlo_tls = 1;
		}
		if (line[3] == '-') {
			if (++k->lines > GW_SMTP_REPLY_LINES_MAX) {
				rc = MQS_ERR_PARSE; /* a reply that never ends */
				break;
			}
			continue;
		}
		k->lines = 0;
		on_reply(c, k, code, line, now_ms, done, arg);
	}
	if (k->gen == gen && rc == MQS_OK) {
		memmove(k->in, k->in + off, k->inlen - off);
		k->inlen -= off;
	}
	return rc;
}

/* Write what k has to write (the pipelined next envelope joins the end of
 * a message); MQS_OK, or MQS_ERR_IO when the connection was lost (then
 * reported and closed). */
static int conn_flush(struct gw_smtp *c, struct conn *k, int64_t now_ms, gw_smtp_done_fn done,
                      void *arg)
{
	for (;;) {
		int more;
		size_t env = 0;
		ssize_t w;

		if (k->wleft == 0 && k->state == C_BODY && k->next != NULL && !k->next_sent) {
			/* the message is out: the next envelope follows at once */
			k->wp = k->cmd;
			k->wleft = envelope_fmt(c, k, k->next);
			k->next_sent = 1;
		}
		if (k->wleft == 0)
			return MQS_OK;
		/* the rest of the message and the next envelope in one system
		 * call: what a busy connection writes per delivery is one call */
		more = k->state == C_BODY && k->next != NULL && !k->next_sent;
		if (more)
			env = envelope_fmt(c, k, k->next);
		if (env > 0) {
			struct iovec iov[2] = {{.iov_base = (void *)k->wp, .iov_len = k->wleft},
			                       {.iov_base = k->cmd, .iov_len = env}};
			struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};

			w = sendmsg(k->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			w = send(k->fd, k->wp, k->wleft,
			         MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0));
		}

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return MQS_OK;
		if (w <= 0) {
			conn_lost(c, k, "smtp: connection lost", now_ms, done, arg);
			return MQS_ERR_IO;
		}
		if (env > 0 && (size_t)w >= k->wleft) {
			/* the message is out, the envelope (part of it) too */
			size_t e = (size_t)w - k->wleft;

			k->wp = k->cmd + e;
			k->wleft = env - e;
			k->next_sent = 1;
			continue;
		}
		k->wp += w;
		k->wleft -= (size_t)w;
	}
}

/* One read of k's socket into k->in and the parse of the complete reply
 * lines it brings: 1 (read and parsed), 0 (nothing waiting), -1 (the
 * server closed or the socket failed) or -2 (a broken reply).  On a
 * negative result nothing is reported yet: the caller decides.  A read
 * that got less than it asked for emptied the socket: k->readable is
 * cleared, and what comes later is seen by the next pass's poll. */
static int conn_recv(struct gw_smtp *c, struct conn *k, int64_t now_ms, gw_smtp_done_fn done,
                     void *arg)
{
	for (;;) {
		size_t room = sizeof(k->in) - k->inlen;
		ssize_t r = recv(k->fd, k->in + k->inlen, room, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			k->readable = 0;
			return 0;
		}
		if (r <= 0)
			return -1;
		if ((size_t)r < room)
			k->readable = 0;
		k->inlen += (size_t)r;
		return read_lines(c, k, now_ms, done, arg) == MQS_OK ? 1 : -2;
	}
}

/* Non-zero when k carries no urgent transaction (bulk work only). */
static int conn_bulk(const struct conn *k)
{
	return !(k->tx != NULL && k->tx->urgent) && !(k->next != NULL && k->next->urgent);
}

/* One connection's turn: its pending connect, its writes and its replies.
 * Bounded, so that one connection never keeps the loop (and an alert
 * waiting on the broker's socket) for long: IN_MAX_READS reads at most,
 * and on a connection carrying bulk work only, BULK_TURN_MAX transactions
 * ended at most (docs/channels.md, "Pipelining").  What is left waits in
 * the socket and is read at the next pass (poll sees it at once). */
static void conn_io(struct gw_smtp *c, struct conn *k, int64_t now_ms, gw_smtp_done_fn done,
                    void *arg)
{
	unsigned ended = k->ntx, reads = 0, gen;

	if (k->connerr) {
		k->connerr = 0;
		conn_lost(c, k, "smtp: couldn't connect to server", now_ms, done, arg);
		return;
	}
	if (k->state == C_CONNECT) {
		struct pollfd p = {.fd = k->fd, .events = POLLOUT | POLLIN, .revents = 0};
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (poll(&p, 1, 0) <= 0)
			return;
		if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			k->replies = 1;
			conn_lost(c, k, "smtp: couldn't connect to server", now_ms, done, arg);
			return;
		}
		k->state = C_GREET;
		/* a greeting that came with the connect is read in this pass */
		k->readable = (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
	}
	gen = k->gen;
	for (;;) {
		if (conn_flush(c, k, now_ms, done, arg) != MQS_OK)
			return;
		if (reads >= IN_MAX_READS || (conn_bulk(k) && k->ntx - ended >= BULK_TURN_MAX))
			return; /* the rest at the next turn */
		for (;;) {
			int got;

			/* closed by a reply: a socket opened meanwhile for the
			 * next transaction is still connecting (its turn comes
			 * when poll says so) */
			if (k->gen != gen || reads >= IN_MAX_READS || !k->readable)
				return;
			reads++;
			got = conn_recv(c, k, now_ms, done, arg);
			if (got == 0)
				return;
			if (got == -1) {
				conn_lost(c, k, "smtp: connection lost", now_ms, done, arg);
				return;
			}
			if (got == -2) {
				k->replies =
				    1; /* a broken server: never moved to another connection */
				conn_lost(c, k, "smtp: bad reply from server", now_ms, done, arg);
				return;
			}
			/* a reply may have queued output (EHLO, the message) */
			if (k->gen == gen && conn_writes(k))
				break;
		}
	}
}

/* Read and parse the replies waiting in k's socket, writing nothing: a
 * transaction past its deadline whose reply came meanwhile (the loop was
 * busy) ends with that reply, not as a timeout that sends it twice.  At
 * most IN_MAX_READS reads; stops where the socket is empty, closed or
 * broken, or a reply closed k (what is left is the caller's). */
static void conn_read_due(struct gw_smtp *c, struct conn *k, int64_t now_ms, gw_smtp_done_fn done,
                          void *arg)
{
	unsigned gen = k->gen;

	if (k->fd < 0 || k->state == C_CONNECT)
		return;
	for (int reads = 0; reads < IN_MAX_READS && k->gen == gen; reads++) {
		if (conn_recv(c, k, now_ms, done, arg) <= 0)
			return;
	}
}

/* I/O and timeouts (gw_smtp.h). */
void gw_smtp_perform(struct gw_smtp *c, int64_t now_ms, gw_smtp_done_fn done, void *arg)
{
	struct pollfd p[GW_SMTP_CONNS_MAX];
	unsigned at[GW_SMTP_CONNS_MAX], np = 0;

	/* which connections have input: one zero-timeout poll for the pass,
	 * not a read of every connection (most have nothing while a
	 * campaign's replies trickle in) */
	for (unsigned i = 0; i < c->nconns; i++) {
		struct conn *k = &c->conns[i];

		k->readable = 0;
		if (k->fd < 0 || k->state == C_CONNECT)
			continue;
		p[np].fd = k->fd;
		p[np].events = POLLIN;
		p[np].revents = 0;
		at[np++] = i;
	}
	if (np > 0 && poll(p, np, 0) > 0) {
		for (unsigned j = 0; j < np; j++)
			c->conns[at[j]].readable = p[j].revents != 0;
	}
	for (unsigned i = 0; i < c->nconns; i++) {
		struct conn *k = &c->conns[i];

		if (k->fd < 0 && !k->connerr)
			continue;
		if ((k->tx != NULL && now_ms >= k->tx->deadline) ||
		    (k->next != NULL && now_ms >= k->next->deadline)) {
			unsigned gen = k->gen;

			conn_read_due(c, k, now_ms, done, arg);
			if (k->gen != gen)
				continue; /* a reply closed it (a next one: its own turn) */
		}
		if ((k->tx != NULL && now_ms >= k->tx->deadline) ||
		    (k->next != NULL && now_ms >= k->next->deadline)) {
			k->replies = 1;
			conn_lost(c, k, "smtp: timeout", now_ms, done, arg);
			continue;
		}
		conn_io(c, k, now_ms, done, arg);
	}
}

/* Dot-stuffed message for DATA (gw_smtp.h). */
char *gw_smtp_dot_stuff(const char *text, size_t len, size_t cap, size_t *out_len)
{
	size_t n = 0, o = 0;
	int bol = 1;
	char *out;

	/* worst case: every byte a LF at a line start (".\r\n" per byte) */
	if (len > (cap - 5) / 3)
		return NULL;
	out = mqs_malloc(len * 3 + 6);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char ch = text[i];

		if (bol && ch == '.')
			out[o++] = '.';
		if (ch == '\n' && (i == 0 || text[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = ch;
		bol = ch == '\n';
	}
	if (!bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	o += 3;
	n = o;
	if (n > cap) {
		OPENSSL_cleanse(out, len * 3 + 6);
		mqs_free(out);
		return NULL;
	}
	*out_len = n;
	return out;
}
