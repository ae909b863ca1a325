/* SPDX-License-Identifier: BSD-3-Clause */
/* cmd_keys.c - mqttsec-device keys fetch: online topic keys
 * (docs/payload-encryption.md, "Online keys"). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <mosquitto.h>
#include <openssl/crypto.h>

#include "device.h"
#include "keyfetch.h"
#include "mqs_topic.h"

#define FETCH_WAIT_S 10 /* default -W */

struct fetch_state {
	const char *topic; /* the answer topic */
	uint8_t nonce[DEV_KEYS_NONCE_LEN];
	int subscribed;
	int done;
	struct dev_keys_answer answer;
};

/* A message: the answer to our request? */
static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m,
                       const mosquitto_property *props)
{
	struct dev_conn *c = obj;
	struct fetch_state *fs = c->user;
	struct dev_keys_answer a;

	if (fs->done || m->topic == NULL || strcmp(m->topic, fs->topic) != 0)
		return;
	if (dev_keys_answer_open(&c->ctx->creds, m->topic, m->payload, (size_t)m->payloadlen, &a) !=
	    MQS_OK)
		return; /* not for us */
	if (CRYPTO_memcmp(a.nonce, fs->nonce, sizeof(fs->nonce)) != 0) {
		dev_keys_answer_release(&a); /* another request's answer, or a push */
		return;
	}
	fs->answer = a;
	fs->done = 1;
}

/* SUBACK of the answer topic. */
static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count,
                         const int *granted, const mosquitto_property *props)
{
	struct dev_conn *c = obj;
	struct fetch_state *fs = c->user;

	fs->subscribed = qos_count > 0 && granted[0] < 0x80 ? 1 : -1;
}

/* The filters to ask for when none is named: those of the topic keys and
 * the protected list of the credentials. */
static size_t default_filters(const struct mqs_creds *cr, const char **out)
{
	size_t n = 0;

	for (size_t i = 0; i < cr->nkeys + cr->nprotected && n < DEV_KEYS_MAX; i++) {
		const char *f = NULL;
		int have = 0;

		if (i < cr->nkeys) {
			if (cr->keys[i].use == MQS_CREDS_USE_TOPIC)
				f = cr->keys[i].topic;
		} else {
			f = cr->protected_filters[i - cr->nkeys];
		}
		for (size_t j = 0; f != NULL && j < n && !have; j++)
			have = strcmp(out[j], f) == 0;
		if (f != NULL && !have)
			out[n++] = f;
	}
	return n;
}

