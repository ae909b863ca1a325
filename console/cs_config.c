/* SPDX-License-Identifier: BSD-3-Clause */
/* cs_config.c - console.conf (docs/console.md "Configuration"), parsed
 * with libinih. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "cs_int.h"
#include "mqs_alloc.h"

struct parse {
	struct cs_conf *c;
	char *err;
	size_t errlen;
	int bad;
	int nomem; /* an allocation was refused */
};

static int set_str(struct parse *p, char **dst, const char *v)
{
	mqs_free(*dst);
	*dst = mqs_strdup(v);
	if (*dst == NULL)
		p->nomem = 1;
	return *dst != NULL;
}

static int set_num(const char *v, long long lo, long long hi, long long *out)
{
	char *end = NULL;
	long long n;

	if (v[0] == '\0' || strlen(v) > 18)
		return 0;
	n = strtoll(v, &end, 10);
	if (end == NULL || *end != '\0' || n < lo || n > hi)
		return 0;
	*out = n;
	return 1;
}

/* [http] host: a name or an address as the Host header carries it, so an
 * IPv6 address is kept in brackets ("::1" becomes "[::1]"). */
static int set_host(struct parse *p, const char *v)
{
	struct cs_conf *c = p->c;
	struct in6_addr a6;
	char br[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(v);

	if (n == 0 || n > 253 || strchr(v, '/') != NULL)
		return 0;
	if (v[0] == '[') {
		if (n < 3 || v[n - 1] != ']' || n - 2 >= INET6_ADDRSTRLEN)
			return 0;
		memcpy(br, v + 1, n - 2);
		br[n - 2] = '\0';
		return inet_pton(AF_INET6, br, &a6) == 1 && set_str(p, &c->host, v);
	}
	if (strchr(v, ':') != NULL) {
		/* a bare IPv6 address (a port does not belong here) */
		if (inet_pton(AF_INET6, v, &a6) != 1)
			return 0;
		snprintf(br, sizeof(br), "[%s]", v);
		return set_str(p, &c->host, br);
	}
	return set_str(p, &c->host, v);
}

static int set_listen(struct parse *p, const char *v)
{
	struct cs_conf *c = p->c;
	const char *colon = strrchr(v, ':');
	long long port;
	size_t hl;

	if (colon == NULL || !set_num(colon + 1, 0, 65535, &port))
		return 0;
	hl = (size_t)(colon - v);
	if (hl >= 2 && v[0] == '[' && v[hl - 1] == ']') {
		v++;
		hl -= 2;
	}
	if (hl == 0 || hl > 255)
		return 0;
	mqs_free(c->listen_host);
	c->listen_host = mqs_strndup(v, hl);
	c->listen_port = (int)port;
	if (c->listen_host == NULL)
		p->nomem = 1;
	return c->listen_host != NULL;
}

static int on_kv(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	struct cs_conf *c = p->c;
	long long n = 0;
	int ok = 1, known = 1;

	if (strcmp(section, "console") == 0) {
		if (strcmp(name, "db") == 0)
			ok = set_str(p, &c->db, value);
		else if (strcmp(name, "key_file") == 0)
			ok = set_str(p, &c->key_file, value);
		else if (strcmp(name, "argon2_time") == 0)
			ok = set_num(value, 1, 100, &n) && ((c->argon2_t = (unsigned)n), 1);
		else if (strcmp(name, "argon2_memory_kib") == 0)
			ok = set_num(value, 8, 4 * 1024 * 1024, &n) &&
			     ((c->argon2_m_kib = (unsigned)n), 1);
		else if (strcmp(name, "argon2_parallelism") == 0)
			ok = set_num(value, 1, 16, &n) && ((c->argon2_p = (unsigned)n), 1);
		else if (strcmp(name, "max_failures") == 0)
			ok = set_num(value, 1, 1000, &n) && ((c->max_failures = (unsigned)n), 1);
		else if (strcmp(name, "max_failures_per_address") == 0)
			ok = set_num(value, 1, 100000, &n) &&
			     ((c->max_failures_ip = (unsigned)n), 1);
		else if (strcmp(name, "failure_window") == 0)
			ok = set_num(value, 1, 86400, &c->failure_window);
		else if (strcmp(name, "ban_seconds") == 0)
			ok = set_num(value, 1, 86400, &c->ban_seconds);
		else if (strcmp(name, "session_idle") == 0)
			ok = set_num(value, 1, 86400, &c->session_idle);
		else if (strcmp(name, "session_max") == 0)
			ok = set_num(value, 1, 7 * 86400, &c->session_max);
		else if (strcmp(name, "step_up_seconds") == 0)
			ok = set_num(value, 1, 3600, &c->step_up);
		else
			known = 0;
	} else if (strcmp(section, "http") == 0) {
		if (strcmp(name, "listen") == 0)
			ok = set_listen(p, value);
		else if (strcmp(name, "cert") == 0)
			ok = set_str(p, &c->cert, value);
		else if (strcmp(name, "host") == 0)
			ok = set_host(p, value);
		else if (strcmp(name, "key") == 0)
			ok = set_str(p, &c->key, value);
		else if (strcmp(name, "max_connections") == 0)
			ok =
			    set_num(value, 1, 10000, &n) && ((c->max_connections = (unsigned)n), 1);
		else if (strcmp(name, "max_connections_per_ip") == 0)
			ok = set_num(value, 1, 10000, &n) && ((c->per_ip = (unsigned)n), 1);
		else if (strcmp(name, "request_timeout") == 0)
			ok = set_num(value, 1, 3600, &n) && ((c->request_timeout = (unsigned)n), 1);
		else if (strcmp(name, "idle_timeout") == 0)
			ok = set_num(value, 1, 3600, &n) && ((c->idle_timeout = (unsigned)n), 1);
		else
			known = 0;
	} else if (strcmp(section, "broker") == 0) {
		if (strcmp(name, "db") == 0)
			ok = set_str(p, &c->broker_db, value);
		else if (strcmp(name, "master_key_file") == 0)
			ok = set_str(p, &c->broker_key, value);
		else
			known = 0;
	} else if (strcmp(section, "gateway") == 0) {
		if (strcmp(name, "conf") == 0)
			ok = set_str(p, &c->gateway_conf, value);
		else
			known = 0;
	} else {
		known = 0;
	}
	if (!known)
		fprintf(stderr, "warning: %s: [%s] %s: unknown key ignored\n", c->path, section,
		        name);
	if (!ok && !p->bad) {
		snprintf(p->err, p->errlen, "%s: [%s] %s: %s", c->path, section, name,
		         p->nomem ? "out of memory" : "bad value");
		p->bad = 1;
	}
	return 1;
}

/* Load console.conf. */
int cs_conf_load(const char *path, struct cs_conf *c, char *err, size_t errlen)
{
	struct parse p = {c, err, errlen, 0, 0};
	int r, rc = MQS_ERR_PARSE;

	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	c->path = mqs_strdup(path);
	c->argon2_t = 3;
	c->argon2_m_kib = 65536;
	c->argon2_p = 1;
	c->max_failures = 5;
	c->max_failures_ip = 20;
	c->failure_window = 900;
	c->ban_seconds = 900;
	c->session_idle = 900;
	c->session_max = 12 * 3600;
	c->step_up = 300;
	c->max_connections = 256;
	c->per_ip = 8;
	c->request_timeout = 10;
	c->idle_timeout = 30;
	if (c->path == NULL || !set_listen(&p, "127.0.0.1:8443")) {
		snprintf(err, errlen, "out of memory");
		rc = MQS_ERR_NOMEM;
		goto out;
	}
	r = ini_parse(path, on_kv, &p);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s", path);
		rc = MQS_ERR_IO;
		goto out;
	}
	if (r > 0) {
		snprintf(err, errlen, "%s:%d: syntax error", path, r);
		goto out;
	}
	if (p.bad) {
		if (p.nomem)
			rc = MQS_ERR_NOMEM;
		goto out;
	}
	if (c->db == NULL) {
		snprintf(err, errlen, "%s: [console] db is required", path);
		goto out;
	}
	if (c->key_file == NULL) {
		size_t n = strlen(c->db) + 5;

		c->key_file = mqs_malloc(n);
		if (c->key_file == NULL) {
			snprintf(err, errlen, "out of memory");
			rc = MQS_ERR_NOMEM;
			goto out;
		}
		snprintf(c->key_file, n, "%s.key", c->db);
	}
	if ((c->cert == NULL) != (c->key == NULL)) {
		snprintf(err, errlen, "%s: [http] cert and key go together", path);
		goto out;
	}
	if ((c->broker_db == NULL) != (c->broker_key == NULL)) {
		snprintf(err, errlen, "%s: [broker] db and master_key_file go together", path);
		goto out;
	}
	if (c->per_ip > c->max_connections)
		c->per_ip = c->max_connections;
	rc = MQS_OK;
out:
	if (rc != MQS_OK)
		cs_conf_release(c);
	return rc;
}

