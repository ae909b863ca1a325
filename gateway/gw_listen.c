/* SPDX-License-Identifier: BSD-3-Clause */
/* gw_listen.c - the HTTP listener (gw_listen.h; docs/marketing.md, "HTTP
 * listener"): libmicrohttpd in epoll mode without threads of its own,
 * driven by the gateway loop. */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "gateway.h"
#include "gw_inbound.h"
#include "gw_listen.h"
#include "gw_log.h"
#include "mqs_alloc.h"
#include "mqs_util.h"

#define BODY_CAP     (64u * 1024)
#define MAX_PARAMS   64
#define CONN_MEMORY  (32u * 1024) /* request line, headers and read buffer */
#define TLS_FILE_MAX (256u * 1024)

enum route_id { R_TWILIO = 0, R_LINE, R_UNSUB };

/* One row of the route table: methods allowed ("GET,POST"), a path (exact,
 * or a prefix when prefix is 1). */
struct route {
	const char *methods;
	const char *path;
	int prefix;
	enum route_id id;
};

static const struct route routes[] = {
    {"POST", "/twilio/sms", 0, R_TWILIO},
    {"POST", "/line/webhook", 0, R_LINE},
    {"GET,POST", "/u/", 1, R_UNSUB},
};

/* One open connection, for the request deadline: [http] timeout covers
 * the whole request, the header phase included (libmicrohttpd's own
 * timeout is an idle one, reset by every byte). */
struct conn {
	struct conn *prev, *next;
	int fd;            /* the socket, shut down when the deadline passes */
	uint64_t start_ms; /* accepted, or the previous request completed */
	int cut;           /* shut down already */
};

struct gw_listen {
	struct gw_gateway *gw;
	struct conn *conns; /* open connections */
	struct MHD_Daemon *d;
	int port;
	uint8_t *cert, *key; /* PEM, NUL-terminated; the key is wiped on free */
	size_t cert_len, key_len;
	unsigned nconn;          /* connections open now */
	unsigned long refused;   /* connections closed at once for max_connections */
	uint64_t refused_logged; /* when that was last logged */
};

/* What one request accumulates between calls of the access handler. */
struct req {
	const struct route *route; /* NULL: answered already (or no route) */
	uint8_t *body;
	size_t len, cap;
	uint64_t start_ms;
	int too_big;
};

/* libmicrohttpd's own messages go to the log at debug level. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\r\n")] = '\0';
	gw_log(GW_LOG_DEBUG, "http: %s", line);
}

/* The client address of c as text into out. */
static void client_addr(struct MHD_Connection *c, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	snprintf(out, cap, "?");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)cap);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          out, (socklen_t)cap);
}

/* The path as the access log shows it: printable, at most 48 characters,
 * an unsubscribe token cut to its first 4 characters. */
