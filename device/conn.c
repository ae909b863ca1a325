/* SPDX-License-Identifier: BSD-3-Clause */
/* conn.c - mqttsec-device's MQTT connection: TOTP code as password, a fresh
 * code (from a later time step) on every (re)connect, synchronous CONNACK.
 * When the credentials say the broker accepts connect tokens
 * (docs/broker-plugin.md, "Connect tokens"), a fresh token per attempt
 * instead, so a reconnect never waits for the next time step.
 * With --cafile or --capath the connection is MQTT over TLS, done by
 * libmosquitto (mosquitto_tls_set), as mosquitto_pub does.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "device.h"
#include "mqs_conntoken.h"
#include "mqs_error.h"
#include "mqs_totp.h"
#include "mqs_util.h"

/* CONNACK: note its reason code. */
static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
	struct dev_conn *c = obj;

	c->connack = rc;
	c->connected = rc == 0;
}

/* The connection is gone (asked for or lost). */
static void on_disconnect(struct mosquitto *mosq, void *obj, int rc,
                          const mosquitto_property *props)
{
	struct dev_conn *c = obj;

	c->connected = 0;
	c->disconnects++;
}

/* libmosquitto's log: keep the first error of a connection attempt (the
 * TLS library's reason for a failed handshake, never a payload or a
 * password) to explain the failure. */
static void on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	struct dev_conn *c = obj;

	if (level != MOSQ_LOG_ERR || str == NULL || c->tls_err[0] != '\0')
		return;
	snprintf(c->tls_err, sizeof(c->tls_err), "%s", str);
}

/* The broker refuses a code whose step is not later than the last one it
 * accepted for this device, so every run with the same credentials shares
 * the last step it used through CREDS.step (mode 0600, under flock): a
 * second run within one step waits for the next code instead of failing.
 * Returns an open, locked fd (or -1 when the file cannot be used: then only
 * this process's memory counts) and the stored step in *stored. */
static int step_file_open(struct dev_conn *c, int64_t *stored)
{
	char path[PATH_MAX];
	char buf[32];
	ssize_t n;
	int fd = -1;

	*stored = -1;
	if (c->ctx->creds_path == NULL ||
	    snprintf(path, sizeof(path), "%s.step", c->ctx->creds_path) >= (int)sizeof(path))
		goto out;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, S_IRUSR | S_IWUSR);
	if (fd < 0)
		goto out;
	if (flock(fd, LOCK_EX) != 0) {
		close(fd);
		fd = -1;
		goto out;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = 0;
		*stored = strtoll(buf, NULL, 10);
	}
out:
	return fd;
}

/* Record step in the step file and unlock it. */
static void step_file_close(int fd, int64_t step)
{
	char buf[32];
	int len;

	if (fd < 0)
		return;
	len = snprintf(buf, sizeof(buf), "%lld\n", (long long)step);
	if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)len, 0) != len)
		(void)0; /* best effort: the broker still refuses a replay */
	close(fd);       /* releases the lock */
}

/* Sleep ms milliseconds (signals may cut it short: callers loop). */
static void sleep_ms(uint64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* Set the password to a fresh connect token for the client id. */
static int set_fresh_token(struct dev_conn *c)
{
	const struct mqs_creds *cr = &c->ctx->creds;
	char tok[MQS_CONNTOKEN_TEXT_LEN + 1];
	int ex = EX_SOFTWARE;
	int rc;

	rc = mqs_conntoken_make_secret(cr->totp_secret, cr->totp_secret_len, cr->username, c->cid,
	                               mqs_now_ms(), tok);
	if (rc != MQS_OK) {
		dev_err("cannot make a connect token: %s", mqs_strerror(rc));
		goto out;
	}
	if (mosquitto_username_pw_set(c->mosq, cr->username, tok) != MOSQ_ERR_SUCCESS)
		goto out;
	ex = EX_OK;
out:
	OPENSSL_cleanse(tok, sizeof(tok));
	return ex;
}

/* The client id of a connection: client_id when given; with connect tokens
 * (which bind it) USERNAME-<8 random hex digits>, else NULL (libmosquitto
 * picks one).  EX_OK or EX_SOFTWARE (printed). */
static int client_id_choose(struct dev_conn *c, const char *client_id)
{
	const struct mqs_creds *cr = &c->ctx->creds;
	uint8_t rnd[4];
	char hex[9];
	size_t len;

	c->cid = NULL;
	if (client_id != NULL) {
		c->cid = strdup(client_id);
		goto out;
	}
	if (!cr->connect_tokens || cr->username == NULL)
		return EX_OK;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		dev_err("cannot make a client id: no random bytes");
		return EX_SOFTWARE;
	}
	mqs_hex_encode(rnd, sizeof(rnd), hex);
	len = strlen(cr->username) + 1 + sizeof(hex);
	c->cid = malloc(len);
	if (c->cid != NULL)
		snprintf(c->cid, len, "%s-%s", cr->username, hex);
out:
	if (c->cid == NULL) {
		dev_err("cannot make a client id: out of memory");
		return EX_SOFTWARE;
	}
	return EX_OK;
}

