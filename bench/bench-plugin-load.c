/* SPDX-License-Identifier: BSD-3-Clause */
/* bench-plugin-load.c - a small MQTT 3.1.1 load generator over raw
 * non-blocking sockets, for bench/bench-plugin.sh.  Loopback only.
 *
 *   bench-plugin-load connect PORT CREDS N CONCURRENCY
 *       N connections (CONNECT, CONNACK, DISCONNECT), at most CONCURRENCY
 *       in flight; CREDS is "-" (anonymous) or a file of lines
 *       "NAME PASSSPEC" used in order (one line per connection).
 *   bench-plugin-load pubsub PORT SUBUSER SUBPASS PUBUSER PUBPASS TOPIC N SIZE
 *       one subscriber, one publisher: N QoS 0 messages of SIZE bytes,
 *       rate measured from the first send to the last receipt.
 *   bench-plugin-load ping PORT USER PASS SECONDS
 *       PINGREQ/PINGRESP round trips for SECONDS: count, mean, max.
 *
 * PASSSPEC: "-" for none, "totp:HEXSECRET[:PERIOD]" for the current TOTP
 * code (6 digits, SHA1, PERIOD seconds, default 30, computed with
 * mqs_totp_generate), "token:HEXSECRET[:...]" for a fresh connect token
 * for the line's name and the connection's client id (mqs_conntoken.h),
 * else the literal
 * password.  Output: "key=value" pairs on one line.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mqs_conntoken.h"
#include "mqs_error.h"
#include "mqs_totp.h"
#include "mqs_util.h"

#define MAX_FIELD 256

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-plugin-load: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Turn a PASSSPEC into a password (NULL for none) in buf. */
static const char *password(const char *spec, char *buf, size_t cap)
{
	uint8_t secret[MQS_TOTP_SECRET_MAX];
	struct mqs_totp_params p;
	size_t n = 0;

	if (spec == NULL || strcmp(spec, "-") == 0)
		return NULL;
	if (strncmp(spec, "totp:", 5) != 0) {
		snprintf(buf, cap, "%s", spec);
		return buf;
	}
	mqs_totp_params_default(&p);
	for (const char *h = spec + 5; h[0] != '\0' && h[1] != '\0' && n < sizeof(secret); h += 2) {
		unsigned v;

		if (h[0] == ':' || sscanf(h, "%2x", &v) != 1)
			break;
		secret[n++] = (uint8_t)v;
	}
	if (strchr(spec + 5, ':') != NULL)
		p.period = (unsigned)atoi(strchr(spec + 5, ':') + 1);
	if (mqs_totp_generate(secret, n, &p, time(NULL), buf, cap) != MQS_OK)
		snprintf(buf, cap, "000000");
	return buf;
}

/* A fresh connect token from "token:HEXSECRET[:...]" for (user, cid) in
 * buf (cap > MQS_CONNTOKEN_TEXT_LEN). */
static const char *token(const char *spec, const char *user, const char *cid, char *buf)
{
	uint8_t secret[MQS_TOTP_SECRET_MAX];
	size_t n = 0;

	for (const char *h = spec + 6; h[0] != '\0' && h[1] != '\0' && n < sizeof(secret); h += 2) {
		unsigned v;

		if (h[0] == ':' || sscanf(h, "%2x", &v) != 1)
			break;
		secret[n++] = (uint8_t)v;
	}
	if (mqs_conntoken_make_secret(secret, n, user, cid, mqs_now_ms(), buf) != MQS_OK)
		snprintf(buf, MQS_CONNTOKEN_TEXT_LEN + 1, "mqs1.bad");
	return buf;
}

/* Append an MQTT remaining length. */
static size_t put_len(uint8_t *b, size_t len)
{
	size_t i = 0;

	do {
		uint8_t d = len % 128;

		len /= 128;
		if (len > 0)
			d |= 0x80;
		b[i++] = d;
	} while (len > 0);
	return i;
}

