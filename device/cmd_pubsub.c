/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_pubsub.c - mqttsec-device publish and subscribe: like
 * mosquitto_pub / mosquitto_sub, with the TOTP code as password, sealing on
 * protected topics and opening envelopes on receipt.
 *
 * Plaintext buffers are wiped before they are freed.  A payload that looks
 * like an envelope but does not open is reported on stderr (never printed).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <openssl/crypto.h>

#include "device.h"
#include "keyfetch.h"
#include "mqs_envelope.h"
#include "mqs_error.h"
#include "mqs_seen.h"
#include "mqs_topic.h"
#include "mqs_util.h"

#define LINE_MAX_BYTES MQS_ENVELOPE_PLAIN_MAX

struct pubsub_opts {
	struct dev_net_opts net; /* -h -p -t -m -f -l -q -i -C -W --seal --no-seal */
	int retain;
	int verbose;
	int no_fetch; /* subscribe --no-fetch: no online keys (keyfetch.h) */
};

enum { OPT_NO_FETCH = DEV_OPT__NEXT };

static volatile sig_atomic_t stop_requested;

/* SIGINT/SIGTERM: ask the loop to stop. */
static void on_signal(int sig)
{
	stop_requested = 1;
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

static const struct option long_opts[] = {
    {"seal", no_argument, NULL, DEV_OPT_SEAL},
    {"no-seal", no_argument, NULL, DEV_OPT_NO_SEAL},
    DEV_NET_TLS_LONG_OPTS,
    {"no-fetch", no_argument, NULL, OPT_NO_FETCH},
    {"help", no_argument, NULL, 'H'},
    {NULL, 0, NULL, 0},
};

/* Parse the options of publish and subscribe. */
static int parse_opts(int argc, char **argv, const char *optstring, struct pubsub_opts *o)
{
	int opt, took;

	memset(o, 0, sizeof(*o));
	dev_net_opts_init(&o->net);
	for (;;) {
		opt = getopt_long(argc, argv, optstring, long_opts, NULL);
		if (opt == -1)
			break;
		took = dev_net_opt(&o->net, opt, optarg);
		if (took < 0)
			return EX_USAGE;
		if (took > 0)
			continue;
		switch (opt) {
		case 'r':
			o->retain = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case OPT_NO_FETCH:
			o->no_fetch = 1;
			break;
		default:
			return dev_usage_cmd(argv[0]);
		}
	}
	if (optind != argc || o->net.topic == NULL)
		return dev_usage_cmd(argv[0]);
	return dev_net_opts_check(&o->net);
}

/* Read one line of at most cap bytes (see device.h). */
long dev_read_line(FILE *in, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	int too_long = 0;
	int c;

	for (;;) {
		c = getc(in);
		if (c == EOF) {
			if (n == 0 && !too_long)
				return -1;
			break;
		}
		if (c == '\n')
			break;
		if (n < cap)
			buf[n++] = (uint8_t)c;
		else
			too_long = 1;
	}
	return too_long ? -2 : (long)n;
}

struct pub_state {
	int pending; /* QoS > 0 messages not yet acknowledged */
	int failed;
};

/* PUBACK/PUBCOMP (or QoS 0 sent): note the result of message mid. */
static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                       const mosquitto_property *props)
{
	struct dev_conn *c = obj;
	struct pub_state *ps = c->user;

	ps->pending--;
	if (reason >= 0x80) {
		ps->failed++;
		dev_err("broker refused message %d: %s", mid, mosquitto_reason_string(reason));
	}
}

/* Seal for topic with the device key (see device.h). */
int dev_pub_seal(const struct dev_ctx *ctx, const char *topic, const uint8_t *data, size_t len,
                 uint8_t **env, size_t *env_len)
{
	const struct mqs_creds_key *dk = mqs_creds_device_key(&ctx->creds);
	size_t env_cap;
	int rc;
	int ex = EX_DATAERR;

	*env = NULL;
	*env_len = 0;
	if (dk == NULL) {
		dev_err("cannot seal for %s: the credentials hold no device key", topic);
		goto out;
	}
	env_cap = mqs_envelope_sealed_len(0, len);
	if (env_cap == 0) {
		dev_err("cannot seal: message larger than %u bytes", MQS_ENVELOPE_PLAIN_MAX);
		goto out;
	}
	*env = malloc(env_cap);
	if (*env == NULL) {
		ex = EX_OSERR;
		goto out;
	}
	rc = mqs_envelope_seal(dk->key, dk->id, mqs_now_ms(), NULL, NULL, 0, topic, strlen(topic),
	                       data, len, *env, env_cap, env_len);
	if (rc != MQS_OK) {
		dev_err("cannot seal for %s: %s", topic, mqs_strerror(rc));
		free(*env);
		*env = NULL;
		goto out;
	}
	ex = EX_OK;
out:
	return ex;
}

