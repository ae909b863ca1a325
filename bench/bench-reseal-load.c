/* SPDX-License-Identifier: BSD-3-Clause */
/* bench-reseal-load.c - publish/subscribe throughput for bench/bench-reseal.sh:
 * one publisher, one subscriber, N messages of SIZE bytes at QoS 0 or 1 over
 * raw MQTT 3.1.1 sockets on loopback.
 *
 *   bench-reseal-load -p PORT -t TOPIC -n N -s SIZE [-q QOS] [-w WINDOW]
 *                     [--pub CREDS] [--sub CREDS] [--seal] [--check]
 *
 * --pub/--sub: credentials files (docs/acl.md, "Devices"): username and a TOTP code for
 * CONNECT (the device must not have connected in the current time step);
 * without them the client connects anonymously.  --seal: every message is
 * sealed with the publisher's device key (fresh nonce, timestamp now) before
 * the clock starts, as a device would; without it the payload is SIZE bytes
 * of plaintext.  --check: the subscriber opens the first and the last
 * message it receives with its topic keys and checks the plaintext and
 * origin (publisher's username).  QoS 1: at most WINDOW (default 100)
 * unacknowledged PUBLISHes; the subscriber acknowledges every message.
 *
 * Rate = messages received / (last receipt - first send).  Output: one line
 * of key=value pairs.  Exit 0 when every message arrived (and checked).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mqs_creds.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_kdf.h"
#include "mqs_totp.h"
#include "mqs_util.h"

struct opts {
	int port;
	const char *topic;
	long n;
	size_t size;
	int qos;
	long window;
	const char *pub_creds, *sub_creds;
	int seal, check;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-reseal-load: %s: %s\n", what, errno ? strerror(errno) : "failed");
	exit(1);
}

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

static size_t put_str(uint8_t *b, const char *s)
{
	size_t l = strlen(s);

	b[0] = (uint8_t)(l >> 8);
	b[1] = (uint8_t)l;
	memcpy(b + 2, s, l);
	return l + 2;
}

/* Connect (clean session) as the creds' user with its current TOTP code, or
 * anonymously when c is NULL; returns the socket. */
static int mqtt_login(int port, const char *cid, const struct mqs_creds *c)
{
	struct sockaddr_in sa;
	uint8_t body[1024], pkt[1100], ack[4];
	char code[16];
	size_t n = 0, h = 0;
	uint8_t flags = 0x02;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n += put_str(body + n, "MQTT");
	body[n++] = 4;
	if (c != NULL) {
		flags |= 0xC0;
		if (mqs_totp_generate(c->totp_secret, c->totp_secret_len, &c->totp, time(NULL),
		                      code, sizeof(code)) != MQS_OK)
			die("totp");
	}
	body[n++] = flags;
	body[n++] = 0;
	body[n++] = 60;
	n += put_str(body + n, cid);
	if (c != NULL) {
		n += put_str(body + n, c->username);
		n += put_str(body + n, code);
	}
	pkt[h++] = 0x10;
	h += put_len(pkt + h, n);
	memcpy(pkt + h, body, n);
	write_all(fd, pkt, h + n);
	read_all(fd, ack, 4);
	if (ack[0] != 0x20 || ack[3] != 0) {
		fprintf(stderr, "bench-reseal-load: %s refused (code %u)\n", cid, ack[3]);
		exit(1);
	}
	return fd;
}

static void creds_load(const char *path, struct mqs_creds *c)
{
	char err[256] = "";

	mqs_creds_init(c);
	if (mqs_creds_load(path, c, err, sizeof(err)) != MQS_OK) {
		fprintf(stderr, "bench-reseal-load: cannot load %s: %s\n", path, err);
		exit(1);
	}
}

/* ---- subscriber ---- */

struct sub_ctx {
	int fd;
	int qos;
	long want;
	long got;
	double first, last;
	uint8_t *first_payload, *last_payload; /* copies for --check */
	size_t first_len, last_len;
	int keep;
};

