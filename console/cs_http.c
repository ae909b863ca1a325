/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_http.c - the console's HTTP core (docs/console.md "Security"): the
 * libmicrohttpd daemon (one internal thread: handlers run one at a time),
 * connection caps, body cap, slow requests cut, assets, routing, sessions,
 * roles, CSRF and the headers of every response (cs_page.h). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "cs_int.h"
#include "gw_config.h"
#include "gw_store.h"
#include "mqs_alloc.h"
#include "mqs_utf8.h"
#include "mqs_util.h"
#include "mqsa.h"

#define TLS_FILE_MAX (64 * 1024)
/* per connection (docs/console.md "Limits"): large enough that requests
 * with headers over HEADERS_MAX reach our handler and get our 431 with
 * the security headers; only beyond about CONN_MEMORY does
 * libmicrohttpd answer itself */
#define CONN_MEMORY (256 * 1024)
#define HEADERS_MAX (32 * 1024) /* request line and headers */
/* the log lines of libmicrohttpd and of the sweep: at most LOG_BURST per
 * client (cs_addr_ban_key) per LOG_WINDOW_MS, for at most LOG_KEYS
 * clients (the others share one more budget), then one line with the
 * count of those left out (docs/console.md "Limits") */
#define LOG_BURST     10
#define LOG_WINDOW_MS 10000
#define LOG_KEYS      64
#define ADDR_MAX      64
#define KEY_MAX       (ADDR_MAX + 8) /* cs_addr_ban_key */

struct param {
	char *name;
	char *value;
};

struct cs_req {
	struct cs_console *cs;
	struct cs_resp *resp;
	const char *method; /* "GET" (also for HEAD) or "POST" */
	const char *path;
	const char *tail;
	struct param params[CS_PARAMS_MAX];
	size_t nparams;
	int64_t now;
	char addr[ADDR_MAX];
	char ban_addr[ADDR_MAX + 8]; /* cs_addr_ban_key */
	const char *login_cookie;
	int has_session;
	struct cs_session sess;
	struct cs_user user;
	int has_user;
	char who[CS_NAME_MAX + 16];
};

struct conn {
	struct conn *next, *prev;
	int fd;
	uint64_t start_ms;
	int cut;
	int idle;          /* answered, no request under way: idle_timeout applies */
	char key[KEY_MAX]; /* the client, as counted (cs_addr_ban_key) */
};

/* One client's log lines in the current window. */
struct log_budget {
	char key[KEY_MAX];
	unsigned lines;
};

struct body {
	uint8_t *data;
	size_t len, cap;
	int answered;
};

struct daemon_state {
	struct cs_console *cs;
	pthread_mutex_t lock; /* conns */
	struct conn *conns;
	pthread_mutex_t log_lock; /* the log_ fields */
	uint64_t log_window;      /* start of the current window, ms */
	struct log_budget log_keys[LOG_KEYS];
	size_t log_nkeys;
	unsigned log_others; /* lines of every client beyond LOG_KEYS */
	unsigned long log_dropped;
	char log_current[KEY_MAX]; /* the client libmicrohttpd's thread handled last */
	uint8_t *cert, *key;
	size_t cert_len, key_len;
};

static int log_allow(struct daemon_state *ds, const char *key);
static void log_current_set(struct daemon_state *ds, const char *key);

static volatile sig_atomic_t stop_flag;
static int serving_tls; /* set once before the daemon starts */

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* ---- the request (cs_page.h) ---- */

/* The method. */
const char *cs_req_method(const struct cs_req *req)
{
	return req->method;
}

/* The path. */
const char *cs_req_path(const struct cs_req *req)
{
	return req->path;
}

/* The tail after a prefix route. */
const char *cs_req_tail(const struct cs_req *req)
{
	return req->tail != NULL ? req->tail : "";
}

/* A parameter. */
const char *cs_req_param(const struct cs_req *req, const char *name)
{
	return cs_req_param_at(req, name, 0);
}

/* How many values a parameter has. */
size_t cs_req_param_n(const struct cs_req *req, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < req->nparams; i++)
		n += strcmp(req->params[i].name, name) == 0;
	return n;
}

/* The i-th value of a parameter. */
const char *cs_req_param_at(const struct cs_req *req, const char *name, size_t i)
{
	for (size_t k = 0; k < req->nparams; k++) {
		if (strcmp(req->params[k].name, name) != 0)
			continue;
		if (i == 0)
			return req->params[k].value;
		i--;
	}
	return NULL;
}

/* The signed-in user. */
const char *cs_req_user(const struct cs_req *req)
{
	return req->has_user ? req->user.name : "";
}

/* The user's role. */
unsigned cs_req_role(const struct cs_req *req)
{
	return req->has_user ? req->user.role : 0;
}

/* A reviewer's level. */
const char *cs_req_level(const struct cs_req *req)
{
	return req->has_user && req->user.role == CS_ROLE_REVIEWER ? req->user.level : "";
}

/* The request's time. */
int64_t cs_req_now(const struct cs_req *req)
{
	return req->now;
}

