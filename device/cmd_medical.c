/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_medical.c - medical records split k-of-n over channel topics
 * (docs/medical.md): `publish --split` seals each record with a record key,
 * splits it into n shares and publishes share i on channel i; `join`
 * subscribes to the channels and rebuilds the records.
 *
 * Record content and key bytes never reach stderr: drops are reported by
 * reason, records by id, topic, sender and origin.  Plaintext buffers are
 * wiped before they are freed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "device.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_join.h"
#include "mqs_share.h"
#include "mqs_util.h"

#define MED_RECORD_MAX  MQS_SHARE_SECRET_SEND_MAX /* -f / -l input cap */
#define MED_DRAIN_S     60
#define MED_KEYS_MAX    64
#define MED_JOIN_TO_DEF 60

struct med_opts {
	struct dev_net_opts net; /* -t: the record topic (publish); -C, -W: join */
	const char *channels_csv;
	char *chan[MQS_SHARE_N_MAX];
	unsigned n;
	unsigned k;
	const char *record_key; /* --record-key ID or NAME */
	const char *outdir;
	int join_timeout_s;
};

static volatile sig_atomic_t med_stop;

/* SIGINT/SIGTERM: ask the loop to stop. */
static void on_signal(int sig)
{
	(void)sig;
	med_stop = 1;
}

/* Route SIGINT and SIGTERM to on_signal. */
static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Milliseconds of a monotonic clock (the join's clock). */
static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Free the channel names. */
static void opts_release(struct med_opts *o)
{
	for (unsigned i = 0; i < o->n; i++)
		free(o->chan[i]);
	o->n = 0;
}

/* Split the comma-separated channel list into o->chan: 2..8 distinct
 * topic names without wildcards (spaces around names ignored). */
static int parse_channels(struct med_opts *o, const char *csv)
{
	const char *p = csv;
	int ex = EX_USAGE;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		char *name;

		while (len > 0 && *s == ' ') {
			s++;
			len--;
		}
		while (len > 0 && s[len - 1] == ' ')
			len--;
		if (o->n >= MQS_SHARE_N_MAX) {
			dev_err("too many channels: at most %d", MQS_SHARE_N_MAX);
			goto out;
		}
		name = strndup(s, len);
		if (name == NULL) {
			ex = EX_OSERR;
			goto out;
		}
		o->chan[o->n++] = name;
		if (mqs_envelope_topic_check(name, len) != MQS_OK) {
			dev_err(
			    "invalid channel topic '%s': must be 1..%u bytes without '+' or '#'",
			    name, MQS_ENVELOPE_TOPIC_MAX);
			goto out;
		}
		for (unsigned i = 0; i + 1 < o->n; i++) {
			if (strcmp(o->chan[i], name) == 0) {
				dev_err("channel %s is listed twice", name);
				goto out;
			}
		}
		if (end == NULL)
			break;
		p = end + 1;
		if (*p == '\0') {
			dev_err("empty channel name at the end of the list");
			goto out;
		}
	}
	if (o->n < MQS_SHARE_N_MIN) {
		dev_err("give %d to %d channels", MQS_SHARE_N_MIN, MQS_SHARE_N_MAX);
		goto out;
	}
	ex = EX_OK;
out:
	return ex;
}

enum { OPT_SPLIT = DEV_OPT__NEXT, OPT_CHANNELS, OPT_THRESHOLD, OPT_RECORD_KEY, OPT_JOIN_TIMEOUT };

static const struct option med_long_opts[] = {
    {"split", required_argument, NULL, OPT_SPLIT},
    {"channels", required_argument, NULL, OPT_CHANNELS},
    {"threshold", required_argument, NULL, OPT_THRESHOLD},
    {"record-key", required_argument, NULL, OPT_RECORD_KEY},
    {"join-timeout", required_argument, NULL, OPT_JOIN_TIMEOUT},
    {"timeout", required_argument, NULL, 'W'},
    {"seal", no_argument, NULL, DEV_OPT_SEAL},
    {"no-seal", no_argument, NULL, DEV_OPT_NO_SEAL},
    DEV_NET_TLS_LONG_OPTS,
    {NULL, 0, NULL, 0},
};

