/* SPDX-License-Identifier: BSD-3-Clause */
/* bench-soak-load.c - the load driver of bench/bench-soak.sh: NDEV enrolled
 * devices cycling connect (a fresh connect token each time) / publish /
 * disconnect against mosquitto with mqttsec_plugin.so, one subscriber
 * checking every message, over raw MQTT 3.1.1 sockets on loopback, in one
 * epoll loop (docs/PERFORMANCE.md, "Soak").
 *
 *   bench-soak-load -p PORT -D CREDS_DIR -n NDEV -u SUB_CREDS [-r RATE]
 *                   [-d SECONDS] [-c CONCURRENCY] [-k PER_SESSION]
 *                   [-a ALERT_EVERY] [-A SINK_FILE] [-B BROKER_PID]
 *                   [-G GATEWAY_PID] [-o CSV] [-i INTERVAL] [-S SIZE] [-L LOSS_S]
 *                   [-M MON_CREDS] [-Z AT:SECS[,AT:SECS...]] [-R]
 *
 * Devices are CREDS_DIR/dev0000.json ... (credentials files of mqttsec-acl
 * device add).  A session: CONNECT with a fresh connect token for client id
 * = username, then PER_SESSION (default 4) QoS 1 PUBLISHes of SIZE (default
 * 200) bytes, alternating soak/sec/NAME (protected: sealed with the device
 * key) and soak/plain/NAME (plaintext), every ALERT_EVERY-th session one
 * more on alerts/NAME (a gateway alert whose title carries the publish time,
 * read back from SINK_FILE written by gw_latency_sink.py), then the
 * PUBACKs, then DISCONNECT.  RATE messages/s (sessions are started on a
 * schedule; 0: as fast as CONCURRENCY sessions in flight allow), at most
 * CONCURRENCY (default 64) sessions in flight, the least recently used idle
 * device next, each device at most one session per 0.35 s.
 *
 * -R: the reference, against plain mosquitto: the same cycle, anonymous
 * (client id = the device's name), plaintext on soak/sec/ too.
 *
 * The subscriber (SUB_CREDS, a token login too) holds soak/# at QoS 1,
 * opens every sealed message with its topic key, checks the origin and the
 * plaintext, and counts each sequence number: duplicated, or lost when it
 * has not arrived LOSS_S (5) seconds after its publish.  Every INTERVAL (10) seconds one
 * row: time, RSS of BROKER_PID and GATEWAY_PID, connects ok/refused,
 * messages sent/received/lost/duplicated, publish->subscriber p50/p99,
 * alerts sent/delivered, alert->SMTP p99, errors (the sum of refusals,
 * session failures, bad messages, duplicates and losses).  At the end it
 * drains (in-flight messages, then alerts, at most 60 s + LOSS_S) and prints one
 * line of totals "key=value ..."; exit 0 when no error was counted.
 *
 * -M: a monitor connection (MON_CREDS, a token login; with -R anonymous
 * as "soak-mon", MON_CREDS unread) subscribed at QoS 0 to the broker's $SYS heap, store
 * and client counts and the plugin's replay set size
 * (docs/broker-plugin.md, "Memory"); each row then also has the last
 * values it received (-1: none yet): heap/current and heap/maximum in kB,
 * the stored messages and their kB, the connected clients, the replay
 * entries, and the messages sent but not yet at the subscriber.  The
 * broker publishes them every sys_interval seconds.
 *
 * -Z: the subscriber stops reading at AT seconds for SECS seconds (at most
 * 8 pauses, each under its 60 s keepalive), so the broker queues its
 * messages: a backlog on purpose.  Give -L more than SECS.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mqs_conntoken.h"
#include "mqs_creds.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_util.h"

#define NDEV_MAX      100000
#define CONC_MAX      1024
#define SIZE_MIN      64
#define SIZE_MAX_     4096
#define SESS_OUT_MAX  (8 * (SIZE_MAX_ + 512))
#define SUB_IN_MAX    (4u << 20)
#define SUB_OUT_MAX   (1u << 20)
#define SESSION_LIMIT 30.0
#define SEQ_MAX       (1L << 28)
#define SUB_ID        0xffffffffu
#define MON_ID        0xfffffffeu
#define MON_IN_MAX    (64u << 10)
#define PAUSE_MAX     8
/* a device starts at most one session per DEV_GAP seconds: the plugin takes
 * at most 1000 connect tokens of one device per replay window of 300 s
 * (docs/broker-plugin.md, "Connect tokens") */
#define DEV_GAP 0.35

enum sess_state { S_FREE = 0, S_CONNECTING, S_CONNACK, S_PUBACK };

struct dev {
	struct mqs_creds c;
	const struct mqs_creds_key *dk;
	int busy;
	double last; /* start of its last session */
};

struct sess {
	int fd;
	int state;
	long dev;
	int acks_left;
	double started;
	uint8_t in[64];
	size_t in_len;
	uint8_t out[SESS_OUT_MAX];
	size_t out_len, out_off;
};

struct sub {
	int fd;
	struct mqs_creds c;
	uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t out_len;
};

/* a window of samples (ms) */
struct lat {
	double *v;
	size_t n, cap;
};

struct counters {
	long conn_ok, conn_refused, sess_err, sent, recv, lost, dup, late, bad, alerts_sent,
	    alerts_recv;
};

static struct opts {
	int port, conc, per_session, alert_every, interval, loss_s, reference;
	long ndev;
	double rate, secs;
	size_t size;
	const char *dir, *sub_creds, *sink, *csv, *mon_creds;
	long broker_pid, gw_pid;
	int npause;
	double pause_at[PAUSE_MAX], pause_secs[PAUSE_MAX];
} o = {0, 64, 4, 0, 10, 5, 0, 0, 0, 600, 200, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, {0}, {0}};