static void keep_payload(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t len)
{
	free(*dst);
	*dst = malloc(len + 1);
	if (*dst == NULL)
		die("malloc");
	memcpy(*dst, p, len);
	*dst_len = len;
}

static void *sub_thread(void *arg)
{
	struct sub_ctx *s = arg;
	size_t cap = 1 << 22, have = 0;
	uint8_t *buf = malloc(cap);
	uint8_t acks[4 * 4096];
	struct timeval tv = {10, 0};

	if (buf == NULL)
		die("malloc");
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (s->got < s->want) {
		ssize_t r = read(s->fd, buf + have, cap - have);
		size_t off = 0, nacks = 0;

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
			if ((buf[off] & 0xf0) == 0x30) {
				const uint8_t *b = buf + off + i;
				size_t tl = ((size_t)b[0] << 8) | b[1];
				size_t hdr = 2 + tl + (((buf[off] >> 1) & 3) ? 2 : 0);

				if (((buf[off] >> 1) & 3) == 1) {
					memcpy(acks + 4 * nacks, "\x40\x02", 2);
					memcpy(acks + 4 * nacks + 2, b + 2 + tl, 2);
					if (++nacks == sizeof(acks) / 4) {
						write_all(s->fd, acks, 4 * nacks);
						nacks = 0;
					}
				}
				if (s->got == 0)
					s->first = now_s();
				s->got++;
				if (s->keep && s->got == 1)
					keep_payload(&s->first_payload, &s->first_len, b + hdr,
					             len - hdr);
				if (s->keep && s->got == s->want)
					keep_payload(&s->last_payload, &s->last_len, b + hdr,
					             len - hdr);
			}
			off += i + len;
		}
		if (nacks > 0)
			write_all(s->fd, acks, 4 * nacks);
		memmove(buf, buf + off, have - off);
		have -= off;
		if (have == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die("realloc");
		}
		s->last = now_s();
	}
	free(buf);
	return NULL;
}

/* ---- publisher acknowledgements (QoS 1) ---- */

struct ack_ctx {
	int fd;
	long want;
	long acked;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *ack_thread(void *arg)
{
	struct ack_ctx *a = arg;
	uint8_t buf[65536];
	size_t have = 0;
	struct timeval tv = {10, 0};

	setsockopt(a->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t r;
		size_t off = 0;
		long k = 0;

		pthread_mutex_lock(&a->mu);
		if (a->acked >= a->want) {
			pthread_mutex_unlock(&a->mu);
			break;
		}
		pthread_mutex_unlock(&a->mu);
		r = read(a->fd, buf + have, sizeof(buf) - have);
		if (r <= 0)
			break;
		have += (size_t)r;
		while (have - off >= 2 && have - off >= 2 + (size_t)buf[off + 1]) {
			if ((buf[off] & 0xf0) == 0x40)
				k++;
			off += 2 + buf[off + 1];
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		pthread_mutex_lock(&a->mu);
		a->acked += k;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
	}
	pthread_mutex_lock(&a->mu);
	a->want = -1; /* tell the writer the acknowledgements stopped */
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* Open env with the first topic key of c that fits; check plain and origin. */
static int check_payload(const struct mqs_creds *c, const char *topic, const uint8_t *env,
                         size_t len, size_t size, const char *origin)
{
	struct mqs_envelope_info info;
	const struct mqs_creds_key *k;
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
	uint8_t *plain;
	size_t n = 0;
	int ok;

	if (env == NULL || mqs_envelope_parse(env, len, &info) != MQS_OK)
		return 0;
	k = mqs_creds_key_for(c, info.key_id, topic);
	plain = malloc(info.ciphertext_len + 1);
	if (k == NULL || plain == NULL) {
		free(plain);
		return 0;
	}
	/* a per-device downlink: the subscriber's own key id, derived key
	 * (docs/payload-encryption.md, "Per-device downlink") */
	ok = 1;
	if (k->use == MQS_CREDS_USE_DEVICE && info.origin_len > 0)
		ok = mqs_kdf_downlink(k->key, topic, strlen(topic), key) == MQS_OK;
	else
		memcpy(key, k->key, sizeof(key));
	ok = ok &&
	     mqs_envelope_open(key, k->id, env, len, topic, strlen(topic), plain,
	                       info.ciphertext_len, &n, &info) == MQS_OK &&
	     n == size && info.origin_len == strlen(origin) &&
	     memcmp(info.origin, origin, info.origin_len) == 0;
	for (size_t i = 0; ok && i < n; i++)
		ok = plain[i] == (uint8_t)('a' + i % 26);
	OPENSSL_cleanse(key, sizeof(key));
	free(plain);
	return ok;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-reseal-load -p PORT -t TOPIC -n N -s SIZE [-q 0|1] "
	                "[-w WINDOW] [--pub CREDS] [--sub CREDS] [--seal] [--check]\n");
	exit(64);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"pub", required_argument, NULL, 'P'},
	                                   {"sub", required_argument, NULL, 'S'},
	                                   {"seal", no_argument, NULL, 'E'},
	                                   {"check", no_argument, NULL, 'C'},
	                                   {NULL, 0, NULL, 0}};
	struct opts o = {0, NULL, 0, 0, 0, 100, NULL, NULL, 0, 0};
	struct mqs_creds pc, sc;
	struct sub_ctx s;
	struct ack_ctx a;
	pthread_t th_sub, th_ack;
	uint8_t *plain, *buf, *env;
	size_t *off, env_cap, pos = 0;
	int pub, opt;
	double t0, seal_s;
	long sent = 0;
	uint8_t pkt[1024], ack[5];
	size_t h;

