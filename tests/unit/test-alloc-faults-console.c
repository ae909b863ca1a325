/* SPDX-License-Identifier: BSD-3-Clause */
/* test-alloc-faults-console.c - allocation-failure injection (HACKING.md,
 * "Fault injection") over the web console's own parsing (docs/console.md):
 * console.conf with every section, a form body and query parameters, a
 * download answer and a user's sealed TOTP secret.  Each allocation refused
 * in turn (alloc-faults.h) gives "out of memory" (MQS_ERR_NOMEM, a 500
 * answer) or the right result: never a crash, a leak, or a refusal that
 * looks like a bad request.  cs_http.c is compiled into this file (like
 * tests/fuzz/fuzz-console.c) so its static parsers can be called. */
#include "../../console/cs_http.c"

#include "alloc-faults.h"
#include "tap.h"

static char tmpdir[256];
static char conf_full[300];  /* every section */
static char conf_short[300]; /* no key_file: the default is made */

/* The form a device page posts, with escapes, '+', an empty value, empty
 * parts and UTF-8, then 40 more fields. */
static const char form_text[] = "csrf=0123456789abcdef0123456789abcdef&name=sensor%2D1&group=ops"
                                "&note=caf%C3%A9+au+lait&empty=&&=skipped&level=high";
#define FORM_FIRST 6 /* parameters of form_text */
#define FORM_MORE  40

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	char text[4096];

	snprintf(tmpdir, sizeof(tmpdir), "%s/mqs-test-afc-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
	snprintf(conf_full, sizeof(conf_full), "%s/console.conf", tmpdir);
	snprintf(conf_short, sizeof(conf_short), "%s/short.conf", tmpdir);
	snprintf(text, sizeof(text),
	         "; console.conf of a clinic\n"
	         "[console]\n"
	         "db = %s/console.db\n"
	         "key_file = %s/console.key\n"
	         "argon2_time = 2\n"
	         "argon2_memory_kib = 1024\n"
	         "max_failures = 5\n"
	         "session_idle = 600\n"
	         "\n"
	         "[http]\n"
	         "listen = [::1]:8443\n"
	         "host = ::1\n"
	         "cert = %s/cert.pem\n"
	         "key = %s/key.pem\n"
	         "max_connections = 64\n"
	         "\n"
	         "[broker]\n"
	         "db = %s/acl.db\n"
	         "master_key_file = %s/master.key\n"
	         "\n"
	         "[gateway]\n"
	         "conf = %s/gateway.conf\n",
	         tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
	if (write_text(conf_full, text) != 0)
		exit(99);
	snprintf(text, sizeof(text),
	         "[console]\ndb = %s/console.db\n[http]\nlisten = 127.0.0.1:0\n", tmpdir);
	if (write_text(conf_short, text) != 0)
		exit(99);
}

/* 1 when s is the text want (NULL is not). */
static int same(const char *s, const char *want)
{
	return s != NULL && strcmp(s, want) == 0;
}

/* A refused load: 1 when it says "out of memory" and holds nothing. */
static int conf_refused(int rc, const struct cs_conf *c, const char *err)
{
	if (rc != MQS_ERR_NOMEM || strstr(err, "out of memory") == NULL) {
		tap_diag("console.conf: %s (%d) instead of out of memory", err, rc);
		return -1;
	}
	return c->path == NULL && c->db == NULL && c->listen_host == NULL ? 1 : -1;
}

/* Load both configurations. */
static int op_conf(void)
{
	struct cs_conf c;
	char err[512];
	int rc, res;

	err[0] = '\0';
	rc = cs_conf_load(conf_full, &c, err, sizeof(err));
	if (rc != MQS_OK)
		return conf_refused(rc, &c, err);
	res = c.listen_port == 8443 && same(c.listen_host, "::1") && same(c.host, "[::1]") &&
	              c.argon2_t == 2 && c.max_connections == 64 && c.per_ip == 8 &&
	              c.key_file != NULL && strstr(c.key_file, "/console.key") != NULL &&
	              c.gateway_conf != NULL && c.broker_db != NULL && c.broker_key != NULL &&
	              c.cert != NULL && c.key != NULL
	          ? 0
	          : -1;
	cs_conf_release(&c);
	if (res != 0)
		return res;
	rc = cs_conf_load(conf_short, &c, err, sizeof(err));
	if (rc != MQS_OK)
		return conf_refused(rc, &c, err);
	res = c.key_file != NULL && strstr(c.key_file, "/console.db.key") != NULL &&
	              same(c.listen_host, "127.0.0.1") && c.host == NULL
	          ? 0
	          : -1;
	cs_conf_release(&c);
	return res;
}

/* The value of parameter name in req, or NULL. */
static const char *param_of(const struct cs_req *req, const char *name)
{
	for (size_t i = 0; i < req->nparams; i++) {
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	}
	return NULL;
}

/* Parse the form body. */
static int op_form(void)
{
	struct cs_req *req = calloc(1, sizeof(*req));
	char body[sizeof(form_text) + FORM_MORE * 16];
	size_t off = strlen(form_text);
	enum mqs_err rc;
	int res;

	if (req == NULL)
		return -1;
	memcpy(body, form_text, off + 1);
	for (int i = 0; i < FORM_MORE; i++)
		off += (size_t)snprintf(body + off, sizeof(body) - off, "&f%d=v%%2B%d", i, i);
	rc = form_parse(req, body);
	if (rc == MQS_OK)
		res = req->nparams == FORM_FIRST + FORM_MORE &&
		              same(param_of(req, "name"), "sensor-1") &&
		              same(param_of(req, "note"), "caf\xc3\xa9 au lait") &&
		              same(param_of(req, "empty"), "") && same(param_of(req, "f39"), "v+39")
		          ? 0
		          : -1;
	else
		res = rc == MQS_ERR_NOMEM ? 1 : -1;
	params_free(req);
	free(req);
	return res;
}

/* Query parameters as libmicrohttpd hands them over. */
static int op_query(void)
{
	struct cs_req *req = calloc(1, sizeof(*req));
	struct qctx q = {req, 0, 0};
	static const char *const kv[][2] = {
	    {"page", "2"}, {"q", "sensor"}, {"sort", "name"}, {"flash", "device added"}};
	int res = 0;

	if (req == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]) && !q.bad; i++)
		(void)on_query(&q, MHD_GET_ARGUMENT_KIND, kv[i][0], strlen(kv[i][0]), kv[i][1],
		               strlen(kv[i][1]));
	if (q.bad)
		res = q.nomem ? 1 : -1;
	else if (req->nparams != 4 || !same(param_of(req, "flash"), "device added"))
		res = -1;
	params_free(req);
	free(req);
	return res;
}