/* The console (core pages only). */
struct cs_console *cs_req_console(struct cs_req *req)
{
	return req->cs;
}

/* The client address for failures and bans. */
const char *cs_req_ban_addr(const struct cs_req *req)
{
	return req->ban_addr;
}

/* After sign-in: set the session cookie, expire the login cookie. */
void cs_req_set_session(struct cs_req *req, const char *sid_text, long long user_id)
{
	(void)user_id;
	if (req->has_session)
		cs_session_drop(req->cs->db, req->sess.id_hash);
	req->has_session = 0;
	snprintf(req->resp->set_cookie[0], sizeof(req->resp->set_cookie[0]),
	         CS_COOKIE_SID "=%s; Path=/; Secure; HttpOnly; SameSite=Strict", sid_text);
	snprintf(req->resp->set_cookie[1], sizeof(req->resp->set_cookie[1]),
	         CS_COOKIE_LOGIN "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
}

/* Sign-out: drop the session, expire the cookie. */
void cs_req_clear_session(struct cs_req *req)
{
	if (req->has_session)
		cs_session_drop(req->cs->db, req->sess.id_hash);
	req->has_session = 0;
	snprintf(req->resp->set_cookie[0], sizeof(req->resp->set_cookie[0]),
	         CS_COOKIE_SID "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
}

/* Whether the session's step-up is fresh. */
int cs_req_stepup_fresh(const struct cs_req *req)
{
	return req->has_session &&
	       cs_stepup_fresh(req->sess.stepup_at, req->now, req->cs->conf.step_up);
}

/* Record a step-up of the session now. */
int cs_req_stepup_set(struct cs_req *req)
{
	int rc;

	if (!req->has_session)
		return MQS_ERR_DB;
	rc = cs_session_stepup(req->cs->db, req->sess.id_hash, req->now);
	if (rc == MQS_OK)
		req->sess.stepup_at = req->now;
	return rc;
}

/* End the other sessions of the signed-in user. */
int cs_req_end_other_sessions(struct cs_req *req)
{
	int rc = MQS_ERR_INVAL;

	if (req->has_session && req->has_user)
		rc = cs_session_drop_others(req->cs->db, req->user.id, req->sess.id_hash);
	return rc;
}

/* The broker admin context. */
enum mqs_err cs_req_broker(struct cs_req *req, struct mqsa_ctx **out, char *why, size_t whylen)
{
	struct cs_console *cs = req->cs;
	char w[MQSA_WHY_MAX];
	enum mqs_err rc;

	*out = NULL;
	w[0] = '\0';
	if (cs->conf.broker_db == NULL) {
		snprintf(why, whylen, "no [broker] section in %s", cs->conf.path);
		return MQS_ERR_NOENT;
	}
	if (cs->broker == NULL) {
		rc = mqsa_ctx_open(cs->conf.broker_db, cs->conf.broker_key, "console", &cs->broker);
		if (rc != MQS_OK) {
			snprintf(why, whylen, "cannot open the broker context: %s",
			         mqs_strerror(rc));
			return rc;
		}
	}
	rc = mqsa_ctx_set_who(cs->broker, req->who);
	if (rc != MQS_OK) {
		snprintf(why, whylen, "bad audit name");
		return rc;
	}
	mqsa_ctx_set_now(cs->broker, (time_t)req->now);
	rc = mqsa_ctx_db(cs->broker, w);
	if (rc == MQS_OK)
		rc = mqsa_ctx_master_key(cs->broker, w);
	if (rc != MQS_OK) {
		snprintf(why, whylen, "%s", w);
		return rc;
	}
	*out = cs->broker;
	return MQS_OK;
}

/* The gateway store and configuration. */
enum mqs_err cs_req_gateway(struct cs_req *req, struct gw_store **store,
                            const struct gw_config **conf, char *why, size_t whylen)
{
	struct cs_console *cs = req->cs;
	int rc = MQS_OK;

	*store = NULL;
	*conf = NULL;
	if (cs->conf.gateway_conf == NULL) {
		snprintf(why, whylen, "no [gateway] section in %s", cs->conf.path);
		return MQS_ERR_NOENT;
	}
	if (cs->gw_conf == NULL) {
		cs->gw_conf = mqs_calloc(1, sizeof(*cs->gw_conf));
		if (cs->gw_conf == NULL)
			return MQS_ERR_NOMEM;
		rc = gw_config_load(cs->conf.gateway_conf, cs->gw_conf, why, whylen);
		if (rc != MQS_OK) {
			mqs_free(cs->gw_conf);
			cs->gw_conf = NULL;
			return (enum mqs_err)rc;
		}
	}
	if (cs->gw_store == NULL) {
		cs->gw_store = mqs_calloc(1, sizeof(*cs->gw_store));
		if (cs->gw_store == NULL)
			return MQS_ERR_NOMEM;
		rc = gw_store_open(cs->gw_store, cs->gw_conf->db, cs->gw_conf->master_key_file,
		                   cs->gw_conf->sync_full, why, whylen);
		if (rc != MQS_OK) {
			mqs_free(cs->gw_store);
			cs->gw_store = NULL;
			return (enum mqs_err)rc;
		}
	}
	*store = cs->gw_store;
	*conf = cs->gw_conf;
	return MQS_OK;
}

/* One audit row. */
void cs_req_audit(struct cs_req *req, const char *what, int ok)
{
	cs_db_audit(req->cs->db, req->now, cs_req_user(req), req->addr, req->method, req->path,
	            what, ok);
}

/* ---- parsing ---- */

static int hexval(char c)
{
	return mqs_hex_digit((unsigned char)c);
}

/* Decode application/x-www-form-urlencoded in place; 0 on bad escapes and %00. */
static int form_decode(char *s)
{
	char *w = s;

	for (char *r = s; *r != '\0'; r++) {
		if (*r == '+') {
			*w++ = ' ';
		} else if (*r == '%') {
			int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);

			/* %00 would cut the value short: refuse the form */
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return 0;
			*w++ = (char)(hi * 16 + lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return 1;
}

static int value_ok(const char *v, size_t len)
{
	return mqs_utf8_valid((const uint8_t *)v, len, 0) == 1;
}

/* MQS_OK, MQS_ERR_TOOBIG past CS_PARAMS_MAX, MQS_ERR_NOMEM. */
static enum mqs_err param_add(struct cs_req *req, const char *name, size_t nlen, const char *value,
                              size_t vlen)
{
	struct param *p;

	if (req->nparams >= CS_PARAMS_MAX)
		return MQS_ERR_TOOBIG;
	p = &req->params[req->nparams];
	p->name = mqs_strndup(name, nlen);
	p->value = mqs_strndup(value, vlen);
	if (p->name == NULL || p->value == NULL) {
		mqs_free(p->name);
		mqs_secret_free_str(p->value);
		p->name = NULL;
		p->value = NULL;
		return MQS_ERR_NOMEM;
	}
	req->nparams++;
	return MQS_OK;
}

/* Parse a form body (NUL-terminated, may be changed): MQS_OK, MQS_ERR_NOMEM
 * (answered 500), or another error for a form that is refused (400). */
static enum mqs_err form_parse(struct cs_req *req, char *body)
{
	char *save = NULL;
	enum mqs_err rc;

	for (char *pair = strtok_r(body, "&", &save); pair != NULL;
	     pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '=');
		char *v = eq != NULL ? eq + 1 : pair + strlen(pair);
		size_t nlen, vlen;

		if (eq != NULL)
			*eq = '\0';
		if (!form_decode(pair) || !form_decode(v))
			return MQS_ERR_PARSE;
		/* a NUL from %00 ends the string early: refuse it */
		nlen = strlen(pair);
		vlen = strlen(v);
		if (eq != NULL && (size_t)(v - pair) != nlen + 1) {
			/* name shrank by decoding: fine */
		}
		if (nlen == 0)
			continue;
		if (!value_ok(pair, nlen) || !value_ok(v, vlen))
			return MQS_ERR_PARSE;
		rc = param_add(req, pair, nlen, v, vlen);
		if (rc != MQS_OK)
			return rc;
	}
	return MQS_OK;
}

struct qctx {
	struct cs_req *req;
	int bad;
	int nomem; /* an allocation was refused (answered 500) */
};

static enum MHD_Result on_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                size_t key_size, const char *value, size_t value_size)
{
	struct qctx *q = cls;
	const char *v = value != NULL ? value : "";
	size_t klen = strlen(key);
	enum mqs_err rc = MQS_OK;

	(void)kind;
	if (klen != key_size || (value != NULL && strlen(value) != value_size))
		q->bad = 1; /* a NUL inside */
	else if (klen == 0)
		return MHD_YES;
	else if (!value_ok(key, klen) || !value_ok(v, strlen(v)))
		q->bad = 1;
	else
		rc = param_add(q->req, key, klen, v, strlen(v));
	if (rc != MQS_OK) {
		q->bad = 1;
		q->nomem = rc == MQS_ERR_NOMEM;
	}
	return q->bad ? MHD_NO : MHD_YES;
}

static void params_free(struct cs_req *req)
{
	for (size_t i = 0; i < req->nparams; i++) {
		mqs_free(req->params[i].name);
		mqs_secret_free_str(req->params[i].value);
	}
	req->nparams = 0;
}

/* The text of a socket address ("?" when it is not IP). */
static void sockaddr_text(const struct sockaddr *sa, char *out, size_t cap)
{
	snprintf(out, cap, "?");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
		          (socklen_t)cap);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
		          (socklen_t)cap);
}

