/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-webhook.c - the webhook channel: the signature against a vector
 * computed independently, header values made safe, [channel webhook]
 * refusals, and (with python3) one signed POST and the outcome classes
 * against tests/tools/webhook_server.py on 127.0.0.1.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "gw_channel.h"
#include "gw_util.h"
#include "gw_webhook.h"
#include "mqs_error.h"
#include "tap.h"

#define SECRET "0123456789abcdef-secret"

struct kv_conf {
	const char *kv[16]; /* key, value, ..., NULL */
};

static const char *kv_get(const struct gw_chan_conf *c, const char *key)
{
	const struct kv_conf *k = c->priv;

	for (int i = 0; k->kv[i] != NULL; i += 2) {
		if (strcmp(k->kv[i], key) == 0)
			return k->kv[i + 1];
	}
	return NULL;
}

static struct gw_channel *make(struct kv_conf *k, char *err, size_t errlen)
{
	struct gw_chan_conf cc = {.get = kv_get, .priv = k, .spool_dir = NULL};

	err[0] = '\0';
	return gw_webhook_new(&cc, err, errlen);
}

static void test_sign(void)
{
	/* python3: hmac.new(b"0123456789abcdef-secret", b"v1\n1700000000\na-1\nalert\n"
	 * b"alerts/room%203\nsensor-7\n" + sha256(b'{"id":"a-1"}').hexdigest().encode(),
	 * hashlib.sha256).hexdigest() */
	static const char want1[] =
	    "v1=9a80c5429012f079bb5af510bdaa3bfef7f5a08ad4484b0d2f91548177710e22";
	/* the same with ts 42, id "id", kind "medical-join", topic "t", origin "o",
	 * empty body */
	static const char want2[] =
	    "v1=5fa5ded721d543d1b7069c178ec5aa739e419479a23de7b9dae1b4494b10260d";
	const char *body = "{\"id\":\"a-1\"}";
	char sig[68];

	tap_ok(gw_webhook_sign((const uint8_t *)SECRET, strlen(SECRET), 1700000000LL, "a-1",
	                       "alert", "alerts/room%203", "sensor-7", (const uint8_t *)body,
	                       strlen(body), sig) == MQS_OK &&
	           strcmp(sig, want1) == 0,
	       "signature matches the independent vector");
	tap_ok(gw_webhook_sign((const uint8_t *)SECRET, strlen(SECRET), 42, "id", "medical-join",
	                       "t", "o", NULL, 0, sig) == MQS_OK &&
	           strcmp(sig, want2) == 0,
	       "signature of an empty body");
	tap_ok(gw_webhook_sign((const uint8_t *)SECRET, strlen(SECRET), 42, "id", "medical-join",
	                       "t", "O", NULL, 0, sig) == MQS_OK &&
	           strcmp(sig, want2) != 0,
	       "every header is bound (origin)");
}

static void test_header_value(void)
{
	char out[64];

	tap_ok(gw_webhook_header_value("clinic/a/record", out, sizeof(out)) == MQS_OK &&
	           strcmp(out, "clinic/a/record") == 0,
	       "plain value kept");
	tap_ok(gw_webhook_header_value("a\r\nX-Evil: 1", out, sizeof(out)) == MQS_OK &&
	           strcmp(out, "a%0D%0AX-Evil:%201") == 0,
	       "CR LF and space encoded: %s", out);
	tap_ok(gw_webhook_header_value("caf\xc3\xa9 100%", out, sizeof(out)) == MQS_OK &&
	           strcmp(out, "caf%C3%A9%20100%25") == 0,
	       "non-ASCII and %% encoded: %s", out);
	tap_ok(gw_webhook_header_value(NULL, out, sizeof(out)) == MQS_OK && out[0] == '\0',
	       "NULL is empty");
	tap_ok(gw_webhook_header_value("\n\n\n\n\n\n", out, 10) == MQS_ERR_TOOBIG && out[0] == '\0',
	       "too long refused");
}

static void test_conf(void)
{
	struct kv_conf ok = {{"url", "https://ehr.example.org/ingest", "secret", SECRET, NULL}};
	struct kv_conf nosecret = {{"url", "https://ehr.example.org/ingest", NULL}};
	struct kv_conf shortsecret = {{"url", "https://ehr.example.org/", "secret", "abc", NULL}};
	struct kv_conf plain = {{"url", "http://ehr.example.org/ingest", "secret", SECRET, NULL}};
	struct kv_conf loop = {{"url", "http://127.0.0.1:9/x", "secret", SECRET, "cafile",
	                        "/nonexistent/ca.pem", NULL}};
	struct gw_channel *ch;
	char err[256];

	ch = make(&ok, err, sizeof(err));
	tap_ok(ch != NULL && strcmp(ch->ops->name, "webhook") == 0, "https url and secret: %s",
	       err);
	if (ch != NULL)
		ch->ops->free(ch);
	tap_ok(make(&nosecret, err, sizeof(err)) == NULL && strstr(err, "secret") != NULL,
	       "missing secret refused: %s", err);
	tap_ok(make(&shortsecret, err, sizeof(err)) == NULL && strstr(err, "secret") != NULL,
	       "short secret refused: %s", err);
	tap_ok(make(&plain, err, sizeof(err)) == NULL && strstr(err, "https") != NULL,
	       "http:// to another host refused: %s", err);
	ch = make(&loop, err, sizeof(err));
	tap_ok(ch != NULL, "http:// on loopback, cafile accepted: %s", err);
	if (ch != NULL)
		ch->ops->free(ch);
	tap_ok(gw_channel_type_find("webhook") != NULL &&
	           gw_channel_type_find("webhook")->chan == GW_CH_WEBHOOK,
	       "webhook row in the channel table");
}