/* the $SYS values of the monitor connection (-1: not received yet) */
enum mon_val { MV_HEAP, MV_HEAP_MAX, MV_STORE, MV_STORE_BYTES, MV_CLIENTS, MV_REPLAY, MV_N };
static const char *const mon_topics[MV_N] = {
    "$SYS/broker/heap/current",         "$SYS/broker/heap/maximum",
    "$SYS/broker/store/messages/count", "$SYS/broker/store/messages/bytes",
    "$SYS/broker/clients/connected",    "$SYS/broker/mqttsec/replay/entries",
};
static struct mon {
	int fd;
	struct mqs_creds c;
	uint8_t *in;
	size_t in_len;
	long val[MV_N];
	double last_ping;
} mon = {-1, {0}, NULL, 0, {-1, -1, -1, -1, -1, -1}, 0};
static int sub_paused;

static struct dev *devs;
static struct sess *sess;
static struct sub sub;
static int ep;
static double t0;
static long next_dev;
static long in_flight;
static long sessions;
/* per sequence number: publish time (ms since t0) and state */
static uint32_t *seq_ms;
static uint8_t *seq_got; /* 0 not yet, 1 received, 2 counted lost */
static long seq_n, seq_cap, loss_cursor;
static struct counters tot, win;
static struct lat lat_msg, lat_alert;
static FILE *sink_f;
static char sink_part[256];
static size_t sink_part_len;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-soak-load: %s: %s\n", what, errno ? strerror(errno) : "failed");
	exit(2);
}

static void lat_add(struct lat *l, double ms)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		double *v;

		if (cap > (1u << 24))
			return; /* a window never holds that many: drop the sample */
		v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			die("realloc");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Quantile q of the window (sorts it); -1 when empty. */
static double lat_q(struct lat *l, double q)
{
	size_t i;

	if (l->n == 0)
		return -1;
	qsort(l->v, l->n, sizeof(*l->v), cmp_double);
	i = (size_t)(q * (double)l->n);
	return l->v[i < l->n ? i : l->n - 1];
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

/* CONNECT for user (client id = user) with a fresh connect token; with
 * -R (the reference, plain mosquitto) anonymous with that client id. */
static size_t connect_packet(uint8_t *out, const struct mqs_creds *c)
{
	uint8_t body[512];
	char tok[MQS_CONNTOKEN_TEXT_LEN + 1] = "";
	size_t n = 0, h = 0;

	if (!o.reference &&
	    mqs_conntoken_make_secret(c->totp_secret, c->totp_secret_len, c->username, c->username,
	                              mqs_now_ms(), tok) != MQS_OK)
		die("conntoken");
	n += put_str(body + n, "MQTT");
	body[n++] = 4;
	body[n++] = o.reference ? 0x02 : 0xC2; /* (username, password,) clean session */
	body[n++] = 0;
	body[n++] = 60;
	n += put_str(body + n, c->username);
	if (!o.reference) {
		n += put_str(body + n, c->username);
		n += put_str(body + n, tok);
	}
	OPENSSL_cleanse(tok, sizeof(tok));
	out[h++] = 0x10;
	h += put_len(out + h, n);
	memcpy(out + h, body, n);
	OPENSSL_cleanse(body, sizeof(body));
	return h + n;
}

/* PUBLISH QoS 1 with packet id pid into out; returns its length. */
static size_t publish_packet(uint8_t *out, const char *topic, uint16_t pid, const uint8_t *p,
                             size_t len)
{
	size_t h = 0, body = 2 + strlen(topic) + 2 + len;

	out[h++] = 0x32;
	h += put_len(out + h, body);
	h += put_str(out + h, topic);
	out[h++] = (uint8_t)(pid >> 8);
	out[h++] = (uint8_t)pid;
	memcpy(out + h, p, len);
	return h + len;
}

static int tcp_open(void)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;

	if (fd < 0)
		die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		die("connect");
	return fd;
}

static void ep_set(int fd, uint32_t id, uint32_t events, int op)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.u32 = id;
	if (epoll_ctl(ep, op, fd, &ev) != 0)
		die("epoll_ctl");
}

/* ---- sequence numbers ---- */

static long seq_new(void)
{
	if (seq_n == seq_cap) {
		long cap = seq_cap ? seq_cap * 2 : 1L << 16;
		uint32_t *ms;
		uint8_t *got;

		if (cap > SEQ_MAX)
			die("too many messages");
		ms = realloc(seq_ms, (size_t)cap * sizeof(*ms));
		if (ms == NULL)
			die("realloc");
		seq_ms = ms;
		got = realloc(seq_got, (size_t)cap);
		if (got == NULL)
			die("realloc");
		seq_got = got;
		memset(seq_got + seq_cap, 0, (size_t)(cap - seq_cap));
		seq_cap = cap;
	}
	seq_ms[seq_n] = (uint32_t)((now_s() - t0) * 1000);
	return seq_n++;
}

/* Count as lost what has not arrived o.loss_s seconds after its publish
 * (all of it when all is set). */
static void seq_sweep(int all)
{
	uint32_t now_ms = (uint32_t)((now_s() - t0) * 1000);

	while (loss_cursor < seq_n &&
	       (all || seq_ms[loss_cursor] + (uint32_t)o.loss_s * 1000 < now_ms)) {
		if (seq_got[loss_cursor] == 0) {
			seq_got[loss_cursor] = 2;
			tot.lost++;
			win.lost++;
		}
		loss_cursor++;
	}
}

/* One MQTT packet at b (n bytes there): 1 when it is all there, with the
 * length of its fixed header in *hl and of the rest in *len; 0 when more is
 * needed. */