/* Set the password to a code from a time step later than the last one
 * used (the broker refuses a replayed step), waiting for it if needed: the
 * step comes from mqs_totp_step_choose(), the one step chooser. */
static int set_fresh_code(struct dev_conn *c)
{
	const struct mqs_creds *cr = &c->ctx->creds;
	char code[MQS_TOTP_CODE_MAX + 1];
	uint64_t now_ms;
	uint64_t wake_ms = 0;
	int64_t step;
	int64_t stored = -1;
	int told = 0;
	int fd = -1;
	int ex = EX_SOFTWARE;

	if (!cr->has_totp) {
		/* no TOTP: connect with the username only (e.g. a plain broker) */
		if (mosquitto_username_pw_set(c->mosq, cr->username, NULL) != MOSQ_ERR_SUCCESS)
			goto out;
		ex = EX_OK;
		goto out;
	}
	if (cr->connect_tokens) {
		ex = set_fresh_token(c);
		goto out;
	}
	fd = step_file_open(c, &stored);
	if (stored > c->last_step)
		c->last_step = stored;
	for (;;) {
		now_ms = mqs_now_ms();
		step = mqs_totp_step_choose(&cr->totp, now_ms, c->last_step, &wake_ms);
		if (step >= 0)
			break;
		/* sleep to the start of the next step */
		if (!c->quiet && !told)
			fprintf(stderr, DEV_PROG ": waiting %ld s for a fresh one-time code\n",
			        (long)((wake_ms - now_ms + 999) / 1000));
		told = 1;
		sleep_ms(wake_ms - now_ms);
	}
	if (mqs_totp_generate(cr->totp_secret, cr->totp_secret_len, &cr->totp,
	                      (time_t)(now_ms / 1000), code, sizeof(code)) != MQS_OK) {
		dev_err("cannot compute one-time code");
		goto out;
	}
	c->last_step = step;
	step_file_close(fd, step);
	fd = -1;
	if (mosquitto_username_pw_set(c->mosq, cr->username, code) != MOSQ_ERR_SUCCESS)
		goto out;
	ex = EX_OK;
out:
	step_file_close(fd, c->last_step);
	OPENSSL_cleanse(code, sizeof(code));
	return ex;
}

/* TLS as net asks (docs: mqttsec-device(1), "TLS"): verify the broker's
 * certificate with the CA, and its host name unless --insecure. */
static int tls_setup(struct dev_conn *c, const struct dev_net_opts *net)
{
	int ex = EX_CONFIG;
	int rc;

	c->tls = 1;
	rc = mosquitto_tls_set(c->mosq, net->cafile, net->capath, net->cert, net->key, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		dev_err("cannot set up tls: %s", mosquitto_strerror(rc));
		goto out;
	}
	rc = mosquitto_tls_opts_set(c->mosq, 1 /* SSL_VERIFY_PEER */, net->tls_version, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		dev_err("cannot set up tls: %s", mosquitto_strerror(rc));
		goto out;
	}
	rc = mosquitto_tls_insecure_set(c->mosq, net->insecure ? true : false);
	if (rc != MOSQ_ERR_SUCCESS) {
		dev_err("cannot set up tls: %s", mosquitto_strerror(rc));
		goto out;
	}
	ex = EX_OK;
out:
	return ex;
}

/* The reason in a libmosquitto TLS error line, without its prefixes
 * ("OpenSSL Error[0]: error:0A000086:SSL routines::", "Error: ") and its
 * final full stop, into out. */
static void tls_reason(const char *line, char *out, size_t cap)
{
	const char *r = line;
	const char *p = strstr(r, "::");
	size_t n;

	while (p != NULL) {
		r = p + 2;
		p = strstr(r, "::");
	}
	if (strncmp(r, "Error: ", 7) == 0)
		r += 7;
	snprintf(out, cap, "%s", r);
	n = strlen(out);
	if (n > 0 && out[n - 1] == '.')
		out[n - 1] = '\0';
}

/* Print why mosquitto_connect() failed with rc (docs/broker-plugin.md,
 * "TLS"). */