/* Append a length-prefixed string. */
static size_t put_str(uint8_t *b, const char *s)
{
	size_t l = strlen(s);

	b[0] = (uint8_t)(l >> 8);
	b[1] = (uint8_t)l;
	memcpy(b + 2, s, l);
	return l + 2;
}

/* Build a CONNECT packet; returns its length. */
static size_t connect_packet(uint8_t *out, const char *cid, const char *user, const char *pass)
{
	uint8_t body[1024];
	size_t n = 0, h = 0;
	uint8_t flags = 0x02;

	n += put_str(body + n, "MQTT");
	body[n++] = 4;
	if (user != NULL)
		flags |= 0x80;
	if (pass != NULL)
		flags |= 0x40;
	body[n++] = flags;
	body[n++] = 0;
	body[n++] = 60;
	n += put_str(body + n, cid);
	if (user != NULL)
		n += put_str(body + n, user);
	if (pass != NULL)
		n += put_str(body + n, pass);
	out[h++] = 0x10;
	h += put_len(out + h, n);
	memcpy(out + h, body, n);
	return h + n;
}

/* Open a non-blocking (or blocking) TCP connection to 127.0.0.1:port. */
static int tcp_open(int port, int nonblock)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
	int one = 1;

	if (fd < 0)
		die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		die("connect");
	return fd;
}

/* ---- connect mode ---- */

struct cred {
	char name[MAX_FIELD];
	char spec[MAX_FIELD];
};

struct conn {
	int fd;
	int state; /* 0 connecting, 1 waiting CONNACK */
	uint8_t out[1024];
	size_t out_len;
	uint8_t in[4];
	size_t in_len;
};

/* Start connection number i in slot c: the CONNECT is built now, so a
 * TOTP code is always the current one (about 2 us). */
static void conn_start(struct conn *c, const struct cred *creds, long i, int port)
{
	char cid[32], pw[MAX_FIELD];
	const char *pass = NULL;

	snprintf(cid, sizeof(cid), "c%ld", i);
	if (creds != NULL && strncmp(creds[i].spec, "token:", 6) == 0)
		pass = token(creds[i].spec, creds[i].name, cid, pw);
	else if (creds != NULL)
		pass = password(creds[i].spec, pw, sizeof(pw));
	c->fd = tcp_open(port, 1);
	c->state = 0;
	c->out_len = connect_packet(c->out, cid, creds != NULL ? creds[i].name : NULL, pass);
	c->in_len = 0;
}