/* Seal (when asked) and publish one payload. */
static int publish_one(struct dev_conn *c, const struct pubsub_opts *o, int seal,
                       const uint8_t *data, size_t len)
{
	struct pub_state *ps = c->user;
	uint8_t *env = NULL;
	size_t env_len = 0;
	int rc;
	int ex = EX_DATAERR;

	if (seal) {
		ex = dev_pub_seal(c->ctx, o->net.topic, data, len, &env, &env_len);
		if (ex != EX_OK)
			goto out;
		data = env;
		len = env_len;
	}
	rc = mosquitto_publish(c->mosq, NULL, o->net.topic, (int)len, data, o->net.qos,
	                       o->retain != 0);
	if (rc != MOSQ_ERR_SUCCESS) {
		dev_err("cannot publish to %s: %s", o->net.topic, mosquitto_strerror(rc));
		ex = EX_UNAVAILABLE;
		goto out;
	}
	if (o->net.qos > 0)
		ps->pending++;
	ex = EX_OK;
out:
	free(env);
	return ex;
}

/* Service the network until every QoS > 0 message is acknowledged. */
static int drain(struct dev_conn *c, int timeout_s)
{
	struct pub_state *ps = c->user;
	time_t end = time(NULL) + timeout_s;

	while (time(NULL) < end && !stop_requested) {
		int rc = mosquitto_loop(c->mosq, 100, 1);
		if (ps->pending <= 0 && mosquitto_want_write(c->mosq) == false)
			return EX_OK;
		if (rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NO_CONN) {
			dev_err("connection lost before every message was acknowledged");
			return EX_UNAVAILABLE;
		}
	}
	return ps->pending <= 0 ? EX_OK : EX_UNAVAILABLE;
}

/* publish command. */
int dev_cmd_publish(struct dev_ctx *ctx, int argc, char **argv)
{
	struct pubsub_opts o;
	struct pub_state ps = {0, 0};
	struct dev_conn c;
	uint8_t *data = NULL;
	size_t len = 0;
	uint8_t *line = NULL;
	int seal;
	int sources;
	int ex;

	memset(&c, 0, sizeof(c));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--split") == 0 || strncmp(argv[i], "--split=", 8) == 0)
			return dev_cmd_publish_split(ctx, argc, argv);
	}
	ex = parse_opts(argc, argv, "h:p:t:m:f:lq:ri:", &o);
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
	seal = o.net.seal >= 0 ? o.net.seal : mqs_creds_topic_protected(&ctx->creds, o.net.topic);
	if (o.net.file != NULL) {
		int rc = mqs_file_read(o.net.file, MQS_ENVELOPE_PLAIN_MAX, 0, &data, &len);
		if (rc != MQS_OK) {
			dev_err("cannot read %s: %s", o.net.file,
			        rc == MQS_ERR_IO ? strerror(errno) : mqs_strerror(rc));
			ex = rc == MQS_ERR_TOOBIG ? EX_DATAERR : EX_NOINPUT;
			goto out;
		}
	}
	install_signals();
	c.user = &ps;
	ex = dev_conn_open(&c, ctx, &o.net, 1);
	if (ex != EX_OK)
		goto out;
	mosquitto_publish_v5_callback_set(c.mosq, on_publish);
	if (o.net.message != NULL) {
		ex = publish_one(&c, &o, seal, (const uint8_t *)o.net.message,
		                 strlen(o.net.message));
	} else if (o.net.file != NULL) {
		ex = publish_one(&c, &o, seal, data, len);
	} else {
		/* one fixed buffer, wiped at the end: no plaintext left in freed memory */
		line = malloc(LINE_MAX_BYTES);
		if (line == NULL) {
			ex = EX_OSERR;
			goto out;
		}
		for (;;) {
			long n = dev_read_line(stdin, line, LINE_MAX_BYTES);
			if (n == -1 || stop_requested)
				break;
			if (n == -2) {
				dev_err("line longer than %u bytes skipped", LINE_MAX_BYTES);
				continue;
			}
			ex = publish_one(&c, &o, seal, line, (size_t)n);
			if (ex != EX_OK)
				break;
			/* keep the socket serviced so large inputs do not pile up */
			mosquitto_loop(c.mosq, 0, 1);
		}
	}
	if (ex == EX_OK)
		ex = drain(&c, 30);
	if (ex == EX_OK && ps.failed > 0)
		ex = EX_NOPERM;
