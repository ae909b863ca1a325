/* SPDX-License-Identifier: BSD-3-Clause */
/* test-gw-channels.c - the gateway's delivery channels against real local
 * servers: tests/tools/fake_provider.py (Twilio / LINE stand-in) and
 * tests/tools/smtp_recorder.py (aiosmtpd).  Each delivery runs through a
 * curl multi handle the way the engine drives it; the test then checks the
 * request the server recorded (the shapes of docs/channels.md) and the outcome class.
 *
 * Needs python3 with aiosmtpd (Debian python3-aiosmtpd; $MQS_PYTHON or
 * /usr/bin/python3) and openssl(1) for the TLS cases; skips what is missing.
 * Only 127.0.0.1; every wait is bounded; every server started is killed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "gw_channel.h"
#include "gw_email.h"
#include "gw_line.h"
#include "gw_text.h"
#include "gw_twilio.h"
#include "mqs_util.h"
#include "tap.h"

#define WAIT_MS 10000
#define UUID1   "0b8b6c3e-4b5a-4d5e-9f1a-2c3d4e5f6a7b"
#define UUID2   "1c9c7d4f-5c6b-4e6f-8a2b-3d4e5f6a7b8c"
#define PHONE   "+15551230001"
#define LINEID  "U0123456789abcdef0123456789abcdef"

static char tmpdir[64];
static const char *srcdir;
static const char *python;
static pid_t kids[8];
static int nkids;
static CURLM *multi;

/* ------------------------------------------------------------------ */
/* processes and files */

/* Kill every server this test started. */
static void kill_kids(void)
{
	int i;

	for (i = 0; i < nkids; i++) {
		int waited = 0;

		if (kids[i] <= 0)
			continue;
		kill(kids[i], SIGTERM);
		while (waitpid(kids[i], NULL, WNOHANG) == 0 && waited < 5000) {
			usleep(20000);
			waited += 20;
		}
		if (waited >= 5000) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
		kids[i] = 0;
	}
	nkids = 0;
}