/* Free a conf. */
void cs_conf_release(struct cs_conf *c)
{
	if (c == NULL)
		return;
	mqs_free(c->path);
	mqs_free(c->db);
	mqs_free(c->key_file);
	mqs_free(c->listen_host);
	mqs_free(c->cert);
	mqs_free(c->host);
	mqs_free(c->key);
	mqs_free(c->broker_db);
	mqs_free(c->broker_key);
	mqs_free(c->gateway_conf);
	memset(c, 0, sizeof(*c));
}

/* Whether host is loopback. */
int cs_conf_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (host == NULL)
		return 0;
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/* 1 when h is name, or name:PORT (1 to 5 digits), name compared
 * case-insensitively. */
static int host_is(const char *h, const char *name)
{
	size_t n = strlen(name);
	size_t digits = 0;

	if (strncasecmp(h, name, n) != 0)
		return 0;
	h += n;
	if (*h == '\0')
		return 1;
	if (*h++ != ':')
		return 0;
	while (h[digits] >= '0' && h[digits] <= '9')
		digits++;
	return digits >= 1 && digits <= 5 && h[digits] == '\0';
}

/* Whether the Host header h may reach the console. */
int cs_host_allowed(const struct cs_conf *c, const char *h)
{
	char listen[INET6_ADDRSTRLEN + 2];

	if (c->host != NULL)
		return h != NULL && host_is(h, c->host);
	if (!cs_conf_loopback(c->listen_host))
		return 1;
	if (h == NULL)
		return 0;
	if (strchr(c->listen_host, ':') != NULL)
		snprintf(listen, sizeof(listen), "[%s]", c->listen_host);
	else
		snprintf(listen, sizeof(listen), "%s", c->listen_host);
	return host_is(h, "127.0.0.1") || host_is(h, "localhost") || host_is(h, "[::1]") ||
	       host_is(h, listen);
}