out:
	dev_conn_close(&c);
	mqs_secret_free(line, LINE_MAX_BYTES);
	mqs_secret_free(data, len);
	return ex;
}

struct sub_state {
	const struct pubsub_opts *o;
	struct mqs_seen *seen; /* envelopes already printed (mqs_seen.h) */
	long received;
	int error;
	struct dev_keys_auto ka; /* online keys (keyfetch.h) */
	int replaying;           /* handing back a kept message */
};

/* Print a payload as one line: topic and origin first with -v. */
static void print_payload(const struct pubsub_opts *o, const char *topic, const uint8_t *origin,
                          size_t origin_len, const uint8_t *data, size_t len)
{
	if (o->verbose) {
		printf("%s ", topic);
		if (origin_len > 0)
			dev_origin_write(stdout, origin, origin_len);
		else
			fputc('-', stdout);
		fputc(' ', stdout);
	}
	fwrite(data, 1, len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

/* One delivered message: open it when sealed, print it. */
static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m,
                       const mosquitto_property *props)
{
	struct dev_conn *c = obj;
	struct sub_state *ss = c->user;
	const struct mqs_creds *cr = &c->ctx->creds;
	struct mqs_envelope_info info;
	const struct mqs_creds_key *k = NULL;
	uint8_t key[MQS_ENVELOPE_KEY_LEN];
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	int protected_topic;
	int rc;

	if (dev_keys_auto_message(&ss->ka, c, m))
		return; /* an answer or a push of online keys */
	if (ss->o->net.count > 0 && ss->received >= ss->o->net.count)
		return;
	protected_topic = mqs_creds_topic_protected(cr, m->topic);
	rc = mqs_envelope_parse(m->payload, (size_t)m->payloadlen, &info);
	if (rc == MQS_OK)
		k = mqs_creds_key_for(cr, info.key_id, m->topic);
	/* an unknown key id on a protected topic: keep the message, fetch
	 * keys, open it then.  Never on another topic: the broker seals
	 * nothing there, so a fetch cannot help, and anyone who may publish
	 * to it could make every subscriber send key requests */
	if (k == NULL && rc == MQS_OK && protected_topic && !ss->replaying &&
	    dev_keys_auto_unknown(&ss->ka, c, m))
		return;
	if (k == NULL) {
		if (protected_topic) {
			dev_err("cannot open message on %s: %s", m->topic,
			        rc != MQS_OK ? mqs_strerror(rc)
			                     : "no key with that id for this topic");
			return;
		}
		print_payload(ss->o, m->topic, NULL, 0, m->payload, (size_t)m->payloadlen);
		ss->received++;
		return;
	}
	plain = malloc(info.ciphertext_len + 1);
	if (plain == NULL)
		return;
	rc = dev_open_key(k, &info, m->topic, key); /* a downlink: derived from k */
	if (rc == MQS_OK)
		rc = mqs_envelope_open(key, k->id, m->payload, (size_t)m->payloadlen, m->topic,
		                       strlen(m->topic), plain, info.ciphertext_len, &plain_len,
		                       &info);
	if (rc != MQS_OK) {
		dev_err("cannot open message on %s: %s", m->topic, mqs_strerror(rc));
		goto out;
	}
	/* the same (key id, nonce) twice is one message twice: a duplicate
	 * delivery or a replay (docs/payload-encryption.md) */
	if (mqs_seen_check_add(ss->seen, info.key_id, info.nonce)) {
		dev_err("dropped a repeated message on %s (key %lu)", m->topic,
		        (unsigned long)info.key_id);
		goto out;
	}
	print_payload(ss->o, m->topic, info.origin, info.origin_len, plain, plain_len);
	ss->received++;
out:
	OPENSSL_cleanse(key, sizeof(key));
	mqs_secret_free(plain, info.ciphertext_len + 1);
}

/* SUBACK: note the granted QoS. */
static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count,
                         const int *granted, const mosquitto_property *props)
{
	struct dev_conn *c = obj;
	struct sub_state *ss = c->user;

	for (int i = 0; i < qos_count; i++) {
		if (granted[i] >= 0x80) {
			dev_err("broker refused the subscription: %s",
			        mosquitto_reason_string(granted[i]));
			ss->error = EX_NOPERM;
		}
	}
}