	for (;;) {
		opt = getopt_long(argc, argv, "p:t:n:s:q:w:", lo, NULL);
		if (opt == -1)
			break;
		switch (opt) {
		case 'p':
			o.port = atoi(optarg);
			break;
		case 't':
			o.topic = optarg;
			break;
		case 'n':
			o.n = atol(optarg);
			break;
		case 's':
			o.size = (size_t)atol(optarg);
			break;
		case 'q':
			o.qos = atoi(optarg);
			break;
		case 'w':
			o.window = atol(optarg);
			break;
		case 'P':
			o.pub_creds = optarg;
			break;
		case 'S':
			o.sub_creds = optarg;
			break;
		case 'E':
			o.seal = 1;
			break;
		case 'C':
			o.check = 1;
			break;
		default:
			usage();
		}
	}
	if (o.port <= 0 || o.topic == NULL || o.n <= 0 || o.size > MQS_ENVELOPE_PLAIN_MAX ||
	    (o.qos != 0 && o.qos != 1) || o.window < 1 || o.window > 60000 ||
	    ((o.seal || o.check) && (o.pub_creds == NULL || o.sub_creds == NULL)))
		usage();
	mqs_creds_init(&pc);
	mqs_creds_init(&sc);
	if (o.pub_creds != NULL)
		creds_load(o.pub_creds, &pc);
	if (o.sub_creds != NULL)
		creds_load(o.sub_creds, &sc);

	/* every PUBLISH built before the clock starts (sealed ones: as devices) */
	plain = malloc(o.size + 1);
	env_cap = mqs_envelope_sealed_len(0, o.size);
	env = malloc(env_cap);
	off = malloc(((size_t)o.n + 1) * sizeof(*off));
	buf = malloc((size_t)o.n * (o.size + MQS_ENVELOPE_MIN_LEN + strlen(o.topic) + 16));
	if (plain == NULL || env == NULL || off == NULL || buf == NULL)
		die("malloc");
	for (size_t i = 0; i < o.size; i++)
		plain[i] = (uint8_t)('a' + i % 26);
	seal_s = now_s();
	for (long i = 0; i < o.n; i++) {
		const struct mqs_creds_key *dk = mqs_creds_device_key(&pc);
		const uint8_t *payload = plain;
		size_t plen = o.size;

		if (o.seal) {
			if (dk == NULL ||
			    mqs_envelope_seal(dk->key, dk->id, mqs_now_ms(), NULL, NULL, 0, o.topic,
			                      strlen(o.topic), plain, o.size, env, env_cap,
			                      &plen) != MQS_OK)
				die("seal");
			payload = env;
		}
		off[i] = pos;
		buf[pos++] = o.qos == 1 ? 0x32 : 0x30;
		pos += put_len(buf + pos, 2 + strlen(o.topic) + (o.qos ? 2 : 0) + plen);
		pos += put_str(buf + pos, o.topic);
		if (o.qos == 1) {
			uint16_t mid = (uint16_t)(i % 65535 + 1);

			buf[pos++] = (uint8_t)(mid >> 8);
			buf[pos++] = (uint8_t)mid;
		}
		memcpy(buf + pos, payload, plen);
		pos += plen;
	}
	off[o.n] = pos;
	seal_s = now_s() - seal_s;

