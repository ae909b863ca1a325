/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_smtp.h - a pipelining SMTP client (RFC 2920) for the email channel,
 * driven by the gateway's poll loop (docs/channels.md, "email",
 * "Pipelining").
 *
 * libcurl runs MAIL, RCPT, DATA and the message each waiting for the
 * previous reply and has no command pipelining; this client sends
 * MAIL FROM, RCPT TO and DATA in one write and then the message with its
 * final dot in one write: two round trips per delivery.  It keeps up to
 * max_conns connections open across transactions, each with a running
 * transaction and at most one next one, whose MAIL, RCPT and DATA go out
 * in the same segment as the running one's message (RFC 2920 3.1): one
 * round trip per delivery while the connection stays busy.  An urgent
 * transaction (an alert) has a connection of its own when there are two or
 * more (see gw_smtp_submit).  Plain SMTP only: a server that does not
 * announce PIPELINING, or that offers STARTTLS while TLS is wanted, makes
 * the client answer "fallback" (the email channel then uses libcurl, which
 * also does TLS and AUTH) from then on.
 *
 * Outcomes follow the libcurl path (docs/channels.md, "Outcomes"): a 2xx
 * after the final dot is sent; a 4xx reply, a dropped connection before
 * that reply, a timeout are a retry; a 5xx reply is failed.  Error texts
 * name the command and the code, never the server's text (it may echo an
 * address).
 *
 * Ownership: gw_smtp_new() copies its configuration; gw_smtp_free()
 * closes every connection and reports every transaction still running
 * as a retry through the done callback given to it.  gw_smtp_submit()
 * takes the message buffer (freed, wiped, by the client in every case).
 * The caller's token is opaque to the client and is handed back exactly
 * once through the done callback, unless gw_smtp_submit() did not return
 * MQS_OK.
 */
#ifndef GW_SMTP_H
#define GW_SMTP_H

#include <stddef.h>
#include <stdint.h>

/* Longest reply line accepted, CRLF included (RFC 5321 4.5.3.1.5 says 512). */
#define GW_SMTP_LINE_MAX 512
/* Lines of one reply at most (an EHLO reply has a dozen): a server that
 * never ends a reply is dropped as a bad reply. */
#define GW_SMTP_REPLY_LINES_MAX 64
/* Connections at most (max_conns is capped to this). */
#define GW_SMTP_CONNS_MAX 64
struct gw_smtp;

struct gw_smtp_conf {
	const struct sockaddr *addr; /* the server's address (port included), or NULL: */
	size_t addrlen;              /* ... then host and port, host a numeric address */
	const char *host;            /* numeric address (never looked up: no blocking call) */
	unsigned port;               /* TCP port */
	const char *helo;            /* EHLO name */
	const char *mail_from;       /* "<addr>" */
	long timeout_ms;             /* one whole transaction (connection set-up included) */
	unsigned max_conns;          /* connections at most */
	int starttls_wanted;         /* a STARTTLS offer means: use the libcurl path */
};

struct gw_smtp_result {
	int outcome;     /* enum gw_outcome (gw_channel.h) */
	int fallback;    /* nothing was sent: deliver it through libcurl */
	int code;        /* last SMTP reply code, 0 when none */
	char reply[128]; /* the final reply line after the dot (sent only) */
	char error[128]; /* lowercase, no PII */
};

/* Called once per submitted transaction when it ends. */
typedef void (*gw_smtp_done_fn)(void *arg, void *token, const struct gw_smtp_result *r);

/* A client, or NULL with a reason in err (bad host, out of memory). */
struct gw_smtp *gw_smtp_new(const struct gw_smtp_conf *conf, char *err, size_t errlen);

/* Close everything; running transactions end as retries through done
 * (which may be NULL to drop them silently).  NULL is fine. */
void gw_smtp_free(struct gw_smtp *c, gw_smtp_done_fn done, void *arg);

/* Non-zero once a server announced PIPELINING (and no fallback). */
int gw_smtp_ready(const struct gw_smtp *c);

/* Non-zero once the server was found not to fit (no PIPELINING, STARTTLS
 * wanted): every delivery goes through libcurl. */
int gw_smtp_fallback(const struct gw_smtp *c);

/* Start one transaction to rcpt ("<addr>") with msg (msg_len bytes: the
 * message, already dot-stuffed, ending with CRLF "." CRLF; taken by the
 * client).  MQS_OK, or MQS_ERR_UNSUPPORTED (fallback, or no connection
 * free: use libcurl; msg freed), MQS_ERR_NOMEM.  urgent (an alert): with two
 * connections or more, the first one is kept for urgent transactions, which
 * take an idle connection first and never queue behind a transaction that
 * is not urgent while one of their own can take them. */
int gw_smtp_submit(struct gw_smtp *c, const char *rcpt, char *msg, size_t msg_len, void *token,
                   int urgent, int64_t now_ms);

/* How many transactions that are not urgent can run at once: two per
 * connection not kept for urgent ones once the server pipelines, one
 * before. */
unsigned gw_smtp_bulk_max(const struct gw_smtp *c);

/* Descriptors to poll: up to cap of them into fd[] / events[] (POLLOUT
 * while connecting; afterwards POLLIN always, with POLLOUT while output
 * waits).  Returns how many. */
size_t gw_smtp_fds(const struct gw_smtp *c, int *fd, short *events, size_t cap);

/* Do the I/O that is possible now, end what timed out; call done for each
 * transaction that ended. */
void gw_smtp_perform(struct gw_smtp *c, int64_t now_ms, gw_smtp_done_fn done, void *arg);

/* Earliest deadline of a running transaction (Unix ms), or 0. */
int64_t gw_smtp_next_ms(const struct gw_smtp *c);

/* The message for DATA from header lines and a body: CRLF line ends, a
 * "." starting a line doubled (RFC 5321 4.5.2), CRLF "." CRLF appended.
 * text is len bytes; bare LF become CRLF.  A new buffer (*out_len bytes),
 * or NULL when out of memory or the result would exceed cap bytes. */
char *gw_smtp_dot_stuff(const char *text, size_t len, size_t cap, size_t *out_len);

#endif