static int frame(const uint8_t *b, size_t n, size_t *hl, size_t *len)
{
	size_t l = 0, mul = 1, i = 1;

	while (i < n && (b[i] & 0x80) && i < 5) {
		l += (b[i] & 0x7f) * mul;
		mul *= 128;
		i++;
	}
	if (i >= n)
		return 0;
	l += (b[i] & 0x7f) * mul;
	i++;
	if (i + l > n)
		return 0;
	*hl = i;
	*len = l;
	return 1;
}

/* A blocking TCP connection to the broker (reads time out after 10 s), for
 * the logins of the subscriber and the monitor. */
static int tcp_open_blocking(const char *who)
{
	struct sockaddr_in sa;
	struct timeval tv = {10, 0};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die(who);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die(who);
	return fd;
}

/* Append what fd has (non-blocking) to buf (*len of cap bytes used);
 * returns the bytes read, 0 when there were none; ends the run when the
 * connection is gone or buf is full (a packet larger than cap). */
static size_t read_more(int fd, uint8_t *buf, size_t *len, size_t cap, const char *who)
{
	ssize_t r;

	if (*len == cap) {
		fprintf(stderr, "bench-soak-load: %s: packet too large\n", who);
		exit(2);
	}
	r = read(fd, buf + *len, cap - *len);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0) {
		errno = r == 0 ? ECONNRESET : errno;
		fprintf(stderr, "bench-soak-load: %s: connection lost: %s\n", who, strerror(errno));
		exit(2);
	}
	*len += (size_t)r;
	return (size_t)r;
}

/* Write CONNECT + SUBSCRIBE (pkt, len bytes) on a blocking fd and read
 * exactly acklen bytes of answer (CONNACK + SUBACK) into ack. */
static void login_exchange(int fd, const uint8_t *pkt, size_t len, uint8_t *ack, size_t acklen,
                           const char *who)
{
	size_t got = 0;

	if (write(fd, pkt, len) != (ssize_t)len)
		die(who);
	while (got < acklen) {
		ssize_t r = read(fd, ack + got, acklen - got);

		if (r <= 0)
			die(who);
		got += (size_t)r;
	}
}

/* ---- the subscriber ---- */

/* Wait for input unless paused (-Z), for output while some is queued. */
static void sub_events(void)
{
	ep_set(sub.fd, SUB_ID, (sub_paused ? 0 : EPOLLIN) | (sub.out_len > 0 ? EPOLLOUT : 0),
	       EPOLL_CTL_MOD);
}

/* Pause or resume the subscriber's reads as the -Z schedule says at t
 * seconds into the run (never after the run: the drain reads). */
static void sub_pause_check(double t, int over)
{
	int want = 0;

	for (int i = 0; i < o.npause && !over; i++) {
		if (t >= o.pause_at[i] && t < o.pause_at[i] + o.pause_secs[i])
			want = 1;
	}
	if (want == sub_paused)
		return;
	sub_paused = want;
	fprintf(stderr, "bench-soak-load: %.1f s: subscriber %s\n", t,
	        want ? "paused (a backlog on purpose)" : "reading again");
	sub_events();
}

static void sub_write(const uint8_t *p, size_t len)
{
	if (sub.out_len == 0) {
		ssize_t w = write(sub.fd, p, len);

		if (w < 0 && errno != EAGAIN && errno != EINTR)
			die("subscriber write");
		if (w > 0) {
			p += w;
			len -= (size_t)w;
		}
	}
	if (len == 0)
		return;
	if (sub.out_len + len > SUB_OUT_MAX)
		die("subscriber cannot keep up (output)");
	memcpy(sub.out + sub.out_len, p, len);
	sub.out_len += len;
	sub_events();
}

static void sub_flush(void)
{
	ssize_t w = write(sub.fd, sub.out, sub.out_len);

	if (w < 0 && errno != EAGAIN && errno != EINTR)
		die("subscriber write");
	if (w <= 0)
		return;
	memmove(sub.out, sub.out + w, sub.out_len - (size_t)w);
	sub.out_len -= (size_t)w;
	if (sub.out_len == 0)
		sub_events();
}

static void bad(const char *why, const char *topic)
{
	tot.bad++;
	win.bad++;
	if (tot.bad <= 10)
		fprintf(stderr, "bench-soak-load: bad message on %s: %s\n", topic, why);
}

/* Check one message as received on topic; plaintext p (len bytes):
 * "SEQ NS NAME", a NUL, then 'a' + i % 26 at every offset i. */
static void sub_check(const char *topic, const char *dev, const uint8_t *p, size_t len)
{
	char head[96], name[80];
	const uint8_t *nul;
	unsigned long seq;
	unsigned long long ns;
	double now = now_s();

	nul = len == o.size ? memchr(p, 0, len < sizeof(head) ? len : sizeof(head)) : NULL;
	if (nul == NULL) {
		bad("wrong length or plaintext", topic);
		return;
	}
	memcpy(head, p, (size_t)(nul - p) + 1);
	if (sscanf(head, "%lu %llu %79s", &seq, &ns, name) != 3 || strcmp(name, dev) != 0 ||
	    (long)seq >= seq_n) {
		bad("unexpected plaintext", topic);
		return;
	}
	for (size_t i = (size_t)(nul - p) + 1; i < len; i++) {
		if (p[i] != (uint8_t)('a' + i % 26)) {
			bad("unexpected padding", topic);
			return;
		}
	}
	if (seq_got[seq] == 1) {
		tot.dup++;
		win.dup++;
		return;
	}
	if (seq_got[seq] == 2) {
		tot.late++;
		win.late++;
		return;
	}
	seq_got[seq] = 1;
	tot.recv++;
	win.recv++;
	lat_add(&lat_msg, (now - (double)ns / 1e9) * 1000);
}