	/* subscriber */
	memset(&s, 0, sizeof(s));
	s.fd = mqtt_login(o.port, "bench-reseal-sub", o.sub_creds ? &sc : NULL);
	s.qos = o.qos;
	s.want = o.n;
	s.keep = o.check;
	h = 0;
	pkt[h++] = 0x82;
	h += put_len(pkt + h, 2 + 2 + strlen(o.topic) + 1);
	pkt[h++] = 0;
	pkt[h++] = 1;
	h += put_str(pkt + h, o.topic);
	pkt[h++] = (uint8_t)o.qos;
	write_all(s.fd, pkt, h);
	read_all(s.fd, ack, 5);
	if (ack[0] != 0x90 || ack[4] >= 0x80) {
		fprintf(stderr, "bench-reseal-load: subscription refused\n");
		return 1;
	}

	/* publisher */
	pub = mqtt_login(o.port, "bench-reseal-pub", o.pub_creds ? &pc : NULL);
	memset(&a, 0, sizeof(a));
	a.fd = pub;
	a.want = o.n;
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	pthread_create(&th_sub, NULL, sub_thread, &s);
	if (o.qos == 1)
		pthread_create(&th_ack, NULL, ack_thread, &a);
	t0 = now_s();
	while (sent < o.n) {
		long k = o.n - sent < 64 ? o.n - sent : 64;

		if (o.qos == 1) {
			pthread_mutex_lock(&a.mu);
			while (a.want >= 0 && sent - a.acked >= o.window)
				pthread_cond_wait(&a.cv, &a.mu);
			if (a.want < 0) {
				pthread_mutex_unlock(&a.mu);
				break;
			}
			if (k > o.window - (sent - a.acked))
				k = o.window - (sent - a.acked);
			pthread_mutex_unlock(&a.mu);
		}
		write_all(pub, buf + off[sent], off[sent + k] - off[sent]);
		sent += k;
	}
	pthread_join(th_sub, NULL);
	if (o.qos == 1)
		pthread_join(th_ack, NULL);
	printf("qos=%d size=%zu n=%ld received=%ld seconds=%.3f rate=%.0f seal_us=%.2f", o.qos,
	       o.size, o.n, s.got, s.last - t0, (double)s.got / (s.last - t0),
	       seal_s * 1e6 / (double)o.n);
	if (o.check) {
		int ok =
		    check_payload(&sc, o.topic, s.first_payload, s.first_len, o.size,
		                  pc.username) &&
		    check_payload(&sc, o.topic, s.last_payload, s.last_len, o.size, pc.username);

		printf(" checked=%s", ok ? "yes" : "FAILED");
		if (!ok)
			s.got = -1;
	}
	printf("\n");
	write_all(pub, "\xe0\x00", 2);
	write_all(s.fd, "\xe0\x00", 2);
	close(pub);
	close(s.fd);
	free(s.first_payload);
	free(s.last_payload);
	free(buf);
	free(off);
	free(env);
	free(plain);
	mqs_creds_release(&pc);
	mqs_creds_release(&sc);
	return s.got == o.n ? 0 : 1;
}