static int mode_connect(int port, const char *creds_path, long n, int conc)
{
	struct cred *creds = NULL;
	struct conn *conns = calloc((size_t)conc, sizeof(*conns));
	struct epoll_event ev, evs[256];
	long started = 0, done = 0, accepted = 0, refused = 0, errors = 0;
	int ep = epoll_create1(0);
	double t0, t1;

	if (conns == NULL || ep < 0)
		die("setup");
	if (strcmp(creds_path, "-") != 0) {
		FILE *f = fopen(creds_path, "r");
		long i = 0;

		if (f == NULL)
			die(creds_path);
		creds = calloc((size_t)n, sizeof(*creds));
		if (creds == NULL)
			die("calloc");
		while (i < n && fscanf(f, "%255s %255s", creds[i].name, creds[i].spec) == 2)
			i++;
		fclose(f);
		if (i < n) {
			fprintf(stderr, "bench-plugin-load: only %ld credentials in %s\n", i,
			        creds_path);
			n = i;
		}
	}
	t0 = now_s();
	for (int s = 0; s < conc && started < n; s++) {
		conn_start(&conns[s], creds, started, port);
		started++;
		ev.events = EPOLLOUT | EPOLLIN;
		ev.data.u32 = (uint32_t)s;
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[s].fd, &ev);
	}
	while (done < n) {
		int k = epoll_wait(ep, evs, 256, 5000);

		if (k <= 0) {
			fprintf(stderr, "bench-plugin-load: stalled after %ld connections\n", done);
			break;
		}
		for (int e = 0; e < k; e++) {
			int s = (int)evs[e].data.u32;
			struct conn *c = &conns[s];
			int finished = 0;

			if (evs[e].events & (EPOLLERR | EPOLLHUP)) {
				finished = 1;
				errors++;
			} else if (c->state == 0 && (evs[e].events & EPOLLOUT)) {
				if (write(c->fd, c->out, c->out_len) != (ssize_t)c->out_len) {
					finished = 1;
					errors++;
				} else {
					c->state = 1;
					ev.events = EPOLLIN;
					ev.data.u32 = (uint32_t)s;
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
			} else if (evs[e].events & EPOLLIN) {
				ssize_t r = read(c->fd, c->in + c->in_len, 4 - c->in_len);

				if (r <= 0) {
					finished = 1;
					errors++;
				} else {
					c->in_len += (size_t)r;
				}
				if (r > 0 && c->in_len == 4) {
					static const uint8_t disc[2] = {0xe0, 0x00};

					if (c->in[0] == 0x20 && c->in[3] == 0) {
						accepted++;
						if (write(c->fd, disc, 2) != 2)
							errors++;
					} else {
						refused++;
					}
					finished = 1;
				}
			}
			if (!finished)
				continue;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			done++;
			if (started < n) {
				conn_start(c, creds, started, port);
				started++;
				ev.events = EPOLLOUT | EPOLLIN;
				ev.data.u32 = (uint32_t)s;
				epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
			}
		}
	}
	t1 = now_s();
	printf("mode=connect n=%ld accepted=%ld refused=%ld errors=%ld seconds=%.3f rate=%.0f\n", n,
	       accepted, refused, errors, t1 - t0, (double)accepted / (t1 - t0));
	free(creds);
	free(conns);
	close(ep);
	return accepted == n ? 0 : 1;
}

/* ---- blocking helpers for pubsub and ping ---- */

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		p += w;
		len -= (size_t)w;
	}
}

static void read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = read(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("read");
		p += r;
		len -= (size_t)r;
	}
}

/* Connect and check the CONNACK; returns the socket. */
static int mqtt_login(int port, const char *cid, const char *user, const char *spec)
{
	uint8_t pkt[1024], ack[4];
	char pw[MAX_FIELD];
	int fd = tcp_open(port, 0);
	int anon = strcmp(user, "-") == 0;
	/* a device uses its own name as client id: the plugin binds a client id
	 * to the first device that uses it (docs/broker-plugin.md, "Client ids") */
	size_t n = connect_packet(pkt, anon ? cid : user, anon ? NULL : user,
	                          password(spec, pw, sizeof(pw)));

	write_all(fd, pkt, n);
	read_all(fd, ack, 4);
	if (ack[0] != 0x20 || ack[3] != 0) {
		fprintf(stderr, "bench-plugin-load: %s refused (code %u)\n", user, ack[3]);
		exit(1);
	}
	return fd;
}

struct sub_ctx {
	int fd;
	long want;
	long got;
	double last;
};