static void client_addr(struct MHD_Connection *c, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	sockaddr_text(ci != NULL ? ci->client_addr : NULL, out, cap);
}

/* ---- answering ---- */

static enum MHD_Result send_resp(struct MHD_Connection *c, struct cs_resp *resp, int status)
{
	struct MHD_Response *r;
	enum MHD_Result ret = MHD_NO;
	size_t len = 0;
	char *data;
	int framed;

	if (resp->failed) {
		status = 500;
		mqs_buf_reset(&resp->body);
	}
	if (status >= 400 && resp->body.len == 0)
		cs_html_error_page(resp, status);
	data = mqs_buf_take(&resp->body, &len);
	if (data == NULL)
		return MHD_NO;
	r = MHD_create_response_from_buffer_with_free_callback(len, data, mqs_free);
	if (r == NULL) {
		mqs_free(data);
		return MHD_NO;
	}
	framed = resp->csp[0] != '\0';
	if (MHD_add_response_header(r, "Content-Type", resp->content_type) != MHD_YES ||
	    MHD_add_response_header(r, "Content-Security-Policy",
	                            framed ? resp->csp : "default-src 'self'") != MHD_YES ||
	    MHD_add_response_header(r, "X-Frame-Options", framed ? "SAMEORIGIN" : "DENY") !=
	        MHD_YES ||
	    MHD_add_response_header(r, "Referrer-Policy", "no-referrer") != MHD_YES ||
	    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    MHD_add_response_header(r, "Cache-Control", "no-store") != MHD_YES ||
	    MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin") != MHD_YES)
		goto out;
	if (resp->location[0] != '\0' &&
	    MHD_add_response_header(r, "Location", resp->location) != MHD_YES)
		goto out;
	if (resp->disposition != NULL &&
	    MHD_add_response_header(r, "Content-Disposition", resp->disposition) != MHD_YES)
		goto out;
	for (size_t i = 0; i < 2; i++) {
		if (resp->set_cookie[i][0] != '\0' &&
		    MHD_add_response_header(r, "Set-Cookie", resp->set_cookie[i]) != MHD_YES)
			goto out;
	}
	if (status == 405 && MHD_add_response_header(r, "Allow", "GET, HEAD, POST") != MHD_YES)
		goto out;
	if (serving_tls &&
	    MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000") != MHD_YES)
		goto out;
	ret = MHD_queue_response(c, (unsigned int)status, r);
out:
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_simple(struct MHD_Connection *c, int status)
{
	struct cs_resp resp;
	enum MHD_Result ret;

	cs_resp_init(&resp);
	ret = send_resp(c, &resp, status);
	cs_resp_release(&resp);
	return ret;
}

static const struct cs_route *route_find(const char *method, const char *path, const char **tail,
                                         int *path_known)
{
	*path_known = 0;
	*tail = "";
	for (size_t t = 0; cs_route_tables[t] != NULL; t++) {
		for (const struct cs_route *r = cs_route_tables[t]; r->method != NULL; r++) {
			size_t n = strlen(r->path);
			int match = strcmp(path, r->path) == 0 || (n > 1 && r->path[n - 1] == '/' &&
			                                           strncmp(path, r->path, n) == 0);

			if (!match)
				continue;
			*path_known = 1;
			if (strcmp(r->method, method) == 0) {
				*tail = path + (strcmp(path, r->path) == 0 ? strlen(path) : n);
				return r;
			}
		}
	}
	return NULL;
}

static const char *cookie_get(struct MHD_Connection *c, const char *name)
{
	const char *v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, name);

	return v != NULL && strlen(v) == CS_SID_TEXT ? v : NULL;
}

/* Load the session and its user; a disabled or removed user's session is
 * dropped. */
static void session_load(struct cs_req *req, struct MHD_Connection *c)
{
	struct cs_console *cs = req->cs;
	const char *sid = cookie_get(c, CS_COOKIE_SID);

	if (sid == NULL)
		return;
	if (cs_session_find(cs->db, sid, req->now, cs->conf.session_idle, cs->conf.session_max,
	                    &req->sess) != MQS_OK)
		return;
	req->has_session = 1;
	if (cs_db_user_get_id(cs->db, req->sess.user_id, &req->user) != MQS_OK ||
	    !req->user.enabled || req->user.role == 0) {
		cs_user_release(&req->user);
		cs_session_drop(cs->db, req->sess.id_hash);
		req->has_session = 0;
		return;
	}
	req->has_user = 1;
	snprintf(req->who, sizeof(req->who), "console:%s", req->user.name);
}

/* A refusal before any sign-in (no session, or a wrong sign-in token):
 * audited and counted as a failure of the client address, which a ban
 * stops; a banned address is refused without a row, so no client can grow
 * the audit without bound (docs/console.md "Security"). */
static void refuse_anonymous(struct cs_req *req, const char *what)
{
	struct cs_console *cs = req->cs;
	const struct cs_conf *cf = &cs->conf;
	char msg[CS_WHAT_MAX];

	if (cs_db_banned(cs->db, "addr", req->ban_addr, req->now) > 0)
		return;
	cs_req_audit(req, what, 0);
	if (cs_db_fail(cs->db, "addr", req->ban_addr, req->now, cf->max_failures_ip,
	               cf->failure_window, cf->ban_seconds)) {
		snprintf(msg, sizeof(msg), "ban: address %s after %u failures", req->ban_addr,
		         cf->max_failures_ip);
		cs_req_audit(req, msg, 0);
	}
}

/* 0 when the request's Host header may reach the console
 * (cs_host_allowed: DNS rebinding, docs/console.md "Security"), else the
 * status of the refusal: 400 without a Host header, 421 with another. */
static int host_refusal(const struct cs_conf *cf, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);

	if (cs_host_allowed(cf, h))
		return 0;
	return h == NULL ? 400 : 421;
}

/* 1 when the browser says the request comes from another site
 * (Sec-Fetch-Site cross-site or same-site): such a POST is refused before
 * sign-in failures are counted (docs/console.md "Security"); browsers that
 * do not send the header still meet SameSite=Strict and the CSRF tokens. */
static int cross_site(struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");

	return v != NULL && (strcasecmp(v, "cross-site") == 0 || strcasecmp(v, "same-site") == 0);
}

static enum MHD_Result dispatch(struct cs_console *cs, struct MHD_Connection *c, const char *meth,
                                const char *url, struct body *b)
{
	struct cs_req *req = mqs_calloc(1, sizeof(*req));
	struct cs_resp resp;
	const struct cs_route *rt;
	char login_csrf[CS_CSRF_TEXT + 1] = "";
	char new_login[CS_SID_TEXT + 1] = "";
	int status = 500, known = 0, head = strcmp(meth, "HEAD") == 0;
	enum MHD_Result ret;

	cs_resp_init(&resp);
	if (req == NULL)
		goto answer;
	req->cs = cs;
	req->resp = &resp;
	req->now = (int64_t)time(NULL);
	req->method = head || strcmp(meth, "GET") == 0 ? "GET" : "POST";
	req->path = url;
	snprintf(req->who, sizeof(req->who), "console");
	client_addr(c, req->addr, sizeof(req->addr));
	cs_addr_ban_key(req->addr, req->ban_addr, sizeof(req->ban_addr));
	status = host_refusal(&cs->conf, c);
	if (status != 0)
		goto answer; /* no audit row: unauthenticated */
	status = 500;
	if (!head && strcmp(meth, "GET") != 0 && strcmp(meth, "POST") != 0) {
		status = 405;
		goto answer;
	}
	if (strcmp(req->method, "POST") == 0 && cross_site(c)) {
		status = 403; /* before any counting: another site cannot get an address banned */
		goto answer;
	}
	if (strncmp(url, "/assets/", 8) == 0 && strcmp(req->method, "GET") == 0) {
		const struct cs_asset *a = cs_asset_find(url);

		status = a != NULL ? cs_resp_body(&resp, a->type, a->data, strlen(a->data)) : 404;
		goto answer;
	}
	rt = route_find(req->method, url, &req->tail, &known);
	if (rt == NULL) {
		status = known ? 405 : 404;
		goto answer;
	}
	/* parameters: the query, then the form */
	{
		struct qctx q = {req, 0, 0};

		(void)MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, on_query, &q);
		if (q.bad) {
			status = q.nomem ? 500 : 400;
			goto answer;
		}
	}
	if (strcmp(req->method, "POST") == 0 && b->len > 0) {
		const char *ct =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

		enum mqs_err frc = MQS_ERR_PARSE;

		if (ct != NULL && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 &&
		    memchr(b->data, '\0', b->len) == NULL)
			frc = form_parse(req, (char *)b->data);
		if (frc != MQS_OK) {
			status = frc == MQS_ERR_NOMEM ? 500 : 400;
			goto answer;
		}
	}
	session_load(req, c);
	req->login_cookie = cookie_get(c, CS_COOKIE_LOGIN);
	if (rt->roles != CS_ROLE_PUBLIC) {
		if (!req->has_user) {
			if (strcmp(req->method, "GET") == 0) {
				status = cs_resp_redirect(&resp, "/signin", NULL, 1);
			} else {
				status = 403;
				refuse_anonymous(req, "refused: not signed in");
			}
			goto answer;
		}
		if (!cs_role_allows(rt->roles, req->user.role)) {
			status = 403;
			cs_req_audit(req, "refused: role", 0);
			goto answer;
		}
		if (strcmp(req->method, "POST") == 0 &&
		    cs_csrf_check(req->sess.csrf, cs_req_param(req, "csrf")) != MQS_OK) {
			status = 403;
			cs_req_audit(req, "refused: csrf token", 0);
			goto answer;
		}
		resp.csrf = req->sess.csrf;
	} else {
		/* a public form (sign-in): CSRF bound to the pre-session cookie */
		if (req->login_cookie == NULL && strcmp(req->method, "GET") == 0) {
			if (cs_csrf_random(new_login) != MQS_OK)
				goto answer;
			snprintf(resp.set_cookie[1], sizeof(resp.set_cookie[1]),
			         CS_COOKIE_LOGIN "=%s; Path=/; Secure; HttpOnly; SameSite=Strict",
			         new_login);
			req->login_cookie = new_login;
		}
		if (req->login_cookie != NULL &&
		    cs_csrf_login(cs->key, req->login_cookie, login_csrf) != MQS_OK)
			goto answer;
		if (strcmp(req->method, "POST") == 0 &&
		    cs_csrf_check(login_csrf, cs_req_param(req, "csrf")) != MQS_OK) {
			status = 403;
			refuse_anonymous(req, "refused: sign-in csrf token");
			goto answer;
		}
		resp.csrf = login_csrf;
	}
	if (req->has_user) {
		resp.user = req->user.name;
		resp.nav_role = req->user.role;
	}
	if (req->has_session && req->sess.flash[0] != '\0') {
		snprintf(resp.flash, sizeof(resp.flash), "%s", req->sess.flash);
		resp.flash_ok = req->sess.flash_ok;
	}
	if ((rt->roles & CS_STEP_UP) != 0 && !cs_req_stepup_fresh(req))
		status = cs_stepup_demand(req, &resp);
	else
		status = rt->handle(req, &resp);
	if (status < 100 || status > 599)
		status = 500;
	if (req->has_session) {
		if (status == 303 && resp.set_flash)
			cs_session_flash_set(cs->db, req->sess.id_hash, resp.flash, resp.flash_ok);
		else if (status != 303 && req->sess.flash[0] != '\0')
			cs_session_flash_clear(cs->db, req->sess.id_hash);
	}
answer:
	ret = send_resp(c, &resp, status);
	cs_resp_release(&resp);
	OPENSSL_cleanse(login_csrf, sizeof(login_csrf));
	OPENSSL_cleanse(new_login, sizeof(new_login));
	if (req != NULL) {
		params_free(req);
		cs_user_release(&req->user);
		OPENSSL_cleanse(&req->sess, sizeof(req->sess));
		mqs_free(req);
	}
	return ret;
}