/* Parse the options of publish --split (split = 1) or join (split = 0). */
static int parse_opts(int argc, char **argv, int split, struct med_opts *o)
{
	const char *optstring = split ? "h:p:t:m:f:lq:i:" : "h:p:q:i:C:o:W:";
	long v;
	int opt, took;

	memset(o, 0, sizeof(*o));
	dev_net_opts_init(&o->net);
	o->join_timeout_s = MED_JOIN_TO_DEF;
	for (;;) {
		opt = getopt_long(argc, argv, optstring, med_long_opts, NULL);
		if (opt == -1)
			break;
		took = dev_net_opt(&o->net, opt, optarg);
		if (took < 0)
			return EX_USAGE;
		if (took > 0)
			continue;
		v = 0;
		switch (opt) {
		case 'o':
			o->outdir = optarg;
			break;
		case OPT_JOIN_TIMEOUT:
			v = dev_opt_num("join timeout", optarg, 86400L);
			o->join_timeout_s = (int)v;
			break;
		case OPT_SPLIT:
		case OPT_CHANNELS:
			if ((opt == OPT_SPLIT) != split)
				return dev_usage_cmd(argv[0]);
			o->channels_csv = optarg;
			break;
		case OPT_THRESHOLD:
			v = dev_opt_num("threshold", optarg, MQS_SHARE_N_MAX);
			o->k = (unsigned)v;
			break;
		case OPT_RECORD_KEY:
			if (!split)
				return dev_usage_cmd(argv[0]);
			o->record_key = optarg;
			break;
		default:
			return dev_usage_cmd(argv[0]);
		}
		if (v < 0)
			return EX_USAGE;
	}
	if (optind != argc || o->channels_csv == NULL || o->k == 0 ||
	    (split && o->net.topic == NULL))
		return dev_usage_cmd(argv[0]);
	if (parse_channels(o, o->channels_csv) != EX_OK)
		return EX_USAGE;
	if (o->k < 2 || o->k > o->n) {
		dev_err("invalid threshold %u: must be 2..%u (the number of channels)", o->k, o->n);
		return EX_USAGE;
	}
	if (!o->net.qos_given)
		o->net.qos = 1;
	return dev_net_opts_check(&o->net);
}

/* ------------------------------------------------------------------ */
/* publish --split */

struct split_state {
	struct dev_ctx *ctx;
	const struct med_opts *o;
	const struct mqs_creds_key *rk;
	uint8_t tag_key[32];
	int seal[MQS_SHARE_N_MAX];
	int pending;                            /* QoS > 0 shares not acknowledged */
	uint8_t mid_chan[65536];                /* channel index + 1 of a message id in flight */
	unsigned long refused[MQS_SHARE_N_MAX]; /* shares the broker refused, per channel */
	unsigned long records;
};

/* PUBACK/PUBCOMP: note refusals per channel. */
static void split_on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                             const mosquitto_property *props)
{
	struct dev_conn *c = obj;
	struct split_state *ss = c->user;
	unsigned ch = mid >= 0 && mid < 65536 ? ss->mid_chan[mid] : 0;

	(void)mosq;
	(void)props;
	ss->pending--;
	if (ch > 0)
		ss->mid_chan[mid] = 0;
	if (reason >= 0x80) {
		if (ch > 0) {
			ss->refused[ch - 1]++;
			dev_err("broker refused a share on channel %s: %s", ss->o->chan[ch - 1],
			        mosquitto_reason_string(reason));
		} else {
			dev_err("broker refused message %d: %s", mid,
			        mosquitto_reason_string(reason));
		}
	}
}

/* The record key: the one named or numbered by --record-key, else the only
 * record key of the credentials and key files. */
static const struct mqs_creds_key *pick_record_key(const struct mqs_creds *cr, const char *sel)
{
	const struct mqs_creds_key *found = NULL;
	unsigned nrec = 0;
	char *end;
	unsigned long id = 0;
	int by_id = 0;

	if (sel != NULL && *sel != '\0') {
		errno = 0;
		id = strtoul(sel, &end, 10);
		by_id = errno == 0 && *end == '\0';
	}
	for (size_t i = 0; i < cr->nkeys; i++) {
		const struct mqs_creds_key *k = &cr->keys[i];

		if (k->use != MQS_CREDS_USE_RECORD)
			continue;
		nrec++;
		if (sel == NULL) {
			found = k;
			continue;
		}
		if ((by_id && k->id == id) || (k->name != NULL && strcmp(k->name, sel) == 0))
			found = k;
	}
	if (nrec == 0) {
		dev_err("cannot split: no record key in the credentials or -K files");
		return NULL;
	}
	if (sel == NULL && nrec > 1) {
		dev_err("cannot split: %u record keys; choose one with --record-key ID|NAME", nrec);
		return NULL;
	}
	if (found == NULL)
		dev_err("cannot split: no record key %s", sel);
	return found;
}