/* Run one delivery synchronously. */
static void run(struct gw_channel *ch, const struct gw_delivery *d, struct gw_result *res)
{
	CURL *easy = curl_easy_init();
	struct gw_request *req = NULL;
	CURLcode cc;

	memset(res, 0, sizeof(*res));
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, 20L);
	if (ch->ops->prepare(ch, d, easy, &req, res) != MQS_OK) {
		curl_easy_cleanup(easy);
		return;
	}
	cc = curl_easy_perform(easy);
	ch->ops->finish(ch, req, easy, cc, res);
	ch->ops->request_free(req);
	curl_easy_cleanup(easy);
}

static int wait_file(const char *path)
{
	for (int i = 0; i < 200; i++) {
		struct stat st;

		if (stat(path, &st) == 0 && st.st_size > 0)
			return 1;
		usleep(50000);
	}
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void test_live(const char *srcdir)
{
	char dir[] = "/tmp/test-gw-webhook-XXXXXX";
	char portfile[300], tool[1024], url[128], path[400];
	const char *python = getenv("MQS_PYTHON") ? getenv("MQS_PYTHON") : "python3";
	static const uint8_t record[] = {0x00, 0x01, 0xff, 0x0d, 0x0a, 'r', 'e', 'c'};
	struct kv_conf kv = {{"url", url, "secret", SECRET, NULL}};
	struct gw_delivery d;
	struct gw_result res;
	struct gw_channel *ch = NULL;
	char err[256];
	char *log = NULL;
	char *got = NULL;
	pid_t pid;
	int port = 0;
	FILE *f;

	if (mkdtemp(dir) == NULL) {
		tap_skip(6, "no temp dir");
		return;
	}
	snprintf(portfile, sizeof(portfile), "%s/port", dir);
	snprintf(tool, sizeof(tool), "%s/tests/tools/webhook_server.py", srcdir);
	pid = fork();
	if (pid == 0) {
		execlp(python, python, tool, "--secret", SECRET, "--dir", dir, "--port-file",
		       portfile, "--fail-500", "1", "--fail-400-id", "bad-1", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || !wait_file(portfile)) {
		tap_skip(6, "cannot start webhook_server.py");
		goto out;
	}
	f = fopen(portfile, "r");
	if (f == NULL || fscanf(f, "%d", &port) != 1) {
		if (f != NULL)
			fclose(f);
		tap_skip(6, "no port");
		goto out;
	}
	fclose(f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/ingest", port);
	ch = make(&kv, err, sizeof(err));
	if (ch == NULL) {
		tap_skip(6, "no channel");
		goto out;
	}
	memset(&d, 0, sizeof(d));
	d.id = 1;
	d.msg_id = "00112233445566778899aabbccddeeff";
	d.channel = "webhook";
	d.recipient = "";
	d.kind = "medical-join";
	d.topic = "clinic/a b/record\r\n";
	d.origin = "vitals/dev-1";
	d.data = record;
	d.data_len = sizeof(record);
	run(ch, &d, &res);
	tap_is_int(res.outcome, GW_RETRY, "500 is retried (%s)", res.error);
	tap_is_int(res.retry_after, 1, "Retry-After honoured");
	run(ch, &d, &res);
	tap_is_int(res.outcome, GW_SENT, "then 2xx is sent (%s)", res.error);
	snprintf(path, sizeof(path), "%s/bodies/%s", dir, d.msg_id);
	got = slurp(path);
	tap_ok(got != NULL && memcmp(got, record, sizeof(record)) == 0,
	       "the server verified the signature and got the exact record bytes");
	d.msg_id = "bad-1";
	d.kind = "alert";
	d.data = NULL;
	d.body = "{\"id\":\"bad-1\"}";
	d.origin = ""; /* sent as an empty header, still signed */
	run(ch, &d, &res);
	tap_ok(res.outcome == GW_FAILED && strcmp(res.error, "http 400") == 0,
	       "400 fails, after the signature with an empty origin verified (%s)", res.error);
	snprintf(path, sizeof(path), "%s/requests.jsonl", dir);
	log = slurp(path);
	tap_ok(log != NULL && strstr(log, "\"verified\": false") == NULL &&
	           strstr(log, "\"topic\": \"clinic/a%20b/record%0D%0A\"") != NULL &&
	           strstr(log, "application/octet-stream") != NULL,
	       "every request verified; topic percent-encoded");
out:
	if (ch != NULL)
		ch->ops->free(ch);
	free(got);
	free(log);
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	snprintf(tool, sizeof(tool), "rm -rf '%s'", dir);
	if (system(tool) != 0)
		tap_diag("cannot remove %s", dir);
}

int main(void)
{
	const char *srcdir = getenv("top_srcdir") ? getenv("top_srcdir") : "..";

	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_sign();
	test_header_value();
	test_conf();
	test_live(srcdir);
	curl_global_cleanup();
	return tap_exit();
}