/* keys fetch [-h HOST] [-p PORT] [-i ID] [-W SECS] [FILTER...] */
static int keys_fetch(struct dev_ctx *ctx, int argc, char **argv)
{
	static const struct option long_opts[] = {DEV_NET_TLS_LONG_OPTS, {NULL, 0, NULL, 0}};
	struct dev_net_opts net;
	struct fetch_state fs;
	struct dev_conn c;
	const char *filters[DEV_KEYS_MAX];
	char topic[MQS_CREDS_USERNAME_MAX + sizeof(DEV_KEYS_PREFIX)];
	size_t n = 0;
	time_t end;
	int ex, opt, rc;

	memset(&c, 0, sizeof(c));
	memset(&fs, 0, sizeof(fs));
	dev_net_opts_init(&net);
	for (;;) {
		opt = getopt_long(argc, argv, "h:p:i:W:", long_opts, NULL);
		if (opt == -1)
			break;
		rc = dev_net_opt(&net, opt, optarg);
		if (rc < 0)
			return EX_USAGE;
		if (rc == 0)
			return dev_usage_cmd("keys");
	}
	rc = dev_net_opts_check(&net);
	if (rc != EX_OK)
		return rc;
	for (int i = optind; i < argc; i++) {
		if (mqs_topic_filter_check(argv[i]) != MQS_OK) {
			dev_err("invalid topic filter %s", argv[i]);
			return EX_USAGE;
		}
		if (n >= DEV_KEYS_MAX) {
			dev_err("at most %d filters per request", DEV_KEYS_MAX);
			return EX_USAGE;
		}
		filters[n++] = argv[i];
	}
	if (n == 0)
		n = default_filters(&ctx->creds, filters);
	if (n == 0) {
		dev_err("no filter to ask keys for: name one");
		return EX_USAGE;
	}
	fs.topic = dev_keys_topic(&ctx->creds, topic, sizeof(topic));
	if (fs.topic == NULL || mqs_creds_device_key(&ctx->creds) == NULL) {
		dev_err("cannot ask for keys: the credentials have no username or device key");
		return EX_DATAERR;
	}
	c.user = &fs;
	ex = dev_conn_open(&c, ctx, &net, 1);
	if (ex != EX_OK)
		goto out;
	mosquitto_message_v5_callback_set(c.mosq, on_message);
	mosquitto_subscribe_v5_callback_set(c.mosq, on_subscribe);
	end = time(NULL) + (net.timeout_s > 0 ? net.timeout_s : FETCH_WAIT_S);
	rc = mosquitto_subscribe(c.mosq, NULL, fs.topic, 1);
	while (rc == MOSQ_ERR_SUCCESS && fs.subscribed == 0 && time(NULL) < end)
		rc = mosquitto_loop(c.mosq, 200, 1);
	if (rc != MOSQ_ERR_SUCCESS || fs.subscribed != 1) {
		dev_err("cannot subscribe to %s", fs.topic);
		ex = EX_NOPERM;
		goto out;
	}
	ex = dev_keys_request(&c, filters, n, fs.nonce);
	if (ex != EX_OK)
		goto out;
	while (!fs.done && time(NULL) < end) {
		rc = mosquitto_loop(c.mosq, 200, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			break;
	}
	if (!fs.done) {
		dev_err("no answer from the broker (rate limit, or no online keys there)");
		ex = EX_UNAVAILABLE;
		goto out;
	}
	if (fs.answer.keys.nkeys > 0) {
		if (dev_keys_merge(&ctx->creds, &fs.answer) != MQS_OK) {
			dev_err("cannot merge the keys: out of memory");
			ex = EX_OSERR;
			goto out;
		}
		ex = dev_keys_save(ctx->creds_path, &fs.answer);
		if (ex != EX_OK)
			goto out;
	}
	for (size_t i = 0; i < fs.answer.keys.nprotected; i++) {
		const char *f = fs.answer.keys.protected_filters[i];

		printf("%s", f);
		for (size_t j = 0, k = 0; j < fs.answer.keys.nkeys; j++) {
			if (strcmp(fs.answer.keys.keys[j].topic, f) == 0)
				printf("%s%lu", k++ == 0 ? " " : ",",
				       (unsigned long)fs.answer.keys.keys[j].id);
		}
		printf("\n");
	}
	for (size_t i = 0; i < fs.answer.nrefused; i++)
		dev_err("refused: %s", fs.answer.refused[i]);
	ex = fs.answer.nrefused > 0 ? EX_NOPERM : EX_OK;
out:
	dev_conn_close(&c);
	dev_keys_answer_release(&fs.answer);
	return ex;
}

/* keys [OPTIONS] fetch [OPTIONS] [FILTER...]: the subcommand word may come
 * after the connection options (-h HOST -p PORT keys fetch, as scripts
 * write them for every command). */
int dev_cmd_keys(struct dev_ctx *ctx, int argc, char **argv)
{
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int n = 0, found = 0, ex;

	if (args == NULL)
		return EX_OSERR;
	for (int i = 0; i < argc; i++) {
		int is_value = i > 0 && argv[i - 1][0] == '-' && argv[i - 1][1] != '\0' &&
		               argv[i - 1][2] == '\0' && strchr("hpiW", argv[i - 1][1]) != NULL;

		if (!found && i > 0 && !is_value && strcmp(argv[i], "fetch") == 0) {
			found = 1;
			continue;
		}
		args[n++] = argv[i];
	}
	ex = found ? keys_fetch(ctx, n, args) : dev_usage_cmd(argv[0]);
	free(args);
	return ex;
}