/* Deliver again the messages kept while keys were fetched. */
static void redeliver(struct dev_conn *c, struct sub_state *ss)
{
	struct mosquitto_message m;
	char *topic = NULL;
	uint8_t *payload = NULL;
	size_t len = 0;

	while (dev_keys_auto_next(&ss->ka, &topic, &payload, &len)) {
		memset(&m, 0, sizeof(m));
		m.topic = topic;
		m.payload = payload;
		m.payloadlen = (int)len;
		ss->replaying = 1;
		on_message(c->mosq, c, &m, NULL);
		ss->replaying = 0;
		free(topic);
		free(payload);
	}
}

/* subscribe command. */
int dev_cmd_subscribe(struct dev_ctx *ctx, int argc, char **argv)
{
	struct pubsub_opts o;
	struct sub_state ss;
	struct dev_conn c;
	time_t end = 0;
	int rc;
	int ex;

	memset(&c, 0, sizeof(c));
	memset(&ss, 0, sizeof(ss));
	ex = parse_opts(argc, argv, "h:p:t:q:C:W:vi:", &o);
	if (ex != EX_OK)
		goto out;
	if (mqs_topic_filter_check(o.net.topic) != MQS_OK) {
		dev_err("invalid topic filter %s", o.net.topic);
		ex = EX_USAGE;
		goto out;
	}
	ss.o = &o;
	ss.seen = mqs_seen_new(MQS_SEEN_DEFAULT_MAX);
	if (ss.seen == NULL) {
		dev_err("cannot subscribe: out of memory");
		ex = EX_OSERR;
		goto out;
	}
	install_signals();
	c.user = &ss;
	ex = dev_conn_open(&c, ctx, &o.net, 1);
	if (ex != EX_OK)
		goto out;
	mosquitto_message_v5_callback_set(c.mosq, on_message);
	mosquitto_subscribe_v5_callback_set(c.mosq, on_subscribe);
	rc = mosquitto_subscribe(c.mosq, NULL, o.net.topic, o.net.qos);
	if (rc != MOSQ_ERR_SUCCESS) {
		dev_err("cannot subscribe to %s: %s", o.net.topic, mosquitto_strerror(rc));
		ex = EX_UNAVAILABLE;
		goto out;
	}
	ss.ka.enabled = !o.no_fetch;
	ex = dev_keys_auto_start(&ss.ka, &c, o.net.topic);
	if (ex != EX_OK)
		goto out;
	if (o.net.timeout_s > 0)
		end = time(NULL) + o.net.timeout_s;
	while (!stop_requested && ss.error == 0) {
		if (o.net.count > 0 && ss.received >= o.net.count)
			break;
		if (end != 0 && time(NULL) >= end) {
			dev_err("timed out after %d s with %ld message(s)", o.net.timeout_s,
			        ss.received);
			ex = EX_TEMPFAIL;
			goto out;
		}
		rc = mosquitto_loop(c.mosq, 200, 1);
		redeliver(&c, &ss);
		if (rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NO_CONN || !c.connected) {
			if (stop_requested)
				break;
			dev_err("connection lost; reconnecting");
			ex = dev_conn_reconnect(&c);
			if (ex != EX_OK)
				goto out;
			rc = mosquitto_subscribe(c.mosq, NULL, o.net.topic, o.net.qos);
			if (rc == MOSQ_ERR_SUCCESS && ss.ka.enabled)
				rc = mosquitto_subscribe(c.mosq, NULL, ss.ka.topic, 1);
			if (rc != MOSQ_ERR_SUCCESS) {
				ex = EX_UNAVAILABLE;
				goto out;
			}
		}
	}
	ex = ss.error != 0 ? ss.error : EX_OK;
out:
	dev_conn_close(&c);
	dev_keys_auto_release(&ss.ka);
	mqs_seen_free(ss.seen);
	return ex;
}