static void log_path(const char *url, char *out, size_t cap)
{
	size_t o = 0, lim = strncmp(url, "/u/", 3) == 0 ? 7 : 48;

	for (size_t i = 0; url[i] != '\0' && o + 4 < cap && i < lim; i++)
		out[o++] = url[i] > 0x20 && url[i] < 0x7f ? url[i] : '?';
	if (strlen(url) > lim && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* in as the log shows client-controlled text: printable ASCII only
 * (others become '?'), at most lim characters then "...". */
static void log_printable(const char *in, char *out, size_t cap, size_t lim)
{
	size_t o = 0, i;

	for (i = 0; in[i] != '\0' && i < lim && o + 4 < cap; i++)
		out[o++] = in[i] > 0x20 && in[i] < 0x7f ? in[i] : '?';
	if (in[i] != '\0' && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Queue status with body (a copy) and the security headers; log it. */
static enum MHD_Result respond(struct MHD_Connection *c, const char *method, const char *url,
                               int status, const char *ctype, const char *body, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret = MHD_NO;
	char addr[INET6_ADDRSTRLEN + 1], path[64], meth[16];

	client_addr(c, addr, sizeof(addr));
	log_path(url, path, sizeof(path));
	log_printable(method, meth, sizeof(meth), 10);
	gw_log(GW_LOG_INFO, "http: %s %s %d %s", meth, path, status, addr);
	r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
	                                    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	if (MHD_add_response_header(r, "Content-Type", ctype) != MHD_YES ||
	    MHD_add_response_header(r, "Cache-Control", "no-store") != MHD_YES ||
	    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    MHD_add_response_header(r, "Referrer-Policy", "no-referrer") != MHD_YES)
		goto out;
	if (strncmp(ctype, "text/html", 9) == 0 &&
	    (MHD_add_response_header(r, "Content-Security-Policy",
	                             "default-src 'none'; form-action 'self'; "
	                             "frame-ancestors 'none'; base-uri 'none'") != MHD_YES ||
	     MHD_add_response_header(r, "X-Frame-Options", "DENY") != MHD_YES))
		goto out;
	if (allow != NULL && MHD_add_response_header(r, "Allow", allow) != MHD_YES)
		goto out;
	ret = MHD_queue_response(c, (unsigned int)status, r);
out:
	MHD_destroy_response(r);
	return ret;
}

/* 1 when method is in the comma-separated list. */
static int method_in(const char *list, const char *method)
{
	size_t n = strlen(method);

	for (const char *p = list; *p != '\0';) {
		size_t l = strcspn(p, ",");

		if (l == n && strncmp(p, method, n) == 0)
			return 1;
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* The route of url, or NULL. */
static const struct route *route_find(const char *url)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (routes[i].prefix ? strncmp(url, routes[i].path, strlen(routes[i].path)) == 0
		                     : strcmp(url, routes[i].path) == 0)
			return &routes[i];
	}
	return NULL;
}

/* Value of a hex digit, or -1. */
static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decode one form component in place ('+' is a space, %XX a byte): 0, or
 * -1 for a bad escape or a NUL byte. */
static int form_decode(char *s)
{
	char *o = s;

	for (char *p = s; *p != '\0'; p++) {
		if (*p == '+') {
			*o++ = ' ';
		} else if (*p == '%') {
			int hi = hexval(p[1]), lo = hi >= 0 ? hexval(p[2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			*o++ = (char)(hi << 4 | lo);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return 0;
}

/* Split an application/x-www-form-urlencoded body (NUL-terminated, edited
 * in place) into at most MAX_PARAMS parameters: the count, or -1. */
static int form_parse(char *body, struct gw_param *params)
{
	int n = 0;

	for (char *p = body; *p != '\0';) {
		char *amp = strchr(p, '&'), *eq;

		if (amp != NULL)
			*amp = '\0';
		if (*p != '\0') {
			if (n == MAX_PARAMS)
				return -1;
			eq = strchr(p, '=');
			if (eq != NULL)
				*eq = '\0';
			params[n].name = p;
			params[n].value = eq != NULL ? eq + 1 : "";
			if (form_decode(p) != 0 || (eq != NULL && form_decode(eq + 1) != 0))
				return -1;
			n++;
		}
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	return n;
}

/* Run the route of a complete request and queue its answer. */
static enum MHD_Result dispatch(struct gw_listen *l, struct MHD_Connection *c, const char *method,
                                const char *url, struct req *rq)
{
	struct gw_inbound_result res;
	struct gw_param params[MAX_PARAMS];
	struct gw_store *s = &l->gw->store;
	const struct gw_config *conf = l->gw->conf;
	int64_t now = (int64_t)mqs_now_ms();
	const char *sig;
	int n;

	memset(&res, 0, sizeof(res));
	if ((uint64_t)now - rq->start_ms > conf->http.timeout_ms)
		return respond(c, method, url, 408, "text/plain; charset=utf-8", "too slow\n",
		               NULL);
	switch (rq->route->id) {
	case R_TWILIO: {
		const char *ct =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

		if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0)
			return respond(c, method, url, 415, "text/plain; charset=utf-8",
			               "form expected\n", NULL);
		rq->body[rq->len] = '\0';
		if (strlen((char *)rq->body) != rq->len)
			n = -1;
		else
			n = form_parse((char *)rq->body, params);
		if (n < 0)
			return respond(c, method, url, 400, "text/plain; charset=utf-8",
			               "bad form\n", NULL);
		sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Twilio-Signature");
		gw_inbound_twilio(s, conf, params, (size_t)n, sig, now, &res);
		break;
	}
	case R_LINE:
		sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Line-Signature");
		gw_inbound_line(s, conf, rq->body, rq->len, sig, now, &res);
		break;
	case R_UNSUB:
	default:
		gw_inbound_unsub(s, conf, url + 3, strlen(url + 3), strcmp(method, "POST") == 0,
		                 now, &res);
		break;
	}
	return respond(c, method, url, res.status, res.content_type, res.body, NULL);
}

/* libmicrohttpd's access handler: called once with the headers, then with
 * each piece of the body, then once more with none. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct gw_listen *l = cls;
	struct req *rq = *con_cls;
	const char *cl;

	(void)version;
	if (rq == NULL) {
		const struct route *rt = route_find(url);

		rq = mqs_calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		*con_cls = rq;
		rq->start_ms = mqs_now_ms();
		if (rt == NULL)
			return respond(c, method, url, 404, "text/plain; charset=utf-8",
			               "not found\n", NULL);
		if (!method_in(rt->methods, method))
			return respond(c, method, url, 405, "text/plain; charset=utf-8",
			               "method not allowed\n",
			               strcmp(rt->methods, "POST") == 0 ? "POST" : "GET, POST");
		cl =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > BODY_CAP)
			return respond(c, method, url, 413, "text/plain; charset=utf-8",
			               "body too large\n", NULL);
		rq->route = rt;
		return MHD_YES;
	}
	if (rq->route == NULL) { /* answered on the first call: discard the rest */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (mqs_now_ms() - rq->start_ms > l->gw->conf->http.timeout_ms) {
			/* a body trickling in: [http] timeout covers the whole request */
			gw_log(GW_LOG_INFO,
			       "http: request slower than the timeout: connection closed");
			return MHD_NO;
		}
		if (rq->too_big || rq->len + n > BODY_CAP) {
			/* chunked past the cap: no answer can be queued mid-body in
			 * this libmicrohttpd, so the connection is closed */
			rq->too_big = 1;
			gw_log(GW_LOG_INFO, "http: body over %u bytes: connection closed",
			       BODY_CAP);
			return MHD_NO;
		}
		if (rq->len + n + 1 > rq->cap) {
			size_t ncap = rq->cap == 0 ? 4096 : rq->cap;
			uint8_t *nb;

			while (ncap < rq->len + n + 1)
				ncap *= 2;
			if (ncap > BODY_CAP + 1)
				ncap = BODY_CAP + 1;
			nb = mqs_realloc(rq->body, ncap);
			if (nb == NULL)
				return MHD_NO;
			rq->body = nb;
			rq->cap = ncap;
		}
		memcpy(rq->body + rq->len, upload_data, n);
		rq->len += n;
		return MHD_YES;
	}
	if (rq->body == NULL) {
		rq->body = mqs_malloc(1);
		if (rq->body == NULL)
			return MHD_NO;
		rq->cap = 1;
	}
	{
		enum MHD_Result ret = dispatch(l, c, method, url, rq);

		rq->route = NULL; /* answered */
		return ret;
	}
}

/* Free a request's state when its connection is done with it. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	(void)cls;
	(void)toe;
	if (ci != NULL && ci->socket_context != NULL) {
		/* keep-alive: the next request's clock starts now */
		struct conn *cn = ci->socket_context;

		cn->start_ms = mqs_now_ms();
	}
	if (rq == NULL)
		return;
	mqs_secret_free(rq->body, rq->cap);
	mqs_free(rq);
	*con_cls = NULL;
}

/* Count and track connections as libmicrohttpd opens and closes them. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	struct gw_listen *l = cls;
	struct conn *cn = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		l->nconn++;
		cn = mqs_calloc(1, sizeof(*cn));
		if (cn == NULL) /* not tracked: the idle timeout still applies */
			return;
		cn->fd = ci != NULL ? ci->connect_fd : -1;
		cn->start_ms = mqs_now_ms();
		cn->next = l->conns;
		if (l->conns != NULL)
			l->conns->prev = cn;
		l->conns = cn;
		*socket_context = cn;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (l->nconn > 0)
			l->nconn--;
		if (cn == NULL)
			return;
		if (cn->prev != NULL)
			cn->prev->next = cn->next;
		else
			l->conns = cn->next;
		if (cn->next != NULL)
			cn->next->prev = cn->prev;
		mqs_free(cn);
		*socket_context = NULL;
	}
}

/* Shut down every connection whose request is not complete (read,
 * answered and sent) within [http] timeout of its start: a slow-header or
 * slow-body client (answers are small: sending them does not wait on the
 * client); libmicrohttpd
 * sees the socket closed and cleans up.  Returns the earliest deadline of
 * the others, or UINT64_MAX. */
static uint64_t deadlines(struct gw_listen *l, uint64_t now)
{
	uint64_t tmo = l->gw->conf->http.timeout_ms, next = UINT64_MAX;
	unsigned long cut = 0;

	for (struct conn *cn = l->conns; cn != NULL; cn = cn->next) {
		if (cn->cut || cn->fd < 0)
			continue;
		if (now >= cn->start_ms && now - cn->start_ms >= tmo) {
			(void)shutdown(cn->fd, SHUT_RDWR);
			cn->cut = 1;
			cut++;
		} else if (cn->start_ms + tmo < next) {
			next = cn->start_ms + tmo;
		}
	}
	if (cut > 0)
		gw_log(GW_LOG_INFO,
		       "http: %lu request(s) not complete within the timeout: connection closed",
		       cut);
	return next;
}

/* Close a new connection at once when max_connections are open (rather
 * than leaving it in the kernel's backlog); logged at most every 10 s. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct gw_listen *l = cls;
	uint64_t now;

	(void)addr;
	(void)addrlen;
	if (l->nconn < l->gw->conf->http.max_connections)
		return MHD_YES;
	l->refused++;
	now = mqs_now_ms();
	if (now - l->refused_logged >= 10000) {
		gw_log(GW_LOG_WARN, "http: max_connections (%u) reached: %lu connection(s) refused",
		       l->gw->conf->http.max_connections, l->refused);
		l->refused_logged = now;
		l->refused = 0;
	}
	return MHD_NO;
}

/* Read the TLS certificate and key ([http] cert, key): MQS_OK or an error
 * with a reason; the key must not be readable by group or others. */
static int load_tls(struct gw_listen *l, const struct gw_http_conf *h, char *err, size_t errlen)
{
	int rc;

	rc = mqs_file_read(h->cert, TLS_FILE_MAX, 0, &l->cert, &l->cert_len);
	if (rc != MQS_OK) {
		snprintf(err, errlen, "[http] cert %s: %s", h->cert, mqs_strerror(rc));
		return rc;
	}
	rc = mqs_file_read(h->key, TLS_FILE_MAX, 1, &l->key, &l->key_len);
	if (rc == MQS_ERR_PERM)
		snprintf(err, errlen, "[http] key %s is readable by group or others (chmod 600 it)",
		         h->key);
	else if (rc != MQS_OK)
		snprintf(err, errlen, "[http] key %s: %s", h->key, mqs_strerror(rc));
	return rc;
}

/* Start listening. */
struct gw_listen *gw_listen_new(struct gw_gateway *gw, char *err, size_t errlen)
{
	const struct gw_http_conf *h = &gw->conf->http;
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	struct gw_listen *l = NULL;
	const union MHD_DaemonInfo *di;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	unsigned int tmo, mhd_limit;
	char port[8];
	int r;

	err[0] = '\0';
	if (!h->enabled)
		return NULL;
	l = mqs_calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->gw = gw;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%d", h->listen_port);
	r = getaddrinfo(h->listen_host, port, &hints, &ai);
	if (r != 0 || ai == NULL || ai->ai_addrlen > sizeof(ss)) {
		snprintf(err, errlen, "[http] listen: cannot resolve %s: %s", h->listen_host,
		         r != 0 ? gai_strerror(r) : "no address");
		goto fail;
	}
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (h->cert != NULL) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, errlen, "[http] cert: this libmicrohttpd has no TLS");
			goto fail;
		}
		if (load_tls(l, h, err, errlen) != MQS_OK)
			goto fail;
		flags |= MHD_USE_TLS;
	}
	tmo = (unsigned int)((h->timeout_ms + 999) / 1000);
	if (tmo == 0)
		tmo = 1;
	/* libmicrohttpd's own cap sits above max_connections: the surplus is
	 * accepted and closed by accept_policy() instead of waiting in the
	 * backlog; the cap still bounds the sockets of a flood */
	mhd_limit = h->max_connections + 16;
	if (h->cert != NULL)
		l->d = MHD_start_daemon(
		    flags, (uint16_t)h->listen_port, accept_policy, l, on_request, l,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
		    mhd_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->per_ip,
		    MHD_OPTION_CONNECTION_TIMEOUT, tmo, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		    (size_t)CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
		    MHD_OPTION_NOTIFY_CONNECTION, on_connection, l, MHD_OPTION_EXTERNAL_LOGGER,
		    mhd_log, l, MHD_OPTION_HTTPS_MEM_CERT, (const char *)l->cert,
		    MHD_OPTION_HTTPS_MEM_KEY, (const char *)l->key, MHD_OPTION_END);
	else
		l->d = MHD_start_daemon(
		    flags, (uint16_t)h->listen_port, accept_policy, l, on_request, l,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
		    mhd_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->per_ip,
		    MHD_OPTION_CONNECTION_TIMEOUT, tmo, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		    (size_t)CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
		    MHD_OPTION_NOTIFY_CONNECTION, on_connection, l, MHD_OPTION_EXTERNAL_LOGGER,
		    mhd_log, l, MHD_OPTION_END);
	if (l->d == NULL) {
		snprintf(err, errlen,
		         "[http] cannot listen on %s:%d (address in use, or a bad certificate or "
		         "key)",
		         h->listen_host, h->listen_port);
		goto fail;
	}
	di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
	l->port = di != NULL && di->port != 0 ? di->port : h->listen_port;
	gw_log(GW_LOG_INFO, "http listener on %s%s%s:%d%s", ai->ai_family == AF_INET6 ? "[" : "",
	       h->listen_host, ai->ai_family == AF_INET6 ? "]" : "", gw_listen_port(l),
	       h->cert != NULL ? " (TLS)" : "");
	freeaddrinfo(ai);
	return l;