/* ---- libmicrohttpd callbacks ---- */

/* MHD_get_connection_values_n: add one header's size. */
static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
	size_t *total = cls;

	(void)kind;
	(void)key;
	(void)value;
	*total += key_size + value_size + 4;
	return MHD_YES;
}

/* The size of the request's URL and headers as received (about). */
static size_t headers_size(struct MHD_Connection *c, const char *url)
{
	size_t total = url != NULL ? strlen(url) : 0;

	(void)MHD_get_connection_values_n(c, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, on_header,
	                                  &total);
	return total;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct daemon_state *ds = cls;
	struct body *b = *con_cls;
	const char *cl;

	(void)version;
	if (b == NULL) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

		if (ci != NULL && ci->socket_context != NULL)
			log_current_set(ds, ((const struct conn *)ci->socket_context)->key);
		b = mqs_calloc(1, sizeof(*b));
		if (b == NULL)
			return MHD_NO;
		*con_cls = b;
		if (headers_size(c, url) > HEADERS_MAX) {
			b->answered = 1;
			return send_simple(c, 431);
		}
		cl =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && (strlen(cl) > 12 || strtoull(cl, NULL, 10) > CS_BODY_MAX)) {
			b->answered = 1;
			return send_simple(c, 413);
		}
		return MHD_YES;
	}
	if (b->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (b->len + n > CS_BODY_MAX)
			return MHD_NO; /* chunked past the cap: closed */
		if (b->len + n + 1 > b->cap) {
			size_t ncap = b->cap == 0 ? 4096 : b->cap;
			uint8_t *nb;

			while (ncap < b->len + n + 1)
				ncap *= 2;
			if (ncap > CS_BODY_MAX + 1)
				ncap = CS_BODY_MAX + 1;
			nb = mqs_malloc(ncap);
			if (nb == NULL)
				return MHD_NO;
			if (b->data != NULL)
				memcpy(nb, b->data, b->len);
			mqs_secret_free(b->data, b->cap);
			b->data = nb;
			b->cap = ncap;
		}
		memcpy(b->data + b->len, upload_data, n);
		b->len += n;
		b->data[b->len] = 0;
		return MHD_YES;
	}
	if (b->data == NULL) {
		b->data = mqs_calloc(1, 1);
		if (b->data == NULL)
			return MHD_NO;
		b->cap = 1;
	}
	b->answered = 1;
	return dispatch(ds->cs, c, method, url, b);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct daemon_state *ds = cls;
	struct body *b = *con_cls;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	(void)toe;
	if (ci != NULL && ci->socket_context != NULL) {
		struct conn *cn = ci->socket_context;

		pthread_mutex_lock(&ds->lock);
		cn->start_ms = mqs_now_ms(); /* keep-alive: the next request's clock */
		pthread_mutex_unlock(&ds->lock);
	}
	if (b == NULL)
		return;
	mqs_secret_free(b->data, b->cap);
	mqs_free(b);
	*con_cls = NULL;
}