/* Kill one server early. */
static void kill_kid(pid_t pid)
{
	int i;

	for (i = 0; i < nkids; i++) {
		if (kids[i] == pid) {
			int waited = 0;

			kill(pid, SIGTERM);
			while (waitpid(pid, NULL, WNOHANG) == 0 && waited < 5000) {
				usleep(20000);
				waited += 20;
			}
			if (waited >= 5000) {
				kill(pid, SIGKILL);
				waitpid(pid, NULL, 0);
			}
			kids[i] = 0;
		}
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* atexit: servers down, temp folder gone (kept with KEEP_TMP=1). */
static void cleanup(void)
{
	kill_kids();
	if (tmpdir[0] != '\0' && getenv("KEEP_TMP") == NULL)
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Path of name in the temp folder (static buffer rotation). */
static const char *tpath(const char *name)
{
	static char bufs[8][512];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, 512, "%s/%s", tmpdir, name);
	return b;
}

/* Write text to a file (atomically, so a polling reader never sees half). */
static void put_file(const char *path, const char *text)
{
	char tmp[600];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

/* Whole file as a new string, or NULL. */
static char *slurp(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;

	if (mqs_file_read(path, 1 << 24, 0, &data, &len) != 0)
		return NULL;
	return (char *)data;
}

/* Start python TOOL ARGS... (NULL-terminated) with its output in
 * <tmp>/<logname>; wait until it writes portfile.  Returns the port or -1. */
static int start_tool(const char *tool, const char *logname, const char *portfile, pid_t *pidp, ...)
{
	const char *argv[32];
	char script[512];
	va_list ap;
	int argc = 0;
	int waited;
	pid_t pid;

	snprintf(script, sizeof(script), "%s/tests/tools/%s", srcdir, tool);
	argv[argc++] = python;
	argv[argc++] = script;
	argv[argc++] = "--port-file";
	argv[argc++] = portfile;
	va_start(ap, pidp);
	while (argc < 31) {
		const char *a = va_arg(ap, const char *);

		if (a == NULL)
			break;
		argv[argc++] = a;
	}
	va_end(ap);
	argv[argc] = NULL;
	unlink(portfile);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(tpath(logname), O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(python, (char *const *)argv);
		_exit(127);
	}
	kids[nkids++] = pid;
	*pidp = pid;
	for (waited = 0; waited < WAIT_MS; waited += 20) {
		char *p = slurp(portfile);

		if (p != NULL) {
			int port = atoi(p);

			free(p);
			if (port > 0)
				return port;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			kids[nkids - 1] = 0;
			return -1;
		}
		usleep(20000);
	}
	return -1;
}

/* A loopback port nobody listens on (bound, then closed). */
static int dead_port(void)
{
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* ------------------------------------------------------------------ */
/* config and the mini engine */

struct kv_conf {
	const char *kv[24]; /* key, value, ..., NULL */
};

static const char *kv_get(const struct gw_chan_conf *c, const char *key)
{
	const struct kv_conf *k = c->priv;
	int i;

	for (i = 0; k->kv[i] != NULL; i += 2) {
		if (strcmp(k->kv[i], key) == 0)
			return k->kv[i + 1];
	}
	return NULL;
}

/* Run one delivery the way the engine does (easy + multi, PRIVATE set). */
static void run(struct gw_channel *ch, const struct gw_delivery *d, struct gw_result *res)
{
	struct gw_request *req = NULL;
	CURLcode cc = CURLE_FAILED_INIT;
	CURL *easy;
	int running = 1;
	int done = 0;
	time_t deadline = time(NULL) + 60;

	memset(res, 0, sizeof(*res));
	if (ch->ops->deliver != NULL) {
		ch->ops->deliver(ch, d, res);
		return;
	}
	easy = curl_easy_init();
	curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)d);
	if (ch->ops->prepare(ch, d, easy, &req, res) != 0) {
		ch->ops->request_free(req);
		curl_easy_cleanup(easy);
		return;
	}
	curl_multi_add_handle(multi, easy);
	while (!done && time(NULL) < deadline) {
		CURLMsg *m;
		int left;

		curl_multi_perform(multi, &running);
		for (m = curl_multi_info_read(multi, &left); m != NULL;
		     m = curl_multi_info_read(multi, &left)) {
			if (m->msg == CURLMSG_DONE && m->easy_handle == easy) {
				cc = m->data.result;
				done = 1;
			}
		}
		if (!done)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	curl_multi_remove_handle(multi, easy);
	if (!done)
		cc = CURLE_OPERATION_TIMEDOUT;
	ch->ops->finish(ch, req, easy, cc, res);
	ch->ops->request_free(req);
	curl_easy_cleanup(easy);
}

/* The n-th (1-based) request recorded in the JSON-lines log, or NULL. */
static cJSON *logged(const char *log, int n)
{
	char *text = slurp(log);
	char *line;
	char *save = NULL;
	cJSON *j = NULL;
	int i = 0;

	if (text == NULL)
		return NULL;
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (++i == n) {
			j = cJSON_Parse(line);
			break;
		}
	}
	free(text);
	return j;
}

/* Number of lines in a log. */
static int log_count(const char *log)
{
	char *text = slurp(log);
	int n = 0;
	char *p;

	if (text == NULL)
		return 0;
	for (p = text; *p != '\0'; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* String at j.a[.b] or "" */
static const char *js(const cJSON *j, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);

	if (b != NULL)
		x = cJSON_GetObjectItemCaseSensitive(x, b);
	return cJSON_IsString(x) ? x->valuestring : "";
}

static int streq(const char *a, const char *b)
{
	int ok = a != NULL && b != NULL && strcmp(a, b) == 0;

	if (!ok)
		tap_diag("     got: %s\n    want: %s", a != NULL ? a : "(null)",
		         b != NULL ? b : "(null)");
	return ok;
}

static const char *outcome_str(int o)
{
	return o == GW_SENT ? "sent" : o == GW_RETRY ? "retry" : o == GW_FAILED ? "failed" : "?";
}

static int is_outcome(const struct gw_result *r, int want, const char *what)
{
	int ok = r->outcome == want;

	tap_ok(ok, "%s: %s", what, outcome_str(want));
	if (!ok)
		tap_diag("got %s (%s)", outcome_str(r->outcome), r->error);
	return ok;
}

/* ------------------------------------------------------------------ */
/* pure helpers */

static void test_text(void)
{
	char *s;

	s = gw_text_join("a\xff"
	                 "b",
	                 "\n", "c\r\nd\x01", 0, 0);
	tap_ok(s != NULL && streq(s, "a\xef\xbf\xbd"
	                             "b\nc\nd "),
	       "text: invalid byte -> U+FFFD, CR dropped, controls -> space");
	free(s);
	s = gw_text_join("t", "\n", "x\ny\tz", 0, GW_TEXT_ONELINE);
	tap_ok(s != NULL && streq(s, "t x y z"), "text: oneline");
	free(s);
	s = gw_text_join("", "\n", "body", 0, 0);
	tap_ok(s != NULL && streq(s, "body"), "text: no separator without a title");
	free(s);
	/* 3 emoji = 6 UTF-16 units; cap 5 -> 1 emoji (2) ... cut + ellipsis */
	s = gw_text_join("\xf0\x9f\x94\xa5\xf0\x9f\x94\xa5\xf0\x9f\x94\xa5", NULL, NULL, 5, 0);
	tap_ok(s != NULL && streq(s, "\xf0\x9f\x94\xa5\xf0\x9f\x94\xa5\xe2\x80\xa6"),
	       "text: cap counts UTF-16 units and ends with an ellipsis");
	free(s);
	s = gw_text_join("abcde", NULL, NULL, 5, 0);
	tap_ok(s != NULL && streq(s, "abcde"), "text: exactly at the cap is not cut");
	free(s);
}

static void test_pure(void)
{
	struct gw_delivery d = {0};
	char *s;
	char big[6000];
	char *subj;

	d.title = "Temp <high> & \"hot\"";
	d.body = "it's 41\nC";
	s = gw_phone_twiml(&d);
	tap_ok(s != NULL && streq(s, "<Response><Say>Temp &lt;high&gt; &amp; &quot;hot&quot;. "
	                             "it&apos;s 41 C</Say></Response>"),
	       "phone: TwiML text XML-escaped (<, >, &, quotes)");
	free(s);
	memset(big, '&', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	d.body = big;
	s = gw_phone_twiml(&d);
	tap_ok(s != NULL && strlen(s) <= GW_PHONE_TWIML_MAX &&
	           strcmp(s + strlen(s) - 17, "</Say></Response>") == 0 &&
	           strstr(s, "&am</") == NULL,
	       "phone: TwiML capped at %d bytes, whole entities only", GW_PHONE_TWIML_MAX);
	free(s);

	memset(big, 'x', sizeof(big) - 1);
	d.title = "T";
	d.body = big;
	s = gw_sms_text(&d);
	tap_ok(s != NULL && strlen(s) == 1599 + 3 && strncmp(s, "T\nxxx", 5) == 0,
	       "sms: body capped at 1600 characters (1599 + ellipsis)");
	free(s);

	d.address = LINEID;
	s = gw_line_body(&d);
	{
		cJSON *j = s != NULL ? cJSON_Parse(s) : NULL;
		const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
		const char *t = js(m, "text", NULL);
		size_t units = 0;
		size_t i;

		for (i = 0; t[i] != '\0'; i++)
			units += ((unsigned char)t[i] & 0xc0) != 0x80;
		tap_ok(units == GW_LINE_MAX_UNITS, "line: text capped at 5000 characters (got %zu)",
		       units);
		cJSON_Delete(j);
	}
	free(s);
	tap_ok(gw_line_uuid_ok(UUID1) && !gw_line_uuid_ok("not-a-uuid") &&
	           !gw_line_uuid_ok("0b8b6c3e-4b5a-4d5e-9f1a-2c3d4e5f6a7bX"),
	       "line: retry key must be a UUID");

	tap_ok(gw_twilio_e164_ok("+15551230001") && !gw_twilio_e164_ok("15551230001") &&
	           !gw_twilio_e164_ok("+1555") && !gw_twilio_e164_ok("+1 555 123"),
	       "twilio: E.164 check");
	tap_ok(gw_email_addr_ok("ops@example.com") && !gw_email_addr_ok("a b@x") &&
	           !gw_email_addr_ok("x@y\r\nBcc: z@w") && !gw_email_addr_ok("<a@b>") &&
	           !gw_email_addr_ok("@x") && !gw_email_addr_ok("a@b@c"),
	       "email: address check");

	subj = gw_email_subject("Server room hot");
	tap_ok(subj != NULL && streq(subj, "Subject: Server room hot"), "email: ascii subject");
	free(subj);
	subj = gw_email_subject("Caf\xc3\xa9");
	tap_ok(subj != NULL && streq(subj, "Subject: =?UTF-8?B?Q2Fmw6k=?="),
	       "email: RFC 2047 subject");
	free(subj);
	subj = gw_email_subject("a\r\nBcc: evil@example.com");
	tap_ok(subj != NULL && strchr(subj, '\n') == NULL && strchr(subj, '\r') == NULL,
	       "email: subject cannot inject headers");
	free(subj);
	{
		char date[64];

		gw_email_date(0, date, sizeof(date));
		tap_ok(streq(date, "Date: Thu, 01 Jan 1970 00:00:00 +0000"), "email: date format");
	}
}

static int has_key(const char *const *keys, const char *k)
{
	for (; *keys != NULL; keys++) {
		if (strcmp(*keys, k) == 0)
			return 1;
	}
	return 0;
}

static void test_keys_and_conf(void)
{
	struct kv_conf k = {{"url", "http://api.example.com", "account_sid", "AC1", "auth_token",
	                     "t", "from", "+15550000000", NULL}};
	struct gw_chan_conf conf = {kv_get, &k, NULL};
	struct gw_channel *ch;
	char err[256] = "";

	tap_ok(has_key(gw_email_keys, "url") && has_key(gw_email_keys, "from") &&
	           has_key(gw_email_keys, "tls") && has_key(gw_sms_keys, "account_sid") &&
	           has_key(gw_sms_keys, "auth_token") && has_key(gw_phone_keys, "from") &&
	           has_key(gw_line_keys, "token") && !has_key(gw_line_keys, "from"),
	       "key arrays list the documented keys");

	ch = gw_sms_new(&conf, err, sizeof(err));
	tap_ok(ch == NULL && strstr(err, "https") != NULL,
	       "sms: plain http to a remote host is refused (%s)", err);
	k.kv[1] = "https://api.example.com";
	k.kv[2] = "nope";
	ch = gw_sms_new(&conf, err, sizeof(err));
	tap_ok(ch == NULL && streq(err, "[channel sms] missing account_sid"),
	       "sms: missing account_sid refused");

	{
		struct kv_conf e = {{"url", "smtp://mail.example.com", "from", "a@example.com",
		                     "username", "u", "password", "p", NULL}};
		struct gw_chan_conf ec = {kv_get, &e, NULL};

		ch = gw_email_new(&ec, err, sizeof(err));
		tap_ok(ch == NULL && strstr(err, "tls = required") != NULL,
		       "email: password over opportunistic STARTTLS refused");
		e.kv[8] = "tls";
		e.kv[9] = "required";
		e.kv[10] = NULL;
		ch = gw_email_new(&ec, err, sizeof(err));
		tap_ok(ch != NULL, "email: password with tls = required accepted");
		if (ch != NULL)
			ch->ops->free(ch);
		e.kv[3] = "not an address";
		ch = gw_email_new(&ec, err, sizeof(err));
		tap_ok(ch == NULL, "email: bad from refused (%s)", err);
		e.kv[1] = "http://mail.example.com";
		e.kv[3] = "a@example.com";
		ch = gw_email_new(&ec, err, sizeof(err));
		tap_ok(ch == NULL && strstr(err, "scheme") != NULL, "email: http url refused");
	}
}

/* ------------------------------------------------------------------ */
/* Twilio SMS / phone */

static void test_twilio(int port)
{
	char url[64];
	const char *log = tpath("http.jsonl");
	const char *script = tpath("http.script");
	struct kv_conf k = {{"url", url, "account_sid", "ACtest", "auth_token", "s3cret", "from",
	                     "+15550000000", NULL}};
	struct gw_chan_conf conf = {kv_get, &k, NULL};
	struct gw_delivery d = {.id = 7,
	                        .msg_id = "a-1001",
	                        .channel = "sms",
	                        .recipient = "alice",
	                        .address = PHONE,
	                        .severity = "critical",
	                        .title = "Server room hot",
	                        .body = "41.5 C in room 3 & rising",
	                        .retry_key = UUID1,
	                        .attempt = 1};
	struct gw_channel *sms;
	struct gw_channel *phone;
	struct gw_result r;
	char err[256] = "";
	cJSON *j;
	int base;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	sms = gw_sms_new(&conf, err, sizeof(err));
	phone = gw_phone_new(&conf, err, sizeof(err));
	if (!tap_ok(sms != NULL && phone != NULL, "twilio: channels built (%s)", err))
		return;

	put_file(script, "Messages.json 500,500,201\nCalls.json 201\n");
	base = log_count(log);
	run(sms, &d, &r);
	is_outcome(&r, GW_RETRY, "sms 500 (1st)");
	tap_ok(strncmp(r.error, "http 500", 8) == 0, "sms 500: error text (%s)", r.error);
	d.attempt = 2;
	run(sms, &d, &r);
	is_outcome(&r, GW_RETRY, "sms 500 (2nd)");
	d.attempt = 3;
	run(sms, &d, &r);
	is_outcome(&r, GW_SENT, "sms 201 after two 500s");
	tap_ok(strncmp(r.provider_ref, "SM", 2) == 0 && strlen(r.provider_ref) == 34,
	       "sms: provider_ref is the sid (%s)", r.provider_ref);
	tap_is_int(log_count(log) - base, 3, "sms: three requests");

	j = logged(log, base + 3);
	tap_ok(streq(js(j, "method", NULL), "POST") &&
	           streq(js(j, "path", NULL), "/2010-04-01/Accounts/ACtest/Messages.json"),
	       "sms: POST {url}/2010-04-01/Accounts/{sid}/Messages.json");
	/* base64("ACtest:s3cret") */
	tap_ok(streq(js(j, "headers", "authorization"), "Basic QUN0ZXN0OnMzY3JldA=="),
	       "sms: HTTP Basic account_sid:auth_token");
	tap_ok(strncmp(js(j, "headers", "content-type"), "application/x-www-form-urlencoded", 33) ==
	           0,
	       "sms: form-encoded");
	tap_ok(strstr(js(j, "body", NULL), "To=%2B15551230001") != NULL &&
	           strstr(js(j, "body", NULL), "From=%2B15550000000") != NULL,
	       "sms: + encoded as %%2B");
	tap_ok(streq(js(j, "form", "To"), PHONE) && streq(js(j, "form", "From"), "+15550000000") &&
	           streq(js(j, "form", "Body"), "Server room hot\n41.5 C in room 3 & rising"),
	       "sms: form fields To, From, Body = title + body");
	cJSON_Delete(j);

	put_file(script, "Messages.json 429;ra=7\n");
	run(sms, &d, &r);
	is_outcome(&r, GW_RETRY, "sms 429");
	tap_is_int(r.retry_after, 7, "sms 429: Retry-After parsed");

	put_file(script, "Messages.json 503;ra=2\n");
	run(sms, &d, &r);
	tap_ok(r.outcome == GW_RETRY && r.retry_after == 2, "sms 503 with Retry-After: retry, 2 s");

	put_file(script, "Messages.json 400;code=21610\n");
	base = log_count(log);
	run(sms, &d, &r);
	is_outcome(&r, GW_FAILED, "sms 400 (21610)");
	tap_ok(strstr(r.error, "21610") != NULL && strstr(r.error, "opted out") != NULL &&
	           strstr(r.error, "555") == NULL,
	       "sms 400: error names 21610 opt-out, no number (%s)", r.error);

	put_file(script, "Messages.json 401;code=20003\n");
	run(sms, &d, &r);
	is_outcome(&r, GW_FAILED, "sms 401");

	d.address = "5551230001";
	run(sms, &d, &r);
	is_outcome(&r, GW_FAILED, "sms: non-E.164 address");
	tap_is_int(log_count(log) - base, 2, "sms: invalid address sends nothing");
	d.address = PHONE;

	/* phone */
	d.channel = "phone";
	d.title = "Alarm <A&B>";
	d.body = "Door \"3\" open, it's late";
	base = log_count(log);
	run(phone, &d, &r);
	is_outcome(&r, GW_SENT, "phone 201");
	tap_ok(strncmp(r.provider_ref, "CA", 2) == 0, "phone: provider_ref is the call sid");
	j = logged(log, base + 1);
	tap_ok(streq(js(j, "path", NULL), "/2010-04-01/Accounts/ACtest/Calls.json") &&
	           streq(js(j, "headers", "authorization"), "Basic QUN0ZXN0OnMzY3JldA=="),
	       "phone: POST .../Calls.json with the same auth");
	tap_ok(streq(js(j, "form", "To"), PHONE) && streq(js(j, "form", "From"), "+15550000000"),
	       "phone: To, From");
	tap_ok(streq(js(j, "form", "Twiml"),
	             "<Response><Say>Alarm &lt;A&amp;B&gt;. Door &quot;3&quot; open, "
	             "it&apos;s late</Say></Response>"),
	       "phone: Twiml = <Response><Say>escaped</Say></Response>");
	cJSON_Delete(j);

	sms->ops->free(sms);
	phone->ops->free(phone);
}

/* ------------------------------------------------------------------ */
/* LINE */

static void test_line(int port)
{
	char url[64];
	const char *log = tpath("http.jsonl");
	const char *script = tpath("http.script");
	struct kv_conf k = {{"url", url, "token", "chanTok3n/+=", "timeout", "2", NULL}};
	struct gw_chan_conf conf = {kv_get, &k, NULL};
	struct gw_delivery d = {.id = 9,
	                        .msg_id = "a-1002",
	                        .channel = "line",
	                        .recipient = "bob",
	                        .address = LINEID,
	                        .severity = "warning",
	                        .title = "Door open",
	                        .body = "\"Lab\" door \xe2\x80\x94 3 min",
	                        .retry_key = UUID2,
	                        .attempt = 1};
	struct gw_channel *ln;
	struct gw_result r;
	char err[256] = "";
	char ref[128];
	cJSON *j;
	cJSON *j2;
	int base;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	ln = gw_line_new(&conf, err, sizeof(err));
	if (!tap_ok(ln != NULL, "line: channel built (%s)", err))
		return;

	put_file(script, "/v2/bot/message/push 500,200\n");
	base = log_count(log);
	run(ln, &d, &r);
	is_outcome(&r, GW_RETRY, "line 500");
	d.attempt = 2;
	run(ln, &d, &r);
	is_outcome(&r, GW_SENT, "line 200 after 500");
	tap_ok(r.provider_ref[0] != '\0', "line: provider_ref from sentMessages (%s)",
	       r.provider_ref);
	j = logged(log, base + 1);
	j2 = logged(log, base + 2);
	tap_ok(streq(js(j, "method", NULL), "POST") &&
	           streq(js(j, "path", NULL), "/v2/bot/message/push"),
	       "line: POST {url}/v2/bot/message/push");
	tap_ok(streq(js(j, "headers", "authorization"), "Bearer chanTok3n/+="),
	       "line: Authorization: Bearer token");
	tap_ok(streq(js(j, "headers", "content-type"), "application/json"),
	       "line: Content-Type: application/json");
	tap_ok(streq(js(j, "headers", "x-line-retry-key"), UUID2) &&
	           streq(js(j2, "headers", "x-line-retry-key"), UUID2),
	       "line: X-Line-Retry-Key is the delivery's UUID on every attempt");
	tap_ok(streq(js(j2, "body", NULL),
	             "{\"to\":\"" LINEID "\",\"messages\":[{\"type\":\"text\","
	             "\"text\":\"Door open\\n\\\"Lab\\\" door \xe2\x80\x94 "
	             "3 min\"}]}"),
	       "line: JSON body {to, messages: [{type: text, text}]}");
	cJSON_Delete(j);
	cJSON_Delete(j2);

	/* the same retry key again: the provider says 409 = already accepted */
	d.attempt = 3;
	snprintf(ref, sizeof(ref), "%s", r.provider_ref);
	run(ln, &d, &r);
	is_outcome(&r, GW_SENT, "line 409 (retry key already accepted)");
	tap_ok(r.provider_ref[0] != '\0' && r.error[0] == '\0',
	       "line 409: accepted request id as reference (%s)", r.provider_ref);

	d.retry_key = UUID1;
	put_file(script, "/v2/bot/message/push 429;ra=5\n");
	run(ln, &d, &r);
	tap_ok(r.outcome == GW_RETRY && r.retry_after == 5, "line 429: retry after 5 s");
	put_file(script, "/v2/bot/message/push 400\n");
	run(ln, &d, &r);
	is_outcome(&r, GW_FAILED, "line 400");
	tap_ok(streq(r.error, "http 400"), "line 400: error text");
	put_file(script, "/v2/bot/message/push 403\n");
	run(ln, &d, &r);
	is_outcome(&r, GW_FAILED, "line 403");
	put_file(script, "/v2/bot/message/push 200;delay=4\n");
	run(ln, &d, &r);
	is_outcome(&r, GW_RETRY, "line: timeout");
	tap_ok(strstr(r.error, "curl:") != NULL, "line timeout: error text (%s)", r.error);

	base = log_count(log);
	d.retry_key = "12345";
	run(ln, &d, &r);
	is_outcome(&r, GW_FAILED, "line: retry key not a UUID");
	d.retry_key = UUID1;
	d.address = "U123\"},{\"to\":\"x";
	run(ln, &d, &r);
	is_outcome(&r, GW_FAILED, "line: malformed user id");
	tap_is_int(log_count(log) - base, 0, "line: nothing sent for bad input");

	ln->ops->free(ln);

	/* server down */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", dead_port());
	ln = gw_line_new(&conf, err, sizeof(err));
	d.address = LINEID;
	if (ln != NULL) {
		run(ln, &d, &r);
		is_outcome(&r, GW_RETRY, "line: connection refused");
		ln->ops->free(ln);
	}
}

/* ------------------------------------------------------------------ */
/* email */

/* Last message the recorder wrote (JSON lines). */
static cJSON *last_mail(const char *log, int *count)
{
	int n = log_count(log);

	if (count != NULL)
		*count = n;
	return n > 0 ? logged(log, n) : NULL;
}

/* Body text without trailing CR/LF, with CRLF -> LF. */
static void norm(char *s)
{
	char *w = s;
	char *r;

	for (r = s; *r != '\0'; r++) {
		if (*r != '\r')
			*w++ = *r;
	}
	*w = '\0';
	while (w > s && w[-1] == '\n')
		*--w = '\0';
}

static void test_email(void)
{
	char url[64];
	char portfile[512];
	const char *log = tpath("mail.jsonl");
	struct kv_conf k = {{"url", url, "from", "alerts@example.com", NULL}};
	struct gw_chan_conf conf = {kv_get, &k, NULL};
	struct gw_delivery d = {.id = 11,
	                        .msg_id = "a-1001",
	                        .channel = "email",
	                        .recipient = "alice",
	                        .address = "ops@example.org",
	                        .severity = "critical",
	                        .title = "Server room temperature",
	                        .body = "41.5 C in room 3\nsecond line \xc3\xa9t\xc3\xa9",
	                        .retry_key = UUID1,
	                        .attempt = 1};
	struct gw_channel *em;
	struct gw_result r;
	char err[256] = "";
	char body[256];
	cJSON *j;
	pid_t pid;
	int port;
	int n;

	snprintf(portfile, sizeof(portfile), "%s", tpath("smtp.port"));
	port = start_tool("smtp_recorder.py", "smtp.log", portfile, &pid, "--jsonl", log,
	                  "--fail-rcpt", "1", "--reject-rcpt", "bounce", NULL);
	if (!tap_ok(port > 0, "smtp recorder started")) {
		tap_skip(15, "no smtp recorder");
		return;
	}
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	em = gw_email_new(&conf, err, sizeof(err));
	if (!tap_ok(em != NULL, "email: channel built (%s)", err))
		return;

	run(em, &d, &r);
	is_outcome(&r, GW_RETRY, "email: RCPT 451");
	tap_ok(strncmp(r.error, "smtp 451", 8) == 0 && strchr(r.error, '@') == NULL,
	       "email 451: error text without address (%s)", r.error);
	d.attempt = 2;
	run(em, &d, &r);
	is_outcome(&r, GW_SENT, "email: sent on the retry");
	j = last_mail(log, &n);
	tap_is_int(n, 1, "email: one message recorded");
	tap_ok(streq(js(j, "mail_from", NULL), "alerts@example.com"), "email: MAIL FROM = from");
	{
		const cJSON *to = cJSON_GetObjectItem(j, "rcpt_tos");

		tap_ok(cJSON_GetArraySize(to) == 1 &&
		           streq(cJSON_GetArrayItem(to, 0)->valuestring, "ops@example.org"),
		       "email: one recipient per transaction");
	}
	tap_ok(streq(js(j, "subject", NULL), "Server room temperature"), "email: Subject = title");
	tap_ok(streq(js(j, "message_id", NULL), "<" UUID1 "@example.com>"),
	       "email: Message-ID <retry_key@domain of from>");
	tap_ok(streq(r.provider_ref, js(j, "queue_id", NULL)), "email: provider_ref = queue id");
	snprintf(body, sizeof(body), "%s", js(j, "body", NULL));
	norm(body);
	tap_ok(streq(body, "41.5 C in room 3\nsecond line \xc3\xa9t\xc3\xa9"),
	       "email: text/plain utf-8 body");
	tap_ok(strstr(js(j, "data", NULL), "text/plain; charset=utf-8") != NULL &&
	           strstr(js(j, "data", NULL), "Date: ") != NULL &&
	           strstr(js(j, "data", NULL), "To: ops@example.org") != NULL,
	       "email: MIME part, Date and To headers");
	cJSON_Delete(j);

	/* a retry of the same delivery keeps its Message-ID */
	d.attempt = 3;
	d.title = "Temp\xc3\xa9rature \xc3\xa9lev\xc3\xa9"
	          "e \xe2\x80\x94 salle 3 \xf0\x9f\x94\xa5 with a rather long subject to fold";
	run(em, &d, &r);
	is_outcome(&r, GW_SENT, "email: non-ASCII subject");
	j = last_mail(log, NULL);
	tap_ok(streq(js(j, "subject", NULL), d.title), "email: RFC 2047 subject decodes back");
	tap_ok(streq(js(j, "message_id", NULL), "<" UUID1 "@example.com>"),
	       "email: same Message-ID on every attempt");
	cJSON_Delete(j);

	d.title = "x\r\nBcc: evil@example.net";
	run(em, &d, &r);
	j = last_mail(log, NULL);
	tap_ok(r.outcome == GW_SENT &&
	           cJSON_GetArraySize(cJSON_GetObjectItem(j, "rcpt_tos")) == 1 &&
	           strstr(js(j, "data", NULL), "\nBcc:") == NULL,
	       "email: CR/LF in the title cannot add headers");
	cJSON_Delete(j);

	d.address = "bounce@example.org";
	run(em, &d, &r);
	is_outcome(&r, GW_FAILED, "email: RCPT 550");
	tap_ok(strncmp(r.error, "smtp 550", 8) == 0 && strstr(r.error, "bounce") == NULL,
	       "email 550: error text without address (%s)", r.error);
	d.address = "not an address";
	run(em, &d, &r);
	is_outcome(&r, GW_FAILED, "email: invalid address");

	kill_kid(pid);
	d.address = "ops@example.org";
	run(em, &d, &r);
	is_outcome(&r, GW_RETRY, "email: server down");
	tap_ok(strncmp(r.error, "smtp: ", 6) == 0, "email down: error text (%s)", r.error);
	em->ops->free(em);
}

/* Self-signed certificate for 127.0.0.1; 0 or -1. */
static int make_cert(const char *cert, const char *key)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	         "-keyout '%s' -out '%s' -days 2 -subj /CN=localhost "
	         "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1",
	         key, cert);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_email_tls(void)
{
	char url[64];
	char portfile[512];
	char cert[512];
	char key[512];
	const char *log = tpath("mailtls.jsonl");
	struct kv_conf k = {{"url", url, "from", "alerts@example.com", "tls", "required", "ca_file",
	                     cert, "username", "gw", "password", "pw", NULL}};
	struct gw_chan_conf conf = {kv_get, &k, NULL};
	struct gw_delivery d = {.id = 12,
	                        .msg_id = "a-2001",
	                        .channel = "email",
	                        .recipient = "alice",
	                        .address = "ops@example.org",
	                        .severity = "info",
	                        .title = "TLS",
	                        .body = "b",
	                        .retry_key = UUID2,
	                        .attempt = 1};
	struct gw_channel *em;
	struct gw_result r;
	char err[256] = "";
	cJSON *j;
	pid_t pid;
	int port;

	snprintf(cert, sizeof(cert), "%s", tpath("cert.pem"));
	snprintf(key, sizeof(key), "%s", tpath("key.pem"));
	snprintf(portfile, sizeof(portfile), "%s", tpath("smtptls.port"));
	if (make_cert(cert, key) != 0) {
		tap_skip(7, "openssl cannot make a certificate");
		return;
	}

	/* STARTTLS required + AUTH */
	port = start_tool("smtp_recorder.py", "smtptls.log", portfile, &pid, "--jsonl", log,
	                  "--tls-cert", cert, "--tls-key", key, "--require-starttls", "--auth",
	                  "gw:pw", NULL);
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	em = gw_email_new(&conf, err, sizeof(err));
	if (!tap_ok(port > 0 && em != NULL, "email tls: recorder and channel (%s)", err)) {
		tap_skip(6, "no tls recorder");
		return;
	}
	run(em, &d, &r);
	is_outcome(&r, GW_SENT, "email: STARTTLS required + AUTH");
	j = last_mail(log, NULL);
	tap_ok(cJSON_IsTrue(cJSON_GetObjectItem(j, "tls")) && streq(js(j, "auth", NULL), "gw"),
	       "email: the message went over TLS, authenticated");
	cJSON_Delete(j);
	em->ops->free(em);

	/* wrong password: 535 is permanent */
	k.kv[11] = "wrong";
	em = gw_email_new(&conf, err, sizeof(err));
	run(em, &d, &r);
	is_outcome(&r, GW_FAILED, "email: AUTH 535");
	em->ops->free(em);
	kill_kid(pid);

	/* tls = required, server without STARTTLS: not sent in clear */
	port =
	    start_tool("smtp_recorder.py", "smtpplain.log", portfile, &pid, "--jsonl", log, NULL);
	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	k.kv[11] = "pw";
	em = gw_email_new(&conf, err, sizeof(err));
	run(em, &d, &r);
	tap_ok(r.outcome != GW_SENT, "email: tls = required never falls back to clear (%s)",
	       r.error);
	em->ops->free(em);
	kill_kid(pid);

	/* smtps:// implicit TLS */
	port = start_tool("smtp_recorder.py", "smtps.log", portfile, &pid, "--jsonl", log,
	                  "--tls-cert", cert, "--tls-key", key, "--implicit-tls", NULL);
	snprintf(url, sizeof(url), "smtps://127.0.0.1:%d", port);
	k.kv[4] = "tls";
	k.kv[5] = "auto";
	k.kv[8] = NULL; /* no AUTH */
	em = gw_email_new(&conf, err, sizeof(err));
	if (em == NULL) {
		tap_skip(2, err);
		return;
	}
	run(em, &d, &r);
	is_outcome(&r, GW_SENT, "email: smtps://");
	j = last_mail(log, NULL);
	tap_ok(cJSON_IsTrue(cJSON_GetObjectItem(j, "tls")), "email: smtps message over TLS");
	cJSON_Delete(j);
	em->ops->free(em);
	kill_kid(pid);

	/* a certificate the CA file does not vouch for: retry, never sent */
	port = start_tool("smtp_recorder.py", "smtps2.log", portfile, &pid, "--jsonl", log,
	                  "--tls-cert", cert, "--tls-key", key, "--implicit-tls", NULL);
	snprintf(url, sizeof(url), "smtps://127.0.0.1:%d", port);
	k.kv[6] = "timeout";
	k.kv[7] = "5";
	em = gw_email_new(&conf, err, sizeof(err));
	if (em != NULL) {
		run(em, &d, &r);
		is_outcome(&r, GW_RETRY, "email: unverified certificate");
		em->ops->free(em);
	}
	kill_kid(pid);
}

/* ------------------------------------------------------------------ */
/* spool */

static void test_spool(void)
{
	char dir[512];
	char path[700];
	char err[256] = "";
	struct gw_delivery d = {.id = 42,
	                        .msg_id = "../../a 1001",
	                        .channel = "email",
	                        .recipient = "alice",
	                        .address = "secret-alice@example.org",
	                        .severity = "warning",
	                        .title = "Door\nopen",
	                        .body = "Lab door open\nfor 3 min",
	                        .retry_key = UUID1,
	                        .attempt = 1};
	struct gw_channel *sp;
	struct gw_result r;
	struct stat st;
	char *text;

	snprintf(dir, sizeof(dir), "%s", tpath("spool/deep"));
	sp = gw_spool_new(dir, err, sizeof(err));
	if (!tap_ok(sp != NULL, "spool: created (%s)", err))
		return;
	tap_ok(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700, "spool: folder mode 0700");
	{
		/* a permissive umask does not widen the file's mode */
		mode_t old = umask(0);

		run(sp, &d, &r);
		umask(old);
	}
	is_outcome(&r, GW_SENT, "spool: written");
	snprintf(path, sizeof(path), "%s/______a_1001-alice-email-42.txt", dir);
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	       "spool: <msg id sanitized>-<recipient>-<channel>-<delivery id>.txt, mode 0600 "
	       "under umask 0");
	tap_ok(streq(r.provider_ref, "______a_1001-alice-email-42.txt"),
	       "spool: provider_ref = file name");
	text = slurp(path);
	tap_ok(text != NULL && strstr(text, "Subject: Door open\n") != NULL &&
	           strstr(text, "\n\nLab door open\nfor 3 min\n") != NULL &&
	           strstr(text, "Recipient: alice\n") != NULL,
	       "spool: headers + body");
	tap_ok(text != NULL && strstr(text, "secret-alice") == NULL,
	       "spool: the address is not written");
	free(text);
	d.attempt = 2;
	run(sp, &d, &r);
	is_outcome(&r, GW_SENT, "spool: a retry overwrites the same file");

	/* a medical record: the bytes exactly, binary-safe (docs/medical.md) */
	{
		static const uint8_t rec[] = {'r', 0x00, 0xff, '\n', 0x0d, 'x'};
		struct gw_delivery m = {.id = 43,
		                        .msg_id = "00112233445566778899aabbccddeeff",
		                        .channel = "spool",
		                        .recipient = "",
		                        .address = "",
		                        .severity = "info",
		                        .title = "",
		                        .body = "",
		                        .retry_key = UUID1,
		                        .attempt = 1,
		                        .data = rec,
		                        .data_len = sizeof(rec),
		                        .kind = "medical-join",
		                        .topic = "clinic/a/record",
		                        .origin = "clinicA/devA"};
		FILE *f;
		uint8_t got[16];
		size_t n = 0;

		run(sp, &m, &r);
		is_outcome(&r, GW_SENT, "spool: medical record written");
		snprintf(path, sizeof(path), "%s/00112233445566778899aabbccddeeff-spool-43.rec",
		         dir);
		tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
		       "spool: record file <id>-spool-<delivery id>.rec, mode 0600");
		f = fopen(path, "rb");
		if (f != NULL) {
			n = fread(got, 1, sizeof(got), f);
			fclose(f);
		}
		tap_ok(n == sizeof(rec) && memcmp(got, rec, n) == 0,
		       "spool: the record's bytes exactly, nothing added");
	}

	/* the folder vanished: an I/O error is transient */
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	tap_ok(system(path) == 0, "spool: folder removed");
	run(sp, &d, &r);
	is_outcome(&r, GW_RETRY, "spool: I/O error");
	sp->ops->free(sp);
}

/* ------------------------------------------------------------------ */

int main(void)
{
	char portfile[512];
	char log[512];
	char script[512];
	pid_t pid;
	int port;
	int have_py;
	char cmd[600];

	signal(SIGPIPE, SIG_IGN);
	srcdir = getenv("top_srcdir");
	if (srcdir == NULL)
		srcdir = "..";
	python = getenv("MQS_PYTHON");
	if (python == NULL)
		python = "/usr/bin/python3";
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-gw-channels-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		tap_ok(0, "mkdtemp");
		return tap_exit();
	}
	atexit(cleanup);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();

	test_text();
	test_pure();
	test_keys_and_conf();
	test_spool();

	snprintf(cmd, sizeof(cmd), "'%s' -c 'import aiosmtpd' >/dev/null 2>&1", python);
	have_py = access(python, X_OK) == 0 && system(cmd) == 0;
	if (!have_py) {
		tap_skip(1, "no python3 with aiosmtpd (apt-get install python3-aiosmtpd)");
		goto out;
	}

	snprintf(portfile, sizeof(portfile), "%s", tpath("http.port"));
	snprintf(log, sizeof(log), "%s", tpath("http.jsonl"));
	snprintf(script, sizeof(script), "%s", tpath("http.script"));
	put_file(script, "");
	port = start_tool("fake_provider.py", "http.log", portfile, &pid, "--log", log, "--script",
	                  script, NULL);
	if (tap_ok(port > 0, "fake provider started")) {
		test_twilio(port);
		test_line(port);
	}
	kill_kid(pid);
	test_email();
	test_email_tls();
out:
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return tap_exit();
}
