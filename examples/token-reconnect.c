/* SPDX-License-Identifier: BSD-3-Clause */
/* token-reconnect.c - the libmosquitto reconnect loop with a fresh connect
 * token per attempt, as docs/broker-plugin.md ("Connect tokens", "Other
 * clients") shows it, as a program that runs: it connects with a token,
 * publishes "connect N" to TOPIC after each accepted CONNACK, and when the
 * connection drops, sets a fresh token in the disconnect callback, which
 * mosquitto_loop_forever() then reconnects with.  It stops after COUNT
 * accepted connections (exit 0), or on a refused CONNACK (exit 1).
 *
 *     token-reconnect CREDS HOST PORT TOPIC COUNT
 *
 * CREDS is a credentials file written by mqttsec-acl (device add) whose
 * broker accepts tokens ("connect_tokens": true); the client id is the
 * username followed by "-example".  Built by make check; run by
 * tests/integration/76-example-token-reconnect.sh. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <openssl/crypto.h>

#include "mqs_conntoken.h"
#include "mqs_creds.h"
#include "mqs_util.h"

struct ex_ctx {
	struct mqs_creds creds;
	char client_id[300];
	const char *topic;
	int count, connects, refused;
};

/* make_token(): a fresh token (new timestamp and nonce) into tok. */
static int make_token(struct ex_ctx *c, char tok[MQS_CONNTOKEN_TEXT_LEN + 1])
{
	return mqs_conntoken_make_secret(c->creds.totp_secret, c->creds.totp_secret_len,
	                                 c->creds.username, c->client_id, mqs_now_ms(), tok);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct ex_ctx *c = obj;
	char msg[64];

	if (rc != 0) {
		printf("refused: %s\n", mosquitto_connack_string(rc));
		c->refused = 1;
		mosquitto_disconnect(m);
		return;
	}
	c->connects++;
	printf("connected %d\n", c->connects);
	fflush(stdout);
	snprintf(msg, sizeof(msg), "connect %d", c->connects);
	(void)mosquitto_publish(m, NULL, c->topic, (int)strlen(msg), msg, 1, false);
	if (c->connects >= c->count)
		mosquitto_disconnect(m); /* loop_forever returns */
}

/* The docs' callback: a fresh token before the next attempt. */
static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	struct ex_ctx *c = obj;
	char tok[MQS_CONNTOKEN_TEXT_LEN + 1];

	(void)rc;
	if (make_token(c, tok) == MQS_OK)
		mosquitto_username_pw_set(m, c->creds.username, tok); /* before the next attempt */
	OPENSSL_cleanse(tok, sizeof(tok));
}

int main(int argc, char **argv)
{
	struct ex_ctx c;
	struct mosquitto *m = NULL;
	char tok[MQS_CONNTOKEN_TEXT_LEN + 1];
	char err[256] = "";
	int ex = 2;

	memset(&c, 0, sizeof(c));
	mqs_creds_init(&c.creds);
	if (argc != 6) {
		fprintf(stderr, "usage: token-reconnect CREDS HOST PORT TOPIC COUNT\n");
		return 2;
	}
	if (mqs_creds_load(argv[1], &c.creds, err, sizeof(err)) != MQS_OK || !c.creds.has_totp ||
	    c.creds.username == NULL) {
		fprintf(stderr, "token-reconnect: cannot load %s: %s\n", argv[1],
		        err[0] != '\0' ? err : "no username or TOTP secret");
		goto out;
	}
	snprintf(c.client_id, sizeof(c.client_id), "%s-example", c.creds.username);
	c.topic = argv[4];
	c.count = atoi(argv[5]);
	mosquitto_lib_init();
	m = mosquitto_new(c.client_id, true, &c);
	if (m == NULL || make_token(&c, tok) != MQS_OK)
		goto out;
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_disconnect_callback_set(m, on_disconnect);
	mosquitto_username_pw_set(m, c.creds.username, tok);
	OPENSSL_cleanse(tok, sizeof(tok));
	if (mosquitto_connect(m, argv[2], atoi(argv[3]), 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "token-reconnect: cannot connect to %s:%s\n", argv[2], argv[3]);
		goto out;
	}
	/* reconnects after each drop (libmosquitto's reconnect delay, 1 s by
	 * default); each attempt uses the token on_disconnect set */
	mosquitto_loop_forever(m, -1, 1);
	ex = c.refused ? 1 : 0;
out:
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	mqs_creds_release(&c.creds);
	return ex;
}