fail:
	if (ai != NULL)
		freeaddrinfo(ai);
	gw_listen_free(l);
	return NULL;
}

/* Stop and free. */
void gw_listen_free(struct gw_listen *l)
{
	if (l == NULL)
		return;
	if (l->d != NULL)
		MHD_stop_daemon(l->d);
	while (l->conns != NULL) { /* normally freed by on_connection() */
		struct conn *cn = l->conns;

		l->conns = cn->next;
		mqs_free(cn);
	}
	mqs_secret_free(l->key, l->key_len + 1);
	mqs_free(l->cert);
	mqs_free(l);
}

/* The descriptor to poll. */
int gw_listen_fd(struct gw_listen *l)
{
	const union MHD_DaemonInfo *di;

	if (l == NULL || l->d == NULL)
		return -1;
	di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD);
	return di != NULL ? di->epoll_fd : -1;
}

/* The port bound. */
int gw_listen_port(const struct gw_listen *l)
{
	return l != NULL ? l->port : 0;
}

/* Next run without I/O. */
uint64_t gw_listen_next_ms(struct gw_listen *l, uint64_t now_ms)
{
	MHD_UNSIGNED_LONG_LONG t = 0;
	uint64_t next = now_ms + 1000, dl;

	if (l == NULL || l->d == NULL)
		return next;
	if (MHD_get_timeout(l->d, &t) == MHD_YES && t < 1000)
		next = now_ms + (uint64_t)t;
	dl = deadlines(l, now_ms);
	return dl < next ? dl : next;
}

/* Serve what is ready, then cut the requests past their deadline. */
void gw_listen_run(struct gw_listen *l)
{
	if (l == NULL || l->d == NULL)
		return;
	(void)MHD_run(l->d);
	(void)deadlines(l, mqs_now_ms());
}