/* Count PUBLISH packets until want arrived or 10 s of silence. */
static void *sub_thread(void *arg)
{
	struct sub_ctx *s = arg;
	static uint8_t buf[1 << 16];
	size_t have = 0;
	struct timeval tv = {10, 0};

	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (s->got < s->want) {
		ssize_t r = read(s->fd, buf + have, sizeof(buf) - have);
		size_t off = 0;

		if (r <= 0)
			break;
		have += (size_t)r;
		for (;;) {
			size_t len = 0, mul = 1, i = 1;

			while (off + i < have && (buf[off + i] & 0x80)) {
				len += (buf[off + i] & 0x7f) * mul;
				mul *= 128;
				i++;
			}
			if (off + i >= have)
				break;
			len += (buf[off + i] & 0x7f) * mul;
			i++;
			if (off + i + len > have)
				break;
			if ((buf[off] & 0xf0) == 0x30)
				s->got++;
			off += i + len;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		s->last = now_s();
	}
	return NULL;
}

static int mode_pubsub(int port, char **a)
{
	const char *topic = a[4];
	long n = atol(a[5]);
	size_t size = (size_t)atol(a[6]);
	struct sub_ctx s = {0, n, 0, 0};
	uint8_t pkt[1024], ack[5];
	uint8_t *batch, *one;
	size_t one_len = 0, h = 0, body;
	pthread_t th;
	int pub;
	double t0;
	const int per_write = 64;

	/* subscriber */
	s.fd = mqtt_login(port, "bench-sub", a[0], a[1]);
	h = 0;
	pkt[h++] = 0x82;
	h += put_len(pkt + h, 2 + 2 + strlen(topic) + 1);
	pkt[h++] = 0;
	pkt[h++] = 1;
	h += put_str(pkt + h, topic);
	pkt[h++] = 0;
	write_all(s.fd, pkt, h);
	read_all(s.fd, ack, 5);
	if (ack[0] != 0x90 || ack[4] == 0x80) {
		fprintf(stderr, "bench-plugin-load: subscription refused\n");
		return 1;
	}
	/* publisher: one packet, repeated */
	pub = mqtt_login(port, "bench-pub", a[2], a[3]);
	body = 2 + strlen(topic) + size;
	one = malloc(body + 8);
	batch = malloc((body + 8) * (size_t)per_write);
	if (one == NULL || batch == NULL)
		die("malloc");
	one[one_len++] = 0x30;
	one_len += put_len(one + one_len, body);
	one_len += put_str(one + one_len, topic);
	memset(one + one_len, 'x', size);
	one_len += size;
	for (int i = 0; i < per_write; i++)
		memcpy(batch + (size_t)i * one_len, one, one_len);
	pthread_create(&th, NULL, sub_thread, &s);
	t0 = now_s();
	for (long sent = 0; sent < n; sent += per_write) {
		long k = n - sent < per_write ? n - sent : per_write;

		write_all(pub, batch, one_len * (size_t)k);
	}
	pthread_join(th, NULL);
	printf("mode=pubsub n=%ld received=%ld size=%zu seconds=%.3f rate=%.0f\n", n, s.got, size,
	       s.last - t0, (double)s.got / (s.last - t0));
	write_all(pub, "\xe0\x00", 2);
	write_all(s.fd, "\xe0\x00", 2);
	close(pub);
	close(s.fd);
	free(one);
	free(batch);
	return s.got == n ? 0 : 1;
}

static int mode_ping(int port, char **a)
{
	int fd = mqtt_login(port, "bench-ping", a[0], a[1]);
	double secs = atof(a[2]);
	double t_end = now_s() + secs, sum = 0, max = 0;
	long count = 0;

	while (now_s() < t_end) {
		uint8_t resp[2];
		double t = now_s(), rtt;

		write_all(fd, "\xc0\x00", 2);
		read_all(fd, resp, 2);
		rtt = now_s() - t;
		sum += rtt;
		if (rtt > max)
			max = rtt;
		count++;
	}
	printf("mode=ping count=%ld mean_us=%.0f max_ms=%.2f\n", count, sum / (double)count * 1e6,
	       max * 1e3);
	write_all(fd, "\xe0\x00", 2);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && strcmp(argv[1], "connect") == 0)
		return mode_connect(atoi(argv[2]), argv[3], atol(argv[4]), atoi(argv[5]));
	if (argc >= 10 && strcmp(argv[1], "pubsub") == 0)
		return mode_pubsub(atoi(argv[2]), argv + 3);
	if (argc >= 6 && strcmp(argv[1], "ping") == 0)
		return mode_ping(atoi(argv[2]), argv + 3);
	fprintf(stderr,
	        "usage: bench-plugin-load connect PORT CREDS N CONCURRENCY\n"
	        "       bench-plugin-load pubsub PORT SUBUSER SUBPASS PUBUSER PUBPASS TOPIC "
	        "N SIZE\n"
	        "       bench-plugin-load ping PORT USER PASS SECONDS\n");
	return 64;
}