/* The client of a socket address as counted: cs_addr_ban_key (an IPv6
 * /64, an IPv4-mapped address as IPv4). */
static void sockaddr_key(const struct sockaddr *sa, char *out, size_t cap)
{
	char addr[ADDR_MAX];

	sockaddr_text(sa, addr, sizeof(addr));
	cs_addr_ban_key(addr, out, cap);
}

/* Accept policy (libmicrohttpd's thread): refuse a connection whose client
 * (sockaddr_key) already holds [http] max_connections_per_ip connections
 * (docs/console.md "Limits"); the connection is closed at once. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct daemon_state *ds = cls;
	char key[KEY_MAX];
	unsigned n = 0;

	if (addr == NULL || addrlen < (socklen_t)sizeof(sa_family_t))
		return MHD_NO;
	sockaddr_key(addr, key, sizeof(key));
	pthread_mutex_lock(&ds->lock);
	for (struct conn *cn = ds->conns; cn != NULL; cn = cn->next)
		n += strcmp(cn->key, key) == 0;
	pthread_mutex_unlock(&ds->lock);
	log_current_set(ds, key);
	if (n < ds->cs->conf.per_ip)
		return MHD_YES;
	if (log_allow(ds, key))
		fprintf(stderr, "http: connection refused: its client address (or IPv6 /64) holds "
		                "max_connections_per_ip\n");
	return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	struct daemon_state *ds = cls;
	struct conn *cn = *socket_context;

	pthread_mutex_lock(&ds->lock);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ca =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		cn = mqs_calloc(1, sizeof(*cn));
		if (cn != NULL) {
			sockaddr_key(ca != NULL ? ca->client_addr : NULL, cn->key, sizeof(cn->key));
			cn->fd = ci != NULL ? ci->connect_fd : -1;
			cn->start_ms = mqs_now_ms();
			cn->next = ds->conns;
			if (ds->conns != NULL)
				ds->conns->prev = cn;
			ds->conns = cn;
			*socket_context = cn;
		}
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && cn != NULL) {
		if (cn->prev != NULL)
			cn->prev->next = cn->next;
		else
			ds->conns = cn->next;
		if (cn->next != NULL)
			cn->next->prev = cn->prev;
		mqs_free(cn);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&ds->lock);
}

/* When the window is over: report how many lines it left out and start
 * a new one.  Under log_lock. */