static void sub_message(const uint8_t *pkt, size_t len, uint8_t flags)
{
	static uint8_t plain[SIZE_MAX_];
	char topic[256];
	const char *dev;
	size_t tl, off, n = 0;
	uint16_t pid = 0;
	int qos = (flags >> 1) & 3;
	struct mqs_envelope_info info;
	const struct mqs_creds_key *k;

	if (len < 2)
		goto malformed;
	tl = (size_t)pkt[0] << 8 | pkt[1];
	if (tl >= sizeof(topic) || 2 + tl + (qos ? 2 : 0) > len)
		goto malformed;
	memcpy(topic, pkt + 2, tl);
	topic[tl] = '\0';
	off = 2 + tl;
	if (qos > 0) {
		uint8_t ack[4];

		pid = (uint16_t)(pkt[off] << 8 | pkt[off + 1]);
		off += 2;
		ack[0] = 0x40;
		ack[1] = 2;
		ack[2] = (uint8_t)(pid >> 8);
		ack[3] = (uint8_t)pid;
		sub_write(ack, 4);
	}
	dev = strrchr(topic, '/');
	dev = dev != NULL ? dev + 1 : topic;
	if (strncmp(topic, "soak/plain/", 11) == 0 ||
	    (o.reference && strncmp(topic, "soak/sec/", 9) == 0)) {
		sub_check(topic, dev, pkt + off, len - off);
		return;
	}
	if (strncmp(topic, "soak/sec/", 9) != 0) {
		bad("unexpected topic", topic);
		return;
	}
	if (mqs_envelope_parse(pkt + off, len - off, &info) != MQS_OK ||
	    info.ciphertext_len > sizeof(plain)) {
		bad("not an envelope", topic);
		return;
	}
	k = mqs_creds_key_for(&sub.c, info.key_id, topic);
	if (k == NULL || mqs_envelope_open(k->key, k->id, pkt + off, len - off, topic, tl, plain,
	                                   sizeof(plain), &n, &info) != MQS_OK) {
		bad("does not open", topic);
		return;
	}
	if (info.origin_len != strlen(dev) || memcmp(info.origin, dev, info.origin_len) != 0) {
		bad("wrong origin", topic);
		return;
	}
	sub_check(topic, dev, plain, n);
	OPENSSL_cleanse(plain, n);
	return;
malformed:
	bad("malformed publish", "?");
}

static void sub_read(void)
{
	size_t off = 0;

	while (read_more(sub.fd, sub.in, &sub.in_len, SUB_IN_MAX, "subscriber") >= 65536)
		;
	for (;;) {
		size_t i, len;

		if (!frame(sub.in + off, sub.in_len - off, &i, &len))
			break;
		if ((sub.in[off] & 0xf0) == 0x30)
			sub_message(sub.in + off + i, len, sub.in[off] & 0x0f);
		off += i + len;
	}
	memmove(sub.in, sub.in + off, sub.in_len - off);
	sub.in_len -= off;
}

/* Blocking login and SUBSCRIBE soak/# at QoS 1, then non-blocking. */
static void sub_start(void)
{
	uint8_t pkt[512], ack[9];
	size_t n, h = 0;
	char err[256] = "";

	mqs_creds_init(&sub.c);
	if (mqs_creds_load(o.sub_creds, &sub.c, err, sizeof(err)) != MQS_OK) {
		fprintf(stderr, "bench-soak-load: cannot load %s: %s\n", o.sub_creds, err);
		exit(2);
	}
	sub.in = malloc(SUB_IN_MAX);
	sub.out = malloc(SUB_OUT_MAX);
	if (sub.in == NULL || sub.out == NULL)
		die("subscriber setup");
	sub.fd = tcp_open_blocking("subscriber connect");
	n = connect_packet(pkt, &sub.c);
	pkt[n + h++] = 0x82;
	h += put_len(pkt + n + h, 2 + 2 + 6 + 1);
	pkt[n + h++] = 0;
	pkt[n + h++] = 1;
	h += put_str(pkt + n + h, "soak/#");
	pkt[n + h++] = 1;
	login_exchange(sub.fd, pkt, n + h, ack, sizeof(ack), "subscriber login");
	if (ack[0] != 0x20 || ack[3] != 0 || ack[4] != 0x90 || ack[8] != 1) {
		fprintf(stderr, "bench-soak-load: subscriber refused (%02x %02x %02x %02x)\n",
		        ack[0], ack[3], ack[4], ack[8]);
		exit(2);
	}
	if (fcntl(sub.fd, F_SETFL, fcntl(sub.fd, F_GETFL) | O_NONBLOCK) != 0)
		die("fcntl");
	ep_set(sub.fd, SUB_ID, EPOLLIN, EPOLL_CTL_ADD);
}

/* ---- the $SYS monitor (-M) ---- */

static void mon_message(const uint8_t *pkt, size_t len)
{
	char topic[128], num[32];
	size_t tl, vl;

	if (len < 2)
		return;
	tl = (size_t)pkt[0] << 8 | pkt[1];
	if (tl >= sizeof(topic) || 2 + tl > len)
		return;
	memcpy(topic, pkt + 2, tl);
	topic[tl] = '\0';
	vl = len - 2 - tl;
	if (vl == 0 || vl >= sizeof(num))
		return;
	memcpy(num, pkt + 2 + tl, vl);
	num[vl] = '\0';
	for (int i = 0; i < MV_N; i++) {
		if (strcmp(topic, mon_topics[i]) == 0)
			mon.val[i] = atol(num);
	}
}