static void connect_error(struct dev_conn *c, int rc, int err)
{
	const char *why = rc == MOSQ_ERR_ERRNO ? strerror(err) : mosquitto_strerror(rc);
	char reason[sizeof(c->tls_err)];

	tls_reason(c->tls_err, reason, sizeof(reason));
	if (!c->tls)
		dev_err("cannot connect to %s:%d: %s", c->host, c->port, why);
	else if (strstr(reason, "certificate verify failed") != NULL)
		dev_err("cannot connect to %s:%d: tls handshake failed: %s (the broker's "
		        "certificate is not signed by a CA of --cafile/--capath)",
		        c->host, c->port, reason);
	else if (strstr(reason, "host name verification failed") != NULL)
		dev_err("cannot connect to %s:%d: tls handshake failed: %s (the broker's "
		        "certificate is not for host %s; --insecure skips this check)",
		        c->host, c->port, reason, c->host);
	else if (strstr(reason, "certificate required") != NULL ||
	         strstr(reason, "handshake failure") != NULL)
		dev_err("cannot connect to %s:%d: tls handshake failed: %s (the broker wants a "
		        "client certificate: --cert and --key)",
		        c->host, c->port, reason);
	else if (reason[0] != '\0')
		dev_err("cannot connect to %s:%d: tls handshake failed: %s", c->host, c->port,
		        reason);
	else if (rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_PROTOCOL || rc == MOSQ_ERR_CONN_LOST ||
	         (rc == MOSQ_ERR_ERRNO && (err == EPROTO || err == ECONNRESET)))
		dev_err("cannot connect to %s:%d: tls handshake failed: %s (does the broker "
		        "want a client certificate, --cert and --key?)",
		        c->host, c->port, why);
	else
		dev_err("cannot connect to %s:%d: %s", c->host, c->port, why);
}

/* Run the network loop until the CONNACK or timeout_s seconds. */
static int wait_connack(struct dev_conn *c, int timeout_s)
{
	time_t end = time(NULL) + timeout_s;
	int last = MOSQ_ERR_SUCCESS;

	c->connack = -1;
	while (c->connack < 0 && time(NULL) < end) {
		int rc = mosquitto_loop(c->mosq, 200, 1);
		if (rc != MOSQ_ERR_SUCCESS && c->connack < 0) {
			if (last == MOSQ_ERR_SUCCESS)
				last = rc;
			if (rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NO_CONN)
				break;
		}
	}
	if (c->connack < 0) {
		/* over TLS the handshake may end here: say why it failed */
		if (c->tls && (last != MOSQ_ERR_SUCCESS || c->tls_err[0] != '\0'))
			connect_error(c, last != MOSQ_ERR_SUCCESS ? last : MOSQ_ERR_TLS, 0);
		else
			dev_err("cannot connect to %s:%d: no answer from the broker", c->host,
			        c->port);
		return EX_UNAVAILABLE;
	}
	if (c->connack != 0) {
		dev_err("cannot connect to %s:%d: %s", c->host, c->port,
		        mosquitto_reason_string(c->connack));
		return EX_NOPERM;
	}
	return EX_OK;
}

/* Connect (first time). */
int dev_conn_open(struct dev_conn *c, struct dev_ctx *ctx, const struct dev_net_opts *net,
                  int clean)
{
	int ex = EX_SOFTWARE;
	int rc;

	c->ctx = ctx;
	c->host = net->host;
	c->port = net->port;
	c->last_step = -1;
	c->tls = 0;
	c->tls_err[0] = '\0';
	mosquitto_lib_init();
	ex = client_id_choose(c, net->client_id);
	if (ex != EX_OK)
		goto out;
	ex = EX_SOFTWARE;
	c->mosq = mosquitto_new(c->cid, clean ? true : false, c);
	if (c->mosq == NULL) {
		dev_err("cannot create mqtt client: %s", strerror(errno));
		goto out;
	}
	mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_connect_v5_callback_set(c->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(c->mosq, on_disconnect);
	mosquitto_log_callback_set(c->mosq, on_log);
	if (net->cafile != NULL || net->capath != NULL) {
		ex = tls_setup(c, net);
		if (ex != EX_OK)
			goto out;
	}
	ex = set_fresh_code(c);
	if (ex != EX_OK)
		goto out;
	rc = mosquitto_connect(c->mosq, c->host, c->port, 30);
	if (rc != MOSQ_ERR_SUCCESS) {
		connect_error(c, rc, errno);
		ex = EX_UNAVAILABLE;
		goto out;
	}
	ex = wait_connack(c, 15);
out:
	return ex;
}

/* Reconnect with a fresh code (or token: at once); backoff between tries. */
int dev_conn_reconnect(struct dev_conn *c)
{
	unsigned delay = 1;

	for (int attempt = 0; attempt < 1000; attempt++) {
		int ex = set_fresh_code(c);
		if (ex != EX_OK)
			return ex;
		c->tls_err[0] = '\0';
		if (mosquitto_reconnect(c->mosq) == MOSQ_ERR_SUCCESS &&
		    wait_connack(c, 15) == EX_OK)
			return EX_OK;
		sleep(delay);
		delay = delay < 30 ? delay * 2 : 30;
	}
	return EX_UNAVAILABLE;
}

/* Disconnect and free. */
void dev_conn_close(struct dev_conn *c)
{
	if (c->mosq != NULL) {
		if (c->connected) {
			mosquitto_disconnect(c->mosq);
			for (int i = 0; i < 10 && c->connected; i++)
				mosquitto_loop(c->mosq, 50, 1);
		}
		mosquitto_destroy(c->mosq);
		c->mosq = NULL;
	}
	free(c->cid);
	c->cid = NULL;
	mosquitto_lib_cleanup();
}