static void log_roll(struct daemon_state *ds, uint64_t now)
{
	if (now < ds->log_window || now - ds->log_window >= LOG_WINDOW_MS) {
		if (ds->log_dropped > 0)
			fprintf(stderr, "http: %lu log line(s) left out in %d s (rate limit)\n",
			        ds->log_dropped, LOG_WINDOW_MS / 1000);
		ds->log_window = now;
		ds->log_nkeys = 0;
		ds->log_others = 0;
		ds->log_dropped = 0;
	}
}

/* 1 when one more log line about client key (NULL or "": not known) may
 * be written now: each client has its own LOG_BURST lines per window, so
 * one client's flood leaves out only its own lines. */
static int log_allow(struct daemon_state *ds, const char *key)
{
	unsigned *lines = NULL;
	int ok;

	if (key == NULL)
		key = "";
	pthread_mutex_lock(&ds->log_lock);
	log_roll(ds, mqs_now_ms());
	for (size_t i = 0; i < ds->log_nkeys && lines == NULL; i++) {
		if (strcmp(ds->log_keys[i].key, key) == 0)
			lines = &ds->log_keys[i].lines;
	}
	if (lines == NULL && ds->log_nkeys < LOG_KEYS) {
		struct log_budget *b = &ds->log_keys[ds->log_nkeys++];

		snprintf(b->key, sizeof(b->key), "%s", key);
		b->lines = 0;
		lines = &b->lines;
	}
	if (lines == NULL)
		lines = &ds->log_others;
	ok = *lines < LOG_BURST;
	if (ok)
		(*lines)++;
	else
		ds->log_dropped++;
	pthread_mutex_unlock(&ds->log_lock);
	return ok;
}