/* Seal, split and publish one record. */
static int split_record(struct dev_conn *c, struct split_state *ss, const uint8_t *data, size_t len)
{
	const struct med_opts *o = ss->o;
	const char *origin = c->ctx->creds.username != NULL ? c->ctx->creds.username : "";
	uint8_t *secret = NULL, *shares = NULL, *env = NULL;
	size_t secret_len = 0, share_len = 0, cap = 0, env_len = 0;
	uint8_t id[MQS_SHARE_ID_LEN];
	char hex[2 * MQS_SHARE_ID_LEN + 1];
	int ex = EX_DATAERR;
	int rc;

	/* the record id is drawn first: the record envelope is bound to it */
	rc = RAND_bytes(id, sizeof(id)) == 1 ? MQS_OK : MQS_ERR_CRYPTO;
	if (rc == MQS_OK)
		rc = mqs_share_record_seal(ss->rk->key, ss->rk->id, id, o->net.topic, origin, data,
		                           len, &secret, &secret_len);
	if (rc != MQS_OK) {
		dev_err("cannot seal record for %s: %s", o->net.topic,
		        rc == MQS_ERR_TOOBIG ? "record too large" : mqs_strerror(rc));
		ex = rc == MQS_ERR_NOMEM ? EX_OSERR : EX_DATAERR;
		goto out;
	}
	share_len = mqs_share_len(secret_len);
	cap = share_len * o->n;
	shares = malloc(cap);
	if (shares == NULL) {
		ex = EX_OSERR;
		goto out;
	}
	rc = mqs_share_split(secret, secret_len, o->n, o->k, ss->tag_key, id, NULL, shares, cap);
	if (rc != MQS_OK) {
		dev_err("cannot split record: %s", mqs_strerror(rc));
		ex = rc == MQS_ERR_NOMEM ? EX_OSERR : EX_SOFTWARE;
		goto out;
	}
	for (unsigned i = 0; i < o->n; i++) {
		const uint8_t *p = shares + (size_t)i * share_len;
		size_t plen = share_len;
		int mid = 0;

		if (ss->seal[i]) {
			ex = dev_pub_seal(c->ctx, o->chan[i], p, plen, &env, &env_len);
			if (ex != EX_OK)
				goto out;
			p = env;
			plen = env_len;
		}
		rc = mosquitto_publish(c->mosq, &mid, o->chan[i], (int)plen, p, o->net.qos, false);
		free(env);
		env = NULL;
		if (rc != MOSQ_ERR_SUCCESS) {
			dev_err("cannot publish to %s: %s", o->chan[i], mosquitto_strerror(rc));
			ex = EX_UNAVAILABLE;
			goto out;
		}
		if (o->net.qos > 0) {
			ss->pending++;
			if (mid >= 0 && mid < 65536)
				ss->mid_chan[mid] = (uint8_t)(i + 1);
		}
	}
	mqs_hex_encode(id, MQS_SHARE_ID_LEN, hex);
	fprintf(stderr, "record %s split into %u shares (threshold %u)\n", hex, o->n, o->k);
	ss->records++;
	ex = EX_OK;
out:
	free(env);
	mqs_secret_free(shares, cap);
	mqs_secret_free(secret, secret_len);
	return ex;
}

/* Service the network until every QoS > 0 share is acknowledged. */
static int split_drain(struct dev_conn *c, struct split_state *ss)
{
	time_t end = time(NULL) + MED_DRAIN_S;

	while (time(NULL) < end && !med_stop) {
		int rc = mosquitto_loop(c->mosq, 100, 1);

		if (ss->pending <= 0 && !mosquitto_want_write(c->mosq))
			return EX_OK;
		if (rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NO_CONN) {
			dev_err("connection lost before every share was acknowledged");
			return EX_UNAVAILABLE;
		}
	}
	if (ss->pending > 0)
		dev_err("%d share(s) not acknowledged", ss->pending);
	return ss->pending <= 0 ? EX_OK : EX_UNAVAILABLE;
}