/* A download answer: the body and its Content-Disposition. */
static int op_download(void)
{
	struct cs_resp resp;
	char data[3000];
	int status, res;

	memset(data, 'x', sizeof(data));
	cs_resp_init(&resp);
	status =
	    cs_resp_download(&resp, "application/json", "policy export.json", data, sizeof(data));
	if (status == 200)
		res = resp.body.len == sizeof(data) && resp.disposition != NULL &&
		              strstr(resp.disposition, "policy_export.json") != NULL
		          ? 0
		          : -1;
	else
		res = status == 500 ? 1 : -1;
	cs_resp_release(&resp);
	return res;
}

/* Seal a TOTP secret under the console key and open it again. */
static int op_totp(void)
{
	struct cs_console cs;
	uint8_t secret[20], back[64], *w = NULL;
	size_t wlen = 0, blen = 0;
	int rc, res;

	memset(&cs, 0, sizeof(cs));
	memset(cs.key, 0x42, sizeof(cs.key));
	memset(secret, 0x17, sizeof(secret));
	rc = cs_console_totp_seal(&cs, "alice", secret, sizeof(secret), &w, &wlen);
	if (rc != MQS_OK)
		return w == NULL ? 1 : -1;
	rc = cs_console_totp_open(&cs, "alice", w, wlen, back, sizeof(back), &blen);
	if (rc == MQS_OK)
		res = blen == sizeof(secret) && memcmp(back, secret, blen) == 0 ? 0 : -1;
	else
		res = 1;
	mqs_secret_free(w, wlen);
	return res;
}

int main(void)
{
	static const struct {
		const char *name;
		op_fn *op;
	} ops[] = {
	    {"console.conf", op_conf},       {"form body", op_form},
	    {"query parameters", op_query},  {"download", op_download},
	    {"totp seal and open", op_totp},
	};
	size_t nops = sizeof(ops) / sizeof(ops[0]);

	hooks_install();
	setup();
	tap_plan((unsigned)(3 * nops));
	for (size_t i = 0; i < nops; i++)
		drive(ops[i].name, ops[i].op);
	(void)unlink(conf_full);
	(void)unlink(conf_short);
	(void)rmdir(tmpdir);
	return tap_exit();
}