/* Remember the client libmicrohttpd's thread handles now (for mhd_log). */
static void log_current_set(struct daemon_state *ds, const char *key)
{
	pthread_mutex_lock(&ds->log_lock);
	snprintf(ds->log_current, sizeof(ds->log_current), "%s", key);
	pthread_mutex_unlock(&ds->log_lock);
}

/* libmicrohttpd's lines, counted against the client its thread handled
 * last (it does not say which connection a line is about). */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct daemon_state *ds = cls;
	char key[KEY_MAX];

	pthread_mutex_lock(&ds->log_lock);
	snprintf(key, sizeof(key), "%s", ds->log_current);
	pthread_mutex_unlock(&ds->log_lock);
	if (!log_allow(ds, key))
		return;
	fputs("http: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* Cut every connection whose request is not complete within
 * [http] request_timeout. */
static void sweep(struct daemon_state *ds)
{
	uint64_t now = mqs_now_ms(), tmo = (uint64_t)ds->cs->conf.request_timeout * 1000;

	pthread_mutex_lock(&ds->lock);
	for (struct conn *cn = ds->conns; cn != NULL; cn = cn->next) {
		if (cn->cut || cn->fd < 0 || now < cn->start_ms || now - cn->start_ms < tmo)
			continue;
		(void)shutdown(cn->fd, SHUT_RDWR);
		cn->cut = 1;
		if (log_allow(ds, cn->key))
			fprintf(stderr,
			        "http: a request not complete within the timeout: closed\n");
	}
	pthread_mutex_unlock(&ds->lock);
}

static int load_tls(struct daemon_state *ds, const struct cs_conf *cf)
{
	int rc;

	rc = mqs_file_read(cf->cert, TLS_FILE_MAX, 0, &ds->cert, &ds->cert_len);
	if (rc != MQS_OK) {
		fprintf(stderr, "error: [http] cert %s: %s\n", cf->cert, mqs_strerror(rc));
		return rc;
	}
	rc = mqs_file_read(cf->key, TLS_FILE_MAX, 1, &ds->key, &ds->key_len);
	if (rc == MQS_ERR_PERM)
		fprintf(stderr,
		        "error: [http] key %s is readable by group or others (chmod 600 it)\n",
		        cf->key);
	else if (rc != MQS_OK)
		fprintf(stderr, "error: [http] key %s: %s\n", cf->key, mqs_strerror(rc));
	return rc;
}

/* Serve until a signal. */
int cs_http_run(struct cs_console *cs)
{
	const struct cs_conf *cf = &cs->conf;
	struct daemon_state ds;
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	struct MHD_Daemon *d = NULL;
	const union MHD_DaemonInfo *di;
	struct sigaction sa;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
	char port[8];
	int ex = EX_SOFTWARE, r, tick = 0;

	memset(&ds, 0, sizeof(ds));
	ds.cs = cs;
	pthread_mutex_init(&ds.lock, NULL);
	pthread_mutex_init(&ds.log_lock, NULL);
	if (cf->cert == NULL && !cs_conf_loopback(cf->listen_host)) {
		fprintf(stderr,
		        "error: [http] listen %s is not a loopback address and no cert/key is set: "
		        "refusing to serve plain HTTP there\n",
		        cf->listen_host);
		ex = EX_CONFIG;
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", cf->listen_port);
	r = getaddrinfo(cf->listen_host, port, &hints, &ai);
	if (r != 0 || ai == NULL || ai->ai_addrlen > sizeof(ss)) {
		fprintf(stderr, "error: [http] listen: cannot resolve %s: %s\n", cf->listen_host,
		        r != 0 ? gai_strerror(r) : "no address");
		ex = EX_CONFIG;
		goto out;
	}
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cf->cert != NULL) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			fprintf(stderr, "error: [http] cert: this libmicrohttpd has no TLS\n");
			ex = EX_CONFIG;
			goto out;
		}
		if (load_tls(&ds, cf) != MQS_OK) {
			ex = EX_CONFIG;
			goto out;
		}
		flags |= MHD_USE_TLS;
		serving_tls = 1;
		d = MHD_start_daemon(
		    flags, (uint16_t)cf->listen_port, on_accept, &ds, on_request, &ds,
		    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &ds, MHD_OPTION_SOCK_ADDR,
		    (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, cf->max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, cf->idle_timeout,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, &ds, MHD_OPTION_NOTIFY_CONNECTION,
		    on_connection, &ds, MHD_OPTION_HTTPS_MEM_CERT, (const char *)ds.cert,
		    MHD_OPTION_HTTPS_MEM_KEY, (const char *)ds.key, MHD_OPTION_END);
	} else {
		d = MHD_start_daemon(
		    flags, (uint16_t)cf->listen_port, on_accept, &ds, on_request, &ds,
		    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &ds, MHD_OPTION_SOCK_ADDR,
		    (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, cf->max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, cf->idle_timeout,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, &ds, MHD_OPTION_NOTIFY_CONNECTION,
		    on_connection, &ds, MHD_OPTION_END);
	}
	if (d == NULL) {
		fprintf(stderr,
		        "error: [http] cannot listen on %s:%d (address in use, or a bad "
		        "certificate or key)\n",
		        cf->listen_host, cf->listen_port);
		ex = EX_UNAVAILABLE;
		goto out;
	}
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "mqttsec-console: listening on %s%s%s:%d%s\n",
	        ai->ai_family == AF_INET6 ? "[" : "", cf->listen_host,
	        ai->ai_family == AF_INET6 ? "]" : "", di != NULL ? di->port : cf->listen_port,
	        cf->cert != NULL ? " (TLS)" : " (plain HTTP, loopback only)");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	while (!stop_flag) {
		struct timespec ts = {0, 250 * 1000 * 1000};

		nanosleep(&ts, NULL);
		sweep(&ds);
		pthread_mutex_lock(&ds.log_lock);
		log_roll(&ds, mqs_now_ms()); /* the count even when the flood stopped */
		pthread_mutex_unlock(&ds.log_lock);
		(void)tick;
	}
	fprintf(stderr, "mqttsec-console: stopping\n");
	ex = EX_OK;
out:
	if (d != NULL)
		MHD_stop_daemon(d);
	if (ai != NULL)
		freeaddrinfo(ai);
	while (ds.conns != NULL) {
		struct conn *cn = ds.conns;

		ds.conns = cn->next;
		mqs_free(cn);
	}
	pthread_mutex_destroy(&ds.lock);
	pthread_mutex_destroy(&ds.log_lock);
	mqs_secret_free(ds.key, ds.key_len + 1);
	mqs_free(ds.cert);
	return ex;
}