/* How the refusals end the run: fine while at most n - k channels refused
 * shares (every record still has k), else EX_NOPERM. */
static int split_verdict(const struct split_state *ss)
{
	unsigned bad = 0;

	for (unsigned i = 0; i < ss->o->n; i++)
		bad += ss->refused[i] > 0;
	if (bad == 0)
		return EX_OK;
	if (bad <= ss->o->n - ss->o->k) {
		dev_err("shares refused on %u of %u channels: every record still has %u shares",
		        bad, ss->o->n, ss->o->n - bad);
		return EX_OK;
	}
	dev_err("shares refused on %u of %u channels: records cannot be rebuilt (threshold %u)",
	        bad, ss->o->n, ss->o->k);
	return EX_NOPERM;
}

/* publish --split command. */
int dev_cmd_publish_split(struct dev_ctx *ctx, int argc, char **argv)
{
	struct med_opts o;
	struct split_state *ss = NULL;
	struct dev_conn c;
	uint8_t *data = NULL, *line = NULL;
	size_t len = 0;
	int sources;
	int ex;
	int rc;

	memset(&c, 0, sizeof(c));
	ex = parse_opts(argc, argv, 1, &o);
	if (ex != EX_OK)
		goto out;
	sources = (o.net.message != NULL) + (o.net.file != NULL) + o.net.lines;
	if (sources != 1) {
		dev_err("give exactly one of -m MSG, -f FILE or -l");
		ex = dev_usage_cmd(argv[0]);
		goto out;
	}
	if (mqs_envelope_topic_check(o.net.topic, strlen(o.net.topic)) != MQS_OK) {
		dev_err("invalid topic %s: must be 1..%u bytes without '+' or '#'", o.net.topic,
		        MQS_ENVELOPE_TOPIC_MAX);
		ex = EX_USAGE;
		goto out;
	}
	ss = calloc(1, sizeof(*ss));
	if (ss == NULL) {
		ex = EX_OSERR;
		goto out;
	}
	ss->ctx = ctx;
	ss->o = &o;
	ss->rk = pick_record_key(&ctx->creds, o.record_key);
	if (ss->rk == NULL) {
		ex = EX_CONFIG;
		goto out;
	}
	if (mqs_share_tag_key(ss->rk->key, ss->tag_key) != MQS_OK) {
		dev_err("cannot derive the share tag key");
		ex = EX_SOFTWARE;
		goto out;
	}
	for (unsigned i = 0; i < o.n; i++)
		ss->seal[i] = o.net.seal >= 0 ? o.net.seal
		                              : mqs_creds_topic_protected(&ctx->creds, o.chan[i]);
	if (o.net.file != NULL) {
		rc = mqs_file_read(o.net.file, MED_RECORD_MAX, 0, &data, &len);
		if (rc != MQS_OK) {
			dev_err("cannot read %s: %s", o.net.file,
			        rc == MQS_ERR_IO       ? strerror(errno)
			        : rc == MQS_ERR_TOOBIG ? "record too large"
			                               : mqs_strerror(rc));
			ex = rc == MQS_ERR_TOOBIG ? EX_DATAERR : EX_NOINPUT;
			goto out;
		}
	}
	install_signals();
	c.user = ss;
	ex = dev_conn_open(&c, ctx, &o.net, 1);
	if (ex != EX_OK)
		goto out;
	mosquitto_publish_v5_callback_set(c.mosq, split_on_publish);
	if (o.net.message != NULL) {
		ex = split_record(&c, ss, (const uint8_t *)o.net.message, strlen(o.net.message));
	} else if (o.net.file != NULL) {
		ex = split_record(&c, ss, data, len);
	} else {
		line = malloc(MED_RECORD_MAX);
		if (line == NULL) {
			ex = EX_OSERR;
			goto out;
		}
		for (;;) {
			long n = dev_read_line(stdin, line, MED_RECORD_MAX);

			if (n == -1 || med_stop)
				break;
			if (n == -2) {
				dev_err("line longer than %u bytes skipped",
				        (unsigned)MED_RECORD_MAX);
				continue;
			}
			ex = split_record(&c, ss, line, (size_t)n);
			if (ex != EX_OK)
				break;
			mosquitto_loop(c.mosq, 0, 1);
		}
	}
	if (ex == EX_OK)
		ex = split_drain(&c, ss);
	if (ex == EX_OK)
		ex = split_verdict(ss);
out:
	dev_conn_close(&c);
	if (ss != NULL)
		OPENSSL_cleanse(ss->tag_key, sizeof(ss->tag_key));
	free(ss);
	mqs_secret_free(line, line != NULL ? MED_RECORD_MAX : 0);
	mqs_secret_free(data, len);
	opts_release(&o);
	return ex;
}