static void mon_read(void)
{
	size_t off = 0;

	if (read_more(mon.fd, mon.in, &mon.in_len, MON_IN_MAX, "monitor") == 0)
		return;
	for (;;) {
		size_t i, len;

		if (!frame(mon.in + off, mon.in_len - off, &i, &len))
			break;
		if ((mon.in[off] & 0xf6) == 0x30) /* PUBLISH QoS 0 */
			mon_message(mon.in + off + i, len);
		off += i + len;
	}
	memmove(mon.in, mon.in + off, mon.in_len - off);
	mon.in_len -= off;
}

/* A PINGREQ every 20 s: the monitor sends nothing else (keepalive 60 s). */
static void mon_ping(double now)
{
	static const uint8_t ping[2] = {0xc0, 0x00};

	if (mon.fd < 0 || now - mon.last_ping < 20)
		return;
	mon.last_ping = now;
	if (write(mon.fd, ping, 2) != 2)
		die("monitor write");
}

/* Blocking login and SUBSCRIBE to mon_topics at QoS 0, then non-blocking. */
static void mon_start(void)
{
	uint8_t pkt[1024], ack[4 + 4 + MV_N];
	size_t n, h = 0, body = 2;
	char err[256] = "";

	mqs_creds_init(&mon.c);
	if (o.reference) {
		if (mqs_creds_set_username(&mon.c, "soak-mon") != MQS_OK)
			die("monitor setup");
	} else if (mqs_creds_load(o.mon_creds, &mon.c, err, sizeof(err)) != MQS_OK) {
		fprintf(stderr, "bench-soak-load: cannot load %s: %s\n", o.mon_creds, err);
		exit(2);
	}
	mon.in = malloc(MON_IN_MAX);
	if (mon.in == NULL)
		die("monitor setup");
	mon.fd = tcp_open_blocking("monitor connect");
	n = connect_packet(pkt, &mon.c);
	for (int i = 0; i < MV_N; i++)
		body += 2 + strlen(mon_topics[i]) + 1;
	pkt[n + h++] = 0x82;
	h += put_len(pkt + n + h, body);
	pkt[n + h++] = 0;
	pkt[n + h++] = 1;
	for (int i = 0; i < MV_N; i++) {
		h += put_str(pkt + n + h, mon_topics[i]);
		pkt[n + h++] = 0;
	}
	/* CONNACK (4) and SUBACK (4 + one code per filter; 2 + MV_N < 128) */
	login_exchange(mon.fd, pkt, n + h, ack, sizeof(ack), "monitor login");
	if (ack[0] != 0x20 || ack[3] != 0 || ack[4] != 0x90) {
		fprintf(stderr, "bench-soak-load: monitor refused (%02x %02x %02x)\n", ack[0],
		        ack[3], ack[4]);
		exit(2);
	}
	for (int i = 0; i < MV_N; i++) {
		/* the replay entries exist with the plugin only */
		if (ack[8 + i] != 0 && !(o.reference && i == MV_REPLAY)) {
			fprintf(stderr, "bench-soak-load: monitor refused %s\n", mon_topics[i]);
			exit(2);
		}
	}
	if (fcntl(mon.fd, F_SETFL, fcntl(mon.fd, F_GETFL) | O_NONBLOCK) != 0)
		die("fcntl");
	ep_set(mon.fd, MON_ID, EPOLLIN, EPOLL_CTL_ADD);
	mon.last_ping = now_s();
}

/* ---- device sessions ---- */