/* ------------------------------------------------------------------ */
/* join */

struct join_state {
	struct dev_ctx *ctx;
	const struct med_opts *o;
	struct mqs_join *j;
	long records;
	int error;
	int refused; /* channel subscriptions refused */
};

#define WRITE_EXISTS (-1) /* write_record: the file exists (delivered before) */

/* Write a rebuilt record to DIR/<hex id>, 0600, created exclusively.  An
 * exit status, or WRITE_EXISTS when the file is already there. */
static int write_record(const char *dir, const char *hex, const uint8_t *data, size_t len)
{
	char path[PATH_MAX];
	size_t off = 0;
	int fd;
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, hex);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		dev_err("cannot write record %s: path too long", hex);
		return EX_CANTCREAT;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return WRITE_EXISTS;
	if (fd < 0) {
		dev_err("cannot write record %s: %s", path, strerror(errno));
		return EX_CANTCREAT;
	}
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			dev_err("cannot write record %s: %s", path, strerror(errno));
			close(fd);
			return EX_IOERR;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		dev_err("cannot write record %s: %s", path, strerror(errno));
		return EX_IOERR;
	}
	return EX_OK;
}

/* A rebuilt record: print it (or write it to -o DIR) and describe it on
 * stderr. */
static void join_on_record(void *arg, const struct mqs_join_record *r)
{
	struct join_state *js = arg;
	char hex[2 * MQS_SHARE_ID_LEN + 1];
	int ex = EX_OK;

	if (js->o->net.count > 0 && js->records >= js->o->net.count)
		return;
	mqs_hex_encode(r->id, MQS_SHARE_ID_LEN, hex);
	if (js->o->outdir != NULL) {
		ex = write_record(js->o->outdir, hex, r->data, r->len);
		if (ex == WRITE_EXISTS) {
			/* a replay of a record written before: not fatal, not counted
			 * toward -C (docs/medical.md, "Receiving") */
			fprintf(stderr, "record %s: delivered before (%s/%s exists), ignored\n",
			        hex, js->o->outdir, hex);
			fflush(stderr);
			return;
		}
	} else {
		if (fwrite(r->data, 1, r->len, stdout) != r->len || fflush(stdout) != 0) {
			dev_err("cannot write record %s to stdout", hex);
			ex = EX_IOERR;
		}
	}
	if (ex != EX_OK) {
		js->error = ex;
		return;
	}
	fprintf(stderr, "record %s topic ", hex);
	dev_origin_write(stderr, (const uint8_t *)r->topic, strlen(r->topic));
	fprintf(stderr, " sender %s origin ", r->sender);
	if (r->origin != NULL && r->origin[0] != '\0')
		dev_origin_write(stderr, (const uint8_t *)r->origin, strlen(r->origin));
	else
		fputc('-', stderr);
	fputc('\n', stderr);
	fflush(stderr);
	js->records++;
}

/* A group that did not complete in time. */
static void join_on_expired(void *arg, const uint8_t id[MQS_SHARE_ID_LEN], unsigned have,
                            unsigned need)
{
	char hex[2 * MQS_SHARE_ID_LEN + 1];

	(void)arg;
	mqs_hex_encode(id, MQS_SHARE_ID_LEN, hex);
	fprintf(stderr, "dropped record %s: incomplete (have %u, need %u)\n", hex, have, need);
}

/* Index of channel topic among the channels, or -1. */
static int channel_index(const struct med_opts *o, const char *topic)
{
	for (unsigned i = 0; i < o->n; i++) {
		if (strcmp(o->chan[i], topic) == 0)
			return (int)i;
	}
	return -1;
}

/* One delivered share: open its channel envelope, feed it to the join. */
static void join_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m,
                            const mosquitto_property *props)
{
	struct dev_conn *c = obj;
	struct join_state *js = c->user;
	const struct mqs_creds *cr = &c->ctx->creds;
	struct mqs_envelope_info info;
	const struct mqs_creds_key *k = NULL;
	const uint8_t *share = m->payload;
	size_t share_len = (size_t)m->payloadlen;
	uint8_t *plain = NULL;
	size_t plain_cap = 0, plain_len = 0;
	int ch = channel_index(js->o, m->topic);
	int rc, res;

	(void)mosq;
	(void)props;
	if (ch < 0 || (js->o->net.count > 0 && js->records >= js->o->net.count))
		return;
	rc = mqs_envelope_parse(m->payload, (size_t)m->payloadlen, &info);
	if (rc == MQS_OK)
		k = mqs_creds_key_for(cr, info.key_id, m->topic);
	if (k == NULL && mqs_creds_topic_protected(cr, m->topic)) {
		fprintf(stderr, "dropped share: channel envelope (%s) on %s\n",
		        rc != MQS_OK ? mqs_strerror(rc) : "no key with that id for this topic",
		        m->topic);
		return;
	}
	if (k != NULL) {
		plain_cap = info.ciphertext_len + 1;
		plain = malloc(plain_cap);
		if (plain == NULL)
			return;
		rc = mqs_envelope_open(k->key, k->id, m->payload, (size_t)m->payloadlen, m->topic,
		                       strlen(m->topic), plain, info.ciphertext_len, &plain_len,
		                       &info);
		if (rc != MQS_OK) {
			fprintf(stderr, "dropped share: channel envelope (%s) on %s\n",
			        mqs_strerror(rc), m->topic);
			goto out;
		}
		share = plain;
		share_len = plain_len;
	}
	res = mqs_join_feed(js->j, (unsigned)ch, share, share_len, mono_ms());
	/* the n - k shares that arrive after their record completed are
	 * `late` by design: counted, not reported */
	if (res != MQS_JOIN_PENDING && res != MQS_JOIN_RECORD && res != MQS_JOIN_LATE)
		fprintf(stderr, "dropped share: %s on %s\n", mqs_join_result_name(res), m->topic);
out:
	mqs_secret_free(plain, plain_cap);
}

/* SUBACK: a refused channel is reported; the join goes on while k remain. */
static void join_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count,
                              const int *granted, const mosquitto_property *props)
{
	struct dev_conn *c = obj;
	struct join_state *js = c->user;

	(void)mosq;
	(void)mid;
	(void)props;
	for (int i = 0; i < qos_count; i++) {
		if (granted[i] >= 0x80) {
			js->refused++;
			dev_err("broker refused a channel subscription: %s",
			        mosquitto_reason_string(granted[i]));
		}
	}
	if ((unsigned)js->refused > js->o->n - js->o->k) {
		dev_err("cannot join: only %u of %u channels subscribed (threshold %u)",
		        js->o->n - (unsigned)js->refused, js->o->n, js->o->k);
		js->error = EX_NOPERM;
	}
}

/* Subscribe to every channel. */
static int join_subscribe(struct dev_conn *c, const struct med_opts *o)
{
	for (unsigned i = 0; i < o->n; i++) {
		int rc = mosquitto_subscribe(c->mosq, NULL, o->chan[i], o->net.qos);

		if (rc != MOSQ_ERR_SUCCESS) {
			dev_err("cannot subscribe to %s: %s", o->chan[i], mosquitto_strerror(rc));
			return EX_UNAVAILABLE;
		}
	}
	return EX_OK;
}

/* The record keys of the credentials and key files into keys[]. */
static size_t collect_keys(const struct mqs_creds *cr, struct mqs_join_key *keys, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < cr->nkeys && n < max; i++) {
		const struct mqs_creds_key *k = &cr->keys[i];

		if (k->use != MQS_CREDS_USE_RECORD || k->name == NULL)
			continue;
		snprintf(keys[n].name, sizeof(keys[n].name), "%s", k->name);
		keys[n].id = k->id;
		memcpy(keys[n].key, k->key, sizeof(keys[n].key));
		n++;
	}
	return n;
}

/* At exit: the drop counters that are not zero (but `late`, the normal
 * fate of the n - k surplus shares) and the records still open, on stderr
 * (never content). */