static void sess_close(struct sess *s, int failed)
{
	if (failed) {
		tot.sess_err++;
		win.sess_err++;
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	devs[s->dev].busy = 0;
	s->state = S_FREE;
	in_flight--;
}

/* Write what is queued; 0 ok, -1 failed. */
static int sess_flush(struct sess *s, uint32_t id)
{
	while (s->out_off < s->out_len) {
		ssize_t w = write(s->fd, s->out + s->out_off, s->out_len - s->out_off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			ep_set(s->fd, id, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
			return 0;
		}
		if (w <= 0)
			return -1;
		s->out_off += (size_t)w;
	}
	s->out_len = s->out_off = 0;
	ep_set(s->fd, id, EPOLLIN, EPOLL_CTL_MOD);
	return 0;
}

/* The next idle device, round robin, whose last session started DEV_GAP
 * ago; -1 when there is none. */
static long dev_next(void)
{
	double now = now_s();

	for (long i = 0; i < o.ndev; i++) {
		long d = (next_dev + i) % o.ndev;

		if (!devs[d].busy && now - devs[d].last >= DEV_GAP) {
			next_dev = (d + 1) % o.ndev;
			return d;
		}
	}
	return -1;
}

static int sess_start(void)
{
	int slot = -1;
	long d;
	struct sess *s;

	for (int i = 0; i < o.conc; i++) {
		if (sess[i].state == S_FREE) {
			slot = i;
			break;
		}
	}
	d = dev_next();
	if (slot < 0 || d < 0)
		return -1;
	s = &sess[slot];
	s->dev = d;
	devs[d].busy = 1;
	devs[d].last = now_s();
	s->fd = tcp_open();
	s->state = S_CONNECTING;
	s->started = now_s();
	s->in_len = 0;
	s->out_len = connect_packet(s->out, &devs[d].c);
	s->out_off = 0;
	in_flight++;
	sessions++;
	ep_set(s->fd, (uint32_t)slot, EPOLLOUT, EPOLL_CTL_ADD);
	return 0;
}

/* The publishes of an accepted session. */
static int sess_publish(struct sess *s, uint32_t id)
{
	struct dev *dv = &devs[s->dev];
	const char *name = dv->c.username;
	uint8_t plain[SIZE_MAX_], env[SIZE_MAX_ + 256];
	char topic[128];
	size_t n = 0;
	int k = o.per_session;

	for (int i = 0; i < o.per_session; i++) {
		long seq = seq_new();
		int sealed = i % 2 == 0;
		int hl;

		hl = snprintf((char *)plain, sizeof(plain), "%ld %llu %s", seq,
		              (unsigned long long)((now_s()) * 1e9), name);
		for (size_t j = (size_t)hl + 1; j < o.size; j++)
			plain[j] = (uint8_t)('a' + j % 26);
		plain[hl] = '\0';
		snprintf(topic, sizeof(topic), "soak/%s/%s", sealed ? "sec" : "plain", name);
		if (sealed && !o.reference) {
			size_t el = 0;

			if (mqs_envelope_seal(dv->dk->key, dv->dk->id, mqs_now_ms(), NULL, NULL, 0,
			                      topic, strlen(topic), plain, o.size, env, sizeof(env),
			                      &el) != MQS_OK)
				die("seal");
			n += publish_packet(s->out + s->out_len + n, topic, (uint16_t)(i + 1), env,
			                    el);
		} else {
			n += publish_packet(s->out + s->out_len + n, topic, (uint16_t)(i + 1),
			                    plain, o.size);
		}
		tot.sent++;
		win.sent++;
	}
	OPENSSL_cleanse(plain, sizeof(plain));
	if (o.alert_every > 0 && sessions % o.alert_every == 0) {
		char body[200];
		int bl;

		snprintf(topic, sizeof(topic), "alerts/%s", name);
		bl = snprintf(body, sizeof(body),
		              "{\"id\": \"soak-%ld\", \"group\": \"ops\", \"title\": \"t %llu\"}",
		              tot.alerts_sent, (unsigned long long)real_ns());
		n += publish_packet(s->out + s->out_len + n, topic, (uint16_t)(k + 1),
		                    (const uint8_t *)body, (size_t)bl);
		tot.alerts_sent++;
		win.alerts_sent++;
		k++;
	}
	s->out_len += n;
	s->acks_left = k;
	s->state = S_PUBACK;
	return sess_flush(s, id);
}

static void sess_event(uint32_t id, uint32_t events)
{
	struct sess *s = &sess[id];

	if (s->state == S_FREE)
		return;
	if (events & (EPOLLERR | EPOLLHUP)) {
		sess_close(s, 1);
		return;
	}
	if (s->state == S_CONNECTING && (events & EPOLLOUT)) {
		s->state = S_CONNACK;
		if (sess_flush(s, id) != 0)
			sess_close(s, 1);
		return;
	}
	if ((events & EPOLLOUT) && s->out_off < s->out_len && sess_flush(s, id) != 0) {
		sess_close(s, 1);
		return;
	}
	if (!(events & EPOLLIN))
		return;
	for (;;) {
		ssize_t r = read(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len);

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			sess_close(s, 1);
			return;
		}
		s->in_len += (size_t)r;
		while (s->in_len >= 4) {
			uint8_t t = s->in[0];

			memmove(s->in, s->in + 4, s->in_len - 4);
			s->in_len -= 4;
			if (s->state == S_PUBACK && t == 0x40) {
				if (--s->acks_left == 0) {
					static const uint8_t disc[2] = {0xe0, 0x00};

					if (write(s->fd, disc, 2) != 2) {
						sess_close(s, 1);
						return;
					}
					sess_close(s, 0);
					return;
				}
				continue;
			}
			sess_close(s, 1);
			return;
		}
	}
}

/* CONNACK handling needs the return code: peek before sess_event moves it. */
static void sess_ready(uint32_t id, uint32_t events)
{
	struct sess *s = &sess[id];

	if (s->state == S_CONNACK && (events & EPOLLIN) && !(events & (EPOLLERR | EPOLLHUP))) {
		uint8_t a[4];
		ssize_t r = recv(s->fd, a, 4, MSG_PEEK);

		if (r == 4) {
			if (recv(s->fd, a, 4, 0) != 4) {
				sess_close(s, 1);
				return;
			}
			if (a[0] != 0x20 || a[3] != 0) {
				tot.conn_refused++;
				win.conn_refused++;
				sess_close(s, 0);
				return;
			}
			tot.conn_ok++;
			win.conn_ok++;
			if (sess_publish(s, id) != 0)
				sess_close(s, 1);
			return;
		}
		if (r >= 0 && r < 4 && r != 0)
			return; /* wait for the rest */
	}
	sess_event(id, events);
}

static void sess_sweep(void)
{
	double now = now_s();

	for (int i = 0; i < o.conc; i++) {
		if (sess[i].state != S_FREE && now - sess[i].started > SESSION_LIMIT)
			sess_close(&sess[i], 1);
	}
}

/* ---- rows ---- */

static long rss_kb(long pid)
{
	char path[64], line[256];
	FILE *f;
	long kb = -1;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = atol(line + 6);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* New complete lines "LATENCY_MS t NS" of the sink file. */
static void sink_poll(void)
{
	int c;

	if (o.sink == NULL)
		return;
	if (sink_f == NULL)
		sink_f = fopen(o.sink, "r");
	if (sink_f == NULL)
		return;
	clearerr(sink_f);
	for (;;) {
		c = fgetc(sink_f);
		if (c == EOF)
			break;
		if (c != '\n') {
			if (sink_part_len < sizeof(sink_part) - 1)
				sink_part[sink_part_len++] = (char)c;
			continue;
		}
		sink_part[sink_part_len] = '\0';
		sink_part_len = 0;
		tot.alerts_recv++;
		win.alerts_recv++;
		lat_add(&lat_alert, atof(sink_part));
	}
}

static long errors(const struct counters *c)
{
	/* a late message was counted lost already */
	return c->conn_refused + c->sess_err + c->lost + c->dup + c->bad;
}

/* bytes to kB, -1 stays -1 */
static long kb(long bytes)
{
	return bytes < 0 ? -1 : bytes / 1024;
}

static void row(FILE *csv, double t)
{
	long b = rss_kb(o.broker_pid), g = rss_kb(o.gw_pid);
	double p50 = lat_q(&lat_msg, 0.5), p99 = lat_q(&lat_msg, 0.99);
	double a99 = lat_q(&lat_alert, 0.99);

	printf("%6.0f %9ld %9ld %7ld %5ld %8ld %8ld %5ld %4ld %8.2f %8.2f %6ld %6ld %9.1f %6ld\n",
	       t, b, g, win.conn_ok, win.conn_refused, win.sent, win.recv, win.lost, win.dup, p50,
	       p99, win.alerts_sent, win.alerts_recv, a99, errors(&win));
	fflush(stdout);
	if (mon.fd >= 0)
		fprintf(
		    stderr,
		    "# %6.0f heap %ld kB (max %ld kB), store %ld messages (%ld kB), %ld clients, "
		    "%ld replay entries, %ld outstanding\n",
		    t, kb(mon.val[MV_HEAP]), kb(mon.val[MV_HEAP_MAX]), mon.val[MV_STORE],
		    kb(mon.val[MV_STORE_BYTES]), mon.val[MV_CLIENTS], mon.val[MV_REPLAY],
		    tot.sent - tot.recv - (tot.lost - tot.late));
	if (csv != NULL) {
		fprintf(csv, "%.0f,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%.3f,%.3f,%ld,%ld,%.1f,%ld", t,
		        b, g, win.conn_ok, win.conn_refused, win.sent, win.recv, win.lost, win.dup,
		        p50, p99, win.alerts_sent, win.alerts_recv, a99, errors(&win));
		fprintf(csv, ",%ld,%ld,%ld,%ld,%ld,%ld,%ld\n", kb(mon.val[MV_HEAP]),
		        kb(mon.val[MV_HEAP_MAX]), mon.val[MV_STORE], kb(mon.val[MV_STORE_BYTES]),
		        mon.val[MV_CLIENTS], mon.val[MV_REPLAY],
		        tot.sent - tot.recv - (tot.lost - tot.late));
		fflush(csv);
	}
	memset(&win, 0, sizeof(win));
	lat_msg.n = 0;
	lat_alert.n = 0;
}

static void devs_load(void)
{
	char path[4096], err[256];

	devs = calloc((size_t)o.ndev, sizeof(*devs));
	if (devs == NULL)
		die("calloc");
	for (long i = 0; i < o.ndev; i++) {
		mqs_creds_init(&devs[i].c);
		snprintf(path, sizeof(path), "%s/dev%04ld.json", o.dir, i);
		err[0] = '\0';
		if (mqs_creds_load(path, &devs[i].c, err, sizeof(err)) != MQS_OK ||
		    !devs[i].c.has_totp) {
			fprintf(stderr, "bench-soak-load: cannot load %s: %s\n", path, err);
			exit(2);
		}
		devs[i].dk = mqs_creds_device_key(&devs[i].c);
		if (devs[i].dk == NULL) {
			fprintf(stderr, "bench-soak-load: %s has no device key\n", path);
			exit(2);
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench-soak-load -p PORT -D CREDS_DIR -n NDEV -u SUB_CREDS [-r RATE] "
	        "[-d SECONDS]\n"
	        "       [-c CONCURRENCY] [-k PER_SESSION] [-a ALERT_EVERY] [-A SINK_FILE]\n"
	        "       [-B BROKER_PID] [-G GATEWAY_PID] [-o CSV] [-i INTERVAL] [-S SIZE] "
	        "[-L LOSS_S]\n"
	        "       [-M MON_CREDS] [-Z AT:SECS[,AT:SECS...]] [-R]\n");
	exit(64);
}

/* -Z AT:SECS[,AT:SECS...] */
static void pauses(const char *arg)
{
	const char *p = arg;

	while (*p != '\0') {
		char *end;
		double at = strtod(p, &end), secs;

		if (end == p || *end != ':' || o.npause == PAUSE_MAX)
			usage();
		p = end + 1;
		secs = strtod(p, &end);
		if (end == p || at < 0 || secs <= 0 || secs >= 60 || (*end != ',' && *end != '\0'))
			usage();
		o.pause_at[o.npause] = at;
		o.pause_secs[o.npause] = secs;
		o.npause++;
		p = *end == ',' ? end + 1 : end;
	}
}

static void options(int argc, char **argv)
{
	int c;

	for (;;) {
		c = getopt(argc, argv, "p:D:n:u:r:d:c:k:a:A:B:G:o:i:S:L:M:Z:R");
		if (c == -1)
			break;
		switch (c) {
		case 'p':
			o.port = atoi(optarg);
			break;
		case 'D':
			o.dir = optarg;
			break;
		case 'n':
			o.ndev = atol(optarg);
			break;
		case 'u':
			o.sub_creds = optarg;
			break;
		case 'r':
			o.rate = atof(optarg);
			break;
		case 'd':
			o.secs = atof(optarg);
			break;
		case 'c':
			o.conc = atoi(optarg);
			break;
		case 'k':
			o.per_session = atoi(optarg);
			break;
		case 'a':
			o.alert_every = atoi(optarg);
			break;
		case 'A':
			o.sink = optarg;
			break;
		case 'B':
			o.broker_pid = atol(optarg);
			break;
		case 'G':
			o.gw_pid = atol(optarg);
			break;
		case 'o':
			o.csv = optarg;
			break;
		case 'i':
			o.interval = atoi(optarg);
			break;
		case 'S':
			o.size = (size_t)atol(optarg);
			break;
		case 'L':
			o.loss_s = atoi(optarg);
			break;
		case 'M':
			o.mon_creds = optarg;
			break;
		case 'Z':
			pauses(optarg);
			break;
		case 'R':
			o.reference = 1;
			break;
		default:
			usage();
		}
	}
	if (o.port <= 0 || o.dir == NULL || o.sub_creds == NULL || o.ndev < 1 ||
	    o.ndev > NDEV_MAX || o.conc < 1 || o.conc > CONC_MAX || o.per_session < 1 ||
	    o.per_session > 6 || o.size < SIZE_MIN || o.size > SIZE_MAX_ || o.interval < 1 ||
	    o.secs <= 0 || o.rate < 0 || o.alert_every < 0 || o.loss_s < 1 || o.loss_s > 3600)
		usage();
}

int main(int argc, char **argv)
{
	struct epoll_event evs[256];
	FILE *csv = NULL;
	double next_row, next_sweep, end, drain_end, sched = 0, per_sess;
	long errs;

	options(argc, argv);
	devs_load();
	sess = calloc((size_t)o.conc, sizeof(*sess));
	if (sess == NULL)
		die("calloc");
	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	if (o.csv != NULL) {
		csv = fopen(o.csv, "w");
		if (csv == NULL)
			die(o.csv);
		fprintf(csv, "t_s,broker_rss_kb,gateway_rss_kb,connects_ok,connects_refused,sent,"
		             "received,lost,duplicated,p50_ms,p99_ms,alerts_sent,alerts_delivered,"
		             "alert_p99_ms,errors,heap_current_kb,heap_max_kb,store_messages,"
		             "store_kb,clients_connected,replay_entries,outstanding\n");
	}
	sub_start();
	if (o.mon_creds != NULL)
		mon_start();
	printf("#   t_s broker_kB    gw_kB conn_ok refus     sent     recv  lost  dup  p50_ms  "
	       " p99_ms alerts deliv a_p99_ms errors\n");
	t0 = now_s();
	next_row = t0 + o.interval;
	next_sweep = t0 + 1;
	end = t0 + o.secs;
	per_sess = (double)o.per_session + (o.alert_every > 0 ? 1.0 / o.alert_every : 0);
	sched = t0;
	for (;;) {
		double now = now_s();
		int timeout = 100, k;

		if (now < end) {
			if (o.rate <= 0) {
				while (in_flight < o.conc && sess_start() == 0)
					;
				if (in_flight < o.conc)
					timeout = 10; /* a device becomes free again */
			} else {
				while (sched <= now && sess_start() == 0)
					sched += per_sess / o.rate;
				if (sched > now)
					timeout = (int)((sched - now) * 1000) + 1;
				else
					timeout = 10; /* behind: a session or a device frees up */
			}
		} else if (in_flight == 0) {
			break;
		}
		if (sub.out_len > 0)
			timeout = 0 < timeout ? timeout : 0;
		k = epoll_wait(ep, evs, 256, timeout);
		if (k < 0 && errno != EINTR)
			die("epoll_wait");
		for (int e = 0; e < k; e++) {
			uint32_t id = evs[e].data.u32;

			if (id == MON_ID) {
				mon_read();
			} else if (id == SUB_ID) {
				if (evs[e].events & (EPOLLERR | EPOLLHUP)) {
					errno = ECONNRESET;
					die("subscriber connection lost");
				}
				if (evs[e].events & EPOLLOUT)
					sub_flush();
				if (evs[e].events & EPOLLIN)
					sub_read();
			} else {
				sess_ready(id, evs[e].events);
			}
		}
		now = now_s();
		sub_pause_check(now - t0, 0);
		mon_ping(now);
		if (now >= next_sweep) {
			sess_sweep();
			seq_sweep(0);
			next_sweep = now + 1;
		}
		if (now >= next_row && now < end + 1) {
			sink_poll();
			row(csv, next_row - t0);
			next_row += o.interval;
		}
		if (now > end + SESSION_LIMIT + 5)
			break;
	}
	/* drain: the last messages, then the alerts */
	sub_pause_check(0, 1);
	drain_end = now_s() + 60 + o.loss_s;
	while (now_s() < drain_end) {
		int k = epoll_wait(ep, evs, 256, 100);

		for (int e = 0; e < k; e++) {
			if (evs[e].data.u32 == MON_ID)
				mon_read();
			if (evs[e].data.u32 == SUB_ID && (evs[e].events & EPOLLIN))
				sub_read();
			if (evs[e].data.u32 == SUB_ID && (evs[e].events & EPOLLOUT))
				sub_flush();
		}
		sink_poll();
		seq_sweep(0);
		/* every message arrived or was counted lost */
		if (tot.recv + tot.lost >= tot.sent && tot.alerts_recv >= tot.alerts_sent)
			break;
	}
	seq_sweep(1);
	sink_poll();
	errs = errors(&tot) + (tot.alerts_sent - tot.alerts_recv);
	printf("mode=soak seconds=%.0f rate_target=%.0f sessions=%ld connects_ok=%ld "
	       "connects_refused=%ld session_errors=%ld sent=%ld received=%ld lost=%ld late=%ld "
	       "duplicated=%ld bad=%ld alerts_sent=%ld alerts_delivered=%ld rate=%.0f errors=%ld\n",
	       o.secs, o.rate, sessions, tot.conn_ok, tot.conn_refused, tot.sess_err, tot.sent,
	       tot.recv, tot.lost - tot.late, tot.late, tot.dup, tot.bad, tot.alerts_sent,
	       tot.alerts_recv, (double)tot.recv / o.secs, errs);
	if (csv != NULL)
		fclose(csv);
	return errs == 0 ? 0 : 1;
}