static void join_summary(const struct mqs_join *j)
{
	size_t open_groups = mqs_join_pending(j);
	int any = 0;

	for (int r = MQS_JOIN_BAD_HEADER; r < MQS_JOIN__COUNT; r++) {
		uint64_t n = mqs_join_count(j, r);

		if (n == 0 || r == MQS_JOIN_LATE)
			continue;
		fprintf(stderr, "%s%s %llu",
		        any ? ", " : "shares dropped: ", mqs_join_result_name(r),
		        (unsigned long long)n);
		any = 1;
	}
	if (any)
		fputc('\n', stderr);
	if (open_groups > 0)
		fprintf(stderr, "%zu record(s) still incomplete at exit (%zu share bytes held)\n",
		        open_groups, mqs_join_pending_bytes(j));
}

/* join command. */
int dev_cmd_join(struct dev_ctx *ctx, int argc, char **argv)
{
	struct med_opts o;
	struct join_state js;
	struct mqs_join_conf conf;
	struct mqs_join_key *keys = NULL;
	struct dev_conn c;
	size_t nkeys = 0;
	struct stat st;
	time_t end = 0;
	int ex;
	int rc;

	memset(&c, 0, sizeof(c));
	memset(&js, 0, sizeof(js));
	ex = parse_opts(argc, argv, 0, &o);
	if (ex != EX_OK)
		goto out;
	errno = 0;
	if (o.outdir != NULL && (stat(o.outdir, &st) != 0 || !S_ISDIR(st.st_mode))) {
		dev_err("cannot use output folder %s: %s", o.outdir,
		        errno != 0 ? strerror(errno) : "not a folder");
		ex = EX_CANTCREAT;
		goto out;
	}
	keys = calloc(MED_KEYS_MAX, sizeof(*keys));
	if (keys == NULL) {
		ex = EX_OSERR;
		goto out;
	}
	nkeys = collect_keys(&ctx->creds, keys, MED_KEYS_MAX);
	if (nkeys == 0) {
		dev_err("cannot join: no record key in the credentials or -K files");
		ex = EX_CONFIG;
		goto out;
	}
	memset(&conf, 0, sizeof(conf));
	conf.n = o.n;
	conf.k = o.k;
	conf.timeout_ms = (uint64_t)o.join_timeout_s * 1000u;
	mqs_join_conf_defaults(&conf);
	js.ctx = ctx;
	js.o = &o;
	rc = mqs_join_new(&conf, keys, nkeys, join_on_record, &js, &js.j);
	if (rc != MQS_OK) {
		dev_err("cannot join: %s", mqs_strerror(rc));
		ex = rc == MQS_ERR_NOMEM ? EX_OSERR : EX_SOFTWARE;
		goto out;
	}
	install_signals();
	c.user = &js;
	ex = dev_conn_open(&c, ctx, &o.net, 1);
	if (ex != EX_OK)
		goto out;
	mosquitto_message_v5_callback_set(c.mosq, join_on_message);
	mosquitto_subscribe_v5_callback_set(c.mosq, join_on_subscribe);
	ex = join_subscribe(&c, &o);
	if (ex != EX_OK)
		goto out;
	if (o.net.timeout_s > 0)
		end = time(NULL) + o.net.timeout_s;
	while (!med_stop && js.error == 0) {
		if (o.net.count > 0 && js.records >= o.net.count)
			break;
		if (end != 0 && time(NULL) >= end) {
			dev_err("timed out after %d s with %ld record(s)", o.net.timeout_s,
			        js.records);
			ex = EX_TEMPFAIL;
			goto out;
		}
		rc = mosquitto_loop(c.mosq, 200, 1);
		(void)mqs_join_tick(js.j, mono_ms(), join_on_expired, &js);
		if (rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NO_CONN || !c.connected) {
			if (med_stop)
				break;
			dev_err("connection lost; reconnecting");
			ex = dev_conn_reconnect(&c);
			if (ex != EX_OK)
				goto out;
			ex = join_subscribe(&c, &o);
			if (ex != EX_OK)
				goto out;
		}
	}
	ex = js.error != 0 ? js.error : EX_OK;
out:
	dev_conn_close(&c);
	if (js.j != NULL)
		join_summary(js.j);
	mqs_join_free(js.j);
	if (keys != NULL)
		mqs_secret_free(keys, MED_KEYS_MAX * sizeof(*keys));
	opts_release(&o);
	return ex;
}
